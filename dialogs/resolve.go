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

// resolve searches the catalog for the product words (the search forgives
// typos) and ranks what comes back by how well it covers the words.
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
	res, err := e.cat.Search(ctx, catalog.Query{Text: text, Limit: 10})
	if err != nil {
		return resolution{}, err
	}
	type scored struct {
		score float64
		hits  int
	}
	scores := make([]scored, len(res.Products))
	top := 0.0
	for i := range res.Products {
		p := &res.Products[i]
		pw, ok := v.products[p.Handle]
		if !ok {
			pw = productWords(e.lex, p)
		}
		s, hits := scoreProduct(u.Product, pw)
		if hits > 0 && namesAll(e.lex, p, u.Product) {
			s += 0.5
		}
		scores[i] = scored{s, hits}
		top = max(top, s)
	}
	var out resolution
	if top == 0 {
		return out, nil
	}
	for i, sc := range scores {
		if top-sc.score < 1e-9 {
			out.best = append(out.best, res.Products[i])
			if sc.hits < len(u.Product) {
				out.partial = true
			}
		}
	}
	return out, nil
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

// namesAll reports whether the slots name every word of one of p's titles:
// "trail runner" is the Trail Runner itself, not one of many trail shoes.
func namesAll(lx *lexicon, p *catalog.Product, slots []slot) bool {
	check := func(title string) bool {
		tw := contentWords(lx, title)
		if len(tw) == 0 {
			return false
		}
		for _, w := range tw {
			found := false
			for _, s := range slots {
				if phraseScore(s.words, []string{w}) > 0 {
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
	if check(p.Title) {
		return true
	}
	for _, t := range p.Titles {
		if check(t) {
			return true
		}
	}
	return false
}
