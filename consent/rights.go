package consent

import (
	"context"
	"time"
)

// Data rights: what the shop holds on a person, an export of it, and its
// erasure. The chat (package dialogs) and the admin API (package web) both
// reach them through the Rights interface; cmd wires the implementation,
// which fans each request out to every store holding personal data.

// Holding is one kind of data held about a subject, counted.
type Holding struct {
	// What names the kind: "conversation", "preferences", "subscriptions",
	// "consents", …
	What string `json:"what"`
	// Count is how many items of that kind are held.
	Count int `json:"count"`
}

// Summary is what the shop holds on a subject and what they agreed to, for
// the chat's "privacy" answer and the admin's view.
type Summary struct {
	Subject string `json:"subject"`
	// Consents is the current state of every asked purpose.
	Consents map[Purpose]Status `json:"consents"`
	// Receipts are the subject's ledger events, oldest first.
	Receipts []Event `json:"receipts"`
	// Held lists the kinds of data held, in a stable order.
	Held []Holding `json:"held"`
	// Linked lists the channels linked to the person's shop account,
	// sorted and unique ("messenger", "telegram", "webchat"); empty when
	// the person is not a shop customer.
	Linked []string `json:"linked,omitempty"`
}

// StoreReport is what one store did in an erasure.
type StoreReport struct {
	// Store names it: "sql", "redis", "search index", "outbound queue",
	// "keys", "ledger".
	Store string `json:"store"`
	// Erased counts the items deleted or made unreadable.
	Erased int `json:"erased"`
	// Note says what was done, or what is kept and why.
	Note string `json:"note,omitempty"`
	// Err is set when the store failed; the erasure is then incomplete and
	// may be run again.
	Err string `json:"error,omitempty"`
}

// Report is the outcome of one erasure, per store.
type Report struct {
	Subject string        `json:"subject"`
	At      time.Time     `json:"at"`
	Stores  []StoreReport `json:"stores"`
}

// Complete reports whether every store succeeded.
func (r Report) Complete() bool {
	for _, s := range r.Stores {
		if s.Err != "" {
			return false
		}
	}
	return true
}

// Request says where a data-rights request came from: a chat — its
// conversation key ("telegram:12345"), the message that carried the
// request, how it was given and in which language — or, when Conversation
// is empty, the admin API. An erasure's ledger event carries it, so that
// the request is provable like a consent decision.
type Request struct {
	Conversation string
	MessageID    string
	Method       Method
	Lang         string
}

// Rights serves a subject's data rights. The subject is a pseudonymous id
// (SubjectID); a channel identity linked to a shop customer stands for
// the customer (see DataRights).
type Rights interface {
	// Summary returns what is held on subject.
	Summary(ctx context.Context, subject string) (Summary, error)
	// ExportLink returns a signed link to a JSON export of everything held
	// on subject, valid until expires.
	ExportLink(ctx context.Context, subject string) (url string, expires time.Time, err error)
	// Erase erases everything held on subject in every store and reports
	// per store. It returns an error wrapping ErrNotFound for a subject of
	// whom nothing is held. req says who asked (Request).
	Erase(ctx context.Context, subject string, req Request) (Report, error)
}
