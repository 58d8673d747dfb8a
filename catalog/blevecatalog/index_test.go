package blevecatalog_test

import (
	"errors"
	"testing"

	"github.com/bottega-shop/bottega/catalog"
	"github.com/bottega-shop/bottega/catalog/blevecatalog"
	"github.com/bottega-shop/bottega/catalog/catalogtest"
)

func newIndex(t *testing.T, opts ...blevecatalog.Option) *blevecatalog.Index {
	t.Helper()
	idx, err := blevecatalog.New(opts...)
	if err != nil {
		t.Fatalf("New() = %v", err)
	}
	t.Cleanup(func() {
		if err := idx.Close(); err != nil {
			t.Errorf("Close() = %v", err)
		}
	})
	return idx
}

func TestIndex(t *testing.T) {
	catalogtest.TestIndex(t, func(t *testing.T) catalog.Index { return newIndex(t) })
}

func TestIndexOnDisk(t *testing.T) {
	catalogtest.TestIndex(t, func(t *testing.T) catalog.Index {
		return newIndex(t, blevecatalog.WithPath(t.TempDir()))
	})
}

func TestReopenOnDisk(t *testing.T) {
	dir := t.TempDir()
	p := catalog.Product{Handle: "giacca", Title: "Giacca Impermeabile", Currency: "EUR", Active: true,
		Variants: []catalog.Variant{{SKU: "G-M", Size: "M", Stock: 1}}}
	idx, err := blevecatalog.New(blevecatalog.WithPath(dir))
	if err != nil {
		t.Fatalf("New(WithPath) = %v", err)
	}
	if err := idx.Put(t.Context(), []catalog.Document{catalog.NewDocument(&p)}); err != nil {
		t.Fatalf("Put = %v", err)
	}
	if err := idx.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}
	if _, err := idx.Search(t.Context(), catalog.Query{}); !errors.Is(err, catalog.ErrUnavailable) {
		t.Errorf("Search after Close = %v, want catalog.ErrUnavailable", err)
	}

	idx = newIndex(t, blevecatalog.WithPath(dir))
	res, err := idx.Search(t.Context(), catalog.Query{Text: "giaca"})
	if err != nil {
		t.Fatalf("Search after reopening = %v", err)
	}
	if len(res.Hits) != 1 || res.Hits[0].ID != "giacca" {
		t.Errorf("Search(%q) after reopening = %v, want [giacca]", "giaca", res.Hits)
	}
}

func TestPutRejectsDocumentWithoutID(t *testing.T) {
	idx := newIndex(t)
	if err := idx.Put(t.Context(), []catalog.Document{{Title: "x"}}); err == nil {
		t.Error("Put(document without ID) = nil, want an error")
	}
}
