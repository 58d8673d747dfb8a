package sqldialogs_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/go-cmp/cmp"

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

// configs are the configurations the contract suites run in: conversations
// under their raw keys, and under pseudonyms.
var configs = []struct {
	name string
	opts []sqldialogs.Option
}{
	{"raw", nil},
	{"pseudonyms", []sqldialogs.Option{sqldialogs.WithPseudonyms([]byte("sqldialogs test secret, 32 bytes or more"))}},
}

// backends open a fresh database of each kind.
var backends = []struct {
	name string
	open func(t *testing.T) *sqldb.DB
}{
	{"sqlite", func(t *testing.T) *sqldb.DB { return testserver.SQLiteDB(t, "") }},
	{"postgres", func(t *testing.T) *sqldb.DB { return testserver.PostgresDB(t) }},
}

// eachConfig runs f for every backend and configuration.
func eachConfig(t *testing.T, f func(t *testing.T, open func(t *testing.T) *sqldb.DB, opts []sqldialogs.Option)) {
	for _, be := range backends {
		for _, cfg := range configs {
			t.Run(be.name+"/"+cfg.name, func(t *testing.T) { f(t, be.open, cfg.opts) })
		}
	}
}

func TestStore(t *testing.T) {
	eachConfig(t, func(t *testing.T, open func(t *testing.T) *sqldb.DB, opts []sqldialogs.Option) {
		bottest.TestStore(t, func(t *testing.T) bot.Store { return newStore(t, open(t), opts...) })
	})
}

type outboxStore = interface {
	bot.Store
	bot.OutboxStore
}

func TestOutboxStore(t *testing.T) {
	eachConfig(t, func(t *testing.T, open func(t *testing.T) *sqldb.DB, opts []sqldialogs.Option) {
		bottest.TestOutboxStore(t, func(t *testing.T) outboxStore { return newStore(t, open(t), opts...) })
	})
}

func TestErasure(t *testing.T) {
	eachConfig(t, func(t *testing.T, open func(t *testing.T) *sqldb.DB, opts []sqldialogs.Option) {
		bottest.TestErasure(t, func(t *testing.T) (bot.Store, bottest.Contents) {
			db := open(t)
			return newStore(t, db, opts...), contents(db)
		})
	})
}

func TestPseudonyms(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			bottest.TestPseudonyms(t, func(t *testing.T, secrets ...[]byte) ([]bot.Store, bottest.Contents) {
				db := be.open(t)
				var stores []bot.Store
				for _, secret := range secrets {
					var opts []sqldialogs.Option
					if secret != nil {
						opts = append(opts, sqldialogs.WithPseudonyms(secret))
					}
					stores = append(stores, newStore(t, db, opts...))
				}
				return stores, contents(db)
			})
		})
	}
}

// TestPseudonymsNeedASecret checks that New refuses pseudonyms without a
// secret, which would make them anyone's to compute.
func TestPseudonymsNeedASecret(t *testing.T) {
	for _, secret := range [][]byte{nil, {}} {
		if s, err := sqldialogs.New(testserver.SQLiteDB(t, ""), sqldialogs.WithPseudonyms(secret)); err == nil {
			s.Close()
			t.Errorf("New(WithPseudonyms(%q)) = nil error, want an error", secret)
		}
	}
}

// contents dumps every row of every table in db.
func contents(db *sqldb.DB) bottest.Contents {
	return func(t *testing.T) []byte {
		t.Helper()
		if tables := testserver.Tables(t, db); len(tables) < 4 {
			t.Fatalf("contents found tables %v, want the dialogs tables", tables)
		}
		return testserver.Dump(t, db)
	}
}

func queryStrings(t *testing.T, db *sqldb.DB, q string) []string {
	t.Helper()
	rows, err := db.R.Query(q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return out
}

// TestUpgrade writes a conversation with the first migration's schema,
// then opens a Store, which migrates: the old rows still read, with no
// sealed bytes and no place in the outbound queue.
func TestUpgrade(t *testing.T) {
	for _, tt := range []struct {
		name string
		open func(t *testing.T) *sqldb.DB
	}{
		{"sqlite", func(t *testing.T) *sqldb.DB { return testserver.SQLiteDB(t, "") }},
		{"postgres", func(t *testing.T) *sqldb.DB { return testserver.PostgresDB(t) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			db := tt.open(t)
			first := "migrations/" + db.Dialect.String() + "/00001_dialogs.sql"
			b, err := os.ReadFile(first)
			if err != nil {
				t.Fatal(err)
			}
			v1 := fstest.MapFS{first[len("migrations/"):]: {Data: b}}
			if err := db.Migrate(ctx, v1, "dialogs"); err != nil {
				t.Fatalf("Migrate(version 1) = %v", err)
			}
			far := sqldb.Micros(time.Now().Add(time.Hour))
			for _, q := range []string{
				`INSERT INTO dialog_conversations (conv_key, state, version, state_until, log_until, last_seq, fence)
					VALUES ('telegram:1', 'old state', 1, ` + fmt.Sprint(far) + `, ` + fmt.Sprint(far) + `, 1, 1)`,
				`INSERT INTO dialog_entries (conv_key, seq, sender, message_id, body, at)
					VALUES ('telegram:1', 1, 'shopper', 'u1', 'written before', 1777888999000000)`,
			} {
				if _, err := db.W.ExecContext(ctx, q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			s := newStore(t, db)
			es, err := s.Entries(ctx, "telegram:1", 0, 10)
			want := []bot.Entry{{Seq: 1, Conversation: "telegram:1", From: bot.FromShopper, MessageID: "u1", Text: "written before", At: sqldb.Time(1777888999000000)}}
			if err != nil || !cmp.Equal(es, want) {
				t.Errorf("Entries of a row written before the upgrade = %+v, %v; want %+v", es, err, want)
			}
			if n, err := s.Backlog(ctx); err != nil || n != 0 {
				t.Errorf("Backlog after the upgrade = %d, %v; want 0", n, err)
			}
			l, err := s.Acquire(ctx, "telegram:1", bot.Claim{MessageID: "u2", Lease: time.Minute, Wait: time.Minute})
			if err != nil || string(l.State) != "old state" || l.Token != 2 {
				t.Fatalf("Acquire after the upgrade = %+v, %v; want the old state and token 2", l, err)
			}
			got, err := s.Commit(ctx, l, bot.Update{MessageID: "u2", State: []byte("new"), Deliver: true,
				Entries:    []bot.Entry{{From: bot.FromShopper, MessageID: "u2", Text: "after", At: time.Now()}},
				SessionTTL: time.Hour, DedupeTTL: time.Hour, LogTTL: time.Hour})
			if err != nil || len(got) != 1 || got[0].Seq != 2 {
				t.Fatalf("Commit after the upgrade = %+v, %v; want Seq 2", got, err)
			}
			ps, err := s.Due(ctx, time.Now(), 10, time.Minute)
			if err != nil || len(ps) != 1 || ps[0].Cursor != 1 || ps[0].Last != 2 {
				t.Errorf("Due after the upgrade = %+v, %v; want telegram:1 from cursor 1 to 2", ps, err)
			}
		})
	}
}

// TestDispatcherSQLite shares one Store among the Dispatchers, as the
// embedded mode runs: one process per database file.
func TestDispatcherSQLite(t *testing.T) {
	for _, cfg := range configs {
		t.Run(cfg.name, func(t *testing.T) {
			bottest.TestDispatcher(t, func(t *testing.T, n int, h bot.Handler, opts ...bot.DispatcherOption) []*bot.Dispatcher {
				s := newStore(t, testserver.SQLiteDB(t, ""), cfg.opts...)
				var ds []*bot.Dispatcher
				for range n {
					ds = append(ds, bot.NewDispatcher(s, h, opts...))
				}
				return ds
			})
		})
	}
}

// TestDispatcherPostgres gives each Dispatcher a connection pool and Store
// of its own on one database, as replicas sharing Postgres have.
func TestDispatcherPostgres(t *testing.T) {
	for _, cfg := range configs {
		t.Run(cfg.name, func(t *testing.T) {
			bottest.TestDispatcher(t, func(t *testing.T, n int, h bot.Handler, opts ...bot.DispatcherOption) []*bot.Dispatcher {
				url := testserver.Postgres(t)
				var ds []*bot.Dispatcher
				for range n {
					ds = append(ds, bot.NewDispatcher(newStore(t, testserver.PostgresDB(t, url), cfg.opts...), h, opts...))
				}
				return ds
			})
		})
	}
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

// TestSweepOutbox checks what Sweep does to the outbound queue: a queued
// conversation whose log expired leaves it (and, with pseudonyms, its raw
// key goes), and dead letters go after 30 days.
func TestSweepOutbox(t *testing.T) {
	for _, cfg := range configs {
		t.Run(cfg.name, func(t *testing.T) { testSweepOutbox(t, cfg.opts...) })
	}
}

func testSweepOutbox(t *testing.T, opts ...sqldialogs.Option) {
	ctx := context.Background()
	db := testserver.SQLiteDB(t, "")
	clk := &clock{t: time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC)}
	s := newStore(t, db, append(opts, sqldialogs.WithNow(clk.now))...)
	d := bot.NewDispatcher(s, trivial, bot.WithDelivery(bot.Telegram),
		bot.WithSessionTTL(time.Hour), bot.WithDedupeTTL(time.Hour), bot.WithLogTTL(3*time.Hour))
	for i, conv := range []string{"a", "b"} {
		if _, err := d.Dispatch(ctx, bot.Message{Channel: bot.Telegram, ID: fmt.Sprint(i), Conversation: conv, Text: "hi", Seq: 1}); err != nil {
			t.Fatal(err)
		}
	}
	ps, err := s.Due(ctx, clk.now(), 10, time.Minute)
	if err != nil || len(ps) != 2 {
		t.Fatalf("Due = %v, %v; want two", ps, err)
	}
	for _, p := range ps {
		o := bot.Outcome{Through: 2, Dead: []bot.DeadLetter{{Seq: 2, Reason: "blocked"}}}
		if p.Key == "telegram:b" {
			o = bot.Outcome{Through: 1, Retry: clk.now().Add(10 * time.Hour)}
		}
		if err := s.Settle(ctx, p, o); err != nil {
			t.Fatalf("Settle(%s) = %v", p.Key, err)
		}
	}
	backlog := func() int {
		t.Helper()
		n, err := s.Backlog(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	sweep := func() {
		t.Helper()
		if err := s.Sweep(ctx); err != nil {
			t.Fatalf("Sweep = %v", err)
		}
	}
	sweep()
	if backlog() != 1 || count(t, db, "dialog_dead_letters") != 1 {
		t.Fatalf("Sweep before any expiry: backlog %d, %d dead letters; want 1 and 1", backlog(), count(t, db, "dialog_dead_letters"))
	}
	clk.add(4 * time.Hour)
	sweep()
	if n := backlog(); n != 0 {
		t.Errorf("backlog after the log of the queued conversation expired = %d, want 0: nothing is left to deliver", n)
	}
	if keys := queryStrings(t, db, `SELECT out_key FROM dialog_conversations WHERE out_key IS NOT NULL`); len(keys) != 0 {
		t.Errorf("out_key after the conversations left the queue = %q, want none", keys)
	}
	if n := count(t, db, "dialog_dead_letters"); n != 1 {
		t.Errorf("%d dead letters after 4 hours, want 1", n)
	}
	clk.add(30 * 24 * time.Hour)
	sweep()
	if n := count(t, db, "dialog_dead_letters"); n != 0 {
		t.Errorf("%d dead letters after 30 days, want 0", n)
	}
	if n := count(t, db, "dialog_conversations"); n != 0 {
		t.Errorf("%d conversation rows after everything expired, want 0", n)
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

// TestPseudonymFormula checks that rows are keyed by the documented
// pseudonym, which redisdialogs shares, and that the raw key and the
// secret's namespace are in the row only while it is queued.
func TestPseudonymFormula(t *testing.T) {
	ctx := context.Background()
	secret := []byte("a secret for the known-answer test")
	const key = "telegram:777000111"
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte("bottega-conv-v1\x00" + key))
	name := base64.RawURLEncoding.EncodeToString(mac.Sum(nil)[:16])
	mac = hmac.New(sha256.New, secret)
	mac.Write([]byte("bottega-queue-v1"))
	ns := base64.RawURLEncoding.EncodeToString(mac.Sum(nil)[:6])

	db := testserver.SQLiteDB(t, "")
	s := newStore(t, db, sqldialogs.WithPseudonyms(secret))
	d := bot.NewDispatcher(s, trivial, bot.WithDelivery(bot.Telegram))
	if _, err := d.Dispatch(ctx, bot.Message{Channel: bot.Telegram, ID: "1", Conversation: "777000111", Text: "ciao"}); err != nil {
		t.Fatal(err)
	}
	row := func() (conv string, outKey *string, outNS string) {
		t.Helper()
		if err := db.R.QueryRow(`SELECT conv_key, out_key, out_ns FROM dialog_conversations`).Scan(&conv, &outKey, &outNS); err != nil {
			t.Fatal(err)
		}
		return conv, outKey, outNS
	}
	if conv, outKey, outNS := row(); conv != name || outKey == nil || *outKey != key || outNS != ns {
		t.Errorf("row while queued: conv_key %q, out_key %v, out_ns %q; want %q, %q, %q", conv, outKey, outNS, name, key, ns)
	}
	if got := queryStrings(t, db, `SELECT DISTINCT conv_key FROM dialog_entries`); len(got) != 1 || got[0] != name {
		t.Errorf("dialog_entries keys = %q, want the pseudonym %q", got, name)
	}
	ps, err := s.Due(ctx, time.Now(), 10, time.Minute)
	if err != nil || len(ps) != 1 || ps[0].Key != key {
		t.Fatalf("Due = %+v, %v; want %q", ps, err, key)
	}
	if err := s.Settle(ctx, ps[0], bot.Outcome{Through: ps[0].Last}); err != nil {
		t.Fatal(err)
	}
	if conv, outKey, outNS := row(); conv != name || outKey != nil || outNS != "" {
		t.Errorf("row once delivered: conv_key %q, out_key %v, out_ns %q; want %q, NULL, \"\"", conv, outKey, outNS, name)
	}
}
