package sqlconsent_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bottega-shop/bottega/consent"
	"github.com/bottega-shop/bottega/consent/consenttest"
	"github.com/bottega-shop/bottega/consent/sqlconsent"
	"github.com/bottega-shop/bottega/internal/sqldb"
	"github.com/bottega-shop/bottega/internal/testserver"
)

var dbs = map[string]func(t *testing.T) *sqldb.DB{
	"sqlite":   func(t *testing.T) *sqldb.DB { return testserver.SQLiteDB(t, filepath.Join(t.TempDir(), "bottega.db")) },
	"postgres": func(t *testing.T) *sqldb.DB { return testserver.PostgresDB(t) },
}

func newAudit(t *testing.T, db *sqldb.DB, now func() time.Time) *sqlconsent.Audit {
	t.Helper()
	a, err := sqlconsent.NewAudit(db, now)
	if err != nil {
		t.Fatalf("sqlconsent.NewAudit(%s) = %v", db.Dialect, err)
	}
	return a
}

func TestAudit(t *testing.T) {
	for name, open := range dbs {
		t.Run(name, func(t *testing.T) {
			consenttest.TestAudit(t, func(t *testing.T, now func() time.Time) consent.Audit {
				return newAudit(t, open(t), now)
			})
		})
	}
}

func TestTokens(t *testing.T) {
	for name, open := range dbs {
		t.Run(name, func(t *testing.T) {
			consenttest.TestTokenStore(t, func(t *testing.T) consent.TokenStore {
				s, err := sqlconsent.NewTokens(open(t), nil)
				if err != nil {
					t.Fatalf("sqlconsent.NewTokens() = %v", err)
				}
				return s
			})
		})
	}
}

// TestTokensForgetExpired checks that used links are dropped a day after
// they expire, and not before.
func TestTokensForgetExpired(t *testing.T) {
	ctx := context.Background()
	db := testserver.SQLiteDB(t, filepath.Join(t.TempDir(), "bottega.db"))
	now := time.Date(2026, 3, 14, 12, 0, 0, 0, time.UTC)
	s, err := sqlconsent.NewTokens(db, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.UseToken(ctx, "old", now.Add(-25*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UseToken(ctx, "recent", now.Add(-23*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UseToken(ctx, "new", now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]bool{"old": false, "recent": true, "new": true} {
		if used, err := s.TokenUsed(ctx, id); used != want || err != nil {
			t.Errorf("TokenUsed(%s) = %v, %v, want %v", id, used, err, want)
		}
	}
}

// TestAuditAppendOnly checks that the database itself refuses to change or
// remove an access record, whoever asks.
func TestAuditAppendOnly(t *testing.T) {
	for name, open := range dbs {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			db := open(t)
			a := newAudit(t, db, nil)
			rec, err := a.Record(ctx, consent.Access{Actor: "admin", Subject: consent.SubjectID("k", "telegram", "1"), What: "summary", Why: "ticket 1"})
			if err != nil {
				t.Fatal(err)
			}
			stmts := []string{"UPDATE consent_access SET why = 'nothing to see'", "DELETE FROM consent_access"}
			if name == "postgres" {
				stmts = append(stmts, "TRUNCATE consent_access")
			}
			for _, q := range stmts {
				err := db.InTx(ctx, func(tx *sql.Tx) error {
					_, err := tx.ExecContext(ctx, q)
					return err
				})
				if err == nil || !strings.Contains(err.Error(), "append-only") {
					t.Errorf("%s = %v, want the append-only trigger's error", q, err)
				}
			}
			got, err := a.List(ctx, consent.AccessFilter{})
			if err != nil || len(got) != 1 || got[0] != rec {
				t.Errorf("List() after the attempts = %v, %v, want the record unchanged", got, err)
			}
		})
	}
}

func TestLinkCodes(t *testing.T) {
	for name, open := range dbs {
		t.Run(name, func(t *testing.T) {
			consenttest.TestLinkCodeStore(t, func(t *testing.T, now func() time.Time) consent.LinkCodeStore {
				s, err := sqlconsent.NewLinkCodes(open(t), now)
				if err != nil {
					t.Fatalf("sqlconsent.NewLinkCodes() = %v", err)
				}
				return s
			})
		})
	}
}
