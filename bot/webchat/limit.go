package webchat

import (
	"sync"
	"time"
)

// Limiter is a token bucket per session: Burst messages at once, refilled
// at Rate per second. It is per process; several replicas each apply it.
type Limiter struct {
	Rate  float64
	Burst float64
	now   func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
	swept   time.Time
}

type bucket struct {
	tokens float64
	at     time.Time
}

// NewLimiter returns a limiter; now may be nil.
func NewLimiter(rate, burst float64, now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	return &Limiter{Rate: rate, Burst: burst, now: now, buckets: map[string]*bucket{}}
}

// Allow takes a token for id, reporting false when the bucket is empty.
func (l *Limiter) Allow(id string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if now.Sub(l.swept) > time.Minute {
		for k, b := range l.buckets {
			if now.Sub(b.at).Seconds()*l.Rate > l.Burst {
				delete(l.buckets, k) // full again: forget it
			}
		}
		l.swept = now
	}
	b, ok := l.buckets[id]
	if !ok {
		b = &bucket{tokens: l.Burst, at: now}
		l.buckets[id] = b
	}
	b.tokens = min(l.Burst, b.tokens+now.Sub(b.at).Seconds()*l.Rate)
	b.at = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
