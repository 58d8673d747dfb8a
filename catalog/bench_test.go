package catalog_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bottega-shop/bottega/catalog"
	"github.com/bottega-shop/bottega/catalog/blevecatalog"
	"github.com/bottega-shop/bottega/catalog/demo"
	"github.com/bottega-shop/bottega/catalog/sqlcatalog"
	"github.com/bottega-shop/bottega/internal/sqldb"
	"github.com/bottega-shop/bottega/internal/testserver"
)

// csvGenerator produces a catalogue CSV of products×variants rows on the
// fly, so the input never sits in memory.
type csvGenerator struct {
	products, variants int
	p, v               int
	buf                strings.Builder
	pending            string
}

var genColours = []string{"rosso", "nero", "bianco", "blu", "verde"}

func (g *csvGenerator) Read(b []byte) (int, error) {
	for len(g.pending) == 0 {
		if g.p == 0 && g.v == 0 && g.buf.Len() == 0 {
			g.buf.WriteString("handle,title,title_en,brand,category,price,currency,sku,size,colour,stock\n")
		}
		if g.p >= g.products {
			if g.buf.Len() == 0 {
				return 0, io.EOF
			}
		} else {
			size := 36 + g.v%10
			fmt.Fprintf(&g.buf, "prodotto-%d,Scarpa modello %d,Shoe model %d,Marca%d,scarpe,%d.90,EUR,SKU-%d-%d,%d,%s,%d\n",
				g.p, g.p, g.p, g.p%50, 50+g.p%100, g.p, g.v, size, genColours[g.v%len(genColours)], (g.p+g.v)%7)
			g.v++
			if g.v == g.variants {
				g.v, g.p = 0, g.p+1
			}
		}
		if g.buf.Len() > 32<<10 || g.p >= g.products {
			g.pending = g.buf.String()
			g.buf.Reset()
		}
	}
	n := copy(b, g.pending)
	g.pending = g.pending[n:]
	return n, nil
}

// peakHeap samples the heap in use until stop is called.
func peakHeap() (stop func() uint64) {
	var peak atomic.Uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var ms runtime.MemStats
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 { close(done); wg.Wait(); return peak.Load() }
}

// BenchmarkImport100k imports a 100,000-variant CSV (10,000 products) through
// catalog.Service.Import — streaming decode, one transaction, then the
// index rebuild — and reports time and peak heap. Run with BOTTEGA_BENCH=1;
// Postgres too when BOTTEGA_TEST_POSTGRES is set.
func BenchmarkImport100k(b *testing.B) {
	if os.Getenv("BOTTEGA_BENCH") == "" {
		b.Skip("set BOTTEGA_BENCH=1 to run benchmarks")
	}
	for _, name := range []string{"sqlite", "postgres"} {
		b.Run(name, func(b *testing.B) {
			url := ""
			if name == "postgres" {
				url = testserver.Postgres(b)
			}
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				db, err := sqldb.Open(context.Background(), url, b.TempDir())
				if err != nil {
					b.Fatal(err)
				}
				store, err := sqlcatalog.New(db)
				if err != nil {
					b.Fatal(err)
				}
				idx, err := blevecatalog.New()
				if err != nil {
					b.Fatal(err)
				}
				svc := catalog.NewService(store, idx, nil, nil)
				if url != "" { // a fresh database per iteration is not possible here; empty it
					_ = store.Walk(context.Background(), func(p *catalog.Product) error {
						return store.Delete(context.Background(), p.Handle)
					})
				}
				runtime.GC()
				b.StartTimer()
				stop := peakHeap()
				start := time.Now()
				res, err := svc.Import(context.Background(), &csvGenerator{products: 10000, variants: 10}, "csv", "bench")
				elapsed := time.Since(start)
				peak := stop()
				if err != nil {
					b.Fatal(err)
				}
				if res.Variants != 100000 {
					b.Fatalf("imported %d variants, want 100000", res.Variants)
				}
				b.ReportMetric(elapsed.Seconds(), "s/import")
				b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
				b.StopTimer()
				idx.Close()
				db.Close()
				b.StartTimer()
			}
		})
	}
}

// BenchmarkSearchDemo searches the demo catalogue through catalog.Service
// as the bot does — bleve for matching, then the products with live stock
// from SQLite — and reports latency percentiles over a mix of typo'd
// names, size/colour/in-stock filters and facets.
func BenchmarkSearchDemo(b *testing.B) {
	ctx := context.Background()
	db, err := sqldb.Open(ctx, "", b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	store, err := sqlcatalog.New(db)
	if err != nil {
		b.Fatal(err)
	}
	idx, err := blevecatalog.New()
	if err != nil {
		b.Fatal(err)
	}
	defer idx.Close()
	svc := catalog.NewService(store, idx, nil, nil)
	ps, syns, charts := demo.Catalog()
	if _, err := svc.LoadDemo(ctx, ps, syns, charts); err != nil {
		b.Fatal(err)
	}
	if err := svc.Reindex(ctx); err != nil {
		b.Fatal(err)
	}
	queries := []catalog.Query{
		{Text: "trial runer", Sizes: []string{"42"}, Colours: []string{"rosso"}},
		{Text: "trail runner", Sizes: []string{"42", "43"}, InStock: true},
		{Text: "felpa", Sizes: []string{"M"}, Colours: []string{"blu"}, InStock: true},
		{Text: "scarpe da trail", Facets: true},
		{Text: "jeans", Sizes: []string{"W32"}},
		{Text: "sneakrs", Colours: []string{"white"}},
		{Text: "giacca", Facets: true, InStock: true},
		{Text: "borsa pelle"},
	}
	var took []time.Duration
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		start := time.Now()
		if _, err := svc.Search(ctx, queries[i%len(queries)]); err != nil {
			b.Fatal(err)
		}
		took = append(took, time.Since(start))
	}
	slices.Sort(took)
	pct := func(p float64) float64 {
		return float64(took[min(len(took)-1, int(p*float64(len(took))))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
}
