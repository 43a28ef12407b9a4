//! The open database and its key: transactions, sealed reads and blind sealed writes,
//! and the test switch that makes writes fail inside IndexedDB.

use std::cell::Cell;

use js_sys::{Array, Uint8Array};
use rapport_store::StoreError;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::{CryptoKey, Event, IdbDatabase};

use crate::idb::{STORES, Tx, idb_error, issued, open_db, run, stores};
use crate::seal::{Plain, Sealer};

/// The record of the `keys` store holding the store's key.
const KEY_RECORD: &str = "device";

/// Writes that abort inside IndexedDB (test aid).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Faults {
    /// Transactions writing or clearing dirty marks abort.
    pub(crate) dirty: bool,
    /// Transactions writing document changes abort.
    pub(crate) changes: bool,
}

/// One record to write: its store, its key, its (sealed) value.
pub(crate) struct Put {
    pub(crate) store: &'static str,
    pub(crate) key: JsValue,
    pub(crate) value: JsValue,
}

/// The open database, its key, and the fault switch.
pub(crate) struct Conn {
    pub(crate) name: String,
    pub(crate) db: IdbDatabase,
    pub(crate) sealer: Sealer,
    pub(crate) faults: Cell<Faults>,
    _on_version_change: Closure<dyn FnMut(Event)>,
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn").field("name", &self.name).finish()
    }
}

impl Conn {
    /// Opens the database `name` and its key (making the key in a fresh database).
    pub(crate) async fn open(name: &str) -> Result<Self, StoreError> {
        let db = open_db(name).await?;
        // Another tab opening a newer version waits for this connection: let it go (this
        // one's calls then say the store is closed, and the page reloads).
        let on_version_change = {
            let db = db.clone();
            Closure::<dyn FnMut(Event)>::new(move |_| db.close())
        };
        db.set_onversionchange(Some(on_version_change.as_ref().unchecked_ref()));
        let key = match key(&db, name).await {
            Ok(key) => key,
            Err(e) => {
                db.close();
                return Err(e);
            }
        };
        Ok(Self {
            name: name.to_owned(),
            db,
            sealer: Sealer::new(key)?,
            faults: Cell::new(Faults::default()),
            _on_version_change: on_version_change,
        })
    }

    /// Closes the connection (after its running transactions end).
    pub(crate) fn close(&self) {
        self.db.set_onversionchange(None);
        self.db.close();
    }

    /// A transaction over `names` (read-write: strict durability).
    pub(crate) fn tx(&self, names: &[&str], write: bool) -> Result<Tx, StoreError> {
        Tx::open(&self.db, names, write)
    }

    /// The injected failure for a transaction that writes dirty marks and/or changes.
    pub(crate) fn fault(&self, dirty: bool, changes: bool) -> Option<StoreError> {
        let faults = self.faults.get();
        let what = if dirty && faults.dirty {
            "a dirty mark"
        } else if changes && faults.changes {
            "document changes"
        } else {
            return None;
        };
        Some(StoreError::Unavailable {
            reason: format!(
                "injected failure writing {what}: the IndexedDB transaction was aborted after its writes were issued"
            ),
        })
    }

    /// Seals values (before their write transaction opens).
    pub(crate) async fn seal(&self, values: &[Plain]) -> Result<Vec<Uint8Array>, StoreError> {
        self.sealer.seal(values).await
    }

    /// Every record of `store`: keys and values, in key order.
    pub(crate) async fn read_all(
        &self,
        store: &'static str,
    ) -> Result<Vec<(JsValue, JsValue)>, StoreError> {
        let tx = self.tx(&[store], false)?;
        let os = tx.store(store)?;
        let what = format!("reading {store}");
        let keys = issued(&what, os.get_all_keys())?;
        let values = issued(&what, os.get_all())?;
        let keys: Array = keys.get().await?.unchecked_into();
        let values: Array = values.get().await?.unchecked_into();
        Ok(keys.iter().zip(values.iter()).collect())
    }

    /// Every record of `store` (keyed by plain strings) opened: key and plaintext, or
    /// a clear error naming the record that does not open.
    pub(crate) async fn open_all(
        &self,
        store: &'static str,
    ) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let records = self.read_all(store).await?;
        let mut sealed = Vec::with_capacity(records.len());
        for (key, value) in records {
            let key = key.as_string().ok_or_else(|| StoreError::Database {
                reason: format!("a record of {store} has a key that is not text"),
            })?;
            sealed.push((store, key, value));
        }
        let opened = self.sealer.open(&sealed).await?;
        sealed
            .into_iter()
            .zip(opened)
            .map(|((_, key, _), plain)| match plain {
                Ok(bytes) => Ok((key, bytes)),
                Err(reason) => Err(unreadable(store, &key, &reason)),
            })
            .collect()
    }

    /// Writes `puts` and deletes `deletes` in one read-write transaction over `names`;
    /// `Ok` once it is durable. `fault`: whether it writes dirty marks, changes.
    pub(crate) async fn write(
        &self,
        what: &str,
        names: &[&str],
        puts: Vec<Put>,
        deletes: Vec<(&'static str, JsValue)>,
        fault: (bool, bool),
    ) -> Result<(), StoreError> {
        let tx = self.tx(names, true)?;
        issue(&tx, what, &puts, &deletes)?;
        if let Some(e) = self.fault(fault.0, fault.1) {
            return Err(tx.abort(e).await);
        }
        tx.commit(what).await
    }
}

/// Issues puts and deletes on `tx` (their results come with the transaction's end).
pub(crate) fn issue(
    tx: &Tx,
    what: &str,
    puts: &[Put],
    deletes: &[(&'static str, JsValue)],
) -> Result<(), StoreError> {
    for put in puts {
        tx.store(put.store)?
            .put_with_key(&put.value, &put.key)
            .map_err(|e| idb_error(what, &e))?;
    }
    for (store, key) in deletes {
        tx.store(store)?
            .delete(key)
            .map_err(|e| idb_error(what, &e))?;
    }
    Ok(())
}

/// A stored value (not a document's) that does not open.
pub(crate) fn unreadable(store: &str, key: &str, reason: &str) -> StoreError {
    StoreError::Database {
        reason: format!(
            "the record {key} of the browser store's {store} cannot be read: {reason}; it must be written again (pair again, or clear it)"
        ),
    }
}

/// The store's key: read from `keys`, or made and stored when the database holds nothing
/// yet. A database holding data but no key cannot be read: a clear error.
async fn key(db: &IdbDatabase, name: &str) -> Result<CryptoKey, StoreError> {
    for _ in 0..2 {
        let tx = Tx::open(db, &STORES, false)?;
        let found = run(
            "reading the store's key",
            tx.store(stores::KEYS)?.get(&KEY_RECORD.into()),
        )
        .await?;
        if !found.is_undefined() {
            return found.dyn_into::<CryptoKey>().map_err(|_| StoreError::Open {
                target: format!("the browser store \"{name}\""),
                reason: "its key record holds no CryptoKey".into(),
            });
        }
        let mut held = 0.0;
        for store in STORES.iter().filter(|s| **s != stores::KEYS) {
            let count = run("counting records", tx.store(store)?.count()).await?;
            held += count.as_f64().unwrap_or(0.0);
        }
        drop(tx);
        if held > 0.0 {
            return Err(StoreError::Open {
                target: format!("the browser store \"{name}\""),
                reason: "it holds data but its encryption key is gone, so none of it can be read; clear the site's data to start again (edits not yet synced are lost)".into(),
            });
        }
        let key = Sealer::generate().await?;
        let tx = Tx::open(db, &[stores::KEYS], true)?;
        // `add`, not `put`: when another tab stored a key meanwhile, this one fails and
        // the next round reads the other tab's.
        let added = tx
            .store(stores::KEYS)?
            .add_with_key(&key, &KEY_RECORD.into())
            .map_err(|e| idb_error("storing the store's key", &e))?;
        drop(added);
        if tx.commit("storing the store's key").await.is_ok() {
            return Ok(key);
        }
    }
    Err(StoreError::Open {
        target: format!("the browser store \"{name}\""),
        reason: "its key could neither be read nor stored; reload the page".into(),
    })
}
