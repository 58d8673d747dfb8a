package sqlconsent_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/bottega-shop/bottega/consent"
	"github.com/bottega-shop/bottega/consent/consenttest"
	"github.com/bottega-shop/bottega/consent/sqlconsent"
	"github.com/bottega-shop/bottega/internal/sqldb"
	"github.com/bottega-shop/bottega/internal/testserver"
)

func newKeyStore(t testing.TB, db *sqldb.DB) *sqlconsent.KeyStore {
	t.Helper()
	s, err := sqlconsent.NewKeyStore(db)
	if err != nil {
		t.Fatalf("sqlconsent.NewKeyStore(%s) = %v", db.Dialect, err)
	}
	return s
}

func TestKeyringSQLite(t *testing.T) {
	consenttest.TestKeyring(t, func(t *testing.T) consent.KeyStore {
		return newKeyStore(t, testserver.SQLiteDB(t, filepath.Join(t.TempDir(), sqlconsent.KeysFile)))
	})
}

func TestKeyringPostgres(t *testing.T) {
	consenttest.TestKeyring(t, func(t *testing.T) consent.KeyStore {
		return newKeyStore(t, testserver.PostgresDB(t))
	})
}

// TestKeysApart checks that the keys have a migration set of their own: a
// keys database holds no ledger tables, and a main database none of the
// keys' tables, so a backup of one never holds the other.
func TestKeysApart(t *testing.T) {
	dir := t.TempDir()
	main := testserver.SQLiteDB(t, filepath.Join(dir, sqldb.SQLiteFile))
	keys := testserver.SQLiteDB(t, filepath.Join(dir, sqlconsent.KeysFile))
	newStore(t, main)
	newKeyStore(t, keys)
	tables := func(db *sqldb.DB) map[string]bool {
		out := map[string]bool{}
		for _, n := range testserver.Tables(t, db) {
			out[n] = true
		}
		return out
	}
	if mt := tables(main); mt["consent_keys"] || mt["consent_key_links"] || !mt["consent_events"] {
		t.Errorf("main database tables = %v, want the ledger's and no keys", mt)
	}
	if kt := tables(keys); !kt["consent_keys"] || kt["consent_events"] || kt["consent_access"] {
		t.Errorf("keys database tables = %v, want the keys' only", kt)
	}
}

// TestDestroyLeavesNoCopy checks that on SQLite a destroyed key is gone
// from the database's files, not only from its tables: secure_delete
// overwrites it and the write-ahead log is truncated.
func TestDestroyLeavesNoCopy(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), sqlconsent.KeysFile)
	store := newKeyStore(t, testserver.SQLiteDB(t, path))
	k, err := consent.NewKeyring(store, []byte("sqlconsent-test-secret-0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	ada := consent.SubjectID("k", "telegram", "ada")
	keep := consent.SubjectID("k", "telegram", "bob")
	for _, s := range []string{ada, keep} {
		if _, err := k.Seal(ctx, s, []byte("x")); err != nil {
			t.Fatal(err)
		}
		if err := k.Link(ctx, s, "telegram:"+s[:6]); err != nil {
			t.Fatal(err)
		}
	}
	wk, err := store.Key(ctx, ada)
	if err != nil {
		t.Fatal(err)
	}
	links, err := store.Links(ctx, ada)
	if err != nil || len(links) != 1 {
		t.Fatalf("Links() = %v, %v", links, err)
	}
	secrets := [][]byte{wk.Wrapped, links[0].Sealed}
	if !filesContain(t, path, secrets[0]) {
		t.Fatalf("the wrapped key is not in the database's files before Destroy: the check below proves nothing")
	}
	if ok, err := k.Destroy(ctx, ada); !ok || err != nil {
		t.Fatalf("Destroy() = %v, %v", ok, err)
	}
	for i, b := range secrets {
		if filesContain(t, path, b) {
			t.Errorf("secret %d (of the wrapped key, the link) is still in the database's files after Destroy", i)
		}
	}
	if _, err := store.Key(ctx, keep); err != nil {
		t.Errorf("Key(another subject) after Destroy = %v", err)
	}
}

// filesContain reports whether the SQLite database at path, its write-ahead
// log or its shared memory file hold b.
func filesContain(t *testing.T, path string, b []byte) bool {
	t.Helper()
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		data, err := os.ReadFile(p)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(data, b) {
			return true
		}
	}
	return false
}
