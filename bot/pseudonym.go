package bot

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"hash"
	"sync"
)

// Pseudonyms. A conversation store built with pseudonyms (redisdialogs and
// sqldialogs WithPseudonyms) names a conversation's keys and rows
//
//	base64url(HMAC-SHA256(secret, "bottega-conv-v1\x00" + key)[:16])
//
// (22 characters, unpadded) instead of its key, which names the shopper
// ("telegram:777000111"). 128 bits make a collision between two
// conversations negligible.

// pseudonymDomain separates conversation pseudonyms from the other uses
// of the secret (session signing, the keyring).
const pseudonymDomain = "bottega-conv-v1\x00"

// queueDomain derives the namespace of the outbound queue that the stores
// sharing a secret share.
const queueDomain = "bottega-queue-v1"

// PseudonymLen is the length of a pseudonym: 16 bytes in base64.
const PseudonymLen = 22

// maxMACBuffer bounds the buffer a pooled MAC keeps between uses.
const maxMACBuffer = 1024

// Pseudonymizer computes conversation pseudonyms under one secret. It is
// safe for concurrent use.
type Pseudonymizer struct {
	pool sync.Pool // of *macState
}

type macState struct {
	h   hash.Hash
	buf []byte
}

// NewPseudonymizer returns a Pseudonymizer under secret.
func NewPseudonymizer(secret []byte) *Pseudonymizer {
	secret = bytes.Clone(secret)
	p := &Pseudonymizer{}
	p.pool.New = func() any {
		return &macState{h: hmac.New(sha256.New, secret), buf: make([]byte, 0, 128)}
	}
	return p
}

// Of returns the pseudonym of conversation key.
func (p *Pseudonymizer) Of(key string) string {
	var buf [PseudonymLen]byte
	return string(p.Append(buf[:0], key))
}

// Append appends the pseudonym of conversation key to dst.
func (p *Pseudonymizer) Append(dst []byte, key string) []byte {
	return p.appendSum(dst, pseudonymDomain, key, 16)
}

// Namespace returns a short name that the stores sharing p's secret
// share, and stores with another secret do not.
func (p *Pseudonymizer) Namespace() string {
	return string(p.appendSum(nil, queueDomain, "", 6))
}

// appendSum appends the first n bytes of HMAC(domain+s), base64url-encoded,
// to dst.
func (p *Pseudonymizer) appendSum(dst []byte, domain, s string, n int) []byte {
	m := p.pool.Get().(*macState)
	m.h.Reset()
	m.buf = append(append(m.buf[:0], domain...), s...)
	m.h.Write(m.buf)
	m.buf = m.h.Sum(m.buf[:0])
	dst = base64.RawURLEncoding.AppendEncode(dst, m.buf[:n])
	if cap(m.buf) <= maxMACBuffer {
		p.pool.Put(m)
	}
	return dst
}
