// Package sqlchanstate keeps the push channels' state of each shopper
// (chanstate.Store) in the SQL system of record, Postgres or SQLite, with
// one set of statements for both.
//
// A conversation's reachability, Telegram latest message and Messenger
// window and thread owner share one row, so every write is one upsert
// whose CASE expressions keep the latest of each piece, and every read
// one primary-key lookup: Messenger's Wrote, on every inbound message, and
// Thread, once per delivery, cost one statement each. Opt-ins have a row
// per conversation and token; the ids of recorded platform events have a
// table of their own, so an event is applied once. Nothing is cached in
// process: a replica must see what another wrote a moment ago (a window
// opened by a message another replica took), and nothing would tell a
// cache that it changed.
//
// Everything is keyed by conversation key, so Erase (consent.Holder)
// deletes a shopper's rows in every table. Sweep deletes what no longer
// matters: conversation rows idle for two days (the longest a Telegram
// edit or a Messenger window or handover lasts), except an unreachable
// mark, kept for the retention period; stopped or expired opt-ins after
// it; event ids after a week (Meta retries for 36 hours).
package sqlchanstate

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"github.com/bottega-shop/bottega/bot/chanstate"
	"github.com/bottega-shop/bottega/bot/messenger"
	"github.com/bottega-shop/bottega/bot/telegram"
	"github.com/bottega-shop/bottega/consent"
	"github.com/bottega-shop/bottega/internal/sqldb"
)

//go:embed migrations
var migrations embed.FS

// Name is the Store's name in data-subject reports.
const Name = "channel state (sql)"

// Keep times of Sweep.
const (
	// DefaultRetention is how long an unreachable mark and a stopped
	// opt-in are kept by default.
	DefaultRetention = 180 * 24 * time.Hour
	// idleKeep is how long a conversation row is kept after its last
	// write: Telegram lets a message be edited for 48 hours; Messenger's
	// window and a handover's idle expiry are 24 hours.
	idleKeep = 48 * time.Hour
	// eventKeep is how long a recorded event id is kept: Meta retries a
	// webhook for up to 36 hours.
	eventKeep = 7 * 24 * time.Hour
)

// Store is the channel state on a SQL database. It implements
// chanstate.Store and is safe for concurrent use, also by several
// processes on one database.
type Store struct {
	db        *sqldb.DB
	now       func() time.Time
	retention time.Duration
}

var _ chanstate.Store = (*Store)(nil)

// Option configures a Store.
type Option func(*Store)

// WithNow sets the clock: the time of reachability changes from Telegram
// (which gives none), of rows' last writes and of Sweep (default
// time.Now).
func WithNow(now func() time.Time) Option { return func(s *Store) { s.now = now } }

// WithRetention sets how long Sweep keeps an unreachable mark and a
// stopped opt-in (default DefaultRetention); d <= 0 keeps the default.
func WithRetention(d time.Duration) Option {
	return func(s *Store) {
		if d > 0 {
			s.retention = d
		}
	}
}

// New returns a Store on db, first applying the chanstate migrations. The
// caller keeps ownership of db and closes it.
func New(db *sqldb.DB, opts ...Option) (*Store, error) {
	s := &Store{db: db, now: time.Now, retention: DefaultRetention}
	for _, o := range opts {
		o(s)
	}
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, fmt.Errorf("sqlchanstate: migrations: %w", err)
	}
	if err := db.Migrate(context.Background(), sub, "chanstate"); err != nil {
		return nil, wrap("migrate", err)
	}
	if db.Dialect == sqldb.SQLite {
		if err := db.PrepareReads(context.Background(), selectThread, selectReachable); err != nil {
			return nil, wrap("prepare", err)
		}
	}
	return s, nil
}

// wrap adds the operation to err, never a key or a token, and classifies
// an unreachable database as consent.ErrUnavailable.
func wrap(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case sqldb.IsUnavailable(err):
		return fmt.Errorf("sqlchanstate: %s: %w: %w", op, consent.ErrUnavailable, err)
	}
	return fmt.Errorf("sqlchanstate: %s: %w", op, err)
}

func (s *Store) micros() int64 { return sqldb.Micros(s.now()) }

// micros is t as stored: 0 for the zero time.
func micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return sqldb.Micros(t)
}

// timeOf is the inverse of micros.
func timeOf(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return sqldb.Time(us)
}

// The conversation row's statements. "c" is the row held, "excluded" the
// one offered.
const (
	upsertConversation = `INSERT INTO chanstate_conversations AS c `

	latestSQL = upsertConversation + `(conv_key, last_message, touched) VALUES ($1, $2, $3)
		ON CONFLICT (conv_key) DO UPDATE SET
			last_message = CASE WHEN excluded.last_message > c.last_message THEN excluded.last_message ELSE c.last_message END,
			touched = excluded.touched
		RETURNING last_message`

	setReachableSQL = upsertConversation + `(conv_key, unreachable, reach_at, touched) VALUES ($1, $2, $3, $3)
		ON CONFLICT (conv_key) DO UPDATE SET
			unreachable = excluded.unreachable, reach_at = excluded.reach_at, touched = excluded.touched`

	// A platform's "unreachable" counts unless the shopper wrote since.
	unreachableSQL = upsertConversation + `(conv_key, unreachable, reach_at, touched) VALUES ($1, TRUE, $2, $3)
		ON CONFLICT (conv_key) DO UPDATE SET
			unreachable = TRUE, reach_at = excluded.reach_at, touched = excluded.touched
		WHERE excluded.reach_at >= c.reach_at AND excluded.reach_at >= c.wrote_at`

	// Writing to the Page proves the shopper reachable again.
	wroteSQL = upsertConversation + `(conv_key, wrote_at, touched) VALUES ($1, $2, $3)
		ON CONFLICT (conv_key) DO UPDATE SET
			wrote_at = CASE WHEN excluded.wrote_at > c.wrote_at THEN excluded.wrote_at ELSE c.wrote_at END,
			unreachable = CASE WHEN c.unreachable AND excluded.wrote_at > c.reach_at THEN FALSE ELSE c.unreachable END,
			reach_at = CASE WHEN c.unreachable AND excluded.wrote_at > c.reach_at THEN excluded.wrote_at ELSE c.reach_at END,
			touched = excluded.touched`

	// As messenger.MemThreads: an older sign changes nothing; OtherApp
	// keeps a known owner's id while that owner still holds the thread.
	setOwnerSQL = upsertConversation + `(conv_key, owner, owner_seen, touched) VALUES ($1, $2, $3, $4)
		ON CONFLICT (conv_key) DO UPDATE SET
			owner = CASE WHEN excluded.owner <> $5 OR c.owner = '' OR excluded.owner_seen - c.owner_seen >= $6
				THEN excluded.owner ELSE c.owner END,
			owner_seen = excluded.owner_seen, touched = excluded.touched
		WHERE excluded.owner_seen >= c.owner_seen`

	selectThread    = `SELECT wrote_at, owner, owner_seen FROM chanstate_conversations WHERE conv_key = $1`
	selectReachable = `SELECT unreachable FROM chanstate_conversations WHERE conv_key = $1`
)

// Latest implements telegram.LastMessages.
func (s *Store) Latest(ctx context.Context, chatID int64, messageID int) (int, error) {
	var latest int64
	err := s.db.W.QueryRowContext(ctx, latestSQL, telegram.Key(chatID), int64(messageID), s.micros()).Scan(&latest)
	if err != nil {
		return 0, wrap("latest message", err)
	}
	return int(latest), nil
}

// SetReachable implements telegram.Reachability: the change is recorded as
// of now, replacing what was known.
func (s *Store) SetReachable(ctx context.Context, key string, reachable bool) error {
	if key == "" {
		return errors.New("sqlchanstate: set reachable: empty conversation key")
	}
	now := s.micros()
	_, err := s.db.W.ExecContext(ctx, setReachableSQL, key, !reachable, now)
	return wrap("set reachable", err)
}

// Reachable implements chanstate.Store.
func (s *Store) Reachable(ctx context.Context, key string) (bool, error) {
	var unreachable bool
	err := s.read(ctx, selectReachable, []any{key}, &unreachable)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return true, nil
	case err != nil:
		return false, wrap("reachable", err)
	}
	return !unreachable, nil
}

// Wrote implements messenger.Threads.
func (s *Store) Wrote(ctx context.Context, psid string, at time.Time) error {
	if psid == "" {
		return errors.New("sqlchanstate: wrote: empty psid")
	}
	_, err := s.db.W.ExecContext(ctx, wroteSQL, chanstate.MessengerKey(psid), micros(at), s.micros())
	return wrap("wrote", err)
}

// SetOwner implements messenger.Threads.
func (s *Store) SetOwner(ctx context.Context, psid, app string, at time.Time) error {
	if psid == "" {
		return errors.New("sqlchanstate: set owner: empty psid")
	}
	_, err := s.db.W.ExecContext(ctx, setOwnerSQL, chanstate.MessengerKey(psid), app, micros(at), s.micros(),
		messenger.OtherApp, messenger.OwnerIdle.Microseconds())
	return wrap("set owner", err)
}

// Thread implements messenger.Threads.
func (s *Store) Thread(ctx context.Context, psid string) (messenger.Thread, error) {
	var wrote, seen int64
	var owner string
	err := s.read(ctx, selectThread, []any{chanstate.MessengerKey(psid)}, &wrote, &owner, &seen)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return messenger.Thread{}, nil
	case err != nil:
		return messenger.Thread{}, wrap("thread", err)
	}
	return messenger.Thread{LastWrote: timeOf(wrote), Owner: owner, OwnerSeen: timeOf(seen)}, nil
}

// read runs a one-row query: on Postgres as it is (pgx keeps it prepared
// per connection; one round trip), on SQLite as prepared at New, where
// preparing is a good part of a small read's cost.
func (s *Store) read(ctx context.Context, query string, args []any, dest ...any) error {
	if s.db.Dialect == sqldb.Postgres {
		return s.db.R.QueryRowContext(ctx, query, args...).Scan(dest...)
	}
	return s.db.InReadTx(ctx, func(tx *sql.Tx) error {
		st, err := s.db.ReadStmt(ctx, tx, query)
		if err != nil {
			return err
		}
		return st.QueryRowContext(ctx, args...).Scan(dest...)
	})
}

// optinText are the opt-in's text columns: each takes the value of a
// newer event, or of any event when none is held.
var optinText = []string{"type", "title", "payload", "ref", "timezone", "token_status"}

var upsertOptinSQL = func() string {
	var set strings.Builder
	for _, c := range optinText {
		fmt.Fprintf(&set, "%[1]s = CASE WHEN excluded.%[1]s <> '' AND (excluded.changed >= o.changed OR o.%[1]s = '') THEN excluded.%[1]s ELSE o.%[1]s END,\n", c)
	}
	return `INSERT INTO chanstate_optins AS o (conv_key, token, ` + strings.Join(optinText, ", ") + `,
			token_expiry, status, opted_in, changed)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
		ON CONFLICT (conv_key, token) DO UPDATE SET ` + set.String() + `
			token_expiry = CASE WHEN excluded.token_expiry <> 0 AND (excluded.changed >= o.changed OR o.token_expiry = 0)
				THEN excluded.token_expiry ELSE o.token_expiry END,
			opted_in = CASE WHEN excluded.opted_in > o.opted_in THEN excluded.opted_in ELSE o.opted_in END,
			status = CASE WHEN excluded.changed >= o.changed THEN excluded.status ELSE o.status END,
			changed = CASE WHEN excluded.changed >= o.changed THEN excluded.changed ELSE o.changed END`
}()

// Event implements messenger.EventSink. It keeps opt-ins that carry a
// token (an opt-in or re-opt-in is Active, a stop Stopped, a resume
// Active; the latest event decides) and unreachable shoppers; other
// events, and events without a shopper, are not kept.
func (s *Store) Event(ctx context.Context, e messenger.Event) error {
	if e.PSID == "" || e.ID == "" {
		return nil
	}
	switch {
	case e.Kind == messenger.KindOptin && e.Optin != nil && e.Optin.Token != "":
	case e.Kind == messenger.KindUnreachable:
	default:
		return nil
	}
	key, now := chanstate.MessengerKey(e.PSID), s.micros()
	at := micros(e.At)
	if at == 0 {
		at = now
	}
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO chanstate_events (id, conv_key, at) VALUES ($1, $2, $3)
			ON CONFLICT (id) DO NOTHING`, e.ID, key, now)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return err // recorded before: a redelivery
		}
		if e.Kind == messenger.KindUnreachable {
			_, err := tx.ExecContext(ctx, unreachableSQL, key, at, now)
			return err
		}
		o := e.Optin
		status, optedIn := chanstate.Active, at
		switch o.Status {
		case "stop":
			status, optedIn = chanstate.Stopped, 0
		case "resume":
			optedIn = 0
		}
		_, err = tx.ExecContext(ctx, upsertOptinSQL, key, o.Token, o.Type, o.Title, o.Payload, o.Ref, o.Timezone,
			o.TokenStatus, micros(o.TokenExpiry), string(status), optedIn, at)
		return err
	})
	return wrap("event "+string(e.Kind), err)
}

// Optins implements chanstate.Store.
func (s *Store) Optins(ctx context.Context, key string) ([]chanstate.Optin, error) {
	rows, err := s.db.R.QueryContext(ctx, `SELECT conv_key, token, type, title, payload, ref, timezone, token_status,
		token_expiry, status, opted_in, changed FROM chanstate_optins WHERE conv_key = $1 ORDER BY opted_in, changed, token`, key)
	if err != nil {
		return nil, wrap("optins", err)
	}
	defer rows.Close()
	var out []chanstate.Optin
	for rows.Next() {
		var (
			o                        chanstate.Optin
			status                   string
			expiry, optedIn, changed int64
		)
		if err := rows.Scan(&o.Key, &o.Token, &o.Type, &o.Topic, &o.Payload, &o.Ref, &o.Timezone, &o.TokenStatus,
			&expiry, &status, &optedIn, &changed); err != nil {
			return nil, wrap("optins", err)
		}
		o.Status, o.TokenExpiry, o.OptedIn, o.Changed = chanstate.Status(status), timeOf(expiry), timeOf(optedIn), timeOf(changed)
		out = append(out, o)
	}
	return out, wrap("optins", rows.Err())
}

// Sweep deletes what no longer matters (see the package doc) and returns
// how many rows it deleted.
func (s *Store) Sweep(ctx context.Context) (int, error) {
	now := s.now()
	idle, kept := sqldb.Micros(now.Add(-idleKeep)), sqldb.Micros(now.Add(-s.retention))
	n := 0
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		n = 0
		for _, q := range []struct {
			sql  string
			args []any
		}{
			{`DELETE FROM chanstate_conversations WHERE touched < $1 AND (unreachable = FALSE OR reach_at < $2)`, []any{idle, kept}},
			{`DELETE FROM chanstate_optins WHERE (status = 'stopped' AND changed < $1) OR (token_expiry <> 0 AND token_expiry < $2)`,
				[]any{kept, sqldb.Micros(now)}},
			{`DELETE FROM chanstate_events WHERE at < $1`, []any{sqldb.Micros(now.Add(-eventKeep))}},
		} {
			res, err := tx.ExecContext(ctx, q.sql, q.args...)
			if err != nil {
				return err
			}
			d, err := res.RowsAffected()
			if err != nil {
				return err
			}
			n += int(d)
		}
		return nil
	})
	return n, wrap("sweep", err)
}

// Name implements consent.Holder.
func (s *Store) Name() string { return Name }

// Held implements consent.Holder: "channel state" counts the
// conversations with a row (reachability, latest message, window, thread
// owner), "messenger opt-ins" the opt-ins.
func (s *Store) Held(ctx context.Context, _ string, convs []string) ([]consent.Holding, error) {
	if len(convs) == 0 {
		return nil, nil
	}
	in, args := inList(convs)
	var states, optins int
	err := s.db.InReadTx(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM chanstate_conversations WHERE conv_key IN `+in, args...).Scan(&states); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM chanstate_optins WHERE conv_key IN `+in, args...).Scan(&optins)
	})
	if err != nil {
		return nil, wrap("held", err)
	}
	var out []consent.Holding
	if states > 0 {
		out = append(out, consent.Holding{What: "channel state", Count: states})
	}
	if optins > 0 {
		out = append(out, consent.Holding{What: "messenger opt-ins", Count: optins})
	}
	return out, nil
}

// exportedState is a conversation's row in an export.
type exportedState struct {
	Conversation string `json:"conversation"`
	Channel      string `json:"channel"`
	Reachable    bool   `json:"reachable"`
	// ReachableSince is when reachability last changed, if it did.
	ReachableSince string `json:"reachability_changed,omitempty"`
	LastMessageID  int64  `json:"last_message_id,omitempty"`
	LastWrote      string `json:"last_wrote,omitempty"`
	ThreadOwner    string `json:"thread_owner_app,omitempty"`
	OwnerSeen      string `json:"thread_owner_seen,omitempty"`
}

// exportedOptin is an opt-in in an export. The token, a credential, is
// not in it: only that one is held.
type exportedOptin struct {
	Conversation string `json:"conversation"`
	Type         string `json:"type,omitempty"`
	Topic        string `json:"topic,omitempty"`
	Status       string `json:"status"`
	TokenHeld    bool   `json:"token_held"`
	TokenExpiry  string `json:"token_expiry,omitempty"`
	Timezone     string `json:"timezone,omitempty"`
	OptedIn      string `json:"opted_in,omitempty"`
	Changed      string `json:"changed"`
}

// stamp formats stored microseconds for an export, "" for none.
func stamp(us int64) string {
	if us == 0 {
		return ""
	}
	return sqldb.Time(us).Format(time.RFC3339Nano)
}

// Export implements consent.Holder: an object with "channel_state" and
// "messenger_optins", which the data-rights service keeps under the
// export's "other", or null when nothing is held. Opt-in tokens are not
// exported.
func (s *Store) Export(ctx context.Context, _ string, convs []string) (json.RawMessage, error) {
	if len(convs) == 0 {
		return nil, nil
	}
	in, args := inList(convs)
	out := struct {
		States []exportedState `json:"channel_state"`
		Optins []exportedOptin `json:"messenger_optins"`
	}{States: []exportedState{}, Optins: []exportedOptin{}}
	err := s.db.InReadTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT conv_key, last_message, unreachable, reach_at, wrote_at, owner, owner_seen
			FROM chanstate_conversations WHERE conv_key IN `+in+` ORDER BY conv_key`, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				e                         exportedState
				unreachable               bool
				reachAt, wrote, ownerSeen int64
			)
			if err := rows.Scan(&e.Conversation, &e.LastMessageID, &unreachable, &reachAt, &wrote, &e.ThreadOwner, &ownerSeen); err != nil {
				return err
			}
			e.Channel, _, _ = strings.Cut(e.Conversation, ":")
			e.Reachable, e.ReachableSince, e.LastWrote, e.OwnerSeen = !unreachable, stamp(reachAt), stamp(wrote), stamp(ownerSeen)
			out.States = append(out.States, e)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		orows, err := tx.QueryContext(ctx, `SELECT conv_key, type, title, status, token_expiry, timezone, opted_in, changed
			FROM chanstate_optins WHERE conv_key IN `+in+` ORDER BY conv_key, opted_in, changed`, args...)
		if err != nil {
			return err
		}
		defer orows.Close()
		for orows.Next() {
			var (
				o                        exportedOptin
				expiry, optedIn, changed int64
			)
			if err := orows.Scan(&o.Conversation, &o.Type, &o.Topic, &o.Status, &expiry, &o.Timezone, &optedIn, &changed); err != nil {
				return err
			}
			o.TokenHeld, o.TokenExpiry, o.OptedIn, o.Changed = true, stamp(expiry), stamp(optedIn), stamp(changed)
			out.Optins = append(out.Optins, o)
		}
		return orows.Err()
	})
	if err != nil {
		return nil, wrap("export", err)
	}
	if len(out.States) == 0 && len(out.Optins) == 0 {
		return nil, nil
	}
	b, err := json.Marshal(out)
	return b, wrap("export", err)
}

// Erase implements consent.Holder: it deletes every row of the
// conversations, in every table, in one transaction.
func (s *Store) Erase(ctx context.Context, _ string, convs []string) (consent.StoreReport, error) {
	r := consent.StoreReport{Store: Name}
	if len(convs) == 0 {
		r.Note = "no conversations: nothing to erase"
		return r, nil
	}
	in, args := inList(convs)
	var states, optins, events int64
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		for _, d := range []struct {
			table string
			n     *int64
		}{{"chanstate_conversations", &states}, {"chanstate_optins", &optins}, {"chanstate_events", &events}} {
			res, err := tx.ExecContext(ctx, `DELETE FROM `+d.table+` WHERE conv_key IN `+in, args...)
			if err != nil {
				return err
			}
			if *d.n, err = res.RowsAffected(); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return r, wrap("erase", err)
	}
	r.Erased = int(states + optins + events)
	r.Note = fmt.Sprintf("deleted the channel state of %d conversation(s) (reachability, latest message, window, thread owner), %d Messenger opt-in(s) with their tokens and %d platform event mark(s)",
		states, optins, events)
	return r, nil
}

// inList returns "($1, $2, …)" for keys and the keys as arguments.
func inList(keys []string) (string, []any) {
	var b strings.Builder
	args := make([]any, len(keys))
	b.WriteByte('(')
	for i, k := range keys {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "$%d", i+1)
		args[i] = k
	}
	b.WriteByte(')')
	return b.String(), args
}
