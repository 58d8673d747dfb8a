package bottest

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/bottega-shop/bottega/bot"
)

// NewPseudonymousStores returns stores on one empty backend, one for each
// secret — keeping conversations under pseudonyms made with that secret,
// or under their raw keys for a nil secret — and the Contents of that
// backend. The stores run on the real clock.
type NewPseudonymousStores func(t *testing.T, secrets ...[]byte) ([]bot.Store, Contents)

// TestPseudonyms checks stores that name conversations by pseudonyms, so
// that no key name, row key or value at rest holds the conversation key
// (which is the shopper's platform identifier):
//
//   - at rest, once its replies are delivered, the backend holds neither a
//     conversation's key nor its platform id, yet Entries and Due still
//     give the raw key;
//   - after the conversation is forgotten, by a commit with Update.Forget
//     or by bot.Forgetter, the backend holds neither of them nor anything
//     the conversation said;
//   - stores with different secrets on one backend do not see each
//     other's conversations, signals or outbound queues;
//   - forgetting through a store with pseudonyms also erases what a store
//     without them wrote under the raw key.
//
// While replies wait in the outbound queue the backend may hold the raw
// key, which the queue needs to deliver them (bot.Pending.Key); the
// checks are made after the queue has settled, or after the erasure.
func TestPseudonyms(t *testing.T, newStores NewPseudonymousStores) {
	ctx := context.Background()
	const (
		key        = "telegram:777000111" // distinctive, to be found in a dump
		platformID = "777000111"
		other      = "telegram:5550001"
	)
	secret1 := []byte("bottest pseudonym secret number one, 32+ bytes")
	secret2 := []byte("bottest pseudonym secret number two, 32+ bytes")
	at := time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)

	// open returns the stores for secrets and their backend's Contents.
	open := func(t *testing.T, secrets ...[]byte) ([]bot.Store, Contents) {
		t.Helper()
		stores, c := newStores(t, secrets...)
		if len(stores) != len(secrets) {
			t.Fatalf("newStores returned %d stores for %d secrets", len(stores), len(secrets))
		}
		return stores, c
	}

	// turn commits, in conversation key of s, a shopper's message id with
	// its text and the bot's reply, as a Dispatcher would.
	turn := func(t *testing.T, s bot.Store, key, id string, deliver, forget bool) []bot.Entry {
		t.Helper()
		l, err := s.Acquire(ctx, key, claim(id, 0))
		if err != nil {
			t.Fatalf("Acquire(%q, %q) = %v", key, id, err)
		}
		if l.Key != key {
			t.Errorf("Acquire(%q).Key = %q, want the key as given", key, l.Key)
		}
		u := bot.Update{
			MessageID: id, State: []byte("STATE-" + id), Deliver: deliver, Forget: forget,
			SessionTTL: longTTL, DedupeTTL: longTTL, LogTTL: longTTL,
			Entries: []bot.Entry{
				{From: bot.FromShopper, MessageID: id, Text: "TEXT-" + id, At: at},
				{From: bot.FromBot, MessageID: id, Reply: &bot.Reply{Text: "REPLY-" + id}, At: at},
			},
		}
		if forget {
			u.State, u.Entries = nil, u.Entries[1:]
			u.Entries[0].Reply = &bot.Reply{Text: "FAREWELL"}
		}
		es, err := s.Commit(ctx, l, u)
		if err != nil {
			t.Fatalf("Commit(%q, %q) = %v", key, id, err)
		}
		for _, e := range es {
			if e.Conversation != key {
				t.Errorf("Commit(%q) returned an entry of conversation %q, want the key as given", key, e.Conversation)
			}
		}
		return es
	}
	// due leases what s has due now and wants the keys given, raw.
	due := func(t *testing.T, s bot.Store, keys ...string) []bot.Pending {
		t.Helper()
		o, ok := s.(bot.OutboxStore)
		if !ok {
			return nil
		}
		ps, err := o.Due(ctx, time.Now(), 10, longLease)
		if err != nil {
			t.Fatalf("Due = %v", err)
		}
		var got []string
		for _, p := range ps {
			got = append(got, p.Key)
		}
		slices.Sort(got)
		if want := slices.Sorted(slices.Values(keys)); !slices.Equal(got, want) {
			t.Fatalf("Due leased %q, want %q (the raw keys)", got, want)
		}
		return ps
	}
	settle := func(t *testing.T, s bot.Store, p bot.Pending, o bot.Outcome) {
		t.Helper()
		if err := s.(bot.OutboxStore).Settle(ctx, p, o); err != nil {
			t.Fatalf("Settle(%q, %+v) = %v", p.Key, o, err)
		}
	}
	// deliver leases key's replies and settles them as delivered.
	deliver := func(t *testing.T, s bot.Store) {
		t.Helper()
		for _, p := range due(t, s, key) {
			settle(t, s, p, bot.Outcome{Through: p.Last})
		}
	}
	backlog := func(t *testing.T, s bot.Store, want int) {
		t.Helper()
		o, ok := s.(bot.OutboxStore)
		if !ok {
			return
		}
		if n, err := o.Backlog(ctx); err != nil || n != want {
			t.Errorf("Backlog = %d, %v; want %d", n, err, want)
		}
	}
	entries := func(t *testing.T, s bot.Store, key string) []bot.Entry {
		t.Helper()
		es, err := s.Entries(ctx, key, 0, 100)
		if err != nil {
			t.Fatalf("Entries(%q) = %v", key, err)
		}
		for _, e := range es {
			if e.Conversation != key {
				t.Errorf("Entries(%q) returned an entry of conversation %q, want the key as given", key, e.Conversation)
			}
		}
		return es
	}
	// fill writes two turns with replies to deliver into key and leases
	// them; the first reply is dead-lettered (a dead letter keeps the raw
	// key until the conversation is forgotten). It returns the markers
	// that must be gone once key is forgotten and the pending delivery.
	fill := func(t *testing.T, s bot.Store) ([]string, []bot.Pending) {
		t.Helper()
		turn(t, s, key, "MID-pseudo-1", true, false)
		turn(t, s, key, "MID-pseudo-2", true, false)
		gone := []string{
			key, platformID, "TEXT-MID-pseudo-1", "REPLY-MID-pseudo-1", "TEXT-MID-pseudo-2",
			"REPLY-MID-pseudo-2", "STATE-MID-pseudo-2", "MID-pseudo-1", "MID-pseudo-2",
		}
		ps := due(t, s, key)
		if len(ps) > 0 {
			if ps[0].Cursor != 0 || ps[0].Last != 4 {
				t.Errorf("Due = %+v, want cursor 0 and last 4", ps[0])
			}
			dead := []bot.DeadLetter{{Seq: 2, Reason: "REASON-pseudo"}}
			settle(t, s, ps[0], bot.Outcome{Through: 2, Dead: dead, Retry: time.Now().Add(-time.Second)})
			gone = append(gone, "REASON-pseudo")
			ps = due(t, s, key)
			if ps[0].Cursor != 2 {
				t.Errorf("Due after settling through 2 = %+v, want cursor 2", ps[0])
			}
		}
		return gone, ps
	}
	// lacks fails unless the backend lacks every marker in gone and holds
	// every one in kept.
	lacks := func(t *testing.T, c Contents, gone, kept []string) {
		t.Helper()
		b := c(t)
		for _, x := range gone {
			if holds(b, x) {
				t.Errorf("the backend holds %q, want it gone", x)
			}
		}
		for _, x := range kept {
			if !holds(b, x) {
				t.Errorf("the backend lacks %q, want it kept", x)
			}
		}
	}

	t.Run("AtRest", func(t *testing.T) {
		stores, c := open(t, secret1)
		s := stores[0]
		sub, cancel := s.Subscribe(ctx, key)
		defer cancel()
		es := turn(t, s, key, "MID-rest-1", true, false)
		waitSignal(t, sub, lastSeq(t, es), "after a commit to the subscribed conversation")
		turn(t, s, key, "MID-rest-2", true, false)
		if es := entries(t, s, key); len(es) != 4 || es[3].Reply == nil || es[3].Reply.Text != "REPLY-MID-rest-2" {
			t.Errorf("Entries(%q) = %+v, want the 4 entries committed", key, es)
		}
		// While the replies wait for delivery the raw key may be held.
		for _, p := range due(t, s, key) {
			if p.Cursor != 0 || p.Last != 4 {
				t.Errorf("Due = %+v, want cursor 0 and last 4", p)
			}
			settle(t, s, p, bot.Outcome{Through: p.Last})
		}
		backlog(t, s, 0)
		lacks(t, c, []string{key, platformID}, []string{"TEXT-MID-rest-1", "REPLY-MID-rest-2", "STATE-MID-rest-2"})
	})

	t.Run("Commit", func(t *testing.T) {
		stores, c := open(t, secret1)
		s := stores[0]
		gone, ps := fill(t, s)
		for _, p := range ps {
			settle(t, s, p, bot.Outcome{Through: p.Last})
		}
		turn(t, s, key, "m-forget", true, true)
		// The farewell waits for delivery, under the raw key; once it is
		// delivered, nothing of the person is left.
		deliver(t, s)
		backlog(t, s, 0)
		lacks(t, c, gone, []string{"FAREWELL"})
		if es := entries(t, s, key); len(es) != 1 || es[0].Seq != 5 || es[0].Reply == nil || es[0].Reply.Text != "FAREWELL" {
			t.Errorf("Entries(%q) after the erasure = %+v, want the farewell alone, Seq 5", key, es)
		}
	})

	// Forgetter: once the replies are delivered, and while one still
	// waits for a retry (the raw key is in the queue's fields then).
	for _, pending := range []bool{false, true} {
		name := "Forgetter/delivered"
		if pending {
			name = "Forgetter/pending"
		}
		t.Run(name, func(t *testing.T) {
			stores, c := open(t, secret1)
			s := stores[0]
			f, ok := s.(bot.Forgetter)
			if !ok {
				t.Skipf("%T does not implement bot.Forgetter", s)
			}
			gone, ps := fill(t, s)
			for _, p := range ps {
				o := bot.Outcome{Through: p.Last}
				if pending {
					o = bot.Outcome{Through: p.Cursor, Retry: time.Now().Add(time.Hour)}
				}
				settle(t, s, p, o)
			}
			if err := f.Forget(ctx, key); err != nil {
				t.Fatalf("Forget(%q) = %v", key, err)
			}
			backlog(t, s, 0)
			lacks(t, c, gone, nil)
			if es := entries(t, s, key); len(es) != 0 {
				t.Errorf("Entries(%q) after Forget = %+v, want none", key, es)
			}
		})
	}

	t.Run("Secrets", func(t *testing.T) {
		stores, _ := open(t, secret1, secret2)
		a, b := stores[0], stores[1]
		turn(t, a, key, "a-1", true, false)
		backlog(t, a, 1)
		backlog(t, b, 0)
		due(t, b) // none: a's conversation is not in b's queue

		l, err := b.Acquire(ctx, key, claim("b-1", 0))
		if err != nil {
			t.Fatalf("b.Acquire(%q) while a's last turn is committed = %v, want a lease", key, err)
		}
		if l.State != nil || l.Version != 0 || l.LastSeq != 0 {
			t.Errorf("b.Acquire(%q) = %+v, want a new conversation (no state, version 0)", key, l)
		}
		if err := b.Release(ctx, key, "b-1", l.Token); err != nil {
			t.Fatalf("b.Release = %v", err)
		}
		if es := entries(t, b, key); len(es) != 0 {
			t.Errorf("b.Entries(%q) = %+v, want none: the entries are a's", key, es)
		}

		sub, cancel := a.Subscribe(ctx, key)
		defer cancel()
		turn(t, b, key, "b-2", true, false)
		expectQuiet(t, sub, "a's subscriber after b's commit to the same key")
		if es := entries(t, b, key); len(es) != 2 || es[0].Seq != 1 || es[0].MessageID != "b-2" {
			t.Errorf("b.Entries(%q) = %+v, want b's 2 entries from Seq 1", key, es)
		}
		if es := entries(t, a, key); len(es) != 2 || es[0].MessageID != "a-1" {
			t.Errorf("a.Entries(%q) = %+v, want a's 2 entries", key, es)
		}
		for _, s := range []bot.Store{a, b} {
			for _, p := range due(t, s, key) {
				if p.Last != 2 {
					t.Errorf("Due of one store = %+v, want its own conversation (last 2)", p)
				}
				settle(t, s, p, bot.Outcome{Through: p.Last})
			}
		}
		es := turn(t, a, key, "a-2", false, false)
		waitSignal(t, sub, lastSeq(t, es), "after a's own commit")
	})

	// Legacy: a conversation written by a store without pseudonyms, before
	// they were turned on, and then forgotten through a store with them.
	legacy := func(t *testing.T, forget func(t *testing.T, s bot.Store) error) {
		stores, c := open(t, nil, secret1)
		old, s := stores[0], stores[1]
		gone, ps := fill(t, old)
		for _, p := range ps { // still queued: a retry is due later
			settle(t, old, p, bot.Outcome{Through: p.Cursor, Retry: time.Now().Add(time.Hour)})
		}
		turn(t, old, other, "keep-1", false, false)
		lacks(t, c, nil, []string{key, platformID}) // the legacy store keeps raw keys
		if es := entries(t, s, key); len(es) != 0 {
			t.Errorf("Entries(%q) under pseudonyms = %+v, want none: the old session is not found", key, es)
		}
		if err := forget(t, s); err != nil {
			t.Fatalf("forgetting %q = %v", key, err)
		}
		lacks(t, c, gone, []string{"TEXT-keep-1", "STATE-keep-1", other})
		if es := entries(t, old, key); len(es) != 0 {
			t.Errorf("Entries(%q) of the legacy store after the erasure = %+v, want none", key, es)
		}
		backlog(t, old, 0)
	}
	t.Run("LegacyCommit", func(t *testing.T) {
		legacy(t, func(t *testing.T, s bot.Store) error {
			turn(t, s, key, "m-forget", true, true)
			deliver(t, s) // the legacy conversation is not in this queue
			return nil
		})
	})
	t.Run("LegacyForgetter", func(t *testing.T) {
		legacy(t, func(t *testing.T, s bot.Store) error {
			f, ok := s.(bot.Forgetter)
			if !ok {
				t.Skipf("%T does not implement bot.Forgetter", s)
			}
			return f.Forget(ctx, key)
		})
	})
}
