-- Documents the server refused a device for good in a sync (forbidden, rejected,
-- invalid, too large, not found): the device keeps them stopped, and the lead sees
-- them on the devices page so nobody loses work without knowing. A row goes once the
-- server accepts the same document from that device. `code` is the protocol's stable
-- name (`forbidden`, …), `message` the server's explanation as the device got it,
-- `at_ms` the last refusal.
CREATE TABLE device_refusals (
    device_id text NOT NULL,
    doc_id    text NOT NULL,
    code      text NOT NULL,
    message   text NOT NULL,
    at_ms     bigint NOT NULL,
    PRIMARY KEY (device_id, doc_id)
);
