package telegram

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"slices"
	"sync"
	"time"
)

// ErrPayloadExpired means a button's stored payload is gone: expired,
// evicted, kept by another process, or never stored (a client may send any
// callback data).
var ErrPayloadExpired = errors.New("telegram: button payload expired")

// PayloadStore keeps button payloads too long for callback_data (64 bytes)
// behind short keys. Keys are at most 48 bytes of A-Z, a-z, 0-9, _ and -.
//
// MemoryPayloads is the in-process implementation; it suits a single
// replica. A durable, shared store (Redis or SQL) comes with the outbound
// queue.
type PayloadStore interface {
	// Put stores payload and returns its key. Storing the same payload
	// again may return the same key, with its lifetime renewed.
	Put(ctx context.Context, payload string) (key string, err error)
	// Get returns the payload stored under key, or an error wrapping
	// ErrPayloadExpired.
	Get(ctx context.Context, key string) (string, error)
}

// Defaults of MemoryPayloads.
const (
	DefaultPayloadTTL  = 7 * 24 * time.Hour
	DefaultMaxPayloads = 100_000
)

// MemoryPayloads is a PayloadStore in memory: payloads expire ttl after
// they were last stored, and beyond max payloads the oldest are dropped.
// It is safe for concurrent use.
type MemoryPayloads struct {
	ttl time.Duration
	max int
	now func() time.Time

	mu    sync.Mutex
	byKey map[string]*storedPayload
	byVal map[string]*storedPayload
}

type storedPayload struct {
	key, payload string
	expires      time.Time
}

// NewMemoryPayloads returns an empty store; ttl <= 0 means
// DefaultPayloadTTL, max <= 0 DefaultMaxPayloads, and a nil now time.Now.
func NewMemoryPayloads(ttl time.Duration, max int, now func() time.Time) *MemoryPayloads {
	if ttl <= 0 {
		ttl = DefaultPayloadTTL
	}
	if max <= 0 {
		max = DefaultMaxPayloads
	}
	if now == nil {
		now = time.Now
	}
	return &MemoryPayloads{
		ttl: ttl, max: max, now: now,
		byKey: make(map[string]*storedPayload), byVal: make(map[string]*storedPayload),
	}
}

// Put implements PayloadStore.
func (m *MemoryPayloads) Put(_ context.Context, payload string) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	if p := m.byVal[payload]; p != nil {
		p.expires = now.Add(m.ttl)
		return p.key, nil
	}
	if len(m.byKey) >= m.max {
		m.evict(now)
	}
	var b [16]byte
	rand.Read(b[:]) // never fails (crypto/rand)
	p := &storedPayload{key: base64.RawURLEncoding.EncodeToString(b[:]), payload: payload, expires: now.Add(m.ttl)}
	m.byKey[p.key], m.byVal[payload] = p, p
	return p.key, nil
}

// Get implements PayloadStore.
func (m *MemoryPayloads) Get(_ context.Context, key string) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := m.byKey[key]
	if p == nil || !m.now().Before(p.expires) {
		return "", ErrPayloadExpired
	}
	return p.payload, nil
}

// Len returns how many payloads are held, expired ones included until the
// store is next full.
func (m *MemoryPayloads) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.byKey)
}

// evict drops the expired payloads and, if that frees less than a tenth of
// the room, the ones closest to expiry.
func (m *MemoryPayloads) evict(now time.Time) {
	for k, p := range m.byKey {
		if !now.Before(p.expires) {
			m.drop(k, p)
		}
	}
	excess := len(m.byKey) - (m.max - m.max/10 - 1)
	if excess <= 0 {
		return
	}
	all := make([]*storedPayload, 0, len(m.byKey))
	for _, p := range m.byKey {
		all = append(all, p)
	}
	slices.SortFunc(all, func(a, b *storedPayload) int { return a.expires.Compare(b.expires) })
	for _, p := range all[:excess] {
		m.drop(p.key, p)
	}
}

func (m *MemoryPayloads) drop(key string, p *storedPayload) {
	delete(m.byKey, key)
	delete(m.byVal, p.payload)
}
