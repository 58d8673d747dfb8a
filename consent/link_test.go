package consent_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/bottega-shop/bottega/consent"
	"github.com/bottega-shop/bottega/consent/sqlconsent"
)

// identity is one channel identity of a shopper: its conversation key and
// its own subject.
type identity struct {
	conversation, subject string
}

func channelIdentity(channel, id string) identity {
	return identity{conversation: channel + ":" + id, subject: consent.SubjectID(string(secretKey), channel, id)}
}

func customerOf(id string) string { return consent.CustomerSubject(string(secretKey), id) }

// say stores a line of the identity's conversation, sealed with its own
// key, as the dispatcher does.
func (r *rig) say(t *testing.T, who identity, lines ...string) {
	t.Helper()
	for _, l := range lines {
		r.notes.add(t, who.subject, who.conversation, l)
	}
}

func (r *rig) record(t *testing.T, e consent.Event) consent.Event {
	t.Helper()
	got, err := r.ledger.Record(context.Background(), e)
	if err != nil {
		t.Fatalf("Record(%s) = %v", e.Action, err)
	}
	return got
}

func (r *rig) personOf(t *testing.T, who identity) string {
	t.Helper()
	got, err := r.svc.PersonOf(context.Background(), who.conversation)
	if err != nil {
		t.Fatalf("PersonOf(%s) = %v", who.conversation, err)
	}
	return got
}

func (r *rig) signIn(t *testing.T, who identity, customerID string) {
	t.Helper()
	if already, err := r.svc.LinkCustomer(context.Background(), who.conversation, customerID, consent.Event{Lang: "it"}); err != nil || already {
		t.Fatalf("LinkCustomer(%s) = %v, %v; want a new link", who.conversation, already, err)
	}
}

func (r *rig) linkCode(t *testing.T, who identity) string {
	t.Helper()
	code, _, err := r.svc.LinkCode(context.Background(), who.conversation)
	if err != nil {
		t.Fatalf("LinkCode(%s) = %v", who.conversation, err)
	}
	return code
}

func (r *rig) head(t *testing.T) int64 {
	t.Helper()
	h, err := r.ledgerStore.Head(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return h.ID
}

// lastEvent is the ledger's last event.
func (r *rig) lastEvent(t *testing.T) consent.Event {
	t.Helper()
	id := r.head(t)
	got, err := r.ledgerStore.Events(context.Background(), id-1, 1)
	if err != nil || len(got) != 1 {
		t.Fatalf("Events(%d, 1) = %v, %v", id-1, got, err)
	}
	return got[0]
}

func TestLinking(t *testing.T) {
	onBackends(t, []backendTest{
		{"LinkCustomer", testLinkCustomer},
		{"LinkCustomerConcurrent", testLinkCustomerConcurrent},
		{"LinkCode", testLinkCode},
		{"LinkCodeConflict", testLinkCodeConflict},
		{"SummaryAndExport", testLinkedSummaryAndExport},
		{"EraseLinkedPerson", testEraseLinkedPerson},
	})
}

func testLinkCustomer(t *testing.T, open opener) {
	ctx := context.Background()
	r := newRig(t, open)
	web := channelIdentity("webchat", "s-1")
	person := customerOf("cust-42")

	if got := r.personOf(t, web); got != web.subject {
		t.Errorf("PersonOf(a visitor not signed in) = %.8s…, want their own subject", got)
	}
	already, err := r.svc.LinkCustomer(ctx, web.conversation, "cust-42", consent.Event{Lang: "it", MessageID: "hello-1"})
	if err != nil || already {
		t.Fatalf("LinkCustomer() = %v, %v; want a new link", already, err)
	}
	want := consent.Event{ID: 1, Subject: person, Linked: web.subject, Lang: "it", Channel: "webchat",
		Method: consent.SignIn, MessageID: "hello-1", Action: consent.Link, Actor: consent.Shopper, At: r.clk.now()}
	if diff := cmp.Diff(want, r.lastEvent(t), cmpopts.IgnoreFields(consent.Event{}, "PrevHash", "Digest", "Hash")); diff != "" {
		t.Errorf("the ledger's link event (-want +got):\n%s", diff)
	}
	if got := r.personOf(t, web); got != person {
		t.Errorf("PersonOf(signed-in visitor) = %.8s…, want the customer %.8s…", got, person)
	}

	// Signing in again (every page load says hello) records nothing.
	if already, err := r.svc.LinkCustomer(ctx, web.conversation, "cust-42", consent.Event{}); err != nil || !already {
		t.Errorf("LinkCustomer(again) = %v, %v; want already", already, err)
	}
	// Another customer on the same session: the first link stays.
	if _, err := r.svc.LinkCustomer(ctx, web.conversation, "cust-99", consent.Event{}); !errors.Is(err, consent.ErrConflict) {
		t.Errorf("LinkCustomer(another customer) = %v, want ErrConflict", err)
	}
	if got := r.personOf(t, web); got != person {
		t.Errorf("PersonOf() after a conflicting sign-in = %.8s…, want the first customer", got)
	}
	if h := r.head(t); h != 1 {
		t.Errorf("the ledger holds %d events, want only the first link", h)
	}
	if ok, err := r.keys.Has(ctx, customerOf("cust-99")); ok || err != nil {
		t.Errorf("Has(the customer who lost the link) = %v, %v; want no key", ok, err)
	}

	bad := []struct {
		name, conversation, customer string
		e                            consent.Event
	}{
		{"no customer id", web.conversation, "", consent.Event{}},
		{"a customer id with a newline", web.conversation, "a\nb", consent.Event{}},
		{"a long customer id", web.conversation, strings.Repeat("x", 300), consent.Event{}},
		{"not a conversation key", "s-1", "cust-42", consent.Event{}},
		{"the customer pseudo-channel", "customer:cust-1", "cust-42", consent.Event{}},
		{"an empty id", "webchat:", "cust-42", consent.Event{}},
		{"a bad language", "webchat:s-2", "cust-42", consent.Event{Lang: "Italiano"}},
		{"a purpose", "webchat:s-2", "cust-42", consent.Event{Purpose: consent.Marketing}},
		{"a button", "webchat:s-2", "cust-42", consent.Event{Method: consent.Button}},
	}
	for _, tt := range bad {
		if _, err := r.svc.LinkCustomer(ctx, tt.conversation, tt.customer, tt.e); !errors.Is(err, consent.ErrInvalid) {
			t.Errorf("LinkCustomer(%s) = %v, want ErrInvalid", tt.name, err)
		}
	}
	if got := r.personOf(t, channelIdentity("webchat", "s-2")); got != channelIdentity("webchat", "s-2").subject {
		t.Errorf("PersonOf() after refused links = %.8s…, want no link made", got)
	}
	if _, err := r.svc.PersonOf(ctx, "customer:cust-42"); !errors.Is(err, consent.ErrInvalid) {
		t.Errorf("PersonOf(the customer pseudo-channel) = %v, want ErrInvalid", err)
	}
	if err := r.ledger.Verify(ctx); err != nil {
		t.Errorf("Verify() = %v", err)
	}
}

func testLinkCustomerConcurrent(t *testing.T, open opener) {
	ctx := context.Background()
	r := newRig(t, open)
	tests := []struct {
		name      string
		web       identity
		customers []string
	}{
		{"one customer", channelIdentity("webchat", "race-1"), []string{"cust-1"}},
		{"two customers", channelIdentity("webchat", "race-2"), []string{"cust-2", "cust-3"}},
	}
	for _, tt := range tests {
		before := r.head(t)
		const n = 8
		var (
			wg      sync.WaitGroup
			mu      sync.Mutex
			start   = make(chan struct{})
			fresh   int
			results []string
		)
		for i := range n {
			wg.Go(func() {
				<-start
				already, err := r.svc.LinkCustomer(ctx, tt.web.conversation, tt.customers[i%len(tt.customers)], consent.Event{})
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil && !already:
					fresh++
				case err == nil, errors.Is(err, consent.ErrConflict):
				default:
					t.Errorf("%s: concurrent LinkCustomer() = %v", tt.name, err)
				}
				results = append(results, fmt.Sprint(already, err))
			})
		}
		close(start)
		wg.Wait()
		if fresh != 1 {
			t.Errorf("%s: %d concurrent LinkCustomer(): %d made the link, want 1 (results %q)", tt.name, n, fresh, results)
		}
		if got := r.head(t) - before; got != 1 {
			t.Errorf("%s: %d concurrent LinkCustomer() recorded %d link events, want 1", tt.name, n, got)
		}
	}
}

var codeRE = regexp.MustCompile(`^[A-Za-z0-9_-]{22}$`)

func testLinkCode(t *testing.T, open opener) {
	ctx := context.Background()
	r := newRig(t, open)
	web, tg, ms := channelIdentity("webchat", "s-1"), channelIdentity("telegram", "77"), channelIdentity("messenger", "psid-9")
	person := customerOf("cust-42")

	if _, _, err := r.svc.LinkCode(ctx, web.conversation); !errors.Is(err, consent.ErrNotLinked) {
		t.Errorf("LinkCode(a visitor not signed in) = %v, want ErrNotLinked", err)
	}
	r.signIn(t, web, "cust-42")
	code, expires, err := r.svc.LinkCode(ctx, web.conversation)
	if err != nil {
		t.Fatalf("LinkCode() = %v", err)
	}
	if !codeRE.MatchString(code) || len(consent.LinkCodePrefix+code) > 64 {
		t.Errorf("LinkCode() = %q, want 22 characters of [A-Za-z0-9_-], fit for Telegram's start parameter", code)
	}
	if want := r.clk.now().Add(consent.DefaultLinkCodeTTL); !expires.Equal(want) {
		t.Errorf("LinkCode() expires %v, want %v", expires, want)
	}
	if other := r.linkCode(t, web); other == code {
		t.Errorf("LinkCode() twice = %q both times, want random codes", code)
	}
	// Only a MAC of the code is stored.
	var stored int
	if err := r.main.R.QueryRow(`SELECT count(*) FROM consent_link_codes WHERE id LIKE $1 OR person LIKE $1`, "%"+code+"%").Scan(&stored); err != nil || stored != 0 {
		t.Errorf("the link code store holds the code in clear (%d rows, %v)", stored, err)
	}

	// Telegram's /start link-<code>.
	r.clk.advance(time.Minute)
	already, err := r.svc.RedeemLinkCode(ctx, tg.conversation, consent.LinkCodePrefix+code, consent.Event{Lang: "it", MessageID: "update-5"})
	if err != nil || already {
		t.Fatalf("RedeemLinkCode() = %v, %v; want a new link", already, err)
	}
	want := consent.Event{ID: 2, Subject: person, Linked: tg.subject, Lang: "it", Channel: "telegram",
		Method: consent.LinkCode, MessageID: "update-5", Action: consent.Link, Actor: consent.Shopper, At: r.clk.now()}
	if diff := cmp.Diff(want, r.lastEvent(t), cmpopts.IgnoreFields(consent.Event{}, "PrevHash", "Digest", "Hash")); diff != "" {
		t.Errorf("the ledger's link event (-want +got):\n%s", diff)
	}
	if got := r.personOf(t, tg); got != person {
		t.Errorf("PersonOf(telegram) after redeeming = %.8s…, want the customer", got)
	}
	// A second tap on the same link: already linked, nothing recorded.
	if already, err := r.svc.RedeemLinkCode(ctx, tg.conversation, code, consent.Event{}); err != nil || !already {
		t.Errorf("RedeemLinkCode(the same code again, same chat) = %v, %v; want already", already, err)
	}
	// The code is used up for anyone else.
	if _, err := r.svc.RedeemLinkCode(ctx, ms.conversation, code, consent.Event{}); !errors.Is(err, consent.ErrGone) {
		t.Errorf("RedeemLinkCode(a used code, another chat) = %v, want ErrGone", err)
	}
	// A code opened after 15 minutes has expired.
	late := r.linkCode(t, web)
	r.clk.advance(consent.DefaultLinkCodeTTL)
	if _, err := r.svc.RedeemLinkCode(ctx, ms.conversation, late, consent.Event{}); !errors.Is(err, consent.ErrGone) {
		t.Errorf("RedeemLinkCode(expired) = %v, want ErrGone", err)
	}
	for _, c := range []string{"", "link-", "nope", strings.Repeat("A", 22), "link-" + strings.Repeat("A", 22), code + "x", "../../etc"} {
		if _, err := r.svc.RedeemLinkCode(ctx, ms.conversation, c, consent.Event{}); !errors.Is(err, consent.ErrNotFound) {
			t.Errorf("RedeemLinkCode(%q) = %v, want ErrNotFound", c, err)
		}
	}
	if got := r.personOf(t, ms); got != ms.subject {
		t.Errorf("PersonOf(messenger) after refused codes = %.8s…, want its own subject", got)
	}
	// A Messenger referral works the same way.
	fresh := r.linkCode(t, tg) // made from the linked Telegram chat
	if already, err := r.svc.RedeemLinkCode(ctx, ms.conversation, consent.LinkCodePrefix+fresh, consent.Event{Lang: "en", MessageID: "mid.1"}); err != nil || already {
		t.Errorf("RedeemLinkCode(messenger) = %v, %v; want a new link", already, err)
	}
	sum, err := r.svc.Summary(ctx, person)
	if err != nil || !slices.Equal(sum.Linked, []string{"messenger", "telegram", "webchat"}) {
		t.Errorf("Summary(person).Linked = %q, %v; want the three channels", sum.Linked, err)
	}
	if err := r.ledger.Verify(ctx); err != nil {
		t.Errorf("Verify() = %v", err)
	}
}

func testLinkCodeConflict(t *testing.T, open opener) {
	ctx := context.Background()
	r := newRig(t, open)
	webA, webB, tg := channelIdentity("webchat", "a"), channelIdentity("webchat", "b"), channelIdentity("telegram", "88")
	r.signIn(t, webA, "cust-a")
	r.signIn(t, webB, "cust-b")
	if _, err := r.svc.RedeemLinkCode(ctx, tg.conversation, r.linkCode(t, webB), consent.Event{}); err != nil {
		t.Fatal(err)
	}
	before := r.head(t)
	if _, err := r.svc.RedeemLinkCode(ctx, tg.conversation, r.linkCode(t, webA), consent.Event{}); !errors.Is(err, consent.ErrConflict) {
		t.Errorf("RedeemLinkCode(another customer's code on a linked chat) = %v, want ErrConflict", err)
	}
	if got := r.personOf(t, tg); got != customerOf("cust-b") {
		t.Errorf("PersonOf() after a conflicting code = %.8s…, want the first customer", got)
	}
	if h := r.head(t); h != before {
		t.Errorf("a conflicting code recorded %d events, want none", h-before)
	}
	// A web-chat session that is one customer's cannot make a code for
	// another, and a code of a customer redeemed in their own chat is a
	// no-op.
	if already, err := r.svc.RedeemLinkCode(ctx, webA.conversation, r.linkCode(t, webA), consent.Event{}); err != nil || !already {
		t.Errorf("RedeemLinkCode(in the chat that made it) = %v, %v; want already", already, err)
	}
}

// failingLedgerStore is a ledger store whose appends fail on demand.
type failingLedgerStore struct {
	consent.Store
	mu   sync.Mutex
	fail bool
}

func (f *failingLedgerStore) Append(ctx context.Context, seal func(consent.Head) (consent.Event, error)) (consent.Event, error) {
	f.mu.Lock()
	fail := f.fail
	f.mu.Unlock()
	if fail {
		return consent.Event{}, fmt.Errorf("test: %w", consent.ErrUnavailable)
	}
	return f.Store.Append(ctx, seal)
}

// TestLinkUndoneWhenNotRecorded checks that a link the ledger could not
// record is not kept: every link is proven by a ledger event, and trying
// again records it.
func TestLinkUndoneWhenNotRecorded(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, backends["sqlite"])
	store, err := sqlconsent.New(r.main)
	if err != nil {
		t.Fatal(err)
	}
	failing := &failingLedgerStore{Store: store, fail: true}
	ledger := consent.New(failing, r.ledger.Notices())
	svc, err := consent.NewService(ledger, r.keys, secretKey, consent.WithTokenStore(nopTokens{}))
	if err != nil {
		t.Fatal(err)
	}
	web := channelIdentity("webchat", "s-1")
	if _, err := svc.LinkCustomer(ctx, web.conversation, "cust-1", consent.Event{}); !errors.Is(err, consent.ErrUnavailable) {
		t.Fatalf("LinkCustomer() with the ledger down = %v, want ErrUnavailable", err)
	}
	if got, err := svc.PersonOf(ctx, web.conversation); err != nil || got != web.subject {
		t.Errorf("PersonOf() after a link the ledger refused = %.8s…, %v; want no link", got, err)
	}
	failing.mu.Lock()
	failing.fail = false
	failing.mu.Unlock()
	if already, err := svc.LinkCustomer(ctx, web.conversation, "cust-1", consent.Event{}); err != nil || already {
		t.Errorf("LinkCustomer() again = %v, %v; want a new, recorded link", already, err)
	}
	if h, err := ledger.History(ctx, customerOf("cust-1")); err != nil || len(h) != 1 || h[0].Action != consent.Link {
		t.Errorf("History(customer) = %+v, %v; want the one link event", h, err)
	}
	if _, _, err := svc.LinkCode(ctx, web.conversation); err == nil {
		t.Errorf("LinkCode() without a link code store = nil error, want one")
	}
}

func testLinkedSummaryAndExport(t *testing.T, open opener) {
	ctx := context.Background()
	r := newRig(t, open)
	web, tg := channelIdentity("webchat", "s-1"), channelIdentity("telegram", "77")
	person := customerOf("cust-42")
	bob := telegramUser("bob")
	r.chat(t, bob, "bob's line")

	// On Telegram before linking: a grant and two lines.
	grant := r.record(t, consent.Event{Subject: tg.subject, Purpose: consent.Marketing, NoticeVersion: 1, Lang: "it",
		Channel: "telegram", Method: consent.Button, MessageID: "cb-1", Action: consent.Grant, Actor: consent.Shopper})
	r.say(t, tg, "avete le trail runner?", "nel 42")
	r.clk.advance(time.Minute)
	r.signIn(t, web, "cust-42")
	r.say(t, web, "ciao dal sito")
	if _, err := r.svc.RedeemLinkCode(ctx, tg.conversation, r.linkCode(t, web), consent.Event{Lang: "it", MessageID: "u-1"}); err != nil {
		t.Fatal(err)
	}

	// Asked about any of the identities, the summary is the person's.
	for _, subj := range []string{person, tg.subject, web.subject} {
		sum, err := r.svc.Summary(ctx, subj)
		if err != nil {
			t.Fatalf("Summary() = %v", err)
		}
		if sum.Subject != person || !slices.Equal(sum.Linked, []string{"telegram", "webchat"}) {
			t.Errorf("Summary(%.8s…) = subject %.8s…, linked %q; want the person, linked on telegram and webchat", subj, sum.Subject, sum.Linked)
		}
		wantHeld := []consent.Holding{{What: "consents", Count: 3}, {What: "conversation messages", Count: 3}}
		if diff := cmp.Diff(wantHeld, sum.Held); diff != "" {
			t.Errorf("Summary(%.8s…).Held (-want +got):\n%s", subj, diff)
		}
		if !sum.Consents[consent.Marketing].Granted || sum.Consents[consent.Marketing].EventID != grant.ID {
			t.Errorf("Summary(%.8s…).Consents[marketing] = %+v, want the grant given on Telegram before linking", subj, sum.Consents[consent.Marketing])
		}
	}
	if sum, err := r.svc.Summary(ctx, bob.subject); err != nil || len(sum.Linked) != 0 || sum.Subject != bob.subject {
		t.Errorf("Summary(bob) = %+v, %v; want bob, with no linked channels", sum, err)
	}

	x, err := r.svc.Export(ctx, tg.subject)
	if err != nil {
		t.Fatalf("Export(alias) = %v", err)
	}
	b, err := json.Marshal(x)
	if err != nil {
		t.Fatal(err)
	}
	validate(t, b)
	if x.Profile.Subject != person || !slices.Equal(x.Profile.Linked, []string{"telegram", "webchat"}) ||
		!slices.Equal(x.Profile.Channels, []string{"telegram", "webchat"}) {
		t.Errorf("Export(alias).Profile = %+v, want the person, on and linked to telegram and webchat", x.Profile)
	}
	var methods []consent.Method
	for _, l := range x.Links {
		methods = append(methods, l.Method)
	}
	if !slices.Equal(methods, []consent.Method{consent.SignIn, consent.LinkCode}) {
		t.Errorf("Export().Links methods = %v, want sign_in then link_code", methods)
	}
	var texts []string
	for _, raw := range x.Conversations {
		var c exportedConversation
		if err := json.Unmarshal(raw, &c); err != nil {
			t.Fatal(err)
		}
		for _, m := range c.Messages {
			texts = append(texts, c.Channel+": "+m.Text)
		}
	}
	if want := []string{"telegram: avete le trail runner?", "telegram: nel 42", "webchat: ciao dal sito"}; !slices.Equal(texts, want) {
		t.Errorf("Export().Conversations = %q, want both identities' lines, each opened with its own key: %q", texts, want)
	}

	// The export link of an alias is the person's.
	u, _, err := r.svc.ExportLink(ctx, web.subject)
	if err != nil {
		t.Fatal(err)
	}
	got, err := r.svc.Redeem(ctx, u[strings.LastIndex(u, "/")+1:])
	if err != nil || got.Profile.Subject != person || len(got.Conversations) != 2 {
		t.Errorf("Redeem(ExportLink(alias)) = %+v, %v; want the person's export", got.Profile, err)
	}
}

func testEraseLinkedPerson(t *testing.T, open opener) {
	ctx := context.Background()
	r := newRig(t, open)
	web, tg := channelIdentity("webchat", "s-1"), channelIdentity("telegram", "77")
	person := customerOf("cust-42")
	bob := telegramUser("bob")
	r.chat(t, bob, "bob's line")

	r.record(t, consent.Event{Subject: tg.subject, Purpose: consent.Notifications, NoticeVersion: 1, Lang: "it",
		Channel: "telegram", Method: consent.Button, MessageID: "cb-1", Action: consent.Grant, Actor: consent.Shopper})
	r.say(t, tg, "uno", "due")
	r.signIn(t, web, "cust-42")
	r.say(t, web, "tre")
	if _, err := r.svc.RedeemLinkCode(ctx, tg.conversation, r.linkCode(t, web), consent.Event{}); err != nil {
		t.Fatal(err)
	}
	pending := r.linkCode(t, web) // made, never used
	tgLine := sealedRows(t, r.main.R, tg.conversation)[0]
	r.clk.advance(time.Hour)

	// "Forget me", typed on Telegram: the alias resolves to the person.
	rep, err := r.svc.Erase(ctx, tg.subject, consent.Request{Conversation: tg.conversation, MessageID: "m-forget", Method: consent.Button, Lang: "it"})
	if err != nil {
		t.Fatalf("Erase(alias) = %v", err)
	}
	want := consent.Report{Subject: person, At: r.clk.now(), Stores: []consent.StoreReport{
		{Store: "ledger", Note: "recorded the erasure of the person and 2 linked identities as events 5 to 7; kept the earlier consent events (3) as pseudonymous proof of consent"},
		{Store: "conversations", Erased: 3, Note: "deleted the messages"},
		// 3 keys (the person's and each alias's), 2 conversation links,
		// 2 identity links, 2 link codes (one used, one pending).
		{Store: "keys", Erased: 9, Note: "destroyed 3 keys, of the person and of their linked identities, with their conversation links and the 2 links between them: what was sealed with the keys, in every store and in backups of the main database, can no longer be read; deleted 2 pending link codes"},
	}}
	if diff := cmp.Diff(want, rep); diff != "" {
		t.Errorf("Erase(alias) (-want +got):\n%s", diff)
	}

	// Every conversation is gone, every key destroyed.
	for _, who := range []identity{web, tg} {
		if rows := sealedRows(t, r.main.R, who.conversation); len(rows) != 0 {
			t.Errorf("%s still holds %d lines", who.conversation, len(rows))
		}
	}
	for name, subj := range map[string]string{"person": person, "web": web.subject, "telegram": tg.subject} {
		if ok, err := r.keys.Has(ctx, subj); ok || err != nil {
			t.Errorf("Has(%s) after the erasure = %v, %v; want the key destroyed", name, ok, err)
		}
	}
	if got, err := r.keys.Open(ctx, tg.subject, tgLine); !errors.Is(err, consent.ErrErased) {
		t.Errorf("Open(a Telegram line kept elsewhere) = %q, %v; want ErrErased", got, err)
	}
	// The identities are on their own again, also on a fresh replica.
	for _, who := range []identity{web, tg} {
		if got := r.personOf(t, who); got != who.subject {
			t.Errorf("PersonOf(%s) after the erasure = %.8s…, want its own subject", who.conversation, got)
		}
	}
	if ids, err := r.keys.Identities(ctx, person); err != nil || len(ids) != 0 {
		t.Errorf("Identities(person) after the erasure = %+v, %v; want none", ids, err)
	}
	if _, err := r.svc.RedeemLinkCode(ctx, channelIdentity("messenger", "m").conversation, pending, consent.Event{}); !errors.Is(err, consent.ErrNotFound) {
		t.Errorf("RedeemLinkCode(a code pending at the erasure) = %v, want ErrNotFound", err)
	}
	// The ledger keeps pseudonymous proof: an erasure for each subject, and
	// no consent left on any of them.
	for name, subj := range map[string]string{"person": person, "web": web.subject, "telegram": tg.subject} {
		h, err := r.ledger.History(ctx, subj)
		if err != nil || len(h) == 0 || h[len(h)-1].Action != consent.Erase || h[len(h)-1].Actor != consent.Shopper || h[len(h)-1].Channel != "telegram" || h[len(h)-1].MessageID != "m-forget" {
			t.Errorf("History(%s) ends with %+v, %v; want an erasure asked by the shopper with message m-forget, on telegram", name, h[len(h)-1], err)
		}
		state, err := r.ledger.State(ctx, subj)
		if err != nil || state[consent.Notifications].Granted {
			t.Errorf("State(%s)[notifications] after the erasure = %+v, %v; want ended", name, state[consent.Notifications], err)
		}
	}
	if err := r.ledger.Verify(ctx); err != nil {
		t.Errorf("Verify() = %v", err)
	}
	// Nothing is held any more, asked by any of them.
	for _, subj := range []string{person, web.subject, tg.subject} {
		if _, err := r.svc.Erase(ctx, subj, consent.Request{}); !errors.Is(err, consent.ErrNotFound) {
			t.Errorf("Erase(%.8s…) again = %v, want ErrNotFound", subj, err)
		}
	}
	// Bob is untouched.
	if sum, err := r.svc.Summary(ctx, bob.subject); err != nil || len(sum.Held) != 2 {
		t.Errorf("Summary(bob) after the erasure = %+v, %v; want his data", sum, err)
	}
	// Signing in again starts a new link, not the erased one's data.
	r.signIn(t, web, "cust-42")
	if sum, err := r.svc.Summary(ctx, person); err != nil || sum.Consents[consent.Notifications].Granted || !slices.Equal(sum.Linked, []string{"webchat"}) {
		t.Errorf("Summary(person) after signing in again = %+v, %v; want only the new link, no consent", sum, err)
	}
}

// BenchmarkPersonOf measures the lookup every chat turn makes, with a warm
// cache, for a linked and an unlinked identity.
//
//	go test -run '^$' -bench PersonOf ./consent/
func BenchmarkPersonOf(b *testing.B) {
	ctx := context.Background()
	keys, err := consent.NewKeyring(newSQLiteKeyStore(b), secretKey)
	if err != nil {
		b.Fatal(err)
	}
	ns, err := consent.NewNotices()
	if err != nil {
		b.Fatal(err)
	}
	svc, err := consent.NewService(consent.New(&memStore{}, ns), keys, secretKey, consent.WithTokenStore(nopTokens{}))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := svc.LinkCustomer(ctx, "webchat:linked", "cust-1", consent.Event{}); err != nil {
		b.Fatal(err)
	}
	for _, conv := range []string{"webchat:linked", "telegram:unlinked"} {
		b.Run(conv[strings.Index(conv, ":")+1:], func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := svc.PersonOf(ctx, conv); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
