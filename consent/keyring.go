package consent

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
)

// Per-person keys (crypto-shredding).
//
// Everything Bottega keeps about a person in the conversation stores is
// sealed with a data key of that person's own: a random AES-256 key made on
// the first Seal. The data key is stored wrapped (AES-256-GCM) under a
// key-encryption key derived from the server's secret, in a KeyStore that
// lives in a database of its own, apart from the data it protects. Erasing
// the person destroys the data key, and with it every copy of their sealed
// data: in the live stores, in caches, and in backups of the main database,
// as long as those backups do not also hold the keys database (see
// sqlconsent.KeyStore).

// ErrErased means the data belonged to a person who was erased: their key
// is gone and the data can no longer be read.
var ErrErased = errors.New("erased")

// KeyStore keeps the Keyring's wrapped data keys, one per subject, each
// subject's conversation links, and the identities linking channel
// identities (aliases) to persons. Keep it in a database of its own and
// out of the backups of the data it protects. consenttest.TestKeyring is
// its contract. Errors wrap ErrUnavailable when the backend cannot be
// reached.
type KeyStore interface {
	// Key returns subject's wrapped key, or an error wrapping ErrNotFound
	// when it has none.
	Key(ctx context.Context, subject string) (WrappedKey, error)
	// PutKey stores k unless k.Subject has a key already, and returns the
	// subject's key as stored: k, or the one that was there first. So two
	// concurrent first calls for a subject agree on one key.
	PutKey(ctx context.Context, k WrappedKey) (WrappedKey, error)
	// DeleteKey deletes subject's key and links, and every identity where
	// subject is the alias or the person, and reports whether it had a
	// key. Where the backend allows, the deleted bytes are overwritten in
	// the database's files (SQLite's secure_delete).
	DeleteKey(ctx context.Context, subject string) (bool, error)
	// PutLink stores l for subject unless subject has a link with l.ID.
	// It returns an error wrapping ErrNotFound when subject has no key.
	PutLink(ctx context.Context, subject string, l ConversationLink) error
	// Links returns subject's links, oldest first.
	Links(ctx context.Context, subject string) ([]ConversationLink, error)
	// Subjects returns up to limit subjects that have a key, in subject
	// order, after the subject after ("" for the first page), each with the
	// channels of its links and of the identities linked to it.
	Subjects(ctx context.Context, after string, limit int) ([]SubjectInfo, error)
	// PutIdentity stores id unless id.Alias is linked already (to anyone),
	// and returns the alias's identity as stored, id or the one that was
	// there first, and whether this call stored it: of concurrent calls
	// for one alias, exactly one does. It returns an error wrapping
	// ErrNotFound when id.Person has no key.
	PutIdentity(ctx context.Context, id Identity) (Identity, bool, error)
	// Identity returns the identity of alias, or an error wrapping
	// ErrNotFound when alias is not linked.
	Identity(ctx context.Context, alias string) (Identity, error)
	// Identities returns the identities linked to person, oldest first.
	Identities(ctx context.Context, person string) ([]Identity, error)
	// DeleteIdentity deletes the identity of alias if it links alias to
	// person, and reports whether it did.
	DeleteIdentity(ctx context.Context, alias, person string) (bool, error)
}

// Identity links a channel identity's subject, an alias, to a person (a
// shop customer's subject, see CustomerSubject).
type Identity struct {
	// Alias is the channel identity's subject (SubjectID).
	Alias string
	// Person is the subject the alias belongs to.
	Person string
	// Channel is the alias's channel ("webchat"), kept in clear so that a
	// person's linked channels can be listed.
	Channel string
	// Created is when the link was made.
	Created time.Time
}

// WrappedKey is a subject's data key as the KeyStore keeps it.
type WrappedKey struct {
	Subject string
	// Wrapped is the data key sealed under the key-encryption key, with
	// the subject as additional data.
	Wrapped []byte
	// Created is when the key was made.
	Created time.Time
}

// ConversationLink records that a conversation belongs to a subject, so an
// erasure knows which conversations to forget. The conversation key itself
// is sealed with the subject's data key and becomes unreadable with it.
type ConversationLink struct {
	// ID identifies the conversation for this subject (a MAC under a key
	// derived from the data key), so a conversation is linked once.
	ID string
	// Channel is the conversation's channel ("telegram"), kept in clear so
	// that subjects can be listed with their channels.
	Channel string
	// Sealed is the conversation key, sealed with the subject's data key.
	Sealed []byte
	// Created is when the link was made.
	Created time.Time
}

// SubjectInfo is one subject that has a key.
type SubjectInfo struct {
	Subject string `json:"subject"`
	// Channels are the channels of the subject's conversations and, for a
	// person, of the identities linked to it, sorted.
	Channels []string `json:"channels"`
	// Created is when the subject's key was made: their first sealed data.
	Created time.Time `json:"created"`
}

// Keyring defaults.
const (
	// DefaultKeyCacheSize is how many unwrapped keys, and how many
	// identities (alias to person, or not linked), a Keyring keeps in
	// memory.
	DefaultKeyCacheSize = 10000
	// DefaultKeyCacheTTL is how long an unwrapped key or an identity is
	// used from memory before it is read again, so that a key destroyed,
	// or an identity linked, by another replica takes effect here within
	// that time.
	DefaultKeyCacheTTL = time.Minute
	// MinSecretLen is the shortest secret NewKeyring and NewService
	// accept, in bytes.
	MinSecretLen = 32
	// DefaultSubjectsLimit and MaxSubjectsLimit bound a page of Subjects.
	DefaultSubjectsLimit = 100
	MaxSubjectsLimit     = 1000
)

// Format tags. A sealed value starts with its version byte, so the format
// can change without breaking what is stored.
const (
	sealV1    = 1
	dataKeyV1 = 1
	// maxLinkedCache bounds the links a cache entry remembers as stored.
	maxLinkedCache = 64
)

// Keyring seals and opens personal data with per-subject keys. It is safe
// for concurrent use.
type Keyring struct {
	store KeyStore
	kek   cipher.AEAD
	now   func() time.Time
	size  int
	ttl   time.Duration

	flight singleflight.Group

	mu      sync.Mutex
	keys    *lru[*keyEntry] // by subject
	persons *lru[string]    // alias to person, or to itself when not linked
	epoch   uint64          // counts Destroy calls; loads begun before one are not cached
}

// keyEntry is one unwrapped key in the cache.
type keyEntry struct {
	subject string
	aad     []byte // the subject, as additional data for sealed values
	aead    cipher.AEAD
	linkKey []byte          // MAC key for link IDs
	linked  map[string]bool // conversation keys whose links are known to be stored; guarded by Keyring.mu
}

// KeyringOption configures a Keyring.
type KeyringOption func(*Keyring)

// WithKeyCache sets how many unwrapped keys, and how many identities, are
// kept in memory (least recently used ones go first; 0 or less keeps none)
// and for how long each is trusted before it is read again (defaults
// DefaultKeyCacheSize and DefaultKeyCacheTTL).
func WithKeyCache(size int, ttl time.Duration) KeyringOption {
	return func(k *Keyring) { k.size, k.ttl = size, ttl }
}

// WithKeyringNow sets the clock for key times and the cache's TTL
// (time.Now by default).
func WithKeyringNow(now func() time.Time) KeyringOption {
	return func(k *Keyring) { k.now = now }
}

// NewKeyring returns a Keyring keeping its keys in store, wrapped under a
// key-encryption key derived (HKDF-SHA256) from secret, the server's
// BOTTEGA_SECRET_KEY, which must be at least MinSecretLen bytes. The same
// secret must be given to every replica and every restart: without it the
// keys, and so all sealed data, cannot be read.
func NewKeyring(store KeyStore, secret []byte, opts ...KeyringOption) (*Keyring, error) {
	if store == nil {
		return nil, errors.New("consent: new keyring: no key store")
	}
	if len(secret) < MinSecretLen {
		return nil, fmt.Errorf("consent: new keyring: the secret has %d bytes, want at least %d: %w", len(secret), MinSecretLen, ErrInvalid)
	}
	kek, err := hkdf.Key(sha256.New, secret, nil, "bottega keyring: key-encryption key v1", 32)
	if err != nil {
		return nil, fmt.Errorf("consent: new keyring: derive the key-encryption key: %w", err)
	}
	aead, err := newAEAD(kek)
	if err != nil {
		return nil, fmt.Errorf("consent: new keyring: %w", err)
	}
	k := &Keyring{
		store: store, kek: aead, now: time.Now,
		size: DefaultKeyCacheSize, ttl: DefaultKeyCacheTTL,
	}
	for _, o := range opts {
		o(k)
	}
	k.keys, k.persons = newLRU[*keyEntry](k.size), newLRU[string](k.size)
	return k, nil
}

// newAEAD returns AES-256-GCM with random 96-bit nonces, which Seal puts
// before the ciphertext and Open takes from there.
func newAEAD(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCMWithRandomNonce(block)
}

// Seal encrypts plain for subject (AES-256-GCM with a random nonce and the
// subject as additional data), making the subject's key on first use. The
// result is a version byte, the nonce, the ciphertext and the tag. Errors
// wrap ErrInvalid for a subject that is not a SubjectID and ErrUnavailable
// when the key store cannot be reached.
func (k *Keyring) Seal(ctx context.Context, subject string, plain []byte) ([]byte, error) {
	e, err := k.entry(ctx, subject, true)
	if err != nil {
		return nil, fmt.Errorf("consent: seal: %w", err)
	}
	out := make([]byte, 1, 1+len(plain)+e.aead.Overhead())
	out[0] = sealV1
	return e.aead.Seal(out, nil, plain, e.aad), nil
}

// Open decrypts what Seal returned for subject. Errors wrap ErrErased when
// the subject's key is gone (destroyed, or never made), ErrInvalid when
// sealed is damaged or was sealed for another subject, and ErrUnavailable
// when the key store cannot be reached.
func (k *Keyring) Open(ctx context.Context, subject string, sealed []byte) ([]byte, error) {
	if len(sealed) == 0 || sealed[0] != sealV1 {
		return nil, fmt.Errorf("consent: open: not sealed data of a known version: %w", ErrInvalid)
	}
	e, err := k.entry(ctx, subject, false)
	if err != nil {
		return nil, fmt.Errorf("consent: open: %w", err)
	}
	plain, err := e.aead.Open(nil, nil, sealed[1:], e.aad)
	if err != nil {
		return nil, fmt.Errorf("consent: open: damaged, or sealed for another subject: %w", ErrInvalid)
	}
	return plain, nil
}

// Destroy deletes subject's key, and with it the key's links and every
// identity where subject is the alias or the person, and drops them from
// this Keyring's memory; other replicas stop using them within the cache
// TTL. Everything sealed for subject becomes unreadable for good. It
// reports whether there was a key.
func (k *Keyring) Destroy(ctx context.Context, subject string) (bool, error) {
	if !isSubject(subject) {
		return false, fmt.Errorf("consent: destroy key: subject is not a subject id: %w", ErrInvalid)
	}
	k.drop(subject)
	ok, err := k.store.DeleteKey(ctx, subject)
	k.drop(subject) // also what a load racing with the delete cached
	if err != nil {
		return false, fmt.Errorf("consent: destroy key: %w", err)
	}
	return ok, nil
}

// Has reports whether subject has a key.
func (k *Keyring) Has(ctx context.Context, subject string) (bool, error) {
	_, err := k.entry(ctx, subject, false)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, ErrErased):
		return false, nil
	}
	return false, fmt.Errorf("consent: has key: %w", err)
}

// Link records that conversation (a conversation key, "telegram:12345")
// belongs to subject, sealed with the subject's key, making the key if
// needed. Linking a conversation again is cheap: within the cache TTL it
// does not reach the store. Call it whenever a subject's conversation
// stores data, so that Conversations can find it for an erasure.
func (k *Keyring) Link(ctx context.Context, subject, conversation string) error {
	if conversation == "" {
		return fmt.Errorf("consent: link: empty conversation key: %w", ErrInvalid)
	}
	e, err := k.entry(ctx, subject, true)
	if err != nil {
		return fmt.Errorf("consent: link: %w", err)
	}
	k.mu.Lock()
	known := e.linked[conversation]
	k.mu.Unlock()
	if known {
		return nil
	}
	id := e.linkID(conversation)
	sealed := make([]byte, 1, 1+len(conversation)+e.aead.Overhead())
	sealed[0] = sealV1
	sealed = e.aead.Seal(sealed, nil, []byte(conversation), linkAAD(subject, id))
	l := ConversationLink{ID: id, Channel: channelOf(conversation), Sealed: sealed, Created: k.now().UTC().Truncate(time.Microsecond)}
	if err := k.store.PutLink(ctx, subject, l); err != nil {
		if errors.Is(err, ErrNotFound) { // destroyed meanwhile
			k.drop(subject)
			return fmt.Errorf("consent: link: %w", ErrErased)
		}
		return fmt.Errorf("consent: link: %w", err)
	}
	k.mu.Lock()
	if len(e.linked) < maxLinkedCache {
		e.linked[conversation] = true
	}
	k.mu.Unlock()
	return nil
}

// Conversations returns the conversation keys linked to subject, sorted;
// none when the subject has no key.
func (k *Keyring) Conversations(ctx context.Context, subject string) ([]string, error) {
	e, err := k.entry(ctx, subject, false)
	if errors.Is(err, ErrErased) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("consent: conversations: %w", err)
	}
	links, err := k.store.Links(ctx, subject)
	if err != nil {
		return nil, fmt.Errorf("consent: conversations: %w", err)
	}
	out := make([]string, 0, len(links))
	for _, l := range links {
		if len(l.Sealed) == 0 || l.Sealed[0] != sealV1 {
			return nil, fmt.Errorf("consent: conversations: a link of an unknown version: %w", ErrInvalid)
		}
		plain, err := e.aead.Open(nil, nil, l.Sealed[1:], linkAAD(subject, l.ID))
		if err != nil {
			return nil, fmt.Errorf("consent: conversations: a damaged link: %w", ErrInvalid)
		}
		out = append(out, string(plain))
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// Subjects returns up to limit subjects that have a key, after the subject
// after, in subject order; limit defaults to DefaultSubjectsLimit and is
// capped at MaxSubjectsLimit.
func (k *Keyring) Subjects(ctx context.Context, after string, limit int) ([]SubjectInfo, error) {
	if limit <= 0 {
		limit = DefaultSubjectsLimit
	}
	subjects, err := k.store.Subjects(ctx, after, min(limit, MaxSubjectsLimit))
	if err != nil {
		return nil, fmt.Errorf("consent: subjects: %w", err)
	}
	return subjects, nil
}

// entry returns subject's unwrapped key from the cache or the store,
// making it when create is set and the subject has none. Without create,
// a missing key is ErrErased.
func (k *Keyring) entry(ctx context.Context, subject string, create bool) (*keyEntry, error) {
	now := k.now()
	k.mu.Lock()
	if e, ok := k.keys.get(subject, now); ok { // only subject ids get in
		k.mu.Unlock()
		return e, nil
	}
	epoch := k.epoch
	k.mu.Unlock()
	if !isSubject(subject) {
		return nil, fmt.Errorf("subject is not a subject id: %w", ErrInvalid)
	}

	flight := "open:" + subject
	if create {
		flight = "seal:" + subject
	}
	v, err, _ := k.flight.Do(flight, func() (any, error) {
		e, err := k.load(ctx, subject, create)
		if err != nil {
			return nil, err
		}
		k.remember(e, now.Add(k.ttl), epoch)
		return e, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*keyEntry), nil
}

// load reads subject's key from the store and unwraps it; with create, it
// offers the store a new one, which PutKey keeps unless the subject has a
// key, returning the one stored. (A sealing cache miss is nearly always a
// new subject: a conversation's state is opened, and its key cached,
// before anything of it is sealed.)
func (k *Keyring) load(ctx context.Context, subject string, create bool) (*keyEntry, error) {
	var (
		wk  WrappedKey
		err error
	)
	if create {
		fresh, werr := k.wrap(subject)
		if werr != nil {
			return nil, werr
		}
		wk, err = k.store.PutKey(ctx, fresh)
	} else {
		wk, err = k.store.Key(ctx, subject)
	}
	switch {
	case errors.Is(err, ErrNotFound) && !create:
		return nil, ErrErased
	case err != nil:
		return nil, err
	}
	return k.unwrap(wk)
}

// wrap makes a new random data key for subject and wraps it.
func (k *Keyring) wrap(subject string) (WrappedKey, error) {
	dataKey := make([]byte, 32)
	if _, err := rand.Read(dataKey); err != nil {
		return WrappedKey{}, fmt.Errorf("make a key: %w", err)
	}
	out := make([]byte, 1, 1+len(dataKey)+k.kek.Overhead())
	out[0] = dataKeyV1
	out = k.kek.Seal(out, nil, dataKey, keyAAD(subject))
	clear(dataKey)
	return WrappedKey{Subject: subject, Wrapped: out, Created: k.now().UTC().Truncate(time.Microsecond)}, nil
}

// unwrap opens a wrapped key into a cache entry.
func (k *Keyring) unwrap(wk WrappedKey) (*keyEntry, error) {
	if len(wk.Wrapped) == 0 || wk.Wrapped[0] != dataKeyV1 {
		return nil, fmt.Errorf("a stored key of an unknown version: %w", ErrInvalid)
	}
	dataKey, err := k.kek.Open(nil, nil, wk.Wrapped[1:], keyAAD(wk.Subject))
	if err != nil {
		return nil, fmt.Errorf("a stored key does not unwrap: was BOTTEGA_SECRET_KEY changed? %w", ErrInvalid)
	}
	defer clear(dataKey)
	aead, err := newAEAD(dataKey)
	if err != nil {
		return nil, err
	}
	m := hmac.New(sha256.New, dataKey)
	m.Write([]byte("bottega keyring: link ids v1"))
	// A copy: the caller's string may live in a buffer that is reused
	// (Fiber's request values), and the cache keeps this one.
	subject := strings.Clone(wk.Subject)
	return &keyEntry{
		subject: subject, aad: []byte(subject), aead: aead,
		linkKey: m.Sum(nil), linked: make(map[string]bool),
	}, nil
}

// remember caches e until expires unless a Destroy ran since the load
// began at epoch.
func (k *Keyring) remember(e *keyEntry, expires time.Time, epoch uint64) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.epoch == epoch {
		k.keys.put(e.subject, e, expires)
	}
}

// drop removes subject's key, and the identities where subject is the
// alias or the person, from memory and keeps loads in flight from caching
// them.
func (k *Keyring) drop(subject string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.epoch++
	k.keys.drop(subject)
	k.persons.drop(subject)
	k.persons.dropFunc(func(_, person string) bool { return person == subject })
}

// linkID returns the ID of conversation's link.
func (e *keyEntry) linkID(conversation string) string {
	m := hmac.New(sha256.New, e.linkKey)
	m.Write([]byte(conversation))
	return hex.EncodeToString(m.Sum(nil)[:16])
}

func keyAAD(subject string) []byte { return []byte("bottega-key-v1\x00" + subject) }

func linkAAD(subject, id string) []byte { return []byte("bottega-link-v1\x00" + subject + "\x00" + id) }

// channelOf returns the channel of a conversation key ("telegram" of
// "telegram:12345"), or "" when it names none.
func channelOf(conversation string) string {
	ch, _, ok := strings.Cut(conversation, ":")
	if !ok || !channelRE.MatchString(ch) {
		return ""
	}
	return ch
}

// isSubject reports whether s is a SubjectID (64 lowercase hex digits),
// like subjectRE but cheap enough for every Seal and Open.
func isSubject(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := range len(s) {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
