-- +goose Up
-- Transcripts: conversation logs moved out of Redis by redisdialogs with
-- an archive (Store.Archive). conv_key is the name the conversation has
-- in Redis (its pseudonym with pseudonyms). gen is the log's generation:
-- a log that expired or was forgotten starts a new one, and the rows of
-- older generations are deleted. Times are Unix microseconds.
CREATE TABLE dialog_transcripts (
    conv_key   TEXT NOT NULL,
    seq        BIGINT NOT NULL,
    gen        BIGINT NOT NULL,
    sender     TEXT NOT NULL,
    message_id TEXT NOT NULL DEFAULT '',
    body       TEXT NOT NULL DEFAULT '',
    reply      TEXT,                        -- bot.Reply as JSON
    at         BIGINT NOT NULL,
    sealed     BLOB,
    PRIMARY KEY (conv_key, seq)
);

-- One row per archived conversation: the generation stored (Append of an
-- older one stores nothing) and the end of the log's retention.
CREATE TABLE dialog_transcript_logs (
    conv_key  TEXT PRIMARY KEY,
    gen       BIGINT NOT NULL,
    log_until BIGINT NOT NULL
);
CREATE INDEX dialog_transcript_logs_log_until ON dialog_transcript_logs (log_until);

-- +goose Down
DROP TABLE dialog_transcript_logs;
DROP TABLE dialog_transcripts;
