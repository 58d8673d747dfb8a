package testserver

import (
	"bytes"
	"context"
	"fmt"
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

// Tables lists the tables of db: on SQLite those of sqlite_master, on
// Postgres those of the current schema.
func Tables(tb testing.TB, db *sqldb.DB) []string {
	tb.Helper()
	q := `SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`
	if db.Dialect == sqldb.Postgres {
		q = `SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename`
	}
	rows, err := db.R.Query(q)
	if err != nil {
		tb.Fatalf("list tables: %v", err)
	}
	defer rows.Close()
	var tables []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			tb.Fatalf("list tables: %v", err)
		}
		tables = append(tables, s)
	}
	if err := rows.Err(); err != nil {
		tb.Fatalf("list tables: %v", err)
	}
	return tables
}

// Dump returns every row of every table of db, a line per row:
// "table: value value …", text and blobs as their bytes, other values
// printed. Erasure tests search it for what must be gone.
func Dump(tb testing.TB, db *sqldb.DB) []byte {
	tb.Helper()
	var b bytes.Buffer
	for _, table := range Tables(tb, db) {
		rows, err := db.R.Query(`SELECT * FROM "` + table + `"`)
		if err != nil {
			tb.Fatalf("read table %s: %v", table, err)
		}
		cols, _ := rows.Columns()
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				tb.Fatalf("read table %s: %v", table, err)
			}
			b.WriteString(table + ":")
			for _, v := range vals {
				b.WriteByte(' ')
				if bs, ok := v.([]byte); ok {
					b.Write(bs)
				} else {
					fmt.Fprint(&b, v)
				}
			}
			b.WriteByte('\n')
		}
		if err := rows.Err(); err != nil {
			tb.Fatalf("read table %s: %v", table, err)
		}
		rows.Close()
	}
	return b.Bytes()
}
