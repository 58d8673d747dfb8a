package sqlcatalog_test

import (
	"context"
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/bottega-shop/bottega/catalog"
	"github.com/bottega-shop/bottega/internal/sqldb"
	"github.com/bottega-shop/bottega/internal/testserver"
)

// TestPostgresOutage cuts the connections to Postgres under an open store:
// calls fail with catalog.ErrUnavailable, and work again once the server is
// back.
func TestPostgresOutage(t *testing.T) {
	ctx := context.Background()
	u, err := url.Parse(testserver.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	p := testserver.NewProxy(t, u.Host)
	u.Host = p.Addr
	db, err := sqldb.OpenPostgres(ctx, u.String())
	if err != nil {
		t.Fatalf("OpenPostgres through the proxy = %v", err)
	}
	t.Cleanup(func() { db.Close() })
	s := newStore(t, db)
	prod := &catalog.Product{Handle: "giacca", Title: "Giacca", PriceMinor: 9900, Currency: "EUR",
		Variants: []catalog.Variant{{SKU: "G-M", Size: "M", Stock: 2}}}
	if err := s.Create(ctx, prod, "admin"); err != nil {
		t.Fatalf("Create = %v", err)
	}

	p.Down()
	calls := []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"Product", func(ctx context.Context) error { _, err := s.Product(ctx, "giacca"); return err }},
		{"AdjustStock", func(ctx context.Context) error {
			_, err := s.AdjustStock(ctx, []catalog.StockChange{{SKU: "G-M", Delta: new(-1)}}, "pos")
			return err
		}},
		{"Ping", s.Ping},
		{"Count", func(ctx context.Context) error { _, _, err := s.Count(ctx); return err }},
	}
	for _, c := range calls {
		ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		err := c.call(ctx)
		cancel()
		t.Logf("%s with the database down = %v", c.name, err)
		if !errors.Is(err, catalog.ErrUnavailable) {
			t.Errorf("%s with the database down = %v, want ErrUnavailable", c.name, err)
		}
	}

	p.Up()
	deadline := time.Now().Add(15 * time.Second)
	for {
		got, err := s.Product(ctx, "giacca")
		if err == nil {
			if got.Variants[0].Stock != 2 {
				t.Errorf("stock after the outage = %d, want 2 (the adjust failed)", got.Variants[0].Stock)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Product 15s after the database came back = %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
