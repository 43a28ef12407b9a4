-- The server's own tables beside the document store: accounts, devices, and the
-- projections derived from documents (rebuildable with `rapport-server rebuild-projections`).
-- Ids are TEXT (document ids hyphenated), times are unix milliseconds, secrets are stored
-- only as SHA-256 hex of the secret (a database leak gives no usable token or code).

CREATE TABLE leads (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE,
    name          TEXT NOT NULL,
    -- Argon2id PHC string.
    password_hash TEXT NOT NULL,
    -- 16-byte actor prefix (hex); each edit adds a random suffix (see domain who_wrote).
    actor         TEXT NOT NULL UNIQUE,
    created_ms    INTEGER NOT NULL
);

CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    lead_id    TEXT NOT NULL REFERENCES leads (id) ON DELETE CASCADE,
    created_ms INTEGER NOT NULL,
    expires_ms INTEGER NOT NULL
);

CREATE TABLE pairing_codes (
    code_hash    TEXT PRIMARY KEY,
    programme_id TEXT NOT NULL,
    -- NULL: a device of the lead (sees every document of the programme).
    rep_id       TEXT,
    label        TEXT NOT NULL,
    created_by   TEXT NOT NULL REFERENCES leads (id),
    created_ms   INTEGER NOT NULL,
    expires_ms   INTEGER NOT NULL,
    used_ms      INTEGER,
    device_id    TEXT
);

CREATE TABLE devices (
    id           TEXT PRIMARY KEY,
    programme_id TEXT NOT NULL,
    rep_id       TEXT,
    -- The device's Automerge actor (hex): every change it uploads must carry it.
    actor        TEXT NOT NULL UNIQUE,
    token_hash   TEXT NOT NULL UNIQUE,
    label        TEXT NOT NULL,
    created_ms   INTEGER NOT NULL,
    last_seen_ms INTEGER,
    revoked_ms   INTEGER
);
CREATE INDEX devices_programme ON devices (programme_id);

-- Where the projector is in the store's change feed (hex of the feed cursor).
CREATE TABLE projector (
    id     INTEGER PRIMARY KEY CHECK (id = 1),
    cursor TEXT NOT NULL
);
INSERT INTO projector (id, cursor) VALUES (1, '');

-- One row per document: what access control, status and exports read.
CREATE TABLE doc_meta (
    doc_id       TEXT PRIMARY KEY,
    kind         TEXT NOT NULL,
    programme_id TEXT,
    client_id    TEXT,
    -- The document's heads when projected (sorted hex, comma-separated): a document
    -- seen again at the same heads (the feed after a direct projection) is skipped.
    heads        TEXT NOT NULL,
    -- What the programme status needs of it (visits, clients), as JSON: a few hundred
    -- bytes where the body is kilobytes.
    summary      TEXT NOT NULL,
    projected_ms INTEGER NOT NULL,
    -- The document read into typed form, as JSON. Last: SQLite reads a row's columns
    -- in order, and a large body before the summary would be read to reach it.
    body         TEXT NOT NULL
);
CREATE INDEX doc_meta_programme ON doc_meta (programme_id, kind);
CREATE INDEX doc_meta_client ON doc_meta (client_id, kind);

-- The clients of each programme and their current rep (NULL: unassigned).
CREATE TABLE programme_clients (
    programme_id TEXT NOT NULL,
    client_id    TEXT NOT NULL,
    rep_id       TEXT,
    PRIMARY KEY (programme_id, client_id)
);
CREATE INDEX programme_clients_rep ON programme_clients (programme_id, rep_id);

-- Clients whose rep changed: their documents are moved to the head of the feed so the
-- new rep's devices receive them. Queued in the projection's transaction so a crash
-- between the projection and the move loses nothing.
CREATE TABLE touch_queue (
    client_id TEXT PRIMARY KEY
);

-- Failed sign-ins per e-mail (known or not) in the current window: after too many, the
-- e-mail is refused for the rest of the window, so passwords cannot be guessed at the
-- speed the server can hash them. Kept in the database: every server process agrees.
CREATE TABLE sign_in_failures (
    email        TEXT PRIMARY KEY,
    window_start INTEGER NOT NULL,
    failures     INTEGER NOT NULL
);

-- Bumped whenever a projection of a programme's documents changes: the status of a
-- programme is computed once per version (and cached by each process).
CREATE TABLE programme_versions (
    programme_id TEXT PRIMARY KEY,
    version      INTEGER NOT NULL
);
