// Package sqlcatalog is the catalog's system of record on Postgres or SQLite:
// it implements catalog.Store with one set of SQL statements for both
// dialects (the differences live in sql.go).
//
// Every write runs in one transaction that first takes the catalog's write
// lock (sqldb.LockTx), so catalog writes run one at a time on Postgres as
// they do on SQLite's single writer. That keeps stock arithmetic exact under
// concurrency and makes stock event IDs increase in commit order, so a
// reader following StockEvents with an afterID cursor never skips an event
// that commits late.
//
// Stock events: every change of a variant's stock (Create, Replace, Write's
// Put, AdjustStock) writes an event in the same transaction, only when the
// value changes; a new variant counts as a change from 0. An event names
// the product the SKU belonged to at the time. Deleting a variant or a
// product writes no event and keeps the events already written.
//
// Products' CreatedAt is set on creation. UpdatedAt moves when a Create,
// Replace or Put changes the product's fields or its set of variants (SKUs,
// sizes, colours, prices, order); stock changes alone do not move it, they
// are in the stock events. Variants come back in the order they were last
// given in; variants kept by a Put that did not name them keep their place,
// ties going by SKU. Times are stored with microsecond precision.
package sqlcatalog

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/bottega-shop/bottega/catalog"
	"github.com/bottega-shop/bottega/internal/sqldb"
)

//go:embed migrations
var migrations embed.FS

// Page sizes.
const (
	// DefaultListLimit is the page size of List when ListOptions.Limit is 0.
	DefaultListLimit = 100
	// MaxListLimit caps ListOptions.Limit.
	MaxListLimit = 1000
	// DefaultEventsLimit is the number of stock events StockEvents returns
	// when limit is 0.
	DefaultEventsLimit = 100
	// MaxEventsLimit caps StockEvents' limit.
	MaxEventsLimit = 1000
	// walkPage is how many products Walk reads at once.
	walkPage = 200
)

// writeLock names the lock every catalog write transaction takes.
const writeLock = "catalog.write"

// Store is the catalog's system of record. It implements catalog.Store.
type Store struct {
	db  *sqldb.DB
	now func() time.Time
	sql statements
}

var _ catalog.Store = (*Store)(nil)

// Option configures a Store.
type Option func(*Store)

// WithNow sets the clock used for CreatedAt, UpdatedAt and stock event times.
func WithNow(now func() time.Time) Option {
	return func(s *Store) { s.now = now }
}

// New returns a Store on db, first applying the catalog's migrations.
// The caller keeps ownership of db and closes it.
func New(db *sqldb.DB, opts ...Option) (*Store, error) {
	s := &Store{db: db, now: time.Now, sql: newStatements(db.Dialect)}
	for _, o := range opts {
		o(s)
	}
	if err := db.Migrate(context.Background(), migrationsFS(), "catalog"); err != nil {
		return nil, s.wrap("migrate", err)
	}
	// The reads every stock answer makes.
	if err := db.PrepareReads(context.Background(), s.sql.productByHandle, s.sql.productsByHandle); err != nil {
		return nil, s.wrap("prepare", err)
	}
	return s, nil
}

// migrationsFS holds a folder of migrations per dialect.
func migrationsFS() fs.FS {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		panic("sqlcatalog: embedded migrations: " + err.Error()) // a constant, valid path
	}
	return sub
}

// Ping reports whether the database answers.
func (s *Store) Ping(ctx context.Context) error {
	return s.wrap("ping", s.db.Ping(ctx))
}

// wrap adds context to err and classifies database errors as
// catalog.ErrUnavailable or catalog.ErrConflict. Errors already classified
// (catalog sentinels, validation errors) pass through unchanged.
func (s *Store) wrap(op string, err error) error {
	var verr *catalog.ValidationError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, catalog.ErrNotFound), errors.Is(err, catalog.ErrConflict),
		errors.Is(err, catalog.ErrUnavailable), errors.As(err, &verr):
		return err
	case sqldb.IsUnavailable(err):
		return fmt.Errorf("sqlcatalog: %s: %w: %w", op, catalog.ErrUnavailable, err)
	case sqldb.IsUniqueViolation(err):
		return fmt.Errorf("sqlcatalog: %s: %w: %w", op, catalog.ErrConflict, err)
	}
	return fmt.Errorf("sqlcatalog: %s: %w", op, err)
}

// txn is one write transaction.
type txn struct {
	s      *Store
	tx     *sql.Tx
	now    int64 // sqldb.Micros
	source string
	// stmts caches prepared statements by query when the transaction runs
	// many statements (Write); nil means run each query directly.
	stmts map[string]*sql.Stmt
}

// write runs fn in a write transaction holding the catalog's write lock.
// prepare asks for statements to be prepared once and reused.
func (s *Store) write(ctx context.Context, source string, prepare bool, fn func(t *txn) error) error {
	return s.db.InTx(ctx, func(tx *sql.Tx) error {
		if err := s.db.LockTx(ctx, tx, writeLock); err != nil {
			return err
		}
		t := &txn{s: s, tx: tx, now: sqldb.Micros(s.now()), source: source}
		if prepare {
			if s.sql.bulkSetup != "" {
				if _, err := tx.ExecContext(ctx, s.sql.bulkSetup); err != nil {
					return err
				}
			}
			t.stmts = make(map[string]*sql.Stmt)
			defer t.closeStmts()
		}
		return fn(t)
	})
}

func (t *txn) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if st, ok := t.stmts[query]; ok {
		return st, nil
	}
	st, err := t.tx.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	t.stmts[query] = st
	return st, nil
}

func (t *txn) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if t.stmts == nil {
		return t.tx.ExecContext(ctx, query, args...)
	}
	st, err := t.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}

func (t *txn) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if t.stmts == nil {
		return t.tx.QueryContext(ctx, query, args...)
	}
	st, err := t.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

func (t *txn) closeStmts() {
	for _, st := range t.stmts {
		st.Close()
	}
}
