package dialogs_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	openai "github.com/sashabaranov/go-openai"

	"github.com/bottega-shop/bottega/dialogs"
)

// fakeLLM speaks the chat-completions wire format: it answers every request
// with a call of interpret_message carrying the configured arguments.
type fakeLLM struct {
	mu        sync.Mutex
	arguments string
	status    int
	delay     time.Duration
	requests  []string
}

func (f *fakeLLM) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.requests = append(f.requests, string(body))
	args, status, delay := f.arguments, f.status, f.delay
	f.mu.Unlock()
	if r.URL.Path != "/v1/chat/completions" || r.Method != http.MethodPost {
		http.NotFound(w, r)
		return
	}
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
	}
	if status != 0 {
		w.WriteHeader(status)
		io.WriteString(w, `{"error":{"message":"boom","type":"server_error"}}`)
		return
	}
	resp := map[string]any{
		"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "test",
		"choices": []any{map[string]any{
			"index": 0, "finish_reason": "tool_calls",
			"message": map[string]any{
				"role": "assistant", "content": nil,
				"tool_calls": []any{map[string]any{
					"id": "call_1", "type": "function",
					"function": map[string]any{"name": "interpret_message", "arguments": args},
				}},
			},
		}},
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(resp)
}

func (f *fakeLLM) lastRequest() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.requests) == 0 {
		return ""
	}
	return f.requests[len(f.requests)-1]
}

func newLLMChat(t *testing.T, f *fakeLLM, opts ...dialogs.Option) *chat {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	cfg := openai.DefaultConfig("test-key")
	cfg.BaseURL = srv.URL + "/v1"
	opts = append([]dialogs.Option{dialogs.WithOpenAI(openai.NewClientWithConfig(cfg), "test-model")}, opts...)
	return newChat(t, newCatalog(t), opts...)
}

// A message the rules cannot read; it carries an e-mail and a phone number.
const vague = "ehm quella cosa di cui parlavamo ieri, scrivetemi a mario.rossi@example.com o al +39 333 1234567"

func TestLLMFallback(t *testing.T) {
	f := &fakeLLM{arguments: `{"intent":"stock","product":"Trail Runner","sizes":["42"],"colours":["red"],"language":"it"}`}
	c := newLLMChat(t, f)
	c.expect(vague, "Trail Runner, rosso, taglia 42: al momento è esaurito")
	req := f.lastRequest()
	for _, secret := range []string{"mario.rossi@example.com", "1234567", "333"} {
		if strings.Contains(req, secret) {
			t.Errorf("the request to the model holds %q:\n%s", secret, req)
		}
	}
	for _, want := range []string{"[email]", "[phone]", `"tool_choice"`, `"interpret_message"`} {
		if !strings.Contains(req, want) {
			t.Errorf("the request to the model lacks %s:\n%s", want, req)
		}
	}
	// The rules still come first: a message they read does not call the model.
	n := len(f.requests)
	c.expect("e nel 43?", "rosso, taglia 43: disponibile")
	if len(f.requests) != n {
		t.Errorf("a message the rules read was sent to the model")
	}
}

func TestLLMRejected(t *testing.T) {
	tests := []struct {
		name, arguments string
	}{
		{"unknown product", `{"intent":"stock","product":"Scarpe Volanti Magiche","sizes":["42"]}`},
		{"unknown size", `{"intent":"stock","product":"Trail Runner","sizes":["99"]}`},
		{"unknown colour", `{"intent":"stock","product":"Trail Runner","colours":["ultraviolet"]}`},
		{"unknown field", `{"intent":"stock","product":"Trail Runner","discount":"50%"}`},
		{"unknown intent", `{"intent":"refund"}`},
		{"other", `{"intent":"other"}`},
		{"stock of nothing", `{"intent":"stock"}`},
		{"not json", `Trail Runner 42`},
		{"bad quantity", `{"intent":"stock","product":"Trail Runner","quantity":-3}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeLLM{arguments: tt.arguments}
			c := newLLMChat(t, f)
			c.expect(vague, "Scusa, non ho capito")
			if f.lastRequest() == "" {
				t.Errorf("the model was not asked")
			}
		})
	}
}

func TestLLMFailures(t *testing.T) {
	t.Run("timeout", func(t *testing.T) {
		f := &fakeLLM{delay: 5 * time.Second, arguments: `{"intent":"greeting"}`}
		c := newLLMChat(t, f, dialogs.WithLLMTimeout(100*time.Millisecond))
		start := time.Now()
		c.expect(vague, "Scusa, non ho capito")
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("a turn with a slow model took %v, want about the 100ms timeout", d)
		}
	})
	t.Run("server error", func(t *testing.T) {
		f := &fakeLLM{status: http.StatusInternalServerError}
		c := newLLMChat(t, f)
		c.expect(vague, "Scusa, non ho capito")
	})
	t.Run("two misses still offer a person", func(t *testing.T) {
		f := &fakeLLM{arguments: `{"intent":"other"}`}
		c := newLLMChat(t, f)
		c.expect(vague, "non ho capito")
		c.expect(vague+"?", "Vuoi parlare con una persona")
	})
	t.Run("a greeting", func(t *testing.T) {
		f := &fakeLLM{arguments: `{"intent":"greeting","language":"it"}`}
		c := newLLMChat(t, f)
		c.expect(vague, "Sono l'assistente di Bottega")
	})
}
