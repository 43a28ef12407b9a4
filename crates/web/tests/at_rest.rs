//! What the IndexedDB store keeps at rest, checked through raw IndexedDB beside it: values
//! are sealed (no plaintext on disk), a value changed or moved on disk gives a clear
//! error in its own slot, a reopen keeps everything under the same non-extractable key,
//! and databases the code cannot read are refused with a clear error.
#![cfg(target_arch = "wasm32")]

use std::cell::Cell;

use automerge::transaction::Transactable;
use automerge::{ActorId, AutoCommit, ROOT, ReadDoc};
use js_sys::{Array, Promise, Reflect, Uint8Array};
use rapport_core::{DeviceStore, IndexEntry, Pairing};
use rapport_domain::DocId;
use rapport_store::{PeerId, StoreError, WriteBatch};
use rapport_web::IdbDeviceStore;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};
use web_sys::{CryptoKey, Event, IdbDatabase, IdbFactory, IdbRequest, IdbTransactionMode};

wasm_bindgen_test_configure!(run_in_browser);

thread_local! {
    static NEXT: Cell<u32> = const { Cell::new(0) };
}

fn fresh_name(what: &str) -> String {
    let n = NEXT.with(|c| {
        c.set(c.get() + 1);
        c.get()
    });
    format!("rapport-at-rest-{what}-{}-{n}", js_sys::Date::now() as u64)
}

fn id(n: u8) -> DocId {
    DocId::from_bytes([n; 16])
}

/// The changes of a document holding `text` under "текст".
fn changes(actor: u8, text: &str) -> Vec<automerge::Change> {
    let mut doc = AutoCommit::new().with_actor(ActorId::from(vec![actor; 16]));
    doc.put(ROOT, "текст", text).expect("put");
    doc.commit();
    doc.document().get_changes(&[])
}

fn text_of(doc: &automerge::Automerge) -> String {
    let (value, _) = doc.get(ROOT, "текст").expect("get").expect("present");
    value.into_string().expect("a string")
}

// --- Raw IndexedDB, beside the store -----------------------------------------------------

/// A raw request's result.
async fn raw(req: IdbRequest) -> JsValue {
    let promise = Promise::new(&mut |resolve, reject| {
        let r = req.clone();
        let ok = Closure::once_into_js(move |_: Event| {
            let _ = resolve.call1(&JsValue::NULL, &r.result().unwrap_or_default());
        });
        let err = Closure::once_into_js(move |_: Event| {
            let _ = reject.call1(&JsValue::NULL, &"raw request failed".into());
        });
        req.set_onsuccess(Some(ok.unchecked_ref()));
        req.set_onerror(Some(err.unchecked_ref()));
    });
    JsFuture::from(promise)
        .await
        .expect("raw IndexedDB request")
}

fn factory() -> IdbFactory {
    Reflect::get(&js_sys::global(), &"indexedDB".into())
        .expect("indexedDB")
        .unchecked_into()
}

/// A raw connection to the database `name` at `version` (its current one: `None`).
async fn raw_open(name: &str, version: Option<u32>) -> IdbDatabase {
    let req = match version {
        Some(v) => factory().open_with_u32(name, v),
        None => factory().open(name),
    }
    .expect("open");
    raw(req.unchecked_into()).await.unchecked_into()
}

/// Every (key, value) of `store`, raw.
async fn raw_records(db: &IdbDatabase, store: &str) -> Vec<(JsValue, JsValue)> {
    let tx = db.transaction_with_str(store).expect("tx");
    let os = tx.object_store(store).expect("store");
    let keys: Array = raw(os.get_all_keys().expect("keys")).await.unchecked_into();
    let values: Array = raw(os.get_all().expect("values")).await.unchecked_into();
    keys.iter().zip(values.iter()).collect()
}

/// Puts `value` at `key` of `store`, raw.
async fn raw_put(db: &IdbDatabase, store: &str, key: &JsValue, value: &JsValue) {
    let tx = db
        .transaction_with_str_and_mode(store, IdbTransactionMode::Readwrite)
        .expect("tx");
    let os = tx.object_store(store).expect("store");
    raw(os.put_with_key(value, key).expect("put")).await;
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

// --- Tests ---------------------------------------------------------------------------------

/// No stored value holds the plaintext of what was written (Cyrillic text, the token).
#[wasm_bindgen_test]
async fn nothing_is_stored_in_plaintext() {
    let name = fresh_name("plain");
    let store = IdbDeviceStore::open(&name).await.expect("open");
    let text = "Совершенно секретный отчёт о визите";
    store
        .save_edit(id(1), changes(1, text), 1)
        .await
        .expect("edit");
    let pairing = Pairing {
        server_url: "https://rapport.пример.рф".into(),
        device_id: "планшет-7".into(),
        token: "токен-только-для-устройства".into(),
        programme_id: id(9),
        rep_id: Some("петрова".into()),
        label: "Планшет Петровой".into(),
        actor: "00112233445566778899aabbccddeeff".into(),
    };
    store.set_pairing(&pairing, 2).await.expect("pair");
    store
        .index(&[IndexEntry {
            doc: id(1),
            kind: "визит".into(),
            client: None,
        }])
        .await
        .expect("index");
    store.compact(id(1)).await.expect("compact");
    store.close();

    let db = raw_open(&name, None).await;
    let mut seen = 0;
    for s in ["changes", "snapshots", "meta", "index", "dirty"] {
        for (_, value) in raw_records(&db, s).await {
            let bytes = value
                .dyn_into::<Uint8Array>()
                .expect("sealed bytes")
                .to_vec();
            for needle in [text, "токен-только-для-устройства", "визит", "петрова"]
            {
                assert!(
                    !contains(&bytes, needle.as_bytes()),
                    "{s} holds {needle:?} in plaintext"
                );
            }
            seen += 1;
        }
    }
    assert!(seen >= 5, "the values were read raw ({seen})");
    db.close();

    let store = IdbDeviceStore::open(&name).await.expect("reopen");
    assert_eq!(store.pairing().await.expect("pairing"), Some(pairing));
    let loaded = store.load_many(&[id(1)]).await.expect("load").remove(0).1;
    assert_eq!(text_of(&loaded.expect("loads").expect("stored")), text);
    store.close();
}

/// A byte changed on disk, or a value moved to another record, is an error in that
/// document's own slot; the other documents still load.
#[wasm_bindgen_test]
async fn a_value_changed_on_disk_is_an_error_in_its_own_slot() {
    let name = fresh_name("corrupt");
    let store = IdbDeviceStore::open(&name).await.expect("open");
    let batch = WriteBatch::new()
        .with_changes(id(1), changes(1, "Первый"))
        .with_changes(id(2), changes(2, "Второй"))
        .with_changes(id(3), changes(3, "Третий"))
        .with_sync_state(PeerId::server(), id(1), vec![1, 2, 3]);
    store.commit(batch).await.expect("commit");
    store.close();

    let db = raw_open(&name, None).await;
    let records = raw_records(&db, "changes").await;
    assert_eq!(records.len(), 3);
    let doc_of = |key: &JsValue| Array::from(key).get(0).as_string().expect("doc");
    let (key1, value1) = records
        .iter()
        .find(|(k, _)| doc_of(k) == id(1).to_string())
        .expect("doc 1");
    // One byte of the ciphertext flipped.
    let bytes = Uint8Array::new(value1);
    let i = bytes.length() - 5;
    bytes.set_index(i, bytes.get_index(i) ^ 0x40);
    raw_put(&db, "changes", key1, &bytes).await;
    // Document 2's sealed change put in document 3's record.
    let (_, value2) = records
        .iter()
        .find(|(k, _)| doc_of(k) == id(2).to_string())
        .expect("doc 2");
    let (key3, _) = records
        .iter()
        .find(|(k, _)| doc_of(k) == id(3).to_string())
        .expect("doc 3");
    raw_put(&db, "changes", key3, value2).await;
    db.close();

    let store = IdbDeviceStore::open(&name).await.expect("reopen");
    let loaded = store
        .load_many(&[id(1), id(2), id(3)])
        .await
        .expect("load_many itself works");
    for (slot, doc) in [(0, id(1)), (2, id(3))] {
        match &loaded[slot].1 {
            Err(StoreError::Corrupt { doc: d, reason }) => {
                assert_eq!(*d, doc);
                assert!(reason.contains("does not decrypt"), "{reason}");
            }
            other => panic!("document {doc}: expected a corrupt error, got {other:?}"),
        }
    }
    let second = loaded[1]
        .1
        .as_ref()
        .expect("loads")
        .as_ref()
        .expect("stored");
    assert_eq!(text_of(second), "Второй");
    assert_eq!(
        store.sync_states(&[id(1)]).await.expect("states")[&id(1)],
        vec![1, 2, 3]
    );
    store.close();
}

/// A reopen finds everything under the same key: one key record, non-extractable
/// AES-GCM-256, and the values written before it open.
#[wasm_bindgen_test]
async fn a_reopen_keeps_everything_and_the_same_key() {
    let name = fresh_name("reopen");
    let store = IdbDeviceStore::open(&name).await.expect("open");
    store
        .save_edit(id(4), changes(4, "Ёжик в тумане"), 7)
        .await
        .expect("edit");
    store.close();
    let db = raw_open(&name, None).await;
    let keys = raw_records(&db, "keys").await;
    assert_eq!(keys.len(), 1, "one key");
    let key: CryptoKey = keys[0].1.clone().dyn_into().expect("a CryptoKey");
    assert!(!key.extractable(), "the key cannot be exported");
    let algorithm = key.algorithm().expect("algorithm");
    let algo_name = Reflect::get(&algorithm, &"name".into()).expect("name");
    let length = Reflect::get(&algorithm, &"length".into()).expect("length");
    assert_eq!(algo_name.as_string().as_deref(), Some("AES-GCM"));
    assert_eq!(length.as_f64(), Some(256.0));
    db.close();

    for _ in 0..2 {
        let store = IdbDeviceStore::open(&name).await.expect("reopen");
        assert_eq!(store.dirty().await.expect("dirty"), vec![id(4)]);
        let loaded = store.load_many(&[id(4)]).await.expect("load").remove(0).1;
        assert_eq!(
            text_of(&loaded.expect("loads").expect("stored")),
            "Ёжик в тумане"
        );
        store.close();
    }
    let db = raw_open(&name, None).await;
    assert_eq!(raw_records(&db, "keys").await.len(), 1, "still one key");
    db.close();
}

/// A database of a newer schema version, and one whose key is gone, are refused with a
/// clear error and left as they are.
#[wasm_bindgen_test]
async fn databases_this_code_cannot_read_are_refused_clearly() {
    let newer = fresh_name("newer");
    raw_open(&newer, Some(7)).await.close();
    match IdbDeviceStore::open(&newer).await {
        Err(StoreError::Migration { reason }) => {
            assert!(reason.contains("newer version"), "{reason}")
        }
        other => panic!("expected a migration error, got {other:?}"),
    }

    let keyless = fresh_name("keyless");
    let store = IdbDeviceStore::open(&keyless).await.expect("open");
    store.mark_dirty(&[id(5)], 1).await.expect("mark");
    store.close();
    let db = raw_open(&keyless, None).await;
    let tx = db
        .transaction_with_str_and_mode("keys", IdbTransactionMode::Readwrite)
        .expect("tx");
    raw(tx
        .object_store("keys")
        .expect("keys")
        .clear()
        .expect("clear"))
    .await;
    db.close();
    match IdbDeviceStore::open(&keyless).await {
        Err(StoreError::Open { reason, .. }) => {
            assert!(reason.contains("key is gone"), "{reason}")
        }
        other => panic!("expected an open error, got {other:?}"),
    }
    let db = raw_open(&keyless, None).await;
    assert_eq!(
        raw_records(&db, "dirty").await.len(),
        1,
        "data left as it was"
    );
    assert!(raw_records(&db, "keys").await.is_empty(), "no new key made");
    db.close();
}
