-- +goose Up
-- The access audit: who read which person's data, what, why and when.
-- Append-only, like the ledger.
CREATE TABLE consent_access (
    id      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    actor   TEXT NOT NULL,
    subject TEXT NOT NULL,
    what    TEXT NOT NULL,
    why     TEXT NOT NULL,
    at      BIGINT NOT NULL
);
CREATE INDEX consent_access_subject ON consent_access (subject, id);
CREATE INDEX consent_access_actor ON consent_access (actor, id);

-- +goose StatementBegin
CREATE FUNCTION consent_access_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'consent_access is append-only';
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER consent_access_append_only BEFORE UPDATE OR DELETE ON consent_access
    FOR EACH ROW EXECUTE FUNCTION consent_access_append_only();
CREATE TRIGGER consent_access_no_truncate BEFORE TRUNCATE ON consent_access
    FOR EACH STATEMENT EXECUTE FUNCTION consent_access_append_only();

-- Export links that were used: each works once. Holds no personal data.
CREATE TABLE consent_export_tokens (
    id      TEXT NOT NULL PRIMARY KEY,
    used    BIGINT NOT NULL,
    expires BIGINT NOT NULL
);

-- +goose Down
DROP TABLE consent_export_tokens;
DROP TABLE consent_access;
DROP FUNCTION consent_access_append_only();
