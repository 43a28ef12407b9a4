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
