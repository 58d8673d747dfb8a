-- +goose Up
-- The consent ledger: append-only, hash-chained events (see package consent).
-- Times are Unix microseconds (UTC). IDs are given by the ledger: 1, 2, 3…
CREATE TABLE consent_events (
    id             BIGINT NOT NULL PRIMARY KEY CHECK (id > 0),
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
    at             BIGINT NOT NULL,
    prev_hash      TEXT NOT NULL,
    digest         TEXT NOT NULL,
    hash           TEXT NOT NULL
);
CREATE INDEX consent_events_subject ON consent_events (subject, id);

-- The end of the chain, one row: appends take the ledger's lock, read it,
-- and move it; Verify checks the chain ends there (a cut tail shows).
CREATE TABLE consent_head (
    one  INTEGER NOT NULL PRIMARY KEY CHECK (one = 1),
    id   BIGINT NOT NULL,
    hash TEXT NOT NULL,
    at   BIGINT NOT NULL
);
INSERT INTO consent_head (one, id, hash, at) VALUES (1, 0, '', 0);

-- Events are never changed or removed, whoever asks.
-- +goose StatementBegin
CREATE FUNCTION consent_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'consent_events is append-only';
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER consent_events_append_only BEFORE UPDATE OR DELETE ON consent_events
    FOR EACH ROW EXECUTE FUNCTION consent_events_append_only();
CREATE TRIGGER consent_events_no_truncate BEFORE TRUNCATE ON consent_events
    FOR EACH STATEMENT EXECUTE FUNCTION consent_events_append_only();

-- +goose Down
DROP TABLE consent_head;
DROP TABLE consent_events;
DROP FUNCTION consent_events_append_only();
