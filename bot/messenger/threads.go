package messenger

import (
	"context"
	"sync"
	"time"
)

// Window is Messenger's standard messaging window: the Page may answer
// with RESPONSE messages for this long after the shopper last wrote.
const Window = 24 * time.Hour

// OwnerIdle is how long another app is taken to own a thread after the
// last sign of it (a handover, a standby event, a person's reply) without
// a pass back — Meta's default idle expiry of thread control.
const OwnerIdle = 24 * time.Hour

// OtherApp is the owner recorded when an app other than ours owns a thread
// but its id is not known (a standby event). SetOwner with OtherApp keeps
// a known owner's id.
const OtherApp = "other"

// Thread is what decides whether the bot may write to a shopper.
type Thread struct {
	// LastWrote is when the shopper last wrote to the Page: the start of
	// the current 24-hour window. Zero if unknown.
	LastWrote time.Time
	// Owner is the app id of another app that owns the thread (OtherApp if
	// its id is unknown), or "" when the bot owns it or no one does.
	Owner string
	// OwnerSeen is the time of the last sign of Owner (or of the pass back
	// to the bot).
	OwnerSeen time.Time
}

// InWindow reports whether the shopper wrote less than Window before now.
func (t Thread) InWindow(now time.Time) bool {
	return !t.LastWrote.IsZero() && now.Sub(t.LastWrote) < Window
}

// OwnedByOther reports whether another app owns the thread at now: the bot
// must stay silent.
func (t Thread) OwnedByOther(now time.Time) bool {
	return t.Owner != "" && now.Sub(t.OwnerSeen) < OwnerIdle
}

// Threads remembers, per shopper (PSID), when they last wrote and who owns
// their thread, for every replica that sends. Times may arrive out of
// order (batches are retried); each field keeps the latest.
type Threads interface {
	// Wrote records that psid wrote to the Page at at.
	Wrote(ctx context.Context, psid string, at time.Time) error
	// SetOwner records that app owns psid's thread as of at: "" for the
	// bot (or no one), OtherApp for an app not ours whose id is unknown.
	// A record with an earlier at than the one held changes nothing.
	SetOwner(ctx context.Context, psid, app string, at time.Time) error
	// Thread returns what is known of psid's thread, the zero Thread for
	// a shopper never seen.
	Thread(ctx context.Context, psid string) (Thread, error)
}

// MemThreads is Threads in memory, for one replica. It forgets a shopper
// once both their window and any other app's ownership are over.
type MemThreads struct {
	now func() time.Time

	mu      sync.Mutex
	threads map[string]Thread
	writes  int
}

// NewMemThreads returns an empty MemThreads; now (time.Now if nil) decides
// what is old enough to forget.
func NewMemThreads(now func() time.Time) *MemThreads {
	if now == nil {
		now = time.Now
	}
	return &MemThreads{now: now, threads: make(map[string]Thread)}
}

// Wrote implements Threads.
func (m *MemThreads) Wrote(_ context.Context, psid string, at time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	t := m.threads[psid]
	if at.After(t.LastWrote) {
		t.LastWrote = at
	}
	m.threads[psid] = t
	m.wrote()
	return nil
}

// SetOwner implements Threads.
func (m *MemThreads) SetOwner(_ context.Context, psid, app string, at time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	t := m.threads[psid]
	if at.Before(t.OwnerSeen) {
		return nil
	}
	if app != OtherApp || t.Owner == "" || !t.OwnedByOther(at) {
		t.Owner = app
	}
	t.OwnerSeen = at
	m.threads[psid] = t
	m.wrote()
	return nil
}

// Thread implements Threads.
func (m *MemThreads) Thread(_ context.Context, psid string) (Thread, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.threads[psid], nil
}

// Len returns how many shoppers are remembered.
func (m *MemThreads) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.threads)
}

// wrote counts a write and every so often forgets the shoppers whose
// Thread no longer matters. m.mu is held.
func (m *MemThreads) wrote() {
	m.writes++
	if m.writes%1024 != 0 {
		return
	}
	now := m.now()
	for psid, t := range m.threads {
		if !t.InWindow(now) && !t.OwnedByOther(now) {
			delete(m.threads, psid)
		}
	}
}
