-- PostgreSQL's feed sorted transaction ids as text before this migration, which gives
-- that store a new epoch; SQLite's feed has no transaction ids. This file keeps both
-- backends' migrations numbered alike.
SELECT 1;
