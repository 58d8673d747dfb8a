package dialogs_test

import (
	"context"
	"fmt"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bottega-shop/bottega/bot"
	"github.com/bottega-shop/bottega/dialogs"
)

// benchLines are a conversation like the load test's: stock questions,
// follow-ups, a typo, an ambiguous name and its choice, a price.
var benchLines = []string{"avete le trail runner nel 42 rosse?", "e nel 43?", "and in black?", "quanto costa?",
	"sella", "la seconda", "taglia 44", "do you have the zefiro running shoe for women in 38?",
	"felpa nebbia taglia M", "quella da uomo", "avete le trial runer nel 44 rosse?", "grazie mille"}

// BenchmarkTurn measures one shopper turn against the demo catalog on
// SQLite and bleve: understanding, the catalog search, live stock from
// SQLite and the answer; a question, a follow-up, and a mix of turns
// (benchLines). The parallel variant, with many conversations at once and
// latency percentiles, runs with BOTTEGA_BENCH=1:
//
//	go test ./dialogs -run '^$' -bench BenchmarkTurn -benchtime 2000x
//	BOTTEGA_BENCH=1 go test ./dialogs -run '^$' -bench BenchmarkTurn/parallel -benchtime 20000x
func BenchmarkTurn(b *testing.B) {
	svc := newCatalog(b)
	e, err := dialogs.New(svc)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	question := bot.Message{Channel: bot.WebChat, Conversation: "b", Text: "avete le trail runner nel 42 rosse?"}
	// Warm the vocabulary cache.
	state, _, err := e.Handle(ctx, nil, question)
	if err != nil {
		b.Fatal(err)
	}

	b.Run("question", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := e.Handle(ctx, nil, question); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("follow-up", func(b *testing.B) {
		follow := bot.Message{Channel: bot.WebChat, Conversation: "b", Text: "e nel 43?"}
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := e.Handle(ctx, state, follow); err != nil {
				b.Fatal(err)
			}
		}
	})
	// mix holds one conversation after another through benchLines, one
	// turn per op: the cost of the load test's turns, in one goroutine.
	b.Run("mix", func(b *testing.B) {
		var state []byte
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if i%len(benchLines) == 0 {
				state = nil
			}
			m := bot.Message{Channel: bot.WebChat, Conversation: "mix", Text: benchLines[i%len(benchLines)]}
			st, _, err := e.Handle(ctx, state, m)
			if err != nil {
				b.Fatal(err)
			}
			state = st
		}
	})
	b.Run("parallel", func(b *testing.B) {
		if os.Getenv("BOTTEGA_BENCH") != "1" {
			b.Skip("set BOTTEGA_BENCH=1 for the parallel benchmark")
		}
		lines := benchLines
		var mu sync.Mutex
		var lat []time.Duration
		var conv atomic.Int64
		b.ReportAllocs()
		start := time.Now()
		b.RunParallel(func(pb *testing.PB) {
			id := conv.Add(1)
			var state []byte
			var mine []time.Duration
			for i := 0; pb.Next(); i++ {
				m := bot.Message{Channel: bot.WebChat, Conversation: fmt.Sprint(id), Text: lines[i%len(lines)]}
				t0 := time.Now()
				st, _, err := e.Handle(ctx, state, m)
				mine = append(mine, time.Since(t0))
				if err != nil {
					b.Error(err)
					return
				}
				state = st
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		})
		elapsed := time.Since(start)
		if len(lat) == 0 {
			return
		}
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		pct := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) }
		b.ReportMetric(float64(len(lat))/elapsed.Seconds(), "turns/s")
		b.ReportMetric(pct(0.50), "p50-µs")
		b.ReportMetric(pct(0.99), "p99-µs")
	})
}

// BenchmarkTurnConsent measures the same turns with the consent ledger on
// SQLite: a first question, which states the service notice and asks to
// remember the size (two ledger reads), and a follow-up of a shopper who
// said yes (one read; the size is remembered).
//
//	go test ./dialogs -run '^$' -bench BenchmarkTurnConsent -benchtime 2000x
func BenchmarkTurnConsent(b *testing.B) {
	svc := newCatalog(b)
	l := newLedgers(b).ledger(b, "v1", time.Now)
	e, err := dialogs.New(svc, dialogs.WithConsent(l), dialogs.WithSubjects(subjectOf))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	question := bot.Message{Channel: bot.WebChat, Conversation: "b", ID: "1", Text: "avete le trail runner nel 43 rosse?"}
	state, _, err := e.Handle(ctx, nil, question)
	if err != nil {
		b.Fatal(err)
	}
	state, _, err = e.Handle(ctx, state, bot.Message{Channel: bot.WebChat, Conversation: "b", ID: "2", Payload: "consent:grant:personalization"})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("question", func(b *testing.B) {
		m := question
		m.Conversation = "other"
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := e.Handle(ctx, nil, m); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("follow-up", func(b *testing.B) {
		follow := bot.Message{Channel: bot.WebChat, Conversation: "b", ID: "3", Text: "e nel 44?"}
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := e.Handle(ctx, state, follow); err != nil {
				b.Fatal(err)
			}
		}
	})
}
