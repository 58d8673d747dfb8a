package blevecatalog

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/bottega-shop/bottega/catalog"
)

// TestCompaction writes one document at a time, with searches running, so
// that the in-memory index rebuilds itself several times, and checks that no
// write is lost across the swaps.
func TestCompaction(t *testing.T) {
	x, err := New()
	if err != nil {
		t.Fatalf("New() = %v", err)
	}
	defer x.Close()
	x.compactAfter = 3
	ctx := t.Context()

	doc := func(i int) catalog.Document {
		p := catalog.Product{
			Handle: fmt.Sprintf("prodotto-%03d", i), Title: fmt.Sprintf("Prodotto %d", i), Currency: "EUR", Active: true,
			Variants: []catalog.Variant{{SKU: fmt.Sprintf("P-%03d", i), Size: "M", Stock: 1}},
		}
		return catalog.NewDocument(&p)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := x.Search(ctx, catalog.Query{Text: "prodotto", Facets: true}); err != nil {
				t.Errorf("Search during compaction = %v", err)
				return
			}
		}
	}()
	const n = 120
	var want []string
	for i := range n {
		d := doc(i)
		if err := x.Put(ctx, []catalog.Document{d}); err != nil {
			t.Fatalf("Put(%s) = %v", d.ID, err)
		}
		want = append(want, d.ID)
		if i%10 == 9 { // remove every tenth document again
			if err := x.Remove(ctx, []string{d.ID}); err != nil {
				t.Fatalf("Remove(%s) = %v", d.ID, err)
			}
			want = want[:len(want)-1]
		}
		if i%20 == 0 {
			time.Sleep(20 * time.Millisecond) // let compactions finish and rest
		}
	}
	close(stop)
	wg.Wait()

	// Compact waits for a compaction under way, then leaves one segment.
	if err := x.Compact(ctx); err != nil {
		t.Fatalf("Compact() = %v", err)
	}
	x.writeMu.Lock()
	swaps, writes := x.swaps, x.writes
	x.writeMu.Unlock()
	if swaps < 3 {
		t.Errorf("%d compactions after %d single writes with compactAfter %d, want several", swaps, n+n/10, x.compactAfter)
	}
	if writes != 0 {
		t.Errorf("%d writes since the last compaction after Compact, want 0", writes)
	}
	res, err := x.Search(ctx, catalog.Query{Limit: 1000})
	if err != nil {
		t.Fatalf("Search = %v", err)
	}
	var got []string
	for _, h := range res.Hits {
		got = append(got, h.ID)
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("Search({}) after compactions = %d documents, want %d:\ngot  %v\nwant %v", len(got), len(want), got, want)
	}
	if len(x.docs) != len(want) {
		t.Errorf("kept %d documents to rebuild from, want %d", len(x.docs), len(want))
	}
}
