// Package catalog holds the shop's products and their variants (size, colour,
// stock, price), the merchandisers' synonyms and size charts, stock changes,
// and search over all of it.
//
// The system of record is a Store (Postgres or SQLite, see sqlcatalog); search
// goes through an Index (Meilisearch or bleve, see meilicatalog and
// blevecatalog). Service is the front door: it writes to the store, keeps the
// index following it, and answers searches with stock read from the store.
package catalog

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Errors returned by Store, Index and Service methods.
var (
	// ErrNotFound means the product, variant, synonym or size chart does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict means a product handle or SKU is already taken.
	ErrConflict = errors.New("conflict")
	// ErrUnavailable means a backend (database or search) cannot be reached.
	ErrUnavailable = errors.New("backend unavailable")
)

// Product is a thing the shop sells, in one or more variants.
type Product struct {
	// Handle is the product's stable, URL-safe key, e.g. "trail-runner-gtx".
	Handle string `json:"handle"`
	// Title is the product's name in the shop's default language.
	Title string `json:"title"`
	// Titles holds the name in other languages, keyed by language tag ("en").
	Titles      map[string]string `json:"titles,omitempty"`
	Brand       string            `json:"brand,omitempty"`
	Category    string            `json:"category,omitempty"`
	Description string            `json:"description,omitempty"`
	// Attributes are free merchandiser attributes ("material": "pelle").
	Attributes map[string]string `json:"attributes,omitempty"`
	ImageURL   string            `json:"image_url,omitempty"`
	PageURL    string            `json:"page_url,omitempty"`
	// PriceMinor is the price in the currency's minor unit (cents).
	PriceMinor int64  `json:"price_minor"`
	Currency   string `json:"currency"`
	// SizeChart names the size chart the product's sizes follow, if any.
	SizeChart string    `json:"size_chart,omitempty"`
	Active    bool      `json:"active"`
	Variants  []Variant `json:"variants"`
	CreatedAt time.Time `json:"created_at,omitzero"`
	UpdatedAt time.Time `json:"updated_at,omitzero"`
}

// Variant is one buyable form of a product: a size in a colour.
type Variant struct {
	SKU    string `json:"sku"`
	Size   string `json:"size,omitempty"`
	Colour string `json:"colour,omitempty"`
	Stock  int    `json:"stock"`
	// PriceMinor overrides the product's price when set.
	PriceMinor *int64 `json:"price_minor,omitempty"`
}

// Price returns the variant's price in minor units, falling back to the product's.
func (p *Product) Price(v Variant) int64 {
	if v.PriceMinor != nil {
		return *v.PriceMinor
	}
	return p.PriceMinor
}

// Variant returns the product's variant with the given SKU.
func (p *Product) Variant(sku string) (Variant, bool) {
	for _, v := range p.Variants {
		if v.SKU == sku {
			return v, true
		}
	}
	return Variant{}, false
}

// InStock reports whether any variant has stock.
func (p *Product) InStock() bool {
	for _, v := range p.Variants {
		if v.Stock > 0 {
			return true
		}
	}
	return false
}

// StockChange sets or adjusts one SKU's stock. Exactly one of Set and Delta is used.
type StockChange struct {
	SKU   string `json:"sku"`
	Set   *int   `json:"set,omitempty"`
	Delta *int   `json:"delta,omitempty"`
}

// StockEvent records one change of a SKU's stock. Events are written in the
// same transaction as the change they record.
type StockEvent struct {
	ID  int64  `json:"id"`
	SKU string `json:"sku"`
	// Handle is the product the SKU belonged to when it changed.
	Handle string    `json:"handle"`
	Old    int       `json:"old"`
	New    int       `json:"new"`
	Source string    `json:"source"`
	At     time.Time `json:"at"`
}

// Synonym makes a search for Term also find what Alternatives find
// ("scarpe da trail" → "trail running shoes"). It is one-way.
type Synonym struct {
	Term         string   `json:"term"`
	Alternatives []string `json:"alternatives"`
}

// SizeChart lists equivalent sizes across systems, such as EU, UK and US shoe
// sizes, or letter sizes (XS–XXL), waist sizes or a single "one size".
type SizeChart struct {
	Name string `json:"name"`
	// Kind is "shoe", "apparel", "waist" or "one-size".
	Kind string `json:"kind"`
	// Systems names the columns of Rows, e.g. ["eu", "uk", "us"].
	Systems []string `json:"systems"`
	// Rows are equivalent sizes, one value per system.
	Rows [][]string `json:"rows"`
}

// ListOptions selects a page of products in handle order.
type ListOptions struct {
	// After is the handle to start after (the previous page's Next).
	After    string
	Limit    int
	Category string
	Brand    string
}

// Page is one page of products.
type Page struct {
	Products []Product `json:"products"`
	// Next is the cursor for the following page, empty on the last one.
	Next string `json:"next,omitempty"`
}

// Writer puts products inside one store transaction.
type Writer interface {
	// Put upserts the product by handle and each of its variants by SKU,
	// moving a SKU from another product if need be. Variants of the product
	// that are not named are kept. Stock changes are recorded as events.
	Put(ctx context.Context, p *Product) error
}

// Store is the catalog's system of record.
type Store interface {
	// Create inserts a new product. ErrConflict if its handle or a SKU exists.
	Create(ctx context.Context, p *Product, source string) error
	// Replace replaces a product and its set of variants; variants not named
	// are deleted. ErrNotFound if the handle is unknown, ErrConflict if a SKU
	// belongs to another product.
	Replace(ctx context.Context, p *Product, source string) error
	// Delete removes a product and its variants. ErrNotFound if unknown.
	Delete(ctx context.Context, handle string) error
	// Product returns one product with its variants. ErrNotFound if unknown.
	Product(ctx context.Context, handle string) (*Product, error)
	// Products returns the named products that exist, in the order asked.
	Products(ctx context.Context, handles []string) ([]Product, error)
	// List returns a page of products in handle order.
	List(ctx context.Context, opts ListOptions) (Page, error)
	// Write runs fn in one transaction: everything fn puts is applied, or,
	// if fn returns an error, nothing is.
	Write(ctx context.Context, source string, fn func(w Writer) error) error
	// AdjustStock applies every change or none. ErrNotFound (wrapped with the
	// SKU) for an unknown SKU; a *ValidationError if a result would be negative.
	AdjustStock(ctx context.Context, changes []StockChange, source string) ([]StockEvent, error)
	// StockEvents returns events with ID greater than afterID, oldest first.
	StockEvents(ctx context.Context, afterID int64, limit int) ([]StockEvent, error)
	// Walk calls fn for every product in handle order, stopping at its first error.
	Walk(ctx context.Context, fn func(p *Product) error) error
	// Count returns the number of products and variants.
	Count(ctx context.Context) (products, variants int, err error)

	Synonyms(ctx context.Context) ([]Synonym, error)
	// PutSynonym creates or replaces the synonym for s.Term.
	PutSynonym(ctx context.Context, s Synonym) error
	// DeleteSynonym removes a synonym. ErrNotFound if unknown.
	DeleteSynonym(ctx context.Context, term string) error
	SizeCharts(ctx context.Context) ([]SizeChart, error)
	// PutSizeChart creates or replaces the chart named c.Name.
	PutSizeChart(ctx context.Context, c SizeChart) error
	// DeleteSizeChart removes a chart. ErrNotFound if unknown.
	DeleteSizeChart(ctx context.Context, name string) error

	// Ping reports whether the store answers.
	Ping(ctx context.Context) error
}

// Problem is one thing wrong with an input.
type Problem struct {
	// Row is the 1-based input row or item number, when the input has rows.
	Row     int    `json:"row,omitempty"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

func (p Problem) String() string {
	var b strings.Builder
	if p.Row > 0 {
		fmt.Fprintf(&b, "row %d: ", p.Row)
	}
	if p.Field != "" {
		b.WriteString(p.Field)
		b.WriteString(": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// ValidationError lists every problem found in an input at once.
type ValidationError struct {
	Problems []Problem
}

func (e *ValidationError) Error() string {
	if len(e.Problems) == 1 {
		return "invalid input: " + e.Problems[0].String()
	}
	return fmt.Sprintf("invalid input: %d problems, first: %s", len(e.Problems), e.Problems[0])
}

// Add appends a problem.
func (e *ValidationError) Add(field, format string, args ...any) {
	e.Problems = append(e.Problems, Problem{Field: field, Message: fmt.Sprintf(format, args...)})
}

// Err returns e if it holds problems, else nil.
func (e *ValidationError) Err() error {
	if e == nil || len(e.Problems) == 0 {
		return nil
	}
	return e
}
