package consent_test

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/bottega-shop/bottega/consent"
	"github.com/bottega-shop/bottega/consent/consenttest"
)

var update = flag.Bool("update", false, "add the hashes of new notice versions to testdata/notices.sha256")

// memStore is a consent.Store in memory: it checks the contract suite
// itself, and the ledger without a database.
type memStore struct {
	mu     sync.Mutex
	events []consent.Event
}

func (m *memStore) head() consent.Head {
	if len(m.events) == 0 {
		return consent.Head{}
	}
	e := m.events[len(m.events)-1]
	return consent.Head{ID: e.ID, Hash: e.Hash, At: e.At}
}

func (m *memStore) Append(ctx context.Context, seal func(consent.Head) (consent.Event, error)) (consent.Event, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	h := m.head()
	e, err := seal(h)
	if err != nil {
		return consent.Event{}, err
	}
	if e.ID != h.ID+1 || e.PrevHash != h.Hash {
		return consent.Event{}, fmt.Errorf("memstore: event %d does not follow %d: %w", e.ID, h.ID, consent.ErrInvalid)
	}
	m.events = append(m.events, e)
	return e, nil
}

func (m *memStore) Head(ctx context.Context) (consent.Head, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.head(), nil
}

func (m *memStore) Events(ctx context.Context, afterID int64, limit int) ([]consent.Event, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if limit <= 0 {
		limit = 100
	}
	var out []consent.Event
	for _, e := range m.events {
		if e.ID > afterID && len(out) < limit {
			out = append(out, e)
		}
	}
	return out, nil
}

func (m *memStore) SubjectEvents(ctx context.Context, subjects ...string) ([]consent.Event, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []consent.Event
	for _, e := range m.events {
		if slices.Contains(subjects, e.Subject) {
			out = append(out, e)
		}
	}
	return out, nil
}

// The head is the last event here, so "last event deleted" cannot be told
// from a shorter chain: memStore has Rewrite but not Delete.
func TestStoreMemory(t *testing.T) {
	consenttest.TestStore(t, func(t *testing.T) consenttest.Backend {
		m := &memStore{}
		return consenttest.Backend{
			Store: m,
			Rewrite: func(ctx context.Context, e consent.Event) error {
				m.mu.Lock()
				defer m.mu.Unlock()
				m.events[e.ID-1] = e
				return nil
			},
		}
	})
}

func TestSubjectID(t *testing.T) {
	base := consent.SubjectID("secret", "telegram", "12345")
	if len(base) != 64 || strings.Trim(base, "0123456789abcdef") != "" {
		t.Fatalf("SubjectID() = %q, want 64 lowercase hex digits", base)
	}
	if again := consent.SubjectID("secret", "telegram", "12345"); again != base {
		t.Errorf("SubjectID() = %q then %q, want the same id", base, again)
	}
	if strings.Contains(base, "12345") {
		t.Errorf("SubjectID() = %q holds the user id in clear", base)
	}
	others := []struct{ secret, channel, user string }{
		{"other", "telegram", "12345"},
		{"secret", "messenger", "12345"},
		{"secret", "telegram", "12346"},
		{"secret", "telegra", "m12345"}, // the boundary between channel and user counts
	}
	for _, o := range others {
		if got := consent.SubjectID(o.secret, o.channel, o.user); got == base {
			t.Errorf("SubjectID(%q, %q, %q) = SubjectID(%q, %q, %q)", o.secret, o.channel, o.user, "secret", "telegram", "12345")
		}
	}
}

func TestEmbeddedNotices(t *testing.T) {
	ns, err := consent.NewNotices()
	if err != nil {
		t.Fatalf("NewNotices() = %v", err)
	}
	for _, p := range consent.Purposes() {
		for _, lang := range []string{"it", "en"} {
			n := ns.Current(p, lang)
			if n.Version < 1 || n.Lang != lang || n.Purpose != p {
				t.Errorf("Current(%s, %s) = %v, want a notice of its own", p, lang, n)
			}
			if n.Text == "" || len(n.Text) > 400 || strings.ContainsAny(n.Text, "*_#`\r") {
				t.Errorf("Current(%s, %s).Text = %q, want short plain text", p, lang, n.Text)
			}
		}
	}

	// A published version's text never changes: its hash is on record.
	sums := readSums(t)
	var added []string
	for _, n := range ns.All() {
		want, ok := sums[n.String()]
		switch {
		case !ok && *update:
			added = append(added, n.Hash()+"  "+n.String())
		case !ok:
			t.Errorf("notice %s has no recorded hash; run go test -update to record it", n)
		case want != n.Hash():
			t.Errorf("notice %s hash = %s, recorded %s: a published notice changed; restore it and add a new version", n, n.Hash(), want)
		}
	}
	if len(added) > 0 {
		f, err := os.OpenFile("testdata/notices.sha256", os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		for _, line := range added {
			fmt.Fprintln(f, line)
		}
	}
}

func readSums(t *testing.T) map[string]string {
	t.Helper()
	sums := make(map[string]string)
	f, err := os.Open("testdata/notices.sha256")
	if errors.Is(err, os.ErrNotExist) {
		return sums
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if hash, name, ok := strings.Cut(sc.Text(), "  "); ok {
			sums[name] = hash
		}
	}
	return sums
}

func TestNoticesExtra(t *testing.T) {
	base, err := consent.NewNotices()
	if err != nil {
		t.Fatal(err)
	}
	next := base.Current(consent.Marketing, "it").Version + 1
	shop := fstest.MapFS{
		fmt.Sprintf("marketing.it.v%d.md", next): {Data: []byte("\r\nNuovo testo.\r\nSeconda riga.\r\n\r\n")},
		"notifications.de.v1.md":                 {Data: []byte("Dürfen wir Ihnen schreiben?")},
		"README.md":                              {Data: []byte("not a notice")},
		"marketing.it.v1.md.bak":                 {Data: []byte("not a notice either")},
	}
	ns, err := consent.NewNotices(shop)
	if err != nil {
		t.Fatalf("NewNotices(shop) = %v", err)
	}
	tests := []struct {
		purpose        consent.Purpose
		lang           string
		wantLang       string
		wantVersion    int
		wantTextPrefix string
	}{
		{consent.Marketing, "it", "it", next, "Nuovo testo.\nSeconda riga."},
		{consent.Marketing, "en", "en", base.Current(consent.Marketing, "en").Version, "May we"},
		{consent.Notifications, "de", "de", 1, "Dürfen"},
		{consent.Notifications, "de-AT", "de", 1, "Dürfen"},
		{consent.Notifications, "it-CH", "it", 1, "Possiamo"},
		{consent.Notifications, "fr", "en", 1, "May we"},
	}
	for _, tt := range tests {
		n := ns.Current(tt.purpose, tt.lang)
		if n.Lang != tt.wantLang || n.Version != tt.wantVersion || !strings.HasPrefix(n.Text, tt.wantTextPrefix) {
			t.Errorf("Current(%s, %s) = %s %q, want %s.%s.v%d starting %q", tt.purpose, tt.lang, n, n.Text,
				tt.purpose, tt.wantLang, tt.wantVersion, tt.wantTextPrefix)
		}
	}
	if n := ns.Current(consent.Marketing, "it"); n.Text != "Nuovo testo.\nSeconda riga." {
		t.Errorf("Current(marketing, it).Text = %q, want line ends normalised and blank space trimmed", n.Text)
	}
	if n := ns.Current("profiling", "it"); n.Version != 0 {
		t.Errorf("Current(profiling, it) = %v, want the zero Notice", n)
	}
	if _, ok := ns.Find(consent.Marketing, "it", 1); !ok {
		t.Errorf("Find(marketing, it, 1) = false, want the older version kept")
	}
	if _, ok := base.Find(consent.Marketing, "it", next); ok {
		t.Errorf("Find(marketing, it, %d) on the base set = true: NewNotices(shop) changed it", next)
	}
	rank := func(n consent.Notice) string {
		return fmt.Sprintf("%d %s %06d", slices.Index(consent.Purposes(), n.Purpose), n.Lang, n.Version)
	}
	all := ns.All()
	for i := 1; i < len(all); i++ {
		if rank(all[i-1]) >= rank(all[i]) {
			t.Errorf("All() has %s before %s, want purposes in order, then languages, then versions", all[i-1], all[i])
		}
	}
}

func TestNoticesBad(t *testing.T) {
	published, err := consent.NewNotices()
	if err != nil {
		t.Fatal(err)
	}
	v1 := published.Current(consent.Marketing, "en")
	tests := []struct {
		name string
		fsys fstest.MapFS
	}{
		{"changed published text", fstest.MapFS{"marketing.en.v1.md": {Data: []byte(v1.Text + " And more.")}}},
		{"unknown purpose", fstest.MapFS{"profiling.en.v1.md": {Data: []byte("We profile you.")}}},
		{"empty", fstest.MapFS{"marketing.en.v9.md": {Data: []byte(" \n")}}},
		{"not UTF-8", fstest.MapFS{"marketing.en.v9.md": {Data: []byte{0xff, 0xfe, 'x'}}}},
		{"too long", fstest.MapFS{"marketing.en.v9.md": {Data: []byte(strings.Repeat("x", 5000))}}},
	}
	for _, tt := range tests {
		if _, err := consent.NewNotices(tt.fsys); !errors.Is(err, consent.ErrInvalid) {
			t.Errorf("NewNotices(%s) = %v, want ErrInvalid", tt.name, err)
		}
	}
	// The same text again is fine.
	if _, err := consent.NewNotices(fstest.MapFS{"marketing.en.v1.md": {Data: []byte(v1.Text + "\n")}}); err != nil {
		t.Errorf("NewNotices(the published text again) = %v, want nil", err)
	}
}

func TestStateOfOrder(t *testing.T) {
	s := consent.SubjectID("k", "webchat", "v1")
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	events := []consent.Event{ // given out of order, all at one instant
		{ID: 3, Subject: s, Purpose: consent.Marketing, Action: consent.Withdraw, At: at},
		{ID: 1, Subject: s, Purpose: consent.Marketing, NoticeVersion: 2, Lang: "it", Action: consent.Grant, At: at},
		{ID: 2, Subject: s, Purpose: consent.Notifications, NoticeVersion: 1, Lang: "en", Action: consent.Grant, At: at},
		{ID: 4, Subject: s, Purpose: consent.Service, Action: consent.Grant, At: at}, // not asked: ignored
	}
	got := consent.StateOf(events)
	want := map[consent.Purpose]consent.Status{
		consent.Marketing:       {Action: consent.Withdraw, NoticeVersion: 2, Lang: "it", At: at, EventID: 3},
		consent.Notifications:   {Granted: true, Action: consent.Grant, NoticeVersion: 1, Lang: "en", At: at, EventID: 2},
		consent.Personalization: {},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("StateOf() mismatch (-want +got):\n%s", diff)
	}
}

// TestDigestGolden pins the digests and hashes of events as recorded
// before Event.Linked existed, so that adding a field never changes the
// digest of a stored event, and pins a link event's.
func TestDigestGolden(t *testing.T) {
	ns, err := consent.NewNotices()
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 3, 14, 10, 30, 0, 123456000, time.UTC)
	l := consent.New(&memStore{}, ns, consent.WithNow(func() time.Time { return at }))
	s := consent.SubjectID("golden", "telegram", "42")
	tests := []struct {
		e            consent.Event
		digest, hash string
	}{
		{
			consent.Event{Subject: s, Purpose: consent.Notifications, NoticeVersion: 1, Lang: "it", Channel: "telegram",
				Method: consent.Button, MessageID: "cb-1", Action: consent.Grant, Actor: consent.Shopper},
			"cb4566e14eec74f1d42cdbe39a56d191d2f9cc111199d9bc1105503916208826",
			"abc216af760f2c3e45e25143d7318fc96af6885d5f530524985b683fe62bd2c4",
		},
		{
			consent.Event{Subject: s, Action: consent.Erase, Actor: consent.Admin},
			"2125c20634abdabc1e4ed449a125b748ab86d727b289d65eff61b3f0e70bf148",
			"a81e3cfe64dbc1d4bf38c31ad6212f81c3b9edce7456ac31000aac6b14c74279",
		},
		{
			consent.Event{Subject: consent.CustomerSubject("golden", "c-1"), Linked: s, Lang: "it", Channel: "telegram",
				Method: consent.LinkCode, MessageID: "u-1", Action: consent.Link, Actor: consent.Shopper},
			"5c0b9d6198da727d623795674c265d095f9351b1b4632e6a6c2b6043829568d7",
			"9ce962c4c471f363bc32c476520040d5bc50b5dc3a05facf7128cb49d64692b2",
		},
	}
	for i, tt := range tests {
		got, err := l.Record(context.Background(), tt.e)
		if err != nil {
			t.Fatalf("Record(%s) = %v", tt.e.Action, err)
		}
		if got.Digest != tt.digest || got.Hash != tt.hash {
			t.Errorf("event %d (%s): digest %s, hash %s; want %s, %s", i+1, tt.e.Action, got.Digest, got.Hash, tt.digest, tt.hash)
		}
	}
}

// countingLedgerStore counts the reads of subjects' events.
type countingLedgerStore struct {
	*memStore
	reads int
}

func (c *countingLedgerStore) SubjectEvents(ctx context.Context, subjects ...string) ([]consent.Event, error) {
	c.reads++
	return c.memStore.SubjectEvents(ctx, subjects...)
}

// TestHistoryReads checks that the history of a subject without links
// costs one read of the store, and a person's with links two, however
// many identities it links.
func TestHistoryReads(t *testing.T) {
	ctx := context.Background()
	ns, err := consent.NewNotices()
	if err != nil {
		t.Fatal(err)
	}
	store := &countingLedgerStore{memStore: &memStore{}}
	l := consent.New(store, ns)
	person := consent.CustomerSubject("k", "c-1")
	for _, ch := range []string{"telegram", "webchat", "messenger"} {
		alias := consent.SubjectID("k", ch, "1")
		if _, err := l.Record(ctx, consent.Event{Subject: person, Linked: alias, Channel: ch, Method: consent.SignIn,
			Action: consent.Link, Actor: consent.Shopper}); err != nil {
			t.Fatal(err)
		}
	}
	for name, tt := range map[string]struct {
		subject string
		reads   int
	}{
		"unlinked": {consent.SubjectID("k", "telegram", "2"), 1},
		"person":   {person, 2},
	} {
		store.reads = 0
		if _, err := l.State(ctx, tt.subject); err != nil {
			t.Fatal(err)
		}
		if store.reads != tt.reads {
			t.Errorf("State(%s) read the store %d times, want %d", name, store.reads, tt.reads)
		}
	}
}
