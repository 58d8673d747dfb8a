package sqldb_test

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/bottega-shop/bottega/internal/sqldb"
	"github.com/bottega-shop/bottega/internal/testserver"
)

func TestOpenPostgresBadURL(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const password = "s3cr3t-Pa55"
	tests := []struct {
		name, url string
		want      string // the whole error text, or "" to check only for the password
		down      bool   // IsUnavailable must hold
	}{
		{
			name: "url, nothing listening",
			url:  "postgres://app:" + password + "@127.0.0.1:1/bottega?sslmode=disable",
			want: "sqldb: cannot reach 127.0.0.1:1: connection refused",
			down: true,
		},
		{
			name: "key=value, nothing listening",
			url:  "host=127.0.0.1 port=1 user=app password=" + password + " sslmode=disable connect_timeout=5",
			want: "sqldb: cannot reach 127.0.0.1:1: connection refused",
			down: true,
		},
		{
			name: "bad port",
			url:  "postgres://app:" + password + "@127.0.0.1:notaport/bottega",
		},
		{
			name: "bad sslmode",
			url:  "postgres://app:" + password + "@127.0.0.1:5432/bottega?sslmode=sometimes",
		},
		{
			name: "unparsable key=value",
			url:  "host=127.0.0.1 password='" + password,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db, err := sqldb.OpenPostgres(ctx, tt.url)
			if err == nil {
				db.Close()
				t.Fatalf("OpenPostgres(%q) = nil error, want one", tt.name)
			}
			t.Logf("OpenPostgres(%s) = %v", tt.name, err)
			if tt.want != "" && err.Error() != tt.want {
				t.Errorf("OpenPostgres(%s) = %q, want %q", tt.name, err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "sqldb: ") {
				t.Errorf("OpenPostgres(%s) = %q, want it to start with %q", tt.name, err, "sqldb: ")
			}
			for e := err; e != nil; e = errors.Unwrap(e) {
				if strings.Contains(e.Error(), password) {
					t.Errorf("OpenPostgres(%s) error %q holds the password", tt.name, e)
				}
			}
			if got := sqldb.IsUnavailable(err); got != tt.down {
				t.Errorf("IsUnavailable(%q) = %v, want %v", err, got, tt.down)
			}
		})
	}
}

func TestOpenPostgresWrongDatabase(t *testing.T) {
	url := testserver.Postgres(t)
	i := strings.LastIndex(url, "/")
	bad := url[:i] + "/no_such_database_here"
	_, err := sqldb.OpenPostgres(context.Background(), bad)
	t.Logf("OpenPostgres(wrong database) = %v", err)
	if err == nil || !strings.Contains(err.Error(), "no_such_database_here") || !strings.Contains(err.Error(), "3D000") {
		t.Errorf("OpenPostgres(wrong database) = %v, want an error naming the database and SQLSTATE 3D000", err)
	}
}

func TestOpenSQLite(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	db, err := sqldb.Open(context.Background(), "", dir)
	if err != nil {
		t.Fatalf("Open(%q, %q) = %v", "", dir, err)
	}
	defer db.Close()
	if db.Dialect != sqldb.SQLite {
		t.Errorf("Open(\"\", dir).Dialect = %v, want %v", db.Dialect, sqldb.SQLite)
	}
	fi, err := os.Stat(dir)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("data folder: %v, %v; want mode 0700", fi.Mode(), err)
	}
	if _, err := os.Stat(filepath.Join(dir, sqldb.SQLiteFile)); err != nil {
		t.Errorf("database file: %v", err)
	}
	ctx := context.Background()
	var mode string
	if err := db.W.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode = %q, %v; want wal", mode, err)
	}
	var fk int
	if err := db.R.QueryRowContext(ctx, "PRAGMA foreign_keys").Scan(&fk); err != nil || fk != 1 {
		t.Errorf("foreign_keys on a reader = %d, %v; want 1", fk, err)
	}
	if _, err := db.W.ExecContext(ctx, "CREATE TABLE t (x INTEGER)"); err != nil {
		t.Fatalf("create table: %v", err)
	}
	if _, err := db.R.ExecContext(ctx, "INSERT INTO t VALUES (1)"); err == nil {
		t.Errorf("a write through R succeeded, want readers to be read-only")
	}
	if err := db.Ping(ctx); err != nil {
		t.Errorf("Ping() = %v", err)
	}
	for _, bad := range []string{"", "file:x.db", "x.db?mode=ro", ":memory:"} {
		if db, err := sqldb.OpenSQLite(bad); err == nil {
			db.Close()
			t.Errorf("OpenSQLite(%q) = nil error, want one", bad)
		}
	}
}

// migrations are two versions of a domain's schema for both dialects.
var migrations = fstest.MapFS{
	"sqlite/00001_a.sql":   {Data: []byte("-- +goose Up\nCREATE TABLE items (name TEXT PRIMARY KEY);\n-- +goose Down\nDROP TABLE items;\n")},
	"sqlite/00002_b.sql":   {Data: []byte("-- +goose Up\nALTER TABLE items ADD COLUMN n INTEGER NOT NULL DEFAULT 0;\n")},
	"postgres/00001_a.sql": {Data: []byte("-- +goose Up\nCREATE TABLE items (name TEXT PRIMARY KEY);\n-- +goose Down\nDROP TABLE items;\n")},
	"postgres/00002_b.sql": {Data: []byte("-- +goose Up\nALTER TABLE items ADD COLUMN n INTEGER NOT NULL DEFAULT 0;\n")},
}

var otherMigrations = fstest.MapFS{
	"sqlite/00001_x.sql":   {Data: []byte("-- +goose Up\nCREATE TABLE others (id INTEGER PRIMARY KEY);\n")},
	"postgres/00001_x.sql": {Data: []byte("-- +goose Up\nCREATE TABLE others (id INTEGER PRIMARY KEY);\n")},
}

func forEachDialect(t *testing.T, fn func(t *testing.T, db *sqldb.DB)) {
	t.Run("sqlite", func(t *testing.T) {
		db, err := sqldb.OpenSQLite(filepath.Join(t.TempDir(), "test.db"))
		if err != nil {
			t.Fatalf("OpenSQLite = %v", err)
		}
		t.Cleanup(func() { db.Close() })
		fn(t, db)
	})
	t.Run("postgres", func(t *testing.T) {
		db, err := sqldb.OpenPostgres(context.Background(), testserver.Postgres(t))
		if err != nil {
			t.Fatalf("OpenPostgres = %v", err)
		}
		t.Cleanup(func() { db.Close() })
		fn(t, db)
	})
}

func TestMigrate(t *testing.T) {
	forEachDialect(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		// Concurrent starts migrate once.
		var wg sync.WaitGroup
		errs := make([]error, 3)
		for i := range errs {
			wg.Go(func() { errs[i] = db.Migrate(ctx, migrations, "items") })
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("Migrate #%d = %v", i, err)
			}
		}
		if err := db.Migrate(ctx, otherMigrations, "others"); err != nil {
			t.Fatalf("Migrate(others) = %v", err)
		}
		if _, err := db.W.ExecContext(ctx, "INSERT INTO items (name, n) VALUES ('a', 1)"); err != nil {
			t.Errorf("insert into migrated table: %v", err)
		}
		if _, err := db.W.ExecContext(ctx, "INSERT INTO others (id) VALUES (1)"); err != nil {
			t.Errorf("insert into migrated table: %v", err)
		}
		for table, want := range map[string]int{"goose_items": 2, "goose_others": 1} {
			var v int
			if err := db.R.QueryRowContext(ctx, "SELECT MAX(version_id) FROM "+table).Scan(&v); err != nil || v != want {
				t.Errorf("version in %s = %d, %v; want %d", table, v, err, want)
			}
		}
		if err := db.Migrate(ctx, migrations, "Bad-Name"); err == nil {
			t.Errorf("Migrate(domain %q) = nil, want an error", "Bad-Name")
		}
	})
}

func TestInTx(t *testing.T) {
	forEachDialect(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		if err := db.Migrate(ctx, migrations, "items"); err != nil {
			t.Fatalf("Migrate = %v", err)
		}
		count := func() int {
			t.Helper()
			var n int
			if err := db.R.QueryRowContext(ctx, "SELECT COUNT(*) FROM items").Scan(&n); err != nil {
				t.Fatalf("count: %v", err)
			}
			return n
		}
		boom := errors.New("boom")
		err := db.InTx(ctx, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, "INSERT INTO items (name) VALUES ($1)", "a"); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) || count() != 0 {
			t.Errorf("InTx(fn failing) = %v with %d rows, want boom with 0 rows", err, count())
		}
		func() {
			defer func() { recover() }()
			db.InTx(ctx, func(tx *sql.Tx) error {
				tx.ExecContext(ctx, "INSERT INTO items (name) VALUES ($1)", "p")
				panic("fn panics")
			})
		}()
		if n := count(); n != 0 {
			t.Errorf("after fn panicked, %d rows, want 0", n)
		}
		err = db.InTx(ctx, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, "INSERT INTO items (name) VALUES ($1)", "a")
			return err
		})
		if err != nil || count() != 1 {
			t.Errorf("InTx = %v with %d rows, want nil with 1 row", err, count())
		}
		err = db.InTx(ctx, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, "INSERT INTO items (name) VALUES ($1)", "a")
			return err
		})
		if !sqldb.IsUniqueViolation(err) {
			t.Errorf("IsUniqueViolation(%v) = false, want true", err)
		}
		if sqldb.IsUnavailable(err) {
			t.Errorf("IsUnavailable(%v) = true, want false", err)
		}
	})
}

// TestLockTx checks that transactions holding the same lock run one at a
// time: each reads a counter and writes it back plus one.
func TestLockTx(t *testing.T) {
	forEachDialect(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		if err := db.Migrate(ctx, migrations, "items"); err != nil {
			t.Fatalf("Migrate = %v", err)
		}
		if _, err := db.W.ExecContext(ctx, "INSERT INTO items (name, n) VALUES ('counter', 0)"); err != nil {
			t.Fatal(err)
		}
		const workers, each = 8, 10
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				for range each {
					err := db.InTx(ctx, func(tx *sql.Tx) error {
						if err := db.LockTx(ctx, tx, "counter"); err != nil {
							return err
						}
						var n int
						if err := tx.QueryRowContext(ctx, "SELECT n FROM items WHERE name = 'counter'").Scan(&n); err != nil {
							return err
						}
						_, err := tx.ExecContext(ctx, "UPDATE items SET n = $1 WHERE name = 'counter'", n+1)
						return err
					})
					if err != nil {
						t.Errorf("InTx = %v", err)
					}
				}
			})
		}
		wg.Wait()
		var n int
		if err := db.R.QueryRowContext(ctx, "SELECT n FROM items WHERE name = 'counter'").Scan(&n); err != nil || n != workers*each {
			t.Errorf("counter = %d, %v; want %d", n, err, workers*each)
		}
	})
}

func TestUnavailableAfterClose(t *testing.T) {
	forEachDialect(t, func(t *testing.T, db *sqldb.DB) {
		db.Close()
		err := db.Ping(context.Background())
		if !sqldb.IsUnavailable(err) {
			t.Errorf("IsUnavailable(Ping after Close = %v) = false, want true", err)
		}
	})
}

func TestTimes(t *testing.T) {
	in := time.Date(2026, 5, 1, 12, 30, 0, 123456789, time.FixedZone("CEST", 2*3600))
	got := sqldb.Time(sqldb.Micros(in))
	if want := in.Truncate(time.Microsecond).UTC(); !got.Equal(want) || got.Location() != time.UTC {
		t.Errorf("Time(Micros(%v)) = %v, want %v", in, got, want)
	}
}
