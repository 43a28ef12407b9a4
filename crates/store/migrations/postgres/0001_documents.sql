-- Documents, their changes (append-only, keyed by change hash) and per-peer sync states.

-- Feed positions. A value is taken at insert but becomes visible only at commit, so the
-- feed never reads "seq > cursor" alone: see `feed_xid` below.
CREATE SEQUENCE feed_seq AS bigint;

-- One row per document. Every commit that adds changes moves the document to the head of
-- the feed: (feed_xid, feed_seq) = (the writer's transaction id, a fresh sequence value).
-- The feed returns only rows whose feed_xid is below the xmin of the reader's snapshot:
-- every transaction below xmin has finished and new transaction ids are always larger,
-- so no row can later appear behind a cursor that was handed out.
CREATE TABLE docs (
    doc_id       uuid PRIMARY KEY,
    feed_xid     xid8 NOT NULL,
    feed_seq     bigint NOT NULL,
    -- Automerge `save()` of the changes folded by compaction; NULL before the first one.
    snapshot     bytea,
    -- Bumped by every compaction, so a compaction built from stale data cannot overwrite
    -- a newer snapshot (it would drop changes the newer one folded).
    snapshot_gen bigint NOT NULL DEFAULT 0
);
CREATE INDEX docs_feed ON docs (feed_xid, feed_seq);

-- `ord` keeps the arrival order, so loading applies changes in causal order.
-- `data` becomes NULL once a snapshot holds the change; the row stays so that a retried
-- upload of the same change is still recognised as stored.
CREATE TABLE changes (
    doc_id uuid NOT NULL REFERENCES docs (doc_id) DEFERRABLE INITIALLY DEFERRED,
    hash   bytea NOT NULL CHECK (length(hash) = 32),
    data   bytea,
    ord    bigint GENERATED ALWAYS AS IDENTITY,
    PRIMARY KEY (doc_id, hash)
);
CREATE INDEX changes_load ON changes (doc_id, ord) WHERE data IS NOT NULL;

-- The automerge sync state each peer (a device id, or "server") keeps per document.
CREATE TABLE sync_states (
    peer   text NOT NULL,
    doc_id uuid NOT NULL,
    state  bytea NOT NULL,
    PRIMARY KEY (peer, doc_id)
);
