package dialogs_test

import (
	"context"
	"fmt"
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
)

var _ dialogs.Linking = (*consent.DataRights)(nil)

// testLinks are the links the tests' engines offer, as cmd builds them
// from the bot's username and the Page id.
var testLinks = map[string]string{
	bot.Telegram:  "https://t.me/bottega_test_bot?start=link-{code}",
	bot.Messenger: "https://m.me/100200300?ref=link-{code}",
}

// linkStack is the real consent stack behind linking, as cmd wires it:
// the ledger, a keyring on a keys database of its own, export links and
// link codes in the ledger's database, all on SQLite and the test's clock.
type linkStack struct {
	rights *consent.DataRights
}

func (ls *ledgers) linkStack(tb testing.TB, l *consent.Ledger, now func() time.Time) *linkStack {
	tb.Helper()
	ks, err := sqlconsent.NewKeyStore(ls.keysDB)
	if err != nil {
		tb.Fatal(err)
	}
	keys, err := consent.NewKeyring(ks, []byte(testSecret), consent.WithKeyringNow(now))
	if err != nil {
		tb.Fatal(err)
	}
	tokens, err := sqlconsent.NewTokens(ls.db, now)
	if err != nil {
		tb.Fatal(err)
	}
	codes, err := sqlconsent.NewLinkCodes(ls.db, now)
	if err != nil {
		tb.Fatal(err)
	}
	rights, err := consent.NewService(l, keys, []byte(testSecret), consent.WithTokenStore(tokens),
		consent.WithLinkCodeStore(codes), consent.WithPublicURL("https://shop.example"), consent.WithServiceNow(now))
	if err != nil {
		tb.Fatal(err)
	}
	return &linkStack{rights: rights}
}

// personOf is the engine's subject of a message, as cmd resolves it: the
// person the sender's identity is linked to, else the identity's own.
func (s *linkStack) personOf(ctx context.Context, m bot.Message) string {
	p, err := s.rights.PersonOf(ctx, m.Key())
	if err != nil {
		return subjectOf(ctx, m)
	}
	return p
}

// downLinking is linking whose stores cannot be reached.
type downLinking struct{}

var errLinkingDown = fmt.Errorf("test linking: %w", consent.ErrUnavailable)

func (downLinking) LinkCode(context.Context, string) (string, time.Time, error) {
	return "", time.Time{}, errLinkingDown
}

func (downLinking) RedeemLinkCode(context.Context, string, string, consent.Event) (bool, error) {
	return false, errLinkingDown
}

// linkCodes returns the code in each link to an app in a rendered answer.
func linkCodes(out string) map[string]string {
	codes := map[string]string{}
	for app, tpl := range testLinks {
		prefix, _, _ := strings.Cut(tpl, "{code}")
		_, rest, ok := strings.Cut(out, prefix)
		if !ok {
			continue
		}
		code, _, _ := strings.Cut(rest, "\n")
		codes[app] = code
	}
	return codes
}

// withCodes puts the codes of the links shown into a payload.
func (r *run) withCodes(where, payload string) string {
	for app := range testLinks {
		mark := "{" + app + "}"
		if !strings.Contains(payload, mark) {
			continue
		}
		code, ok := r.codes[app]
		if !ok {
			r.t.Fatalf("%s: no link to %s shown yet", where, app)
		}
		payload = strings.ReplaceAll(payload, mark, code)
	}
	return payload
}

// customer is the shop's customer id for a name in this transcript: the
// transcripts share a ledger, so each has customers of its own.
func (r *run) customer(name string) string { return name + "-" + r.conv }

// checkLink runs "? person" and "? link".
func (r *run) checkLink(where, what, arg string) {
	t := r.t
	t.Helper()
	if r.stack == nil {
		t.Fatalf("%s: a link check without @ linking on", where)
	}
	ctx := context.Background()
	m := bot.Message{Channel: r.channel, Conversation: r.chat}
	alias := subjectOf(ctx, m)
	person, err := r.stack.rights.PersonOf(ctx, m.Key())
	if err != nil {
		t.Fatalf("%s: PersonOf(%s): %v", where, m.Key(), err)
	}
	if what == "person" {
		want := alias
		if arg != "self" {
			want = consent.CustomerSubject(testSecret, r.customer(arg))
		}
		if person != want {
			t.Errorf("%s: PersonOf(%s) = %s, want %s (%s)", where, m.Key(), person, want, arg)
		}
		return
	}
	events, err := r.ledger.History(ctx, person)
	if err != nil {
		t.Fatalf("%s: History: %v", where, err)
	}
	if len(events) == 0 {
		t.Fatalf("%s: the person's history is empty", where)
	}
	e := events[len(events)-1]
	want := consent.Event{Subject: person, Linked: alias, Action: consent.Link, Method: consent.Method(arg),
		Channel: r.channel, Actor: consent.Shopper}
	got := consent.Event{Subject: e.Subject, Linked: e.Linked, Action: e.Action, Method: e.Method,
		Channel: e.Channel, Actor: e.Actor}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("%s: the newest event of the person (-want +got):\n%s", where, diff)
	}
	if e.Method == consent.LinkCode && e.MessageID != r.last.ID {
		t.Errorf("%s: the link's MessageID = %q, want the last message's %q", where, e.MessageID, r.last.ID)
	}
}

// linkChats drives several chats of one shopper (a web chat, Telegram
// chats) through one Dispatcher and an engine on the real consent stack.
type linkChats struct {
	t      *testing.T
	d      *bot.Dispatcher
	ledger *consent.Ledger
	stack  *linkStack
	clk    *clock
	n      int

	mu       sync.Mutex
	subjects map[string][]string // message ID → the subjects the engine was given, in order
}

func newLinkChats(t *testing.T, cat dialogs.Catalog, ls *ledgers, opts ...dialogs.Option) *linkChats {
	t.Helper()
	c := &linkChats{t: t, clk: newClock(), subjects: map[string][]string{}}
	c.ledger = ls.ledger(t, "v1", c.clk.now)
	c.stack = ls.linkStack(t, c.ledger, c.clk.now)
	subjects := func(ctx context.Context, m bot.Message) string {
		s := c.stack.personOf(ctx, m)
		c.mu.Lock()
		c.subjects[m.ID] = append(c.subjects[m.ID], s)
		c.mu.Unlock()
		return s
	}
	opts = append([]dialogs.Option{dialogs.WithNow(c.clk.now), dialogs.WithConsent(c.ledger),
		dialogs.WithRights(c.stack.rights), dialogs.WithSubjects(subjects),
		dialogs.WithLinking(c.stack.rights, testLinks)}, opts...)
	e, err := dialogs.New(cat, opts...)
	if err != nil {
		t.Fatal(err)
	}
	store, _ := newConvStore(t, c.clk.now)
	c.d = newTestDispatcher(store, e, c.clk.now)
	return c
}

// send has the shopper of key ("telegram:tg1") write text, or press a
// button when text starts with ">>", and returns the rendered answer and
// the message's ID.
func (c *linkChats) send(key, text string) (string, string) {
	c.t.Helper()
	c.n++
	ch, conv, _ := strings.Cut(key, ":")
	m := bot.Message{Channel: ch, Conversation: conv, Sender: conv, ID: fmt.Sprint(c.n), Seq: int64(c.n),
		Locale: "en", At: c.clk.now()}
	if p, ok := strings.CutPrefix(text, ">>"); ok {
		m.Payload = strings.TrimSpace(p)
	} else {
		m.Text = text
	}
	entries, err := c.d.Dispatch(context.Background(), m)
	if err != nil {
		c.t.Fatalf("Dispatch(%q) on %s: %v", text, key, err)
	}
	c.clk.advance(time.Minute)
	return render(repliesOf(entries)), m.ID
}

// say sends text on key and checks the answer holds want.
func (c *linkChats) say(key, text, want string) string {
	c.t.Helper()
	got, _ := c.send(key, text)
	if !matches(got, want) {
		c.t.Errorf("Handle(%q) on %s answered:\n%s\nwant a line matching %q", text, key, indent(got), want)
	}
	return got
}

func (c *linkChats) personOf(key string) string {
	c.t.Helper()
	p, err := c.stack.rights.PersonOf(context.Background(), key)
	if err != nil {
		c.t.Fatalf("PersonOf(%s): %v", key, err)
	}
	return p
}

// A shopper who agreed to back-in-stock messages on the website, then
// signed in there, links Telegram with the code the web chat gave: the
// Telegram chat is theirs from the link's turn on, is not asked again,
// shows the linked chats in "privacy", and the ledger proves both links.
// The code works once.
func TestLinkAcrossChannels(t *testing.T) {
	svc := newCatalog(t)
	ls := newLedgers(t)
	c := newLinkChats(t, svc, ls)
	ctx := context.Background()
	const web, tg, other = "webchat:w1", "telegram:tg1", "telegram:tg2"

	c.say(web, "trail runner red 42", "sold out")
	c.say(web, ">> notify:TRL-000-RED-42", "I need your OK")
	c.say(web, ">> consent:grant:notifications", "back-in-stock messages are on")
	if got := c.say(web, "continue on Telegram", "sign in to your account on the shop's website"); matches(got, "[button]") {
		t.Errorf("a visitor not signed in got link buttons:\n%s", indent(got))
	}

	already, err := c.stack.rights.LinkCustomer(ctx, web, "cust-1", consent.Event{Lang: "en", MessageID: "sign-in"})
	if err != nil || already {
		t.Fatalf("LinkCustomer = %v, %v; want a new link", already, err)
	}
	person := consent.CustomerSubject(testSecret, "cust-1")
	out := c.say(web, "continue on Telegram", "It works once, within 15 minutes, and only for you")
	code, ok := linkCodes(out)[bot.Telegram]
	if !ok || matches(out, "[button] Open Messenger") {
		t.Fatalf("continue on Telegram answered:\n%s\nwant one link, to Telegram", indent(out))
	}

	got, linkID := c.send(tg, ">> start:link-"+code)
	if !matches(got, "Done: this chat is now linked to your shop account.") {
		t.Errorf("opening the link on Telegram answered:\n%s", indent(got))
	}
	if p := c.personOf(tg); p != person {
		t.Errorf("PersonOf(%s) after the link = %s, want the customer %s", tg, p, person)
	}

	// The yes given on the web counts on Telegram: no question.
	c.say(tg, "trail runner red 42", "sold out")
	if got := c.say(tg, ">> notify:TRL-000-RED-42", "Done: I'll let you know here"); matches(got, "[quick]") {
		t.Errorf("notify on Telegram asked again:\n%s", indent(got))
	}
	out = c.say(tg, "privacy", "Linked to your shop account: web chat and Telegram.")
	if !matches(out, "• Back-in-stock messages: yes") {
		t.Errorf("privacy on Telegram answered:\n%s\nwant the yes given on the web", indent(out))
	}

	// The ledger proves both links, and holds the web's yes in the
	// person's history.
	events, err := c.ledger.History(ctx, person)
	if err != nil {
		t.Fatal(err)
	}
	type ev struct {
		Action  consent.Action
		Purpose consent.Purpose
		Linked  string
		Method  consent.Method
		Channel string
		Message string
	}
	var evs []ev
	for _, e := range events {
		evs = append(evs, ev{e.Action, e.Purpose, e.Linked, e.Method, e.Channel, e.MessageID})
	}
	webAlias := subjectOf(ctx, bot.Message{Channel: bot.WebChat, Conversation: "w1"})
	tgAlias := subjectOf(ctx, bot.Message{Channel: bot.Telegram, Conversation: "tg1"})
	want := []ev{
		{consent.Grant, consent.Notifications, "", consent.QuickReply, bot.WebChat, "3"},
		{consent.Link, "", webAlias, consent.SignIn, bot.WebChat, "sign-in"},
		{consent.Link, "", tgAlias, consent.LinkCode, bot.Telegram, linkID},
	}
	if diff := cmp.Diff(want, evs); diff != "" {
		t.Errorf("the person's history (-want +got):\n%s", diff)
	}

	// The same link again on the same chat: already linked. On another
	// chat: used.
	c.say(tg, ">> start:link-"+code, "This chat is already linked to your shop account.")
	c.say(other, ">> start:link-"+code, "Sorry, this link doesn't work")
	if p := c.personOf(other); p == person {
		t.Errorf("a used code linked %s", other)
	}
}

// The link request is read in many phrasings, in both languages, and
// only when the message asks it; the app named is the one offered.
func TestLinkRequests(t *testing.T) {
	svc := newCatalog(t)
	c := newLinkChats(t, svc, newLedgers(t))
	const web = "webchat:signed"
	if _, err := c.stack.rights.LinkCustomer(context.Background(), web, "cust-2", consent.Event{Lang: "en"}); err != nil {
		t.Fatal(err)
	}
	both, tg, fb, none := "both", "telegram", "messenger", ""
	tests := []struct {
		text string
		want string // the apps offered
	}{
		{"continue on Telegram", tg},
		{"link Telegram", tg},
		{"collega Telegram", tg},
		{"continua su Telegram", tg},
		{"collega i miei account", both},
		{"link my accounts", both},
		{"LINK MY ACCOUNTS!", both},
		{"can I continue this chat on Messenger?", fb},
		{"vorrei continuare su facebook messenger", fb},
		{"connect my telegram and messenger please", both},
		{"passiamo su telegram?", tg},
		{"do you have the trail runner in 42?", none},
		{"telegram", none},
		{"link", none},
		{"continue", none},
		{"i saw your shop on facebook, do you have red sneakers?", none},
		{"my friend said I could link this chat to telegram but honestly I am not sure how it all works", none},
	}
	for _, tt := range tests {
		got, _ := c.send(web, tt.text)
		var offered string
		switch codes := linkCodes(got); {
		case len(codes) == 2:
			offered = both
		case codes[bot.Telegram] != "":
			offered = tg
		case codes[bot.Messenger] != "":
			offered = fb
		}
		if offered != tt.want {
			t.Errorf("Handle(%q) offered %q, want %q; answered:\n%s", tt.text, offered, tt.want, indent(got))
		}
	}
}

// Link templates must be absolute URLs with a place for the code; a nil
// Linking turns linking off.
func TestLinkingOptions(t *testing.T) {
	svc := newCatalog(t)
	ls := newLedgers(t)
	stack := ls.linkStack(t, ls.ledger(t, "v1", time.Now), time.Now)
	for _, links := range []map[string]string{
		{bot.Telegram: "https://t.me/bottega_test_bot"},
		{bot.Telegram: "t.me/bottega_test_bot?start=link-{code}"},
		{"": "https://t.me/bottega_test_bot?start=link-{code}"},
	} {
		if _, err := dialogs.New(svc, dialogs.WithLinking(stack.rights, links)); err == nil {
			t.Errorf("New(WithLinking(%q)) succeeded, want an error", links)
		}
	}
	e, err := dialogs.New(svc, dialogs.WithLinking(nil, testLinks))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []bot.Message{
		{Channel: bot.WebChat, Conversation: "off", ID: "1", Locale: "en", Text: "link my accounts"},
		{Channel: bot.Telegram, Conversation: "off", ID: "2", Locale: "en", Payload: "start:link-abc"},
	} {
		_, replies, err := e.Handle(context.Background(), nil, m)
		if err != nil {
			t.Fatal(err)
		}
		if got := render(replies); !matches(got, "Sorry, linking your chats isn't available in this shop.") {
			t.Errorf("Handle(%q) without linking answered:\n%s", m.Text+m.Payload, indent(got))
		}
	}
}

// A turn that read the shopper's consent before it linked the chat goes on
// as the person: the subject is asked for again after the link. (A
// Telegram chat back after the idle timeout reads its personalization
// consent, to keep the sizes it remembered, before it reads the payload.)
func TestLinkTurnBecomesThePersons(t *testing.T) {
	svc := newCatalog(t)
	c := newLinkChats(t, svc, newLedgers(t))
	const web, tg = "webchat:w3", "telegram:tg3"
	c.say(tg, "trail runner red 43", "Remember")
	c.say(tg, ">> consent:grant:personalization", "I'll remember size 43")
	c.clk.advance(dialogs.DefaultIdleTimeout + time.Hour)
	if _, err := c.stack.rights.LinkCustomer(context.Background(), web, "cust-3", consent.Event{Lang: "en"}); err != nil {
		t.Fatal(err)
	}
	out := c.say(web, "link telegram", "[button] Open Telegram")
	_, id := c.send(tg, ">> start:link-"+linkCodes(out)[bot.Telegram])

	alias := subjectOf(context.Background(), bot.Message{Channel: bot.Telegram, Conversation: "tg3"})
	want := []string{alias, consent.CustomerSubject(testSecret, "cust-3")}
	c.mu.Lock()
	got := c.subjects[id]
	c.mu.Unlock()
	if !slices.Equal(got, want) {
		t.Errorf("the link's turn asked for the subjects %q, want the identity's, then the person's %q", got, want)
	}
}
