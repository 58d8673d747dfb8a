package consent

import (
	"context"
	"regexp"
	"slices"
	"time"
	"unicode"
	"unicode/utf8"
)

// Access is one read of a person's data by an admin or an agent (or the
// person's own download of their export), for the access audit: who read
// what about whom, why and when.
type Access struct {
	// ID numbers the accesses in the order they were recorded. Set by the
	// audit.
	ID int64 `json:"id"`
	// Actor is who read: "admin", "agent:<login>", or "subject" for the
	// person themself.
	Actor string `json:"actor"`
	// Subject is whose data was read (a SubjectID).
	Subject string `json:"subject"`
	// What names what was read: "summary", "export link", "export",
	// "erase", "transcript".
	What string `json:"what"`
	// Why is the reason given, such as a ticket reference.
	Why string `json:"why"`
	// At is when, UTC, microsecond precision; the audit sets it to now
	// when it is zero.
	At time.Time `json:"at"`
}

// AccessFilter selects accesses for Audit.List.
type AccessFilter struct {
	// Subject, when set, keeps that subject's accesses only.
	Subject string
	// Actor, when set, keeps that actor's accesses only.
	Actor string
	// Before, when above 0, keeps accesses with a lower ID: the next page
	// after a page ending at ID Before.
	Before int64
	// Limit bounds the page: DefaultAccessLimit when 0 or less, at most
	// MaxAccessLimit.
	Limit int
}

// Page sizes of Audit.List.
const (
	DefaultAccessLimit = 100
	MaxAccessLimit     = 1000
)

// Bounds of an Access's texts, in bytes.
const (
	MaxAccessActor  = 128
	MaxAccessWhat   = 128
	MaxAccessReason = 500
)

// Audit is the access audit: an append-only record of every time a
// person's data is read by someone other than the bot. Like the ledger it
// has no way to change or remove a record. consenttest.TestAudit is its
// contract. Errors wrap ErrInvalid for an access that breaks the rules
// (see Access.Check) and ErrUnavailable when the store cannot be reached.
type Audit interface {
	// Record checks a, sets its ID (and At, when zero) and appends it.
	Record(ctx context.Context, a Access) (Access, error)
	// List returns the accesses f selects, newest first.
	List(ctx context.Context, f AccessFilter) ([]Access, error)
}

var actorRE = regexp.MustCompile(`^[a-z][a-z0-9_-]*(:[^\s]+)?$`)

// Check reports whether a can be recorded: an actor ("admin",
// "agent:<login>", "subject"), a subject id, and a short printable what
// and why, none of them empty. Errors wrap ErrInvalid.
func (a Access) Check() error {
	switch {
	case a.ID != 0:
		return invalid("access: the id is set by the audit")
	case len(a.Actor) > MaxAccessActor || !actorRE.MatchString(a.Actor) || !printable(a.Actor):
		return invalid("access: actor is not a short name such as admin or agent:login")
	case !isSubject(a.Subject):
		return invalid("access: subject is not a subject id")
	case a.What == "" || len(a.What) > MaxAccessWhat || !printable(a.What):
		return invalid("access: what is not a short printable text")
	case a.Why == "" || len(a.Why) > MaxAccessReason || !printable(a.Why):
		return invalid("access: the reason is not a printable text of 1 to %d bytes", MaxAccessReason)
	}
	return nil
}

// printable reports whether s is valid UTF-8 without control characters.
func printable(s string) bool {
	return utf8.ValidString(s) && !slices.ContainsFunc([]rune(s), unicode.IsControl)
}
