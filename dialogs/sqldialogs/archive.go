package sqldialogs

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/bottega-shop/bottega/bot"
	"github.com/bottega-shop/bottega/internal/sqldb"
)

// archiveGrace is how long Sweep keeps archived entries past the log's
// end of retention as last recorded: a commit in Redis may have extended
// it since, and the archiver records the new end within its delay. Readers
// never see expired entries: redisdialogs reads the archive only within
// the log Redis holds alive.
const archiveGrace = time.Hour

// Archive keeps the conversation logs that redisdialogs moves out of
// Redis (redisdialogs.WithArchive), in the tables dialog_transcripts and
// dialog_transcript_logs of the Store's database. Conversations are named
// as Redis names them (by pseudonyms there, if used), and each log has a
// generation: a new one starts when a log expires or is forgotten. Sweep
// deletes archived entries once their log's retention has ended.
type Archive struct {
	s *Store
}

// Archive returns the Store's archive of conversation logs for
// redisdialogs.
func (s *Store) Archive() *Archive { return &Archive{s: s} }

// archiveRows is how many entries one INSERT of Append writes at most, 9
// parameters each.
const archiveRows = 200

// Append stores the entries of each log (a generation of a conversation's
// log, kept until its Until), idempotently by (name, Seq), all logs in one
// transaction. For each log it first deletes the entries of older
// generations; if a newer generation was recorded (by Forget or a later
// Append), it stores nothing of that log: the entries were forgotten
// meanwhile.
func (a *Archive) Append(ctx context.Context, logs ...bot.ArchivedLog) error {
	replies := make([][]any, len(logs))
	for k, l := range logs {
		replies[k] = make([]any, len(l.Entries))
		for i, e := range l.Entries {
			if e.Reply != nil {
				b, err := json.Marshal(e.Reply)
				if err != nil {
					return fmt.Errorf("sqldialogs: archive %q: encode reply: %w", l.Name, err)
				}
				replies[k][i] = string(b)
			}
		}
	}
	err := a.s.db.InTx(ctx, func(tx *sql.Tx) error {
		var b strings.Builder
		var args []any
		flush := func() error {
			if len(args) == 0 {
				return nil
			}
			b.WriteString(` ON CONFLICT (conv_key, seq) DO NOTHING`)
			_, err := tx.ExecContext(ctx, b.String(), args...)
			b.Reset()
			args = args[:0]
			return err
		}
		for k, l := range logs {
			ok, err := a.generation(ctx, tx, l.Name, l.Gen, sqldb.Micros(l.Until))
			if err != nil {
				return fmt.Errorf("%q: %w", l.Name, err)
			}
			if !ok {
				continue
			}
			for i, e := range l.Entries {
				if len(args) == 0 {
					b.WriteString(`INSERT INTO dialog_transcripts (conv_key, gen, seq, sender, message_id, body, reply, at, sealed) VALUES `)
				} else {
					b.WriteString(", ")
				}
				if a.s.db.Dialect == sqldb.SQLite {
					// Positional: SQLite looks a numbered parameter up
					// among all of them, when parsing and when binding,
					// which grows with the square of a long INSERT.
					b.WriteString("(?, ?, ?, ?, ?, ?, ?, ?, ?)")
				} else {
					n := len(args)
					fmt.Fprintf(&b, "($%d, $%d, $%d, $%d, $%d, $%d, $%d, $%d, $%d)", n+1, n+2, n+3, n+4, n+5, n+6, n+7, n+8, n+9)
				}
				var sealed []byte
				if len(e.Sealed) > 0 {
					sealed = e.Sealed
				}
				args = append(args, l.Name, l.Gen, e.Seq, e.From, e.MessageID, e.Text, replies[k][i], sqldb.Micros(e.At), sealed)
				if len(args) >= archiveRows*9 {
					if err := flush(); err != nil {
						return err
					}
				}
			}
		}
		return flush()
	})
	if err != nil {
		return fmt.Errorf("sqldialogs: archive %d logs: %w", len(logs), err)
	}
	return nil
}

// generation records gen as conversation name's log generation, kept at
// least until until, in tx, unless a newer one is recorded; when gen is
// newer than the one recorded, it deletes the older generations' entries.
// It reports whether gen is the current generation.
func (a *Archive) generation(ctx context.Context, tx *sql.Tx, name string, gen, until int64) (bool, error) {
	until = max(until, a.s.micros())
	// The upsert locks the row until the transaction ends; it changes
	// nothing when the row exists.
	var stored, storedUntil int64
	err := tx.QueryRowContext(ctx, `INSERT INTO dialog_transcript_logs (conv_key, gen, log_until) VALUES ($1, $2, $3)
		ON CONFLICT (conv_key) DO UPDATE SET gen = dialog_transcript_logs.gen
		RETURNING gen, log_until`, name, gen, until).Scan(&stored, &storedUntil)
	switch {
	case err != nil:
		return false, err
	case stored > gen:
		return false, nil
	case stored == gen && storedUntil >= until:
		return true, nil
	}
	if stored < gen {
		if _, err := tx.ExecContext(ctx, `DELETE FROM dialog_transcripts WHERE conv_key = $1 AND gen < $2`, name, gen); err != nil {
			return false, err
		}
	}
	_, err = tx.ExecContext(ctx, `UPDATE dialog_transcript_logs SET gen = $2, log_until = $3 WHERE conv_key = $1`, name, gen, until)
	return err == nil, err
}

// Entries returns the archived entries of generation gen of conversation
// name's log with from <= Seq <= to, oldest first. Conversation is left
// empty: the caller knows the key behind the name.
func (a *Archive) Entries(ctx context.Context, name string, gen, from, to int64) ([]bot.Entry, error) {
	rows, err := a.s.db.R.QueryContext(ctx, `SELECT seq, sender, message_id, body, reply, at, sealed FROM dialog_transcripts
		WHERE conv_key = $1 AND gen = $2 AND seq >= $3 AND seq <= $4 ORDER BY seq`, name, gen, from, to)
	if err != nil {
		return nil, fmt.Errorf("sqldialogs: archived entries of %q: %w", name, err)
	}
	defer rows.Close()
	out := make([]bot.Entry, 0, max(to-from+1, 0))
	for rows.Next() {
		var (
			e     bot.Entry
			reply sql.NullString
			at    int64
		)
		if err := rows.Scan(&e.Seq, &e.From, &e.MessageID, &e.Text, &reply, &at, &e.Sealed); err != nil {
			return nil, fmt.Errorf("sqldialogs: archived entries of %q: %w", name, err)
		}
		e.At = sqldb.Time(at)
		if reply.Valid {
			e.Reply = new(bot.Reply)
			if err := json.Unmarshal([]byte(reply.String), e.Reply); err != nil {
				return nil, fmt.Errorf("sqldialogs: archived entries of %q: entry %d: %w", name, e.Seq, err)
			}
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqldialogs: archived entries of %q: %w", name, err)
	}
	return out, nil
}

// Forget deletes every archived entry of conversation name's log
// generations before gen and records gen, so that a later Append of an
// older generation (an archiver that read the log before it was
// forgotten) stores nothing. Gen 0 deletes every entry and the record of
// name: for names that must not stay at rest (raw keys from before
// pseudonyms).
func (a *Archive) Forget(ctx context.Context, name string, gen int64) error {
	if name == "" {
		return errors.New("sqldialogs: forget archive: no conversation")
	}
	err := a.s.db.InTx(ctx, func(tx *sql.Tx) error {
		if gen == 0 {
			if _, err := tx.ExecContext(ctx, `DELETE FROM dialog_transcript_logs WHERE conv_key = $1`, name); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `DELETE FROM dialog_transcripts WHERE conv_key = $1`, name)
			return err
		}
		_, err := a.generation(ctx, tx, name, gen, 0)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqldialogs: forget archive of %q: %w", name, err)
	}
	return nil
}
