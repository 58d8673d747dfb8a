package webchat

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/bottega-shop/bottega/bot"
	"github.com/bottega-shop/bottega/dialogs/sqldialogs"
	"github.com/bottega-shop/bottega/internal/sqldb"
)

const (
	testSecret      = "a-secret-key-of-thirty-two-chars!!"
	testCustomerKey = "shop-customer-key-of-32-characters"
)

// pipe is an in-memory Conn: the test plays the widget at the other end.
type pipe struct {
	in     chan []byte // widget → channel
	out    chan []byte // channel → widget
	closed chan struct{}
	once   sync.Once
}

func newPipe() *pipe {
	return &pipe{in: make(chan []byte, 16), out: make(chan []byte, 256), closed: make(chan struct{})}
}

func (p *pipe) ReadMessage() ([]byte, error) {
	select {
	case b := <-p.in:
		return b, nil
	case <-p.closed:
		return nil, io.EOF
	}
}

func (p *pipe) WriteMessage(b []byte) error {
	select {
	case p.out <- b:
		return nil
	case <-p.closed:
		return io.ErrClosedPipe
	}
}

func (p *pipe) Close() error {
	p.once.Do(func() { close(p.closed) })
	return nil
}

// linked records the Linker's calls.
type linked struct {
	mu    sync.Mutex
	calls [][2]string // conversation, customer
	err   error
}

func (l *linked) LinkCustomer(_ context.Context, conversation, customerID string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls = append(l.calls, [2]string{conversation, customerID})
	return l.err
}

func (l *linked) take() [][2]string {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.calls
	l.calls = nil
	return c
}

// chatHarness is a Channel on a real Dispatcher over the embedded SQL
// store, with an echo handler.
type chatHarness struct {
	t         *testing.T
	ch        *Channel
	d         *bot.Dispatcher
	sessions  *Sessions
	customers *Customers
	linker    *linked
	logs      *bytes.Buffer
}

func newChatHarness(t *testing.T, opts ...Option) *chatHarness {
	t.Helper()
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
	echo := bot.HandlerFunc(func(_ context.Context, state []byte, m bot.Message) ([]byte, []bot.Reply, error) {
		if strings.HasPrefix(m.Text, "slow") {
			time.Sleep(slowTurn)
		}
		return state, []bot.Reply{{Text: "echo: " + m.Text}}, nil
	})
	h := &chatHarness{
		t: t, d: bot.NewDispatcher(store, echo),
		sessions:  NewSessions(testSecret, time.Hour, nil),
		customers: NewCustomers(testCustomerKey, nil),
		linker:    &linked{},
		logs:      &bytes.Buffer{},
	}
	log := slog.New(slog.NewTextHandler(&syncWriter{w: h.logs}, nil))
	opts = append([]Option{WithCustomers(h.customers), WithLinker(h.linker)}, opts...)
	h.ch = New(h.d, h.sessions, NewLimiter(100, 100, nil), log, opts...)
	return h
}

type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(b)
}

// claim is a valid claim for customer id.
func (h *chatHarness) claim(id string) *CustomerClaim {
	c := h.customers.Sign(id, time.Now().Add(time.Hour))
	return &c
}

// client is one open socket.
type client struct {
	t       *testing.T
	p       *pipe
	done    chan struct{}
	pending []ServerFrame // the rest of a batch
}

// connect opens a socket and sends hello; close it with bye.
func (h *chatHarness) connect(hello ClientFrame) *client {
	h.t.Helper()
	hello.Type = "hello"
	c := &client{t: h.t, p: newPipe(), done: make(chan struct{})}
	go func() { defer close(c.done); h.ch.Serve(context.Background(), c.p) }()
	h.t.Cleanup(c.bye)
	c.send(hello)
	return c
}

func (c *client) send(f ClientFrame) {
	c.t.Helper()
	b, _ := json.Marshal(f)
	c.p.in <- b
}

// read returns the next frame, one at a time from a batch.
func (c *client) read() ServerFrame {
	c.t.Helper()
	for len(c.pending) == 0 {
		c.pending = c.readMessage().Unbatch()
	}
	f := c.pending[0]
	c.pending = c.pending[1:]
	return f
}

// readMessage reads one socket message.
func (c *client) readMessage() ServerFrame {
	c.t.Helper()
	select {
	case b := <-c.p.out:
		var f ServerFrame
		if err := json.Unmarshal(b, &f); err != nil {
			c.t.Fatalf("server frame %s: %v", b, err)
		}
		return f
	case <-time.After(5 * time.Second):
		c.t.Fatal("no frame from the channel in 5s")
		return ServerFrame{}
	}
}

// until reads frames up to the first that ok accepts and returns it with
// those read before it.
func (c *client) until(ok func(ServerFrame) bool) (ServerFrame, []ServerFrame) {
	c.t.Helper()
	var before []ServerFrame
	for {
		f := c.read()
		if ok(f) {
			return f, before
		}
		before = append(before, f)
	}
}

// say sends a message and returns the frames up to its ack and its two
// entries (the shopper's line and the echo), in any order.
func (c *client) say(id, text string) []ServerFrame {
	c.t.Helper()
	c.send(ClientFrame{Type: "message", ClientMsgID: id, Text: text})
	var fs []ServerFrame
	acked, entries := false, 0
	for !acked || entries < 2 {
		f := c.read()
		switch {
		case f.Type == "error" && f.ClientMsgID == id:
			c.t.Fatalf("message %q: got %+v, want an ack", id, f)
		case f.Type == "ack" && f.ClientMsgID == id:
			acked = true
		case f.Type == "entry" && f.Entry.MessageID == id:
			entries++
		}
		fs = append(fs, f)
	}
	return fs
}

// bye closes the socket and waits for Serve to return.
func (c *client) bye() {
	c.p.Close()
	select {
	case <-c.done:
	case <-time.After(5 * time.Second):
		c.t.Error("Serve did not return 5s after the socket closed")
	}
}

// texts are the texts of the entry frames among fs: the shopper's text or
// the bot's reply.
func texts(fs []ServerFrame) []string {
	var out []string
	for _, f := range fs {
		if f.Type != "entry" {
			continue
		}
		if f.Entry.Reply != nil {
			out = append(out, f.Entry.Reply.Text)
		} else {
			out = append(out, f.Entry.Text)
		}
	}
	return out
}

// entries reads n entry frames and returns their texts, failing on any
// frame other than an entry.
func (c *client) entries(n int) []string {
	c.t.Helper()
	var fs []ServerFrame
	for len(fs) < n {
		f := c.read()
		if f.Type != "entry" {
			c.t.Fatalf("got %+v while waiting for entry %d of %d", f, len(fs)+1, n)
		}
		fs = append(fs, f)
	}
	return texts(fs)
}

// quiet says that no frame (no replayed entry, no error) comes before
// the pong of a ping.
func (c *client) quiet() {
	c.t.Helper()
	time.Sleep(50 * time.Millisecond) // let the replay read the log
	c.send(ClientFrame{Type: "ping"})
	_, before := c.until(func(f ServerFrame) bool { return f.Type == "pong" })
	if len(before) > 0 {
		c.t.Errorf("got %+v (texts %q), want nothing before pong", before, texts(before))
	}
}

// anonymousChat starts an anonymous conversation with one exchange and
// returns its token and session id.
func (h *chatHarness) anonymousChat() (token, id string) {
	h.t.Helper()
	c := h.connect(ClientFrame{})
	w := c.read()
	sess, err := h.sessions.Open(w.Token)
	if err != nil || !sess.Binding.IsZero() {
		h.t.Fatalf("new visitor's token: %+v, %v; want an anonymous session", sess, err)
	}
	c.say("a1", "avete le trail runner?")
	c.bye()
	return w.Token, sess.ID
}

func TestHelloSignInKeepsHistory(t *testing.T) {
	h := newChatHarness(t)
	token, id := h.anonymousChat()
	history := []string{"avete le trail runner?", "echo: avete le trail runner?"}

	// The page now says the visitor is signed in as giulia.
	c := h.connect(ClientFrame{Token: token, Customer: h.claim("giulia")})
	w := c.read()
	if w.Type != "welcome" || w.NewSession {
		t.Fatalf("hello with a claim on an anonymous session = %+v, want a welcome to the same session", w)
	}
	sess, err := h.sessions.Open(w.Token)
	if want := (Session{ID: id, Binding: h.sessions.Bind("giulia")}); err != nil || sess != want {
		t.Fatalf("welcome token opens to %+v, %v; want %+v", sess, err, want)
	}
	if got := c.entries(2); !cmp.Equal(got, history) {
		t.Errorf("replay after sign-in = %q, want %q", got, history)
	}
	if diff := cmp.Diff([][2]string{{"webchat:" + id, "giulia"}}, h.linker.take()); diff != "" {
		t.Errorf("Linker calls at sign-in (-want +got):\n%s", diff)
	}
	c.say("a2", "e nel 42?")
	c.bye()

	// Still signed in: the same conversation, linked again (idempotent).
	c = h.connect(ClientFrame{Token: w.Token, Customer: h.claim("giulia"), LastSeq: 2})
	w2 := c.read()
	if sess, err := h.sessions.Open(w2.Token); w2.NewSession || err != nil || sess.ID != id {
		t.Errorf("hello of the same customer = %+v (session %+v, %v), want session %q resumed", w2, sess, err, id)
	}
	if got, want := c.entries(2), []string{"e nel 42?", "echo: e nel 42?"}; !cmp.Equal(got, want) {
		t.Errorf("replay after last_seq 2 = %q, want %q", got, want)
	}
	if diff := cmp.Diff([][2]string{{"webchat:" + id, "giulia"}}, h.linker.take()); diff != "" {
		t.Errorf("Linker calls at the next hello (-want +got):\n%s", diff)
	}
}

func TestHelloSignOutStartsOver(t *testing.T) {
	h := newChatHarness(t)
	// giulia signs in on a fresh page and chats.
	c := h.connect(ClientFrame{Customer: h.claim("giulia")})
	w := c.read()
	if w.NewSession {
		t.Errorf("first hello = %+v, want no new_session (nothing was refused)", w)
	}
	first, _ := h.sessions.Open(w.Token)
	if first.Binding != h.sessions.Bind("giulia") {
		t.Fatalf("first session %+v is not bound to giulia", first)
	}
	c.say("g1", "mi chiamo Giulia, taglia 38")
	c.bye()
	if got := h.linker.take(); len(got) != 1 || got[0] != [2]string{"webchat:" + first.ID, "giulia"} {
		t.Errorf("Linker calls = %q, want giulia's session once", got)
	}

	tests := []struct {
		name     string
		customer *CustomerClaim
		want     string // the new session's customer, "" anonymous
	}{
		{"signed out", nil, ""},
		{"another customer", h.claim("marco"), "marco"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := h.connect(ClientFrame{Token: w.Token, Customer: tt.customer})
			got := c.read()
			if got.Type != "welcome" || !got.NewSession {
				t.Fatalf("hello = %+v, want a welcome with new_session", got)
			}
			sess, err := h.sessions.Open(got.Token)
			if err != nil || sess.ID == first.ID || sess.Binding != h.sessions.Bind(tt.want) {
				t.Fatalf("new token opens to %+v, %v; want a new session bound to %q", sess, err, tt.want)
			}
			c.quiet()
			// The first message of the new session is all it shows.
			if got, want := texts(c.say("n1", "ciao")), []string{"ciao", "echo: ciao"}; !cmp.Equal(got, want) {
				t.Errorf("entries after a message = %q, want %q", got, want)
			}
			var wantLinks [][2]string
			if tt.want != "" {
				wantLinks = [][2]string{{"webchat:" + sess.ID, tt.want}}
			}
			if diff := cmp.Diff(wantLinks, h.linker.take()); diff != "" {
				t.Errorf("Linker calls (-want +got):\n%s", diff)
			}
			// giulia's conversation is still hers, untouched.
			es, err := h.d.Entries(context.Background(), "webchat:"+first.ID, 0, 10)
			if err != nil || len(es) != 2 {
				t.Errorf("giulia's log = %d entries, %v; want her 2", len(es), err)
			}
		})
	}
}

func TestHelloBadClaim(t *testing.T) {
	h := newChatHarness(t)
	token, id := h.anonymousChat()
	expired := h.customers.Sign("giulia", time.Now().Add(-time.Minute))
	forged := *h.claim("giulia")
	forged.ID = "marco"
	bound := h.sessions.Issue(Session{ID: id, Binding: h.sessions.Bind("giulia")})

	tests := []struct {
		name, token string
		customer    *CustomerClaim
		resume      bool // the anonymous conversation goes on
	}{
		{"expired claim, anonymous session", token, &expired, true},
		{"forged claim, anonymous session", token, &forged, true},
		{"empty claim, anonymous session", token, &CustomerClaim{}, true},
		{"forged claim, giulia's session", bound, &forged, false},
		{"expired claim, no session", "", &expired, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h.logs.Reset()
			c := h.connect(ClientFrame{Token: tt.token, Customer: tt.customer})
			w := c.read()
			if w.Type != "welcome" {
				t.Fatalf("hello = %+v, want welcome", w)
			}
			if f := c.read(); f.Type != "error" || f.Code != "bad_customer" {
				t.Fatalf("frame after welcome = %+v, want error bad_customer", f)
			}
			sess, err := h.sessions.Open(w.Token)
			if err != nil || !sess.Binding.IsZero() {
				t.Fatalf("welcome token opens to %+v, %v; want an anonymous session", sess, err)
			}
			if tt.resume {
				if sess.ID != id || w.NewSession {
					t.Errorf("welcome = %+v, session %q; want session %q resumed", w, sess.ID, id)
				}
				if got := c.entries(2); len(got) != 2 {
					t.Errorf("replay = %q, want the 2 earlier entries", got)
				}
			} else {
				if sess.ID == id || w.NewSession != (tt.token != "") {
					t.Errorf("welcome = %+v, session %q; want a new session, new_session %v", w, sess.ID, tt.token != "")
				}
				c.quiet()
			}
			// The chat goes on, and the refusal is said once.
			if got := texts(c.say("b1", "ciao")); !cmp.Equal(got, []string{"ciao", "echo: ciao"}) {
				t.Errorf("entries after a message = %q", got)
			}
			c.bye()
			if got := h.linker.take(); len(got) != 0 {
				t.Errorf("Linker calls = %q, want none for a refused claim", got)
			}
			logs := h.logs.String()
			if !strings.Contains(logs, "customer claim refused") {
				t.Errorf("log = %q, want a warning about the refused claim", logs)
			}
			for _, secret := range []string{"giulia", "marco", tt.customer.Signature} {
				if secret != "" && strings.Contains(logs, secret) {
					t.Errorf("log %q shows %q", logs, secret)
				}
			}
		})
	}
}

func TestHelloClaimsIgnoredWithoutKey(t *testing.T) {
	h := newChatHarness(t, WithCustomers(nil))
	token, id := h.anonymousChat()
	c := h.connect(ClientFrame{Token: token, Customer: h.claim("giulia")})
	w := c.read()
	sess, err := h.sessions.Open(w.Token)
	if w.NewSession || err != nil || sess != (Session{ID: id}) {
		t.Errorf("hello with a claim and no customer key = %+v (%+v, %v), want session %q resumed, anonymous", w, sess, err, id)
	}
	if got := c.entries(2); len(got) != 2 {
		t.Errorf("replay = %q, want the 2 earlier entries", got)
	}
	c.quiet() // and no bad_customer
	if got := h.linker.take(); len(got) != 0 {
		t.Errorf("Linker calls = %q, want none", got)
	}
}

func TestHelloOldToken(t *testing.T) {
	h := newChatHarness(t)
	_, id := h.anonymousChat()
	old := v1Token(h.sessions, id)
	tests := []struct {
		name     string
		customer *CustomerClaim
		binding  Binding
	}{
		{"anonymous", nil, Binding{}},
		{"signs in", h.claim("giulia"), h.sessions.Bind("giulia")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := h.connect(ClientFrame{Token: old, Customer: tt.customer})
			w := c.read()
			sess, err := h.sessions.Open(w.Token)
			if w.NewSession || err != nil || sess != (Session{ID: id, Binding: tt.binding}) {
				t.Errorf("hello with a v1 token = %+v (%+v, %v), want session %q resumed", w, sess, err, id)
			}
			if got := c.entries(2); len(got) != 2 {
				t.Errorf("replay = %q, want the 2 earlier entries", got)
			}
			c.bye()
		})
	}
}

func TestHelloLinkerFailure(t *testing.T) {
	h := newChatHarness(t)
	h.linker.err = fmt.Errorf("consent: link: %w", errors.New("database is locked"))
	c := h.connect(ClientFrame{Customer: h.claim("giulia")})
	w := c.read()
	if sess, err := h.sessions.Open(w.Token); err != nil || sess.Binding != h.sessions.Bind("giulia") {
		t.Fatalf("welcome token opens to %+v, %v; want giulia's session", sess, err)
	}
	if got := texts(c.say("l1", "ciao")); !cmp.Equal(got, []string{"ciao", "echo: ciao"}) {
		t.Errorf("entries after a message = %q: the chat must go on when linking fails", got)
	}
	c.bye()
	logs := h.logs.String()
	if !strings.Contains(logs, "linking the signed-in visitor failed") || strings.Contains(logs, "giulia") {
		t.Errorf("log = %q, want a warning without the customer id", logs)
	}
}

// slowTurn is how long the echo takes for a text starting "slow".
const slowTurn = 300 * time.Millisecond

// TestTurnInOneMessage: a turn's entries and its ack reach the widget as
// one socket message, a batch, in order: the shopper's line, the reply,
// the ack.
func TestTurnInOneMessage(t *testing.T) {
	h := newChatHarness(t)
	c := h.connect(ClientFrame{})
	if f := c.readMessage(); f.Type != "welcome" {
		t.Fatalf("first frame %+v, want the welcome", f)
	}
	c.send(ClientFrame{Type: "message", ClientMsgID: "m1", Text: "ciao"})
	f := c.readMessage()
	if f.Type != "batch" || len(f.Frames) != 3 {
		t.Fatalf("the turn came as %+v, want one batch of 3 frames", f)
	}
	got := f.Frames
	if got[0].Type != "entry" || got[0].Entry.From != bot.FromShopper || got[0].Entry.Text != "ciao" ||
		got[1].Type != "entry" || got[1].Entry.From != bot.FromBot || got[1].Entry.Seq != got[0].Entry.Seq+1 ||
		got[2].Type != "ack" || got[2].ClientMsgID != "m1" || got[2].Seq != got[0].Entry.Seq {
		t.Errorf("batch %+v, want the shopper's entry, the reply, then the ack", got)
	}
}

// TestTyping: a quick turn sends no typing frames; a slow one sends
// "typing" on after the delay and off before its ack, in that order.
func TestTyping(t *testing.T) {
	h := newChatHarness(t, WithTypingDelay(30*time.Millisecond))
	c := h.connect(ClientFrame{})
	c.read() // welcome
	typing := func(fs []ServerFrame) []bool {
		var out []bool
		for _, f := range fs {
			if f.Type == "typing" {
				out = append(out, f.Typing)
			}
		}
		return out
	}
	if got := typing(c.say("q1", "ciao")); len(got) != 0 {
		t.Errorf("a quick turn sent typing frames %v, want none", got)
	}
	fs := c.say("s1", "slow, please")
	if got := typing(fs); !slices.Equal(got, []bool{true, false}) {
		t.Fatalf("a slow turn sent typing frames %v, want [true false]", got)
	}
	off := slices.IndexFunc(fs, func(f ServerFrame) bool { return f.Type == "typing" && !f.Typing })
	ack := slices.IndexFunc(fs, func(f ServerFrame) bool { return f.Type == "ack" })
	if off > ack {
		t.Errorf("typing off came after the ack: %+v", fs)
	}
}

// signalling is the channel's Dispatcher with the subscription in the
// test's hands: Dispatch signals its own commit, as the store would, and
// then runs during, before returning — so the signal reaches the socket
// while the turn is still running, as it often does with Redis.
type signalling struct {
	*bot.Dispatcher
	sig    chan int64
	reads  atomic.Int32
	during func(key string)
}

func (s *signalling) Subscribe(context.Context, string) (<-chan int64, func()) {
	return s.sig, func() {}
}

func (s *signalling) Entries(ctx context.Context, key string, after int64, limit int) ([]bot.Entry, error) {
	s.reads.Add(1)
	return s.Dispatcher.Entries(ctx, key, after, limit)
}

func (s *signalling) Dispatch(ctx context.Context, m bot.Message) ([]bot.Entry, error) {
	es, err := s.Dispatcher.Dispatch(ctx, m)
	if len(es) > 0 {
		bot.Signal(s.sig, es[len(es)-1].Seq)
	}
	if s.during != nil {
		s.during(m.Key())
	}
	time.Sleep(20 * time.Millisecond) // the socket takes the signal meanwhile
	return es, err
}

// TestOwnTurnsNotReadBack: the entries of a socket's own turns go out as
// Dispatch returned them, not read back from the store on the commit's
// signal, and a new session has no log to replay at hello; an entry someone else committed while the turn ran (an agent)
// is read and delivered after the turn's.
func TestOwnTurnsNotReadBack(t *testing.T) {
	h := newChatHarness(t)
	w := &signalling{Dispatcher: h.d, sig: make(chan int64, 1)}
	h.ch = New(w, h.sessions, NewLimiter(100, 100, nil), nil)
	c := h.connect(ClientFrame{})
	c.read() // welcome
	for i := range 5 {
		c.say(fmt.Sprint("m", i), "ciao")
	}
	if n := w.reads.Load(); n != 0 {
		t.Errorf("a new session's hello and 5 turns read the log %d times, want none", n)
	}

	w.during = func(key string) {
		es, err := h.d.Append(context.Background(), key, bot.FromAgent, []bot.Reply{{Text: "an agent here"}})
		if err != nil {
			t.Error(err)
			return
		}
		bot.Signal(w.sig, es[len(es)-1].Seq)
	}
	c.say("m5", "ciao")
	f, _ := c.until(func(f ServerFrame) bool { return f.Type == "entry" && f.Entry.From == bot.FromAgent })
	if f.Entry.Reply == nil || f.Entry.Reply.Text != "an agent here" {
		t.Errorf("the agent's entry = %+v", f.Entry)
	}
}
