// Package webchat is the website chat channel: signed session tokens,
// the socket protocol with per-conversation sequence numbers and resume,
// idempotent resends by client_msg_id, typing indicators and rate limits,
// and signed-in shoppers (the shop's signed customer claim, which binds
// the session to the customer and links the conversation to them).
// It knows nothing of HTTP: package web hands it a Conn.
package webchat

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"strings"
	"time"
)

// Token errors.
var (
	ErrInvalidToken = errors.New("webchat: invalid session token")
	ErrExpiredToken = errors.New("webchat: expired session token")
)

// Sessions issues and checks session tokens, signed with a key derived
// from BOTTEGA_SECRET_KEY. A "v2" token holds a random session id, an
// expiry and the session's Binding (whom it belongs to); a "v1" token,
// issued before customers could sign in, holds the id and the expiry and
// names an anonymous session. The widget keeps the token in localStorage;
// a forged or expired one is refused and a fresh session offered.
type Sessions struct {
	key  []byte // signs tokens
	bind []byte // computes Bindings
	ttl  time.Duration
	now  func() time.Time
}

// Binding says whom a session belongs to: the zero Binding for an
// anonymous visitor, else a 16-byte MAC of the signed-in customer's id
// (so the token, which the browser can read, does not show the id).
type Binding [16]byte

// IsZero reports whether b is the anonymous binding.
func (b Binding) IsZero() bool { return b == Binding{} }

// Session is what a genuine token says.
type Session struct {
	ID      string
	Binding Binding
}

// Token payload sizes: id and expiry (v1), then the binding (v2).
const (
	v1Payload = 16 + 8
	v2Payload = v1Payload + 16
)

// NewSessions returns a token issuer. ttl is how long a token lives without
// use (each connection refreshes it); now may be nil.
func NewSessions(secret string, ttl time.Duration, now func() time.Time) *Sessions {
	if now == nil {
		now = time.Now
	}
	derive := func(label string) []byte {
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write([]byte(label))
		return mac.Sum(nil)
	}
	return &Sessions{
		key:  derive("bottega webchat session token v1"),
		bind: derive("bottega webchat customer binding v2"),
		ttl:  ttl, now: now,
	}
}

// Bind returns the Binding of a session of customerID; "" is anonymous.
func (s *Sessions) Bind(customerID string) Binding {
	var b Binding
	if customerID == "" {
		return b
	}
	mac := hmac.New(sha256.New, s.bind)
	mac.Write([]byte(customerID))
	copy(b[:], mac.Sum(nil))
	return b
}

// NewBound starts a session bound to b and returns its token and id.
func (s *Sessions) NewBound(b Binding) (token, id string) {
	raw := make([]byte, 16)
	if _, err := rand.Read(raw); err != nil {
		panic("webchat: crypto/rand failed: " + err.Error()) // never on supported platforms
	}
	id = hex.EncodeToString(raw)
	return s.Issue(Session{ID: id, Binding: b}), id
}

// Issue returns a fresh token for sess, valid for the issuer's ttl.
func (s *Sessions) Issue(sess Session) string {
	payload := make([]byte, 0, v2Payload)
	raw, _ := hex.DecodeString(sess.ID)
	payload = append(payload, raw...)
	payload = binary.BigEndian.AppendUint64(payload, uint64(s.now().Add(s.ttl).Unix()))
	payload = append(payload, sess.Binding[:]...)
	enc := base64.RawURLEncoding
	return "v2." + enc.EncodeToString(payload) + "." + enc.EncodeToString(s.sign(payload))
}

func (s *Sessions) sign(payload []byte) []byte {
	mac := hmac.New(sha256.New, s.key)
	mac.Write(payload)
	return mac.Sum(nil)
}

// Open returns the session of a genuine, unexpired token: ErrInvalidToken
// or ErrExpiredToken otherwise. A v1 token's session is anonymous.
func (s *Sessions) Open(token string) (Session, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return Session{}, ErrInvalidToken
	}
	var size int
	switch parts[0] {
	case "v1":
		size = v1Payload
	case "v2":
		size = v2Payload
	default:
		return Session{}, ErrInvalidToken
	}
	enc := base64.RawURLEncoding
	payload, err1 := enc.DecodeString(parts[1])
	sig, err2 := enc.DecodeString(parts[2])
	if err1 != nil || err2 != nil || len(payload) != size {
		return Session{}, ErrInvalidToken
	}
	if !hmac.Equal(sig, s.sign(payload)) {
		return Session{}, ErrInvalidToken
	}
	exp := time.Unix(int64(binary.BigEndian.Uint64(payload[16:24])), 0)
	if !s.now().Before(exp) {
		return Session{}, ErrExpiredToken
	}
	sess := Session{ID: hex.EncodeToString(payload[:16])}
	copy(sess.Binding[:], payload[v1Payload:])
	return sess, nil
}
