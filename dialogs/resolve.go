package dialogs

import (
	"context"
	"strings"

	"github.com/bottega-shop/bottega/catalog"
)

// maxChoices is how many products a choice list offers.
const maxChoices = 5

// resolution is what the product words name.
type resolution struct {
	// best are the products that match best: one when the words name one
	// product, several when they fit several equally well, none when
	// nothing in the catalog fits.
	best []catalog.Product
	// partial means the best match only some of the words.
	partial bool
}

// matcher is a catalog that searches its index without reading the
// products, and reads the products it is given: *catalog.Service is one.
// With it, resolve reads from the store only the products the answer
// names, rather than every hit.
type matcher interface {
	Match(ctx context.Context, q catalog.Query) (catalog.Result, error)
	Products(ctx context.Context, handles []string) ([]catalog.Product, error)
}

// resolveLimit is how many hits of the catalog search resolve ranks.
const resolveLimit = 10

// resolve searches the catalog for the product words (the search forgives
// typos) and ranks what comes back by how well it covers the words. The
// products it returns are read from the store in this turn.
func (e *Engine) resolve(ctx context.Context, v *vocab, u *understanding) (resolution, error) {
	text := u.text()
	if text == "" {
		for _, g := range u.Genders {
			text += " " + genderSearchWord(e.lex, g)
		}
		text = strings.TrimSpace(text)
	}
	if text == "" {
		return resolution{}, nil
	}
	q := catalog.Query{Text: text, Limit: resolveLimit}
	m, ok := e.cat.(matcher)
	if !ok {
		res, err := e.cat.Search(ctx, q)
		if err != nil {
			return resolution{}, err
		}
		cs := make([]candidate, len(res.Products))
		for i := range res.Products {
			cs[i] = e.candidate(v, u, res.Products[i].Handle, &res.Products[i])
		}
		return pickBest(cs, u), nil
	}
	res, err := m.Match(ctx, q)
	if err != nil {
		return resolution{}, err
	}
	return e.rankHits(ctx, m, v, u, res.Hits)
}

// rankHits scores the hits by the vocabulary's words for them and reads
// the best from the store, for their stock now. A hit the vocabulary does
// not know yet (a product put since it was built) is read to be scored by
// its words. A hit deleted or deactivated since it was indexed leaves the
// ranking, which may make others the best.
func (e *Engine) rankHits(ctx context.Context, m matcher, v *vocab, u *understanding, hits []catalog.Hit) (resolution, error) {
	var unknown []string
	for _, h := range hits {
		if _, ok := v.products[h.ID]; !ok {
			unknown = append(unknown, h.ID)
		}
	}
	read := make(map[string]*catalog.Product, 4)
	if err := readInto(ctx, m, unknown, read); err != nil {
		return resolution{}, err
	}
	cs := make([]candidate, 0, len(hits))
	for _, h := range hits {
		p, isRead := read[h.ID]
		_, known := v.products[h.ID]
		if isRead && !p.Active || !known && !isRead {
			continue
		}
		cs = append(cs, e.candidate(v, u, h.ID, p))
	}
	for {
		var missing []string
		for _, c := range bestOf(cs) {
			if c.p == nil {
				missing = append(missing, c.handle)
			}
		}
		if len(missing) == 0 {
			return pickBest(cs, u), nil
		}
		if err := readInto(ctx, m, missing, read); err != nil {
			return resolution{}, err
		}
		kept := cs[:0]
		for _, c := range cs {
			if contains(missing, c.handle) {
				p, ok := read[c.handle]
				if !ok || !p.Active {
					continue
				}
				c.p = p
			}
			kept = append(kept, c)
		}
		cs = kept
	}
}

// readInto reads the products named by handles into read, by handle.
func readInto(ctx context.Context, m matcher, handles []string, read map[string]*catalog.Product) error {
	if len(handles) == 0 {
		return nil
	}
	ps, err := m.Products(ctx, handles)
	if err != nil {
		return err
	}
	for i := range ps {
		read[ps[i].Handle] = &ps[i]
	}
	return nil
}

// candidate is one hit of the catalog search, scored.
type candidate struct {
	handle string
	p      *catalog.Product // nil until read
	score  float64
	hits   int // slots matched
}

// candidate scores the hit handle by the vocabulary's words for it, or by
// p's own when the vocabulary does not know it.
func (e *Engine) candidate(v *vocab, u *understanding, handle string, p *catalog.Product) candidate {
	pw, ok := v.products[handle]
	titles := v.titles[handle]
	if !ok {
		pw, titles = productWords(e.lex, p), titleWords(e.lex, p)
	}
	s, hits := scoreProduct(u.Product, pw)
	if hits > 0 && namesAll(titles, u.Product) {
		s += 0.5
	}
	return candidate{handle: handle, p: p, score: s, hits: hits}
}

// bestOf returns the candidates with the top score, none when nothing
// scores.
func bestOf(cs []candidate) []candidate {
	top := 0.0
	for _, c := range cs {
		top = max(top, c.score)
	}
	if top == 0 {
		return nil
	}
	var out []candidate
	for _, c := range cs {
		if top-c.score < 1e-9 {
			out = append(out, c)
		}
	}
	return out
}

// pickBest returns the best candidates, which have all been read.
func pickBest(cs []candidate, u *understanding) resolution {
	var out resolution
	for _, c := range bestOf(cs) {
		out.best = append(out.best, *c.p)
		if c.hits < len(u.Product) {
			out.partial = true
		}
	}
	return out
}

// genderSearchWord is the words the lexicons list for gender g, for the
// catalog search.
func genderSearchWord(lx *lexicon, g string) string {
	return strings.Join(lx.genders[g], " ")
}

// scoreProduct scores how well the slots match a product's words: 1 for
// an exact word, less for a typo or a prefix. hits counts the slots matched.
func scoreProduct(slots []slot, pw []string) (score float64, hits int) {
	for _, s := range slots {
		best := phraseScore(s.words, pw)
		for _, alt := range s.alts {
			best = max(best, phraseScore(alt, pw))
		}
		if best > 0 {
			hits++
			score += best
		}
	}
	return score, hits
}

// phraseScore is the weakest word's score: every word must match.
func phraseScore(ws, pw []string) float64 {
	score := 1.0
	for _, w := range ws {
		score = min(score, wordScore(w, pw))
		if score == 0 {
			return 0
		}
	}
	return score
}

func wordScore(w string, pw []string) float64 {
	best := 0.0
	for _, p := range pw {
		if p == w {
			return 1
		}
		switch d := typoMatch(w, p); {
		case d == 1:
			best = max(best, 0.8)
		case d == 2:
			best = max(best, 0.6)
		case len(w) >= 3 && strings.HasPrefix(p, w):
			best = max(best, 0.7)
		}
	}
	return best
}

// namesAll reports whether the slots name every word of one of a product's
// titles, given as their content words: "trail runner" is the Trail Runner
// itself, not one of many trail shoes.
func namesAll(titles [][]string, slots []slot) bool {
	for _, tw := range titles {
		if len(tw) > 0 && namesTitle(tw, slots) {
			return true
		}
	}
	return false
}

func namesTitle(tw []string, slots []slot) bool {
	for _, w := range tw {
		one := [1]string{w}
		found := false
		for _, s := range slots {
			if phraseScore(s.words, one[:]) > 0 {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}
