package bottest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/bottega-shop/bottega/bot"
)

// NewDispatchers returns n Dispatchers that share one new, empty backend as
// n replicas would, each handing messages to h and built with opts.
type NewDispatchers func(t *testing.T, n int, h bot.Handler, opts ...bot.DispatcherOption) []*bot.Dispatcher

// call is one Handle call seen by a recorder.
type call struct {
	ID    string
	Seq   int64
	State string
}

// recorder is a Handler that records its calls per conversation, notices
// two calls of one conversation at once, and by default appends "|ID" to
// the state and answers "re:" + the text. fn, if set, replaces the default.
type recorder struct {
	fn func(ctx context.Context, state []byte, m bot.Message) ([]byte, []bot.Reply, error)

	mu       sync.Mutex
	calls    map[string][]call
	inFlight map[string]int
	overlaps int
}

func newRecorder() *recorder {
	return &recorder{calls: make(map[string][]call), inFlight: make(map[string]int)}
}

func (r *recorder) Handle(ctx context.Context, state []byte, m bot.Message) ([]byte, []bot.Reply, error) {
	key := m.Key()
	r.mu.Lock()
	r.inFlight[key]++
	if r.inFlight[key] > 1 {
		r.overlaps++
	}
	r.calls[key] = append(r.calls[key], call{m.ID, m.Seq, string(state)})
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.inFlight[key]--
		r.mu.Unlock()
	}()
	if r.fn != nil {
		return r.fn(ctx, state, m)
	}
	return defaultHandle(state, m)
}

func defaultHandle(state []byte, m bot.Message) ([]byte, []bot.Reply, error) {
	return append(slices.Clip(state), "|"+m.ID...), []bot.Reply{{Text: "re:" + m.Text}}, nil
}

func (r *recorder) callsOf(key string) []call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls[key])
}

func (r *recorder) ids(key string) []string {
	var out []string
	for _, c := range r.callsOf(key) {
		out = append(out, c.ID)
	}
	return out
}

func (r *recorder) overlapping() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.overlaps
}

var errBoom = errors.New("boom")

// TestDispatcher checks Dispatchers built by newDispatchers on one backend:
// once-only handling under redelivery, order under concurrent arrival
// within and across Dispatchers, lease loss, handler failures, state,
// paging, Subscribe across Dispatchers, sealing with a bot.Sealer,
// forgetting in a turn (bot.Turn.Forget) and idle expiry.
func TestDispatcher(t *testing.T, newDispatchers NewDispatchers) {
	ctx := context.Background()
	at := time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC)
	webMsg := func(conv, id string, seq int64, text string) bot.Message {
		return bot.Message{Channel: bot.WebChat, ID: id, Conversation: conv, Sender: "v-" + conv, Text: text, Seq: seq, At: at}
	}
	tgMsg := func(conv, id string, seq int64) bot.Message {
		return bot.Message{Channel: bot.Telegram, ID: id, Conversation: conv, Sender: conv, Text: "t" + id, Seq: seq, At: at}
	}
	mustDispatch := func(t *testing.T, d *bot.Dispatcher, m bot.Message) []bot.Entry {
		t.Helper()
		es, err := d.Dispatch(ctx, m)
		if err != nil {
			t.Fatalf("Dispatch(%s %s) = %v", m.Key(), m.ID, err)
		}
		return es
	}
	entries := func(t *testing.T, d *bot.Dispatcher, key string) []bot.Entry {
		t.Helper()
		es, err := d.Entries(ctx, key, 0, bot.MaxEntriesLimit)
		if err != nil {
			t.Fatalf("Entries(%q) = %v", key, err)
		}
		return es
	}
	// checkLog checks that key's log is gapless from 1 and holds, for each
	// ID in order, the shopper's entry followed by one reply.
	checkLog := func(t *testing.T, d *bot.Dispatcher, key string, ids []string) {
		t.Helper()
		es := entries(t, d, key)
		var got []string
		for i, e := range es {
			if e.Seq != int64(i+1) {
				t.Errorf("log of %s: entry %d has Seq %d, want %d (gapless from 1)", key, i, e.Seq, i+1)
			}
			switch {
			case i%2 == 0 && e.From == bot.FromShopper:
				got = append(got, e.MessageID)
			case i%2 == 1 && e.From == bot.FromBot && e.MessageID == es[i-1].MessageID:
			default:
				t.Errorf("log of %s: entry %d = %+v, want shopper and reply lines in pairs", key, e.Seq, e)
			}
		}
		if diff := cmp.Diff(ids, got); diff != "" {
			t.Errorf("log of %s: messages (-want +got):\n%s", key, diff)
		}
	}

	t.Run("Dispatch", func(t *testing.T) {
		rec := newRecorder()
		d := newDispatchers(t, 1, rec)[0]
		m := webMsg("c1", "m1", 1, "avete le trail runner?")
		got := mustDispatch(t, d, m)
		want := []bot.Entry{
			{Seq: 1, Conversation: m.Key(), From: bot.FromShopper, MessageID: "m1", Text: "avete le trail runner?", At: at},
			{Seq: 2, Conversation: m.Key(), From: bot.FromBot, MessageID: "m1", Reply: &bot.Reply{Text: "re:avete le trail runner?"}},
		}
		if len(got) == 2 {
			want[1].At = got[1].At // stamped by the Dispatcher's clock
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Dispatch entries (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(want, entries(t, d, m.Key())); diff != "" {
			t.Errorf("Entries after Dispatch (-want +got):\n%s", diff)
		}
		button := bot.Message{Channel: bot.WebChat, ID: "m2", Conversation: "c1", Payload: "SIZE_43", Seq: 2}
		got = mustDispatch(t, d, button)
		if len(got) != 2 || got[0].Seq != 3 || got[0].Text != "SIZE_43" || got[0].At.IsZero() {
			t.Errorf("Dispatch of a button press = %+v, want the payload as text at Seq 3, stamped now", got)
		}
		if diff := cmp.Diff([]call{{"m1", 1, ""}, {"m2", 2, "|m1"}}, rec.callsOf(m.Key())); diff != "" {
			t.Errorf("handler calls (-want +got):\n%s", diff)
		}
		for _, bad := range []bot.Message{
			{Channel: bot.WebChat, Conversation: "c1", Text: "no id"},
			{Channel: bot.WebChat, ID: "x", Text: "no conversation"},
			{ID: "y", Conversation: "c1", Text: "no channel"},
		} {
			if es, err := d.Dispatch(ctx, bad); err == nil {
				t.Errorf("Dispatch(%+v) = %v, nil; want an error", bad, es)
			}
		}
		if n := len(rec.callsOf(m.Key())); n != 2 {
			t.Errorf("handler called %d times, want 2 (not for invalid messages)", n)
		}
	})

	t.Run("RedeliverySequential", func(t *testing.T) {
		rec := newRecorder()
		ds := newDispatchers(t, 2, rec)
		m := tgMsg("77", "update-1", 1001)
		mustDispatch(t, ds[0], m)
		for i, d := range ds {
			if es, err := d.Dispatch(ctx, m); !errors.Is(err, bot.ErrDuplicate) {
				t.Errorf("redelivery to dispatcher %d = %v, %v; want ErrDuplicate", i, es, err)
			}
		}
		if got := rec.ids(m.Key()); len(got) != 1 {
			t.Errorf("handler calls = %v, want one", got)
		}
		checkLog(t, ds[1], m.Key(), []string{"update-1"})
	})

	t.Run("RedeliveryConcurrent", func(t *testing.T) {
		rec := newRecorder()
		rec.fn = func(ctx context.Context, state []byte, m bot.Message) ([]byte, []bot.Reply, error) {
			time.Sleep(20 * time.Millisecond)
			return defaultHandle(state, m)
		}
		ds := newDispatchers(t, 2, rec)
		const n = 10
		m := webMsg("c-dup", "client-msg-1", 1, "ciao")
		var (
			wg         sync.WaitGroup
			start      = make(chan struct{})
			mu         sync.Mutex
			ok, dupErr int
		)
		for i := range n {
			wg.Go(func() {
				<-start
				_, err := ds[i%len(ds)].Dispatch(ctx, m)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					ok++
				case errors.Is(err, bot.ErrDuplicate):
					dupErr++
				default:
					t.Errorf("Dispatch = %v, want nil or ErrDuplicate", err)
				}
			})
		}
		close(start)
		wg.Wait()
		if ok != 1 || dupErr != n-1 {
			t.Errorf("%d concurrent deliveries: %d handled, %d duplicates; want 1 and %d", n, ok, dupErr, n-1)
		}
		if got := rec.ids(m.Key()); len(got) != 1 {
			t.Errorf("handler calls = %v, want one", got)
		}
		checkLog(t, ds[0], m.Key(), []string{"client-msg-1"})
	})

	t.Run("ConcurrentInOrder", func(t *testing.T) {
		// Web chat: Seq counts from 1, so messages arriving in any order
		// are handled in the order sent.
		rec := newRecorder()
		ds := newDispatchers(t, 2, rec)
		const convs, msgs = 6, 8
		var wg sync.WaitGroup
		start := make(chan struct{})
		for c := range convs {
			for i := 1; i <= msgs; i++ {
				wg.Go(func() {
					m := webMsg(fmt.Sprintf("conv-%d", c), fmt.Sprintf("m%d", i), int64(i), fmt.Sprint(i))
					<-start
					time.Sleep(time.Duration(rand.IntN(3000)) * time.Microsecond)
					if _, err := ds[(c+i)%len(ds)].Dispatch(ctx, m); err != nil {
						t.Errorf("Dispatch(%s %s) = %v", m.Key(), m.ID, err)
					}
				})
			}
		}
		close(start)
		wg.Wait()
		if n := rec.overlapping(); n != 0 {
			t.Errorf("%d handler calls overlapped another of the same conversation", n)
		}
		for c := range convs {
			key := webMsg(fmt.Sprintf("conv-%d", c), "", 0, "").Key()
			var want []string
			for i := 1; i <= msgs; i++ {
				want = append(want, fmt.Sprintf("m%d", i))
			}
			if diff := cmp.Diff(want, rec.ids(key)); diff != "" {
				t.Errorf("handling order of %s (-want +got):\n%s", key, diff)
			}
			checkLog(t, ds[c%len(ds)], key, want)
			if calls := rec.callsOf(key); len(calls) == msgs {
				if got, want := calls[msgs-1].State, "|"+strings.Join(want[:msgs-1], "|"); got != want {
					t.Errorf("%s: last call saw state %q, want %q", key, got, want)
				}
			}
		}
	})

	t.Run("ConcurrentQueued", func(t *testing.T) {
		// Telegram: Seq is not contiguous. Messages that arrive while a
		// turn is running are handled after it in Seq order.
		rec := newRecorder()
		entered, proceed := make(chan struct{}), make(chan struct{})
		rec.fn = func(ctx context.Context, state []byte, m bot.Message) ([]byte, []bot.Reply, error) {
			if m.ID == "u100" {
				close(entered)
				<-proceed
			}
			return defaultHandle(state, m)
		}
		ds := newDispatchers(t, 2, rec)
		var wg sync.WaitGroup
		wg.Go(func() { mustDispatch(t, ds[0], tgMsg("chat", "u100", 100)) })
		<-entered
		for i, seq := range []int64{300, 200, 500, 400, 250} {
			wg.Go(func() {
				m := tgMsg("chat", fmt.Sprintf("u%d", seq), seq)
				if _, err := ds[i%len(ds)].Dispatch(ctx, m); err != nil {
					t.Errorf("Dispatch(%s) = %v", m.ID, err)
				}
			})
		}
		time.Sleep(500 * time.Millisecond) // all five reach the queue
		close(proceed)
		wg.Wait()
		want := []string{"u100", "u200", "u250", "u300", "u400", "u500"}
		key := tgMsg("chat", "", 0).Key()
		if diff := cmp.Diff(want, rec.ids(key)); diff != "" {
			t.Errorf("handling order (-want +got):\n%s", diff)
		}
		checkLog(t, ds[1], key, want)
	})

	t.Run("ConcurrentSeqZero", func(t *testing.T) {
		// Without Seq: one at a time, each once, the log in handling order.
		rec := newRecorder()
		ds := newDispatchers(t, 2, rec)
		const n = 20
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				m := bot.Message{Channel: bot.Messenger, ID: fmt.Sprintf("mid.%d", i), Conversation: "psid-1", Text: "x"}
				<-start
				if _, err := ds[i%len(ds)].Dispatch(ctx, m); err != nil {
					t.Errorf("Dispatch(%s) = %v", m.ID, err)
				}
			})
		}
		close(start)
		wg.Wait()
		key := bot.Messenger + ":psid-1"
		if n := rec.overlapping(); n != 0 {
			t.Errorf("%d handler calls overlapped", n)
		}
		ids := rec.ids(key)
		if len(ids) != n {
			t.Fatalf("handler calls = %v, want %d", ids, n)
		}
		checkLog(t, ds[0], key, ids)
		calls := rec.callsOf(key)
		if got, want := calls[n-1].State, "|"+strings.Join(ids[:n-1], "|"); got != want {
			t.Errorf("last call saw state %q, want %q (each turn sees the one before)", got, want)
		}
	})

	t.Run("LeaseExpires", func(t *testing.T) {
		rec := newRecorder()
		const lease = 400 * time.Millisecond
		entered := make(chan struct{})
		var slowCtxErr error
		rec.fn = func(ctx context.Context, state []byte, m bot.Message) ([]byte, []bot.Reply, error) {
			if m.ID == "slow" && entered != nil {
				close(entered)
				time.Sleep(2 * lease) // ignores ctx, like a stuck call
				slowCtxErr = ctx.Err()
			}
			return defaultHandle(state, m)
		}
		ds := newDispatchers(t, 2, rec, bot.WithLease(lease))
		slowErr := make(chan error, 1)
		go func() {
			_, err := ds[0].Dispatch(ctx, tgMsg("9", "slow", 1))
			slowErr <- err
		}()
		<-entered
		mustDispatch(t, ds[1], tgMsg("9", "fast", 2)) // waits out the lease
		if err := <-slowErr; !errors.Is(err, bot.ErrLockLost) {
			t.Errorf("Dispatch of the turn that outlived its lease = %v, want ErrLockLost", err)
		}
		if !errors.Is(slowCtxErr, context.DeadlineExceeded) {
			t.Errorf("the slow handler's context after the lease = %v, want DeadlineExceeded", slowCtxErr)
		}
		key := tgMsg("9", "", 0).Key()
		checkLog(t, ds[0], key, []string{"fast"})
		entered = nil
		mustDispatch(t, ds[0], tgMsg("9", "slow", 1)) // redelivered: not done, so handled
		checkLog(t, ds[0], key, []string{"fast", "slow"})
		if calls := rec.callsOf(key); len(calls) != 3 || calls[2].State != "|fast" {
			t.Errorf("calls = %+v, want the redelivered slow message to see state %q", calls, "|fast")
		}
	})

	t.Run("HandlerError", func(t *testing.T) {
		rec := newRecorder()
		fail := true
		rec.fn = func(ctx context.Context, state []byte, m bot.Message) ([]byte, []bot.Reply, error) {
			if m.ID == "bad" && fail {
				fail = false
				return []byte("must not be saved"), []bot.Reply{{Text: "must not be logged"}}, errBoom
			}
			return defaultHandle(state, m)
		}
		ds := newDispatchers(t, 2, rec)
		mustDispatch(t, ds[0], tgMsg("5", "good", 1))
		if es, err := ds[0].Dispatch(ctx, tgMsg("5", "bad", 2)); !errors.Is(err, errBoom) {
			t.Fatalf("Dispatch with a failing handler = %v, %v; want the handler's error", es, err)
		}
		key := tgMsg("5", "", 0).Key()
		checkLog(t, ds[0], key, []string{"good"})
		start := time.Now()
		mustDispatch(t, ds[1], tgMsg("5", "bad", 2)) // the retry runs again, at once
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("retry after a handler error took %v: the lock was not released", d)
		}
		checkLog(t, ds[0], key, []string{"good", "bad"})
		if calls := rec.callsOf(key); len(calls) != 3 || calls[2].State != "|good" {
			t.Errorf("calls = %+v, want the retry to see state %q", calls, "|good")
		}
	})

	t.Run("HandlerPanic", func(t *testing.T) {
		rec := newRecorder()
		rec.fn = func(ctx context.Context, state []byte, m bot.Message) ([]byte, []bot.Reply, error) {
			if m.ID == "boom" {
				panic("handler bug")
			}
			return defaultHandle(state, m)
		}
		d := newDispatchers(t, 1, rec)[0]
		func() {
			defer func() {
				if r := recover(); r != "handler bug" {
					t.Errorf("recovered %v, want the handler's panic", r)
				}
			}()
			d.Dispatch(ctx, tgMsg("6", "boom", 1))
		}()
		start := time.Now()
		mustDispatch(t, d, tgMsg("6", "next", 2))
		if el := time.Since(start); el > 2*time.Second {
			t.Errorf("Dispatch after a handler panic took %v: the lock was not released", el)
		}
		checkLog(t, d, tgMsg("6", "", 0).Key(), []string{"next"})
	})

	t.Run("CancelWhileWaiting", func(t *testing.T) {
		rec := newRecorder()
		entered, proceed := make(chan struct{}), make(chan struct{})
		rec.fn = func(ctx context.Context, state []byte, m bot.Message) ([]byte, []bot.Reply, error) {
			if m.ID == "u1" {
				close(entered)
				<-proceed
			}
			return defaultHandle(state, m)
		}
		ds := newDispatchers(t, 2, rec)
		done := make(chan struct{})
		go func() {
			defer close(done)
			mustDispatch(t, ds[0], tgMsg("8", "u1", 1))
		}()
		<-entered
		cctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		_, err := ds[1].Dispatch(cctx, tgMsg("8", "u2", 2))
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Dispatch whose context ends while waiting = %v, want DeadlineExceeded", err)
		}
		close(proceed)
		<-done
		// u2 gave up its place: u3 does not wait for it.
		start := time.Now()
		mustDispatch(t, ds[1], tgMsg("8", "u3", 3))
		if el := time.Since(start); el > 2*time.Second {
			t.Errorf("Dispatch after a waiter gave up took %v, want no wait", el)
		}
		checkLog(t, ds[0], tgMsg("8", "", 0).Key(), []string{"u1", "u3"})
	})

	t.Run("Entries", func(t *testing.T) {
		d := newDispatchers(t, 1, newRecorder())[0]
		for i := 1; i <= 5; i++ {
			mustDispatch(t, d, webMsg("page", fmt.Sprintf("m%d", i), int64(i), "x"))
		}
		key := webMsg("page", "", 0, "").Key()
		tests := []struct {
			after int64
			limit int
			want  []int64
		}{
			{0, 3, []int64{1, 2, 3}},
			{3, 0, []int64{4, 5, 6, 7, 8, 9, 10}}, // 0: the default page
			{-5, 2, []int64{1, 2}},
			{9, 10, []int64{10}},
			{10, 10, nil},
		}
		for _, tt := range tests {
			es, err := d.Entries(ctx, key, tt.after, tt.limit)
			if err != nil {
				t.Fatalf("Entries(%q, %d, %d) = %v", key, tt.after, tt.limit, err)
			}
			var got []int64
			for _, e := range es {
				got = append(got, e.Seq)
			}
			if !cmp.Equal(got, tt.want) {
				t.Errorf("Entries(%q, %d, %d) seqs = %v, want %v", key, tt.after, tt.limit, got, tt.want)
			}
		}
	})

	t.Run("Append", func(t *testing.T) {
		rec := newRecorder()
		d := newDispatchers(t, 1, rec)[0]
		mustDispatch(t, d, webMsg("ag", "m1", 1, "aiuto"))
		key := webMsg("ag", "", 0, "").Key()
		reply := bot.Reply{Text: "Sono Giulia, ti aiuto io", Buttons: []bot.Button{{Title: "Grazie", Payload: "THANKS"}}}
		got, err := d.Append(ctx, key, bot.FromAgent, []bot.Reply{reply})
		if err != nil {
			t.Fatalf("Append = %v", err)
		}
		if len(got) != 1 || got[0].Seq != 3 || got[0].From != bot.FromAgent || got[0].MessageID != "" || !cmp.Equal(got[0].Reply, &reply) {
			t.Errorf("Append = %+v, want one agent entry at Seq 3 with the reply", got)
		}
		mustDispatch(t, d, webMsg("ag", "m2", 2, "grazie"))
		if calls := rec.callsOf(key); len(calls) != 2 || calls[1].State != "|m1" {
			t.Errorf("calls = %+v, want Append to keep the state %q", calls, "|m1")
		}
		if es := entries(t, d, key); len(es) != 5 || es[2].From != bot.FromAgent {
			t.Errorf("log = %+v, want 5 entries with the agent's third", es)
		}
		if _, err := d.Append(ctx, key, bot.FromShopper, []bot.Reply{reply}); err == nil {
			t.Errorf("Append from the shopper = nil error, want one")
		}
		if _, err := d.Append(ctx, "", bot.FromAgent, []bot.Reply{reply}); err == nil {
			t.Errorf("Append to no conversation = nil error, want one")
		}
	})

	t.Run("SubscribeAcrossDispatchers", func(t *testing.T) {
		ds := newDispatchers(t, 2, newRecorder())
		key := webMsg("sub", "", 0, "").Key()
		sctx, stop := context.WithCancel(ctx)
		defer stop()
		ch, cancel := ds[1].Subscribe(sctx, key)
		defer cancel()
		got := mustDispatch(t, ds[0], webMsg("sub", "m1", 1, "ciao"))
		if seq := waitSignal(t, ch, lastSeq(t, got), "on one dispatcher after a Dispatch on another"); seq != 2 {
			t.Errorf("signal after a Dispatch that committed Seq 1-2 = %d, want 2", seq)
		}
		if es := entries(t, ds[1], key); len(es) != 2 {
			t.Errorf("Entries on the subscriber's dispatcher = %v, want 2", es)
		}
		got, err := ds[0].Append(ctx, key, bot.FromAgent, []bot.Reply{{Text: "ciao!"}})
		if err != nil {
			t.Fatalf("Append = %v", err)
		}
		waitSignal(t, ch, lastSeq(t, got), "after an Append on another dispatcher")
		stop()
		waitClosed(t, ch)
	})

	t.Run("Sealer", func(t *testing.T) {
		rec := newRecorder()
		sealer := &xorSealer{}
		d := newDispatchers(t, 1, rec, bot.WithSealer(sealer))[0]
		reply := func(e bot.Entry) string {
			if e.Reply == nil {
				return ""
			}
			return e.Reply.Text
		}
		got := mustDispatch(t, d, webMsg("sealed", "m1", 1, "avete le trail runner?"))
		if len(got) != 2 || got[0].Text != "avete le trail runner?" || reply(got[1]) != "re:avete le trail runner?" || got[0].Sealed != nil {
			t.Errorf("Dispatch with a sealer = %+v, want the entries in clear", got)
		}
		mustDispatch(t, d, webMsg("sealed", "m2", 2, "e nel 43?"))
		key := webMsg("sealed", "", 0, "").Key()
		if calls := rec.callsOf(key); len(calls) != 2 || calls[1].State != "|m1" {
			t.Errorf("calls = %+v, want the second to see the opened state %q", calls, "|m1")
		}
		es := entries(t, d, key)
		if len(es) != 4 || es[2].Text != "e nel 43?" || reply(es[3]) != "re:e nel 43?" || es[2].Sealed != nil || es[2].Erased {
			t.Errorf("Entries with a sealer = %+v, want 4 opened entries", es)
		}
		sealer.erase(key)
		for _, e := range entries(t, d, key) {
			if !e.Erased || e.Text != "" || e.Reply != nil || e.Sealed != nil {
				t.Errorf("entry %d after the person's key was erased = %+v, want it marked Erased and empty", e.Seq, e)
			}
		}
		mustDispatch(t, d, webMsg("sealed", "m3", 3, "ci sei?"))
		if calls := rec.callsOf(key); len(calls) != 3 || calls[2].State != "" {
			t.Errorf("calls = %+v, want the turn after the erasure to start without state", calls)
		}
	})

	t.Run("ForgetTurn", func(t *testing.T) {
		rec := newRecorder()
		rec.fn = func(ctx context.Context, state []byte, m bot.Message) ([]byte, []bot.Reply, error) {
			if m.Text == "dimentica tutto" {
				bot.TurnOf(ctx).Forget()
				return []byte("must not be kept"), []bot.Reply{{Text: "Fatto: ho cancellato i tuoi dati."}}, nil
			}
			return defaultHandle(state, m)
		}
		d := newDispatchers(t, 1, rec)[0]
		mustDispatch(t, d, webMsg("bye", "m1", 1, "mi chiamo Anna"))
		got := mustDispatch(t, d, webMsg("bye", "m2", 2, "dimentica tutto"))
		if len(got) != 2 || got[0].Seq != 3 || got[0].Text != "" || got[1].Reply == nil {
			t.Errorf("the forgetting turn's entries = %+v, want Seq 3 without the shopper's words, then the reply", got)
		}
		key := webMsg("bye", "", 0, "").Key()
		es := entries(t, d, key)
		if len(es) != 2 || es[0].Seq != 3 || es[0].Text != "" || es[1].Reply == nil || es[1].Reply.Text != "Fatto: ho cancellato i tuoi dati." {
			t.Errorf("log after forgetting = %+v, want only the forgetting turn, without the shopper's words", es)
		}
		mustDispatch(t, d, webMsg("bye", "m3", 3, "ciao"))
		if calls := rec.callsOf(key); len(calls) != 3 || calls[2].State != "" {
			t.Errorf("calls = %+v, want the turn after forgetting to start without state", calls)
		}
		if es := entries(t, d, key); len(es) != 4 || es[2].Seq != 5 {
			t.Errorf("log = %+v, want the new turn at Seq 5", es)
		}
	})

	t.Run("IdleExpiry", func(t *testing.T) {
		rec := newRecorder()
		d := newDispatchers(t, 1, rec, bot.WithSessionTTL(shortTTL))[0]
		mustDispatch(t, d, webMsg("idle", "m1", 1, "ciao"))
		time.Sleep(pastTTL)
		mustDispatch(t, d, webMsg("idle", "m2", 2, "eccomi"))
		key := webMsg("idle", "", 0, "").Key()
		if calls := rec.callsOf(key); len(calls) != 2 || calls[1].State != "" {
			t.Errorf("calls = %+v, want the second, after the idle TTL, to start without state", calls)
		}
		checkLog(t, d, key, []string{"m1", "m2"}) // the history stays

		d = newDispatchers(t, 1, rec, bot.WithSessionTTL(shortTTL), bot.WithLogTTL(shortTTL))[0]
		mustDispatch(t, d, webMsg("gone", "m1", 1, "ciao"))
		time.Sleep(pastTTL)
		if es := entries(t, d, webMsg("gone", "", 0, "").Key()); len(es) != 0 {
			t.Errorf("Entries after the log TTL = %v, want none", es)
		}
	})
}
