package messenger

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/bottega-shop/bottega/bot"
)

// ErrSignature is Handle's error for a body whose X-Hub-Signature-256 is
// missing or wrong.
var ErrSignature = errors.New("messenger: bad or missing payload signature")

// Dispatcher is what the Webhook needs of bot.Dispatcher.
type Dispatcher interface {
	// Dispatch handles m once, in order within its conversation, and
	// returns the log entries it appended; bot.ErrDuplicate for a message
	// handled before.
	Dispatch(ctx context.Context, m bot.Message) ([]bot.Entry, error)
}

// EventSink receives the events that are not messages for the bot:
// deliveries and reads, opt-ins with their tokens, handover and human
// replies, shoppers found unreachable. A redelivered webhook body repeats
// its events with the same Event.ID, so Event must be idempotent on it.
type EventSink interface {
	// Event records e. An error makes Handle answer 503 so that Meta
	// sends the body again.
	Event(ctx context.Context, e Event) error
}

// EventSinkFunc adapts a function to EventSink.
type EventSinkFunc func(ctx context.Context, e Event) error

// Event calls f.
func (f EventSinkFunc) Event(ctx context.Context, e Event) error { return f(ctx, e) }

// Outbox hears of the entries a handled message added to its
// conversation's log: they are queued already (the commit did it), so it
// may only wake the outbound queue. It must not wait for the Send API.
type Outbox interface {
	// Enqueue takes the entries for the shopper psid. The turn is already
	// committed when it is called, so an error is logged, not retried.
	Enqueue(ctx context.Context, psid string, entries []bot.Entry) error
}

// Webhook is the Messenger webhook: it checks each body's signature,
// parses it, records thread state and events, and hands every message to
// the Dispatcher before the body is acknowledged. It never sends replies
// itself; the outbound queue does, through Deliverer. It is safe for
// concurrent use.
type Webhook struct {
	secret, verifyToken string
	d                   Dispatcher
	events              EventSink
	log                 *slog.Logger

	threads  Threads
	sender   *Sender
	outbox   Outbox
	appID    string
	now      func() time.Time
	parallel int
}

// Option configures a Webhook.
type Option func(*Webhook)

// WithThreads sets where the 24-hour windows and thread owners are kept
// (default: a MemThreads, right for one replica).
func WithThreads(t Threads) Option { return func(w *Webhook) { w.threads = t } }

// WithSender sets the Sender that Deliver uses.
func WithSender(s *Sender) Option { return func(w *Webhook) { w.sender = s } }

// WithOutbox sets where the entries of each handled message go for
// delivery. Without one, replies stay in the conversation's log.
func WithOutbox(o Outbox) Option { return func(w *Webhook) { w.outbox = o } }

// WithAppID sets our Meta app id, to tell our own echoes and handovers
// from other apps'. Without it only Page Inbox echoes count as a person's
// replies, and a pass_thread_control is taken to be a pass to us (Meta
// sends it to the receiving app).
func WithAppID(id string) Option { return func(w *Webhook) { w.appID = id } }

// WithNow sets the clock for the window checks (default time.Now).
func WithNow(now func() time.Time) Option { return func(w *Webhook) { w.now = now } }

// WithParallel sets how many conversations of one body are dispatched at
// once (default 8); each conversation's messages go one at a time.
func WithParallel(n int) Option { return func(w *Webhook) { w.parallel = max(n, 1) } }

// NewWebhook returns a Webhook checking bodies with appSecret, answering
// handshakes with verifyToken, handing messages to d and other events to
// events (nil to drop them), logging to log (nil to discard).
func NewWebhook(appSecret, verifyToken string, d Dispatcher, events EventSink, log *slog.Logger, opts ...Option) *Webhook {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	w := &Webhook{
		secret: appSecret, verifyToken: verifyToken, d: d, events: events, log: log,
		now: time.Now, parallel: 8,
	}
	for _, o := range opts {
		o(w)
	}
	if w.threads == nil {
		w.threads = NewMemThreads(w.now)
	}
	return w
}

// Verify answers the subscription handshake; see the package function.
func (w *Webhook) Verify(mode, token, challenge string) (string, bool) {
	return Verify(mode, token, challenge, w.verifyToken)
}

// Threads returns where the Webhook keeps windows and thread owners.
func (w *Webhook) Threads() Threads { return w.threads }

// Handle processes one webhook body and returns the HTTP status to answer:
// 401 with ErrSignature when signature (the X-Hub-Signature-256 header) is
// not the body's, before anything is parsed; 400 with an error wrapping
// ErrMalformed for a body that is not a webhook body; 200 once every event
// is recorded and every message handled (a redelivered one, answered
// before, counts as handled), including for objects other than "page",
// which are ignored, and for batches with skipped events, which are
// logged; 503 with the first error when something could not be recorded or
// handled, so that Meta sends the body again (handled messages are then
// recognised as duplicates).
//
// body must not change during the call.
func (w *Webhook) Handle(ctx context.Context, signature string, body []byte) (int, error) {
	if !CheckSignature(signature, body, w.secret) {
		return http.StatusUnauthorized, ErrSignature
	}
	b, err := Parse(body)
	if err != nil {
		return http.StatusBadRequest, err
	}
	if b.Object != "page" {
		w.log.Info("messenger: ignored webhook object", "object", b.Object)
		return http.StatusOK, nil
	}
	for _, s := range b.Skipped {
		w.log.Warn("messenger: skipped webhook event",
			"entry", s.Entry, "index", s.Index, "standby", s.Standby, "reason", s.Reason)
	}
	var firstErr error
	fail := func(err error) {
		if firstErr == nil {
			firstErr = err
		}
	}
	now := w.now()
	for i := range b.Events {
		e := &b.Events[i]
		if e.At.IsZero() {
			e.At = now
		}
		w.classify(e)
		if err := w.track(ctx, *e); err != nil {
			fail(fmt.Errorf("messenger: recording thread of event %s: %w", e.ID, err))
			continue
		}
		if w.events != nil {
			if err := w.events.Event(ctx, *e); err != nil {
				fail(fmt.Errorf("messenger: recording event %s: %w", e.ID, err))
			}
		}
	}
	wrote := make(map[string]time.Time)
	for _, m := range b.Messages {
		at := m.At
		if at.IsZero() {
			at = now
		}
		if at.After(wrote[m.Sender]) {
			wrote[m.Sender] = at
		}
	}
	for psid, at := range wrote {
		if err := w.threads.Wrote(ctx, psid, at); err != nil {
			fail(fmt.Errorf("messenger: recording the window: %w", err))
		}
	}
	if err := w.dispatch(ctx, b.Messages); err != nil {
		fail(err)
	}
	if firstErr != nil {
		return http.StatusServiceUnavailable, firstErr
	}
	return http.StatusOK, nil
}

// classify settles what only the Webhook can tell: whether an echo came
// from a person, and who owns a thread after a handover ("" for us).
func (w *Webhook) classify(e *Event) {
	switch e.Kind {
	case KindEcho:
		if w.appID != "" && e.AppID != "" && e.AppID != w.appID {
			e.Kind = KindHumanReply
		}
	case KindThreadOwner:
		switch {
		case w.appID != "" && e.AppID == w.appID:
			e.AppID = ""
		case w.appID == "" && e.Handover == "pass":
			e.AppID = ""
		case e.AppID == "":
			e.AppID = OtherApp
		}
	}
}

// track records what e says of the shopper's window and thread owner.
func (w *Webhook) track(ctx context.Context, e Event) error {
	switch {
	case e.Kind == KindThreadOwner:
		return w.threads.SetOwner(ctx, e.PSID, e.AppID, e.At)
	case e.Kind == KindHumanReply:
		app := e.AppID
		if app == "" {
			app = OtherApp
		}
		return w.threads.SetOwner(ctx, e.PSID, app, e.At)
	case e.Standby:
		if e.Kind == KindMessage {
			if err := w.threads.Wrote(ctx, e.PSID, e.At); err != nil {
				return err
			}
		}
		return w.threads.SetOwner(ctx, e.PSID, OtherApp, e.At)
	}
	return nil
}

// dispatch hands the messages to the Dispatcher: each conversation's in
// timestamp order, one at a time, several conversations at once. After a
// failure, a conversation's later messages wait for the redelivery, so
// that they are not handled before it.
func (w *Webhook) dispatch(ctx context.Context, ms []bot.Message) error {
	if len(ms) == 0 {
		return nil
	}
	byConv := make(map[string][]bot.Message)
	var order []string
	for _, m := range ms {
		if _, ok := byConv[m.Conversation]; !ok {
			order = append(order, m.Conversation)
		}
		byConv[m.Conversation] = append(byConv[m.Conversation], m)
	}
	var (
		mu       sync.Mutex
		firstErr error
		g        errgroup.Group
	)
	g.SetLimit(w.parallel)
	for _, conv := range order {
		msgs := byConv[conv]
		slices.SortStableFunc(msgs, func(a, b bot.Message) int { return cmp.Compare(a.Seq, b.Seq) })
		g.Go(func() error {
			for _, m := range msgs {
				if err := w.handle(ctx, m); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					return nil
				}
			}
			return nil
		})
	}
	g.Wait()
	return firstErr
}

// handle dispatches one message and queues its entries.
func (w *Webhook) handle(ctx context.Context, m bot.Message) error {
	entries, err := w.d.Dispatch(ctx, m)
	switch {
	case errors.Is(err, bot.ErrDuplicate):
		return nil
	case err != nil:
		w.log.Error("messenger: message not handled", "message_id", m.ID, "err", err)
		return fmt.Errorf("messenger: handling message %s: %w", m.ID, err)
	}
	if w.outbox != nil && len(entries) > 0 {
		// The turn is committed: a redelivery would be a duplicate and
		// queue nothing, so a failure here is logged, not answered 503.
		if err := w.outbox.Enqueue(ctx, m.Sender, entries); err != nil {
			w.log.Error("messenger: replies not queued", "message_id", m.ID, "err", err)
		}
	}
	return nil
}

// sent records what a send error says of the shopper.
func (w *Webhook) sent(ctx context.Context, psid string, now time.Time, err error) {
	switch {
	case errors.Is(err, ErrUnreachable) && w.events != nil:
		e := Event{Kind: KindUnreachable, ID: fmt.Sprintf("fb:%s:%s:%d", KindUnreachable, psid, now.UnixMilli()), PSID: psid, At: now}
		if err := w.events.Event(ctx, e); err != nil {
			w.log.Error("messenger: unreachable shopper not recorded", "err", err)
		}
	case errors.Is(err, ErrThreadOwned):
		if err := w.threads.SetOwner(ctx, psid, OtherApp, now); err != nil {
			w.log.Error("messenger: thread owner not recorded", "err", err)
		}
	}
}
