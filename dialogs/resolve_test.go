package dialogs_test

import (
	"context"
	"strings"
	"testing"

	"github.com/bottega-shop/bottega/catalog"
)

// The search index may lag the store: a product deleted or deactivated
// there is still found by the index until it catches up. The answers read
// the products from the store, so they never offer such a product; and a
// product the engine's vocabulary does not know yet is still found.
func TestAnswersFollowTheStore(t *testing.T) {
	ctx := context.Background()
	svc := newCatalog(t)
	c := newChat(t, svc)
	choices := c.say("sella")
	if !matches(choices, "quale intendi") {
		t.Fatalf("Handle(%q) answered:\n%s\nwant a choice list", "sella", indent(choices))
	}

	// Straight to the store: the index still holds both.
	gone, err := svc.Store().Product(ctx, "trail-runner")
	if err != nil {
		t.Fatal(err)
	}
	gone.Active = false
	if err := svc.Store().Replace(ctx, gone, "test"); err != nil {
		t.Fatal(err)
	}
	res, err := svc.Match(ctx, catalog.Query{Text: "sella"})
	if err != nil || len(res.Hits) < 2 {
		t.Fatalf("Match(sella) = %v, %v; want several hits", res.Hits, err)
	}
	deleted := res.Hits[0].ID
	if err := svc.Store().Delete(ctx, deleted); err != nil {
		t.Fatal(err)
	}

	// The same engine: its vocabulary, read before, knows both.
	if got := c.say("avete le trail runner nel 42?"); strings.Contains(got, "Trail Runner") {
		t.Errorf("Handle(trail runner) after the product was deactivated answered:\n%s\nwant no answer about it", indent(got))
	}
	got := c.say("sella")
	if !matches(got, "quale intendi") || strings.Contains(got+"\n", "choose:"+deleted+"\n") {
		t.Errorf("Handle(sella) after %s was deleted answered:\n%s\nwant a choice of the others", deleted, indent(got))
	}

	// A product put after the vocabulary was read, named with words it
	// knows, is scored by its own words.
	p := &catalog.Product{Handle: "felpa-trail", Title: "Felpa Trail", Currency: "EUR", PriceMinor: 9900, Active: true,
		Variants: []catalog.Variant{{SKU: "FTR-M", Size: "M", Colour: "giallo", Stock: 5}}}
	if err := svc.Create(ctx, p, "test"); err != nil {
		t.Fatal(err)
	}
	c.expect("avete la felpa trail in M?", "Felpa Trail")
}
