-- +goose Up
-- With pseudonyms (WithPseudonyms), conv_key holds a pseudonym of the
-- conversation key, and the key itself is kept in out_key only while the
-- conversation is in the outbound queue (the queue delivers to it). out_ns
-- names the secret of the store that queued it ('' without pseudonyms), so
-- that stores with different secrets lease only their own conversations.
ALTER TABLE dialog_conversations ADD COLUMN out_key TEXT;
ALTER TABLE dialog_conversations ADD COLUMN out_ns TEXT NOT NULL DEFAULT '';
DROP INDEX dialog_conversations_out_due;
DROP INDEX dialog_conversations_out_state;
CREATE INDEX dialog_conversations_out_due ON dialog_conversations (out_ns, out_due) WHERE out_state = 1;
CREATE INDEX dialog_conversations_out_state ON dialog_conversations (out_ns) WHERE out_state <> 0;

-- +goose Down
DROP INDEX dialog_conversations_out_state;
DROP INDEX dialog_conversations_out_due;
CREATE INDEX dialog_conversations_out_due ON dialog_conversations (out_due) WHERE out_state = 1;
CREATE INDEX dialog_conversations_out_state ON dialog_conversations (out_state) WHERE out_state <> 0;
ALTER TABLE dialog_conversations DROP COLUMN out_ns;
ALTER TABLE dialog_conversations DROP COLUMN out_key;
