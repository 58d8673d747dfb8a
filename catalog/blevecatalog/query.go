package blevecatalog

import (
	"context"
	"fmt"
	"slices"
	"unicode/utf8"

	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/mapping"
	"github.com/blevesearch/bleve/v2/search"
	"github.com/blevesearch/bleve/v2/search/query"
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

// textQuery matches every word of one of the sequences.
func textQuery(seqs [][]word) query.Query {
	qs := make([]query.Query, 0, len(seqs))
	for _, seq := range seqs {
		ws := make([]query.Query, 0, len(seq))
		for _, w := range seq {
			ws = append(ws, &wordQuery{w: w})
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
// field: bleve's fuzzy query would build its automaton once per field.
type wordQuery struct {
	w word
}

func (q *wordQuery) Searcher(ctx context.Context, i index.IndexReader, m mapping.IndexMapping, options search.SearcherOptions) (search.Searcher, error) {
	typo1, typo2, err := q.typos(i)
	if err != nil {
		return nil, err
	}
	leaves := make([]query.Query, 0, len(textFields)*4)
	for _, f := range textFields {
		leaves = append(leaves, constant(term(f.name, q.w.term), kindExact*f.weight))
		if len(typo1) > 0 {
			leaves = append(leaves, constant(terms(f.name, typo1), kindTypo1*f.weight))
		}
		if len(typo2) > 0 {
			leaves = append(leaves, constant(terms(f.name, typo2), kindTypo2*f.weight))
		}
		if q.w.prefix {
			p := query.NewPrefixQuery(q.w.term)
			p.SetField(f.name)
			leaves = append(leaves, constant(p, kindPrefix*f.weight))
		}
	}
	return query.NewDisjunctionQuery(leaves).Searcher(ctx, i, m, options)
}

// typos returns the indexed words one typo and two typos away from the word.
func (q *wordQuery) typos(i index.IndexReader) (typo1, typo2 []string, err error) {
	n := utf8.RuneCountInString(q.w.term)
	if q.w.numeric || q.w.exact || n < oneTypoLen {
		return nil, nil, nil
	}
	fr, ok := i.(index.IndexReaderFuzzy)
	if !ok {
		return nil, nil, fmt.Errorf("blevecatalog: index reader %T has no fuzzy dictionary", i)
	}
	_, size := utf8.DecodeRuneInString(q.w.term)
	first := q.w.term[:size]
	seen := map[string]bool{q.w.term: true}
	collect := func(fuzziness int, prefix string) ([]string, error) {
		fd, err := fr.FieldDictFuzzy(fieldWords, q.w.term, fuzziness, prefix)
		if err != nil {
			return nil, err
		}
		defer fd.Close()
		var out []string
		for {
			e, err := fd.Next()
			if err != nil {
				return nil, err
			}
			if e == nil || len(out) == maxTypoTerms {
				return out, nil
			}
			if !seen[e.Term] {
				seen[e.Term] = true
				out = append(out, e.Term)
			}
		}
	}
	if n < twoTyposLen {
		if typo1, err = collect(1, first); err != nil {
			return nil, nil, fmt.Errorf("blevecatalog: typos of %q: %w", q.w.term, err)
		}
		return typo1, nil, nil
	}
	// A wrong first letter counts as two typos: alone, it is allowed here.
	if typo1, err = collect(1, ""); err != nil {
		return nil, nil, fmt.Errorf("blevecatalog: typos of %q: %w", q.w.term, err)
	}
	if typo2, err = collect(2, first); err != nil {
		return nil, nil, fmt.Errorf("blevecatalog: typos of %q: %w", q.w.term, err)
	}
	return typo1, typo2, nil
}

func term(field, t string) query.Query {
	q := query.NewTermQuery(t)
	q.SetField(field)
	return q
}

func terms(field string, ts []string) query.Query {
	qs := make([]query.Query, len(ts))
	for i, t := range ts {
		qs[i] = term(field, t)
	}
	if len(qs) == 1 {
		return qs[0]
	}
	return query.NewDisjunctionQuery(qs)
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
