-- The opening of a device's store whose reconcile the device's sync states follow:
-- a sync request from another opening (a copy of the device's folder used beside it)
-- is asked to reconcile first. Append-only: never edit a migration that has landed.
ALTER TABLE devices ADD COLUMN sync_instance TEXT;
