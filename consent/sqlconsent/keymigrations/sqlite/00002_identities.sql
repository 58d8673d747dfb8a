-- +goose Up
-- Channel identities (aliases) linked to a person, a shop customer (see
-- consent.Identity): the first link of an alias wins. They go with the
-- person's key, and DeleteKey deletes them for either side.
CREATE TABLE consent_identities (
    alias   TEXT NOT NULL PRIMARY KEY,
    person  TEXT NOT NULL REFERENCES consent_keys (subject) ON DELETE CASCADE,
    channel TEXT NOT NULL,
    created INTEGER NOT NULL
) STRICT;
CREATE INDEX consent_identities_person ON consent_identities (person, created);

-- +goose Down
DROP TABLE consent_identities;
