package catalog

import (
	"net/url"
	"regexp"
	"sort"
	"strings"
	"unicode/utf8"
)

var (
	handleRE   = regexp.MustCompile(`^[a-z0-9]+(?:-[a-z0-9]+)*$`)
	skuRE      = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._/-]*$`)
	currencyRE = regexp.MustCompile(`^[A-Z]{3}$`)
)

// Limits on product fields.
const (
	MaxHandleLen     = 100
	MaxTitleLen      = 200
	MaxTextLen       = 10000
	MaxSKULen        = 64
	MaxVariants      = 500
	MaxAttributes    = 50
	MaxStock         = 1_000_000_000
	MaxPriceMinor    = 1_000_000_000_00
	maxShortFieldLen = 100
	maxURLLen        = 2000
)

// Validate checks the product and returns a *ValidationError listing every
// problem, or nil.
func (p *Product) Validate() error {
	var e ValidationError
	p.validate(&e)
	return e.Err()
}

func (p *Product) validate(e *ValidationError) {
	switch {
	case p.Handle == "":
		e.Add("handle", "is required")
	case len(p.Handle) > MaxHandleLen:
		e.Add("handle", "is longer than %d characters", MaxHandleLen)
	case !handleRE.MatchString(p.Handle):
		e.Add("handle", "must be lowercase letters, digits and single dashes, like %q", "trail-runner-42")
	}
	textField(e, "title", p.Title, MaxTitleLen, true)
	for _, lang := range sortedKeys(p.Titles) {
		t := p.Titles[lang]
		if !langOK(lang) {
			e.Add("titles."+lang, "is not a language tag such as \"en\" or \"it\"")
		}
		textField(e, "titles."+lang, t, MaxTitleLen, true)
	}
	textField(e, "brand", p.Brand, maxShortFieldLen, false)
	textField(e, "category", p.Category, maxShortFieldLen, false)
	textField(e, "description", p.Description, MaxTextLen, false)
	textField(e, "size_chart", p.SizeChart, maxShortFieldLen, false)
	if len(p.Attributes) > MaxAttributes {
		e.Add("attributes", "has more than %d entries", MaxAttributes)
	}
	for _, k := range sortedKeys(p.Attributes) {
		v := p.Attributes[k]
		if k == "" {
			e.Add("attributes", "has an empty name")
		}
		textField(e, "attributes."+k, v, maxShortFieldLen*10, false)
	}
	urlField(e, "image_url", p.ImageURL)
	urlField(e, "page_url", p.PageURL)
	if p.PriceMinor < 0 {
		e.Add("price_minor", "must not be negative")
	} else if p.PriceMinor > MaxPriceMinor {
		e.Add("price_minor", "is implausibly large")
	}
	if !currencyRE.MatchString(p.Currency) {
		e.Add("currency", "must be a three-letter ISO 4217 code such as EUR")
	}
	if len(p.Variants) == 0 {
		e.Add("variants", "needs at least one variant")
	}
	if len(p.Variants) > MaxVariants {
		e.Add("variants", "has more than %d variants", MaxVariants)
	}
	seen := make(map[string]bool, len(p.Variants))
	for i, v := range p.Variants {
		f := func(name string) string { return "variants[" + itoa(i) + "]." + name }
		switch {
		case v.SKU == "":
			e.Add(f("sku"), "is required")
		case len(v.SKU) > MaxSKULen:
			e.Add(f("sku"), "is longer than %d characters", MaxSKULen)
		case !skuRE.MatchString(v.SKU):
			e.Add(f("sku"), "may hold only letters, digits and . _ / -")
		case seen[v.SKU]:
			e.Add(f("sku"), "%q appears twice in this product", v.SKU)
		}
		seen[v.SKU] = true
		textField(e, f("size"), v.Size, 20, false)
		textField(e, f("colour"), v.Colour, 50, false)
		if v.Stock < 0 {
			e.Add(f("stock"), "must not be negative")
		} else if v.Stock > MaxStock {
			e.Add(f("stock"), "is implausibly large")
		}
		if v.PriceMinor != nil && (*v.PriceMinor < 0 || *v.PriceMinor > MaxPriceMinor) {
			e.Add(f("price_minor"), "must be between 0 and %d", int64(MaxPriceMinor))
		}
	}
}

// Validate checks a synonym.
func (s Synonym) Validate() error {
	var e ValidationError
	textField(&e, "term", s.Term, maxShortFieldLen, true)
	if len(s.Alternatives) == 0 {
		e.Add("alternatives", "needs at least one alternative")
	}
	for i, a := range s.Alternatives {
		textField(&e, "alternatives["+itoa(i)+"]", a, maxShortFieldLen, true)
	}
	return e.Err()
}

// Validate checks a size chart.
func (c SizeChart) Validate() error {
	var e ValidationError
	switch {
	case c.Name == "":
		e.Add("name", "is required")
	case !handleRE.MatchString(c.Name):
		e.Add("name", "must be lowercase letters, digits and dashes")
	}
	switch c.Kind {
	case "shoe", "apparel", "waist", "one-size":
	default:
		e.Add("kind", "must be one of shoe, apparel, waist, one-size")
	}
	if len(c.Systems) == 0 {
		e.Add("systems", "needs at least one size system, such as \"eu\"")
	}
	for i, s := range c.Systems {
		textField(&e, "systems["+itoa(i)+"]", s, 20, true)
	}
	if len(c.Rows) == 0 {
		e.Add("rows", "needs at least one row")
	}
	for i, r := range c.Rows {
		if len(r) != len(c.Systems) {
			e.Add("rows["+itoa(i)+"]", "has %d values for %d systems", len(r), len(c.Systems))
		}
	}
	return e.Err()
}

// ValidateStockChange checks one stock change on its own (the resulting stock
// is checked by the store).
func ValidateStockChange(c StockChange) error {
	var e ValidationError
	if c.SKU == "" {
		e.Add("sku", "is required")
	}
	switch {
	case c.Set == nil && c.Delta == nil:
		e.Add("set", "one of set or delta is required")
	case c.Set != nil && c.Delta != nil:
		e.Add("set", "give set or delta, not both")
	case c.Set != nil && *c.Set < 0:
		e.Add("set", "stock must not be negative")
	case c.Set != nil && *c.Set > MaxStock:
		e.Add("set", "is implausibly large")
	case c.Delta != nil && (*c.Delta > MaxStock || *c.Delta < -MaxStock):
		e.Add("delta", "is implausibly large")
	}
	return e.Err()
}

func textField(e *ValidationError, name, v string, max int, required bool) {
	switch {
	case required && strings.TrimSpace(v) == "":
		e.Add(name, "is required")
	case !utf8.ValidString(v):
		e.Add(name, "is not valid UTF-8")
	case utf8.RuneCountInString(v) > max:
		e.Add(name, "is longer than %d characters", max)
	case strings.ContainsRune(v, 0):
		e.Add(name, "contains a NUL character")
	}
}

func urlField(e *ValidationError, name, v string) {
	if v == "" {
		return
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || len(v) > maxURLLen {
		e.Add(name, "must be an absolute http or https URL")
	}
}

func langOK(s string) bool {
	if len(s) < 2 || len(s) > 8 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r == '-') {
			return false
		}
	}
	return true
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func itoa(i int) string {
	const digits = "0123456789"
	if i < 10 {
		return digits[i : i+1]
	}
	return itoa(i/10) + digits[i%10:i%10+1]
}
