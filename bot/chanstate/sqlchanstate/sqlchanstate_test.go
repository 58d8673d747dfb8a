package sqlchanstate_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bottega-shop/bottega/bot/chanstate"
	"github.com/bottega-shop/bottega/bot/chanstate/chanstatetest"
	"github.com/bottega-shop/bottega/bot/chanstate/sqlchanstate"
	"github.com/bottega-shop/bottega/bot/messenger"
	"github.com/bottega-shop/bottega/bot/telegram"
	"github.com/bottega-shop/bottega/internal/sqldb"
	"github.com/bottega-shop/bottega/internal/testserver"
)

func newStore(t testing.TB, db *sqldb.DB, opts ...sqlchanstate.Option) *sqlchanstate.Store {
	t.Helper()
	s, err := sqlchanstate.New(db, opts...)
	if err != nil {
		t.Fatalf("sqlchanstate.New(%s) = %v", db.Dialect, err)
	}
	return s
}

// backends opens a fresh database per dialect: SQLite always, Postgres
// when BOTTEGA_TEST_POSTGRES names a server.
var backends = map[string]func(t testing.TB) *sqldb.DB{
	"SQLite":   func(t testing.TB) *sqldb.DB { return testserver.SQLiteDB(t, "") },
	"Postgres": func(t testing.TB) *sqldb.DB { return testserver.PostgresDB(t) },
}

func TestStore(t *testing.T) {
	for name, open := range backends {
		t.Run(name, func(t *testing.T) {
			chanstatetest.TestStore(t, func(t *testing.T, now func() time.Time) (chanstate.Store, chanstatetest.Contents) {
				db := open(t)
				return newStore(t, db, sqlchanstate.WithNow(now)), contents(db)
			})
		})
	}
}

// contents dumps every row of every table in db.
func contents(db *sqldb.DB) chanstatetest.Contents {
	return func(t *testing.T) []byte {
		t.Helper()
		chanstate := 0
		for _, table := range testserver.Tables(t, db) {
			if strings.HasPrefix(table, "chanstate_") {
				chanstate++
			}
		}
		if chanstate != 3 {
			t.Fatalf("contents found tables %v, want the three chanstate tables", testserver.Tables(t, db))
		}
		return testserver.Dump(t, db)
	}
}

// TestReplicas: what one process writes, another on the same database
// reads at once — a window opened by a message one replica took, a block
// seen by another — and a restart keeps it.
func TestReplicas(t *testing.T) {
	ctx := context.Background()
	for name, open := range map[string]func(t *testing.T) (a, b *sqldb.DB){
		"SQLite": func(t *testing.T) (*sqldb.DB, *sqldb.DB) {
			path := filepath.Join(t.TempDir(), sqldb.SQLiteFile)
			return testserver.SQLiteDB(t, path), testserver.SQLiteDB(t, path)
		},
		"Postgres": func(t *testing.T) (*sqldb.DB, *sqldb.DB) {
			url := testserver.Postgres(t)
			return testserver.PostgresDB(t, url), testserver.PostgresDB(t, url)
		},
	} {
		t.Run(name, func(t *testing.T) {
			dbA, dbB := open(t)
			a, b := newStore(t, dbA), newStore(t, dbB)
			now := time.Now().UTC().Truncate(time.Millisecond)
			if err := a.Wrote(ctx, "P1", now); err != nil {
				t.Fatal(err)
			}
			if th, err := b.Thread(ctx, "P1"); err != nil || !th.InWindow(now.Add(time.Second)) {
				t.Errorf("replica B: Thread(P1) = %+v, %v; want the window replica A opened", th, err)
			}
			if err := b.SetReachable(ctx, telegram.Key(9), false); err != nil {
				t.Fatal(err)
			}
			if ok, err := a.Reachable(ctx, telegram.Key(9)); err != nil || ok {
				t.Errorf("replica A: Reachable = %v, %v; want false, as replica B recorded", ok, err)
			}
			if _, err := a.Latest(ctx, 9, 40); err != nil {
				t.Fatal(err)
			}
			if got, err := b.Latest(ctx, 9, 39); err != nil || got != 40 {
				t.Errorf("replica B: Latest(9, 39) = %d, %v; want 40 from replica A", got, err)
			}
			// A restart: a new Store on the same database.
			c := newStore(t, dbA)
			if ok, err := c.Reachable(ctx, telegram.Key(9)); err != nil || ok {
				t.Errorf("after a restart: Reachable = %v, %v; want false", ok, err)
			}
		})
	}
}

// TestSweep: rows idle past the keep times go; an unreachable mark and an
// active opt-in stay for the retention period.
func TestSweep(t *testing.T) {
	ctx := context.Background()
	for name, open := range backends {
		t.Run(name, func(t *testing.T) {
			clock := chanstatetest.NewClock(time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC))
			s := newStore(t, open(t), sqlchanstate.WithNow(clock.Now), sqlchanstate.WithRetention(30*24*time.Hour))
			must := func(err error) {
				t.Helper()
				if err != nil {
					t.Fatal(err)
				}
			}
			_, err := s.Latest(ctx, 1, 5)
			must(err)
			must(s.SetReachable(ctx, telegram.Key(2), false))
			must(s.Wrote(ctx, "P1", clock.Now()))
			optin := func(id, token, status string) messenger.Event {
				return messenger.Event{Kind: messenger.KindOptin, ID: id, PSID: "P2", At: clock.Now(),
					Optin: &messenger.Optin{Type: "notification_messages", Token: token, Status: status}}
			}
			must(s.Event(ctx, optin("fb:optin:P2:1", "T-ACTIVE", "")))
			must(s.Event(ctx, optin("fb:optin:P2:2", "T-STOPPED", "stop")))

			clock.Add(47 * time.Hour)
			if n, err := s.Sweep(ctx); err != nil || n != 0 {
				t.Errorf("Sweep after 47 h = %d, %v; want nothing deleted", n, err)
			}
			clock.Add(2 * time.Hour)
			// The Telegram chat and the Messenger window are over; the
			// block and the opt-ins stay.
			if n, err := s.Sweep(ctx); err != nil || n != 2 {
				t.Errorf("Sweep after 49 h = %d, %v; want 2 rows deleted", n, err)
			}
			if got, err := s.Latest(ctx, 1, 3); err != nil || got != 3 {
				t.Errorf("Latest(1, 3) after the sweep = %d, %v; want 3: the chat was forgotten", got, err)
			}
			if ok, err := s.Reachable(ctx, telegram.Key(2)); err != nil || ok {
				t.Errorf("Reachable after the sweep = %v, %v; want false: a block is kept", ok, err)
			}
			if got, err := s.Optins(ctx, chanstate.MessengerKey("P2")); err != nil || len(got) != 2 {
				t.Errorf("Optins after the sweep = %d, %v; want both", len(got), err)
			}

			clock.Add(30 * 24 * time.Hour)
			// Past the retention: the block, the stopped opt-in, the
			// Telegram chat recorded above and the event marks go.
			if n, err := s.Sweep(ctx); err != nil || n != 5 {
				t.Errorf("Sweep after the retention = %d, %v; want 5 rows deleted", n, err)
			}
			if ok, err := s.Reachable(ctx, telegram.Key(2)); err != nil || !ok {
				t.Errorf("Reachable after the retention = %v, %v; want true: the block was forgotten", ok, err)
			}
			got, err := s.Optins(ctx, chanstate.MessengerKey("P2"))
			if err != nil || len(got) != 1 || got[0].Token != "T-ACTIVE" {
				t.Errorf("Optins after the retention = %+v, %v; want the active one only", got, err)
			}
		})
	}
}

// TestErrors: a closed database gives errors that name the operation and
// nothing of the shopper.
func TestErrors(t *testing.T) {
	ctx := context.Background()
	db := testserver.SQLiteDB(t, "")
	s := newStore(t, db)
	db.Close()
	errs := []error{
		s.Wrote(ctx, "PSID_SECRET", time.Now()),
		s.SetReachable(ctx, "telegram:31337", false),
		s.Event(ctx, messenger.Event{Kind: messenger.KindOptin, ID: "fb:optin:PSID_SECRET:1", PSID: "PSID_SECRET",
			Optin: &messenger.Optin{Token: "TOKEN_SECRET"}}),
	}
	_, err := s.Thread(ctx, "PSID_SECRET")
	errs = append(errs, err)
	_, err = s.Latest(ctx, 31337, 1)
	errs = append(errs, err)
	for _, err := range errs {
		if err == nil || !strings.HasPrefix(err.Error(), "sqlchanstate: ") {
			t.Errorf("on a closed database: %v, want an error starting sqlchanstate:", err)
			continue
		}
		for _, secret := range []string{"PSID_SECRET", "31337", "TOKEN_SECRET"} {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error %q shows %s", err, secret)
			}
		}
	}
	for _, err := range []error{s.Wrote(ctx, "", time.Now()), s.SetOwner(ctx, "", "", time.Now()), s.SetReachable(ctx, "", true)} {
		if err == nil {
			t.Error("an empty shopper id was accepted")
		}
	}
}

// BenchmarkHotPath measures what Messenger does per inbound message
// (Wrote) and per delivery (Thread), and Telegram per message (Latest),
// over 1,000 shoppers.
func BenchmarkHotPath(b *testing.B) {
	ctx := context.Background()
	for name, open := range backends {
		b.Run(name, func(b *testing.B) {
			s := newStore(b, open(b))
			at := time.Now()
			b.Run("Wrote", func(b *testing.B) {
				i := 0
				for b.Loop() {
					if err := s.Wrote(ctx, fmt.Sprintf("P%d", i%1000), at); err != nil {
						b.Fatal(err)
					}
					i++
				}
			})
			b.Run("Thread", func(b *testing.B) {
				i := 0
				for b.Loop() {
					if _, err := s.Thread(ctx, fmt.Sprintf("P%d", i%1000)); err != nil {
						b.Fatal(err)
					}
					i++
				}
			})
			b.Run("Latest", func(b *testing.B) {
				i := 0
				for b.Loop() {
					if _, err := s.Latest(ctx, int64(i%1000+1), i); err != nil {
						b.Fatal(err)
					}
					i++
				}
			})
		})
	}
}
