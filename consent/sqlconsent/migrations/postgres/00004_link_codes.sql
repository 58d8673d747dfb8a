-- +goose Up
-- Pending link codes (consent.LinkCodeStore): each links one more channel
-- identity to a signed-in shop customer, once, until it expires. Only a
-- MAC of the code is kept, never the code. used is 0 until the code is
-- used, then the time it was.
CREATE TABLE consent_link_codes (
    id      TEXT NOT NULL PRIMARY KEY,
    person  TEXT NOT NULL,
    expires BIGINT NOT NULL,
    used    BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX consent_link_codes_person ON consent_link_codes (person);
CREATE INDEX consent_link_codes_expires ON consent_link_codes (expires);

-- +goose Down
DROP TABLE consent_link_codes;
