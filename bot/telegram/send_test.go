package telegram_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/bottega-shop/bottega/bot"
	"github.com/bottega-shop/bottega/bot/telegram"
	"github.com/bottega-shop/bottega/bot/telegram/telegramtest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

const testToken = "123456:TEST-token_abcdefghijklmnopqrstuvwxyz"

// seqPayloads is a PayloadStore with predictable keys, for golden files.
type seqPayloads struct {
	mu sync.Mutex
	m  map[string]string
}

func (s *seqPayloads) Put(_ context.Context, p string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = make(map[string]string)
	}
	for k, v := range s.m {
		if v == p {
			return k, nil
		}
	}
	k := fmt.Sprintf("k%d", len(s.m)+1)
	s.m[k] = p
	return k, nil
}

func (s *seqPayloads) Get(_ context.Context, k string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p, ok := s.m[k]; ok {
		return p, nil
	}
	return "", telegram.ErrPayloadExpired
}

func newSender(t *testing.T, opts ...telegram.SenderOption) (*telegram.Sender, *telegramtest.Server) {
	t.Helper()
	api := telegramtest.NewServer(t, testToken)
	s, err := telegram.NewSender(testToken, api.URL, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return s, api
}

// golden compares calls with testdata/name.golden, or rewrites it with
// -update. JSON-valued parameters are shown as JSON.
func golden(t *testing.T, name string, calls []telegramtest.Call) {
	t.Helper()
	type call struct {
		Method string         `json:"method"`
		Params map[string]any `json:"params"`
	}
	out := make([]call, 0, len(calls))
	for _, c := range calls {
		p := make(map[string]any, len(c.Params))
		for k, v := range c.Params {
			var j any
			if (strings.HasPrefix(v, "{") || strings.HasPrefix(v, "[")) && json.Unmarshal([]byte(v), &j) == nil {
				p[k] = j
			} else {
				p[k] = v
			}
		}
		out = append(out, call{c.Method, p})
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), buf.String()); diff != "" {
		t.Errorf("calls differ from %s (-want +got):\n%s", path, diff)
	}
}

func TestSendGolden(t *testing.T) {
	longPayload := "notify:" + strings.Repeat("TRAIL-RUNNER-ROSSO-", 5) + "42"
	tests := []struct {
		name  string
		reply bot.Reply
	}{
		{"send_text", bot.Reply{Text: "Sì, la Trail Runner rossa in 42 è disponibile: ne abbiamo 2. <b>non è HTML</b>"}},
		{"send_keyboard", bot.Reply{
			Text: "Il 42 rosso è esaurito. Ho il 41 e il 43.",
			QuickReplies: []bot.QuickReply{
				{Title: "39", Payload: "size:39"}, {Title: "40", Payload: "size:40"}, {Title: "41", Payload: "size:41"},
				{Title: "43", Payload: "size:43"}, {Title: "44", Payload: "size:44"}, {Title: "", Payload: "size:45"},
			},
			Buttons: []bot.Button{
				{Title: "Avvisami per il 42 rosso", Payload: longPayload},
				{Title: "Avvisami per il 42 nero", Payload: "notify:TR-BLK-42"},
				{Title: "Guida alle taglie", URL: "https://shop.example/taglie"},
				{Title: "Non un link", URL: "javascript:alert(1)", Payload: "help:sizes"},
				{Title: "Niente azione"},
			},
		}},
		{"send_choices", bot.Reply{
			Text: "Quale intendi?\n1. Trail Runner\n2. Trail Runner Pro",
			QuickReplies: []bot.QuickReply{
				{Title: "1. Trail Runner", Payload: "choose:trail-runner"},
				{Title: "2. Trail Runner Pro", Payload: "choose:trail-runner-pro"},
			},
		}},
		{"send_cards", bot.Reply{
			Text: "Ecco cosa ho trovato.",
			Cards: []bot.Card{
				{Title: "Scarpa Trail Runner", Subtitle: "Montalto", Price: "129,90 €", ImageURL: "https://cdn.example/tr.jpg",
					URL: "https://shop.example/p/trail-runner", Buttons: []bot.Button{{Title: "Vedi il prodotto", URL: "https://shop.example/p/trail-runner"}}},
				{Title: "Calza Tecnica", Price: "12,00 €", URL: "https://shop.example/p/calza"},
				{Title: "Senza immagine valida", ImageURL: "ftp://cdn.example/x.jpg", Buttons: []bot.Button{{Title: "Scegli", Payload: "choose:x"}}},
			},
			QuickReplies: []bot.QuickReply{{Title: "Altro", Payload: "more"}},
		}},
		{"send_card_only", bot.Reply{
			Cards:        []bot.Card{{Title: "Scarpa Trail Runner", Price: "129,90 €", ImageURL: "https://cdn.example/tr.jpg"}},
			QuickReplies: []bot.QuickReply{{Title: "41", Payload: "size:41"}, {Title: "42", Payload: "size:42"}},
		}},
		{"send_buttons_only", bot.Reply{QuickReplies: []bot.QuickReply{{Title: "Sì", Payload: "person:yes"}, {Title: "No", Payload: "person:no"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, api := newSender(t, telegram.WithPayloadStore(&seqPayloads{}))
			if err := s.Send(context.Background(), 1001, tt.reply); err != nil {
				t.Fatalf("Send(%s) = %v", tt.name, err)
			}
			for _, c := range api.Calls() {
				if c.Code != 0 {
					t.Errorf("the fake Bot API refused %s with %d: %v", c.Method, c.Code, c.Params)
				}
			}
			golden(t, tt.name, api.Calls())
		})
	}
}

func TestSendNothing(t *testing.T) {
	s, api := newSender(t)
	if err := s.Send(context.Background(), 1001, bot.Reply{Text: "  "}); err != nil {
		t.Fatalf("Send(blank) = %v", err)
	}
	if n := len(api.Calls()); n != 0 {
		t.Errorf("Send(blank) made %d calls, want 0", n)
	}
}

func TestSendLongText(t *testing.T) {
	s, api := newSender(t)
	var b strings.Builder
	for i := 0; units(b.String()) < 10_000; i++ {
		fmt.Fprintf(&b, "Riga %d: la Trail Runner 👟 è disponibile in molte taglie.\n", i)
	}
	text := b.String()
	err := s.Send(context.Background(), 1001, bot.Reply{Text: text, QuickReplies: []bot.QuickReply{{Title: "OK", Payload: "ok"}}})
	if err != nil {
		t.Fatalf("Send(long) = %v", err)
	}
	calls := api.CallsTo("sendMessage")
	if len(calls) != 3 {
		t.Fatalf("Send(%d units) made %d sendMessage calls, want 3", units(text), len(calls))
	}
	var joined strings.Builder
	for i, c := range calls {
		if c.Code != 0 {
			t.Errorf("part %d refused: %d", i, c.Code)
		}
		if n := units(c.Params["text"]); n > telegram.MaxText {
			t.Errorf("part %d has %d units", i, n)
		}
		_, hasKeyboard := c.Params["reply_markup"]
		if hasKeyboard != (i == len(calls)-1) {
			t.Errorf("part %d has keyboard = %v, want it on the last part only", i, hasKeyboard)
		}
		if !strings.HasSuffix(c.Params["text"], "\n") && i < len(calls)-1 {
			t.Errorf("part %d does not end at a line break", i)
		}
		joined.WriteString(c.Params["text"])
	}
	if joined.String() != text {
		t.Errorf("the parts joined differ from the text")
	}
}

func TestSendErrors(t *testing.T) {
	tests := []struct {
		name      string
		failure   telegramtest.Failure
		want      error
		retryWait time.Duration
	}{
		{"429 with retry_after", telegramtest.TooManyRequests(34), telegram.ErrTemporary, 34 * time.Second},
		{"429 without retry_after", telegramtest.Failure{Code: 429, Description: "Too Many Requests"}, telegram.ErrTemporary, time.Second},
		{"403 blocked", telegramtest.Blocked(), telegram.ErrUnreachable, 0},
		{"403 deactivated", telegramtest.Deactivated(), telegram.ErrUnreachable, 0},
		{"403 other", telegramtest.Failure{Code: 403, Description: "Forbidden: bot is not a member of the channel chat"}, telegram.ErrPermanent, 0},
		{"400", telegramtest.ChatNotFound(), telegram.ErrPermanent, 0},
		{"401", telegramtest.Failure{Code: 401, Description: "Unauthorized"}, telegram.ErrPermanent, 0},
		{"406", telegramtest.Failure{Code: 406, Description: "Not Acceptable"}, telegram.ErrPermanent, 0},
		{"500", telegramtest.InternalError(), telegram.ErrTemporary, 0},
		{"502 not JSON", telegramtest.BadGateway(), telegram.ErrTemporary, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, api := newSender(t)
			api.Fail("sendMessage", tt.failure)
			err := s.Send(context.Background(), 1001, bot.Reply{Text: "ciao"})
			if !errors.Is(err, tt.want) {
				t.Fatalf("Send with %s = %v, want %v", tt.name, err, tt.want)
			}
			for _, other := range []error{telegram.ErrTemporary, telegram.ErrPermanent, telegram.ErrUnreachable} {
				if other != tt.want && errors.Is(err, other) {
					t.Errorf("Send with %s = %v, which also matches %v", tt.name, err, other)
				}
			}
			var ra *telegram.RetryAfterError
			if got := errors.As(err, &ra); got != (tt.retryWait > 0) {
				t.Errorf("Send with %s: errors.As(RetryAfterError) = %v", tt.name, got)
			} else if got && ra.After != tt.retryWait {
				t.Errorf("Send with %s: retry after %v, want %v", tt.name, ra.After, tt.retryWait)
			}
			if strings.Contains(err.Error(), testToken) || strings.Contains(err.Error(), "html") {
				t.Errorf("Send error %q leaks the token or the response body", err)
			}
			// The next call succeeds: the failure was for one call only.
			if err := s.Send(context.Background(), 1001, bot.Reply{Text: "ciao"}); err != nil {
				t.Errorf("Send after the failure = %v", err)
			}
		})
	}
}

func TestSendNetworkErrors(t *testing.T) {
	s, api := newSender(t)
	api.Delay("sendMessage", time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := s.Send(ctx, 1001, bot.Reply{Text: "ciao"})
	if !errors.Is(err, telegram.ErrTemporary) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Send past the deadline = %v, want ErrTemporary and DeadlineExceeded", err)
	}

	down, err := telegram.NewSender(testToken, "http://127.0.0.1:1")
	if err != nil {
		t.Fatal(err)
	}
	err = down.Send(context.Background(), 1001, bot.Reply{Text: "ciao"})
	if !errors.Is(err, telegram.ErrTemporary) {
		t.Errorf("Send to a closed port = %v, want ErrTemporary", err)
	}
	if strings.Contains(err.Error(), testToken) {
		t.Errorf("Send error %q leaks the token", err)
	}
}

func TestSendPartialAndResume(t *testing.T) {
	s, api := newSender(t)
	r := bot.Reply{
		Text:  "Eccola.",
		Cards: []bot.Card{{Title: "Scarpa Trail Runner", ImageURL: "https://cdn.example/tr.jpg"}},
	}
	api.Fail("sendMessage", telegramtest.TooManyRequests(3))
	err := s.Send(context.Background(), 1001, r)
	var partial *telegram.PartialError
	if !errors.As(err, &partial) || partial.Sent != 1 {
		t.Fatalf("Send = %v, want a PartialError after 1 message", err)
	}
	var ra *telegram.RetryAfterError
	if !errors.As(err, &ra) || ra.After != 3*time.Second {
		t.Fatalf("Send = %v, want it to carry retry after 3s", err)
	}
	api.Reset()
	if err := s.SendFrom(context.Background(), 1001, r, partial.Sent); err != nil {
		t.Fatalf("SendFrom(%d) = %v", partial.Sent, err)
	}
	calls := api.Calls()
	if len(calls) != 1 || calls[0].Method != "sendMessage" || calls[0].Params["text"] != "Eccola." {
		t.Errorf("SendFrom(1) calls = %+v, want only the text", calls)
	}
}

func TestLongPayloadsRoundTrip(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	store := telegram.NewMemoryPayloads(time.Hour, 0, func() time.Time { return now })
	s, api := newSender(t, telegram.WithPayloadStore(store))
	long := "notify:" + strings.Repeat("è", 40) // 87 bytes, 47 characters
	short := "size:42"
	tricky := "~p:not-a-key" // fits, but looks like a stored key
	err := s.Send(context.Background(), 1001, bot.Reply{Text: "?", Buttons: []bot.Button{
		{Title: "a", Payload: long}, {Title: "b", Payload: short}, {Title: "c", Payload: tricky},
	}})
	if err != nil {
		t.Fatal(err)
	}
	var kb struct {
		InlineKeyboard [][]struct {
			CallbackData string `json:"callback_data"`
		} `json:"inline_keyboard"`
	}
	if err := json.Unmarshal([]byte(api.Calls()[0].Params["reply_markup"]), &kb); err != nil {
		t.Fatal(err)
	}
	want := []string{long, short, tricky}
	for i, row := range kb.InlineKeyboard {
		data := row[0].CallbackData
		if len(data) > telegram.MaxCallbackData {
			t.Errorf("button %d callback_data has %d bytes", i, len(data))
		}
		got, err := s.Resolve(context.Background(), data)
		if err != nil || got != want[i] {
			t.Errorf("Resolve(%q) = %q, %v; want %q", data, got, err, want[i])
		}
	}
	if kb.InlineKeyboard[1][0].CallbackData != short {
		t.Errorf("short payload sent as %q, want it as is", kb.InlineKeyboard[1][0].CallbackData)
	}
	if _, err := s.Resolve(context.Background(), "~p:forged"); !errors.Is(err, telegram.ErrPayloadExpired) {
		t.Errorf("Resolve(forged key) = %v, want ErrPayloadExpired", err)
	}
	now = now.Add(2 * time.Hour)
	if _, err := s.Resolve(context.Background(), kb.InlineKeyboard[0][0].CallbackData); !errors.Is(err, telegram.ErrPayloadExpired) {
		t.Errorf("Resolve(key past its TTL) = %v, want ErrPayloadExpired", err)
	}
}

func TestMemoryPayloads(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	m := telegram.NewMemoryPayloads(time.Hour, 20, func() time.Time { return now })
	k1, _ := m.Put(ctx, "payload one")
	k1again, _ := m.Put(ctx, "payload one")
	if k1 != k1again {
		t.Errorf("Put(same payload) = %q then %q, want the same key", k1, k1again)
	}
	if len(k1) > 48 || strings.ContainsFunc(k1, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-')
	}) {
		t.Errorf("key %q is not short base64url", k1)
	}
	for i := range 50 {
		now = now.Add(time.Second)
		if _, err := m.Put(ctx, fmt.Sprint("p", i)); err != nil {
			t.Fatal(err)
		}
	}
	if n := m.Len(); n > 20 {
		t.Errorf("Len() = %d after 51 payloads, want at most 20", n)
	}
	if _, err := m.Get(ctx, k1); !errors.Is(err, telegram.ErrPayloadExpired) {
		t.Errorf("Get(oldest key) = %v, want it evicted", err)
	}
	k, _ := m.Put(ctx, "recent")
	if p, err := m.Get(ctx, k); err != nil || p != "recent" {
		t.Errorf("Get(recent) = %q, %v", p, err)
	}
}

func TestSetWebhook(t *testing.T) {
	s, api := newSender(t)
	if err := s.SetWebhook(context.Background(), "https://shop.example/", "s3cret_Token-1"); err != nil {
		t.Fatalf("SetWebhook = %v", err)
	}
	golden(t, "set_webhook", api.Calls())

	bad := []struct{ url, secret string }{
		{"https://shop.example", ""},
		{"https://shop.example", "has space"},
		{"https://shop.example", strings.Repeat("a", 257)},
		{"http://shop.example", "s3cret"},
		{"shop.example", "s3cret"},
		{"https://shop.example/?a=1", "s3cret"},
	}
	api.Reset()
	for _, b := range bad {
		if err := s.SetWebhook(context.Background(), b.url, b.secret); err == nil || strings.Contains(err.Error(), b.secret) && b.secret != "" {
			t.Errorf("SetWebhook(%q, %q) = %v, want an error not quoting the secret", b.url, b.secret, err)
		}
	}
	if n := len(api.Calls()); n != 0 {
		t.Errorf("refused SetWebhook calls reached the API %d times", n)
	}
}

func TestAnswerCallback(t *testing.T) {
	s, api := newSender(t)
	if err := s.AnswerCallback(context.Background(), "cb1", strings.Repeat("è", 300)); err != nil {
		t.Fatalf("AnswerCallback(300 characters) = %v", err)
	}
	calls := api.CallsTo("answerCallbackQuery")
	if len(calls) != 1 || calls[0].Params["callback_query_id"] != "cb1" || units(calls[0].Params["text"]) > 200 {
		t.Errorf("answerCallbackQuery calls = %+v", calls)
	}
}

func TestNewSenderRefuses(t *testing.T) {
	for _, tt := range []struct{ token, url string }{
		{"", "https://api.telegram.org"},
		{"  ", "https://api.telegram.org"},
		{testToken, "api.telegram.org"},
		{testToken, "ftp://api.telegram.org"},
	} {
		if _, err := telegram.NewSender(tt.token, tt.url); err == nil {
			t.Errorf("NewSender(%q, %q) = nil error", tt.token, tt.url)
		}
	}
}
