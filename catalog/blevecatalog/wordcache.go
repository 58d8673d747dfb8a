package blevecatalog

import (
	"fmt"
	"sync"
	"unicode/utf8"
	"weak"

	"github.com/blevesearch/bleve/v2/index/scorch"
	index "github.com/blevesearch/bleve_index_api"
)

// Finding the words within a typo of a query word builds a Levenshtein
// automaton and walks the dictionary with it, and a prefix walks the
// dictionary too, field by field; then a searcher per field and kind of
// match reads the postings. That is most of a search's cost, for what
// depends only on the word and the index. So the index keeps, for the
// snapshot searched last, the terms each word reaches and the documents it
// matches with their scores, and drops it all when a write makes a new
// snapshot.

// Limits of the cache.
const (
	// maxCachedWords bounds the words kept per snapshot; the cache starts
	// over when full.
	maxCachedWords = 4096
	// maxCachedPrefix bounds the terms a prefix may reach in one field and
	// be kept: a shorter prefix is searched as a prefix each time.
	maxCachedPrefix = 256
	// maxWordMatches bounds the documents kept for one word: a word that
	// matches more is searched each time.
	maxWordMatches = 4096
	// maxCachedMatches bounds the documents kept for all words of a
	// snapshot, about 16 bytes each; the matches start over when full.
	maxCachedMatches = 1 << 18
)

// wordTerms are the indexed terms one query word reaches, field by field
// (in textFields' order), in one snapshot of the index.
type wordTerms struct {
	// typo1 and typo2 say whether the word reaches any term with one or two
	// typos in the words field, which decides the word's leaves.
	typo1, typo2 bool
	fields       []fieldTerms
}

// fieldTerms are the terms of one field a query word reaches.
type fieldTerms struct {
	exact        []string // the word itself, if the field holds it
	typo1, typo2 []string
	prefix       []string // with the word as prefix, the word included
	// prefixMany means the prefix reaches more than maxCachedPrefix terms:
	// prefix is not kept and the search walks the dictionary.
	prefixMany bool
}

// wordCache holds what the words searched in one snapshot of the index
// reach and match. Its zero value is ready to use; it is safe for
// concurrent use.
type wordCache struct {
	mu   sync.Mutex
	snap weak.Pointer[scorch.IndexSnapshot] // the snapshot cur belongs to
	cur  *snapshotWords
	// matchesOff turns the matches off, for tests comparing searches with
	// and without them.
	matchesOff bool
}

// snapshotWords is what the cache holds for one snapshot.
type snapshotWords struct {
	terms map[word]*wordTerms
	// matches holds a nil value for a word that matches too many documents.
	matches map[word]*wordMatches
	kept    int // documents in matches
}

// current returns what the cache holds for r, or nil if r is not a snapshot
// it can tell apart. For another snapshot than the cache's, adopt starts
// the cache over for r, else current returns nil. c.mu must be held.
func (c *wordCache) current(r index.IndexReader, adopt bool) *snapshotWords {
	snap, ok := r.(*scorch.IndexSnapshot)
	if !ok {
		return nil
	}
	// A weak pointer tells the snapshot apart without keeping it, and the
	// segments it holds, in memory once the index has moved on.
	if wp := weak.Make(snap); c.snap != wp || c.cur == nil {
		if !adopt {
			return nil
		}
		c.snap, c.cur = wp, &snapshotWords{}
	}
	return c.cur
}

// lookup returns the terms w reaches in the snapshot r, from the cache when
// r is the snapshot it holds.
func (c *wordCache) lookup(r index.IndexReader, w word) (*wordTerms, error) {
	c.mu.Lock()
	sw := c.current(r, true)
	var wt *wordTerms
	if sw != nil {
		wt = sw.terms[w]
	}
	c.mu.Unlock()
	if wt != nil {
		return wt, nil
	}
	wt, err := lookupTerms(r, w)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if sw != nil && c.cur == sw {
		if sw.terms == nil || len(sw.terms) >= maxCachedWords {
			sw.terms = make(map[word]*wordTerms)
		}
		sw.terms[w] = wt
	}
	c.mu.Unlock()
	return wt, nil
}

// matches returns the documents w matches in the snapshot r, if the cache
// holds them. known reports that the cache has tried: with a nil wm, w
// matches too many documents to keep, or r is no snapshot the cache knows.
func (c *wordCache) matches(r index.IndexReader, w word) (wm *wordMatches, known bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	sw := c.current(r, true)
	if sw == nil || c.matchesOff {
		return nil, true
	}
	wm, known = sw.matches[w]
	return wm, known
}

// keep remembers the documents w matches in the snapshot r, nil for too
// many, unless the cache has moved on to another snapshot.
func (c *wordCache) keep(r index.IndexReader, w word, wm *wordMatches) {
	c.mu.Lock()
	defer c.mu.Unlock()
	sw := c.current(r, false)
	if sw == nil {
		return
	}
	if sw.matches == nil || len(sw.matches) >= maxCachedWords || sw.kept+wm.len() > maxCachedMatches {
		sw.matches, sw.kept = make(map[word]*wordMatches), 0
	}
	sw.matches[w] = wm
	sw.kept += wm.len()
}

// lookupTerms finds the terms w reaches in r's dictionaries.
func lookupTerms(r index.IndexReader, w word) (*wordTerms, error) {
	typo1, typo2, err := typos(r, w)
	if err != nil {
		return nil, err
	}
	cr, ok := r.(index.IndexReaderContains)
	if !ok {
		return nil, fmt.Errorf("blevecatalog: index reader %T cannot look terms up", r)
	}
	wt := &wordTerms{typo1: len(typo1) > 0, typo2: len(typo2) > 0, fields: make([]fieldTerms, len(textFields))}
	for fi, f := range textFields {
		ft := &wt.fields[fi]
		d, err := cr.FieldDictContains(f.name)
		if err != nil {
			return nil, fmt.Errorf("blevecatalog: look terms up: %w", err)
		}
		ft.exact, err = held(d, []string{w.term})
		if err == nil {
			ft.typo1, err = held(d, typo1)
		}
		if err == nil {
			ft.typo2, err = held(d, typo2)
		}
		if c, ok := d.(interface{ Close() error }); ok {
			if cerr := c.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			return nil, fmt.Errorf("blevecatalog: look terms up: %w", err)
		}
		if w.prefix {
			if ft.prefix, ft.prefixMany, err = prefixed(r, f.name, w.term); err != nil {
				return nil, fmt.Errorf("blevecatalog: look prefix up: %w", err)
			}
		}
	}
	return wt, nil
}

// held returns the terms d holds, nil for none.
func held(d index.FieldDictContains, terms []string) ([]string, error) {
	var out []string
	for _, t := range terms {
		ok, err := d.Contains([]byte(t))
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, t)
		}
	}
	return out, nil
}

// prefixed returns the terms of field that start with prefix, or many if
// there are more than maxCachedPrefix.
func prefixed(r index.IndexReader, field, prefix string) (terms []string, many bool, err error) {
	d, err := r.FieldDictPrefix(field, []byte(prefix))
	if err != nil {
		return nil, false, err
	}
	defer func() {
		if cerr := d.Close(); err == nil && cerr != nil {
			err = cerr
		}
	}()
	for {
		e, err := d.Next()
		if err != nil {
			return nil, false, err
		}
		if e == nil {
			return terms, false, nil
		}
		if len(terms) == maxCachedPrefix {
			return nil, true, nil
		}
		terms = append(terms, e.Term)
	}
}

// typos returns the indexed words one typo and two typos away from w, in
// the words field, which holds every searchable word.
func typos(i index.IndexReader, w word) (typo1, typo2 []string, err error) {
	n := utf8.RuneCountInString(w.term)
	if w.numeric || w.exact || n < oneTypoLen {
		return nil, nil, nil
	}
	fr, ok := i.(index.IndexReaderFuzzy)
	if !ok {
		return nil, nil, fmt.Errorf("blevecatalog: index reader %T has no fuzzy dictionary", i)
	}
	_, size := utf8.DecodeRuneInString(w.term)
	first := w.term[:size]
	seen := map[string]bool{w.term: true}
	collect := func(fuzziness int, prefix string) ([]string, error) {
		fd, err := fr.FieldDictFuzzy(fieldWords, w.term, fuzziness, prefix)
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
			return nil, nil, fmt.Errorf("blevecatalog: look typos up: %w", err)
		}
		return typo1, nil, nil
	}
	// A wrong first letter counts as two typos: alone, it is allowed here.
	if typo1, err = collect(1, ""); err != nil {
		return nil, nil, fmt.Errorf("blevecatalog: look typos up: %w", err)
	}
	if typo2, err = collect(2, first); err != nil {
		return nil, nil, fmt.Errorf("blevecatalog: look typos up: %w", err)
	}
	return typo1, typo2, nil
}
