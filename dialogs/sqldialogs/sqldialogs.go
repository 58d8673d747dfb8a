// Package sqldialogs keeps conversations — locks, queues, dedupe marks,
// session state and logs — and the outbound queue in the SQL system of
// record, on SQLite (the embedded mode) or Postgres. It implements
// bot.Store, bot.OutboxStore and bot.Forgetter.
//
// Everything that must survive a restart or be shared by replicas is in
// SQL, one statement set for both dialects: the lock is a lease in the
// conversation's row (a token and an end time; the token also fences
// commits), the queue and the done marks are rows with a unique key per
// conversation and message ID, and each Acquire, Commit and Release is one
// transaction that starts by locking the conversation's row (an upsert or
// SELECT … FOR UPDATE on Postgres; SQLite's single writer already runs
// them one at a time). So several processes on one Postgres — or on one
// SQLite file — keep the bot.Store contract.
//
// The outbound queue's place of a conversation is a few columns of its
// row, set by the same UPDATE that commits a turn, so Update.Deliver costs
// no extra statement; Due claims rows with FOR UPDATE SKIP LOCKED on
// Postgres. Dead letters have a table of their own. Forget, or a commit
// with Update.Forget, deletes the state, the log, the done marks, the
// queue places, the pending delivery and the dead letters; the row keeps
// only counters (last Seq, version, fencing token), so Seq numbers
// continue. Deleted rows can linger in free pages of the SQLite file and
// in Postgres until VACUUM; no query reads them.
//
// Subscribe fans out in process; on Postgres a commit also sends NOTIFY in
// its transaction, and a Store listening on one connection passes it to
// its subscribers, so Subscribe works across replicas. Either way the
// signal carries the last Seq the commit appended.
//
// Expired state, done marks and logs read as absent at once; Sweep deletes
// them, and dead letters after 30 days. Lease times and expiry use the
// Store's clock (see WithNow), so replicas sharing Postgres need
// synchronised clocks (NTP).
//
// Pseudonyms. A conversation key names the shopper on their platform
// ("telegram:777000111"). With WithPseudonyms, the rows of a conversation
// — in dialog_conversations, dialog_entries, dialog_done and dialog_queue —
// and its Postgres notifications are keyed by an HMAC of the key under a
// secret (see pseudonym.go), so that once a conversation is forgotten, and
// its row of counters is all that is left, no row leads back to the
// person. The raw key is stored in one place only, and only while the
// outbound queue needs it to deliver: the row's out_key, set by the commit
// that queues replies and cleared when the conversation leaves the queue
// (or is forgotten). Dead letters keep the raw key, for the admin who
// reads them, until Sweep or Forget deletes them. Each conversation in the
// queue carries the namespace of its store's secret (out_ns), and Due and
// Backlog see only their own, so stores with different secrets on one
// database (replicas during a change of secret) do not lease each other's
// conversations.
//
// Turning pseudonyms on, or changing the secret, starts every session over:
// rows written under the old keys are not found under the new ones, and
// expire (Sweep deletes them once their state and log have expired).
// Replies queued and not yet sent at the switch stay queued under the old
// namespace: switch when the outbound queue is drained (Backlog) or accept
// that they are not sent. No data migration is needed. Forget, and a
// commit with Update.Forget, also delete the rows a conversation left under
// its raw key before pseudonyms were turned on, so an erasure in the
// meantime erases them too.
package sqldialogs

import (
	"bytes"
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"sync"
	"time"

	"github.com/bottega-shop/bottega/bot"
	"github.com/bottega-shop/bottega/internal/sqldb"
)

//go:embed migrations
var migrations embed.FS

// notifyChannel is the Postgres NOTIFY channel of committed entries. The
// payload is the last Seq committed, a space and the conversation's row
// key (see notifyPayload); or empty for "any conversation, Seq unknown".
const notifyChannel = "bottega_dialogs"

// maxNotifyKey is the longest key sent as a NOTIFY payload (Postgres
// allows under 8000 bytes); longer keys notify every subscriber.
const maxNotifyKey = 7000

// deadLetterKeep is how long Sweep keeps dead letters.
const deadLetterKeep = 30 * 24 * time.Hour

// fenceKeep is how long after its last lease a conversation row is kept
// at least, so a fencing token is never granted twice to live holders.
const fenceKeep = 24 * time.Hour

// Store keeps conversations in SQL. It implements bot.Store. Close it to
// stop its Postgres listener.
type Store struct {
	db  *sqldb.DB
	now func() time.Time
	hub hub // by row key (see Store.row)

	secret     []byte             // WithPseudonyms
	pseudonyms *bot.Pseudonymizer // nil without WithPseudonyms
	ns         string             // out_ns of the conversations this Store queues

	forUpdate  string // row lock suffix for SELECT, Postgres only
	skipLocked string // the same, skipping locked rows (Due)

	mu         sync.Mutex
	closed     bool
	listening  bool
	ready      chan struct{} // closed when the Postgres listener first listens
	stopListen context.CancelFunc
	listenDone chan struct{}
}

var (
	_ bot.Store       = (*Store)(nil)
	_ bot.OutboxStore = (*Store)(nil)
	_ bot.Forgetter   = (*Store)(nil)
)

// Option configures a Store.
type Option func(*Store)

// WithNow sets the clock for leases, queue places and expiry (default
// time.Now).
func WithNow(now func() time.Time) Option {
	return func(s *Store) { s.now = now }
}

// WithPseudonyms keys each conversation's rows and notifications by a
// pseudonym of its key, an HMAC under secret, and keeps the raw key only
// while replies wait for delivery (see the package comment). Stores
// sharing a database must share the secret to share conversations. New
// returns an error if secret is empty.
func WithPseudonyms(secret []byte) Option {
	secret = bytes.Clone(secret)
	if secret == nil {
		secret = []byte{}
	}
	return func(s *Store) { s.secret = secret }
}

// New returns a Store on db, first applying the dialogs migrations. The
// caller keeps ownership of db and closes it after the Store.
func New(db *sqldb.DB, opts ...Option) (*Store, error) {
	s := &Store{db: db, now: time.Now, ready: make(chan struct{})}
	s.hub.subs = make(map[string]map[chan int64]struct{})
	for _, o := range opts {
		o(s)
	}
	if s.secret != nil {
		if len(s.secret) == 0 {
			return nil, errors.New("sqldialogs: WithPseudonyms needs a secret")
		}
		s.pseudonyms = bot.NewPseudonymizer(s.secret)
		s.ns, s.secret = s.pseudonyms.Namespace(), nil
	}
	if db.Dialect == sqldb.Postgres {
		s.forUpdate, s.skipLocked = " FOR UPDATE", " FOR UPDATE SKIP LOCKED"
	}
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, fmt.Errorf("sqldialogs: migrations: %w", err)
	}
	if err := db.Migrate(context.Background(), sub, "dialogs"); err != nil {
		return nil, fmt.Errorf("sqldialogs: %w", err)
	}
	return s, nil
}

// Close stops the Postgres listener, if any, and closes every
// subscriber's channel. It does not close the database.
func (s *Store) Close() error {
	s.mu.Lock()
	stop, done := s.stopListen, s.listenDone
	s.stopListen, s.closed = nil, true
	s.mu.Unlock()
	s.hub.close()
	if stop != nil {
		stop()
		<-done
	}
	return nil
}

func (s *Store) micros() int64 { return sqldb.Micros(s.now()) }

// row returns what conversation key's rows are keyed by: its pseudonym, or
// the key itself without WithPseudonyms. Error messages use it too.
func (s *Store) row(key string) string {
	if s.pseudonyms == nil {
		return key
	}
	return s.pseudonyms.Of(key)
}

// queuedKey is what out_key holds while a conversation is queued: the raw
// key when rows are keyed by pseudonyms, else NULL (Due returns conv_key).
func (s *Store) queuedKey(key string) any {
	if s.pseudonyms == nil {
		return nil
	}
	return key
}

func wrap(op, key string, err error) error {
	if errors.Is(err, bot.ErrDuplicate) || errors.Is(err, bot.ErrBusy) || errors.Is(err, bot.ErrGap) {
		return err
	}
	return fmt.Errorf("sqldialogs: %s %q: %w", op, key, err)
}

// Acquire implements bot.Store.
func (s *Store) Acquire(ctx context.Context, key string, c bot.Claim) (*bot.Lease, error) {
	row := s.row(key)
	switch {
	case key == "" || c.MessageID == "":
		return nil, fmt.Errorf("sqldialogs: acquire %q: conversation and message id are required", row)
	case c.Lease <= 0 || c.Wait <= 0:
		return nil, fmt.Errorf("sqldialogs: acquire %q: lease and wait must be positive", row)
	}
	now := s.micros()
	var (
		lease  *bot.Lease
		status error // ErrBusy or ErrGap: the transaction commits the queue place
	)
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		var (
			fence, token, until, msgSeq, version, stateUntil int64
			state                                            []byte
		)
		// The upsert locks the row until the transaction ends.
		err := tx.QueryRowContext(ctx, `INSERT INTO dialog_conversations (conv_key) VALUES ($1)
			ON CONFLICT (conv_key) DO UPDATE SET fence = dialog_conversations.fence
			RETURNING fence, lock_token, lock_until, msg_seq, version, state, state_until`, row).
			Scan(&fence, &token, &until, &msgSeq, &version, &state, &stateUntil)
		if err != nil {
			return err
		}
		var one int
		err = tx.QueryRowContext(ctx, `SELECT 1 FROM dialog_done
			WHERE conv_key = $1 AND message_id = $2 AND expires_at > $3`, row, c.MessageID, now).Scan(&one)
		switch {
		case err == nil:
			return bot.ErrDuplicate
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM dialog_queue WHERE conv_key = $1 AND expires_at <= $2`, row, now); err != nil {
			return err
		}
		var (
			headID  string
			headSeq int64
		)
		err = tx.QueryRowContext(ctx, `SELECT message_id, seq FROM dialog_queue
			WHERE conv_key = $1 ORDER BY seq, id LIMIT 1`, row).Scan(&headID, &headSeq)
		empty := errors.Is(err, sql.ErrNoRows)
		if err != nil && !empty {
			return err
		}
		// First: nobody waits, or this message is first, or it goes
		// before the first (a lower Seq; if it were queued with a lower
		// Seq, it would be first).
		first := empty || headID == c.MessageID || headSeq > c.Seq
		free := token == 0 || until <= now
		status = bot.ErrBusy
		if first && free {
			if c.InOrder && c.Seq > msgSeq+1 {
				status = bot.ErrGap
			} else {
				if !empty {
					if _, err := tx.ExecContext(ctx, `DELETE FROM dialog_queue WHERE conv_key = $1 AND message_id = $2`, row, c.MessageID); err != nil {
						return err
					}
				}
				fence++
				if _, err := tx.ExecContext(ctx, `UPDATE dialog_conversations SET fence = $2, lock_token = $2, lock_until = $3
					WHERE conv_key = $1`, row, fence, now+c.Lease.Microseconds()); err != nil {
					return err
				}
				lease = &bot.Lease{Key: key, MessageID: c.MessageID, Token: fence, Version: version, LastSeq: msgSeq}
				if stateUntil > now && len(state) > 0 {
					lease.State = state
				}
				return nil
			}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO dialog_queue (conv_key, message_id, seq, expires_at) VALUES ($1, $2, $3, $4)
			ON CONFLICT (conv_key, message_id) DO UPDATE SET expires_at = excluded.expires_at`,
			row, c.MessageID, c.Seq, now+c.Wait.Microseconds()); err != nil {
			return err
		}
		return nil
	})
	switch {
	case err != nil:
		return nil, wrap("acquire", row, err)
	case lease == nil:
		return nil, status
	}
	return lease, nil
}

// Commit implements bot.Store. With u.Deliver it also marks the
// conversation due in the outbound queue (see Due); with u.Forget it first
// erases the conversation as Forget does, in the same transaction.
func (s *Store) Commit(ctx context.Context, l *bot.Lease, u bot.Update) ([]bot.Entry, error) {
	row := s.row(l.Key)
	if u.SessionTTL <= 0 || u.DedupeTTL <= 0 || u.LogTTL <= 0 {
		return nil, fmt.Errorf("sqldialogs: commit %q: expiry times must be positive", row)
	}
	out := make([]bot.Entry, len(u.Entries))
	replies := make([]any, len(u.Entries))
	for i, e := range u.Entries {
		e.Conversation = l.Key
		e.At = sqldb.Time(sqldb.Micros(e.At))
		out[i] = e
		if e.Reply != nil {
			b, err := json.Marshal(e.Reply)
			if err != nil {
				return nil, fmt.Errorf("sqldialogs: commit %q: encode reply: %w", row, err)
			}
			replies[i] = string(b)
		}
	}
	now := s.micros()
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		var (
			token, until, version, stateUntil, logUntil, lastSeq, msgSeq int64
			q                                                            delivery
		)
		err := tx.QueryRowContext(ctx, `SELECT lock_token, lock_until, version, state_until, log_until, last_seq, msg_seq,
				out_state, out_due, out_cursor, out_attempts, out_since, out_token, out_lease_until
			FROM dialog_conversations WHERE conv_key = $1`+s.forUpdate, row).
			Scan(&token, &until, &version, &stateUntil, &logUntil, &lastSeq, &msgSeq,
				&q.state, &q.due, &q.cursor, &q.attempts, &q.since, &q.token, &q.leaseUntil)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("token %d: %w", l.Token, bot.ErrLockLost)
		case err != nil:
			return err
		case token != l.Token || until <= now:
			return fmt.Errorf("token %d: %w", l.Token, bot.ErrLockLost)
		case version != l.Version:
			return fmt.Errorf("version %d: %w", l.Version, bot.ErrStale)
		}
		if u.Forget {
			if err := s.erase(ctx, tx, l.Key, row); err != nil {
				return err
			}
			stateUntil, logUntil, q = 0, 0, delivery{leaseUntil: q.leaseUntil}
		}
		if len(out) > 0 {
			if logUntil <= now && lastSeq > 0 && !u.Forget { // the log expired: drop it whole
				if _, err := tx.ExecContext(ctx, `DELETE FROM dialog_entries WHERE conv_key = $1`, row); err != nil {
					return err
				}
			}
			logUntil = now + u.LogTTL.Microseconds()
			if u.Deliver {
				q.enqueue(lastSeq, now)
			}
		}
		if u.Seq > msgSeq {
			msgSeq = u.Seq
		}
		first := lastSeq + 1
		lastSeq += int64(len(out))
		outKey, outNS := any(nil), ""
		if q.state != outNone {
			outKey, outNS = s.queuedKey(l.Key), s.ns
		}
		if u.KeepState {
			if stateUntil > now {
				stateUntil = now + u.SessionTTL.Microseconds()
			}
			_, err = tx.ExecContext(ctx, `UPDATE dialog_conversations
				SET state_until = $2, log_until = $3, last_seq = $4, msg_seq = $5, lock_token = 0,
					out_state = $6, out_due = $7, out_cursor = $8, out_attempts = $9, out_since = $10, out_token = $11,
					out_key = $12, out_ns = $13
				WHERE conv_key = $1`, row, stateUntil, logUntil, lastSeq, msgSeq,
				q.state, q.due, q.cursor, q.attempts, q.since, q.token, outKey, outNS)
		} else {
			var state []byte
			if len(u.State) > 0 {
				state = u.State
			}
			_, err = tx.ExecContext(ctx, `UPDATE dialog_conversations
				SET state = $2, version = version + 1, state_until = $3, log_until = $4, last_seq = $5, msg_seq = $6, lock_token = 0,
					out_state = $7, out_due = $8, out_cursor = $9, out_attempts = $10, out_since = $11, out_token = $12,
					out_key = $13, out_ns = $14
				WHERE conv_key = $1`, row, state, now+u.SessionTTL.Microseconds(), logUntil, lastSeq, msgSeq,
				q.state, q.due, q.cursor, q.attempts, q.since, q.token, outKey, outNS)
		}
		if err != nil {
			return err
		}
		if len(out) > 0 {
			var b strings.Builder
			b.WriteString(`INSERT INTO dialog_entries (conv_key, seq, sender, message_id, body, reply, at, sealed) VALUES `)
			args := []any{row}
			for i := range out {
				out[i].Seq = first + int64(i)
				if i > 0 {
					b.WriteString(", ")
				}
				n := len(args)
				fmt.Fprintf(&b, "($1, $%d, $%d, $%d, $%d, $%d, $%d, $%d)", n+1, n+2, n+3, n+4, n+5, n+6, n+7)
				var sealed []byte
				if len(out[i].Sealed) > 0 {
					sealed = out[i].Sealed
				}
				args = append(args, out[i].Seq, out[i].From, out[i].MessageID, out[i].Text, replies[i], sqldb.Micros(out[i].At), sealed)
			}
			if _, err := tx.ExecContext(ctx, b.String(), args...); err != nil {
				return err
			}
		}
		if u.MessageID != "" {
			if _, err := tx.ExecContext(ctx, `INSERT INTO dialog_done (conv_key, message_id, expires_at) VALUES ($1, $2, $3)
				ON CONFLICT (conv_key, message_id) DO UPDATE SET expires_at = excluded.expires_at`,
				row, u.MessageID, now+u.DedupeTTL.Microseconds()); err != nil {
				return err
			}
		}
		if len(out) > 0 && s.db.Dialect == sqldb.Postgres {
			if _, err := tx.ExecContext(ctx, `SELECT pg_notify($1, $2)`, notifyChannel, notifyPayload(row, lastSeq)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, wrap("commit", row, err)
	}
	if len(out) > 0 {
		s.hub.signal(row, out[len(out)-1].Seq)
	}
	return out, nil
}

// Release implements bot.Store.
func (s *Store) Release(ctx context.Context, key, messageID string, token int64) error {
	row := s.row(key)
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		// The conversation's row first, as in Acquire and Commit.
		var held int64
		err := tx.QueryRowContext(ctx, `SELECT lock_token FROM dialog_conversations WHERE conv_key = $1`+s.forUpdate, row).Scan(&held)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		if token != 0 && held == token {
			if _, err := tx.ExecContext(ctx, `UPDATE dialog_conversations SET lock_token = 0 WHERE conv_key = $1`, row); err != nil {
				return err
			}
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM dialog_queue WHERE conv_key = $1 AND message_id = $2`, row, messageID)
		return err
	})
	if err != nil {
		return wrap("release", row, err)
	}
	return nil
}

// Entries implements bot.Store.
func (s *Store) Entries(ctx context.Context, key string, after int64, limit int) ([]bot.Entry, error) {
	row := s.row(key)
	if limit <= 0 {
		return nil, fmt.Errorf("sqldialogs: entries of %q: limit %d, want > 0", row, limit)
	}
	rows, err := s.db.R.QueryContext(ctx, `SELECT seq, sender, message_id, body, reply, at, sealed FROM dialog_entries
		WHERE conv_key = $1 AND seq > $2
		  AND EXISTS (SELECT 1 FROM dialog_conversations WHERE conv_key = $1 AND log_until > $3)
		ORDER BY seq LIMIT $4`, row, after, s.micros(), limit)
	if err != nil {
		return nil, wrap("entries of", row, err)
	}
	defer rows.Close()
	out := []bot.Entry{}
	for rows.Next() {
		var (
			e     = bot.Entry{Conversation: key}
			reply sql.NullString
			at    int64
		)
		if err := rows.Scan(&e.Seq, &e.From, &e.MessageID, &e.Text, &reply, &at, &e.Sealed); err != nil {
			return nil, wrap("entries of", row, err)
		}
		e.At = sqldb.Time(at)
		if reply.Valid {
			e.Reply = new(bot.Reply)
			if err := json.Unmarshal([]byte(reply.String), e.Reply); err != nil {
				return nil, wrap("entries of", row, fmt.Errorf("entry %d: %w", e.Seq, err))
			}
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap("entries of", row, err)
	}
	return out, nil
}

// Subscribe implements bot.Store. Commits made through this Store signal
// its subscribers directly, with the last Seq committed; on Postgres,
// commits by other Stores on the database (replicas) arrive through
// LISTEN, with the Seq in the payload (0 when it has none). Listening
// again after a lost connection signals every subscriber 0. On SQLite only
// this Store's commits are seen: use one Store per database file.
func (s *Store) Subscribe(ctx context.Context, key string) (<-chan int64, func()) {
	row := s.row(key)
	ch, ok := s.hub.add(row)
	if !ok {
		return ch, func() {}
	}
	if s.db.Dialect == sqldb.Postgres {
		s.startListener()
		t := time.NewTimer(5 * time.Second)
		select {
		case <-s.ready:
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
	}
	var once sync.Once
	cancel := func() { once.Do(func() { s.hub.remove(row, ch) }) }
	stop := context.AfterFunc(ctx, cancel)
	return ch, func() { stop(); cancel() }
}

// Sweep deletes what has expired: done marks, abandoned queue places,
// session states, logs, dead letters older than deadLetterKeep,
// conversations with neither state nor log left (whose Seq numbers then
// start over), and archived logs (see Archive) an hour after their end of
// retention. A conversation whose log expired leaves the outbound queue
// unless it is leased: nothing is left to deliver. Expired data already
// reads as absent; Sweep frees the space. Run it now and then (hourly,
// say).
func (s *Store) Sweep(ctx context.Context) error {
	now := s.micros()
	fenced := now - fenceKeep.Microseconds()
	stmts := []struct {
		sql  string
		args []any
	}{
		{`DELETE FROM dialog_done WHERE expires_at <= $1`, []any{now}},
		{`DELETE FROM dialog_queue WHERE expires_at <= $1`, []any{now}},
		{`DELETE FROM dialog_dead_letters WHERE at <= $1`, []any{now - deadLetterKeep.Microseconds()}},
		{`UPDATE dialog_conversations SET state = NULL WHERE state IS NOT NULL AND state_until <= $1`, []any{now}},
		{`UPDATE dialog_conversations SET ` + leaveQueue + `
			WHERE out_state <> 0 AND log_until <= $1 AND out_lease_until <= $1`, []any{now}},
		{`DELETE FROM dialog_entries WHERE conv_key IN (SELECT conv_key FROM dialog_conversations WHERE log_until <= $1)`, []any{now}},
		{`DELETE FROM dialog_conversations
			WHERE state_until <= $1 AND log_until <= $1 AND lock_until <= $2
			  AND out_state = 0 AND out_lease_until <= $2
			  AND NOT EXISTS (SELECT 1 FROM dialog_queue q WHERE q.conv_key = dialog_conversations.conv_key)`,
			[]any{now, fenced}},
		// Archived logs (see Archive), a grace after their recorded end.
		{`DELETE FROM dialog_transcripts WHERE conv_key IN (SELECT conv_key FROM dialog_transcript_logs WHERE log_until <= $1)`,
			[]any{now - archiveGrace.Microseconds()}},
		{`DELETE FROM dialog_transcript_logs WHERE log_until <= $1`, []any{now - archiveGrace.Microseconds()}},
	}
	for _, st := range stmts {
		if _, err := s.db.W.ExecContext(ctx, st.sql, st.args...); err != nil {
			return fmt.Errorf("sqldialogs: sweep: %w", err)
		}
	}
	return nil
}

// hub fans signals out to this process's subscribers.
type hub struct {
	mu     sync.Mutex
	subs   map[string]map[chan int64]struct{}
	closed bool
}

func (h *hub) add(key string) (chan int64, bool) {
	ch := make(chan int64, 1)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		close(ch)
		return ch, false
	}
	if h.subs[key] == nil {
		h.subs[key] = make(map[chan int64]struct{})
	}
	h.subs[key][ch] = struct{}{}
	return ch, true
}

func (h *hub) remove(key string, ch chan int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.subs[key][ch]; !ok {
		return
	}
	delete(h.subs[key], ch)
	if len(h.subs[key]) == 0 {
		delete(h.subs, key)
	}
	close(ch)
}

// signal signals key's subscribers that entries up to seq are committed
// (0: unknown).
func (h *hub) signal(key string, seq int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.subs[key] {
		bot.Signal(ch, seq)
	}
}

// signalAll signals every subscriber, Seq unknown.
func (h *hub) signalAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, subs := range h.subs {
		for ch := range subs {
			bot.Signal(ch, 0)
		}
	}
}

func (h *hub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for k, subs := range h.subs {
		for ch := range subs {
			close(ch)
		}
		delete(h.subs, k)
	}
}
