-- The server's own tables beside the document store: accounts, devices, and the
-- projections derived from documents (rebuildable with `rapport-server rebuild-projections`).
-- Ids are text (document ids hyphenated), times are unix milliseconds, secrets are stored
-- only as SHA-256 hex of the secret (a database leak gives no usable token or code).

CREATE TABLE leads (
    id            text PRIMARY KEY,
    email         text NOT NULL UNIQUE,
    name          text NOT NULL,
    -- Argon2id PHC string.
    password_hash text NOT NULL,
    -- 16-byte actor prefix (hex); each edit adds a random suffix (see domain who_wrote).
    actor         text NOT NULL UNIQUE,
    created_ms    bigint NOT NULL
);

CREATE TABLE sessions (
    token_hash text PRIMARY KEY,
    lead_id    text NOT NULL REFERENCES leads (id) ON DELETE CASCADE,
    created_ms bigint NOT NULL,
    expires_ms bigint NOT NULL
);

CREATE TABLE pairing_codes (
    code_hash    text PRIMARY KEY,
    programme_id text NOT NULL,
    -- NULL: a device of the lead (sees every document of the programme).
    rep_id       text,
    label        text NOT NULL,
    created_by   text NOT NULL REFERENCES leads (id),
    created_ms   bigint NOT NULL,
    expires_ms   bigint NOT NULL,
    used_ms      bigint,
    device_id    text
);

CREATE TABLE devices (
    id           text PRIMARY KEY,
    programme_id text NOT NULL,
    rep_id       text,
    -- The device's Automerge actor (hex): every change it uploads must carry it.
    actor        text NOT NULL UNIQUE,
    token_hash   text NOT NULL UNIQUE,
    label        text NOT NULL,
    created_ms   bigint NOT NULL,
    last_seen_ms bigint,
    revoked_ms   bigint
);
CREATE INDEX devices_programme ON devices (programme_id);

-- Where the projector is in the store's change feed (hex of the feed cursor).
CREATE TABLE projector (
    id     bigint PRIMARY KEY CHECK (id = 1),
    cursor text NOT NULL
);
INSERT INTO projector (id, cursor) VALUES (1, '');

-- One row per document: what access control, status and exports read.
CREATE TABLE doc_meta (
    doc_id       text PRIMARY KEY,
    kind         text NOT NULL,
    programme_id text,
    client_id    text,
    -- The document's heads when projected (sorted hex, comma-separated): a document
    -- seen again at the same heads (the feed after a direct projection) is skipped.
    heads        text NOT NULL,
    -- What the programme status needs of it (visits, clients), as JSON: a few hundred
    -- bytes where the body is kilobytes.
    summary      text NOT NULL,
    projected_ms bigint NOT NULL,
    -- The document read into typed form, as JSON. Last: SQLite reads a row's columns
    -- in order, and a large body before the summary would be read to reach it.
    body         text NOT NULL
);
CREATE INDEX doc_meta_programme ON doc_meta (programme_id, kind);
CREATE INDEX doc_meta_client ON doc_meta (client_id, kind);

-- The clients of each programme and their current rep (NULL: unassigned).
CREATE TABLE programme_clients (
    programme_id text NOT NULL,
    client_id    text NOT NULL,
    rep_id       text,
    PRIMARY KEY (programme_id, client_id)
);
CREATE INDEX programme_clients_rep ON programme_clients (programme_id, rep_id);

-- Clients whose rep changed: their documents are moved to the head of the feed so the
-- new rep's devices receive them. Queued in the projection's transaction so a crash
-- between the projection and the move loses nothing.
CREATE TABLE touch_queue (
    client_id text PRIMARY KEY
);

-- Failed sign-ins per e-mail (known or not) in the current window: after too many, the
-- e-mail is refused for the rest of the window, so passwords cannot be guessed at the
-- speed the server can hash them. Kept in the database: every server process agrees.
CREATE TABLE sign_in_failures (
    email        text PRIMARY KEY,
    window_start bigint NOT NULL,
    failures     bigint NOT NULL
);

-- Bumped whenever a projection of a programme's documents changes: the status of a
-- programme is computed once per version (and cached by each process).
CREATE TABLE programme_versions (
    programme_id text PRIMARY KEY,
    version      bigint NOT NULL
);
