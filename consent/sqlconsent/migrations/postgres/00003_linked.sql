-- +goose Up
-- A link event (consent.Link) names the channel identity it links to the
-- person, its subject; every other event leaves it empty. Adding a column
-- changes no row, so the append-only triggers stay as they are.
ALTER TABLE consent_events ADD COLUMN linked TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE consent_events DROP COLUMN linked;
