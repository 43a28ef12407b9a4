//! The device in the page: the core over the page's store, its [`Host`] (the page's
//! clock and randomness, events to the UI's listeners), and what the native node does
//! around the core: pairing, one sync run at a time, compaction when the rep pauses.

use std::cell::{OnceCell, RefCell};
use std::rc::{Rc, Weak};
use std::sync::Arc;

use rapport_api::{ApiError, Event, PairRequest, Request, Response, RunSummary};
use rapport_core::{DeviceCore, Host, NodeError, PairNext};
use rapport_domain::DocId;

use super::browser;
use super::http;
use super::schedule::{self, Settings, Timing};
use crate::transport::DeviceNotice;

// ---- The store ---------------------------------------------------------------------
//
// The page's store: the browser's IndexedDB (`rapport-web`), durable on every write
// (strict durability, done only on `complete`), encrypted at rest. The device is generic
// over `rapport_core::DeviceStore`; this is the one place that names the store.

/// The store the device in the page keeps its documents in.
pub(super) type PageStore = rapport_web::IdbDeviceStore;

/// Whether [`PageStore`] keeps its data when the tab closes.
pub(super) const STORE_KEEPS_DATA: bool = true;

/// The IndexedDB database of the device in the page (one per origin).
const STORE_NAME: &str = "rapport-device";

/// Opens the page's store (only ever in the tab that holds the device lock).
pub(super) async fn open_store() -> Result<PageStore, ApiError> {
    rapport_web::IdbDeviceStore::open(STORE_NAME).await.map_err(|e| {
        ApiError::new(
            "store_unavailable",
            format!(
                "this browser's storage for Rapport cannot be opened ({e}); close other Rapport tabs and reload, or check that the browser allows site data"
            ),
        )
    })
}

// ---- Listeners -----------------------------------------------------------------------

/// Listeners of one kind of message.
type Each<T> = RefCell<Vec<Rc<dyn Fn(T)>>>;

/// The UI's listeners: events of the core, notices of the device in the page.
#[derive(Default)]
pub(super) struct Listeners {
    events: Each<Event>,
    notice: RefCell<DeviceNotice>,
    notices: Each<DeviceNotice>,
}

impl Listeners {
    /// Adds a listener of the core's events.
    pub(super) fn listen(&self, on_event: Rc<dyn Fn(Event)>) {
        self.events.borrow_mut().push(on_event);
    }

    /// Adds a listener of notices; it hears the current one at once.
    pub(super) fn watch(&self, on_change: Rc<dyn Fn(DeviceNotice)>) {
        on_change(self.notice.borrow().clone());
        self.notices.borrow_mut().push(on_change);
    }

    /// Sends `event` to every listener.
    pub(super) fn emit(&self, event: Event) {
        let listeners = self.events.borrow().clone();
        for listener in listeners {
            listener(event.clone());
        }
    }

    /// Changes the notice and tells every listener.
    pub(super) fn notice(&self, change: impl FnOnce(&mut DeviceNotice)) {
        let notice = {
            let mut notice = self.notice.borrow_mut();
            let before = notice.clone();
            change(&mut notice);
            if *notice == before {
                return;
            }
            notice.clone()
        };
        let listeners = self.notices.borrow().clone();
        for listener in listeners {
            listener(notice.clone());
        }
    }
}

// ---- The host ------------------------------------------------------------------------

/// Where the driver stands, and how to wake it (edits and the `online` event).
pub(super) struct Driving {
    /// The schedule.
    pub(super) timing: RefCell<Timing>,
    /// Ends the driver's wait.
    pub(super) waker: browser::Waker,
    /// An edit came in while a run was going on: sync again soon after it.
    pub(super) edited_during_run: RefCell<bool>,
    /// A run is going on.
    pub(super) running: RefCell<bool>,
    /// Timing of automatic sync.
    pub(super) settings: Settings,
}

impl Driving {
    fn edited(&self) {
        if *self.running.borrow() {
            *self.edited_during_run.borrow_mut() = true;
        }
        let now = now_ms();
        let t = *self.timing.borrow();
        *self.timing.borrow_mut() = schedule::on_edit(t, now, &self.settings);
        self.waker.wake();
    }

    /// The browser says the network is back.
    pub(super) fn online(&self) {
        let t = *self.timing.borrow();
        *self.timing.borrow_mut() = schedule::on_online(t, now_ms());
        self.waker.wake();
    }
}

/// Now, from the page's clock (unix ms).
pub(super) fn now_ms() -> i64 {
    js_sys::Date::now() as i64
}

/// The page as the core's [`Host`].
struct PageHost {
    listeners: Rc<Listeners>,
    driving: Rc<Driving>,
    /// The device, to compact on (set once it exists).
    device: OnceCell<Weak<InPage>>,
}

impl Host for PageHost {
    fn now_ms(&self) -> i64 {
        now_ms()
    }

    fn fill_random(&self, buf: &mut [u8]) {
        browser::fill_random(buf);
    }

    fn emit(&self, event: Event) {
        self.listeners.emit(event);
    }

    fn edited(&self) {
        self.driving.edited();
    }

    fn compaction_due(&self, docs: Vec<DocId>) {
        if let Some(device) = self.device.get().and_then(Weak::upgrade) {
            device.compact_in_background(Some(docs));
        }
    }
}

// ---- The device ----------------------------------------------------------------------

/// Compaction waits at most this many times for a pause in typing (as the node does).
const COMPACT_IDLE_CHECKS: usize = 120;

/// The device core running in this page, and what the shell keeps beside it.
pub(super) struct InPage {
    pub(super) core: DeviceCore<PageStore>,
    pub(super) listeners: Rc<Listeners>,
    pub(super) driving: Rc<Driving>,
}

impl InPage {
    /// Opens the store and the core over it. Call only while holding the device lock.
    // One thread runs the page: the core's `Arc` only shares, it never crosses threads.
    #[allow(clippy::arc_with_non_send_sync)]
    pub(super) async fn open(
        listeners: Rc<Listeners>,
        settings: Settings,
    ) -> Result<Rc<Self>, ApiError> {
        let driving = Rc::new(Driving {
            timing: RefCell::new(Timing::start(now_ms())),
            waker: browser::Waker::default(),
            edited_during_run: RefCell::new(false),
            running: RefCell::new(false),
            settings,
        });
        let host = Arc::new(PageHost {
            listeners: listeners.clone(),
            driving: driving.clone(),
            device: OnceCell::new(),
        });
        let store = open_store().await?;
        let core = DeviceCore::open(store, host.clone())
            .await
            .map_err(ApiError::from)?;
        let device = Rc::new(Self {
            core,
            listeners,
            driving,
        });
        let _ = host.device.set(Rc::downgrade(&device));
        device.compact_in_background(None);
        Ok(device)
    }

    /// Answers one request of the rep's pages: pairing and "sync now" here (they need
    /// the network), the rest in the core.
    pub(super) async fn handle(self: &Rc<Self>, request: Request) -> Result<Response, ApiError> {
        let answer = match request {
            Request::Pair(p) => self.pair(&p).await.map(Response::Device),
            Request::SyncNow => {
                // The run's own error is in the status (last_error); a status is the answer.
                let _ = self.sync_once().await;
                self.core.sync_status().await.map(Response::Sync)
            }
            other => self.core.handle(other).await,
        };
        answer.map_err(ApiError::from)
    }

    /// One sync run now (after the one in progress, if any).
    pub(super) async fn sync_once(self: &Rc<Self>) -> Result<RunSummary, NodeError> {
        let timeout = self.driving.settings.request_timeout;
        let result = {
            let _guard = self.core.sync_lock().await;
            let run = self.core.begin_run();
            run.drive(self.core.store(), |post| http::post(post, timeout))
                .await
        };
        // The server's changes are stored one change each: fold them in.
        if result.as_ref().is_ok_and(|r| r.docs_received > 0) {
            self.compact_in_background(None);
        }
        if let Ok(status) = self.core.sync_status().await {
            self.listeners.emit(Event::SyncFinished(status));
        }
        self.check_storage().await;
        result
    }

    /// Pairs with a programme: the core decides, the page posts. Then asks the browser
    /// to keep the site's data.
    async fn pair(&self, p: &PairRequest) -> Result<rapport_api::DeviceInfo, NodeError> {
        let mut flow = self.core.begin_pairing(p).await?;
        let timeout = self.driving.settings.request_timeout;
        // At most one retry: a revoked device's old actor refused, a new one drawn.
        for _ in 0..2 {
            let (status, body) = http::post_pairing(&flow, timeout).await?;
            let fresh = || {
                let mut bytes = [0u8; 16];
                browser::fill_random(&mut bytes);
                bytes
            };
            match flow.answer(status, &body, fresh)? {
                PairNext::Again => continue,
                PairNext::Paired(pairing) => {
                    self.core.set_pairing(pairing).await?;
                    browser::set_paired_hint(true);
                    let kept = browser::persist().await;
                    self.listeners.notice(|n| n.not_persisted = !kept);
                    return self.core.device_info().await;
                }
            }
        }
        Err(NodeError::invalid(
            "pairing_refused",
            "the server refused this device's actor twice; pair again",
        ))
    }

    /// What the sync bar says about the browser's storage: data the browser may clear
    /// (a paired device only: before pairing there is nothing to lose), storage nearly
    /// full, a store that lasts only as long as the tab.
    pub(super) async fn check_storage(&self) {
        let paired = matches!(self.core.device().await, Ok(Some(_)));
        let kept = !paired || browser::persisted().await;
        let low = browser::estimate()
            .await
            .filter(|(usage, quota)| schedule::storage_low(*usage, *quota));
        self.listeners.notice(|n| {
            n.not_persisted = !kept;
            n.storage_low = low;
            n.memory_only = !STORE_KEEPS_DATA;
        });
    }

    /// Folds stored changes into snapshots off the rep's path, once typing pauses.
    fn compact_in_background(self: &Rc<Self>, docs: Option<Vec<DocId>>) {
        let device = self.clone();
        wasm_bindgen_futures::spawn_local(async move {
            let wait = rapport_core::COMPACT_IDLE_MS / 2;
            for _ in 0..COMPACT_IDLE_CHECKS {
                if device.core.idle_for_compaction() {
                    break;
                }
                browser::sleep(wait).await;
            }
            device.core.compact(docs).await;
        });
    }
}
