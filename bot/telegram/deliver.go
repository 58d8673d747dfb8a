package telegram

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/bottega-shop/bottega/bot"
)

// Delivery is the Telegram channel's bot.Deliverer for the outbound queue
// (bot.Outbound): it sends a log entry's reply to the chat of its
// conversation key through the Sender, which calls bot.Pace before each
// Bot API call (a card and a long text are several), and turns the
// Sender's errors into the queue's:
//
//   - flood control (429 with retry_after) → *bot.RetryAfterError;
//   - a shopper who blocked the bot or is gone (ErrUnreachable) → recorded
//     as unreachable and bot.ErrUndeliverable;
//   - any other refusal (ErrPermanent) → bot.ErrUndeliverable;
//   - a temporary failure → a plain error, which the queue retries.
//
// A reply cut short after some of its messages went out is resumed from
// the first message not sent (Sender.SendFrom), not sent again from the
// start. What went out is remembered in memory per conversation and entry
// for an hour: a retry on another replica, or after a restart, sends the
// whole reply again.
//
// It is safe for concurrent use.
type Delivery struct {
	sender *Sender
	reach  Reachability
	log    *slog.Logger

	progress bot.Progress
}

// NewDelivery returns a Delivery sending with s and recording unreachable
// shoppers in reach (nil for nowhere), logging to log (nil to discard).
func NewDelivery(s *Sender, reach Reachability, log *slog.Logger) *Delivery {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Delivery{sender: s, reach: reach, log: log}
}

// Deliverer returns the Delivery for the webhook's Sender and
// Reachability. Call it once: each Delivery keeps its own progress of
// replies cut short.
func (w *Webhook) Deliverer() *Delivery {
	return NewDelivery(w.sender, w.reach, w.log)
}

// Deliver implements bot.Deliverer: it sends e's reply to the chat of key
// (see Key). An entry without a reply, or a shopper's, sends nothing.
func (d *Delivery) Deliver(ctx context.Context, key string, e bot.Entry) error {
	if e.Reply == nil || e.From == bot.FromShopper {
		return nil
	}
	chatID, err := ChatID(key)
	if err != nil {
		return fmt.Errorf("telegram: deliver entry %d: %w: %w", e.Seq, bot.ErrUndeliverable, err)
	}
	if d.sender == nil {
		return fmt.Errorf("telegram: deliver entry %d of %s: no sender configured", e.Seq, key)
	}
	err = d.sender.SendFrom(ctx, chatID, *e.Reply, d.progress.Sent(key, e.Seq))
	var partial *PartialError
	if errors.As(err, &partial) {
		d.progress.Record(key, e.Seq, partial.Sent)
	}
	if err == nil {
		d.progress.Forget(key, e.Seq)
		return nil
	}
	where := fmt.Sprintf("telegram: deliver entry %d of %s", e.Seq, key)
	var ra *RetryAfterError
	switch {
	case errors.As(err, &ra):
		return &bot.RetryAfterError{After: ra.After, Err: fmt.Errorf("%s: %w", where, err)}
	case errors.Is(err, ErrUnreachable):
		d.progress.Forget(key, e.Seq)
		if d.reach != nil {
			if rerr := d.reach.SetReachable(ctx, key, false); rerr != nil {
				d.log.Error("telegram: recording an unreachable shopper", "conversation", key, "err", rerr)
			}
		}
		return fmt.Errorf("%s: %w: %w", where, bot.ErrUndeliverable, err)
	case errors.Is(err, ErrPermanent):
		d.progress.Forget(key, e.Seq)
		return fmt.Errorf("%s: %w: %w", where, bot.ErrUndeliverable, err)
	}
	return fmt.Errorf("%s: %w", where, err)
}
