package catalog_test

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	gocmp "github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/bottega-shop/bottega/catalog"
)

// problemsOf returns the problems of a *ValidationError sorted by field, or
// nil for a nil error.
func problemsOf(t *testing.T, err error) []catalog.Problem {
	t.Helper()
	if err == nil {
		return nil
	}
	var ve *catalog.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("error %v (%T) is not a *ValidationError", err, err)
	}
	ps := slices.Clone(ve.Problems)
	slices.SortFunc(ps, func(a, b catalog.Problem) int {
		return cmp.Or(strings.Compare(a.Field, b.Field), strings.Compare(a.Message, b.Message))
	})
	return ps
}

func validProduct() catalog.Product {
	return catalog.Product{
		Handle: "trail-runner", Title: "Trail Runner", Titles: map[string]string{"en": "Trail Runner"},
		Brand: "Vettore", Category: "scarpe da trail", Description: "Leggera.",
		Attributes: map[string]string{"material": "mesh"},
		ImageURL:   "https://bottega.example/img/trail-runner.jpg", PageURL: "http://bottega.example/prodotti/trail-runner",
		PriceMinor: 12990, Currency: "EUR", SizeChart: "shoes-eu", Active: true,
		Variants: []catalog.Variant{
			{SKU: "TRL-RED-41", Size: "41", Colour: "rosso", Stock: 2},
			{SKU: "TRL_BLK/42.5", Size: "42.5", Colour: "nero", Stock: 0, PriceMinor: minorPtr(9990)},
		},
	}
}

func TestProductValidate(t *testing.T) {
	tests := []struct {
		name string
		mod  func(p *catalog.Product)
		want []catalog.Problem // sorted by field, then message
	}{
		{name: "valid", mod: func(p *catalog.Product) {}},
		{name: "minimal", mod: func(p *catalog.Product) {
			*p = catalog.Product{Handle: "a", Title: "A", Currency: "EUR", Variants: []catalog.Variant{{SKU: "A"}}}
		}},
		{name: "handle required", mod: func(p *catalog.Product) { p.Handle = "" },
			want: []catalog.Problem{{Field: "handle", Message: "is required"}}},
		{name: "handle format", mod: func(p *catalog.Product) { p.Handle = "Trail--Runner" },
			want: []catalog.Problem{{Field: "handle", Message: `must be lowercase letters, digits and single dashes, like "trail-runner-42"`}}},
		{name: "handle too long", mod: func(p *catalog.Product) { p.Handle = strings.Repeat("a", catalog.MaxHandleLen+1) },
			want: []catalog.Problem{{Field: "handle", Message: "is longer than 100 characters"}}},
		{name: "title blank", mod: func(p *catalog.Product) { p.Title = "  " },
			want: []catalog.Problem{{Field: "title", Message: "is required"}}},
		{name: "title too long in runes", mod: func(p *catalog.Product) { p.Title = strings.Repeat("è", catalog.MaxTitleLen+1) },
			want: []catalog.Problem{{Field: "title", Message: "is longer than 200 characters"}}},
		{name: "title of 200 accented letters fits", mod: func(p *catalog.Product) { p.Title = strings.Repeat("è", catalog.MaxTitleLen) }},
		{name: "title not UTF-8", mod: func(p *catalog.Product) { p.Title = "Trail \xff" },
			want: []catalog.Problem{{Field: "title", Message: "is not valid UTF-8"}}},
		{name: "title with NUL", mod: func(p *catalog.Product) { p.Title = "Trail\x00Runner" },
			want: []catalog.Problem{{Field: "title", Message: "contains a NUL character"}}},
		{name: "titles", mod: func(p *catalog.Product) { p.Titles = map[string]string{"EN": "Trail", "de": "", "pt-br": "Corredor"} },
			want: []catalog.Problem{
				{Field: "titles.EN", Message: `is not a language tag such as "en" or "it"`},
				{Field: "titles.de", Message: "is required"},
			}},
		{name: "short fields", mod: func(p *catalog.Product) {
			p.Brand, p.Category, p.SizeChart = strings.Repeat("b", 101), strings.Repeat("c", 101), strings.Repeat("s", 101)
			p.Description = strings.Repeat("d", catalog.MaxTextLen+1)
		}, want: []catalog.Problem{
			{Field: "brand", Message: "is longer than 100 characters"},
			{Field: "category", Message: "is longer than 100 characters"},
			{Field: "description", Message: "is longer than 10000 characters"},
			{Field: "size_chart", Message: "is longer than 100 characters"},
		}},
		{name: "attributes", mod: func(p *catalog.Product) {
			p.Attributes = map[string]string{"": "x", "note": strings.Repeat("n", 1001), "material": ""}
		}, want: []catalog.Problem{
			{Field: "attributes", Message: "has an empty name"},
			{Field: "attributes.note", Message: "is longer than 1000 characters"},
		}},
		{name: "too many attributes", mod: func(p *catalog.Product) {
			p.Attributes = map[string]string{}
			for i := range catalog.MaxAttributes + 1 {
				p.Attributes[fmt.Sprint("a", i)] = "x"
			}
		}, want: []catalog.Problem{{Field: "attributes", Message: "has more than 50 entries"}}},
		{name: "urls", mod: func(p *catalog.Product) {
			p.ImageURL, p.PageURL = "ftp://bottega.example/x.jpg", "/prodotti/trail-runner"
		},
			want: []catalog.Problem{
				{Field: "image_url", Message: "must be an absolute http or https URL"},
				{Field: "page_url", Message: "must be an absolute http or https URL"},
			}},
		{name: "negative price", mod: func(p *catalog.Product) { p.PriceMinor = -1 },
			want: []catalog.Problem{{Field: "price_minor", Message: "must not be negative"}}},
		{name: "huge price", mod: func(p *catalog.Product) { p.PriceMinor = catalog.MaxPriceMinor + 1 },
			want: []catalog.Problem{{Field: "price_minor", Message: "is implausibly large"}}},
		{name: "currency", mod: func(p *catalog.Product) { p.Currency = "eur" },
			want: []catalog.Problem{{Field: "currency", Message: "must be a three-letter ISO 4217 code such as EUR"}}},
		{name: "no variants", mod: func(p *catalog.Product) { p.Variants = nil },
			want: []catalog.Problem{{Field: "variants", Message: "needs at least one variant"}}},
		{name: "too many variants", mod: func(p *catalog.Product) {
			p.Variants = nil
			for i := range catalog.MaxVariants + 1 {
				p.Variants = append(p.Variants, catalog.Variant{SKU: fmt.Sprint("S", i)})
			}
		}, want: []catalog.Problem{{Field: "variants", Message: "has more than 500 variants"}}},
		{name: "variant fields", mod: func(p *catalog.Product) {
			p.Variants = []catalog.Variant{
				{SKU: ""},
				{SKU: "-starts-with-dash"},
				{SKU: strings.Repeat("S", catalog.MaxSKULen+1)},
				{SKU: "OK", Size: strings.Repeat("4", 21), Colour: strings.Repeat("r", 51), Stock: -1},
				{SKU: "OK", Stock: catalog.MaxStock + 1, PriceMinor: minorPtr(-5)},
				{SKU: "SPACE IN", PriceMinor: minorPtr(catalog.MaxPriceMinor + 1)},
			}
		}, want: []catalog.Problem{
			{Field: "variants[0].sku", Message: "is required"},
			{Field: "variants[1].sku", Message: "may hold only letters, digits and . _ / -"},
			{Field: "variants[2].sku", Message: "is longer than 64 characters"},
			{Field: "variants[3].colour", Message: "is longer than 50 characters"},
			{Field: "variants[3].size", Message: "is longer than 20 characters"},
			{Field: "variants[3].stock", Message: "must not be negative"},
			{Field: "variants[4].price_minor", Message: "must be between 0 and 100000000000"},
			{Field: "variants[4].sku", Message: `"OK" appears twice in this product`},
			{Field: "variants[4].stock", Message: "is implausibly large"},
			{Field: "variants[5].price_minor", Message: "must be between 0 and 100000000000"},
			{Field: "variants[5].sku", Message: "may hold only letters, digits and . _ / -"},
		}},
		{name: "every problem at once", mod: func(p *catalog.Product) {
			p.Handle, p.Title, p.Currency, p.PriceMinor, p.ImageURL = "Bad Handle", "", "", -1, "nope"
			p.Variants[0].Stock, p.Variants[1].SKU = -3, ""
		}, want: []catalog.Problem{
			{Field: "currency", Message: "must be a three-letter ISO 4217 code such as EUR"},
			{Field: "handle", Message: `must be lowercase letters, digits and single dashes, like "trail-runner-42"`},
			{Field: "image_url", Message: "must be an absolute http or https URL"},
			{Field: "price_minor", Message: "must not be negative"},
			{Field: "title", Message: "is required"},
			{Field: "variants[0].stock", Message: "must not be negative"},
			{Field: "variants[1].sku", Message: "is required"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := validProduct()
			tt.mod(&p)
			err := p.Validate()
			if diff := gocmp.Diff(tt.want, problemsOf(t, err)); diff != "" {
				t.Errorf("Validate() = %v; problems mismatch (-want +got):\n%s", err, diff)
			}
		})
	}
}

func TestSynonymValidate(t *testing.T) {
	tests := []struct {
		name string
		s    catalog.Synonym
		want []catalog.Problem
	}{
		{"valid", catalog.Synonym{Term: "scarpe da trail", Alternatives: []string{"trail running"}}, nil},
		{"no term", catalog.Synonym{Term: " ", Alternatives: []string{"x"}},
			[]catalog.Problem{{Field: "term", Message: "is required"}}},
		{"no alternatives", catalog.Synonym{Term: "felpa"},
			[]catalog.Problem{{Field: "alternatives", Message: "needs at least one alternative"}}},
		{"bad alternatives", catalog.Synonym{Term: strings.Repeat("t", 101), Alternatives: []string{"hoodie", "", "\xfe"}},
			[]catalog.Problem{
				{Field: "alternatives[1]", Message: "is required"},
				{Field: "alternatives[2]", Message: "is not valid UTF-8"},
				{Field: "term", Message: "is longer than 100 characters"},
			}},
	}
	for _, tt := range tests {
		err := tt.s.Validate()
		if diff := gocmp.Diff(tt.want, problemsOf(t, err)); diff != "" {
			t.Errorf("%s: Synonym%+v.Validate() = %v; problems mismatch (-want +got):\n%s", tt.name, tt.s, err, diff)
		}
	}
}

func TestSizeChartValidate(t *testing.T) {
	valid := catalog.SizeChart{Name: "shoes-eu", Kind: "shoe", Systems: []string{"eu", "uk", "us"},
		Rows: [][]string{{"42", "8", "9"}, {"42.5", "8.5", "9.5"}}}
	tests := []struct {
		name string
		mod  func(c *catalog.SizeChart)
		want []catalog.Problem
	}{
		{"valid", func(c *catalog.SizeChart) {}, nil},
		{"one size", func(c *catalog.SizeChart) {
			*c = catalog.SizeChart{Name: "one-size", Kind: "one-size", Systems: []string{"it"}, Rows: [][]string{{"taglia unica"}}}
		}, nil},
		{"no name", func(c *catalog.SizeChart) { c.Name = "" },
			[]catalog.Problem{{Field: "name", Message: "is required"}}},
		{"bad name", func(c *catalog.SizeChart) { c.Name = "Shoes EU" },
			[]catalog.Problem{{Field: "name", Message: "must be lowercase letters, digits and dashes"}}},
		{"bad kind", func(c *catalog.SizeChart) { c.Kind = "hat" },
			[]catalog.Problem{{Field: "kind", Message: "must be one of shoe, apparel, waist, one-size"}}},
		{"no systems, no rows", func(c *catalog.SizeChart) { c.Systems, c.Rows = nil, nil },
			[]catalog.Problem{
				{Field: "rows", Message: "needs at least one row"},
				{Field: "systems", Message: `needs at least one size system, such as "eu"`},
			}},
		{"empty system and short row", func(c *catalog.SizeChart) { c.Systems[1] = ""; c.Rows[1] = []string{"43"} },
			[]catalog.Problem{
				{Field: "rows[1]", Message: "has 1 values for 3 systems"},
				{Field: "systems[1]", Message: "is required"},
			}},
	}
	for _, tt := range tests {
		c := valid
		c.Systems = slices.Clone(valid.Systems)
		c.Rows = slices.Clone(valid.Rows)
		tt.mod(&c)
		err := c.Validate()
		if diff := gocmp.Diff(tt.want, problemsOf(t, err)); diff != "" {
			t.Errorf("%s: SizeChart.Validate() = %v; problems mismatch (-want +got):\n%s", tt.name, err, diff)
		}
	}
}

func TestValidateStockChange(t *testing.T) {
	n := func(i int) *int { return &i }
	tests := []struct {
		name string
		c    catalog.StockChange
		want []catalog.Problem
	}{
		{"set", catalog.StockChange{SKU: "A", Set: n(5)}, nil},
		{"set zero", catalog.StockChange{SKU: "A", Set: n(0)}, nil},
		{"delta down", catalog.StockChange{SKU: "A", Delta: n(-3)}, nil},
		{"no sku", catalog.StockChange{Set: n(1)}, []catalog.Problem{{Field: "sku", Message: "is required"}}},
		{"neither", catalog.StockChange{SKU: "A"}, []catalog.Problem{{Field: "set", Message: "one of set or delta is required"}}},
		{"both", catalog.StockChange{SKU: "A", Set: n(1), Delta: n(1)}, []catalog.Problem{{Field: "set", Message: "give set or delta, not both"}}},
		{"negative set", catalog.StockChange{SKU: "A", Set: n(-1)}, []catalog.Problem{{Field: "set", Message: "stock must not be negative"}}},
		{"huge set", catalog.StockChange{SKU: "A", Set: n(catalog.MaxStock + 1)}, []catalog.Problem{{Field: "set", Message: "is implausibly large"}}},
		{"huge delta", catalog.StockChange{SKU: "A", Delta: n(-catalog.MaxStock - 1)}, []catalog.Problem{{Field: "delta", Message: "is implausibly large"}}},
		{"no sku, neither", catalog.StockChange{}, []catalog.Problem{
			{Field: "set", Message: "one of set or delta is required"},
			{Field: "sku", Message: "is required"},
		}},
	}
	for _, tt := range tests {
		err := catalog.ValidateStockChange(tt.c)
		if diff := gocmp.Diff(tt.want, problemsOf(t, err)); diff != "" {
			t.Errorf("%s: ValidateStockChange() = %v; problems mismatch (-want +got):\n%s", tt.name, err, diff)
		}
	}
}

func TestValidationErrorText(t *testing.T) {
	tests := []struct {
		problems []catalog.Problem
		want     string
	}{
		{[]catalog.Problem{{Row: 3, Field: "sku", Message: "is required"}}, "invalid input: row 3: sku: is required"},
		{[]catalog.Problem{{Message: "the file is empty"}, {Field: "x", Message: "y"}}, "invalid input: 2 problems, first: the file is empty"},
	}
	for _, tt := range tests {
		e := &catalog.ValidationError{Problems: tt.problems}
		if got := e.Error(); got != tt.want {
			t.Errorf("ValidationError%v.Error() = %q, want %q", tt.problems, got, tt.want)
		}
	}
	var empty catalog.ValidationError
	if err := empty.Err(); err != nil {
		t.Errorf("empty ValidationError.Err() = %v, want nil", err)
	}
}

func TestNewDocument(t *testing.T) {
	p := catalog.Product{
		Handle: "trail-runner", Title: "Trail Runner", Titles: map[string]string{"en": "Trail Runner EN", "de": "Trailläufer"},
		Brand: "Vettore", Category: "scarpe da trail", Description: "Leggera.", PriceMinor: 12990, Currency: "EUR",
		Variants: []catalog.Variant{
			{SKU: "R41", Size: "41", Colour: "Rosso", Stock: 2},
			{SKU: "B42", Size: "42", Colour: "nero", Stock: 0},
			{SKU: "B42.5", Size: "42,5", Colour: "Nera", Stock: 1},
		},
	}
	want := catalog.Document{
		ID: "trail-runner", Title: "Trail Runner", Titles: []string{"Trailläufer", "Trail Runner EN"},
		Brand: "Vettore", Category: "scarpe da trail", Description: "Leggera.",
		Colours: []string{"black", "red"},
		Sizes:   []string{"41", "42", "42.5"},
		VariantKeys: []string{
			"*|*", "*|41", "*|42", "*|42.5",
			"black|*", "black|42", "black|42.5",
			"red|*", "red|41",
		},
		StockKeys: []string{
			"*|*", "*|41", "*|42.5",
			"black|*", "black|42.5",
			"red|*", "red|41",
		},
		Available: 1, PriceMinor: 12990,
	}
	got := catalog.NewDocument(&p)
	if diff := gocmp.Diff(want, got); diff != "" {
		t.Errorf("NewDocument() mismatch (-want +got):\n%s", diff)
	}
	// A red 41 and a black 42 must not make a red 42.
	for _, key := range []string{"red|42", "black|41"} {
		if slices.Contains(got.VariantKeys, key) || slices.Contains(got.StockKeys, key) {
			t.Errorf("NewDocument() keys hold %q, which no variant is", key)
		}
	}
	// Black 42 is sold out: it is a variant but not in stock.
	if !slices.Contains(got.VariantKeys, "black|42") || slices.Contains(got.StockKeys, "black|42") || slices.Contains(got.StockKeys, "*|42") {
		t.Errorf("NewDocument() stock keys %v, want black|42 and *|42 left out", got.StockKeys)
	}
}

func TestNewDocumentSoldOutAndPlain(t *testing.T) {
	p := catalog.Product{Handle: "borsa", Title: "Borsa", Currency: "EUR",
		Variants: []catalog.Variant{{SKU: "B1", Stock: 0}, {SKU: "B2", Colour: "turchese", Size: "taglia unica", Stock: 0}}}
	got := catalog.NewDocument(&p)
	want := catalog.Document{
		ID: "borsa", Title: "Borsa",
		Colours:     []string{"turchese"},
		Sizes:       []string{catalog.OneSize},
		VariantKeys: []string{"*|*", "*|OS", "turchese|*", "turchese|OS"},
		StockKeys:   []string{},
		Available:   0,
	}
	if diff := gocmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("NewDocument(sold out, no colour) mismatch (-want +got):\n%s", diff)
	}
}

func TestQueryFilterKeys(t *testing.T) {
	tests := []struct {
		name        string
		q           catalog.Query
		wantKeys    []string
		wantInStock bool
	}{
		{"no filter", catalog.Query{Text: "trail"}, nil, false},
		{"in stock only", catalog.Query{InStock: true}, []string{"*|*"}, true},
		{"size only", catalog.Query{Sizes: []string{"42,5"}}, []string{"*|42.5"}, false},
		{"colour only", catalog.Query{Colours: []string{"Rossa"}}, []string{"red|*"}, false},
		{"colour and size in stock", catalog.Query{Colours: []string{"rosso"}, Sizes: []string{"EU 42"}, InStock: true}, []string{"red|42"}, true},
		{"every combination", catalog.Query{Colours: []string{"rosso", "black"}, Sizes: []string{"42", "m"}},
			[]string{"red|42", "red|M", "black|42", "black|M"}, false},
		{"unknown colour", catalog.Query{Colours: []string{"Turchese"}}, []string{"turchese|*"}, false},
	}
	for _, tt := range tests {
		keys, inStock := tt.q.FilterKeys()
		if !gocmp.Equal(keys, tt.wantKeys) || inStock != tt.wantInStock {
			t.Errorf("%s: FilterKeys() = %q, %v, want %q, %v", tt.name, keys, inStock, tt.wantKeys, tt.wantInStock)
		}
	}
}
