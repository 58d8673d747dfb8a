package blevecatalog

import (
	"context"
	"math"

	"github.com/blevesearch/bleve/v2/mapping"
	"github.com/blevesearch/bleve/v2/search"
	"github.com/blevesearch/bleve/v2/search/query"
	index "github.com/blevesearch/bleve_index_api"
)

// rescoreQuery wraps a query and replaces the score of each of its matches.
// bleve's own CustomScoreQuery would do, but it looks up every hit's
// external ID, which made searches several times slower.
type rescoreQuery struct {
	query.Query
	rescore
}

// rescore says how a match's score is replaced: by a constant, or by the
// score quantized.
type rescore struct {
	score    float64 // every match's score, unless quantize
	quantize bool    // clear the low bits of the wrapped query's score instead
}

func (r rescore) apply(s float64) float64 {
	if r.quantize {
		return math.Float64frombits(math.Float64bits(s) &^ (1<<quantizeBits - 1))
	}
	return r.score
}

// constant scores every match of q with score.
func constant(q query.Query, score float64) query.Query {
	return &rescoreQuery{Query: q, rescore: rescore{score: score}}
}

// quantized clears the low mantissa bits of q's scores: the "bucket" that
// makes near-equal relevance tie, so that sums of the same constants added
// in another order compare equal.
func quantized(q query.Query) query.Query {
	return &rescoreQuery{Query: q, rescore: rescore{quantize: true}}
}

func (q *rescoreQuery) Searcher(ctx context.Context, i index.IndexReader, m mapping.IndexMapping, options search.SearcherOptions) (search.Searcher, error) {
	if !q.quantize {
		options.Score = "none" // the wrapped query's own scores are not needed
	}
	s, err := q.Query.Searcher(ctx, i, m, options)
	if err != nil {
		return nil, err
	}
	return &rescoreSearcher{Searcher: s, rescore: q.rescore}, nil
}

type rescoreSearcher struct {
	search.Searcher
	rescore
}

func (s *rescoreSearcher) Next(ctx *search.SearchContext) (*search.DocumentMatch, error) {
	d, err := s.Searcher.Next(ctx)
	if d != nil {
		d.Score = s.apply(d.Score)
	}
	return d, err
}

func (s *rescoreSearcher) Advance(ctx *search.SearchContext, id index.IndexInternalID) (*search.DocumentMatch, error) {
	d, err := s.Searcher.Advance(ctx, id)
	if d != nil {
		d.Score = s.apply(d.Score)
	}
	return d, err
}
