// Package chanstate is what the push channels learn of each shopper besides
// their messages, kept where every replica reads it and a restart finds
// it: Telegram's latest message per chat, whether a shopper can be written
// to (they blocked the bot, or the platform refused them as unavailable),
// Messenger's 24-hour windows and thread owners, and Messenger's
// marketing-message opt-ins with their tokens.
//
// Store is the contract, implemented by sqlchanstate on the system of
// record; chanstatetest holds the suite every implementation passes. The
// state is keyed by conversation key ("telegram:123", "messenger:<PSID>"),
// which is personal data, so a Store is also a consent.Holder: "forget me"
// deletes it.
package chanstate

import (
	"context"
	"log/slog"
	"time"

	"github.com/bottega-shop/bottega/bot"
	"github.com/bottega-shop/bottega/bot/messenger"
	"github.com/bottega-shop/bottega/bot/telegram"
	"github.com/bottega-shop/bottega/consent"
)

// Status is the state of a marketing-message opt-in.
type Status string

// Opt-in statuses.
const (
	// Active: the shopper opted in (or resumed) and may get marketing
	// messages on the opt-in's token.
	Active Status = "active"
	// Stopped: the shopper stopped the messages; the token must not be
	// used until they resume.
	Stopped Status = "stopped"
)

// Optin is a shopper's Messenger marketing-message opt-in as kept: one per
// conversation and token, its status following the shopper's latest stop
// or resume.
type Optin struct {
	// Key is the conversation key, "messenger:<PSID>".
	Key string
	// Token is the notification_messages_token that addresses messages to
	// the shopper. It is a credential: never log it (LogValue leaves it
	// out).
	Token string
	// Type is the opt-in's type, "notification_messages" for marketing
	// messages.
	Type string
	// Topic is the opt-in's title, what the shopper agreed to receive
	// ("Restock"), if Meta sent one.
	Topic string
	// Payload and Ref are the opt-in request's payload and the plugin's
	// ref, if any.
	Payload, Ref string
	// Timezone is notification_messages_timezone.
	Timezone string
	// TokenStatus is user_token_status as Meta last sent it.
	TokenStatus string
	// TokenExpiry is when the token expires; zero when Meta gave none.
	TokenExpiry time.Time
	// Status is Active or Stopped.
	Status Status
	// OptedIn is the time of the latest opt-in event for the token; zero
	// when only a stop or resume was seen.
	OptedIn time.Time
	// Changed is the time of the event that set Status.
	Changed time.Time
}

// LogValue keeps the token and the shopper out of logs.
func (o Optin) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("type", o.Type),
		slog.String("status", string(o.Status)),
		slog.Bool("token", o.Token != ""),
	)
}

// Store keeps the push channels' state of every shopper. Times may arrive
// out of order (platforms redeliver and batch); each piece keeps the
// latest. Implementations are safe for concurrent use, also by several
// processes sharing one backend.
type Store interface {
	// Latest (telegram.LastMessages) records a Telegram message id and
	// returns the chat's largest.
	telegram.LastMessages
	// SetReachable (telegram.Reachability) records whether the shopper of
	// a conversation key can be written to, as of now.
	telegram.Reachability
	// Wrote, SetOwner and Thread (messenger.Threads) keep Messenger's
	// 24-hour windows and thread owners, by PSID. A shopper writing after
	// they were found unreachable is reachable again.
	messenger.Threads
	// Event (messenger.EventSink) records opt-ins (messenger.KindOptin
	// with a token) and unreachable shoppers (messenger.KindUnreachable),
	// once per Event.ID: an ID recorded before changes nothing. Other
	// kinds are not kept.
	messenger.EventSink
	// Reachable reports whether the shopper of a conversation key can be
	// written to: false once they blocked the bot or the platform refused
	// them, until they come back; true for a key never seen.
	Reachable(ctx context.Context, key string) (bool, error)
	// Optins returns a conversation's opt-ins, oldest token first.
	Optins(ctx context.Context, key string) ([]Optin, error)
	// Name, Held, Export and Erase (consent.Holder) serve data-subject
	// requests over the conversations given.
	consent.Holder
}

// MessengerKey is the conversation key of a Messenger shopper.
func MessengerKey(psid string) string { return bot.Messenger + ":" + psid }
