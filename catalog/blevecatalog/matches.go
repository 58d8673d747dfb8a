package blevecatalog

import (
	"bytes"
	"sort"

	"github.com/blevesearch/bleve/v2/search"
	index "github.com/blevesearch/bleve_index_api"
)

// wordMatches are the documents a query word matches in one snapshot of
// the index, in index order, each with the score the word's searcher gave
// it, and what that searcher said of itself: a search replays them (see
// matchesSearcher) instead of opening the word's dozen term searchers.
type wordMatches struct {
	ids    []byte // the documents' internal IDs, idLen bytes each
	idLen  int
	scores []float64
	// weight and count are the searcher's Weight and Count: a conjunction
	// orders its searchers by Count, and the query norm comes from the
	// weights.
	weight float64
	count  uint64
}

func (wm *wordMatches) len() int {
	if wm == nil {
		return 0
	}
	return len(wm.scores)
}

func (wm *wordMatches) id(i int) index.IndexInternalID {
	return wm.ids[i*wm.idLen : (i+1)*wm.idLen]
}

// collectMatches reads every match of s, which it closes, into a
// wordMatches; nil if there are more than limit or their IDs differ in
// length.
func collectMatches(s search.Searcher, limit int) (wm *wordMatches, err error) {
	defer func() {
		if cerr := s.Close(); err == nil {
			err = cerr
		}
	}()
	sctx := &search.SearchContext{DocumentMatchPool: search.NewDocumentMatchPool(s.DocumentMatchPoolSize(), 0)}
	wm = &wordMatches{weight: s.Weight(), count: s.Count()}
	for {
		d, err := s.Next(sctx)
		if err != nil {
			return nil, err
		}
		if d == nil {
			return wm, nil
		}
		if len(wm.scores) == 0 {
			wm.idLen = len(d.IndexInternalID)
		}
		if len(wm.scores) == limit || len(d.IndexInternalID) != wm.idLen {
			return nil, nil
		}
		wm.ids = append(wm.ids, d.IndexInternalID...)
		wm.scores = append(wm.scores, d.Score)
		sctx.DocumentMatchPool.Put(d)
	}
}

// matchesSearcher returns a word's matches, kept in a wordMatches, as the
// word's own searcher would: the same documents with the same scores.
type matchesSearcher struct {
	wm  *wordMatches
	pos int // the next match to return
}

func (s *matchesSearcher) Next(ctx *search.SearchContext) (*search.DocumentMatch, error) {
	if s.pos >= len(s.wm.scores) {
		return nil, nil
	}
	d := ctx.DocumentMatchPool.Get()
	d.IndexInternalID = append(d.IndexInternalID[:0], s.wm.id(s.pos)...)
	d.Score = s.wm.scores[s.pos]
	s.pos++
	return d, nil
}

// Advance returns the first match not returned yet at or after id.
func (s *matchesSearcher) Advance(ctx *search.SearchContext, id index.IndexInternalID) (*search.DocumentMatch, error) {
	n := len(s.wm.scores) - s.pos
	s.pos += sort.Search(n, func(i int) bool { return bytes.Compare(s.wm.id(s.pos+i), id) >= 0 })
	return s.Next(ctx)
}

func (s *matchesSearcher) Close() error { return nil }

func (s *matchesSearcher) Weight() float64 { return s.wm.weight }

// SetQueryNorm does nothing: the scores are the word's leaves' constants,
// which no norm changes.
func (s *matchesSearcher) SetQueryNorm(float64) {}

func (s *matchesSearcher) Count() uint64 { return s.wm.count }

func (s *matchesSearcher) Min() int { return 0 }

func (s *matchesSearcher) Size() int { return 64 }

// DocumentMatchPoolSize is one: a match is made only when returned.
func (s *matchesSearcher) DocumentMatchPoolSize() int { return 1 }
