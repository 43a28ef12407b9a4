//! IndexedDB as futures: a request's outcome, a transaction's end, opening the database
//! at this code's schema version, and IndexedDB's errors said as [`StoreError`]s.
//!
//! Awaiting a request keeps its transaction alive: the request's success event wakes the
//! waiting task, and wasm-bindgen's executor runs it in the microtask checkpoint right
//! after the event's handler, while the transaction is still active. Anything else
//! awaited (WebCrypto, timers, the network) lets the transaction commit early, so no
//! code here awaits anything but requests between opening a transaction and its end.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use js_sys::Array;
use rapport_store::StoreError;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::{
    DomException, Event, IdbDatabase, IdbFactory, IdbKeyRange, IdbObjectStore, IdbOpenDbRequest,
    IdbRequest, IdbTransaction,
};

#[wasm_bindgen]
extern "C" {
    /// An `IDBDatabase`, for the one call web-sys has only behind its unstable-APIs flag.
    #[wasm_bindgen(js_name = IDBDatabase)]
    type Database;

    /// `IDBDatabase.transaction(names, mode, options)`: the options (durability) are
    /// what this store needs.
    #[wasm_bindgen(catch, method, js_name = transaction)]
    fn transaction_with_options(
        this: &Database,
        names: &JsValue,
        mode: &str,
        options: &JsValue,
    ) -> Result<IdbTransaction, JsValue>;
}

/// The schema version this code writes. Version 1: every store of [`STORES`].
pub(crate) const VERSION: u32 = 1;

/// The object stores. Keys are plain; values of user data are sealed (`seal.rs`).
pub(crate) mod stores {
    /// "device" → the non-extractable AES-GCM key.
    pub(crate) const KEYS: &str = "keys";
    /// document id → 1: the documents stored.
    pub(crate) const DOCS: &str = "docs";
    /// [document id, change hash] → 1: every change ever stored (snapshot or loose).
    pub(crate) const HASHES: &str = "hashes";
    /// [document id, change hash] → the change's bytes, until compaction folds it.
    pub(crate) const CHANGES: &str = "changes";
    /// document id → the document saved whole (every change, compacted).
    pub(crate) const SNAPSHOTS: &str = "snapshots";
    /// [peer, document id] → the sync state with that peer.
    pub(crate) const SYNC_STATES: &str = "sync_states";
    /// document id → when it was marked dirty (unix ms).
    pub(crate) const DIRTY: &str = "dirty";
    /// document id → the server's refusal.
    pub(crate) const STOPPED: &str = "stopped";
    /// document id → its kind and client.
    pub(crate) const INDEX: &str = "index";
    /// name → the pairing, and the sync bookkeeping field by field.
    pub(crate) const META: &str = "meta";
}

/// Every object store, in the order they are created.
pub(crate) const STORES: [&str; 10] = [
    stores::KEYS,
    stores::DOCS,
    stores::HASHES,
    stores::CHANGES,
    stores::SNAPSHOTS,
    stores::SYNC_STATES,
    stores::DIRTY,
    stores::STOPPED,
    stores::INDEX,
    stores::META,
];

/// A JavaScript error as text: a DOMException's name and message, else its string form.
pub(crate) fn describe(e: &JsValue) -> String {
    if let Some(d) = e.dyn_ref::<DomException>() {
        return format!("{}: {}", d.name(), d.message());
    }
    if let Some(err) = e.dyn_ref::<js_sys::Error>() {
        return String::from(err.message());
    }
    e.as_string().unwrap_or_else(|| format!("{e:?}"))
}

/// An IndexedDB failure while doing `what`, as the store says it.
pub(crate) fn idb_error(what: &str, e: &JsValue) -> StoreError {
    let name = e.dyn_ref::<DomException>().map(DomException::name);
    match name.as_deref() {
        Some("QuotaExceededError") => StoreError::Unavailable {
            reason: format!(
                "the browser's storage for this site is full while {what}; free space on the device or allow the site more storage, then retry"
            ),
        },
        Some("InvalidStateError") => StoreError::Unavailable {
            reason: format!(
                "the browser store is closed while {what} (closed by the app, or by another tab opening a newer version); reload the page"
            ),
        },
        _ => StoreError::Database {
            reason: format!("IndexedDB failed while {what}: {}", describe(e)),
        },
    }
}

/// What an awaited event said.
type Outcome = Result<JsValue, JsValue>;

#[derive(Default)]
struct Slot {
    outcome: Option<Outcome>,
    waker: Option<Waker>,
}

fn settle(slot: &Rc<RefCell<Slot>>, outcome: Outcome) {
    let mut slot = slot.borrow_mut();
    if slot.outcome.is_none() {
        slot.outcome = Some(outcome);
        if let Some(waker) = slot.waker.take() {
            waker.wake();
        }
    }
}

type Handler = Closure<dyn FnMut(Event)>;

/// Resolves with the first of the events it listens to; stops listening when dropped.
pub(crate) struct Fired {
    slot: Rc<RefCell<Slot>>,
    _handlers: Vec<Handler>,
    unlisten: Box<dyn Fn()>,
}

impl Future for Fired {
    type Output = Outcome;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Outcome> {
        let mut slot = self.slot.borrow_mut();
        match slot.outcome.take() {
            Some(outcome) => Poll::Ready(outcome),
            None => {
                slot.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

impl Drop for Fired {
    fn drop(&mut self) {
        (self.unlisten)();
    }
}

/// A request's result (its success event) or its error (its error event).
pub(crate) fn request(req: &IdbRequest) -> Fired {
    let slot = Rc::new(RefCell::new(Slot::default()));
    let ok = {
        let (slot, req) = (slot.clone(), req.clone());
        Handler::new(move |_| settle(&slot, req.result()))
    };
    let err = {
        let (slot, req) = (slot.clone(), req.clone());
        Handler::new(move |_| {
            let error = req.error().ok().flatten();
            settle(&slot, Err(error.map_or(JsValue::NULL, JsValue::from)));
        })
    };
    req.set_onsuccess(Some(ok.as_ref().unchecked_ref()));
    req.set_onerror(Some(err.as_ref().unchecked_ref()));
    let req = req.clone();
    Fired {
        slot,
        _handlers: vec![ok, err],
        unlisten: Box::new(move || {
            req.set_onsuccess(None);
            req.set_onerror(None);
        }),
    }
}

/// A request issued and listened to at once (so no event is missed while other requests
/// are awaited first).
pub(crate) struct Issued {
    what: String,
    fired: Fired,
}

impl Issued {
    /// The request's result.
    pub(crate) async fn get(self) -> Result<JsValue, StoreError> {
        let what = self.what;
        self.fired.await.map_err(|e| idb_error(&what, &e))
    }
}

/// Listens to a request just issued (`start` may have failed at once).
pub(crate) fn issued(what: &str, start: Result<IdbRequest, JsValue>) -> Result<Issued, StoreError> {
    let req = start.map_err(|e| idb_error(what, &e))?;
    Ok(Issued {
        what: what.to_owned(),
        fired: request(&req),
    })
}

/// Issues a request (`start` may fail at once) and awaits its result.
pub(crate) async fn run(
    what: &str,
    start: Result<IdbRequest, JsValue>,
) -> Result<JsValue, StoreError> {
    let req = start.map_err(|e| idb_error(what, &e))?;
    request(&req).await.map_err(|e| idb_error(what, &e))
}

/// One transaction over some object stores: read-only, or read-write with strict
/// durability (written to disk, not only to the OS, before `complete`). Dropped before
/// [`Tx::commit`] (an early return on an error), it aborts: no write issued so far
/// commits on its own.
pub(crate) struct Tx {
    tx: IdbTransaction,
    end: Option<Fired>,
}

impl Drop for Tx {
    fn drop(&mut self) {
        if self.end.is_some() {
            // Fails only when the transaction has ended already: nothing to undo then.
            let _ = self.tx.abort();
        }
    }
}

impl Tx {
    /// Opens a transaction on `db` over `names`.
    pub(crate) fn open(db: &IdbDatabase, names: &[&str], write: bool) -> Result<Self, StoreError> {
        let list = Array::new();
        for name in names {
            list.push(&JsValue::from_str(name));
        }
        let tx = if write {
            let options = js_sys::Object::new();
            js_sys::Reflect::set(&options, &"durability".into(), &"strict".into())
                .map_err(|e| idb_error("starting a transaction", &e))?;
            db.unchecked_ref::<Database>()
                .transaction_with_options(&list, "readwrite", &options)
        } else {
            db.transaction_with_str_sequence(&list)
        }
        .map_err(|e| idb_error("starting a transaction", &e))?;
        let slot = Rc::new(RefCell::new(Slot::default()));
        let complete = {
            let slot = slot.clone();
            Handler::new(move |_| settle(&slot, Ok(JsValue::UNDEFINED)))
        };
        let abort = {
            let (slot, tx) = (slot.clone(), tx.clone());
            Handler::new(move |_| {
                let error = tx.error().map_or(JsValue::NULL, JsValue::from);
                settle(&slot, Err(error));
            })
        };
        tx.set_oncomplete(Some(complete.as_ref().unchecked_ref()));
        tx.set_onabort(Some(abort.as_ref().unchecked_ref()));
        let unlisten = {
            let tx = tx.clone();
            Box::new(move || {
                tx.set_oncomplete(None);
                tx.set_onabort(None);
            })
        };
        Ok(Self {
            tx,
            end: Some(Fired {
                slot,
                _handlers: vec![complete, abort],
                unlisten,
            }),
        })
    }

    /// One of the transaction's object stores.
    pub(crate) fn store(&self, name: &str) -> Result<IdbObjectStore, StoreError> {
        self.tx
            .object_store(name)
            .map_err(|e| idb_error(&format!("opening the object store {name}"), &e))
    }

    /// Waits for the transaction's end: `Ok` only on `complete` (durable), an error on
    /// `abort` (nothing of it written).
    pub(crate) async fn commit(mut self, what: &str) -> Result<(), StoreError> {
        let Some(end) = self.end.take() else {
            return Ok(());
        };
        match end.await {
            Ok(_) => Ok(()),
            Err(e) if e.is_null() => Err(StoreError::Database {
                reason: format!("the transaction {what} was aborted; nothing of it was written"),
            }),
            Err(e) => Err(idb_error(
                &format!("{what} (nothing of it was written)"),
                &e,
            )),
        }
    }

    /// Aborts the transaction, waits until IndexedDB has undone it, and returns `error`.
    pub(crate) async fn abort(mut self, error: StoreError) -> StoreError {
        if let Some(end) = self.end.take()
            && self.tx.abort().is_ok()
        {
            let _ = end.await;
        }
        error
    }
}

/// A key range over every compound key that starts with `first`: `[first]` up to
/// `[first, []]` (an array sorts after every string).
pub(crate) fn prefix(first: &str) -> Result<IdbKeyRange, StoreError> {
    let lower = Array::of1(&JsValue::from_str(first));
    let upper = Array::of2(&JsValue::from_str(first), &Array::new());
    IdbKeyRange::bound(&lower, &upper).map_err(|e| idb_error("making a key range", &e))
}

/// A compound key of two strings.
pub(crate) fn pair(a: &str, b: &str) -> JsValue {
    Array::of2(&JsValue::from_str(a), &JsValue::from_str(b)).into()
}

/// The two strings of a compound key.
pub(crate) fn unpair(key: &JsValue) -> Option<(String, String)> {
    let key = key.dyn_ref::<Array>()?;
    Some((key.get(0).as_string()?, key.get(1).as_string()?))
}

/// A property of the global scope (window or worker).
pub(crate) fn global<T: JsCast>(name: &str) -> Result<T, StoreError> {
    js_sys::Reflect::get(&js_sys::global(), &JsValue::from_str(name))
        .ok()
        .and_then(|v| v.dyn_into::<T>().ok())
        .ok_or_else(|| StoreError::Open {
            target: name.to_owned(),
            reason: format!(
                "this browser context has no {name}; open the app in a current browser, over HTTPS or from 127.0.0.1"
            ),
        })
}

/// Opens (creating or upgrading) the database `name` at [`VERSION`].
pub(crate) async fn open_db(name: &str) -> Result<IdbDatabase, StoreError> {
    let open_error = |reason: String| StoreError::Open {
        target: format!("the browser store \"{name}\""),
        reason,
    };
    let factory: IdbFactory = global("indexedDB")?;
    let req: IdbOpenDbRequest = factory
        .open_with_u32(name, VERSION)
        .map_err(|e| open_error(describe(&e)))?;
    let upgrade = {
        let req = req.clone();
        Handler::new(move |_| {
            let Ok(db) = req.result().and_then(|r| r.dyn_into::<IdbDatabase>()) else {
                return;
            };
            let names = db.object_store_names();
            for store in STORES {
                if !names.contains(store) && db.create_object_store(store).is_err() {
                    if let Some(tx) = req.transaction() {
                        let _ = tx.abort();
                    }
                    return;
                }
            }
        })
    };
    req.set_onupgradeneeded(Some(upgrade.as_ref().unchecked_ref()));
    let opened = request(&req).await;
    req.set_onupgradeneeded(None);
    drop(upgrade);
    match opened {
        Ok(db) => db
            .dyn_into::<IdbDatabase>()
            .map_err(|_| open_error("the browser returned no database".into())),
        Err(e)
            if e.dyn_ref::<DomException>()
                .map(DomException::name)
                .as_deref()
                == Some("VersionError") =>
        {
            Err(StoreError::Migration {
                reason: format!(
                    "the browser store \"{name}\" was written by a newer version of Rapport than this one (which knows schema version {VERSION}); update the app (reload the page) to read it; nothing was changed"
                ),
            })
        }
        Err(e) => Err(open_error(describe(&e))),
    }
}
