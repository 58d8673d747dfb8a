package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/bottega-shop/bottega/bot/chanstate"
	"github.com/bottega-shop/bottega/bot/chanstate/sqlchanstate"
	"github.com/bottega-shop/bottega/bot/messenger"
	"github.com/bottega-shop/bottega/bot/telegram"
	"github.com/bottega-shop/bottega/bot/telegram/telegramtest"
	"github.com/bottega-shop/bottega/internal/sqldb"
)

const (
	testBotToken      = "123456789:AAtest-bot-token_for-e2e"
	testWebhookSecret = "e2e-telegram-secret_0123"
	testAppSecret     = "e2e-messenger-app-secret-0123456789"
	testVerifyToken   = "e2e-verify-token"
	testPageToken     = "e2e-page-token-0123456789"
)

// telegramUpdate is a private-chat text message as Telegram posts it.
func telegramUpdate(updateID, chatID int64, text string) []byte {
	b, _ := json.Marshal(map[string]any{
		"update_id": updateID,
		"message": map[string]any{
			"message_id": updateID, // counts up within the chat, as Telegram's do
			"from":       map[string]any{"id": chatID, "is_bot": false, "first_name": "Giulia", "language_code": "it"},
			"chat":       map[string]any{"id": chatID, "type": "private", "first_name": "Giulia"},
			"date":       time.Now().Unix(),
			"text":       text,
		},
	})
	return b
}

// postTelegram posts an update with secret (no header when empty) and
// returns the status and how long the answer took.
func postTelegram(t *testing.T, base, secret string, body []byte) (int, time.Duration) {
	t.Helper()
	req, _ := http.NewRequest("POST", base+"/webhooks/telegram", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if secret != "" {
		req.Header.Set("X-Telegram-Bot-Api-Secret-Token", secret)
	}
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST /webhooks/telegram: %v", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, time.Since(start)
}

// telegramSends returns the texts (or captions) the fake received for
// chatID, in order.
func telegramSends(api *telegramtest.Server, chatID int64) []string {
	var out []string
	id := strconv.FormatInt(chatID, 10)
	for _, c := range api.Calls() {
		if (c.Method == "sendMessage" || c.Method == "sendPhoto") && c.Params["chat_id"] == id && c.Code == 0 {
			out = append(out, c.Params["text"]+c.Params["caption"])
		}
	}
	return out
}

// settle polls sends until every conversation has sent something and
// nothing new arrived for quiet (longer than the outbound queue's pause
// between two messages to one Telegram chat), and returns the last read.
func settle(t *testing.T, quiet time.Duration, sends func() [][]string) [][]string {
	t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	var last [][]string
	stable := time.Now()
	for {
		got := sends()
		if !cmp.Equal(got, last) {
			last, stable = got, time.Now()
		}
		all := true
		for _, s := range got {
			all = all && len(s) > 0
		}
		if all && time.Since(stable) >= quiet {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("replies did not arrive and settle within 45s; got %q", got)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// mentions reports whether one of texts mentions the product.
func mentions(texts []string, product string) bool {
	for _, s := range texts {
		if strings.Contains(strings.ToLower(s), product) {
			return true
		}
	}
	return false
}

// TestTelegramEndToEnd runs `bottega serve` with Telegram pointed at the
// fake Bot API: an update with the right secret is acknowledged at once
// and answered through the outbound queue; a wrong or missing secret is
// refused with 401 and nothing is answered; the same update delivered
// twice is answered once.
func TestTelegramEndToEnd(t *testing.T) {
	for name, env := range chatBackends(t) {
		t.Run(name, func(t *testing.T) {
			api := telegramtest.NewServer(t, testBotToken)
			// Telegram's flood control: the queue must stay within it.
			api.EnforceFlood(telegramtest.Flood{PerSecond: 30, PerChat: 1})
			env["TELEGRAM_BOT_TOKEN"] = testBotToken
			env["TELEGRAM_WEBHOOK_SECRET"] = testWebhookSecret
			env["TELEGRAM_API_URL"] = api.URL
			base, out := startServer(t, env)

			const question = "avete le trail runner nel 42 rosse?"
			first := telegramUpdate(500, 1001, question)
			st, took := postTelegram(t, base, testWebhookSecret, first)
			if st != http.StatusOK {
				t.Fatalf("update with the right secret = %d, want 200", st)
			}
			if took > 2*time.Second {
				t.Errorf("update acknowledged in %v, want well under Telegram's patience", took)
			}
			for _, secret := range []string{"", "wrong-secret"} {
				if st, _ := postTelegram(t, base, secret, telegramUpdate(600, 1003, question)); st != http.StatusUnauthorized {
					t.Errorf("update with secret %q = %d, want 401", secret, st)
				}
			}
			// Telegram delivers the first update again, and another chat
			// asks the same: both chats must get the same one answer.
			if st, _ := postTelegram(t, base, testWebhookSecret, first); st != http.StatusOK {
				t.Errorf("redelivered update = %d, want 200", st)
			}
			if st, _ := postTelegram(t, base, testWebhookSecret, telegramUpdate(501, 1002, question)); st != http.StatusOK {
				t.Errorf("second chat's update = %d, want 200", st)
			}
			got := settle(t, 3*time.Second, func() [][]string {
				return [][]string{telegramSends(api, 1001), telegramSends(api, 1002)}
			})
			t.Logf("answer: %q", got[0])
			if !mentions(got[0], "trail runner") {
				t.Errorf("answer to %q = %q, want it to be about the Trail Runner", question, got[0])
			}
			if diff := cmp.Diff(got[1], got[0]); diff != "" {
				t.Errorf("the redelivered chat got another answer than a chat asking once (-once +redelivered):\n%s", diff)
			}
			if n := api.FloodRefusals(); n > 0 {
				t.Errorf("the fake's flood control refused %d sends, want none: the queue keeps to one a second per chat", n)
			}
			if s := telegramSends(api, 1003); len(s) > 0 {
				t.Errorf("updates refused for their secret were answered: %q", s)
			}
			if strings.Contains(out.String(), testBotToken) || strings.Contains(out.String(), testWebhookSecret) {
				t.Error("the log shows the bot token or the webhook secret")
			}
			// A shopper blocking the bot is counted.
			kicked := []byte(`{"update_id":520,"my_chat_member":{"chat":{"id":1004,"type":"private","first_name":"G"},
				"from":{"id":1004,"is_bot":false,"first_name":"G"},"date":1767225600,
				"old_chat_member":{"status":"member","user":{"id":7,"is_bot":true,"first_name":"Bottega"}},
				"new_chat_member":{"status":"kicked","user":{"id":7,"is_bot":true,"first_name":"Bottega"},"until_date":0}}}`)
			if st, _ := postTelegram(t, base, testWebhookSecret, kicked); st != http.StatusOK {
				t.Errorf("my_chat_member update = %d, want 200", st)
			}
			st, body := call(t, "GET", base+"/metrics", "", "", nil)
			for _, want := range []string{
				`bottega_channel_events_total{channel="telegram",kind="blocked"} 1`,
				`bottega_outbound_sent_total{channel="telegram"}`,
			} {
				if st != http.StatusOK || !strings.Contains(body, want) {
					t.Errorf("metrics = %d, lack %s", st, want)
				}
			}
		})
	}
}

// graphFake is a Graph API speaking the Send API's documented format:
// POST /v25.0/me/messages with the Page token as a bearer token and a JSON
// body {recipient:{id}, messaging_type, message}, answered with
// {recipient_id, message_id}, or a Graph error object (code 190) for a
// wrong token and (code 100) for a body without a message.
type graphFake struct {
	URL string

	mu       sync.Mutex
	sends    map[string][]string // PSID → messages (JSON), in order
	attempts map[string]int      // PSID → Send API calls, refused ones too
	refuse   map[string]string   // PSID → the Graph error to answer
	n        int
}

// Graph errors the fake can answer for a PSID, as the Send API sends them.
const (
	// graphTemporary is Graph's "please retry" (code 2, HTTP 500).
	graphTemporary = `{"error":{"message":"An unexpected error has occurred. Please retry your request later.","type":"OAuthException","code":2,"is_transient":true,"fbtrace_id":"T2"}}`
	// graphUnavailable is 551/1545041: the person blocked the Page or is
	// gone (HTTP 400).
	graphUnavailable = `{"error":{"message":"(#551) This person isn't available right now.","type":"OAuthException","code":551,"error_subcode":1545041,"fbtrace_id":"T551"}}`
)

// Refuse makes the fake answer sends to psid with a Graph error (one of
// the constants above; "" to stop refusing).
func (g *graphFake) Refuse(psid, graphErr string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if graphErr == "" {
		delete(g.refuse, psid)
		return
	}
	g.refuse[psid] = graphErr
}

// Attempts returns how many sends to psid the fake received.
func (g *graphFake) Attempts(psid string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.attempts[psid]
}

func newGraphFake(t *testing.T, token string) *graphFake {
	g := &graphFake{sends: make(map[string][]string), attempts: make(map[string]int), refuse: make(map[string]string)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		graphError := func(status, code int, msg string) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			fmt.Fprintf(w, `{"error":{"message":%q,"type":"OAuthException","code":%d,"fbtrace_id":"T1"}}`, msg, code)
		}
		if r.Method != "POST" || r.URL.Path != "/v25.0/me/messages" {
			graphError(400, 100, "Unknown path components")
			return
		}
		if r.Header.Get("Authorization") != "Bearer "+token {
			graphError(400, 190, "Invalid OAuth access token.")
			return
		}
		var body struct {
			Recipient struct {
				ID string `json:"id"`
			} `json:"recipient"`
			MessagingType string          `json:"messaging_type"`
			Message       json.RawMessage `json:"message"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.Recipient.ID == "" || len(body.Message) == 0 {
			graphError(400, 100, "(#100) The parameter message is required")
			return
		}
		g.mu.Lock()
		g.attempts[body.Recipient.ID]++
		if refusal, ok := g.refuse[body.Recipient.ID]; ok {
			g.mu.Unlock()
			status := http.StatusBadRequest
			if refusal == graphTemporary {
				status = http.StatusInternalServerError
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			io.WriteString(w, refusal)
			return
		}
		g.n++
		mid := fmt.Sprintf("m_out_%d", g.n)
		g.sends[body.Recipient.ID] = append(g.sends[body.Recipient.ID], string(body.Message))
		g.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"recipient_id":%q,"message_id":%q}`, body.Recipient.ID, mid)
	}))
	t.Cleanup(srv.Close)
	g.URL = srv.URL + "/v25.0"
	return g
}

// Sends returns the messages sent to psid.
func (g *graphFake) Sends(psid string) []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.sends[psid])
}

// messengerBatch is a webhook body with one text message per PSID, as
// Meta batches them, timestamped now (inside the 24-hour window).
func messengerBatch(mids, psids []string, text string) []byte {
	now := time.Now().UnixMilli()
	var events []map[string]any
	for i, psid := range psids {
		events = append(events, map[string]any{
			"sender": map[string]any{"id": psid}, "recipient": map[string]any{"id": "PAGE1"},
			"timestamp": now + int64(i),
			"message":   map[string]any{"mid": mids[i], "text": text},
		})
	}
	b, _ := json.Marshal(map[string]any{
		"object": "page",
		"entry":  []any{map[string]any{"id": "PAGE1", "time": now, "messaging": events}},
	})
	return b
}

func postMessenger(t *testing.T, base, signature string, body []byte) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", base+"/webhooks/messenger", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if signature != "" {
		req.Header.Set(messenger.SignatureHeader, signature)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST /webhooks/messenger: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestMessengerEndToEnd runs `bottega serve` with Messenger pointed at a
// fake Graph API: the subscription handshake echoes the challenge; a
// signed batch with messages from two shoppers is acknowledged and each
// shopper gets an answer; a bad signature gets 401; a redelivered message
// is answered once.
func TestMessengerEndToEnd(t *testing.T) {
	for name, env := range chatBackends(t) {
		t.Run(name, func(t *testing.T) {
			graph := newGraphFake(t, testPageToken)
			env["MESSENGER_APP_SECRET"] = testAppSecret
			env["MESSENGER_VERIFY_TOKEN"] = testVerifyToken
			env["MESSENGER_PAGE_TOKEN"] = testPageToken
			env["MESSENGER_GRAPH_URL"] = graph.URL
			base, out := startServer(t, env)

			q := url.Values{"hub.mode": {"subscribe"}, "hub.verify_token": {testVerifyToken}, "hub.challenge": {"1158201444"}}
			if st, body := call(t, "GET", base+"/webhooks/messenger?"+q.Encode(), "", "", nil); st != http.StatusOK || body != "1158201444" {
				t.Errorf("handshake = %d %q, want 200 and the challenge as sent", st, body)
			}
			q.Set("hub.verify_token", "guess")
			if st, _ := call(t, "GET", base+"/webhooks/messenger?"+q.Encode(), "", "", nil); st != http.StatusForbidden {
				t.Errorf("handshake with a wrong verify token = %d, want 403", st)
			}

			const question = "avete le trail runner nel 42 rosse?"
			batch := messengerBatch([]string{"m_a1", "m_b1"}, []string{"PSID_A", "PSID_B"}, question)
			if st, body := postMessenger(t, base, messenger.Sign(batch, testAppSecret), batch); st != http.StatusOK || body != "EVENT_RECEIVED" {
				t.Fatalf("signed batch = %d %q, want 200 EVENT_RECEIVED", st, body)
			}
			forged := messengerBatch([]string{"m_c1"}, []string{"PSID_C"}, question)
			for _, sig := range []string{"", messenger.Sign(forged, "not-the-app-secret"), messenger.Sign(batch, testAppSecret)} {
				if st, _ := postMessenger(t, base, sig, forged); st != http.StatusUnauthorized {
					t.Errorf("batch with signature %q = %d, want 401", sig, st)
				}
			}
			// Meta delivers shopper A's message again, alone.
			again := messengerBatch([]string{"m_a1"}, []string{"PSID_A"}, question)
			if st, _ := postMessenger(t, base, messenger.Sign(again, testAppSecret), again); st != http.StatusOK {
				t.Errorf("redelivered message = %d, want 200", st)
			}
			got := settle(t, 2*time.Second, func() [][]string {
				return [][]string{graph.Sends("PSID_A"), graph.Sends("PSID_B")}
			})
			t.Logf("answer: %q", got[0])
			if !mentions(got[0], "trail runner") || !mentions(got[1], "trail runner") {
				t.Errorf("answers = %q, want both about the Trail Runner", got)
			}
			if diff := cmp.Diff(got[1], got[0]); diff != "" {
				t.Errorf("the shopper whose message came twice got another answer than one asking once (-once +twice):\n%s", diff)
			}
			if s := graph.Sends("PSID_C"); len(s) > 0 {
				t.Errorf("a batch refused for its signature was answered: %q", s)
			}
			// Events that are not messages are counted by kind.
			statuses := []byte(fmt.Sprintf(`{"object":"page","entry":[{"id":"PAGE1","time":%[1]d,"messaging":[
				{"sender":{"id":"PSID_A"},"recipient":{"id":"PAGE1"},"timestamp":%[1]d,"delivery":{"mids":["m_out_1"],"watermark":%[1]d}},
				{"sender":{"id":"PSID_A"},"recipient":{"id":"PAGE1"},"timestamp":%[1]d,"read":{"watermark":%[1]d}}]}]}`, time.Now().UnixMilli()))
			if st, _ := postMessenger(t, base, messenger.Sign(statuses, testAppSecret), statuses); st != http.StatusOK {
				t.Errorf("delivery and read events = %d, want 200", st)
			}
			_, metrics := call(t, "GET", base+"/metrics", "", "", nil)
			for _, want := range []string{
				`bottega_channel_events_total{channel="messenger",kind="delivery"} 1`,
				`bottega_channel_events_total{channel="messenger",kind="read"} 1`,
				`bottega_outbound_sent_total{channel="messenger"}`,
			} {
				if !strings.Contains(metrics, want) {
					t.Errorf("metrics lack %s", want)
				}
			}
			for _, secret := range []string{testAppSecret, testPageToken, testVerifyToken} {
				if strings.Contains(out.String(), secret) {
					t.Error("the log shows a Messenger secret")
				}
			}
		})
	}
}

// TestChannelsOff: without their variables the webhooks answer 404.
func TestChannelsOff(t *testing.T) {
	base, _ := startServer(t, map[string]string{"BOTTEGA_DEMO": "false"})
	if st, _ := postTelegram(t, base, testWebhookSecret, telegramUpdate(1, 1, "ciao")); st != http.StatusNotFound {
		t.Errorf("telegram webhook without TELEGRAM_BOT_TOKEN = %d, want 404", st)
	}
	body := messengerBatch([]string{"m1"}, []string{"P1"}, "ciao")
	if st, _ := postMessenger(t, base, messenger.Sign(body, testAppSecret), body); st != http.StatusNotFound {
		t.Errorf("messenger webhook without MESSENGER_APP_SECRET = %d, want 404", st)
	}
}

func TestChannelConfigErrors(t *testing.T) {
	tg := map[string]string{"TELEGRAM_BOT_TOKEN": testBotToken, "TELEGRAM_WEBHOOK_SECRET": testWebhookSecret}
	ms := map[string]string{"MESSENGER_APP_SECRET": testAppSecret, "MESSENGER_VERIFY_TOKEN": testVerifyToken, "MESSENGER_PAGE_TOKEN": testPageToken}
	with := func(base map[string]string, kv ...string) map[string]string {
		m := make(map[string]string)
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"telegram without secret", with(tg, "TELEGRAM_WEBHOOK_SECRET", ""), "TELEGRAM_WEBHOOK_SECRET: required"},
		{"telegram secret with a space", with(tg, "TELEGRAM_WEBHOOK_SECRET", "two words"), "TELEGRAM_WEBHOOK_SECRET: want 1-256"},
		{"telegram secret too long", with(tg, "TELEGRAM_WEBHOOK_SECRET", strings.Repeat("s", 257)), "TELEGRAM_WEBHOOK_SECRET: want 1-256"},
		{"telegram secret without token", map[string]string{"TELEGRAM_WEBHOOK_SECRET": testWebhookSecret}, "TELEGRAM_BOT_TOKEN: required"},
		{"telegram token malformed", with(tg, "TELEGRAM_BOT_TOKEN", "not a token"), "TELEGRAM_BOT_TOKEN: want"},
		{"telegram API in clear", with(tg, "TELEGRAM_API_URL", "http://api.example"), "TELEGRAM_API_URL: want https"},
		{"messenger without verify token", with(ms, "MESSENGER_VERIFY_TOKEN", ""), "MESSENGER_VERIFY_TOKEN: required"},
		{"messenger without page token", with(ms, "MESSENGER_PAGE_TOKEN", ""), "MESSENGER_PAGE_TOKEN: required"},
		{"messenger page token alone", map[string]string{"MESSENGER_PAGE_TOKEN": testPageToken}, "MESSENGER_APP_SECRET: required"},
		{"messenger verify token alone", map[string]string{"MESSENGER_VERIFY_TOKEN": testVerifyToken}, "MESSENGER_APP_SECRET: required"},
		{"messenger app id", with(ms, "MESSENGER_APP_ID", "my-app"), "MESSENGER_APP_ID: "},
		{"graph in clear", with(ms, "MESSENGER_GRAPH_URL", "http://graph.example/v25.0"), "MESSENGER_GRAPH_URL: want https"},
	}
	secrets := []string{testBotToken, testWebhookSecret, testAppSecret, testVerifyToken, testPageToken, "two words"}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := run(context.Background(), []string{"serve"}, envFunc(tt.env), io.Discard)
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("run = %v, want one line starting %q", err, tt.want)
			}
			for _, s := range secrets {
				if strings.Contains(err.Error(), s) {
					t.Errorf("error %q shows a secret", err)
				}
			}
		})
	}
	// A fake API on this machine may be plain http.
	cfg, err := loadConfig(envFunc(with(tg, "TELEGRAM_API_URL", "http://127.0.0.1:9", "MESSENGER_GRAPH_URL", "http://localhost:9/v25.0",
		"MESSENGER_APP_SECRET", testAppSecret, "MESSENGER_VERIFY_TOKEN", testVerifyToken, "MESSENGER_PAGE_TOKEN", testPageToken,
		"MESSENGER_APP_ID", "1234567890")))
	if err != nil {
		t.Fatalf("loadConfig with loopback APIs = %v", err)
	}
	if cfg.MessengerAppID != "1234567890" {
		t.Errorf("MessengerAppID = %q, want 1234567890", cfg.MessengerAppID)
	}
	cfg, err = loadConfig(envFunc(nil))
	if err != nil || cfg.MessengerGraphURL != messenger.DefaultGraphURL || cfg.TelegramAPIURL != "https://api.telegram.org" {
		t.Errorf("defaults = %q, %q, %v; want messenger.DefaultGraphURL and Telegram's API", cfg.MessengerGraphURL, cfg.TelegramAPIURL, err)
	}
}

// TestTelegramSetWebhook registers the webhook with the fake Bot API and
// checks what the library sent: the URL, the secret and the update types.
func TestTelegramSetWebhook(t *testing.T) {
	api := telegramtest.NewServer(t, testBotToken)
	env := map[string]string{
		"BOTTEGA_DATA_DIR": t.TempDir(), "BOTTEGA_PUBLIC_URL": "https://shop.example/bottega/",
		"TELEGRAM_BOT_TOKEN": testBotToken, "TELEGRAM_WEBHOOK_SECRET": testWebhookSecret, "TELEGRAM_API_URL": api.URL,
	}
	var out strings.Builder
	if err := run(context.Background(), []string{"telegram", "set-webhook"}, envFunc(env), &out); err != nil {
		t.Fatalf("set-webhook = %v", err)
	}
	want := "telegram webhook set: https://shop.example/bottega/webhooks/telegram (secret from TELEGRAM_WEBHOOK_SECRET)\n"
	if out.String() != want {
		t.Errorf("output = %q, want %q", out.String(), want)
	}
	calls := api.CallsTo("setWebhook")
	if len(calls) != 1 {
		t.Fatalf("setWebhook calls = %d, want 1", len(calls))
	}
	p := calls[0].Params
	if p["url"] != "https://shop.example/bottega/webhooks/telegram" || p["secret_token"] != testWebhookSecret {
		t.Errorf("setWebhook url, secret_token = %q, %q; want the public URL's webhook and the secret", p["url"], p["secret_token"])
	}
	var allowed []string
	if err := json.Unmarshal([]byte(p["allowed_updates"]), &allowed); err != nil {
		t.Fatalf("allowed_updates %q is not a JSON list: %v", p["allowed_updates"], err)
	}
	if want := []string{"message", "edited_message", "callback_query", "my_chat_member"}; !cmp.Equal(allowed, want) {
		t.Errorf("allowed_updates = %q, want %q", allowed, want)
	}

	with := func(kv ...string) map[string]string {
		m := make(map[string]string)
		for k, v := range env {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"no public url", with("BOTTEGA_PUBLIC_URL", ""), "BOTTEGA_PUBLIC_URL: required"},
		{"http public url", with("BOTTEGA_PUBLIC_URL", "http://shop.example"), "BOTTEGA_PUBLIC_URL: Telegram posts updates only to https"},
		{"no token", with("TELEGRAM_BOT_TOKEN", "", "TELEGRAM_WEBHOOK_SECRET", ""), "TELEGRAM_BOT_TOKEN: required"},
		{"no secret", with("TELEGRAM_WEBHOOK_SECRET", ""), "TELEGRAM_WEBHOOK_SECRET: required"},
		{"refused", env, "telegram set-webhook: telegram: setWebhook: Bad Request: bad webhook: Failed to resolve host"},
		{"unreachable API", with("TELEGRAM_API_URL", "http://127.0.0.1:1"), "telegram set-webhook: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.name == "refused" {
				api.Fail("setWebhook", telegramtest.Failure{Code: 400, Description: "Bad Request: bad webhook: Failed to resolve host: Name or service not known"})
			}
			var out strings.Builder
			err := run(context.Background(), []string{"telegram", "set-webhook"}, envFunc(tt.env), &out)
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("set-webhook = %v, want an error starting %q", err, tt.want)
			}
			if strings.Contains(err.Error(), testBotToken) || strings.Contains(err.Error(), testWebhookSecret) || strings.Contains(out.String(), testBotToken) {
				t.Errorf("error %q or output %q shows the token or the secret", err, out.String())
			}
		})
	}
	for _, args := range [][]string{{"telegram"}, {"telegram", "frobnicate"}, {"telegram", "set-webhook", "extra"}} {
		if err := run(context.Background(), args, envFunc(env), io.Discard); err != errTelegramUsage {
			t.Errorf("run(%q) = %v, want the telegram usage error", args, err)
		}
	}
}

// TestTelegramWebhookInfo reads getWebhookInfo from a Bot API that speaks
// its documented answer, and says when the registered URL is not ours.
func TestTelegramWebhookInfo(t *testing.T) {
	var answer string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/bot"+testBotToken+"/getWebhookInfo" {
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"ok":false,"error_code":401,"description":"Unauthorized"}`)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, answer)
	}))
	defer srv.Close()
	env := map[string]string{
		"BOTTEGA_DATA_DIR": t.TempDir(), "BOTTEGA_PUBLIC_URL": "https://shop.example",
		"TELEGRAM_BOT_TOKEN": testBotToken, "TELEGRAM_WEBHOOK_SECRET": testWebhookSecret, "TELEGRAM_API_URL": srv.URL,
	}
	tests := []struct {
		name, answer string
		want         []string
		err          string
	}{
		{
			name:   "registered",
			answer: `{"ok":true,"result":{"url":"https://shop.example/webhooks/telegram","has_custom_certificate":false,"pending_update_count":3,"max_connections":40,"allowed_updates":["message","callback_query"]}}`,
			want:   []string{"url              https://shop.example/webhooks/telegram\n", "pending updates  3\n", "allowed updates  message, callback_query\n", "last error       none\n"},
		},
		{
			name:   "failing elsewhere",
			answer: `{"ok":true,"result":{"url":"https://old.example/hook","pending_update_count":12,"last_error_date":1767225600,"last_error_message":"Wrong response from the webhook: 503 Service Unavailable"}}`,
			want: []string{"last error       2026-01-01T00:00:00Z: Wrong response from the webhook: 503 Service Unavailable\n",
				"note             BOTTEGA_PUBLIC_URL gives https://shop.example/webhooks/telegram; run bottega telegram set-webhook\n"},
		},
		{name: "none", answer: `{"ok":true,"result":{"url":"","pending_update_count":0}}`, want: []string{"url              (none: run bottega telegram set-webhook)\n"}},
		{name: "refused", answer: `{"ok":false,"error_code":401,"description":"Unauthorized"}`, err: "telegram webhook-info: error 401: Unauthorized"},
		{name: "not the API", answer: `<html>502</html>`, err: "telegram webhook-info: HTTP 200: the answer is not the Bot API's JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			answer = tt.answer
			var out strings.Builder
			err := run(context.Background(), []string{"telegram", "webhook-info"}, envFunc(env), &out)
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Fatalf("webhook-info = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("webhook-info = %v", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
		})
	}
	env["TELEGRAM_API_URL"] = "http://127.0.0.1:1"
	err := run(context.Background(), []string{"telegram", "webhook-info"}, envFunc(env), io.Discard)
	if err == nil || strings.Contains(err.Error(), testBotToken) || !strings.Contains(err.Error(), "bot***") {
		t.Errorf("webhook-info with the API down = %v, want an error with the token masked", err)
	}
}

// TestTelegramRepliesSurviveRestart: a reply the Bot API refused with a
// temporary error when the server stopped is still queued, and the next
// server on the same stores delivers it.
func TestTelegramRepliesSurviveRestart(t *testing.T) {
	for name, env := range chatBackends(t) {
		t.Run(name, func(t *testing.T) {
			api := telegramtest.NewServer(t, testBotToken)
			env["TELEGRAM_BOT_TOKEN"] = testBotToken
			env["TELEGRAM_WEBHOOK_SECRET"] = testWebhookSecret
			env["TELEGRAM_API_URL"] = api.URL
			env["BOTTEGA_DATA_DIR"] = t.TempDir()
			// Every try fails until the restart: the queue retries with
			// jitter, possibly before the first server stops.
			for _, method := range []string{"sendMessage", "sendPhoto"} {
				for range 100 {
					api.Fail(method, telegramtest.InternalError())
				}
			}

			// The first server takes the update and fails to deliver.
			stop := serveUntil(t, env)
			if st, _ := postTelegram(t, stop.base, testWebhookSecret, telegramUpdate(900, 2001, "avete le trail runner nel 42 rosse?")); st != http.StatusOK {
				t.Fatalf("update = %d, want 200", st)
			}
			deadline := time.Now().Add(15 * time.Second)
			for len(api.Calls()) == 0 {
				if time.Now().After(deadline) {
					t.Fatal("the first server never tried to deliver the reply")
				}
				time.Sleep(20 * time.Millisecond)
			}
			stop.stop(t)
			if s := telegramSends(api, 2001); len(s) != 0 {
				t.Fatalf("replies delivered before the restart: %q; the fake should have refused them", s)
			}

			// The next one delivers it from the stores alone.
			for _, method := range []string{"sendMessage", "sendPhoto"} {
				api.Heal(method)
			}
			startServer(t, env)
			got := settle(t, 3*time.Second, func() [][]string { return [][]string{telegramSends(api, 2001)} })
			if !mentions(got[0], "trail runner") {
				t.Errorf("reply delivered after the restart = %q, want the answer about the Trail Runner", got[0])
			}
		})
	}
}

// running is a server started by serveUntil.
type running struct {
	base string
	out  *syncBuffer
	stop func(t *testing.T)
}

// serveUntil runs `bottega serve` until its stop is called, which checks
// that it shut down cleanly.
func serveUntil(t *testing.T, env map[string]string) *running {
	t.Helper()
	env["BOTTEGA_ADDR"] = "127.0.0.1:0"
	out := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"serve"}, envFunc(env), out) }()
	r := &running{base: "http://" + waitListening(t, out, done), out: out}
	stopped := false
	r.stop = func(t *testing.T) {
		t.Helper()
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("run returned %v after shutdown", err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("run did not return within 30s of shutdown")
		}
		if !strings.Contains(out.String(), `"msg":"stopped"`) {
			t.Errorf("no clean stop in the log:\n%s", out)
		}
	}
	t.Cleanup(func() { r.stop(t) })
	return r
}

// openChannelStateOf opens the channel state of a stopped server's
// configuration, closed when the test ends.
func openChannelStateOf(t *testing.T, env map[string]string) *sqlchanstate.Store {
	t.Helper()
	db, err := sqldb.Open(context.Background(), env["DATABASE_URL"], env["BOTTEGA_DATA_DIR"])
	if err != nil {
		t.Fatalf("opening the server's database: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	s, err := sqlchanstate.New(db)
	if err != nil {
		t.Fatalf("sqlchanstate.New = %v", err)
	}
	return s
}

// TestChannelStateSurvivesRestart: what the channels learn of shoppers is
// kept in the system of record, not in the server's memory. A Messenger
// reply that a failing Graph API held when the server stopped goes out
// from the next server, which knows the window the shopper's message
// opened; a Telegram shopper who blocked the bot, a Messenger shopper the
// Send API refused as unavailable (551), an opt-in with its token and
// its stop, and each chat's latest message are all there after the
// server stopped; an opt-in token never shows in the log.
func TestChannelStateSurvivesRestart(t *testing.T) {
	ctx := context.Background()
	for name, env := range chatBackends(t) {
		t.Run(name, func(t *testing.T) {
			api := telegramtest.NewServer(t, testBotToken)
			graph := newGraphFake(t, testPageToken)
			env["TELEGRAM_BOT_TOKEN"] = testBotToken
			env["TELEGRAM_WEBHOOK_SECRET"] = testWebhookSecret
			env["TELEGRAM_API_URL"] = api.URL
			env["MESSENGER_APP_SECRET"] = testAppSecret
			env["MESSENGER_VERIFY_TOKEN"] = testVerifyToken
			env["MESSENGER_PAGE_TOKEN"] = testPageToken
			env["MESSENGER_GRAPH_URL"] = graph.URL
			env["BOTTEGA_DATA_DIR"] = t.TempDir()
			graph.Refuse("PSID_R", graphTemporary)
			graph.Refuse("PSID_X", graphUnavailable)
			const token = "OPTIN_TOKEN_5e1f0c"

			first := serveUntil(t, env)
			memberUpdate := func(id int64, status string) []byte {
				return []byte(fmt.Sprintf(`{"update_id":%d,"my_chat_member":{"chat":{"id":3001,"type":"private","first_name":"G"},
					"from":{"id":3001,"is_bot":false,"first_name":"G"},"date":1767225600,
					"old_chat_member":{"status":"member","user":{"id":7,"is_bot":true,"first_name":"Bottega"}},
					"new_chat_member":{"status":%q,"user":{"id":7,"is_bot":true,"first_name":"Bottega"}}}}`, id, status))
			}
			for _, u := range [][]byte{memberUpdate(700, "kicked"), telegramUpdate(710, 3002, "ciao"), telegramUpdate(711, 3002, "ciao")} {
				if st, _ := postTelegram(t, first.base, testWebhookSecret, u); st != http.StatusOK {
					t.Fatalf("telegram update = %d, want 200", st)
				}
			}
			batch := messengerBatch([]string{"m_r1", "m_x1"}, []string{"PSID_R", "PSID_X"}, "avete le trail runner nel 42 rosse?")
			if st, _ := postMessenger(t, first.base, messenger.Sign(batch, testAppSecret), batch); st != http.StatusOK {
				t.Fatalf("messenger batch = %d, want 200", st)
			}
			ts := time.Now().UnixMilli()
			optins := []byte(fmt.Sprintf(`{"object":"page","entry":[{"id":"PAGE1","time":%[1]d,"messaging":[
				{"sender":{"id":"PSID_R"},"recipient":{"id":"PAGE1"},"timestamp":%[1]d,"optin":{"type":"notification_messages",
				 "payload":"restock","notification_messages_token":%[2]q,"notification_messages_timezone":"Europe/Rome",
				 "user_token_status":"NOT_REFRESHED","title":"Restock"}},
				{"sender":{"id":"PSID_R"},"recipient":{"id":"PAGE1"},"timestamp":%[3]d,"optin":{"type":"notification_messages",
				 "notification_messages_token":%[2]q,"notification_messages_status":"STOP_NOTIFICATIONS"}}]}]}`, ts, token, ts+1))
			for range 2 { // Meta delivers the body again: recorded once
				if st, _ := postMessenger(t, first.base, messenger.Sign(optins, testAppSecret), optins); st != http.StatusOK {
					t.Fatalf("opt-in events = %d, want 200", st)
				}
			}
			deadline := time.Now().Add(15 * time.Second)
			for graph.Attempts("PSID_R") == 0 || graph.Attempts("PSID_X") == 0 {
				if time.Now().After(deadline) {
					t.Fatal("the first server never tried to deliver the Messenger replies")
				}
				time.Sleep(20 * time.Millisecond)
			}
			first.stop(t)
			if s := graph.Sends("PSID_R"); len(s) != 0 {
				t.Fatalf("replies delivered before the restart: %q; the fake should have refused them", s)
			}

			state := openChannelStateOf(t, env)
			if got, err := state.Latest(ctx, 3002, 1); err != nil || got != 711 {
				t.Fatalf("after the restart: Latest(3002) = %d, %v; want 711: is the channel state wired? serve.go opens it "+
					"(openChannelState) and gives it to openPrivacy and openChannels", got, err)
			}
			reachable := func(key string, want bool) {
				t.Helper()
				if got, err := state.Reachable(ctx, key); err != nil || got != want {
					t.Errorf("after the restart: Reachable(%s) = %v, %v; want %v", key, got, err, want)
				}
			}
			reachable(telegram.Key(3001), false)
			reachable(chanstate.MessengerKey("PSID_X"), false)
			reachable(chanstate.MessengerKey("PSID_R"), true)
			if th, err := state.Thread(ctx, "PSID_R"); err != nil || !th.InWindow(time.Now()) {
				t.Errorf("after the restart: Thread(PSID_R) = %+v, %v; want inside the window its message opened", th, err)
			}
			if got, err := state.Optins(ctx, chanstate.MessengerKey("PSID_R")); err != nil || len(got) != 1 ||
				got[0].Token != token || got[0].Status != chanstate.Stopped || got[0].Topic != "Restock" {
				t.Errorf("after the restart: Optins(PSID_R) = %v, %v; want the Restock opt-in, stopped, with its token", got, err)
			}

			// The next server delivers the held reply: it knows the window.
			graph.Refuse("PSID_R", "")
			second := serveUntil(t, env)
			got := settle(t, time.Second, func() [][]string { return [][]string{graph.Sends("PSID_R")} })
			if !mentions(got[0], "trail runner") {
				t.Errorf("reply delivered after the restart = %q, want the answer about the Trail Runner", got[0])
			}
			if st, _ := postTelegram(t, second.base, testWebhookSecret, memberUpdate(701, "member")); st != http.StatusOK {
				t.Fatalf("my_chat_member update = %d, want 200", st)
			}
			second.stop(t)
			reachable(telegram.Key(3001), true)
			for _, out := range []string{first.out.String(), second.out.String()} {
				if strings.Contains(out, token) {
					t.Error("the log shows an opt-in token")
				}
			}
		})
	}
}
