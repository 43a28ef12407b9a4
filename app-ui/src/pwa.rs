//! The installable web app: registers the service worker (app-ui/sw.js, which keeps
//! this build's files for use with no network) and shows [`UpdateBanner`] when a newer
//! build is waiting. The new build takes over only when the user presses the banner's
//! button: the page asks the waiting worker to take over and reloads once it has.
//!
//! Not in the Tauri app: it carries its own files, so nothing is registered there.

use std::cell::Cell;

use js_sys::Reflect;
use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    RegistrationOptions, ServiceWorker, ServiceWorkerContainer, ServiceWorkerRegistration,
    ServiceWorkerState,
};

use crate::state::use_ctx;
use crate::translations::i18n::*;
use crate::transport::TransportKind;

thread_local! {
    /// The rep pressed the banner's button: the next controller change reloads the page.
    static APPLYING: Cell<bool> = const { Cell::new(false) };
}

/// Where the worker's script is served; its scope is the whole origin.
const SCRIPT: &str = "/sw.js";
/// What the page posts to the waiting worker to make it take over (sw.js listens).
const SKIP_WAITING: &str = "skip-waiting";
/// How often a page left open asks the server for a newer build: a rep may keep one
/// visit open all day, and moving between the app's pages is no navigation to the
/// browser, which checks the worker's script only on navigations.
const CHECK_EVERY_MS: i32 = 15 * 60 * 1000;

/// The service worker container, if this page may have one (a secure context:
/// HTTPS, or http://127.0.0.1 and localhost).
fn container() -> Option<ServiceWorkerContainer> {
    let navigator = web_sys::window()?.navigator();
    Reflect::has(&navigator, &JsValue::from_str("serviceWorker"))
        .unwrap_or(false)
        .then(|| navigator.service_worker())
}

/// Registers the service worker and sets `available` when a new version waits.
fn register(available: RwSignal<bool>) {
    let Some(container) = container() else {
        leptos::logging::warn!("no service worker here (not a secure context): no offline use");
        return;
    };
    // A page that a worker already controls reloads when another takes over (after the
    // button here or in another tab); the first install takes over without a reload.
    // A page opened before any worker controlled it (the first visit, the pairing link)
    // reloads too once the rep pressed the button: otherwise the new build would take
    // over the worker but not the page.
    let controlled = container.controller().is_some();
    let on_change = Closure::<dyn FnMut()>::new(move || {
        if (controlled || APPLYING.with(Cell::get))
            && let Some(window) = web_sys::window()
        {
            let _ = window.location().reload();
        }
    });
    container.set_oncontrollerchange(Some(on_change.as_ref().unchecked_ref()));
    on_change.forget();
    let options = RegistrationOptions::new();
    options.set_scope("/");
    let promise = container.register_with_options(SCRIPT, &options);
    spawn_local(async move {
        match JsFuture::from(promise).await {
            Ok(registration) => watch(container, registration.unchecked_into(), available),
            Err(e) => leptos::logging::warn!("the service worker was not registered: {e:?}"),
        }
    });
}

/// Follows a registration: a worker waiting already, one installing now, or one found
/// later (the browser checks sw.js on every navigation).
fn watch(
    container: ServiceWorkerContainer,
    registration: ServiceWorkerRegistration,
    available: RwSignal<bool>,
) {
    if registration.waiting().is_some() && container.controller().is_some() {
        available.set(true);
    }
    if let Some(worker) = registration.installing() {
        track(container.clone(), worker, available);
    }
    let reg = registration.clone();
    let on_found = Closure::<dyn FnMut()>::new(move || {
        if let Some(worker) = reg.installing() {
            track(container.clone(), worker, available);
        }
    });
    registration.set_onupdatefound(Some(on_found.as_ref().unchecked_ref()));
    on_found.forget();
    // Checked again every quarter of an hour and when the network comes back; what is
    // found waits for the banner's button like any update.
    let check = Closure::<dyn Fn()>::new(move || {
        if let Ok(promise) = registration.update() {
            spawn_local(async move {
                let _ = JsFuture::from(promise).await;
            });
        }
    });
    if let Some(window) = web_sys::window() {
        let callback = check.as_ref().unchecked_ref();
        let _ =
            window.set_interval_with_callback_and_timeout_and_arguments_0(callback, CHECK_EVERY_MS);
        let _ = window.add_event_listener_with_callback("online", callback);
    }
    check.forget();
}

/// A worker installing: once installed while another controls the page, it is an update.
fn track(container: ServiceWorkerContainer, worker: ServiceWorker, available: RwSignal<bool>) {
    let seen = worker.clone();
    let on_state = Closure::<dyn FnMut()>::new(move || {
        if seen.state() == ServiceWorkerState::Installed && container.controller().is_some() {
            available.set(true);
        }
    });
    worker.set_onstatechange(Some(on_state.as_ref().unchecked_ref()));
    on_state.forget();
}

/// Asks the waiting worker to take over; the page reloads on `controllerchange`.
async fn apply() -> Result<(), JsValue> {
    let container = container().ok_or_else(|| JsValue::from_str("no service worker"))?;
    let registration: ServiceWorkerRegistration = JsFuture::from(container.get_registration())
        .await?
        .dyn_into()?;
    let waiting = registration
        .waiting()
        .ok_or_else(|| JsValue::from_str("no new version is waiting"))?;
    APPLYING.with(|a| a.set(true));
    waiting.post_message(&JsValue::from_str(SKIP_WAITING))
}

/// "An update is available" with a button that applies it. Registers the service worker
/// (in a browser only; the Tauri app has its own files).
#[component]
pub fn UpdateBanner() -> impl IntoView {
    let ctx = use_ctx();
    let i18n = use_i18n();
    let available = RwSignal::new(false);
    let applying = RwSignal::new(false);
    if ctx.kind() == TransportKind::Browser {
        register(available);
    }
    let on_apply = move |_| {
        applying.set(true);
        spawn_local(async move {
            if let Err(e) = apply().await {
                leptos::logging::warn!("the update was not applied: {e:?}");
                applying.set(false);
            }
        });
    };
    view! {
        <Show when=move || available.get()>
            <div class="update-banner" role="status" data-testid="update-banner">
                <span>{t!(i18n, common.update.available)}</span>
                <button class="button" type="button" data-testid="update-apply"
                    disabled=move || applying.get() on:click=on_apply>
                    {t!(i18n, common.update.apply)}
                </button>
            </div>
        </Show>
    }
}
