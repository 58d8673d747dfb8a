// Package bottest holds the contract suites of package bot's interfaces:
// TestStore for a bot.Store (and bot.Forgetter), TestOutboxStore for a
// bot.OutboxStore, TestErasure for what a forgotten conversation leaves
// in a store's backend, TestPseudonyms for stores that keep no raw
// conversation key at rest, and TestDispatcher for Dispatchers sharing one
// store's backend, in the manner of testing/fstest.TestFS. Every Store
// implementation runs them all.
package bottest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/bottega-shop/bottega/bot"
)

// Times used by the suites. Expiry tests sleep past short TTLs with the
// real clock, which Redis keeps on the server.
const (
	longLease = 30 * time.Second
	longWait  = 30 * time.Second
	shortTTL  = 250 * time.Millisecond
	pastTTL   = 450 * time.Millisecond // sleep this long to see shortTTL pass
	longTTL   = time.Hour
	eventWait = 5 * time.Second // how long to wait for a signal that should come
	quietWait = 150 * time.Millisecond
)

func claim(id string, seq int64) bot.Claim {
	return bot.Claim{MessageID: id, Seq: seq, Lease: longLease, Wait: longWait}
}

// update returns an Update that marks id done and appends texts as
// shopper entries.
func update(id string, state string, texts ...string) bot.Update {
	u := bot.Update{MessageID: id, State: []byte(state), SessionTTL: longTTL, DedupeTTL: longTTL, LogTTL: longTTL}
	at := time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)
	for i, t := range texts {
		u.Entries = append(u.Entries, bot.Entry{From: bot.FromShopper, MessageID: id, Text: t, At: at.Add(time.Duration(i) * time.Second)})
	}
	return u
}

// TestStore checks that the stores newStore returns keep the bot.Store
// contract, including Entry.Sealed and Update.Forget, and bot.Forgetter
// when they implement it. newStore is called once per subtest and must
// return a store on an empty backend. The suite makes no reconnection, so
// a Subscribe signal must carry the Seq committed: 0 (unknown) fails it.
func TestStore(t *testing.T, newStore func(t *testing.T) bot.Store) {
	ctx := context.Background()
	const key = "webchat:conv-1"

	mustAcquire := func(t *testing.T, s bot.Store, key string, c bot.Claim) *bot.Lease {
		t.Helper()
		l, err := s.Acquire(ctx, key, c)
		if err != nil {
			t.Fatalf("Acquire(%q, %q) = %v, want a lease", key, c.MessageID, err)
		}
		return l
	}
	wantAcquireErr := func(t *testing.T, s bot.Store, key string, c bot.Claim, want error) {
		t.Helper()
		if l, err := s.Acquire(ctx, key, c); !errors.Is(err, want) {
			t.Fatalf("Acquire(%q, %q seq %d) = %+v, %v; want %v", key, c.MessageID, c.Seq, l, err, want)
		}
	}
	mustCommit := func(t *testing.T, s bot.Store, l *bot.Lease, u bot.Update) []bot.Entry {
		t.Helper()
		es, err := s.Commit(ctx, l, u)
		if err != nil {
			t.Fatalf("Commit(%q, %q) = %v", l.Key, l.MessageID, err)
		}
		return es
	}
	entries := func(t *testing.T, s bot.Store, key string, after int64, limit int) []bot.Entry {
		t.Helper()
		es, err := s.Entries(ctx, key, after, limit)
		if err != nil {
			t.Fatalf("Entries(%q, %d, %d) = %v", key, after, limit, err)
		}
		return es
	}
	seqs := func(es []bot.Entry) []int64 {
		out := []int64{}
		for _, e := range es {
			out = append(out, e.Seq)
		}
		return out
	}

	t.Run("NewConversation", func(t *testing.T) {
		s := newStore(t)
		l := mustAcquire(t, s, key, claim("m1", 0))
		if l.Key != key || l.MessageID != "m1" || l.State != nil || l.Version != 0 || l.LastSeq != 0 || l.Token <= 0 {
			t.Errorf("Acquire on a new conversation = %+v, want key %q, message m1, no state, version 0, last seq 0, a positive token", l, key)
		}
		if es := entries(t, s, key, 0, 10); len(es) != 0 {
			t.Errorf("Entries of a new conversation = %v, want none", es)
		}
		if es := entries(t, s, "webchat:unknown", 0, 10); len(es) != 0 {
			t.Errorf("Entries of an unknown conversation = %v, want none", es)
		}
	})

	t.Run("CommitAndReadBack", func(t *testing.T) {
		s := newStore(t)
		rome := time.FixedZone("CET", 3600)
		at := time.Date(2026, 5, 4, 12, 30, 0, 123456789, rome)
		reply := bot.Reply{
			Text:         "Sì, nel 42 ne restano 2 <b>",
			QuickReplies: []bot.QuickReply{{Title: "43?", Payload: "SIZE_43"}},
			Cards: []bot.Card{{
				Title: "Trail Runner", Subtitle: "rosso", ImageURL: "https://shop.example/tr.jpg",
				URL: "https://shop.example/tr", Price: "€ 129,00",
				Buttons: []bot.Button{{Title: "Avvisami", Payload: "NOTIFY:TR-42"}, {Title: "Vedi", URL: "https://shop.example/tr"}},
			}},
			Buttons: []bot.Button{{Title: "Negozio", URL: "https://shop.example"}},
		}
		l := mustAcquire(t, s, key, claim("m1", 0))
		got := mustCommit(t, s, l, bot.Update{
			MessageID: "m1", State: []byte("state-1\x00\xff"),
			Entries: []bot.Entry{
				{From: bot.FromShopper, MessageID: "m1", Text: "avete le trail runner nel 42?", At: at},
				{From: bot.FromBot, MessageID: "m1", Reply: &reply, At: at.Add(time.Millisecond)},
			},
			SessionTTL: longTTL, DedupeTTL: longTTL, LogTTL: longTTL,
		})
		utc := time.Date(2026, 5, 4, 11, 30, 0, 123456000, time.UTC)
		want := []bot.Entry{
			{Seq: 1, Conversation: key, From: bot.FromShopper, MessageID: "m1", Text: "avete le trail runner nel 42?", At: utc},
			{Seq: 2, Conversation: key, From: bot.FromBot, MessageID: "m1", Reply: &reply, At: utc.Add(time.Millisecond)},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Commit returned entries (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(want, entries(t, s, key, 0, 10)); diff != "" {
			t.Errorf("Entries after Commit (-want +got):\n%s", diff)
		}
		l2 := mustAcquire(t, s, key, claim("m2", 0))
		if string(l2.State) != "state-1\x00\xff" || l2.Version != 1 {
			t.Errorf("Acquire after Commit = state %q version %d, want %q version 1", l2.State, l2.Version, "state-1\x00\xff")
		}
		if l2.Token <= l.Token {
			t.Errorf("second lease token %d, want more than the first's %d", l2.Token, l.Token)
		}
		got = mustCommit(t, s, l2, update("m2", "state-2", "e nel 43?"))
		if len(got) != 1 || got[0].Seq != 3 {
			t.Errorf("second Commit gave seqs %v, want [3]", seqs(got))
		}
		l3 := mustAcquire(t, s, key, claim("m3", 0))
		if string(l3.State) != "state-2" || l3.Version != 2 {
			t.Errorf("third Acquire = state %q version %d, want %q version 2", l3.State, l3.Version, "state-2")
		}
	})

	t.Run("Duplicate", func(t *testing.T) {
		s := newStore(t)
		l := mustAcquire(t, s, key, claim("m1", 0))
		mustCommit(t, s, l, update("m1", "s", "ciao"))
		wantAcquireErr(t, s, key, claim("m1", 0), bot.ErrDuplicate)
		// The same message ID in another conversation is another message.
		l = mustAcquire(t, s, "telegram:other", claim("m1", 0))
		mustCommit(t, s, l, update("m1", "s", "ciao"))
		if es := entries(t, s, key, 0, 10); len(es) != 1 {
			t.Errorf("Entries = %v, want the one committed entry", es)
		}
	})

	t.Run("Busy", func(t *testing.T) {
		s := newStore(t)
		a := mustAcquire(t, s, key, claim("a", 0))
		wantAcquireErr(t, s, key, claim("b", 0), bot.ErrBusy)
		// Other conversations are not blocked.
		other := mustAcquire(t, s, "telegram:42", claim("b", 0))
		mustCommit(t, s, other, update("b", "x", "hi"))
		mustCommit(t, s, a, update("a", "s", "ciao"))
		b := mustAcquire(t, s, key, claim("b", 0))
		if b.Token <= a.Token {
			t.Errorf("token after a commit = %d, want more than %d", b.Token, a.Token)
		}
	})

	t.Run("QueueOrder", func(t *testing.T) {
		s := newStore(t)
		x := mustAcquire(t, s, key, claim("x", 0))
		// While x holds the lock: b (seq 3), then c and d (both seq 2) arrive.
		for _, c := range []bot.Claim{claim("b", 3), claim("c", 2), claim("d", 2)} {
			wantAcquireErr(t, s, key, c, bot.ErrBusy)
		}
		mustCommit(t, s, x, update("x", "s", "x"))
		// The queue is c, d (same seq, in order of arrival), b.
		wantAcquireErr(t, s, key, claim("b", 3), bot.ErrBusy)
		wantAcquireErr(t, s, key, claim("d", 2), bot.ErrBusy)
		c := mustAcquire(t, s, key, claim("c", 2))
		wantAcquireErr(t, s, key, claim("d", 2), bot.ErrBusy) // c holds the lock
		mustCommit(t, s, c, update("c", "s", "c"))
		wantAcquireErr(t, s, key, claim("b", 3), bot.ErrBusy)
		// A newcomer with a lower Seq goes before those waiting.
		e := mustAcquire(t, s, key, claim("e", 1))
		mustCommit(t, s, e, update("e", "s", "e"))
		d := mustAcquire(t, s, key, claim("d", 2))
		mustCommit(t, s, d, update("d", "s", "d"))
		b := mustAcquire(t, s, key, claim("b", 3))
		mustCommit(t, s, b, update("b", "s", "b"))
		var texts []string
		for _, e := range entries(t, s, key, 0, 10) {
			texts = append(texts, e.Text)
		}
		if diff := cmp.Diff([]string{"x", "c", "e", "d", "b"}, texts); diff != "" {
			t.Errorf("log order (-want +got):\n%s", diff)
		}
	})

	t.Run("Gap", func(t *testing.T) {
		s := newStore(t)
		inOrder := func(id string, seq int64) bot.Claim { c := claim(id, seq); c.InOrder = true; return c }
		wantAcquireErr(t, s, key, inOrder("m2", 2), bot.ErrGap)
		// m1 goes before m2, which waits in the queue.
		l := mustAcquire(t, s, key, inOrder("m1", 1))
		u := update("m1", "s", "uno")
		u.Seq = 1
		mustCommit(t, s, l, u)
		l = mustAcquire(t, s, key, inOrder("m2", 2))
		if l.LastSeq != 1 {
			t.Errorf("LastSeq after committing seq 1 = %d, want 1", l.LastSeq)
		}
		u = update("m2", "s", "due")
		u.Seq = 2
		mustCommit(t, s, l, u)
		// m5 waits for 3 and 4 while InOrder; without it, it goes ahead.
		wantAcquireErr(t, s, key, inOrder("m5", 5), bot.ErrGap)
		l = mustAcquire(t, s, key, claim("m5", 5))
		u = update("m5", "s", "cinque")
		u.Seq = 5
		mustCommit(t, s, l, u)
		// A late message is not a gap; it does not lower LastSeq.
		l = mustAcquire(t, s, key, inOrder("m3", 3))
		if l.LastSeq != 5 {
			t.Errorf("LastSeq = %d, want 5", l.LastSeq)
		}
		u = update("m3", "s", "tre")
		u.Seq = 3
		mustCommit(t, s, l, u)
		if l = mustAcquire(t, s, key, claim("m6", 0)); l.LastSeq != 5 {
			t.Errorf("LastSeq after a late seq 3 = %d, want 5", l.LastSeq)
		}
	})

	t.Run("QueuePlaceExpires", func(t *testing.T) {
		s := newStore(t)
		x := mustAcquire(t, s, key, claim("x", 0))
		short := claim("b", 1)
		short.Wait = shortTTL
		wantAcquireErr(t, s, key, short, bot.ErrBusy) // b queues, then vanishes
		wantAcquireErr(t, s, key, claim("c", 2), bot.ErrBusy)
		mustCommit(t, s, x, update("x", "s", "x"))
		wantAcquireErr(t, s, key, claim("c", 2), bot.ErrBusy) // b goes first
		time.Sleep(pastTTL)
		mustAcquire(t, s, key, claim("c", 2))
	})

	t.Run("Release", func(t *testing.T) {
		s := newStore(t)
		a := mustAcquire(t, s, key, claim("a", 0))
		if err := s.Release(ctx, key, "a", a.Token); err != nil {
			t.Fatalf("Release = %v", err)
		}
		b := mustAcquire(t, s, key, claim("b", 0))
		// A stale token does not release the holder.
		if err := s.Release(ctx, key, "a", a.Token); err != nil {
			t.Fatalf("Release with a stale token = %v", err)
		}
		wantAcquireErr(t, s, key, claim("a", 0), bot.ErrBusy)
		wantAcquireErr(t, s, key, claim("c", 5), bot.ErrBusy)
		// Token 0 only leaves the queue: a no longer goes before c.
		if err := s.Release(ctx, key, "a", 0); err != nil {
			t.Fatalf("Release(token 0) = %v", err)
		}
		mustCommit(t, s, b, update("b", "b-state", "b"))
		c := mustAcquire(t, s, key, claim("c", 5))
		mustCommit(t, s, c, update("c", "c-state", "c"))
		// a was released, not done: it can still be handled.
		a = mustAcquire(t, s, key, claim("a", 0))
		if string(a.State) != "c-state" {
			t.Errorf("state = %q, want %q", a.State, "c-state")
		}
		if es := entries(t, s, key, 0, 10); len(es) != 2 {
			t.Errorf("Entries = %v, want b's and c's (Release saves nothing)", es)
		}
	})

	t.Run("LeaseExpires", func(t *testing.T) {
		s := newStore(t)
		c := claim("a", 0)
		c.Lease = shortTTL
		a := mustAcquire(t, s, key, c)
		wantAcquireErr(t, s, key, claim("b", 0), bot.ErrBusy)
		time.Sleep(pastTTL)
		b := mustAcquire(t, s, key, claim("b", 0))
		if b.Token <= a.Token {
			t.Errorf("token after takeover = %d, want more than %d", b.Token, a.Token)
		}
		if _, err := s.Commit(ctx, a, update("a", "a-state", "a")); !errors.Is(err, bot.ErrLockLost) {
			t.Fatalf("Commit with an expired, taken lease = %v, want ErrLockLost", err)
		}
		if es := entries(t, s, key, 0, 10); len(es) != 0 {
			t.Errorf("Entries after a lost commit = %v, want none", es)
		}
		mustCommit(t, s, b, update("b", "b-state", "b"))
		l := mustAcquire(t, s, key, claim("a", 0)) // a was not marked done
		if string(l.State) != "b-state" || l.Version != 1 {
			t.Errorf("state = %q version %d, want %q version 1", l.State, l.Version, "b-state")
		}
		if es := entries(t, s, key, 0, 10); len(es) != 1 || es[0].Text != "b" || es[0].Seq != 1 {
			t.Errorf("Entries = %v, want only b's, Seq 1", es)
		}
	})

	t.Run("LeaseExpiresUntaken", func(t *testing.T) {
		s := newStore(t)
		c := claim("a", 0)
		c.Lease = shortTTL
		a := mustAcquire(t, s, key, c)
		time.Sleep(pastTTL)
		if _, err := s.Commit(ctx, a, update("a", "a-state", "a")); !errors.Is(err, bot.ErrLockLost) {
			t.Fatalf("Commit with an expired lease = %v, want ErrLockLost", err)
		}
		l := mustAcquire(t, s, key, claim("a", 0))
		if l.State != nil || len(entries(t, s, key, 0, 10)) != 0 {
			t.Errorf("after a lost commit: state %q, entries %v; want nothing saved", l.State, entries(t, s, key, 0, 10))
		}
	})

	t.Run("Stale", func(t *testing.T) {
		s := newStore(t)
		l := mustAcquire(t, s, key, claim("a", 0))
		mustCommit(t, s, l, update("a", "one", "a"))
		l = mustAcquire(t, s, key, claim("b", 0))
		bad := *l
		bad.Version++
		if _, err := s.Commit(ctx, &bad, update("b", "two", "b")); !errors.Is(err, bot.ErrStale) {
			t.Fatalf("Commit with a wrong version = %v, want ErrStale", err)
		}
		if err := s.Release(ctx, key, "b", l.Token); err != nil {
			t.Fatal(err)
		}
		l = mustAcquire(t, s, key, claim("b", 0))
		if string(l.State) != "one" || l.Version != 1 || len(entries(t, s, key, 0, 10)) != 1 {
			t.Errorf("after a stale commit: state %q version %d; want %q version 1 and one entry", l.State, l.Version, "one")
		}
	})

	t.Run("KeepAndDeleteState", func(t *testing.T) {
		s := newStore(t)
		l := mustAcquire(t, s, key, claim("a", 0))
		mustCommit(t, s, l, update("a", "kept", "a"))
		l = mustAcquire(t, s, key, claim("append-1", 0))
		u := update("", "ignored", "agent line")
		u.KeepState = true
		es := mustCommit(t, s, l, u)
		if len(es) != 1 || es[0].Seq != 2 {
			t.Errorf("KeepState commit gave %v, want one entry, Seq 2", es)
		}
		l = mustAcquire(t, s, key, claim("append-1", 0)) // no done mark for an empty MessageID
		if string(l.State) != "kept" || l.Version != 1 {
			t.Errorf("after KeepState: state %q version %d, want %q version 1", l.State, l.Version, "kept")
		}
		mustCommit(t, s, l, update("append-1", ""))
		l = mustAcquire(t, s, key, claim("c", 0))
		if l.State != nil || l.Version != 2 {
			t.Errorf("after saving an empty state: state %q version %d, want none, version 2", l.State, l.Version)
		}
		if es := entries(t, s, key, 0, 10); len(es) != 2 {
			t.Errorf("Entries = %v, want 2 (a commit without entries appends none)", es)
		}
	})

	t.Run("SessionExpires", func(t *testing.T) {
		s := newStore(t)
		l := mustAcquire(t, s, key, claim("a", 0))
		u := update("a", "short-lived", "a", "b")
		u.SessionTTL = shortTTL
		mustCommit(t, s, l, u)
		time.Sleep(pastTTL)
		l = mustAcquire(t, s, key, claim("b", 0))
		if l.State != nil {
			t.Errorf("state after the session TTL = %q, want none", l.State)
		}
		if es := entries(t, s, key, 0, 10); len(es) != 2 {
			t.Errorf("Entries after the session expired = %v, want the 2 entries (the log outlives it)", es)
		}
		es := mustCommit(t, s, l, update("b", "new", "c"))
		if len(es) != 1 || es[0].Seq != 3 {
			t.Errorf("commit after the session expired gave %v, want Seq 3", seqs(es))
		}
	})

	t.Run("LogExpires", func(t *testing.T) {
		s := newStore(t)
		l := mustAcquire(t, s, key, claim("a", 0))
		u := update("a", "kept", "a", "b")
		u.LogTTL = shortTTL
		mustCommit(t, s, l, u)
		time.Sleep(pastTTL)
		if es := entries(t, s, key, 0, 10); len(es) != 0 {
			t.Errorf("Entries after the log TTL = %v, want none", es)
		}
		l = mustAcquire(t, s, key, claim("b", 0))
		if string(l.State) != "kept" {
			t.Errorf("state = %q, want %q", l.State, "kept")
		}
		es := mustCommit(t, s, l, update("b", "kept", "c"))
		if got := seqs(entries(t, s, key, 0, 10)); !cmp.Equal(got, []int64{3}) || es[0].Seq != 3 {
			t.Errorf("after the log expired, Entries seqs = %v (commit gave %v), want [3]: old lines gone, numbering kept", got, seqs(es))
		}
	})

	t.Run("DedupeExpires", func(t *testing.T) {
		s := newStore(t)
		l := mustAcquire(t, s, key, claim("a", 0))
		u := update("a", "s", "a")
		u.DedupeTTL = shortTTL
		mustCommit(t, s, l, u)
		wantAcquireErr(t, s, key, claim("a", 0), bot.ErrDuplicate)
		time.Sleep(pastTTL)
		mustAcquire(t, s, key, claim("a", 0))
	})

	t.Run("EntriesPaging", func(t *testing.T) {
		s := newStore(t)
		l := mustAcquire(t, s, key, claim("a", 0))
		mustCommit(t, s, l, update("a", "s", "1", "2", "3", "4", "5", "6", "7"))
		l = mustAcquire(t, s, key, claim("b", 0))
		mustCommit(t, s, l, update("b", "s", "8", "9", "10"))
		tests := []struct {
			after int64
			limit int
			want  []int64
		}{
			{0, 4, []int64{1, 2, 3, 4}},
			{4, 4, []int64{5, 6, 7, 8}},
			{8, 4, []int64{9, 10}},
			{10, 4, []int64{}},
			{100, 4, []int64{}},
			{0, 100, []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}},
			{9, 1, []int64{10}},
		}
		for _, tt := range tests {
			es := entries(t, s, key, tt.after, tt.limit)
			if got := seqs(es); !cmp.Equal(got, tt.want) {
				t.Errorf("Entries(%q, %d, %d) seqs = %v, want %v", key, tt.after, tt.limit, got, tt.want)
			}
			for _, e := range es {
				if e.Text != fmt.Sprint(e.Seq) || e.Conversation != key {
					t.Errorf("Entries(%q, %d, %d): entry %d = %+v, want text %q of %q", key, tt.after, tt.limit, e.Seq, e, fmt.Sprint(e.Seq), key)
				}
			}
		}
	})

	t.Run("Subscribe", func(t *testing.T) {
		s := newStore(t)
		ch, cancel := s.Subscribe(ctx, key)
		defer cancel()
		other, cancelOther := s.Subscribe(ctx, "webchat:other")
		defer cancelOther()
		l := mustAcquire(t, s, key, claim("a", 0))
		mustCommit(t, s, l, update("a", "s", "hi"))
		if got := waitSignal(t, ch, 1, "after a commit of Seq 1"); got != 1 {
			t.Errorf("signal after the first commit = %d, want 1 (its Seq)", got)
		}
		expectQuiet(t, other, "for another conversation")
		l = mustAcquire(t, s, key, claim("b", 0))
		es := mustCommit(t, s, l, update("b", "s", "again", "and again"))
		waitSignal(t, ch, lastSeq(t, es), "after a second commit")
		cancel()
		cancel()
		waitClosed(t, ch)

		cctx, stop := context.WithCancel(ctx)
		ch2, cancel2 := s.Subscribe(cctx, key)
		defer cancel2()
		stop()
		waitClosed(t, ch2)
	})

	// Coalescing: two commits signalled to a subscriber that reads
	// nothing leave one value pending, the higher Seq. A second
	// subscriber shows when the signals have arrived.
	t.Run("SubscribeCoalesces", func(t *testing.T) {
		s := newStore(t)
		ch, cancel := s.Subscribe(ctx, key)
		defer cancel()
		probe, cancelProbe := s.Subscribe(ctx, key)
		defer cancelProbe()
		l := mustAcquire(t, s, key, claim("a", 0))
		first := lastSeq(t, mustCommit(t, s, l, update("a", "s", "1", "2")))
		l = mustAcquire(t, s, key, claim("b", 0))
		last := lastSeq(t, mustCommit(t, s, l, update("b", "s", "3", "4", "5")))
		for got := waitSignal(t, probe, first, "to the probe"); got < last; {
			got = waitSignal(t, probe, first, "to the probe, after the second commit")
		}
		// The probe has the second commit's signal; give the store the
		// moment it may take to hand it to the other subscriber too.
		time.Sleep(quietWait)
		if got := waitSignal(t, ch, last, "pending after two commits"); got != last {
			t.Errorf("signal pending after commits up to Seq %d and %d = %d, want %d (the higher)", first, last, got, last)
		}
	})

	t.Run("MutualExclusion", func(t *testing.T) {
		s := newStore(t)
		const n = 12
		var (
			inside atomic.Int32
			wg     sync.WaitGroup
			mu     sync.Mutex
			tokens []int64
		)
		for i := range n {
			wg.Go(func() {
				id := fmt.Sprintf("m%02d", i)
				for {
					l, err := s.Acquire(ctx, key, claim(id, 0))
					if errors.Is(err, bot.ErrBusy) {
						time.Sleep(time.Millisecond)
						continue
					}
					if err != nil {
						t.Errorf("Acquire(%q) = %v", id, err)
						return
					}
					if got := inside.Add(1); got != 1 {
						t.Errorf("%d holders at once", got)
					}
					time.Sleep(time.Millisecond)
					mu.Lock()
					tokens = append(tokens, l.Token)
					mu.Unlock()
					inside.Add(-1)
					if _, err := s.Commit(ctx, l, update(id, id, id)); err != nil {
						t.Errorf("Commit(%q) = %v", id, err)
					}
					return
				}
			})
		}
		wg.Wait()
		for i := 1; i < len(tokens); i++ {
			if tokens[i] <= tokens[i-1] {
				t.Errorf("tokens in order of holding = %v, want increasing", tokens)
				break
			}
		}
		if got := seqs(entries(t, s, key, 0, 100)); len(got) != n || got[n-1] != n {
			t.Errorf("log seqs = %v, want 1…%d", got, n)
		}
	})

	t.Run("Sealed", func(t *testing.T) {
		s := newStore(t)
		at := time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)
		l := mustAcquire(t, s, key, claim("m1", 0))
		got := mustCommit(t, s, l, bot.Update{
			MessageID: "m1", State: []byte("sealed-state\x00\xff"),
			Entries: []bot.Entry{
				{From: bot.FromShopper, MessageID: "m1", Sealed: []byte("\x00\x01sealed text\xff\xfe"), At: at},
				{From: bot.FromBot, MessageID: "m1", Sealed: []byte{0xde, 0xad, 0xbe, 0xef}, At: at},
				{From: bot.FromBot, MessageID: "m1", Text: "in clear", At: at},
			},
			SessionTTL: longTTL, DedupeTTL: longTTL, LogTTL: longTTL,
		})
		want := []bot.Entry{
			{Seq: 1, Conversation: key, From: bot.FromShopper, MessageID: "m1", Sealed: []byte("\x00\x01sealed text\xff\xfe"), At: at},
			{Seq: 2, Conversation: key, From: bot.FromBot, MessageID: "m1", Sealed: []byte{0xde, 0xad, 0xbe, 0xef}, At: at},
			{Seq: 3, Conversation: key, From: bot.FromBot, MessageID: "m1", Text: "in clear", At: at},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Commit returned entries (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(want, entries(t, s, key, 0, 10)); diff != "" {
			t.Errorf("Entries of sealed entries (-want +got):\n%s", diff)
		}
	})

	t.Run("ForgetOnCommit", func(t *testing.T) {
		s := newStore(t)
		l := mustAcquire(t, s, key, claim("m1", 0))
		mustCommit(t, s, l, update("m1", "old state 1", "old 1", "old 2"))
		l = mustAcquire(t, s, key, claim("m2", 0))
		mustCommit(t, s, l, update("m2", "old state 2", "old 3"))
		l = mustAcquire(t, s, key, claim("m3", 0))
		wantAcquireErr(t, s, key, claim("waiting", 1), bot.ErrBusy) // queues before any later Seq
		u := update("m3", "fresh", "farewell")
		u.Forget = true
		if got := seqs(mustCommit(t, s, l, u)); !cmp.Equal(got, []int64{4}) {
			t.Errorf("Commit with Forget gave seqs %v, want [4]: numbering continues", got)
		}
		if got := entries(t, s, key, 0, 10); len(got) != 1 || got[0].Seq != 4 || got[0].Text != "farewell" {
			t.Errorf("Entries after Commit with Forget = %+v, want only the farewell at Seq 4", got)
		}
		if got := seqs(entries(t, s, key, 3, 10)); !cmp.Equal(got, []int64{4}) {
			t.Errorf("Entries after the client's last Seq 3 = %v, want [4]", got)
		}
		wantAcquireErr(t, s, key, claim("m3", 0), bot.ErrDuplicate) // the update is applied after the erasure
		// The waiting message's place is gone: a later Seq is not behind it.
		l = mustAcquire(t, s, key, claim("late", 9))
		if string(l.State) != "fresh" {
			t.Errorf("state after Commit with Forget = %q, want the update's %q", l.State, "fresh")
		}
		if err := s.Release(ctx, key, "late", l.Token); err != nil {
			t.Fatal(err)
		}
		// The done marks from before are gone.
		l = mustAcquire(t, s, key, claim("m1", 0))
		if got := seqs(mustCommit(t, s, l, update("m1", "s", "again"))); !cmp.Equal(got, []int64{5}) {
			t.Errorf("next commit gave seqs %v, want [5]", got)
		}
	})

	t.Run("ForgetOnCommitLogTTL", func(t *testing.T) {
		s := newStore(t)
		l := mustAcquire(t, s, key, claim("m1", 0))
		mustCommit(t, s, l, update("m1", "old", "old 1", "old 2"))
		l = mustAcquire(t, s, key, claim("m2", 0))
		u := update("m2", "", "farewell")
		u.Forget, u.LogTTL = true, shortTTL
		mustCommit(t, s, l, u)
		time.Sleep(pastTTL)
		if es := entries(t, s, key, 0, 10); len(es) != 0 {
			t.Errorf("Entries after the forgetting commit's LogTTL = %v, want none", es)
		}
		l = mustAcquire(t, s, key, claim("m3", 0))
		if l.State != nil {
			t.Errorf("state after forgetting = %q, want none", l.State)
		}
		if got := seqs(mustCommit(t, s, l, update("m3", "s", "new"))); !cmp.Equal(got, []int64{4}) {
			t.Errorf("commit after the farewell expired gave seqs %v, want [4]", got)
		}
	})

	t.Run("Forgetter", func(t *testing.T) {
		s := newStore(t)
		f, ok := s.(bot.Forgetter)
		if !ok {
			t.Skipf("%T does not implement bot.Forgetter", s)
		}
		l := mustAcquire(t, s, key, claim("m1", 0))
		mustCommit(t, s, l, update("m1", "old state", "old 1", "old 2"))
		other := mustAcquire(t, s, "webchat:other", claim("m1", 0))
		mustCommit(t, s, other, update("m1", "other state", "other 1"))
		inFlight := mustAcquire(t, s, key, claim("m2", 0))
		wantAcquireErr(t, s, key, claim("waiting", 1), bot.ErrBusy)
		if err := f.Forget(ctx, key); err != nil {
			t.Fatalf("Forget(%q) = %v", key, err)
		}
		if es := entries(t, s, key, 0, 10); len(es) != 0 {
			t.Errorf("Entries after Forget = %v, want none", es)
		}
		// A turn that read the conversation before cannot write it back.
		if _, err := s.Commit(ctx, inFlight, update("m2", "old state", "old 3")); !errors.Is(err, bot.ErrLockLost) {
			t.Errorf("Commit of a turn in flight during Forget = %v, want ErrLockLost", err)
		}
		// Done marks and queue places are gone; the Seq numbers continue.
		l = mustAcquire(t, s, key, claim("m1", 5))
		if l.State != nil {
			t.Errorf("state after Forget = %q, want none", l.State)
		}
		if got := seqs(mustCommit(t, s, l, update("m1", "new", "new 1"))); !cmp.Equal(got, []int64{3}) {
			t.Errorf("commit after Forget gave seqs %v, want [3]", got)
		}
		// Other conversations keep everything.
		if es := entries(t, s, "webchat:other", 0, 10); len(es) != 1 || es[0].Text != "other 1" {
			t.Errorf("Entries of another conversation after Forget = %v, want its entry", es)
		}
		wantAcquireErr(t, s, "webchat:other", claim("m1", 0), bot.ErrDuplicate)
		if err := f.Forget(ctx, "webchat:unknown"); err != nil {
			t.Errorf("Forget of an unknown conversation = %v, want nil", err)
		}
	})

	t.Run("OddKeys", func(t *testing.T) {
		s := newStore(t)
		keys := []string{"webchat:a}b{c", "telegram:ü 1", "messenger:" + strings.Repeat("é", 150), "x:y:z"}
		for i, k := range keys {
			l := mustAcquire(t, s, k, claim("m:1:2", int64(i)))
			mustCommit(t, s, l, update("m:1:2", k, k))
		}
		for _, k := range keys {
			es := entries(t, s, k, 0, 10)
			if len(es) != 1 || es[0].Text != k || es[0].Conversation != k {
				t.Errorf("Entries(%q) = %v, want its one entry", k, es)
			}
			wantAcquireErr(t, s, k, claim("m:1:2", 0), bot.ErrDuplicate)
			l := mustAcquire(t, s, k, claim("n", 0))
			if string(l.State) != k {
				t.Errorf("state of %q = %q", k, l.State)
			}
		}
	})

	t.Run("BadInput", func(t *testing.T) {
		s := newStore(t)
		for _, tt := range []struct {
			key string
			c   bot.Claim
		}{
			{"", claim("a", 0)},
			{key, claim("", 0)},
		} {
			if l, err := s.Acquire(ctx, tt.key, tt.c); err == nil || errors.Is(err, bot.ErrBusy) {
				t.Errorf("Acquire(%q, %q) = %v, %v; want an error", tt.key, tt.c.MessageID, l, err)
			}
		}
		if _, err := s.Entries(ctx, key, 0, 0); err == nil {
			t.Errorf("Entries(limit 0) = nil error, want one")
		}
	})
}

// waitSignal waits for a signal on ch after a commit that appended
// entries up to Seq last, and returns its value. The contract allows 0
// (unknown) after a reconnection; the suites make none, so a store must
// signal the Seq it committed: at least last, never a smaller value nor 0.
func waitSignal(t *testing.T, ch <-chan int64, last int64, what string) int64 {
	t.Helper()
	got := NextSignal(t, ch, what)
	switch {
	case got == 0:
		t.Errorf("signal %s = 0 (Seq unknown), want the Seq committed, at least %d", what, last)
	case got < last:
		t.Errorf("signal %s = %d, want at least %d (the last Seq committed)", what, got, last)
	}
	return got
}

// NextSignal returns the next value of a subscription (see
// bot.Store.Subscribe), 0 included; it fails t if the subscription closes
// or nothing comes within eventWait. what says which signal, for the
// failure's message.
func NextSignal(t *testing.T, ch <-chan int64, what string) int64 {
	t.Helper()
	select {
	case got, ok := <-ch:
		if !ok {
			t.Fatalf("subscription closed, want a signal %s", what)
		}
		return got
	case <-time.After(eventWait):
		t.Fatalf("no signal %s within %v", what, eventWait)
	}
	return 0
}

func expectQuiet(t *testing.T, ch <-chan int64, what string) {
	t.Helper()
	select {
	case got := <-ch:
		t.Errorf("signal %d %s, want none", got, what)
	case <-time.After(quietWait):
	}
}

// lastSeq returns the Seq of the last of es, entries a commit returned.
func lastSeq(t *testing.T, es []bot.Entry) int64 {
	t.Helper()
	if len(es) == 0 {
		t.Fatalf("the commit returned no entries, want some")
	}
	return es[len(es)-1].Seq
}

func waitClosed(t *testing.T, ch <-chan int64) {
	t.Helper()
	deadline := time.After(eventWait)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-deadline:
			t.Fatalf("subscription not closed within %v of cancel", eventWait)
		}
	}
}
