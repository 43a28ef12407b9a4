//! The device-store conformance suite (`rapport_core::conformance`) on the node's store:
//! an encrypted SQLite file in a temp folder, reopened from disk, with writes made to fail
//! by triggers inside the database itself.

use rapport_core::conformance::{Harness, run};
use rapport_core::{DeviceStore, IndexEntry, ResponseWrite};
use rapport_domain::DocId;
use rapport_node::SqlDeviceStore;
use rapport_store::SqliteStore;

/// A key for the test database (SQLCipher).
const KEY: [u8; 32] = [7; 32];

struct Sqlite {
    dir: tempfile::TempDir,
    store: SqlDeviceStore,
}

impl Sqlite {
    async fn new() -> Self {
        let dir = tempfile::tempdir().expect("a temp dir");
        let store = open(&dir).await;
        Self { dir, store }
    }

    async fn exec(&self, sql: &str) {
        sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
            .execute(self.store.docs().pool())
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
}

async fn open(dir: &tempfile::TempDir) -> SqlDeviceStore {
    let docs = SqliteStore::open_encrypted(dir.path().join("device.db"), &KEY)
        .await
        .expect("open the encrypted store");
    SqlDeviceStore::open(docs).await.expect("the node's tables")
}

/// A trigger that refuses every insert into `table`, or none.
fn refuse(table: &str, fail: bool) -> String {
    if fail {
        format!(
            "CREATE TRIGGER IF NOT EXISTS refuse_{table} BEFORE INSERT ON {table} \
             BEGIN SELECT RAISE(ABORT, 'injected failure'); END"
        )
    } else {
        format!("DROP TRIGGER IF EXISTS refuse_{table}")
    }
}

#[async_trait::async_trait]
impl Harness for Sqlite {
    type Store = SqlDeviceStore;

    fn store(&self) -> &SqlDeviceStore {
        &self.store
    }

    async fn reopen(&mut self) {
        self.store.docs().pool().close().await;
        self.store = open(&self.dir).await;
    }

    async fn fail_dirty_writes(&mut self, fail: bool) {
        self.exec(&refuse("node_dirty", fail)).await;
    }

    async fn fail_change_writes(&mut self, fail: bool) {
        self.exec(&refuse("changes", fail)).await;
    }

    async fn close(&mut self) {
        self.store.docs().pool().close().await;
    }
}

#[tokio::test]
async fn the_encrypted_sqlite_store_keeps_the_contract() {
    run(Sqlite::new).await;
}

/// On this store a response is one transaction: when its last part cannot be written
/// (the index, here), its documents, cursor and cleared dirty marks are not written
/// either, and the device holds what it held before the response.
#[tokio::test]
async fn a_response_is_one_transaction() {
    let mut h = Sqlite::new().await;
    let doc = DocId::from_bytes([1; 16]);
    h.store.mark_dirty(&[doc], 1).await.expect("dirty");
    h.store.set_remote_cursor(b"c0").await.expect("cursor");
    let mut answer = automerge::AutoCommit::new();
    automerge::transaction::Transactable::put(&mut answer, automerge::ROOT, "ответ", "с сервера")
        .expect("put");
    answer.commit();
    h.exec(&refuse("node_index", true)).await;
    let failed = h
        .store
        .write_response(ResponseWrite {
            batch: rapport_store::WriteBatch::new()
                .with_changes(doc, answer.document().get_changes(&[])),
            index: vec![IndexEntry {
                doc,
                kind: "visit".into(),
                client: None,
            }],
            cursor: Some(b"c1".to_vec()),
            clear_dirty: vec![doc],
            ..ResponseWrite::default()
        })
        .await;
    assert!(failed.is_err(), "the index write fails");
    h.reopen().await;
    assert_eq!(h.store.sync_row().await.expect("row").remote_cursor, b"c0");
    assert_eq!(h.store.dirty().await.expect("dirty"), vec![doc]);
    let loaded = h.store.load_many(&[doc]).await.expect("load");
    assert!(
        matches!(loaded[0].1, Ok(None)),
        "the response's document is not stored"
    );
    h.close().await;
}
