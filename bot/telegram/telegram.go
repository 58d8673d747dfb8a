// Package telegram is Bottega's Telegram channel: the webhook ingress
// (secret check, strict parsing, mapping updates to bot.Message, dispatch
// once per update_id) and a Sender that renders bot.Reply values through
// the Bot API with github.com/go-telegram/bot, mapping its errors to
// retry decisions.
//
// The package knows no HTTP framework: package web hands Webhook.Handle the
// secret header and the raw body and writes the status it returns. The
// library's own WebhookHandler is not used: it answers 200 to a wrong
// secret and starts a goroutine per update, losing order.
//
// Replies are not sent while the webhook waits: Handle returns once the
// turn is committed to the conversation's log — which queues its replies
// for the outbound queue (bot.Outbound) — telling an Outbox if one is
// configured; the queue sends them through Deliverer, on the Sender.
package telegram

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/bottega-shop/bottega/bot"
)

// Dispatcher is what the webhook needs of bot.Dispatcher.
type Dispatcher interface {
	// Dispatch handles m once, in order within its conversation, and
	// returns the log entries it appended; a redelivered m.ID returns
	// bot.ErrDuplicate.
	Dispatch(ctx context.Context, m bot.Message) ([]bot.Entry, error)
}

// Reachability records whether a shopper can be written to, from
// my_chat_member updates ("kicked" when they block the bot, "member" when
// they restart it) and from sends that fail with ErrUnreachable. key is the
// conversation key (Key).
type Reachability interface {
	SetReachable(ctx context.Context, key string, reachable bool) error
}

// ReachabilityFunc adapts a function to Reachability.
type ReachabilityFunc func(ctx context.Context, key string, reachable bool) error

// SetReachable calls f.
func (f ReachabilityFunc) SetReachable(ctx context.Context, key string, reachable bool) error {
	return f(ctx, key, reachable)
}

// LastMessages tells an edit of a chat's latest message (answered again)
// from an edit of an older one (ignored). Telegram's message_id counts up
// within a chat, so the latest message is the one with the largest id.
type LastMessages interface {
	// Latest records messageID as a message of chatID and returns the
	// largest message id recorded for chatID, messageID included.
	Latest(ctx context.Context, chatID int64, messageID int) (int, error)
}

// Outbox hears of the log entries a dispatched update appended (the
// shopper's message, then the replies): they are queued already, so it may
// only wake whoever delivers them.
type Outbox interface {
	Enqueue(ctx context.Context, chatID int64, entries []bot.Entry) error
}

// OutboxFunc adapts a function to Outbox.
type OutboxFunc func(ctx context.Context, chatID int64, entries []bot.Entry) error

// Enqueue calls f.
func (f OutboxFunc) Enqueue(ctx context.Context, chatID int64, entries []bot.Entry) error {
	return f(ctx, chatID, entries)
}

// Key is the conversation key (bot.Message.Key) of a Telegram chat.
func Key(chatID int64) string {
	return bot.Message{Channel: bot.Telegram, Conversation: strconv.FormatInt(chatID, 10)}.Key()
}

// ChatID is the chat of conversation key, the inverse of Key.
func ChatID(key string) (int64, error) {
	s, ok := strings.CutPrefix(key, bot.Telegram+":")
	if !ok {
		return 0, fmt.Errorf("telegram: conversation %q is not a Telegram chat", key)
	}
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id == 0 {
		return 0, fmt.Errorf("telegram: conversation %q has no chat id", key)
	}
	return id, nil
}

// Webhook defaults.
const (
	// DefaultDispatchTimeout bounds one update's turn.
	DefaultDispatchTimeout = 15 * time.Second
	// DefaultGroupNoteEvery is how often a group is told, at most, that
	// the bot works in private chats.
	DefaultGroupNoteEvery = time.Hour
	// sideTimeout bounds a call made after the webhook answered.
	sideTimeout = 10 * time.Second
	// maxSideCalls bounds the calls in flight after the webhook answered.
	maxSideCalls = 64
)

// Notes are the few lines the channel says itself, in Italian and English.
type Notes struct {
	// PrivateOnly is sent to a group: the bot works in private chats.
	PrivateOnly map[string]string
	// Expired answers a button whose stored payload is gone.
	Expired map[string]string
}

// DefaultNotes are the channel's own lines.
func DefaultNotes() Notes {
	return Notes{
		PrivateOnly: map[string]string{
			"it": "Rispondo solo in chat privata: scrivimi direttamente 🙂",
			"en": "I only answer in private chats: write to me directly 🙂",
		},
		Expired: map[string]string{
			"it": "Questo pulsante è scaduto: chiedimi di nuovo.",
			"en": "This button has expired: please ask me again.",
		},
	}
}

// say picks the line for locale ("it_IT", "en-GB"): its language, else
// English, else any.
func say(lines map[string]string, locale string) string {
	lang, _, _ := strings.Cut(strings.ToLower(locale), "-")
	lang, _, _ = strings.Cut(lang, "_")
	if s, ok := lines[lang]; ok {
		return s
	}
	if s, ok := lines["en"]; ok {
		return s
	}
	for _, s := range lines {
		return s
	}
	return ""
}

// Webhook handles Telegram's webhook requests. It is safe for concurrent
// use: Telegram delivers up to max_connections updates at once, and a
// chat's updates are put in update_id order by the Dispatcher.
type Webhook struct {
	secret   string
	dispatch Dispatcher
	sender   *Sender
	reach    Reachability
	log      *slog.Logger

	last            LastMessages
	outbox          Outbox
	now             func() time.Time
	dispatchTimeout time.Duration
	noteEvery       time.Duration
	notes           Notes

	side     sync.WaitGroup
	slots    chan struct{}
	inflight singleflight.Group // update_id → its dispatch

	mu     sync.Mutex
	noted  map[int64]time.Time // group chat → last note
	sweep  time.Time
	closed bool
}

// Option configures a Webhook.
type Option func(*Webhook)

// WithLastMessages sets where each chat's latest message id is kept
// (default: a MemoryLastMessages). With the in-memory default, replicas
// and restarts forget it; an edit in a chat nothing is known of is
// answered.
func WithLastMessages(l LastMessages) Option { return func(w *Webhook) { w.last = l } }

// WithOutbox sets who receives the entries of each dispatched update
// (default: nobody; the caller follows the log itself).
func WithOutbox(o Outbox) Option { return func(w *Webhook) { w.outbox = o } }

// WithNow sets the clock (default time.Now).
func WithNow(now func() time.Time) Option { return func(w *Webhook) { w.now = now } }

// WithDispatchTimeout bounds one update's turn (default
// DefaultDispatchTimeout).
func WithDispatchTimeout(d time.Duration) Option { return func(w *Webhook) { w.dispatchTimeout = d } }

// WithGroupNoteEvery sets how often a group is told at most that the bot
// works in private chats (default DefaultGroupNoteEvery).
func WithGroupNoteEvery(d time.Duration) Option { return func(w *Webhook) { w.noteEvery = d } }

// WithNotes replaces the channel's own lines.
func WithNotes(n Notes) Option { return func(w *Webhook) { w.notes = n } }

// NewWebhook returns the webhook handler. secret is TELEGRAM_WEBHOOK_SECRET
// (empty refuses every request); d dispatches messages; s answers callback
// queries, sends group notes, resolves stored payloads and delivers
// (Deliver needs it; without it nothing is answered); reach, if not
// nil, records my_chat_member changes and unreachable shoppers.
func NewWebhook(secret string, d Dispatcher, s *Sender, reach Reachability, log *slog.Logger, opts ...Option) *Webhook {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	w := &Webhook{
		secret: secret, dispatch: d, sender: s, reach: reach, log: log,
		now: time.Now, dispatchTimeout: DefaultDispatchTimeout, noteEvery: DefaultGroupNoteEvery,
		notes: DefaultNotes(), slots: make(chan struct{}, maxSideCalls), noted: make(map[int64]time.Time),
	}
	for _, o := range opts {
		o(w)
	}
	if w.last == nil {
		w.last = NewMemoryLastMessages(0, w.now)
	}
	return w
}

// ErrSecret is Handle's error for a missing or wrong secret header (401).
var ErrSecret = errors.New("telegram: wrong or missing webhook secret")

// Authorized reports whether secretHeader is the webhook's secret, so that
// a caller can refuse a request before even reading its body.
func (w *Webhook) Authorized(secretHeader string) bool { return CheckSecret(secretHeader, w.secret) }

// Handle handles one webhook request: secretHeader is its
// X-Telegram-Bot-Api-Secret-Token and body its raw bytes, which Handle does
// not keep. It returns the HTTP status to answer and, for any status but
// 200, why:
//
//   - 401 for a wrong or missing secret, before the body is looked at;
//   - 413 for a body over MaxBody, 400 for one that is not an update
//     (ErrMalformed);
//   - 200 once the update is handled: dispatched (or found already
//     dispatched: a redelivery is handled once), or recorded
//     (my_chat_member), or ignored (unknown types, edits of older
//     messages, channel posts);
//   - 503 when the dispatcher or a store failed, so that Telegram
//     delivers the update again.
//
// Callback queries are always answered and groups get a short note that
// the bot works in private chats; both are sent after Handle returns (see
// Wait), so that no slow Bot API call delays the acknowledgement. The
// bot's replies are not sent here (see Outbox and Deliver).
func (w *Webhook) Handle(ctx context.Context, secretHeader string, body []byte) (int, error) {
	if !w.Authorized(secretHeader) {
		return http.StatusUnauthorized, ErrSecret
	}
	u, err := Parse(body)
	switch {
	case errors.Is(err, ErrTooLarge):
		return http.StatusRequestEntityTooLarge, err
	case err != nil:
		return http.StatusBadRequest, err
	}
	log := w.log.With("update_id", u.ID, "kind", string(u.Kind))
	switch u.Kind {
	case KindGroup:
		w.groupNote(ctx, u)
		return http.StatusOK, nil
	case KindMember:
		if w.reach == nil {
			log.Debug("telegram: member change not recorded: no reachability store")
			return http.StatusOK, nil
		}
		if err := w.reach.SetReachable(ctx, Key(u.ChatID), u.Reachable); err != nil {
			return http.StatusServiceUnavailable, fmt.Errorf("telegram: update %d: recording reachability: %w", u.ID, err)
		}
		log.Info("telegram: shopper reachability changed", "reachable", u.Reachable)
		return http.StatusOK, nil
	case KindCallback:
		return w.callback(ctx, u, log)
	case KindEdit:
		latest, err := w.last.Latest(ctx, u.ChatID, u.MessageID)
		if err != nil {
			return http.StatusServiceUnavailable, fmt.Errorf("telegram: update %d: latest message: %w", u.ID, err)
		}
		if latest > u.MessageID {
			log.Debug("telegram: edit of an older message ignored")
			return http.StatusOK, nil
		}
	case KindMessage:
		if _, err := w.last.Latest(ctx, u.ChatID, u.MessageID); err != nil {
			return http.StatusServiceUnavailable, fmt.Errorf("telegram: update %d: latest message: %w", u.ID, err)
		}
	}
	if u.Message == nil {
		log.Debug("telegram: update ignored")
		return http.StatusOK, nil
	}
	return w.dispatchMessage(ctx, u, log)
}

// callback answers a pressed button and dispatches its payload.
func (w *Webhook) callback(ctx context.Context, u Update, log *slog.Logger) (int, error) {
	if u.Message == nil {
		w.answer(ctx, u.CallbackID, "")
		return http.StatusOK, nil
	}
	payload, err := u.Message.Payload, error(nil)
	if w.sender != nil {
		payload, err = w.sender.Resolve(ctx, payload)
	}
	switch {
	case errors.Is(err, ErrPayloadExpired):
		log.Info("telegram: button payload expired")
		w.answer(ctx, u.CallbackID, say(w.notes.Expired, u.Locale))
		return http.StatusOK, nil
	case err != nil:
		return http.StatusServiceUnavailable, fmt.Errorf("telegram: update %d: %w", u.ID, err)
	}
	w.answer(ctx, u.CallbackID, "")
	m := *u.Message
	m.Payload, m.At = payload, w.now()
	u.Message = &m
	return w.dispatchMessage(ctx, u, log)
}

// dispatchMessage dispatches u.Message. A redelivery that arrives while the
// same update is being dispatched in this process waits for that dispatch
// and answers as it does, instead of queueing behind it in the store.
func (w *Webhook) dispatchMessage(ctx context.Context, u Update, log *slog.Logger) (int, error) {
	type result struct {
		status int
		err    error
	}
	v, _, _ := w.inflight.Do(strconv.FormatInt(u.ID, 10), func() (any, error) {
		status, err := w.dispatchOnce(ctx, u, log)
		return result{status, err}, nil
	})
	r := v.(result)
	return r.status, r.err
}

func (w *Webhook) dispatchOnce(ctx context.Context, u Update, log *slog.Logger) (int, error) {
	dctx, cancel := context.WithTimeout(ctx, w.dispatchTimeout)
	defer cancel()
	m := *u.Message
	if m.At.IsZero() {
		m.At = w.now()
	}
	entries, err := w.dispatch.Dispatch(dctx, m)
	switch {
	case errors.Is(err, bot.ErrDuplicate):
		log.Debug("telegram: redelivered update ignored")
		return http.StatusOK, nil
	case err != nil:
		return http.StatusServiceUnavailable, fmt.Errorf("telegram: update %d: %w", u.ID, err)
	}
	if w.outbox != nil {
		// The turn is committed: a failure here cannot be fixed by
		// Telegram delivering the update again, which would only find it
		// done. Log it; the entries stay in the log.
		if err := w.outbox.Enqueue(ctx, u.ChatID, entries); err != nil {
			log.Error("telegram: replies not queued", "err", err)
		}
	}
	return http.StatusOK, nil
}

// Wait waits for the Bot API calls Handle started after answering
// (callback answers, group notes); each gives up after 10 seconds. Call it
// at shutdown, after the server stopped taking requests; Handle must not
// be called after Wait.
func (w *Webhook) Wait() {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
	w.side.Wait()
}

// later runs f after Handle returns, with its own timeout; when too many
// calls are in flight it drops f and logs it.
func (w *Webhook) later(ctx context.Context, what string, f func(ctx context.Context) error) {
	w.mu.Lock()
	closed := w.closed
	if !closed {
		w.side.Add(1)
	}
	w.mu.Unlock()
	if closed {
		w.log.Warn("telegram: call dropped after shutdown", "call", what)
		return
	}
	select {
	case w.slots <- struct{}{}:
	default:
		w.side.Done()
		w.log.Warn("telegram: call dropped: too many in flight", "call", what)
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), sideTimeout)
	go func() {
		defer func() { <-w.slots; cancel(); w.side.Done() }()
		if err := f(ctx); err != nil {
			w.log.Warn("telegram: call failed", "call", what, "err", err)
		}
	}()
}

// answer answers a callback query after Handle returns.
func (w *Webhook) answer(ctx context.Context, id, text string) {
	if w.sender == nil {
		return
	}
	w.later(ctx, "answerCallbackQuery", func(ctx context.Context) error {
		return w.sender.AnswerCallback(ctx, id, text)
	})
}

// groupNote tells a group, at most once per noteEvery, that the bot works
// in private chats.
func (w *Webhook) groupNote(ctx context.Context, u Update) {
	if w.sender == nil {
		return
	}
	now := w.now()
	w.mu.Lock()
	if now.Sub(w.sweep) > w.noteEvery { // forget groups noted long ago
		for id, at := range w.noted {
			if now.Sub(at) >= w.noteEvery {
				delete(w.noted, id)
			}
		}
		w.sweep = now
	}
	at, seen := w.noted[u.ChatID]
	due := !seen || now.Sub(at) >= w.noteEvery
	if due {
		w.noted[u.ChatID] = now
	}
	w.mu.Unlock()
	if !due {
		return
	}
	text := say(w.notes.PrivateOnly, u.Locale)
	chatID := u.ChatID
	w.later(ctx, "sendMessage", func(ctx context.Context) error {
		return w.sender.Send(ctx, chatID, bot.Reply{Text: text})
	})
}

// MemoryLastMessages is a LastMessages in memory, forgetting a chat ttl
// after its latest message. It is safe for concurrent use.
type MemoryLastMessages struct {
	ttl time.Duration
	now func() time.Time

	mu    sync.Mutex
	chats map[int64]lastMessage
	sweep time.Time
}

type lastMessage struct {
	id int
	at time.Time
}

// DefaultLastMessagesTTL is how long MemoryLastMessages remembers a chat.
const DefaultLastMessagesTTL = 48 * time.Hour

// NewMemoryLastMessages returns an empty MemoryLastMessages; ttl <= 0 means
// DefaultLastMessagesTTL and a nil now time.Now.
func NewMemoryLastMessages(ttl time.Duration, now func() time.Time) *MemoryLastMessages {
	if ttl <= 0 {
		ttl = DefaultLastMessagesTTL
	}
	if now == nil {
		now = time.Now
	}
	return &MemoryLastMessages{ttl: ttl, now: now, chats: make(map[int64]lastMessage)}
}

// Latest implements LastMessages.
func (m *MemoryLastMessages) Latest(_ context.Context, chatID int64, messageID int) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	if now.Sub(m.sweep) > m.ttl/4 {
		for id, l := range m.chats {
			if now.Sub(l.at) >= m.ttl {
				delete(m.chats, id)
			}
		}
		m.sweep = now
	}
	l, ok := m.chats[chatID]
	if ok && now.Sub(l.at) < m.ttl && l.id >= messageID {
		return l.id, nil
	}
	m.chats[chatID] = lastMessage{id: messageID, at: now}
	return messageID, nil
}
