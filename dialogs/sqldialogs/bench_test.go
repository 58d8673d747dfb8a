package sqldialogs_test

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"testing"

	"github.com/bottega-shop/bottega/bot"
	"github.com/bottega-shop/bottega/dialogs/sqldialogs"
	"github.com/bottega-shop/bottega/internal/sqldb"
	"github.com/bottega-shop/bottega/internal/testserver"
)

// trivial is the benchmarks' handler: a small state and one reply.
var trivial = bot.HandlerFunc(func(ctx context.Context, state []byte, m bot.Message) ([]byte, []bot.Reply, error) {
	return []byte(`{"s":"idle","l":"it"}`), []bot.Reply{{Text: "ok"}}, nil
})

// BenchmarkDispatch measures Dispatch with a trivial handler on SQLite and,
// when BOTTEGA_TEST_POSTGRES is set, Postgres: dispatches per second and
// allocations. "serial", "serial-deliver" (replies queued for the outbound
// queue, as on Telegram and Messenger) and "serial-pseudonyms" (the same,
// with WithPseudonyms) run always; "parallel" (16 goroutines per CPU, 64
// conversations each) only with BOTTEGA_BENCH=1.
//
//	BOTTEGA_BENCH=1 go test -run '^$' -bench Dispatch ./dialogs/sqldialogs/
func BenchmarkDispatch(b *testing.B) {
	dbs := []struct {
		name string
		open func(b *testing.B) *sqldb.DB
	}{
		{"sqlite", func(b *testing.B) *sqldb.DB { return testserver.SQLiteDB(b, "") }},
		{"postgres", func(b *testing.B) *sqldb.DB { return testserver.PostgresDB(b) }},
	}
	for _, db := range dbs {
		b.Run(db.name+"/serial", func(b *testing.B) { benchDispatch(b, db.open(b), nil, 1, 64) })
		b.Run(db.name+"/serial-deliver", func(b *testing.B) {
			benchDispatch(b, db.open(b), nil, 1, 64, bot.WithDelivery(bot.Telegram))
		})
		b.Run(db.name+"/serial-pseudonyms", func(b *testing.B) {
			benchDispatch(b, db.open(b), configs[1].opts, 1, 64, bot.WithDelivery(bot.Telegram))
		})
		b.Run(db.name+"/parallel", func(b *testing.B) {
			if os.Getenv("BOTTEGA_BENCH") != "1" {
				b.Skip("set BOTTEGA_BENCH=1 to run")
			}
			benchDispatch(b, db.open(b), nil, 16, 64)
		})
	}
}

// benchDispatch dispatches to convs conversations per goroutine, in turn:
// one goroutine, or goroutines × GOMAXPROCS of them, on a Store made with
// sopts.
func benchDispatch(b *testing.B, db *sqldb.DB, sopts []sqldialogs.Option, goroutines, convs int, opts ...bot.DispatcherOption) {
	ctx := context.Background()
	d := bot.NewDispatcher(newStore(b, db, sopts...), trivial, opts...)
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
}
