// Package webchat is the website chat channel: signed session tokens,
// the socket protocol with per-conversation sequence numbers and resume,
// idempotent resends by client_msg_id, typing indicators and rate limits.
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

// Sessions issues and checks session tokens: a random session id and an
// expiry, signed with a key derived from BOTTEGA_SECRET_KEY. The widget
// keeps the token in localStorage; a forged or expired one is refused and
// a fresh session offered.
type Sessions struct {
	key []byte
	ttl time.Duration
	now func() time.Time
}

// NewSessions returns a token issuer. ttl is how long a token lives without
// use (each connection refreshes it); now may be nil.
func NewSessions(secret string, ttl time.Duration, now func() time.Time) *Sessions {
	if now == nil {
		now = time.Now
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte("bottega webchat session token v1"))
	return &Sessions{key: mac.Sum(nil), ttl: ttl, now: now}
}

// New starts a session and returns its token and id.
func (s *Sessions) New() (token, id string) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic("webchat: crypto/rand failed: " + err.Error()) // never on supported platforms
	}
	id = hex.EncodeToString(b)
	return s.Refresh(id), id
}

// Refresh issues a new token for an existing session id.
func (s *Sessions) Refresh(id string) string {
	payload := make([]byte, 0, 16+8)
	raw, _ := hex.DecodeString(id)
	payload = append(payload, raw...)
	payload = binary.BigEndian.AppendUint64(payload, uint64(s.now().Add(s.ttl).Unix()))
	enc := base64.RawURLEncoding
	return "v1." + enc.EncodeToString(payload) + "." + enc.EncodeToString(s.sign(payload))
}

func (s *Sessions) sign(payload []byte) []byte {
	mac := hmac.New(sha256.New, s.key)
	mac.Write(payload)
	return mac.Sum(nil)
}

// Verify returns the session id of a genuine, unexpired token.
func (s *Sessions) Verify(token string) (string, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 || parts[0] != "v1" {
		return "", ErrInvalidToken
	}
	enc := base64.RawURLEncoding
	payload, err1 := enc.DecodeString(parts[1])
	sig, err2 := enc.DecodeString(parts[2])
	if err1 != nil || err2 != nil || len(payload) != 24 {
		return "", ErrInvalidToken
	}
	if !hmac.Equal(sig, s.sign(payload)) {
		return "", ErrInvalidToken
	}
	exp := time.Unix(int64(binary.BigEndian.Uint64(payload[16:])), 0)
	if !s.now().Before(exp) {
		return "", ErrExpiredToken
	}
	return hex.EncodeToString(payload[:16]), nil
}
