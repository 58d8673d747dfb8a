package web_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/bottega-shop/bottega/bot"
	"github.com/bottega-shop/bottega/bot/telegram"
	"github.com/bottega-shop/bottega/bot/telegram/telegramtest"
	"github.com/bottega-shop/bottega/dialogs/sqldialogs"
	"github.com/bottega-shop/bottega/internal/sqldb"
	"github.com/bottega-shop/bottega/web"
)

const (
	tgSecret = "tg_webhook-Secret-42"
	tgToken  = "123456:web-test-token"
)

// tgHandled records the messages a real Dispatcher hands its handler.
type tgHandled struct {
	mu  sync.Mutex
	ids []string
}

func (r *tgHandled) Handle(_ context.Context, _ []byte, m bot.Message) ([]byte, []bot.Reply, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ids = append(r.ids, m.ID)
	return nil, []bot.Reply{{Text: "ok"}}, nil
}

func (r *tgHandled) got() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.ids...)
}

type tgHarness struct {
	*harness
	webhook *telegram.Webhook
	api     *telegramtest.Server
	handled *tgHandled
}

// newTelegramHarness serves the Telegram webhook with a real Dispatcher on
// SQLite and a fake Bot API; d, if not nil, replaces the Dispatcher, and
// mod, if not nil, changes the configuration further.
func newTelegramHarness(t *testing.T, d telegram.Dispatcher, mod ...func(*web.Config)) *tgHarness {
	t.Helper()
	th := &tgHarness{handled: &tgHandled{}, api: telegramtest.NewServer(t, tgToken)}
	if d == nil {
		db, err := sqldb.Open(context.Background(), "", t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		store, err := sqldialogs.New(db)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { store.Close() })
		d = bot.NewDispatcher(store, th.handled)
	}
	sender, err := telegram.NewSender(tgToken, th.api.URL)
	if err != nil {
		t.Fatal(err)
	}
	th.webhook = telegram.NewWebhook(tgSecret, d, sender, nil, nil)
	t.Cleanup(th.webhook.Wait)
	th.harness = newHarness(t, func(cfg *web.Config) {
		cfg.Telegram = th.webhook
		for _, m := range mod {
			m(cfg)
		}
	})
	return th
}

// postUpdate posts a webhook body with a secret header (none if "").
func (h *harness) postUpdate(body []byte, secret, contentType string) (int, string) {
	h.t.Helper()
	req := httptest.NewRequest("POST", "/webhooks/telegram", bytes.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if secret != "" {
		req.Header.Set("X-Telegram-Bot-Api-Secret-Token", secret)
	}
	resp, err := h.srv.App().Test(req, -1)
	if err != nil {
		h.t.Fatalf("POST /webhooks/telegram: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// tgText is a text message update; text goes in as raw bytes (no quotes
// or backslashes in it), so that it may hold invalid UTF-8.
func tgText(updateID int64, chatID int64, chatType, text string) []byte {
	return fmt.Appendf(nil, `{"update_id":%d,"message":{"message_id":%d,"date":1767225600,`+
		`"from":{"id":77,"is_bot":false,"first_name":"G","language_code":"en"},`+
		`"chat":{"id":%d,"type":%q},"text":"%s"}}`, updateID, updateID, chatID, chatType, text)
}

func TestTelegramWebhookBadInput(t *testing.T) {
	good := tgText(10, 77, "private", "do you have the trail runner in 42?")
	const jsonType = "application/json"
	tests := []struct {
		name, secret, contentType string
		body                      []byte
		want                      int
		handled                   int
	}{
		{"good", tgSecret, jsonType, good, 200, 1},
		{"no secret", "", jsonType, good, 401, 0},
		{"bad secret", "tg_webhook-Secret-43", jsonType, good, 401, 0},
		{"bad secret before parsing", "nope", jsonType, []byte("{{{"), 401, 0},
		{"truncated JSON", tgSecret, jsonType, good[:len(good)-7], 400, 0},
		{"wrong types", tgSecret, jsonType, []byte(`{"update_id":10,"message":{"message_id":"ten","chat":{"id":77,"type":"private"}}}`), 400, 0},
		{"update_id missing", tgSecret, jsonType, []byte(`{"message":{}}`), 400, 0},
		{"deep nesting", tgSecret, jsonType, []byte(`{"update_id":10,"x":` + strings.Repeat(`{"a":`, 5000) + "1" + strings.Repeat("}", 5000) + "}"), 400, 0},
		{"empty body", tgSecret, jsonType, nil, 400, 0},
		{"form-encoded body", tgSecret, "application/x-www-form-urlencoded", []byte("update_id=10&text=hi"), 400, 0},
		{"form body sent as JSON", tgSecret, jsonType, []byte("update_id=10&text=hi"), 400, 0},
		{"multipart", tgSecret, "multipart/form-data; boundary=x", []byte("--x--"), 400, 0},
		{"unknown update type", tgSecret, jsonType, []byte(`{"update_id":11,"message_reaction_count":{"chat":{"id":1,"type":"channel"},"message_id":1,"date":1,"reactions":[]}}`), 200, 0},
		{"future update type", tgSecret, jsonType, []byte(`{"update_id":12,"brand_new":{"x":[1,{"y":null}]}}`), 200, 0},
		{"invalid UTF-8", tgSecret, jsonType, tgText(13, 77, "private", "scarpe \xff\xfe rosse"), 200, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newTelegramHarness(t, nil)
			status, body := h.postUpdate(tt.body, tt.secret, tt.contentType)
			if status != tt.want {
				t.Errorf("POST /webhooks/telegram (%s) = %d %s, want %d", tt.name, status, body, tt.want)
			}
			if n := len(h.handled.got()); n != tt.handled {
				t.Errorf("POST /webhooks/telegram (%s) handled %d messages, want %d", tt.name, n, tt.handled)
			}
			if strings.Contains(body, tgSecret) || strings.Contains(body, tgToken) {
				t.Errorf("response %q leaks a secret", body)
			}
			if status, _ := h.do("GET", "/healthz", "", nil, ""); status != 200 {
				t.Errorf("GET /healthz after %s = %d, want 200", tt.name, status)
			}
		})
	}
}

func TestTelegramWebhookTooLarge(t *testing.T) {
	const limit = 4096 // app.Test cannot send a body the server stops reading at 1 MiB
	h := newTelegramHarness(t, nil, func(cfg *web.Config) { cfg.JSONLimit = limit })
	over := tgText(50, 77, "private", strings.Repeat("a", limit))
	if status, body := h.postUpdate(over, tgSecret, "application/json"); status != 413 {
		t.Errorf("POST of %d bytes = %d %s, want 413", len(over), status, body)
	}
	if status, _ := h.postUpdate(over, "wrong", "application/json"); status != 401 {
		t.Errorf("POST of %d bytes with a bad secret = %d, want 401 before the body is read", len(over), status)
	}
	under := tgText(51, 77, "private", strings.Repeat("a", limit-300))
	if status, body := h.postUpdate(under, tgSecret, "application/json"); status != 200 {
		t.Errorf("POST of %d bytes = %d %s, want 200", len(under), status, body)
	}
	if got := h.handled.got(); len(got) != 1 || got[0] != "tg:51" {
		t.Errorf("handled %v, want only the update under the limit", got)
	}
}

func TestTelegramWebhookRedeliveryOnce(t *testing.T) {
	h := newTelegramHarness(t, nil)
	body := tgText(20, 77, "private", "ciao")
	for i := range 3 {
		if status, b := h.postUpdate(body, tgSecret, "application/json"); status != 200 {
			t.Fatalf("delivery %d = %d %s, want 200", i+1, status, b)
		}
	}
	if got := h.handled.got(); len(got) != 1 || got[0] != "tg:20" {
		t.Errorf("handled %v, want [tg:20] once", got)
	}
	if n := len(h.api.Calls()); n != 0 {
		t.Errorf("the webhook made %d Bot API calls; replies must not be sent inline", n)
	}
}

func TestTelegramWebhookGroupNote(t *testing.T) {
	h := newTelegramHarness(t, nil)
	status, _ := h.postUpdate(tgText(30, -100123, "supergroup", "/start@bottega_bot"), tgSecret, "application/json")
	if status != 200 {
		t.Fatalf("group message = %d, want 200", status)
	}
	h.webhook.Wait()
	calls := h.api.CallsTo("sendMessage")
	if len(calls) != 1 || calls[0].Params["chat_id"] != "-100123" || !strings.Contains(calls[0].Params["text"], "private chats") {
		t.Errorf("group note calls = %+v, want one note to -100123 about private chats", calls)
	}
	if n := len(h.handled.got()); n != 0 {
		t.Errorf("a group message was dispatched (%d)", n)
	}
}

type tgDown struct{}

func (tgDown) Dispatch(context.Context, bot.Message) ([]bot.Entry, error) {
	return nil, errors.New("sqldialogs: connection refused")
}

func TestTelegramWebhookBackendDown(t *testing.T) {
	h := newTelegramHarness(t, tgDown{})
	status, body := h.postUpdate(tgText(40, 77, "private", "ciao"), tgSecret, "application/json")
	if status != 503 {
		t.Errorf("POST with the dispatcher down = %d, want 503 so Telegram retries", status)
	}
	if strings.Contains(body, "connection refused") {
		t.Errorf("response %q leaks an internal error", body)
	}
}

func TestTelegramWebhookDisabled(t *testing.T) {
	h := newHarness(t, nil)
	if status, _ := h.postUpdate(tgText(1, 77, "private", "x"), tgSecret, "application/json"); status != 404 {
		t.Errorf("POST /webhooks/telegram without Telegram = %d, want 404", status)
	}
}
