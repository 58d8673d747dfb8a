package demo_test

import (
	"bytes"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/bottega-shop/bottega/catalog"
	"github.com/bottega-shop/bottega/catalog/demo"
)

func TestCatalogShape(t *testing.T) {
	ps, _, _ := demo.Catalog()
	variants, soldOut, low := 0, 0, 0
	handles := map[string]bool{}
	skus := map[string]string{}
	for i := range ps {
		p := &ps[i]
		if err := p.Validate(); err != nil {
			t.Errorf("product %q: Validate() = %v", p.Handle, err)
		}
		if handles[p.Handle] {
			t.Errorf("handle %q appears twice", p.Handle)
		}
		handles[p.Handle] = true
		for _, v := range p.Variants {
			variants++
			if other, ok := skus[v.SKU]; ok {
				t.Errorf("SKU %q of %q is also a SKU of %q", v.SKU, p.Handle, other)
			}
			skus[v.SKU] = p.Handle
			switch {
			case v.Stock == 0:
				soldOut++
			case v.Stock <= 3:
				low++
			}
			if _, ok := catalog.KnownColour(v.Colour); !ok {
				t.Errorf("%s: colour %q is not in the colour vocabulary", v.SKU, v.Colour)
			}
		}
	}
	if n := len(ps); n < 180 || n > 220 {
		t.Errorf("Catalog() has %d products, want 180–220", n)
	}
	if variants < 1800 || variants > 2400 {
		t.Errorf("Catalog() has %d variants, want 1,800–2,400", variants)
	}
	// About one variant in ten is sold out and one in ten is low.
	for _, c := range []struct {
		name string
		n    int
	}{{"sold out", soldOut}, {"low (1–3)", low}} {
		if share := float64(c.n) / float64(variants); share < 0.05 || share > 0.15 {
			t.Errorf("%d of %d variants (%.0f%%) are %s, want about 10%%", c.n, variants, 100*share, c.name)
		}
	}
}

func TestCatalogProducts(t *testing.T) {
	categories := []string{"scarpe da running", "scarpe da trail", "sneakers", "stivali", "sandali",
		"magliette", "felpe", "giacche", "camicie", "jeans", "borse", "accessori", "calze"}
	ps, _, _ := demo.Catalog()
	seen := map[string]int{}
	for _, p := range ps {
		seen[p.Category]++
		if !slices.Contains(categories, p.Category) {
			t.Errorf("%s: category %q is not one of %v", p.Handle, p.Category, categories)
		}
		if p.Titles["en"] == "" || p.Titles["en"] == p.Title && p.Handle != "trail-runner" {
			t.Errorf("%s: English title %q, want a translation of %q", p.Handle, p.Titles["en"], p.Title)
		}
		if want := demo.BaseURL + "/prodotti/" + p.Handle; p.PageURL != want {
			t.Errorf("%s: PageURL = %q, want %q", p.Handle, p.PageURL, want)
		}
		if p.Currency != "EUR" || p.PriceMinor < 500 || p.PriceMinor%10 != 0 {
			t.Errorf("%s: price %d %s, want whole EUR cents ending in 0", p.Handle, p.PriceMinor, p.Currency)
		}
		if p.Brand == "" || p.Description == "" || p.Attributes["material"] == "" || !p.Active {
			t.Errorf("%s: brand %q, description %q, material %q, active %v; want all set", p.Handle, p.Brand, p.Description, p.Attributes["material"], p.Active)
		}
	}
	for _, c := range categories {
		if seen[c] == 0 {
			t.Errorf("no product in category %q", c)
		}
	}
}

// TestSizes checks that every size is in its product's chart and that each
// kind of product has the sizes its chart promises.
func TestSizes(t *testing.T) {
	ps, _, charts := demo.Catalog()
	chartSizes := map[string]map[string]bool{}
	for _, c := range charts {
		if err := c.Validate(); err != nil {
			t.Errorf("size chart %q: Validate() = %v", c.Name, err)
		}
		chartSizes[c.Name] = map[string]bool{}
		for _, row := range c.Rows {
			for _, v := range row {
				chartSizes[c.Name][catalog.SizeKey(v)] = true
			}
		}
	}
	for _, name := range []string{"shoes-eu", "apparel", "waist", "one-size"} {
		if chartSizes[name] == nil {
			t.Errorf("no size chart %q", name)
		}
	}
	halves := 0
	for _, p := range ps {
		sizes, ok := chartSizes[p.SizeChart]
		if !ok {
			t.Errorf("%s: size chart %q is not one of the demo's charts", p.Handle, p.SizeChart)
			continue
		}
		for _, v := range p.Variants {
			key := catalog.SizeKey(v.Size)
			if !sizes[key] {
				t.Errorf("%s: size %q is not in chart %q", v.SKU, v.Size, p.SizeChart)
			}
			if p.SizeChart == demo.ChartShoes {
				n, err := strconv.ParseFloat(key, 64)
				if err != nil || n < 36 || n > 46 {
					t.Errorf("%s: shoe size %q, want EU 36–46", v.SKU, v.Size)
				}
				if strings.HasSuffix(key, ".5") {
					halves++
				}
			}
		}
	}
	if halves == 0 {
		t.Errorf("no shoe comes in a half size")
	}
	shoes := charts[slices.IndexFunc(charts, func(c catalog.SizeChart) bool { return c.Name == demo.ChartShoes })]
	if !cmp.Equal(shoes.Systems, []string{"eu", "uk", "us"}) || shoes.Kind != "shoe" {
		t.Errorf("shoe chart systems %v kind %q, want [eu uk us] shoe", shoes.Systems, shoes.Kind)
	}
	prevUK := 0.0
	for _, row := range shoes.Rows {
		uk, _ := strconv.ParseFloat(row[1], 64)
		us, _ := strconv.ParseFloat(row[2], 64)
		if uk < prevUK || us != uk+1 {
			t.Errorf("shoe chart row %v: UK sizes must not go down and US must be UK + 1", row)
		}
		prevUK = uk
	}
}

func TestTrailRunner(t *testing.T) {
	ps, _, _ := demo.Catalog()
	i := slices.IndexFunc(ps, func(p catalog.Product) bool { return p.Handle == "trail-runner" })
	if i < 0 {
		t.Fatal("no product trail-runner")
	}
	p := ps[i]
	if p.Title != "Trail Runner" || p.Titles["en"] != "Trail Runner" || p.Category != "scarpe da trail" {
		t.Errorf("trail-runner: title %q, en %q, category %q; want Trail Runner, Trail Runner, scarpe da trail", p.Title, p.Titles["en"], p.Category)
	}
	stock := map[string]int{}
	for _, v := range p.Variants {
		stock[catalog.ColourKey(v.Colour)+"|"+catalog.SizeKey(v.Size)] = v.Stock
	}
	for _, c := range []string{"red", "black"} {
		for s := 39; s <= 45; s++ {
			if _, ok := stock[c+"|"+strconv.Itoa(s)]; !ok {
				t.Errorf("trail-runner has no %s %d", c, s)
			}
		}
	}
	if len(stock) != 14 {
		t.Errorf("trail-runner has %d variants, want 14 (red and black, 39–45)", len(stock))
	}
	for _, tt := range []struct {
		key  string
		want func(int) bool
		desc string
	}{
		{"red|42", func(n int) bool { return n == 0 }, "sold out"},
		{"red|41", func(n int) bool { return n > 0 }, "in stock"},
		{"red|43", func(n int) bool { return n > 0 }, "in stock"},
		{"red|44", func(n int) bool { return n == 3 }, "exactly 3"},
	} {
		if !tt.want(stock[tt.key]) {
			t.Errorf("trail-runner %s stock = %d, want %s", tt.key, stock[tt.key], tt.desc)
		}
	}
	d := catalog.NewDocument(&p)
	if slices.Contains(d.StockKeys, "red|42") || !slices.Contains(d.VariantKeys, "red|42") || !slices.Contains(d.StockKeys, "red|44") {
		t.Errorf("NewDocument(trail-runner) keys: stock %v, variant %v; want red|42 only among variant keys", d.StockKeys, d.VariantKeys)
	}
}

func TestSynonyms(t *testing.T) {
	_, syns, _ := demo.Catalog()
	got := map[string][]string{}
	for _, s := range syns {
		if err := s.Validate(); err != nil {
			t.Errorf("synonym %q: Validate() = %v", s.Term, err)
		}
		if _, ok := got[s.Term]; ok {
			t.Errorf("synonym %q appears twice", s.Term)
		}
		got[s.Term] = s.Alternatives
	}
	for term, alt := range map[string]string{
		"scarpe da trail": "trail running", "scarpe da corsa": "running", "hoodie": "felpa", "felpa": "hoodie",
		"t-shirt": "maglietta", "maglietta": "t-shirt", "sneaker": "scarpe da ginnastica", "giubbotto": "giacca",
	} {
		if !slices.Contains(got[term], alt) {
			t.Errorf("synonym %q = %v, want it to include %q", term, got[term], alt)
		}
	}
}

func TestCatalogDeterministic(t *testing.T) {
	ps1, syns1, charts1 := demo.Catalog()
	ps1[0].Variants[0].Stock = 999 // the caller owns what it gets
	ps1[0].Titles["en"] = "changed"
	syns1[0].Alternatives[0] = "changed"
	charts1[0].Rows[0][0] = "changed"
	ps2, syns2, charts2 := demo.Catalog()
	ps3, syns3, charts3 := demo.Catalog()
	if diff := cmp.Diff(ps2, ps3); diff != "" {
		t.Errorf("Catalog() products differ between calls (-first +second):\n%s", diff)
	}
	if !cmp.Equal(syns2, syns3) || !cmp.Equal(charts2, charts3) {
		t.Errorf("Catalog() synonyms or charts differ between calls")
	}
	if ps2[0].Variants[0].Stock == 999 || ps2[0].Titles["en"] == "changed" || syns2[0].Alternatives[0] == "changed" || charts2[0].Rows[0][0] == "changed" {
		t.Errorf("changing one Catalog() result changed the next one")
	}
}

// TestCatalogCSV checks that the demo catalog survives a CSV export and
// import, the way a merchandiser would start from it.
func TestCatalogCSV(t *testing.T) {
	ps, _, _ := demo.Catalog()
	var buf bytes.Buffer
	enc, err := catalog.NewEncoder(&buf, "csv")
	if err != nil {
		t.Fatal(err)
	}
	for i := range ps {
		if err := enc.AddColumns(&ps[i]); err != nil {
			t.Fatal(err)
		}
	}
	for i := range ps {
		if err := enc.Encode(&ps[i]); err != nil {
			t.Fatalf("Encode(%q) = %v", ps[i].Handle, err)
		}
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	var got []catalog.Product
	probs, err := catalog.DecodeProducts(&buf, "csv", func(p *catalog.Product, row int) error {
		got = append(got, *p)
		return nil
	})
	if err != nil || len(probs) > 0 {
		t.Fatalf("DecodeProducts(demo csv) = %v, %v; want no problems", probs, err)
	}
	if diff := cmp.Diff(ps, got, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("demo catalog after a CSV round trip differs (-want +got):\n%s", diff)
	}
}
