package consent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"time"
	"unicode"
	"unicode/utf8"
)

// Ledger is the consent ledger's front door: it validates and seals
// events into the chain, derives the state per subject and purpose, and
// verifies the chain. It is safe for concurrent use.
type Ledger struct {
	store   Store
	notices *Notices
	now     func() time.Time
}

// Option configures a Ledger.
type Option func(*Ledger)

// WithNow sets the clock that times events (time.Now by default).
func WithNow(now func() time.Time) Option {
	return func(l *Ledger) { l.now = now }
}

// New returns a ledger keeping its events in store and checking them
// against notices, which must not be nil.
func New(store Store, notices *Notices, opts ...Option) *Ledger {
	if notices == nil {
		panic("consent: New with nil notices")
	}
	l := &Ledger{store: store, notices: notices, now: time.Now}
	for _, o := range opts {
		o(l)
	}
	return l
}

// Notices returns the notices the ledger checks events against.
func (l *Ledger) Notices() *Notices { return l.notices }

// Record validates e and appends it to the chain, setting its ID, time,
// notice hash (from the ledger's notices) and chain hashes; e must leave
// those fields zero, or for NoticeHash, equal to the notice's hash. It
// returns the event as stored. Errors wrap ErrInvalid for an event that
// breaks the rules (nothing is stored) and ErrUnavailable when the store
// cannot be reached.
//
// The rules: Subject is a SubjectID. Grant and Deny name an asked purpose
// and the notice shown (NoticeVersion and Lang of a known notice), and are
// recorded by the shopper or an agent. Withdraw names an asked purpose and
// may name the notice shown. Expire names an asked purpose and is recorded
// by the system. Erase names no purpose and no notice. Link names no
// purpose and no notice, and names Linked, a SubjectID other than Subject,
// its Channel and a Method of SignIn or LinkCode, which no other action
// uses. An event recorded by the shopper names its Channel, Method and
// (but for a Link, which a sign-in may make without a message) MessageID.
func (l *Ledger) Record(ctx context.Context, e Event) (Event, error) {
	if err := l.check(&e); err != nil {
		return Event{}, fmt.Errorf("consent: record %s: %w", e.Action, err)
	}
	stored, err := l.store.Append(ctx, func(head Head) (Event, error) {
		e.ID = head.ID + 1
		e.At = l.now().UTC().Truncate(time.Microsecond)
		e.PrevHash = head.Hash
		e.Digest = digest(e)
		e.Hash = link(e.PrevHash, e.Digest)
		return e, nil
	})
	if err != nil {
		return Event{}, fmt.Errorf("consent: record %s: %w", e.Action, err)
	}
	return stored, nil
}

var (
	subjectRE = regexp.MustCompile(`^[0-9a-f]{64}$`)
	channelRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,31}$`)
	langRE    = regexp.MustCompile(`^[a-z]{2,3}(-[a-z0-9]{2,8})?$`)
)

// maxMessageID bounds Event.MessageID.
const maxMessageID = 256

func invalid(format string, args ...any) error {
	return fmt.Errorf(format+": %w", append(args, ErrInvalid)...)
}

// check validates e and fills its notice hash.
func (l *Ledger) check(e *Event) error {
	switch {
	case e.ID != 0 || !e.At.IsZero() || e.PrevHash != "" || e.Digest != "" || e.Hash != "":
		return invalid("id, time and hashes are set by the ledger")
	case !subjectRE.MatchString(e.Subject):
		return invalid("subject is not a subject id")
	case !e.Action.Valid():
		return invalid("action %q", e.Action)
	case !e.Actor.Valid():
		return invalid("actor %q", e.Actor)
	case e.Method != "" && !e.Method.Valid():
		return invalid("method %q", e.Method)
	case e.Channel != "" && !channelRE.MatchString(e.Channel):
		return invalid("channel %q", e.Channel)
	case e.Lang != "" && !langRE.MatchString(e.Lang):
		return invalid("language %q", e.Lang)
	case len(e.MessageID) > maxMessageID || !utf8.ValidString(e.MessageID) ||
		slices.ContainsFunc([]rune(e.MessageID), unicode.IsControl):
		return invalid("message id is not a short printable text")
	case e.Action != Link && (e.Linked != "" || e.Method == SignIn || e.Method == LinkCode):
		return invalid("only a link names a linked subject or the method %q", e.Method)
	case e.Actor == Shopper && (e.Channel == "" || e.Method == "" || e.MessageID == "" && e.Action != Link):
		return invalid("a shopper's decision needs its channel, method and message id")
	case e.NoticeVersion < 0, e.NoticeVersion == 0 && e.NoticeHash != "":
		return invalid("notice version %d", e.NoticeVersion)
	}
	switch e.Action {
	case Grant, Deny:
		if e.Actor != Shopper && e.Actor != Agent {
			return invalid("%s by %s: only the shopper or an agent decides", e.Action, e.Actor)
		}
		if e.NoticeVersion == 0 {
			return invalid("%s needs the notice shown", e.Action)
		}
	case Withdraw:
		if e.Actor == System {
			return invalid("withdraw by system: the system expires, it does not withdraw")
		}
	case Expire:
		if e.Actor != System {
			return invalid("expire by %s: only the system expires consent", e.Actor)
		}
		if e.NoticeVersion != 0 {
			return invalid("expire names no notice")
		}
	case Erase:
		if e.Purpose != "" || e.NoticeVersion != 0 {
			return invalid("erase names no purpose and no notice")
		}
		return nil
	case Link:
		switch {
		case e.Purpose != "" || e.NoticeVersion != 0:
			return invalid("link names no purpose and no notice")
		case !subjectRE.MatchString(e.Linked) || e.Linked == e.Subject:
			return invalid("link needs the linked subject, a subject id other than the person's")
		case e.Channel == "" || e.Method != SignIn && e.Method != LinkCode:
			return invalid("link needs its channel and the method sign_in or link_code")
		}
		return nil
	}
	if !e.Purpose.Asked() {
		if e.Purpose == Service {
			return invalid("purpose service is stated, not asked")
		}
		return invalid("purpose %q", e.Purpose)
	}
	if e.NoticeVersion == 0 {
		return nil
	}
	n, ok := l.notices.Find(e.Purpose, e.Lang, e.NoticeVersion)
	if !ok {
		return invalid("no notice %s.%s.v%d", e.Purpose, e.Lang, e.NoticeVersion)
	}
	if h := n.Hash(); e.NoticeHash == "" {
		e.NoticeHash = h
	} else if e.NoticeHash != h {
		return invalid("notice hash does not match notice %s", n)
	}
	return nil
}

// digest returns the hex SHA-256 of e's canonical content: every field but
// PrevHash, Digest and Hash, each written as its length, a colon and its
// bytes, after a format tag. Linked, added later, is written last and
// only when set (after its name), so events without it keep the digest
// they were recorded with.
func digest(e Event) string {
	h := sha256.New()
	field := func(s string) {
		h.Write(strconv.AppendInt(nil, int64(len(s)), 10))
		h.Write([]byte{':'})
		h.Write([]byte(s))
	}
	field("bottega-consent-event-v1")
	field(strconv.FormatInt(e.ID, 10))
	field(e.Subject)
	field(string(e.Purpose))
	field(strconv.Itoa(e.NoticeVersion))
	field(e.NoticeHash)
	field(e.Lang)
	field(e.Channel)
	field(string(e.Method))
	field(e.MessageID)
	field(string(e.Action))
	field(string(e.Actor))
	field(strconv.FormatInt(e.At.UnixMicro(), 10))
	if e.Linked != "" {
		field("linked")
		field(e.Linked)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// link returns the hex SHA-256 chaining an event's digest to the previous
// event's hash.
func link(prevHash, digest string) string {
	sum := sha256.Sum256([]byte("bottega-consent-link-v1\n" + prevHash + "\n" + digest))
	return hex.EncodeToString(sum[:])
}

// History returns every event of subject, oldest first, merged, for a
// person who linked channel identities, with the events of each alias
// its Link events name: the alias's events from its last erasure before
// the link until the person's first erasure after it (which ends the
// link: an erasure erases the aliases and deletes the links). So the
// decisions given on any linked channel count for the person, and the
// later one wins. A subject without links costs one read of the store.
func (l *Ledger) History(ctx context.Context, subject string) ([]Event, error) {
	events, err := l.history(ctx, subject)
	if err != nil {
		return nil, fmt.Errorf("consent: history: %w", err)
	}
	return events, nil
}

func (l *Ledger) history(ctx context.Context, subject string) ([]Event, error) {
	events, err := l.store.SubjectEvents(ctx, subject)
	if err != nil {
		return nil, err
	}
	var aliases []string
	for _, e := range events {
		if e.Action == Link && e.Subject == subject && !slices.Contains(aliases, e.Linked) {
			aliases = append(aliases, e.Linked)
		}
	}
	if len(aliases) == 0 {
		return events, nil
	}
	theirs, err := l.store.SubjectEvents(ctx, aliases...)
	if err != nil {
		return nil, fmt.Errorf("linked identities: %w", err)
	}
	return mergeAliases(subject, events, theirs), nil
}

// mergeAliases merges into a person's own events the events of their
// aliases that fall in a link's window (see Ledger.History), in ID order.
func mergeAliases(person string, own, aliases []Event) []Event {
	type window struct{ after, before int64 } // IDs, both exclusive
	windows := make(map[string][]window)
	for _, l := range own {
		if l.Action != Link || l.Subject != person {
			continue
		}
		w := window{before: math.MaxInt64}
		for _, e := range aliases {
			if e.Subject == l.Linked && e.Action == Erase && e.ID < l.ID {
				w.after = max(w.after, e.ID)
			}
		}
		for _, e := range own {
			if e.Action == Erase && e.ID > l.ID {
				w.before = min(w.before, e.ID)
			}
		}
		windows[l.Linked] = append(windows[l.Linked], w)
	}
	merged := slices.Clone(own)
	seen := make(map[int64]bool, len(own)+len(aliases))
	for _, e := range own {
		seen[e.ID] = true
	}
	for _, e := range aliases {
		if seen[e.ID] {
			continue
		}
		if slices.ContainsFunc(windows[e.Subject], func(w window) bool { return w.after < e.ID && e.ID < w.before }) {
			seen[e.ID] = true
			merged = append(merged, e)
		}
	}
	slices.SortFunc(merged, func(a, b Event) int { return cmpInt(a.ID, b.ID) })
	return merged
}

// Status is the state of one purpose for one subject.
type Status struct {
	// Granted reports whether the purpose may be used now.
	Granted bool `json:"granted"`
	// Action is the last decision (Grant, Deny, Withdraw, Expire or
	// Erase); empty when there was none.
	Action Action `json:"action,omitempty"`
	// NoticeVersion is the version of the notice the last decision was
	// about (for a withdraw or expiry without a notice, the one before).
	NoticeVersion int `json:"notice_version,omitempty"`
	// Lang is the language of that decision.
	Lang string `json:"lang,omitempty"`
	// At is when the last decision was recorded.
	At time.Time `json:"at,omitzero"`
	// EventID is the last decision's event.
	EventID int64 `json:"event_id,omitempty"`
}

// State returns the state of every asked purpose for subject, from its
// History (so for a person, from the decisions given on every linked
// channel); a purpose never decided on has the zero Status.
func (l *Ledger) State(ctx context.Context, subject string) (map[Purpose]Status, error) {
	events, err := l.history(ctx, subject)
	if err != nil {
		return nil, fmt.Errorf("consent: state: %w", err)
	}
	return StateOf(events), nil
}

// StateOf derives the state of every asked purpose from one subject's
// events: the event with the highest ID wins.
func StateOf(events []Event) map[Purpose]Status {
	events = slices.Clone(events)
	slices.SortFunc(events, func(a, b Event) int { return cmpInt(a.ID, b.ID) })
	state := make(map[Purpose]Status)
	for _, p := range Purposes() {
		if p.Asked() {
			state[p] = Status{}
		}
	}
	for _, e := range events {
		if e.Action == Erase {
			for p := range state {
				state[p] = Status{Action: Erase, At: e.At, EventID: e.ID}
			}
			continue
		}
		prev, ok := state[e.Purpose]
		if !ok {
			continue
		}
		s := Status{Granted: e.Action == Grant, Action: e.Action, NoticeVersion: e.NoticeVersion,
			Lang: e.Lang, At: e.At, EventID: e.ID}
		if s.NoticeVersion == 0 {
			s.NoticeVersion, s.Lang = prev.NoticeVersion, prev.Lang
		}
		state[e.Purpose] = s
	}
	return state
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// NeedsAsk reports whether the chat should ask subject about purpose now,
// in lang: when there is no decision (never asked, expired or erased), or
// when the current notice in lang is newer than the one last decided on.
// So a no (Deny or Withdraw) is not asked again until a new version of the
// notice comes, and a new version asks once: the answer to it settles it.
// Service is never asked. Errors wrap ErrInvalid for an unknown purpose and
// ErrNotFound when the purpose has no notice.
func (l *Ledger) NeedsAsk(ctx context.Context, subject string, purpose Purpose, lang string) (bool, error) {
	if !purpose.Valid() {
		return false, fmt.Errorf("consent: needs ask: purpose %q: %w", purpose, ErrInvalid)
	}
	if !purpose.Asked() {
		return false, nil
	}
	cur := l.notices.Current(purpose, lang)
	if cur.Version == 0 {
		return false, fmt.Errorf("consent: needs ask: notice for %s: %w", purpose, ErrNotFound)
	}
	state, err := l.State(ctx, subject)
	if err != nil {
		return false, err
	}
	s := state[purpose]
	switch s.Action {
	case Grant, Deny, Withdraw:
		return cur.Version > s.NoticeVersion, nil
	}
	return true, nil
}

// verifyPage is how many events Verify reads at once.
const verifyPage = 500

// Verify walks the chain from the first event to the current head and
// checks every event: IDs without gaps, each linked to the one before,
// content matching its digest, digest and link matching its hash, and the
// last one matching the head. It returns nil for an intact chain, a
// *TamperError (wrapping ErrTampered) naming the first event that does not
// check out, or the store's error.
func (l *Ledger) Verify(ctx context.Context) error {
	head, err := l.store.Head(ctx)
	if err != nil {
		return fmt.Errorf("consent: verify: %w", err)
	}
	var prev Head
walk:
	for prev.ID < head.ID {
		events, err := l.store.Events(ctx, prev.ID, verifyPage)
		if err != nil {
			return fmt.Errorf("consent: verify: %w", err)
		}
		if len(events) == 0 {
			break
		}
		for _, e := range events {
			if e.ID > head.ID { // appended after the walk began
				break walk
			}
			if err := checkLink(prev, e); err != nil {
				return err
			}
			prev = Head{ID: e.ID, Hash: e.Hash, At: e.At}
		}
	}
	switch {
	case prev.ID < head.ID:
		return &TamperError{EventID: prev.ID + 1, Reason: fmt.Sprintf("missing (the chain ends at event %d, its head is event %d)", prev.ID, head.ID)}
	case prev.Hash != head.Hash:
		return &TamperError{EventID: head.ID, Reason: "the last event's hash does not match the head"}
	}
	return nil
}

// checkLink checks event e, which should follow prev.
func checkLink(prev Head, e Event) error {
	switch {
	case e.ID != prev.ID+1:
		return &TamperError{EventID: prev.ID + 1, Reason: fmt.Sprintf("missing (event %d follows event %d)", e.ID, prev.ID)}
	case e.PrevHash != prev.Hash:
		return &TamperError{EventID: e.ID, Reason: fmt.Sprintf("does not link to event %d", prev.ID)}
	case digest(e) != e.Digest:
		return &TamperError{EventID: e.ID, Reason: "content does not match its digest"}
	case link(e.PrevHash, e.Digest) != e.Hash:
		return &TamperError{EventID: e.ID, Reason: "hash does not match"}
	}
	return nil
}
