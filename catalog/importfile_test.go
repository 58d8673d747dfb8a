package catalog_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/bottega-shop/bottega/catalog"
)

// decodeAll decodes input and returns the products passed to fn, their rows
// and the problems.
func decodeAll(t *testing.T, input, format string) (ps []catalog.Product, rows []int, probs []catalog.Problem) {
	t.Helper()
	probs, err := catalog.DecodeProducts(strings.NewReader(input), format, func(p *catalog.Product, row int) error {
		ps = append(ps, *p)
		rows = append(rows, row)
		return nil
	})
	if err != nil {
		t.Fatalf("DecodeProducts(%s) error = %v", format, err)
	}
	return ps, rows, probs
}

func minorPtr(n int64) *int64 { return &n }

// roundTripProducts differ in every field the file formats carry.
func roundTripProducts() []catalog.Product {
	return []catalog.Product{
		{
			Handle: "trail-runner", Title: "Trail Runner",
			Titles: map[string]string{"en": "Trail Runner", "de": "Trailläufer"},
			Brand:  "Vettore", Category: "scarpe da trail",
			Description: "Suola \"Grip\" aggressiva, tomaia in mesh; leggera.\nSeconda riga.",
			Attributes:  map[string]string{"material": "mesh", "drop": "6 mm"},
			ImageURL:    "https://bottega.example/img/trail-runner.jpg?w=800&h=600",
			PageURL:     "https://bottega.example/prodotti/trail-runner",
			PriceMinor:  12990, Currency: "EUR", SizeChart: "shoes-eu", Active: true,
			Variants: []catalog.Variant{
				{SKU: "TR-RED-41", Size: "41", Colour: "rosso", Stock: 4},
				{SKU: "TR-RED-42", Size: "42", Colour: "rosso", Stock: 0},
				{SKU: "TR-RED-42.5", Size: "42.5", Colour: "rosso", Stock: 2, PriceMinor: minorPtr(11990)},
				{SKU: "TR-BLK-42", Size: "42", Colour: "nero", Stock: 7},
			},
		},
		{
			Handle: "borsa-tote", Title: "Borsa tote, 'Città'",
			Titles:     map[string]string{"en": "City tote bag"},
			Attributes: map[string]string{"material": "cotone"},
			PriceMinor: 5, Currency: "EUR", Active: false,
			Variants: []catalog.Variant{{SKU: "BT-OS", Stock: 1, PriceMinor: minorPtr(0)}},
		},
		{
			Handle: "yukata", Title: "浴衣", PriceMinor: 12000, Currency: "JPY", Active: true,
			Variants: []catalog.Variant{{SKU: "YK-M", Size: "M", Colour: "blu", Stock: 3, PriceMinor: minorPtr(9800)}},
		},
	}
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	for _, format := range []string{"csv", "json"} {
		t.Run(format, func(t *testing.T) {
			want := roundTripProducts()
			var buf bytes.Buffer
			enc, err := catalog.NewEncoder(&buf, format)
			if err != nil {
				t.Fatal(err)
			}
			for i := range want {
				if err := enc.AddColumns(&want[i]); err != nil {
					t.Fatalf("AddColumns(%q) = %v", want[i].Handle, err)
				}
			}
			for i := range want {
				if err := enc.Encode(&want[i]); err != nil {
					t.Fatalf("Encode(%q) = %v", want[i].Handle, err)
				}
			}
			if err := enc.Close(); err != nil {
				t.Fatalf("Close() = %v", err)
			}
			got, _, probs := decodeAll(t, buf.String(), format)
			if len(probs) > 0 {
				t.Fatalf("DecodeProducts(Encode output) problems = %v\n%s", probs, buf.String())
			}
			if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("DecodeProducts(Encode output) mismatch (-want +got):\n%s\n%s", diff, buf.String())
			}
		})
	}
}

func TestEncoderCSVHeader(t *testing.T) {
	var buf bytes.Buffer
	enc, err := catalog.NewEncoder(&buf, "csv")
	if err != nil {
		t.Fatal(err)
	}
	ps := roundTripProducts()
	if err := enc.Encode(&ps[1]); err != nil { // header from this product: en, material
		t.Fatal(err)
	}
	if err := enc.Encode(&ps[0]); err == nil || !strings.Contains(err.Error(), "AddColumns") {
		t.Errorf("Encode(product with a title language not in the header) = %v, want an error naming AddColumns", err)
	}
	if err := enc.AddColumns(&ps[0]); err == nil {
		t.Errorf("AddColumns after Encode = nil, want an error")
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	if err := enc.Encode(&ps[1]); err == nil {
		t.Errorf("Encode after Close = nil, want an error")
	}
	if got := enc.Format(); got != "csv" {
		t.Errorf("Format() = %q, want csv", got)
	}
	header, _, _ := strings.Cut(buf.String(), "\n")
	want := "handle,title,title_en,brand,category,description,price,currency,active,size_chart,image_url,page_url,attr_material,sku,size,colour,stock,variant_price"
	if header != want {
		t.Errorf("header = %q, want %q", header, want)
	}
}

func TestEncoderEmpty(t *testing.T) {
	tests := []struct{ format, want string }{
		{"json", "[]\n"},
		{"csv", "handle,title,brand,category,description,price,currency,active,size_chart,image_url,page_url,sku,size,colour,stock,variant_price\n"},
	}
	for _, tt := range tests {
		var buf bytes.Buffer
		enc, err := catalog.NewEncoder(&buf, tt.format)
		if err != nil {
			t.Fatal(err)
		}
		if err := enc.Close(); err != nil {
			t.Fatal(err)
		}
		if buf.String() != tt.want {
			t.Errorf("empty %s export = %q, want %q", tt.format, buf.String(), tt.want)
		}
		if _, probs := mustDecode(t, buf.String(), tt.format); tt.format == "json" && len(probs) > 0 {
			t.Errorf("DecodeProducts(%q) problems = %v, want none", buf.String(), probs)
		}
	}
	if _, err := catalog.NewEncoder(io.Discard, "xml"); err == nil {
		t.Errorf("NewEncoder(xml) = nil error, want one")
	}
}

func mustDecode(t *testing.T, input, format string) ([]catalog.Product, []catalog.Problem) {
	t.Helper()
	ps, _, probs := decodeAll(t, input, format)
	return ps, probs
}

func TestDecodeProductsCSV(t *testing.T) {
	shoe := func(mod func(p *catalog.Product)) catalog.Product {
		p := catalog.Product{
			Handle: "runner", Title: "Runner", PriceMinor: 8990, Currency: "EUR", Active: true,
			Variants: []catalog.Variant{{SKU: "R-41", Size: "41", Colour: "rosso", Stock: 3}},
		}
		if mod != nil {
			mod(&p)
		}
		return p
	}
	tests := []struct {
		name  string
		input string
		want  []catalog.Product
		rows  []int
	}{
		{
			name:  "minimal",
			input: "handle,title,price,currency,sku,size,colour,stock\nrunner,Runner,89.90,EUR,R-41,41,rosso,3\n",
			want:  []catalog.Product{shoe(nil)},
			rows:  []int{2},
		},
		{
			name:  "semicolons and decimal comma",
			input: "handle;title;price;currency;sku;size;colour;stock\nrunner;Runner;89,90;EUR;R-41;41;rosso;3\n",
			want:  []catalog.Product{shoe(nil)},
			rows:  []int{2},
		},
		{
			name:  "byte order mark and CRLF",
			input: "\uFEFFhandle,title,price,currency,sku,size,colour,stock\r\nrunner,Runner,89.9,EUR,R-41,41,rosso,3\r\n",
			want:  []catalog.Product{shoe(nil)},
			rows:  []int{2},
		},
		{
			name:  "header in any order and case, color spelling",
			input: "STOCK,Color,Size,SKU,Currency,Price,Title,Handle,Title_EN,Attr_Material\n3,rosso,41,R-41,EUR,89.90,Runner,runner,Runner shoe,mesh\n",
			want: []catalog.Product{shoe(func(p *catalog.Product) {
				p.Titles = map[string]string{"en": "Runner shoe"}
				p.Attributes = map[string]string{"Material": "mesh"}
			})},
			rows: []int{2},
		},
		{
			name: "consecutive rows form one product, first row wins",
			input: "handle,title,price,currency,sku,size,colour,stock,variant_price\n" +
				"runner,Runner,89.90,EUR,R-41,41,rosso,3,\n" +
				"runner,Other title,10.00,EUR,R-42,42 ½,nero,0,79\n" +
				"\n" +
				",,,,,,,,\n" +
				"runner,,,,R-43,43,nero,5,\n" +
				"socks,Calze,9,EUR,S-1,,,10,\n",
			want: []catalog.Product{
				shoe(func(p *catalog.Product) {
					p.Variants = append(p.Variants,
						catalog.Variant{SKU: "R-42", Size: "42 ½", Colour: "nero", Stock: 0, PriceMinor: minorPtr(7900)},
						catalog.Variant{SKU: "R-43", Size: "43", Colour: "nero", Stock: 5})
				}),
				{Handle: "socks", Title: "Calze", PriceMinor: 900, Currency: "EUR", Active: true,
					Variants: []catalog.Variant{{SKU: "S-1", Stock: 10}}},
			},
			rows: []int{2, 7},
		},
		{
			name: "active values",
			input: "handle,title,price,currency,sku,stock,active\n" +
				"a,A,1,EUR,A1,1,\n" + "b,B,1,EUR,B1,1,Sì\n" + "c,C,1,EUR,C1,1,no\n" +
				"d,D,1,EUR,D1,1,0\n" + "e,E,1,EUR,E1,1,TRUE\n" + "f,F,1,EUR,F1,1,false\n",
			want: func() []catalog.Product {
				var ps []catalog.Product
				for _, h := range []struct {
					h      string
					active bool
				}{{"a", true}, {"b", true}, {"c", false}, {"d", false}, {"e", true}, {"f", false}} {
					ps = append(ps, catalog.Product{Handle: h.h, Title: strings.ToUpper(h.h), PriceMinor: 100,
						Currency: "EUR", Active: h.active, Variants: []catalog.Variant{{SKU: strings.ToUpper(h.h) + "1", Stock: 1}}})
				}
				return ps
			}(),
			rows: []int{2, 3, 4, 5, 6, 7},
		},
		{
			name: "prices by currency",
			input: "handle,title,price,currency,sku,stock\n" +
				"a,A,1500,JPY,A1,1\n" + "b,B,1.250,KWD,B1,1\n" + "c,C,0.5,EUR,C1,1\n" + "d,D,12.300,EUR,D1,1\n",
			want: []catalog.Product{
				{Handle: "a", Title: "A", PriceMinor: 1500, Currency: "JPY", Active: true, Variants: []catalog.Variant{{SKU: "A1", Stock: 1}}},
				{Handle: "b", Title: "B", PriceMinor: 1250, Currency: "KWD", Active: true, Variants: []catalog.Variant{{SKU: "B1", Stock: 1}}},
				{Handle: "c", Title: "C", PriceMinor: 50, Currency: "EUR", Active: true, Variants: []catalog.Variant{{SKU: "C1", Stock: 1}}},
				{Handle: "d", Title: "D", PriceMinor: 1230, Currency: "EUR", Active: true, Variants: []catalog.Variant{{SKU: "D1", Stock: 1}}},
			},
			rows: []int{2, 3, 4, 5},
		},
		{
			name:  "quoted fields with delimiters and newlines",
			input: "handle,title,description,price,currency,sku,stock\nrunner,\"Runner, 2\",\"Riga uno\nriga \"\"due\"\"\",1,EUR,R-41,3\nsocks,Calze,,1,EUR,S-1,1\n",
			want: []catalog.Product{
				{Handle: "runner", Title: "Runner, 2", Description: "Riga uno\nriga \"due\"", PriceMinor: 100, Currency: "EUR", Active: true,
					Variants: []catalog.Variant{{SKU: "R-41", Stock: 3}}},
				{Handle: "socks", Title: "Calze", PriceMinor: 100, Currency: "EUR", Active: true,
					Variants: []catalog.Variant{{SKU: "S-1", Stock: 1}}},
			},
			rows: []int{2, 4},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, rows, probs := decodeAll(t, tt.input, "csv")
			if len(probs) > 0 {
				t.Errorf("DecodeProducts(%q) problems = %v, want none", tt.input, probs)
			}
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("DecodeProducts(%q) mismatch (-want +got):\n%s", tt.input, diff)
			}
			if !cmp.Equal(rows, tt.rows) {
				t.Errorf("DecodeProducts(%q) rows = %v, want %v", tt.input, rows, tt.rows)
			}
		})
	}
}

// TestDecodeProductsCSVProblems checks that one run reports every kind of bad
// row with its row number and still decodes the good products around them.
func TestDecodeProductsCSVProblems(t *testing.T) {
	input := strings.Join([]string{
		"handle,title,price,currency,sku,size,colour,stock,variant_price,active,notes", // 1: unknown column
		"good-one,Buona,10,EUR,G1,41,rosso,1,,,",                                       // 2
		"bad-price,Prezzo,1.234,56,EUR,P1,41,rosso,1,,,",                               // 3: extra field
		"bad-price,Prezzo,12.345,EUR,P1,41,rosso,1,,,",                                 // 4: 3 decimals
		"bad-stock,Stock,10,EUR,S1,41,rosso,tre,,,",                                    // 5
		"bad-stock,Stock,10,EUR,S2,42,rosso,-1,,,",                                     // 6: validate: negative
		"bad-utf8,Titolo \xff,10,EUR,U1,41,rosso,1,,,",                                 // 7
		"dup-sku,Doppio,10,EUR,G1,41,rosso,1,,,",                                       // 8: G1 seen on row 2
		"Bad Handle,,10,eur,H1,41,rosso,1,-5,maybe,",                                   // 9: several at once
		"good-two,Buona due,10,EUR,G2,41,rosso,1,,,",                                   // 10
		"good-one,Di nuovo,10,EUR,G3,41,rosso,1,,,",                                    // 11: handle again
		"bare-quote,Scarpa 12\" pollici,10,EUR,Q1,41,rosso,1,,,",                       // 12
		"no-price,Senza prezzo,,EUR,N1,41,rosso,1,,,",                                  // 13
		"good-three,Buona tre,10,EUR,G4,41,rosso,1,,,",                                 // 14
		"also-good,Anche buona,10,EUR,V1,41,rosso,1,,,",                                // 15
		"short-row,Corto,10,EUR",                                                       // 16
		"bad-variant,Variante,10,EUR,V1,41,rosso,1,,,",                                 // 17: V1 seen on row 15
		"bad-variant,Variante,10,EUR,V2/ok,41,rosso,2,abc,,",                           // 18: bad variant_price
		"good-four,Quattro,10,EUR,G5,41,rosso,1,,,",                                    // 19
	}, "\n") + "\n"
	got, rows, probs := decodeAll(t, input, "csv")
	want := []catalog.Problem{
		{Row: 1, Field: "notes", Message: "unknown column"},
		{Row: 3, Message: "has 12 fields, the header has 11"},
		{Row: 4, Field: "price", Message: `has more than 2 decimals, got "12.345"`},
		{Row: 5, Field: "stock", Message: `must be a whole number, got "tre"`},
		{Row: 6, Field: "stock", Message: "must not be negative"},
		{Row: 7, Field: "title", Message: "is not valid UTF-8"},
		{Row: 8, Field: "sku", Message: `duplicate SKU "G1", first on row 2`},
		{Row: 9, Field: "active", Message: `must be true or false (or 1/0, yes/no, sì/no), got "maybe"`},
		{Row: 9, Field: "variant_price", Message: `must not be negative, got "-5"`},
		{Row: 9, Field: "currency", Message: "must be a three-letter ISO 4217 code such as EUR"},
		{Row: 9, Field: "handle", Message: `must be lowercase letters, digits and single dashes, like "trail-runner-42"`},
		{Row: 9, Field: "title", Message: "is required"},
		{Row: 11, Field: "handle", Message: `duplicate handle "good-one", first on row 2; a product's rows must be next to each other`},
		{Row: 12, Message: `malformed CSV: bare " in non-quoted-field`},
		{Row: 13, Field: "price", Message: "is required"},
		{Row: 16, Message: "has 4 fields, the header has 11"},
		{Row: 17, Field: "sku", Message: `duplicate SKU "V1", first on row 15`},
		{Row: 18, Field: "variant_price", Message: `is not a price like 89.90, got "abc"`},
	}
	if diff := cmp.Diff(want, probs); diff != "" {
		t.Errorf("DecodeProducts problems mismatch (-want +got):\n%s", diff)
	}
	var handles []string
	for _, p := range got {
		handles = append(handles, p.Handle)
	}
	wantHandles := []string{"good-one", "good-two", "good-three", "also-good", "good-four"}
	if !cmp.Equal(handles, wantHandles) || !cmp.Equal(rows, []int{2, 10, 14, 15, 19}) {
		t.Errorf("DecodeProducts passed %v at rows %v, want %v at rows [2 10 14 15 19]", handles, rows, wantHandles)
	}
}

// TestDecodeProductsValidation checks that Product.Validate's problems are
// reported at the row and column they came from.
func TestDecodeProductsValidation(t *testing.T) {
	input := "handle,title,title_EN,price,currency,sku,size,colour,stock,image_url,attr_peso\n" +
		"Bad Handle,,,10,eur,OK-1,41,rosso,1,ftp://x,\n" +
		"Bad Handle,,,10,eur,bad sku,42,rosso,-2,,\n"
	_, _, probs := decodeAll(t, input, "csv")
	want := []catalog.Problem{
		{Row: 2, Field: "currency", Message: "must be a three-letter ISO 4217 code such as EUR"},
		{Row: 2, Field: "handle", Message: `must be lowercase letters, digits and single dashes, like "trail-runner-42"`},
		{Row: 2, Field: "image_url", Message: "must be an absolute http or https URL"},
		{Row: 2, Field: "title", Message: "is required"},
		{Row: 3, Field: "sku", Message: "may hold only letters, digits and . _ / -"},
		{Row: 3, Field: "stock", Message: "must not be negative"},
	}
	if diff := cmp.Diff(want, probs); diff != "" {
		t.Errorf("DecodeProducts problems mismatch (-want +got):\n%s", diff)
	}
}

func TestDecodeProductsHeaderProblems(t *testing.T) {
	tests := []struct {
		name, input string
		want        []catalog.Problem
	}{
		{
			name:  "missing required columns",
			input: "handle,title,currency,sku\nrunner,Runner,EUR,R-41\n",
			want:  []catalog.Problem{{Row: 1, Message: "missing required columns: price, stock"}},
		},
		{
			name:  "empty file",
			input: "",
			want:  []catalog.Problem{{Row: 1, Message: "the file is empty; its first row must name the columns"}},
		},
		{
			name:  "only a byte order mark",
			input: "\uFEFF",
			want:  []catalog.Problem{{Row: 1, Message: "the file is empty; its first row must name the columns"}},
		},
		{
			name:  "column twice",
			input: "handle,title,price,currency,sku,stock,colour,color\nrunner,Runner,1,EUR,R-41,3,rosso,nero\n",
			want:  []catalog.Problem{{Row: 1, Field: "colour", Message: "column appears twice"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _, probs := decodeAll(t, tt.input, "csv")
			if diff := cmp.Diff(tt.want, probs); diff != "" {
				t.Errorf("DecodeProducts(%q) problems mismatch (-want +got):\n%s", tt.input, diff)
			}
			if tt.name != "column twice" && len(got) > 0 {
				t.Errorf("DecodeProducts(%q) passed %d products, want none", tt.input, len(got))
			}
		})
	}
}

func TestDecodeProductsPrices(t *testing.T) {
	tests := []struct {
		price, currency string
		want            int64
		problem         string
	}{
		{"89.90", "EUR", 8990, ""},
		{"89,90", "EUR", 8990, ""},
		{"89", "EUR", 8900, ""},
		{"89,9", "EUR", 8990, ""},
		{"0", "EUR", 0, ""},
		{"0,01", "EUR", 1, ""},
		{" 7.5 ", "EUR", 750, ""},
		{"1200", "JPY", 1200, ""},
		{"1200.0", "JPY", 1200, ""},
		{"1.5", "JPY", 0, "has more than 0 decimals"},
		{"3.141", "BHD", 3141, ""},
		{"1.234,56", "EUR", 0, "is not a price like 89.90"},
		{"1,234.56", "EUR", 0, "is not a price like 89.90"},
		{"89.", "EUR", 0, "is not a price like 89.90"},
		{"€89", "EUR", 0, "is not a price like 89.90"},
		{"8e3", "EUR", 0, "is not a price like 89.90"},
		{"-1", "EUR", 0, "must not be negative"},
		{"99999999999999999999", "EUR", 0, "is too large"},
		{"10000000000", "EUR", 0, "is implausibly large"}, // from Product.Validate
	}
	for _, tt := range tests {
		input := "handle,title,price,currency,sku,stock\np,P,\"" + tt.price + "\"," + tt.currency + ",P1,1\n"
		got, _, probs := decodeAll(t, input, "csv")
		switch {
		case tt.problem == "" && (len(probs) > 0 || len(got) != 1 || got[0].PriceMinor != tt.want):
			t.Errorf("price %q %s: got %v, problems %v, want %d", tt.price, tt.currency, got, probs, tt.want)
		case tt.problem != "" && (len(probs) != 1 || probs[0].Field != "price" || !strings.HasPrefix(probs[0].Message, tt.problem)):
			t.Errorf("price %q %s: problems %v, want one on price starting %q", tt.price, tt.currency, probs, tt.problem)
		}
	}
}

func TestDecodeProductsJSON(t *testing.T) {
	runner := `{"handle":"runner","title":"Runner","price_minor":8990,"currency":"EUR","variants":[{"sku":"R-41","size":"41","stock":3}]}`
	socks := `{"handle":"socks","title":"Calze","price_minor":900,"currency":"EUR","active":false,"variants":[{"sku":"S-1","stock":1}]}`
	wantRunner := catalog.Product{Handle: "runner", Title: "Runner", PriceMinor: 8990, Currency: "EUR", Active: true,
		Variants: []catalog.Variant{{SKU: "R-41", Size: "41", Stock: 3}}}
	wantSocks := catalog.Product{Handle: "socks", Title: "Calze", PriceMinor: 900, Currency: "EUR",
		Variants: []catalog.Variant{{SKU: "S-1", Stock: 1}}}
	tests := []struct {
		name  string
		input string
		want  []catalog.Product
		rows  []int
		probs []catalog.Problem
	}{
		{
			name:  "array",
			input: "\uFEFF [\n" + runner + ",\n" + socks + "\n]\n",
			want:  []catalog.Product{wantRunner, wantSocks},
			rows:  []int{1, 2},
		},
		{
			name:  "lines",
			input: runner + "\n\n" + socks + "\r\n",
			want:  []catalog.Product{wantRunner, wantSocks},
			rows:  []int{1, 2},
		},
		{
			name:  "empty array",
			input: "[]",
		},
		{
			name:  "unknown field and wrong type, lines go on",
			input: `{"handle":"x","title":"X","prezzo":1}` + "\n" + `{"handle":"y","title":"Y","variants":[{"sku":"Y1","stock":"3"}]}` + "\n" + runner + "\n",
			want:  []catalog.Product{wantRunner},
			rows:  []int{3},
			probs: []catalog.Problem{
				{Row: 1, Field: "prezzo", Message: "is not a known field"},
				{Row: 2, Field: "variants.stock", Message: "must be a whole number, not a JSON string"},
			},
		},
		{
			name:  "malformed line, lines go on",
			input: `{"handle":"x",` + "\n" + runner + "\n" + runner + ` {"a":1}` + "\n",
			want:  []catalog.Product{wantRunner},
			rows:  []int{2},
			probs: []catalog.Problem{
				{Row: 1, Message: "malformed JSON: unexpected EOF"},
				{Row: 3, Message: "holds more than one JSON value; put each product on its own line"},
			},
		},
		{
			name:  "malformed array stops",
			input: "[" + runner + ",\n{\"handle\" \"x\"},\n" + socks + "]",
			want:  []catalog.Product{wantRunner},
			rows:  []int{1},
			probs: []catalog.Problem{{Row: 2, Message: "malformed JSON: invalid character '\"' after object key"}},
		},
		{
			name:  "unterminated array",
			input: "[" + runner,
			want:  []catalog.Product{wantRunner},
			rows:  []int{1},
			probs: []catalog.Problem{{Row: 2, Message: "malformed JSON: the array does not end with ]"}},
		},
		{
			name:  "truncated after a comma",
			input: "[" + runner + ",",
			want:  []catalog.Product{wantRunner},
			rows:  []int{1},
			probs: []catalog.Problem{{Row: 2, Message: "malformed JSON: unexpected EOF"}},
		},
		{
			name:  "data after the array",
			input: "[" + runner + "] x",
			want:  []catalog.Product{wantRunner},
			rows:  []int{1},
			probs: []catalog.Problem{{Row: 2, Message: "unexpected data after the array's closing ]"}},
		},
		{
			name:  "duplicate SKU and handle, invalid product, not an object, invalid UTF-8",
			input: "[" + runner + `,{"handle":"runner","title":"Again","price_minor":1,"currency":"EUR","variants":[{"sku":"Z","stock":1},{"sku":"R-41","stock":1}]}` + `,{"handle":"Bad","title":"","currency":"EUR","variants":[]},"scarpa",{"handle":"u","title":"` + "\xff" + `"}]`,
			want:  []catalog.Product{wantRunner},
			rows:  []int{1},
			probs: []catalog.Problem{
				{Row: 2, Field: "handle", Message: `duplicate handle "runner", first on row 1`},
				{Row: 2, Field: "variants[1].sku", Message: `duplicate SKU "R-41", first on row 1`},
				{Row: 3, Field: "handle", Message: `must be lowercase letters, digits and single dashes, like "trail-runner-42"`},
				{Row: 3, Field: "title", Message: "is required"},
				{Row: 3, Field: "variants", Message: "needs at least one variant"},
				{Row: 4, Message: "must be a product object, not a JSON string"},
				{Row: 5, Message: "is not valid UTF-8"},
			},
		},
		{
			name:  "neither array nor object",
			input: "  handle,title\n",
			probs: []catalog.Problem{{Row: 1, Message: `want a JSON array of products or one product per line, got 'h'`}},
		},
		{
			name:  "empty",
			input: " \n",
			probs: []catalog.Problem{{Row: 1, Message: "the file is empty; want a JSON array of products or one product per line"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, rows, probs := decodeAll(t, tt.input, "json")
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("DecodeProducts(%q) mismatch (-want +got):\n%s", tt.input, diff)
			}
			if !cmp.Equal(rows, tt.rows, cmpopts.EquateEmpty()) {
				t.Errorf("DecodeProducts(%q) rows = %v, want %v", tt.input, rows, tt.rows)
			}
			if diff := cmp.Diff(tt.probs, probs, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("DecodeProducts(%q) problems mismatch (-want +got):\n%s", tt.input, diff)
			}
		})
	}
}

func TestDecodeProductsErrors(t *testing.T) {
	const csvInput = "handle,title,price,currency,sku,stock\na,A,1,EUR,A1,1\nb,B,1,EUR,B1,1\nc,C,1,EUR,C1,1\n"
	stop := errors.New("stop here")
	for _, format := range []string{"csv", "json"} {
		input := csvInput
		if format == "json" {
			input = `{"handle":"a","title":"A","currency":"EUR","variants":[{"sku":"A1"}]}` + "\n" +
				`{"handle":"b","title":"B","currency":"EUR","variants":[{"sku":"B1"}]}` + "\n" +
				`{"handle":"c","title":"C","currency":"EUR","variants":[{"sku":"C1"}]}` + "\n"
		}
		calls := 0
		_, err := catalog.DecodeProducts(strings.NewReader(input), format, func(p *catalog.Product, row int) error {
			calls++
			if p.Handle == "b" {
				return stop
			}
			return nil
		})
		if !errors.Is(err, stop) || calls != 2 {
			t.Errorf("DecodeProducts(%s) with fn failing on b = %v after %d calls, want %v after 2", format, err, calls, stop)
		}

		readErr := errors.New("disk on fire")
		r := io.MultiReader(strings.NewReader(input[:len(input)/2]), iotest.ErrReader(readErr))
		_, err = catalog.DecodeProducts(r, format, func(*catalog.Product, int) error { return nil })
		if !errors.Is(err, readErr) {
			t.Errorf("DecodeProducts(%s) of a failing reader = %v, want %v", format, err, readErr)
		}
	}
	if _, err := catalog.DecodeProducts(strings.NewReader(csvInput), "xlsx", nil); err == nil {
		t.Errorf("DecodeProducts(xlsx) = nil error, want one")
	}
}

func TestDecodeProductsMaxProblems(t *testing.T) {
	var b strings.Builder
	b.WriteString("handle,title,price,currency,sku,stock\n")
	const bad = catalog.MaxProblems + 250
	for i := range bad {
		fmt.Fprintf(&b, "p%d,P,1,EUR,S%d,many\n", i, i)
	}
	_, _, probs := decodeAll(t, b.String(), "csv")
	if len(probs) != catalog.MaxProblems+1 {
		t.Fatalf("DecodeProducts(%d bad rows) = %d problems, want %d", bad, len(probs), catalog.MaxProblems+1)
	}
	if got, want := probs[catalog.MaxProblems-1].Row, catalog.MaxProblems+1; got != want {
		t.Errorf("last listed problem is on row %d, want %d", got, want)
	}
	if got, want := probs[catalog.MaxProblems].Message, "250 more problems not listed"; got != want {
		t.Errorf("last problem = %q, want %q", got, want)
	}
}

// genInput produces a large catalog file row by row, so the test does not
// hold the input in memory either.
type genInput struct {
	format        string
	variants, per int
	i             int
	line, pending []byte
	size          int64
}

func (g *genInput) Read(p []byte) (int, error) {
	for len(g.pending) == 0 {
		if g.i > g.variants+1 {
			return 0, io.EOF
		}
		g.line = g.next(g.line[:0])
		g.pending = g.line
		g.i++
	}
	n := copy(p, g.pending)
	g.pending = g.pending[n:]
	g.size += int64(n)
	return n, nil
}

func (g *genInput) next(b []byte) []byte {
	const desc = "Una scarpa leggera e reattiva, per allenamenti quotidiani su strada e sterrato."
	k := g.i - 1
	switch {
	case g.format == "csv" && g.i == 0:
		return append(b, "handle,title,title_en,brand,category,description,price,currency,sku,size,colour,stock,attr_material\n"...)
	case g.format == "csv" && g.i <= g.variants:
		return fmt.Appendf(b, "prodotto-%06d,Scarpa da corsa %d,Running shoe %d,Vettore,scarpe da running,%q,89.90,EUR,SKU-%07d,%d,rosso,%d,mesh\n",
			k/g.per, k/g.per, k/g.per, desc, k, 36+k%g.per, k%7)
	case g.format == "json" && g.i == 0:
		return append(b, "[\n"...)
	case g.format == "json" && g.i <= g.variants/g.per:
		b = fmt.Appendf(b, `{"handle":"prodotto-%06d","title":"Scarpa da corsa %d","titles":{"en":"Running shoe %d"},"brand":"Vettore","category":"scarpe da running","description":%q,"attributes":{"material":"mesh"},"price_minor":8990,"currency":"EUR","variants":[`,
			k, k, k, desc)
		for j := range g.per {
			if j > 0 {
				b = append(b, ',')
			}
			b = fmt.Appendf(b, `{"sku":"SKU-%07d","size":"%d","colour":"rosso","stock":%d}`, k*g.per+j, 36+j, j%7)
		}
		b = append(b, "]}"...)
		if g.i < g.variants/g.per {
			b = append(b, ',')
		}
		return append(b, '\n')
	case g.format == "json" && g.i == g.variants/g.per+1:
		g.i = g.variants + 1 // the end
		return append(b, "]\n"...)
	}
	return b
}

// TestDecodeProductsBoundedMemory decodes 100,000 variants and checks that the
// live heap while decoding stays well under the input's size: only the
// current product and the set of SKUs seen are held.
func TestDecodeProductsBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("decodes 100,000 variants")
	}
	const variants, per = 100_000, 10
	for _, format := range []string{"csv", "json"} {
		t.Run(format, func(t *testing.T) {
			g := &genInput{format: format, variants: variants, per: per}
			var ms runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&ms)
			base, peak := ms.HeapAlloc, ms.HeapAlloc
			products, nvariants := 0, 0
			probs, err := catalog.DecodeProducts(g, format, func(p *catalog.Product, row int) error {
				products++
				nvariants += len(p.Variants)
				if products%500 == 0 {
					runtime.GC()
					runtime.ReadMemStats(&ms)
					peak = max(peak, ms.HeapAlloc)
				}
				return nil
			})
			if err != nil || len(probs) > 0 {
				t.Fatalf("DecodeProducts = %v, %v; want no error or problems", err, probs[:min(len(probs), 5)])
			}
			if products != variants/per || nvariants != variants {
				t.Fatalf("DecodeProducts passed %d products, %d variants; want %d, %d", products, nvariants, variants/per, variants)
			}
			growth := int64(peak) - int64(base)
			t.Logf("%s: input %d bytes, live heap growth at most %d bytes (%.0f bytes per variant)",
				format, g.size, growth, float64(growth)/variants)
			if growth > g.size/2 {
				t.Errorf("live heap grew by %d bytes decoding %d bytes of input, want under half the input", growth, g.size)
			}
		})
	}
}

func TestCurrencyDecimals(t *testing.T) {
	tests := []struct {
		currency string
		want     int
	}{{"EUR", 2}, {"USD", 2}, {"JPY", 0}, {"KRW", 0}, {"KWD", 3}, {"", 2}}
	for _, tt := range tests {
		if got := catalog.CurrencyDecimals(tt.currency); got != tt.want {
			t.Errorf("CurrencyDecimals(%q) = %d, want %d", tt.currency, got, tt.want)
		}
	}
}

// FuzzDecodeProducts checks that no input makes the decoder panic, that every
// product it passes on is valid, and that those products survive a round
// trip through the Encoder.
func FuzzDecodeProducts(f *testing.F) {
	f.Add("csv", "handle,title,price,currency,sku,size,colour,stock\nrunner,Runner,89.90,EUR,R-41,41,rosso,3\nrunner,Runner,89.90,EUR,R-42,42,rosso,0\n")
	f.Add("csv", "handle;title;price;currency;sku;stock;attr_x;title_en\na;A;1,5;EUR;A1;1;y;B\n")
	f.Add("csv", "\uFEFFhandle,title,price,currency,sku,stock\n\"a\",\"A\"\"\",1,EUR,A1,1\n")
	f.Add("json", `[{"handle":"a","title":"A","currency":"EUR","variants":[{"sku":"A1","stock":1}]}]`)
	f.Add("json", `{"handle":"a","title":"A","currency":"JPY","price_minor":5,"variants":[{"sku":"A1","stock":1,"price_minor":3}]}`+"\n")
	f.Fuzz(func(t *testing.T, format, input string) {
		if format != "csv" && format != "json" {
			return
		}
		var ps []catalog.Product
		_, err := catalog.DecodeProducts(strings.NewReader(input), format, func(p *catalog.Product, row int) error {
			if err := p.Validate(); err != nil {
				t.Errorf("DecodeProducts passed an invalid product on row %d: %v", row, err)
			}
			ps = append(ps, *p)
			return nil
		})
		if err != nil {
			t.Fatalf("DecodeProducts(%q) error = %v, want problems only", input, err)
		}
		var buf bytes.Buffer
		enc, err := catalog.NewEncoder(&buf, format)
		if err != nil {
			t.Fatal(err)
		}
		for i := range ps {
			enc.AddColumns(&ps[i])
		}
		for i := range ps {
			if err := enc.Encode(&ps[i]); err != nil {
				t.Fatalf("Encode(%+v) = %v", ps[i], err)
			}
		}
		if err := enc.Close(); err != nil {
			t.Fatal(err)
		}
		got, _, probs := decodeAll(t, buf.String(), format)
		if len(probs) > 0 {
			t.Fatalf("decoding the re-encoded %q: problems %v\n%s", input, probs, buf.String())
		}
		if diff := cmp.Diff(ps, got, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("round trip of %q mismatch (-first +second):\n%s", input, diff)
		}
	})
}
