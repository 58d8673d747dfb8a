package main

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/bottega-shop/bottega/bot"
	"github.com/bottega-shop/bottega/bot/webchat"
)

// TestLogsHoldNoPersonalData runs whole conversations at the debug log
// level — stock questions, a stated e-mail address and phone number, the
// privacy commands, a bad token, admin calls — and then searches the whole
// log for the texts, names, contact details and tokens that went through:
// none may be there.
func TestLogsHoldNoPersonalData(t *testing.T) {
	const adminToken = "admin-token-for-the-log-test-0123456789"
	secret := strings.Repeat("k", 40)
	base, out := startServer(t, map[string]string{
		"BOTTEGA_DEMO": "true", "BOTTEGA_LOG_LEVEL": "debug",
		"BOTTEGA_ADMIN_TOKEN": adminToken, "BOTTEGA_SECRET_KEY": secret,
	})

	secrets := []string{adminToken, secret}
	said := []string{
		"ciao, sono Giovanna Esposito-Rinaldi",
		"avete le trail runner nel 42 rosse?",
		"scrivetemi a giovanna.esposito@example.org o al +39 347 555 0199",
		"i miei dati",
		"esporta i miei dati",
		"basta messaggi",
		"cancella i miei dati",
	}
	c, err := dialChat(t, base, "")
	if err != nil {
		t.Fatal(err)
	}
	w := c.hello("", 0)
	secrets = append(secrets, w.Token)
	for i, text := range said {
		id := "log-" + string(rune('a'+i))
		c.send(webchat.ClientFrame{Type: "message", ClientMsgID: id, Text: text})
		f, _ := c.until(func(f webchat.ServerFrame) bool {
			return (f.Type == "entry" && f.Entry.From == "bot" && f.Entry.MessageID == id) || f.Type == "error"
		})
		if f.Type == "error" {
			t.Fatalf("%q answered with error %s", text, f.Code)
		}
		// Export links carry a bearer token of their own.
		if f.Entry.Reply != nil {
			for _, b := range f.Entry.Reply.Buttons {
				if strings.Contains(b.URL, "/privacy/export/") {
					secrets = append(secrets, b.URL[strings.LastIndex(b.URL, "/")+1:])
				}
			}
		}
	}
	c.conn.Close()

	// A forged session token and a wrong admin token are logged as events,
	// not echoed.
	forged := "v1.forged-session-token-abcdef"
	c2, err := dialChat(t, base, "")
	if err != nil {
		t.Fatal(err)
	}
	c2.hello(forged, 0)
	c2.conn.Close()
	req, _ := http.NewRequest("GET", base+"/api/admin/products?q=giovanna.esposito@example.org", nil)
	req.Header.Set("Authorization", "Bearer wrong-token-in-a-header-777")
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
	}
	secrets = append(secrets, forged, "wrong-token-in-a-header-777")

	log := out.String()
	if !strings.Contains(log, `"route":"/chat/socket"`) || !strings.Contains(log, `"status":401`) {
		t.Fatalf("the chat and the refused admin call are not in the log: the test would prove nothing\n%s", log)
	}
	lower := strings.ToLower(log)
	for _, s := range append(said, "giovanna", "esposito", "example.org", "347 555", "3475550199", "trail runner nel") {
		if strings.Contains(lower, strings.ToLower(s)) {
			t.Errorf("the log holds what the shopper said: %q", s)
		}
	}
	for _, s := range secrets {
		if s != "" && strings.Contains(log, s) {
			t.Errorf("the log holds a secret or token: %.12q…", s)
		}
	}
}

// TestLogPseudonymizesConversationKeys logs a conversation key as an
// attribute, inside an error and inside the message: each comes out as the
// channel and the key's pseudonym, the same for the same key.
func TestLogPseudonymizesConversationKeys(t *testing.T) {
	var buf strings.Builder
	log := newLogger(&config{LogLevel: "info", SecretKey: strings.Repeat("s", 40)}, &buf)
	log.Info("delivery of telegram:777000111 failed",
		"conversation", "telegram:777000111",
		"err", fmt.Errorf("bot: dispatch message 9 of messenger:24681357: %w", errors.New("lock lost")),
		"route", "/webhooks/telegram")
	out := buf.String()
	for _, id := range []string{"777000111", "24681357"} {
		if strings.Contains(out, id) {
			t.Errorf("the log line holds the platform id %s:\n%s", id, out)
		}
	}
	p := bot.NewPseudonymizer([]byte(strings.Repeat("s", 40)))
	tg, fb := "telegram:~"+p.Of("telegram:777000111"), "messenger:~"+p.Of("messenger:24681357")
	if strings.Count(out, tg) != 2 || !strings.Contains(out, fb) {
		t.Errorf("want %s twice and %s once in:\n%s", tg, fb, out)
	}
	if !strings.Contains(out, `"route":"/webhooks/telegram"`) || !strings.Contains(out, "lock lost") {
		t.Errorf("the rest of the line was changed:\n%s", out)
	}
}
