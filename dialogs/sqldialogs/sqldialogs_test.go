package sqldialogs_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/bottega-shop/bottega/bot"
	"github.com/bottega-shop/bottega/bot/bottest"
	"github.com/bottega-shop/bottega/dialogs/sqldialogs"
	"github.com/bottega-shop/bottega/internal/sqldb"
	"github.com/bottega-shop/bottega/internal/testserver"
)

func newStore(t testing.TB, db *sqldb.DB, opts ...sqldialogs.Option) *sqldialogs.Store {
	t.Helper()
	s, err := sqldialogs.New(db, opts...)
	if err != nil {
		t.Fatalf("sqldialogs.New(%s) = %v", db.Dialect, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestStoreSQLite(t *testing.T) {
	bottest.TestStore(t, func(t *testing.T) bot.Store { return newStore(t, testserver.SQLiteDB(t, "")) })
}

func TestStorePostgres(t *testing.T) {
	bottest.TestStore(t, func(t *testing.T) bot.Store { return newStore(t, testserver.PostgresDB(t)) })
}

// TestDispatcherSQLite shares one Store among the Dispatchers, as the
// embedded mode runs: one process per database file.
func TestDispatcherSQLite(t *testing.T) {
	bottest.TestDispatcher(t, func(t *testing.T, n int, h bot.Handler, opts ...bot.DispatcherOption) []*bot.Dispatcher {
		s := newStore(t, testserver.SQLiteDB(t, ""))
		var ds []*bot.Dispatcher
		for range n {
			ds = append(ds, bot.NewDispatcher(s, h, opts...))
		}
		return ds
	})
}

// TestDispatcherPostgres gives each Dispatcher a connection pool and Store
// of its own on one database, as replicas sharing Postgres have.
func TestDispatcherPostgres(t *testing.T) {
	bottest.TestDispatcher(t, func(t *testing.T, n int, h bot.Handler, opts ...bot.DispatcherOption) []*bot.Dispatcher {
		url := testserver.Postgres(t)
		var ds []*bot.Dispatcher
		for range n {
			ds = append(ds, bot.NewDispatcher(newStore(t, testserver.PostgresDB(t, url)), h, opts...))
		}
		return ds
	})
}

// clock is a settable time for WithNow.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func count(t *testing.T, db *sqldb.DB, table string) int {
	t.Helper()
	var n int
	if err := db.R.QueryRow("SELECT count(*) FROM " + table).Scan(&n); err != nil {
		t.Fatalf("count %s: %v", table, err)
	}
	return n
}

// TestSweep moves the Store's clock past each expiry and checks what Sweep
// deletes and what it keeps.
func TestSweep(t *testing.T) {
	ctx := context.Background()
	db := testserver.SQLiteDB(t, "")
	clk := &clock{t: time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC)}
	s := newStore(t, db, sqldialogs.WithNow(clk.now))
	d := bot.NewDispatcher(s, bot.HandlerFunc(func(ctx context.Context, state []byte, m bot.Message) ([]byte, []bot.Reply, error) {
		return []byte("st"), []bot.Reply{{Text: "ok"}}, nil
	}), bot.WithSessionTTL(time.Hour), bot.WithDedupeTTL(2*time.Hour), bot.WithLogTTL(3*time.Hour))
	for i, conv := range []string{"a", "b"} {
		m := bot.Message{Channel: bot.Telegram, ID: fmt.Sprint(i), Conversation: conv, Text: "hi", Seq: 1}
		if _, err := d.Dispatch(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	sweep := func() {
		t.Helper()
		if err := s.Sweep(ctx); err != nil {
			t.Fatalf("Sweep = %v", err)
		}
	}
	var states int
	countStates := func() int {
		t.Helper()
		if err := db.R.QueryRow("SELECT count(*) FROM dialog_conversations WHERE state IS NOT NULL").Scan(&states); err != nil {
			t.Fatal(err)
		}
		return states
	}
	sweep()
	if got := count(t, db, "dialog_done"); got != 2 || countStates() != 2 || count(t, db, "dialog_entries") != 4 {
		t.Fatalf("Sweep before any expiry deleted something: %d done marks, %d states", got, states)
	}
	clk.add(61 * time.Minute)
	sweep()
	if countStates() != 0 || count(t, db, "dialog_done") != 2 || count(t, db, "dialog_entries") != 4 {
		t.Errorf("after the session TTL: %d states, %d done, %d entries; want 0, 2, 4", states, count(t, db, "dialog_done"), count(t, db, "dialog_entries"))
	}
	clk.add(time.Hour)
	sweep()
	if got := count(t, db, "dialog_done"); got != 0 {
		t.Errorf("after the dedupe TTL: %d done marks, want 0", got)
	}
	clk.add(time.Hour)
	sweep()
	if got := count(t, db, "dialog_entries"); got != 0 {
		t.Errorf("after the log TTL: %d entries, want 0", got)
	}
	if got := count(t, db, "dialog_conversations"); got != 2 {
		t.Errorf("%d conversation rows a few hours after their last lease, want 2 (kept for fencing)", got)
	}
	clk.add(25 * time.Hour)
	sweep()
	if got := count(t, db, "dialog_conversations"); got != 0 {
		t.Errorf("%d conversation rows after everything expired, want 0", got)
	}
	// The conversation starts over.
	es, err := d.Dispatch(ctx, bot.Message{Channel: bot.Telegram, ID: "0", Conversation: "a", Text: "hi again", Seq: 2})
	if err != nil || len(es) != 2 || es[0].Seq != 1 {
		t.Errorf("Dispatch after the sweep = %v, %v; want Seq 1, 2", es, err)
	}
}

// TestSQLitePersists closes the database file and opens it again: the
// state, the log and the done marks are still there.
func TestSQLitePersists(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), sqldb.SQLiteFile)
	var got [][]byte
	h := bot.HandlerFunc(func(ctx context.Context, state []byte, m bot.Message) ([]byte, []bot.Reply, error) {
		got = append(got, state)
		return append(state, m.ID...), []bot.Reply{{Text: "ok"}}, nil
	})
	m1 := bot.Message{Channel: bot.WebChat, ID: "a", Conversation: "s1", Text: "ciao", Seq: 1}
	m2 := bot.Message{Channel: bot.WebChat, ID: "b", Conversation: "s1", Text: "ancora", Seq: 2}
	for i, m := range []bot.Message{m1, m2} {
		db, err := sqldb.OpenSQLite(path)
		if err != nil {
			t.Fatal(err)
		}
		s, err := sqldialogs.New(db)
		if err != nil {
			t.Fatal(err)
		}
		d := bot.NewDispatcher(s, h)
		if i == 1 {
			if _, err := d.Dispatch(ctx, m1); !errors.Is(err, bot.ErrDuplicate) {
				t.Errorf("redelivery after reopening = %v, want ErrDuplicate", err)
			}
		}
		if _, err := d.Dispatch(ctx, m); err != nil {
			t.Fatal(err)
		}
		es, err := d.Entries(ctx, m.Key(), 0, 0)
		if err != nil || len(es) != 2*(i+1) {
			t.Errorf("Entries after reopening = %v, %v; want %d", es, err, 2*(i+1))
		}
		s.Close()
		db.Close()
	}
	if len(got) != 2 || string(got[1]) != "a" {
		t.Errorf("handler saw states %q, want the second to see %q", got, "a")
	}
}
