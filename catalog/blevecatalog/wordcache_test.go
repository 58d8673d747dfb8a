package blevecatalog_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/bottega-shop/bottega/catalog"
	"github.com/bottega-shop/bottega/catalog/blevecatalog"
)

func doc(handle, title string) catalog.Document {
	p := catalog.Product{Handle: handle, Title: title, Currency: "EUR", Active: true,
		Variants: []catalog.Variant{{SKU: handle + "-1", Size: "M", Stock: 1}}}
	return catalog.NewDocument(&p)
}

func hitIDs(t *testing.T, idx catalog.Index, text string) []string {
	t.Helper()
	res, err := idx.Search(t.Context(), catalog.Query{Text: text, Limit: 50})
	if err != nil {
		t.Fatalf("Search(%q) = %v", text, err)
	}
	ids := make([]string, 0, len(res.Hits))
	for _, h := range res.Hits {
		ids = append(ids, h.ID)
	}
	slices.Sort(ids)
	return ids
}

// TestWordsFollowWrites checks that the terms a word reaches, which the
// index keeps between searches, follow every write: a word searched before
// a product is put, or after it is removed, finds what the index holds now.
func TestWordsFollowWrites(t *testing.T) {
	for _, onDisk := range []bool{false, true} {
		t.Run(fmt.Sprintf("on disk %t", onDisk), func(t *testing.T) {
			idx := newIndex(t)
			if onDisk {
				idx = newIndex(t, blevecatalog.WithPath(t.TempDir()))
			}
			ctx := t.Context()
			if err := idx.Put(ctx, []catalog.Document{doc("giacca", "Giacca Vento")}); err != nil {
				t.Fatalf("Put = %v", err)
			}
			// Exactly, with a typo, as a prefix: each searched twice, so the
			// second search is answered from what the first looked up.
			queries := []string{"maglione", "maglion", "magl", "giacca magl"}
			for range 2 {
				for _, q := range queries {
					if got := hitIDs(t, idx, q); q != "giacca magl" && len(got) != 0 {
						t.Errorf("Search(%q) before the put = %v, want none", q, got)
					}
				}
			}
			if err := idx.Put(ctx, []catalog.Document{doc("maglione", "Maglione Lana"), doc("giacca", "Giacca Vento Maglia")}); err != nil {
				t.Fatalf("Put = %v", err)
			}
			want := map[string][]string{
				"maglione":    {"maglione"},
				"maglion":     {"maglione"},
				"magl":        {"giacca", "maglione"},
				"giacca magl": {"giacca"},
			}
			for range 2 {
				for _, q := range queries {
					if got := hitIDs(t, idx, q); !slices.Equal(got, want[q]) {
						t.Errorf("Search(%q) after the put = %v, want %v", q, got, want[q])
					}
				}
			}
			if err := idx.Remove(ctx, []string{"maglione"}); err != nil {
				t.Fatalf("Remove = %v", err)
			}
			for _, q := range []string{"maglione", "maglion"} {
				if got := hitIDs(t, idx, q); len(got) != 0 {
					t.Errorf("Search(%q) after the remove = %v, want none", q, got)
				}
			}
			if err := idx.Clear(ctx); err != nil {
				t.Fatalf("Clear = %v", err)
			}
			if got := hitIDs(t, idx, "giacca"); len(got) != 0 {
				t.Errorf("Search(%q) after Clear = %v, want none", "giacca", got)
			}
		})
	}
}

// TestShortPrefixReachingManyWords checks a last word that is the prefix of
// more words than the index keeps per word: every product is still found,
// the first time and the next.
func TestShortPrefixReachingManyWords(t *testing.T) {
	idx := newIndex(t)
	var docs []catalog.Document
	for i := range 300 {
		docs = append(docs, doc(fmt.Sprintf("p%03d", i), fmt.Sprintf("Zaino zx%03d", i)))
	}
	if err := idx.Put(t.Context(), docs); err != nil {
		t.Fatalf("Put = %v", err)
	}
	for range 2 {
		for _, q := range []string{"zx", "zaino zx"} {
			res, err := idx.Search(t.Context(), catalog.Query{Text: q, Limit: 5})
			if err != nil {
				t.Fatalf("Search(%q) = %v", q, err)
			}
			if res.Total != 300 {
				t.Errorf("Search(%q).Total = %d, want 300", q, res.Total)
			}
		}
	}
}

// TestKeptMatchesSearchAlike checks that searches answered from the
// documents kept per word find what the word's own searchers find, in the
// same order, on a catalog where some words match more documents than are
// kept: typos, prefixes, synonyms, filters and facets.
func TestKeptMatchesSearchAlike(t *testing.T) {
	if testing.Short() {
		t.Skip("a 6,000-product catalog")
	}
	docs := benchCatalog(6000)
	syns := []catalog.Synonym{
		{Term: "scarpe", Alternatives: []string{"runner", "sneaker"}},
		{Term: "giubbotto", Alternatives: []string{"giacca", "parka"}},
		{Term: "trail runner", Alternatives: []string{"scarpone"}},
	}
	kept, plain := newIndex(t), newIndex(t, blevecatalog.WithoutMatchCache())
	for _, idx := range []*blevecatalog.Index{kept, plain} {
		if err := putBatches(idx, docs); err != nil {
			t.Fatalf("Put = %v", err)
		}
		if err := idx.SetSynonyms(t.Context(), syns); err != nil {
			t.Fatalf("SetSynonyms = %v", err)
		}
		if err := idx.Compact(t.Context()); err != nil {
			t.Fatalf("Compact = %v", err)
		}
	}
	qs := benchQueries(docs, 300)
	for _, text := range []string{"scarpe", "scarpe trail", "giubbotto rosso", "trail runner", "trial runer", "s", "ru",
		"alpine r", "waterprof", "windbreakr", "zzz", "tecnica tecnica", "pelle suola vibram", "42"} {
		qs = append(qs, catalog.Query{Text: text, Limit: 10}, catalog.Query{Text: text, Limit: 5, Offset: 3, Facets: true})
	}
	for round := range 2 {
		for _, q := range qs {
			want, err := plain.Search(t.Context(), q)
			if err != nil {
				t.Fatalf("Search(%+v) without kept matches = %v", q, err)
			}
			got, err := kept.Search(t.Context(), q)
			if err != nil {
				t.Fatalf("Search(%+v) = %v", q, err)
			}
			if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("round %d: Search(%+v) mismatch (-without kept matches +with):\n%s", round, q, diff)
			}
		}
	}
}
