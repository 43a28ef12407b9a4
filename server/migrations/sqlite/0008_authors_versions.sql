-- Who may author a programme's documents changes only when a device is registered to
-- it or a lead account is added (leads author every programme's documents). Each such
-- change gives its row here a new random version, in the same transaction, and a sync
-- reads the version with the device instead of counting the programme's devices.
-- Random, not the last one plus one: a database put back to an older copy and then
-- given another author never shows a version a process kept from before the restore.
CREATE TABLE authors_versions (
    -- A programme's id; '' for the lead accounts.
    scope   TEXT PRIMARY KEY,
    version INTEGER NOT NULL
);
INSERT INTO authors_versions (scope, version)
    SELECT programme_id, random() FROM (SELECT DISTINCT programme_id FROM devices);
INSERT INTO authors_versions (scope, version) VALUES ('', random());
