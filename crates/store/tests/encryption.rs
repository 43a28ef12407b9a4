//! The SQLite store encrypted at rest with SQLCipher: what a lost tablet gives away.

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ObjType, ROOT, ReadDoc};
use rapport_store::{DocId, DocStore, SqliteStore, StoreError, WriteBatch};

const SECRET_TEXT: &str = "Клиент недоволен: скорость ниже договорной, звонить Петрову";

fn key(byte: u8) -> [u8; 32] {
    [byte; 32]
}

/// Every file of the database (main file, WAL, shared memory), concatenated.
fn raw_bytes(dir: &std::path::Path) -> Vec<u8> {
    let mut out = Vec::new();
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .expect("read the temp dir")
        .map(|e| e.expect("dir entry").path())
        .collect();
    names.sort();
    for path in names {
        out.extend(std::fs::read(&path).expect("read a database file"));
    }
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

async fn store_secret(store: &SqliteStore) -> DocId {
    let id = DocId::random();
    let mut doc = AutoCommit::new();
    let text = doc
        .put_object(ROOT, "answer", ObjType::Text)
        .expect("put text");
    doc.splice_text(&text, 0, 0, SECRET_TEXT).expect("splice");
    let changes = doc.get_changes(&[]);
    store
        .commit(WriteBatch::new().with_changes(id, changes))
        .await
        .expect("commit");
    id
}

fn read_secret(doc: &automerge::Automerge) -> String {
    let (_, text) = doc
        .get(ROOT, "answer")
        .expect("get")
        .expect("answer present");
    doc.text(&text).expect("text")
}

#[tokio::test]
async fn an_encrypted_store_keeps_no_plain_text_on_disk_and_reopens_with_its_key() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("device.db");
    let store = SqliteStore::open_encrypted(&path, &key(7))
        .await
        .expect("open encrypted");
    let id = store_secret(&store).await;

    // While open (the WAL holds the commit) and after closing, no file shows the text.
    let needle = "недоволен".as_bytes();
    assert!(
        !contains(&raw_bytes(dir.path()), needle),
        "plain text in the WAL or database"
    );
    store.pool().close().await;
    assert!(
        !contains(&raw_bytes(dir.path()), needle),
        "plain text on disk after close"
    );

    let again = SqliteStore::open_encrypted(&path, &key(7))
        .await
        .expect("reopen with the same key");
    let doc = again.load(id).await.expect("load").expect("stored");
    assert_eq!(read_secret(&doc), SECRET_TEXT);
}

#[tokio::test]
async fn a_wrong_key_or_no_key_is_refused_and_changes_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("device.db");
    let store = SqliteStore::open_encrypted(&path, &key(1))
        .await
        .expect("open encrypted");
    let id = store_secret(&store).await;
    store.pool().close().await;
    let before = raw_bytes(dir.path());

    let wrong = SqliteStore::open_encrypted(&path, &key(2))
        .await
        .expect_err("a wrong key must not open the store");
    assert!(matches!(wrong, StoreError::WrongKey { .. }), "{wrong:?}");
    assert_eq!(wrong.code(), "store_wrong_key");
    assert!(wrong.to_string().contains("nothing was changed"), "{wrong}");

    let plain = SqliteStore::open(&path)
        .await
        .expect_err("an encrypted store must not open without its key");
    assert!(matches!(plain, StoreError::WrongKey { .. }), "{plain:?}");
    assert_eq!(
        raw_bytes(dir.path()),
        before,
        "a failed open wrote to the files"
    );

    let right = SqliteStore::open_encrypted(&path, &key(1))
        .await
        .expect("the right key still opens it");
    let doc = right.load(id).await.expect("load").expect("stored");
    assert_eq!(read_secret(&doc), SECRET_TEXT);
}

#[tokio::test]
async fn a_plain_store_is_not_opened_as_an_encrypted_one() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("plain.db");
    let store = SqliteStore::open(&path).await.expect("open plain");
    store_secret(&store).await;
    store.pool().close().await;
    let err = SqliteStore::open_encrypted(&path, &key(3))
        .await
        .expect_err("a key on a plain file");
    assert!(matches!(err, StoreError::WrongKey { .. }), "{err:?}");
}

#[tokio::test]
async fn a_file_that_is_not_a_database_is_refused_and_left_as_it_was() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("device.db");
    let garbage: Vec<u8> = "это не база данных 🗑️".bytes().cycle().take(8192).collect();
    std::fs::write(&path, &garbage).expect("write");
    for opened in [
        SqliteStore::open_encrypted(&path, &key(4)).await,
        SqliteStore::open(&path).await,
    ] {
        let err = opened.expect_err("garbage is not a store");
        assert!(matches!(err, StoreError::WrongKey { .. }), "{err:?}");
        assert!(err.to_string().contains("not a Rapport database"), "{err}");
    }
    assert_eq!(
        std::fs::read(&path).expect("read"),
        garbage,
        "the file was changed"
    );
}
