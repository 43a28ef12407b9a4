-- The feed group of each document: who reads it, as the server files it (for example
-- the client a visit is of). A reader that may read only some groups reads the feed
-- through `docs_feed_group`, so its cost follows its own documents, not every commit of
-- the store. NULL until the document is filed: such rows are read by every reader
-- (`docs_feed_ungrouped`), as every row was before groups existed. Setting a group never
-- moves a document in the feed.
ALTER TABLE docs ADD COLUMN feed_group BLOB CHECK (feed_group IS NULL OR length(feed_group) = 16);
CREATE INDEX docs_feed_group ON docs (feed_group, feed_seq);
CREATE INDEX docs_feed_ungrouped ON docs (feed_seq) WHERE feed_group IS NULL;
