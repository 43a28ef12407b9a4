-- On PostgreSQL the projector follows the feed again from the start (its order was
-- wrong before); SQLite's feed was right. This file keeps both backends' migrations
-- numbered alike.
SELECT 1;
