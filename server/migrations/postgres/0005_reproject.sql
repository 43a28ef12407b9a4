-- Before this migration the store's feed on PostgreSQL sorted transaction ids as text,
-- so the projector may have passed documents committed when the cluster's ids gained a
-- digit. It follows the feed again from the start: documents projected at their current
-- heads are skipped, the others are projected.
UPDATE projector SET cursor = '' WHERE id = 1;
