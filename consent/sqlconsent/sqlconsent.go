// Package sqlconsent keeps the consent ledger on Postgres or SQLite: it
// implements consent.Store with one set of SQL statements for both
// dialects.
//
// Events go in one table that has no update or delete path: the Store has
// no such method, and triggers refuse UPDATE, DELETE (and on Postgres
// TRUNCATE) from anyone. A one-row head table holds the end of the chain.
// Every append runs in one transaction that first takes the ledger's write
// lock (sqldb.LockTx: an advisory lock on Postgres, the single writer on
// SQLite), then reads the head, inserts the sealed event and moves the
// head, so concurrent appends, also from several replicas, never fork the
// chain.
//
// The main database also holds the access audit (Audit), the used export
// links (Tokens) and the pending link codes that link a messaging app to a
// signed-in shop customer (LinkCodes, a MAC of each code, never the code).
// The keys, the conversation links and the identities linking channel
// identities to persons live in a database of their own (KeyStore).
package sqlconsent

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"

	"github.com/bottega-shop/bottega/consent"
	"github.com/bottega-shop/bottega/internal/sqldb"
)

//go:embed migrations
var migrations embed.FS

// Page sizes of Events.
const (
	// DefaultEventsLimit is the number of events Events returns when
	// limit is 0 or less.
	DefaultEventsLimit = 100
	// MaxEventsLimit caps Events' limit.
	MaxEventsLimit = 1000
)

// writeLock names the lock every append takes.
const writeLock = "consent.append"

// Store is the consent ledger's store. It implements consent.Store.
type Store struct {
	db *sqldb.DB
}

var _ consent.Store = (*Store)(nil)

// New returns a Store on db, first applying the consent migrations. The
// caller keeps ownership of db and closes it.
func New(db *sqldb.DB) (*Store, error) {
	s := &Store{db: db}
	if err := db.Migrate(context.Background(), migrationsFS(), "consent"); err != nil {
		return nil, s.wrap("migrate", err)
	}
	if err := db.PrepareReads(context.Background(), subjectEvents); err != nil {
		return nil, s.wrap("prepare", err)
	}
	return s, nil
}

// migrationsFS holds a folder of migrations per dialect.
func migrationsFS() fs.FS {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		panic("sqlconsent: embedded migrations: " + err.Error()) // a constant, valid path
	}
	return sub
}

// Ping reports whether the database answers.
func (s *Store) Ping(ctx context.Context) error {
	return s.wrap("ping", s.db.Ping(ctx))
}

// wrap adds context to err (see the package function wrap).
func (s *Store) wrap(op string, err error) error { return wrap(op, err) }

const eventColumns = `id, subject, purpose, notice_version, notice_hash, lang, channel, method,
	message_id, action, actor, at, prev_hash, digest, hash, linked`

// Append adds one event at the end of the chain; see consent.Store.
func (s *Store) Append(ctx context.Context, seal func(head consent.Head) (consent.Event, error)) (consent.Event, error) {
	var out consent.Event
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		if err := s.db.LockTx(ctx, tx, writeLock); err != nil {
			return err
		}
		head, err := readHead(ctx, tx)
		if err != nil {
			return err
		}
		e, err := seal(head)
		if err != nil {
			return err
		}
		if e.ID != head.ID+1 || e.PrevHash != head.Hash {
			return fmt.Errorf("sqlconsent: append: event %d does not follow the head, event %d: %w", e.ID, head.ID, consent.ErrInvalid)
		}
		at := sqldb.Micros(e.At)
		_, err = tx.ExecContext(ctx, `INSERT INTO consent_events (`+eventColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`,
			e.ID, e.Subject, string(e.Purpose), e.NoticeVersion, e.NoticeHash, e.Lang, e.Channel,
			string(e.Method), e.MessageID, string(e.Action), string(e.Actor), at, e.PrevHash, e.Digest, e.Hash, e.Linked)
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE consent_head SET id = $1, hash = $2, at = $3
			WHERE one = 1 AND id = $4`, e.ID, e.Hash, at, head.ID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n != 1 {
			return fmt.Errorf("sqlconsent: append: the head moved under the lock")
		}
		e.At = sqldb.Time(at)
		out = e
		return nil
	})
	if err != nil {
		return consent.Event{}, s.wrap("append", err)
	}
	return out, nil
}

type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func readHead(ctx context.Context, q queryer) (consent.Head, error) {
	var (
		h  consent.Head
		at int64
	)
	err := q.QueryRowContext(ctx, `SELECT id, hash, at FROM consent_head WHERE one = 1`).Scan(&h.ID, &h.Hash, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return consent.Head{}, fmt.Errorf("sqlconsent: the head row is missing: %w", consent.ErrTampered)
	}
	if err != nil {
		return consent.Head{}, err
	}
	if h.ID > 0 {
		h.At = sqldb.Time(at)
	}
	return h, nil
}

// Head returns the end of the chain.
func (s *Store) Head(ctx context.Context) (consent.Head, error) {
	h, err := readHead(ctx, s.db.R)
	return h, s.wrap("head", err)
}

// Events returns up to limit events with IDs above afterID, in ID order.
// limit defaults to DefaultEventsLimit and is capped at MaxEventsLimit.
func (s *Store) Events(ctx context.Context, afterID int64, limit int) ([]consent.Event, error) {
	if limit <= 0 {
		limit = DefaultEventsLimit
	}
	limit = min(limit, MaxEventsLimit)
	events, err := s.query(ctx, `SELECT `+eventColumns+` FROM consent_events
		WHERE id > $1 ORDER BY id LIMIT $2`, afterID, limit)
	return events, s.wrap("events", err)
}

// SubjectEvents returns every event of the subjects, in ID order.
func (s *Store) SubjectEvents(ctx context.Context, subjects ...string) ([]consent.Event, error) {
	switch len(subjects) {
	case 0:
		return nil, nil
	case 1:
		events, err := s.query(ctx, subjectEvents, subjects[0])
		return events, s.wrap("subject events", err)
	}
	ph := make([]string, len(subjects))
	args := make([]any, len(subjects))
	for i, subj := range subjects {
		ph[i], args[i] = "$"+strconv.Itoa(i+1), subj
	}
	events, err := s.query(ctx, `SELECT `+eventColumns+` FROM consent_events
		WHERE subject IN (`+strings.Join(ph, ", ")+`) ORDER BY id`, args...)
	return events, s.wrap("subject events", err)
}

// subjectEvents is the read a chat turn makes to know the shopper's
// consent; New prepares it once.
const subjectEvents = `SELECT ` + eventColumns + ` FROM consent_events WHERE subject = $1 ORDER BY id`

func (s *Store) query(ctx context.Context, query string, args ...any) ([]consent.Event, error) {
	rows, err := s.db.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var events []consent.Event
	for rows.Next() {
		var (
			e                              consent.Event
			purpose, method, action, actor string
			at                             int64
		)
		err := rows.Scan(&e.ID, &e.Subject, &purpose, &e.NoticeVersion, &e.NoticeHash, &e.Lang, &e.Channel,
			&method, &e.MessageID, &action, &actor, &at, &e.PrevHash, &e.Digest, &e.Hash, &e.Linked)
		if err != nil {
			return nil, err
		}
		e.Purpose, e.Method, e.Action, e.Actor = consent.Purpose(purpose), consent.Method(method), consent.Action(action), consent.Actor(actor)
		e.At = sqldb.Time(at)
		events = append(events, e)
	}
	return events, rows.Err()
}
