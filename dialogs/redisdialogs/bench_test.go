package redisdialogs_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/bottega-shop/bottega/bot"
	"github.com/bottega-shop/bottega/dialogs/redisdialogs"
	"github.com/bottega-shop/bottega/internal/testserver"
)

// trivial is the benchmarks' handler: a small state and one reply.
var trivial = bot.HandlerFunc(func(ctx context.Context, state []byte, m bot.Message) ([]byte, []bot.Reply, error) {
	return []byte(`{"s":"idle","l":"it"}`), []bot.Reply{{Text: "ok"}}, nil
})

// BenchmarkDispatch measures Dispatch on real Redis with a trivial
// handler: dispatches per second, allocations, round trips per dispatch
// and the bytes an idle session keeps after a short conversation.
// "serial", "serial-deliver" (replies queued for the outbound queue, as on
// Telegram and Messenger), "serial-pseudonyms" (the same, with
// WithPseudonyms) and "serial-archive" (the same, with the archive on
// SQLite; its idle session is eight turns, then archived) run always; "parallel" (64 goroutines over 4096
// conversations) only with BOTTEGA_BENCH=1.
//
//	BOTTEGA_TEST_REDIS=redis://127.0.0.1:6379 BOTTEGA_BENCH=1 go test -run '^$' -bench Dispatch ./dialogs/redisdialogs/
func BenchmarkDispatch(b *testing.B) {
	b.Run("serial", func(b *testing.B) { benchDispatch(b, 1, 64, nil) })
	b.Run("serial-deliver", func(b *testing.B) { benchDispatch(b, 1, 64, nil, bot.WithDelivery(bot.Telegram)) })
	b.Run("serial-pseudonyms", func(b *testing.B) {
		benchDispatch(b, 1, 64, configs[1].opts, bot.WithDelivery(bot.Telegram))
	})
	b.Run("serial-archive", func(b *testing.B) {
		sopts := append(configs[1].opts, redisdialogs.WithArchive(newArchive(b, testserver.SQLiteDB(b, ""))))
		benchDispatch(b, 1, 64, sopts, bot.WithDelivery(bot.Telegram))
	})
	b.Run("parallel", func(b *testing.B) {
		if os.Getenv("BOTTEGA_BENCH") != "1" {
			b.Skip("set BOTTEGA_BENCH=1 to run")
		}
		benchDispatch(b, 64, 64, nil)
	})
}

// benchDispatch dispatches to convs conversations per goroutine, in turn:
// one goroutine, or goroutines × GOMAXPROCS of them, on a Store made with
// sopts.
func benchDispatch(b *testing.B, goroutines, convs int, sopts []redisdialogs.Option, opts ...bot.DispatcherOption) {
	ctx := context.Background()
	c := newClient(b)
	var rt counter
	c.AddHook(&rt)
	s := newStore(b, c, sopts...)
	d := bot.NewDispatcher(s, trivial, opts...)
	idle := idleSessionBytes(b, c, s)

	var gs atomic.Int64
	loop := func(more func() bool) {
		g := gs.Add(1)
		seq := make([]int64, convs)
		for i := 0; more(); i++ {
			k := i % convs
			seq[k]++
			m := bot.Message{
				Channel: bot.Telegram, ID: fmt.Sprintf("%d-%d-%d", g, k, seq[k]),
				Conversation: fmt.Sprintf("%d-%d", g, k), Text: "avete le trail runner?", Seq: seq[k],
			}
			if _, err := d.Dispatch(ctx, m); err != nil {
				b.Error(err)
				return
			}
		}
	}
	b.ReportAllocs()
	start := rt.n.Load()
	b.ResetTimer()
	if goroutines == 1 {
		n := 0
		loop(func() bool { n++; return n <= b.N })
	} else {
		b.SetParallelism(goroutines)
		b.RunParallel(func(pb *testing.PB) { loop(pb.Next) })
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "dispatches/s")
	// Round trips include the HELLO of each new pool connection.
	b.ReportMetric(float64(rt.n.Load()-start)/float64(b.N), "roundtrips/op")
	b.ReportMetric(float64(idle), "B/idle-session")
}

// idleSessionBytes runs the three-turn shortConversation and returns the
// MEMORY USAGE of the keys it leaves; with an archive, it runs eight turns
// and archives them first.
func idleSessionBytes(b *testing.B, c *redis.Client, s *redisdialogs.Store) int64 {
	ctx := context.Background()
	d := bot.NewDispatcher(s, shopHandler)
	const conv = "Zk3pQ9xV2mT8rL1aB4cD6e"
	_, err := s.ArchiveDue(ctx, time.Now(), 1)
	archive := err == nil
	ms := shortConversation(conv)
	if archive {
		ms = longConversation(conv)
	}
	for _, m := range ms {
		if _, err := d.Dispatch(ctx, m); err != nil {
			b.Fatal(err)
		}
	}
	if archive {
		archiveAll(b, s)
	}
	var total int64
	for _, k := range s.Keys(bot.WebChat + ":" + conv) {
		n, err := c.MemoryUsage(ctx, k).Result()
		if err != nil && !strings.Contains(err.Error(), "nil") {
			b.Fatalf("MEMORY USAGE %s: %v", k, err)
		}
		total += n
	}
	return total
}
