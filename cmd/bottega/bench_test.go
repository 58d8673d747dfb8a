package main

import (
	"context"
	"net/http"
	"os"
	"testing"
	"time"
)

// BenchmarkColdStart measures `bottega serve` from nothing to a ready
// /readyz with the demo catalogue: a fresh data folder each time, so it
// includes creating the database, loading the demo and building the index.
// Run with BOTTEGA_BENCH=1.
func BenchmarkColdStart(b *testing.B) {
	if os.Getenv("BOTTEGA_BENCH") == "" {
		b.Skip("set BOTTEGA_BENCH=1 to run benchmarks")
	}
	benchStart(b, false)
}

// BenchmarkWarmStart is the same with the data folder of a previous run:
// the usual restart.
func BenchmarkWarmStart(b *testing.B) {
	if os.Getenv("BOTTEGA_BENCH") == "" {
		b.Skip("set BOTTEGA_BENCH=1 to run benchmarks")
	}
	benchStart(b, true)
}

func benchStart(b *testing.B, reuse bool) {
	dir := b.TempDir()
	var total time.Duration
	for i := 0; i < b.N; i++ {
		if !reuse {
			dir = b.TempDir()
		}
		env := map[string]string{"BOTTEGA_ADDR": "127.0.0.1:0", "BOTTEGA_DATA_DIR": dir}
		out := &syncBuffer{}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		start := time.Now()
		go func() { done <- run(ctx, []string{"serve"}, envFunc(env), out) }()
		addr := waitListening(b, out, done)
		for {
			resp, err := http.Get("http://" + addr + "/readyz")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
			}
			time.Sleep(time.Millisecond)
		}
		total += time.Since(start)
		cancel()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(total.Seconds()/float64(b.N), "s-to-ready")
}
