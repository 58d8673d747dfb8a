package bottest

import (
	"bytes"
	"context"
	"encoding/base64"
	"slices"
	"testing"
	"time"

	"github.com/bottega-shop/bottega/bot"
)

// Contents returns everything the backend behind a store holds — every
// Redis key with its value, every row of every SQL table — as bytes, so
// that TestErasure can look for what must be gone. Binary values are
// written as they are.
type Contents func(t *testing.T) []byte

// TestErasure checks that forgetting a conversation, by a commit with
// Update.Forget and by bot.Forgetter when the store implements it, leaves
// nothing of its texts, replies, sealed entries, states, message IDs or
// dead letters anywhere in the backend, and that other conversations keep
// theirs. newStore is called once per subtest and returns a store on an
// empty backend and the Contents of that backend.
func TestErasure(t *testing.T, newStore func(t *testing.T) (bot.Store, Contents)) {
	ctx := context.Background()
	const (
		key   = "telegram:4242"
		other = "telegram:7"
	)
	// markers are what must be gone after the erasure and what must stay;
	// each is in the backend before it.
	type markers struct{ gone, kept []string }
	at := time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)

	commit := func(t *testing.T, s bot.Store, l *bot.Lease, u bot.Update) {
		t.Helper()
		u.SessionTTL, u.DedupeTTL, u.LogTTL = longTTL, longTTL, longTTL
		if _, err := s.Commit(ctx, l, u); err != nil {
			t.Fatalf("Commit(%q, %q) = %v", l.Key, l.MessageID, err)
		}
	}
	acquire := func(t *testing.T, s bot.Store, key string, c bot.Claim) *bot.Lease {
		t.Helper()
		l, err := s.Acquire(ctx, key, c)
		if err != nil {
			t.Fatalf("Acquire(%q, %q) = %v", key, c.MessageID, err)
		}
		return l
	}
	// fill writes the markers to be gone into key's conversation and those
	// to be kept into another, and returns them and a lease on key held
	// while a message waits.
	fill := func(t *testing.T, s bot.Store, c Contents) (*bot.Lease, markers) {
		t.Helper()
		m := markers{
			gone: []string{
				"STATE-secret-2", "TEXT-secret-1", "TEXT-secret-2", "REPLY-secret",
				"CARD-secret", "SEALED-secret-1", "MID-secret-1", "MID-secret-2", "MID-queued-secret",
			},
			kept: []string{"TEXT-keep", "STATE-keep"},
		}
		commit(t, s, acquire(t, s, key, claim("MID-secret-1", 0)), bot.Update{
			MessageID: "MID-secret-1", State: []byte("state overwritten by the next commit"), Deliver: true,
			Entries: []bot.Entry{
				{From: bot.FromShopper, MessageID: "MID-secret-1", Text: "TEXT-secret-1", At: at},
				{From: bot.FromBot, MessageID: "MID-secret-1", At: at, Reply: &bot.Reply{
					Text: "REPLY-secret", Cards: []bot.Card{{Title: "CARD-secret"}},
				}},
			},
		})
		commit(t, s, acquire(t, s, key, claim("MID-secret-2", 0)), bot.Update{
			MessageID: "MID-secret-2", State: []byte("STATE-secret-2"), Deliver: true,
			Entries: []bot.Entry{
				{From: bot.FromShopper, MessageID: "MID-secret-2", Text: "TEXT-secret-2", At: at},
				{From: bot.FromBot, MessageID: "MID-secret-2", Sealed: []byte("SEALED-secret-1"), At: at},
			},
		})
		commit(t, s, acquire(t, s, other, claim("keep-1", 0)), bot.Update{
			MessageID: "keep-1", State: []byte("STATE-keep"), Deliver: true,
			Entries: []bot.Entry{{From: bot.FromShopper, MessageID: "keep-1", Text: "TEXT-keep", At: at}},
		})
		if o, ok := s.(bot.OutboxStore); ok {
			ps, err := o.Due(ctx, time.Now(), 10, longLease)
			if err != nil {
				t.Fatalf("Due = %v", err)
			}
			for _, p := range ps {
				reason := "REASON-keep"
				if p.Key == key {
					reason = "REASON-secret"
				}
				dead := []bot.DeadLetter{{Seq: p.Cursor + 1, Reason: reason}}
				if err := o.Settle(ctx, p, bot.Outcome{Through: p.Cursor + 1, Dead: dead, Retry: time.Now().Add(time.Hour)}); err != nil {
					t.Fatalf("Settle(%q) = %v", p.Key, err)
				}
			}
			m.gone = append(m.gone, "REASON-secret")
			m.kept = append(m.kept, "REASON-keep")
		}
		l := acquire(t, s, key, claim("m-forget", 0))
		if _, err := s.Acquire(ctx, key, claim("MID-queued-secret", 1)); err == nil {
			t.Fatalf("Acquire of a second message while the first holds the lock = nil error, want ErrBusy")
		}
		b := c(t)
		for _, x := range append(slices.Clone(m.gone), m.kept...) {
			if !holds(b, x) {
				t.Fatalf("the backend's contents lack %q before the erasure: Contents misses data, the test would prove nothing", x)
			}
		}
		return l, m
	}
	check := func(t *testing.T, c Contents, m markers) {
		t.Helper()
		b := c(t)
		for _, x := range m.gone {
			if holds(b, x) {
				t.Errorf("the backend still holds %q after the conversation was forgotten", x)
			}
		}
		for _, x := range m.kept {
			if !holds(b, x) {
				t.Errorf("the backend lost %q, which it should keep", x)
			}
		}
	}

	t.Run("Commit", func(t *testing.T) {
		s, c := newStore(t)
		l, m := fill(t, s, c)
		commit(t, s, l, bot.Update{
			MessageID: "m-forget", Forget: true, Deliver: true,
			Entries: []bot.Entry{{From: bot.FromBot, MessageID: "m-forget", Text: "FAREWELL", At: at}},
		})
		m.kept = append(m.kept, "FAREWELL")
		check(t, c, m)
	})

	t.Run("Forgetter", func(t *testing.T) {
		s, c := newStore(t)
		f, ok := s.(bot.Forgetter)
		if !ok {
			t.Skipf("%T does not implement bot.Forgetter", s)
		}
		_, m := fill(t, s, c) // the lease stays held: Forget breaks it
		if err := f.Forget(ctx, key); err != nil {
			t.Fatalf("Forget(%q) = %v", key, err)
		}
		check(t, c, m)
	})
}

// holds reports whether b holds marker as it is or base64-encoded (as
// bytes inside JSON are).
func holds(b []byte, marker string) bool {
	return bytes.Contains(b, []byte(marker)) ||
		bytes.Contains(b, []byte(base64.StdEncoding.EncodeToString([]byte(marker))))
}
