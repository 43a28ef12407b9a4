//! Rapport's UI: Leptos (CSR, wasm) pages for the rep (in the Tauri app, and in a
//! browser with the device core running in the page, offline) and for the programme
//! lead (in a browser against the server, or in the app when online). Pages talk to a
//! [`transport::Transport`] and do not know which one.
//!
//! Two bundles share this library, one per area (see [`app`]): `rapport-ui`, the rep's
//! pages and the start page, carries the device core and Automerge for the tablet;
//! `rapport-lead` carries the lead's pages and no device. A tablet downloads and caches
//! only the first; start.js starts the one a path belongs to.

mod app;
mod components;
mod device;
mod format;
mod order;
mod pages;
mod press;
mod pwa;
mod save;
mod state;
mod timer;
mod translations;
mod transport;

/// Starts the rep's bundle: the start page and the rep's pages.
pub fn mount_rep() {
    console_error_panic_hook::set_once();
    press::listen();
    leptos::mount::mount_to_body(app::RepApp);
}

/// Starts the lead's bundle: the lead's pages.
pub fn mount_lead() {
    console_error_panic_hook::set_once();
    press::listen();
    leptos::mount::mount_to_body(app::LeadApp);
}
