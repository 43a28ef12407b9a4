-- The store's identity. A restore from a backup gives the store a new epoch
-- (`rapport-server restore`), so every device can tell that the server went back in
-- time and put back what the restored copy lacks. Feed cursors carry the epoch.
CREATE TABLE store_meta (
    id    integer PRIMARY KEY CHECK (id = 1),
    epoch uuid NOT NULL
);
INSERT INTO store_meta (id, epoch) VALUES (1, gen_random_uuid());
