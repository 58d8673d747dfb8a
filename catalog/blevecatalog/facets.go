package blevecatalog

import (
	"context"
	"slices"
	"strings"
	"sync"

	"github.com/blevesearch/bleve/v2/search"
	index "github.com/blevesearch/bleve_index_api"

	"github.com/bottega-shop/bottega/catalog"
)

// Facets are counted over every match, which makes them the costliest part
// of a broad search. Reading each match's values from bleve's doc values
// decompresses and scans them per match; in memory the index keeps every
// document's values in a table instead and counts from it.

// facetTable holds every document's coded facet values ("s42", "blupo", see
// facetValue) as numbers into values.
type facetTable struct {
	mu     sync.RWMutex
	number map[string]int32   // coded value → number; grows only
	values []string           // number → coded value
	docs   map[string][]int32 // document ID → its values' numbers
}

func newFacetTable() *facetTable {
	return &facetTable{number: map[string]int32{}, docs: map[string][]int32{}}
}

// apply records the facet values of the documents put and forgets those removed.
func (t *facetTable) apply(ops []op) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, o := range ops {
		if o.doc == nil {
			delete(t.docs, o.id)
			continue
		}
		coded, _ := o.doc[fieldFacets].([]string)
		nums := make([]int32, len(coded))
		for i, v := range coded {
			n, ok := t.number[v]
			if !ok {
				n = int32(len(t.values))
				t.number[v] = n
				t.values = append(t.values, v)
			}
			nums[i] = n
		}
		t.docs[o.id] = nums
	}
}

func (t *facetTable) reset() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.docs = map[string][]int32{}
}

// hit is a match kept for the page: by score, then ID.
type hit struct {
	score float64
	id    string
}

func (a hit) before(b hit) bool {
	if a.score != b.score {
		return a.score > b.score
	}
	return a.id < b.id
}

// collect reads every match of the searcher, keeps the page of hits ranked
// by score then ID (as bleve's collector does with -_score, _id) and counts
// the facets of all of them.
func (t *facetTable) collect(ctx context.Context, s search.Searcher, r index.IndexReader, limit, offset int) (catalog.Result, error) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	sctx := &search.SearchContext{DocumentMatchPool: search.NewDocumentMatchPool(s.DocumentMatchPoolSize(), 0)}
	counts := make([]int, len(t.values))
	keep := offset + limit
	top := make([]hit, 0, keep+1)
	total := 0
	for {
		if total%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return catalog.Result{}, err
			}
		}
		d, err := s.Next(sctx)
		if err != nil {
			return catalog.Result{}, err
		}
		if d == nil {
			break
		}
		total++
		id, err := r.ExternalID(d.IndexInternalID)
		if err != nil {
			return catalog.Result{}, err
		}
		for _, n := range t.docs[id] {
			counts[n]++
		}
		h := hit{score: d.Score, id: id}
		sctx.DocumentMatchPool.Put(d)
		if len(top) == keep && !h.before(top[keep-1]) {
			continue
		}
		i, _ := slices.BinarySearchFunc(top, h, func(a, b hit) int {
			if a.before(b) {
				return -1
			}
			return 1
		})
		top = slices.Insert(top, i, h)
		if len(top) > keep {
			top = top[:keep]
		}
	}
	res := catalog.Result{Hits: []catalog.Hit{}, Total: total}
	for _, h := range top[min(offset, len(top)):] {
		res.Hits = append(res.Hits, catalog.Hit{ID: h.id})
	}
	coded := make(map[string]int)
	for n, c := range counts {
		if c > 0 {
			coded[t.values[n]] = c
		}
	}
	res.Facets = splitFacets(coded)
	return res, nil
}

// facetCounter counts the coded values of fieldFacets over every match, from
// doc values, for bleve's collector.
type facetCounter struct {
	counts map[string]*int
}

func (f *facetCounter) StartDoc()     {}
func (f *facetCounter) EndDoc()       {}
func (f *facetCounter) Field() string { return fieldFacets }
func (f *facetCounter) Size() int     { return 0 }
func (f *facetCounter) Result() *search.FacetResult {
	return &search.FacetResult{Field: fieldFacets}
}

func (f *facetCounter) UpdateVisitor(term []byte) {
	if n := f.counts[string(term)]; n != nil { // no allocation for known values
		*n++
		return
	}
	n := 1
	f.counts[string(term)] = &n
}

func (f *facetCounter) result() map[string]map[string]int {
	coded := make(map[string]int, len(f.counts))
	for v, n := range f.counts {
		coded[v] = *n
	}
	return splitFacets(coded)
}

// splitFacets splits counts of coded values by facet and keeps each facet's
// maxFacetValues most frequent values, like Meilisearch's maxValuesPerFacet
// with values sorted by count.
func splitFacets(coded map[string]int) map[string]map[string]int {
	type count struct {
		value string
		n     int
	}
	byCode := make(map[byte][]count, len(facetCodes))
	for v, n := range coded {
		if len(v) > 1 {
			byCode[v[0]] = append(byCode[v[0]], count{v[1:], n})
		}
	}
	out := make(map[string]map[string]int, len(facetCodes))
	for facet, code := range facetCodes {
		cs := byCode[code]
		if len(cs) > maxFacetValues {
			slices.SortFunc(cs, func(a, b count) int {
				if a.n != b.n {
					return b.n - a.n
				}
				return strings.Compare(a.value, b.value)
			})
			cs = cs[:maxFacetValues]
		}
		m := make(map[string]int, len(cs))
		for _, c := range cs {
			m[c.value] = c.n
		}
		out[facet] = m
	}
	return out
}
