package telegram_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/bottega-shop/bottega/bot"
	"github.com/bottega-shop/bottega/bot/telegram"
	"github.com/bottega-shop/bottega/bot/telegram/telegramtest"
	"github.com/bottega-shop/bottega/dialogs/sqldialogs"
	"github.com/bottega-shop/bottega/internal/sqldb"
)

const secret = "s3cret_Token-1"

// recorder is a bot.Handler that records the messages it handles and
// answers each with one reply.
type recorder struct {
	mu   sync.Mutex
	msgs []bot.Message
	// block, if set, is waited on while handling a message with this text.
	// entered is closed when that message's turn starts.
	blockText string
	block     chan struct{}
	entered   chan struct{}
}

func (r *recorder) Handle(ctx context.Context, state []byte, m bot.Message) ([]byte, []bot.Reply, error) {
	if r.block != nil && m.Text == r.blockText {
		close(r.entered)
		select {
		case <-r.block:
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		}
	}
	r.mu.Lock()
	r.msgs = append(r.msgs, m)
	r.mu.Unlock()
	return []byte("s"), []bot.Reply{{Text: "echo " + m.Text + m.Payload}}, nil
}

func (r *recorder) handled() []bot.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]bot.Message(nil), r.msgs...)
}

// ids lists the handled messages' IDs.
func (r *recorder) ids() []string {
	var out []string
	for _, m := range r.handled() {
		out = append(out, m.ID)
	}
	return out
}

// reach records reachability changes.
type reach struct {
	mu   sync.Mutex
	got  []string
	fail error
}

func (r *reach) SetReachable(_ context.Context, key string, ok bool) error {
	if r.fail != nil {
		return r.fail
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	s := key + " unreachable"
	if ok {
		s = key + " reachable"
	}
	r.got = append(r.got, s)
	return nil
}

func (r *reach) changes() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.got...)
}

type fixture struct {
	w      *telegram.Webhook
	api    *telegramtest.Server
	sender *telegram.Sender
	h      *recorder
	reach  *reach
	d      *bot.Dispatcher

	mu     sync.Mutex
	outbox [][]bot.Entry
}

// newDispatcher returns a real Dispatcher on the SQL store over a fresh
// SQLite database.
func newDispatcher(t testing.TB, h bot.Handler) *bot.Dispatcher {
	t.Helper()
	ctx := context.Background()
	db, err := sqldb.Open(ctx, "", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	store, err := sqldialogs.New(db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	return bot.NewDispatcher(store, h)
}

func newFixture(t *testing.T, opts ...telegram.Option) *fixture {
	t.Helper()
	f := &fixture{h: &recorder{}, reach: &reach{}}
	f.sender, f.api = newSender(t)
	f.d = newDispatcher(t, f.h)
	opts = append([]telegram.Option{telegram.WithOutbox(telegram.OutboxFunc(func(_ context.Context, _ int64, es []bot.Entry) error {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.outbox = append(f.outbox, es)
		return nil
	}))}, opts...)
	f.w = telegram.NewWebhook(secret, f.d, f.sender, f.reach, nil, opts...)
	t.Cleanup(f.w.Wait)
	return f
}

func (f *fixture) handle(t *testing.T, body []byte) int {
	t.Helper()
	status, _ := f.w.Handle(context.Background(), secret, body)
	return status
}

// update builds a text message update.
func textUpdate(id int64, messageID int, chat int64, text string) []byte {
	b, _ := json.Marshal(map[string]any{
		"update_id": id,
		"message": map[string]any{
			"message_id": messageID, "date": 1767225600, "text": text,
			"from": map[string]any{"id": chat, "is_bot": false, "first_name": "G", "language_code": "it"},
			"chat": map[string]any{"id": chat, "type": "private"},
		},
	})
	return b
}

func editUpdate(id int64, messageID int, chat int64, text string) []byte {
	b := strings.Replace(string(textUpdate(id, messageID, chat, text)), `"message"`, `"edited_message"`, 1)
	return []byte(b)
}

func callbackUpdate(id int64, chat int64, data string) []byte {
	b, _ := json.Marshal(map[string]any{
		"update_id": id,
		"callback_query": map[string]any{
			"id": "cb-" + data, "chat_instance": "1", "data": data,
			"from":    map[string]any{"id": chat, "is_bot": false, "first_name": "G", "language_code": "en-GB"},
			"message": map[string]any{"message_id": 3, "date": 1767225600, "chat": map[string]any{"id": chat, "type": "private"}, "text": "?"},
		},
	})
	return b
}

func TestHandleStatuses(t *testing.T) {
	text := readUpdate(t, "text.json")
	tests := []struct {
		name, secret string
		body         []byte
		want         int
		dispatched   int
	}{
		{"good", secret, text, 200, 1},
		{"no secret", "", text, 401, 0},
		{"wrong secret", "s3cret_Token-2", text, 401, 0},
		{"wrong secret, bad body", "nope", []byte("{"), 401, 0},
		{"empty body", secret, nil, 400, 0},
		{"truncated", secret, text[:40], 400, 0},
		{"wrong types", secret, []byte(`{"update_id":"x"}`), 400, 0},
		{"deep nesting", secret, []byte(`{"update_id":1,"x":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`), 400, 0},
		{"form encoded", secret, []byte("update_id=5&text=hi"), 400, 0},
		{"too large", secret, []byte(`{"update_id":1,"x":"` + strings.Repeat("a", telegram.MaxBody) + `"}`), 413, 0},
		{"unknown type", secret, readUpdate(t, "future_type.json"), 200, 0},
		{"channel post", secret, readUpdate(t, "channel_post.json"), 200, 0},
		{"invalid UTF-8", secret, []byte(strings.Replace(string(text), "rosse", "ro\xffsse", 1)), 200, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			status, err := f.w.Handle(context.Background(), tt.secret, tt.body)
			if status != tt.want {
				t.Errorf("Handle(%s) = %d, %v; want %d", tt.name, status, err, tt.want)
			}
			if (err != nil) != (status != 200) {
				t.Errorf("Handle(%s) = %d with error %v", tt.name, status, err)
			}
			if n := len(f.h.handled()); n != tt.dispatched {
				t.Errorf("Handle(%s) dispatched %d messages, want %d", tt.name, n, tt.dispatched)
			}
		})
	}
}

func TestHandleRedeliveryOnce(t *testing.T) {
	f := newFixture(t)
	body := readUpdate(t, "text.json")
	for i := range 3 {
		if got := f.handle(t, body); got != 200 {
			t.Fatalf("Handle(delivery %d) = %d, want 200", i+1, got)
		}
	}
	if got := f.h.ids(); !cmp.Equal(got, []string{"tg:500"}) {
		t.Errorf("handled %v, want [tg:500] once", got)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.outbox) != 1 || len(f.outbox[0]) != 2 || f.outbox[0][1].Reply == nil {
		t.Fatalf("outbox got %+v, want one turn of two entries", f.outbox)
	}
	m := f.h.handled()[0]
	want := bot.Message{Channel: bot.Telegram, ID: "tg:500", Conversation: "1001", Sender: "1001",
		Text: "avete le trail runner rosse in 42?", Locale: "it", Seq: 500, At: time.Unix(1767225600, 0).UTC()}
	if diff := cmp.Diff(want, m); diff != "" {
		t.Errorf("dispatched message mismatch (-want +got):\n%s", diff)
	}
}

func TestHandleCallbacks(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	// A keyboard with a payload too long for callback_data.
	long := "notify:" + strings.Repeat("TRAIL-RUNNER-", 8)
	if err := f.sender.Send(ctx, 1001, bot.Reply{Text: "?", Buttons: []bot.Button{{Title: "Avvisami", Payload: long}}}); err != nil {
		t.Fatal(err)
	}
	var kb struct {
		InlineKeyboard [][]struct {
			CallbackData string `json:"callback_data"`
		} `json:"inline_keyboard"`
	}
	json.Unmarshal([]byte(f.api.CallsTo("sendMessage")[0].Params["reply_markup"]), &kb)
	stored := kb.InlineKeyboard[0][0].CallbackData

	steps := []struct {
		body    []byte
		payload string // dispatched, "" for none
		answer  string // the answer's text
	}{
		{callbackUpdate(700, 1001, "size:42"), "size:42", ""},
		{callbackUpdate(701, 1001, stored), long, ""},
		{callbackUpdate(702, 1001, "~p:forged-or-expired"), "", "This button has expired: please ask me again."},
		{readUpdate(t, "callback_inline.json"), "", ""},
	}
	for _, s := range steps {
		if got := f.handle(t, s.body); got != 200 {
			t.Fatalf("Handle(callback) = %d", got)
		}
	}
	f.w.Wait()
	var payloads []string
	for _, m := range f.h.handled() {
		payloads = append(payloads, m.Payload)
	}
	if want := []string{"size:42", long}; !cmp.Equal(payloads, want) {
		t.Errorf("dispatched payloads %q, want %q", payloads, want)
	}
	answers := f.api.CallsTo("answerCallbackQuery")
	if len(answers) != len(steps) {
		t.Fatalf("answerCallbackQuery called %d times, want %d (every callback)", len(answers), len(steps))
	}
	got := make(map[string]string)
	for _, a := range answers {
		got[a.Params["callback_query_id"]] = a.Params["text"]
	}
	want := map[string]string{
		"cb-size:42": "", "cb-" + stored: "", "cb-~p:forged-or-expired": "This button has expired: please ask me again.", "cb3": "",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("callback answers mismatch (-want +got):\n%s", diff)
	}
}

func TestHandleAcksBeforeSlowCalls(t *testing.T) {
	f := newFixture(t)
	f.api.Delay("answerCallbackQuery", 1500*time.Millisecond)
	f.api.Delay("sendMessage", 1500*time.Millisecond)
	start := time.Now()
	if got := f.handle(t, callbackUpdate(700, 1001, "size:42")); got != 200 {
		t.Fatalf("Handle(callback) = %d", got)
	}
	if got := f.handle(t, readUpdate(t, "group.json")); got != 200 {
		t.Fatalf("Handle(group) = %d", got)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Handle took %v with a slow Bot API, want the acknowledgement first", d)
	}
	f.w.Wait()
	if n := len(f.api.CallsTo("answerCallbackQuery")); n != 1 {
		t.Errorf("after Wait, answerCallbackQuery called %d times, want 1", n)
	}
	if n := len(f.api.CallsTo("sendMessage")); n != 1 {
		t.Errorf("after Wait, sendMessage called %d times, want 1 (the group note)", n)
	}
}

func TestHandleEdits(t *testing.T) {
	f := newFixture(t)
	steps := []struct {
		name string
		body []byte
	}{
		{"question", textUpdate(800, 10, 1001, "trail runner 42")},
		{"its correction", editUpdate(801, 10, 1001, "trail runner 43")},
		{"the correction redelivered", editUpdate(801, 10, 1001, "trail runner 43")},
		{"next question", textUpdate(802, 12, 1001, "e in rosso?")},
		{"late edit of the first", editUpdate(803, 10, 1001, "trail runner 44")},
		{"edit in another chat nothing is known of", editUpdate(804, 5, 2002, "ciao")},
	}
	for _, s := range steps {
		if got := f.handle(t, s.body); got != 200 {
			t.Fatalf("Handle(%s) = %d", s.name, got)
		}
	}
	want := []string{"tg:800", "tg:edit:801", "tg:802", "tg:edit:804"}
	if got := f.h.ids(); !cmp.Equal(got, want) {
		t.Errorf("handled %v, want %v", got, want)
	}
	if got := f.h.handled()[1].Text; got != "trail runner 43" {
		t.Errorf("the correction was dispatched with text %q", got)
	}
}

func TestHandleMember(t *testing.T) {
	f := newFixture(t)
	for _, file := range []string{"kicked.json", "member.json", "member_unknown_status.json"} {
		if got := f.handle(t, readUpdate(t, file)); got != 200 {
			t.Fatalf("Handle(%s) = %d", file, got)
		}
	}
	if got, want := f.reach.changes(), []string{"telegram:1001 unreachable", "telegram:1001 reachable"}; !cmp.Equal(got, want) {
		t.Errorf("reachability changes %v, want %v", got, want)
	}
	if n := len(f.h.handled()); n != 0 {
		t.Errorf("member updates dispatched %d messages", n)
	}
	f.reach.fail = errors.New("store down")
	if status, err := f.w.Handle(context.Background(), secret, readUpdate(t, "kicked.json")); status != http.StatusServiceUnavailable || err == nil {
		t.Errorf("Handle(kicked) with the store down = %d, %v; want 503 so Telegram retries", status, err)
	}
}

func TestHandleGroupNote(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	f := newFixture(t, telegram.WithNow(func() time.Time { return now }))
	group := readUpdate(t, "group.json")
	for range 3 {
		if got := f.handle(t, group); got != 200 {
			t.Fatalf("Handle(group) = %d", got)
		}
	}
	now = now.Add(time.Hour)
	f.handle(t, group)
	f.w.Wait()
	notes := f.api.CallsTo("sendMessage")
	if len(notes) != 2 {
		t.Fatalf("group got %d notes for 4 messages over an hour, want 2", len(notes))
	}
	if notes[0].Params["chat_id"] != "-1002003004005" || !strings.Contains(notes[0].Params["text"], "chat privata") {
		t.Errorf("group note = %v, want the Italian private-chat note to the group", notes[0].Params)
	}
	if n := len(f.h.handled()); n != 0 {
		t.Errorf("group messages dispatched %d messages, want none", n)
	}
}

type failingDispatcher struct{ err error }

func (d failingDispatcher) Dispatch(context.Context, bot.Message) ([]bot.Entry, error) {
	return nil, d.err
}

func TestHandleDispatchFailure(t *testing.T) {
	s, _ := newSender(t)
	for _, tt := range []struct {
		err  error
		want int
	}{
		{errors.New("store down"), 503},
		{context.DeadlineExceeded, 503},
		{bot.ErrDuplicate, 200},
	} {
		w := telegram.NewWebhook(secret, failingDispatcher{tt.err}, s, nil, nil)
		if got, _ := w.Handle(context.Background(), secret, readUpdate(t, "text.json")); got != tt.want {
			t.Errorf("Handle with Dispatch failing with %v = %d, want %d", tt.err, got, tt.want)
		}
	}
}

func TestDeliver(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	entries := []bot.Entry{
		{Seq: 1, From: bot.FromShopper, Text: "ciao"},
		{Seq: 2, From: bot.FromBot, Reply: &bot.Reply{Text: "Ciao! Cosa cerchi?"}},
		{Seq: 3, From: bot.FromAgent, Reply: &bot.Reply{Text: "Sono Marta, ti aiuto io."}},
	}
	if err := deliver(ctx, f.w, 1001, entries); err != nil {
		t.Fatalf("Deliver = %v", err)
	}
	var texts []string
	for _, c := range f.api.CallsTo("sendMessage") {
		texts = append(texts, c.Params["text"])
	}
	if want := []string{"Ciao! Cosa cerchi?", "Sono Marta, ti aiuto io."}; !cmp.Equal(texts, want) {
		t.Errorf("Deliver sent %q, want %q", texts, want)
	}

	f.api.Block(3003)
	err := deliver(ctx, f.w, 3003, entries)
	if !errors.Is(err, telegram.ErrUnreachable) {
		t.Errorf("Deliver to a blocked shopper = %v, want ErrUnreachable", err)
	}
	if got, want := f.reach.changes(), []string{"telegram:3003 unreachable"}; !cmp.Equal(got, want) {
		t.Errorf("reachability changes %v, want %v", got, want)
	}
}

// deliver sends entries to chatID through the webhook's Delivery in order,
// as the outbound queue does, stopping at the first that cannot go.
func deliver(ctx context.Context, w *telegram.Webhook, chatID int64, entries []bot.Entry) error {
	d := w.Deliverer()
	for _, e := range entries {
		if err := d.Deliver(ctx, telegram.Key(chatID), e); err != nil {
			return err
		}
	}
	return nil
}

func TestKeyAndChatID(t *testing.T) {
	for _, id := range []int64{1001, -1002003004005} {
		got, err := telegram.ChatID(telegram.Key(id))
		if err != nil || got != id {
			t.Errorf("ChatID(Key(%d)) = %d, %v", id, got, err)
		}
	}
	for _, key := range []string{"webchat:1", "telegram:", "telegram:x", "telegram:0"} {
		if _, err := telegram.ChatID(key); err == nil {
			t.Errorf("ChatID(%q) = nil error", key)
		}
	}
}

func TestMemoryLastMessages(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	m := telegram.NewMemoryLastMessages(time.Hour, func() time.Time { return now })
	steps := []struct {
		chat    int64
		id      int
		advance time.Duration
		want    int
	}{
		{1, 10, 0, 10},
		{1, 12, 0, 12},
		{1, 10, 0, 12},             // an older message: the latest stays
		{2, 3, 0, 3},               // chats are apart
		{1, 11, 2 * time.Hour, 11}, // chat 1 forgotten after the TTL
	}
	for _, s := range steps {
		now = now.Add(s.advance)
		if got, err := m.Latest(ctx, s.chat, s.id); err != nil || got != s.want {
			t.Errorf("Latest(%d, %d) = %d, %v; want %d", s.chat, s.id, got, err, s.want)
		}
	}
}
