-- The version of each document's content: a random token written with every commit that
-- adds changes (and every touch), kept by compaction. A process that holds a loaded copy
-- of a document compares it with the stored one to know whether its copy is current.
-- Random, not a counter: a database put back from a copy keeps the tokens of the
-- content it holds and never sees them handed out again for other content.
ALTER TABLE docs ADD COLUMN version BLOB CHECK (version IS NULL OR length(version) = 16);
UPDATE docs SET version = randomblob(16);
