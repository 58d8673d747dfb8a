-- +goose Up
-- The keyring's data keys, one per subject, wrapped under the key-encryption
-- key (see consent.Keyring). This set of migrations belongs to the keys
-- database, its own file (keys.db) next to the main one: a copy of the main
-- database must not also hold these keys, or erasing a person cannot make
-- that copy unreadable.
CREATE TABLE consent_keys (
    subject TEXT NOT NULL PRIMARY KEY,
    wrapped BLOB NOT NULL,
    created INTEGER NOT NULL
) STRICT;

-- The conversations of each subject, sealed with the subject's key; they go
-- with the key.
CREATE TABLE consent_key_links (
    subject TEXT NOT NULL REFERENCES consent_keys (subject) ON DELETE CASCADE,
    id      TEXT NOT NULL,
    channel TEXT NOT NULL,
    sealed  BLOB NOT NULL,
    created INTEGER NOT NULL,
    PRIMARY KEY (subject, id)
) STRICT;

-- +goose Down
DROP TABLE consent_key_links;
DROP TABLE consent_keys;
