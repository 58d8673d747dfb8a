package consent_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/bottega-shop/bottega/consent"
	"github.com/bottega-shop/bottega/consent/sqlconsent"
	"github.com/bottega-shop/bottega/internal/sqldb"
	"github.com/bottega-shop/bottega/internal/testserver"
)

// secretKey stands in for BOTTEGA_SECRET_KEY.
var secretKey = []byte("dsr-test-secret-key-0123456789abcdefghij")

const publicURL = "https://shop.example"

// testClock is a clock that moves only when told.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// rig is the data-rights service on real databases: the ledger, the used
// links and a conversation store (notes) in the main database, the keys in
// a database of their own.
type rig struct {
	main, keysDB *sqldb.DB
	mainPath     string // SQLite only
	ledger       *consent.Ledger
	ledgerStore  *sqlconsent.Store
	keys         *consent.Keyring
	notes        *notes
	codes        *sqlconsent.LinkCodes
	svc          *consent.DataRights
	clk          *testClock
}

// backends opens a main and a keys database: two SQLite files, or two
// Postgres databases when BOTTEGA_TEST_POSTGRES is set.
var backends = map[string]opener{
	"sqlite": func(t *testing.T) (*sqldb.DB, *sqldb.DB, string) {
		dir := t.TempDir()
		p := filepath.Join(dir, sqldb.SQLiteFile)
		return testserver.SQLiteDB(t, p), testserver.SQLiteDB(t, filepath.Join(dir, sqlconsent.KeysFile)), p
	},
	"postgres": func(t *testing.T) (*sqldb.DB, *sqldb.DB, string) {
		return testserver.PostgresDB(t), testserver.PostgresDB(t), ""
	},
}

func newRig(t *testing.T, open opener, extra ...consent.Holder) *rig {
	t.Helper()
	r := &rig{clk: &testClock{t: time.Date(2026, 3, 14, 10, 0, 0, 0, time.UTC)}}
	r.main, r.keysDB, r.mainPath = open(t)
	store, err := sqlconsent.New(r.main)
	if err != nil {
		t.Fatal(err)
	}
	ns, err := consent.NewNotices()
	if err != nil {
		t.Fatal(err)
	}
	r.ledger, r.ledgerStore = consent.New(store, ns, consent.WithNow(r.clk.now)), store
	ks, err := sqlconsent.NewKeyStore(r.keysDB)
	if err != nil {
		t.Fatal(err)
	}
	if r.keys, err = consent.NewKeyring(ks, secretKey, consent.WithKeyringNow(r.clk.now)); err != nil {
		t.Fatal(err)
	}
	r.notes = newNotes(t, r.main, r.keys)
	tokens, err := sqlconsent.NewTokens(r.main, r.clk.now)
	if err != nil {
		t.Fatal(err)
	}
	if r.codes, err = sqlconsent.NewLinkCodes(r.main, r.clk.now); err != nil {
		t.Fatal(err)
	}
	opts := []consent.ServiceOption{
		consent.WithTokenStore(tokens), consent.WithPublicURL(publicURL + "/"),
		consent.WithServiceNow(r.clk.now), consent.WithHolder(r.notes), consent.WithLinkCodeStore(r.codes),
	}
	for _, h := range extra {
		opts = append(opts, consent.WithHolder(h))
	}
	if r.svc, err = consent.NewService(r.ledger, r.keys, secretKey, opts...); err != nil {
		t.Fatal(err)
	}
	return r
}

// person is a shopper on Telegram.
type person struct {
	name, subject, conversation string
}

func telegramUser(name string) person {
	return person{name: name, subject: consent.SubjectID(string(secretKey), "telegram", name), conversation: "telegram:" + name}
}

// chat makes p grant notifications and say each line in their chat.
func (r *rig) chat(t *testing.T, p person, lines ...string) {
	t.Helper()
	ctx := context.Background()
	_, err := r.ledger.Record(ctx, consent.Event{
		Subject: p.subject, Purpose: consent.Notifications, NoticeVersion: 1, Lang: "it",
		Channel: "telegram", Method: consent.Button, MessageID: "cb-" + p.name, Action: consent.Grant, Actor: consent.Shopper,
	})
	if err != nil {
		t.Fatalf("Record(grant) = %v", err)
	}
	for _, l := range lines {
		r.notes.add(t, p.subject, p.conversation, l)
	}
}

// notes is a small conversation store of our own in the main database,
// sealing each line with the subject's key as the dispatcher does, and a
// consent.Holder.
type notes struct {
	db   *sqldb.DB
	keys *consent.Keyring

	mu   sync.Mutex
	fail error // Erase's error, when set
}

func newNotes(t *testing.T, db *sqldb.DB, keys *consent.Keyring) *notes {
	t.Helper()
	blob := "BLOB"
	if db.Dialect == sqldb.Postgres {
		blob = "BYTEA"
	}
	_, err := db.W.Exec(`CREATE TABLE test_notes (conversation TEXT NOT NULL, seq INTEGER NOT NULL, at BIGINT NOT NULL, sealed ` + blob + ` NOT NULL)`)
	if err != nil {
		t.Fatal(err)
	}
	return &notes{db: db, keys: keys}
}

func (n *notes) add(t *testing.T, subject, conversation, text string) {
	t.Helper()
	ctx := context.Background()
	sealed, err := n.keys.Seal(ctx, subject, []byte(text))
	if err != nil {
		t.Fatalf("Seal() = %v", err)
	}
	if err := n.keys.Link(ctx, subject, conversation); err != nil {
		t.Fatalf("Link() = %v", err)
	}
	_, err = n.db.W.Exec(`INSERT INTO test_notes (conversation, seq, at, sealed)
		SELECT $1, COALESCE(MAX(seq), 0) + 1, $2, $3 FROM test_notes WHERE conversation = $1`,
		conversation, time.Date(2026, 3, 14, 10, 0, 0, 0, time.UTC).UnixMicro(), sealed)
	if err != nil {
		t.Fatal(err)
	}
}

func (n *notes) Name() string { return "conversations" }

func in(column string, values []string) (string, []any) {
	if len(values) == 0 {
		return "1 = 0", nil
	}
	var ph []string
	var args []any
	for i, v := range values {
		ph = append(ph, fmt.Sprintf("$%d", i+1))
		args = append(args, v)
	}
	return column + " IN (" + strings.Join(ph, ", ") + ")", args
}

func (n *notes) Held(ctx context.Context, subject string, conversations []string) ([]consent.Holding, error) {
	cond, args := in("conversation", conversations)
	var count int
	if err := n.db.R.QueryRowContext(ctx, `SELECT count(*) FROM test_notes WHERE `+cond, args...).Scan(&count); err != nil {
		return nil, err
	}
	return []consent.Holding{{What: "conversation messages", Count: count}}, nil
}

type exportedMessage struct {
	Seq  int64     `json:"seq"`
	From string    `json:"from"`
	Text string    `json:"text"`
	At   time.Time `json:"at"`
}

type exportedConversation struct {
	Conversation string            `json:"conversation"`
	Channel      string            `json:"channel"`
	Messages     []exportedMessage `json:"messages"`
}

func (n *notes) Export(ctx context.Context, subject string, conversations []string) (json.RawMessage, error) {
	cond, args := in("conversation", conversations)
	rows, err := n.db.R.QueryContext(ctx, `SELECT conversation, seq, at, sealed FROM test_notes WHERE `+cond+` ORDER BY conversation, seq`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []exportedConversation
	for rows.Next() {
		var (
			conv   string
			seq    int64
			at     int64
			sealed []byte
		)
		if err := rows.Scan(&conv, &seq, &at, &sealed); err != nil {
			return nil, err
		}
		// Sealed with the key of the conversation's own identity, which
		// for a linked person is not subject.
		ch, id, _ := strings.Cut(conv, ":")
		plain, err := n.keys.Open(ctx, consent.SubjectID(string(secretKey), ch, id), sealed)
		if errors.Is(err, consent.ErrErased) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if len(out) == 0 || out[len(out)-1].Conversation != conv {
			ch, _, _ := strings.Cut(conv, ":")
			out = append(out, exportedConversation{Conversation: conv, Channel: ch})
		}
		c := &out[len(out)-1]
		c.Messages = append(c.Messages, exportedMessage{Seq: seq, From: "shopper", Text: string(plain), At: time.UnixMicro(at).UTC()})
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if out == nil {
		return nil, nil
	}
	return json.Marshal(map[string]any{"conversations": out, "preferences": map[string]string{"size": "42"}})
}

func (n *notes) Erase(ctx context.Context, subject string, conversations []string) (consent.StoreReport, error) {
	n.mu.Lock()
	fail := n.fail
	n.mu.Unlock()
	if fail != nil {
		return consent.StoreReport{}, fail
	}
	cond, args := in("conversation", conversations)
	res, err := n.db.W.ExecContext(ctx, `DELETE FROM test_notes WHERE `+cond, args...)
	if err != nil {
		return consent.StoreReport{}, err
	}
	count, err := res.RowsAffected()
	return consent.StoreReport{Erased: int(count), Note: "deleted the messages"}, err
}

func (n *notes) failErase(err error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.fail = err
}

// sealedRows reads the sealed lines of conversation from db.
func sealedRows(t *testing.T, db *sql.DB, conversation string) [][]byte {
	t.Helper()
	rows, err := db.Query(`SELECT sealed FROM test_notes WHERE conversation = $1 ORDER BY seq`, conversation)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out [][]byte
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// TestEraseBackupUnreadable is crypto-shredding end to end: a copy of the
// main database taken before an erasure (a backup; the keys live in a
// database of their own, which the copy does not include) cannot be read
// for the erased person afterwards, while the other people in the same
// copy still can.
func TestEraseBackupUnreadable(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, backends["sqlite"])
	ada, bob := telegramUser("ada"), telegramUser("bob")
	r.chat(t, ada, "avete le trail runner nel 42?", "il mio numero è 333 1234567")
	r.chat(t, bob, "bob's message")

	backup := filepath.Join(t.TempDir(), "backup.db")
	if _, err := r.main.W.ExecContext(ctx, `VACUUM INTO '`+backup+`'`); err != nil {
		t.Fatalf("backup: %v", err)
	}
	raw, err := os.ReadFile(backup)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), "333 1234567") || strings.Contains(string(raw), "trail runner") {
		t.Fatalf("the backup holds a message in clear")
	}

	rep, err := r.svc.Erase(ctx, ada.subject, consent.Request{})
	if err != nil || !rep.Complete() {
		t.Fatalf("Erase(ada) = %+v, %v, want a complete report", rep, err)
	}
	if got := sealedRows(t, r.main.R, ada.conversation); len(got) != 0 {
		t.Errorf("the live database still holds %d of ada's lines", len(got))
	}

	copyDB := testserver.SQLiteDB(t, backup)
	adaRows, bobRows := sealedRows(t, copyDB.R, ada.conversation), sealedRows(t, copyDB.R, bob.conversation)
	if len(adaRows) != 2 || len(bobRows) != 1 {
		t.Fatalf("the backup holds %d of ada's and %d of bob's lines, want 2 and 1", len(adaRows), len(bobRows))
	}
	for i, b := range adaRows {
		if got, err := r.keys.Open(ctx, ada.subject, b); !errors.Is(err, consent.ErrErased) {
			t.Errorf("Open(ada's line %d from the backup) = %q, %v, want ErrErased", i, got, err)
		}
	}
	// A freshly started replica (no cache) cannot either.
	ks, err := sqlconsent.NewKeyStore(r.keysDB)
	if err != nil {
		t.Fatal(err)
	}
	fresh, err := consent.NewKeyring(ks, secretKey)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := fresh.Open(ctx, ada.subject, adaRows[0]); !errors.Is(err, consent.ErrErased) {
		t.Errorf("Open(ada's line from the backup) on a fresh replica = %q, %v, want ErrErased", got, err)
	}
	if got, err := fresh.Open(ctx, bob.subject, bobRows[0]); err != nil || string(got) != "bob's message" {
		t.Errorf("Open(bob's line from the backup) = %q, %v, want it readable", got, err)
	}
}

func TestDataRights(t *testing.T) {
	onBackends(t, []backendTest{
		{"Summary", testSummary},
		{"Erase", testErase},
		{"EraseFromChat", testEraseFromChat},
		{"EraseStoreFails", testEraseStoreFails},
		{"Export", testExport},
		{"ExportLink", testExportLink},
	})
}

// opener opens a backend's main and keys databases (see backends).
type opener = func(t *testing.T) (main, keys *sqldb.DB, mainPath string)

// backendTest is one test of DataRights, run on every backend.
type backendTest struct {
	name string
	fn   func(t *testing.T, open opener)
}

// onBackends runs each test on each backend, as backend/test subtests.
func onBackends(t *testing.T, tests []backendTest) {
	for name, open := range backends {
		t.Run(name, func(t *testing.T) {
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) { tt.fn(t, open) })
			}
		})
	}
}

func testSummary(t *testing.T, open opener) {
	ctx := context.Background()
	r := newRig(t, open)
	ada := telegramUser("ada")
	r.chat(t, ada, "uno", "due")
	got, err := r.svc.Summary(ctx, ada.subject)
	if err != nil {
		t.Fatalf("Summary(ada) = %v", err)
	}
	want := []consent.Holding{{What: "consents", Count: 1}, {What: "conversation messages", Count: 2}}
	if diff := cmp.Diff(want, got.Held); diff != "" {
		t.Errorf("Summary(ada).Held (-want +got):\n%s", diff)
	}
	if len(got.Receipts) != 1 || got.Receipts[0].Action != consent.Grant || !got.Consents[consent.Notifications].Granted {
		t.Errorf("Summary(ada) = receipts %v, consents %v, want the notifications grant", got.Receipts, got.Consents)
	}
	nobody := telegramUser("nobody").subject
	if got, err := r.svc.Summary(ctx, nobody); err != nil || len(got.Held) != 0 || len(got.Receipts) != 0 || got.Subject != nobody || got.Consents[consent.Marketing].Granted {
		t.Errorf("Summary(unknown) = %+v, %v, want an empty summary", got, err)
	}
	if _, err := r.svc.Summary(ctx, "telegram:ada"); !errors.Is(err, consent.ErrInvalid) {
		t.Errorf("Summary(not a subject id) = %v, want ErrInvalid", err)
	}
	subjects, err := r.svc.Subjects(ctx, "", 10)
	if err != nil || len(subjects) != 1 || subjects[0].Subject != ada.subject || !slices.Equal(subjects[0].Channels, []string{"telegram"}) {
		t.Errorf("Subjects() = %+v, %v, want ada on telegram", subjects, err)
	}
}

func testErase(t *testing.T, open opener) {
	ctx := context.Background()
	r := newRig(t, open)
	ada, bob := telegramUser("ada"), telegramUser("bob")
	r.chat(t, ada, "uno", "due")
	r.chat(t, bob, "tre")
	r.clk.advance(time.Hour)

	rep, err := r.svc.Erase(ctx, ada.subject, consent.Request{})
	if err != nil {
		t.Fatalf("Erase(ada) = %v", err)
	}
	want := consent.Report{Subject: ada.subject, At: r.clk.now(), Stores: []consent.StoreReport{
		{Store: "ledger", Note: "recorded the erasure as event 3; kept the earlier consent events (1) as pseudonymous proof of consent"},
		{Store: "conversations", Erased: 2, Note: "deleted the messages"},
		{Store: "keys", Erased: 2, Note: "destroyed the person's key and conversation links: what was sealed with the key, in every store and in backups of the main database, can no longer be read"},
	}}
	if diff := cmp.Diff(want, rep); diff != "" {
		t.Errorf("Erase(ada) (-want +got):\n%s", diff)
	}
	state, err := r.ledger.State(ctx, ada.subject)
	if err != nil || state[consent.Notifications].Granted || state[consent.Notifications].Action != consent.Erase {
		t.Errorf("State(ada) after Erase = %v, %v, want every consent ended by the erasure", state, err)
	}
	history, _ := r.ledger.History(ctx, ada.subject)
	if last := history[len(history)-1]; last.Action != consent.Erase || last.Actor != consent.Admin {
		t.Errorf("ledger's last event for ada = %s by %s, want erase by admin", last.Action, last.Actor)
	}
	if err := r.ledger.Verify(ctx); err != nil {
		t.Errorf("Verify() after Erase = %v", err)
	}
	// Nothing is held any more but the ledger's proof.
	if _, err := r.svc.Erase(ctx, ada.subject, consent.Request{}); !errors.Is(err, consent.ErrNotFound) {
		t.Errorf("Erase(ada) again = %v, want ErrNotFound", err)
	}
	if _, _, err := r.svc.ExportLink(ctx, ada.subject); !errors.Is(err, consent.ErrNotFound) {
		t.Errorf("ExportLink(erased ada) = %v, want ErrNotFound", err)
	}
	sum, err := r.svc.Summary(ctx, ada.subject)
	if err != nil || len(sum.Receipts) != 2 || !slices.Equal(sum.Held, []consent.Holding{{What: "consents", Count: 2}}) {
		t.Errorf("Summary(erased ada) = %+v, %v, want only the 2 consent records", sum, err)
	}
	if _, err := r.svc.Erase(ctx, telegramUser("nobody").subject, consent.Request{}); !errors.Is(err, consent.ErrNotFound) {
		t.Errorf("Erase(unknown) = %v, want ErrNotFound", err)
	}
	// Bob is untouched.
	if got, err := r.svc.Summary(ctx, bob.subject); err != nil || len(got.Held) != 2 || got.Held[1].Count != 1 {
		t.Errorf("Summary(bob) after Erase(ada) = %+v, %v, want bob's message and consent", got, err)
	}
}

func testEraseFromChat(t *testing.T, open opener) {
	ctx := context.Background()
	r := newRig(t, open)
	ada := telegramUser("ada")
	r.chat(t, ada, "uno")
	// A conversation the keyring never linked, named by the chat that asks.
	sealed, err := r.keys.Seal(ctx, ada.subject, []byte("unlinked"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.main.W.Exec(`INSERT INTO test_notes (conversation, seq, at, sealed) VALUES ('webchat:s1', 1, 0, $1)`, sealed); err != nil {
		t.Fatal(err)
	}
	rep, err := r.svc.Erase(ctx, ada.subject, consent.Request{Conversation: "webchat:s1", MessageID: "m-forget", Method: consent.Button, Lang: "it"})
	if err != nil || !rep.Complete() || rep.Stores[1].Erased != 2 {
		t.Fatalf("Erase(ada, from webchat:s1) = %+v, %v, want both conversations erased", rep, err)
	}
	history, _ := r.ledger.History(ctx, ada.subject)
	if last := history[len(history)-1]; last.Action != consent.Erase || last.Actor != consent.Shopper || last.Channel != "webchat" ||
		last.MessageID != "m-forget" || last.Method != consent.Button || last.Lang != "it" {
		t.Errorf("ledger's last event = %+v, want erase by the shopper on webchat, with the request's message id, method and language", last)
	}
}

// failingHolder is a store that cannot erase; its error holds personal
// data, which must not reach the report.
type failingHolder struct{}

func (failingHolder) Name() string { return "search index" }
func (failingHolder) Held(context.Context, string, []string) ([]consent.Holding, error) {
	return nil, nil
}
func (failingHolder) Export(context.Context, string, []string) (json.RawMessage, error) {
	return nil, nil
}
func (failingHolder) Erase(_ context.Context, _ string, convs []string) (consent.StoreReport, error) {
	return consent.StoreReport{}, fmt.Errorf("index down while deleting %s: %w", strings.Join(convs, ","), consent.ErrUnavailable)
}

func testEraseStoreFails(t *testing.T, open opener) {
	ctx := context.Background()
	r := newRig(t, open, failingHolder{})
	ada := telegramUser("ada")
	r.chat(t, ada, "uno")
	r.notes.failErase(errors.New("disk full"))
	rows := sealedRows(t, r.main.R, ada.conversation)

	rep, err := r.svc.Erase(ctx, ada.subject, consent.Request{})
	if err != nil {
		t.Fatalf("Erase() = %v", err)
	}
	if rep.Complete() {
		t.Errorf("Erase() with failing stores: Complete() = true, want false")
	}
	var stores []string
	for _, s := range rep.Stores {
		stores = append(stores, s.Store+"="+s.Err)
		if strings.Contains(s.Err, "telegram") || strings.Contains(s.Err, "disk") {
			t.Errorf("report for %s leaks the store's error: %q", s.Store, s.Err)
		}
	}
	want := []string{"ledger=", "conversations=failed; run the erasure again", "search index=backend unavailable; run the erasure again", "keys="}
	if !slices.Equal(stores, want) {
		t.Errorf("Erase() stores = %q, want %q", stores, want)
	}
	// The key is destroyed all the same: what the failing store kept is
	// unreadable.
	if got, err := r.keys.Open(ctx, ada.subject, rows[0]); !errors.Is(err, consent.ErrErased) {
		t.Errorf("Open(a line the failing store kept) = %q, %v, want ErrErased", got, err)
	}
	// The chat can run it again with the conversation it is in.
	r.notes.failErase(nil)
	rep, err = r.svc.Erase(ctx, ada.subject, consent.Request{Conversation: ada.conversation, MessageID: "m-forget", Method: consent.Button, Lang: "it"})
	if err != nil || rep.Stores[1].Erased != 1 || rep.Stores[1].Err != "" {
		t.Errorf("Erase() again = %+v, %v, want the leftover line deleted", rep, err)
	}
}

func testExport(t *testing.T, open opener) {
	ctx := context.Background()
	r := newRig(t, open)
	ada := telegramUser("ada")
	r.chat(t, ada, "avete le trail runner nel 42?", "rosse")
	x, err := r.svc.Export(ctx, ada.subject)
	if err != nil {
		t.Fatalf("Export(ada) = %v", err)
	}
	b, err := json.Marshal(x)
	if err != nil {
		t.Fatal(err)
	}
	validate(t, b)

	var doc struct {
		Format   string
		Profile  consent.ExportProfile
		Consents []struct {
			Purpose  string
			Granted  bool
			Receipts []map[string]any
		}
		Conversations []exportedConversation
		Orders        []any
		Other         map[string]map[string]any
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Format != consent.ExportFormat || doc.Profile.Subject != ada.subject || !slices.Equal(doc.Profile.Channels, []string{"telegram"}) {
		t.Errorf("Export(ada) format %q, profile %+v, want %s for ada on telegram", doc.Format, doc.Profile, consent.ExportFormat)
	}
	if len(doc.Consents) != 3 || doc.Consents[0].Purpose != "notifications" || !doc.Consents[0].Granted || len(doc.Consents[0].Receipts) != 1 {
		t.Fatalf("Export(ada).consents = %+v, want three purposes, notifications granted with one receipt", doc.Consents)
	}
	rc := doc.Consents[0].Receipts[0]
	n, _ := r.ledger.Notices().Find(consent.Notifications, "it", 1)
	for k, want := range map[string]any{"action": "grant", "notice_version": 1.0, "notice_hash": n.Hash(), "lang": "it", "channel": "telegram", "method": "button", "message_id": "cb-ada"} {
		if rc[k] != want {
			t.Errorf("receipt %s = %v, want %v", k, rc[k], want)
		}
	}
	if len(doc.Conversations) != 1 || len(doc.Conversations[0].Messages) != 2 || doc.Conversations[0].Messages[0].Text != "avete le trail runner nel 42?" {
		t.Errorf("Export(ada).conversations = %+v, want the two lines", doc.Conversations)
	}
	if doc.Orders == nil || len(doc.Orders) != 0 {
		t.Errorf("Export(ada).orders = %v, want an empty list", doc.Orders)
	}
	if doc.Other["conversations"]["preferences"] == nil {
		t.Errorf("Export(ada).other = %v, want the store's preferences under its name", doc.Other)
	}
	if _, err := r.svc.Export(ctx, telegramUser("nobody").subject); !errors.Is(err, consent.ErrNotFound) {
		t.Errorf("Export(unknown) = %v, want ErrNotFound", err)
	}
}

func testExportLink(t *testing.T, open opener) {
	ctx := context.Background()
	r := newRig(t, open)
	ada, bob := telegramUser("ada"), telegramUser("bob")
	r.chat(t, ada, "uno")
	r.chat(t, bob, "due")

	link := func(p person) string {
		t.Helper()
		u, exp, err := r.svc.ExportLink(ctx, p.subject)
		if err != nil {
			t.Fatalf("ExportLink() = %v", err)
		}
		if !exp.Equal(r.clk.now().Add(consent.DefaultLinkTTL)) {
			t.Errorf("ExportLink() expires %v, want in %v", exp, consent.DefaultLinkTTL)
		}
		token, ok := strings.CutPrefix(u, publicURL+consent.ExportPath)
		if !ok || token == "" || strings.ContainsAny(token, "/?#+=") {
			t.Fatalf("ExportLink() = %q, want %s%s<token>", u, publicURL, consent.ExportPath)
		}
		if strings.Contains(u, "ada") || strings.Contains(u, "telegram") {
			t.Errorf("ExportLink() = %q names the person", u)
		}
		return token
	}

	token := link(ada)
	x, err := r.svc.Redeem(ctx, token)
	if err != nil || x.Profile.Subject != ada.subject || len(x.Conversations) != 1 {
		t.Fatalf("Redeem() = %+v, %v, want ada's export", x.Profile, err)
	}
	if _, err := r.svc.Redeem(ctx, token); !errors.Is(err, consent.ErrGone) {
		t.Errorf("Redeem(used) = %v, want ErrGone", err)
	}

	expiring := link(ada)
	r.clk.advance(consent.DefaultLinkTTL)
	if _, err := r.svc.Redeem(ctx, expiring); !errors.Is(err, consent.ErrGone) {
		t.Errorf("Redeem(expired) = %v, want ErrGone", err)
	}

	good := link(bob)
	forged := []string{
		"", "nope", strings.Repeat("A", len(good)),
		good[:len(good)-2] + flip(good[len(good)-2:]), // the MAC
		flip(good[:2]) + good[2:],                     // the version and id
		good[:40] + flip(good[40:42]) + good[42:],     // the subject
	}
	other, err := consent.NewService(r.ledger, r.keys, []byte("another-secret-key-0123456789abcdefghij"), consent.WithTokenStore(nopTokens{}))
	if err != nil {
		t.Fatal(err)
	}
	u, _, err := other.ExportLink(ctx, bob.subject)
	if err != nil {
		t.Fatal(err)
	}
	forged = append(forged, u[strings.LastIndex(u, "/")+1:])
	for _, f := range forged {
		if _, err := r.svc.Redeem(ctx, f); !errors.Is(err, consent.ErrNotFound) {
			t.Errorf("Redeem(forged %.12q…) = %v, want ErrNotFound", f, err)
		}
	}
	// Forged attempts did not use bob's link up.
	if _, err := r.svc.Redeem(ctx, good); err != nil {
		t.Errorf("Redeem(bob's link) after forgeries = %v, want the export", err)
	}

	erased := link(bob)
	if _, err := r.svc.Erase(ctx, bob.subject, consent.Request{}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.svc.Redeem(ctx, erased); !errors.Is(err, consent.ErrNotFound) {
		t.Errorf("Redeem(link of a person erased since) = %v, want ErrNotFound", err)
	}
}

// flip changes the characters of a base64url string.
func flip(s string) string {
	b := []byte(s)
	for i := range b {
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
	}
	return string(b)
}

type nopTokens struct{}

func (nopTokens) UseToken(context.Context, string, time.Time) (bool, error) { return true, nil }
func (nopTokens) TokenUsed(context.Context, string) (bool, error)           { return false, nil }

func TestNewServiceChecks(t *testing.T) {
	r := newRig(t, backends["sqlite"])
	tests := []struct {
		name   string
		secret []byte
		opts   []consent.ServiceOption
	}{
		{"short secret", []byte("short"), []consent.ServiceOption{consent.WithTokenStore(nopTokens{})}},
		{"no token store", secretKey, nil},
		{"two holders of one name", secretKey, []consent.ServiceOption{consent.WithTokenStore(nopTokens{}), consent.WithHolder(r.notes), consent.WithHolder(r.notes)}},
		{"a holder named keys", secretKey, []consent.ServiceOption{consent.WithTokenStore(nopTokens{}), consent.WithHolder(named{})}},
	}
	for _, tt := range tests {
		if _, err := consent.NewService(r.ledger, r.keys, tt.secret, tt.opts...); err == nil {
			t.Errorf("NewService(%s) = nil error, want one", tt.name)
		}
	}
}

type named struct{ failingHolder }

func (n named) Name() string { return "keys" }
