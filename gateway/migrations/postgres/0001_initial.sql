-- The gateway's state on PostgreSQL (several instances sharing it): the schema of
-- ../sqlite/0001_initial.sql in PostgreSQL's types. Times are Unix milliseconds.

CREATE TABLE transfers (
    id            TEXT PRIMARY KEY,          -- the transfer id (a UUID)
    direction     TEXT NOT NULL,             -- 'outbound' or 'inbound'
    partner       TEXT NOT NULL,             -- the partner's AS2 ID
    message_id    TEXT NOT NULL,             -- bare Message-ID
    connector_id  TEXT,
    file_name     TEXT,
    status        TEXT NOT NULL,             -- QUEUED, SENDING, AWAITING_MDN, RETRYING, COMPLETED, FAILED
    attempts      BIGINT NOT NULL DEFAULT 0,
    first_attempt_at BIGINT,                 -- the retry schedule's deadline counts from here
    request       TEXT NOT NULL DEFAULT '{}', -- what the job needs to (re)send it, JSON
    record_path   TEXT,                      -- the JSON status record, relative to the store
    mdn_path      TEXT,
    failure       TEXT,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);
CREATE INDEX transfers_by_message_id ON transfers (message_id);

-- A Message-ID received from a partner: the row is inserted first, so two deliveries of
-- the same message, to the same instance or to two, cannot both be taken as new.
CREATE TABLE duplicates (
    partner      TEXT NOT NULL,
    message_id   TEXT NOT NULL,
    received_at  BIGINT NOT NULL,
    UNIQUE (partner, message_id)
);

-- The MDN answered for a received message, replayed to a resend.
CREATE TABLE stored_mdns (
    partner     TEXT NOT NULL,
    message_id  TEXT NOT NULL,
    mdn         TEXT NOT NULL,               -- as2_proto StoredMdn, JSON
    stored_at   BIGINT NOT NULL,
    UNIQUE (partner, message_id)
);

-- An outbound message awaiting its asynchronous MDN: deleted by whoever records the MDN
-- (or gives up waiting).
CREATE TABLE pending_mdns (
    message_id   TEXT PRIMARY KEY,           -- bare Message-ID
    transfer_id  TEXT NOT NULL,
    sent         TEXT NOT NULL,              -- the gateway's SentRecord, JSON
    deadline     BIGINT NOT NULL
);

-- Work for whichever instance claims it first (FOR UPDATE SKIP LOCKED): 'send',
-- 'async_mdn', 'mdn_timeout'. A claim holds until claimed_until; then the claimer is
-- taken for dead and another instance may claim the job.
CREATE TABLE jobs (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind          TEXT NOT NULL,
    transfer_id   TEXT,
    payload       TEXT NOT NULL DEFAULT '{}',
    run_at        BIGINT NOT NULL,
    attempts      BIGINT NOT NULL DEFAULT 0,
    created_at    BIGINT NOT NULL,
    claimed_by    TEXT,
    claimed_until BIGINT
);
CREATE INDEX jobs_by_run_at ON jobs (run_at, id);
CREATE INDEX jobs_by_transfer_id ON jobs (transfer_id);
