package bot_test

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/bottega-shop/bottega/bot"
)

// fakeStore is a bot.Store whose Acquire is scripted and whose other
// methods record their arguments. The contract suites in bottest test the
// real stores; this tests what the Dispatcher does around them.
type fakeStore struct {
	acquire func(n int, c bot.Claim) (*bot.Lease, error) // n counts calls from 0
	commit  func(u bot.Update) ([]bot.Entry, error)

	mu       sync.Mutex
	claims   []bot.Claim
	updates  []bot.Update
	releases []string
	pages    [][2]int64
}

func (f *fakeStore) Acquire(ctx context.Context, key string, c bot.Claim) (*bot.Lease, error) {
	f.mu.Lock()
	n := len(f.claims)
	f.claims = append(f.claims, c)
	f.mu.Unlock()
	if f.acquire != nil {
		return f.acquire(n, c)
	}
	return &bot.Lease{Key: key, MessageID: c.MessageID, Token: 7, State: []byte("old")}, nil
}

func (f *fakeStore) Commit(ctx context.Context, l *bot.Lease, u bot.Update) ([]bot.Entry, error) {
	f.mu.Lock()
	f.updates = append(f.updates, u)
	f.mu.Unlock()
	if f.commit != nil {
		return f.commit(u)
	}
	return u.Entries, nil
}

func (f *fakeStore) Release(ctx context.Context, key, id string, token int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.releases = append(f.releases, id+"@"+strconv.FormatInt(token, 10))
	return nil
}

func (f *fakeStore) Entries(ctx context.Context, key string, after int64, limit int) ([]bot.Entry, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pages = append(f.pages, [2]int64{after, int64(limit)})
	return nil, nil
}

func (f *fakeStore) Subscribe(ctx context.Context, key string) (<-chan int64, func()) {
	ch := make(chan int64)
	close(ch)
	return ch, func() {}
}

// gapUntilNotInOrder grants only claims that no longer ask for order.
func gapUntilNotInOrder(n int, c bot.Claim) (*bot.Lease, error) {
	if c.InOrder {
		return nil, bot.ErrGap
	}
	return &bot.Lease{Key: "k", MessageID: c.MessageID, Token: 1}, nil
}

var echo = bot.HandlerFunc(func(ctx context.Context, state []byte, m bot.Message) ([]byte, []bot.Reply, error) {
	return []byte("new"), []bot.Reply{{Text: "a"}, {Text: "b"}}, nil
})

func TestGapWait(t *testing.T) {
	ctx := context.Background()
	const gap = 150 * time.Millisecond
	tests := []struct {
		name       string
		opts       []bot.DispatcherOption
		channel    string
		seq        int64
		wantWait   bool
		wantClaims int // exactly, when not waiting
	}{
		{"web chat waits for a gap", nil, bot.WebChat, 3, true, 0},
		{"telegram does not", nil, bot.Telegram, 3, false, 1},
		{"seq 0 does not", nil, bot.WebChat, 0, false, 1},
		{"contiguous telegram waits", []bot.DispatcherOption{bot.WithContiguousSeq(bot.Telegram)}, bot.Telegram, 3, true, 0},
		{"then web chat does not", []bot.DispatcherOption{bot.WithContiguousSeq(bot.Telegram)}, bot.WebChat, 3, false, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeStore{acquire: gapUntilNotInOrder}
			d := bot.NewDispatcher(f, echo, append(tt.opts, bot.WithGapWait(gap))...)
			start := time.Now()
			m := bot.Message{Channel: tt.channel, ID: "m3", Conversation: "c", Seq: tt.seq}
			if _, err := d.Dispatch(ctx, m); err != nil {
				t.Fatalf("Dispatch = %v", err)
			}
			el := time.Since(start)
			if tt.wantWait {
				if el < gap || el > gap+time.Second {
					t.Errorf("Dispatch took %v, want about the gap wait %v", el, gap)
				}
				if last := f.claims[len(f.claims)-1]; len(f.claims) < 2 || !f.claims[0].InOrder || last.InOrder {
					t.Errorf("claims = %+v, want InOrder until the gap wait ends, then not", f.claims)
				}
			} else if len(f.claims) != tt.wantClaims || f.claims[0].InOrder {
				t.Errorf("claims = %+v, want %d without InOrder", f.claims, tt.wantClaims)
			}
		})
	}
}

func TestBusyRetries(t *testing.T) {
	f := &fakeStore{acquire: func(n int, c bot.Claim) (*bot.Lease, error) {
		if n < 4 {
			return nil, bot.ErrBusy
		}
		return &bot.Lease{Key: "telegram:1", MessageID: c.MessageID, Token: 3}, nil
	}}
	calls := 0
	h := bot.HandlerFunc(func(ctx context.Context, state []byte, m bot.Message) ([]byte, []bot.Reply, error) {
		calls++
		return nil, nil, nil
	})
	d := bot.NewDispatcher(f, h, bot.WithLease(time.Minute))
	if _, err := d.Dispatch(context.Background(), bot.Message{Channel: bot.Telegram, ID: "u1", Conversation: "1", Seq: 9}); err != nil {
		t.Fatalf("Dispatch = %v", err)
	}
	if calls != 1 || len(f.claims) != 5 {
		t.Errorf("handler calls %d, Acquire calls %d; want 1 and 5", calls, len(f.claims))
	}
	for _, c := range f.claims {
		if c.MessageID != "u1" || c.Seq != 9 || c.Lease != time.Minute || c.Wait <= 0 {
			t.Errorf("claim = %+v, want message u1, seq 9, the lease, a queue wait", c)
		}
	}
}

func TestDispatchCommits(t *testing.T) {
	now := time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)
	sent := now.Add(-time.Second)
	f := &fakeStore{}
	var gotState []byte
	h := bot.HandlerFunc(func(ctx context.Context, state []byte, m bot.Message) ([]byte, []bot.Reply, error) {
		gotState = state
		return echo(ctx, state, m)
	})
	d := bot.NewDispatcher(f, h, bot.WithNow(func() time.Time { return now }),
		bot.WithSessionTTL(time.Hour), bot.WithDedupeTTL(2*time.Hour), bot.WithLogTTL(3*time.Hour))
	m := bot.Message{Channel: bot.Messenger, ID: "mid.1", Conversation: "psid", Text: "ciao", Seq: 5, At: sent}
	if _, err := d.Dispatch(context.Background(), m); err != nil {
		t.Fatalf("Dispatch = %v", err)
	}
	if string(gotState) != "old" {
		t.Errorf("handler got state %q, want the lease's %q", gotState, "old")
	}
	want := bot.Update{
		MessageID: "mid.1", Seq: 5, State: []byte("new"),
		Entries: []bot.Entry{
			{From: bot.FromShopper, MessageID: "mid.1", Text: "ciao", At: sent},
			{From: bot.FromBot, MessageID: "mid.1", Reply: &bot.Reply{Text: "a"}, At: now},
			{From: bot.FromBot, MessageID: "mid.1", Reply: &bot.Reply{Text: "b"}, At: now},
		},
		SessionTTL: time.Hour, DedupeTTL: 2 * time.Hour, LogTTL: 3 * time.Hour,
	}
	if diff := cmp.Diff([]bot.Update{want}, f.updates); diff != "" {
		t.Errorf("Commit got (-want +got):\n%s", diff)
	}
	if len(f.releases) != 0 {
		t.Errorf("releases after a commit = %v, want none", f.releases)
	}

	// Append keeps the state and marks nothing done.
	f.updates = nil
	if _, err := d.Append(context.Background(), m.Key(), bot.FromAgent, []bot.Reply{{Text: "agent"}}); err != nil {
		t.Fatalf("Append = %v", err)
	}
	want = bot.Update{
		KeepState:  true,
		Entries:    []bot.Entry{{From: bot.FromAgent, Reply: &bot.Reply{Text: "agent"}, At: now}},
		SessionTTL: time.Hour, DedupeTTL: 2 * time.Hour, LogTTL: 3 * time.Hour,
	}
	if diff := cmp.Diff([]bot.Update{want}, f.updates); diff != "" {
		t.Errorf("Append committed (-want +got):\n%s", diff)
	}
}

// TestTurnMetrics: WithMetrics counts each committed turn once in every
// phase of bottega_turn_duration_seconds, by channel; a failed turn is
// not a turn.
func TestTurnMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	d := bot.NewDispatcher(&fakeStore{}, bot.HandlerFunc(echo), bot.WithMetrics(reg))
	for _, id := range []string{"u1", "u2"} {
		if _, err := d.Dispatch(context.Background(), bot.Message{Channel: bot.Telegram, ID: id, Conversation: "1", Text: "ciao"}); err != nil {
			t.Fatal(err)
		}
	}
	failing := bot.NewDispatcher(&fakeStore{}, bot.HandlerFunc(func(context.Context, []byte, bot.Message) ([]byte, []bot.Reply, error) {
		return nil, nil, errBoom
	}), bot.WithMetrics(reg))
	if _, err := failing.Dispatch(context.Background(), bot.Message{Channel: bot.Telegram, ID: "u3", Conversation: "1"}); !errors.Is(err, errBoom) {
		t.Fatalf("Dispatch = %v, want the handler's error", err)
	}
	for _, phase := range []string{"wait", "handle", "commit", "total"} {
		h, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		var n uint64
		for _, mf := range h {
			if mf.GetName() != "bottega_turn_duration_seconds" {
				continue
			}
			for _, m := range mf.GetMetric() {
				labels := map[string]string{}
				for _, l := range m.GetLabel() {
					labels[l.GetName()] = l.GetValue()
				}
				if labels["channel"] == bot.Telegram && labels["phase"] == phase {
					n = m.GetHistogram().GetSampleCount()
				}
			}
		}
		if n != 2 {
			t.Errorf("phase %s counted %d turns, want 2", phase, n)
		}
	}
}

func TestFailures(t *testing.T) {
	ctx := context.Background()
	m := bot.Message{Channel: bot.Telegram, ID: "u", Conversation: "1"}
	tests := []struct {
		name         string
		store        *fakeStore
		h            bot.Handler
		want         error
		wantReleases []string
		wantCommits  int
	}{
		{
			name:         "handler error",
			store:        &fakeStore{},
			h:            bot.HandlerFunc(func(context.Context, []byte, bot.Message) ([]byte, []bot.Reply, error) { return nil, nil, errBoom }),
			want:         errBoom,
			wantReleases: []string{"u@7"},
		},
		{
			name:         "lock lost",
			store:        &fakeStore{commit: func(bot.Update) ([]bot.Entry, error) { return nil, bot.ErrLockLost }},
			h:            echo,
			want:         bot.ErrLockLost,
			wantReleases: []string{"u@7"}, // harmless: the token is not the holder's
			wantCommits:  1,
		},
		{
			name:  "duplicate",
			store: &fakeStore{acquire: func(int, bot.Claim) (*bot.Lease, error) { return nil, bot.ErrDuplicate }},
			h:     echo,
			want:  bot.ErrDuplicate,
		},
		{
			// A redelivery that queued while the original was handled
			// leaves the queue (token 0: no lock to free).
			name: "duplicate after waiting",
			store: &fakeStore{acquire: func(n int, _ bot.Claim) (*bot.Lease, error) {
				if n == 0 {
					return nil, bot.ErrBusy
				}
				return nil, bot.ErrDuplicate
			}},
			h:            echo,
			want:         bot.ErrDuplicate,
			wantReleases: []string{"u@0"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := bot.NewDispatcher(tt.store, tt.h).Dispatch(ctx, m)
			if !errors.Is(err, tt.want) {
				t.Errorf("Dispatch = %v, want %v", err, tt.want)
			}
			if !cmp.Equal(tt.store.releases, tt.wantReleases) || len(tt.store.updates) != tt.wantCommits {
				t.Errorf("releases %v, commits %d; want %v, %d", tt.store.releases, len(tt.store.updates), tt.wantReleases, tt.wantCommits)
			}
		})
	}
}

var errBoom = errors.New("boom")

func TestHandlerDeadline(t *testing.T) {
	const lease = 400 * time.Millisecond
	var left time.Duration
	h := bot.HandlerFunc(func(ctx context.Context, state []byte, m bot.Message) ([]byte, []bot.Reply, error) {
		dl, ok := ctx.Deadline()
		if !ok {
			t.Errorf("handler context has no deadline")
		}
		left = time.Until(dl)
		return nil, nil, nil
	})
	d := bot.NewDispatcher(&fakeStore{}, h, bot.WithLease(lease))
	if _, err := d.Dispatch(context.Background(), bot.Message{Channel: bot.Telegram, ID: "u", Conversation: "1"}); err != nil {
		t.Fatal(err)
	}
	if left > lease*3/4 || left < lease/2 {
		t.Errorf("handler deadline %v away, want about %v (three quarters of the lease)", left, lease*3/4)
	}
}

func TestEntriesLimits(t *testing.T) {
	f := &fakeStore{}
	d := bot.NewDispatcher(f, echo)
	for _, p := range [][2]int64{{0, 0}, {5, -1}, {-3, 10}, {7, 5000}} {
		if _, err := d.Entries(context.Background(), "k", p[0], int(p[1])); err != nil {
			t.Fatal(err)
		}
	}
	want := [][2]int64{{0, bot.DefaultEntriesLimit}, {5, bot.DefaultEntriesLimit}, {0, 10}, {7, bot.MaxEntriesLimit}}
	if diff := cmp.Diff(want, f.pages); diff != "" {
		t.Errorf("Store.Entries calls (after, limit) (-want +got):\n%s", diff)
	}
}

func TestCancelWhileBusy(t *testing.T) {
	f := &fakeStore{acquire: func(int, bot.Claim) (*bot.Lease, error) { return nil, bot.ErrBusy }}
	d := bot.NewDispatcher(f, echo)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := d.Dispatch(ctx, bot.Message{Channel: bot.Telegram, ID: "u", Conversation: "1"})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Dispatch = %v, want DeadlineExceeded", err)
	}
	if !cmp.Equal(f.releases, []string{"u@0"}) {
		t.Errorf("releases = %v, want the queue place given up (token 0)", f.releases)
	}
}

func TestSignal(t *testing.T) {
	const none = -1 // nothing pending
	tests := []struct {
		name         string
		pending, seq int64
		want         int64
	}{
		{"empty channel", none, 7, 7},
		{"empty channel, unknown", none, 0, 0},
		{"higher replaces lower", 3, 7, 7},
		{"lower keeps higher", 7, 3, 7},
		{"equal", 5, 5, 5},
		{"unknown pending wins", 0, 7, 0},
		{"unknown new wins", 7, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ch := make(chan int64, 1)
			if tt.pending != none {
				ch <- tt.pending
			}
			bot.Signal(ch, tt.seq) // must not block
			if got := <-ch; got != tt.want {
				t.Errorf("Signal(pending %d, %d) left %d, want %d", tt.pending, tt.seq, got, tt.want)
			}
			if n := len(ch); n != 0 {
				t.Errorf("Signal left %d more values, want one in all", n)
			}
		})
	}
}

// TestSignalConcurrent checks that concurrent senders and a reader lose no
// maximum: once the senders are done, the highest Seq sent has been read
// or is pending.
func TestSignalConcurrent(t *testing.T) {
	const senders, each = 4, 500
	ch := make(chan int64, 1)
	stop := make(chan struct{})
	var (
		wg      sync.WaitGroup
		highest int64
		read    = make(chan int64)
	)
	go func() {
		for {
			select {
			case v := <-ch:
				highest = max(highest, v)
			case <-stop:
				read <- highest
				return
			}
		}
	}()
	for i := range senders {
		wg.Go(func() {
			for n := range each {
				bot.Signal(ch, int64(n*senders+i+1))
			}
		})
	}
	wg.Wait()
	close(stop)
	got := <-read
	select {
	case v := <-ch:
		got = max(got, v)
	default:
	}
	if want := int64(senders * each); got != want {
		t.Errorf("highest value read after %d concurrent signals = %d, want %d", senders*each, got, want)
	}
}
