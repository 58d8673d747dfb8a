package blevecatalog_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bottega-shop/bottega/catalog"
	"github.com/bottega-shop/bottega/catalog/blevecatalog"
)

// The benchmarks build a synthetic catalog of BOTTEGA_BENCH_DOCS products
// (default 50,000), loaded in batches of 1,000 and compacted, and are skipped
// with -short:
//
//	go test -run '^$' -bench Search -benchtime 2000x ./catalog/blevecatalog/
//	go test -run '^$' -bench Index50k -benchtime 1x ./catalog/blevecatalog/

var (
	benchAdjectives = strings.Fields(`alpine leggera trail urban classic veloce waterproof termica
		tecnica robusta morbida sportiva elegante compatta estiva invernale ultra pro light comfort
		outdoor montagna running hiking vintage premium essential active summit ridge`)
	benchNouns = strings.Fields(`runner trainer sneaker scarpone sandalo stivale mocassino giacca
		piumino gilet felpa maglia camicia pantalone short zaino borraccia cappello guanti calza
		jacket hoodie parka boot loafer backpack beanie legging windbreaker fleece`)
	benchModels = strings.Fields(`gtx evo max lite flow zero one air pulse storm wave peak nova
		terra vento roccia fiume sole luna stella nord sud`)
	benchBrands = strings.Fields(`Salewa Montura Lupo Scarpà Ferrino Karpos Dolomite Crazy Kayland
		Garmont Aku Tecnica Lowa Meindl Mammut Ortovox Vaude Jack Haglofs Norrona`)
	benchCategories = strings.Fields(`Scarpe Giacche Zaini Accessori Magliette Pantaloni Felpe Calze
		Sandali Stivali Cappelli Guanti`)
	benchDescWords = strings.Fields(`pelle tessuto traspirante suola vibram membrana cuciture
		rinforzate tomaia leggera resistente acqua vento neve sentiero città comfort ammortizzata
		imbottita riciclato cotone lana merino nylon tasche cappuccio regolabile`)
	benchColours    = []string{"rosso", "nero", "bianco", "blu", "verde", "grigio", "marrone", "giallo", "arancione", "rosa", "beige", "navy"}
	benchShoeSizes  = []string{"36", "37", "38", "39", "40", "41", "42", "42,5", "43", "44", "45", "46", "47"}
	benchLetterSize = []string{"XS", "S", "M", "L", "XL", "XXL"}
)

func benchDocCount() int {
	if s := os.Getenv("BOTTEGA_BENCH_DOCS"); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n > 0 {
			return n
		}
	}
	return 50_000
}

func pick[T any](r *rand.Rand, xs []T) T { return xs[r.IntN(len(xs))] }

// benchCatalog generates n products deterministically.
func benchCatalog(n int) []catalog.Document {
	r := rand.New(rand.NewPCG(1, 2))
	docs := make([]catalog.Document, 0, n)
	for i := range n {
		title := fmt.Sprintf("%s %s %s", cap1(pick(r, benchAdjectives)), cap1(pick(r, benchNouns)), cap1(pick(r, benchModels)))
		desc := make([]string, 8+r.IntN(8))
		for j := range desc {
			desc[j] = pick(r, benchDescWords)
		}
		sizes := benchShoeSizes
		if r.IntN(2) == 0 {
			sizes = benchLetterSize
		}
		p := catalog.Product{
			Handle:      fmt.Sprintf("p-%06d", i),
			Title:       title,
			Titles:      map[string]string{"en": title + " " + pick(r, benchNouns)},
			Brand:       pick(r, benchBrands),
			Category:    pick(r, benchCategories),
			Description: strings.Join(desc, " "),
			PriceMinor:  int64(1000 + r.IntN(30000)),
			Currency:    "EUR",
			Active:      true,
		}
		for c := range 1 + r.IntN(3) {
			colour := benchColours[(i+c)%len(benchColours)]
			first := r.IntN(len(sizes))
			for s := first; s < min(len(sizes), first+1+r.IntN(4)); s++ {
				stock := 0
				if r.IntN(3) > 0 {
					stock = r.IntN(10)
				}
				p.Variants = append(p.Variants, catalog.Variant{
					SKU: fmt.Sprintf("%s-%d-%d", p.Handle, c, s), Colour: colour, Size: sizes[s], Stock: stock,
				})
			}
		}
		docs = append(docs, catalog.NewDocument(&p))
	}
	return docs
}

func cap1(s string) string { return strings.ToUpper(s[:1]) + s[1:] }

// typo swaps two inner letters of the longest word of at least 5 letters,
// one typo for Meilisearch.
func typo(text string) string {
	ws := strings.Fields(text)
	best := -1
	for i, w := range ws {
		if len(w) >= 5 && (best < 0 || len(w) > len(ws[best])) {
			best = i
		}
	}
	if best < 0 {
		return text
	}
	b := []byte(ws[best])
	b[2], b[3] = b[3], b[2]
	ws[best] = string(b)
	return strings.Join(ws, " ")
}

// benchQueries is the mixed query set: typo'd names, with and without size,
// colour and stock filters, some asking for facets.
func benchQueries(docs []catalog.Document, n int) []catalog.Query {
	r := rand.New(rand.NewPCG(3, 4))
	qs := make([]catalog.Query, 0, n)
	for i := range n {
		d := docs[r.IntN(len(docs))]
		words := strings.Fields(d.Title)
		q := catalog.Query{Limit: 10}
		switch i % 6 {
		case 0: // full name with a typo
			q.Text = typo(d.Title)
		case 1: // two words, typo, size and colour in stock
			q.Text = typo(strings.Join(words[:2], " "))
			q.Sizes = []string{pick(r, d.Sizes)}
			if len(d.Colours) > 0 {
				q.Colours = []string{d.Colours[0]}
			}
			q.InStock = true
		case 2: // one noun, facets
			q.Text = words[1]
			q.Facets = true
		case 3: // prefix while typing, with a size
			q.Text = strings.ToLower(words[0] + " " + words[1][:3])
			q.Sizes = []string{pick(r, d.Sizes)}
		case 4: // category browse with several sizes and colours, facets
			q.Category = d.Category
			q.Sizes = []string{"41", "42", "M"}
			q.Colours = []string{"red", "black", "blue"}
			q.InStock = true
			q.Facets = true
		case 5: // brand and words
			q.Text = typo(words[1] + " " + words[2])
			q.Brand = d.Brand
		}
		qs = append(qs, q)
	}
	return qs
}

var benchIndex = sync.OnceValues(func() (*blevecatalog.Index, error) {
	docs := benchCatalog(benchDocCount())
	idx, err := blevecatalog.New()
	if err != nil {
		return nil, err
	}
	if err := putBatches(idx, docs); err != nil {
		return nil, err
	}
	if err := idx.Compact(context.Background()); err != nil {
		return nil, err
	}
	return idx, nil
})

func putBatches(idx *blevecatalog.Index, docs []catalog.Document) error {
	for len(docs) > 0 {
		n := min(1000, len(docs))
		if err := idx.Put(context.Background(), docs[:n]); err != nil {
			return err
		}
		docs = docs[n:]
	}
	return nil
}

func BenchmarkSearch(b *testing.B) {
	if testing.Short() {
		b.Skip("50,000-product catalog skipped with -short")
	}
	idx, err := benchIndex()
	if err != nil {
		b.Fatal(err)
	}
	docs := benchCatalog(min(benchDocCount(), 5000))
	qs := benchQueries(docs, 1000)
	ctx := b.Context()
	var all, plain, faceted []time.Duration
	hits := 0
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		q := qs[i%len(qs)]
		start := time.Now()
		res, err := idx.Search(ctx, q)
		took := time.Since(start)
		if err != nil {
			b.Fatal(err)
		}
		all = append(all, took)
		if q.Facets {
			faceted = append(faceted, took)
		} else {
			plain = append(plain, took)
		}
		hits += len(res.Hits)
	}
	b.ReportMetric(percentile(all, 0.50), "p50-ms")
	b.ReportMetric(percentile(all, 0.99), "p99-ms")
	b.ReportMetric(percentile(plain, 0.99), "p99-nofacets-ms")
	b.ReportMetric(percentile(faceted, 0.99), "p99-facets-ms")
	b.ReportMetric(float64(hits)/float64(len(all)), "hits/op")
}

// percentile returns the p-th percentile of ds in milliseconds.
func percentile(ds []time.Duration, p float64) float64 {
	if len(ds) == 0 {
		return 0
	}
	ds = slices.Clone(ds)
	slices.Sort(ds)
	return float64(ds[min(len(ds)-1, int(p*float64(len(ds))))].Microseconds()) / 1000
}

func BenchmarkIndex50k(b *testing.B) {
	if testing.Short() {
		b.Skip("50,000-product catalog skipped with -short")
	}
	docs := benchCatalog(benchDocCount())
	runs := 0
	var put, compact time.Duration
	for b.Loop() {
		runs++
		idx, err := blevecatalog.New()
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		if err := putBatches(idx, docs); err != nil {
			b.Fatal(err)
		}
		put += time.Since(start)
		start = time.Now()
		if err := idx.Compact(b.Context()); err != nil {
			b.Fatal(err)
		}
		compact += time.Since(start)
		if err := idx.Close(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(docs)*runs)/b.Elapsed().Seconds(), "docs/s")
	b.ReportMetric(put.Seconds()/float64(runs), "put-s")
	b.ReportMetric(compact.Seconds()/float64(runs), "compact-s")
}
