package sqlcatalog_test

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/bottega-shop/bottega/catalog"
	"github.com/bottega-shop/bottega/internal/sqldb"
	"github.com/bottega-shop/bottega/internal/testserver"
)

// BenchmarkWrite100kVariants imports 10,000 products of 10 variants each
// through one Write into an empty catalog, on SQLite and (when
// BOTTEGA_TEST_POSTGRES is set) Postgres. Besides ns/op it reports the
// peak live heap seen during the import, sampled every 5 ms, which stays
// flat because products stream through the transaction. Run it with
//
//	go test -run '^$' -bench Write100k -benchtime 1x ./catalog/sqlcatalog/
func BenchmarkWrite100kVariants(b *testing.B) {
	const products, variants = 10_000, 10
	b.Run("sqlite", func(b *testing.B) {
		benchmarkWrite(b, products, variants, func(b *testing.B) *sqldb.DB {
			return testserver.SQLiteDB(b, filepath.Join(b.TempDir(), "bottega.db"))
		})
	})
	b.Run("postgres", func(b *testing.B) {
		benchmarkWrite(b, products, variants, func(b *testing.B) *sqldb.DB { return testserver.PostgresDB(b) })
	})
}

func benchmarkWrite(b *testing.B, products, variants int, open func(b *testing.B) *sqldb.DB) {
	ctx := context.Background()
	b.ReportAllocs()
	var peak uint64
	for b.Loop() {
		b.StopTimer()
		s := newStore(b, open(b))
		runtime.GC()
		stop := sampleHeap(&peak)
		b.StartTimer()

		err := s.Write(ctx, "bench", func(w catalog.Writer) error {
			for i := range products {
				if err := w.Put(ctx, benchProduct(i, variants)); err != nil {
					return err
				}
			}
			return nil
		})

		b.StopTimer()
		stop()
		if err != nil {
			b.Fatalf("Write = %v", err)
		}
		if p, v, err := s.Count(ctx); err != nil || p != products || v != products*variants {
			b.Fatalf("Count() = %d, %d, %v; want %d, %d", p, v, err, products, products*variants)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
	b.ReportMetric(float64(products*variants)*float64(b.N)/b.Elapsed().Seconds(), "variants/s")
}

// sampleHeap records the largest HeapAlloc into *peak until stop is called.
func sampleHeap(peak *uint64) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			*peak = max(*peak, ms.HeapAlloc)
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

func benchProduct(i, variants int) *catalog.Product {
	p := &catalog.Product{
		Handle:      fmt.Sprintf("product-%05d", i),
		Title:       fmt.Sprintf("Scarpa da trail modello %d", i),
		Titles:      map[string]string{"en": fmt.Sprintf("Trail shoe model %d", i)},
		Brand:       "Montagna",
		Category:    "scarpe",
		Description: "Scarpa da trail impermeabile con suola in gomma e tomaia in rete traspirante.",
		Attributes:  map[string]string{"material": "rete", "drop": "8 mm"},
		PriceMinor:  int64(5000 + i%100*100),
		Currency:    "EUR",
		Active:      true,
	}
	colours := []string{"rosso", "nero", "blu", "verde", "grigio"}
	for j := range variants {
		p.Variants = append(p.Variants, catalog.Variant{
			SKU:    fmt.Sprintf("P%05d-%02d", i, j),
			Size:   fmt.Sprint(38 + j/2),
			Colour: colours[j%len(colours)],
			Stock:  (i + j) % 7,
		})
	}
	return p
}

// BenchmarkProducts reads one product with its variants, as a stock answer
// does on every turn, from a catalog of 1,000 products, on SQLite and
// (when BOTTEGA_TEST_POSTGRES is set) Postgres, from 4 goroutines per core.
//
//	go test -run '^$' -bench Products -benchtime 20000x ./catalog/sqlcatalog/
func BenchmarkProducts(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) {
		benchmarkProducts(b, testserver.SQLiteDB(b, filepath.Join(b.TempDir(), "bottega.db")))
	})
	b.Run("postgres", func(b *testing.B) { benchmarkProducts(b, testserver.PostgresDB(b)) })
}

func benchmarkProducts(b *testing.B, db *sqldb.DB) {
	ctx := context.Background()
	s := newStore(b, db)
	const products = 1000
	err := s.Write(ctx, "bench", func(w catalog.Writer) error {
		for i := range products {
			if err := w.Put(ctx, benchProduct(i, 10)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatalf("Write = %v", err)
	}
	handle := benchProduct(products/2, 1).Handle
	b.ReportAllocs()
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			ps, err := s.Products(ctx, []string{handle})
			if err != nil || len(ps) != 1 || len(ps[0].Variants) != 10 {
				b.Errorf("Products(%q) = %d products, %v", handle, len(ps), err)
				return
			}
		}
	})
}
