//! The device-store conformance suite (`rapport_core::conformance`) on the node's store:
//! an encrypted SQLite file in a temp folder, reopened from disk, with writes made to fail
//! by triggers inside the database itself.

use rapport_core::conformance::{Harness, run};
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
