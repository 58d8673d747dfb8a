package sqlcatalog_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/bottega-shop/bottega/catalog"
	"github.com/bottega-shop/bottega/catalog/catalogtest"
	"github.com/bottega-shop/bottega/catalog/sqlcatalog"
	"github.com/bottega-shop/bottega/internal/sqldb"
	"github.com/bottega-shop/bottega/internal/testserver"
)

func newStore(t testing.TB, db *sqldb.DB, opts ...sqlcatalog.Option) *sqlcatalog.Store {
	t.Helper()
	s, err := sqlcatalog.New(db, opts...)
	if err != nil {
		t.Fatalf("sqlcatalog.New(%s) = %v", db.Dialect, err)
	}
	return s
}

func TestStoreSQLite(t *testing.T) {
	catalogtest.TestStore(t, func(t *testing.T) catalog.Store {
		return newStore(t, testserver.SQLiteDB(t, filepath.Join(t.TempDir(), "bottega.db")))
	})
}

func TestStorePostgres(t *testing.T) {
	catalogtest.TestStore(t, func(t *testing.T) catalog.Store {
		return newStore(t, testserver.PostgresDB(t))
	})
}

// TestSQLitePersists closes the database file and opens it again.
func TestSQLitePersists(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "bottega.db")
	at := time.Date(2026, 3, 14, 9, 26, 53, 589793000, time.UTC)
	p := &catalog.Product{
		Handle: "borsa", Title: "Borsa in pelle", Titles: map[string]string{"en": "Leather bag"},
		PriceMinor: 25900, Currency: "EUR", Active: true,
		Variants: []catalog.Variant{{SKU: "BO-1", Colour: "marrone", Stock: 4}},
	}
	syn := catalog.Synonym{Term: "borsetta", Alternatives: []string{"borsa"}}

	db, err := sqldb.OpenSQLite(path)
	if err != nil {
		t.Fatalf("OpenSQLite = %v", err)
	}
	s := newStore(t, db, sqlcatalog.WithNow(func() time.Time { return at }))
	if err := s.Create(ctx, p, "admin"); err != nil {
		t.Fatalf("Create = %v", err)
	}
	if err := s.PutSynonym(ctx, syn); err != nil {
		t.Fatalf("PutSynonym = %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}
	if err := s.Ping(ctx); !errors.Is(err, catalog.ErrUnavailable) {
		t.Errorf("Ping on a closed database = %v, want ErrUnavailable", err)
	}
	if _, err := s.Product(ctx, "borsa"); !errors.Is(err, catalog.ErrUnavailable) {
		t.Errorf("Product on a closed database = %v, want ErrUnavailable", err)
	}

	s = newStore(t, testserver.SQLiteDB(t, path)) // migrations find nothing to do
	got, err := s.Product(ctx, "borsa")
	if err != nil {
		t.Fatalf("Product after reopening = %v", err)
	}
	want := *p
	want.CreatedAt, want.UpdatedAt = at, at
	if diff := cmp.Diff(&want, got); diff != "" {
		t.Errorf("Product after reopening mismatch (-want +got):\n%s", diff)
	}
	evs, err := s.StockEvents(ctx, 0, 10)
	if wantEv := []catalog.StockEvent{{ID: 1, SKU: "BO-1", Handle: "borsa", Old: 0, New: 4, Source: "admin", At: at}}; err != nil || !cmp.Equal(evs, wantEv) {
		t.Errorf("StockEvents after reopening = %v, %v; want %v", evs, err, wantEv)
	}
	if syns, err := s.Synonyms(ctx); err != nil || !cmp.Equal(syns, []catalog.Synonym{syn}) {
		t.Errorf("Synonyms after reopening = %v, %v; want %v", syns, err, []catalog.Synonym{syn})
	}
}

// TestUpdatedAt checks which writes move UpdatedAt, with a clock the test
// moves.
func TestUpdatedAt(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	s := newStore(t, testserver.SQLiteDB(t, filepath.Join(t.TempDir(), "bottega.db")),
		sqlcatalog.WithNow(func() time.Time { return now }))
	p := &catalog.Product{Handle: "felpa", Title: "Felpa", PriceMinor: 3900, Currency: "EUR", Active: true,
		Variants: []catalog.Variant{{SKU: "F-M", Size: "M", Stock: 1}, {SKU: "F-L", Size: "L", Stock: 1}}}
	created := now
	if err := s.Create(ctx, p, "admin"); err != nil {
		t.Fatalf("Create = %v", err)
	}
	put := func(p *catalog.Product) {
		t.Helper()
		if err := s.Write(ctx, "import", func(w catalog.Writer) error { return w.Put(ctx, p) }); err != nil {
			t.Fatalf("Write = %v", err)
		}
	}
	tests := []struct {
		name    string
		write   func()
		updated bool
	}{
		{"same product again", func() { put(p) }, false},
		{"stock only", func() {
			q := *p
			q.Variants = []catalog.Variant{{SKU: "F-M", Size: "M", Stock: 7}}
			put(&q)
		}, false},
		{"adjust stock", func() {
			if _, err := s.AdjustStock(ctx, []catalog.StockChange{{SKU: "F-L", Set: new(int)}}, "pos"); err != nil {
				t.Fatalf("AdjustStock = %v", err)
			}
		}, false},
		{"title", func() {
			q := *p
			q.Title = "Felpa con cappuccio"
			put(&q)
		}, true},
		{"variant colour", func() {
			q := *p
			q.Title = "Felpa con cappuccio"
			q.Variants = []catalog.Variant{{SKU: "F-M", Size: "M", Colour: "grigio", Stock: 7}}
			put(&q)
		}, true},
		{"replace dropping a variant", func() {
			q := *p
			q.Title = "Felpa con cappuccio"
			q.Variants = []catalog.Variant{{SKU: "F-M", Size: "M", Colour: "grigio", Stock: 7}}
			if err := s.Replace(ctx, &q, "admin"); err != nil {
				t.Fatalf("Replace = %v", err)
			}
		}, true},
	}
	last := created
	for _, tt := range tests {
		now = now.Add(time.Hour)
		tt.write()
		got, err := s.Product(ctx, "felpa")
		if err != nil {
			t.Fatalf("Product = %v", err)
		}
		want := last
		if tt.updated {
			want = now
		}
		if !got.UpdatedAt.Equal(want) || !got.CreatedAt.Equal(created) {
			t.Errorf("after %s: CreatedAt, UpdatedAt = %v, %v; want %v, %v", tt.name, got.CreatedAt, got.UpdatedAt, created, want)
		}
		last = got.UpdatedAt
	}
}

// TestWriteAfterDatabaseError checks that a Put after a failed statement
// does not let Write commit half a batch.
func TestWriteAfterDatabaseError(t *testing.T) {
	ctx := context.Background()
	db := testserver.SQLiteDB(t, filepath.Join(t.TempDir(), "bottega.db"))
	s := newStore(t, db)
	p := func(h, sku string) *catalog.Product {
		return &catalog.Product{Handle: h, Title: h, PriceMinor: 1, Currency: "EUR",
			Variants: []catalog.Variant{{SKU: sku, Stock: 1}}}
	}
	ctx2, cancel := context.WithCancel(ctx)
	err := s.Write(ctx, "import", func(w catalog.Writer) error {
		if err := w.Put(ctx, p("one", "O-1")); err != nil {
			return err
		}
		cancel()
		if err := w.Put(ctx2, p("two", "T-1")); err == nil {
			t.Errorf("Put with a canceled context = nil, want an error")
		}
		if err := w.Put(ctx, p("three", "TH-1")); err == nil {
			t.Errorf("Put after a failed Put = nil, want the earlier error")
		}
		return nil // fn ignores the failures; Write must not commit
	})
	if err == nil {
		t.Fatalf("Write = nil, want the Put's error")
	}
	if n, _, err := s.Count(ctx); err != nil || n != 0 {
		t.Errorf("Count after a spoilt Write = %d, %v; want 0", n, err)
	}
}
