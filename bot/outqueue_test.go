package bot_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/bottega-shop/bottega/bot"
	"github.com/bottega-shop/bottega/dialogs/redisdialogs"
	"github.com/bottega-shop/bottega/dialogs/sqldialogs"
	"github.com/bottega-shop/bottega/internal/sqldb"
	"github.com/bottega-shop/bottega/internal/testserver"
)

// The outbound queue runs against the real stores: SQLite always, Postgres
// and Redis when BOTTEGA_TEST_POSTGRES / BOTTEGA_TEST_REDIS name servers.

const fakeChannel = "fake"

// backend opens n stores on one fresh database: one per replica.
type backend struct {
	name string
	open func(t *testing.T, n int) []bot.Store
}

var backends = []backend{
	{"SQLite", func(t *testing.T, n int) []bot.Store {
		// One process per database file, as the embedded mode runs.
		s := sqlStore(t, testserver.SQLiteDB(t, ""))
		out := make([]bot.Store, n)
		for i := range out {
			out[i] = s
		}
		return out
	}},
	{"Postgres", func(t *testing.T, n int) []bot.Store {
		url := testserver.Postgres(t)
		out := make([]bot.Store, n)
		for i := range out {
			out[i] = sqlStore(t, testserver.PostgresDB(t, url))
		}
		return out
	}},
	{"Redis", func(t *testing.T, n int) []bot.Store {
		url := testserver.Redis(t)
		out := make([]bot.Store, n)
		for i := range out {
			opts, err := redis.ParseURL(url)
			if err != nil {
				t.Fatalf("redis.ParseURL = %v", err)
			}
			c := redis.NewClient(opts)
			s := redisdialogs.New(c)
			t.Cleanup(func() { s.Close(); c.Close() })
			out[i] = s
		}
		return out
	}},
}

func sqlStore(t *testing.T, db *sqldb.DB) *sqldialogs.Store {
	t.Helper()
	s, err := sqldialogs.New(db)
	if err != nil {
		t.Fatalf("sqldialogs.New = %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// eachBackend runs f on every backend.
func eachBackend(t *testing.T, f func(t *testing.T, b backend)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { f(t, b) })
	}
}

// rig is a store shared by Outbounds, and a Dispatcher that queues replies
// to the fake channel.
type rig struct {
	t      *testing.T
	stores []bot.Store
	d      *bot.Dispatcher
	reg    *prometheus.Registry
}

func newRig(t *testing.T, b backend, replicas int, opts ...bot.DispatcherOption) *rig {
	t.Helper()
	stores := b.open(t, replicas)
	if _, ok := stores[0].(bot.OutboxStore); !ok {
		t.Skipf("%T keeps no outbound queue", stores[0])
	}
	h := bot.HandlerFunc(func(_ context.Context, _ []byte, m bot.Message) ([]byte, []bot.Reply, error) {
		return nil, []bot.Reply{{Text: "re: " + m.Text}, {Text: "re2: " + m.Text}}, nil
	})
	opts = append([]bot.DispatcherOption{bot.WithDelivery(fakeChannel)}, opts...)
	return &rig{t: t, stores: stores, d: bot.NewDispatcher(stores[0], h, opts...), reg: prometheus.NewRegistry()}
}

// reply commits texts as the bot's replies to conversation key, in one
// turn.
func (r *rig) reply(key string, texts ...string) {
	r.t.Helper()
	replies := make([]bot.Reply, len(texts))
	for i, s := range texts {
		replies[i] = bot.Reply{Text: s}
	}
	if _, err := r.d.Append(context.Background(), key, bot.FromBot, replies); err != nil {
		r.t.Fatalf("Append(%q) = %v", key, err)
	}
}

// outbound returns an Outbound on replica i's store delivering the fake
// channel with d under l.
func (r *rig) outbound(i int, d bot.Deliverer, l bot.Limits, opts ...bot.OutboundOption) *bot.Outbound {
	opts = append([]bot.OutboundOption{
		bot.WithPoll(20 * time.Millisecond), bot.WithBackoff(5*time.Millisecond, 20*time.Millisecond),
		bot.WithOutboundMetrics(r.reg),
	}, opts...)
	o := bot.NewOutbound(r.stores[i].(bot.OutboxStore), r.d, nil, opts...)
	o.Register(fakeChannel, d, l)
	return o
}

// run runs o until the returned stop is called (or the test ends); stop
// waits for Run to return.
func run(t *testing.T, o *bot.Outbound) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- o.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run = %v", err)
				}
			case <-time.After(20 * time.Second):
				t.Errorf("Run did not return 20s after its context ended")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// waitFor waits up to 15 s for cond.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// call is one Deliver call a recorder saw.
type call struct {
	Key  string
	Seq  int64
	Text string
	Try  int // 1 for the entry's first call
	At   time.Time
	Err  error
}

// recorder is a Deliverer that calls bot.Pace like a channel, answers with
// answer (success if nil) and records every call.
type recorder struct {
	answer func(ctx context.Context, c call) error

	mu    sync.Mutex
	calls []call
	tries map[string]int
}

func (r *recorder) Deliver(ctx context.Context, key string, e bot.Entry) error {
	if err := bot.Pace(ctx); err != nil {
		return err
	}
	r.mu.Lock()
	if r.tries == nil {
		r.tries = make(map[string]int)
	}
	id := fmt.Sprintf("%s/%d", key, e.Seq)
	r.tries[id]++
	c := call{Key: key, Seq: e.Seq, Text: e.Reply.Text, Try: r.tries[id], At: time.Now()}
	r.mu.Unlock()
	if r.answer != nil {
		c.Err = r.answer(ctx, c)
	}
	r.mu.Lock()
	r.calls = append(r.calls, c)
	r.mu.Unlock()
	return c.Err
}

func (r *recorder) all() []call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]call(nil), r.calls...)
}

// delivered returns the texts delivered to each conversation, in order.
func (r *recorder) delivered() map[string][]string {
	out := make(map[string][]string)
	for _, c := range r.all() {
		if c.Err == nil {
			out[c.Key] = append(out[c.Key], c.Text)
		}
	}
	return out
}

func (r *recorder) count(key string) int {
	return len(r.delivered()[key])
}

// metric sums the samples of the named metric for the fake channel (or
// without labels): counter and gauge values, histogram counts.
func metric(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("Gather = %v", err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			ok := len(m.GetLabel()) == 0
			for _, l := range m.GetLabel() {
				ok = ok || (l.GetName() == "channel" && l.GetValue() == fakeChannel)
			}
			if !ok {
				continue
			}
			switch {
			case m.Counter != nil:
				sum += m.Counter.GetValue()
			case m.Gauge != nil:
				sum += m.Gauge.GetValue()
			case m.Histogram != nil:
				sum += float64(m.Histogram.GetSampleCount())
			}
		}
	}
	return sum
}

func texts(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s %d", prefix, i+1)
	}
	return out
}

// TestOutboundOrder: each conversation's replies arrive once each, in the
// order committed, although some fail and are retried, more are committed
// while the queue runs, and shopper entries are never sent.
func TestOutboundOrder(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		r := newRig(t, b, 1)
		want := make(map[string][]string)
		for c := range 5 {
			key := fmt.Sprintf("%s:%d", fakeChannel, c)
			ts := texts(key, 4)
			r.reply(key, ts[:2]...)
			r.reply(key, ts[2:]...)
			want[key] = ts
		}
		rec := &recorder{answer: func(_ context.Context, c call) error {
			if c.Seq%3 == 0 && c.Try == 1 {
				return errors.New("connection reset")
			}
			return nil
		}}
		o := r.outbound(0, rec, bot.Limits{})
		run(t, o)
		// A shopper's turn while the queue runs: only the replies go.
		m := bot.Message{Channel: fakeChannel, ID: "m1", Conversation: "0", Text: "ciao"}
		if _, err := r.d.Dispatch(context.Background(), m); err != nil {
			t.Fatalf("Dispatch = %v", err)
		}
		o.Notify()
		want["fake:0"] = append(want["fake:0"], "re: ciao", "re2: ciao")
		total := 0
		for _, ts := range want {
			total += len(ts)
		}
		waitFor(t, "every reply", func() bool { return metric(t, r.reg, "bottega_outbound_sent_total") == float64(total) })
		if diff := cmp.Diff(want, rec.delivered()); diff != "" {
			t.Errorf("delivered (-want +got):\n%s", diff)
		}
		failed := 0
		for _, c := range rec.all() {
			if c.Err != nil {
				failed++
			}
			if c.Text == "ciao" {
				t.Errorf("the shopper's entry %d was delivered", c.Seq)
			}
		}
		if failed == 0 {
			t.Fatal("no delivery failed: the test tests nothing")
		}
		if got := metric(t, r.reg, "bottega_outbound_retried_total"); got != float64(failed) {
			t.Errorf("retried_total = %v, want %d", got, failed)
		}
		if got := metric(t, r.reg, "bottega_outbound_delivery_latency_seconds"); got != float64(total) {
			t.Errorf("latency samples = %v, want %d", got, total)
		}
		waitFor(t, "an empty backlog", func() bool {
			n, err := r.stores[0].(bot.OutboxStore).Backlog(context.Background())
			return err == nil && n == 0
		})
	})
}

// TestOutboundRetryAfter: a platform's 429 pauses the whole channel for
// retry_after: no call at all before it ends, then everything goes.
func TestOutboundRetryAfter(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		r := newRig(t, b, 1)
		for _, c := range []string{"a", "b", "c"} {
			r.reply(fakeChannel+":"+c, texts(c, 2)...)
		}
		const after = time.Second
		var (
			mu  sync.Mutex
			hit time.Time
		)
		rec := &recorder{answer: func(_ context.Context, c call) error {
			mu.Lock()
			defer mu.Unlock()
			if hit.IsZero() {
				hit = c.At
				return &bot.RetryAfterError{After: after, Err: errors.New("too many requests")}
			}
			return nil
		}}
		run(t, r.outbound(0, rec, bot.Limits{}, bot.WithConcurrency(1)))
		waitFor(t, "every reply", func() bool { return metric(t, r.reg, "bottega_outbound_sent_total") == 6 })
		calls := rec.all()
		for _, c := range calls[1:] {
			if c.At.Before(hit.Add(after)) {
				t.Errorf("call to %s seq %d %v after the 429, want no call before %v", c.Key, c.Seq, c.At.Sub(hit), after)
			}
		}
		want := map[string][]string{"fake:a": texts("a", 2), "fake:b": texts("b", 2), "fake:c": texts("c", 2)}
		if diff := cmp.Diff(want, rec.delivered()); diff != "" {
			t.Errorf("delivered (-want +got):\n%s", diff)
		}
		if got := metric(t, r.reg, "bottega_outbound_rate_limited_total"); got != 1 {
			t.Errorf("rate_limited_total = %v, want 1", got)
		}
	})
}

// TestOutboundBackoff: an entry that fails twice is tried again after a
// short backoff — the queue wakes for it without polling — and then goes.
func TestOutboundBackoff(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		r := newRig(t, b, 1)
		r.reply("fake:1", "one", "two")
		rec := &recorder{answer: func(_ context.Context, c call) error {
			if c.Text == "one" && c.Try <= 2 {
				return errors.New("503 service unavailable")
			}
			return nil
		}}
		start := time.Now()
		run(t, r.outbound(0, rec, bot.Limits{}, bot.WithPoll(time.Hour), bot.WithBackoff(50*time.Millisecond, 100*time.Millisecond)))
		waitFor(t, "both replies", func() bool { return rec.count("fake:1") == 2 })
		if took := time.Since(start); took > 3*time.Second {
			t.Errorf("took %v with backoffs of at most 150ms", took)
		}
		var tries []int
		for _, c := range rec.all() {
			if c.Text == "one" {
				tries = append(tries, c.Try)
			}
		}
		if diff := cmp.Diff([]int{1, 2, 3}, tries); diff != "" {
			t.Errorf("tries of the first entry (-want +got):\n%s", diff)
		}
		if got := metric(t, r.reg, "bottega_outbound_retried_total"); got != 2 {
			t.Errorf("retried_total = %v, want 2", got)
		}
		dl, err := r.stores[0].(bot.OutboxStore).DeadLetters(context.Background(), 10)
		if err != nil || len(dl) != 0 {
			t.Errorf("DeadLetters = %v, %v, want none", dl, err)
		}
	})
}

// TestOutboundDeadLetter: an entry that keeps failing is dead-lettered
// after the last attempt, an undeliverable one at once, with the error as
// the reason; the next entries go.
func TestOutboundDeadLetter(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		r := newRig(t, b, 1)
		r.reply("fake:1", "failing", "after failing", "blocked", "after blocked")
		rec := &recorder{answer: func(_ context.Context, c call) error {
			switch c.Text {
			case "failing":
				return errors.New("dial tcp: connection refused")
			case "blocked":
				return fmt.Errorf("403 bot was blocked by the user: %w", bot.ErrUndeliverable)
			}
			return nil
		}}
		run(t, r.outbound(0, rec, bot.Limits{}, bot.WithMaxAttempts(3)))
		waitFor(t, "the replies after the failures", func() bool { return rec.count("fake:1") == 2 })
		if diff := cmp.Diff(map[string][]string{"fake:1": {"after failing", "after blocked"}}, rec.delivered()); diff != "" {
			t.Errorf("delivered (-want +got):\n%s", diff)
		}
		tries := make(map[string]int)
		for _, c := range rec.all() {
			tries[c.Text]++
		}
		if tries["failing"] != 3 || tries["blocked"] != 1 {
			t.Errorf("tries = %v, want 3 of the failing entry and 1 of the blocked one", tries)
		}
		var dl []bot.DeadLetter
		waitFor(t, "two dead letters", func() bool {
			var err error
			dl, err = r.stores[0].(bot.OutboxStore).DeadLetters(context.Background(), 10)
			return err == nil && len(dl) >= 2
		})
		want := []bot.DeadLetter{
			{Key: "fake:1", Seq: 3, Reason: "403 bot was blocked by the user: bot: undeliverable"},
			{Key: "fake:1", Seq: 1, Reason: "dial tcp: connection refused"},
		}
		if diff := cmp.Diff(want, dl, cmpopts.IgnoreFields(bot.DeadLetter{}, "At")); diff != "" {
			t.Errorf("DeadLetters (-want +got):\n%s", diff)
		}
		waitFor(t, "dead_letters_total 2", func() bool { return metric(t, r.reg, "bottega_outbound_dead_letters_total") == 2 })
	})
}

// TestOutboundHold: a held conversation is not tried again until a new
// commit; then the held entry goes first.
func TestOutboundHold(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		r := newRig(t, b, 1)
		r.reply("fake:1", "one")
		var (
			mu   sync.Mutex
			held = true
		)
		rec := &recorder{answer: func(context.Context, call) error {
			mu.Lock()
			defer mu.Unlock()
			if held {
				return fmt.Errorf("outside the window: %w", bot.ErrHold)
			}
			return nil
		}}
		o := r.outbound(0, rec, bot.Limits{})
		run(t, o)
		waitFor(t, "the hold", func() bool { return metric(t, r.reg, "bottega_outbound_held_total") == 1 })
		time.Sleep(200 * time.Millisecond) // ten polls
		if n := len(rec.all()); n != 1 {
			t.Errorf("%d calls while held, want 1", n)
		}
		mu.Lock()
		held = false
		mu.Unlock()
		r.reply("fake:1", "two")
		o.Notify()
		waitFor(t, "both replies", func() bool { return rec.count("fake:1") == 2 })
		if diff := cmp.Diff([]string{"one", "two"}, rec.delivered()["fake:1"]); diff != "" {
			t.Errorf("delivered (-want +got):\n%s", diff)
		}
	})
}

// TestOutboundTwoReplicas: two queues on one store never deliver to one
// conversation at the same time, and deliver each entry once.
func TestOutboundTwoReplicas(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		r := newRig(t, b, 2)
		want := make(map[string][]string)
		for c := range 12 {
			key := fmt.Sprintf("fake:%d", c)
			want[key] = texts(key, 5)
			r.reply(key, want[key]...)
		}
		var (
			mu       sync.Mutex
			inflight = make(map[string]int)
		)
		deliverer := func() *recorder {
			return &recorder{answer: func(_ context.Context, c call) error {
				mu.Lock()
				inflight[c.Key]++
				n := inflight[c.Key]
				mu.Unlock()
				if n > 1 {
					t.Errorf("%s delivered by two workers at once", c.Key)
				}
				time.Sleep(3 * time.Millisecond)
				mu.Lock()
				inflight[c.Key]--
				mu.Unlock()
				return nil
			}}
		}
		recs := []*recorder{deliverer(), deliverer()}
		for i, rec := range recs {
			run(t, r.outbound(i, rec, bot.Limits{}, bot.WithConcurrency(4), bot.WithPoll(5*time.Millisecond)))
		}
		waitFor(t, "every reply", func() bool { return metric(t, r.reg, "bottega_outbound_sent_total") >= 60 })
		time.Sleep(50 * time.Millisecond) // a second delivery would show now
		// Merged in time order: a conversation may move between replicas.
		first, second := recs[0].all(), recs[1].all()
		merged := append(first, second...)
		sortCalls(merged)
		got := make(map[string][]string)
		for _, c := range merged {
			got[c.Key] = append(got[c.Key], c.Text)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("delivered (-want +got):\n%s", diff)
		}
		t.Logf("calls by replica: %d and %d", len(first), len(second))
	})
}

func sortCalls(cs []call) {
	slices.SortStableFunc(cs, func(a, b call) int { return a.At.Compare(b.At) })
}

// sealer seals with a generation byte; the generations in erased open as
// bot.ErrErased.
type sealer struct {
	mu     sync.Mutex
	gen    byte
	erased map[byte]bool
}

func (s *sealer) Seal(_ context.Context, _ string, plain []byte) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]byte{s.gen}, plain...), nil
}

func (s *sealer) Open(_ context.Context, _ string, sealed []byte) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.erased[sealed[0]] {
		return nil, bot.ErrErased
	}
	return sealed[1:], nil
}

// erase deletes the current generation's key and starts a new one.
func (s *sealer) erase() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.erased[s.gen] = true
	s.gen++
}

// TestOutboundErased: an entry whose person was erased is skipped.
func TestOutboundErased(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		s := &sealer{gen: 1, erased: make(map[byte]bool)}
		r := newRig(t, b, 1, bot.WithSealer(s))
		r.reply("fake:1", "before the erasure")
		s.erase()
		r.reply("fake:1", "after the erasure")
		rec := &recorder{}
		run(t, r.outbound(0, rec, bot.Limits{}))
		waitFor(t, "the caught-up queue", func() bool {
			n, err := r.stores[0].(bot.OutboxStore).Backlog(context.Background())
			return err == nil && n == 0 && rec.count("fake:1") > 0
		})
		if diff := cmp.Diff(map[string][]string{"fake:1": {"after the erasure"}}, rec.delivered()); diff != "" {
			t.Errorf("delivered (-want +got):\n%s", diff)
		}
		if n := len(rec.all()); n != 1 {
			t.Errorf("%d calls, want 1", n)
		}
	})
}

// TestOutboundShutdown: a queue stopped in the middle of a send loses
// nothing. A send that gives up when cancelled is settled and goes at once
// on the other replica; one that hangs is abandoned, and its conversation
// goes again when the lease expires.
func TestOutboundShutdown(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		for _, hang := range []bool{false, true} {
			t.Run(fmt.Sprintf("hang=%v", hang), func(t *testing.T) {
				r := newRig(t, b, 2)
				r.reply("fake:1", "one", "two")
				entered := make(chan struct{})
				release := make(chan struct{})
				t.Cleanup(func() { close(release) })
				first := &recorder{answer: func(ctx context.Context, _ call) error {
					close(entered)
					if hang {
						<-release
						return errors.New("released at the end of the test")
					}
					<-ctx.Done()
					return ctx.Err()
				}}
				const lease = 2 * time.Second
				leasedBy := time.Now()
				stop := run(t, r.outbound(0, first, bot.Limits{},
					bot.WithOutboundLease(lease), bot.WithOutboundGrace(100*time.Millisecond)))
				<-entered
				stopping := time.Now()
				stop()
				if took := time.Since(stopping); took > 2*time.Second {
					t.Errorf("Run returned %v after its context ended, want within twice the grace", took)
				}
				second := &recorder{}
				run(t, r.outbound(1, second, bot.Limits{}))
				waitFor(t, "both replies on the other replica", func() bool { return second.count("fake:1") == 2 })
				if diff := cmp.Diff([]string{"one", "two"}, second.delivered()["fake:1"]); diff != "" {
					t.Errorf("delivered (-want +got):\n%s", diff)
				}
				at := second.all()[0].At
				if hang && at.Before(leasedBy.Add(lease)) {
					t.Errorf("the other replica sent %v after the lease began, before it expired (%v)", at.Sub(leasedBy), lease)
				}
				if !hang && at.After(leasedBy.Add(lease)) {
					t.Errorf("the other replica sent only after the lease expired: the abandoned send was not settled")
				}
			})
		}
	})
}

// TestOutboundPacing: platform calls keep the per-conversation interval
// (also within one entry of several calls) and the channel's rate.
func TestOutboundPacing(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		t.Run("PerConversation", func(t *testing.T) {
			r := newRig(t, b, 1)
			r.reply("fake:1", texts("x", 3)...)
			var (
				mu    sync.Mutex
				paced []time.Time
			)
			rec := &recorder{answer: func(ctx context.Context, _ call) error {
				// A second platform call within the entry, as a card and
				// its text would make.
				mu.Lock()
				paced = append(paced, time.Now()) // the first, paced by the recorder
				mu.Unlock()
				if err := bot.Pace(ctx); err != nil {
					return err
				}
				mu.Lock()
				paced = append(paced, time.Now())
				mu.Unlock()
				return nil
			}}
			const iv = 150 * time.Millisecond
			run(t, r.outbound(0, rec, bot.Limits{PerConversation: iv}))
			waitFor(t, "every reply", func() bool { return rec.count("fake:1") == 3 })
			mu.Lock()
			defer mu.Unlock()
			for i := 1; i < len(paced); i++ {
				if gap := paced[i].Sub(paced[i-1]); gap < iv {
					t.Errorf("call %d came %v after the one before, want at least %v", i+1, gap, iv)
				}
			}
		})
		t.Run("PerSecond", func(t *testing.T) {
			r := newRig(t, b, 1)
			for c := range 3 {
				r.reply(fmt.Sprintf("fake:%d", c), texts("x", 10)...)
			}
			rec := &recorder{}
			start := time.Now()
			run(t, r.outbound(0, rec, bot.Limits{PerSecond: 20, Burst: 1}))
			waitFor(t, "every reply", func() bool { return len(rec.all()) == 30 })
			if took := time.Since(start); took < time.Second {
				t.Errorf("30 calls at 20 a second took %v, want at least a second", took)
			}
			calls := rec.all()
			sortCalls(calls)
			for i := 20; i < len(calls); i++ {
				if w := calls[i].At.Sub(calls[i-20].At); w < time.Second {
					t.Errorf("calls %d to %d came within %v, want 21 calls to span a second", i-19, i+1, w)
				}
			}
		})
		t.Run("LeaseEnds", func(t *testing.T) {
			// A lease of 1s leaves room for two calls 400ms apart: the
			// queue settles and takes the conversation up again.
			r := newRig(t, b, 1)
			r.reply("fake:1", texts("x", 5)...)
			rec := &recorder{}
			run(t, r.outbound(0, rec, bot.Limits{PerConversation: 400 * time.Millisecond}, bot.WithOutboundLease(time.Second)))
			waitFor(t, "every reply", func() bool { return rec.count("fake:1") == 5 })
			if diff := cmp.Diff(texts("x", 5), rec.delivered()["fake:1"]); diff != "" {
				t.Errorf("delivered (-want +got):\n%s", diff)
			}
			dl, err := r.stores[0].(bot.OutboxStore).DeadLetters(context.Background(), 10)
			if err != nil || len(dl) != 0 {
				t.Errorf("DeadLetters = %v, %v, want none", dl, err)
			}
		})
	})
}

// TestOutboundRunTwice: one Outbound runs once at a time.
func TestOutboundRunTwice(t *testing.T) {
	r := newRig(t, backends[0], 1)
	o := r.outbound(0, &recorder{}, bot.Limits{})
	run(t, o)
	time.Sleep(20 * time.Millisecond)
	err := o.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "already running") {
		t.Errorf("a second Run = %v, want an error saying it is already running", err)
	}
}
