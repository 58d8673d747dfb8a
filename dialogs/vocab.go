package dialogs

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/bottega-shop/bottega/catalog"
)

// vocab is what the rules know of the catalog: the words of product names,
// brands, categories and synonyms, and the sizes, colours and categories the
// facets list. It is read-only once built.
type vocab struct {
	words map[string]bool
	byLen map[int][]string
	// byLenFirst holds the words by length and first byte: a word short
	// enough for one typo matches only words with its first letter.
	byLenFirst map[lenFirst][]string
	sorted     []string              // words, sorted, for prefix matches
	products   map[string][]string   // handle → its name words
	titles     map[string][][]string // handle → the content words of each title
	sizes      map[string]bool       // size keys
	colours    map[string]bool       // colour keys
	// categories are the facet's categories, most products first.
	categories []string
	synonyms   []synonymRule
	charts     map[string]catalog.SizeChart
	// colourOf and sizeOf cache the keys of the catalog's colour and size
	// words, which catalog.ColourKey and SizeKey compute at some cost.
	colourOf map[string]string
	sizeOf   map[string]string
	built    time.Time
}

// lenFirst is a word's length in bytes and its first byte.
type lenFirst struct {
	n     int
	first byte
}

// synonymRule is a merchandiser's synonym in folded words.
type synonymRule struct {
	term []string
	alts [][]string
}

// newVocab builds the vocabulary from the catalog's products, synonyms,
// size charts and facets. lx canonicalizes gender words.
func newVocab(lx *lexicon, products []catalog.Product, syns []catalog.Synonym, charts []catalog.SizeChart, facets map[string]map[string]int) *vocab {
	v := &vocab{
		words:      map[string]bool{},
		byLen:      map[int][]string{},
		byLenFirst: map[lenFirst][]string{},
		products:   map[string][]string{},
		titles:     map[string][][]string{},
		sizes:      map[string]bool{},
		colours:    map[string]bool{},
		charts:     map[string]catalog.SizeChart{},
		colourOf:   map[string]string{},
		sizeOf:     map[string]string{},
	}
	addWords := func(ws []string) {
		for _, w := range ws {
			if !v.words[w] {
				v.words[w] = true
				v.byLen[len(w)] = append(v.byLen[len(w)], w)
				lf := lenFirst{len(w), w[0]}
				v.byLenFirst[lf] = append(v.byLenFirst[lf], w)
			}
		}
	}
	for i := range products {
		p := &products[i]
		ws := productWords(lx, p)
		v.products[p.Handle] = ws
		v.titles[p.Handle] = titleWords(lx, p)
		addWords(ws)
		for _, vr := range p.Variants {
			if _, ok := v.sizeOf[vr.Size]; !ok {
				v.sizeOf[vr.Size] = catalog.SizeKey(vr.Size)
			}
			if _, ok := v.colourOf[vr.Colour]; !ok {
				v.colourOf[vr.Colour] = catalog.ColourKey(vr.Colour)
			}
			v.sizes[v.sizeOf[vr.Size]] = true
			if c := v.colourOf[vr.Colour]; c != "" {
				v.colours[c] = true
			}
		}
	}
	for _, s := range syns {
		r := synonymRule{term: contentWords(lx, s.Term)}
		if len(r.term) == 0 {
			continue
		}
		addWords(r.term)
		for _, a := range s.Alternatives {
			if ws := contentWords(lx, a); len(ws) > 0 {
				r.alts = append(r.alts, ws)
				addWords(ws)
			}
		}
		v.synonyms = append(v.synonyms, r)
	}
	for _, c := range charts {
		v.charts[c.Name] = c
	}
	for s := range facets[catalog.FacetSize] {
		v.sizes[catalog.SizeKey(s)] = true
	}
	for c := range facets[catalog.FacetColour] {
		v.colours[c] = true
	}
	cats := facets[catalog.FacetCategory]
	for c := range cats {
		v.categories = append(v.categories, c)
	}
	sort.Slice(v.categories, func(i, j int) bool {
		a, b := v.categories[i], v.categories[j]
		if cats[a] != cats[b] {
			return cats[a] > cats[b]
		}
		return a < b
	})
	for w := range v.words {
		v.sorted = append(v.sorted, w)
	}
	sort.Strings(v.sorted)
	return v
}

// colourKey is catalog.ColourKey, cached for the catalog's own words.
func (v *vocab) colourKey(raw string) string {
	if v != nil {
		if k, ok := v.colourOf[raw]; ok {
			return k
		}
	}
	return catalog.ColourKey(raw)
}

// sizeKey is catalog.SizeKey, cached for the catalog's own sizes.
func (v *vocab) sizeKey(raw string) string {
	if v != nil {
		if k, ok := v.sizeOf[raw]; ok {
			return k
		}
	}
	return catalog.SizeKey(raw)
}

// productWords returns the words naming p in every language: titles, brand
// and category, without stop words, genders canonicalized.
func productWords(lx *lexicon, p *catalog.Product) []string {
	var ws []string
	ws = append(ws, contentWords(lx, p.Title)...)
	for _, t := range p.Titles {
		ws = append(ws, contentWords(lx, t)...)
	}
	ws = append(ws, contentWords(lx, p.Brand)...)
	ws = append(ws, contentWords(lx, p.Category)...)
	sort.Strings(ws)
	return compact(ws)
}

// titleWords returns the content words of each of p's titles, in the
// shop's language and the others.
func titleWords(lx *lexicon, p *catalog.Product) [][]string {
	out := make([][]string, 0, 1+len(p.Titles))
	out = append(out, contentWords(lx, p.Title))
	for _, t := range p.Titles {
		out = append(out, contentWords(lx, t))
	}
	return out
}

func compact(ws []string) []string {
	out := ws[:0]
	for i, w := range ws {
		if i == 0 || w != ws[i-1] {
			out = append(out, w)
		}
	}
	return out
}

// contentWords tokenizes s, drops stop words and single letters, and
// replaces gender words with their canonical form.
func contentWords(lx *lexicon, s string) []string {
	var out []string
	for _, w := range words(s) {
		if p := lx.single(w); p != nil {
			if p.kinds&kGender != 0 {
				out = append(out, genderWord(p.gender))
				continue
			}
			if p.kinds&kStop != 0 {
				continue
			}
		}
		if len(w) < 2 {
			continue
		}
		out = append(out, w)
	}
	return out
}

// genderWord is the canonical product word for a gender.
func genderWord(g string) string { return "_" + g }

// single returns the one-word phrase w, or nil.
func (lx *lexicon) single(w string) *phrase {
	for _, p := range lx.byFirst[w] {
		if len(p.words) == 1 {
			return p
		}
	}
	return nil
}

// known reports how the folded word w matches the vocabulary: exactly (0),
// with typos (1 or 2), as the prefix of a word (3), or not (-1).
func (v *vocab) known(w string) int {
	if v.words[w] {
		return 0
	}
	if k := typoBudget(len(w)); k > 0 {
		// With one typo allowed (as typoMatch counts), a wrong first letter
		// is too many: only words with w's first letter can match.
		firstOnly := typoBudget(utf8.RuneCountInString(w)) == 1
		best := -1
		for n := len(w) - k; n <= len(w)+k; n++ {
			cands := v.byLen[n]
			if firstOnly {
				cands = v.byLenFirst[lenFirst{n, w[0]}]
			}
			for _, cand := range cands {
				if d := typoMatch(w, cand); d > 0 && (best < 0 || d < best) {
					best = d
				}
			}
		}
		if best > 0 {
			return best
		}
	}
	if len(w) >= 4 {
		i := sort.SearchStrings(v.sorted, w)
		if i < len(v.sorted) && strings.HasPrefix(v.sorted[i], w) {
			return 3
		}
	}
	return -1
}

// vocabCache keeps the vocabulary for a short time and rebuilds it from the
// catalog when it is older. One caller rebuilds; the others use the old
// vocabulary meanwhile, or wait for the first one.
type vocabCache struct {
	cat Catalog
	lx  *lexicon
	ttl time.Duration
	now func() time.Time

	mu      sync.Mutex // held while building
	current atomic.Pointer[vocab]
}

// pageSize is how many products one vocabulary search reads.
const pageSize = 500

// get returns a vocabulary no older than the TTL when it can.
func (c *vocabCache) get(ctx context.Context) (*vocab, error) {
	v := c.current.Load()
	if v != nil && c.now().Sub(v.built) < c.ttl {
		return v, nil
	}
	if v != nil {
		if !c.mu.TryLock() {
			return v, nil // someone is rebuilding; the old one will do
		}
	} else {
		c.mu.Lock()
	}
	defer c.mu.Unlock()
	if cur := c.current.Load(); cur != nil && c.now().Sub(cur.built) < c.ttl {
		return cur, nil
	}
	nv, err := c.build(ctx)
	if err != nil {
		if v != nil {
			return v, nil // keep the stale one while the catalog is away
		}
		return nil, err
	}
	c.current.Store(nv)
	return nv, nil
}

func (c *vocabCache) build(ctx context.Context) (*vocab, error) {
	var products []catalog.Product
	var facets map[string]map[string]int
	for offset := 0; ; offset += pageSize {
		res, err := c.cat.Search(ctx, catalog.Query{Facets: offset == 0, Limit: pageSize, Offset: offset})
		if err != nil {
			return nil, fmt.Errorf("dialogs: load vocabulary: %w", err)
		}
		if offset == 0 {
			facets = res.Facets
		}
		products = append(products, res.Products...)
		if len(res.Products) < pageSize || offset+pageSize >= res.Total {
			break
		}
	}
	syns, err := c.cat.Synonyms(ctx)
	if err != nil {
		return nil, fmt.Errorf("dialogs: load synonyms: %w", err)
	}
	charts, err := c.cat.SizeCharts(ctx)
	if err != nil {
		return nil, fmt.Errorf("dialogs: load size charts: %w", err)
	}
	v := newVocab(c.lx, products, syns, charts, facets)
	v.built = c.now()
	return v, nil
}
