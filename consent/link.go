package consent

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Linking channel identities to shop customers: a web-chat visitor signed
// in on the shop's site (LinkCustomer), and a messaging app opened with a
// link code made in that signed-in chat (LinkCode, RedeemLinkCode).

// LinkCodeStore keeps the pending link codes, each usable once.
// consenttest.TestLinkCodeStore is its contract. Errors wrap
// ErrUnavailable when the backend cannot be reached.
type LinkCodeStore interface {
	// PutLinkCode stores the code id (a MAC of the code: the store never
	// sees the code itself) for person, usable until expires.
	PutLinkCode(ctx context.Context, id, person string, expires time.Time) error
	// TakeLinkCode uses the code id up and returns its person. Errors wrap
	// ErrNotFound for an id it does not know, and ErrGone for a code used
	// already or expired, in which case the person is returned too. Of
	// concurrent calls for one id, exactly one succeeds.
	TakeLinkCode(ctx context.Context, id string) (string, error)
	// DeleteLinkCodes deletes person's codes, used or not, and reports how
	// many it deleted.
	DeleteLinkCodes(ctx context.Context, person string) (int, error)
}

// DefaultLinkCodeTTL is how long a link code is valid.
const DefaultLinkCodeTTL = 15 * time.Minute

// LinkCodePrefix starts the payload that carries a link code on a
// messaging app ("link-<code>"), which RedeemLinkCode accepts with or
// without it.
const LinkCodePrefix = "link-"

// linkCodeLen is the length of a link code: 16 random bytes in base64url
// without padding, which fits Telegram's start parameter ([A-Za-z0-9_-],
// up to 64 characters) with the prefix.
const linkCodeLen = 22

// maxCustomerID bounds a customer id.
const maxCustomerID = 256

// WithLinkCodeStore sets where link codes are kept (sqlconsent.LinkCodes);
// without it LinkCode and RedeemLinkCode fail.
func WithLinkCodeStore(c LinkCodeStore) ServiceOption {
	return func(s *DataRights) { s.codes = c }
}

// WithLinkCodeTTL sets how long a link code is valid (DefaultLinkCodeTTL
// by default).
func WithLinkCodeTTL(d time.Duration) ServiceOption {
	return func(s *DataRights) { s.codeTTL = d }
}

// identity returns the subject and channel of a conversation key
// ("telegram:12345"): the channel identity's own subject.
func (s *DataRights) identity(conversation string) (subject, channel string, err error) {
	channel, id, ok := strings.Cut(conversation, ":")
	if !ok || id == "" || !channelRE.MatchString(channel) || channel == customerChannel {
		return "", "", fmt.Errorf("not a conversation key: %w", ErrInvalid)
	}
	return SubjectID(s.secret, channel, id), channel, nil
}

// PersonOf returns the consent subject of a conversation's shopper: the
// person their channel identity is linked to (a signed-in shop customer,
// see CustomerSubject), or else the identity's own subject. It is on every
// chat turn's path and reads from the Keyring's cache (see
// Keyring.Person). Errors wrap ErrInvalid for a malformed conversation
// key and ErrUnavailable when the key store cannot be reached.
func (s *DataRights) PersonOf(ctx context.Context, conversation string) (string, error) {
	alias, _, err := s.identity(conversation)
	if err != nil {
		return "", fmt.Errorf("consent: person of: %w", err)
	}
	person, err := s.keys.Person(ctx, alias)
	if err != nil {
		return "", fmt.Errorf("consent: person of: %w", err)
	}
	return person, nil
}

// LinkCustomer links the channel identity of conversation to the shop
// customer customerID (whose sign-in the caller verified), and records
// the link in the ledger as a Link event of the customer. e supplies the
// event's Lang and MessageID, and may set Channel, Method and Actor, which
// default to the conversation's channel, SignIn and Shopper; the rest is
// filled in. It reports already when the identity was linked to that
// customer before (nothing is recorded then). Of two concurrent calls for
// one identity, one records the link and the other reports already.
//
// Errors wrap ErrInvalid for a malformed conversation key, customer id or
// event, ErrConflict when the identity is linked to another person (the
// first link wins), and ErrUnavailable when a store cannot be reached.
func (s *DataRights) LinkCustomer(ctx context.Context, conversation, customerID string, e Event) (already bool, err error) {
	if customerID == "" || len(customerID) > maxCustomerID || !utf8.ValidString(customerID) ||
		strings.ContainsFunc(customerID, unicode.IsControl) {
		return false, fmt.Errorf("consent: link customer: customer id is not a short printable text: %w", ErrInvalid)
	}
	alias, channel, err := s.identity(conversation)
	if err != nil {
		return false, fmt.Errorf("consent: link customer: %w", err)
	}
	already, err = s.link(ctx, alias, CustomerSubject(s.secret, customerID), channel, SignIn, e)
	if err != nil {
		return false, fmt.Errorf("consent: link customer: %w", err)
	}
	return already, nil
}

// LinkCode returns a new single-use code that links another channel
// identity to the shop customer the conversation's identity is linked to,
// valid until expires (DefaultLinkCodeTTL from now). The code is 22
// characters of base64url; the store keeps only a MAC of it. Errors wrap
// ErrNotLinked when the identity is not linked to a customer, ErrInvalid
// for a malformed conversation key and ErrUnavailable when a store cannot
// be reached.
func (s *DataRights) LinkCode(ctx context.Context, conversation string) (code string, expires time.Time, err error) {
	if s.codes == nil {
		return "", time.Time{}, errors.New("consent: link code: no link code store (WithLinkCodeStore)")
	}
	alias, _, err := s.identity(conversation)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("consent: link code: %w", err)
	}
	person, err := s.keys.Person(ctx, alias)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("consent: link code: %w", err)
	}
	if person == alias {
		return "", time.Time{}, fmt.Errorf("consent: link code: the identity: %w", ErrNotLinked)
	}
	raw := make([]byte, 16)
	if _, err := rand.Read(raw); err != nil {
		return "", time.Time{}, fmt.Errorf("consent: link code: %w", err)
	}
	code = base64.RawURLEncoding.EncodeToString(raw)
	expires = s.now().Add(s.codeTTL).UTC().Truncate(time.Microsecond)
	if err := s.codes.PutLinkCode(ctx, s.codeID(code), person, expires); err != nil {
		return "", time.Time{}, fmt.Errorf("consent: link code: %w", err)
	}
	return code, expires, nil
}

// RedeemLinkCode uses up code (as LinkCode made it, with or without
// LinkCodePrefix) and links the channel identity of conversation to the
// customer it was made for, recording a Link event like LinkCustomer
// (Method LinkCode by default; e as there). It reports already when the
// identity was linked to that customer before, also when the code was
// used already (a second tap on the same link).
//
// Errors wrap ErrNotFound for a code that is not one of ours (or was
// deleted with its person's erasure), ErrGone for a code used or expired,
// ErrConflict when the identity is linked to another person, ErrInvalid
// for a malformed conversation key or event, and ErrUnavailable when a
// store cannot be reached.
func (s *DataRights) RedeemLinkCode(ctx context.Context, conversation, code string, e Event) (already bool, err error) {
	if s.codes == nil {
		return false, errors.New("consent: redeem link code: no link code store (WithLinkCodeStore)")
	}
	alias, channel, err := s.identity(conversation)
	if err != nil {
		return false, fmt.Errorf("consent: redeem link code: %w", err)
	}
	code = strings.TrimPrefix(code, LinkCodePrefix)
	if raw, err := base64.RawURLEncoding.Strict().DecodeString(code); err != nil || len(code) != linkCodeLen || len(raw) != 16 {
		return false, fmt.Errorf("consent: redeem link code: not a link code: %w", ErrNotFound)
	}
	person, err := s.codes.TakeLinkCode(ctx, s.codeID(code))
	if errors.Is(err, ErrGone) && person != "" {
		if cur, perr := s.keys.Person(ctx, alias); perr == nil && cur == person {
			return true, nil
		}
	}
	if err != nil {
		return false, fmt.Errorf("consent: redeem link code: %w", err)
	}
	already, err = s.link(ctx, alias, person, channel, LinkCode, e)
	if err != nil {
		return false, fmt.Errorf("consent: redeem link code: %w", err)
	}
	return already, nil
}

// codeID returns the id a link code is stored by: a MAC of it under a key
// derived from the server's secret, so that the store's rows cannot be
// used as codes.
func (s *DataRights) codeID(code string) string {
	m := hmac.New(sha256.New, s.codeKey)
	m.Write([]byte(code))
	return hex.EncodeToString(m.Sum(nil))
}

// link links alias (on channel) to person and records the Link event,
// unless alias was linked to person already. A link whose record fails is
// undone, so that it can be made again.
func (s *DataRights) link(ctx context.Context, alias, person, channel string, method Method, e Event) (bool, error) {
	e.Subject, e.Linked, e.Action = person, alias, Link
	if e.Channel == "" {
		e.Channel = channel
	}
	if e.Method == "" {
		e.Method = method
	}
	if e.Actor == "" {
		e.Actor = Shopper
	}
	probe := e
	if err := s.ledger.check(&probe); err != nil {
		return false, err
	}
	linked, made, err := s.keys.LinkIdentity(ctx, alias, person, channel)
	switch {
	case err != nil:
		return false, err
	case linked != person:
		return false, fmt.Errorf("the identity is linked to another person: %w", ErrConflict)
	case !made:
		return true, nil
	}
	if _, err := s.ledger.Record(ctx, e); err != nil {
		if uerr := s.keys.unlinkIdentity(ctx, alias, person); uerr != nil {
			s.log.Error("undoing a link whose ledger record failed", "err", uerr)
		}
		return false, err
	}
	return false, nil
}

// linkedChannels returns the channels of ids, sorted and unique.
func linkedChannels(ids []Identity) []string {
	var out []string
	for _, id := range ids {
		out = append(out, id.Channel)
	}
	slices.Sort(out)
	return slices.Compact(out)
}
