-- The version of each document's content: a random token written with every commit that
-- adds changes (and every touch), kept by compaction. A server process that holds a
-- loaded copy of a document compares it with the stored one to know whether its copy is
-- current, whichever process wrote since. Random, not a sequence: a database restored
-- from a backup keeps the tokens of the content it holds and never sees them handed out
-- again for other content.
ALTER TABLE docs ADD COLUMN version uuid;
UPDATE docs SET version = gen_random_uuid();
