package sqldialogs

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"hash"
	"sync"
)

// Pseudonyms. With WithPseudonyms, a conversation's rows (conv_key) and
// Postgres notifications are keyed by
//
//	base64url(HMAC-SHA256(secret, "bottega-conv-v1\x00" + key)[:16])
//
// (22 characters, unpadded) instead of its key, which names the shopper
// ("telegram:777000111"). redisdialogs names its keys the same way. 128
// bits make a collision between two conversations negligible.

// pseudonymDomain separates conversation pseudonyms from the other uses
// of the secret (session signing, the keyring).
const pseudonymDomain = "bottega-conv-v1\x00"

// queueDomain derives the out_ns of the conversations that the stores
// sharing a secret queue.
const queueDomain = "bottega-queue-v1"

// pseudonymLen is the length of a pseudonym: 16 bytes in base64.
const pseudonymLen = 22

// maxMACBuffer bounds the buffer a pooled MAC keeps between uses.
const maxMACBuffer = 1024

// pseudonymizer computes pseudonyms under one secret. It is safe for
// concurrent use.
type pseudonymizer struct {
	pool sync.Pool // of *macState
}

type macState struct {
	h   hash.Hash
	buf []byte
}

func newPseudonymizer(secret []byte) *pseudonymizer {
	secret = bytes.Clone(secret)
	p := &pseudonymizer{}
	p.pool.New = func() any {
		return &macState{h: hmac.New(sha256.New, secret), buf: make([]byte, 0, 128)}
	}
	return p
}

// of returns the pseudonym of conversation key.
func (p *pseudonymizer) of(key string) string {
	var buf [pseudonymLen]byte
	return string(p.append(buf[:0], key))
}

// append appends the pseudonym of conversation key to dst.
func (p *pseudonymizer) append(dst []byte, key string) []byte {
	return p.appendSum(dst, pseudonymDomain, key, 16)
}

// namespace returns a short name that the stores sharing p's secret share,
// and stores with another secret do not.
func (p *pseudonymizer) namespace() string {
	return string(p.appendSum(nil, queueDomain, "", 6))
}

// appendSum appends the first n bytes of HMAC(domain+s), base64url-encoded,
// to dst.
func (p *pseudonymizer) appendSum(dst []byte, domain, s string, n int) []byte {
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
