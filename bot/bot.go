// Package bot is the channel-neutral vocabulary of a conversation —
// inbound messages, replies with quick replies, product cards and buttons —
// and the dispatcher that handles each conversation's messages once, one at
// a time, in the order sent, across goroutines and replicas.
//
// Channels (webchat, telegram, messenger) turn platform events into Message
// values and deliver Reply values; the dialog engine (package dialogs) is a
// Handler. bot imports nothing else of Bottega.
package bot

import (
	"context"
	"errors"
	"time"
)

// Channel names.
const (
	WebChat   = "webchat"
	Telegram  = "telegram"
	Messenger = "messenger"
)

// Message is one inbound event from a shopper.
type Message struct {
	// Channel is WebChat, Telegram or Messenger.
	Channel string `json:"channel"`
	// ID is the platform's id for this event (Messenger mid, Telegram
	// update_id, web-chat client_msg_id); a redelivery carries the same ID
	// and is handled once.
	ID string `json:"id"`
	// Conversation is the channel-scoped conversation id (a chat, a thread,
	// a web-chat session).
	Conversation string `json:"conversation"`
	// Sender is the channel-scoped id of the person writing.
	Sender string `json:"sender"`
	// Text is what the shopper typed (or a photo's caption).
	Text string `json:"text,omitempty"`
	// Payload is the payload of a pressed button or quick reply; route by
	// it, not by the button's title.
	Payload string `json:"payload,omitempty"`
	// Locale is what the channel says of the shopper's language ("it_IT",
	// "en-GB"), if anything.
	Locale string `json:"locale,omitempty"`
	// Seq is the message's place in the conversation as the channel orders
	// it (the web-chat client's counter, Telegram's update_id, Messenger's
	// timestamp), or 0 when the channel gives none. The dispatcher handles a
	// conversation's messages in Seq order.
	Seq int64     `json:"seq,omitempty"`
	At  time.Time `json:"at"`
}

// Key identifies the conversation across channels: channel:conversation.
func (m Message) Key() string { return m.Channel + ":" + m.Conversation }

// Button is a link (URL set) or a postback (Payload set).
type Button struct {
	Title   string `json:"title"`
	Payload string `json:"payload,omitempty"`
	URL     string `json:"url,omitempty"`
}

// QuickReply is a suggested answer shown under a message.
type QuickReply struct {
	Title   string `json:"title"`
	Payload string `json:"payload"`
}

// Card shows a product: picture, name, price and buttons.
type Card struct {
	Title    string   `json:"title"`
	Subtitle string   `json:"subtitle,omitempty"`
	ImageURL string   `json:"image_url,omitempty"`
	URL      string   `json:"url,omitempty"`
	Price    string   `json:"price,omitempty"` // formatted for the shopper's language
	Buttons  []Button `json:"buttons,omitempty"`
}

// Reply is one message from the bot. Channels render what they support
// and degrade the rest (e.g. cards as text with a link).
type Reply struct {
	Text         string       `json:"text,omitempty"`
	QuickReplies []QuickReply `json:"quick_replies,omitempty"`
	Cards        []Card       `json:"cards,omitempty"`
	Buttons      []Button     `json:"buttons,omitempty"`
}

// Handler turns one inbound message into replies. It is given the
// conversation's saved state (nil for a new conversation) and returns the
// new state to save. It must not keep state of its own between calls: the
// dispatcher may call it on any replica.
type Handler interface {
	Handle(ctx context.Context, state []byte, m Message) (newState []byte, replies []Reply, err error)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, state []byte, m Message) ([]byte, []Reply, error)

// Handle calls f.
func (f HandlerFunc) Handle(ctx context.Context, state []byte, m Message) ([]byte, []Reply, error) {
	return f(ctx, state, m)
}

// Errors returned by dispatchers and stores.
var (
	// ErrDuplicate means the message was handled before; it is not handled again.
	ErrDuplicate = errors.New("bot: message already handled")
	// ErrLockLost means another worker took the conversation over (the
	// lease expired); nothing was saved.
	ErrLockLost = errors.New("bot: conversation lock lost")
)

// Sender kinds in a conversation's log.
const (
	FromShopper = "shopper"
	FromBot     = "bot"
	FromAgent   = "agent"
)

// Entry is one line of a conversation's log: a shopper's message or a
// reply. Seq numbers are assigned by the store, per conversation, from 1
// with no gaps, so a channel can resume after a reconnect from the last
// Seq it delivered with nothing lost or doubled.
type Entry struct {
	Seq int64 `json:"seq"`
	// Conversation is the Message.Key of the conversation.
	Conversation string `json:"conversation"`
	From         string `json:"from"`
	// MessageID is the inbound Message.ID that this entry is or answers.
	MessageID string    `json:"message_id,omitempty"`
	Text      string    `json:"text,omitempty"`  // the shopper's text or payload title
	Reply     *Reply    `json:"reply,omitempty"` // the bot's or agent's reply
	At        time.Time `json:"at"`
	// Sealed holds Text and Reply encrypted for the store (see Sealer);
	// the Dispatcher seals before Commit and opens what Entries reads, so
	// only stores see it. Stores keep it as it is.
	Sealed []byte `json:"sealed,omitempty"`
	// Erased is set on an entry whose person was erased: it can no longer
	// be read, and Text and Reply are empty.
	Erased bool `json:"erased,omitempty"`
}
