//! The documents: their changes and snapshots, the sync states with the server, and
//! compaction.
//!
//! A document is a snapshot (after compaction: the document saved whole, with its whole
//! history) and the changes stored after it. `hashes` keeps the hash of every change ever
//! stored, so a commit checks dependencies and skips duplicates inside its one
//! transaction without opening any sealed value.

use std::collections::{HashMap, HashSet};
use std::str::FromStr;

use automerge::{Automerge, Change, ChangeHash, ReadDoc};
use js_sys::{Array, Uint8Array};
use rapport_core::Loaded;
use rapport_domain::DocId;
use rapport_store::{PeerId, StoreError};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;

use crate::conn::{Conn, Put, issue, unreadable};
use crate::idb::{Issued, issued, pair, prefix, stores, unpair};
use crate::seal::Plain;

use stores::{CHANGES, DIRTY, DOCS, HASHES, SNAPSHOTS, SYNC_STATES};

/// The sealed records of one document as read in one transaction.
struct Sealed {
    present: bool,
    snapshot: JsValue,
    /// (hash as hex, sealed change).
    changes: Vec<(String, JsValue)>,
}

/// The three reads of one document, issued together.
struct Reads {
    count: Issued,
    snapshot: Issued,
    keys: Issued,
    values: Issued,
}

/// Reads the sealed records of `docs` in one read-only transaction.
async fn read_sealed(conn: &Conn, docs: &[DocId]) -> Result<Vec<Sealed>, StoreError> {
    let tx = conn.tx(&[DOCS, SNAPSHOTS, CHANGES], false)?;
    let (d, s, c) = (tx.store(DOCS)?, tx.store(SNAPSHOTS)?, tx.store(CHANGES)?);
    let what = "reading documents";
    let mut reads = Vec::with_capacity(docs.len());
    for doc in docs {
        let key = JsValue::from_str(&doc.to_string());
        let range = prefix(&doc.to_string())?;
        reads.push(Reads {
            count: issued(what, d.count_with_key(&key))?,
            snapshot: issued(what, s.get(&key))?,
            keys: issued(what, c.get_all_keys_with_key(&range))?,
            values: issued(what, c.get_all_with_key(&range))?,
        });
    }
    let mut out = Vec::with_capacity(docs.len());
    for r in reads {
        let present = r.count.get().await?.as_f64().unwrap_or(0.0) > 0.0;
        let snapshot = r.snapshot.get().await?;
        let keys: Array = r.keys.get().await?.unchecked_into();
        let values: Array = r.values.get().await?.unchecked_into();
        let changes = keys
            .iter()
            .zip(values.iter())
            .map(|(k, v)| (unpair(&k).map(|(_, h)| h).unwrap_or_default(), v))
            .collect();
        out.push(Sealed {
            present,
            snapshot,
            changes,
        });
    }
    Ok(out)
}

/// A document rebuilt from its opened records: the snapshot, then the changes after it.
/// Returns the hashes of the changes applied too (what a compaction folds).
fn assemble(
    doc: DocId,
    snapshot: Option<Result<Vec<u8>, String>>,
    changes: Vec<(String, Result<Vec<u8>, String>)>,
) -> Result<(Automerge, Vec<String>), StoreError> {
    let corrupt = |reason: String| StoreError::Corrupt { doc, reason };
    let mut am = match snapshot {
        Some(Ok(bytes)) => Automerge::load(&bytes)
            .map_err(|e| corrupt(format!("its snapshot does not load: {e}")))?,
        Some(Err(reason)) => return Err(corrupt(format!("its snapshot: {reason}"))),
        None => Automerge::new(),
    };
    let mut hashes = Vec::with_capacity(changes.len());
    let mut decoded = Vec::with_capacity(changes.len());
    for (hash, bytes) in changes {
        let bytes = bytes.map_err(|reason| corrupt(format!("change {hash}: {reason}")))?;
        let change = Change::from_bytes(bytes)
            .map_err(|e| corrupt(format!("change {hash} does not decode: {e}")))?;
        if change.hash().to_string() != hash {
            return Err(corrupt(format!(
                "the change stored as {hash} has hash {}",
                change.hash()
            )));
        }
        hashes.push(hash);
        decoded.push(change);
    }
    am.apply_changes(decoded)
        .map_err(|e| corrupt(format!("its changes do not apply: {e}")))?;
    if let Some(missing) = am.get_missing_deps(&[]).first() {
        return Err(corrupt(format!(
            "its changes depend on change {missing}, which is not stored"
        )));
    }
    Ok((am, hashes))
}

/// Opens the sealed records of `docs` and rebuilds each: its own result per document.
async fn open_docs(
    conn: &Conn,
    docs: &[DocId],
    sealed: Vec<Sealed>,
) -> Result<Vec<Option<Result<(Automerge, Vec<String>), StoreError>>>, StoreError> {
    let mut flat: Vec<(&str, String, JsValue)> = Vec::new();
    for (doc, s) in docs.iter().zip(&sealed) {
        if !s.snapshot.is_undefined() {
            flat.push((SNAPSHOTS, doc.to_string(), s.snapshot.clone()));
        }
        for (hash, value) in &s.changes {
            flat.push((CHANGES, format!("{doc}/{hash}"), value.clone()));
        }
    }
    let mut opened = conn.sealer.open(&flat).await?.into_iter();
    let mut out = Vec::with_capacity(docs.len());
    for (doc, s) in docs.iter().zip(sealed) {
        let snapshot = if s.snapshot.is_undefined() {
            None
        } else {
            opened.next()
        };
        let changes: Vec<_> = s
            .changes
            .into_iter()
            .map(|(hash, _)| (hash, opened.next().unwrap_or(Err("missing".into()))))
            .collect();
        out.push(if !s.present && snapshot.is_none() && changes.is_empty() {
            None
        } else {
            Some(assemble(*doc, snapshot, changes))
        });
    }
    Ok(out)
}

/// Many documents, in the order asked; each its own error.
pub(crate) async fn load_many(
    conn: &Conn,
    docs: &[DocId],
) -> Result<Vec<(DocId, Loaded)>, StoreError> {
    let sealed = read_sealed(conn, docs).await?;
    let opened = open_docs(conn, docs, sealed).await?;
    Ok(docs
        .iter()
        .zip(opened)
        .map(|(doc, loaded)| (*doc, loaded.transpose().map(|d| d.map(|(am, _)| am))))
        .collect())
}

/// Every stored document id, sorted.
pub(crate) async fn list_docs(conn: &Conn) -> Result<Vec<DocId>, StoreError> {
    let tx = conn.tx(&[DOCS], false)?;
    let keys = issued("listing documents", tx.store(DOCS)?.get_all_keys())?;
    let keys: Array = keys.get().await?.unchecked_into();
    let mut docs = keys
        .iter()
        .map(|k| parse_doc(&k.as_string().unwrap_or_default()))
        .collect::<Result<Vec<_>, _>>()?;
    docs.sort();
    Ok(docs)
}

/// A document id read back from a key.
pub(crate) fn parse_doc(text: &str) -> Result<DocId, StoreError> {
    DocId::from_str(text).map_err(|_| StoreError::Database {
        reason: format!("a stored document key {text:?} is not a document id"),
    })
}

/// What one write of documents stores: changes, sync states, (an edit) a dirty mark,
/// and (a sync response) the device's other records.
#[derive(Default)]
pub(crate) struct DocWrite<'a> {
    pub(crate) changes: &'a [(DocId, Vec<Change>)],
    pub(crate) states: &'a [(PeerId, DocId, Vec<u8>)],
    pub(crate) mark: Option<(DocId, i64)>,
    /// Records of the device's own stores (`local.rs`), sealed and put blindly.
    pub(crate) records: Vec<Plain>,
    /// Records deleted, after the puts: (store, key).
    pub(crate) deletes: Vec<(&'static str, String)>,
}

/// The stores a write of documents opens, and those of its other records.
fn write_scope(w: &DocWrite<'_>) -> Vec<&'static str> {
    let mut names = vec![DOCS, HASHES, CHANGES, SYNC_STATES, DIRTY];
    let others = w.records.iter().map(|r| r.store);
    for store in others.chain(w.deletes.iter().map(|(s, _)| *s)) {
        if !names.contains(&store) {
            names.push(store);
        }
    }
    names
}

/// Writes changes (skipping those stored, refusing those whose dependencies are
/// missing), sync states, a dirty mark (unless one is there) and the other records
/// in one read-write transaction: all or nothing, `Ok` once durable.
pub(crate) async fn write_docs(conn: &Conn, w: DocWrite<'_>) -> Result<(), StoreError> {
    // Unique changes per document, in the order given; everything sealed before the
    // transaction opens (WebCrypto would let it commit early).
    let mut unique: Vec<(DocId, Vec<&Change>)> = Vec::new();
    let mut plain = Vec::new();
    for (doc, changes) in w.changes {
        let mut seen = HashSet::new();
        let mine: Vec<&Change> = changes.iter().filter(|c| seen.insert(c.hash())).collect();
        for c in &mine {
            plain.push(Plain {
                store: CHANGES,
                key: format!("{doc}/{}", c.hash()),
                bytes: c.raw_bytes().to_vec(),
            });
        }
        unique.push((*doc, mine));
    }
    for (peer, doc, state) in w.states {
        plain.push(Plain {
            store: SYNC_STATES,
            key: format!("{peer}/{doc}"),
            bytes: state.clone(),
        });
    }
    if let Some((doc, at)) = w.mark {
        plain.push(Plain {
            store: DIRTY,
            key: doc.to_string(),
            bytes: serde_json::to_vec(&at).unwrap_or_default(),
        });
    }
    // The other records are sealed last: their puts come last too.
    let scope = write_scope(&w);
    let first_record = plain.len();
    plain.extend(w.records);
    let mut sealed = conn.seal(&plain).await?.into_iter();
    let mut sealed_changes: HashMap<(DocId, ChangeHash), Uint8Array> = HashMap::new();
    for (doc, mine) in &unique {
        for c in mine {
            sealed_changes.insert((*doc, c.hash()), sealed.next().unwrap_or_default());
        }
    }

    let what = "storing document changes";
    let tx = conn.tx(&scope, true)?;
    let hashes = tx.store(HASHES)?;
    // What the store holds of each document, as far as this write needs to know: whether
    // each change is stored already, and whether each dependency outside the batch is.
    // A keystroke asks two or three keys; reading every stored hash of a visit typed
    // for an hour would read thousands, each keystroke. A large batch (a download)
    // reads the document's hashes in one range instead. A document may come in several
    // entries of the batch: what is known of it grows with each entry.
    let mut known: HashMap<DocId, HashSet<String>> = HashMap::new();
    let mut known_reads = Vec::new();
    let mut point_reads = Vec::new();
    let mut ranged: HashSet<DocId> = HashSet::new();
    for (doc, mine) in &unique {
        known.entry(*doc).or_default();
        let asked = asked_hashes(mine);
        if asked.len() > POINT_LOOKUPS {
            if ranged.insert(*doc) {
                let range = prefix(&doc.to_string())?;
                known_reads.push((*doc, issued(what, hashes.get_all_keys_with_key(&range))?));
            }
            continue;
        }
        for hash in asked {
            let key = pair(&doc.to_string(), &hash);
            point_reads.push((*doc, hash, issued(what, hashes.count_with_key(&key))?));
        }
    }
    let marked = match w.mark {
        Some((doc, _)) => Some(issued(
            what,
            tx.store(DIRTY)?.count_with_key(&doc.to_string().into()),
        )?),
        None => None,
    };
    let mut puts = Vec::new();
    let mut wrote_changes = false;
    for (doc, read) in known_reads {
        let keys: Array = read.get().await?.unchecked_into();
        let stored = keys.iter().filter_map(|k| unpair(&k)).map(|(_, h)| h);
        known.entry(doc).or_default().extend(stored);
    }
    for (doc, hash, read) in point_reads {
        if read.get().await?.as_f64().unwrap_or(0.0) > 0.0 {
            known.entry(doc).or_default().insert(hash);
        }
    }
    for (doc, mine) in &unique {
        let new = match in_causal_order(*doc, mine, known.entry(*doc).or_default()) {
            Ok(new) => new,
            Err(e) => return Err(tx.abort(e).await),
        };
        if mine.is_empty() {
            continue;
        }
        let key = doc.to_string();
        puts.push(Put {
            store: DOCS,
            key: key.clone().into(),
            value: 1.into(),
        });
        for c in new {
            let hash = c.hash().to_string();
            puts.push(Put {
                store: HASHES,
                key: pair(&key, &hash),
                value: 1.into(),
            });
            let value = sealed_changes.remove(&(*doc, c.hash())).unwrap_or_default();
            puts.push(Put {
                store: CHANGES,
                key: pair(&key, &hash),
                value: value.into(),
            });
            wrote_changes = true;
        }
    }
    for (peer, doc, _) in w.states {
        puts.push(Put {
            store: SYNC_STATES,
            key: pair(peer.as_str(), &doc.to_string()),
            value: sealed.next().unwrap_or_default().into(),
        });
    }
    let mut wrote_mark = false;
    if let (Some((doc, _)), Some(marked)) = (w.mark, marked) {
        let mark = sealed.next().unwrap_or_default();
        if marked.get().await?.as_f64().unwrap_or(0.0) == 0.0 {
            puts.push(Put {
                store: DIRTY,
                key: doc.to_string().into(),
                value: mark.into(),
            });
            wrote_mark = true;
        }
    }
    for r in &plain[first_record..] {
        puts.push(Put {
            store: r.store,
            key: r.key.clone().into(),
            value: sealed.next().unwrap_or_default().into(),
        });
    }
    let deletes: Vec<(&'static str, JsValue)> = w
        .deletes
        .iter()
        .map(|(store, key)| (*store, JsValue::from_str(key)))
        .collect();
    let cleared = w.deletes.iter().any(|(store, _)| *store == DIRTY);
    issue(&tx, what, &puts, &deletes)?;
    if let Some(e) = conn.fault(wrote_mark || cleared, wrote_changes) {
        return Err(tx.abort(e).await);
    }
    tx.commit(what).await
}

/// Most hashes one document's entry asks for one by one; more read the document's
/// stored hashes in one range.
const POINT_LOOKUPS: usize = 32;

/// The hashes a write of `mine` must know about: each change's own (stored already?)
/// and each dependency outside `mine` (stored, or the write is refused).
fn asked_hashes(mine: &[&Change]) -> Vec<String> {
    let own: HashSet<ChangeHash> = mine.iter().map(|c| c.hash()).collect();
    let mut asked: Vec<ChangeHash> = own.iter().copied().collect();
    for c in mine {
        asked.extend(c.deps().iter().filter(|d| !own.contains(d)));
    }
    asked.sort();
    asked.dedup();
    asked.iter().map(ToString::to_string).collect()
}

/// The changes of `mine` not in `known`, in an order where each comes after its
/// dependencies (adding them to `known`); an error when a dependency is nowhere.
fn in_causal_order<'c>(
    doc: DocId,
    mine: &[&'c Change],
    known: &mut HashSet<String>,
) -> Result<Vec<&'c Change>, StoreError> {
    let mut pending: Vec<&Change> = mine
        .iter()
        .copied()
        .filter(|c| !known.contains(&c.hash().to_string()))
        .collect();
    let mut out = Vec::with_capacity(pending.len());
    // Each round takes at least one change, or fails: at most `pending.len()` rounds.
    while !pending.is_empty() {
        let before = pending.len();
        let (ready, rest): (Vec<&Change>, Vec<&Change>) = pending
            .into_iter()
            .partition(|c| c.deps().iter().all(|d| known.contains(&d.to_string())));
        for c in ready {
            known.insert(c.hash().to_string());
            out.push(c);
        }
        if rest.len() == before {
            let change = rest[0];
            let missing = change
                .deps()
                .iter()
                .find(|d| !known.contains(&d.to_string()))
                .copied()
                .unwrap_or(change.hash());
            return Err(StoreError::MissingDependencies {
                doc,
                change: change.hash(),
                missing,
            });
        }
        pending = rest;
    }
    Ok(out)
}

/// The sync states with `peer` of those of `docs` that have one.
pub(crate) async fn sync_states(
    conn: &Conn,
    peer: &PeerId,
    docs: &[DocId],
) -> Result<HashMap<DocId, Vec<u8>>, StoreError> {
    let tx = conn.tx(&[SYNC_STATES], false)?;
    let os = tx.store(SYNC_STATES)?;
    let what = "reading sync states";
    let reads = docs
        .iter()
        .map(|doc| issued(what, os.get(&pair(peer.as_str(), &doc.to_string()))))
        .collect::<Result<Vec<_>, _>>()?;
    let mut found = Vec::new();
    for (doc, read) in docs.iter().zip(reads) {
        let value = read.get().await?;
        if !value.is_undefined() {
            found.push((*doc, (SYNC_STATES, format!("{peer}/{doc}"), value)));
        }
    }
    let sealed: Vec<_> = found.iter().map(|(_, s)| s.clone()).collect();
    let opened = conn.sealer.open(&sealed).await?;
    found
        .into_iter()
        .zip(opened)
        .map(|((doc, (_, key, _)), state)| match state {
            Ok(state) => Ok((doc, state)),
            Err(reason) => Err(unreadable(SYNC_STATES, &key, &reason)),
        })
        .collect()
}

/// Forgets the sync states with `peer` of every document not in `keep`.
pub(crate) async fn retain_sync_states(
    conn: &Conn,
    peer: &PeerId,
    keep: &[DocId],
) -> Result<(), StoreError> {
    let what = "forgetting sync states";
    let keep: HashSet<String> = keep.iter().map(DocId::to_string).collect();
    let tx = conn.tx(&[SYNC_STATES], true)?;
    let os = tx.store(SYNC_STATES)?;
    let keys = issued(
        what,
        os.get_all_keys_with_key(&prefix(peer.as_str())?.into()),
    )?;
    let keys: Array = keys.get().await?.unchecked_into();
    let deletes: Vec<(&'static str, JsValue)> = keys
        .iter()
        .filter(|k| unpair(k).is_some_and(|(_, doc)| !keep.contains(&doc)))
        .map(|k| (SYNC_STATES, k))
        .collect();
    issue(&tx, what, &[], &deletes)?;
    tx.commit(what).await
}

/// Documents with at least `min_changes` changes after their snapshot, most first.
pub(crate) async fn compaction_candidates(
    conn: &Conn,
    min_changes: usize,
    limit: usize,
) -> Result<Vec<DocId>, StoreError> {
    let tx = conn.tx(&[CHANGES], false)?;
    let keys = issued("counting changes", tx.store(CHANGES)?.get_all_keys())?;
    let keys: Array = keys.get().await?.unchecked_into();
    let mut counts: HashMap<String, usize> = HashMap::new();
    for key in keys.iter() {
        if let Some((doc, _)) = unpair(&key) {
            *counts.entry(doc).or_default() += 1;
        }
    }
    let mut found = counts
        .into_iter()
        .filter(|(_, n)| *n >= min_changes.max(1))
        .map(|(doc, n)| Ok((n, parse_doc(&doc)?)))
        .collect::<Result<Vec<(usize, DocId)>, StoreError>>()?;
    found.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    Ok(found.into_iter().take(limit).map(|(_, d)| d).collect())
}

/// Folds the document's changes into its snapshot (its whole history) in one
/// transaction; a compaction that raced another fails with a conflict, harming nothing.
pub(crate) async fn compact(conn: &Conn, doc: DocId) -> Result<(), StoreError> {
    let sealed = read_sealed(conn, &[doc]).await?;
    // The snapshot as read: the write below goes ahead only if it is still the same.
    let before = sealed
        .first()
        .map(|s| s.snapshot.clone())
        .unwrap_or_default();
    let (am, folded) = open_docs(conn, &[doc], sealed)
        .await?
        .pop()
        .flatten()
        .ok_or_else(|| StoreError::NotFound {
            what: format!("document {doc}"),
        })??;
    if folded.is_empty() {
        return Ok(());
    }
    let key = doc.to_string();
    let snapshot = conn
        .seal(&[Plain {
            store: SNAPSHOTS,
            key: key.clone(),
            bytes: am.save(),
        }])
        .await?
        .pop()
        .unwrap_or_default();

    let what = "compacting a document";
    let tx = conn.tx(&[SNAPSHOTS, CHANGES], true)?;
    let now = issued(what, tx.store(SNAPSHOTS)?.get(&key.clone().into()))?
        .get()
        .await?;
    if !same_bytes(&now, &before) {
        let e = StoreError::Conflict {
            reason: format!("document {doc} was compacted meanwhile"),
        };
        return Err(tx.abort(e).await);
    }
    let deletes: Vec<(&'static str, JsValue)> =
        folded.iter().map(|h| (CHANGES, pair(&key, h))).collect();
    let put = Put {
        store: SNAPSHOTS,
        key: key.into(),
        value: snapshot.into(),
    };
    issue(&tx, what, &[put], &deletes)?;
    if let Some(e) = conn.fault(false, true) {
        return Err(tx.abort(e).await);
    }
    tx.commit(what).await
}

/// Whether two stored values are the same bytes (both absent counts as the same).
fn same_bytes(a: &JsValue, b: &JsValue) -> bool {
    match (a.dyn_ref::<Uint8Array>(), b.dyn_ref::<Uint8Array>()) {
        (Some(a), Some(b)) => a.to_vec() == b.to_vec(),
        (None, None) => a.is_undefined() && b.is_undefined(),
        _ => false,
    }
}
