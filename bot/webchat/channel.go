package webchat

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/bottega-shop/bottega/bot"
)

// MaxText is the longest message a shopper may send, in bytes.
const MaxText = 4096

// maxFrame is the largest frame read from a socket; a bigger one closes it.
const maxFrame = 64 << 10

// Conn is one socket: whole text messages in and out. Writes are made from
// one goroutine at a time.
type Conn interface {
	ReadMessage() ([]byte, error)
	WriteMessage([]byte) error
	Close() error
}

// Dispatcher is what the channel needs of bot.Dispatcher.
type Dispatcher interface {
	Dispatch(ctx context.Context, m bot.Message) ([]bot.Entry, error)
	Entries(ctx context.Context, key string, after int64, limit int) ([]bot.Entry, error)
	Subscribe(ctx context.Context, key string) (<-chan int64, func())
}

// ClientFrame is what the widget sends.
type ClientFrame struct {
	// Type is "hello", "message" or "ping".
	Type string `json:"type"`
	// Token and LastSeq come with hello: the stored session token (empty for
	// a new visitor) and the last entry Seq the widget has shown.
	Token   string `json:"token,omitempty"`
	LastSeq int64  `json:"last_seq,omitempty"`
	Locale  string `json:"locale,omitempty"`
	// ClientMsgID makes a resend idempotent; Text or Payload is the message.
	ClientMsgID string `json:"client_msg_id,omitempty"`
	Text        string `json:"text,omitempty"`
	Payload     string `json:"payload,omitempty"`
	// Customer comes with hello when the shop's page says the visitor is
	// signed in (the widget tag's data-customer-* attributes).
	Customer *CustomerClaim `json:"customer,omitempty"`
}

// ServerFrame is what the channel sends.
type ServerFrame struct {
	// Type is "welcome", "entry", "ack", "typing", "error", "pong", or
	// "batch": several of those in Frames, in order, in one socket message
	// (a turn's entries and its ack, or frames that queued up while the
	// socket was writing).
	Type   string        `json:"type"`
	Frames []ServerFrame `json:"frames,omitempty"`
	// Token is a fresh session token (welcome); NewSession says the stored
	// one was refused, or belongs to another customer than the page's
	// (or to a customer who signed out), and this is a new conversation:
	// the widget clears what it shows.
	Token      string     `json:"token,omitempty"`
	NewSession bool       `json:"new_session,omitempty"`
	Entry      *bot.Entry `json:"entry,omitempty"`
	// ClientMsgID and Seq acknowledge a message (ack) or name the refused one (error).
	ClientMsgID string `json:"client_msg_id,omitempty"`
	Seq         int64  `json:"seq,omitempty"`
	Typing      bool   `json:"typing,omitempty"`
	// Code names an error for the widget to explain in the shopper's
	// language: too_long, invalid_utf8, empty, rate_limited, bad_frame,
	// unavailable, bad_customer (the page's customer claim was refused;
	// the chat goes on as a guest).
	Code string `json:"code,omitempty"`
}

// Unbatch returns the frames f stands for: a batch's, in order, or f.
func (f ServerFrame) Unbatch() []ServerFrame {
	if f.Type == "batch" {
		return f.Frames
	}
	return []ServerFrame{f}
}

// batch makes one frame of fs: nil for none, the frame itself for one.
func batch(fs []ServerFrame) (ServerFrame, bool) {
	switch len(fs) {
	case 0:
		return ServerFrame{}, false
	case 1:
		return fs[0], true
	}
	return ServerFrame{Type: "batch", Frames: fs}, true
}

// Linker records that a web-chat conversation is a shop customer's (the
// consent ledger's link between the visitor's identity and the person).
type Linker interface {
	// LinkCustomer links the conversation (a conversation key,
	// "webchat:<session id>") to customerID. It is called at every hello
	// of a signed-in visitor, so it must be idempotent and cheap when the
	// link exists.
	LinkCustomer(ctx context.Context, conversation, customerID string) error
}

// Channel serves web-chat sockets.
type Channel struct {
	dispatch  Dispatcher
	sessions  *Sessions
	limit     *Limiter
	customers *Customers
	linker    Linker
	log       *slog.Logger
	now       func() time.Time
	// typingDelay is how long a turn runs before "typing" is sent.
	typingDelay time.Duration
}

// Option configures a Channel.
type Option func(*Channel)

// WithCustomers verifies signed-in visitors' claims with c. Without it
// (or with nil) claims are ignored and every visitor is anonymous.
func WithCustomers(c *Customers) Option { return func(ch *Channel) { ch.customers = c } }

// WithTypingDelay sets how long a turn runs before the widget is told the
// shop is typing (TypingDelay by default).
func WithTypingDelay(d time.Duration) Option { return func(ch *Channel) { ch.typingDelay = d } }

// WithLinker links signed-in visitors' conversations to their customer
// through l (nil: no linking).
func WithLinker(l Linker) Option { return func(ch *Channel) { ch.linker = l } }

// New returns the web-chat channel.
func New(d Dispatcher, sessions *Sessions, limit *Limiter, log *slog.Logger, opts ...Option) *Channel {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ch := &Channel{dispatch: d, sessions: sessions, limit: limit, log: log, now: time.Now, typingDelay: TypingDelay}
	for _, o := range opts {
		o(ch)
	}
	return ch
}

// Key is the conversation key of a web-chat session id.
func Key(sessionID string) string {
	return bot.Message{Channel: bot.WebChat, Conversation: sessionID}.Key()
}

// CheckText says why a shopper's text is refused, or "" if it is fine.
func CheckText(s string) string {
	switch {
	case len(s) > MaxText:
		return "too_long"
	case !utf8.ValidString(s):
		return "invalid_utf8"
	case strings.TrimSpace(s) == "":
		return "empty"
	}
	return ""
}

// Serve runs one socket until it closes or ctx ends: hello, replay after
// last_seq, then messages in and entries out.
//
// The socket's own turns are delivered by the goroutine that reads it,
// straight from what Dispatch returned, with the turn's ack in the same
// socket message; a second goroutine waits for the store's signals of
// what was committed elsewhere (an agent, another tab, another replica)
// and reads it from the store. Both write under the socket's lock, which
// also guards the last Seq delivered, so nothing is sent twice or out of
// order.
func (ch *Channel) Serve(ctx context.Context, conn Conn) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer conn.Close()
	so := &socket{ch: ch, conn: conn, ctx: ctx, cancel: cancel}

	hello, err := readFrame(conn)
	if err != nil || hello.Type != "hello" {
		so.send(ServerFrame{Type: "error", Code: "bad_frame"})
		return
	}
	welcome, id, badCustomer := ch.hello(ctx, hello)
	if !so.send(welcome) {
		return
	}
	if badCustomer && !so.send(ServerFrame{Type: "error", Code: "bad_customer"}) {
		return
	}
	// A new session's id was drawn just now: its log is empty, and there
	// is nothing to replay.
	fresh := welcome.NewSession || hello.Token == ""
	if fresh {
		hello.LastSeq = 0
	}
	so.key = Key(id)
	so.last = max(hello.LastSeq, 0)
	locale := hello.Locale

	// Subscribe before the replay, so that nothing committed in between is
	// missed.
	signal, unsubscribe := ch.dispatch.Subscribe(ctx, so.key)
	defer unsubscribe()
	if !fresh {
		so.mu.Lock()
		ok := so.read()
		so.mu.Unlock()
		if !ok {
			return
		}
	}
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer cancel()
		for {
			select {
			case <-ctx.Done():
				return
			case seq, open := <-signal:
				if !open || !so.signalled(seq) {
					return
				}
			}
		}
	}()

	for {
		f, err := readFrame(conn)
		if err != nil {
			var fe frameError
			if errors.As(err, &fe) {
				so.send(ServerFrame{Type: "error", Code: fe.code})
				continue
			}
			return // closed
		}
		switch f.Type {
		case "ping":
			so.send(ServerFrame{Type: "pong"})
		case "message":
			if f.Locale != "" {
				locale = f.Locale
			}
			ch.message(ctx, id, locale, f, so)
		default:
			so.send(ServerFrame{Type: "error", Code: "bad_frame"})
		}
		if ctx.Err() != nil {
			return
		}
	}
}

// socket is one connected widget: its writes, and what has been delivered
// to it.
type socket struct {
	ch     *Channel
	conn   Conn
	ctx    context.Context
	cancel context.CancelFunc
	key    string

	mu      sync.Mutex
	last    int64 // the Seq of the last entry sent
	running bool  // a turn of this socket is running
	// wanted is the newest Seq signalled while a turn of this socket was
	// running, whose entries may be the ones signalled (-1: unknown): it
	// is read once the turn's entries are in.
	wanted int64
	buf    []ServerFrame
}

// send writes f; false when the socket is done.
func (so *socket) send(f ServerFrame) bool {
	so.mu.Lock()
	defer so.mu.Unlock()
	return so.write(f)
}

// write writes f as one socket message; so.mu is held. A failed write
// ends the socket.
func (so *socket) write(f ServerFrame) bool {
	if so.ctx.Err() != nil {
		return false
	}
	b, _ := json.Marshal(f)
	if err := so.conn.WriteMessage(b); err != nil {
		so.cancel()
		return false
	}
	return true
}

// deliver sends entries, then the frames after, in one socket message;
// so.mu is held.
func (so *socket) deliver(entries []bot.Entry, after ...ServerFrame) bool {
	fs := so.buf[:0]
	for i := range entries {
		fs = append(fs, ServerFrame{Type: "entry", Entry: &entries[i]})
	}
	fs = append(fs, after...)
	so.buf = fs[:0]
	if f, ok := batch(fs); ok && !so.write(f) {
		return false
	}
	if len(entries) > 0 {
		so.last = entries[len(entries)-1].Seq
	}
	return true
}

// read sends what the store holds after the last Seq sent; so.mu is held.
func (so *socket) read() bool {
	for {
		entries, err := so.ch.dispatch.Entries(so.ctx, so.key, so.last, 100)
		if err != nil {
			if so.ctx.Err() == nil {
				so.ch.log.Warn("webchat: reading the log failed", "err", err)
				so.write(ServerFrame{Type: "error", Code: "unavailable"})
				so.cancel()
			}
			return false
		}
		if !so.deliver(entries) {
			return false
		}
		if len(entries) < 100 {
			return true
		}
	}
}

// signalled handles the store's signal that the log reached seq (0:
// unknown); false when the socket is done.
func (so *socket) signalled(seq int64) bool {
	so.mu.Lock()
	defer so.mu.Unlock()
	switch {
	case seq != 0 && seq <= so.last:
		return true // delivered already
	case so.running:
		// Likely the running turn's own commit: wait for its entries.
		if seq == 0 {
			so.wanted = -1
		} else if so.wanted >= 0 {
			so.wanted = max(so.wanted, seq)
		}
		return true
	}
	return so.read()
}

// start marks a turn of this socket running.
func (so *socket) start() {
	so.mu.Lock()
	so.running = true
	so.mu.Unlock()
}

// done ends the turn: it sends what the turn committed (nil for nothing)
// and its reply frame (an ack or an error; none when Type is empty) in
// one socket message, when the entries follow on from the last sent; else
// it reads the log. A signal deferred while the turn ran is read then.
func (so *socket) done(entries []bot.Entry, reply ServerFrame) bool {
	so.mu.Lock()
	defer so.mu.Unlock()
	so.running = false
	var after []ServerFrame
	if reply.Type != "" {
		after = []ServerFrame{reply}
	}
	ok := true
	switch {
	case len(entries) == 0 || entries[len(entries)-1].Seq <= so.last:
		// none, or delivered already
	case entries[0].Seq == so.last+1:
		ok = so.deliver(entries, after...)
		after = nil
	default:
		ok = so.read()
	}
	if ok && (so.wanted < 0 || so.wanted > so.last) {
		ok = so.read()
	}
	so.wanted = 0
	if ok && len(after) > 0 {
		ok = so.deliver(nil, after...)
	}
	return ok
}

// hello decides which session a hello opens, from its token and the
// page's customer claim, and returns the welcome frame, the session id
// and whether the claim was refused:
//
//   - the token's session belongs to the claim's customer, or both are
//     anonymous: resume it;
//   - an anonymous session and a valid claim: the same conversation, now
//     the customer's (a fresh token bound to them);
//   - a session bound to a customer and no claim (signed out) or another
//     customer's: a new session, for the claim's customer if any, so that
//     a shared computer never shows one customer's chat to the next;
//   - no valid token: a new session, the claim's customer's if any.
//
// A refused claim counts as none. A session with a customer is linked to
// them through the Linker.
func (ch *Channel) hello(ctx context.Context, f ClientFrame) (welcome ServerFrame, id string, badCustomer bool) {
	var customer string
	if f.Customer != nil && ch.customers != nil {
		c, err := ch.customers.Verify(*f.Customer)
		if err != nil {
			ch.log.Warn("webchat: customer claim refused; the visitor goes on as a guest", "err", err)
			badCustomer = true
		}
		customer = c
	}
	want := ch.sessions.Bind(customer)
	welcome = ServerFrame{Type: "welcome"}
	sess, err := ch.sessions.Open(f.Token)
	switch {
	case err == nil && (sess.Binding == want || sess.Binding.IsZero()):
		// Resume, or sign an anonymous visitor in: the history stays.
		sess.Binding = want
		welcome.Token, id = ch.sessions.Issue(sess), sess.ID
	default:
		welcome.Token, id = ch.sessions.NewBound(want)
		welcome.NewSession = f.Token != ""
	}
	if customer != "" && ch.linker != nil {
		lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := ch.linker.LinkCustomer(lctx, Key(id), customer); err != nil && ctx.Err() == nil {
			ch.log.Warn("webchat: linking the signed-in visitor failed", "err", err)
		}
	}
	return welcome, id, badCustomer
}

// message dispatches one shopper message and has so deliver what the turn
// committed, with its ack.
func (ch *Channel) message(ctx context.Context, id, locale string, f ClientFrame, so *socket) {
	if f.ClientMsgID == "" || len(f.ClientMsgID) > 64 {
		so.send(ServerFrame{Type: "error", Code: "bad_frame"})
		return
	}
	if len(f.Payload) > 256 {
		so.send(ServerFrame{Type: "error", Code: "bad_frame", ClientMsgID: f.ClientMsgID})
		return
	}
	if f.Payload == "" {
		if code := CheckText(f.Text); code != "" {
			so.send(ServerFrame{Type: "error", Code: code, ClientMsgID: f.ClientMsgID})
			return
		}
	} else if CheckText(f.Text) == "too_long" || CheckText(f.Text) == "invalid_utf8" {
		so.send(ServerFrame{Type: "error", Code: "bad_frame", ClientMsgID: f.ClientMsgID})
		return
	}
	if !ch.limit.Allow(id) {
		so.send(ServerFrame{Type: "error", Code: "rate_limited", ClientMsgID: f.ClientMsgID})
		return
	}
	typing := ch.typing(so.send)
	dctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	so.start()
	entries, err := ch.dispatch.Dispatch(dctx, bot.Message{
		Channel: bot.WebChat, ID: f.ClientMsgID, Conversation: id, Sender: id,
		Text: f.Text, Payload: f.Payload, Locale: locale, At: ch.now(),
	})
	typing()
	var reply ServerFrame
	switch {
	case errors.Is(err, bot.ErrDuplicate):
		reply = ServerFrame{Type: "ack", ClientMsgID: f.ClientMsgID}
	case err != nil:
		if ctx.Err() == nil {
			ch.log.Warn("webchat: dispatch failed", "err", err)
			reply = ServerFrame{Type: "error", Code: "unavailable", ClientMsgID: f.ClientMsgID}
		}
	default:
		var seq int64
		if len(entries) > 0 {
			seq = entries[0].Seq
		}
		reply = ServerFrame{Type: "ack", ClientMsgID: f.ClientMsgID, Seq: seq}
	}
	so.done(entries, reply)
}

// TypingDelay is how long a turn runs before the widget is told the shop
// is typing: a quicker answer arrives before an indicator would be seen,
// and saves the two frames.
const TypingDelay = 300 * time.Millisecond

// typing sends "typing" once the turn has run for TypingDelay, and
// returns the function that ends the turn: it stops the timer, or sends
// "typing" off after the "typing" on, never before it.
func (ch *Channel) typing(send func(ServerFrame) bool) (done func()) {
	var mu sync.Mutex
	ended, shown := false, false
	t := time.AfterFunc(ch.typingDelay, func() {
		mu.Lock()
		defer mu.Unlock()
		if !ended {
			shown = send(ServerFrame{Type: "typing", Typing: true})
		}
	})
	return func() {
		t.Stop()
		mu.Lock()
		defer mu.Unlock()
		ended = true
		if shown {
			send(ServerFrame{Type: "typing", Typing: false})
		}
	}
}

// frameError is a frame that is not the JSON we expect; the socket stays
// open and the widget is told why (code).
type frameError struct {
	error
	code string
}

func readFrame(conn Conn) (ClientFrame, error) {
	var f ClientFrame
	b, err := conn.ReadMessage()
	if err != nil {
		return f, err
	}
	if len(b) > maxFrame {
		return f, frameError{errors.New("frame too large"), "too_long"}
	}
	if !utf8.Valid(b) {
		return f, frameError{errors.New("frame is not UTF-8"), "invalid_utf8"}
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return f, frameError{err, "bad_frame"}
	}
	return f, nil
}
