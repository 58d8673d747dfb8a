package sqldialogs

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/bottega-shop/bottega/bot"
	"github.com/bottega-shop/bottega/internal/sqldb"
)

// The outbound queue. A conversation's delivery is a few columns of its
// row (out_*): a commit with Update.Deliver sets them in the UPDATE it
// makes anyway, and Due and Settle lock the same row as Acquire and
// Commit, so no two of them ever wait for each other in opposite orders.
// Lease tokens come from the conversation's fencing counter. Due and
// lease ends are in the caller's clock (Due's now, Outcome.Retry); Settle
// compares the lease end with the Store's clock. With pseudonyms, out_key
// holds the raw conversation key while the conversation is queued, and
// out_ns the namespace of the secret (see the package comment).

// Values of out_state.
const (
	outNone    = 0 // not in the queue
	outWaiting = 1 // due at out_due: now, later (a retry), or when the lease ends
	outHeld    = 2 // waits for a commit that appends entries
)

// leaveQueue is the SET list that takes a conversation out of the queue.
const leaveQueue = `out_state = 0, out_due = 0, out_cursor = 0, out_attempts = 0, out_since = 0, out_token = 0,
	out_key = NULL, out_ns = ''`

// delivery is a conversation's place in the outbound queue.
type delivery struct {
	state                    int
	due, cursor              int64
	attempts                 int
	since, token, leaseUntil int64
}

// enqueue records that entries after Seq last were committed with Deliver
// at now: a conversation not in the queue enters it, due now, with its
// cursor at last; a held one is due now; one that is due, leased or
// waiting for a retry keeps its time.
func (q *delivery) enqueue(last, now int64) {
	switch q.state {
	case outNone:
		*q = delivery{state: outWaiting, due: now, cursor: last, since: now, leaseUntil: q.leaseUntil}
	case outHeld:
		q.state, q.due = outWaiting, now
	}
}

// Due implements bot.OutboxStore. On Postgres the rows are claimed with
// FOR UPDATE SKIP LOCKED, so replicas calling Due at once get different
// conversations and do not wait for turns being committed; SQLite's single
// writer runs Due calls one at a time. With WithPseudonyms it leases only
// the conversations queued by stores with the same secret, and Pending.Key
// is the raw key, kept for the purpose while the conversation is queued.
func (s *Store) Due(ctx context.Context, now time.Time, n int, lease time.Duration) ([]bot.Pending, error) {
	if n <= 0 || lease <= 0 {
		return nil, fmt.Errorf("sqldialogs: due: n %d and lease %v, want both positive", n, lease)
	}
	at := sqldb.Micros(now)
	var out []bot.Pending
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT conv_key FROM dialog_conversations
			WHERE out_state = 1 AND out_ns = $3 AND out_due <= $1 ORDER BY out_due, conv_key LIMIT $2`+s.skipLocked, at, n, s.ns)
		if err != nil {
			return err
		}
		var keys []string
		for rows.Next() {
			var k string
			if err := rows.Scan(&k); err != nil {
				rows.Close()
				return err
			}
			keys = append(keys, k)
		}
		rows.Close()
		if err := rows.Err(); err != nil || len(keys) == 0 {
			return err
		}
		var b strings.Builder
		args := []any{at + lease.Microseconds()}
		for i, k := range keys {
			if i > 0 {
				b.WriteString(", ")
			}
			args = append(args, k)
			fmt.Fprintf(&b, "$%d", len(args))
		}
		rows, err = tx.QueryContext(ctx, `UPDATE dialog_conversations
			SET fence = fence + 1, out_token = fence + 1, out_due = $1, out_lease_until = $1
			WHERE conv_key IN (`+b.String()+`)
			RETURNING conv_key, out_key, out_cursor, last_seq, out_attempts, out_since, out_token`, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		order := make([]int, 0, len(keys)) // each leased row's place in keys
		for rows.Next() {
			var (
				p      bot.Pending
				row    string
				rawKey sql.NullString
				since  int64
			)
			if err := rows.Scan(&row, &rawKey, &p.Cursor, &p.Last, &p.Attempts, &since, &p.Token); err != nil {
				return err
			}
			p.Key = row
			if rawKey.Valid {
				p.Key = rawKey.String
			}
			p.Since = sqldb.Time(since)
			out = append(out, p)
			order = append(order, slices.Index(keys, row))
		}
		if err := rows.Err(); err != nil {
			return err
		}
		// RETURNING comes in no particular order: put it back in due order.
		sorted := make([]bot.Pending, len(keys))
		for i, p := range out {
			sorted[order[i]] = p
		}
		out = slices.DeleteFunc(sorted, func(p bot.Pending) bool { return p.Token == 0 })
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sqldialogs: due: %w", err)
	}
	return out, nil
}

// Settle implements bot.OutboxStore. A dead letter without At is stamped
// with the Store's clock; it keeps the raw key.
func (s *Store) Settle(ctx context.Context, p bot.Pending, o bot.Outcome) error {
	row := s.row(p.Key)
	now := s.micros()
	forgotten := false // the conversation has no state: it was erased
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		var (
			q    delivery
			last int64
		)
		err := tx.QueryRowContext(ctx, `SELECT out_state, out_token, out_lease_until, out_cursor, out_attempts, last_seq, state IS NULL
			FROM dialog_conversations WHERE conv_key = $1`+s.forUpdate, row).
			Scan(&q.state, &q.token, &q.leaseUntil, &q.cursor, &q.attempts, &last, &forgotten)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("token %d: %w", p.Token, bot.ErrLockLost)
		case err != nil:
			return err
		case q.state != outWaiting || q.token == 0 || q.token != p.Token || q.leaseUntil <= now:
			return fmt.Errorf("token %d: %w", p.Token, bot.ErrLockLost)
		case o.Through > last:
			return fmt.Errorf("through %d is beyond the log's last seq %d", o.Through, last)
		}
		if o.Through > q.cursor {
			q.cursor, q.attempts = o.Through, 0 // a new entry's tries start over
		}
		q.token = 0
		switch {
		case !o.Retry.IsZero():
			q.due, q.attempts = sqldb.Micros(o.Retry), q.attempts+1
		case o.Hold && last > p.Last:
			q.due = now
		case o.Hold:
			q.state, q.due = outHeld, 0
		case q.cursor >= last:
			q = delivery{}
		default:
			q.due, q.attempts = now, 0
		}
		if q.state == outNone {
			_, err = tx.ExecContext(ctx, `UPDATE dialog_conversations SET `+leaveQueue+` WHERE conv_key = $1`, row)
		} else {
			forgotten = false
			_, err = tx.ExecContext(ctx, `UPDATE dialog_conversations
				SET out_state = $2, out_due = $3, out_cursor = $4, out_attempts = $5, out_token = 0
				WHERE conv_key = $1`, row, q.state, q.due, q.cursor, q.attempts)
		}
		if err != nil || len(o.Dead) == 0 {
			return err
		}
		var b strings.Builder
		b.WriteString(`INSERT INTO dialog_dead_letters (conv_key, seq, reason, at) VALUES `)
		args := []any{p.Key}
		for i, d := range o.Dead {
			if i > 0 {
				b.WriteString(", ")
			}
			at := now
			if !d.At.IsZero() {
				at = sqldb.Micros(d.At)
			}
			n := len(args)
			fmt.Fprintf(&b, "($1, $%d, $%d, $%d)", n+1, n+2, n+3)
			args = append(args, d.Seq, d.Reason, at)
		}
		_, err = tx.ExecContext(ctx, b.String(), args...)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqldialogs: settle %q: %w", row, err)
	}
	if forgotten {
		// The last write that named an erased person (the raw key kept for
		// the farewell's delivery) is gone from the tables; take it out of
		// SQLite's write-ahead log too. Best effort: a busy log is
		// truncated by a later checkpoint.
		cctx, cancel := context.WithTimeout(ctx, checkpointWait)
		_ = s.db.Checkpoint(cctx)
		cancel()
	}
	return nil
}

// checkpointWait bounds how long Settle waits for readers to let SQLite's
// write-ahead log be truncated after an erased conversation's farewell.
const checkpointWait = 2 * time.Second

// DeadLetters implements bot.OutboxStore. Sweep deletes dead letters older
// than 30 days. The dead letters of all the stores sharing the database
// are listed, with their raw keys.
func (s *Store) DeadLetters(ctx context.Context, limit int) ([]bot.DeadLetter, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("sqldialogs: dead letters: limit %d, want > 0", limit)
	}
	rows, err := s.db.R.QueryContext(ctx, `SELECT conv_key, seq, reason, at FROM dialog_dead_letters
		ORDER BY id DESC LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("sqldialogs: dead letters: %w", err)
	}
	defer rows.Close()
	out := []bot.DeadLetter{}
	for rows.Next() {
		var (
			d  bot.DeadLetter
			at int64
		)
		if err := rows.Scan(&d.Key, &d.Seq, &d.Reason, &at); err != nil {
			return nil, fmt.Errorf("sqldialogs: dead letters: %w", err)
		}
		d.At = sqldb.Time(at)
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqldialogs: dead letters: %w", err)
	}
	return out, nil
}

// Backlog implements bot.OutboxStore. With WithPseudonyms it counts the
// conversations queued by stores with the same secret.
func (s *Store) Backlog(ctx context.Context) (int, error) {
	var n int
	if err := s.db.R.QueryRowContext(ctx, `SELECT count(*) FROM dialog_conversations
		WHERE out_state <> 0 AND out_ns = $1`, s.ns).Scan(&n); err != nil {
		return 0, fmt.Errorf("sqldialogs: backlog: %w", err)
	}
	return n, nil
}

// Forget implements bot.Forgetter: it deletes conversation key's state,
// log, done marks, queue places, pending delivery and dead letters, and
// releases its lock, so that a turn in flight fails to commit with
// bot.ErrLockLost. The conversation's row keeps only counters (last Seq,
// version, fencing token), so Seq numbers and tokens continue; Sweep
// deletes it once it has expired. With WithPseudonyms, the rows the
// conversation had under its raw key before are deleted too.
func (s *Store) Forget(ctx context.Context, key string) error {
	if key == "" {
		return errors.New("sqldialogs: forget: no conversation")
	}
	row := s.row(key)
	if err := s.db.InTx(ctx, func(tx *sql.Tx) error { return s.erase(ctx, tx, key, row) }); err != nil {
		return wrap("forget", row, err)
	}
	return nil
}

// erase deletes everything about conversation key, whose rows are keyed
// by row, but its counters, in tx. The UPDATE comes first: it locks the
// conversation's row, as Acquire and Commit do before touching the other
// tables. Dead letters are keyed by the raw key. With pseudonyms, the rows
// keyed by the raw key (written before pseudonyms were turned on) go
// whole, their row of counters too: its key is the raw key.
func (s *Store) erase(ctx context.Context, tx *sql.Tx, key, row string) error {
	type stmt struct {
		sql string
		arg string
	}
	stmts := []stmt{
		{`UPDATE dialog_conversations SET state = NULL, state_until = 0, log_until = 0, lock_token = 0, ` + leaveQueue + `
			WHERE conv_key = $1`, row},
		{`DELETE FROM dialog_entries WHERE conv_key = $1`, row},
		{`DELETE FROM dialog_done WHERE conv_key = $1`, row},
		{`DELETE FROM dialog_queue WHERE conv_key = $1`, row},
		{`DELETE FROM dialog_dead_letters WHERE conv_key = $1`, key},
	}
	if row != key {
		stmts = append(stmts,
			stmt{`DELETE FROM dialog_entries WHERE conv_key = $1`, key},
			stmt{`DELETE FROM dialog_done WHERE conv_key = $1`, key},
			stmt{`DELETE FROM dialog_queue WHERE conv_key = $1`, key},
			stmt{`DELETE FROM dialog_conversations WHERE conv_key = $1`, key},
		)
	}
	for _, st := range stmts {
		if _, err := tx.ExecContext(ctx, st.sql, st.arg); err != nil {
			return err
		}
	}
	return nil
}
