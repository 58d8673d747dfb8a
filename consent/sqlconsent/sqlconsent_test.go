package sqlconsent_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bottega-shop/bottega/consent"
	"github.com/bottega-shop/bottega/consent/consenttest"
	"github.com/bottega-shop/bottega/consent/sqlconsent"
	"github.com/bottega-shop/bottega/internal/sqldb"
	"github.com/bottega-shop/bottega/internal/testserver"
)

func newStore(t testing.TB, db *sqldb.DB) *sqlconsent.Store {
	t.Helper()
	s, err := sqlconsent.New(db)
	if err != nil {
		t.Fatalf("sqlconsent.New(%s) = %v", db.Dialect, err)
	}
	return s
}

// backend wraps a store with back doors that tamper with its rows
// directly through SQL, switching the append-only triggers off first, as
// someone with the database's owner rights could.
func backend(t *testing.T, db *sqldb.DB) consenttest.Backend {
	return consenttest.Backend{
		Store: newStore(t, db),
		Rewrite: func(ctx context.Context, e consent.Event) error {
			return behindTheBack(ctx, db, func(tx *sql.Tx) error {
				_, err := tx.ExecContext(ctx, `UPDATE consent_events SET subject = $2, purpose = $3,
					notice_version = $4, notice_hash = $5, lang = $6, channel = $7, method = $8,
					message_id = $9, action = $10, actor = $11, at = $12, prev_hash = $13,
					digest = $14, hash = $15, linked = $16 WHERE id = $1`,
					e.ID, e.Subject, string(e.Purpose), e.NoticeVersion, e.NoticeHash, e.Lang, e.Channel,
					string(e.Method), e.MessageID, string(e.Action), string(e.Actor), sqldb.Micros(e.At),
					e.PrevHash, e.Digest, e.Hash, e.Linked)
				return err
			})
		},
		Delete: func(ctx context.Context, id int64) error {
			return behindTheBack(ctx, db, func(tx *sql.Tx) error {
				_, err := tx.ExecContext(ctx, `DELETE FROM consent_events WHERE id = $1`, id)
				return err
			})
		},
	}
}

func behindTheBack(ctx context.Context, db *sqldb.DB, fn func(tx *sql.Tx) error) error {
	return db.InTx(ctx, func(tx *sql.Tx) error {
		off := []string{"DROP TRIGGER consent_events_no_update", "DROP TRIGGER consent_events_no_delete"}
		if db.Dialect == sqldb.Postgres {
			off = []string{"ALTER TABLE consent_events DISABLE TRIGGER USER"}
		}
		for _, q := range off {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return err
			}
		}
		if err := fn(tx); err != nil {
			return err
		}
		if db.Dialect == sqldb.Postgres {
			_, err := tx.ExecContext(ctx, "ALTER TABLE consent_events ENABLE TRIGGER USER")
			return err
		}
		return nil
	})
}

func TestStoreSQLite(t *testing.T) {
	consenttest.TestStore(t, func(t *testing.T) consenttest.Backend {
		return backend(t, testserver.SQLiteDB(t, filepath.Join(t.TempDir(), "bottega.db")))
	})
}

func TestStorePostgres(t *testing.T) {
	consenttest.TestStore(t, func(t *testing.T) consenttest.Backend {
		return backend(t, testserver.PostgresDB(t))
	})
}

// TestAppendOnly checks that the database itself refuses to change or
// remove an event, whoever asks.
func TestAppendOnly(t *testing.T) {
	dbs := map[string]func(t *testing.T) *sqldb.DB{
		"sqlite":   func(t *testing.T) *sqldb.DB { return testserver.SQLiteDB(t, filepath.Join(t.TempDir(), "bottega.db")) },
		"postgres": func(t *testing.T) *sqldb.DB { return testserver.PostgresDB(t) },
	}
	for name, open := range dbs {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			db := open(t)
			l := ledger(t, newStore(t, db))
			record(t, l)
			for _, q := range []string{
				"UPDATE consent_events SET action = 'deny'",
				"DELETE FROM consent_events",
			} {
				_, err := db.W.ExecContext(ctx, q)
				if err == nil || !strings.Contains(err.Error(), "append-only") {
					t.Errorf("%s = %v, want the append-only trigger's error", q, err)
				}
			}
			if name == "postgres" {
				if _, err := db.W.ExecContext(ctx, "TRUNCATE consent_events"); err == nil {
					t.Errorf("TRUNCATE consent_events = nil, want the append-only trigger's error")
				}
			}
			if err := l.Verify(ctx); err != nil {
				t.Errorf("Verify() = %v, want nil", err)
			}
		})
	}
}

func ledger(t *testing.T, s consent.Store) *consent.Ledger {
	t.Helper()
	ns, err := consent.NewNotices()
	if err != nil {
		t.Fatal(err)
	}
	return consent.New(s, ns)
}

func record(t *testing.T, l *consent.Ledger) consent.Event {
	t.Helper()
	e, err := l.Record(context.Background(), consent.Event{
		Subject: consent.SubjectID("k", "telegram", "42"), Purpose: consent.Notifications,
		NoticeVersion: 1, Lang: "it", Channel: "telegram", Method: consent.Button, MessageID: "cb-1",
		Action: consent.Grant, Actor: consent.Shopper,
	})
	if err != nil {
		t.Fatalf("Record() = %v", err)
	}
	return e
}

// TestPersists checks that the chain survives a restart and goes on from
// its head.
func TestPersists(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "bottega.db")
	db, err := sqldb.OpenSQLite(path)
	if err != nil {
		t.Fatal(err)
	}
	first := record(t, ledger(t, newStore(t, db)))
	db.Close()

	l := ledger(t, newStore(t, testserver.SQLiteDB(t, path))) // migrations run again, as no-ops
	second := record(t, l)
	if second.ID != first.ID+1 || second.PrevHash != first.Hash {
		t.Errorf("after a restart, Record() = event %d after %.8s…, want event %d after %.8s…", second.ID, second.PrevHash, first.ID+1, first.Hash)
	}
	if err := l.Verify(ctx); err != nil {
		t.Errorf("Verify() = %v", err)
	}
}

// TestUnavailable checks that a closed database reports ErrUnavailable.
func TestUnavailable(t *testing.T) {
	db := testserver.SQLiteDB(t, filepath.Join(t.TempDir(), "bottega.db"))
	l := ledger(t, newStore(t, db))
	db.Close()
	ctx := context.Background()
	if _, err := l.State(ctx, consent.SubjectID("k", "telegram", "42")); !errors.Is(err, consent.ErrUnavailable) {
		t.Errorf("State() on a closed database = %v, want ErrUnavailable", err)
	}
	if err := l.Verify(ctx); !errors.Is(err, consent.ErrUnavailable) {
		t.Errorf("Verify() on a closed database = %v, want ErrUnavailable", err)
	}
}
