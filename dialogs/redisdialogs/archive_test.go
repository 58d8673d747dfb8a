package redisdialogs_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"

	"github.com/bottega-shop/bottega/bot"
	"github.com/bottega-shop/bottega/bot/bottest"
	"github.com/bottega-shop/bottega/dialogs/redisdialogs"
	"github.com/bottega-shop/bottega/dialogs/sqldialogs"
	"github.com/bottega-shop/bottega/internal/sqldb"
	"github.com/bottega-shop/bottega/internal/testserver"
)

// archiving is a Store with an archive that moves every conversation's
// entries to the archive before each commit (or, with after, after it),
// so that the contract suites read logs partly, or wholly, from the
// archive, and archive while other turns commit.
type archiving struct {
	*redisdialogs.Store
	t     testing.TB
	after bool
}

func (a archiving) Commit(ctx context.Context, l *bot.Lease, u bot.Update) ([]bot.Entry, error) {
	if !a.after {
		archiveAll(a.t, a.Store)
	}
	es, err := a.Store.Commit(ctx, l, u)
	if err == nil && a.after {
		archiveAll(a.t, a.Store)
	}
	return es, err
}

// archiveAll archives every conversation, due or not.
func archiveAll(t testing.TB, s *redisdialogs.Store) int {
	t.Helper()
	total := 0
	for {
		n, err := s.ArchiveDue(context.Background(), time.Now().Add(time.Hour), 100)
		if err != nil {
			t.Errorf("ArchiveDue = %v", err)
			return total
		}
		total += n
		if n < 100 {
			return total
		}
	}
}

// archiveConfigs are the configurations the contract suites run in with
// an archive.
var archiveConfigs = []struct {
	name  string
	after bool
	open  func(t *testing.T) *sqldb.DB
	opts  []redisdialogs.Option
}{
	{"sqlite/before/raw", false, sqliteDB, nil},
	{"sqlite/after/pseudonyms", true, sqliteDB, configs[1].opts},
	{"postgres/before/pseudonyms", false, postgresDB, configs[1].opts},
}

func sqliteDB(t *testing.T) *sqldb.DB   { return testserver.SQLiteDB(t, "") }
func postgresDB(t *testing.T) *sqldb.DB { return testserver.PostgresDB(t) }

// newArchive returns the SQL archive on db.
func newArchive(t testing.TB, db *sqldb.DB) *sqldialogs.Archive {
	t.Helper()
	s, err := sqldialogs.New(db)
	if err != nil {
		t.Fatalf("sqldialogs.New = %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s.Archive()
}

func TestArchiveStore(t *testing.T) {
	for _, cfg := range archiveConfigs {
		t.Run(cfg.name, func(t *testing.T) {
			bottest.TestStore(t, func(t *testing.T) bot.Store {
				opts := append([]redisdialogs.Option{redisdialogs.WithArchive(newArchive(t, cfg.open(t)))}, cfg.opts...)
				return archiving{newStore(t, newClient(t), opts...), t, cfg.after}
			})
		})
	}
}

func TestArchiveOutboxStore(t *testing.T) {
	cfg := archiveConfigs[0]
	bottest.TestOutboxStore(t, func(t *testing.T) interface {
		bot.Store
		bot.OutboxStore
	} {
		opts := append([]redisdialogs.Option{redisdialogs.WithArchive(newArchive(t, cfg.open(t)))}, cfg.opts...)
		return archiving{newStore(t, newClient(t), opts...), t, cfg.after}
	})
}

func TestArchiveErasure(t *testing.T) {
	for _, cfg := range archiveConfigs {
		t.Run(cfg.name, func(t *testing.T) {
			bottest.TestErasure(t, func(t *testing.T) (bot.Store, bottest.Contents) {
				c, db := newClient(t), cfg.open(t)
				opts := append([]redisdialogs.Option{redisdialogs.WithArchive(newArchive(t, db))}, cfg.opts...)
				// Archive after each commit: the erasure finds the entries in SQL.
				return archiving{newStore(t, c, opts...), t, true}, both(contents(c), sqlContents(db))
			})
		})
	}
}

func TestArchivePseudonyms(t *testing.T) {
	bottest.TestPseudonyms(t, func(t *testing.T, secrets ...[]byte) ([]bot.Store, bottest.Contents) {
		c, db := newClient(t), sqliteDB(t)
		a := newArchive(t, db)
		var stores []bot.Store
		for _, secret := range secrets {
			opts := []redisdialogs.Option{redisdialogs.WithArchive(a)}
			if secret != nil {
				opts = append(opts, redisdialogs.WithPseudonyms(secret))
			}
			stores = append(stores, archiving{newStore(t, c, opts...), t, true})
		}
		return stores, both(contents(c), sqlContents(db))
	})
}

// both returns the contents of two backends together.
func both(a, b bottest.Contents) bottest.Contents {
	return func(t *testing.T) []byte { return append(a(t), b(t)...) }
}

// sqlContents dumps the archive's tables.
func sqlContents(db *sqldb.DB) bottest.Contents {
	return func(t *testing.T) []byte {
		t.Helper()
		var b bytes.Buffer
		for _, q := range []string{
			`SELECT conv_key, seq, gen, sender, message_id, body, COALESCE(reply, ''), at, COALESCE(sealed, '') FROM dialog_transcripts`,
			`SELECT conv_key, gen, log_until, '', '', '', '', '', '' FROM dialog_transcript_logs`,
		} {
			rows, err := db.R.Query(q)
			if err != nil {
				t.Fatalf("%s: %v", q, err)
			}
			for rows.Next() {
				var v [9]any
				if err := rows.Scan(&v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8]); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
				for _, x := range v {
					if bs, ok := x.([]byte); ok {
						b.Write(bs)
					} else {
						fmt.Fprint(&b, x)
					}
					b.WriteByte(' ')
				}
				b.WriteByte('\n')
			}
			if err := rows.Err(); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
			rows.Close()
		}
		return b.Bytes()
	}
}

// countArchived returns the rows of the archive's entries table.
func countArchived(t *testing.T, db *sqldb.DB) int {
	t.Helper()
	var n int
	if err := db.R.QueryRow(`SELECT count(*) FROM dialog_transcripts`).Scan(&n); err != nil {
		t.Fatalf("count archived entries: %v", err)
	}
	return n
}

// longConversation is eight turns of a chat like shortConversation's.
func longConversation(conv string) []bot.Message {
	ms := append(shortConversation(conv), shortConversation(conv)...)
	ms = append(ms, shortConversation(conv)[:2]...)
	for i := range ms {
		ms[i].ID, ms[i].Seq = fmt.Sprintf("c-%s-%d", conv, i+1), int64(i+1)
	}
	return ms
}

// TestArchiveIdleSession checks the point of the archive: once a
// conversation of eight turns is archived, Redis holds no log for it (the
// list is gone), the conversation left the archive's set, what it keeps is
// under 2 KB, and Entries still reads the whole log, the same as before.
func TestArchiveIdleSession(t *testing.T) {
	ctx := context.Background()
	c, db := newClient(t), sqliteDB(t)
	s := newStore(t, c, redisdialogs.WithArchive(newArchive(t, db)), configs[1].opts[0])
	d := bot.NewDispatcher(s, shopHandler)
	const conv = "Zk3pQ9xV2mT8rL1aB4cD6e"
	key := bot.WebChat + ":" + conv
	for _, m := range longConversation(conv) {
		if _, err := d.Dispatch(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	before, err := s.Entries(ctx, key, 0, 100)
	if err != nil || len(before) != 16 {
		t.Fatalf("Entries before archiving = %d entries, %v; want 16", len(before), err)
	}
	size := func() (total int64) {
		keys, err := c.Keys(ctx, "*").Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			n, err := c.MemoryUsage(ctx, k).Result()
			if err != nil {
				t.Fatalf("MEMORY USAGE %s: %v", k, err)
			}
			total += n
		}
		return total
	}
	busy := size()
	// Not due yet: nothing moves.
	if n, err := s.ArchiveDue(ctx, time.Now(), 10); err != nil || n != 0 {
		t.Errorf("ArchiveDue before the delay = %d, %v; want 0", n, err)
	}
	if n, err := s.ArchiveDue(ctx, time.Now().Add(redisdialogs.DefaultArchiveDelay+time.Second), 10); err != nil || n != 1 {
		t.Fatalf("ArchiveDue after the delay = %d, %v; want 1", n, err)
	}
	logKey := s.Keys(key)[2]
	if n := c.Exists(ctx, logKey, "bottega:archive:"+configsNamespace()).Val(); n != 0 {
		t.Errorf("after archiving, %d of the log key and the archive's set exist, want neither", n)
	}
	idle := size()
	t.Logf("8-turn session in Redis: %d bytes before archiving, %d after", busy, idle)
	if idle >= 2048 {
		t.Errorf("an archived idle 8-turn session takes %d bytes in Redis, want under 2 KB", idle)
	}
	if got := countArchived(t, db); got != 16 {
		t.Errorf("archived rows = %d, want 16", got)
	}
	after, err := s.Entries(ctx, key, 0, 100)
	if err != nil {
		t.Fatalf("Entries after archiving = %v", err)
	}
	if diff := cmp.Diff(before, after); diff != "" {
		t.Errorf("Entries after archiving differ (-before +after):\n%s", diff)
	}
	// The next turn goes on after the archived log.
	es, err := d.Dispatch(ctx, bot.Message{Channel: bot.WebChat, ID: "next", Conversation: conv, Text: "grazie", Seq: 17})
	if err != nil || len(es) != 2 || es[0].Seq != 17 {
		t.Fatalf("Dispatch after archiving = %v, %v; want Seq 17 and 18", es, err)
	}
	got, err := s.Entries(ctx, key, 14, 100)
	if err != nil || len(got) != 4 || got[0].Seq != 15 || got[3].Seq != 18 {
		t.Errorf("Entries(after 14) across the archive and the tail = %v, %v; want Seq 15 to 18", got, err)
	}
}

// configsNamespace returns the namespace of configs[1]'s secret.
func configsNamespace() string {
	_, ns := pseudonym([]byte("redisdialogs test secret, 32 bytes or more"), "")
	return ns
}

// hookArchive is an Archive that runs hooks before delegating.
type hookArchive struct {
	redisdialogs.Archive
	beforeAppend func()
	failForget   atomic.Int32 // Forget calls still to fail
}

func (h *hookArchive) Append(ctx context.Context, logs ...bot.ArchivedLog) error {
	if f := h.beforeAppend; f != nil {
		h.beforeAppend = nil
		f()
	}
	return h.Archive.Append(ctx, logs...)
}

func (h *hookArchive) Forget(ctx context.Context, name string, gen int64) error {
	if h.failForget.Add(-1) >= 0 {
		return errors.New("archive down")
	}
	return h.Archive.Forget(ctx, name, gen)
}

// archiveFixture is a Store with a hooked archive on SQLite and a
// conversation of two turns already archived and one more in Redis.
type archiveFixture struct {
	c   *redis.Client
	db  *sqldb.DB
	a   *hookArchive
	s   *redisdialogs.Store
	key string
}

func newArchiveFixture(t *testing.T) *archiveFixture {
	f := &archiveFixture{c: newClient(t), db: sqliteDB(t), key: "telegram:4242"}
	f.a = &hookArchive{Archive: newArchive(t, f.db)}
	f.s = newStore(t, f.c, redisdialogs.WithArchive(f.a))
	f.turn(t, "m1")
	f.turn(t, "m2")
	if n := archiveAll(t, f.s); n != 1 {
		t.Fatalf("archived %d conversations, want 1", n)
	}
	f.turn(t, "m3")
	return f
}

// turn commits message id and a reply.
func (f *archiveFixture) turn(t *testing.T, id string) []bot.Entry {
	t.Helper()
	ctx := context.Background()
	l, err := f.s.Acquire(ctx, f.key, bot.Claim{MessageID: id, Lease: time.Minute, Wait: time.Minute})
	if err != nil {
		t.Fatalf("Acquire(%q) = %v", id, err)
	}
	at := time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)
	es, err := f.s.Commit(ctx, l, bot.Update{
		MessageID: id, State: []byte("state " + id), SessionTTL: time.Hour, DedupeTTL: time.Hour, LogTTL: time.Hour,
		Entries: []bot.Entry{
			{From: bot.FromShopper, MessageID: id, Text: "TEXT " + id, At: at},
			{From: bot.FromBot, MessageID: id, Reply: &bot.Reply{Text: "REPLY " + id}, At: at},
		},
	})
	if err != nil {
		t.Fatalf("Commit(%q) = %v", id, err)
	}
	return es
}

func (f *archiveFixture) seqs(t *testing.T) []int64 {
	t.Helper()
	es, err := f.s.Entries(context.Background(), f.key, 0, 100)
	if err != nil {
		t.Fatalf("Entries = %v", err)
	}
	out := []int64{}
	for i, e := range es {
		if want := fmt.Sprintf("TEXT m%d", i/2+1); i%2 == 0 && e.Text != want {
			t.Errorf("entry %d text = %q, want %q", e.Seq, e.Text, want)
		}
		out = append(out, e.Seq)
	}
	return out
}

// TestArchiveForgetRetried checks that when the archive's step of Forget
// fails, Forget says so, nothing archived is read any more, and the next
// ArchiveDue erases the archived entries.
func TestArchiveForgetRetried(t *testing.T) {
	ctx := context.Background()
	f := newArchiveFixture(t)
	f.a.failForget.Store(1)
	if err := f.s.Forget(ctx, f.key); err == nil {
		t.Fatalf("Forget with the archive down = nil error, want one")
	}
	if got := f.seqs(t); len(got) != 0 {
		t.Errorf("Entries after a half-done Forget = %v, want none", got)
	}
	if n := countArchived(t, f.db); n != 4 {
		t.Fatalf("archived rows after the failed step = %d, want the 4 still there", n)
	}
	if n, err := f.s.ArchiveDue(ctx, time.Now(), 10); err != nil || n != 1 {
		t.Fatalf("ArchiveDue after the failed step = %d, %v; want 1", n, err)
	}
	if n := countArchived(t, f.db); n != 0 {
		t.Errorf("archived rows after ArchiveDue retried the erasure = %d, want 0", n)
	}
	// Numbering continues, and the new log is read whole.
	if es := f.turn(t, "m1"); es[0].Seq != 7 {
		t.Errorf("first Seq after Forget = %d, want 7", es[0].Seq)
	}
	archiveAll(t, f.s)
	if got := f.seqs(t); !cmp.Equal(got, []int64{7, 8}) {
		t.Errorf("Entries of the new log = %v, want [7 8]", got)
	}
}

// TestArchiveStaleArchiver checks that an archiver that read a log before
// it was forgotten and writes it to the archive after does not bring it
// back: the archive refuses the old generation.
func TestArchiveStaleArchiver(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		name   string
		forget func(t *testing.T, f *archiveFixture)
	}{
		{"Forget", func(t *testing.T, f *archiveFixture) {
			if err := f.s.Forget(ctx, f.key); err != nil {
				t.Errorf("Forget = %v", err)
			}
		}},
		{"CommitForget", func(t *testing.T, f *archiveFixture) {
			l, err := f.s.Acquire(ctx, f.key, bot.Claim{MessageID: "bye", Lease: time.Minute, Wait: time.Minute})
			if err != nil {
				t.Fatalf("Acquire = %v", err)
			}
			if _, err := f.s.Commit(ctx, l, bot.Update{Forget: true, SessionTTL: time.Hour, DedupeTTL: time.Hour, LogTTL: time.Hour,
				Entries: []bot.Entry{{From: bot.FromBot, Text: "FAREWELL", At: time.Now()}}}); err != nil {
				t.Errorf("Commit with Forget = %v", err)
			}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newArchiveFixture(t)
			f.a.beforeAppend = func() { tt.forget(t, f) }
			if _, err := f.s.ArchiveDue(ctx, time.Now().Add(time.Hour), 10); err != nil {
				t.Fatalf("ArchiveDue = %v", err)
			}
			if b := sqlContents(f.db)(t); bytes.Contains(b, []byte("TEXT m")) || bytes.Contains(b, []byte("REPLY m")) {
				t.Errorf("the archive holds the forgotten conversation after a stale archiver wrote:\n%s", b)
			}
			es, err := f.s.Entries(ctx, f.key, 0, 100)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range es {
				if e.Text != "FAREWELL" {
					t.Errorf("Entries after the erasure hold %+v, want only a farewell", e)
				}
			}
			archiveAll(t, f.s) // the farewell, if any, moves; nothing comes back
			if got, err := f.s.Entries(ctx, f.key, 0, 100); err != nil || len(got) != len(es) {
				t.Errorf("Entries after archiving again = %v, %v; want %d entries", got, err, len(es))
			}
		})
	}
}

// TestArchiveCommitMeanwhile checks that a turn committed while its
// conversation is being archived is neither lost nor trimmed: it stays in
// Redis, the conversation stays due, and the log reads gapless.
func TestArchiveCommitMeanwhile(t *testing.T) {
	ctx := context.Background()
	f := newArchiveFixture(t)
	f.a.beforeAppend = func() { f.turn(t, "m4") }
	if n, err := f.s.ArchiveDue(ctx, time.Now().Add(time.Hour), 10); err != nil || n != 1 {
		t.Fatalf("ArchiveDue = %d, %v; want 1", n, err)
	}
	if got := f.seqs(t); !cmp.Equal(got, []int64{1, 2, 3, 4, 5, 6, 7, 8}) {
		t.Errorf("Entries = %v, want 1 to 8", got)
	}
	if n := f.c.LLen(ctx, f.s.Keys(f.key)[2]).Val(); n != 2 {
		t.Errorf("entries left in Redis = %d, want the 2 committed meanwhile", n)
	}
	if err := f.c.ZScore(ctx, "bottega:archive", f.key).Err(); err != nil {
		t.Errorf("ZSCORE of the conversation in the archive's set = %v, want it still due", err)
	}
	archiveAll(t, f.s)
	if n := f.c.Exists(ctx, f.s.Keys(f.key)[2]).Val(); n != 0 {
		t.Errorf("the log key exists once everything is archived")
	}
	if got := f.seqs(t); !cmp.Equal(got, []int64{1, 2, 3, 4, 5, 6, 7, 8}) {
		t.Errorf("Entries once all archived = %v, want 1 to 8", got)
	}
}

// TestArchiveLogExpires checks that archived entries expire with the log:
// Entries reads none once the log's TTL has passed, and the next commit
// starts a new generation whose archiving deletes the old rows.
func TestArchiveLogExpires(t *testing.T) {
	ctx := context.Background()
	c, db := newClient(t), sqliteDB(t)
	s := newStore(t, c, redisdialogs.WithArchive(newArchive(t, db)))
	const key = "webchat:x"
	commit := func(id string, logTTL time.Duration) {
		t.Helper()
		l, err := s.Acquire(ctx, key, bot.Claim{MessageID: id, Lease: time.Minute, Wait: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Commit(ctx, l, bot.Update{MessageID: id, State: []byte("s"), SessionTTL: time.Hour, DedupeTTL: time.Hour, LogTTL: logTTL,
			Entries: []bot.Entry{{From: bot.FromShopper, Text: id, At: time.Now()}}}); err != nil {
			t.Fatal(err)
		}
	}
	commit("a", 300*time.Millisecond)
	commit("b", 300*time.Millisecond)
	archiveAll(t, s)
	if n := countArchived(t, db); n != 2 {
		t.Fatalf("archived rows = %d, want 2", n)
	}
	time.Sleep(500 * time.Millisecond)
	if es, err := s.Entries(ctx, key, 0, 10); err != nil || len(es) != 0 {
		t.Errorf("Entries after the log TTL = %v, %v; want none", es, err)
	}
	commit("c", time.Hour)
	archiveAll(t, s)
	es, err := s.Entries(ctx, key, 0, 10)
	if err != nil || len(es) != 1 || es[0].Seq != 3 || es[0].Text != "c" {
		t.Errorf("Entries of the new log = %v, %v; want only c, Seq 3", es, err)
	}
	if n := countArchived(t, db); n != 1 {
		t.Errorf("archived rows after a new log was archived = %d, want 1 (the expired ones deleted)", n)
	}
}

// TestArchiveDueNeedsArchive checks ArchiveDue's errors.
func TestArchiveDueNeedsArchive(t *testing.T) {
	s := newStore(t, newClient(t))
	if _, err := s.ArchiveDue(context.Background(), time.Now(), 10); err == nil {
		t.Errorf("ArchiveDue without an archive = nil error, want one")
	}
}
