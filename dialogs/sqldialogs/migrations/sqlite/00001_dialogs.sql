-- +goose Up
-- One row per conversation: its lock, counters and session state. Times
-- are Unix microseconds.
CREATE TABLE dialog_conversations (
    conv_key    TEXT PRIMARY KEY,
    state       BLOB,
    version     BIGINT NOT NULL DEFAULT 0,  -- saves of the state
    state_until BIGINT NOT NULL DEFAULT 0,  -- the state reads as none from then
    log_until   BIGINT NOT NULL DEFAULT 0,  -- the log reads as empty from then
    last_seq    BIGINT NOT NULL DEFAULT 0,  -- Seq of the last log entry
    msg_seq     BIGINT NOT NULL DEFAULT 0,  -- highest Message.Seq committed
    fence       BIGINT NOT NULL DEFAULT 0,  -- last fencing token granted
    lock_token  BIGINT NOT NULL DEFAULT 0,  -- holder's token, 0 when free
    lock_until  BIGINT NOT NULL DEFAULT 0   -- end of the last lease granted
);
CREATE INDEX dialog_conversations_log_until ON dialog_conversations (log_until);
CREATE INDEX dialog_conversations_state_until ON dialog_conversations (state_until) WHERE state IS NOT NULL;

CREATE TABLE dialog_entries (
    conv_key   TEXT NOT NULL,
    seq        BIGINT NOT NULL,
    sender     TEXT NOT NULL,
    message_id TEXT NOT NULL DEFAULT '',
    body       TEXT NOT NULL DEFAULT '',
    reply      TEXT,                        -- bot.Reply as JSON
    at         BIGINT NOT NULL,
    PRIMARY KEY (conv_key, seq)
);

CREATE TABLE dialog_done (
    conv_key   TEXT NOT NULL,
    message_id TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (conv_key, message_id)
);
CREATE INDEX dialog_done_expires_at ON dialog_done (expires_at);

-- Messages waiting for their conversation's lock, in (seq, id) order.
CREATE TABLE dialog_queue (
    id         INTEGER PRIMARY KEY,
    conv_key   TEXT NOT NULL,
    message_id TEXT NOT NULL,
    seq        BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    UNIQUE (conv_key, message_id)
);
CREATE INDEX dialog_queue_order ON dialog_queue (conv_key, seq, id);
CREATE INDEX dialog_queue_expires_at ON dialog_queue (expires_at);

-- +goose Down
DROP TABLE dialog_queue;
DROP TABLE dialog_done;
DROP TABLE dialog_entries;
DROP TABLE dialog_conversations;
