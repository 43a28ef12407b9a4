-- The device node's own tables, next to the document store's in the same (encrypted)
-- SQLite file. Append-only: never edit a migration that has landed.

-- Who this device is (one row once paired). The token is a secret: it lives only in
-- this encrypted database.
CREATE TABLE node_device (
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    server_url   TEXT NOT NULL,
    device_id    TEXT NOT NULL,
    token        TEXT NOT NULL,
    programme_id BLOB NOT NULL CHECK (length(programme_id) = 16),
    rep_id       TEXT,
    label        TEXT NOT NULL,
    actor        TEXT NOT NULL,
    paired_ms    INTEGER NOT NULL
);

-- Sync bookkeeping (one row).
CREATE TABLE node_sync (
    id               INTEGER PRIMARY KEY CHECK (id = 1),
    -- The server's change-feed cursor: documents changed after it are new to us.
    remote_cursor    BLOB NOT NULL DEFAULT x'',
    last_success_ms  INTEGER,
    last_attempt_ms  INTEGER,
    last_error_code  TEXT,
    last_error_msg   TEXT,
    -- JSON of rapport_api::RunSummary.
    last_run         TEXT,
    -- The server said the device was revoked: automatic sync stops until re-paired.
    revoked          INTEGER NOT NULL DEFAULT 0
);
INSERT INTO node_sync (id) VALUES (1);

-- Documents with local changes the server may not have. A row is written before the
-- change it announces, so a crash can leave a needless row, never a missing one.
CREATE TABLE node_dirty (
    doc_id   BLOB PRIMARY KEY NOT NULL CHECK (length(doc_id) = 16),
    since_ms INTEGER NOT NULL
) WITHOUT ROWID;

-- Documents the server refused (reassigned client, rejected change): kept here, not
-- sent again until the server sends them to us again.
CREATE TABLE node_stopped (
    doc_id  BLOB PRIMARY KEY NOT NULL CHECK (length(doc_id) = 16),
    code    TEXT NOT NULL,
    message TEXT NOT NULL,
    at_ms   INTEGER NOT NULL
) WITHOUT ROWID;

-- What each stored document is (its scope never changes), so lists need no full load.
CREATE TABLE node_index (
    doc_id    BLOB PRIMARY KEY NOT NULL CHECK (length(doc_id) = 16),
    kind      TEXT NOT NULL,
    client_id BLOB
) WITHOUT ROWID;
CREATE INDEX node_index_client ON node_index (client_id);
