package sqlcatalog

import (
	"strings"

	"github.com/bottega-shop/bottega/catalog"
)

// decodeVariants reads what variantsColumn writes: a JSON array of
// [sku, size, colour, stock, price_minor or null] arrays, as SQLite's
// json_group_array and Postgres' json_agg write them (Postgres with spaces
// and newlines between values). A string without escapes shares the
// column's memory: a product's variants cost a few allocations, not a few
// per variant, on every stock answer.
func decodeVariants(s string) ([]catalog.Variant, error) {
	r := jsonReader{s: s}
	if !r.next('[') {
		return nil, errMalformed
	}
	if r.next(']') {
		return nil, r.end()
	}
	out := make([]catalog.Variant, 0, max(1, strings.Count(s, "[")-1))
	for {
		v, err := r.variant()
		if err != nil {
			return nil, err
		}
		out = append(out, v)
		if r.next(',') {
			continue
		}
		if r.next(']') {
			return out, r.end()
		}
		return nil, errMalformed
	}
}

// variant reads one [sku, size, colour, stock, price_minor] array.
func (r *jsonReader) variant() (v catalog.Variant, err error) {
	if !r.next('[') {
		return v, errMalformed
	}
	if v.SKU, err = r.str(); err != nil || !r.next(',') {
		return v, errMalformed
	}
	if v.Size, err = r.str(); err != nil || !r.next(',') {
		return v, errMalformed
	}
	if v.Colour, err = r.str(); err != nil || !r.next(',') {
		return v, errMalformed
	}
	stock, null, err := r.int()
	if err != nil || null || !r.next(',') {
		return v, errMalformed
	}
	v.Stock = int(stock)
	price, null, err := r.int()
	if err != nil || !r.next(']') {
		return v, errMalformed
	}
	if !null {
		p := price // on the heap only when there is a price
		v.PriceMinor = &p
	}
	return v, nil
}
