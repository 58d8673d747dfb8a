-- +goose Up
-- Entry.Sealed: the text and reply encrypted by the dispatcher's sealer.
ALTER TABLE dialog_entries ADD COLUMN sealed BLOB;

-- The outbound queue: a conversation's delivery lives in its row, so that
-- a commit marks it due in the UPDATE it already makes, and Due's row lock
-- is the one Acquire and Commit take. Times are Unix microseconds.
ALTER TABLE dialog_conversations ADD COLUMN out_state SMALLINT NOT NULL DEFAULT 0;      -- 0 none, 1 waiting (due at out_due), 2 held
ALTER TABLE dialog_conversations ADD COLUMN out_due BIGINT NOT NULL DEFAULT 0;          -- next due: the due time, or the lease's end while leased
ALTER TABLE dialog_conversations ADD COLUMN out_cursor BIGINT NOT NULL DEFAULT 0;       -- Seq of the last entry settled
ALTER TABLE dialog_conversations ADD COLUMN out_attempts INTEGER NOT NULL DEFAULT 0;    -- failed tries of the entry after the cursor
ALTER TABLE dialog_conversations ADD COLUMN out_since BIGINT NOT NULL DEFAULT 0;        -- when it became due after being caught up
ALTER TABLE dialog_conversations ADD COLUMN out_token BIGINT NOT NULL DEFAULT 0;        -- the lease's token (from fence), 0 when not leased
ALTER TABLE dialog_conversations ADD COLUMN out_lease_until BIGINT NOT NULL DEFAULT 0;  -- end of the last lease granted
CREATE INDEX dialog_conversations_out_due ON dialog_conversations (out_due) WHERE out_state = 1;
CREATE INDEX dialog_conversations_out_state ON dialog_conversations (out_state) WHERE out_state <> 0;

CREATE TABLE dialog_dead_letters (
    id       INTEGER PRIMARY KEY,
    conv_key TEXT NOT NULL,
    seq      BIGINT NOT NULL,
    reason   TEXT NOT NULL,
    at       BIGINT NOT NULL
);
CREATE INDEX dialog_dead_letters_conv_key ON dialog_dead_letters (conv_key);
CREATE INDEX dialog_dead_letters_at ON dialog_dead_letters (at);

-- +goose Down
DROP TABLE dialog_dead_letters;
DROP INDEX dialog_conversations_out_state;
DROP INDEX dialog_conversations_out_due;
ALTER TABLE dialog_conversations DROP COLUMN out_lease_until;
ALTER TABLE dialog_conversations DROP COLUMN out_token;
ALTER TABLE dialog_conversations DROP COLUMN out_since;
ALTER TABLE dialog_conversations DROP COLUMN out_attempts;
ALTER TABLE dialog_conversations DROP COLUMN out_cursor;
ALTER TABLE dialog_conversations DROP COLUMN out_due;
ALTER TABLE dialog_conversations DROP COLUMN out_state;
ALTER TABLE dialog_entries DROP COLUMN sealed;
