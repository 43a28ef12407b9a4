//! The rep's device in the page: in a browser, the rep's pages run the device core
//! ([`rapport_core::DeviceCore`]) in this page's wasm, as the Tauri app runs it in its
//! native node. The pages do not know: they call [`Transport::node`] as in the app.
//!
//! - The shell ([`shell`]): the page as the core's host (clock, randomness, events to
//!   the UI), pairing, one sync run at a time posted with `fetch` ([`http`]), and the
//!   store — chosen in ONE place, `shell::open_store`.
//! - The driver ([`driver`], decisions in [`schedule`]): sync at start, after edits
//!   (debounced), on the `online` event, every minute, with the core's backoff and the
//!   `/healthz` probe while the server cannot be reached.
//! - One tab at a time ([`browser`]): the tab that runs the device holds the
//!   `rapport-device` Web Lock for its life; another tab says Rapport is open elsewhere
//!   and waits for the lock, taking over when that tab closes. Two tabs never open the
//!   store or sync at once.
//! - The device starts with the first request of a rep's page: the lead's pages in a
//!   browser never start it (nor take the lock).
//!
//! Inside the Tauri app none of this runs: [`detect`] picks the app's transport.

pub mod schedule;

#[cfg(target_arch = "wasm32")]
mod browser;
#[cfg(target_arch = "wasm32")]
mod driver;
#[cfg(target_arch = "wasm32")]
mod http;
#[cfg(target_arch = "wasm32")]
mod page;
#[cfg(target_arch = "wasm32")]
mod shell;

use std::rc::Rc;

use crate::transport::{HttpTransport, TauriTransport, Transport, in_app};

/// The local-storage key that says this browser holds a paired device (a hint for the
/// start page only: which pages to open).
pub const PAIRED_HINT: &str = "rapport.device.paired";

/// The rep's bundle's transport: the app's node inside the Tauri app; in a browser, the
/// device in the page for the rep's pages (and the server for the lead's calls).
pub fn for_rep() -> Rc<dyn Transport> {
    if in_app() {
        return Rc::new(TauriTransport);
    }
    #[cfg(target_arch = "wasm32")]
    {
        Rc::new(page::PageTransport::new())
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        Rc::new(HttpTransport)
    }
}

/// The lead's bundle's transport: the app's node inside the Tauri app (it reaches the
/// server for the lead), the server in a browser. Never the device in the page, so the
/// lead's bundle carries no device core.
pub fn for_lead() -> Rc<dyn Transport> {
    if in_app() {
        Rc::new(TauriTransport)
    } else {
        Rc::new(HttpTransport)
    }
}

/// Whether this browser holds a paired device (see [`PAIRED_HINT`]).
pub fn paired_here() -> bool {
    web_sys::window()
        .and_then(|w| w.local_storage().ok().flatten())
        .and_then(|s| s.get_item(PAIRED_HINT).ok().flatten())
        .is_some_and(|v| v == "1")
}
