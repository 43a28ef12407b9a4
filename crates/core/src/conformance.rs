//! The conformance suite every [`DeviceStore`] runs: the native node's encrypted SQLite
//! store, [`crate::MemDeviceStore`], the browser's store. It checks the contract of the
//! [`crate::store`] module: what is written reads back, survives a reopen, is all or
//! nothing, and an edit's dirty mark is never later than its changes.
//!
//! An implementation gives a [`Harness`] and calls [`run`] with a way to make fresh ones.

use std::future::Future;

use automerge::transaction::Transactable;
use automerge::{ActorId, AutoCommit, Automerge, Change, ROOT, ReadDoc};
use rapport_api::{ApiError, RunSummary, StoppedDoc};
use rapport_domain::DocId;
use rapport_store::WriteBatch;

use crate::store::{DeviceStore, IndexEntry, Pairing, ResponseWrite, RunRecord};

/// A store under test, and what the suite needs to do to it.
#[cfg_attr(not(target_arch = "wasm32"), async_trait::async_trait)]
#[cfg_attr(target_arch = "wasm32", async_trait::async_trait(?Send))]
pub trait Harness {
    /// The store's type.
    type Store: DeviceStore;
    /// The store as opened now.
    fn store(&self) -> &Self::Store;
    /// Closes the store and opens it again from what it made durable (the app killed
    /// and started again).
    async fn reopen(&mut self);
    /// From now on, writes of dirty marks fail (`true`) or work again (`false`).
    async fn fail_dirty_writes(&mut self, fail: bool);
    /// From now on, writes of document changes fail (`true`) or work again (`false`).
    async fn fail_change_writes(&mut self, fail: bool);
    /// Closes the store for good and waits until it is closed, as an app does before
    /// it exits. A store left to close by itself may still be closing when the process
    /// exits: SQLCipher frees its global state at exit, under a connection still
    /// closing in another thread (a crash of the test program after its tests passed).
    async fn close(&mut self);
}

/// Every case, each on a fresh harness from `make`. Panics (with what broke) on the
/// first case that fails.
pub async fn run<H, F, Fut>(make: F)
where
    H: Harness,
    F: Fn() -> Fut,
    Fut: Future<Output = H>,
{
    macro_rules! case {
        ($case:ident) => {{
            let mut h = make().await;
            $case(&mut h).await;
            h.close().await;
        }};
    }
    case!(documents_read_back_and_survive_a_reopen);
    case!(a_commit_is_idempotent_and_all_or_nothing);
    case!(sync_states_are_kept_replaced_and_retained);
    case!(an_edit_is_durable_and_dirty);
    case!(a_dirty_mark_is_never_later_than_its_changes);
    case!(the_dirty_set_keeps_its_order_and_clears);
    case!(pairing_and_sync_bookkeeping);
    case!(stopped_documents_and_the_index);
    case!(hundreds_of_documents_at_once);
    case!(compaction_keeps_every_change);
    case!(a_response_writes_what_it_holds);
}

fn id(n: u8) -> DocId {
    DocId::from_bytes([n; 16])
}

/// A document with `text` under `"ответ"`, by a fixed actor: its changes.
fn doc_with(actor: u8, text: &str) -> Automerge {
    let mut doc = AutoCommit::new().with_actor(ActorId::from(vec![actor; 16]));
    doc.put(ROOT, "ответ", text).expect("put");
    doc.commit();
    doc.document().clone()
}

fn all_changes(doc: &Automerge) -> Vec<Change> {
    doc.get_changes(&[])
}

/// The text under `"ответ"` of the stored document, if it is stored.
/// A change made on top of `doc` (setting its answer to `text`): stored without `doc`'s
/// own changes, it lacks its dependency.
fn change_after(doc: &Automerge, text: &str) -> Vec<Change> {
    let mut later = AutoCommit::load(&doc.save()).expect("load");
    later.put(ROOT, "ответ", text).expect("put");
    later.commit();
    later.document().get_changes(&doc.get_heads())
}

async fn stored_text<S: DeviceStore>(store: &S, doc: DocId) -> Option<String> {
    let mut loaded = store.load_many(&[doc]).await.expect("load_many");
    let (got, loaded) = loaded.pop().expect("one slot per id asked");
    assert_eq!(got, doc, "slots come in the order asked");
    let doc = loaded.expect("the document loads")?;
    let (value, _) = doc.get(ROOT, "ответ").expect("get")?;
    Some(value.into_string().expect("text"))
}

/// Documents read back in the order asked, an unknown one as `None`, and survive a reopen.
pub async fn documents_read_back_and_survive_a_reopen<H: Harness>(h: &mut H) {
    let (a, b) = (doc_with(1, "Привет"), doc_with(2, "Ёлка"));
    h.store()
        .commit(
            WriteBatch::new()
                .with_changes(id(2), all_changes(&b))
                .with_changes(id(1), all_changes(&a)),
        )
        .await
        .expect("commit");
    for round in ["before", "after"] {
        if round == "after" {
            h.reopen().await;
        }
        let store = h.store();
        assert_eq!(
            store.list_docs().await.expect("list"),
            vec![id(1), id(2)],
            "{round}"
        );
        let loaded = store
            .load_many(&[id(2), id(9), id(1)])
            .await
            .expect("load_many");
        let ids: Vec<DocId> = loaded.iter().map(|(d, _)| *d).collect();
        assert_eq!(ids, vec![id(2), id(9), id(1)], "{round}: order asked");
        assert!(matches!(loaded[1].1, Ok(None)), "{round}: unknown is None");
        assert_eq!(stored_text(store, id(1)).await.as_deref(), Some("Привет"));
        assert_eq!(stored_text(store, id(2)).await.as_deref(), Some("Ёлка"));
    }
}

/// Committing the same changes twice stores them once; a batch with a change whose
/// dependency is missing stores nothing, not even its other documents.
pub async fn a_commit_is_idempotent_and_all_or_nothing<H: Harness>(h: &mut H) {
    let a = doc_with(1, "раз");
    let store = h.store();
    for _ in 0..2 {
        store
            .commit(WriteBatch::new().with_changes(id(1), all_changes(&a)))
            .await
            .expect("commit twice");
    }
    let orphan = change_after(&a, "два");
    let other = doc_with(3, "другой");
    let refused = store
        .commit(
            WriteBatch::new()
                .with_changes(id(3), all_changes(&other))
                .with_changes(id(4), orphan),
        )
        .await;
    assert!(
        refused.is_err(),
        "a change without its dependency is refused"
    );
    h.reopen().await;
    let store = h.store();
    assert_eq!(stored_text(store, id(3)).await, None, "all or nothing");
    assert_eq!(stored_text(store, id(4)).await, None);
    let doc = store.load_many(&[id(1)]).await.expect("load").remove(0).1;
    let doc = doc.expect("loads").expect("stored");
    assert_eq!(doc.get_changes(&[]).len(), 1, "stored once");
}

/// Sync states are stored with changes, replaced, retained, and survive a reopen.
pub async fn sync_states_are_kept_replaced_and_retained<H: Harness>(h: &mut H) {
    let peer = rapport_store::PeerId::server();
    let batch = WriteBatch::new()
        .with_sync_state(
            peer.clone(),
            id(1),
            b"\xd1\x81\xd0\xbe\xd1\x81\xd1\x82".to_vec(),
        )
        .with_sync_state(peer.clone(), id(2), vec![2])
        .with_sync_state(peer.clone(), id(3), vec![3]);
    h.store().commit(batch).await.expect("commit states");
    h.store()
        .commit(WriteBatch::new().with_sync_state(peer, id(2), vec![22]))
        .await
        .expect("replace");
    let states = h
        .store()
        .sync_states(&[id(1), id(2), id(9)])
        .await
        .expect("states");
    assert_eq!(states.len(), 2, "only those that have one");
    assert_eq!(states[&id(2)], vec![22], "replaced");
    h.store()
        .retain_sync_states(&[id(1), id(9)])
        .await
        .expect("retain");
    h.reopen().await;
    let states = h
        .store()
        .sync_states(&[id(1), id(2), id(3)])
        .await
        .expect("states");
    assert_eq!(states.keys().copied().collect::<Vec<_>>(), vec![id(1)]);
}

/// An edit saved is there, and dirty, after a reopen.
pub async fn an_edit_is_durable_and_dirty<H: Harness>(h: &mut H) {
    let doc = doc_with(1, "набрано");
    h.store()
        .save_edit(id(1), all_changes(&doc), 1_000)
        .await
        .expect("save_edit");
    h.reopen().await;
    assert_eq!(h.store().dirty().await.expect("dirty"), vec![id(1)]);
    assert_eq!(
        stored_text(h.store(), id(1)).await.as_deref(),
        Some("набрано")
    );
}

/// When an edit's dirty mark cannot be written, its changes are not stored either; when
/// its changes cannot be written, no half of them is. Never a change without its mark.
pub async fn a_dirty_mark_is_never_later_than_its_changes<H: Harness>(h: &mut H) {
    let doc = doc_with(1, "не потерять");
    h.fail_dirty_writes(true).await;
    let saved = h.store().save_edit(id(1), all_changes(&doc), 1_000).await;
    h.fail_dirty_writes(false).await;
    assert!(saved.is_err(), "the dirty mark's failure fails the edit");
    h.reopen().await;
    let dirty = h.store().dirty().await.expect("dirty");
    let text = stored_text(h.store(), id(1)).await;
    assert!(
        text.is_none() || dirty.contains(&id(1)),
        "a change is stored without its dirty mark"
    );

    h.fail_change_writes(true).await;
    let saved = h.store().save_edit(id(2), all_changes(&doc), 2_000).await;
    h.fail_change_writes(false).await;
    assert!(saved.is_err(), "the changes' failure fails the edit");
    h.reopen().await;
    assert_eq!(
        stored_text(h.store(), id(2)).await,
        None,
        "nothing half-way"
    );

    h.store()
        .save_edit(id(2), all_changes(&doc), 3_000)
        .await
        .expect("works again");
    h.reopen().await;
    assert!(h.store().dirty().await.expect("dirty").contains(&id(2)));
    assert_eq!(
        stored_text(h.store(), id(2)).await.as_deref(),
        Some("не потерять")
    );
}

/// Marks come back oldest first and keep their first time; clearing removes only those.
pub async fn the_dirty_set_keeps_its_order_and_clears<H: Harness>(h: &mut H) {
    let store = h.store();
    store.mark_dirty(&[id(3), id(1)], 10).await.expect("mark");
    store.mark_dirty(&[id(2)], 20).await.expect("mark");
    store.mark_dirty(&[id(3)], 30).await.expect("mark again");
    assert_eq!(
        store.dirty().await.expect("dirty"),
        vec![id(1), id(3), id(2)]
    );
    store.clear_dirty(&[id(3), id(9)]).await.expect("clear");
    store.clear_dirty(&[]).await.expect("clear nothing");
    h.reopen().await;
    assert_eq!(h.store().dirty().await.expect("dirty"), vec![id(1), id(2)]);
}

/// The pairing, the cursor, and how runs ended; a new pairing starts sync over.
pub async fn pairing_and_sync_bookkeeping<H: Harness>(h: &mut H) {
    let pairing = Pairing {
        server_url: "https://rapport.пример.рф".into(),
        device_id: "устройство-1".into(),
        token: "секрет".into(),
        programme_id: id(7),
        rep_id: Some("иванов".into()),
        label: "Планшет Иванова".into(),
        actor: "00112233445566778899aabbccddeeff".into(),
    };
    assert_eq!(h.store().pairing().await.expect("pairing"), None);
    let row = h.store().sync_row().await.expect("row");
    assert!(row.remote_cursor.is_empty() && !row.revoked && row.last_run.is_none());
    h.store().set_pairing(&pairing, 5).await.expect("pair");
    h.store()
        .set_remote_cursor(b"cursor-1")
        .await
        .expect("cursor");
    let summary = RunSummary {
        requests: 3,
        bytes_sent: 100,
        ..RunSummary::default()
    };
    h.store()
        .record_run(10, &RunRecord::Done(summary.clone()))
        .await
        .expect("done");
    let failed = RunRecord::Failed {
        error: ApiError::new("device_revoked", "устройство отозвано"),
        revoked: true,
    };
    h.store().record_run(20, &failed).await.expect("failed");
    h.reopen().await;
    assert_eq!(
        h.store().pairing().await.expect("pairing"),
        Some(pairing.clone())
    );
    let row = h.store().sync_row().await.expect("row");
    assert_eq!(row.remote_cursor, b"cursor-1");
    assert_eq!(row.last_success_ms, Some(10));
    assert_eq!(row.last_attempt_ms, Some(20));
    assert_eq!(row.last_run, Some(summary), "a failure keeps the last run");
    assert!(row.revoked);
    assert_eq!(
        row.last_error.map(|e| (e.code, e.message)),
        Some(("device_revoked".into(), "устройство отозвано".into()))
    );
    let again = Pairing {
        token: "новый".into(),
        ..pairing
    };
    h.store().set_pairing(&again, 30).await.expect("pair again");
    h.reopen().await;
    assert_eq!(h.store().pairing().await.expect("pairing"), Some(again));
    let row = h.store().sync_row().await.expect("row");
    assert!(row.remote_cursor.is_empty(), "sync starts over");
    assert!(!row.revoked && row.last_error.is_none());
}

/// Refusals with their kind from the index, oldest first; the index replaces entries.
pub async fn stopped_documents_and_the_index<H: Harness>(h: &mut H) {
    let store = h.store();
    let entry = |n: u8, kind: &str, client: Option<DocId>| IndexEntry {
        doc: id(n),
        kind: kind.into(),
        client,
    };
    store
        .index(&[entry(1, "visit", Some(id(5))), entry(5, "client", None)])
        .await
        .expect("index");
    store
        .index(&[entry(1, "visit", Some(id(6)))])
        .await
        .expect("replace");
    let stop = |n: u8, at_ms: i64| StoppedDoc {
        doc_id: id(n),
        kind: String::new(),
        code: "forbidden".into(),
        message: "клиент передан другому".into(),
        at_ms,
    };
    store.stop(&[stop(2, 20), stop(1, 10)]).await.expect("stop");
    store.stop(&[stop(3, 5)]).await.expect("stop");
    store.unstop(&[id(3)]).await.expect("unstop");
    h.reopen().await;
    let stopped = h.store().stopped().await.expect("stopped");
    let seen: Vec<(DocId, &str)> = stopped
        .iter()
        .map(|s| (s.doc_id, s.kind.as_str()))
        .collect();
    assert_eq!(seen, vec![(id(1), "visit"), (id(2), "document")]);
    assert_eq!(stopped[0].message, "клиент передан другому");
    let mut indexed = h.store().indexed().await.expect("indexed");
    indexed.sort_by_key(|e| e.doc);
    assert_eq!(
        indexed,
        vec![entry(1, "visit", Some(id(6))), entry(5, "client", None)]
    );
}

/// A first sync brings hundreds of documents in one response: marking, clearing,
/// indexing and taking back refusals of more documents than one statement holds.
pub async fn hundreds_of_documents_at_once<H: Harness>(h: &mut H) {
    let store = h.store();
    let many: Vec<DocId> = (0..700u32)
        .map(|n| {
            let mut bytes = [0u8; 16];
            bytes[..4].copy_from_slice(&n.to_be_bytes());
            bytes[15] = 1;
            DocId::from_bytes(bytes)
        })
        .collect();
    store.mark_dirty(&many, 10).await.expect("mark");
    store.clear_dirty(&many[..650]).await.expect("clear");
    let entries: Vec<IndexEntry> = many
        .iter()
        .enumerate()
        .map(|(n, doc)| IndexEntry {
            doc: *doc,
            kind: if n % 2 == 0 { "visit" } else { "client" }.into(),
            client: (n % 2 == 0).then(|| many[n + 1]),
        })
        .collect();
    store.index(&entries).await.expect("index");
    let stopped: Vec<StoppedDoc> = many
        .iter()
        .map(|doc| StoppedDoc {
            doc_id: *doc,
            kind: String::new(),
            code: "forbidden".into(),
            message: "клиент передан другому представителю".into(),
            at_ms: 20,
        })
        .collect();
    store.stop(&stopped).await.expect("stop");
    store.unstop(&many[1..]).await.expect("unstop");
    h.reopen().await;
    let store = h.store();
    assert_eq!(store.dirty().await.expect("dirty"), many[650..].to_vec());
    let mut indexed = store.indexed().await.expect("indexed");
    indexed.sort_by_key(|e| e.doc);
    assert_eq!(indexed, entries);
    let left = store.stopped().await.expect("stopped");
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].doc_id, many[0]);
    assert_eq!(left[0].kind, "visit");
}

/// A document typed one change at a time is a candidate, compacts, and keeps every
/// change; compaction of an unknown document fails and harms nothing.
pub async fn compaction_keeps_every_change<H: Harness>(h: &mut H) {
    let mut doc = AutoCommit::new().with_actor(ActorId::from(vec![1; 16]));
    let text = doc
        .put_object(ROOT, "текст", automerge::ObjType::Text)
        .expect("text");
    doc.commit();
    h.store()
        .commit(WriteBatch::new().with_changes(id(1), all_changes(doc.document())))
        .await
        .expect("commit");
    for (i, c) in "Привет, мир! ".chars().cycle().take(150).enumerate() {
        let heads = doc.get_heads();
        doc.splice_text(&text, i, 0, &c.to_string()).expect("type");
        doc.commit();
        let new = doc.document().get_changes(&heads);
        h.store()
            .save_edit(id(1), new, i as i64)
            .await
            .expect("save");
    }
    let store = h.store();
    assert_eq!(
        store
            .compaction_candidates(128, 10)
            .await
            .expect("candidates"),
        vec![id(1)]
    );
    store.compact(id(1)).await.expect("compact");
    assert!(store.compact(id(9)).await.is_err(), "unknown document");
    assert!(
        store
            .compaction_candidates(128, 10)
            .await
            .expect("candidates")
            .is_empty()
    );
    h.reopen().await;
    let loaded = h
        .store()
        .load_many(&[id(1)])
        .await
        .expect("load")
        .remove(0)
        .1;
    let loaded = loaded.expect("loads").expect("stored");
    assert_eq!(loaded.get_changes(&[]).len(), 151, "the whole history");
    let (_, obj) = loaded.get(ROOT, "текст").expect("get").expect("text");
    let typed: String = "Привет, мир! ".chars().cycle().take(150).collect();
    assert_eq!(loaded.text(&obj).expect("text"), typed);
}

/// What one response left to store is written whole: documents, sync states, refusals
/// given and taken back, index entries, the cursor and the cleared dirty marks. A
/// response whose documents are refused (a change without its dependency) writes
/// nothing else either: the cursor and the dirty marks stay as they were.
pub async fn a_response_writes_what_it_holds<H: Harness>(h: &mut H) {
    let store = h.store();
    store.mark_dirty(&[id(1), id(2)], 1).await.expect("dirty");
    store
        .stop(&[StoppedDoc {
            doc_id: id(3),
            kind: String::new(),
            code: "forbidden".into(),
            message: "клиент передан другому".into(),
            at_ms: 1,
        }])
        .await
        .expect("stop");
    store.set_remote_cursor(b"c0").await.expect("cursor");
    let a = doc_with(1, "ответ с сервера");
    let peer = rapport_store::PeerId::server();
    let refusal = StoppedDoc {
        doc_id: id(4),
        kind: String::new(),
        code: "forbidden".into(),
        message: "нет доступа".into(),
        at_ms: 2,
    };
    store
        .write_response(ResponseWrite {
            batch: WriteBatch::new()
                .with_changes(id(1), all_changes(&a))
                .with_sync_state(peer.clone(), id(1), b"\xd1\x81".to_vec()),
            stop: vec![refusal],
            unstop: vec![id(3)],
            index: vec![IndexEntry {
                doc: id(1),
                kind: "visit".into(),
                client: Some(id(5)),
            }],
            cursor: Some(b"c1".to_vec()),
            clear_dirty: vec![id(1)],
        })
        .await
        .expect("a response");
    h.reopen().await;
    let store = h.store();
    assert_eq!(
        stored_text(store, id(1)).await.as_deref(),
        Some("ответ с сервера")
    );
    let states = store.sync_states(&[id(1)]).await.expect("states");
    assert_eq!(states[&id(1)], b"\xd1\x81".to_vec());
    let stopped: Vec<DocId> = store
        .stopped()
        .await
        .expect("stopped")
        .iter()
        .map(|s| s.doc_id)
        .collect();
    assert_eq!(stopped, vec![id(4)], "one refusal given, one taken back");
    assert_eq!(
        store.indexed().await.expect("indexed"),
        vec![IndexEntry {
            doc: id(1),
            kind: "visit".into(),
            client: Some(id(5)),
        }]
    );
    assert_eq!(store.sync_row().await.expect("row").remote_cursor, b"c1");
    assert_eq!(store.dirty().await.expect("dirty"), vec![id(2)]);

    // Refused documents: nothing of the response is written.
    let orphan = change_after(&a, "позже");
    let refused = store
        .write_response(ResponseWrite {
            batch: WriteBatch::new().with_changes(id(6), orphan),
            cursor: Some(b"c2".to_vec()),
            clear_dirty: vec![id(2)],
            ..ResponseWrite::default()
        })
        .await;
    assert!(
        refused.is_err(),
        "a change without its dependency is refused"
    );
    h.reopen().await;
    let store = h.store();
    assert_eq!(store.sync_row().await.expect("row").remote_cursor, b"c1");
    assert_eq!(store.dirty().await.expect("dirty"), vec![id(2)]);
    assert_eq!(stored_text(store, id(6)).await, None);
}
