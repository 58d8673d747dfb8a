-- +goose Up
-- The push channels' state of each shopper, keyed by conversation key
-- ("telegram:123", "messenger:<PSID>"). Times are Unix microseconds (UTC),
-- 0 for never.
CREATE TABLE chanstate_conversations (
    conv_key     TEXT PRIMARY KEY,
    last_message BIGINT NOT NULL DEFAULT 0,      -- Telegram: the chat's largest message_id
    unreachable  BOOLEAN NOT NULL DEFAULT FALSE, -- blocked the bot, or refused by the platform
    reach_at     BIGINT NOT NULL DEFAULT 0,      -- when unreachable last changed
    wrote_at     BIGINT NOT NULL DEFAULT 0,      -- Messenger: the shopper's last message (the window)
    owner        TEXT NOT NULL DEFAULT '',       -- Messenger: another app owning the thread
    owner_seen   BIGINT NOT NULL DEFAULT 0,      -- the last sign of owner
    touched      BIGINT NOT NULL                 -- the row's last write, for Sweep
);
CREATE INDEX chanstate_conversations_touched ON chanstate_conversations (touched);

-- Messenger marketing-message opt-ins, one per conversation and token.
CREATE TABLE chanstate_optins (
    conv_key     TEXT NOT NULL,
    token        TEXT NOT NULL,
    type         TEXT NOT NULL DEFAULT '',
    title        TEXT NOT NULL DEFAULT '',
    payload      TEXT NOT NULL DEFAULT '',
    ref          TEXT NOT NULL DEFAULT '',
    timezone     TEXT NOT NULL DEFAULT '',
    token_status TEXT NOT NULL DEFAULT '',
    token_expiry BIGINT NOT NULL DEFAULT 0,
    status       TEXT NOT NULL CHECK (status IN ('active', 'stopped')),
    opted_in     BIGINT NOT NULL DEFAULT 0,      -- the latest opt-in event
    changed      BIGINT NOT NULL,                -- the event that set status
    PRIMARY KEY (conv_key, token)
);

-- Platform events already recorded, so a redelivery changes nothing.
-- Their ids hold the shopper's id, so they go with the conversation.
CREATE TABLE chanstate_events (
    id       TEXT PRIMARY KEY,
    conv_key TEXT NOT NULL,
    at       BIGINT NOT NULL                     -- when recorded, for Sweep
);
CREATE INDEX chanstate_events_conv_key ON chanstate_events (conv_key);
CREATE INDEX chanstate_events_at ON chanstate_events (at);

-- +goose Down
DROP TABLE chanstate_events;
DROP TABLE chanstate_optins;
DROP TABLE chanstate_conversations;
