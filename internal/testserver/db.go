package testserver

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/bottega-shop/bottega/internal/sqldb"
)

// SQLiteDB opens the SQLite database at path (a fresh file in a temporary
// folder when path is empty), closed when the test ends.
func SQLiteDB(tb testing.TB, path string) *sqldb.DB {
	tb.Helper()
	if path == "" {
		path = filepath.Join(tb.TempDir(), sqldb.SQLiteFile)
	}
	db, err := sqldb.OpenSQLite(path)
	if err != nil {
		tb.Fatalf("OpenSQLite(%q) = %v", path, err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

// PostgresDB opens a fresh database on BOTTEGA_TEST_POSTGRES (see
// Postgres), closed when the test ends. url, if given, names the database
// instead, so several stores can share one.
func PostgresDB(tb testing.TB, url ...string) *sqldb.DB {
	tb.Helper()
	u := ""
	if len(url) > 0 {
		u = url[0]
	} else {
		u = Postgres(tb)
	}
	db, err := sqldb.OpenPostgres(context.Background(), u)
	if err != nil {
		tb.Fatalf("OpenPostgres = %v", err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}
