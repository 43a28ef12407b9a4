//! The browser's parts the device in the page needs: timers, one tab at a time (Web
//! Locks), the storage the browser grants, random bytes, the `online` event.

use std::cell::RefCell;

use js_sys::{Function, Object, Promise, Reflect};
use rapport_api::ApiError;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

/// The name of the lock that the tab running the device holds for its whole life.
pub(super) const LOCK_NAME: &str = "rapport-device";

fn window() -> Result<web_sys::Window, ApiError> {
    web_sys::window().ok_or_else(|| ApiError::new("no_window", "this page has no window"))
}

fn get(target: &JsValue, key: &str) -> JsValue {
    Reflect::get(target, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

/// Calls `target.name(args…)`, or `None` when there is no such method.
fn call(target: &JsValue, name: &str, args: &[&JsValue]) -> Option<Result<JsValue, JsValue>> {
    let method = get(target, name).dyn_into::<Function>().ok()?;
    let args: js_sys::Array = args.iter().copied().collect();
    Some(method.apply(target, &args))
}

pub(super) use crate::timer::sleep;

/// Something to wait on that a timer or a [`Waker::wake`] ends, whichever comes first.
#[derive(Default)]
pub(super) struct Waker {
    resolve: RefCell<Option<Function>>,
}

impl Waker {
    /// Waits at most `ms` milliseconds, or until [`Self::wake`].
    pub(super) async fn wait(&self, ms: i64) {
        let Ok(window) = window() else { return };
        let ms = i32::try_from(ms.max(0)).unwrap_or(i32::MAX);
        let mut timer = None;
        let promise = Promise::new(&mut |resolve, _| {
            timer = window
                .set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms)
                .ok();
            *self.resolve.borrow_mut() = Some(resolve);
        });
        let _ = JsFuture::from(promise).await;
        if let Some(timer) = timer {
            window.clear_timeout_with_handle(timer);
        }
        self.resolve.borrow_mut().take();
    }

    /// Ends the wait in progress, if any.
    pub(super) fn wake(&self) {
        if let Some(resolve) = self.resolve.borrow_mut().take() {
            let _ = resolve.call0(&JsValue::NULL);
        }
    }
}

/// A promise and the function that resolves it.
fn pending() -> (Promise, Function) {
    let mut resolver = None;
    let promise = Promise::new(&mut |resolve, _| resolver = Some(resolve));
    let resolve = resolver.unwrap_or_else(|| Function::new_no_args(""));
    (promise, resolve)
}

/// Asks for the device lock (`if_available`: only if no other tab holds it). Resolves
/// `true` once this tab holds it, for the rest of the page's life; `false` when another
/// tab holds it (only with `if_available`).
async fn request_lock(locks: &JsValue, if_available: bool) -> Result<bool, ApiError> {
    let (got, resolve) = pending();
    let callback = Closure::<dyn FnMut(JsValue) -> JsValue>::new(move |lock: JsValue| {
        if lock.is_null() || lock.is_undefined() {
            let _ = resolve.call1(&JsValue::NULL, &JsValue::FALSE);
            return JsValue::UNDEFINED;
        }
        let _ = resolve.call1(&JsValue::NULL, &JsValue::TRUE);
        // Held until this promise settles: never, so until the page goes away.
        Promise::new(&mut |_, _| {}).into()
    });
    let options = Object::new();
    if if_available {
        let _ = Reflect::set(&options, &"ifAvailable".into(), &JsValue::TRUE);
    }
    let asked = call(
        locks,
        "request",
        &[&JsValue::from_str(LOCK_NAME), &options, callback.as_ref()],
    );
    // The browser calls it once; it lives as long as the lock.
    callback.forget();
    match asked {
        Some(Ok(_)) => {}
        Some(Err(e)) => {
            return Err(ApiError::new(
                "web_lock_refused",
                format!(
                    "the browser refused the device's lock ({}); close other tabs of Rapport and reload",
                    js_text(&e)
                ),
            ));
        }
        None => {
            return Err(ApiError::new(
                "no_web_locks",
                "this browser cannot make sure only one tab runs the device: update it, or use the Rapport app",
            ));
        }
    }
    let value = JsFuture::from(got).await.unwrap_or(JsValue::FALSE);
    Ok(value.as_bool().unwrap_or(false))
}

/// A JavaScript value as text, for messages.
pub(super) fn js_text(value: &JsValue) -> String {
    value
        .as_string()
        .or_else(|| {
            value
                .dyn_ref::<js_sys::Error>()
                .map(|e| String::from(e.message()))
        })
        .or_else(|| {
            js_sys::JSON::stringify(value)
                .ok()
                .and_then(|s| s.as_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

/// Takes the device lock for this page's life: at once when no other tab of this site
/// holds it; otherwise calls `waiting` and waits until that tab closes. Two tabs never
/// open the store or sync at once.
pub(super) async fn hold_device_lock(waiting: impl FnOnce()) -> Result<(), ApiError> {
    let navigator: JsValue = window()?.navigator().into();
    let locks = get(&navigator, "locks");
    if locks.is_undefined() || locks.is_null() {
        return Err(ApiError::new(
            "no_web_locks",
            "this browser cannot make sure only one tab runs the device (no Web Locks; the page needs https): update it, or use the Rapport app",
        ));
    }
    if request_lock(&locks, true).await? {
        return Ok(());
    }
    waiting();
    if request_lock(&locks, false).await? {
        Ok(())
    } else {
        Err(ApiError::new(
            "web_lock_refused",
            "the browser did not give this tab the device's lock; close other tabs of Rapport and reload",
        ))
    }
}

fn storage_manager() -> Option<JsValue> {
    let navigator: JsValue = window().ok()?.navigator().into();
    let storage = get(&navigator, "storage");
    (!storage.is_undefined() && !storage.is_null()).then_some(storage)
}

async fn call_async(target: &JsValue, name: &str) -> Option<JsValue> {
    let promise = call(target, name, &[])?.ok()?.dyn_into::<Promise>().ok()?;
    JsFuture::from(promise).await.ok()
}

/// Asks the browser to keep this site's data (`navigator.storage.persist()`); whether
/// it does. Browsers without the call answer `false`.
pub(super) async fn persist() -> bool {
    let Some(storage) = storage_manager() else {
        return false;
    };
    call_async(&storage, "persist")
        .await
        .and_then(|v| v.as_bool())
        .unwrap_or(false)
}

/// Whether the browser promised to keep this site's data.
pub(super) async fn persisted() -> bool {
    let Some(storage) = storage_manager() else {
        return false;
    };
    call_async(&storage, "persisted")
        .await
        .and_then(|v| v.as_bool())
        .unwrap_or(false)
}

/// Bytes used and the quota (`navigator.storage.estimate()`), when the browser says.
pub(super) async fn estimate() -> Option<(u64, u64)> {
    let storage = storage_manager()?;
    let estimate = call_async(&storage, "estimate").await?;
    let usage = get(&estimate, "usage").as_f64()?;
    let quota = get(&estimate, "quota").as_f64()?;
    Some((usage.max(0.0) as u64, quota.max(0.0) as u64))
}

/// Fills `buf` from `crypto.getRandomValues`.
pub(super) fn fill_random(buf: &mut [u8]) {
    let crypto = window().ok().and_then(|w| w.crypto().ok());
    let Some(crypto) = crypto else {
        panic!("this browser gives no random bytes (crypto.getRandomValues)");
    };
    // getRandomValues takes at most 65536 bytes at a time.
    for chunk in buf.chunks_mut(65_536) {
        if let Err(e) = crypto.get_random_values_with_u8_array(chunk) {
            panic!("this browser gave no random bytes: {}", js_text(&e));
        }
    }
}

/// Calls `on_online` each time the browser says the network is back.
pub(super) fn on_online(on_online: impl Fn() + 'static) {
    let Ok(window) = window() else { return };
    let listener = Closure::<dyn Fn()>::new(on_online);
    let _ = window.add_event_listener_with_callback("online", listener.as_ref().unchecked_ref());
    // For the page's life.
    listener.forget();
}

/// Remembers in the browser that this site holds a paired device, or forgets it: only
/// a hint for the start page (which pages to open), never data.
pub(super) fn set_paired_hint(paired: bool) {
    let storage = web_sys::window().and_then(|w| w.local_storage().ok().flatten());
    if let Some(storage) = storage {
        let _ = if paired {
            storage.set_item(super::PAIRED_HINT, "1")
        } else {
            storage.remove_item(super::PAIRED_HINT)
        };
    }
}
