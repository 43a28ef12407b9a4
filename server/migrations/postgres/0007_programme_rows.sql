-- A programme's projection is split: its row in doc_meta holds the programme without
-- its clients, and each client's row in programme_clients holds the client's entry
-- (membership and assignment, JSON), so an edit rewrites only the rows it touched.
-- Rows written before have no entry; their programme's body still holds the clients
-- and reads as before.
ALTER TABLE programme_clients ADD COLUMN entry TEXT;
-- The normalised company name of each client (doc_meta) and of each programme's
-- client (programme_clients, copied from doc_meta): adding one client to a programme
-- finds a duplicate through the index instead of reading every client's name.
ALTER TABLE doc_meta ADD COLUMN company_key TEXT;
ALTER TABLE programme_clients ADD COLUMN company_key TEXT;
CREATE INDEX programme_clients_company ON programme_clients (programme_id, company_key);
-- The programmes listing a client, asked at every projection of a client.
CREATE INDEX programme_clients_client ON programme_clients (client_id);
-- Programmes and clients are projected again to fill these: their heads are forgotten
-- and the projector follows the feed from the start (documents projected at their
-- heads are skipped).
UPDATE doc_meta SET heads = '' WHERE kind IN ('programme', 'client');
UPDATE projector SET cursor = '' WHERE id = 1;
