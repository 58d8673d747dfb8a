package bot

import (
	"sync"
	"time"
)

// ProgressTTL is how long a Progress remembers a reply cut short.
const ProgressTTL = time.Hour

// Progress remembers, per log entry (conversation key and Seq), how many
// platform messages of a reply went out before a failure, so that a retry
// resumes with the next part instead of sending the first ones twice. It
// lives in memory: a retry on another replica, or after a restart, sends
// the whole reply again. It is safe for concurrent use.
type Progress struct {
	mu     sync.Mutex
	parts  map[progressKey]progress
	writes int
}

type progressKey struct {
	key string
	seq int64
}

type progress struct {
	sent int
	at   time.Time
}

// Sent returns how many parts of entry seq of conversation key went out
// before; 0 if none or if it was recorded more than ProgressTTL ago.
func (p *Progress) Sent(key string, seq int64) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	x, ok := p.parts[progressKey{key, seq}]
	if !ok || time.Since(x.at) > ProgressTTL {
		return 0
	}
	return x.sent
}

// Record notes that sent parts of entry seq of conversation key went out.
func (p *Progress) Record(key string, seq int64, sent int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.parts == nil {
		p.parts = make(map[progressKey]progress)
	}
	now := time.Now()
	p.parts[progressKey{key, seq}] = progress{sent: sent, at: now}
	if p.writes++; p.writes%256 == 0 {
		for k, x := range p.parts {
			if now.Sub(x.at) > ProgressTTL {
				delete(p.parts, k)
			}
		}
	}
}

// Forget drops what was recorded for entry seq of conversation key.
func (p *Progress) Forget(key string, seq int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.parts, progressKey{key, seq})
}
