package bot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// EntryReader reads a conversation's log, oldest first, with sealed
// entries opened (an erased person's entries come back Erased). The
// *Dispatcher is one.
type EntryReader interface {
	Entries(ctx context.Context, key string, after int64, limit int) ([]Entry, error)
}

// Limits are a channel's rate limits, counted in platform calls (a reply
// may take several: see Pace).
type Limits struct {
	// PerSecond is how many calls the channel makes per second at most,
	// over all its conversations, in any sliding window of about a second;
	// 0 means no limit. The window counts from the end of each call, so
	// that the platform never sees more whatever the network delays.
	PerSecond float64
	// Burst is how many calls may start back to back (at least 1); the
	// others within a window are spread out.
	Burst int
	// PerConversation is the least time between the end of a call to a
	// conversation and the start of the next; 0 means none. It is kept in
	// memory: a conversation's first call on another replica may come
	// sooner.
	PerConversation time.Duration
}

// The platforms' limits (see design.md §4).
var (
	// TelegramLimits are Telegram's: about 30 messages a second overall and
	// one a second per chat.
	TelegramLimits = Limits{PerSecond: 30, Burst: 1, PerConversation: time.Second}
	// MessengerLimits are Messenger's: 300 Send API calls a second per
	// Page.
	MessengerLimits = Limits{PerSecond: 300, Burst: 1}
)

// Outbound defaults.
const (
	// DefaultOutboundLease is how long the queue holds a conversation it
	// delivers to; it stops a little before the lease ends and settles
	// what it did.
	DefaultOutboundLease = time.Minute
	// DefaultPoll is how often an idle queue asks its store for due
	// conversations.
	DefaultPoll = time.Second
	// DefaultConcurrency is how many conversations a queue delivers to at
	// once.
	DefaultConcurrency = 64
	// DefaultMaxAttempts is how many times an entry is tried before it is
	// dead-lettered.
	DefaultMaxAttempts = 8
	// DefaultBackoffBase and DefaultBackoffMax bound the wait before the
	// next try of an entry that failed: a random time up to base × 2^n
	// after the nth failure, capped at max ("full jitter").
	DefaultBackoffBase = 2 * time.Second
	DefaultBackoffMax  = 10 * time.Minute
	// DefaultOutboundGrace is how long Run lets deliveries under way
	// finish once its context ends.
	DefaultOutboundGrace = 5 * time.Second
)

const (
	entriesPage    = 100              // entries read at a time
	settleTimeout  = 5 * time.Second  // bounds a Settle, also after shutdown
	backlogEvery   = 10 * time.Second // how often the backlog gauge is refreshed
	noDelivererFor = time.Minute      // retry of a conversation of an unregistered channel
	maxReason      = 500              // bytes of a dead letter's reason
	minPausedFor   = 500 * time.Millisecond
)

// errLeaseEnding is Pace's error when the rate limits would hold a call
// past the end of the queue's lease on the conversation.
var errLeaseEnding = errors.New("bot: outbound: the lease ends before the rate limits allow the call")

// Outbound is the outbound queue's worker: it leases due conversations
// from an OutboxStore, reads each one's log after its delivery cursor and
// sends the replies (from the bot or an agent) one by one, in order,
// through the Deliverer registered for the conversation's channel (the
// part of the key before ":"), under the channel's Limits.
//
// What a Deliverer returns decides what follows: nil, the next entry; a
// *RetryAfterError, the whole channel pauses for After and the
// conversation is due again then; ErrHold, the conversation waits for the
// shopper's next message; ErrUndeliverable, the entry is dead-lettered
// and the next goes; any other error, the entry is tried again after a
// backoff with jitter, and dead-lettered after the last attempt. Shopper
// entries and erased ones are skipped.
//
// Several Outbounds (one per replica) may share a store: its leases keep
// each conversation on one at a time, and an Outbound stops delivering a
// conversation a little before its lease ends. Delivery is at least once:
// an entry whose send was cut short (a crash, a lease that ran out) is
// sent again.
type Outbound struct {
	store   OutboxStore
	entries EntryReader
	log     *slog.Logger
	now     func() time.Time
	reg     prometheus.Registerer

	poll, lease, grace      time.Duration
	concurrency, maxTries   int
	backoffBase, backoffMax time.Duration

	m    *outboundMetrics
	wake chan struct{}

	mu       sync.Mutex
	channels map[string]*outChannel
	last     map[string]time.Time // conversation → the end of its last platform call
	lastN    int
	running  bool
}

// outChannel is a registered channel.
type outChannel struct {
	name    string
	d       Deliverer
	limits  Limits
	limiter *limiter
}

// OutboundOption configures an Outbound.
type OutboundOption func(*Outbound)

// WithOutboundMetrics registers the queue's metrics with r, all labelled
// by channel: bottega_outbound_sent_total, _retried_total,
// _rate_limited_total, _held_total, _dead_letters_total and
// bottega_outbound_delivery_latency_seconds (from an entry's time to its
// send), and the gauge bottega_outbound_backlog (conversations waiting in
// the store, all channels).
func WithOutboundMetrics(r prometheus.Registerer) OutboundOption {
	return func(o *Outbound) { o.reg = r }
}

// WithOutboundNow sets the clock that Due, retry times, dead letters and
// latencies read (default time.Now). Waits for rate limits and leases run
// on the real clock.
func WithOutboundNow(now func() time.Time) OutboundOption {
	return func(o *Outbound) { o.now = now }
}

// WithPoll sets how often an idle queue asks its store for due
// conversations (default DefaultPoll); Notify wakes it sooner.
func WithPoll(d time.Duration) OutboundOption {
	return func(o *Outbound) { o.poll = d }
}

// WithConcurrency sets how many conversations are delivered to at once
// (default DefaultConcurrency).
func WithConcurrency(n int) OutboundOption {
	return func(o *Outbound) { o.concurrency = n }
}

// WithMaxAttempts sets how many times an entry is tried before it is
// dead-lettered (default DefaultMaxAttempts).
func WithMaxAttempts(n int) OutboundOption {
	return func(o *Outbound) { o.maxTries = n }
}

// WithBackoff sets the backoff after failed tries (default
// DefaultBackoffBase, DefaultBackoffMax).
func WithBackoff(base, max time.Duration) OutboundOption {
	return func(o *Outbound) { o.backoffBase, o.backoffMax = base, max }
}

// WithOutboundLease sets how long the queue leases a conversation (default
// DefaultOutboundLease).
func WithOutboundLease(d time.Duration) OutboundOption {
	return func(o *Outbound) { o.lease = d }
}

// WithOutboundGrace sets how long Run lets deliveries under way finish
// once its context ends (default DefaultOutboundGrace).
func WithOutboundGrace(d time.Duration) OutboundOption {
	return func(o *Outbound) { o.grace = d }
}

// NewOutbound returns a queue worker delivering what store holds due, with
// entries read from entries (the Dispatcher, which opens sealed entries),
// logging to log (nil to discard). Register the channels' Deliverers, then
// Run it.
func NewOutbound(store OutboxStore, entries EntryReader, log *slog.Logger, opts ...OutboundOption) *Outbound {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	o := &Outbound{
		store: store, entries: entries, log: log, now: time.Now,
		poll: DefaultPoll, lease: DefaultOutboundLease, grace: DefaultOutboundGrace,
		concurrency: DefaultConcurrency, maxTries: DefaultMaxAttempts,
		backoffBase: DefaultBackoffBase, backoffMax: DefaultBackoffMax,
		wake:     make(chan struct{}, 1),
		channels: make(map[string]*outChannel),
		last:     make(map[string]time.Time),
	}
	for _, opt := range opts {
		opt(o)
	}
	o.poll = cmpPositive(o.poll, DefaultPoll)
	o.lease = cmpPositive(o.lease, DefaultOutboundLease)
	o.grace = cmpPositive(o.grace, DefaultOutboundGrace)
	o.backoffBase = cmpPositive(o.backoffBase, DefaultBackoffBase)
	o.backoffMax = max(o.backoffMax, o.backoffBase)
	o.concurrency = max(o.concurrency, 1)
	o.maxTries = max(o.maxTries, 1)
	o.m = newOutboundMetrics(o.reg)
	return o
}

func cmpPositive(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// Register makes d deliver the conversations of channel under l. Register
// a channel once, before Run.
func (o *Outbound) Register(channel string, d Deliverer, l Limits) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.channels[channel] = &outChannel{name: channel, d: d, limits: l, limiter: newLimiter(l.PerSecond, l.Burst)}
}

// Notify wakes the queue to ask its store for due conversations now, as
// after a commit that queued replies. It never blocks.
func (o *Outbound) Notify() {
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// Run delivers until ctx ends. Then it takes no more conversations, lets
// the deliveries under way finish for the grace period, cancels those
// still running and waits one more grace period for them to settle what
// was done; a delivery that ignores the cancellation is abandoned, and its
// conversation is taken up again when its lease expires. Store failures
// are logged and retried. Run returns nil once stopped, or an error if the
// Outbound is running already.
func (o *Outbound) Run(ctx context.Context) error {
	o.mu.Lock()
	if o.running {
		o.mu.Unlock()
		return errors.New("bot: outbound: already running")
	}
	o.running = true
	o.mu.Unlock()
	defer func() {
		o.mu.Lock()
		o.running = false
		o.mu.Unlock()
	}()

	work, abandon := context.WithCancel(context.WithoutCancel(ctx))
	defer abandon()
	var (
		wg        sync.WaitGroup
		inflight  = make(chan struct{}, o.concurrency)
		freed     = make(chan struct{}, 1)
		tick      = time.NewTicker(o.poll)
		want      = true  // ask the store for due conversations
		full      = false // the last Due filled every free slot
		failing   = false // the last Due failed
		backlogAt time.Time
	)
	defer tick.Stop()
	for ctx.Err() == nil {
		if free := o.concurrency - len(inflight); want && free > 0 {
			leasedAt := time.Now()
			ps, err := o.store.Due(ctx, o.now(), free, o.lease)
			switch {
			case err != nil && ctx.Err() == nil:
				if !failing {
					o.log.Error("outbound: reading due conversations", "err", err)
				}
				failing, want = true, false
			case err == nil:
				if failing {
					o.log.Info("outbound: reading due conversations again")
				}
				failing = false
			}
			for _, p := range ps {
				inflight <- struct{}{}
				wg.Add(1)
				go func() {
					defer func() {
						<-inflight
						select {
						case freed <- struct{}{}:
						default:
						}
						wg.Done()
					}()
					o.deliver(work, ctx, p, leasedAt)
				}()
			}
			full = err == nil && len(ps) == free
			want = full
		}
		if time.Since(backlogAt) >= backlogEvery {
			backlogAt = time.Now()
			o.refreshBacklog(ctx)
		}
		if want && len(inflight) < o.concurrency {
			continue
		}
		select {
		case <-ctx.Done():
		case <-o.wake:
			want = true
		case <-freed:
			want = want || full
		case <-tick.C:
			want = true
		}
	}

	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	grace := time.NewTimer(o.grace)
	defer grace.Stop()
	select {
	case <-done:
		return nil
	case <-grace.C:
	}
	abandon() // cancelled sends return, and what was done is settled
	t := time.NewTimer(o.grace)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		o.log.Warn("outbound: deliveries abandoned at shutdown; their conversations go again when the leases expire")
	}
	return nil
}

func (o *Outbound) refreshBacklog(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, settleTimeout)
	defer cancel()
	n, err := o.store.Backlog(ctx)
	if err != nil {
		if ctx.Err() == nil {
			o.log.Warn("outbound: counting the backlog", "err", err)
		}
		return
	}
	o.m.backlog.Set(float64(n))
}

// margin is how long before its lease ends a conversation's delivery
// stops: room for the Settle.
func (o *Outbound) margin() time.Duration { return min(settleTimeout, o.lease/4) }

// minBudget is the least lease time left for which another entry is
// started.
func (o *Outbound) minBudget() time.Duration { return min(10*time.Second, o.lease/4) }

// deliver delivers leased conversation p: ctx carries the calls (it ends
// after the shutdown's grace), stop ends when no more entries should be
// started. leasedAt is when the lease was asked for.
func (o *Outbound) deliver(ctx, stop context.Context, p Pending, leasedAt time.Time) {
	channel, _, _ := strings.Cut(p.Key, ":")
	log := o.log.With("channel", channel, "conversation", p.Key)
	o.mu.Lock()
	ch := o.channels[channel]
	o.mu.Unlock()
	if ch == nil {
		log.Warn("outbound: no deliverer for the conversation's channel")
		o.settle(p, Outcome{Through: p.Cursor, Retry: o.now().Add(noDelivererFor)}, ch, log)
		return
	}
	if until := ch.limiter.pausedUntil(); time.Until(until) >= minPausedFor {
		// The channel is paused by a platform's flood control: nothing
		// can go; keep the worker free for other channels.
		wait := time.Until(until)
		o.settle(p, Outcome{Through: p.Cursor, Retry: o.now().Add(wait)}, ch, log)
		time.AfterFunc(wait, o.Notify)
		return
	}
	deadline := leasedAt.Add(o.lease - o.margin())
	out := Outcome{Through: p.Cursor}
	for {
		if stop.Err() != nil || time.Until(deadline) < o.minBudget() {
			o.settle(p, out, ch, log)
			return
		}
		es, err := o.entries.Entries(ctx, p.Key, out.Through, entriesPage)
		if err != nil {
			log.Error("outbound: reading the log", "after", out.Through, "err", err)
			if out.Through > p.Cursor || len(out.Dead) > 0 {
				o.settle(p, out, ch, log)
			} // else the lease expires and the conversation goes again
			return
		}
		if len(es) == 0 {
			// Caught up. Entries up to p.Last that are gone (forgotten,
			// expired) have nothing left to deliver.
			out.Through = max(out.Through, p.Last)
			o.settle(p, out, ch, log)
			return
		}
		for _, e := range es {
			if e.Seq <= out.Through {
				continue
			}
			if e.Reply == nil || e.Erased || (e.From != FromBot && e.From != FromAgent) {
				out.Through = e.Seq
				continue
			}
			if stop.Err() != nil || time.Until(deadline) < o.minBudget() {
				o.settle(p, out, ch, log)
				return
			}
			if !o.deliverEntry(ctx, p, e, ch, deadline, &out, log) {
				return
			}
		}
		if len(es) < entriesPage { // the whole log is read
			out.Through = max(out.Through, p.Last)
			o.settle(p, out, ch, log)
			return
		}
	}
}

// deliverEntry sends e and records the result in out. It returns whether
// to go on with the next entry; if not, it has settled p.
func (o *Outbound) deliverEntry(ctx context.Context, p Pending, e Entry, ch *outChannel, deadline time.Time, out *Outcome, log *slog.Logger) bool {
	pc := &pacer{o: o, ch: ch, key: p.Key, deadline: deadline}
	dctx, cancel := context.WithDeadline(WithPacer(ctx, pc), deadline)
	err := callDeliver(dctx, ch.d, p.Key, e)
	cancel()
	pc.finish()
	now := o.now()
	var ra *RetryAfterError
	switch {
	case err == nil:
		at := e.At
		if at.IsZero() {
			at = p.Since
		}
		o.m.sent.WithLabelValues(ch.name).Inc()
		if !at.IsZero() {
			o.m.latency.WithLabelValues(ch.name).Observe(max(now.Sub(at), 0).Seconds())
		}
		out.Through = e.Seq
		return true
	case pc.stopped():
		// The limits would hold the next call past the lease: stop here,
		// due again when the channel is free.
		if wait := time.Until(pc.retryAt()); wait >= minPausedFor {
			out.Retry = now.Add(wait)
			time.AfterFunc(wait, o.Notify)
		}
		log.Debug("outbound: delivery stopped before the lease ends", "seq", e.Seq)
		o.settle(p, *out, ch, log)
		return false
	case errors.As(err, &ra):
		after := ra.After
		if after <= 0 {
			after = time.Second
		}
		ch.limiter.pause(time.Now().Add(after))
		o.m.rateLimited.WithLabelValues(ch.name).Inc()
		log.Warn("outbound: rate limited by the platform; channel paused", "seq", e.Seq, "for", after)
		out.Retry = now.Add(after)
		o.settle(p, *out, ch, log)
		time.AfterFunc(after, o.Notify)
		return false
	case errors.Is(err, ErrHold):
		o.m.held.WithLabelValues(ch.name).Inc()
		log.Info("outbound: delivery held until the shopper writes", "seq", e.Seq)
		out.Hold = true
		o.settle(p, *out, ch, log)
		return false
	case errors.Is(err, ErrUndeliverable):
		o.deadLetter(p, e, err, now, out, log)
		return true
	case ctx.Err() != nil || !time.Now().Before(deadline):
		// Shutdown after the grace period, or the lease ran out: the
		// entry may or may not have gone; it goes (again) later.
		log.Warn("outbound: delivery cut short", "seq", e.Seq, "err", err)
		o.settle(p, *out, ch, log)
		return false
	}
	attempts := p.Attempts
	if out.Through > p.Cursor {
		attempts = 0 // this lease moved on to a new entry
	}
	if attempts+1 >= o.maxTries {
		o.deadLetter(p, e, err, now, out, log)
		return true
	}
	wait := o.backoff(attempts)
	o.m.retried.WithLabelValues(ch.name).Inc()
	log.Warn("outbound: delivery failed; will retry", "seq", e.Seq, "attempt", attempts+1, "in", wait, "err", err)
	out.Retry = now.Add(wait)
	o.settle(p, *out, ch, log)
	time.AfterFunc(wait, o.Notify)
	return false
}

// callDeliver calls d, turning a panic into an error.
func callDeliver(ctx context.Context, d Deliverer, key string, e Entry) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("bot: outbound: deliverer panicked: %v", r)
		}
	}()
	return d.Deliver(ctx, key, e)
}

func (o *Outbound) deadLetter(p Pending, e Entry, err error, now time.Time, out *Outcome, log *slog.Logger) {
	reason := err.Error()
	if len(reason) > maxReason {
		reason = strings.ToValidUTF8(reason[:maxReason], "") + "…"
	}
	log.Warn("outbound: entry dead-lettered", "seq", e.Seq, "err", err)
	out.Dead = append(out.Dead, DeadLetter{Key: p.Key, Seq: e.Seq, Reason: reason, At: now})
	out.Through = e.Seq
}

// backoff is the wait after the attempts+1th failure: full jitter.
func (o *Outbound) backoff(attempts int) time.Duration {
	ceil := o.backoffBase
	for i := 0; i < attempts && ceil < o.backoffMax; i++ {
		ceil *= 2
	}
	return rand.N(min(ceil, o.backoffMax)) + time.Millisecond
}

// settle records out for p, with its own timeout so that it also runs at
// shutdown.
func (o *Outbound) settle(p Pending, out Outcome, ch *outChannel, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), settleTimeout)
	defer cancel()
	err := o.store.Settle(ctx, p, out)
	switch {
	case errors.Is(err, ErrLockLost):
		log.Warn("outbound: lease lost before settling; entries may go twice", "through", out.Through)
		return
	case err != nil:
		log.Error("outbound: settling", "through", out.Through, "err", err)
		return
	}
	if ch != nil && len(out.Dead) > 0 {
		o.m.dead.WithLabelValues(ch.name).Add(float64(len(out.Dead)))
	}
	if out.Retry.IsZero() && !out.Hold {
		o.Notify() // it may be due again at once
	}
}

func (o *Outbound) lastCall(key string) time.Time {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.last[key]
}

func (o *Outbound) setLastCall(key string, at time.Time, keep time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.last[key] = at
	if o.lastN++; o.lastN%1024 == 0 {
		for k, t := range o.last {
			if at.Sub(t) > max(keep, time.Minute) {
				delete(o.last, k)
			}
		}
	}
}

// pacer is the Pacer a Deliverer finds in its context: before each
// platform call it waits for the conversation's interval and the
// channel's limiter, and gives up (errLeaseEnding) when that would outlast
// the lease.
//
// Both limits count from the end of earlier calls, not their start, so
// that the platform, which counts calls as they reach it, sees them as far
// apart as they are meant to be whatever the network does to each. A call
// ends, at the latest, when the next Wait comes or Deliver returns.
type pacer struct {
	o        *Outbound
	ch       *outChannel
	key      string
	deadline time.Time

	mu      sync.Mutex
	stop    bool
	until   time.Time
	pending bool   // a call is under way since the last Wait
	ticket  uint64 // its ticket from the limiter
}

// Wait implements Pacer.
func (p *pacer) Wait(ctx context.Context) error {
	p.finish()
	if iv := p.ch.limits.PerConversation; iv > 0 {
		next := p.o.lastCall(p.key).Add(iv)
		if wait := time.Until(next); wait > 0 {
			if next.After(p.deadline) {
				return p.giveUp(next)
			}
			if err := sleep(ctx, wait); err != nil {
				return err
			}
		}
	}
	ticket, until, err := p.ch.limiter.take(ctx, p.deadline)
	if errors.Is(err, errLeaseEnding) {
		return p.giveUp(until)
	}
	if err != nil {
		return err
	}
	p.o.setLastCall(p.key, time.Now(), p.ch.limits.PerConversation)
	p.mu.Lock()
	p.pending, p.ticket = true, ticket
	p.mu.Unlock()
	return nil
}

// finish records that the call under way, if any, has ended.
func (p *pacer) finish() {
	p.mu.Lock()
	pending, ticket := p.pending, p.ticket
	p.pending = false
	p.mu.Unlock()
	if pending {
		p.ch.limiter.done(ticket)
		p.o.setLastCall(p.key, time.Now(), p.ch.limits.PerConversation)
	}
}

func (p *pacer) giveUp(until time.Time) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stop, p.until = true, until
	return errLeaseEnding
}

func (p *pacer) stopped() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stop
}

func (p *pacer) retryAt() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.until
}

// limiter paces a channel's calls. Its limit is a sliding window: a call
// starts only when, of the last n calls, at least one ended w ago or more
// (n/w = Limits.PerSecond, w about a second), so that however late each
// call reached the platform, the platform sees at most n in any window of
// w. Calls are also spread out by a token bucket of Limits.Burst tokens
// refilled a quarter faster than the limit, so that they do not all start
// at once. Both are measured on the real clock, so a waiter woken late
// does not make a later call early. Waiters take their turn one at a
// time. A platform's flood control pauses it.
type limiter struct {
	n      int
	w      time.Duration // 0 for no limit
	refill float64       // tokens a second
	burst  float64
	turn   chan struct{}

	mu     sync.Mutex
	calls  []call // the last n calls, a ring
	seq    uint64 // tickets handed out
	tokens float64
	at     time.Time
	paused time.Time
}

// call is a call the limiter let start.
type call struct {
	ticket     uint64
	start, end time.Time // end is zero while it is under way
}

const (
	// inflightCap is the longest a call is taken to be under way: one
	// whose end was never reported counts as ended after it.
	inflightCap = time.Second
	// inflightPoll is how often a waiter looks again while the calls that
	// hold the window are all under way.
	inflightPoll = 2 * time.Millisecond
)

func newLimiter(perSecond float64, burst int) *limiter {
	b := float64(max(burst, 1))
	l := &limiter{burst: b, tokens: b, turn: make(chan struct{}, 1)}
	if perSecond <= 0 {
		return l
	}
	l.n = max(int(perSecond), 1)
	l.w = time.Duration(float64(l.n) / perSecond * float64(time.Second))
	l.refill = perSecond * 1.25
	return l
}

// pause starts no call before until.
func (l *limiter) pause(until time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if until.After(l.paused) {
		l.paused = until
	}
}

func (l *limiter) pausedUntil() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.paused
}

// take waits until a call may start and returns its ticket for done. If
// the wait would end after deadline it returns errLeaseEnding and when the
// wait would have ended.
func (l *limiter) take(ctx context.Context, deadline time.Time) (uint64, time.Time, error) {
	if until := l.pausedUntil(); until.After(deadline) {
		return 0, until, errLeaseEnding
	}
	t := time.NewTimer(time.Until(deadline))
	select {
	case l.turn <- struct{}{}:
		t.Stop()
	case <-ctx.Done():
		t.Stop()
		return 0, time.Time{}, ctx.Err()
	case <-t.C:
		return 0, time.Now(), errLeaseEnding
	}
	defer func() { <-l.turn }()
	for {
		now := time.Now()
		ticket, wait := l.try(now)
		if wait <= 0 {
			return ticket, time.Time{}, nil
		}
		if now.Add(wait).After(deadline) {
			return 0, now.Add(wait), errLeaseEnding
		}
		if err := sleep(ctx, wait); err != nil {
			return 0, time.Time{}, err
		}
	}
}

// try starts a call at now and returns its ticket, or returns how long to
// wait before trying again.
func (l *limiter) try(now time.Time) (uint64, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Before(l.paused) {
		return 0, l.paused.Sub(now)
	}
	if l.w > 0 {
		if !l.at.IsZero() {
			l.tokens = min(l.burst, l.tokens+now.Sub(l.at).Seconds()*l.refill)
		}
		l.at = now
		var wait time.Duration
		if l.tokens < 1 {
			wait = time.Duration((1 - l.tokens) / l.refill * float64(time.Second))
		}
		if len(l.calls) == l.n {
			var first time.Time // the earliest end among the last n calls
			for _, c := range l.calls {
				end := c.end
				if end.IsZero() {
					if now.Sub(c.start) < inflightCap {
						continue
					}
					end = c.start.Add(inflightCap)
				}
				if first.IsZero() || end.Before(first) {
					first = end
				}
			}
			if first.IsZero() {
				wait = max(wait, inflightPoll)
			} else {
				wait = max(wait, first.Add(l.w).Sub(now))
			}
		}
		if wait > 0 {
			return 0, wait
		}
		l.tokens--
	}
	l.seq++
	c := call{ticket: l.seq, start: now}
	switch {
	case l.w == 0:
	case len(l.calls) < l.n:
		l.calls = append(l.calls, c)
	default:
		l.calls[int((l.seq-1)%uint64(l.n))] = c
	}
	return l.seq, 0
}

// done records that the call with ticket has ended.
func (l *limiter) done(ticket uint64) {
	if l.w == 0 || ticket == 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if i := int((ticket - 1) % uint64(l.n)); i < len(l.calls) && l.calls[i].ticket == ticket {
		l.calls[i].end = time.Now()
	}
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

type outboundMetrics struct {
	sent, retried, rateLimited, held, dead *prometheus.CounterVec
	latency                                *prometheus.HistogramVec
	backlog                                prometheus.Gauge
}

func newOutboundMetrics(reg prometheus.Registerer) *outboundMetrics {
	counter := func(name, help string) *prometheus.CounterVec {
		c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, []string{"channel"})
		return register(reg, c)
	}
	m := &outboundMetrics{
		sent:        counter("bottega_outbound_sent_total", "Log entries delivered by the outbound queue, by channel."),
		retried:     counter("bottega_outbound_retried_total", "Deliveries that failed and will be tried again after a backoff, by channel."),
		rateLimited: counter("bottega_outbound_rate_limited_total", "Deliveries refused by a platform's rate limit (429), by channel."),
		held:        counter("bottega_outbound_held_total", "Deliveries held until the shopper writes again, by channel."),
		dead:        counter("bottega_outbound_dead_letters_total", "Log entries given up on, by channel."),
		latency: register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "bottega_outbound_delivery_latency_seconds",
			Help:    "Time from a reply's entry to its delivery, by channel.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2.5, 12),
		}, []string{"channel"})),
		backlog: register(reg, prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "bottega_outbound_backlog",
			Help: "Conversations waiting in the outbound queue (due, later, held or leased), all channels.",
		})),
	}
	return m
}

// register registers c with reg, or returns the collector registered
// before under the same name (a second queue on one registry).
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if reg == nil {
		return c
	}
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if old, ok := are.ExistingCollector.(C); ok {
				return old
			}
		}
		panic(fmt.Sprintf("bot: outbound metrics: %v", err))
	}
	return c
}
