package sqlcatalog

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/bottega-shop/bottega/catalog"
	"github.com/bottega-shop/bottega/internal/sqldb"
)

// Product returns one product with its variants. ErrNotFound if unknown.
func (s *Store) Product(ctx context.Context, handle string) (*catalog.Product, error) {
	ps, err := s.products(ctx, []string{handle})
	if err != nil {
		return nil, s.wrap(fmt.Sprintf("product %q", handle), err)
	}
	if len(ps) == 0 {
		return nil, fmt.Errorf("sqlcatalog: product %q: %w", handle, catalog.ErrNotFound)
	}
	return &ps[0], nil
}

// Products returns the named products that exist, in the order asked, in
// one statement.
func (s *Store) Products(ctx context.Context, handles []string) ([]catalog.Product, error) {
	if len(handles) == 0 {
		return nil, nil
	}
	ps, err := s.products(ctx, handles)
	if err != nil {
		return nil, s.wrap("products", err)
	}
	return ps, nil
}

func (s *Store) products(ctx context.Context, handles []string) ([]catalog.Product, error) {
	if len(handles) == 1 { // a stock answer's read, the most frequent
		rows, err := s.db.Query(ctx, s.sql.productByHandle, handles[0])
		if err != nil {
			return nil, err
		}
		return scanProducts(rows)
	}
	rows, err := s.db.Query(ctx, s.sql.productsByHandle, jsonText(handles))
	if err != nil {
		return nil, err
	}
	found, err := scanProducts(rows)
	if err != nil {
		return nil, err
	}
	byHandle := make(map[string]int, len(found))
	for i := range found {
		byHandle[found[i].Handle] = i
	}
	out := make([]catalog.Product, 0, len(found))
	for _, h := range handles {
		if i, ok := byHandle[h]; ok {
			out = append(out, found[i])
		}
	}
	return out, nil
}

// List returns a page of products in handle order. A Limit of 0 means
// DefaultListLimit; larger limits are cut to MaxListLimit. Category and
// Brand, when set, must match exactly.
func (s *Store) List(ctx context.Context, opts catalog.ListOptions) (catalog.Page, error) {
	limit := opts.Limit
	switch {
	case limit <= 0:
		limit = DefaultListLimit
	case limit > MaxListLimit:
		limit = MaxListLimit
	}
	rows, err := s.db.R.QueryContext(ctx, s.sql.list, opts.After, opts.Category, opts.Brand, limit+1)
	if err != nil {
		return catalog.Page{}, s.wrap("list products", err)
	}
	ps, err := scanProducts(rows)
	if err != nil {
		return catalog.Page{}, s.wrap("list products", err)
	}
	var page catalog.Page
	if len(ps) > limit {
		ps = ps[:limit]
		page.Next = ps[limit-1].Handle
	}
	page.Products = ps
	return page, nil
}

// Walk calls fn for every product in handle order, stopping at its first
// error, which it returns as is. It reads a page of products at a time and
// holds no transaction open while fn runs.
func (s *Store) Walk(ctx context.Context, fn func(p *catalog.Product) error) error {
	opts := catalog.ListOptions{Limit: walkPage}
	for {
		page, err := s.List(ctx, opts)
		if err != nil {
			return err
		}
		for i := range page.Products {
			if err := fn(&page.Products[i]); err != nil {
				return err
			}
		}
		if page.Next == "" {
			return nil
		}
		opts.After = page.Next
	}
}

// Count returns the number of products and variants.
func (s *Store) Count(ctx context.Context) (products, variants int, err error) {
	err = s.db.R.QueryRowContext(ctx, s.sql.count).Scan(&products, &variants)
	if err != nil {
		return 0, 0, s.wrap("count", err)
	}
	return products, variants, nil
}

// StockEvents returns events with ID greater than afterID, oldest first. A
// limit of 0 means DefaultEventsLimit; larger limits are cut to
// MaxEventsLimit.
func (s *Store) StockEvents(ctx context.Context, afterID int64, limit int) ([]catalog.StockEvent, error) {
	switch {
	case limit <= 0:
		limit = DefaultEventsLimit
	case limit > MaxEventsLimit:
		limit = MaxEventsLimit
	}
	rows, err := s.db.R.QueryContext(ctx, s.sql.events, afterID, limit)
	if err != nil {
		return nil, s.wrap("stock events", err)
	}
	evs, err := scanEvents(rows)
	if err != nil {
		return nil, s.wrap("stock events", err)
	}
	return evs, nil
}

func scanEvents(rows *sql.Rows) ([]catalog.StockEvent, error) {
	defer rows.Close()
	var evs []catalog.StockEvent
	for rows.Next() {
		var (
			e  catalog.StockEvent
			at int64
		)
		if err := rows.Scan(&e.ID, &e.SKU, &e.Handle, &e.Old, &e.New, &e.Source, &at); err != nil {
			return nil, err
		}
		e.At = sqldb.Time(at)
		evs = append(evs, e)
	}
	return evs, rows.Err()
}

// scanProducts reads rows of productColumns and variantsColumn.
func scanProducts(rows *sql.Rows) ([]catalog.Product, error) {
	defer rows.Close()
	var ps []catalog.Product
	for rows.Next() {
		var (
			p                            catalog.Product
			titles, attributes, variants string
			created, updated             int64
		)
		err := rows.Scan(&p.Handle, &p.Title, &titles, &p.Brand, &p.Category, &p.Description, &attributes,
			&p.ImageURL, &p.PageURL, &p.PriceMinor, &p.Currency, &p.SizeChart, &p.Active, &created, &updated, &variants)
		if err != nil {
			return nil, err
		}
		if p.Titles, err = decodeMap(titles); err != nil {
			return nil, fmt.Errorf("product %q: titles: %w", p.Handle, err)
		}
		if p.Attributes, err = decodeMap(attributes); err != nil {
			return nil, fmt.Errorf("product %q: attributes: %w", p.Handle, err)
		}
		if p.Variants, err = decodeVariants(variants); err != nil {
			return nil, fmt.Errorf("product %q: variants: %w", p.Handle, err)
		}
		p.CreatedAt, p.UpdatedAt = sqldb.Time(created), sqldb.Time(updated)
		ps = append(ps, p)
	}
	return ps, rows.Err()
}

// jsonText encodes v, a batch parameter, as JSON text.
func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		// Only strings, numbers and structs of them are encoded here.
		panic("sqlcatalog: encode batch parameter: " + err.Error())
	}
	return string(b)
}

// encodeMap stores a map as a JSON object; nil and empty maps alike as "{}".
func encodeMap(m map[string]string) string {
	if len(m) == 0 {
		return "{}"
	}
	return jsonText(m)
}

// decodeMap reads what encodeMap stored; "{}" reads as nil.
func decodeMap(s string) (map[string]string, error) {
	if s == "" || s == "{}" {
		return nil, nil
	}
	r := jsonReader{s: s}
	m, err := r.stringMap()
	if err == nil {
		err = r.end()
	}
	if err != nil {
		return nil, err
	}
	return m, nil
}
