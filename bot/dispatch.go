package bot

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Errors a Store returns from Acquire and Commit, besides ErrDuplicate and
// ErrLockLost. The Dispatcher handles ErrBusy and ErrGap itself.
var (
	// ErrBusy means another worker holds the conversation, or messages
	// that go before this one are waiting: try again shortly.
	ErrBusy = errors.New("bot: conversation busy")
	// ErrGap means a message that goes before this one (by Seq) has not
	// been handled yet.
	ErrGap = errors.New("bot: earlier message not handled yet")
	// ErrStale means the session state changed since the lease read it;
	// nothing was saved.
	ErrStale = errors.New("bot: session state changed since it was read")
)

// ArchivedLog is part of a conversation's log moved to an archive, out
// of a store that keeps only a short tail (redisdialogs.WithArchive):
// entries of log generation Gen of the conversation the store names Name,
// to be kept until Until.
type ArchivedLog struct {
	Name    string
	Gen     int64
	Until   time.Time
	Entries []Entry
}

// Store keeps, per conversation (a Message.Key), what a Dispatcher needs to
// handle each message once and in order, across goroutines and replicas: a
// lock with a lease and a fencing token, a queue of the messages waiting
// for the lock, "done" marks that expire, the session state with a version
// that each save increments, and the conversation's log.
//
// A Store holds no policy: the Dispatcher passes lease and queue times in
// each Claim and the expiry times in each Update. Implementations are
// package dialogs/redisdialogs (Redis) and dialogs/sqldialogs (Postgres or
// SQLite); bottest.TestStore is their contract.
type Store interface {
	// Acquire asks for the turn of message c.MessageID in conversation key.
	//
	// If the message was committed with a done mark that has not expired,
	// Acquire returns ErrDuplicate. Otherwise it grants the lock when the
	// message goes first among the messages waiting for key — the queue
	// is ordered by Seq, then by first arrival — and no unexpired lease is
	// held: it takes a lease of c.Lease under a new fencing token (larger
	// than every token key had before), removes the message from the
	// queue and returns the session read under the lock.
	//
	// When the lock cannot be granted, Acquire puts the message in the
	// queue, or keeps its place there, for c.Wait (a place not renewed by
	// another Acquire within c.Wait is dropped, so a caller that gave up
	// without Release blocks no one for long) and returns ErrBusy; or, if
	// only the order stands in the way — c.InOrder is set, c.Seq > 0, and
	// the highest Seq committed for key is below c.Seq-1 — ErrGap.
	Acquire(ctx context.Context, key string, c Claim) (*Lease, error)

	// Commit saves a turn and releases l's lock, all or nothing: unless
	// u.KeepState, the new state (none when u.State is empty) with the
	// version incremented; u.Entries appended to the log with the next
	// Seq numbers (gapless, from 1 per conversation); the done mark for
	// u.MessageID if it is not empty; and u.Seq as the highest Seq
	// committed if it is higher. It returns the entries as stored: Seq and
	// Conversation set, At in UTC to the microsecond. Subscribers of the
	// conversation are signalled if entries were appended.
	//
	// If l's lease expired or another lease was granted since, Commit
	// returns ErrLockLost; if the session's version is no longer
	// l.Version, ErrStale. Nothing is written then.
	//
	// The state expires u.SessionTTL after the last commit, the done mark
	// u.DedupeTTL after this one, and the log — kept whole — u.LogTTL
	// after its last entry. An expired state reads as none; the log
	// outlives it if u.LogTTL is longer. Once state and log have both
	// expired the store may forget the conversation, which then starts
	// over with Seq 1 — not sooner than a day after its last lease, so
	// that no fencing token is granted twice.
	Commit(ctx context.Context, l *Lease, u Update) ([]Entry, error)

	// Release takes message messageID out of key's queue and, if token is
	// the token of the lease held now, releases the lock. It saves
	// nothing. A token of 0 only leaves the queue.
	Release(ctx context.Context, key, messageID string, token int64) error

	// Entries returns up to limit (> 0) of key's log entries with Seq >
	// after, oldest first; none for an unknown conversation.
	Entries(ctx context.Context, key string, after int64, limit int) ([]Entry, error)

	// Subscribe returns a channel that receives a value soon after any
	// commit that appends entries to key, from any process sharing the
	// store. Each value is the highest entry Seq committed in key as far
	// as the sender knows — at least the last Seq of the commit signalled
	// — or 0 when it is unknown: after a reconnection, or anything else
	// that may have missed commits.
	//
	// Signals never block the store and are coalesced, as Signal does: the
	// channel has room for one value, and a signal that finds one pending
	// replaces it by their merge (0 if either is 0, else the higher), so
	// a late, stale signal never lowers the value pending. A value may be
	// stale all the same (a commit already read, signalled again or late)
	// and a 0 may come without new entries: a subscriber reads Entries
	// after the last Seq it has unless the value is non-zero and not above
	// that Seq.
	//
	// The subscription is in effect when Subscribe returns. cancel (or the
	// end of ctx) stops it and closes the channel.
	Subscribe(ctx context.Context, key string) (ch <-chan int64, cancel func())
}

// Signal puts seq, the highest Seq committed or 0 for unknown, on ch, a
// Store.Subscribe channel of capacity 1, without blocking: a value already
// pending is replaced by the merge of both, 0 if either is 0, else the
// higher. Stores call it for each subscriber; it must not run at the same
// time as the close of ch.
func Signal(ch chan int64, seq int64) {
	for {
		select {
		case ch <- seq:
			return
		default:
		}
		// Full: take the pending value and merge it. Another sender may
		// fill the channel meanwhile; its value is merged on the next
		// round, so none is lost.
		select {
		case old := <-ch:
			if old == 0 || seq == 0 {
				seq = 0
			} else {
				seq = max(seq, old)
			}
		default:
		}
	}
}

// Claim is a request for a conversation's turn.
type Claim struct {
	// MessageID identifies the message in the queue and for dedupe.
	MessageID string
	// Seq orders the queue; 0 sorts first, and messages of equal Seq go in
	// order of arrival.
	Seq int64
	// InOrder asks Acquire to return ErrGap while an earlier Seq is missing.
	InOrder bool
	// Lease is how long the lock is held unless committed or released.
	Lease time.Duration
	// Wait is how long a place in the queue lasts without a new Acquire.
	Wait time.Duration
}

// Lease is a granted turn: the lock on a conversation and the session read
// under it.
type Lease struct {
	Key       string
	MessageID string
	// Token is the fencing token; Commit succeeds only while it is the
	// conversation's current one.
	Token int64
	// State is the saved session state, nil for none (new or expired).
	State []byte
	// Version counts the saves of the state.
	Version int64
	// LastSeq is the highest Message.Seq committed in the conversation.
	LastSeq int64
}

// Update is what Commit saves.
type Update struct {
	// MessageID is marked done; empty for none.
	MessageID string
	// Seq is the Message.Seq handled, 0 for none.
	Seq int64
	// State replaces the session state unless KeepState; empty deletes it.
	State     []byte
	KeepState bool
	// Entries are appended to the log; the store sets Seq and Conversation.
	Entries []Entry
	// Deliver marks the conversation due in the outbound queue (see
	// OutboxStore) in the same atomic write, for channels that push
	// replies (Telegram, Messenger). Stores that do not implement
	// OutboxStore ignore it.
	Deliver bool
	// Forget erases the conversation before this update is applied, in the
	// same atomic write: the state, every earlier log entry, the done marks
	// and the pending delivery are deleted (as Forgetter.Forget does); then
	// Entries are appended with the following Seq numbers, so a client
	// resuming from its last Seq still gets them. The log then expires
	// after LogTTL.
	Forget bool
	// Expiry times, all > 0.
	SessionTTL, DedupeTTL, LogTTL time.Duration
}

// Dispatcher defaults.
const (
	// DefaultLease bounds how long a turn holds a conversation if its
	// worker dies; the handler's context ends at three quarters of it.
	DefaultLease = 20 * time.Second
	// DefaultSessionTTL is how long an idle session is kept.
	DefaultSessionTTL = 30 * 24 * time.Hour
	// DefaultDedupeTTL is how long a handled message ID is remembered.
	DefaultDedupeTTL = 7 * 24 * time.Hour
	// DefaultLogTTL is how long a conversation's log is kept after its
	// last entry.
	DefaultLogTTL = 90 * 24 * time.Hour
	// DefaultFarewellTTL is how long the confirmation of an erasure is
	// kept in the forgotten conversation's log so that the shopper's
	// channel can deliver it.
	DefaultFarewellTTL = time.Hour
	// DefaultGapWait is how long a message waits for a missing earlier
	// Seq on a channel with contiguous Seq numbers.
	DefaultGapWait = 2 * time.Second
	// DefaultEntriesLimit and MaxEntriesLimit bound Entries' page size.
	DefaultEntriesLimit = 100
	MaxEntriesLimit     = 1000
)

const (
	queueWait = 5 * time.Second       // Claim.Wait
	minPause  = time.Millisecond      // first wait between Acquire calls
	maxPause  = 16 * time.Millisecond // longest wait between Acquire calls
	// releaseTimeout bounds a Release made after the caller's context ended.
	releaseTimeout = 5 * time.Second
)

// Dispatcher hands each inbound message to the Handler once, one at a time
// per conversation and in order, across goroutines and across processes
// sharing its Store, and keeps the conversation's log.
//
// A turn: the message joins its conversation's queue; when it is first and
// the conversation's lock is free, the Dispatcher takes the lock (a lease
// with a fencing token), calls the Handler with the saved state, and
// commits the new state, the log entries and the message's done mark
// together, releasing the lock. A redelivered message ID finds the done
// mark and is not handled again.
//
// Order. Messages waiting for a conversation at the same time are handled
// in Seq order, then in order of arrival at the store. On channels whose
// Seq numbers are contiguous (web chat by default: the client counts from
// 1), a message also waits up to the gap wait for missing earlier Seq
// numbers, so two messages sent together and arriving in either order are
// handled in the order sent; after that wait it goes ahead. On other
// channels, and when Seq is 0, messages are handled one at a time in the
// order they reach the store: a message that arrives after a later one was
// handled is handled late, not dropped.
//
// State. The handler gets the state it last returned for the conversation,
// nil for a new one or after the session's idle TTL; returning nil or an
// empty state ends the session.
//
// Failures. A handler error or panic saves nothing, releases the lock and
// is returned (the panic re-raised); a retry of the same message ID runs
// the handler again. If a turn outlives its lease and another takes the
// conversation, its commit fails with ErrLockLost and writes nothing.
type Dispatcher struct {
	store Store
	h     Handler
	now   func() time.Time

	lease, gapWait                time.Duration
	sessionTTL, dedupeTTL, logTTL time.Duration
	farewellTTL                   time.Duration
	inOrder                       map[string]bool
	deliver                       map[string]bool // channels whose replies the outbound queue pushes
	sealer                        Sealer
	turns                         *prometheus.HistogramVec // by channel and phase; nil: not measured

	mu      sync.Mutex
	waiters map[string]*waiter // by conversation key
}

// waiter wakes the goroutines of this Dispatcher that wait for a key.
type waiter struct {
	ch chan struct{} // closed when the key is released
	n  int
}

// DispatcherOption configures a Dispatcher.
type DispatcherOption func(*Dispatcher)

// WithLease sets how long a turn may hold its conversation (default
// DefaultLease). The handler's context ends at three quarters of it.
func WithLease(d time.Duration) DispatcherOption {
	return func(x *Dispatcher) { x.lease = d }
}

// WithSessionTTL sets how long an idle session's state is kept (default
// DefaultSessionTTL); after it, the next message starts a new session.
func WithSessionTTL(d time.Duration) DispatcherOption {
	return func(x *Dispatcher) { x.sessionTTL = d }
}

// WithDedupeTTL sets how long a handled message ID is remembered (default
// DefaultDedupeTTL).
func WithDedupeTTL(d time.Duration) DispatcherOption {
	return func(x *Dispatcher) { x.dedupeTTL = d }
}

// WithLogTTL sets how long a conversation's log is kept after its last
// entry (default DefaultLogTTL).
func WithLogTTL(d time.Duration) DispatcherOption {
	return func(x *Dispatcher) { x.logTTL = d }
}

// WithGapWait sets how long a message waits for a missing earlier Seq on a
// channel with contiguous Seq numbers (default DefaultGapWait).
func WithGapWait(d time.Duration) DispatcherOption {
	return func(x *Dispatcher) { x.gapWait = d }
}

// WithContiguousSeq names the channels whose Seq numbers count up by one
// in each conversation (default: WebChat only).
func WithContiguousSeq(channels ...string) DispatcherOption {
	return func(x *Dispatcher) {
		x.inOrder = make(map[string]bool, len(channels))
		for _, c := range channels {
			x.inOrder[c] = true
		}
	}
}

// WithDelivery names the channels whose replies go out through the
// outbound queue (see OutboxStore): their turns are committed with
// Update.Deliver.
func WithDelivery(channels ...string) DispatcherOption {
	return func(x *Dispatcher) {
		x.deliver = make(map[string]bool, len(channels))
		for _, c := range channels {
			x.deliver[c] = true
		}
	}
}

// WithSealer encrypts session states and log entries with s before they
// reach the store, and decrypts what is read back.
func WithSealer(s Sealer) DispatcherOption {
	return func(x *Dispatcher) { x.sealer = s }
}

// WithFarewellTTL sets how long a forgotten conversation keeps the
// confirmation of its erasure (default DefaultFarewellTTL).
func WithFarewellTTL(d time.Duration) DispatcherOption {
	return func(x *Dispatcher) { x.farewellTTL = d }
}

// WithMetrics registers with reg the histogram of turn durations,
// bottega_turn_duration_seconds{channel,phase}: "wait" until the
// conversation is ours (the lock, earlier messages, the session read),
// "handle" for the handler, "commit" for sealing and saving, and "total".
func WithMetrics(reg prometheus.Registerer) DispatcherOption {
	return func(x *Dispatcher) {
		x.turns = register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "bottega_turn_duration_seconds",
			Help:    "Time a shopper's message takes from arrival to its committed replies, by channel and phase (wait, handle, commit, total).",
			Buckets: []float64{.0005, .001, .002, .004, .006, .008, .01, .015, .02, .025, .035, .05, .075, .1, .25, .5, 1, 2.5, 5},
		}, []string{"channel", "phase"}))
	}
}

// WithNow sets the clock that stamps log entries (default time.Now).
func WithNow(now func() time.Time) DispatcherOption {
	return func(x *Dispatcher) { x.now = now }
}

// NewDispatcher returns a Dispatcher that hands messages to h and keeps
// conversations in store.
func NewDispatcher(store Store, h Handler, opts ...DispatcherOption) *Dispatcher {
	d := &Dispatcher{
		store: store, h: h, now: time.Now,
		lease: DefaultLease, gapWait: DefaultGapWait,
		sessionTTL: DefaultSessionTTL, dedupeTTL: DefaultDedupeTTL, logTTL: DefaultLogTTL,
		farewellTTL: DefaultFarewellTTL,
		inOrder:     map[string]bool{WebChat: true},
		waiters:     make(map[string]*waiter),
	}
	for _, o := range opts {
		o(d)
	}
	return d
}

// Dispatch handles m exactly once and in order within its conversation
// (m.Key()), then returns the log entries it appended: the shopper's
// message first, then the replies. A redelivered m.ID returns ErrDuplicate
// and changes nothing. Dispatch waits for the conversation's earlier
// messages as long as ctx allows.
func (d *Dispatcher) Dispatch(ctx context.Context, m Message) ([]Entry, error) {
	switch {
	case m.ID == "":
		return nil, errors.New("bot: dispatch: message has no id")
	case m.Channel == "" || m.Conversation == "":
		return nil, fmt.Errorf("bot: dispatch message %s: no channel or conversation", m.ID)
	}
	key := m.Key()
	inOrder := m.Seq > 0 && d.inOrder[m.Channel]
	arrived := time.Now()
	l, start, err := d.acquire(ctx, key, Claim{MessageID: m.ID, Seq: m.Seq}, inOrder)
	if err != nil {
		return nil, fmt.Errorf("bot: dispatch message %s of %s: %w", m.ID, key, err)
	}
	committed := false
	defer func() {
		if !committed { // a handler error or panic, or a failed commit
			d.release(ctx, key, m.ID, l.Token)
		}
	}()

	state, err := d.open(ctx, key, l.State)
	if err != nil {
		return nil, fmt.Errorf("bot: dispatch message %s of %s: session: %w", m.ID, key, err)
	}
	t := &Turn{key: key}
	handling := time.Now()
	hctx, cancel := context.WithDeadline(context.WithValue(ctx, turnKey{}, t), start.Add(d.lease*3/4))
	state, replies, err := d.h.Handle(hctx, state, m)
	cancel()
	handled := time.Now()
	if err != nil {
		return nil, fmt.Errorf("bot: handle message %s of %s: %w", m.ID, key, err)
	}

	now := d.now()
	at := m.At
	if at.IsZero() {
		at = now
	}
	text := m.Text
	if text == "" {
		text = m.Payload
	}
	u := Update{
		MessageID: m.ID, Seq: m.Seq, Deliver: d.deliver[m.Channel],
		SessionTTL: d.sessionTTL, DedupeTTL: d.dedupeTTL, LogTTL: d.logTTL,
	}
	if t.forget {
		// Nothing of the person stays: not the words that asked for the
		// erasure, not the state; only the replies confirming it, for a
		// short while.
		text, state = "", nil
		u.Forget, u.LogTTL = true, d.farewellTTL
	}
	entries := make([]Entry, 0, 1+len(replies))
	entries = append(entries, Entry{From: FromShopper, MessageID: m.ID, Text: text, At: at})
	entries = appendReplies(entries, FromBot, m.ID, replies, now)
	out, err := d.commit(ctx, l, u, state, entries)
	if err != nil {
		return nil, fmt.Errorf("bot: save message %s of %s: %w", m.ID, key, err)
	}
	committed = true
	d.wake(key)
	if d.turns != nil {
		done := time.Now()
		d.turns.WithLabelValues(m.Channel, "wait").Observe(handling.Sub(arrived).Seconds())
		d.turns.WithLabelValues(m.Channel, "handle").Observe(handled.Sub(handling).Seconds())
		d.turns.WithLabelValues(m.Channel, "commit").Observe(done.Sub(handled).Seconds())
		d.turns.WithLabelValues(m.Channel, "total").Observe(done.Sub(arrived).Seconds())
	}
	return out, nil
}

// Turn is what a Handler can ask of the Dispatcher about the turn it is
// handling; TurnOf finds it in the handler's context.
type Turn struct {
	key    string
	forget bool
}

// Key is the conversation's key (Message.Key).
func (t *Turn) Key() string { return t.key }

type turnKey struct{}

// TurnOf returns the turn being handled under ctx, or nil outside a
// Dispatcher's call to Handle.
func TurnOf(ctx context.Context) *Turn {
	t, _ := ctx.Value(turnKey{}).(*Turn)
	return t
}

// Forget asks the Dispatcher to erase the conversation when it commits the
// turn (see Update.Forget): the turn's replies are kept, briefly, so that
// they reach the shopper; the shopper's words and the state are not.
func (t *Turn) Forget() { t.forget = true }

// commit seals the state and entries and commits them, returning the
// entries as stored with their text and replies in clear.
func (d *Dispatcher) commit(ctx context.Context, l *Lease, u Update, state []byte, entries []Entry) ([]Entry, error) {
	if !u.KeepState {
		var err error
		if u.State, err = d.seal(ctx, l.Key, state); err != nil {
			return nil, fmt.Errorf("sealing the session: %w", err)
		}
	}
	u.Entries = entries
	// A forgotten person's farewell holds nothing of theirs and is not
	// sealed: sealing would make them a new key.
	sealed := d.sealer != nil && !u.Forget
	if sealed {
		u.Entries = make([]Entry, len(entries))
		for i, e := range entries {
			b, err := json.Marshal(sealedEntry{Text: e.Text, Reply: e.Reply})
			if err != nil {
				return nil, fmt.Errorf("sealing entry: %w", err)
			}
			if e.Sealed, err = d.seal(ctx, l.Key, b); err != nil {
				return nil, fmt.Errorf("sealing entry: %w", err)
			}
			e.Text, e.Reply = "", nil
			u.Entries[i] = e
		}
	}
	out, err := d.store.Commit(ctx, l, u)
	if err != nil {
		return nil, err
	}
	if sealed {
		for i := range out {
			if i < len(entries) {
				out[i].Text, out[i].Reply, out[i].Sealed = entries[i].Text, entries[i].Reply, nil
			}
		}
	}
	return out, nil
}

// sealedEntry is what Entry.Sealed holds.
type sealedEntry struct {
	Text  string `json:"t,omitempty"`
	Reply *Reply `json:"r,omitempty"`
}

func (d *Dispatcher) seal(ctx context.Context, key string, plain []byte) ([]byte, error) {
	if d.sealer == nil || len(plain) == 0 {
		return plain, nil
	}
	return d.sealer.Seal(ctx, key, plain)
}

// open decrypts a sealed session state; the state of an erased person
// reads as none.
func (d *Dispatcher) open(ctx context.Context, key string, sealed []byte) ([]byte, error) {
	if d.sealer == nil || len(sealed) == 0 {
		return sealed, nil
	}
	plain, err := d.sealer.Open(ctx, key, sealed)
	if errors.Is(err, ErrErased) {
		return nil, nil
	}
	return plain, err
}

// openEntries decrypts sealed entries in place; an erased person's entries
// come back empty and marked Erased.
func (d *Dispatcher) openEntries(ctx context.Context, key string, es []Entry) error {
	for i := range es {
		e := &es[i]
		if len(e.Sealed) == 0 {
			continue
		}
		if d.sealer == nil {
			return fmt.Errorf("entry %d is sealed and no sealer is configured", e.Seq)
		}
		plain, err := d.sealer.Open(ctx, key, e.Sealed)
		e.Sealed = nil
		switch {
		case errors.Is(err, ErrErased):
			e.Erased = true
			continue
		case err != nil:
			return fmt.Errorf("opening entry %d: %w", e.Seq, err)
		}
		var se sealedEntry
		if err := json.Unmarshal(plain, &se); err != nil {
			return fmt.Errorf("opening entry %d: %w", e.Seq, err)
		}
		e.Text, e.Reply = se.Text, se.Reply
	}
	return nil
}

// Append adds entries not caused by a shopper message (an agent's reply, a
// proactive message) to conversation key under its lock, from FromAgent or
// FromBot, and returns them. The session state is kept.
func (d *Dispatcher) Append(ctx context.Context, key string, from string, replies []Reply) ([]Entry, error) {
	switch {
	case key == "":
		return nil, errors.New("bot: append: no conversation")
	case from != FromAgent && from != FromBot:
		return nil, fmt.Errorf("bot: append to %s: sender %q, want %q or %q", key, from, FromAgent, FromBot)
	case len(replies) == 0:
		return nil, nil
	}
	id := "append:" + randomID()
	l, _, err := d.acquire(ctx, key, Claim{MessageID: id}, false)
	if err != nil {
		return nil, fmt.Errorf("bot: append to %s: %w", key, err)
	}
	channel, _, _ := strings.Cut(key, ":")
	out, err := d.commit(ctx, l, Update{
		KeepState: true, Deliver: d.deliver[channel],
		SessionTTL: d.sessionTTL, DedupeTTL: d.dedupeTTL, LogTTL: d.logTTL,
	}, nil, appendReplies(nil, from, "", replies, d.now()))
	if err != nil {
		d.release(ctx, key, id, l.Token)
		return nil, fmt.Errorf("bot: append to %s: %w", key, err)
	}
	d.wake(key)
	return out, nil
}

// Entries returns the conversation's log entries with Seq > after, oldest
// first (for resume and history): up to limit of them, DefaultEntriesLimit
// if limit <= 0, at most MaxEntriesLimit.
func (d *Dispatcher) Entries(ctx context.Context, key string, after int64, limit int) ([]Entry, error) {
	if limit <= 0 {
		limit = DefaultEntriesLimit
	}
	limit = min(limit, MaxEntriesLimit)
	es, err := d.store.Entries(ctx, key, max(after, 0), limit)
	if err != nil {
		return nil, fmt.Errorf("bot: entries of %s: %w", key, err)
	}
	if err := d.openEntries(ctx, key, es); err != nil {
		return nil, fmt.Errorf("bot: entries of %s: %w", key, err)
	}
	return es, nil
}

// Subscribe signals (non-blocking, coalesced) whenever entries are
// appended to key on any replica sharing the store, including by this
// Dispatcher's Dispatch and Append. Each value is the highest entry Seq
// committed as far as the store knows, or 0 when unknown (after a
// reconnection): a subscriber that already has the entries up to a
// non-zero value — those Dispatch returned, say — need not read them
// again. A pending value is merged with the next (0 if either is 0, else
// the higher). cancel, or the end of ctx, stops it and closes the
// channel. See Store.Subscribe.
func (d *Dispatcher) Subscribe(ctx context.Context, key string) (ch <-chan int64, cancel func()) {
	return d.store.Subscribe(ctx, key)
}

// acquire calls Store.Acquire until it grants the lock, waiting between
// calls, and returns the lease and when the successful call started.
func (d *Dispatcher) acquire(ctx context.Context, key string, c Claim, inOrder bool) (*Lease, time.Time, error) {
	c.Lease, c.Wait = d.lease, queueWait
	gapUntil := time.Now().Add(d.gapWait)
	pause := minPause
	queued := false // whether an earlier call put the message in the queue
	for {
		w := d.watch(key)
		start := time.Now()
		c.InOrder = inOrder && start.Before(gapUntil)
		l, err := d.store.Acquire(ctx, key, c)
		if err == nil {
			d.unwatch(key, w)
			return l, start, nil
		}
		if !errors.Is(err, ErrBusy) && !errors.Is(err, ErrGap) {
			d.unwatch(key, w)
			// A redelivery that queued while the original was handled must
			// leave the queue, or it blocks the conversation until it expires.
			if ctx.Err() != nil || (queued && errors.Is(err, ErrDuplicate)) {
				d.release(ctx, key, c.MessageID, 0)
			}
			return nil, start, err
		}
		queued = true
		wait := pause
		if errors.Is(err, ErrGap) {
			wait = min(wait, max(time.Until(gapUntil), 0))
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			d.unwatch(key, w)
			d.release(ctx, key, c.MessageID, 0)
			return nil, start, ctx.Err()
		case <-w.ch:
		case <-t.C:
		}
		t.Stop()
		d.unwatch(key, w)
		pause = min(2*pause, maxPause)
	}
}

// release gives up a turn, also when ctx has ended. Its error is dropped:
// the lease and the queue place expire anyway.
func (d *Dispatcher) release(ctx context.Context, key, id string, token int64) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
	defer cancel()
	_ = d.store.Release(ctx, key, id, token)
	d.wake(key)
}

// watch returns the waiter that wake(key) closes.
func (d *Dispatcher) watch(key string) *waiter {
	d.mu.Lock()
	defer d.mu.Unlock()
	w := d.waiters[key]
	if w == nil {
		w = &waiter{ch: make(chan struct{})}
		d.waiters[key] = w
	}
	w.n++
	return w
}

func (d *Dispatcher) unwatch(key string, w *waiter) {
	d.mu.Lock()
	defer d.mu.Unlock()
	w.n--
	if w.n == 0 && d.waiters[key] == w {
		delete(d.waiters, key)
	}
}

// wake wakes this Dispatcher's goroutines waiting for key.
func (d *Dispatcher) wake(key string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if w := d.waiters[key]; w != nil {
		close(w.ch)
		delete(d.waiters, key)
	}
}

func appendReplies(entries []Entry, from, messageID string, replies []Reply, at time.Time) []Entry {
	for i := range replies {
		r := replies[i]
		entries = append(entries, Entry{From: from, MessageID: messageID, Reply: &r, At: at})
	}
	return entries
}

func randomID() string {
	var b [12]byte
	rand.Read(b[:]) // never fails (crypto/rand)
	return hex.EncodeToString(b[:])
}
