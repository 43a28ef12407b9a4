-- The programme status is kept by each process as its visits' summaries, read again
-- only where they changed (`server/src/status_rows.rs`).
--
-- `seq` counts the projector's transactions; every row a transaction writes carries
-- it in `status_seq`, so a process reads the rows written since the last count it
-- read. `stamp` is a random number given to a row each time it is written: the count
-- and sum of a programme's stamps tell whether what a process kept is still the
-- database's (it is not after the database was put back to an older copy, whose
-- counts start again below those the process read).
ALTER TABLE projector ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE doc_meta ADD COLUMN status_seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE doc_meta ADD COLUMN stamp INTEGER NOT NULL DEFAULT 0;
-- Covering: the rows written since a count, and the count and sum of the stamps,
-- are read from the index alone.
DROP INDEX doc_meta_programme;
CREATE INDEX doc_meta_programme ON doc_meta (programme_id, kind, status_seq, stamp);
