package bot

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// The outbound queue.
//
// Replies on push channels (Telegram, Messenger) are not sent while the
// webhook waits. They are log entries, committed with the turn that made
// them; the same commit marks the conversation as having entries to
// deliver (Update.Deliver). The queue (Outbound) leases due conversations
// from an OutboxStore, reads the entries after the conversation's delivery
// cursor, sends them in order through the channel's Deliverer under the
// channel's rate limits, and settles the cursor. So a reply is queued
// durably exactly when its turn is committed, one conversation's replies go
// out in order, and erasing a conversation's log also drops what it had
// queued.

// Errors a Deliverer returns to steer the queue. Other errors are taken as
// temporary: the entry is retried with backoff and jitter, and dead-lettered
// after the last attempt.
var (
	// ErrHold means the entry cannot go now but may once the shopper
	// writes again (Messenger's 24-hour window has closed): the
	// conversation waits for its next commit.
	ErrHold = errors.New("bot: delivery held until the shopper writes again")
	// ErrUndeliverable means the entry can never go (the shopper blocked
	// the bot, the platform refused the message for good, another app owns
	// the thread): it is dead-lettered with the error as its reason and the
	// queue moves on.
	ErrUndeliverable = errors.New("bot: undeliverable")
)

// RetryAfterError asks the queue to try the entry again after After (a
// platform's 429 with retry_after). The whole channel pauses for After too.
type RetryAfterError struct {
	After time.Duration
	Err   error
}

// Error names the wait and the cause.
func (e *RetryAfterError) Error() string {
	return fmt.Sprintf("retry after %s: %v", e.After, e.Err)
}

// Unwrap returns the cause.
func (e *RetryAfterError) Unwrap() error { return e.Err }

// Deliverer sends one log entry — a reply from the bot or an agent — to the
// conversation key (a Message.Key) on its channel. It calls Pace(ctx)
// before each platform API call it makes, so that a reply sent as several
// platform messages stays within the rate limits.
type Deliverer interface {
	Deliver(ctx context.Context, key string, e Entry) error
}

// DelivererFunc adapts a function to Deliverer.
type DelivererFunc func(ctx context.Context, key string, e Entry) error

// Deliver calls f.
func (f DelivererFunc) Deliver(ctx context.Context, key string, e Entry) error { return f(ctx, key, e) }

// Pacer waits until one more platform call may be made.
type Pacer interface {
	Wait(ctx context.Context) error
}

type pacerKey struct{}

// WithPacer returns ctx carrying p for Pace.
func WithPacer(ctx context.Context, p Pacer) context.Context {
	return context.WithValue(ctx, pacerKey{}, p)
}

// Pace waits for the Pacer in ctx, if any; it returns ctx's error if ctx
// ends first.
func Pace(ctx context.Context) error {
	if p, ok := ctx.Value(pacerKey{}).(Pacer); ok && p != nil {
		return p.Wait(ctx)
	}
	return ctx.Err()
}

// OutboxStore is the durable side of the outbound queue, kept by the same
// stores as the conversations (a commit with Update.Deliver marks the
// conversation due in the same atomic write). bottest.TestOutboxStore is
// its contract.
type OutboxStore interface {
	// Due leases up to n conversations whose delivery is due at or before
	// now and that no unexpired lease holds, for lease, oldest due first.
	Due(ctx context.Context, now time.Time, n int, lease time.Duration) ([]Pending, error)

	// Settle records what the holder of p's lease did and releases the
	// lease. The cursor moves to o.Through (never backwards). Then: with
	// o.Retry set, the conversation is due again at o.Retry and its
	// attempts count one more; with o.Hold, it is not due until a later
	// commit appends entries (if entries were appended since p was leased,
	// that is, the log's last Seq is above p.Last, it is due now);
	// otherwise attempts go back to 0 and, if the cursor has reached the
	// log's last Seq, the conversation leaves the queue, else it is due
	// now. o.Dead are recorded as dead letters. A lease that expired or
	// was taken over returns ErrLockLost and changes nothing.
	Settle(ctx context.Context, p Pending, o Outcome) error

	// DeadLetters returns up to limit dead letters, newest first.
	DeadLetters(ctx context.Context, limit int) ([]DeadLetter, error)

	// Backlog counts the conversations waiting in the queue (due, later,
	// held or leased).
	Backlog(ctx context.Context) (int, error)
}

// Pending is a leased conversation with entries to deliver.
type Pending struct {
	Key string
	// Cursor is the Seq of the last entry settled (delivered, skipped or
	// dead-lettered); delivery resumes after it.
	Cursor int64
	// Last is the Seq of the log's last entry when the lease was granted.
	Last int64
	// Attempts counts the failed tries of the entry after Cursor.
	Attempts int
	// Since is when the conversation became due after being caught up.
	Since time.Time
	// Token identifies the lease.
	Token int64
}

// Outcome is what Settle records.
type Outcome struct {
	Through int64
	Retry   time.Time
	Hold    bool
	Dead    []DeadLetter
}

// DeadLetter is an entry the queue gave up on, with the reason.
type DeadLetter struct {
	Key    string    `json:"conversation"`
	Seq    int64     `json:"seq"`
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
}

// Sealer encrypts what a conversation's store holds about a person: the
// session state and each log entry's text and reply. key is the
// conversation key; the implementation picks that person's key. Open
// returns an error wrapping ErrErased once the person's key is deleted.
type Sealer interface {
	Seal(ctx context.Context, key string, plain []byte) ([]byte, error)
	Open(ctx context.Context, key string, sealed []byte) ([]byte, error)
}

// ErrErased means the data belonged to a person who was erased: their key
// is gone and the data cannot be read.
var ErrErased = errors.New("bot: erased")

// Forgetter deletes everything a store holds about conversation key: the
// session state, the log, the done marks, the queue places and the pending
// delivery. The fencing counter may stay until it expires; it holds
// nothing about the person. bottest.TestStore checks it when the store
// implements it.
type Forgetter interface {
	Forget(ctx context.Context, key string) error
}
