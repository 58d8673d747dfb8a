package blevecatalog

import (
	"slices"

	"github.com/blevesearch/bleve/v2/analysis/analyzer/custom"
	"github.com/blevesearch/bleve/v2/analysis/analyzer/keyword"
	"github.com/blevesearch/bleve/v2/analysis/char/asciifolding"
	"github.com/blevesearch/bleve/v2/analysis/token/lowercase"
	"github.com/blevesearch/bleve/v2/analysis/tokenizer/unicode"
	"github.com/blevesearch/bleve/v2/mapping"

	"github.com/bottega-shop/bottega/catalog"
)

const (
	// textAnalyzer folds accents, splits on Unicode word boundaries and
	// lowercases. It does not stem: neither does Meilisearch.
	textAnalyzer = "bottega_text"

	// mappingVersion is stored in on-disk indexes; a different value means
	// the index was built by another mapping and is rebuilt.
	mappingVersion = "bottega-catalog-4"
	versionKey     = "bottega_mapping_version"

	defaultLimit   = 20
	maxFacetValues = 100
)

// Searchable fields in Meilisearch's attribute order, with their weight in
// the ranking (title above description).
var textFields = []struct {
	name   string
	weight float64
}{
	{"title", 5},
	{"titles", 4},
	{"brand", 3},
	{"category", 2},
	{"description", 1},
}

// fieldWords holds the words of every searchable field. Only its dictionary
// is used: to find the words within reach of a typo once, not per field.
const fieldWords = "words"

// Keyword fields, indexed as single unchanged tokens.
const (
	fieldBrandKey    = "brand_key"
	fieldCategoryKey = "category_key"
	fieldVariantKeys = "variant_keys"
	fieldStockKeys   = "stock_keys"
	// fieldFacets holds every facet value behind a one-letter code ("s42.5",
	// "blupo"): counting facets decompresses every doc-value chunk the
	// matches touch, so shorter values are faster.
	fieldFacets = "facets"
)

// facetCodes are the one-letter codes of the facets in fieldFacets.
var facetCodes = map[string]byte{
	catalog.FacetSize:     's',
	catalog.FacetColour:   'c',
	catalog.FacetBrand:    'b',
	catalog.FacetCategory: 'k',
}

func newMapping() (*mapping.IndexMappingImpl, error) {
	im := mapping.NewIndexMapping()
	err := im.AddCustomAnalyzer(textAnalyzer, map[string]any{
		"type":          custom.Name,
		"char_filters":  []string{asciifolding.Name},
		"tokenizer":     unicode.Name,
		"token_filters": []string{lowercase.Name},
	})
	if err != nil {
		return nil, err
	}
	im.DefaultAnalyzer = textAnalyzer
	im.IndexDynamic = false
	im.StoreDynamic = false
	im.DocValuesDynamic = false

	dm := mapping.NewDocumentStaticMapping()
	dm.AddSubDocumentMapping("_all", mapping.NewDocumentDisabledMapping())
	fields := []string{fieldWords}
	for _, f := range textFields {
		fields = append(fields, f.name)
	}
	for _, name := range fields {
		fm := mapping.NewTextFieldMapping()
		fm.Analyzer = textAnalyzer
		fm.Store = false
		fm.IncludeInAll = false
		fm.IncludeTermVectors = false
		fm.DocValues = false
		fm.SkipFreqNorm = true // leaves are scored by constants, see query.go
		dm.AddFieldMappingsAt(name, fm)
	}
	for _, name := range []string{fieldBrandKey, fieldCategoryKey, fieldVariantKeys, fieldStockKeys, fieldFacets} {
		fm := mapping.NewKeywordFieldMapping()
		fm.Analyzer = keyword.Name
		fm.Store = false
		fm.IncludeInAll = false
		fm.IncludeTermVectors = false
		fm.SkipFreqNorm = true
		// Facet counts read doc values; filters only need the terms.
		fm.DocValues = name == fieldFacets
		dm.AddFieldMappingsAt(name, fm)
	}
	im.DefaultMapping = dm
	if err := im.Validate(); err != nil {
		return nil, err
	}
	return im, nil
}

// indexDoc is what bleve indexes for a catalog document. Brand and category
// are also kept folded, as keywords, for equality filters and facets. It
// shares nothing with d, which the caller may reuse.
func indexDoc(d *catalog.Document) map[string]any {
	words := make([]string, 0, 4+len(d.Titles))
	words = append(words, d.Title, d.Brand, d.Category, d.Description)
	words = append(words, d.Titles...)
	facets := make([]string, 0, len(d.Sizes)+len(d.Colours)+2)
	for _, v := range d.Sizes {
		facets = append(facets, facetValue(catalog.FacetSize, v))
	}
	for _, v := range d.Colours {
		facets = append(facets, facetValue(catalog.FacetColour, v))
	}
	m := map[string]any{
		"title":          d.Title,
		"titles":         slices.Clone(d.Titles),
		"brand":          d.Brand,
		"category":       d.Category,
		"description":    d.Description,
		fieldWords:       words,
		fieldVariantKeys: slices.Clone(d.VariantKeys),
		fieldStockKeys:   slices.Clone(d.StockKeys),
	}
	if k := catalog.Fold(d.Brand); k != "" {
		m[fieldBrandKey] = k
		facets = append(facets, facetValue(catalog.FacetBrand, k))
	}
	if k := catalog.Fold(d.Category); k != "" {
		m[fieldCategoryKey] = k
		facets = append(facets, facetValue(catalog.FacetCategory, k))
	}
	m[fieldFacets] = facets
	return m
}

func facetValue(facet, v string) string { return string(facetCodes[facet]) + v }
