package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bottega-shop/bottega/bot"
	"github.com/bottega-shop/bottega/bot/webchat"
	"github.com/bottega-shop/bottega/consent"
	"github.com/bottega-shop/bottega/internal/sqldb"
)

const (
	testCustomerKey = "e2e-customer-key-0123456789abcdef-0123"
	testBotUsername = "bottega_e2e_bot"
)

// TestOnePersonAcrossChannels is issue 5's "one person across channels"
// end to end: a shopper signed in on the shop's site chats in the widget,
// asks to continue on Telegram and opens the deep link the bot gives her.
// From then on she is one person: the ledger proves both links, a consent
// given on Telegram counts in the web chat (no second ask), a used link
// code links nobody else, and "forget me" said on Telegram erases her web
// conversation too — every store scanned, both identities' keys gone.
func TestOnePersonAcrossChannels(t *testing.T) {
	for name, env := range chatBackends(t) {
		t.Run(name, func(t *testing.T) { onePerson(t, env) })
	}
}

func onePerson(t *testing.T, env map[string]string) {
	ctx := context.Background()
	env["TELEGRAM_BOT_USERNAME"] = testBotUsername
	env["BOTTEGA_CUSTOMER_KEY"] = testCustomerKey
	srv := startTelegramServer(t, env)
	dir, api, base, secret, adminToken := srv.dir, srv.api, srv.base, srv.secret, srv.adminToken
	embedded := env["DATABASE_URL"] == ""
	const customer = "cust-4242"
	person := consent.CustomerSubject(secret, customer)

	// In the widget, signed in on the shop's site.
	web, err := dialChat(t, base, "")
	if err != nil {
		t.Fatal(err)
	}
	claim := webchat.NewCustomers(testCustomerKey, nil).Sign(customer, time.Now().Add(time.Hour))
	web.send(webchat.ClientFrame{Type: "hello", Locale: "it", Customer: &claim})
	welcome := web.read()
	if welcome.Type != "welcome" || welcome.Token == "" {
		t.Fatalf("hello with a signed-in customer answered %+v, want a welcome", welcome)
	}
	sessionID, err := webchat.NewSessions(secret, time.Hour, nil).Open(welcome.Token)
	if err != nil {
		t.Fatalf("the welcome's token does not open: %v", err)
	}
	webWords := "buonasera, sono Quintiliana: avete le trail runner rosse?"
	webTurn(web, "w1", webWords, "")

	// "Continua su Telegram": a link button to the bot with a link code.
	linkRe := regexp.MustCompile(`https://t\.me/` + testBotUsername + `\?start=link-([A-Za-z0-9_-]+)`)
	var code string
	for _, e := range webTurn(web, "w2", "continua su Telegram", "") {
		if m := linkRe.FindStringSubmatch(entryJSON(e)); m != nil {
			code = m[1]
		}
	}
	if code == "" {
		t.Fatalf("\"continua su Telegram\" from a signed-in shopper gave no t.me link with a link code")
	}

	// She opens the link: Telegram sends /start with the payload.
	her := &tgShopper{t: t, base: base, api: api, chatID: 888000333, first: "Quintiliana", last: "Scarabelli", user: "qscara", update: 80000}
	answer := her.say("/start link-" + code)
	t.Logf("her on Telegram: /start link-…\n  bot: %q", answer)
	subjects := map[string]string{
		"her web":      consent.SubjectID(secret, bot.WebChat, sessionID.ID),
		"her telegram": consent.SubjectID(secret, bot.Telegram, strconv.FormatInt(her.chatID, 10)),
	}

	// The ledger proves both links; the admin sees one person on two channels.
	sum := subjectSummary(t, base, adminToken, person)
	if want := []string{bot.Telegram, bot.WebChat}; !slices.Equal(sum.Linked, want) {
		t.Fatalf("the person's linked channels = %q, want %q", sum.Linked, want)
	}
	links := map[consent.Method]string{}
	for _, e := range sum.Receipts {
		if e.Action == consent.Link {
			links[e.Method] = e.Linked
		}
	}
	if links[consent.SignIn] != subjects["her web"] || links[consent.LinkCode] != subjects["her telegram"] {
		t.Fatalf("the person's link receipts = %v, want the web identity by sign-in and the Telegram one by link code", links)
	}

	// The code worked once: someone else opening it links nobody.
	other := &tgShopper{t: t, base: base, api: api, chatID: 666000444, first: "Ercole", last: "Tamburini", user: "etamb", update: 60000}
	t.Logf("someone else: /start link-…\n  bot: %q", other.say("/start link-"+code))
	if sum := subjectSummary(t, base, adminToken, person); len(sum.Linked) != 2 {
		t.Fatalf("after a second use of the code the person's linked channels = %q, want the two", sum.Linked)
	}
	otherSubject := consent.SubjectID(secret, bot.Telegram, strconv.FormatInt(other.chatID, 10))
	if sum := subjectSummary(t, base, adminToken, otherSubject); len(sum.Linked) != 0 || len(sum.Receipts) != 0 {
		t.Fatalf("the second user of the code got linked: %+v", sum)
	}

	// A consent given on Telegram counts in the web chat.
	her.say("avete le trail runner rosse?")
	notify := buttonWith(her.say("porto il 42"), "notify:")
	if notify == "" {
		t.Fatal("the red 42 is sold out, but Telegram offered no notify-me button")
	}
	if buttonWith(her.press(notify), "consent:grant:notifications") == "" {
		t.Fatal("the first notify-me on Telegram did not ask for consent to notifications")
	}
	her.press("consent:grant:notifications")
	if st := subjectSummary(t, base, adminToken, person).Consents[consent.Notifications]; st.Action != consent.Grant {
		t.Fatalf("the person's notifications consent after the grant on Telegram = %+v, want granted", st)
	}
	var webNotify string
	for _, e := range webTurn(web, "w3", "e nel 42?", "") {
		if e.Reply == nil {
			continue
		}
		for _, c := range e.Reply.Cards {
			for _, b := range c.Buttons {
				if strings.HasPrefix(b.Payload, "notify:") {
					webNotify = b.Payload
				}
			}
		}
		for _, b := range e.Reply.Buttons {
			if strings.HasPrefix(b.Payload, "notify:") {
				webNotify = b.Payload
			}
		}
		for _, q := range e.Reply.QuickReplies {
			if strings.HasPrefix(q.Payload, "notify:") {
				webNotify = q.Payload
			}
		}
	}
	if webNotify == "" {
		t.Fatal("the web chat offered no notify-me button for the sold-out red 42")
	}
	for _, e := range webTurn(web, "w4", "", webNotify) {
		if strings.Contains(entryJSON(e), "consent:grant:notifications") {
			t.Fatalf("the web chat asked again for a consent she gave on Telegram: %s", entryJSON(e))
		}
	}

	// Before the erasure, the scan sees her web words (so its "none" below means something).
	keys := openKeyring(t, env, dir, secret)
	opener := &keyOpener{kr: keys, subjects: subjects}
	dump := func() []stored {
		var live []stored
		if embedded {
			live = dumpSQLiteFile(t, filepath.Join(dir, sqldb.SQLiteFile), "main database")
		} else {
			live = dumpMain(t, env)
		}
		return append(live, dumpKeys(t, env, dir)...)
	}
	needles := []string{"Quintiliana", "Scarabelli", "qscara", strconv.FormatInt(her.chatID, 10), sessionID.ID, webWords}
	if len(search(ctx, dump(), opener, []string{webWords})) == 0 {
		t.Fatal("before the erasure the stores show none of her web words, even opened with her keys: the scan would prove nothing")
	}

	// "Forget me", said on Telegram, erases the person everywhere.
	if buttonWith(her.say("cancella i miei dati"), "privacy:forget:confirm") == "" {
		t.Fatal("\"cancella i miei dati\" offered no confirm button")
	}
	her.press("privacy:forget:confirm")
	other.say("grazie") // the queue has moved past her farewell

	for _, f := range search(ctx, dump(), opener, needles) {
		t.Errorf("after the erasure the stores still hold her %s", f)
	}
	for who, subject := range subjects {
		if n := keyRows(t, env, dir, subject); n != 0 {
			t.Errorf("after the erasure the keys database has %d key rows for her %s identity", n, who)
		}
	}
	for _, subject := range []string{person, subjects["her web"], subjects["her telegram"]} {
		for _, h := range subjectSummary(t, base, adminToken, subject).Held {
			if h.What != "consents" {
				t.Errorf("after the erasure the admin summary still counts %d %s", h.Count, h.What)
			}
		}
	}
}

// webTurn sends one message (text or a button's payload) in the web chat
// and returns the entries of the turn: the shopper's and the bot's
// answers, read until the socket has answered a ping sent after the first
// answer (a turn's entries are committed, and sent, together).
func webTurn(c *chatClient, id, text, payload string) []bot.Entry {
	c.t.Helper()
	c.send(webchat.ClientFrame{Type: "message", ClientMsgID: id, Text: text, Payload: payload, Locale: "it"})
	var entries []bot.Entry
	var acked int64 = -1
	answered, pinged := false, false
	for {
		f := c.read()
		switch f.Type {
		case "entry":
			entries = append(entries, *f.Entry)
		case "ack":
			if f.ClientMsgID == id {
				acked = f.Seq
			}
		case "error":
			c.t.Fatalf("the web chat refused %q: %s", id, f.Code)
		case "pong":
			if pinged {
				return entries
			}
		}
		if !answered && acked >= 0 {
			answered = slices.ContainsFunc(entries, func(e bot.Entry) bool { return e.Seq > acked && e.From == bot.FromBot })
		}
		if answered && !pinged {
			pinged = true
			c.send(webchat.ClientFrame{Type: "ping"})
		}
	}
}

// entryJSON is an entry as JSON, for looking for links and payloads.
func entryJSON(e bot.Entry) string {
	b, _ := json.Marshal(e)
	return string(b)
}
