// Package sqldb opens Bottega's SQL system of record, Postgres (through pgx)
// or an embedded SQLite file (through modernc.org/sqlite, pure Go), and holds
// the plumbing every domain's SQL store shares: migrations, transactions,
// transaction locks and error classification.
//
// Conventions for domain stores:
//
//   - Write SQL once for both dialects: "$1" placeholders, RETURNING and
//     INSERT … ON CONFLICT work in both. Keep what differs in one place.
//   - Write through DB.W (DB.InTx), read through DB.R.
//   - Store times as BIGINT Unix microseconds in UTC (see Micros and Time):
//     they sort, compare and index alike in both dialects, need no time zone
//     handling, and keep the precision Postgres timestamps have.
//   - Store maps and lists as JSON text, not jsonb, so both dialects read them.
package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// Dialect names the SQL database behind a DB.
type Dialect int

// The dialects Bottega runs on.
const (
	SQLite Dialect = iota + 1
	Postgres
)

// String returns "sqlite" or "postgres".
func (d Dialect) String() string {
	switch d {
	case SQLite:
		return "sqlite"
	case Postgres:
		return "postgres"
	}
	return fmt.Sprintf("Dialect(%d)", int(d))
}

// DB is an open database. W takes writes and transactions, R takes reads.
// On Postgres both are the same pool; on SQLite W has a single connection,
// so writers never race for the file lock, and R has a few read-only ones.
type DB struct {
	W, R    *sql.DB
	Dialect Dialect

	pool *pgxpool.Pool // Postgres only

	stmts sync.Map // query → *sql.Stmt prepared on R, see ReadStmt
}

// SQLiteFile is the name of the embedded database file inside the data folder.
const SQLiteFile = "bottega.db"

// sqliteReaders is the number of read connections to a SQLite file.
const sqliteReaders = 4

// connectTimeout bounds a Postgres connection attempt when the URL sets none.
const connectTimeout = 10 * time.Second

// defaultMaxConns is the Postgres pool size when the URL sets no
// pool_max_conns.
const defaultMaxConns = 16

// Open opens the system of record: Postgres at databaseURL, or, when
// databaseURL is empty, the SQLite file dataDir/bottega.db, creating dataDir
// (mode 0700) if needed. It pings the database before returning.
func Open(ctx context.Context, databaseURL, dataDir string) (*DB, error) {
	if databaseURL != "" {
		return OpenPostgres(ctx, databaseURL)
	}
	if dataDir == "" {
		return nil, errors.New("sqldb: no database url and no data folder")
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("sqldb: create data folder: %w", err)
	}
	return OpenSQLite(filepath.Join(dataDir, SQLiteFile))
}

// OpenSQLite opens (creating if needed) the SQLite database file at path in
// WAL mode with foreign keys on. Deleted content is overwritten
// (secure_delete), so an erased person's rows do not linger in free pages.
func OpenSQLite(path string) (*DB, error) {
	if path == "" || strings.ContainsRune(path, '?') || strings.HasPrefix(path, "file:") || strings.Contains(path, ":memory:") {
		return nil, fmt.Errorf("sqldb: sqlite path %q: want a plain file path", path)
	}
	// journal_mode is a property of the file, set once by the writer.
	// _txlock=immediate takes the write lock at BEGIN, so a transaction never
	// fails half-way on a lock upgrade.
	w, err := sql.Open("sqlite", path+"?_busy_timeout=10000&_foreign_keys=1&_journal_mode=WAL&_synchronous=NORMAL&_txlock=immediate&_pragma=secure_delete(1)")
	if err != nil {
		return nil, fmt.Errorf("sqldb: open sqlite %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	if err := w.Ping(); err != nil {
		w.Close()
		return nil, fmt.Errorf("sqldb: open sqlite %s: %w", path, err)
	}
	r, err := sql.Open("sqlite", path+"?_busy_timeout=10000&_foreign_keys=1&_query_only=1")
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("sqldb: open sqlite %s: %w", path, err)
	}
	r.SetMaxOpenConns(sqliteReaders)
	r.SetMaxIdleConns(sqliteReaders)
	r.SetConnMaxIdleTime(5 * time.Minute)
	if err := r.Ping(); err != nil {
		w.Close()
		r.Close()
		return nil, fmt.Errorf("sqldb: open sqlite %s: %w", path, err)
	}
	return &DB{W: w, R: r, Dialect: SQLite}, nil
}

// OpenPostgres connects to Postgres at url (a postgres:// URL or key=value
// string, with pgxpool's pool_* settings if wanted; the pool holds up to 16
// connections by default) and pings it. Errors name the host, never the
// password.
func OpenPostgres(ctx context.Context, url string) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, parseError(url, err)
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = connectTimeout
	}
	if !strings.Contains(url, "pool_max_conns") {
		// pgx's default, 4 on a small machine, lets transactions queued on
		// a lock (LockTx) take every connection while reads wait.
		cfg.MaxConns = max(cfg.MaxConns, defaultMaxConns)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, parseError(url, err)
	}
	db := stdlib.OpenDBFromPool(pool)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		pool.Close()
		return nil, connectError(cfg.ConnConfig.Host, cfg.ConnConfig.Port, err, cfg.ConnConfig.Password, passwordOf(url))
	}
	return &DB{W: db, R: db, Dialect: Postgres, pool: pool}, nil
}

// Ping reports whether the database answers.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.W.PingContext(ctx); err != nil {
		return fmt.Errorf("sqldb: ping %s: %w", db.Dialect, err)
	}
	if db.R != db.W {
		if err := db.R.PingContext(ctx); err != nil {
			return fmt.Errorf("sqldb: ping %s readers: %w", db.Dialect, err)
		}
	}
	return nil
}

// Close closes every connection.
func (db *DB) Close() error {
	db.stmts.Range(func(k, v any) bool {
		v.(*sql.Stmt).Close()
		db.stmts.Delete(k)
		return true
	})
	err := db.W.Close()
	if db.R != db.W {
		err = errors.Join(err, db.R.Close())
	}
	if db.pool != nil {
		db.pool.Close()
	}
	if err != nil {
		return fmt.Errorf("sqldb: close: %w", err)
	}
	return nil
}

// InTx runs fn in a transaction on W, committing if fn returns nil and
// rolling back otherwise (also if fn panics or ctx ends). fn's error is
// returned as is.
func (db *DB) InTx(ctx context.Context, fn func(*sql.Tx) error) (err error) {
	tx, err := db.W.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqldb: begin: %w", err)
	}
	committed := false
	defer func() {
		if !committed {
			tx.Rollback()
		}
	}()
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqldb: commit: %w", err)
	}
	committed = true
	return nil
}

// Checkpoint moves SQLite's write-ahead log into the database file and
// truncates it, so that deleted rows do not linger in the log file (with
// secure_delete, the database file keeps none either). It waits for
// readers as long as ctx allows. On Postgres it does nothing: deleted rows
// go at VACUUM.
func (db *DB) Checkpoint(ctx context.Context) error {
	if db.Dialect != SQLite {
		return nil
	}
	var busy, logFrames, done int
	if err := db.W.QueryRowContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &logFrames, &done); err != nil {
		return fmt.Errorf("sqldb: checkpoint: %w", err)
	}
	if busy != 0 {
		return errors.New("sqldb: checkpoint: readers kept the log busy")
	}
	return nil
}

// PrepareReads prepares queries on R, once, for ReadStmt. Call it before
// the queries are used, outside any transaction: preparing takes a
// connection of its own.
func (db *DB) PrepareReads(ctx context.Context, queries ...string) error {
	for _, q := range queries {
		if _, ok := db.stmts.Load(q); ok {
			continue
		}
		st, err := db.R.PrepareContext(ctx, q)
		if err != nil {
			return fmt.Errorf("sqldb: prepare: %w", err)
		}
		if _, loaded := db.stmts.LoadOrStore(q, st); loaded {
			st.Close()
		}
	}
	return nil
}

// ReadStmt returns query as a statement of tx, a transaction of InReadTx.
// A query given to PrepareReads is prepared once per connection and reused
// after (on SQLite, preparing is a good part of a small read's cost);
// another is prepared for tx alone. The statement ends with tx.
func (db *DB) ReadStmt(ctx context.Context, tx *sql.Tx, query string) (*sql.Stmt, error) {
	if st, ok := db.stmts.Load(query); ok {
		return tx.StmtContext(ctx, st.(*sql.Stmt)), nil
	}
	return tx.PrepareContext(ctx, query)
}

// Query runs query on R, with the statement PrepareReads prepared for it if
// there is one.
//
// On SQLite a prepared read, once started, runs to its end even if ctx
// ends meanwhile: a cancellable context costs two goroutines per
// statement (database/sql's and the driver's watchers), a cost larger than
// that of the index lookups prepared reads are for, on a local file that
// cannot hang like a network can. An ended ctx still stops it before it
// starts.
func (db *DB) Query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st, ok := db.stmts.Load(query); ok {
		if db.Dialect == SQLite {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			ctx = context.WithoutCancel(ctx)
		}
		return st.(*sql.Stmt).QueryContext(ctx, args...)
	}
	return db.R.QueryContext(ctx, query, args...)
}

// InReadTx runs fn in a read-only transaction on R, so that the queries fn
// makes see one snapshot of the database.
func (db *DB) InReadTx(ctx context.Context, fn func(*sql.Tx) error) error {
	opts := &sql.TxOptions{ReadOnly: true}
	if db.Dialect == Postgres {
		opts.Isolation = sql.LevelRepeatableRead
	}
	tx, err := db.R.BeginTx(ctx, opts)
	if err != nil {
		return fmt.Errorf("sqldb: begin read: %w", err)
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqldb: end read: %w", err)
	}
	return nil
}

// LockTx takes a lock named name for the rest of the transaction tx, so
// transactions that take the same lock run one at a time. On Postgres it is
// a transaction-level advisory lock; on SQLite, where W has one connection
// and every write transaction begins IMMEDIATE, they already do, and LockTx
// does nothing.
func (db *DB) LockTx(ctx context.Context, tx *sql.Tx, name string) error {
	if db.Dialect != Postgres {
		return nil
	}
	if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1)", lockID(name)); err != nil {
		return fmt.Errorf("sqldb: lock %s: %w", name, err)
	}
	return nil
}

func lockID(name string) int64 {
	return int64(crc32.ChecksumIEEE([]byte("bottega:" + name)))
}

var domainRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,40}$`)

// Migrate applies the goose migrations of one domain ("catalog", "consent")
// that are not applied yet. fsys holds a folder per dialect, "postgres" and
// "sqlite", of goose SQL files. Each domain keeps its own version table,
// goose_<domain>, so domains migrate independently. On Postgres a session
// lock per domain keeps concurrent starts from migrating at once.
func (db *DB) Migrate(ctx context.Context, fsys fs.FS, domain string) error {
	if !domainRE.MatchString(domain) {
		return fmt.Errorf("sqldb: migrate: domain %q: want lowercase letters, digits and _", domain)
	}
	sub, err := fs.Sub(fsys, db.Dialect.String())
	if err != nil {
		return fmt.Errorf("sqldb: migrate %s: %w", domain, err)
	}
	opts := []goose.ProviderOption{goose.WithTableName("goose_" + domain)}
	dialect := goose.DialectSQLite3
	if db.Dialect == Postgres {
		dialect = goose.DialectPostgres
		locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(lockID("migrate:"+domain)), lock.WithLockTimeout(1, 300))
		if err != nil {
			return fmt.Errorf("sqldb: migrate %s: %w", domain, err)
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	p, err := goose.NewProvider(dialect, db.W, sub, opts...)
	if err != nil {
		return fmt.Errorf("sqldb: migrate %s: %w", domain, err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("sqldb: migrate %s: %w", domain, err)
	}
	return nil
}

// Micros returns t as Unix microseconds, the way times are stored.
func Micros(t time.Time) int64 {
	return t.UnixMicro()
}

// Time returns the UTC time for stored Unix microseconds.
func Time(us int64) time.Time {
	return time.UnixMicro(us).UTC()
}
