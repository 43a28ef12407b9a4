//! The device's own records: the pairing and the sync bookkeeping (`meta`, one sealed
//! record per field, so every write is a blind put inside its transaction), dirty marks,
//! the server's refusals and the document index.

use std::collections::HashMap;

use js_sys::Array;
use rapport_api::{ApiError, RunSummary, StoppedDoc};
use rapport_core::{IndexEntry, Pairing, ResponseWrite, RunRecord, SyncRow};
use rapport_domain::DocId;
use rapport_store::StoreError;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;

use crate::conn::{Conn, Put, issue, unreadable};
use crate::docs::parse_doc;
use crate::idb::{issued, stores};
use crate::seal::Plain;

use stores::{DIRTY, INDEX, META, STOPPED};

/// The records of `meta`.
mod meta {
    pub(super) const PAIRING: &str = "pairing";
    pub(super) const CURSOR: &str = "remote_cursor";
    pub(super) const LAST_SUCCESS: &str = "last_success_ms";
    pub(super) const LAST_ATTEMPT: &str = "last_attempt_ms";
    pub(super) const LAST_ERROR: &str = "last_error";
    pub(super) const LAST_RUN: &str = "last_run";
    pub(super) const REVOKED: &str = "revoked";
}

/// The pairing as stored.
#[derive(Serialize, Deserialize)]
struct PairingRecord {
    server_url: String,
    device_id: String,
    token: String,
    programme_id: DocId,
    rep_id: Option<String>,
    label: String,
    actor: String,
}

/// A refusal as stored (its kind comes from the index when read).
#[derive(Serialize, Deserialize)]
struct StopRecord {
    code: String,
    message: String,
    at_ms: i64,
}

/// An index entry as stored.
#[derive(Serialize, Deserialize)]
struct IndexRecord {
    kind: String,
    client: Option<DocId>,
}

fn json<T: Serialize>(value: &T) -> Vec<u8> {
    // Plain structs of strings and numbers: serialising them cannot fail.
    serde_json::to_vec(value).unwrap_or_default()
}

fn decode<T: DeserializeOwned>(store: &str, key: &str, bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes)
        .map_err(|e| unreadable(store, key, &format!("it does not decode: {e}")))
}

/// Seals `records` (key, plaintext) of `store` and writes them in one transaction, with
/// `deletes` of the same store.
async fn put_sealed(
    conn: &Conn,
    what: &str,
    store: &'static str,
    records: Vec<(String, Vec<u8>)>,
    deletes: Vec<String>,
) -> Result<(), StoreError> {
    let plain: Vec<Plain> = records
        .into_iter()
        .map(|(key, bytes)| Plain { store, key, bytes })
        .collect();
    let sealed = conn.seal(&plain).await?;
    let puts = plain
        .iter()
        .zip(sealed)
        .map(|(p, value)| Put {
            store,
            key: p.key.clone().into(),
            value: value.into(),
        })
        .collect();
    let deletes = deletes.into_iter().map(|k| (store, k.into())).collect();
    conn.write(what, &[store], puts, deletes, (false, false))
        .await
}

/// Opened `meta` records: name → plaintext.
async fn meta_records(conn: &Conn) -> Result<HashMap<String, Vec<u8>>, StoreError> {
    Ok(conn.open_all(META).await?.into_iter().collect())
}

/// The paired device, if any.
pub(crate) async fn pairing(conn: &Conn) -> Result<Option<Pairing>, StoreError> {
    let Some(bytes) = meta_records(conn).await?.remove(meta::PAIRING) else {
        return Ok(None);
    };
    let r: PairingRecord = decode(META, meta::PAIRING, &bytes)?;
    Ok(Some(Pairing {
        server_url: r.server_url,
        device_id: r.device_id,
        token: r.token,
        programme_id: r.programme_id,
        rep_id: r.rep_id,
        label: r.label,
        actor: r.actor,
    }))
}

/// Records the pairing and starts sync over: the cursor back to the start, revoked and
/// the last error cleared, in one transaction.
pub(crate) async fn set_pairing(conn: &Conn, p: &Pairing) -> Result<(), StoreError> {
    let record = PairingRecord {
        server_url: p.server_url.clone(),
        device_id: p.device_id.clone(),
        token: p.token.clone(),
        programme_id: p.programme_id,
        rep_id: p.rep_id.clone(),
        label: p.label.clone(),
        actor: p.actor.clone(),
    };
    let records = vec![
        (meta::PAIRING.into(), json(&record)),
        (meta::CURSOR.into(), Vec::new()),
        (meta::REVOKED.into(), json(&false)),
    ];
    let deletes = vec![meta::LAST_ERROR.into()];
    put_sealed(conn, "storing the pairing", META, records, deletes).await
}

/// The sync bookkeeping.
pub(crate) async fn sync_row(conn: &Conn) -> Result<SyncRow, StoreError> {
    let mut records = meta_records(conn).await?;
    let mut field = |name: &str| records.remove(name);
    let number = |name: &str, bytes: Option<Vec<u8>>| -> Result<Option<i64>, StoreError> {
        bytes.map(|b| decode(META, name, &b)).transpose()
    };
    let last_success_ms = number(meta::LAST_SUCCESS, field(meta::LAST_SUCCESS))?;
    let last_attempt_ms = number(meta::LAST_ATTEMPT, field(meta::LAST_ATTEMPT))?;
    let last_error: Option<ApiError> = field(meta::LAST_ERROR)
        .map(|b| decode(META, meta::LAST_ERROR, &b))
        .transpose()?;
    let last_run: Option<RunSummary> = field(meta::LAST_RUN)
        .map(|b| decode(META, meta::LAST_RUN, &b))
        .transpose()?;
    let revoked: Option<bool> = field(meta::REVOKED)
        .map(|b| decode(META, meta::REVOKED, &b))
        .transpose()?;
    Ok(SyncRow {
        remote_cursor: field(meta::CURSOR).unwrap_or_default(),
        last_success_ms,
        last_attempt_ms,
        last_error,
        last_run,
        revoked: revoked.unwrap_or(false),
    })
}

/// Persists the server's feed cursor.
pub(crate) async fn set_remote_cursor(conn: &Conn, cursor: &[u8]) -> Result<(), StoreError> {
    let records = vec![(meta::CURSOR.into(), cursor.to_vec())];
    put_sealed(conn, "storing the feed cursor", META, records, vec![]).await
}

/// Records how a run ended (a failure keeps the last successful run's totals).
pub(crate) async fn record_run(
    conn: &Conn,
    now_ms: i64,
    record: &RunRecord,
) -> Result<(), StoreError> {
    let mut records = vec![(meta::LAST_ATTEMPT.into(), json(&now_ms))];
    let mut deletes = Vec::new();
    match record {
        RunRecord::Done(summary) => {
            records.push((meta::LAST_RUN.into(), json(summary)));
            records.push((meta::LAST_SUCCESS.into(), json(&now_ms)));
            deletes.push(meta::LAST_ERROR.into());
        }
        RunRecord::Failed { error, revoked } => {
            records.push((meta::LAST_ERROR.into(), json(error)));
            if *revoked {
                records.push((meta::REVOKED.into(), json(&true)));
            }
        }
    }
    put_sealed(conn, "recording a sync run", META, records, deletes).await
}

/// Every dirty document, oldest mark first.
pub(crate) async fn dirty(conn: &Conn) -> Result<Vec<DocId>, StoreError> {
    let mut marks = conn
        .open_all(DIRTY)
        .await?
        .into_iter()
        .map(|(key, bytes)| Ok((decode::<i64>(DIRTY, &key, &bytes)?, parse_doc(&key)?)))
        .collect::<Result<Vec<(i64, DocId)>, StoreError>>()?;
    marks.sort();
    Ok(marks.into_iter().map(|(_, d)| d).collect())
}

/// Marks documents dirty; a mark already there keeps its time. One transaction.
pub(crate) async fn mark_dirty(conn: &Conn, docs: &[DocId], now_ms: i64) -> Result<(), StoreError> {
    if docs.is_empty() {
        return Ok(());
    }
    let plain: Vec<Plain> = docs
        .iter()
        .map(|d| Plain {
            store: DIRTY,
            key: d.to_string(),
            bytes: json(&now_ms),
        })
        .collect();
    let sealed = conn.seal(&plain).await?;
    let what = "marking documents dirty";
    let tx = conn.tx(&[DIRTY], true)?;
    let keys = issued(what, tx.store(DIRTY)?.get_all_keys())?;
    let keys: Array = keys.get().await?.unchecked_into();
    let marked: std::collections::HashSet<String> =
        keys.iter().filter_map(|k| k.as_string()).collect();
    let puts: Vec<Put> = plain
        .iter()
        .zip(sealed)
        .filter(|(p, _)| !marked.contains(&p.key))
        .map(|(p, value)| Put {
            store: DIRTY,
            key: p.key.clone().into(),
            value: value.into(),
        })
        .collect();
    issue(&tx, what, &puts, &[])?;
    if let Some(e) = conn.fault(true, false) {
        return Err(tx.abort(e).await);
    }
    tx.commit(what).await
}

/// Deletes the records of `docs` from `store` in one transaction (which the test
/// switch aborts when it fails writes of dirty marks and `store` is theirs).
async fn delete_docs(
    conn: &Conn,
    what: &str,
    store: &'static str,
    docs: &[DocId],
) -> Result<(), StoreError> {
    if docs.is_empty() {
        return Ok(());
    }
    let deletes = docs
        .iter()
        .map(|d| (store, JsValue::from_str(&d.to_string())))
        .collect();
    conn.write(what, &[store], vec![], deletes, (store == DIRTY, false))
        .await
}

/// Takes documents out of the dirty set.
pub(crate) async fn clear_dirty(conn: &Conn, docs: &[DocId]) -> Result<(), StoreError> {
    delete_docs(conn, "clearing dirty marks", DIRTY, docs).await
}

/// The records of refusals: document id → plaintext.
fn stop_records(stopped: &[StoppedDoc]) -> Vec<(String, Vec<u8>)> {
    stopped
        .iter()
        .map(|s| {
            let r = StopRecord {
                code: s.code.clone(),
                message: s.message.clone(),
                at_ms: s.at_ms,
            };
            (s.doc_id.to_string(), json(&r))
        })
        .collect()
}

/// Records refusals (replacing earlier ones of the same documents).
pub(crate) async fn stop(conn: &Conn, stopped: &[StoppedDoc]) -> Result<(), StoreError> {
    if stopped.is_empty() {
        return Ok(());
    }
    let records = stop_records(stopped);
    put_sealed(conn, "recording refusals", STOPPED, records, vec![]).await
}

/// Forgets the refusals of `docs`.
pub(crate) async fn unstop(conn: &Conn, docs: &[DocId]) -> Result<(), StoreError> {
    delete_docs(conn, "forgetting refusals", STOPPED, docs).await
}

/// Every stopped document, oldest first, with its kind from the index.
pub(crate) async fn stopped(conn: &Conn) -> Result<Vec<StoppedDoc>, StoreError> {
    let kinds: HashMap<DocId, String> = indexed(conn)
        .await?
        .into_iter()
        .map(|e| (e.doc, e.kind))
        .collect();
    let mut out = conn
        .open_all(STOPPED)
        .await?
        .into_iter()
        .map(|(key, bytes)| {
            let r: StopRecord = decode(STOPPED, &key, &bytes)?;
            let doc_id = parse_doc(&key)?;
            Ok(StoppedDoc {
                doc_id,
                kind: kinds
                    .get(&doc_id)
                    .cloned()
                    .unwrap_or_else(|| "document".to_owned()),
                code: r.code,
                message: r.message,
                at_ms: r.at_ms,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    out.sort_by(|a, b| a.at_ms.cmp(&b.at_ms).then(a.doc_id.cmp(&b.doc_id)));
    Ok(out)
}

/// The records of index entries: document id → plaintext.
fn index_records(entries: &[IndexEntry]) -> Vec<(String, Vec<u8>)> {
    entries
        .iter()
        .map(|e| {
            let r = IndexRecord {
                kind: e.kind.clone(),
                client: e.client,
            };
            (e.doc.to_string(), json(&r))
        })
        .collect()
}

/// Records what documents are (replacing earlier entries of the same documents).
pub(crate) async fn index(conn: &Conn, entries: &[IndexEntry]) -> Result<(), StoreError> {
    if entries.is_empty() {
        return Ok(());
    }
    let records = index_records(entries);
    put_sealed(conn, "indexing documents", INDEX, records, vec![]).await
}

/// What a sync response writes of the device's own records, beside its documents:
/// refusals and index entries and the cursor to put, refusals taken back and dirty
/// marks cleared to delete (after the puts, so a refusal both given and taken back
/// is gone, as when written one after the other).
pub(crate) fn response_records(write: &ResponseWrite) -> (Vec<Plain>, Vec<(&'static str, String)>) {
    let plain =
        |store: &'static str| move |(key, bytes): (String, Vec<u8>)| Plain { store, key, bytes };
    let mut puts: Vec<Plain> = stop_records(&write.stop)
        .into_iter()
        .map(plain(STOPPED))
        .collect();
    puts.extend(index_records(&write.index).into_iter().map(plain(INDEX)));
    if let Some(cursor) = &write.cursor {
        puts.push(Plain {
            store: META,
            key: meta::CURSOR.into(),
            bytes: cursor.clone(),
        });
    }
    let deletes = write
        .unstop
        .iter()
        .map(|d| (STOPPED, d.to_string()))
        .chain(write.clear_dirty.iter().map(|d| (DIRTY, d.to_string())))
        .collect();
    (puts, deletes)
}

/// Every indexed document.
pub(crate) async fn indexed(conn: &Conn) -> Result<Vec<IndexEntry>, StoreError> {
    conn.open_all(INDEX)
        .await?
        .into_iter()
        .map(|(key, bytes)| {
            let r: IndexRecord = decode(INDEX, &key, &bytes)?;
            Ok(IndexEntry {
                doc: parse_doc(&key)?,
                kind: r.kind,
                client: r.client,
            })
        })
        .collect()
}
