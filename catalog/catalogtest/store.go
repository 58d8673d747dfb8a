// Package catalogtest holds the contract suites every catalog backend must
// pass: TestStore for catalog.Store implementations and TestIndex for
// catalog.Index implementations.
package catalogtest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/bottega-shop/bottega/catalog"
)

// TestStore runs the catalog.Store contract against the stores newStore
// returns. newStore is called once per subtest and must return an empty
// store that lives until the subtest ends (use t.Cleanup to close it).
func TestStore(t *testing.T, newStore func(t *testing.T) catalog.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s catalog.Store)
	}{
		{"CreateAndGet", storeTestCreateAndGet},
		{"CreateConflicts", storeTestCreateConflicts},
		{"CreateInvalid", storeTestCreateInvalid},
		{"Replace", storeTestReplace},
		{"ReplaceErrors", storeTestReplaceErrors},
		{"Delete", storeTestDelete},
		{"Products", storeTestProducts},
		{"List", storeTestList},
		{"WriteAllOrNothing", storeTestWriteAllOrNothing},
		{"WritePut", storeTestWritePut},
		{"WriteIdempotent", storeTestWriteIdempotent},
		{"AdjustStock", storeTestAdjustStock},
		{"AdjustStockErrors", storeTestAdjustStockErrors},
		{"StockEvents", storeTestStockEvents},
		{"ConcurrentAdjustStock", storeTestConcurrentAdjustStock},
		{"Walk", storeTestWalk},
		{"Count", storeTestCount},
		{"Synonyms", storeTestSynonyms},
		{"SizeCharts", storeTestSizeCharts},
		{"Ping", storeTestPing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.fn(t, newStore(t))
		})
	}
}

// storeCmpProduct compares products apart from the times the store sets.
var storeCmpProduct = []cmp.Option{
	cmpopts.IgnoreFields(catalog.Product{}, "CreatedAt", "UpdatedAt"),
	cmpopts.EquateEmpty(),
}

// storeCmpEvent compares stock events apart from their ID and time.
var storeCmpEvent = []cmp.Option{
	cmpopts.IgnoreFields(catalog.StockEvent{}, "ID", "At"),
	cmpopts.EquateEmpty(),
}

func storePrice(n int64) *int64 { return &n }
func storeInt(n int) *int       { return &n }

// storeVariant makes a variant.
func storeVariant(sku, size, colour string, stock int) catalog.Variant {
	return catalog.Variant{SKU: sku, Size: size, Colour: colour, Stock: stock}
}

// storeProduct makes a valid active product in EUR.
func storeProduct(handle string, variants ...catalog.Variant) *catalog.Product {
	return &catalog.Product{
		Handle:     handle,
		Title:      "Product " + handle,
		PriceMinor: 4900,
		Currency:   "EUR",
		Active:     true,
		Variants:   variants,
	}
}

// storeFullProduct sets every field.
func storeFullProduct() *catalog.Product {
	return &catalog.Product{
		Handle:      "trail-runner-gtx",
		Title:       "Scarpa Trail Runner GTX",
		Titles:      map[string]string{"en": "Trail Runner GTX shoe", "de": "Trailschuh GTX"},
		Brand:       "Montagna",
		Category:    "scarpe",
		Description: "Scarpa da trail impermeabile, suola Vibram.\nPesa 310 g.",
		Attributes:  map[string]string{"material": "pelle", "drop": "8 mm"},
		ImageURL:    "https://shop.example/img/trail.jpg",
		PageURL:     "https://shop.example/p/trail-runner-gtx",
		PriceMinor:  12900,
		Currency:    "EUR",
		SizeChart:   "shoes-eu",
		Active:      true,
		Variants: []catalog.Variant{
			{SKU: "TR-42-RED", Size: "42", Colour: "rosso", Stock: 3},
			{SKU: "TR-42.5-BLK", Size: "42,5", Colour: "nero", Stock: 0, PriceMinor: storePrice(9900)},
			{SKU: "TR-41-RED", Size: "41", Colour: "rosso", Stock: 12},
		},
	}
}

func storeMustCreate(t *testing.T, s catalog.Store, ps ...*catalog.Product) {
	t.Helper()
	for _, p := range ps {
		if err := s.Create(context.Background(), p, "test"); err != nil {
			t.Fatalf("Create(%q) = %v, want nil", p.Handle, err)
		}
	}
}

func storeMustGet(t *testing.T, s catalog.Store, handle string) *catalog.Product {
	t.Helper()
	p, err := s.Product(context.Background(), handle)
	if err != nil {
		t.Fatalf("Product(%q) = %v, want nil error", handle, err)
	}
	return p
}

func storeAllEvents(t *testing.T, s catalog.Store) []catalog.StockEvent {
	t.Helper()
	var all []catalog.StockEvent
	after := int64(0)
	for {
		evs, err := s.StockEvents(context.Background(), after, 100)
		if err != nil {
			t.Fatalf("StockEvents(%d, 100) = %v", after, err)
		}
		if len(evs) == 0 {
			return all
		}
		all = append(all, evs...)
		after = evs[len(evs)-1].ID
	}
}

func storeAll(t *testing.T, s catalog.Store) []catalog.Product {
	t.Helper()
	var all []catalog.Product
	err := s.Walk(context.Background(), func(p *catalog.Product) error {
		all = append(all, *p)
		return nil
	})
	if err != nil {
		t.Fatalf("Walk = %v", err)
	}
	return all
}

func storeCheckCount(t *testing.T, s catalog.Store, wantProducts, wantVariants int) {
	t.Helper()
	p, v, err := s.Count(context.Background())
	if err != nil || p != wantProducts || v != wantVariants {
		t.Errorf("Count() = %d, %d, %v, want %d, %d, nil", p, v, err, wantProducts, wantVariants)
	}
}

// storeCheckTime checks that a time the store set lies in [from, to],
// allowing for storage precision.
func storeCheckTime(t *testing.T, what string, got, from, to time.Time) {
	t.Helper()
	if got.Before(from.Add(-time.Millisecond)) || got.After(to.Add(time.Millisecond)) {
		t.Errorf("%s = %v, want between %v and %v", what, got, from, to)
	}
}

func storeTestCreateAndGet(t *testing.T, s catalog.Store) {
	ctx := context.Background()
	inactive := storeProduct("old-sandal", storeVariant("OS-1", "", "", 0))
	inactive.Active = false
	tests := []struct {
		name string
		p    *catalog.Product
	}{
		{"every field", storeFullProduct()},
		{"inactive, minimal", inactive},
		{"one size, no colour", storeProduct("cap", storeVariant("CAP-1", "", "", 5))},
		{"variants in any characters, in their order", storeProduct("odd-text",
			catalog.Variant{SKU: "Z-9", Size: `42 "wide"`, Colour: `back\slash`, Stock: 7, PriceMinor: storePrice(0)},
			catalog.Variant{SKU: "A-1", Size: "XL\ttab\nline\u001funit", Colour: "красный 赤 🟥", Stock: 1_000_000_000,
				PriceMinor: storePrice(catalog.MaxPriceMinor)},
			catalog.Variant{SKU: "M-5", Size: "[1,2]", Colour: "null", Stock: 0},
		)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := *tt.p
			want.Variants = slices.Clone(tt.p.Variants)
			before := time.Now()
			if err := s.Create(ctx, tt.p, "admin"); err != nil {
				t.Fatalf("Create(%q) = %v, want nil", tt.p.Handle, err)
			}
			after := time.Now()
			if diff := cmp.Diff(&want, tt.p, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("Create changed its argument (-before +after):\n%s", diff)
			}
			got := storeMustGet(t, s, tt.p.Handle)
			if diff := cmp.Diff(&want, got, storeCmpProduct...); diff != "" {
				t.Errorf("Product(%q) mismatch (-want +got):\n%s", tt.p.Handle, diff)
			}
			storeCheckTime(t, "CreatedAt", got.CreatedAt, before, after)
			if !got.UpdatedAt.Equal(got.CreatedAt) {
				t.Errorf("Product(%q).UpdatedAt = %v, want CreatedAt %v", tt.p.Handle, got.UpdatedAt, got.CreatedAt)
			}
		})
	}
	if _, err := s.Product(ctx, "no-such-product"); !errors.Is(err, catalog.ErrNotFound) {
		t.Errorf("Product(%q) = %v, want ErrNotFound", "no-such-product", err)
	}
}

func storeTestCreateConflicts(t *testing.T, s catalog.Store) {
	ctx := context.Background()
	storeMustCreate(t, s, storeFullProduct())
	before := storeAllEvents(t, s)
	tests := []struct {
		name string
		p    *catalog.Product
		// mention is a word the error must name.
		mention string
	}{
		{"same handle", storeProduct("trail-runner-gtx", storeVariant("NEW-1", "40", "", 1)), "trail-runner-gtx"},
		{"same sku", storeProduct("other-shoe", storeVariant("NEW-2", "40", "", 1), storeVariant("TR-41-RED", "41", "", 1)), "TR-41-RED"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.Create(ctx, tt.p, "admin")
			if !errors.Is(err, catalog.ErrConflict) {
				t.Fatalf("Create(%q) = %v, want ErrConflict", tt.p.Handle, err)
			}
			if !strings.Contains(err.Error(), tt.mention) {
				t.Errorf("Create(%q) = %q, want it to mention %q", tt.p.Handle, err, tt.mention)
			}
			storeCheckCount(t, s, 1, 3)
			if got := storeMustGet(t, s, "trail-runner-gtx"); !cmp.Equal(got, storeFullProduct(), storeCmpProduct...) {
				t.Errorf("after a failed Create, Product(%q) = %+v, want it unchanged", "trail-runner-gtx", got)
			}
			if diff := cmp.Diff(before, storeAllEvents(t, s)); diff != "" {
				t.Errorf("a failed Create wrote stock events (-before +after):\n%s", diff)
			}
		})
	}
}

func storeTestCreateInvalid(t *testing.T, s catalog.Store) {
	ctx := context.Background()
	tests := []struct {
		name string
		p    *catalog.Product
	}{
		{"no variants", storeProduct("empty")},
		{"bad handle", storeProduct("Bad Handle", storeVariant("B-1", "", "", 1))},
		{"negative stock", storeProduct("neg", storeVariant("N-1", "", "", -1))},
		{"duplicate sku", storeProduct("dup", storeVariant("D-1", "40", "", 1), storeVariant("D-1", "41", "", 1))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var verr *catalog.ValidationError
			if err := s.Create(ctx, tt.p, "admin"); !errors.As(err, &verr) {
				t.Fatalf("Create(%q) = %v, want a *ValidationError", tt.p.Handle, err)
			}
			storeCheckCount(t, s, 0, 0)
		})
	}
}

func storeTestReplace(t *testing.T, s catalog.Store) {
	ctx := context.Background()
	storeMustCreate(t, s, storeFullProduct())
	created := storeMustGet(t, s, "trail-runner-gtx")

	repl := storeFullProduct()
	repl.Title = "Trail Runner GTX 2"
	repl.Titles = map[string]string{"en": "Trail Runner GTX 2"}
	repl.Attributes = nil
	repl.Brand = ""
	repl.PriceMinor = 13900
	repl.Active = false
	repl.Variants = []catalog.Variant{
		{SKU: "TR-43-BLU", Size: "43", Colour: "blu", Stock: 2},                                  // new
		{SKU: "TR-42-RED", Size: "42", Colour: "rosso", Stock: 3, PriceMinor: storePrice(11900)}, // kept, now with a price
		// TR-42.5-BLK and TR-41-RED are not named: deleted.
	}
	if err := s.Replace(ctx, repl, "admin"); err != nil {
		t.Fatalf("Replace(%q) = %v, want nil", repl.Handle, err)
	}
	got := storeMustGet(t, s, repl.Handle)
	if diff := cmp.Diff(repl, got, storeCmpProduct...); diff != "" {
		t.Errorf("Product(%q) after Replace mismatch (-want +got):\n%s", repl.Handle, diff)
	}
	if !got.CreatedAt.Equal(created.CreatedAt) {
		t.Errorf("Replace changed CreatedAt from %v to %v", created.CreatedAt, got.CreatedAt)
	}
	if got.UpdatedAt.Before(created.UpdatedAt) {
		t.Errorf("Replace moved UpdatedAt back from %v to %v", created.UpdatedAt, got.UpdatedAt)
	}
	storeCheckCount(t, s, 1, 2)

	// The deleted variants' SKUs are free again.
	storeMustCreate(t, s, storeProduct("reuse", storeVariant("TR-41-RED", "41", "", 1)))

	// Replacing with the same product again changes nothing.
	if err := s.Replace(ctx, repl, "admin"); err != nil {
		t.Fatalf("Replace(%q) again = %v, want nil", repl.Handle, err)
	}
	if again := storeMustGet(t, s, repl.Handle); !cmp.Equal(got, again, storeCmpProduct...) {
		t.Errorf("a second identical Replace changed the product:\n%s", cmp.Diff(got, again, storeCmpProduct...))
	}
}

func storeTestReplaceErrors(t *testing.T, s catalog.Store) {
	ctx := context.Background()
	storeMustCreate(t, s, storeFullProduct(), storeProduct("other", storeVariant("OT-1", "M", "", 4)))
	events := storeAllEvents(t, s)
	takesSKU := storeFullProduct()
	takesSKU.Variants = append(takesSKU.Variants, storeVariant("OT-1", "L", "", 1))
	tests := []struct {
		name    string
		p       *catalog.Product
		want    error
		mention string
	}{
		{"unknown handle", storeProduct("no-such-product", storeVariant("X-1", "", "", 1)), catalog.ErrNotFound, "no-such-product"},
		{"sku of another product", takesSKU, catalog.ErrConflict, "OT-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.Replace(ctx, tt.p, "admin")
			if !errors.Is(err, tt.want) {
				t.Fatalf("Replace(%q) = %v, want %v", tt.p.Handle, err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.mention) {
				t.Errorf("Replace(%q) = %q, want it to mention %q", tt.p.Handle, err, tt.mention)
			}
			storeCheckCount(t, s, 2, 4)
			if got := storeMustGet(t, s, "trail-runner-gtx"); !cmp.Equal(got, storeFullProduct(), storeCmpProduct...) {
				t.Errorf("after a failed Replace, Product(%q) changed:\n%s", "trail-runner-gtx", cmp.Diff(storeFullProduct(), got, storeCmpProduct...))
			}
			if diff := cmp.Diff(events, storeAllEvents(t, s)); diff != "" {
				t.Errorf("a failed Replace wrote stock events (-before +after):\n%s", diff)
			}
		})
	}
	var verr *catalog.ValidationError
	if err := s.Replace(ctx, storeProduct("other"), "admin"); !errors.As(err, &verr) {
		t.Errorf("Replace(%q with no variants) = %v, want a *ValidationError", "other", err)
	}
}

func storeTestDelete(t *testing.T, s catalog.Store) {
	ctx := context.Background()
	storeMustCreate(t, s, storeFullProduct(), storeProduct("other", storeVariant("OT-1", "M", "", 4)))
	events := storeAllEvents(t, s)
	if err := s.Delete(ctx, "trail-runner-gtx"); err != nil {
		t.Fatalf("Delete(%q) = %v, want nil", "trail-runner-gtx", err)
	}
	if _, err := s.Product(ctx, "trail-runner-gtx"); !errors.Is(err, catalog.ErrNotFound) {
		t.Errorf("Product(%q) after Delete = %v, want ErrNotFound", "trail-runner-gtx", err)
	}
	if err := s.Delete(ctx, "trail-runner-gtx"); !errors.Is(err, catalog.ErrNotFound) {
		t.Errorf("Delete(%q) again = %v, want ErrNotFound", "trail-runner-gtx", err)
	}
	storeCheckCount(t, s, 1, 1)
	if diff := cmp.Diff(events, storeAllEvents(t, s)); diff != "" {
		t.Errorf("Delete changed the stock events (-before +after):\n%s", diff)
	}
	// Its variants went with it: their SKUs are free.
	if _, err := s.AdjustStock(ctx, []catalog.StockChange{{SKU: "TR-41-RED", Delta: storeInt(1)}}, "pos"); !errors.Is(err, catalog.ErrNotFound) {
		t.Errorf("AdjustStock(deleted SKU) = %v, want ErrNotFound", err)
	}
	storeMustCreate(t, s, storeProduct("new-owner", storeVariant("TR-41-RED", "41", "", 1)))
}

func storeTestProducts(t *testing.T, s catalog.Store) {
	ctx := context.Background()
	a := storeProduct("a-shoe", storeVariant("A-1", "40", "red", 1), storeVariant("A-2", "41", "red", 0))
	b := storeProduct("b-shirt", storeVariant("B-1", "M", "", 2))
	c := storeProduct("c-hat", storeVariant("C-1", "", "", 3))
	storeMustCreate(t, s, a, b, c)
	tests := []struct {
		handles []string
		want    []*catalog.Product
	}{
		{[]string{"c-hat", "missing", "a-shoe"}, []*catalog.Product{c, a}},
		{[]string{"b-shirt"}, []*catalog.Product{b}},
		{[]string{"a-shoe", "b-shirt", "c-hat"}, []*catalog.Product{a, b, c}},
		{[]string{"missing"}, nil},
		{nil, nil},
	}
	for _, tt := range tests {
		got, err := s.Products(ctx, tt.handles)
		if err != nil {
			t.Errorf("Products(%q) = %v", tt.handles, err)
			continue
		}
		var want []catalog.Product
		for _, p := range tt.want {
			want = append(want, *p)
		}
		if diff := cmp.Diff(want, got, storeCmpProduct...); diff != "" {
			t.Errorf("Products(%q) mismatch (-want +got):\n%s", tt.handles, diff)
		}
	}
}

func storeTestList(t *testing.T, s catalog.Store) {
	ctx := context.Background()
	type spec struct{ handle, category, brand string }
	specs := []spec{
		{"boot-a", "scarpe", "alpina"},
		{"boot-b", "scarpe", "montagna"},
		{"jacket-a", "giacche", "alpina"},
		{"jacket-b", "giacche", "montagna"},
		{"sock-a", "calze", "alpina"},
		{"trail-a", "scarpe", "alpina"},
		{"trail-b", "scarpe", ""},
	}
	for i, sp := range slices.Backward(specs) { // created out of order
		p := storeProduct(sp.handle, storeVariant(fmt.Sprintf("SKU-%d", i), "M", "", i))
		p.Category, p.Brand = sp.category, sp.brand
		storeMustCreate(t, s, p)
	}
	tests := []struct {
		name string
		opts catalog.ListOptions
		want []string
	}{
		{"all", catalog.ListOptions{}, []string{"boot-a", "boot-b", "jacket-a", "jacket-b", "sock-a", "trail-a", "trail-b"}},
		{"category", catalog.ListOptions{Category: "scarpe"}, []string{"boot-a", "boot-b", "trail-a", "trail-b"}},
		{"brand", catalog.ListOptions{Brand: "alpina"}, []string{"boot-a", "jacket-a", "sock-a", "trail-a"}},
		{"category and brand", catalog.ListOptions{Category: "scarpe", Brand: "alpina"}, []string{"boot-a", "trail-a"}},
		{"after", catalog.ListOptions{After: "jacket-b"}, []string{"sock-a", "trail-a", "trail-b"}},
		{"after, not a handle", catalog.ListOptions{After: "c"}, []string{"jacket-a", "jacket-b", "sock-a", "trail-a", "trail-b"}},
		{"no match", catalog.ListOptions{Category: "borse"}, nil},
	}
	for _, tt := range tests {
		for _, limit := range []int{0, 1, 2, 3, 100} {
			t.Run(fmt.Sprintf("%s/limit=%d", tt.name, limit), func(t *testing.T) {
				opts := tt.opts
				opts.Limit = limit
				var got []string
				for pages := 0; ; pages++ {
					if pages > len(specs)+1 {
						t.Fatalf("List(%+v) has not ended after %d pages", opts, pages)
					}
					page, err := s.List(ctx, opts)
					if err != nil {
						t.Fatalf("List(%+v) = %v", opts, err)
					}
					if limit > 0 && len(page.Products) > limit {
						t.Errorf("List(%+v) returned %d products, want at most %d", opts, len(page.Products), limit)
					}
					for _, p := range page.Products {
						if len(p.Variants) != 1 {
							t.Errorf("List(%+v): product %q has %d variants, want 1", opts, p.Handle, len(p.Variants))
						}
						got = append(got, p.Handle)
					}
					if page.Next == "" {
						break
					}
					if len(page.Products) == 0 {
						t.Fatalf("List(%+v) = empty page with Next %q", opts, page.Next)
					}
					opts.After = page.Next
				}
				if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
					t.Errorf("List(%+v) pages gave handles (-want +got):\n%s", tt.opts, diff)
				}
			})
		}
	}
	// A page that ends the list has no Next.
	page, err := s.List(ctx, catalog.ListOptions{Limit: 7})
	if err != nil || len(page.Products) != 7 || page.Next != "" {
		t.Errorf("List(Limit: 7) = %d products, Next %q, %v; want 7, \"\", nil", len(page.Products), page.Next, err)
	}
}

func storeTestWriteAllOrNothing(t *testing.T, s catalog.Store) {
	ctx := context.Background()
	storeMustCreate(t, s, storeProduct("kept", storeVariant("K-1", "M", "", 5)))
	events := storeAllEvents(t, s)
	boom := errors.New("boom")
	tests := []struct {
		name string
		fn   func(ctx context.Context, w catalog.Writer) error
		want func(err error) bool
	}{
		{
			name: "fn fails after puts",
			fn: func(ctx context.Context, w catalog.Writer) error {
				for _, p := range []*catalog.Product{
					storeProduct("new-1", storeVariant("N-1", "M", "", 1)),
					storeProduct("kept", storeVariant("K-1", "M", "", 50), storeVariant("K-2", "L", "", 1)),
				} {
					if err := w.Put(ctx, p); err != nil {
						return err
					}
				}
				return boom
			},
			want: func(err error) bool { return errors.Is(err, boom) },
		},
		{
			name: "fn returns a put's validation error",
			fn: func(ctx context.Context, w catalog.Writer) error {
				if err := w.Put(ctx, storeProduct("new-2", storeVariant("N-2", "M", "", 1))); err != nil {
					return err
				}
				return w.Put(ctx, storeProduct("new-3")) // no variants
			},
			want: func(err error) bool {
				var verr *catalog.ValidationError
				return errors.As(err, &verr)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.Write(ctx, "import", func(w catalog.Writer) error { return tt.fn(ctx, w) })
			if !tt.want(err) {
				t.Fatalf("Write = %v, want fn's error", err)
			}
			storeCheckCount(t, s, 1, 1)
			if got := storeMustGet(t, s, "kept"); got.Variants[0].Stock != 5 {
				t.Errorf("after a failed Write, stock of K-1 = %d, want 5", got.Variants[0].Stock)
			}
			if diff := cmp.Diff(events, storeAllEvents(t, s)); diff != "" {
				t.Errorf("a failed Write left stock events (-before +after):\n%s", diff)
			}
		})
	}
}

func storeTestWritePut(t *testing.T, s catalog.Store) {
	ctx := context.Background()
	storeMustCreate(t, s,
		storeProduct("shoe", storeVariant("S-40", "40", "red", 1), storeVariant("S-41", "41", "red", 2)),
		storeProduct("donor", storeVariant("D-1", "M", "", 7), storeVariant("D-2", "L", "", 0)),
	)
	created := storeMustGet(t, s, "shoe")
	start := storeAllEvents(t, s)
	lastID := start[len(start)-1].ID

	shoe := storeProduct("shoe", storeVariant("S-41", "41", "red", 5), storeVariant("S-42", "42", "red", 0))
	shoe.Title = "Shoe, renamed"
	moved := storeProduct("taker", storeVariant("D-1", "M", "blue", 7))
	err := s.Write(ctx, "import", func(w catalog.Writer) error {
		for _, p := range []*catalog.Product{shoe, moved} {
			if err := w.Put(ctx, p); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Write = %v, want nil", err)
	}

	got := storeMustGet(t, s, "shoe")
	if got.Title != "Shoe, renamed" {
		t.Errorf("after Put, Title = %q, want %q", got.Title, "Shoe, renamed")
	}
	if !got.CreatedAt.Equal(created.CreatedAt) {
		t.Errorf("Put changed CreatedAt from %v to %v", created.CreatedAt, got.CreatedAt)
	}
	stock := map[string]int{}
	for _, v := range got.Variants {
		stock[v.SKU] = v.Stock
	}
	// S-40 is not named and stays; S-41 is updated; S-42 is added.
	if want := map[string]int{"S-40": 1, "S-41": 5, "S-42": 0}; !cmp.Equal(stock, want) {
		t.Errorf("after Put, stock of %q = %v, want %v", "shoe", stock, want)
	}
	if donor := storeMustGet(t, s, "donor"); len(donor.Variants) != 1 || donor.Variants[0].SKU != "D-2" {
		t.Errorf("after D-1 moved, %q has variants %+v, want only D-2", "donor", donor.Variants)
	}
	taker := storeMustGet(t, s, "taker")
	if diff := cmp.Diff(moved, taker, storeCmpProduct...); diff != "" {
		t.Errorf("Product(%q) mismatch (-want +got):\n%s", "taker", diff)
	}
	evs, err := s.StockEvents(ctx, lastID, 100)
	if err != nil {
		t.Fatalf("StockEvents = %v", err)
	}
	// Only S-41 changed stock; S-42 is new with 0 and D-1 moved with the same stock.
	want := []catalog.StockEvent{{SKU: "S-41", Handle: "shoe", Old: 2, New: 5, Source: "import"}}
	if diff := cmp.Diff(want, evs, storeCmpEvent...); diff != "" {
		t.Errorf("stock events of the Write (-want +got):\n%s", diff)
	}
	storeCheckCount(t, s, 3, 5)
}

func storeTestWriteIdempotent(t *testing.T, s catalog.Store) {
	ctx := context.Background()
	storeMustCreate(t, s, storeProduct("b-02", storeVariant("B02-0", "M", "", 9)))
	var batch []*catalog.Product
	for i := range 30 {
		var vs []catalog.Variant
		for j := range 4 {
			v := storeVariant(fmt.Sprintf("B%02d-%d", i, j), fmt.Sprint(38+j), "nero", (i+j)%3)
			if j == 3 {
				v.PriceMinor = storePrice(int64(1000 + i))
			}
			vs = append(vs, v)
		}
		p := storeProduct(fmt.Sprintf("b-%02d", i), vs...)
		p.Attributes = map[string]string{"i": fmt.Sprint(i)}
		batch = append(batch, p)
	}
	run := func() error {
		return s.Write(ctx, "import", func(w catalog.Writer) error {
			for _, p := range batch {
				if err := w.Put(ctx, p); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err := run(); err != nil {
		t.Fatalf("Write = %v, want nil", err)
	}
	first, firstEvents := storeAll(t, s), storeAllEvents(t, s)
	if len(first) != 30 {
		t.Fatalf("after Write, %d products, want 30", len(first))
	}
	for i, p := range first {
		if diff := cmp.Diff(batch[i], &p, storeCmpProduct...); diff != "" {
			t.Errorf("after Write, product %q mismatch (-want +got):\n%s", p.Handle, diff)
		}
	}
	if err := run(); err != nil {
		t.Fatalf("Write again = %v, want nil", err)
	}
	second, secondEvents := storeAll(t, s), storeAllEvents(t, s)
	if diff := cmp.Diff(first, second, cmpopts.IgnoreFields(catalog.Product{}, "UpdatedAt"), cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("the same Write twice gave different states (-first +second):\n%s", diff)
	}
	if diff := cmp.Diff(firstEvents, secondEvents); diff != "" {
		t.Errorf("the same Write twice recorded new stock events (-first +second):\n%s", diff)
	}
	storeCheckCount(t, s, 30, 120)
}

func storeTestAdjustStock(t *testing.T, s catalog.Store) {
	ctx := context.Background()
	tests := []struct {
		name    string
		changes []catalog.StockChange
		want    []catalog.StockEvent
		stock   map[string]int
	}{
		{
			name:    "set",
			changes: []catalog.StockChange{{SKU: "A", Set: storeInt(9)}},
			want:    []catalog.StockEvent{{SKU: "A", Old: 3, New: 9, Source: "pos"}},
			stock:   map[string]int{"A": 9, "B": 0, "C": 10},
		},
		{
			name:    "delta",
			changes: []catalog.StockChange{{SKU: "C", Delta: storeInt(-4)}, {SKU: "B", Delta: storeInt(2)}},
			want:    []catalog.StockEvent{{SKU: "C", Old: 10, New: 6, Source: "pos"}, {SKU: "B", Old: 0, New: 2, Source: "pos"}},
			stock:   map[string]int{"A": 3, "B": 2, "C": 6},
		},
		{
			name:    "to zero",
			changes: []catalog.StockChange{{SKU: "A", Delta: storeInt(-3)}},
			want:    []catalog.StockEvent{{SKU: "A", Old: 3, New: 0, Source: "pos"}},
			stock:   map[string]int{"A": 0, "B": 0, "C": 10},
		},
		{
			name:    "same sku in order",
			changes: []catalog.StockChange{{SKU: "A", Delta: storeInt(2)}, {SKU: "A", Set: storeInt(1)}, {SKU: "A", Delta: storeInt(4)}},
			want: []catalog.StockEvent{
				{SKU: "A", Old: 3, New: 5, Source: "pos"},
				{SKU: "A", Old: 5, New: 1, Source: "pos"},
				{SKU: "A", Old: 1, New: 5, Source: "pos"},
			},
			stock: map[string]int{"A": 5, "B": 0, "C": 10},
		},
		{
			name:    "no change, no event",
			changes: []catalog.StockChange{{SKU: "A", Set: storeInt(3)}, {SKU: "B", Delta: storeInt(0)}},
			want:    nil,
			stock:   map[string]int{"A": 3, "B": 0, "C": 10},
		},
		{
			name:  "no changes",
			want:  nil,
			stock: map[string]int{"A": 3, "B": 0, "C": 10},
		},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			handle := fmt.Sprintf("adjust-%d", i)
			p := storeProduct(handle, storeVariant("A", "40", "", 3), storeVariant("B", "41", "", 0), storeVariant("C", "42", "", 10))
			storeMustCreate(t, s, p)
			t.Cleanup(func() { s.Delete(ctx, handle) })
			prev := storeAllEvents(t, s)
			want := slices.Clone(tt.want)
			for j := range want {
				want[j].Handle = handle // events name the SKU's product
			}
			before := time.Now()
			got, err := s.AdjustStock(ctx, tt.changes, "pos")
			after := time.Now()
			if err != nil {
				t.Fatalf("AdjustStock(%+v) = %v, want nil", tt.changes, err)
			}
			if diff := cmp.Diff(want, got, storeCmpEvent...); diff != "" {
				t.Errorf("AdjustStock events mismatch (-want +got):\n%s", diff)
			}
			for j, e := range got {
				storeCheckTime(t, "event At", e.At, before, after)
				if j > 0 && e.ID <= got[j-1].ID {
					t.Errorf("AdjustStock event IDs %d then %d, want increasing", got[j-1].ID, e.ID)
				}
			}
			all := storeAllEvents(t, s)
			if diff := cmp.Diff(got, all[len(prev):], cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("StockEvents after AdjustStock differ from its result (-returned +stored):\n%s", diff)
			}
			stock := map[string]int{}
			for _, v := range storeMustGet(t, s, handle).Variants {
				stock[v.SKU] = v.Stock
			}
			if !cmp.Equal(stock, tt.stock) {
				t.Errorf("after AdjustStock(%+v), stock = %v, want %v", tt.changes, stock, tt.stock)
			}
		})
	}
}

func storeTestAdjustStockErrors(t *testing.T, s catalog.Store) {
	ctx := context.Background()
	storeMustCreate(t, s, storeProduct("p", storeVariant("A", "40", "", 3), storeVariant("B-17", "41", "", 1)))
	events := storeAllEvents(t, s)
	isValidation := func(err error) bool {
		var verr *catalog.ValidationError
		return errors.As(err, &verr)
	}
	tests := []struct {
		name    string
		changes []catalog.StockChange
		is      func(error) bool
		mention string
	}{
		{
			name:    "negative result",
			changes: []catalog.StockChange{{SKU: "A", Delta: storeInt(-1)}, {SKU: "B-17", Delta: storeInt(-2)}},
			is:      isValidation,
			mention: "B-17",
		},
		{
			name:    "negative after earlier change",
			changes: []catalog.StockChange{{SKU: "A", Set: storeInt(0)}, {SKU: "A", Delta: storeInt(-1)}},
			is:      isValidation,
			mention: "A",
		},
		{
			name:    "unknown sku",
			changes: []catalog.StockChange{{SKU: "A", Delta: storeInt(5)}, {SKU: "NOPE-9", Set: storeInt(1)}},
			is:      func(err error) bool { return errors.Is(err, catalog.ErrNotFound) },
			mention: "NOPE-9",
		},
		{
			name:    "set and delta",
			changes: []catalog.StockChange{{SKU: "A", Set: storeInt(1), Delta: storeInt(1)}},
			is:      isValidation,
		},
		{
			name:    "neither set nor delta",
			changes: []catalog.StockChange{{SKU: "A"}},
			is:      isValidation,
		},
		{
			name:    "negative set",
			changes: []catalog.StockChange{{SKU: "A", Set: storeInt(-1)}},
			is:      isValidation,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.AdjustStock(ctx, tt.changes, "pos")
			if !tt.is(err) {
				t.Fatalf("AdjustStock(%+v) = %v, %v; want the documented error", tt.changes, got, err)
			}
			if !strings.Contains(err.Error(), tt.mention) {
				t.Errorf("AdjustStock(%+v) = %q, want it to name %q", tt.changes, err, tt.mention)
			}
			var verr *catalog.ValidationError
			if errors.As(err, &verr) && tt.mention != "" {
				named := false
				for _, p := range verr.Problems {
					named = named || strings.Contains(p.String(), tt.mention)
				}
				if !named {
					t.Errorf("AdjustStock(%+v) problems %v, want one naming %q", tt.changes, verr.Problems, tt.mention)
				}
			}
			p := storeMustGet(t, s, "p")
			if p.Variants[0].Stock != 3 || p.Variants[1].Stock != 1 {
				t.Errorf("after a failed AdjustStock, stock = %d, %d, want 3, 1", p.Variants[0].Stock, p.Variants[1].Stock)
			}
			if diff := cmp.Diff(events, storeAllEvents(t, s)); diff != "" {
				t.Errorf("a failed AdjustStock wrote stock events (-before +after):\n%s", diff)
			}
		})
	}
}

func storeTestStockEvents(t *testing.T, s catalog.Store) {
	ctx := context.Background()
	before := time.Now()
	p := storeProduct("ev", storeVariant("E-1", "40", "", 4), storeVariant("E-2", "41", "", 0), storeVariant("E-3", "42", "", 2))
	if err := s.Create(ctx, p, "create"); err != nil {
		t.Fatalf("Create = %v", err)
	}
	// Replace: E-1 changes, E-2 keeps 0, E-3 is deleted, E-4 is new.
	p.Variants = []catalog.Variant{storeVariant("E-1", "40", "", 1), storeVariant("E-2", "41", "", 0), storeVariant("E-4", "43", "", 6)}
	if err := s.Replace(ctx, p, "replace"); err != nil {
		t.Fatalf("Replace = %v", err)
	}
	// Put: E-2 gets stock; E-1 is not named.
	err := s.Write(ctx, "put", func(w catalog.Writer) error {
		return w.Put(ctx, storeProduct("ev", storeVariant("E-2", "41", "", 8)))
	})
	if err != nil {
		t.Fatalf("Write = %v", err)
	}
	if _, err := s.AdjustStock(ctx, []catalog.StockChange{{SKU: "E-4", Delta: storeInt(-6)}}, "adjust"); err != nil {
		t.Fatalf("AdjustStock = %v", err)
	}
	if err := s.Delete(ctx, "ev"); err != nil {
		t.Fatalf("Delete = %v", err)
	}
	after := time.Now()

	want := []catalog.StockEvent{
		{Handle: "ev", SKU: "E-1", Old: 0, New: 4, Source: "create"},
		{Handle: "ev", SKU: "E-3", Old: 0, New: 2, Source: "create"},
		{Handle: "ev", SKU: "E-1", Old: 4, New: 1, Source: "replace"},
		{Handle: "ev", SKU: "E-4", Old: 0, New: 6, Source: "replace"},
		{Handle: "ev", SKU: "E-2", Old: 0, New: 8, Source: "put"},
		{Handle: "ev", SKU: "E-4", Old: 6, New: 0, Source: "adjust"},
	}
	all := storeAllEvents(t, s)
	// Events of one call may come in any order; calls come in order.
	sortKey := func(e catalog.StockEvent) string { return e.Source + "/" + e.SKU }
	bySource := func(evs []catalog.StockEvent) []catalog.StockEvent {
		out := slices.Clone(evs)
		slices.SortStableFunc(out, func(a, b catalog.StockEvent) int {
			ia := slices.IndexFunc(want, func(w catalog.StockEvent) bool { return w.Source == a.Source })
			ib := slices.IndexFunc(want, func(w catalog.StockEvent) bool { return w.Source == b.Source })
			if ia != ib {
				return ia - ib
			}
			return strings.Compare(sortKey(a), sortKey(b))
		})
		return out
	}
	if diff := cmp.Diff(want, bySource(all), storeCmpEvent...); diff != "" {
		t.Errorf("stock events (-want +got):\n%s", diff)
	}
	for i, e := range all {
		storeCheckTime(t, fmt.Sprintf("event %d At", e.ID), e.At, before, after)
		if i > 0 && (e.ID <= all[i-1].ID || e.At.Before(all[i-1].At)) {
			t.Errorf("events %d (%v) then %d (%v): want IDs and times increasing", all[i-1].ID, all[i-1].At, e.ID, e.At)
		}
		if i > 0 && slices.IndexFunc(want, func(w catalog.StockEvent) bool { return w.Source == e.Source }) <
			slices.IndexFunc(want, func(w catalog.StockEvent) bool { return w.Source == all[i-1].Source }) {
			t.Errorf("event %d (%s) comes after event %d (%s), want calls in order", e.ID, e.Source, all[i-1].ID, all[i-1].Source)
		}
	}

	// Paging with afterID and limit.
	if len(all) == len(want) {
		page, err := s.StockEvents(ctx, all[1].ID, 3)
		if err != nil {
			t.Fatalf("StockEvents(%d, 3) = %v", all[1].ID, err)
		}
		if diff := cmp.Diff(all[2:5], page); diff != "" {
			t.Errorf("StockEvents(%d, 3) mismatch (-want +got):\n%s", all[1].ID, diff)
		}
		if rest, err := s.StockEvents(ctx, all[len(all)-1].ID, 10); err != nil || len(rest) != 0 {
			t.Errorf("StockEvents(last ID, 10) = %v, %v; want none", rest, err)
		}
	}
}

func storeTestConcurrentAdjustStock(t *testing.T, s catalog.Store) {
	ctx := context.Background()
	storeMustCreate(t, s, storeProduct("hot", storeVariant("HOT-1", "M", "", 1000), storeVariant("HOT-2", "L", "", 0)))
	const (
		workers = 16
		each    = 10
	)
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				// Each change takes one from HOT-1 and adds one to HOT-2,
				// half of them naming the SKUs in the other order.
				changes := []catalog.StockChange{{SKU: "HOT-1", Delta: storeInt(-1)}, {SKU: "HOT-2", Delta: storeInt(1)}}
				if (w+i)%2 == 1 {
					changes[0], changes[1] = changes[1], changes[0]
				}
				if _, err := s.AdjustStock(ctx, changes, "checkout"); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent AdjustStock = %v", err)
	}
	p := storeMustGet(t, s, "hot")
	if got, want := p.Variants[0].Stock, 1000-workers*each; got != want {
		t.Errorf("after %d concurrent -1 deltas, stock of HOT-1 = %d, want %d", workers*each, got, want)
	}
	if got, want := p.Variants[1].Stock, workers*each; got != want {
		t.Errorf("after %d concurrent +1 deltas, stock of HOT-2 = %d, want %d", workers*each, got, want)
	}
	// The events chain: each SKU's events go from its old to its new stock
	// without gaps.
	last := map[string]int{"HOT-1": 1000, "HOT-2": 0}
	n := 0
	for _, e := range storeAllEvents(t, s) {
		if e.Source != "checkout" {
			continue
		}
		n++
		if e.Handle != "hot" {
			t.Errorf("event %d: Handle = %q, want %q", e.ID, e.Handle, "hot")
		}
		if e.Old != last[e.SKU] {
			t.Errorf("event %d: %s from %d, want from %d (the previous event's new stock)", e.ID, e.SKU, e.Old, last[e.SKU])
		}
		last[e.SKU] = e.New
	}
	if n != 2*workers*each {
		t.Errorf("%d checkout stock events, want %d", n, 2*workers*each)
	}
}

func storeTestWalk(t *testing.T, s catalog.Store) {
	ctx := context.Background()
	var want []string
	for i := range 25 {
		want = append(want, fmt.Sprintf("walk-%02d", i))
	}
	for _, i := range []int{13, 2, 24, 0, 7, 19, 1, 3, 4, 5, 6, 8, 9, 10, 11, 12, 14, 15, 16, 17, 18, 20, 21, 22, 23} {
		storeMustCreate(t, s, storeProduct(want[i], storeVariant(fmt.Sprintf("W-%d", i), "M", "", i)))
	}
	var got []string
	err := s.Walk(ctx, func(p *catalog.Product) error {
		got = append(got, p.Handle)
		if len(p.Variants) != 1 {
			t.Errorf("Walk: product %q has %d variants, want 1", p.Handle, len(p.Variants))
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Walk = %v, want nil", err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Walk order mismatch (-want +got):\n%s", diff)
	}

	stop := errors.New("stop")
	calls := 0
	err = s.Walk(ctx, func(p *catalog.Product) error {
		calls++
		if calls == 3 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || calls != 3 {
		t.Errorf("Walk stopping at the 3rd product = %v after %d calls, want %v after 3", err, calls, stop)
	}

	empty := 0
	if err := s.Walk(ctx, func(*catalog.Product) error { empty++; return nil }); err != nil || empty != 25 {
		t.Errorf("Walk = %v after %d calls, want nil after 25", err, empty)
	}
}

func storeTestCount(t *testing.T, s catalog.Store) {
	storeCheckCount(t, s, 0, 0)
	storeMustCreate(t, s, storeFullProduct(), storeProduct("x", storeVariant("X-1", "M", "", 0)))
	storeCheckCount(t, s, 2, 4)
	if err := s.Delete(context.Background(), "x"); err != nil {
		t.Fatalf("Delete = %v", err)
	}
	storeCheckCount(t, s, 1, 3)
}

func storeTestSynonyms(t *testing.T, s catalog.Store) {
	ctx := context.Background()
	check := func(want []catalog.Synonym) {
		t.Helper()
		got, err := s.Synonyms(ctx)
		if err != nil {
			t.Fatalf("Synonyms() = %v", err)
		}
		// Order is not part of the contract.
		slices.SortFunc(got, func(a, b catalog.Synonym) int { return strings.Compare(a.Term, b.Term) })
		if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("Synonyms() mismatch (-want +got):\n%s", diff)
		}
	}
	check(nil)
	trail := catalog.Synonym{Term: "scarpe da trail", Alternatives: []string{"trail running shoes", "scarpe trail"}}
	hoodie := catalog.Synonym{Term: "felpa", Alternatives: []string{"hoodie"}}
	for _, syn := range []catalog.Synonym{trail, hoodie} {
		if err := s.PutSynonym(ctx, syn); err != nil {
			t.Fatalf("PutSynonym(%q) = %v", syn.Term, err)
		}
	}
	check([]catalog.Synonym{hoodie, trail})
	hoodie.Alternatives = []string{"hoodie", "sweatshirt"}
	if err := s.PutSynonym(ctx, hoodie); err != nil {
		t.Fatalf("PutSynonym(%q) again = %v", hoodie.Term, err)
	}
	check([]catalog.Synonym{hoodie, trail})
	if err := s.DeleteSynonym(ctx, "scarpe da trail"); err != nil {
		t.Fatalf("DeleteSynonym(%q) = %v", "scarpe da trail", err)
	}
	check([]catalog.Synonym{hoodie})
	if err := s.DeleteSynonym(ctx, "scarpe da trail"); !errors.Is(err, catalog.ErrNotFound) {
		t.Errorf("DeleteSynonym(%q) again = %v, want ErrNotFound", "scarpe da trail", err)
	}
	var verr *catalog.ValidationError
	if err := s.PutSynonym(ctx, catalog.Synonym{Term: "nothing"}); !errors.As(err, &verr) {
		t.Errorf("PutSynonym(no alternatives) = %v, want a *ValidationError", err)
	}
	check([]catalog.Synonym{hoodie})
}

func storeTestSizeCharts(t *testing.T, s catalog.Store) {
	ctx := context.Background()
	check := func(want []catalog.SizeChart) {
		t.Helper()
		got, err := s.SizeCharts(ctx)
		if err != nil {
			t.Fatalf("SizeCharts() = %v", err)
		}
		slices.SortFunc(got, func(a, b catalog.SizeChart) int { return strings.Compare(a.Name, b.Name) })
		if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("SizeCharts() mismatch (-want +got):\n%s", diff)
		}
	}
	check(nil)
	shoes := catalog.SizeChart{Name: "shoes-eu", Kind: "shoe", Systems: []string{"eu", "uk", "us"},
		Rows: [][]string{{"41", "7", "8"}, {"42", "8", "9"}, {"42.5", "8.5", "9.5"}}}
	tops := catalog.SizeChart{Name: "apparel", Kind: "apparel", Systems: []string{"letter", "it"},
		Rows: [][]string{{"S", "44"}, {"M", "46"}}}
	for _, c := range []catalog.SizeChart{shoes, tops} {
		if err := s.PutSizeChart(ctx, c); err != nil {
			t.Fatalf("PutSizeChart(%q) = %v", c.Name, err)
		}
	}
	check([]catalog.SizeChart{tops, shoes})
	tops.Rows = append(tops.Rows, []string{"L", "48"})
	if err := s.PutSizeChart(ctx, tops); err != nil {
		t.Fatalf("PutSizeChart(%q) again = %v", tops.Name, err)
	}
	check([]catalog.SizeChart{tops, shoes})
	if err := s.DeleteSizeChart(ctx, "shoes-eu"); err != nil {
		t.Fatalf("DeleteSizeChart(%q) = %v", "shoes-eu", err)
	}
	check([]catalog.SizeChart{tops})
	if err := s.DeleteSizeChart(ctx, "shoes-eu"); !errors.Is(err, catalog.ErrNotFound) {
		t.Errorf("DeleteSizeChart(%q) again = %v, want ErrNotFound", "shoes-eu", err)
	}
	var verr *catalog.ValidationError
	bad := catalog.SizeChart{Name: "bad", Kind: "shoe", Systems: []string{"eu", "uk"}, Rows: [][]string{{"42"}}}
	if err := s.PutSizeChart(ctx, bad); !errors.As(err, &verr) {
		t.Errorf("PutSizeChart(row too short) = %v, want a *ValidationError", err)
	}
	check([]catalog.SizeChart{tops})
}

func storeTestPing(t *testing.T, s catalog.Store) {
	if err := s.Ping(context.Background()); err != nil {
		t.Errorf("Ping() = %v, want nil", err)
	}
}
