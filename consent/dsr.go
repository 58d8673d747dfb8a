package consent

import (
	"bytes"
	"context"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"
)

// Data-subject requests: DataRights answers what is held on a person
// (Summary), exports it (ExportLink, Redeem) and erases it (Erase), over
// the ledger, the keyring and every other store that holds personal data,
// each plugged in as a Holder.

// ErrGone means an export link expired or was used already.
var ErrGone = errors.New("gone")

// Holder is one store that holds personal data, for DataRights to fan
// data-subject requests out to: the conversation store, the outbound
// queue, the search index… A subject's data is found by the subject id or
// by the conversation keys ("telegram:12345") linked to it (see
// Keyring.Link); conversations lists them, and may be empty. For a person
// with linked channel identities, subject is the person and conversations
// are those of the person and of every identity linked to it; what a
// conversation's store sealed is sealed with the key of the
// conversation's own identity, not the person's.
type Holder interface {
	// Name names the store in reports: "conversations", "outbound queue",
	// "search index".
	Name() string
	// Held counts what the store holds on subject; kinds with nothing held
	// may be left out.
	Held(ctx context.Context, subject string, conversations []string) ([]Holding, error)
	// Export returns what the store holds on subject as a JSON object of
	// export sections (or null for nothing): "conversations",
	// "subscriptions" and "orders" are arrays whose items follow
	// exportschema.json and join the export's sections of those names;
	// any other member is kept under the export's "other", by store name.
	Export(ctx context.Context, subject string, conversations []string) (json.RawMessage, error)
	// Erase deletes, or makes unreadable, everything the store holds on
	// subject and says what it did. Running it again after a success finds
	// nothing to do.
	Erase(ctx context.Context, subject string, conversations []string) (StoreReport, error)
}

// TokenStore remembers which export links were used, so each works once.
type TokenStore interface {
	// UseToken marks the link id used and reports whether it was unused
	// until now: of two concurrent calls for an id, one gets true. The
	// mark may be dropped after expires, when the link is refused anyway.
	UseToken(ctx context.Context, id string, expires time.Time) (bool, error)
	// TokenUsed reports whether the link id was used.
	TokenUsed(ctx context.Context, id string) (bool, error)
}

// DefaultLinkTTL is how long an export link is valid.
const DefaultLinkTTL = 24 * time.Hour

// ExportPath is the path of export links below the public URL; the token
// follows it.
const ExportPath = "/privacy/export/"

// DataRights is the data-rights front door: it implements Rights over the
// ledger, the keyring and the registered holders, and redeems export
// links. It is safe for concurrent use.
type DataRights struct {
	ledger    *Ledger
	keys      *Keyring
	holders   []Holder
	tokens    TokenStore
	codes     LinkCodeStore
	secret    string // makes the subjects of conversations (SubjectID)
	linkKey   []byte
	codeKey   []byte
	codeTTL   time.Duration
	publicURL string
	linkTTL   time.Duration
	now       func() time.Time
	log       *slog.Logger
}

var _ Rights = (*DataRights)(nil)

// ServiceOption configures DataRights.
type ServiceOption func(*DataRights)

// WithHolder adds a store holding personal data. Holders are asked in the
// order they are added.
func WithHolder(h Holder) ServiceOption {
	return func(s *DataRights) { s.holders = append(s.holders, h) }
}

// WithTokenStore sets where used export links are remembered (required:
// sqlconsent.Tokens).
func WithTokenStore(t TokenStore) ServiceOption {
	return func(s *DataRights) { s.tokens = t }
}

// WithPublicURL sets the base of export links ("https://shop.example");
// without it links are bare paths ("/privacy/export/…").
func WithPublicURL(u string) ServiceOption {
	return func(s *DataRights) { s.publicURL = strings.TrimRight(u, "/") }
}

// WithLinkTTL sets how long an export link is valid (DefaultLinkTTL by
// default).
func WithLinkTTL(d time.Duration) ServiceOption {
	return func(s *DataRights) { s.linkTTL = d }
}

// WithServiceNow sets the clock of DataRights (time.Now by default).
func WithServiceNow(now func() time.Time) ServiceOption {
	return func(s *DataRights) { s.now = now }
}

// WithServiceLogger sets where DataRights logs a holder's failure (never
// with personal data); nothing is logged by default.
func WithServiceLogger(l *slog.Logger) ServiceOption {
	return func(s *DataRights) { s.log = l }
}

// NewService returns the data-rights service, DataRights, over ledger and
// keys. secret (the server's BOTTEGA_SECRET_KEY, at least MinSecretLen
// bytes) signs the export links and is the secret of the subject ids
// (SubjectID, CustomerSubject) the service makes for conversations and
// customers; a TokenStore is required (WithTokenStore).
func NewService(ledger *Ledger, keys *Keyring, secret []byte, opts ...ServiceOption) (*DataRights, error) {
	if ledger == nil || keys == nil {
		return nil, errors.New("consent: new service: a ledger and a keyring are required")
	}
	if len(secret) < MinSecretLen {
		return nil, fmt.Errorf("consent: new service: the secret has %d bytes, want at least %d: %w", len(secret), MinSecretLen, ErrInvalid)
	}
	linkKey, err := hkdf.Key(sha256.New, secret, nil, "bottega data rights: export links v1", 32)
	if err != nil {
		return nil, fmt.Errorf("consent: new service: derive the link key: %w", err)
	}
	codeKey, err := hkdf.Key(sha256.New, secret, nil, "bottega data rights: link codes v1", 32)
	if err != nil {
		return nil, fmt.Errorf("consent: new service: derive the link code key: %w", err)
	}
	s := &DataRights{
		ledger: ledger, keys: keys, secret: string(secret), linkKey: linkKey, linkTTL: DefaultLinkTTL,
		codeKey: codeKey, codeTTL: DefaultLinkCodeTTL, now: time.Now, log: slog.New(slog.DiscardHandler),
	}
	for _, o := range opts {
		o(s)
	}
	if s.tokens == nil {
		return nil, errors.New("consent: new service: no token store (WithTokenStore)")
	}
	names := map[string]bool{"ledger": true, "keys": true}
	for _, h := range s.holders {
		switch {
		case h == nil || h.Name() == "":
			return nil, errors.New("consent: new service: a holder without a name")
		case names[h.Name()]:
			return nil, fmt.Errorf("consent: new service: two stores named %q", h.Name())
		}
		names[h.Name()] = true
	}
	return s, nil
}

// Subjects lists the subjects that have a key (see Keyring.Subjects).
func (s *DataRights) Subjects(ctx context.Context, after string, limit int) ([]SubjectInfo, error) {
	return s.keys.Subjects(ctx, after, limit)
}

// scope is everything DataRights knows of a person: the person, the
// identities linked to it, the merged ledger history and the
// conversations of all of them.
type scope struct {
	person     string
	identities []Identity
	// subjects are the aliases, then the person.
	subjects []string
	events   []Event
	// convs are the conversations of all subjects, sorted; links counts
	// the keyring's conversation links among them.
	convs []string
	links int
}

// scopeOf resolves subject, a person or any of its aliases, to its person
// and gathers the person's scope. It reads the links from the store, not
// from a cache.
func (s *DataRights) scopeOf(ctx context.Context, subject string) (scope, error) {
	person, err := s.keys.person(ctx, subject, false)
	if err != nil {
		return scope{}, err
	}
	sc := scope{person: person}
	if sc.identities, err = s.keys.Identities(ctx, person); err != nil {
		return scope{}, err
	}
	for _, id := range sc.identities {
		if id.Alias != person && !slices.Contains(sc.subjects, id.Alias) {
			sc.subjects = append(sc.subjects, id.Alias)
		}
	}
	sc.subjects = append(sc.subjects, person)
	if sc.events, err = s.ledger.History(ctx, person); err != nil {
		return scope{}, err
	}
	for _, subj := range sc.subjects {
		convs, err := s.keys.Conversations(ctx, subj)
		if err != nil {
			return scope{}, err
		}
		sc.links += len(convs)
		sc.convs = append(sc.convs, convs...)
	}
	slices.Sort(sc.convs)
	sc.convs = slices.Compact(sc.convs)
	return sc, nil
}

// Summary returns the person's consent state, their ledger receipts and
// what every store holds on them ("consents" for the ledger's records,
// then each holder's kinds in the order holders were added). subject may
// be a person or any channel identity linked to one: the summary is the
// person's (Summary.Subject), over every linked identity. A subject of
// whom nothing is known gets a summary with no receipts and nothing held.
// Errors wrap ErrInvalid for a malformed subject and ErrUnavailable when a
// store cannot be reached.
func (s *DataRights) Summary(ctx context.Context, subject string) (Summary, error) {
	if !isSubject(subject) {
		return Summary{}, fmt.Errorf("consent: summary: subject is not a subject id: %w", ErrInvalid)
	}
	sc, err := s.scopeOf(ctx, subject)
	if err != nil {
		return Summary{}, fmt.Errorf("consent: summary: %w", err)
	}
	var held []Holding
	if len(sc.events) > 0 {
		held = append(held, Holding{What: "consents", Count: len(sc.events)})
	}
	for _, h := range s.holders {
		hs, err := h.Held(ctx, sc.person, sc.convs)
		if err != nil {
			return Summary{}, fmt.Errorf("consent: summary: store %s: %w", h.Name(), err)
		}
		for _, x := range hs {
			if x.Count > 0 {
				held = append(held, x)
			}
		}
	}
	events := sc.events
	if events == nil {
		events = []Event{}
	}
	if held == nil {
		held = []Holding{}
	}
	return Summary{Subject: sc.person, Consents: StateOf(events), Receipts: events, Held: held,
		Linked: linkedChannels(sc.identities)}, nil
}

// known reports whether anything is held on the person besides the
// ledger's proof of an erasure: a key (of the person or an alias), data
// in a store, or consent records since the last erasure. A holder that
// cannot say counts as holding something.
func (s *DataRights) known(ctx context.Context, sc scope) (bool, error) {
	if len(sc.events) > 0 && sc.events[len(sc.events)-1].Action != Erase {
		return true, nil
	}
	for _, subj := range sc.subjects {
		hasKey, err := s.keys.Has(ctx, subj)
		if err != nil || hasKey {
			return hasKey, err
		}
	}
	for _, h := range s.holders {
		hs, err := h.Held(ctx, sc.person, sc.convs)
		if err != nil {
			return true, nil
		}
		for _, x := range hs {
			if x.Count > 0 {
				return true, nil
			}
		}
	}
	return false, nil
}

// Erase erases the person subject resolves to (subject itself, or the
// person a channel identity is linked to) everywhere, with every identity
// linked to it, in this order: it records Erase events in the ledger, one
// for each linked identity and then one for the person (ending every
// consent; the ledger's records stay as pseudonymous proof of consent),
// asks every holder to erase, giving it the conversations of the person
// and of every linked identity plus conversation (the chat the request
// came from, if any: req.Conversation), and destroys the keys of the person and of every
// linked identity, with the links between them and the person's pending
// link codes, which makes whatever a failing store kept unreadable. It
// reports per store, in that order: "ledger", the holders, "keys". A step
// that fails does not stop the others; the report says which failed
// (Report.Complete).
//
// The ledger events' actor is Admin for a request without conversation;
// for one made in a chat it is the Shopper, with the request's channel,
// message id, method and language.
//
// Errors: ErrInvalid for a malformed subject, ErrNotFound when nothing is
// held on the person (never seen, or erased with nothing held since), and
// the keyring's or ledger's error when what is held cannot be read, in
// which case nothing was done.
func (s *DataRights) Erase(ctx context.Context, subject string, req Request) (Report, error) {
	conversation := req.Conversation
	if !isSubject(subject) {
		return Report{}, fmt.Errorf("consent: erase: subject is not a subject id: %w", ErrInvalid)
	}
	sc, err := s.scopeOf(ctx, subject)
	if err != nil {
		return Report{}, fmt.Errorf("consent: erase: %w", err)
	}
	convs := sc.convs
	if conversation != "" && !slices.Contains(convs, conversation) {
		convs = append(slices.Clone(convs), conversation)
		slices.Sort(convs)
	}
	sc.convs = convs
	known, err := s.known(ctx, sc)
	if err != nil {
		return Report{}, fmt.Errorf("consent: erase: %w", err)
	}
	if !known {
		return Report{}, fmt.Errorf("consent: erase: subject: %w", ErrNotFound)
	}

	r := Report{Subject: sc.person, At: s.now().UTC().Truncate(time.Microsecond)}
	r.Stores = append(r.Stores, s.eraseLedger(ctx, sc, req))
	for _, h := range s.holders {
		sr, err := h.Erase(ctx, sc.person, convs)
		if sr.Store == "" {
			sr.Store = h.Name()
		}
		if err != nil {
			sr.Err = s.failure(h.Name(), err)
		}
		r.Stores = append(r.Stores, sr)
	}
	r.Stores = append(r.Stores, s.eraseKeys(ctx, sc))
	return r, nil
}

// eraseLedger records the Erase events of an erasure: one per linked
// identity, then the person's.
func (s *DataRights) eraseLedger(ctx context.Context, sc scope, req Request) StoreReport {
	rep := StoreReport{Store: "ledger"}
	var ids []int64
	for _, subj := range sc.subjects {
		ev := Event{Subject: subj, Action: Erase, Actor: Admin}
		if req.Conversation != "" {
			ev.Actor, ev.Channel = Shopper, channelOf(req.Conversation)
			ev.MessageID, ev.Method, ev.Lang = req.MessageID, req.Method, req.Lang
		}
		stored, err := s.ledger.Record(ctx, ev)
		if err != nil {
			rep.Err = s.failure("ledger", err)
			continue
		}
		ids = append(ids, stored.ID)
	}
	kept := len(sc.events)
	switch {
	case len(sc.subjects) == 1 && len(ids) == 1:
		rep.Note = fmt.Sprintf("recorded the erasure as event %d; kept the earlier consent events (%d) as pseudonymous proof of consent", ids[0], kept)
	case len(ids) > 0:
		rep.Note = fmt.Sprintf("recorded the erasure of the person and %d linked identities as events %d to %d; kept the earlier consent events (%d) as pseudonymous proof of consent",
			len(sc.subjects)-1, ids[0], ids[len(ids)-1], kept)
	}
	return rep
}

// eraseKeys deletes the person's pending link codes, then destroys the
// keys of the person and its identities, and with them their conversation
// links and the identities.
func (s *DataRights) eraseKeys(ctx context.Context, sc scope) StoreReport {
	rep := StoreReport{Store: "keys"}
	codes := 0
	if s.codes != nil {
		n, err := s.codes.DeleteLinkCodes(ctx, sc.person)
		if err != nil {
			rep.Err = s.failure("link codes", err)
		}
		codes = n
	}
	destroyed := 0
	for _, subj := range sc.subjects {
		had, err := s.keys.Destroy(ctx, subj)
		if err != nil {
			rep.Err = s.failure("keys", err)
			continue
		}
		if had {
			destroyed++
		}
	}
	switch {
	case destroyed == 0:
		rep.Note = "no key was held"
	case len(sc.subjects) == 1:
		rep.Note = "destroyed the person's key and conversation links: what was sealed with the key, in every store and in backups of the main database, can no longer be read"
	default:
		rep.Note = fmt.Sprintf("destroyed %d keys, of the person and of their linked identities, with their conversation links and the %d links between them: what was sealed with the keys, in every store and in backups of the main database, can no longer be read",
			destroyed, len(sc.identities))
	}
	if destroyed > 0 {
		rep.Erased = destroyed + sc.links + len(sc.identities)
	}
	if codes > 0 {
		rep.Erased += codes
		rep.Note += fmt.Sprintf("; deleted %d pending link codes", codes)
	}
	return rep
}

// failure logs a store's failure and returns the report's short text,
// which holds no detail that could carry personal data.
func (s *DataRights) failure(store string, err error) string {
	s.log.Warn("erasure step failed", "store", store, "err", err)
	if errors.Is(err, ErrUnavailable) {
		return "backend unavailable; run the erasure again"
	}
	return "failed; run the erasure again"
}

// Link token layout: version, random id, expiry (Unix seconds, big
// endian), subject (32 bytes), then an HMAC-SHA256 of all that.
const (
	linkV1      = 1
	linkIDLen   = 16
	linkBodyLen = 1 + linkIDLen + 8 + 32
	linkLen     = linkBodyLen + sha256.Size
)

// ExportLink returns a link to a JSON export of everything held on the
// person subject resolves to (see Export), valid for the link TTL and for
// one download. The link is the public URL, ExportPath and a token signed
// with the server's secret; the token carries the person's pseudonymous
// id, a random id and the expiry. Errors wrap ErrInvalid for a malformed subject and
// ErrNotFound when nothing is held on it.
func (s *DataRights) ExportLink(ctx context.Context, subject string) (string, time.Time, error) {
	if !isSubject(subject) {
		return "", time.Time{}, fmt.Errorf("consent: export link: subject is not a subject id: %w", ErrInvalid)
	}
	sc, err := s.scopeOf(ctx, subject)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("consent: export link: %w", err)
	}
	if known, err := s.known(ctx, sc); err != nil {
		return "", time.Time{}, fmt.Errorf("consent: export link: %w", err)
	} else if !known {
		return "", time.Time{}, fmt.Errorf("consent: export link: subject: %w", ErrNotFound)
	}
	expires := s.now().Add(s.linkTTL).UTC().Truncate(time.Second)
	token, err := s.signLink(sc.person, expires)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("consent: export link: %w", err)
	}
	return s.publicURL + ExportPath + token, expires, nil
}

func (s *DataRights) signLink(subject string, expires time.Time) (string, error) {
	b := make([]byte, linkBodyLen, linkLen)
	b[0] = linkV1
	if _, err := rand.Read(b[1 : 1+linkIDLen]); err != nil {
		return "", err
	}
	binary.BigEndian.PutUint64(b[1+linkIDLen:], uint64(expires.Unix()))
	if _, err := hex.Decode(b[1+linkIDLen+8:], []byte(subject)); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(s.linkMAC(b)), nil
}

// linkMAC appends the MAC of body to it.
func (s *DataRights) linkMAC(body []byte) []byte {
	m := hmac.New(sha256.New, s.linkKey)
	m.Write(body)
	return m.Sum(body)
}

// parseLink checks token's signature and returns its id, subject and
// expiry; a token that is not one of ours is ErrNotFound.
func (s *DataRights) parseLink(token string) (id, subject string, expires time.Time, err error) {
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(b) != linkLen || b[0] != linkV1 {
		return "", "", time.Time{}, fmt.Errorf("consent: redeem: not an export link: %w", ErrNotFound)
	}
	if !hmac.Equal(s.linkMAC(bytes.Clone(b[:linkBodyLen])), b) {
		return "", "", time.Time{}, fmt.Errorf("consent: redeem: not an export link: %w", ErrNotFound)
	}
	id = hex.EncodeToString(b[1 : 1+linkIDLen])
	expires = time.Unix(int64(binary.BigEndian.Uint64(b[1+linkIDLen:])), 0).UTC()
	subject = hex.EncodeToString(b[1+linkIDLen+8 : linkBodyLen])
	return id, subject, expires, nil
}

// Redeem returns the export an export link points at and uses the link
// up. Errors wrap ErrNotFound for a token that is not a link of this
// server (forged, damaged) and for a subject of whom nothing is held any
// more (erased since), and ErrGone for a link that expired or was used.
// A failure reading the stores leaves the link unused.
func (s *DataRights) Redeem(ctx context.Context, token string) (Export, error) {
	id, subject, expires, err := s.parseLink(token)
	if err != nil {
		return Export{}, err
	}
	if !s.now().Before(expires) {
		return Export{}, fmt.Errorf("consent: redeem: the link expired: %w", ErrGone)
	}
	used, err := s.tokens.TokenUsed(ctx, id)
	if err != nil {
		return Export{}, fmt.Errorf("consent: redeem: %w", err)
	}
	if used {
		return Export{}, fmt.Errorf("consent: redeem: the link was used: %w", ErrGone)
	}
	x, err := s.Export(ctx, subject)
	if err != nil {
		return Export{}, err
	}
	first, err := s.tokens.UseToken(ctx, id, expires)
	if err != nil {
		return Export{}, fmt.Errorf("consent: redeem: %w", err)
	}
	if !first {
		return Export{}, fmt.Errorf("consent: redeem: the link was used: %w", ErrGone)
	}
	return x, nil
}
