package messenger

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/bottega-shop/bottega/bot"
)

const (
	appSecret   = "app-secret"
	verifyToken = "verify-me"
	ourApp      = "111"
)

func TestVerify(t *testing.T) {
	tests := []struct {
		mode, token, challenge, configured string
		want                               string
		ok                                 bool
	}{
		{"subscribe", "verify-me", "1158201444", "verify-me", "1158201444", true},
		{"subscribe", "verify-me", "not-a-number <b>", "verify-me", "not-a-number <b>", true},
		{"subscribe", "wrong", "1", "verify-me", "", false},
		{"subscribe", "verify-m", "1", "verify-me", "", false},
		{"unsubscribe", "verify-me", "1", "verify-me", "", false},
		{"subscribe", "", "1", "", "", false},
	}
	for _, tt := range tests {
		got, ok := Verify(tt.mode, tt.token, tt.challenge, tt.configured)
		if got != tt.want || ok != tt.ok {
			t.Errorf("Verify(%q, %q, %q, %q) = %q, %v, want %q, %v", tt.mode, tt.token, tt.challenge, tt.configured, got, ok, tt.want, tt.ok)
		}
	}
}

func TestCheckSignature(t *testing.T) {
	body := []byte(`{"object":"page","entry":[]}`)
	good := Sign(body, appSecret)
	tests := []struct {
		name   string
		header string
		body   []byte
		secret string
		want   bool
	}{
		{"good", good, body, appSecret, true},
		{"upper-case hex", "sha256=" + strings.ToUpper(good[len("sha256="):]), body, appSecret, true},
		{"upper-case prefix", "SHA256=" + good[len("sha256="):], body, appSecret, true},
		{"other secret", good, body, "other", false},
		{"empty secret", Sign(body, ""), body, "", false},
		{"body changed", good, append([]byte(" "), body...), appSecret, false},
		{"missing", "", body, appSecret, false},
		{"no prefix", good[len("sha256="):], body, appSecret, false},
		{"sha1 header", "sha1=" + good[len("sha256="):], body, appSecret, false},
		{"short", good[:len(good)-2], body, appSecret, false},
		{"not hex", good[:len(good)-2] + "zz", body, appSecret, false},
	}
	for _, tt := range tests {
		if got := CheckSignature(tt.header, tt.body, tt.secret); got != tt.want {
			t.Errorf("%s: CheckSignature(%q, …) = %v, want %v", tt.name, tt.header, got, tt.want)
		}
	}
}

// fakeDispatcher records messages and answers each with one bot reply.
type fakeDispatcher struct {
	mu   sync.Mutex
	got  []bot.Message
	fail map[string]error
}

func (d *fakeDispatcher) Dispatch(_ context.Context, m bot.Message) ([]bot.Entry, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.got = append(d.got, m)
	if err := d.fail[m.ID]; err != nil {
		return nil, err
	}
	return []bot.Entry{
		{Conversation: m.Key(), From: bot.FromShopper, MessageID: m.ID, Text: m.Text},
		{Conversation: m.Key(), From: bot.FromBot, MessageID: m.ID, Reply: &bot.Reply{Text: "ok"}},
	}, nil
}

func (d *fakeDispatcher) ids() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []string
	for _, m := range d.got {
		out = append(out, m.ID)
	}
	return out
}

// sink records events.
type sink struct {
	mu     sync.Mutex
	events []Event
	err    error
}

func (s *sink) Event(_ context.Context, e Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, e)
	return s.err
}

func (s *sink) kinds() map[string]Kind {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]Kind{}
	for _, e := range s.events {
		out[e.ID] = e.Kind
	}
	return out
}

// clock is a settable now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.t = t }

func textEvent(psid, mid string, ts int64) string {
	return fmt.Sprintf(`{"sender":{"id":%q},"recipient":{"id":"P"},"timestamp":%d,"message":{"mid":%q,"text":"ciao"}}`, psid, ts, mid)
}

func body(events ...string) []byte {
	return []byte(`{"object":"page","entry":[{"id":"P","time":1700000000000,"messaging":[` + strings.Join(events, ",") + `]}]}`)
}

func TestHandleStatus(t *testing.T) {
	valid := body(textEvent("1", "m_1", 1700000000000))
	deep := []byte(`{"object":"page","entry":[{"id":"P","messaging":[` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `]}]}`)
	tests := []struct {
		name       string
		signature  string
		body       []byte
		secret     string
		status     int
		err        error
		dispatched int
	}{
		{"valid", Sign(valid, appSecret), valid, appSecret, 200, nil, 1},
		{"bad signature", Sign(valid, "wrong"), valid, appSecret, 401, ErrSignature, 0},
		{"missing signature", "", valid, appSecret, 401, ErrSignature, 0},
		{"no secret configured", Sign(valid, ""), valid, "", 401, ErrSignature, 0},
		{"bad signature before parsing", "sha256=00", []byte(`{"object":`), appSecret, 401, ErrSignature, 0},
		{"bad signature on deep nesting", "", deep, appSecret, 401, ErrSignature, 0},
		{"truncated", Sign([]byte(`{"object":"page","entry":[`), appSecret), []byte(`{"object":"page","entry":[`), appSecret, 400, ErrMalformed, 0},
		{"wrong types", Sign([]byte(`{"object":"page","entry":{}}`), appSecret), []byte(`{"object":"page","entry":{}}`), appSecret, 400, ErrMalformed, 0},
		{"deep nesting", Sign(deep, appSecret), deep, appSecret, 400, ErrMalformed, 0},
		{"empty", Sign(nil, appSecret), nil, appSecret, 400, ErrMalformed, 0},
		{"form", Sign([]byte("object=page"), appSecret), []byte("object=page"), appSecret, 400, ErrMalformed, 0},
		{"other object", Sign([]byte(`{"object":"instagram","entry":[]}`), appSecret), []byte(`{"object":"instagram","entry":[]}`), appSecret, 200, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := &fakeDispatcher{}
			w := NewWebhook(tt.secret, verifyToken, d, nil, nil)
			status, err := w.Handle(context.Background(), tt.signature, tt.body)
			if status != tt.status || !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) {
				t.Errorf("Handle = %d, %v; want %d, %v", status, err, tt.status, tt.err)
			}
			if n := len(d.ids()); n != tt.dispatched {
				t.Errorf("Handle dispatched %d messages, want %d", n, tt.dispatched)
			}
		})
	}
}

func TestHandleBatch(t *testing.T) {
	b, err := os.ReadFile("testdata/batch.json")
	if err != nil {
		t.Fatal(err)
	}
	d, s := &fakeDispatcher{}, &sink{}
	clk := &clock{t: ms(1700000020000)}
	w := NewWebhook(appSecret, verifyToken, d, s, nil, WithAppID(ourApp), WithNow(clk.now))
	status, err := w.Handle(context.Background(), Sign(b, appSecret), b)
	if status != http.StatusOK || err != nil {
		t.Fatalf("Handle(batch.json) = %d, %v; want 200", status, err)
	}
	// Conversations run in parallel; within one, order holds.
	got := map[string][]string{}
	for _, m := range d.got {
		got[m.Conversation] = append(got[m.Conversation], m.ID)
	}
	want := map[string][]string{"1001": {"fb:m_1", "fb:m_2"}, "1002": {"fb:m_pb1", "fb:m_img"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("dispatched messages mismatch (-want +got):\n%s", diff)
	}
	wantKinds := map[string]Kind{
		"fb:delivery:1001:1700000005000:1700000001500": KindDelivery,
		"fb:read:1001:1700000002500:1700000002000":     KindRead,
		"fb:m_echo1":                              KindEcho, // our own app's echo
		"fb:optin:1003:1700000006000":             KindOptin,
		"fb:thread_owner:1004:1700000007000:pass": KindThreadOwner,
		"fb:m_sb1":                                KindMessage,
		"fb:m_human1":                             KindHumanReply,
		"fb:thread_owner:1006:1700000010000:take": KindThreadOwner,
	}
	if diff := cmp.Diff(wantKinds, s.kinds()); diff != "" {
		t.Errorf("events mismatch (-want +got):\n%s", diff)
	}
	threads := map[string]Thread{}
	for _, psid := range []string{"1001", "1002", "1004", "1005", "1006"} {
		threads[psid], _ = w.Threads().Thread(context.Background(), psid)
	}
	wantThreads := map[string]Thread{
		"1001": {LastWrote: ms(1700000001000)},
		"1002": {LastWrote: ms(1700000004500)},
		"1004": {OwnerSeen: ms(1700000007000)}, // passed back to us
		"1005": {LastWrote: ms(1700000008000), Owner: PageInboxAppID, OwnerSeen: ms(1700000008500)},
		"1006": {Owner: PageInboxAppID, OwnerSeen: ms(1700000010000)},
	}
	if diff := cmp.Diff(wantThreads, threads); diff != "" {
		t.Errorf("threads mismatch (-want +got):\n%s", diff)
	}
}

func TestHandleOrdersEachConversation(t *testing.T) {
	d := &fakeDispatcher{}
	w := NewWebhook(appSecret, verifyToken, d, nil, nil, WithParallel(1))
	b := body(textEvent("1", "m_3", 1700000003000), textEvent("2", "m_x", 1700000000000),
		textEvent("1", "m_1", 1700000001000), textEvent("1", "m_2", 1700000002000))
	if status, err := w.Handle(context.Background(), Sign(b, appSecret), b); status != 200 {
		t.Fatalf("Handle = %d, %v", status, err)
	}
	want := []string{"fb:m_1", "fb:m_2", "fb:m_3", "fb:m_x"}
	if diff := cmp.Diff(want, d.ids()); diff != "" {
		t.Errorf("dispatch order mismatch (-want +got):\n%s", diff)
	}
}

func TestHandleSkipsEventWithoutSender(t *testing.T) {
	d := &fakeDispatcher{}
	var logged strings.Builder
	w := NewWebhook(appSecret, verifyToken, d, nil, newTextLogger(&logged))
	b := body(textEvent("1", "m_1", 1700000001000),
		`{"recipient":{"id":"P"},"timestamp":1700000002000,"message":{"mid":"m_nosender","text":"segreto"}}`,
		textEvent("2", "m_2", 1700000003000))
	status, err := w.Handle(context.Background(), Sign(b, appSecret), b)
	if status != 200 || err != nil {
		t.Fatalf("Handle = %d, %v; want 200", status, err)
	}
	if got := len(d.ids()); got != 2 {
		t.Errorf("dispatched %v, want the two valid messages", d.ids())
	}
	if !strings.Contains(logged.String(), "event without a sender id") {
		t.Errorf("the skipped event was not logged: %s", logged.String())
	}
	if strings.Contains(logged.String(), "segreto") {
		t.Errorf("the log holds message text: %s", logged.String())
	}
}

func TestHandleFailures(t *testing.T) {
	b := body(textEvent("1", "m_1", 1700000001000), textEvent("1", "m_2", 1700000002000), textEvent("2", "m_3", 1700000003000))
	d := &fakeDispatcher{fail: map[string]error{"fb:m_1": errors.New("store down")}}
	w := NewWebhook(appSecret, verifyToken, d, nil, nil)
	status, err := w.Handle(context.Background(), Sign(b, appSecret), b)
	if status != http.StatusServiceUnavailable || err == nil {
		t.Fatalf("Handle with a failing message = %d, %v; want 503", status, err)
	}
	// m_2 waits for m_1's redelivery; the other conversation goes on.
	got := map[string]bool{}
	for _, id := range d.ids() {
		got[id] = true
	}
	if !got["fb:m_1"] || got["fb:m_2"] || !got["fb:m_3"] {
		t.Errorf("dispatched %v, want m_1 tried, m_2 held back, m_3 handled", d.ids())
	}

	// A duplicate counts as handled.
	d = &fakeDispatcher{fail: map[string]error{"fb:m_1": fmt.Errorf("dispatch: %w", bot.ErrDuplicate)}}
	w = NewWebhook(appSecret, verifyToken, d, nil, nil)
	if status, err := w.Handle(context.Background(), Sign(b, appSecret), b); status != 200 || err != nil {
		t.Errorf("Handle with a duplicate = %d, %v; want 200", status, err)
	}

	// An event that cannot be recorded makes Meta send the body again.
	s := &sink{err: errors.New("sink down")}
	w = NewWebhook(appSecret, verifyToken, &fakeDispatcher{}, s, nil)
	rb := body(`{"sender":{"id":"1"},"timestamp":1700000000000,"read":{"watermark":1700000000000}}`)
	if status, err := w.Handle(context.Background(), Sign(rb, appSecret), rb); status != http.StatusServiceUnavailable || err == nil {
		t.Errorf("Handle with a failing sink = %d, %v; want 503", status, err)
	}
}

func TestHandleClassifiesWithoutAppID(t *testing.T) {
	s := &sink{}
	w := NewWebhook(appSecret, verifyToken, &fakeDispatcher{}, s, nil)
	b := body(
		`{"sender":{"id":"P"},"recipient":{"id":"1"},"timestamp":1700000000000,"message":{"mid":"m_e","is_echo":true,"app_id":999}}`,
		`{"sender":{"id":"2"},"timestamp":1700000001000,"pass_thread_control":{"new_owner_app_id":"999"}}`,
		`{"sender":{"id":"3"},"timestamp":1700000002000,"take_thread_control":{"previous_owner_app_id":"999"}}`,
	)
	if status, err := w.Handle(context.Background(), Sign(b, appSecret), b); status != 200 {
		t.Fatalf("Handle = %d, %v", status, err)
	}
	if got := s.kinds()["fb:m_e"]; got != KindEcho {
		t.Errorf("echo of an unknown app without our app id = %q, want %q", got, KindEcho)
	}
	for psid, want := range map[string]string{"2": "", "3": OtherApp} {
		th, _ := w.Threads().Thread(context.Background(), psid)
		if th.Owner != want {
			t.Errorf("Thread(%s).Owner = %q, want %q", psid, th.Owner, want)
		}
	}
}

func TestDeliver(t *testing.T) {
	ctx := context.Background()
	g := newFakeGraph(t, pageToken)
	s := &sink{}
	clk := &clock{t: ms(1700000000000)}
	w := NewWebhook(appSecret, verifyToken, &fakeDispatcher{}, s, nil,
		WithAppID(ourApp), WithNow(clk.now), WithSender(NewSender(g.URL(), pageToken, nil)))
	reply := func(seq int64, from, text string) bot.Entry {
		return bot.Entry{Seq: seq, Conversation: "messenger:1", From: from, Reply: &bot.Reply{Text: text}}
	}
	entries := []bot.Entry{
		{Seq: 1, Conversation: "messenger:1", From: bot.FromShopper, Text: "ciao"},
		reply(2, bot.FromBot, "Ciao! Come posso aiutarti?"),
		reply(3, bot.FromBot, "Abbiamo le Trail Runner."),
	}
	handle := func(events ...string) {
		t.Helper()
		b := body(events...)
		if status, err := w.Handle(ctx, Sign(b, appSecret), b); status != 200 {
			t.Fatalf("Handle = %d, %v", status, err)
		}
	}
	wantErr := func(err error, seq int64, target error) {
		t.Helper()
		var de *deliveryError
		if !errors.As(err, &de) || de.seq != seq || !errors.Is(err, target) {
			t.Errorf("Deliver = %v, want a failure at entry %d wrapping %v", err, seq, target)
		}
	}

	// Never wrote: outside the window, nothing sent.
	wantErr(deliver(ctx, w, "1", entries), 2, ErrOutsideWindow)
	if n := len(g.Calls()); n != 0 {
		t.Fatalf("Graph got %d calls outside the window", n)
	}

	// The shopper writes: replies go as RESPONSE.
	handle(textEvent("1", "m_1", 1700000000000))
	clk.set(ms(1700000000000).Add(time.Hour))
	if err := deliver(ctx, w, "1", entries); err != nil {
		t.Fatalf("Deliver inside the window = %v", err)
	}
	bodies := g.Bodies()
	if len(bodies) != 2 {
		t.Fatalf("Graph got %d calls, want 2 (the shopper's entry is not sent)", len(bodies))
	}
	for _, b := range bodies {
		if b["messaging_type"] != "RESPONSE" || b["recipient"].(map[string]any)["id"] != "1" {
			t.Errorf("sent %v, want a RESPONSE to 1", b)
		}
	}

	// 24 hours after the shopper wrote, the window is shut.
	clk.set(ms(1700000000000).Add(Window))
	wantErr(deliver(ctx, w, "1", entries[1:]), 2, ErrOutsideWindow)

	// A person replies from the Page Inbox: the bot is silent, the agent is not.
	clk.set(ms(1700000100000))
	handle(textEvent("1", "m_2", 1700000050000),
		`{"sender":{"id":"P"},"recipient":{"id":"1"},"timestamp":1700000060000,"message":{"mid":"m_h","is_echo":true,"app_id":263902037430900,"text":"Sono Giulia"}}`)
	before := len(g.Calls())
	wantErr(deliver(ctx, w, "1", entries), 2, ErrThreadOwned)
	if err := deliver(ctx, w, "1", []bot.Entry{reply(4, bot.FromAgent, "Ti rispondo io")}); err != nil {
		t.Errorf("Deliver of an agent's reply while a person owns the thread = %v", err)
	}
	if n := len(g.Calls()) - before; n != 1 {
		t.Errorf("Graph got %d calls, want 1 (the agent's)", n)
	}

	// The thread is passed back to us: the bot speaks again.
	handle(`{"sender":{"id":"1"},"timestamp":1700000070000,"pass_thread_control":{"previous_owner_app_id":"263902037430900","new_owner_app_id":"111"}}`)
	if err := deliver(ctx, w, "1", entries[1:2]); err != nil {
		t.Errorf("Deliver after the pass back = %v", err)
	}

	// Graph says the shopper is gone: the sink hears of it.
	g.fail(graphFailure{status: 400, code: 551, subcode: 1545041, message: "(#551) This person isn't available right now."})
	wantErr(deliver(ctx, w, "1", entries[1:2]), 2, ErrUnreachable)
	if k := s.events[len(s.events)-1].Kind; k != KindUnreachable {
		t.Errorf("last event = %q, want %q", k, KindUnreachable)
	}

	// Graph says another app controls the thread: the bot stops trying.
	g.fail(graphFailure{status: 400, code: 10, subcode: 2018300, message: "(#10) another app is controlling this thread now"})
	wantErr(deliver(ctx, w, "1", entries[1:2]), 2, ErrThreadOwned)
	before = len(g.Calls())
	wantErr(deliver(ctx, w, "1", entries[1:2]), 2, ErrThreadOwned)
	if n := len(g.Calls()) - before; n != 0 {
		t.Errorf("Graph got %d calls after it said another app owns the thread", n)
	}
}

// deliver sends entries to psid through the webhook's Delivery in order,
// as the outbound queue does, stopping at the first that cannot go.
func deliver(ctx context.Context, w *Webhook, psid string, entries []bot.Entry) error {
	d := w.Deliverer()
	for _, e := range entries {
		if err := d.Deliver(ctx, bot.Messenger+":"+psid, e); err != nil {
			return &deliveryError{seq: e.Seq, err: err}
		}
	}
	return nil
}

// deliveryError is deliver's error: the first entry not delivered.
type deliveryError struct {
	seq int64
	err error
}

func (e *deliveryError) Error() string { return fmt.Sprintf("entry %d: %v", e.seq, e.err) }
func (e *deliveryError) Unwrap() error { return e.err }

func TestDeliverWithoutSender(t *testing.T) {
	w := NewWebhook(appSecret, verifyToken, &fakeDispatcher{}, nil, nil)
	if err := deliver(context.Background(), w, "1", []bot.Entry{{From: bot.FromBot, Reply: &bot.Reply{Text: "x"}}}); err == nil {
		t.Error("Deliver without a sender = nil, want an error")
	}
}

func TestMemThreads(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: ms(1700000000000)}
	m := NewMemThreads(clk.now)
	t0 := ms(1700000000000)
	m.Wrote(ctx, "1", t0.Add(time.Minute))
	m.Wrote(ctx, "1", t0) // late and older: kept the newer
	m.SetOwner(ctx, "1", PageInboxAppID, t0.Add(2*time.Minute))
	m.SetOwner(ctx, "1", OtherApp, t0.Add(3*time.Minute)) // standby: the known owner stays
	m.SetOwner(ctx, "1", "", t0.Add(time.Minute))         // older pass back: ignored
	got, _ := m.Thread(ctx, "1")
	want := Thread{LastWrote: t0.Add(time.Minute), Owner: PageInboxAppID, OwnerSeen: t0.Add(3 * time.Minute)}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Thread mismatch (-want +got):\n%s", diff)
	}
	if !got.InWindow(t0.Add(time.Hour)) || got.InWindow(t0.Add(time.Minute+Window)) {
		t.Errorf("InWindow wrong around %v", t0.Add(time.Minute+Window))
	}
	if !got.OwnedByOther(t0.Add(time.Hour)) || got.OwnedByOther(t0.Add(3*time.Minute+OwnerIdle)) {
		t.Errorf("OwnedByOther wrong around %v", t0.Add(3*time.Minute+OwnerIdle))
	}

	// Old threads are forgotten as writes go on.
	clk.set(t0.Add(72 * time.Hour))
	for i := range 2048 {
		m.Wrote(ctx, fmt.Sprint("new", i), clk.now())
	}
	if th, _ := m.Thread(ctx, "1"); th != (Thread{}) {
		t.Errorf("Thread(1) after 72 hours = %+v, want forgotten", th)
	}
	if n := m.Len(); n != 2048 {
		t.Errorf("Len() = %d, want 2048", n)
	}
}

// lockedWriter is an io.Writer safe for the webhook's goroutines.
type lockedWriter struct {
	mu sync.Mutex
	b  *strings.Builder
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func newTextLogger(b *strings.Builder) *slog.Logger {
	return slog.New(slog.NewTextHandler(&lockedWriter{b: b}, nil))
}
