package bottest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/bottega-shop/bottega/bot"
)

// clockSlack is how far a store's clock (Redis keeps its own) may be from
// the test's when the suite checks a time the store stamped.
const clockSlack = time.Second

// TestOutboxStore checks that the stores newStore returns keep the
// bot.OutboxStore contract together with Update.Deliver and Update.Forget
// (and bot.Forgetter when they implement it). newStore is called once per
// subtest and must return a store on an empty backend that runs on the
// real clock.
func TestOutboxStore(t *testing.T, newStore func(t *testing.T) interface {
	bot.Store
	bot.OutboxStore
}) {
	ctx := context.Background()
	const key = "telegram:100"

	type store = interface {
		bot.Store
		bot.OutboxStore
	}
	// commit appends texts to key's log in a turn of message id, committed
	// with Deliver set to deliver.
	commit := func(t *testing.T, s store, key, id string, deliver bool, texts ...string) []bot.Entry {
		t.Helper()
		l, err := s.Acquire(ctx, key, claim(id, 0))
		if err != nil {
			t.Fatalf("Acquire(%q, %q) = %v", key, id, err)
		}
		u := update(id, "state of "+id, texts...)
		u.Deliver = deliver
		es, err := s.Commit(ctx, l, u)
		if err != nil {
			t.Fatalf("Commit(%q, %q) = %v", key, id, err)
		}
		return es
	}
	due := func(t *testing.T, s store, now time.Time, n int, lease time.Duration) []bot.Pending {
		t.Helper()
		ps, err := s.Due(ctx, now, n, lease)
		if err != nil {
			t.Fatalf("Due(%v, %d, %v) = %v", now, n, lease, err)
		}
		return ps
	}
	// dueOne leases what is due now and wants exactly key.
	dueOne := func(t *testing.T, s store, key string) bot.Pending {
		t.Helper()
		ps := due(t, s, time.Now(), 10, longLease)
		if len(ps) != 1 || ps[0].Key != key {
			t.Fatalf("Due = %+v, want %q alone", ps, key)
		}
		return ps[0]
	}
	wantNoneDue := func(t *testing.T, s store, now time.Time, why string) {
		t.Helper()
		if ps := due(t, s, now, 10, longLease); len(ps) != 0 {
			t.Errorf("Due(%s) = %+v, want none", why, ps)
		}
	}
	settle := func(t *testing.T, s store, p bot.Pending, o bot.Outcome) {
		t.Helper()
		if err := s.Settle(ctx, p, o); err != nil {
			t.Fatalf("Settle(%q token %d, %+v) = %v", p.Key, p.Token, o, err)
		}
	}
	wantLockLost := func(t *testing.T, s store, p bot.Pending, o bot.Outcome, why string) {
		t.Helper()
		if err := s.Settle(ctx, p, o); !errors.Is(err, bot.ErrLockLost) {
			t.Errorf("Settle(%q token %d) %s = %v, want ErrLockLost", p.Key, p.Token, why, err)
		}
	}
	backlog := func(t *testing.T, s store) int {
		t.Helper()
		n, err := s.Backlog(ctx)
		if err != nil {
			t.Fatalf("Backlog = %v", err)
		}
		return n
	}
	wantBacklog := func(t *testing.T, s store, want int, why string) {
		t.Helper()
		if got := backlog(t, s); got != want {
			t.Errorf("Backlog %s = %d, want %d", why, got, want)
		}
	}
	wantPending := func(t *testing.T, p bot.Pending, cursor, last int64, attempts int) {
		t.Helper()
		if p.Cursor != cursor || p.Last != last || p.Attempts != attempts || p.Token <= 0 {
			t.Errorf("Pending = %+v, want cursor %d, last %d, %d attempts and a positive token", p, cursor, last, attempts)
		}
	}
	keys := func(ps []bot.Pending) []string {
		out := []string{}
		for _, p := range ps {
			out = append(out, p.Key)
		}
		return out
	}

	t.Run("Deliver", func(t *testing.T) {
		s := newStore(t)
		wantBacklog(t, s, 0, "of a new store")
		wantNoneDue(t, s, time.Now(), "on a new store")
		before := time.Now()
		commit(t, s, key, "m1", true, "ciao", "re: ciao")
		after := time.Now()
		wantBacklog(t, s, 1, "after a commit with Deliver")
		p := dueOne(t, s, key)
		wantPending(t, p, 0, 2, 0)
		if p.Since.Before(before.Add(-clockSlack)) || p.Since.After(after.Add(clockSlack)) {
			t.Errorf("Pending.Since = %v, want the commit's time, between %v and %v", p.Since, before, after)
		}
		wantNoneDue(t, s, time.Now(), "while leased")
		wantBacklog(t, s, 1, "while leased")
		settle(t, s, p, bot.Outcome{Through: 2})
		wantBacklog(t, s, 0, "once delivered")
		wantNoneDue(t, s, time.Now().Add(time.Hour), "once delivered")
		wantLockLost(t, s, p, bot.Outcome{Through: 2}, "a second time")

		// Commits without Deliver, or without entries, queue nothing.
		commit(t, s, "webchat:w", "w1", false, "hi")
		commit(t, s, key, "m2", true)
		wantBacklog(t, s, 0, "after commits without Deliver or entries")
		wantNoneDue(t, s, time.Now(), "after commits without Deliver or entries")

		time.Sleep(2 * time.Millisecond)
		commit(t, s, key, "m3", true, "e nel 43?", "re: e nel 43?")
		p2 := dueOne(t, s, key)
		wantPending(t, p2, 2, 4, 0)
		if !p2.Since.After(p.Since) {
			t.Errorf("Pending.Since after being caught up = %v, want after the first's %v", p2.Since, p.Since)
		}
		if p2.Token <= p.Token {
			t.Errorf("second lease token %d, want more than the first's %d", p2.Token, p.Token)
		}
	})

	t.Run("CursorStartsAfterEarlierEntries", func(t *testing.T) {
		s := newStore(t)
		commit(t, s, key, "m1", false, "before", "delivery")
		commit(t, s, key, "m2", true, "now", "delivered")
		wantPending(t, dueOne(t, s, key), 2, 4, 0)
	})

	t.Run("ConcurrentDue", func(t *testing.T) {
		s := newStore(t)
		const convs, workers = 24, 4
		for i := range convs {
			commit(t, s, fmt.Sprintf("telegram:%d", i), "m1", true, "x")
		}
		var (
			wg    sync.WaitGroup
			mu    sync.Mutex
			got   = map[string]int{}
			now   = time.Now()
			start = make(chan struct{})
		)
		for range workers {
			wg.Go(func() {
				<-start
				for {
					ps, err := s.Due(ctx, now, 3, longLease)
					if err != nil {
						t.Errorf("Due = %v", err)
						return
					}
					if len(ps) == 0 {
						return
					}
					mu.Lock()
					for _, p := range ps {
						got[p.Key]++
					}
					mu.Unlock()
				}
			})
		}
		close(start)
		wg.Wait()
		if len(got) != convs {
			t.Errorf("concurrent Due calls leased %d conversations, want %d", len(got), convs)
		}
		for k, n := range got {
			if n != 1 {
				t.Errorf("%s was leased %d times, want once", k, n)
			}
		}
		wantBacklog(t, s, convs, "while all are leased")
	})

	t.Run("LeaseExpires", func(t *testing.T) {
		s := newStore(t)
		commit(t, s, key, "m1", true, "a", "b")
		ps := due(t, s, time.Now(), 10, shortTTL)
		if len(ps) != 1 {
			t.Fatalf("Due = %+v, want one", ps)
		}
		wantNoneDue(t, s, time.Now(), "while leased")
		time.Sleep(pastTTL)
		p2 := dueOne(t, s, key)
		wantPending(t, p2, 0, 2, 0)
		if p2.Token <= ps[0].Token {
			t.Errorf("token after the lease expired = %d, want more than %d", p2.Token, ps[0].Token)
		}
		wantLockLost(t, s, ps[0], bot.Outcome{Through: 2}, "after the lease was taken over")
		settle(t, s, p2, bot.Outcome{Through: 2})
		wantBacklog(t, s, 0, "once delivered")
	})

	t.Run("LeaseExpiresUntaken", func(t *testing.T) {
		s := newStore(t)
		commit(t, s, key, "m1", true, "a", "b")
		ps := due(t, s, time.Now(), 10, shortTTL)
		if len(ps) != 1 {
			t.Fatalf("Due = %+v, want one", ps)
		}
		time.Sleep(pastTTL)
		wantLockLost(t, s, ps[0], bot.Outcome{Through: 2}, "after the lease expired")
		wantPending(t, dueOne(t, s, key), 0, 2, 0) // nothing changed
	})

	t.Run("Through", func(t *testing.T) {
		s := newStore(t)
		commit(t, s, key, "m1", true, "a", "b", "c")
		p := dueOne(t, s, key)
		settle(t, s, p, bot.Outcome{Through: 1})
		p2 := dueOne(t, s, key) // not caught up: due again at once
		wantPending(t, p2, 1, 3, 0)
		if !p2.Since.Equal(p.Since) {
			t.Errorf("Pending.Since = %v after a partial settle, want %v kept", p2.Since, p.Since)
		}
		settle(t, s, p2, bot.Outcome{Through: 0})
		p3 := dueOne(t, s, key)
		wantPending(t, p3, 1, 3, 0) // the cursor never goes back
		if err := s.Settle(ctx, p3, bot.Outcome{Through: 4}); err == nil || errors.Is(err, bot.ErrLockLost) {
			t.Errorf("Settle through 4 of a log ending at 3 = %v, want an error other than ErrLockLost", err)
		}
		settle(t, s, p3, bot.Outcome{Through: 3}) // the refused Settle changed nothing
		wantBacklog(t, s, 0, "once caught up")
	})

	t.Run("CommitWhileLeased", func(t *testing.T) {
		s := newStore(t)
		commit(t, s, key, "m1", true, "a", "b")
		p := dueOne(t, s, key)
		commit(t, s, key, "m2", true, "c", "d")
		wantNoneDue(t, s, time.Now(), "while leased, after a commit")
		settle(t, s, p, bot.Outcome{Through: 2})
		p2 := dueOne(t, s, key) // the log moved past Last: due now
		wantPending(t, p2, 2, 4, 0)
		if !p2.Since.Equal(p.Since) {
			t.Errorf("Pending.Since = %v, want %v kept until caught up", p2.Since, p.Since)
		}
		// The holder may settle entries appended after its lease began.
		commit(t, s, key, "m3", true, "e")
		settle(t, s, p2, bot.Outcome{Through: 5})
		wantBacklog(t, s, 0, "after settling through the log's last Seq")
	})

	t.Run("Retry", func(t *testing.T) {
		s := newStore(t)
		commit(t, s, key, "m1", true, "a", "b")
		t0 := time.Now()
		p := dueOne(t, s, key)
		settle(t, s, p, bot.Outcome{Through: 1, Retry: t0.Add(time.Hour)})
		wantNoneDue(t, s, t0, "before the retry time")
		wantNoneDue(t, s, t0.Add(59*time.Minute), "before the retry time")
		wantBacklog(t, s, 1, "while waiting for a retry")
		commit(t, s, key, "m2", true, "c")
		wantNoneDue(t, s, time.Now(), "after a commit to a conversation waiting for a retry")
		ps := due(t, s, t0.Add(61*time.Minute), 10, longLease)
		if len(ps) != 1 {
			t.Fatalf("Due after the retry time = %+v, want one", ps)
		}
		wantPending(t, ps[0], 1, 3, 1)
		settle(t, s, ps[0], bot.Outcome{Through: 1, Retry: t0.Add(2 * time.Hour)})
		ps = due(t, s, t0.Add(3*time.Hour), 10, longLease)
		if len(ps) != 1 {
			t.Fatalf("Due after the second retry time = %+v, want one", ps)
		}
		wantPending(t, ps[0], 1, 3, 2)
		settle(t, s, ps[0], bot.Outcome{Through: 2}) // delivered, one left
		p = dueOne(t, s, key)
		wantPending(t, p, 2, 3, 0)
		settle(t, s, p, bot.Outcome{Through: 3})
		wantBacklog(t, s, 0, "once caught up")
	})

	t.Run("RetryAfterProgress", func(t *testing.T) {
		s := newStore(t)
		commit(t, s, key, "m1", true, "a", "b", "c")
		t0 := time.Now()
		p := dueOne(t, s, key)
		settle(t, s, p, bot.Outcome{Through: 1, Retry: t0.Add(time.Hour)})
		ps := due(t, s, t0.Add(2*time.Hour), 10, longLease)
		if len(ps) != 1 {
			t.Fatalf("Due after the retry time = %+v, want one", ps)
		}
		wantPending(t, ps[0], 1, 3, 1)
		// One more entry went out before the next failure: the failures
		// counted so far were the previous entry's.
		settle(t, s, ps[0], bot.Outcome{Through: 2, Retry: t0.Add(3 * time.Hour)})
		ps = due(t, s, t0.Add(4*time.Hour), 10, longLease)
		if len(ps) != 1 {
			t.Fatalf("Due after the second retry time = %+v, want one", ps)
		}
		wantPending(t, ps[0], 2, 3, 1)
		settle(t, s, ps[0], bot.Outcome{Through: 3})
		wantBacklog(t, s, 0, "once caught up")
	})
	t.Run("Hold", func(t *testing.T) {
		s := newStore(t)
		commit(t, s, key, "m1", true, "a", "b")
		p := dueOne(t, s, key)
		settle(t, s, p, bot.Outcome{Through: 1, Hold: true})
		wantNoneDue(t, s, time.Now().Add(48*time.Hour), "while held")
		wantBacklog(t, s, 1, "while held")
		commit(t, s, "webchat:w", "w1", true, "elsewhere")
		dueOne(t, s, "webchat:w") // other conversations go on
		commit(t, s, key, "m2", true, "c")
		p = dueOne(t, s, key) // the shopper wrote again
		wantPending(t, p, 1, 3, 0)
		// Entries appended while leased: a Hold is due again at once.
		commit(t, s, key, "m3", true, "d")
		settle(t, s, p, bot.Outcome{Through: 1, Hold: true})
		wantPending(t, dueOne(t, s, key), 1, 4, 0)
	})

	t.Run("DeadLetters", func(t *testing.T) {
		s := newStore(t)
		if dl, err := s.DeadLetters(ctx, 10); err != nil || len(dl) != 0 {
			t.Errorf("DeadLetters of a new store = %v, %v; want none", dl, err)
		}
		commit(t, s, "telegram:a", "m1", true, "a1", "a2")
		commit(t, s, "telegram:b", "m1", true, "b1")
		ps := due(t, s, time.Now(), 10, longLease)
		if len(ps) != 2 {
			t.Fatalf("Due = %+v, want two", ps)
		}
		slices.SortFunc(ps, func(x, y bot.Pending) int { return strings.Compare(x.Key, y.Key) })
		t1 := time.Date(2026, 5, 4, 10, 0, 1, 0, time.UTC)
		settle(t, s, ps[0], bot.Outcome{Through: 2, Dead: []bot.DeadLetter{
			{Seq: 1, Reason: "telegram: 403 blocked", At: t1},
			{Seq: 2, Reason: "telegram: 403 blocked", At: t1.Add(time.Second)},
		}})
		before := time.Now()
		settle(t, s, ps[1], bot.Outcome{Through: 1, Dead: []bot.DeadLetter{{Seq: 1, Reason: "message too long"}}})
		wantBacklog(t, s, 0, "after dead-lettering everything")
		dl, err := s.DeadLetters(ctx, 10)
		if err != nil {
			t.Fatalf("DeadLetters = %v", err)
		}
		if len(dl) == 3 {
			if dl[0].At.Before(before.Add(-clockSlack)) || dl[0].At.After(time.Now().Add(clockSlack)) {
				t.Errorf("dead letter without At stamped %v, want about now", dl[0].At)
			}
			dl[0].At = time.Time{}
		}
		want := []bot.DeadLetter{
			{Key: "telegram:b", Seq: 1, Reason: "message too long"},
			{Key: "telegram:a", Seq: 2, Reason: "telegram: 403 blocked", At: t1.Add(time.Second)},
			{Key: "telegram:a", Seq: 1, Reason: "telegram: 403 blocked", At: t1},
		}
		if diff := cmp.Diff(want, dl); diff != "" {
			t.Errorf("DeadLetters, newest first (-want +got):\n%s", diff)
		}
		if dl, err := s.DeadLetters(ctx, 2); err != nil || len(dl) != 2 || dl[1].Seq != 2 {
			t.Errorf("DeadLetters(2) = %+v, %v; want the two newest", dl, err)
		}
	})

	t.Run("Order", func(t *testing.T) {
		s := newStore(t)
		// Fresh commits are due in the order they were made.
		for _, k := range []string{"telegram:z", "telegram:y"} {
			commit(t, s, k, "m1", true, "x")
			time.Sleep(2 * time.Millisecond)
		}
		first := due(t, s, time.Now(), 1, longLease)
		if got := keys(first); !cmp.Equal(got, []string{"telegram:z"}) {
			t.Errorf("Due(n=1) = %v, want the older telegram:z", got)
		}
		second := due(t, s, time.Now(), 10, longLease)
		if got := keys(second); !cmp.Equal(got, []string{"telegram:y"}) {
			t.Errorf("Due = %v, want telegram:y", got)
		}
		for _, p := range append(first, second...) {
			settle(t, s, p, bot.Outcome{Through: 1})
		}
		// Retries are due at their times, oldest first.
		retry := map[string]time.Duration{"telegram:1": 4 * time.Hour, "telegram:2": time.Hour, "telegram:3": 3 * time.Hour, "telegram:4": 2 * time.Hour}
		for _, k := range slices.Sorted(maps.Keys(retry)) {
			commit(t, s, k, "m1", true, "x")
		}
		t0 := time.Now()
		for _, p := range due(t, s, t0, 10, longLease) {
			settle(t, s, p, bot.Outcome{Retry: t0.Add(retry[p.Key])})
		}
		wantNoneDue(t, s, t0.Add(30*time.Minute), "before the first retry")
		later := t0.Add(5 * time.Hour)
		if got := keys(due(t, s, later, 1, longLease)); !cmp.Equal(got, []string{"telegram:2"}) {
			t.Errorf("Due(n=1) = %v, want the earliest retry, telegram:2", got)
		}
		if diff := cmp.Diff([]string{"telegram:4", "telegram:3", "telegram:1"}, keys(due(t, s, later, 10, longLease))); diff != "" {
			t.Errorf("Due order (-want +got):\n%s", diff)
		}
	})

	t.Run("Backlog", func(t *testing.T) {
		s := newStore(t)
		for _, k := range []string{"telegram:due", "telegram:leased", "telegram:later", "telegram:held", "telegram:done"} {
			commit(t, s, k, "m1", true, "x")
		}
		t0 := time.Now()
		for _, p := range due(t, s, t0, 10, longLease) {
			switch p.Key {
			case "telegram:due":
				settle(t, s, p, bot.Outcome{})
			case "telegram:later":
				settle(t, s, p, bot.Outcome{Retry: t0.Add(time.Hour)})
			case "telegram:held":
				settle(t, s, p, bot.Outcome{Hold: true})
			case "telegram:done":
				settle(t, s, p, bot.Outcome{Through: 1})
			}
		}
		wantBacklog(t, s, 4, "with one due, one leased, one later and one held")
	})

	t.Run("Forget", func(t *testing.T) {
		s := newStore(t)
		commit(t, s, key, "m1", true, "a", "b")
		p := dueOne(t, s, key)
		// A forgetting commit drops the pending delivery and its lease,
		// then queues what it appends.
		l, err := s.Acquire(ctx, key, claim("m2", 0))
		if err != nil {
			t.Fatalf("Acquire = %v", err)
		}
		u := update("m2", "", "farewell")
		u.Forget, u.Deliver = true, true
		if _, err := s.Commit(ctx, l, u); err != nil {
			t.Fatalf("Commit with Forget = %v", err)
		}
		wantLockLost(t, s, p, bot.Outcome{Through: 2}, "after the conversation was forgotten")
		p = dueOne(t, s, key)
		wantPending(t, p, 2, 3, 0) // only the farewell is delivered
		settle(t, s, p, bot.Outcome{Through: 3})

		// Without Deliver, nothing stays queued.
		commit(t, s, key, "m3", true, "c")
		l, err = s.Acquire(ctx, key, claim("m4", 0))
		if err != nil {
			t.Fatalf("Acquire = %v", err)
		}
		u = update("m4", "")
		u.Forget = true
		if _, err := s.Commit(ctx, l, u); err != nil {
			t.Fatalf("Commit with Forget = %v", err)
		}
		wantBacklog(t, s, 0, "after a forgetting commit without Deliver")
		wantNoneDue(t, s, time.Now(), "after a forgetting commit without Deliver")
	})

	t.Run("Forgetter", func(t *testing.T) {
		s := newStore(t)
		f, ok := s.(bot.Forgetter)
		if !ok {
			t.Skipf("%T does not implement bot.Forgetter", s)
		}
		commit(t, s, key, "m1", true, "a", "b")
		commit(t, s, "telegram:other", "m1", true, "c")
		ps := due(t, s, time.Now(), 10, longLease)
		if len(ps) != 2 {
			t.Fatalf("Due = %+v, want two", ps)
		}
		for _, p := range ps {
			settle(t, s, p, bot.Outcome{Through: 1, Dead: []bot.DeadLetter{{Seq: 1, Reason: "refused"}}})
		}
		p := dueOne(t, s, key)
		if err := f.Forget(ctx, key); err != nil {
			t.Fatalf("Forget = %v", err)
		}
		wantLockLost(t, s, p, bot.Outcome{Through: 2}, "after Forget")
		wantBacklog(t, s, 0, "after Forget")
		dl, err := s.DeadLetters(ctx, 10)
		if err != nil {
			t.Fatalf("DeadLetters = %v", err)
		}
		if len(dl) != 1 || dl[0].Key != "telegram:other" {
			t.Errorf("DeadLetters after Forget(%q) = %+v, want only telegram:other's", key, dl)
		}
		// The queue starts afresh after the entries that were forgotten.
		commit(t, s, key, "m2", true, "d")
		wantPending(t, dueOne(t, s, key), 2, 3, 0)
	})

	t.Run("BadInput", func(t *testing.T) {
		s := newStore(t)
		for _, tt := range []struct {
			n     int
			lease time.Duration
		}{{0, longLease}, {-1, longLease}, {1, 0}} {
			if ps, err := s.Due(ctx, time.Now(), tt.n, tt.lease); err == nil {
				t.Errorf("Due(n %d, lease %v) = %v, nil; want an error", tt.n, tt.lease, ps)
			}
		}
		if dl, err := s.DeadLetters(ctx, 0); err == nil {
			t.Errorf("DeadLetters(0) = %v, nil; want an error", dl)
		}
		wantLockLost(t, s, bot.Pending{Key: "telegram:unknown", Token: 1}, bot.Outcome{}, "of a conversation never leased")
	})
}
