// Package consent keeps the shoppers' consent: the purposes Bottega asks
// about, the versioned notices shown when asking, and the ledger, an
// append-only, hash-chained record of every decision from which the
// current state per person and purpose is derived.
//
// # Subjects
//
// The ledger never holds a name or a platform id in clear. A person is a
// subject, a pseudonymous id made with SubjectID: an HMAC of the channel
// and the channel's user id under the server's secret. Each channel
// identity ("webchat:<session>", "telegram:<chat id>") is a subject of its
// own, until it is linked to a shop customer.
//
// A shop customer is a person whose subject is CustomerSubject of their
// customer id. A channel identity becomes one of the customer's aliases
// when the customer signs in on the web chat (Method SignIn) or opens a
// single-use link code on a messaging app (Method LinkCode); see
// DataRights.LinkCustomer and DataRights.RedeemLinkCode. The first link
// of an identity wins: it is never moved to another person silently
// (ErrConflict). Every link is recorded as a Link event of the person
// naming the alias (Event.Linked), and Ledger.History of the person merges
// the events of every alias it links, so a decision given on any channel
// counts on all of them and the later one wins. Data stays sealed with the
// alias's own key (Keyring), so linking re-encrypts nothing; consent, the
// privacy view, export and erasure work on the person, and erasing it
// erases every alias with it.
//
// # The chain
//
// Events are numbered 1, 2, 3… with no gaps, in the order the ledger
// records them. Each event carries Digest, the SHA-256 of its canonical
// content (every field but the hashes), and Hash, the SHA-256 of the
// previous event's Hash and its own Digest, so changing, removing or
// reordering a stored event breaks the chain and Ledger.Verify names the
// first event that does not check out. Splitting content (Digest) from
// the link (Hash) leaves room for erasure: a later redaction can blank an
// event's content and keep its Digest and Hash, so the chain still verifies
// while only a pseudonymous record that an erasure happened remains.
//
// # State
//
// The state of a purpose for a subject is the last decision recorded for
// it, "last" meaning later in the chain: a grant and a withdraw recorded at
// the same instant are both kept, and the one with the higher ID wins.
// Only a grant makes a purpose usable; nothing is pre-ticked.
package consent

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"time"
)

// Errors returned by the ledger and its stores.
var (
	// ErrInvalid means an event or an argument breaks the ledger's rules.
	ErrInvalid = errors.New("invalid")
	// ErrNotFound means there is no notice for a purpose.
	ErrNotFound = errors.New("not found")
	// ErrTampered means a stored event does not match the chain; the error
	// is a *TamperError naming the event.
	ErrTampered = errors.New("ledger tampered")
	// ErrUnavailable means the store cannot be reached.
	ErrUnavailable = errors.New("backend unavailable")
	// ErrConflict means a channel identity is linked to another person.
	ErrConflict = errors.New("conflict")
	// ErrNotLinked means a channel identity is not linked to a shop
	// customer.
	ErrNotLinked = errors.New("not linked")
)

// Purpose is what a person's data is used for.
type Purpose string

// The purposes. Service is stated, not asked: answering the shopper is
// what the chat is for. The others are asked, each on its own.
const (
	// Service is answering the shopper in the chat.
	Service Purpose = "service"
	// Notifications is back-in-stock messages on the channel the shopper
	// asked on.
	Notifications Purpose = "notifications"
	// Marketing is recommendations and offers.
	Marketing Purpose = "marketing"
	// Personalization is remembering sizes, preferences and history to
	// tailor answers.
	Personalization Purpose = "personalization"
)

// Purposes returns every purpose, Service first.
func Purposes() []Purpose {
	return []Purpose{Service, Notifications, Marketing, Personalization}
}

// Valid reports whether p is one of the purposes.
func (p Purpose) Valid() bool {
	switch p {
	case Service, Notifications, Marketing, Personalization:
		return true
	}
	return false
}

// Asked reports whether p needs the shopper's consent (every purpose but
// Service).
func (p Purpose) Asked() bool {
	return p.Valid() && p != Service
}

// Action is what an event records.
type Action string

// The actions.
const (
	// Grant records a yes to a notice.
	Grant Action = "grant"
	// Deny records a no to a notice.
	Deny Action = "deny"
	// Withdraw records taking back a consent ("stop").
	Withdraw Action = "withdraw"
	// Expire records a consent running out.
	Expire Action = "expire"
	// Erase records that the subject's data was erased ("forget me"); it
	// names no purpose and ends every consent.
	Erase Action = "erase"
	// Link records that a channel identity (Event.Linked) is the person
	// Event.Subject from now on; it names no purpose and no notice.
	Link Action = "link"
)

// Valid reports whether a is one of the actions.
func (a Action) Valid() bool {
	switch a {
	case Grant, Deny, Withdraw, Expire, Erase, Link:
		return true
	}
	return false
}

// Method is how the shopper gave a decision.
type Method string

// The methods.
const (
	// Button is a tap on an inline button.
	Button Method = "button"
	// QuickReply is a tap on a quick reply.
	QuickReply Method = "quick_reply"
	// Typed is the shopper's own typed words.
	Typed Method = "typed"
	// SignIn is a sign-in on the shop's site, verified by the shop's
	// signature (a Link made by the web chat).
	SignIn Method = "sign_in"
	// LinkCode is a single-use link code opened on a messaging app (a
	// Link made from a signed-in web chat).
	LinkCode Method = "link_code"
)

// Valid reports whether m is one of the methods.
func (m Method) Valid() bool {
	switch m {
	case Button, QuickReply, Typed, SignIn, LinkCode:
		return true
	}
	return false
}

// Actor is who recorded an event.
type Actor string

// The actors.
const (
	// Shopper is the person themself, in the chat.
	Shopper Actor = "shopper"
	// Agent is a human agent acting on the shopper's words.
	Agent Actor = "agent"
	// Admin is the shop's administrator (data-subject requests).
	Admin Actor = "admin"
	// System is Bottega itself (expiry, retention).
	System Actor = "system"
)

// Valid reports whether a is one of the actors.
func (a Actor) Valid() bool {
	switch a {
	case Shopper, Agent, Admin, System:
		return true
	}
	return false
}

// Event is one entry of the ledger.
type Event struct {
	// ID is the event's place in the chain, from 1, without gaps. Set by
	// the ledger.
	ID int64 `json:"id"`
	// Subject is the person's pseudonymous id (see SubjectID).
	Subject string `json:"subject"`
	// Purpose is the purpose decided on; empty for Erase.
	Purpose Purpose `json:"purpose,omitempty"`
	// NoticeVersion is the version of the notice shown; 0 when none was
	// shown (a withdraw by "stop", an expiry, an erasure).
	NoticeVersion int `json:"notice_version,omitempty"`
	// NoticeHash is the hex SHA-256 of the exact notice text shown. Set by
	// the ledger from its notices when NoticeVersion is set.
	NoticeHash string `json:"notice_hash,omitempty"`
	// Lang is the language of the notice shown ("it", "en"), or of the
	// conversation when no notice was shown.
	Lang string `json:"lang,omitempty"`
	// Channel is the channel that carried the decision ("telegram",
	// "messenger", "webchat").
	Channel string `json:"channel,omitempty"`
	// Method is how the shopper gave it.
	Method Method `json:"method,omitempty"`
	// MessageID is the id of the chat message (or button press) that
	// carried the decision.
	MessageID string `json:"message_id,omitempty"`
	// Action is what happened.
	Action Action `json:"action"`
	// Linked is, for a Link, the alias subject linked to Subject; empty
	// for every other action.
	Linked string `json:"linked,omitempty"`
	// Actor is who recorded it.
	Actor Actor `json:"actor"`
	// At is when the ledger recorded it, UTC, microsecond precision. Set
	// by the ledger.
	At time.Time `json:"at"`
	// PrevHash is the Hash of the previous event; empty for the first.
	PrevHash string `json:"prev_hash"`
	// Digest is the hex SHA-256 of the event's canonical content.
	Digest string `json:"digest"`
	// Hash is the hex SHA-256 linking PrevHash and Digest.
	Hash string `json:"hash"`
}

// Head is the end of the chain: the last event's ID, Hash and time. The
// zero Head is an empty ledger's.
type Head struct {
	ID   int64
	Hash string
	At   time.Time
}

// Store keeps the ledger's events. It has no way to change or remove one.
// Its errors wrap ErrUnavailable when the backend cannot be reached.
type Store interface {
	// Append adds one event at the end of the chain. Holding a lock that
	// keeps every other Append out until it returns, it reads the head and
	// calls seal with it; seal returns the event to store, which Append
	// refuses (with ErrInvalid) unless its ID is head.ID+1 and its PrevHash
	// is head.Hash. The event becomes the new head. If seal or the write
	// fails, nothing is stored and the error is returned. Append returns
	// the event as stored.
	Append(ctx context.Context, seal func(head Head) (Event, error)) (Event, error)
	// Head returns the end of the chain as of now.
	Head(ctx context.Context) (Head, error)
	// Events returns up to limit events whose IDs are above afterID, in
	// ID order.
	Events(ctx context.Context, afterID int64, limit int) ([]Event, error)
	// SubjectEvents returns every event of the subjects, in ID order.
	SubjectEvents(ctx context.Context, subjects ...string) ([]Event, error)
}

// SubjectID returns the pseudonymous subject id of a channel's user: the
// hex HMAC-SHA256 under secret of the channel name and the user's id on
// it. The same inputs always give the same id; without secret the id
// cannot be traced back to the user. secret must not be empty.
func SubjectID(secret, channel, channelUserID string) string {
	if secret == "" {
		panic("consent: SubjectID with an empty secret")
	}
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("bottega-subject-v1\x00"))
	m.Write([]byte(channel))
	m.Write([]byte{0})
	m.Write([]byte(channelUserID))
	return hex.EncodeToString(m.Sum(nil))
}

// CustomerSubject returns the subject of a shop customer, the person their
// linked channel identities belong to: SubjectID of the channel
// "customer" and the shop's customer id. secret must not be empty.
func CustomerSubject(secret, customerID string) string {
	return SubjectID(secret, customerChannel, customerID)
}

// customerChannel is the pseudo-channel of customer subjects; no
// conversation may use it.
const customerChannel = "customer"

// TamperError reports the first stored event that does not check out.
type TamperError struct {
	// EventID is the event's ID (for a missing event, the ID it should
	// have had).
	EventID int64
	// Reason says what is wrong, e.g. "content does not match its digest".
	Reason string
}

// Error returns "consent: ledger tampered at event N: reason".
func (e *TamperError) Error() string {
	return "consent: ledger tampered at event " + strconv.FormatInt(e.EventID, 10) + ": " + e.Reason
}

// Is reports whether target is ErrTampered.
func (e *TamperError) Is(target error) bool { return target == ErrTampered }
