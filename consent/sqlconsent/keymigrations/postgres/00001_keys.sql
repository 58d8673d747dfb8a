-- +goose Up
-- The keyring's data keys, one per subject, wrapped under the key-encryption
-- key (see consent.Keyring). This set of migrations belongs to the keys
-- database, which should be a database of its own (BOTTEGA_KEYS_DATABASE_URL):
-- a backup of the main database must not also hold these keys, or erasing a
-- person cannot make that backup unreadable.
CREATE TABLE consent_keys (
    subject TEXT NOT NULL PRIMARY KEY,
    wrapped BYTEA NOT NULL,
    created BIGINT NOT NULL
);

-- The conversations of each subject, sealed with the subject's key; they go
-- with the key.
CREATE TABLE consent_key_links (
    subject TEXT NOT NULL REFERENCES consent_keys (subject) ON DELETE CASCADE,
    id      TEXT NOT NULL,
    channel TEXT NOT NULL,
    sealed  BYTEA NOT NULL,
    created BIGINT NOT NULL,
    PRIMARY KEY (subject, id)
);

-- +goose Down
DROP TABLE consent_key_links;
DROP TABLE consent_keys;
