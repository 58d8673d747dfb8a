package blevecatalog

import (
	"context"
	"slices"

	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/mapping"
	"github.com/blevesearch/bleve/v2/search"
	"github.com/blevesearch/bleve/v2/search/query"
	"github.com/blevesearch/bleve/v2/search/searcher"
	index "github.com/blevesearch/bleve_index_api"

	"github.com/bottega-shop/bottega/catalog"
)

// Meilisearch's limits (meilicatalog sets the typo ones explicitly) and ours.
const (
	maxWords        = 10 // query words used; the rest are ignored
	oneTypoLen      = 5  // words of 5 to 8 letters allow one typo
	twoTyposLen     = 9  // longer words allow two
	maxAlternatives = 16 // query rewrites through synonyms
	maxTypoTerms    = 50 // indexed words matched per word and typo count
)

// Ranking. Every leaf query is scored by a constant, so equally relevant
// documents get exactly equal scores, and the kind of match outweighs the
// field it is in, as Meilisearch's "typo" rule comes before "attributeRank":
// an exact word anywhere beats a typo in the title.
const (
	kindExact  = 1e6
	kindPrefix = 1e4
	kindTypo1  = 1e2
	kindTypo2  = 1
	// availableBoost is added to documents with stock. It only reorders
	// documents whose (quantized) relevance is equal, or differs by less
	// than itself.
	availableBoost = 1.0 / (1 << 20)
	// quantizeBits are the low mantissa bits cleared from the relevance.
	quantizeBits = 20
)

// word is one query word after analysis.
type word struct {
	term    string
	numeric bool // never matched with typos
	prefix  bool // the query's last word: also matched as a prefix
	exact   bool // a synonym's word: matched as written only
}

// synonymRule is a catalog.Synonym analyzed into terms.
type synonymRule struct {
	term         []string
	alternatives [][]string
}

// words analyzes the query text like the indexed text and keeps the first
// maxWords words; the last one is also a prefix.
func (x *Index) words(text string) []word {
	if text == "" {
		return nil
	}
	var ws []word
	for _, t := range x.analyzer.Analyze([]byte(text)) {
		if len(t.Term) == 0 {
			continue
		}
		ws = append(ws, word{term: string(t.Term), numeric: t.Type == analysis.Numeric})
		if len(ws) == maxWords {
			break
		}
	}
	if len(ws) > 0 {
		ws[len(ws)-1].prefix = true
	}
	return ws
}

// terms analyzes a synonym term or alternative.
func (x *Index) terms(text string) []string {
	var ts []string
	for _, t := range x.analyzer.Analyze([]byte(text)) {
		if len(t.Term) > 0 {
			ts = append(ts, string(t.Term))
		}
	}
	return ts
}

// expand returns the query's word sequence followed by its rewrites: for
// every synonym whose term appears in the words contiguously, the words with
// that term replaced by each alternative.
func expand(words []word, rules []synonymRule) [][]word {
	alts := [][]word{words}
	for _, r := range rules {
		for p := 0; p+len(r.term) <= len(words); p++ {
			if !hasTerms(words[p:p+len(r.term)], r.term) {
				continue
			}
			for _, alt := range r.alternatives {
				seq := make([]word, 0, len(words)-len(r.term)+len(alt))
				seq = append(seq, words[:p]...)
				for _, t := range alt {
					seq = append(seq, word{term: t, exact: true})
				}
				seq = append(seq, words[p+len(r.term):]...)
				alts = append(alts, seq)
				if len(alts) == maxAlternatives {
					return alts
				}
			}
		}
	}
	return alts
}

func hasTerms(ws []word, terms []string) bool {
	for i, w := range ws {
		if w.term != terms[i] {
			return false
		}
	}
	return true
}

// textQuery matches every word of one of the sequences. cache holds the
// indexed terms each word reaches.
func textQuery(seqs [][]word, cache *wordCache) query.Query {
	qs := make([]query.Query, 0, len(seqs))
	for _, seq := range seqs {
		ws := make([]query.Query, 0, len(seq))
		for _, w := range seq {
			ws = append(ws, &wordQuery{w: w, cache: cache})
		}
		qs = append(qs, query.NewConjunctionQuery(ws))
	}
	var q query.Query = qs[0]
	if len(qs) > 1 {
		q = query.NewDisjunctionQuery(qs)
	}
	return quantized(q)
}

// wordQuery matches one word in any searchable field with Meilisearch's
// typo rules: none up to 4 letters, one from 5 (where a wrong first letter
// counts as two, so the first letter must match), two from 9 (the first
// letter must match, or one typo anywhere). Numbers never allow typos.
//
// The words within reach of a typo are looked up once, in the dictionary of
// the field holding every searchable word, and then matched as terms in each
// field: bleve's fuzzy query would build its automaton once per field. The
// terms a word reaches in each field, and the documents it matches with
// their scores, are kept per index snapshot (see wordCache): a word
// searched again walks no dictionary and opens no term searcher.
type wordQuery struct {
	w     word
	cache *wordCache
}

func (q *wordQuery) Searcher(ctx context.Context, i index.IndexReader, m mapping.IndexMapping, options search.SearcherOptions) (search.Searcher, error) {
	if options != (search.SearcherOptions{}) {
		return q.leaves(ctx, i, m, options) // explanations or term vectors: not kept
	}
	if wm, known := q.cache.matches(i, q.w); wm != nil {
		return &matchesSearcher{wm: wm}, nil
	} else if known {
		return q.leaves(ctx, i, m, options)
	}
	s, err := q.leaves(ctx, i, m, options)
	if err != nil {
		return nil, err
	}
	if s.Count() > maxWordMatches { // postings, at least as many as matches
		q.cache.keep(i, q.w, nil)
		return s, nil
	}
	wm, err := collectMatches(s, maxWordMatches)
	if err != nil {
		return nil, err
	}
	q.cache.keep(i, q.w, wm)
	if wm == nil {
		return q.leaves(ctx, i, m, options)
	}
	return &matchesSearcher{wm: wm}, nil
}

// leaves returns the word's searcher: a disjunction of a leaf per field and
// kind of match.
func (q *wordQuery) leaves(ctx context.Context, i index.IndexReader, m mapping.IndexMapping, options search.SearcherOptions) (search.Searcher, error) {
	wt, err := q.cache.lookup(i, q.w)
	if err != nil {
		return nil, err
	}
	// A leaf per field and kind of match, scored by a constant. The leaves
	// are the same whether or not a field holds the terms, since the
	// disjunction's score depends on how many leaves it has; a field
	// without them gets one that matches nothing and costs nothing. The
	// leaves are searchers, not queries: this runs for every word of every
	// search.
	leaves := make([]search.Searcher, 0, len(textFields)*4)
	add := func(s search.Searcher, err error) error {
		if err == nil {
			leaves = append(leaves, s)
		}
		return err
	}
	for fi, f := range textFields {
		ft := &wt.fields[fi]
		err = add(constantTerms(ctx, i, f.name, ft.exact, kindExact*f.weight, options))
		if err == nil && wt.typo1 {
			err = add(constantTerms(ctx, i, f.name, ft.typo1, kindTypo1*f.weight, options))
		}
		if err == nil && wt.typo2 {
			err = add(constantTerms(ctx, i, f.name, ft.typo2, kindTypo2*f.weight, options))
		}
		if err == nil && q.w.prefix && ft.prefixMany {
			pq := query.NewPrefixQuery(q.w.term)
			pq.SetField(f.name)
			err = add(constant(pq, kindPrefix*f.weight).Searcher(ctx, i, m, options))
		} else if err == nil && q.w.prefix {
			err = add(constantTerms(ctx, i, f.name, ft.prefix, kindPrefix*f.weight, options))
		}
		if err != nil {
			for _, s := range leaves {
				_ = s.Close()
			}
			return nil, err
		}
	}
	return searcher.NewDisjunctionSearcher(ctx, i, leaves, 0, options)
}

// noMatches is the searcher of a leaf whose terms the field does not hold.
// It has no state, so every such leaf shares it.
var noMatches = &searcher.MatchNoneSearcher{}

// constantTerms returns a searcher of the documents holding any of terms,
// indexed terms of field looked up beforehand, each scored score.
func constantTerms(ctx context.Context, i index.IndexReader, field string, terms []string, score float64, options search.SearcherOptions) (search.Searcher, error) {
	options.Score = "none" // replaced by the constant
	var s search.Searcher
	var err error
	switch len(terms) {
	case 0:
		return noMatches, nil
	case 1:
		s, err = searcher.NewTermSearcher(ctx, i, terms[0], field, 1, options)
	default:
		s, err = searcher.NewMultiTermSearcher(ctx, i, terms, field, 1, options, false)
	}
	if err != nil {
		return nil, err
	}
	return &rescoreSearcher{Searcher: s, rescore: rescore{score: score}}, nil
}

// availableBonus is the optional clause that ranks products with stock first
// among equally relevant ones: a product has stock if any variant does.
func availableBonus() query.Query {
	t := query.NewTermQuery(catalog.VariantKey("", ""))
	t.SetField(fieldStockKeys)
	return query.NewDisjunctionQuery([]query.Query{constant(t, availableBoost)})
}

// filterQuery returns the query's filters, or nil if it has none. Sizes and
// colours filter on the combined "colour|size" keys, so a product with a red
// 41 and a black 42 does not match red 42.
func filterQuery(q catalog.Query) query.Query {
	var must []query.Query
	if keys, inStock := q.FilterKeys(); len(keys) > 0 {
		field := fieldVariantKeys
		if inStock {
			field = fieldStockKeys
		}
		slices.Sort(keys)
		keys = slices.Compact(keys)
		ors := make([]query.Query, 0, len(keys))
		for _, k := range keys {
			t := query.NewTermQuery(k)
			t.SetField(field)
			ors = append(ors, t)
		}
		must = append(must, query.NewDisjunctionQuery(ors))
	}
	for _, f := range []struct{ field, value string }{
		{fieldBrandKey, q.Brand},
		{fieldCategoryKey, q.Category},
	} {
		if v := catalog.Fold(f.value); v != "" {
			t := query.NewTermQuery(v)
			t.SetField(f.field)
			must = append(must, t)
		}
	}
	switch len(must) {
	case 0:
		return nil
	case 1:
		return must[0]
	}
	return query.NewConjunctionQuery(must)
}
