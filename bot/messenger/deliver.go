package messenger

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/bottega-shop/bottega/bot"
)

// DefaultRetryAfter is how long the outbound queue waits after a rate
// limit for which Graph gave no hint.
const DefaultRetryAfter = time.Minute

// Delivery is the Messenger channel's bot.Deliverer for the outbound queue
// (bot.Outbound). It sends a log entry's reply to the shopper of its
// conversation key ("messenger:<PSID>") as RESPONSE messages, one Send API
// call per part of Render (each after bot.Pace), and turns what stands in
// the way into the queue's errors:
//
//   - the shopper last wrote Window ago or more (known before sending, or
//     Graph's 10/2018278) → bot.ErrHold: the reply waits for their next
//     message;
//   - another app owns the thread (a person in the Page Inbox): for a
//     bot reply known before sending, and for any reply Graph refuses
//     with 10/2018300 → bot.ErrUndeliverable: the bot stays silent;
//   - a rate limit (codes 4, 17, 32, 613) → *bot.RetryAfterError after
//     Graph's hint, or DefaultRetryAfter;
//   - an unreachable shopper (551/1545041) → a KindUnreachable event to
//     the EventSink, and bot.ErrUndeliverable;
//   - a temporary failure (Retryable) → a plain error, retried by the
//     queue;
//   - anything else Graph refuses → bot.ErrUndeliverable.
//
// A reply cut short after some of its parts went out is resumed from the
// first part not sent. What went out is remembered in memory per
// conversation and entry for an hour: a retry on another replica, or after
// a restart, sends the whole reply again.
//
// It is safe for concurrent use.
type Delivery struct {
	w *Webhook

	progress bot.Progress
}

// Deliverer returns the webhook's Delivery, which sends with the Sender
// set by WithSender and reads the windows and owners the webhook records.
// Call it once: each Delivery keeps its own progress of replies cut short.
func (w *Webhook) Deliverer() *Delivery {
	return &Delivery{w: w}
}

// Deliver implements bot.Deliverer. An entry without a reply, or not from
// the bot or an agent, sends nothing.
func (d *Delivery) Deliver(ctx context.Context, key string, e bot.Entry) error {
	if e.Reply == nil || (e.From != bot.FromBot && e.From != bot.FromAgent) {
		return nil
	}
	psid, ok := strings.CutPrefix(key, bot.Messenger+":")
	if !ok || psid == "" {
		return fmt.Errorf("messenger: deliver entry %d: conversation %q is not a Messenger shopper: %w", e.Seq, key, bot.ErrUndeliverable)
	}
	where := fmt.Sprintf("messenger: deliver entry %d of %s", e.Seq, key)
	w := d.w
	if w.sender == nil {
		return fmt.Errorf("%s: no sender configured", where)
	}
	th, err := w.threads.Thread(ctx, psid)
	if err != nil {
		return fmt.Errorf("%s: reading the thread: %w", where, err)
	}
	now := w.now()
	switch {
	case e.From == bot.FromBot && th.OwnedByOther(now):
		return fmt.Errorf("%s: %w: %w", where, bot.ErrUndeliverable, ErrThreadOwned)
	case !th.InWindow(now):
		return fmt.Errorf("%s: %w: %w", where, bot.ErrHold, ErrOutsideWindow)
	}
	parts := Render(*e.Reply)
	start := d.progress.Sent(key, e.Seq)
	for i := start; i < len(parts); i++ {
		if _, err := w.sender.SendMessage(ctx, psid, MessagingResponse, parts[i]); err != nil {
			if i > start {
				d.progress.Record(key, e.Seq, i)
			}
			w.sent(ctx, psid, now, err)
			return d.classify(key, e.Seq, fmt.Sprintf("%s: part %d of %d", where, i+1, len(parts)), err)
		}
	}
	d.progress.Forget(key, e.Seq)
	return nil
}

// classify maps a Sender error to the queue's.
func (d *Delivery) classify(key string, seq int64, where string, err error) error {
	var rl *RateLimitError
	switch {
	case errors.As(err, &rl):
		after := rl.RetryAfter
		if after <= 0 {
			after = DefaultRetryAfter
		}
		return &bot.RetryAfterError{After: after, Err: fmt.Errorf("%s: %w", where, err)}
	case errors.Is(err, ErrOutsideWindow):
		return fmt.Errorf("%s: %w: %w", where, bot.ErrHold, err)
	case Retryable(err):
		return fmt.Errorf("%s: %w", where, err)
	}
	// Unreachable, thread owned, or refused for good.
	d.progress.Forget(key, seq)
	return fmt.Errorf("%s: %w: %w", where, bot.ErrUndeliverable, err)
}
