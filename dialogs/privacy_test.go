package dialogs_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/bottega-shop/bottega/bot"
	"github.com/bottega-shop/bottega/consent"
	"github.com/bottega-shop/bottega/consent/sqlconsent"
	"github.com/bottega-shop/bottega/dialogs"
	"github.com/bottega-shop/bottega/dialogs/sqldialogs"
	"github.com/bottega-shop/bottega/internal/sqldb"
	"github.com/bottega-shop/bottega/internal/testserver"
)

// testSecret makes the transcripts' subject ids (and is long enough for
// consent.NewService).
const testSecret = "dialogs-test-secret-for-subject-ids"

// subjectOf is the subject of a message's sender when channel identities
// are not linked to persons.
func subjectOf(_ context.Context, m bot.Message) string {
	return consent.SubjectID(testSecret, m.Channel, m.Conversation)
}

// ledgers holds the consent ledger's SQLite store shared by the tests of
// one run and the notices to check events against: Bottega's own, and the
// same with a second version of the notifications notice
// (testdata/notices), as when a shop publishes a new text.
type ledgers struct {
	store   *sqlconsent.Store
	notices map[string]*consent.Notices // "v1", "v2"
	db      *sqldb.DB                   // under store: export links and link codes too
	keysDB  *sqldb.DB                   // the keyring's, apart as in production
}

func newLedgers(tb testing.TB) *ledgers {
	tb.Helper()
	db := testserver.SQLiteDB(tb, "")
	store, err := sqlconsent.New(db)
	if err != nil {
		tb.Fatal(err)
	}
	v1, err := consent.NewNotices()
	if err != nil {
		tb.Fatal(err)
	}
	v2, err := consent.NewNotices(os.DirFS("testdata/notices"))
	if err != nil {
		tb.Fatal(err)
	}
	return &ledgers{store: store, notices: map[string]*consent.Notices{"v1": v1, "v2": v2}, db: db,
		keysDB: testserver.SQLiteDB(tb, "")}
}

// ledger returns a ledger on the shared store, with the notices of version
// set v ("v1", "v2") and the test's clock.
func (ls *ledgers) ledger(tb testing.TB, v string, now func() time.Time) *consent.Ledger {
	tb.Helper()
	ns, ok := ls.notices[v]
	if !ok {
		tb.Fatalf("no notices %q", v)
	}
	return consent.New(ls.store, ns, consent.WithNow(now))
}

// testRights is a consent.Rights of our own for the chat's tests (the real
// one fans out to every store): it reads the real ledger for the summary,
// holds a configurable list of data per subject, and records the calls.
type testRights struct {
	mu     sync.Mutex
	ledger *consent.Ledger
	now    func() time.Time
	// held per subject; subjects not listed hold one conversation.
	held map[string][]consent.Holding
	// erasedAt counts each erased subject's ledger events at erasure.
	erasedAt map[string]int
	down     bool
	erases   []string // "subject conversation"
	exports  int
}

func newTestRights(l *consent.Ledger, now func() time.Time) *testRights {
	return &testRights{ledger: l, now: now, held: map[string][]consent.Holding{}, erasedAt: map[string]int{}}
}

var errRightsDown = fmt.Errorf("test rights: %w", consent.ErrUnavailable)

func (r *testRights) holdings(subject string) []consent.Holding {
	if h, ok := r.held[subject]; ok {
		return h
	}
	return []consent.Holding{{What: "conversation", Count: 1}}
}

// nothingHeld reports whether nothing is held on subject: no data and no
// ledger event since its last erasure.
func (r *testRights) nothingHeld(ctx context.Context, subject string) (bool, error) {
	events, err := r.ledger.History(ctx, subject)
	if err != nil {
		return false, err
	}
	n, erased := r.erasedAt[subject]
	return len(r.holdings(subject)) == 0 && (len(events) == 0 || erased && len(events) <= n), nil
}

func (r *testRights) Summary(ctx context.Context, subject string) (consent.Summary, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.down {
		return consent.Summary{}, errRightsDown
	}
	events, err := r.ledger.History(ctx, subject)
	if err != nil {
		return consent.Summary{}, err
	}
	return consent.Summary{Subject: subject, Consents: consent.StateOf(events), Receipts: events,
		Held: r.holdings(subject)}, nil
}

func (r *testRights) ExportLink(ctx context.Context, subject string) (string, time.Time, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.down {
		return "", time.Time{}, errRightsDown
	}
	if none, err := r.nothingHeld(ctx, subject); err != nil || none {
		return "", time.Time{}, errors.Join(err, consent.ErrNotFound)
	}
	r.exports++
	return fmt.Sprintf("https://shop.example/privacy/export/tok%d", r.exports), r.now().Add(24 * time.Hour), nil
}

func (r *testRights) Erase(ctx context.Context, subject string, req consent.Request) (consent.Report, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.erases = append(r.erases, subject+" "+req.Conversation)
	if r.down {
		return consent.Report{}, errRightsDown
	}
	if none, err := r.nothingHeld(ctx, subject); err != nil || none {
		return consent.Report{}, errors.Join(err, fmt.Errorf("test rights: subject: %w", consent.ErrNotFound))
	}
	// As consent.DataRights records it: the ledger refuses a shopper's
	// event without the channel, method and message id of the request.
	channel, _, _ := strings.Cut(req.Conversation, ":")
	if _, err := r.ledger.Record(ctx, consent.Event{Subject: subject, Action: consent.Erase, Actor: consent.Shopper,
		Channel: channel, MessageID: req.MessageID, Method: req.Method, Lang: req.Lang}); err != nil {
		return consent.Report{}, err
	}
	events, err := r.ledger.History(ctx, subject)
	if err != nil {
		return consent.Report{}, err
	}
	r.erasedAt[subject] = len(events)
	r.held[subject] = nil
	return consent.Report{Subject: subject, At: r.now(), Stores: []consent.StoreReport{
		{Store: "sql", Erased: 3}, {Store: "keys", Erased: 1}, {Store: "ledger", Erased: 0, Note: "pseudonymous events kept"},
	}}, nil
}

// downConsent is a ledger whose store cannot be reached.
type downConsent struct{ dialogs.Consent }

var errLedgerDown = fmt.Errorf("test ledger: %w", consent.ErrUnavailable)

func (downConsent) State(context.Context, string) (map[consent.Purpose]consent.Status, error) {
	return nil, errLedgerDown
}

func (downConsent) NeedsAsk(context.Context, string, consent.Purpose, string) (bool, error) {
	return false, errLedgerDown
}

func (downConsent) Record(context.Context, consent.Event) (consent.Event, error) {
	return consent.Event{}, errLedgerDown
}

// privacyChat drives one conversation through a Dispatcher and an engine
// with the consent ledger and the rights.
type privacyChat struct {
	t      *testing.T
	d      *bot.Dispatcher
	store  *sqldialogs.Store
	db     *sqldb.DB // under store
	ledger *consent.Ledger
	rights *testRights
	conv   string
	n      int
	locale string
}

func newPrivacyChat(t *testing.T, cat dialogs.Catalog, ls *ledgers, now func() time.Time, conv string) *privacyChat {
	t.Helper()
	l := ls.ledger(t, "v1", now)
	r := newTestRights(l, now)
	e, err := dialogs.New(cat, dialogs.WithNow(now), dialogs.WithConsent(l), dialogs.WithRights(r),
		dialogs.WithSubjects(subjectOf))
	if err != nil {
		t.Fatal(err)
	}
	store, db := newConvStore(t, now)
	return &privacyChat{t: t, d: newTestDispatcher(store, e, now), store: store, db: db, ledger: l, rights: r, conv: conv}
}

func (c *privacyChat) send(m bot.Message) (string, bot.Message) {
	c.t.Helper()
	c.n++
	m.Channel, m.Conversation, m.Sender, m.ID, m.Seq, m.Locale = bot.WebChat, c.conv, "s1", fmt.Sprint(c.n), int64(c.n), c.locale
	entries, err := c.d.Dispatch(context.Background(), m)
	if err != nil {
		c.t.Fatalf("Dispatch(%q): %v", m.Text+m.Payload, err)
	}
	return render(repliesOf(entries)), m
}

func (c *privacyChat) subject() string {
	return subjectOf(context.Background(), bot.Message{Channel: bot.WebChat, Conversation: c.conv})
}

func repliesOf(entries []bot.Entry) []bot.Reply {
	var out []bot.Reply
	for _, e := range entries {
		if e.From == bot.FromBot && e.Reply != nil {
			out = append(out, *e.Reply)
		}
	}
	return out
}

func (c *privacyChat) history() []consent.Event {
	c.t.Helper()
	events, err := c.ledger.History(context.Background(), c.subject())
	if err != nil {
		c.t.Fatal(err)
	}
	return events
}

// The ledger holds every decision the chat carried, with the notice shown
// (its version and the hash of its exact text), the language, the channel,
// how it was given and the message that carried it; the state follows.
func TestConsentEvents(t *testing.T) {
	svc := newCatalog(t)
	ls := newLedgers(t)
	clk := newClock()
	c := newPrivacyChat(t, svc, ls, clk.now, "events")
	c.locale = "it"

	var ids []string
	step := func(m bot.Message, want string) {
		t.Helper()
		got, sent := c.send(m)
		if !matches(got, want) {
			t.Errorf("Dispatch(%q) answered:\n%s\nwant a line matching %q", m.Text+m.Payload, indent(got), want)
		}
		ids = append(ids, sent.ID)
		clk.advance(time.Second)
	}
	step(bot.Message{Text: "trail runner rosse nel 42"}, "esaurito")
	step(bot.Message{Payload: "notify:TRL-000-RED-42"}, "mi serve il tuo consenso")
	step(bot.Message{Text: "sì"}, "gli avvisi di disponibilità sono attivi")                        // 3: grant, typed
	step(bot.Message{Text: "trail runner nere nel 43"}, "Possiamo ricordare le tue taglie")         // 4: asks personalization
	step(bot.Message{Payload: "consent:deny:personalization"}, "userò solo questa conversazione")   // 5: deny, quick reply
	step(bot.Message{Payload: "privacy:ask:marketing"}, "Possiamo mandarti qui consigli e offerte") // 6
	step(bot.Message{Payload: "consent:grant:marketing"}, "ogni tanto ti manderò")                  // 7: grant, quick reply
	step(bot.Message{Payload: "privacy:withdraw:marketing"}, "niente più consigli")                 // 8: withdraw, button
	step(bot.Message{Text: "basta messaggi"}, "niente più avvisi di disponibilità")                 // 9: withdraw notifications, typed

	ns := ls.notices["v1"]
	hash := func(p consent.Purpose) string {
		n, ok := ns.Find(p, "it", 1)
		if !ok {
			t.Fatalf("no notice %s.it.v1", p)
		}
		return n.Hash()
	}
	type ev struct {
		Purpose       consent.Purpose
		Action        consent.Action
		Method        consent.Method
		MessageID     string
		NoticeVersion int
		NoticeHash    string
		Lang          string
		Channel       string
		Actor         consent.Actor
		Subject       string
	}
	subj := c.subject()
	want := []ev{
		{consent.Notifications, consent.Grant, consent.Typed, ids[2], 1, hash(consent.Notifications), "it", bot.WebChat, consent.Shopper, subj},
		{consent.Personalization, consent.Deny, consent.QuickReply, ids[4], 1, hash(consent.Personalization), "it", bot.WebChat, consent.Shopper, subj},
		{consent.Marketing, consent.Grant, consent.QuickReply, ids[6], 1, hash(consent.Marketing), "it", bot.WebChat, consent.Shopper, subj},
		{consent.Marketing, consent.Withdraw, consent.Button, ids[7], 0, "", "it", bot.WebChat, consent.Shopper, subj},
		{consent.Notifications, consent.Withdraw, consent.Typed, ids[8], 0, "", "it", bot.WebChat, consent.Shopper, subj},
	}
	var got []ev
	for _, e := range c.history() {
		got = append(got, ev{e.Purpose, e.Action, e.Method, e.MessageID, e.NoticeVersion, e.NoticeHash, e.Lang, e.Channel, e.Actor, e.Subject})
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ledger events (-want +got):\n%s", diff)
	}
	if err := c.ledger.Verify(context.Background()); err != nil {
		t.Errorf("Verify() = %v", err)
	}
	state, err := c.ledger.State(context.Background(), subj)
	if err != nil {
		t.Fatal(err)
	}
	for p, granted := range map[consent.Purpose]bool{consent.Notifications: false, consent.Marketing: false, consent.Personalization: false} {
		if state[p].Granted != granted {
			t.Errorf("State()[%s].Granted = %v, want %v", p, state[p].Granted, granted)
		}
	}
	// The session kept the interest given with the yes, and nothing of the
	// size that was refused.
	st := readConv(t, c.db, bot.WebChat+":"+c.conv).state
	if !strings.Contains(string(st), "TRL-000-RED-42") || strings.Contains(string(st), `"rm"`) || strings.Contains(string(st), `"pz"`) {
		t.Errorf("session = %s, want the notify request and no remembered or pending sizes", st)
	}
}

// A grant and a withdrawal given in the same instant are both recorded,
// and the later one in the chain decides.
func TestGrantAndWithdrawAtOnce(t *testing.T) {
	svc := newCatalog(t)
	ls := newLedgers(t)
	clk := newClock() // never advanced: every event has the same time
	c := newPrivacyChat(t, svc, ls, clk.now, "once")
	c.locale = "en"
	c.send(bot.Message{Text: "trail runner red 42"})
	c.send(bot.Message{Payload: "notify:TRL-000-RED-42"})
	c.send(bot.Message{Payload: "consent:grant:notifications"})
	c.send(bot.Message{Text: "stop"})
	events := c.history()
	var actions []string
	for _, e := range events {
		actions = append(actions, string(e.Purpose)+" "+string(e.Action))
		if !e.At.Equal(events[0].At) {
			t.Errorf("event %d at %v, want %v", e.ID, e.At, events[0].At)
		}
	}
	wantActions := []string{"notifications grant", "notifications withdraw", "marketing withdraw"}
	if !slices.Equal(actions, wantActions) {
		t.Errorf("events = %q, want %q", actions, wantActions)
	}
	state, err := c.ledger.State(context.Background(), c.subject())
	if err != nil {
		t.Fatal(err)
	}
	if s := state[consent.Notifications]; s.Granted || s.Action != consent.Withdraw {
		t.Errorf("State()[notifications] = %+v, want withdrawn", s)
	}

	// The same from two turns running at once (say the chat and another
	// replica handling a button): both land in the chain, in some order.
	e, err := dialogs.New(svc, dialogs.WithNow(clk.now), dialogs.WithConsent(c.ledger), dialogs.WithSubjects(subjectOf))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	m := bot.Message{Channel: bot.WebChat, Conversation: "race", ID: "1", Text: "trail runner red 42"}
	asked, _, err := e.Handle(ctx, nil, m)
	if err == nil {
		m.ID, m.Text, m.Payload = "2", "", "notify:TRL-000-RED-42"
		asked, _, err = e.Handle(ctx, asked, m)
	}
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i, msg := range []bot.Message{{Payload: "consent:grant:notifications"}, {Text: "stop"}} {
		msg.Channel, msg.Conversation, msg.ID = bot.WebChat, "race", fmt.Sprint(3+i)
		wg.Go(func() {
			if _, _, err := e.Handle(ctx, asked, msg); err != nil {
				t.Errorf("Handle(%q): %v", msg.Text+msg.Payload, err)
			}
		})
	}
	wg.Wait()
	events, err = c.ledger.History(ctx, subjectOf(ctx, bot.Message{Channel: bot.WebChat, Conversation: "race"}))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, e := range events {
		got[string(e.Purpose)+" "+string(e.Action)] = e.MessageID
	}
	want := map[string]string{"notifications grant": "3", "notifications withdraw": "4", "marketing withdraw": "4"}
	if len(events) != 3 || !cmp.Equal(got, want) {
		t.Errorf("events of the racing turns = %s, want a grant (message 3) and two withdrawals (message 4)", describe(events))
	}
	if err := c.ledger.Verify(ctx); err != nil {
		t.Errorf("Verify() = %v", err)
	}
}

// "forget me", confirmed, erases through the rights with the subject and
// the conversation key, and has the dispatcher erase the conversation in
// the same commit: the next message starts a new conversation.
func TestForgetErasesConversation(t *testing.T) {
	svc := newCatalog(t)
	ls := newLedgers(t)
	clk := newClock()
	c := newPrivacyChat(t, svc, ls, clk.now, "forget")
	c.locale = "en"
	key := bot.WebChat + ":" + c.conv
	c.send(bot.Message{Text: "trail runner red 43"})
	c.send(bot.Message{Payload: "consent:grant:personalization"})
	_, asked := c.send(bot.Message{Text: "forget me"})
	if bad := kept(t, c.store, c.db, key, asked.ID); len(bad) > 0 {
		t.Fatalf("after asking to forget, before confirming, the conversation is not kept: %s", strings.Join(bad, "; "))
	}
	got, confirmed := c.send(bot.Message{Payload: "privacy:forget:confirm"})
	if !matches(got, "everything we held about you has been erased") {
		t.Errorf("confirmation answered:\n%s", indent(got))
	}
	if bad := forgotten(t, c.store, c.db, key, confirmed.ID); len(bad) > 0 {
		t.Errorf("after the erasure the conversation is not forgotten: %s", strings.Join(bad, "; "))
	}
	// Nothing the shopper said or was shown before is left in the tables.
	rows := readConv(t, c.db, key)
	for _, e := range rows.entries {
		for _, said := range []string{"trail runner", "43"} {
			if strings.Contains(strings.ToLower(e.body+e.reply), said) {
				t.Errorf("dialog_entries row %d still holds %q: %q %s", e.seq, said, e.body, e.reply)
			}
		}
	}
	if want := []string{c.subject() + " " + key}; !slices.Equal(c.rights.erases, want) {
		t.Errorf("Erase calls = %q, want %q", c.rights.erases, want)
	}
	entries, err := c.d.Entries(context.Background(), key, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.From == bot.FromShopper && e.Text != "" || e.Reply != nil && strings.Contains(e.Reply.Text, "43") {
			t.Errorf("the log after the erasure holds %+v", e)
		}
	}
	if got, _ := c.send(bot.Message{Text: "hi"}); !matches(got, "Hi! I'm Bottega's assistant") || matches(got, "Welcome back") {
		t.Errorf("the first message after the erasure answered:\n%s\nwant a first welcome", indent(got))
	}
}

func TestPrivacyOptions(t *testing.T) {
	svc := newCatalog(t)
	ls := newLedgers(t)
	l := ls.ledger(t, "v1", time.Now)
	if _, err := dialogs.New(svc, dialogs.WithConsent(l)); err == nil {
		t.Errorf("New(WithConsent) without WithSubjects succeeded, want an error")
	}
	if _, err := dialogs.New(svc, dialogs.WithRights(newTestRights(l, time.Now))); err == nil {
		t.Errorf("New(WithRights) without WithSubjects succeeded, want an error")
	}
	// A message without a subject gets no consent features.
	e, err := dialogs.New(svc, dialogs.WithConsent(l), dialogs.WithSubjects(func(context.Context, bot.Message) string { return "" }))
	if err != nil {
		t.Fatal(err)
	}
	_, replies, err := e.Handle(context.Background(), nil, bot.Message{Channel: bot.WebChat, Conversation: "x", ID: "1", Text: "privacy"})
	if err != nil {
		t.Fatal(err)
	}
	if got := render(replies); !matches(got, "Privacy controls aren't available") && !matches(got, "non è ancora possibile gestire la privacy") {
		t.Errorf("privacy without a subject answered:\n%s", indent(got))
	}
}

// Without the consent options the engine asks nothing, notes a notify
// request at once, and says the privacy commands are not available.
func TestPrivacyNotConfigured(t *testing.T) {
	svc := newCatalog(t)
	c := newChat(t, svc)
	c.locale = "en"
	for _, text := range []string{"privacy", "stop", "export my data", "forget me"} {
		if got := c.say(text); !matches(got, "Privacy controls aren't available in this chat") {
			t.Errorf("Handle(%q) without consent answered:\n%s", text, indent(got))
		}
	}
	c.say("trail runner red 42")
	if got := c.press("notify:TRL-000-RED-42"); !matches(got, "Done: I'll let you know") || matches(got, "[quick]") {
		t.Errorf("notify without consent answered:\n%s", indent(got))
	}
}
