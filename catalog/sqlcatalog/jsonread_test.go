package sqlcatalog

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/bottega-shop/bottega/catalog"
)

func TestDecodeVariants(t *testing.T) {
	price := int64(9900)
	tests := []struct {
		name, in string
		want     []catalog.Variant
	}{
		{"none", `[]`, nil},
		{"SQLite's form", `[["A-1","42","rosso",3,null],["A-2","42,5","nero",0,9900]]`, []catalog.Variant{
			{SKU: "A-1", Size: "42", Colour: "rosso", Stock: 3},
			{SKU: "A-2", Size: "42,5", Colour: "nero", Stock: 0, PriceMinor: &price},
		}},
		{"Postgres' form", "[[\"A-1\", \"42\", \"rosso\", 3, null], \n [\"A-2\", \"42,5\", \"nero\", 0, 9900]]", []catalog.Variant{
			{SKU: "A-1", Size: "42", Colour: "rosso", Stock: 3},
			{SKU: "A-2", Size: "42,5", Colour: "nero", Stock: 0, PriceMinor: &price},
		}},
		{"escapes", `[["A-1","42 \"w\"","a\\b\u001f\u00e8",1,null]]`, []catalog.Variant{
			{SKU: "A-1", Size: `42 "w"`, Colour: "a\\b\x1fè", Stock: 1},
		}},
		{"brackets and commas in strings", `[["A-1","[1,2]","],[",1,null]]`, []catalog.Variant{
			{SKU: "A-1", Size: "[1,2]", Colour: "],[", Stock: 1},
		}},
	}
	for _, tt := range tests {
		got, err := decodeVariants(tt.in)
		if err != nil {
			t.Errorf("decodeVariants(%s: %q) = %v", tt.name, tt.in, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("decodeVariants(%s: %q) mismatch (-want +got):\n%s", tt.name, tt.in, diff)
		}
	}
}

func TestDecodeVariantsMalformed(t *testing.T) {
	for _, in := range []string{
		``,
		`[`,
		`[[]]`,
		`[["A-1"]]`,
		`[["A-1","42","rosso",3]]`,
		`[["A-1","42","rosso",null,null]]`,
		`[["A-1","42","rosso",3,null,1]]`,
		`[["A-1","42","rosso",3,null]`,
		`[["A-1","42","rosso",3,null]] x`,
		`[["A-1","42","rosso",3,null] ["A-2","42","rosso",3,null]]`,
		`[["A-1,"42","rosso",3,null]]`,
		`[["A-1","4\x2","rosso",3,null]]`,
		`[["A-1","42","rosso",3.5,null]]`,
		`[["A-1","42","rosso",99999999999999999999,null]]`,
		`[["A-1","42","rosso",3,nul]]`,
		`{"sku":"A-1"}`,
	} {
		if got, err := decodeVariants(in); err == nil {
			t.Errorf("decodeVariants(%q) = %v, nil; want an error", in, got)
		}
	}
}

func TestDecodeMapReadsEncodeMap(t *testing.T) {
	tests := []map[string]string{
		nil,
		{"en": "Trail Runner"},
		{"en": "Trail Runner", "de": "Trailschuh", "it": ""},
		{"material": `pelle "nappa" <b>&</b>`, "drop": "8\tmm\nor \\ 9", "κλειδί": "赤 🟥", `"k,:{}"`: "[1,2]"},
	}
	for _, m := range tests {
		enc := encodeMap(m)
		got, err := decodeMap(enc)
		if err != nil {
			t.Errorf("decodeMap(%q) = %v", enc, err)
			continue
		}
		if diff := cmp.Diff(m, got, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("decodeMap(%q) mismatch (-want +got):\n%s", enc, diff)
		}
	}
}

func TestDecodeMapMalformed(t *testing.T) {
	for _, in := range []string{
		`{`,
		`{"a"}`,
		`{"a":}`,
		`{"a":1}`,
		`{"a":"b",}`,
		`{"a":"b" "c":"d"}`,
		`{"a":"b"} x`,
		`["a"]`,
		`{"a":"\q"}`,
	} {
		if got, err := decodeMap(in); err == nil {
			t.Errorf("decodeMap(%q) = %v, nil; want an error", in, got)
		}
	}
}
