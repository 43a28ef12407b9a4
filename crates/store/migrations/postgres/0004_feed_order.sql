-- Before this migration the feed sorted transaction ids as text ("100000" before
-- "99999"). Whenever the cluster's ids gained a digit, a reader could be handed a cursor
-- past rows it had not read, and the feed's head could fall below cursors it had handed
-- out. A new epoch makes every device reconcile once and read the feed again from its
-- start: it gets whatever it may have skipped, and nothing it holds is lost.
UPDATE store_meta SET epoch = gen_random_uuid() WHERE id = 1;
