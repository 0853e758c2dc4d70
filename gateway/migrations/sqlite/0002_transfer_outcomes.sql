-- What a transfer came to, for the operator's page and the metrics: its payload size, the
-- MDN's disposition, the failure code; and an index for the newest-first listing.
-- The same in migrations/sqlite/ and migrations/postgres/ (one column per ALTER for SQLite).

ALTER TABLE transfers ADD COLUMN size_bytes BIGINT;          -- payload bytes (a refused inbound message: its body as received)
ALTER TABLE transfers ADD COLUMN mdn_disposition TEXT;       -- the MDN's Disposition, e.g. automatic-action/MDN-sent-automatically; processed
ALTER TABLE transfers ADD COLUMN failure_code TEXT;          -- the status record's failure-code (DECRYPT_FAILED, ...)

CREATE INDEX transfers_by_created_at ON transfers (created_at);
