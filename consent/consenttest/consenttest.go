// Package consenttest holds the contract suites of the consent package's
// stores. TestStore is every consent.Store's, run through the
// consent.Ledger on top of it: appending and reading back, an unbroken
// hash chain (also under concurrent appends), tampering found by Verify,
// the state derived from the events and a person's history merged with
// the channel identities it links. TestKeyring is every
// consent.KeyStore's, TestLinkCodeStore every consent.LinkCodeStore's,
// TestAudit and TestTokenStore those of the access audit and the used
// export links.
package consenttest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/bottega-shop/bottega/consent"
)

// Backend is one fresh, empty store for a subtest, and the back doors the
// tampering tests use to change what it holds behind its back.
type Backend struct {
	Store consent.Store
	// Rewrite overwrites the stored fields of event e.ID with e's, bypassing
	// the store and any append-only guard (for SQL, an UPDATE with the
	// guard disabled). Nil skips the tampering tests.
	Rewrite func(ctx context.Context, e consent.Event) error
	// Delete removes the stored event id, bypassing the store and any
	// append-only guard. Nil skips the tests that need it.
	Delete func(ctx context.Context, id int64) error
}

// TestStore runs the contract against the backends newStore returns.
// newStore is called once per subtest and must return an empty store that
// lives until the subtest ends (use t.Cleanup to close it).
func TestStore(t *testing.T, newStore func(t *testing.T) Backend) {
	tests := []struct {
		name string
		fn   func(t *testing.T, newStore func(t *testing.T) Backend)
	}{
		{"AppendAndRead", testAppendAndRead},
		{"Empty", testEmpty},
		{"RecordInvalid", testRecordInvalid},
		{"AppendRefusesUnlinked", testAppendRefusesUnlinked},
		{"State", testState},
		{"SameInstant", testSameInstant},
		{"NeedsAsk", testNeedsAsk},
		{"SubjectsApart", testSubjectsApart},
		{"ConcurrentAppends", testConcurrentAppends},
		{"Tampering", testTampering},
		{"LinkEvents", testLinkEvents},
		{"HistoryMerges", testHistoryMerges},
		{"HistoryWindows", testHistoryWindows},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, newStore) })
	}
}

// secret is the test's subject secret.
const secret = "consenttest-secret"

func subject(name string) string { return consent.SubjectID(secret, "telegram", name) }

// clock is a test clock that moves only when told.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock {
	// Nanoseconds and a zone, which the ledger must cut to UTC microseconds.
	return &clock{t: time.Date(2026, 3, 14, 10, 30, 0, 123456789, time.FixedZone("CET", 3600))}
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// notices returns the embedded notices plus, for each purpose in next, a
// version newer than the current one in lang.
func notices(t *testing.T, lang string, next ...consent.Purpose) *consent.Notices {
	t.Helper()
	base, err := consent.NewNotices()
	if err != nil {
		t.Fatalf("NewNotices() = %v", err)
	}
	extra := fstest.MapFS{}
	for _, p := range next {
		v := base.Current(p, lang).Version + 1
		name := fmt.Sprintf("%s.%s.v%d.md", p, lang, v)
		extra[name] = &fstest.MapFile{Data: []byte(fmt.Sprintf("Notice %s, version %d, with new words.\n", p, v))}
	}
	ns, err := consent.NewNotices(extra)
	if err != nil {
		t.Fatalf("NewNotices(%v) = %v", extra, err)
	}
	return ns
}

// decision returns the event of a shopper deciding on the current notice
// for purpose in lang.
func decision(ns *consent.Notices, subj string, action consent.Action, p consent.Purpose, lang string) consent.Event {
	n := ns.Current(p, lang)
	return consent.Event{
		Subject: subj, Purpose: p, NoticeVersion: n.Version, Lang: n.Lang,
		Channel: "telegram", Method: consent.Button, MessageID: "cb-" + string(action) + "-" + string(p),
		Action: action, Actor: consent.Shopper,
	}
}

// withdrawal returns the event of a shopper typing "stop" for purpose.
func withdrawal(subj string, p consent.Purpose) consent.Event {
	return consent.Event{
		Subject: subj, Purpose: p, Lang: "it", Channel: "telegram", Method: consent.Typed,
		MessageID: "m-stop", Action: consent.Withdraw, Actor: consent.Shopper,
	}
}

func record(t *testing.T, l *consent.Ledger, e consent.Event) consent.Event {
	t.Helper()
	got, err := l.Record(context.Background(), e)
	if err != nil {
		t.Fatalf("Record(%s %s) = %v", e.Action, e.Purpose, err)
	}
	return got
}

func verify(t *testing.T, l *consent.Ledger) {
	t.Helper()
	if err := l.Verify(context.Background()); err != nil {
		t.Fatalf("Verify() = %v, want nil", err)
	}
}

func testAppendAndRead(t *testing.T, newStore func(t *testing.T) Backend) {
	ctx := context.Background()
	b := newStore(t)
	clk := newClock()
	ns := notices(t, "it")
	l := consent.New(b.Store, ns, consent.WithNow(clk.now))
	alice := subject("alice")

	inputs := []consent.Event{
		decision(ns, alice, consent.Grant, consent.Notifications, "it"),
		{Subject: alice, Purpose: consent.Marketing, NoticeVersion: 1, Lang: "en", Channel: "webchat",
			Method: consent.QuickReply, MessageID: "c-7f3a", Action: consent.Deny, Actor: consent.Shopper},
		withdrawal(alice, consent.Notifications),
		{Subject: alice, Purpose: consent.Personalization, NoticeVersion: 1, Lang: "it", Action: consent.Grant,
			Actor: consent.Agent, Channel: "messenger", Method: consent.Typed, MessageID: "mid.$abc:1"},
		{Subject: alice, Action: consent.Erase, Actor: consent.Admin},
	}
	var recorded []consent.Event
	for i, in := range inputs {
		clk.advance(time.Second)
		got := record(t, l, in)
		want := in
		want.ID = int64(i + 1)
		want.At = clk.now().UTC().Truncate(time.Microsecond)
		if in.NoticeVersion > 0 {
			n, _ := ns.Find(in.Purpose, in.Lang, in.NoticeVersion)
			want.NoticeHash = n.Hash()
		}
		if i > 0 {
			want.PrevHash = recorded[i-1].Hash
		}
		if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(consent.Event{}, "Digest", "Hash")); diff != "" {
			t.Errorf("Record(%s %s) mismatch (-want +got):\n%s", in.Action, in.Purpose, diff)
		}
		if len(got.Digest) != 64 || len(got.Hash) != 64 || got.Hash == got.Digest {
			t.Errorf("Record(%s %s) digest %q, hash %q; want two different hex SHA-256s", in.Action, in.Purpose, got.Digest, got.Hash)
		}
		if got.At.Location() != time.UTC {
			t.Errorf("Record(%s %s).At = %v, want UTC", in.Action, in.Purpose, got.At)
		}
		recorded = append(recorded, got)
	}

	history, err := l.History(ctx, alice)
	if err != nil {
		t.Fatalf("History(alice) = %v", err)
	}
	if diff := cmp.Diff(recorded, history); diff != "" {
		t.Errorf("History(alice) mismatch (-recorded +read):\n%s", diff)
	}
	first, err := b.Store.Events(ctx, 0, 2)
	if err != nil {
		t.Fatalf("Events(0, 2) = %v", err)
	}
	rest, err := b.Store.Events(ctx, 2, 0)
	if err != nil {
		t.Fatalf("Events(2, 0) = %v", err)
	}
	if diff := cmp.Diff(recorded, append(first, rest...)); diff != "" {
		t.Errorf("Events(0, 2) + Events(2, 0) mismatch (-recorded +read):\n%s", diff)
	}
	if after, err := b.Store.Events(ctx, 5, 10); err != nil || len(after) != 0 {
		t.Errorf("Events(5, 10) = %v, %v; want none", after, err)
	}
	head, err := b.Store.Head(ctx)
	last := recorded[len(recorded)-1]
	if want := (consent.Head{ID: last.ID, Hash: last.Hash, At: last.At}); err != nil || !cmp.Equal(head, want) {
		t.Errorf("Head() = %+v, %v; want %+v", head, err, want)
	}
	verify(t, l)
}

func testEmpty(t *testing.T, newStore func(t *testing.T) Backend) {
	ctx := context.Background()
	b := newStore(t)
	l := consent.New(b.Store, notices(t, "en"))
	verify(t, l)
	if head, err := b.Store.Head(ctx); err != nil || head != (consent.Head{}) {
		t.Errorf("Head() = %+v, %v; want the zero head", head, err)
	}
	if h, err := l.History(ctx, subject("nobody")); err != nil || len(h) != 0 {
		t.Errorf("History(nobody) = %v, %v; want none", h, err)
	}
	state, err := l.State(ctx, subject("nobody"))
	want := map[consent.Purpose]consent.Status{consent.Notifications: {}, consent.Marketing: {}, consent.Personalization: {}}
	if err != nil || !cmp.Equal(state, want) {
		t.Errorf("State(nobody) = %v, %v; want %v", state, err, want)
	}
}

func testRecordInvalid(t *testing.T, newStore func(t *testing.T) Backend) {
	ctx := context.Background()
	b := newStore(t)
	ns := notices(t, "en")
	l := consent.New(b.Store, ns)
	s := subject("bob")
	good := decision(ns, s, consent.Grant, consent.Marketing, "en")
	with := func(change func(e *consent.Event)) consent.Event {
		e := good
		change(&e)
		return e
	}
	tests := []struct {
		name string
		e    consent.Event
	}{
		{"no subject", with(func(e *consent.Event) { e.Subject = "" })},
		{"subject in clear", with(func(e *consent.Event) { e.Subject = "Mario Rossi" })},
		{"platform id as subject", with(func(e *consent.Event) { e.Subject = "123456789" })},
		{"service asked", with(func(e *consent.Event) { e.Purpose = consent.Service })},
		{"unknown purpose", with(func(e *consent.Event) { e.Purpose = "profiling" })},
		{"no purpose", with(func(e *consent.Event) { e.Purpose = "" })},
		{"unknown action", with(func(e *consent.Event) { e.Action = "maybe" })},
		{"unknown actor", with(func(e *consent.Event) { e.Actor = "robot" })},
		{"unknown method", with(func(e *consent.Event) { e.Method = "telepathy" })},
		{"grant without notice", with(func(e *consent.Event) { e.NoticeVersion = 0 })},
		{"grant of an unknown version", with(func(e *consent.Event) { e.NoticeVersion = 99 })},
		{"grant in a language without the notice", with(func(e *consent.Event) { e.Lang = "de" })},
		{"wrong notice hash", with(func(e *consent.Event) { e.NoticeHash = strings.Repeat("0", 64) })},
		{"hash without version", with(func(e *consent.Event) { e.NoticeVersion, e.NoticeHash = 0, ns.Current(e.Purpose, "en").Hash() })},
		{"negative version", with(func(e *consent.Event) { e.NoticeVersion = -1 })},
		{"grant by the system", with(func(e *consent.Event) { e.Actor = consent.System })},
		{"grant by an admin", with(func(e *consent.Event) { e.Actor = consent.Admin })},
		{"shopper without message id", with(func(e *consent.Event) { e.MessageID = "" })},
		{"shopper without channel", with(func(e *consent.Event) { e.Channel = "" })},
		{"shopper without method", with(func(e *consent.Event) { e.Method = "" })},
		{"bad channel", with(func(e *consent.Event) { e.Channel = "Tele gram" })},
		{"bad language", with(func(e *consent.Event) { e.Lang = "Italiano" })},
		{"message id with a newline", with(func(e *consent.Event) { e.MessageID = "a\nb" })},
		{"message id too long", with(func(e *consent.Event) { e.MessageID = strings.Repeat("x", 300) })},
		{"id set", with(func(e *consent.Event) { e.ID = 7 })},
		{"time set", with(func(e *consent.Event) { e.At = time.Now() })},
		{"hash set", with(func(e *consent.Event) { e.Hash = strings.Repeat("a", 64) })},
		{"prev hash set", with(func(e *consent.Event) { e.PrevHash = strings.Repeat("a", 64) })},
		{"expire by the shopper", with(func(e *consent.Event) { e.Action, e.NoticeVersion = consent.Expire, 0 })},
		{"withdraw by the system", consent.Event{Subject: s, Purpose: consent.Marketing, Action: consent.Withdraw, Actor: consent.System}},
		{"erase with a purpose", consent.Event{Subject: s, Purpose: consent.Marketing, Action: consent.Erase, Actor: consent.Admin}},
	}
	for _, tt := range tests {
		if _, err := l.Record(ctx, tt.e); !errors.Is(err, consent.ErrInvalid) {
			t.Errorf("Record(%s) = %v, want ErrInvalid", tt.name, err)
		}
	}
	if head, err := b.Store.Head(ctx); err != nil || head.ID != 0 {
		t.Errorf("after invalid records, Head() = %+v, %v; want an empty ledger", head, err)
	}

	// The right notice hash given by the caller is accepted; so are an
	// agent's withdrawal and the system's expiry, which need no message.
	valid := []consent.Event{
		with(func(e *consent.Event) { e.NoticeHash = ns.Current(e.Purpose, "en").Hash() }),
		{Subject: s, Purpose: consent.Marketing, Action: consent.Withdraw, Actor: consent.Agent},
		{Subject: s, Purpose: consent.Marketing, Action: consent.Expire, Actor: consent.System},
	}
	for _, e := range valid {
		record(t, l, e)
	}
	verify(t, l)
}

func testAppendRefusesUnlinked(t *testing.T, newStore func(t *testing.T) Backend) {
	ctx := context.Background()
	b := newStore(t)
	ns := notices(t, "en")
	l := consent.New(b.Store, ns)
	first := record(t, l, decision(ns, subject("carla"), consent.Grant, consent.Marketing, "en"))

	boom := errors.New("seal failed")
	if _, err := b.Store.Append(ctx, func(consent.Head) (consent.Event, error) { return consent.Event{}, boom }); !errors.Is(err, boom) {
		t.Errorf("Append(seal failing) = %v, want the seal's error", err)
	}
	seals := []struct {
		name   string
		change func(e *consent.Event, head consent.Head)
	}{
		{"skipping an ID", func(e *consent.Event, h consent.Head) { e.ID, e.PrevHash = h.ID+2, h.Hash }},
		{"reusing an ID", func(e *consent.Event, h consent.Head) { e.ID, e.PrevHash = h.ID, h.Hash }},
		{"forking the chain", func(e *consent.Event, h consent.Head) { e.ID, e.PrevHash = h.ID+1, "" }},
	}
	for _, tt := range seals {
		var seen consent.Head
		_, err := b.Store.Append(ctx, func(h consent.Head) (consent.Event, error) {
			seen = h
			e := first
			tt.change(&e, h)
			return e, nil
		})
		if !errors.Is(err, consent.ErrInvalid) {
			t.Errorf("Append(event %s) = %v, want ErrInvalid", tt.name, err)
		}
		if want := (consent.Head{ID: first.ID, Hash: first.Hash, At: first.At}); seen != want {
			t.Errorf("Append(event %s) gave seal the head %+v, want %+v", tt.name, seen, want)
		}
	}
	if events, err := b.Store.Events(ctx, 0, 10); err != nil || len(events) != 1 {
		t.Errorf("Events() after refused appends = %d events, %v; want 1", len(events), err)
	}
	verify(t, l)
}

// step is one event of a state test and what the state of its purpose
// must be after it.
type step struct {
	e           consent.Event
	wantGranted bool
	wantAction  consent.Action
}

func runSteps(t *testing.T, l *consent.Ledger, clk *clock, subj string, steps []step) {
	t.Helper()
	ctx := context.Background()
	for i, st := range steps {
		clk.advance(time.Minute)
		got := record(t, l, st.e)
		state, err := l.State(ctx, subj)
		if err != nil {
			t.Fatalf("State() = %v", err)
		}
		purposes := []consent.Purpose{st.e.Purpose}
		if st.e.Action == consent.Erase {
			purposes = []consent.Purpose{consent.Notifications, consent.Marketing, consent.Personalization}
		}
		for _, p := range purposes {
			s := state[p]
			if s.Granted != st.wantGranted || s.Action != st.wantAction || s.EventID != got.ID || !s.At.Equal(got.At) {
				t.Errorf("step %d (%s %s): State()[%s] = %+v, want granted %v by %s at event %d",
					i+1, st.e.Action, st.e.Purpose, p, s, st.wantGranted, st.wantAction, got.ID)
			}
		}
	}
}

func testState(t *testing.T, newStore func(t *testing.T) Backend) {
	ctx := context.Background()
	b := newStore(t)
	clk := newClock()
	ns := notices(t, "it")
	l := consent.New(b.Store, ns, consent.WithNow(clk.now))
	s := subject("dario")
	runSteps(t, l, clk, s, []step{
		{decision(ns, s, consent.Grant, consent.Notifications, "it"), true, consent.Grant},
		{withdrawal(s, consent.Notifications), false, consent.Withdraw},
		{decision(ns, s, consent.Grant, consent.Notifications, "it"), true, consent.Grant},
		{decision(ns, s, consent.Deny, consent.Marketing, "it"), false, consent.Deny},
		{decision(ns, s, consent.Grant, consent.Personalization, "it"), true, consent.Grant},
		{consent.Event{Subject: s, Purpose: consent.Personalization, Action: consent.Expire, Actor: consent.System}, false, consent.Expire},
		{decision(ns, s, consent.Grant, consent.Marketing, "it"), true, consent.Grant},
	})
	state, err := l.State(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range map[consent.Purpose]bool{consent.Notifications: true, consent.Marketing: true, consent.Personalization: false} {
		if state[p].Granted != want {
			t.Errorf("State()[%s].Granted = %v, want %v", p, state[p].Granted, want)
		}
	}
	if _, ok := state[consent.Service]; ok {
		t.Errorf("State() holds %s, which is stated, not asked", consent.Service)
	}
	// A withdrawal without a notice keeps the version decided on before.
	record(t, l, withdrawal(s, consent.Notifications))
	state, _ = l.State(ctx, s)
	if got, want := state[consent.Notifications].NoticeVersion, ns.Current(consent.Notifications, "it").Version; got != want {
		t.Errorf("after a withdrawal, State()[notifications].NoticeVersion = %d, want %d (the version granted)", got, want)
	}
	// Erasure ends every consent.
	runSteps(t, l, clk, s, []step{{consent.Event{Subject: s, Action: consent.Erase, Actor: consent.Shopper,
		Channel: "telegram", Method: consent.Button, MessageID: "cb-forget"}, false, consent.Erase}})
	verify(t, l)
}

func testSameInstant(t *testing.T, newStore func(t *testing.T) Backend) {
	ctx := context.Background()
	b := newStore(t)
	clk := newClock() // never advanced: every event has the same time
	ns := notices(t, "en")
	l := consent.New(b.Store, ns, consent.WithNow(clk.now))
	s := subject("elena")
	grant := record(t, l, decision(ns, s, consent.Grant, consent.Notifications, "en"))
	withdraw := record(t, l, withdrawal(s, consent.Notifications))
	record(t, l, withdrawal(s, consent.Marketing))
	grantM := record(t, l, decision(ns, s, consent.Grant, consent.Marketing, "en"))
	if !grant.At.Equal(withdraw.At) || withdraw.ID <= grant.ID {
		t.Fatalf("events at one instant: %v #%d and %v #%d, want the same time and rising IDs", grant.At, grant.ID, withdraw.At, withdraw.ID)
	}
	state, err := l.State(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	if got := state[consent.Notifications]; got.Granted || got.EventID != withdraw.ID {
		t.Errorf("grant then withdraw at one instant: State()[notifications] = %+v, want the withdrawal (event %d) to win", got, withdraw.ID)
	}
	if got := state[consent.Marketing]; !got.Granted || got.EventID != grantM.ID {
		t.Errorf("withdraw then grant at one instant: State()[marketing] = %+v, want the grant (event %d) to win", got, grantM.ID)
	}
	if h, err := l.History(ctx, s); err != nil || len(h) != 4 {
		t.Errorf("History() = %d events, %v; want all 4 recorded", len(h), err)
	}
}

func testNeedsAsk(t *testing.T, newStore func(t *testing.T) Backend) {
	ctx := context.Background()
	b := newStore(t)
	clk := newClock()
	p := consent.Personalization
	v1 := notices(t, "en")
	v2 := notices(t, "en", p) // a new English version
	l1 := consent.New(b.Store, v1, consent.WithNow(clk.now))
	l2 := consent.New(b.Store, v2, consent.WithNow(clk.now))
	s := subject("franco")

	needs := func(l *consent.Ledger, lang string, want bool, when string) {
		t.Helper()
		got, err := l.NeedsAsk(ctx, s, p, lang)
		if err != nil || got != want {
			t.Errorf("%s: NeedsAsk(%s, %s) = %v, %v; want %v", when, p, lang, got, err, want)
		}
	}
	needs(l1, "en", true, "no decision yet")
	needs(l1, "it", true, "no decision yet")
	record(t, l1, decision(v1, s, consent.Grant, p, "en"))
	needs(l1, "en", false, "after a grant of the current notice")
	needs(l2, "en", true, "after a grant, with a newer notice")
	needs(l2, "it", false, "after a grant, with a newer notice only in another language")

	record(t, l2, decision(v2, s, consent.Deny, p, "en"))
	needs(l2, "en", false, "right after a deny of the current notice")
	needs(l2, "en", false, "asked again after a deny") // never twice in a row

	// A third version asks once more; a grant settles it; withdrawing is a no.
	ns3, err := consent.NewNotices(fstest.MapFS{
		fmt.Sprintf("%s.en.v%d.md", p, v2.Current(p, "en").Version):   {Data: []byte(v2.Current(p, "en").Text)},
		fmt.Sprintf("%s.en.v%d.md", p, v2.Current(p, "en").Version+1): {Data: []byte("Third words.")},
	})
	if err != nil {
		t.Fatal(err)
	}
	l3 := consent.New(b.Store, ns3, consent.WithNow(clk.now))
	needs(l3, "en", true, "after a deny, with a newer notice")
	record(t, l3, decision(ns3, s, consent.Grant, p, "en"))
	needs(l3, "en", false, "after a grant of the newest notice")
	record(t, l3, withdrawal(s, p))
	needs(l3, "en", false, "right after a withdrawal")
	record(t, l3, consent.Event{Subject: s, Purpose: p, Action: consent.Expire, Actor: consent.System})
	needs(l3, "en", true, "after the consent expired")
	record(t, l3, decision(ns3, s, consent.Grant, p, "en"))
	record(t, l3, consent.Event{Subject: s, Action: consent.Erase, Actor: consent.Admin})
	needs(l3, "en", true, "after an erasure")

	if got, err := l1.NeedsAsk(ctx, s, consent.Service, "en"); err != nil || got {
		t.Errorf("NeedsAsk(service) = %v, %v; want false: it is stated, not asked", got, err)
	}
	if _, err := l1.NeedsAsk(ctx, s, "profiling", "en"); !errors.Is(err, consent.ErrInvalid) {
		t.Errorf("NeedsAsk(profiling) = %v, want ErrInvalid", err)
	}
	// Another purpose is untouched by all of this.
	needs2, err := l1.NeedsAsk(ctx, s, consent.Marketing, "it")
	if err != nil || !needs2 {
		t.Errorf("NeedsAsk(marketing) = %v, %v; want true", needs2, err)
	}
}

func testSubjectsApart(t *testing.T, newStore func(t *testing.T) Backend) {
	ctx := context.Background()
	b := newStore(t)
	ns := notices(t, "it")
	l := consent.New(b.Store, ns)
	a, c := subject("gina"), consent.SubjectID(secret, "messenger", "gina") // same user id, other channel
	if a == c {
		t.Fatalf("SubjectID is the same on two channels")
	}
	record(t, l, decision(ns, a, consent.Grant, consent.Marketing, "it"))
	record(t, l, decision(ns, c, consent.Deny, consent.Notifications, "it"))
	record(t, l, decision(ns, a, consent.Grant, consent.Notifications, "it"))
	record(t, l, consent.Event{Subject: c, Action: consent.Erase, Actor: consent.Admin})

	sa, err := l.State(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	if !sa[consent.Marketing].Granted || !sa[consent.Notifications].Granted {
		t.Errorf("State(a) = %v, want marketing and notifications granted despite c's deny and erasure", sa)
	}
	sc, err := l.State(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if sc[consent.Marketing].Granted || sc[consent.Marketing].Action != consent.Erase {
		t.Errorf("State(c)[marketing] = %+v, want erased, not a's grant", sc[consent.Marketing])
	}
	for subj, want := range map[string]int{a: 2, c: 2} {
		h, err := l.History(ctx, subj)
		if err != nil || len(h) != want {
			t.Errorf("History(%s…) = %d events, %v; want %d", subj[:8], len(h), err, want)
		}
		for _, e := range h {
			if e.Subject != subj {
				t.Errorf("History(%s…) holds event %d of %s…", subj[:8], e.ID, e.Subject[:8])
			}
		}
	}
	if needs, err := l.NeedsAsk(ctx, c, consent.Marketing, "it"); err != nil || !needs {
		t.Errorf("NeedsAsk(c, marketing) = %v, %v; want true: a's grant is not c's", needs, err)
	}
}

func testConcurrentAppends(t *testing.T, newStore func(t *testing.T) Backend) {
	ctx := context.Background()
	b := newStore(t)
	ns := notices(t, "en")
	l := consent.New(b.Store, ns)
	const workers, each = 8, 15
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			s := subject(fmt.Sprintf("worker-%d", w))
			for i := range each {
				e := decision(ns, s, consent.Grant, consent.Marketing, "en")
				if i%2 == 1 {
					e = withdrawal(s, consent.Marketing)
				}
				if _, err := l.Record(ctx, e); err != nil {
					t.Errorf("worker %d: Record #%d = %v", w, i, err)
					return
				}
			}
		})
	}
	// Verify, run while the appends go on, sees an intact chain each time.
	done := make(chan struct{})
	verified := make(chan error, 1)
	go func() {
		var err error
		for err == nil {
			select {
			case <-done:
				verified <- nil
				return
			default:
			}
			err = l.Verify(ctx)
		}
		verified <- err
	}()
	wg.Wait()
	close(done)
	if err := <-verified; err != nil {
		t.Errorf("Verify() during concurrent appends = %v, want nil", err)
	}
	verify(t, l)
	head, err := b.Store.Head(ctx)
	if err != nil || head.ID != workers*each {
		t.Errorf("Head() = %+v, %v; want event %d", head, err, workers*each)
	}
	events, err := b.Store.Events(ctx, 0, workers*each+10)
	if err != nil {
		t.Fatal(err)
	}
	seen := make(map[string]bool)
	for i, e := range events {
		if e.ID != int64(i+1) || (i > 0 && e.PrevHash != events[i-1].Hash) || seen[e.Hash] {
			t.Fatalf("event #%d: id %d, prev hash %.8s…: the chain forked or has a gap", i+1, e.ID, e.PrevHash)
		}
		seen[e.Hash] = true
	}
	for w := range workers {
		s := subject(fmt.Sprintf("worker-%d", w))
		state, err := l.State(ctx, s)
		if err != nil || !state[consent.Marketing].Granted { // each ends on a grant
			t.Errorf("State(worker %d)[marketing] = %+v, %v; want granted", w, state[consent.Marketing], err)
		}
	}
}

func testTampering(t *testing.T, newStore func(t *testing.T) Backend) {
	other := subject("someone-else")
	tests := []struct {
		name   string
		change func(e *consent.Event) // nil deletes the event
		id     int64                  // the event changed
		wantID int64                  // the event Verify must name
	}{
		{"subject changed", func(e *consent.Event) { e.Subject = other }, 3, 3},
		{"deny turned into grant", func(e *consent.Event) { e.Action = consent.Grant }, 2, 2},
		{"time moved", func(e *consent.Event) { e.At = e.At.Add(-time.Hour) }, 4, 4},
		{"notice version raised", func(e *consent.Event) { e.NoticeVersion++ }, 1, 1},
		{"message id changed", func(e *consent.Event) { e.MessageID = "forged" }, 1, 1},
		{"hash replaced", func(e *consent.Event) { e.Hash = strings.Repeat("f", 64) }, 5, 5},
		{"relinked", func(e *consent.Event) { e.PrevHash = strings.Repeat("0", 64) }, 3, 3},
		{"middle event deleted", nil, 3, 3},
		{"last event deleted", nil, 5, 5},
	}
	for _, tt := range tests {
		t.Run(strings.ReplaceAll(tt.name, " ", "_"), func(t *testing.T) {
			ctx := context.Background()
			b := newStore(t)
			if b.Rewrite == nil || (tt.change == nil && b.Delete == nil) {
				t.Skip("the backend gives no way to tamper with it")
			}
			ns := notices(t, "en")
			l := consent.New(b.Store, ns)
			s := subject("hugo")
			var events []consent.Event
			for _, e := range []consent.Event{
				decision(ns, s, consent.Grant, consent.Notifications, "en"),
				decision(ns, s, consent.Deny, consent.Marketing, "en"),
				decision(ns, s, consent.Grant, consent.Personalization, "en"),
				withdrawal(s, consent.Notifications),
				decision(ns, s, consent.Grant, consent.Notifications, "en"),
			} {
				events = append(events, record(t, l, e))
			}
			verify(t, l)
			if tt.change == nil {
				if err := b.Delete(ctx, tt.id); err != nil {
					t.Fatalf("Delete(%d) = %v", tt.id, err)
				}
			} else {
				e := events[tt.id-1]
				tt.change(&e)
				if err := b.Rewrite(ctx, e); err != nil {
					t.Fatalf("Rewrite(%d) = %v", tt.id, err)
				}
			}
			err := l.Verify(ctx)
			var te *consent.TamperError
			if !errors.Is(err, consent.ErrTampered) || !errors.As(err, &te) || te.EventID != tt.wantID {
				t.Fatalf("Verify() after %s = %v, want a TamperError at event %d", tt.name, err, tt.wantID)
			}
			if want := fmt.Sprintf("event %d", tt.wantID); !strings.Contains(err.Error(), want) {
				t.Errorf("Verify() = %q, want it to name %q", err, want)
			}
		})
	}
}

// customer is a shop customer's subject, a person.
func customer(id string) string { return consent.CustomerSubject(secret, id) }

// linkEvent returns the Link event of alias joining person, on channel.
func linkEvent(person, alias, channel string, method consent.Method) consent.Event {
	return consent.Event{Subject: person, Linked: alias, Channel: channel, Method: method,
		Lang: "it", Action: consent.Link, Actor: consent.Shopper}
}

func testLinkEvents(t *testing.T, newStore func(t *testing.T) Backend) {
	ctx := context.Background()
	b := newStore(t)
	clk := newClock()
	l := consent.New(b.Store, notices(t, "it"), consent.WithNow(clk.now))
	person, alias := customer("c-1"), subject("tg-1")

	// A sign-in needs no message; a link code carries the /start message.
	signIn := record(t, l, linkEvent(person, consent.SubjectID(secret, "webchat", "s-1"), "webchat", consent.SignIn))
	code := linkEvent(person, alias, "telegram", consent.LinkCode)
	code.MessageID = "update-77"
	clk.advance(time.Second)
	linked := record(t, l, code)
	if linked.Linked != alias || linked.Action != consent.Link || signIn.Linked == "" {
		t.Errorf("Record(link) = %+v, want the alias kept in Linked", linked)
	}
	history, err := l.History(ctx, person)
	if err != nil || len(history) != 2 || !cmp.Equal(history[1], linked) {
		t.Errorf("History(person) = %+v, %v; want both links, as recorded", history, err)
	}
	if events, err := b.Store.Events(ctx, 1, 10); err != nil || len(events) != 1 || !cmp.Equal(events[0], linked) {
		t.Errorf("Events(1, 10) = %+v, %v; want the link code event as recorded", events, err)
	}
	// A link changes no consent.
	state, err := l.State(ctx, person)
	for p, s := range state {
		if err != nil || s != (consent.Status{}) {
			t.Errorf("State(person)[%s] after links = %+v, %v; want no decision", p, s, err)
		}
	}
	verify(t, l)

	with := func(change func(e *consent.Event)) consent.Event {
		e := linkEvent(person, subject("tg-2"), "telegram", consent.LinkCode)
		change(&e)
		return e
	}
	invalid := []struct {
		name string
		e    consent.Event
	}{
		{"link without the linked subject", with(func(e *consent.Event) { e.Linked = "" })},
		{"link to itself", with(func(e *consent.Event) { e.Linked = person })},
		{"link to a platform id", with(func(e *consent.Event) { e.Linked = "telegram:12345" })},
		{"link with a purpose", with(func(e *consent.Event) { e.Purpose = consent.Marketing })},
		{"link with a notice", with(func(e *consent.Event) { e.NoticeVersion = 1 })},
		{"link without a channel", with(func(e *consent.Event) { e.Channel = "" })},
		{"link by a button", with(func(e *consent.Event) { e.Method = consent.Button })},
		{"link without a method", with(func(e *consent.Event) { e.Method = "" })},
		{"grant naming a linked subject", func() consent.Event {
			e := decision(notices(t, "it"), alias, consent.Grant, consent.Marketing, "it")
			e.Linked = person
			return e
		}()},
		{"grant by sign-in", func() consent.Event {
			e := decision(notices(t, "it"), alias, consent.Grant, consent.Marketing, "it")
			e.Method = consent.SignIn
			return e
		}()},
		{"erase by link code", consent.Event{Subject: alias, Action: consent.Erase, Actor: consent.Admin, Method: consent.LinkCode}},
	}
	for _, tt := range invalid {
		if _, err := l.Record(ctx, tt.e); !errors.Is(err, consent.ErrInvalid) {
			t.Errorf("Record(%s) = %v, want ErrInvalid", tt.name, err)
		}
	}
	if head, err := b.Store.Head(ctx); err != nil || head.ID != 2 {
		t.Errorf("after invalid links, Head() = %+v, %v; want event 2", head, err)
	}

	// The linked subject is part of the content: changing it is tampering.
	if b.Rewrite == nil {
		return
	}
	forged := linked
	forged.Linked = subject("intruder")
	if err := b.Rewrite(ctx, forged); err != nil {
		t.Fatalf("Rewrite() = %v", err)
	}
	var te *consent.TamperError
	if err := l.Verify(ctx); !errors.As(err, &te) || te.EventID != linked.ID {
		t.Errorf("Verify() after the linked subject changed = %v, want a TamperError at event %d", err, linked.ID)
	}
}

func testHistoryMerges(t *testing.T, newStore func(t *testing.T) Backend) {
	ctx := context.Background()
	b := newStore(t)
	clk := newClock()
	ns := notices(t, "it")
	l := consent.New(b.Store, ns, consent.WithNow(clk.now))
	person, tg, wc := customer("c-7"), subject("tg-7"), consent.SubjectID(secret, "webchat", "s-7")
	stranger := subject("stranger")
	step := func(e consent.Event) consent.Event {
		t.Helper()
		clk.advance(time.Second)
		return record(t, l, e)
	}
	granted := func(subj string, p consent.Purpose) consent.Status {
		t.Helper()
		state, err := l.State(ctx, subj)
		if err != nil {
			t.Fatalf("State() = %v", err)
		}
		return state[p]
	}

	// Before linking, each identity is its own subject.
	grantM := step(decision(ns, tg, consent.Grant, consent.Marketing, "it"))
	denyN := step(decision(ns, wc, consent.Deny, consent.Notifications, "it"))
	step(decision(ns, stranger, consent.Grant, consent.Personalization, "it"))
	if s := granted(person, consent.Marketing); s.Granted {
		t.Errorf("State(person) before any link = %+v, want nothing of the alias", s)
	}

	step(linkEvent(person, wc, "webchat", consent.SignIn))
	step(linkEvent(person, tg, "telegram", consent.LinkCode))
	step(linkEvent(person, tg, "telegram", consent.LinkCode)) // named twice: still merged once

	// A grant on the alias before the link counts for the person…
	if s := granted(person, consent.Marketing); !s.Granted || s.EventID != grantM.ID {
		t.Errorf("State(person)[marketing] = %+v, want the alias's grant (event %d)", s, grantM.ID)
	}
	// …until a withdraw on the person after it, which wins.
	withdrawM := step(withdrawal(person, consent.Marketing))
	if s := granted(person, consent.Marketing); s.Granted || s.EventID != withdrawM.ID {
		t.Errorf("grant on the alias, then withdraw on the person: State(person)[marketing] = %+v, want the withdraw (event %d)", s, withdrawM.ID)
	}
	// The reverse: a deny on the alias before the link, a grant on the
	// person after it; the grant wins.
	if s := granted(person, consent.Notifications); s.Action != consent.Deny || s.EventID != denyN.ID {
		t.Errorf("State(person)[notifications] = %+v, want the alias's deny (event %d)", s, denyN.ID)
	}
	grantN := step(decision(ns, person, consent.Grant, consent.Notifications, "it"))
	if s := granted(person, consent.Notifications); !s.Granted || s.EventID != grantN.ID {
		t.Errorf("deny on the alias, then grant on the person: State(person)[notifications] = %+v, want the grant (event %d)", s, grantN.ID)
	}
	// A decision given later on an alias (a replica that did not know the
	// link yet) counts for the person too.
	withdrawN := step(withdrawal(tg, consent.Notifications))
	if s := granted(person, consent.Notifications); s.Granted || s.EventID != withdrawN.ID {
		t.Errorf("withdraw on the alias after the person's grant: State(person)[notifications] = %+v, want the withdraw (event %d)", s, withdrawN.ID)
	}
	if need, err := l.NeedsAsk(ctx, person, consent.Notifications, "it"); err != nil || need {
		t.Errorf("NeedsAsk(person, notifications) = %v, %v; want false: the alias's withdraw settles it", need, err)
	}
	if need, err := l.NeedsAsk(ctx, person, consent.Personalization, "it"); err != nil || !need {
		t.Errorf("NeedsAsk(person, personalization) = %v, %v; want true: only a stranger decided on it", need, err)
	}

	history, err := l.History(ctx, person)
	if err != nil {
		t.Fatalf("History(person) = %v", err)
	}
	var ids []int64
	for i, e := range history {
		if e.Subject != person && e.Subject != tg && e.Subject != wc {
			t.Errorf("History(person) holds event %d of another subject", e.ID)
		}
		if i > 0 && e.ID <= history[i-1].ID {
			t.Errorf("History(person) is not in ID order, or repeats event %d", e.ID)
		}
		ids = append(ids, e.ID)
	}
	if want := []int64{1, 2, 4, 5, 6, 7, 8, 9}; !cmp.Equal(ids, want) {
		t.Errorf("History(person) = events %v, want %v", ids, want)
	}
	// An alias's own history is its own.
	if h, err := l.History(ctx, tg); err != nil || len(h) != 2 || h[0].ID != grantM.ID || h[1].ID != withdrawN.ID {
		t.Errorf("History(alias) = %+v, %v; want its own two events", h, err)
	}
	// The store reads several subjects at once, in ID order.
	events, err := b.Store.SubjectEvents(ctx, tg, wc, stranger)
	if err != nil || len(events) != 4 {
		t.Fatalf("SubjectEvents(three subjects) = %d events, %v; want 4", len(events), err)
	}
	for i := 1; i < len(events); i++ {
		if events[i].ID <= events[i-1].ID {
			t.Errorf("SubjectEvents(three subjects) = IDs out of order at %d", i)
		}
	}
	if events, err := b.Store.SubjectEvents(ctx); err != nil || len(events) != 0 {
		t.Errorf("SubjectEvents(no subject) = %v, %v; want none", events, err)
	}
	verify(t, l)
}

func testHistoryWindows(t *testing.T, newStore func(t *testing.T) Backend) {
	ctx := context.Background()
	b := newStore(t)
	clk := newClock()
	ns := notices(t, "it")
	l := consent.New(b.Store, ns, consent.WithNow(clk.now))
	person, tg := customer("c-9"), subject("tg-9")
	erase := func(subj string) consent.Event {
		return consent.Event{Subject: subj, Action: consent.Erase, Actor: consent.Admin}
	}
	state := func(when string, p consent.Purpose, granted bool, eventID int64) {
		t.Helper()
		st, err := l.State(ctx, person)
		if s := st[p]; err != nil || s.Granted != granted || s.EventID != eventID {
			t.Errorf("%s: State(person)[%s] = %+v, %v; want granted %v by event %d", when, p, s, err, granted, eventID)
		}
	}

	// The alias erased its own data before it was linked: that erasure
	// ended the alias's old consents, not the person's.
	personGrant := record(t, l, decision(ns, person, consent.Grant, consent.Marketing, "it"))
	record(t, l, decision(ns, tg, consent.Grant, consent.Personalization, "it"))
	record(t, l, erase(tg))
	record(t, l, linkEvent(person, tg, "telegram", consent.LinkCode))
	state("after linking an alias erased before", consent.Marketing, true, personGrant.ID)
	state("after linking an alias erased before", consent.Personalization, false, 0)

	// Erasing the person (its alias first) ends the link: what the alias
	// does afterwards, on its own, is not the person's.
	record(t, l, erase(tg))
	personErase := record(t, l, erase(person))
	state("after erasing the person", consent.Marketing, false, personErase.ID)
	later := record(t, l, decision(ns, tg, consent.Grant, consent.Marketing, "it"))
	state("after the former alias granted on its own", consent.Marketing, false, personErase.ID)

	// Linked again, its decisions since its last erasure count again.
	record(t, l, linkEvent(person, tg, "telegram", consent.SignIn))
	state("after linking the alias again", consent.Marketing, true, later.ID)
	h, err := l.History(ctx, person)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range h {
		if e.Subject == tg && e.ID < personErase.ID-1 {
			t.Errorf("History(person) holds the alias's event %d, from before its own erasure", e.ID)
		}
	}
}
