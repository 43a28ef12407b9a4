-- Projection bodies are rewritten at every edit of their document, and a programme's
-- body is megabytes for 10,000 clients: lz4 compresses it several times faster than
-- PostgreSQL's default (pglz). Values written before keep their compression until they
-- are written again. A server built without lz4 keeps pglz. Append-only: never edit a
-- migration that has landed.
DO $$
BEGIN
    ALTER TABLE doc_meta ALTER COLUMN body SET COMPRESSION lz4;
    ALTER TABLE doc_meta ALTER COLUMN summary SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN
    RAISE NOTICE 'lz4 is not available in this PostgreSQL build: projections stay pglz-compressed';
END
$$;
