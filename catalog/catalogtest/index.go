package catalogtest

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/bottega-shop/bottega/catalog"
)

// TestIndex checks that a catalog.Index behaves as the interface documents:
// Meilisearch's typo, prefix, synonym and word-dropping rules, the size,
// colour, stock, brand and category filters, facets, ranking by relevance
// then availability, pagination, and Put, Remove and Clear.
//
// newIndex must return a new, empty index each time it is called and close
// it when the test ends (t.Cleanup). Totals are only compared where every
// backend must agree: searches without text.
func TestIndex(t *testing.T, newIndex func(t *testing.T) catalog.Index) {
	t.Run("Search", func(t *testing.T) {
		idx := newIndex(t)
		indexPut(t, idx, indexFixture()...)
		indexSearchTests(t, idx)
	})
	t.Run("Facets", func(t *testing.T) {
		idx := newIndex(t)
		indexPut(t, idx, indexFixture()...)
		indexFacetTests(t, idx)
	})
	t.Run("Pagination", func(t *testing.T) {
		idx := newIndex(t)
		indexPut(t, idx, indexFixture()...)
		indexPaginationTests(t, idx)
	})
	t.Run("Synonyms", func(t *testing.T) {
		idx := newIndex(t)
		indexPut(t, idx, indexFixture()...)
		indexSynonymTests(t, idx)
	})
	t.Run("Writes", func(t *testing.T) {
		indexWriteTests(t, newIndex)
	})
}

// indexFixture is a small shop. Variants (colour|size:stock):
//
//	trail-runner          red|41:2  black|42:1          (the red-41/black-42 trap)
//	road-trainer          red|42:0  blue|42:4  red|43:1
//	crail-hiker           grey|44:3
//	scarpa-cittadina      black|42.5:2  brown|40:0
//	giacca-impermeabile   blue|M:5  red|L:0             (Italian and English titles)
//	zaino-trail-running   green|OS:1
//	borraccia-a           silver|OS:0                   (same as borraccia-b, no stock)
//	borraccia-b           silver|OS:5
//	tappo-ricambio        *|OS:9                        ("borraccia" in the description only)
//	maglia-80125          white|S:1
func indexFixture() []catalog.Product {
	v := func(sku, colour, size string, stock int) catalog.Variant {
		return catalog.Variant{SKU: sku, Colour: colour, Size: size, Stock: stock}
	}
	p := func(handle, title, brand, category, desc string, vs ...catalog.Variant) catalog.Product {
		return catalog.Product{
			Handle: handle, Title: title, Brand: brand, Category: category, Description: desc,
			PriceMinor: 9900, Currency: "EUR", Active: true, Variants: vs,
		}
	}
	giacca := p("giacca-impermeabile", "Giacca Impermeabile", "Montura", "Giacche", "Due strati, cappuccio regolabile.",
		v("GI-M-BLU", "blu", "m", 5), v("GI-L-RED", "rossa", "L", 0))
	giacca.Titles = map[string]string{"en": "Waterproof Jacket"}
	return []catalog.Product{
		p("trail-runner", "Trail Runner", "Salewa", "Scarpe", "Leggera e reattiva sui sentieri.",
			v("TR-41-RED", "Rosso", "41", 2), v("TR-42-BLK", "nero", "42", 1)),
		p("road-trainer", "Road Trainer", "Lupo", "Scarpe", "Ammortizzata per l'asfalto.",
			v("RT-42-RED", "red", "42", 0), v("RT-42-BLU", "blue", "42", 4), v("RT-43-RED", "red", "43", 1)),
		p("crail-hiker", "Crail Hiker", "Montura", "Scarpe", "Scarponcino in pelle.",
			v("CH-44-GRY", "grigio", "44", 3)),
		p("scarpa-cittadina", "Scarpà Cittadina", "Scarpà", "Scarpe", "Pelle morbida.",
			v("SC-425-BLK", "black", "42,5", 2), v("SC-40-BRN", "marrone", "40", 0)),
		giacca,
		p("zaino-trail-running", "Zaino Trail Running", "Salewa", "Zaini", "Venti litri.",
			v("ZT-OS-GRN", "verde", "", 1)),
		p("borraccia-a", "Borraccia Termica", "Lupo", "Accessori", "Acciaio.",
			v("BA-OS-SLV", "argento", "TU", 0)),
		p("borraccia-b", "Borraccia Termica", "Lupo", "Accessori", "Acciaio.",
			v("BB-OS-SLV", "argento", "TU", 5)),
		p("tappo-ricambio", "Tappo Ricambio", "Lupo", "Accessori", "Tappo di ricambio per borraccia termica.",
			v("TP-OS", "", "", 9)),
		p("maglia-80125", "Maglia Modello 80125", "Montura", "Magliette", "Cotone.",
			v("MG-S-WHT", "bianco", "S", 1)),
	}
}

// indexAll is every fixture handle.
var indexAll = []string{
	"trail-runner", "road-trainer", "crail-hiker", "scarpa-cittadina", "giacca-impermeabile",
	"zaino-trail-running", "borraccia-a", "borraccia-b", "tappo-ricambio", "maglia-80125",
}

func indexPut(t *testing.T, idx catalog.Index, ps ...catalog.Product) {
	t.Helper()
	docs := make([]catalog.Document, 0, len(ps))
	for i := range ps {
		docs = append(docs, catalog.NewDocument(&ps[i]))
	}
	if err := idx.Put(t.Context(), docs); err != nil {
		t.Fatalf("Put(%d documents) = %v", len(docs), err)
	}
}

func indexSearch(t *testing.T, idx catalog.Index, q catalog.Query) catalog.Result {
	t.Helper()
	res, err := idx.Search(t.Context(), q)
	if err != nil {
		t.Fatalf("Search(%s) = %v", indexQueryString(q), err)
	}
	return res
}

func indexHitIDs(res catalog.Result) []string {
	ids := make([]string, 0, len(res.Hits))
	for _, h := range res.Hits {
		ids = append(ids, h.ID)
	}
	return ids
}

// indexQueryString prints the set fields of a query, for failure messages.
func indexQueryString(q catalog.Query) string {
	var parts []string
	add := func(name string, v any) { parts = append(parts, fmt.Sprintf("%s:%v", name, v)) }
	add("Text", fmt.Sprintf("%q", q.Text))
	if len(q.Sizes) > 0 {
		add("Sizes", q.Sizes)
	}
	if len(q.Colours) > 0 {
		add("Colours", q.Colours)
	}
	if q.InStock {
		add("InStock", true)
	}
	if q.Brand != "" {
		add("Brand", q.Brand)
	}
	if q.Category != "" {
		add("Category", q.Category)
	}
	if q.Facets {
		add("Facets", true)
	}
	if q.Limit != 0 {
		add("Limit", q.Limit)
	}
	if q.Offset != 0 {
		add("Offset", q.Offset)
	}
	return "{" + strings.Join(parts, " ") + "}"
}

func indexSorted(ids []string) []string {
	out := slices.Clone(ids)
	slices.Sort(out)
	return out
}

func indexSearchTests(t *testing.T, idx catalog.Index) {
	tests := []struct {
		name string
		q    catalog.Query
		// exactly is the whole result in any order; for searches without
		// text Total must equal its length too.
		exactly []string
		// first is how the hits must start, in order.
		first []string
		// includes and excludes are checked against the hits.
		includes []string
		excludes []string
	}{
		// Typo tolerance by word length.
		{name: "one typo in 5-letter words", q: catalog.Query{Text: "trial runer"}, first: []string{"trail-runner"}},
		{name: "wrong first letter counts as two typos", q: catalog.Query{Text: "crail"},
			first: []string{"crail-hiker"}, excludes: []string{"trail-runner", "zaino-trail-running"}},
		{name: "one typo in 6-letter words", q: catalog.Query{Text: "craill"},
			includes: []string{"crail-hiker"}, excludes: []string{"trail-runner", "zaino-trail-running"}},
		{name: "no typo in 4-letter words", q: catalog.Query{Text: "raod"}, exactly: []string{}},
		{name: "two typos in 9-letter words", q: catalog.Query{Text: "imperneabils"}, first: []string{"giacca-impermeabile"}},
		{name: "not two typos in 6-letter words", q: catalog.Query{Text: "giocco"}, exactly: []string{}},
		{name: "numbers allow no typo", q: catalog.Query{Text: "80126"}, exactly: []string{}},
		{name: "numbers match exactly", q: catalog.Query{Text: "80125"}, first: []string{"maglia-80125"}},

		// Prefix on the last word only.
		{name: "last word is a prefix", q: catalog.Query{Text: "tra"},
			includes: []string{"trail-runner", "road-trainer", "zaino-trail-running"}},
		{name: "prefix after another word", q: catalog.Query{Text: "runner tra"}, first: []string{"trail-runner"}},
		{name: "only the last word is a prefix", q: catalog.Query{Text: "cit scarpa"}, exactly: []string{}},
		{name: "dropping words makes no new prefix", q: catalog.Query{Text: "tra runner"}, excludes: []string{"road-trainer"}},

		// Accents, case and languages.
		{name: "accents folded in the index", q: catalog.Query{Text: "scarpa"}, first: []string{"scarpa-cittadina"}},
		{name: "accents and case folded in the query", q: catalog.Query{Text: "SCARPÀ CITTADINA"}, first: []string{"scarpa-cittadina"}},
		{name: "default-language title", q: catalog.Query{Text: "giacca"}, first: []string{"giacca-impermeabile"}},
		{name: "other-language title", q: catalog.Query{Text: "waterproof jacket"}, first: []string{"giacca-impermeabile"}},

		// Words dropped from the right when nothing matches them all.
		{name: "unknown last word dropped", q: catalog.Query{Text: "trail xyzzyq"},
			includes: []string{"trail-runner", "zaino-trail-running"}},

		// Relevance first, then availability.
		{name: "in stock first among equals, title before description", q: catalog.Query{Text: "borraccia"},
			first: []string{"borraccia-b", "borraccia-a", "tappo-ricambio"}},

		// Placeholder search: everything that passes the filters.
		{name: "empty text finds everything", q: catalog.Query{}, exactly: indexAll},
		{name: "punctuation only is a placeholder search", q: catalog.Query{Text: " ?! "}, exactly: indexAll},

		// Size, colour and stock filters on combined keys.
		{name: "red 42 is not red 41 plus black 42", q: catalog.Query{Colours: []string{"red"}, Sizes: []string{"42"}},
			exactly: []string{"road-trainer"}},
		{name: "red 42 in stock", q: catalog.Query{Colours: []string{"red"}, Sizes: []string{"42"}, InStock: true},
			exactly: []string{}},
		{name: "colour word in Italian", q: catalog.Query{Colours: []string{"Rosso"}, Sizes: []string{"41"}},
			exactly: []string{"trail-runner"}},
		{name: "several sizes", q: catalog.Query{Colours: []string{"red"}, Sizes: []string{"41", "42"}},
			exactly: []string{"trail-runner", "road-trainer"}},
		{name: "several colours", q: catalog.Query{Colours: []string{"red", "black"}, Sizes: []string{"42"}},
			exactly: []string{"trail-runner", "road-trainer"}},
		{name: "several colours in stock", q: catalog.Query{Colours: []string{"red", "black"}, Sizes: []string{"42"}, InStock: true},
			exactly: []string{"trail-runner"}},
		{name: "colour only", q: catalog.Query{Colours: []string{"red"}},
			exactly: []string{"trail-runner", "road-trainer", "giacca-impermeabile"}},
		{name: "colour only in stock", q: catalog.Query{Colours: []string{"red"}, InStock: true},
			exactly: []string{"trail-runner", "road-trainer"}},
		{name: "half size written another way", q: catalog.Query{Sizes: []string{"EU 42 1/2"}},
			exactly: []string{"scarpa-cittadina"}},
		{name: "letter size in lowercase", q: catalog.Query{Sizes: []string{"m"}},
			exactly: []string{"giacca-impermeabile"}},
		{name: "one size", q: catalog.Query{Sizes: []string{"taglia unica"}, InStock: true},
			exactly: []string{"zaino-trail-running", "borraccia-b", "tappo-ricambio"}},
		{name: "in stock only", q: catalog.Query{InStock: true},
			exactly: slices.DeleteFunc(slices.Clone(indexAll), func(id string) bool { return id == "borraccia-a" })},

		// Brand and category: case- and accent-insensitive equality.
		{name: "brand in capitals", q: catalog.Query{Brand: "SALEWA"}, exactly: []string{"trail-runner", "zaino-trail-running"}},
		{name: "brand without its accent", q: catalog.Query{Brand: "scarpa"}, exactly: []string{"scarpa-cittadina"}},
		{name: "unknown brand", q: catalog.Query{Brand: "Nessuno"}, exactly: []string{}},
		{name: "category", q: catalog.Query{Category: "scarpe"},
			exactly: []string{"trail-runner", "road-trainer", "crail-hiker", "scarpa-cittadina"}},
		{name: "category in stock", q: catalog.Query{Category: "ACCESSORI", InStock: true},
			exactly: []string{"borraccia-b", "tappo-ricambio"}},
		{name: "brand and category", q: catalog.Query{Brand: "montura", Category: "scarpe"}, exactly: []string{"crail-hiker"}},

		// Text and filters together.
		{name: "text and colour", q: catalog.Query{Text: "trail", Colours: []string{"verde"}}, first: []string{"zaino-trail-running"},
			excludes: []string{"trail-runner"}},
		{name: "text and brand", q: catalog.Query{Text: "scarpe", Brand: "lupo"}, first: []string{"road-trainer"},
			excludes: []string{"trail-runner", "crail-hiker", "scarpa-cittadina"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := indexSearch(t, idx, tt.q)
			got := indexHitIDs(res)
			if tt.exactly != nil {
				if diff := cmp.Diff(indexSorted(tt.exactly), indexSorted(got)); diff != "" {
					t.Errorf("Search(%s) = %v, want %v in any order (-want +got):\n%s", indexQueryString(tt.q), got, tt.exactly, diff)
				}
				if tt.q.Text == "" && res.Total != len(tt.exactly) {
					t.Errorf("Search(%s).Total = %d, want %d", indexQueryString(tt.q), res.Total, len(tt.exactly))
				}
			}
			if len(got) < len(tt.first) || !slices.Equal(got[:len(tt.first)], tt.first) {
				t.Errorf("Search(%s) = %v, want it to start with %v", indexQueryString(tt.q), got, tt.first)
			}
			for _, id := range tt.includes {
				if !slices.Contains(got, id) {
					t.Errorf("Search(%s) = %v, want it to include %q", indexQueryString(tt.q), got, id)
				}
			}
			for _, id := range tt.excludes {
				if slices.Contains(got, id) {
					t.Errorf("Search(%s) = %v, want it without %q", indexQueryString(tt.q), got, id)
				}
			}
			if res.Facets != nil {
				t.Errorf("Search(%s).Facets = %v, want none when not asked for", indexQueryString(tt.q), res.Facets)
			}
		})
	}

	t.Run("placeholder ranks products with stock first", func(t *testing.T) {
		q := catalog.Query{Limit: 50}
		got := indexHitIDs(indexSearch(t, idx, q))
		if len(got) == 0 || got[len(got)-1] != "borraccia-a" {
			t.Errorf("Search(%s) = %v, want the only product without stock, borraccia-a, last", indexQueryString(q), got)
		}
	})
}

func indexFacetTests(t *testing.T, idx catalog.Index) {
	tests := []struct {
		name string
		q    catalog.Query
		want map[string]map[string]int
	}{
		{
			name: "counts over every match, not the page",
			q:    catalog.Query{Brand: "Lupo", Facets: true, Limit: 1},
			want: map[string]map[string]int{
				catalog.FacetSize:     {"42": 1, "43": 1, "OS": 3},
				catalog.FacetColour:   {"red": 1, "blue": 1, "silver": 2},
				catalog.FacetBrand:    {"lupo": 4},
				catalog.FacetCategory: {"scarpe": 1, "accessori": 3},
			},
		},
		{
			name: "counts over text matches",
			q:    catalog.Query{Text: "trail", Facets: true, Limit: 1},
			want: map[string]map[string]int{
				catalog.FacetSize:     {"41": 1, "42": 1, "OS": 1},
				catalog.FacetColour:   {"red": 1, "black": 1, "green": 1},
				catalog.FacetBrand:    {"salewa": 2},
				catalog.FacetCategory: {"scarpe": 1, "zaini": 1},
			},
		},
		{
			name: "a later page counts the same",
			q:    catalog.Query{Brand: "Lupo", Facets: true, Limit: 2, Offset: 2},
			want: map[string]map[string]int{
				catalog.FacetSize:     {"42": 1, "43": 1, "OS": 3},
				catalog.FacetColour:   {"red": 1, "blue": 1, "silver": 2},
				catalog.FacetBrand:    {"lupo": 4},
				catalog.FacetCategory: {"scarpe": 1, "accessori": 3},
			},
		},
		{
			name: "counts follow the filters",
			q:    catalog.Query{Category: "scarpe", Colours: []string{"black"}, InStock: true, Facets: true},
			want: map[string]map[string]int{
				catalog.FacetSize:     {"40": 1, "41": 1, "42": 1, "42.5": 1},
				catalog.FacetColour:   {"red": 1, "black": 2, "brown": 1},
				catalog.FacetBrand:    {"salewa": 1, "scarpa": 1},
				catalog.FacetCategory: {"scarpe": 2},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := indexSearch(t, idx, tt.q)
			if tt.q.Limit > 0 && len(res.Hits) > tt.q.Limit {
				t.Errorf("Search(%s) returned %d hits, want at most %d", indexQueryString(tt.q), len(res.Hits), tt.q.Limit)
			}
			if diff := cmp.Diff(tt.want, res.Facets); diff != "" {
				t.Errorf("Search(%s).Facets = %v, want %v (-want +got):\n%s", indexQueryString(tt.q), res.Facets, tt.want, diff)
			}
			// Asking for facets changes nothing else.
			plainQ := tt.q
			plainQ.Facets = false
			plain := indexSearch(t, idx, plainQ)
			if got, want := indexHitIDs(res), indexHitIDs(plain); !slices.Equal(got, want) || res.Total != plain.Total {
				t.Errorf("Search(%s) = %v (total %d), want the hits of Search(%s): %v (total %d)",
					indexQueryString(tt.q), got, res.Total, indexQueryString(plainQ), want, plain.Total)
			}
		})
	}
}

func indexPaginationTests(t *testing.T, idx catalog.Index) {
	all := indexHitIDs(indexSearch(t, idx, catalog.Query{Category: "scarpe"}))
	var paged []string
	for offset := 0; offset < 6; offset += 2 {
		q := catalog.Query{Category: "scarpe", Limit: 2, Offset: offset}
		res := indexSearch(t, idx, q)
		got := indexHitIDs(res)
		wantLen := min(2, max(0, 4-offset))
		if len(got) != wantLen {
			t.Errorf("Search(%s) = %v, want %d hits", indexQueryString(q), got, wantLen)
		}
		if res.Total != 4 {
			t.Errorf("Search(%s).Total = %d, want 4", indexQueryString(q), res.Total)
		}
		paged = append(paged, got...)
	}
	if !slices.Equal(paged, all) {
		t.Errorf("pages of Search(Category:scarpe) = %v, want the unpaged order %v", paged, all)
	}
}

func indexSynonymTests(t *testing.T, idx catalog.Index) {
	ctx := t.Context()
	before := indexHitIDs(indexSearch(t, idx, catalog.Query{Text: "scarpe da trail"}))
	if slices.Contains(before, "zaino-trail-running") {
		t.Fatalf("Search(%q) without synonyms = %v, want no zaino-trail-running", "scarpe da trail", before)
	}
	syns := []catalog.Synonym{
		{Term: "scarpe da trail", Alternatives: []string{"trail running"}},
		{Term: "Sneaker", Alternatives: []string{"trainer"}},
	}
	if err := idx.SetSynonyms(ctx, syns); err != nil {
		t.Fatalf("SetSynonyms(%v) = %v", syns, err)
	}
	tests := []struct {
		text  string
		first string
	}{
		{"scarpe da trail", "zaino-trail-running"},
		{"Scarpe da Trail", "zaino-trail-running"},
		{"sneaker", "road-trainer"},
	}
	for _, tt := range tests {
		got := indexHitIDs(indexSearch(t, idx, catalog.Query{Text: tt.text}))
		if len(got) == 0 || got[0] != tt.first {
			t.Errorf("Search(%q) with synonyms = %v, want %q first", tt.text, got, tt.first)
		}
	}
	if err := idx.SetSynonyms(ctx, nil); err != nil {
		t.Fatalf("SetSynonyms(nil) = %v", err)
	}
	if got := indexHitIDs(indexSearch(t, idx, catalog.Query{Text: "sneaker"})); len(got) != 0 {
		t.Errorf("Search(%q) after clearing synonyms = %v, want no hits", "sneaker", got)
	}
}

func indexWriteTests(t *testing.T, newIndex func(t *testing.T) catalog.Index) {
	t.Run("Remove", func(t *testing.T) {
		idx := newIndex(t)
		indexPut(t, idx, indexFixture()...)
		if err := idx.Remove(t.Context(), []string{"trail-runner", "no-such-product"}); err != nil {
			t.Fatalf("Remove = %v", err)
		}
		q := catalog.Query{Text: "trail runner"}
		if got := indexHitIDs(indexSearch(t, idx, q)); slices.Contains(got, "trail-runner") {
			t.Errorf("Search(%s) after Remove = %v, want no trail-runner", indexQueryString(q), got)
		}
		res := indexSearch(t, idx, catalog.Query{})
		if res.Total != len(indexAll)-1 {
			t.Errorf("Search({}).Total after removing one = %d, want %d", res.Total, len(indexAll)-1)
		}
		if err := idx.Remove(t.Context(), nil); err != nil {
			t.Errorf("Remove(nil) = %v, want nil", err)
		}
	})

	t.Run("Clear", func(t *testing.T) {
		idx := newIndex(t)
		indexPut(t, idx, indexFixture()...)
		if err := idx.Clear(t.Context()); err != nil {
			t.Fatalf("Clear = %v", err)
		}
		if res := indexSearch(t, idx, catalog.Query{}); res.Total != 0 || len(res.Hits) != 0 {
			t.Errorf("Search({}) after Clear = %v (total %d), want nothing", indexHitIDs(res), res.Total)
		}
		indexPut(t, idx, indexFixture()[0])
		if got := indexHitIDs(indexSearch(t, idx, catalog.Query{Text: "trail"})); !slices.Equal(got, []string{"trail-runner"}) {
			t.Errorf("Search(%q) after Clear and Put = %v, want [trail-runner]", "trail", got)
		}
	})

	t.Run("Put replaces by ID", func(t *testing.T) {
		idx := newIndex(t)
		old := catalog.Product{Handle: "piumino", Title: "Giacca Vecchia", Brand: "Lupo", Currency: "EUR", Active: true,
			Variants: []catalog.Variant{{SKU: "PM-M", Colour: "nero", Size: "M", Stock: 3}}}
		indexPut(t, idx, old)
		now := old
		now.Title = "Piumino Nuovo"
		now.Variants = []catalog.Variant{{SKU: "PM-M", Colour: "nero", Size: "M", Stock: 0}}
		indexPut(t, idx, now)

		tests := []struct {
			q    catalog.Query
			want []string
		}{
			{catalog.Query{Text: "vecchia"}, []string{}},
			{catalog.Query{Text: "piumino nuovo"}, []string{"piumino"}},
			{catalog.Query{}, []string{"piumino"}},
			{catalog.Query{Sizes: []string{"M"}}, []string{"piumino"}},
			{catalog.Query{Sizes: []string{"M"}, InStock: true}, []string{}},
		}
		for _, tt := range tests {
			got := indexHitIDs(indexSearch(t, idx, tt.q))
			if !slices.Equal(got, tt.want) {
				t.Errorf("Search(%s) after replacing = %v, want %v", indexQueryString(tt.q), got, tt.want)
			}
		}
	})

	t.Run("default limit is 20", func(t *testing.T) {
		idx := newIndex(t)
		var ps []catalog.Product
		for i := range 25 {
			ps = append(ps, catalog.Product{
				Handle: fmt.Sprintf("calza-%02d", i), Title: fmt.Sprintf("Calza %d", i), Currency: "EUR", Active: true,
				Variants: []catalog.Variant{{SKU: fmt.Sprintf("CZ-%02d", i), Size: "OS", Stock: i % 2}},
			})
		}
		indexPut(t, idx, ps...)
		for _, q := range []catalog.Query{{}, {Text: "calza"}} {
			res := indexSearch(t, idx, q)
			if len(res.Hits) != 20 {
				t.Errorf("Search(%s) returned %d hits, want the default limit 20", indexQueryString(q), len(res.Hits))
			}
			if q.Text == "" && res.Total != 25 {
				t.Errorf("Search(%s).Total = %d, want 25", indexQueryString(q), res.Total)
			}
		}
	})

	t.Run("Ping", func(t *testing.T) {
		idx := newIndex(t)
		if err := idx.Ping(t.Context()); err != nil {
			t.Errorf("Ping = %v, want nil", err)
		}
	})
}
