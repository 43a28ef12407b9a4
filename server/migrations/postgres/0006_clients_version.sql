-- Bumped whenever a programme's rows in programme_clients change (a client added,
-- removed or given to another rep). A device's rights are read with the device on
-- every sync; each process keeps the clients it read and reads them again only when
-- this changed.
ALTER TABLE programme_versions ADD COLUMN clients_version bigint NOT NULL DEFAULT 0;
