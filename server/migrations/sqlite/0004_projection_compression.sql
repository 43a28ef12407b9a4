-- PostgreSQL compresses projection bodies with lz4 from this migration on; SQLite
-- stores them as they are. This file keeps both backends' migrations numbered alike.
SELECT 1;
