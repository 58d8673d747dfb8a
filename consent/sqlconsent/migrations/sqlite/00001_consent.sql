-- +goose Up
-- The consent ledger: append-only, hash-chained events (see package consent).
-- Times are Unix microseconds (UTC). IDs are given by the ledger: 1, 2, 3…
-- Tables are STRICT, so column types are enforced as in Postgres.
CREATE TABLE consent_events (
    id             INTEGER NOT NULL PRIMARY KEY CHECK (id > 0),
    subject        TEXT NOT NULL,
    purpose        TEXT NOT NULL,
    notice_version INTEGER NOT NULL,
    notice_hash    TEXT NOT NULL,
    lang           TEXT NOT NULL,
    channel        TEXT NOT NULL,
    method         TEXT NOT NULL,
    message_id     TEXT NOT NULL,
    action         TEXT NOT NULL,
    actor          TEXT NOT NULL,
    at             INTEGER NOT NULL,
    prev_hash      TEXT NOT NULL,
    digest         TEXT NOT NULL,
    hash           TEXT NOT NULL
) STRICT;
CREATE INDEX consent_events_subject ON consent_events (subject, id);

-- The end of the chain, one row: appends read it and move it under the
-- single writer; Verify checks the chain ends there (a cut tail shows).
CREATE TABLE consent_head (
    one  INTEGER NOT NULL PRIMARY KEY CHECK (one = 1),
    id   INTEGER NOT NULL,
    hash TEXT NOT NULL,
    at   INTEGER NOT NULL
) STRICT;
INSERT INTO consent_head (one, id, hash, at) VALUES (1, 0, '', 0);

-- Events are never changed or removed, whoever asks.
-- +goose StatementBegin
CREATE TRIGGER consent_events_no_update BEFORE UPDATE ON consent_events
BEGIN
    SELECT RAISE(ABORT, 'consent_events is append-only');
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER consent_events_no_delete BEFORE DELETE ON consent_events
BEGIN
    SELECT RAISE(ABORT, 'consent_events is append-only');
END;
-- +goose StatementEnd

-- +goose Down
DROP TABLE consent_head;
DROP TABLE consent_events;
