package catalog

import (
	"context"
	"sort"
)

// Document is what the search index holds for one active product. Both index
// backends index the same documents and filter only on scalar keys, so a
// product with a red 41 and a black 42 never matches "red 42": every variant
// contributes "colour|size" keys (with * for "any"), and a query filters on
// the combined key.
type Document struct {
	// ID is the product handle; it is also Meilisearch's primary key.
	ID          string   `json:"id"`
	Title       string   `json:"title"`
	Titles      []string `json:"titles,omitempty"`
	Brand       string   `json:"brand,omitempty"`
	Category    string   `json:"category,omitempty"`
	Description string   `json:"description,omitempty"`
	// Colours are the canonical colour keys of the variants ("red").
	Colours []string `json:"colours"`
	// Sizes are the normalized sizes of the variants ("42.5", "M").
	Sizes []string `json:"sizes"`
	// VariantKeys hold every variant's keys, StockKeys only those in stock.
	VariantKeys []string `json:"variant_keys"`
	StockKeys   []string `json:"stock_keys"`
	// Available is 1 when any variant is in stock; search ranks it after relevance.
	Available  int   `json:"available"`
	PriceMinor int64 `json:"price_minor"`
}

// Facet names returned by Index.Search.
const (
	FacetSize     = "size"
	FacetColour   = "colour"
	FacetBrand    = "brand"
	FacetCategory = "category"
)

// Facets lists the facet names in a stable order.
var Facets = []string{FacetSize, FacetColour, FacetBrand, FacetCategory}

// VariantKey is the filter key for a colour and size; "" means any.
func VariantKey(colour, size string) string {
	if colour == "" {
		colour = "*"
	}
	if size == "" {
		size = "*"
	}
	return colour + "|" + size
}

// NewDocument builds the search document for a product.
func NewDocument(p *Product) Document {
	d := Document{
		ID:          p.Handle,
		Title:       p.Title,
		Brand:       p.Brand,
		Category:    p.Category,
		Description: p.Description,
		PriceMinor:  p.PriceMinor,
	}
	langs := make([]string, 0, len(p.Titles))
	for l := range p.Titles {
		langs = append(langs, l)
	}
	sort.Strings(langs)
	for _, l := range langs {
		d.Titles = append(d.Titles, p.Titles[l])
	}
	colours, sizes := set{}, set{}
	vkeys, skeys := set{}, set{}
	for _, v := range p.Variants {
		c, s := ColourKey(v.Colour), SizeKey(v.Size)
		if c != "" {
			colours.add(c)
		}
		sizes.add(s)
		keys := []string{VariantKey(c, s), VariantKey(c, ""), VariantKey("", s), VariantKey("", "")}
		vkeys.add(keys...)
		if v.Stock > 0 {
			skeys.add(keys...)
			d.Available = 1
		}
	}
	d.Colours, d.Sizes = colours.sorted(), sizes.list()
	SortSizes(d.Sizes)
	d.VariantKeys, d.StockKeys = vkeys.sorted(), skeys.sorted()
	return d
}

type set map[string]bool

func (s set) add(vs ...string) {
	for _, v := range vs {
		s[v] = true
	}
}

func (s set) list() []string {
	out := make([]string, 0, len(s))
	for v := range s {
		out = append(out, v)
	}
	return out
}

func (s set) sorted() []string {
	out := s.list()
	sort.Strings(out)
	return out
}

// Query is a catalog search.
type Query struct {
	// Text is matched against titles, brand, category and description with
	// Meilisearch's rules: per-word typo tolerance (none up to 4 letters, one
	// from 5, two from 9, a wrong first letter counts as two, a transposition
	// as one), the last word also matched as a prefix, synonyms expanded, and
	// words dropped from the right when nothing matches them all.
	Text string
	// Sizes and Colours keep products with a variant of one of the sizes in
	// one of the colours (normalized with SizeKey and ColourKey).
	Sizes   []string
	Colours []string
	// InStock keeps only variants with stock when filtering by size and colour,
	// and only products with stock otherwise.
	InStock  bool
	Brand    string
	Category string
	// Facets asks for value counts over every matching product.
	Facets bool
	// Limit defaults to 20.
	Limit  int
	Offset int
}

// FilterKeys returns the variant keys a product must hold one of, and whether
// to look in StockKeys (true) or VariantKeys (false). No keys means no
// variant filter.
func (q Query) FilterKeys() (keys []string, inStock bool) {
	if len(q.Sizes) == 0 && len(q.Colours) == 0 && !q.InStock {
		return nil, false
	}
	colours, sizes := q.Colours, q.Sizes
	if len(colours) == 0 {
		colours = []string{""}
	}
	if len(sizes) == 0 {
		sizes = []string{""}
	}
	for _, c := range colours {
		for _, s := range sizes {
			if s != "" {
				s = SizeKey(s)
			}
			keys = append(keys, VariantKey(ColourKey(c), s))
		}
	}
	return keys, q.InStock
}

// Hit is one matching product.
type Hit struct {
	ID string `json:"id"`
}

// Result is a page of hits, with facet counts when asked for.
type Result struct {
	Hits []Hit `json:"hits"`
	// Total estimates how many products match.
	Total int `json:"total"`
	// Facets maps a facet name to value counts.
	Facets map[string]map[string]int `json:"facets,omitempty"`
}

// Index is catalog search. Implementations must behave alike for everything
// Query describes; catalogtest.TestIndex holds them to it.
type Index interface {
	// Put adds or replaces documents by ID, returning once they are searchable.
	Put(ctx context.Context, docs []Document) error
	// Remove deletes documents by ID; unknown IDs are ignored.
	Remove(ctx context.Context, ids []string) error
	// Clear removes every document.
	Clear(ctx context.Context) error
	// SetSynonyms replaces the synonyms used by Search.
	SetSynonyms(ctx context.Context, syns []Synonym) error
	// Search ranks matches by relevance, then availability.
	Search(ctx context.Context, q Query) (Result, error)
	// Ping reports whether the index answers.
	Ping(ctx context.Context) error
	// Close releases the index.
	Close() error
}
