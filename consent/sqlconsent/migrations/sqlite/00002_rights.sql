-- +goose Up
-- The access audit: who read which person's data, what, why and when.
-- Append-only, like the ledger.
CREATE TABLE consent_access (
    id      INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    actor   TEXT NOT NULL,
    subject TEXT NOT NULL,
    what    TEXT NOT NULL,
    why     TEXT NOT NULL,
    at      INTEGER NOT NULL
) STRICT;
CREATE INDEX consent_access_subject ON consent_access (subject, id);
CREATE INDEX consent_access_actor ON consent_access (actor, id);

-- +goose StatementBegin
CREATE TRIGGER consent_access_no_update BEFORE UPDATE ON consent_access
BEGIN
    SELECT RAISE(ABORT, 'consent_access is append-only');
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER consent_access_no_delete BEFORE DELETE ON consent_access
BEGIN
    SELECT RAISE(ABORT, 'consent_access is append-only');
END;
-- +goose StatementEnd

-- Export links that were used: each works once. Holds no personal data.
CREATE TABLE consent_export_tokens (
    id      TEXT NOT NULL PRIMARY KEY,
    used    INTEGER NOT NULL,
    expires INTEGER NOT NULL
) STRICT;

-- +goose Down
DROP TABLE consent_export_tokens;
DROP TABLE consent_access;
