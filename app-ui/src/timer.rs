//! Waiting in the page: a browser timer as a future (there is no runtime in wasm).

use js_sys::Promise;
use wasm_bindgen_futures::JsFuture;

/// Resolves after `ms` milliseconds.
pub async fn sleep(ms: i64) {
    let Some(window) = web_sys::window() else {
        return;
    };
    let ms = i32::try_from(ms.max(0)).unwrap_or(i32::MAX);
    let promise = Promise::new(&mut |resolve, _| {
        let _ = window.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms);
    });
    let _ = JsFuture::from(promise).await;
}

/// Runs `tick` every `period` for as long as the view being built lives: leaving the
/// page stops it. Without a browser timer (no window) it never runs.
pub fn every(period: std::time::Duration, tick: impl Fn() + 'static) {
    let interval = leptos::prelude::set_interval_with_handle(tick, period);
    leptos::prelude::on_cleanup(move || {
        if let Ok(handle) = interval {
            handle.clear();
        }
    });
}
