-- Documents, their changes (append-only, keyed by change hash) and per-peer sync states.

-- One row per document. `feed_seq` is the document's position in the change feed:
-- every commit that adds changes moves the document to the head. SQLite has one writer
-- at a time, so a counter bumped inside the writing transaction orders the feed by commit.
CREATE TABLE docs (
    doc_id       BLOB PRIMARY KEY NOT NULL CHECK (length(doc_id) = 16),
    feed_seq     INTEGER NOT NULL,
    -- Automerge `save()` of the changes folded by compaction; NULL before the first one.
    snapshot     BLOB,
    -- Bumped by every compaction, so a compaction built from stale data cannot overwrite
    -- a newer snapshot (it would drop changes the newer one folded).
    snapshot_gen INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX docs_feed ON docs (feed_seq);

-- The rowid keeps the arrival order, so loading applies changes in causal order.
-- `data` becomes NULL once a snapshot holds the change; the row stays so that a retried
-- upload of the same change is still recognised as stored.
CREATE TABLE changes (
    doc_id BLOB NOT NULL REFERENCES docs (doc_id) DEFERRABLE INITIALLY DEFERRED,
    hash   BLOB NOT NULL CHECK (length(hash) = 32),
    data   BLOB,
    UNIQUE (doc_id, hash)
);

-- The automerge sync state each peer (a device id, or "server") keeps per document.
CREATE TABLE sync_states (
    peer   TEXT NOT NULL,
    doc_id BLOB NOT NULL,
    state  BLOB NOT NULL,
    PRIMARY KEY (peer, doc_id)
) WITHOUT ROWID;

-- The last feed position handed out (one row).
CREATE TABLE feed_counter (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    seq INTEGER NOT NULL
);
INSERT INTO feed_counter (id, seq) VALUES (1, 0);
