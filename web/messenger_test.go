package web_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/bottega-shop/bottega/bot"
	"github.com/bottega-shop/bottega/bot/messenger"
	"github.com/bottega-shop/bottega/web"
)

const (
	messengerSecret = "messenger-app-secret"
	messengerVerify = "messenger-verify-token"
)

// recordingDispatcher records the messages the webhook hands over.
type recordingDispatcher struct {
	mu  sync.Mutex
	ids []string
}

func (d *recordingDispatcher) Dispatch(_ context.Context, m bot.Message) ([]bot.Entry, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.ids = append(d.ids, m.ID)
	return nil, nil
}

func (d *recordingDispatcher) got() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.ids...)
}

func newMessengerHarness(t *testing.T) (*harness, *recordingDispatcher) {
	t.Helper()
	d := &recordingDispatcher{}
	h := newHarness(t, func(cfg *web.Config) {
		cfg.Messenger = messenger.NewWebhook(messengerSecret, messengerVerify, d, nil, nil)
	})
	return h, d
}

// post sends a webhook body with a signature header (none if sig is "").
func (h *harness) post(body []byte, sig, contentType string) (int, string) {
	h.t.Helper()
	req := httptest.NewRequest("POST", "/webhooks/messenger", bytes.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if sig != "" {
		req.Header.Set(messenger.SignatureHeader, sig)
	}
	resp, err := h.srv.App().Test(req, -1)
	if err != nil {
		h.t.Fatalf("POST /webhooks/messenger: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func messengerBody(events ...string) []byte {
	return []byte(`{"object":"page","entry":[{"id":"PAGE","time":1700000000000,"messaging":[` + strings.Join(events, ",") + `]}]}`)
}

func TestMessengerHandshake(t *testing.T) {
	h, _ := newMessengerHarness(t)
	tests := []struct {
		name   string
		query  string
		status int
		body   string
	}{
		{"good", "hub.mode=subscribe&hub.verify_token=" + messengerVerify + "&hub.challenge=1158201444", 200, "1158201444"},
		{"challenge kept verbatim", "hub.mode=subscribe&hub.verify_token=" + messengerVerify + "&hub.challenge=00042%20x", 200, "00042 x"},
		{"wrong token", "hub.mode=subscribe&hub.verify_token=guess&hub.challenge=1", 403, ""},
		{"no token", "hub.mode=subscribe&hub.challenge=1", 403, ""},
		{"wrong mode", "hub.mode=unsubscribe&hub.verify_token=" + messengerVerify + "&hub.challenge=1", 403, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", "/webhooks/messenger?"+tt.query, nil)
			resp, err := h.srv.App().Test(req, -1)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status {
				t.Errorf("GET ?%s = %d %s, want %d", tt.query, resp.StatusCode, b, tt.status)
			}
			if tt.status == 200 {
				if string(b) != tt.body {
					t.Errorf("GET ?%s body = %q, want %q", tt.query, b, tt.body)
				}
				if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
					t.Errorf("GET ?%s Content-Type = %q, want text/plain", tt.query, ct)
				}
			}
		})
	}
}

func TestMessengerWebhook(t *testing.T) {
	text := func(psid, mid string) string {
		return `{"sender":{"id":"` + psid + `"},"recipient":{"id":"PAGE"},"timestamp":1700000000000,"message":{"mid":"` + mid + `","text":"ciao"}}`
	}
	valid := messengerBody(text("1", "m_1"))
	deep := []byte(`{"object":"page","entry":[` + strings.Repeat("[", 64) + strings.Repeat("]", 64) + `]}`)
	tests := []struct {
		name        string
		body        []byte
		sig         string
		contentType string
		status      int
		dispatched  []string
	}{
		{"valid", valid, messenger.Sign(valid, messengerSecret), "application/json", 200, []string{"fb:m_1"}},
		{"bad signature", valid, messenger.Sign(valid, "guess"), "application/json", 401, nil},
		{"no signature", valid, "", "application/json", 401, nil},
		{"bad signature on a malformed body", []byte(`{"object":`), "sha256=00", "application/json", 401, nil},
		{"bad signature on deep nesting", deep, messenger.Sign(deep, "guess"), "application/json", 401, nil},
		{"truncated", []byte(`{"object":"page","entry":[{"id":`), messenger.Sign([]byte(`{"object":"page","entry":[{"id":`), messengerSecret), "application/json", 400, nil},
		{"wrong types", []byte(`{"object":"page","entry":[{"messaging":"x"}]}`), messenger.Sign([]byte(`{"object":"page","entry":[{"messaging":"x"}]}`), messengerSecret), "application/json", 400, nil},
		{"deep nesting", deep, messenger.Sign(deep, messengerSecret), "application/json", 400, nil},
		{"empty", nil, messenger.Sign(nil, messengerSecret), "application/json", 400, nil},
		{"form encoded", []byte("object=page&entry=x"), messenger.Sign([]byte("object=page&entry=x"), messengerSecret), "application/x-www-form-urlencoded", 400, nil},
		{"unknown object", []byte(`{"object":"whatsapp_business_account","entry":[]}`), messenger.Sign([]byte(`{"object":"whatsapp_business_account","entry":[]}`), messengerSecret), "application/json", 200, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, d := newMessengerHarness(t)
			status, body := h.post(tt.body, tt.sig, tt.contentType)
			if status != tt.status {
				t.Errorf("POST %.40q = %d %s, want %d", tt.body, status, body, tt.status)
			}
			if got := d.got(); strings.Join(got, ",") != strings.Join(tt.dispatched, ",") {
				t.Errorf("POST %.40q dispatched %v, want %v", tt.body, got, tt.dispatched)
			}
		})
	}
}

func TestMessengerWebhookBatchWithBadEvent(t *testing.T) {
	h, d := newMessengerHarness(t)
	b := messengerBody(
		`{"sender":{"id":"1"},"timestamp":1700000000000,"message":{"mid":"m_1","text":"ciao"}}`,
		`{"recipient":{"id":"PAGE"},"timestamp":1700000001000,"message":{"mid":"m_2","text":"no sender"}}`,
		`{"sender":{"id":"2"},"timestamp":1700000002000,"message":{"mid":"m_3","text":"ancora"}}`,
	)
	if status, body := h.post(b, messenger.Sign(b, messengerSecret), "application/json"); status != 200 || body != "EVENT_RECEIVED" {
		t.Fatalf("POST = %d %q, want 200 EVENT_RECEIVED", status, body)
	}
	got := d.got()
	if len(got) != 2 || strings.Contains(strings.Join(got, ","), "m_2") {
		t.Errorf("dispatched %v, want m_1 and m_3 only", got)
	}
}

func TestMessengerWebhookInvalidUTF8(t *testing.T) {
	h, d := newMessengerHarness(t)
	b := messengerBody("{\"sender\":{\"id\":\"1\"},\"timestamp\":1700000000000,\"message\":{\"mid\":\"m_\xff\",\"text\":\"ciao \xc3\x28\xfe\"}}")
	if status, body := h.post(b, messenger.Sign(b, messengerSecret), "application/json"); status != 200 {
		t.Fatalf("POST invalid UTF-8 = %d %s, want 200", status, body)
	}
	if got := d.got(); len(got) != 1 {
		t.Errorf("dispatched %v, want one message", got)
	}
	// The server is still healthy.
	if status, _ := h.do("GET", "/healthz", "", nil, ""); status != 200 {
		t.Errorf("GET /healthz after invalid UTF-8 = %d", status)
	}
}

func TestMessengerWebhookTooLarge(t *testing.T) {
	const limit = 4096 // app.Test cannot take a body the server stops reading at 1 MiB
	d := &recordingDispatcher{}
	h := newHarness(t, func(cfg *web.Config) {
		cfg.JSONLimit = limit
		cfg.Messenger = messenger.NewWebhook(messengerSecret, messengerVerify, d, nil, nil)
	})
	event := func(n int) []byte {
		return messengerBody(`{"sender":{"id":"1"},"timestamp":1,"message":{"mid":"m","text":"` + strings.Repeat("a", n) + `"}}`)
	}
	over, under := event(limit), event(limit-200)
	if status, body := h.post(over, messenger.Sign(over, messengerSecret), "application/json"); status != 413 {
		t.Errorf("POST of %d bytes = %d %s, want 413", len(over), status, body)
	}
	if got := d.got(); len(got) != 0 {
		t.Errorf("dispatched %v from an oversized body", got)
	}
	if status, body := h.post(under, messenger.Sign(under, messengerSecret), "application/json"); status != 200 {
		t.Errorf("POST of %d bytes = %d %s, want 200", len(under), status, body)
	}
}

func TestMessengerDisabled(t *testing.T) {
	h := newHarness(t, nil)
	if status, _ := h.do("GET", "/webhooks/messenger?hub.mode=subscribe&hub.verify_token=x&hub.challenge=1", "", nil, ""); status != 404 {
		t.Errorf("GET /webhooks/messenger without Messenger = %d, want 404", status)
	}
	b := messengerBody()
	if status, _ := h.post(b, messenger.Sign(b, ""), "application/json"); status != 404 {
		t.Errorf("POST /webhooks/messenger without Messenger = %d, want 404", status)
	}
}

func TestMessengerLogsNoSecrets(t *testing.T) {
	var logs strings.Builder
	var mu sync.Mutex
	h := newHarness(t, func(cfg *web.Config) {
		cfg.Messenger = messenger.NewWebhook(messengerSecret, messengerVerify, &recordingDispatcher{}, nil, nil)
		cfg.Logger = slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
			mu.Lock()
			defer mu.Unlock()
			return logs.Write(p)
		}), nil))
	})
	h.do("GET", "/webhooks/messenger?hub.mode=subscribe&hub.verify_token="+messengerVerify+"&hub.challenge=1", "", nil, "")
	h.do("GET", "/webhooks/messenger?hub.mode=subscribe&hub.verify_token=guess-"+messengerVerify+"&hub.challenge=1", "", nil, "")
	b := messengerBody(`{"sender":{"id":"1"},"timestamp":1,"message":{"mid":"m","text":"il mio indirizzo segreto"}}`)
	h.post(b, messenger.Sign(b, messengerSecret), "application/json")
	mu.Lock()
	defer mu.Unlock()
	if logs.Len() == 0 {
		t.Fatal("nothing was logged; the test would prove nothing")
	}
	for _, secret := range []string{messengerVerify, messengerSecret, "segreto"} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("the log holds %q:\n%s", secret, logs.String())
		}
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
