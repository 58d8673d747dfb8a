package sqlcatalog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"

	"github.com/bottega-shop/bottega/catalog"
	"github.com/bottega-shop/bottega/internal/sqldb"
)

// Create inserts a new product. ErrConflict if its handle or a SKU exists; a
// *catalog.ValidationError if the product is not valid.
func (s *Store) Create(ctx context.Context, p *catalog.Product, source string) error {
	err := s.write(ctx, source, false, func(t *txn) error {
		return t.put(ctx, p, modeCreate)
	})
	return s.wrap(fmt.Sprintf("create product %q", p.Handle), err)
}

// Replace replaces a product and its set of variants; variants not named are
// deleted. ErrNotFound if the handle is unknown, ErrConflict if a SKU
// belongs to another product.
func (s *Store) Replace(ctx context.Context, p *catalog.Product, source string) error {
	err := s.write(ctx, source, false, func(t *txn) error {
		return t.put(ctx, p, modeReplace)
	})
	return s.wrap(fmt.Sprintf("replace product %q", p.Handle), err)
}

// Delete removes a product and its variants. ErrNotFound if unknown.
func (s *Store) Delete(ctx context.Context, handle string) error {
	err := s.write(ctx, "", false, func(t *txn) error {
		res, err := t.exec(ctx, t.s.sql.deleteProduct, handle)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return fmt.Errorf("sqlcatalog: delete product %q: %w", handle, catalog.ErrNotFound)
		}
		return nil
	})
	return s.wrap(fmt.Sprintf("delete product %q", handle), err)
}

// Write runs fn in one transaction: everything fn puts is applied, or, if fn
// returns an error, nothing is, and Write returns fn's error as is. Each Put
// costs a handful of statements whatever the number of variants, prepared
// once per Write, and nothing is kept in memory between Puts, so an import
// of any size streams through one transaction. After a Put fails with a
// database error the transaction is spoilt: later Puts return the same
// error, and so does Write.
func (s *Store) Write(ctx context.Context, source string, fn func(w catalog.Writer) error) error {
	var (
		fnErr error
		w     *writer
	)
	err := s.write(ctx, source, true, func(t *txn) error {
		w = &writer{t: t}
		defer func() { w.done = true }()
		if fnErr = fn(w); fnErr != nil {
			return fnErr
		}
		return w.err
	})
	if fnErr != nil {
		return fnErr
	}
	return s.wrap("write", err)
}

// writer is the catalog.Writer of one Write.
type writer struct {
	t    *txn
	err  error // the first database error; it spoils the transaction
	done bool
}

// Put upserts the product by handle and each of its variants by SKU.
func (w *writer) Put(ctx context.Context, p *catalog.Product) error {
	if w.done {
		return errors.New("sqlcatalog: put after write returned")
	}
	if w.err != nil {
		return w.err
	}
	err := w.t.put(ctx, p, modePut)
	if err == nil {
		return nil
	}
	err = w.t.s.wrap(fmt.Sprintf("put product %q", p.Handle), err)
	var verr *catalog.ValidationError
	if !errors.As(err, &verr) {
		w.err = err
	}
	return err
}

type putMode int

const (
	modeCreate  putMode = iota // a new product; no SKU may exist
	modeReplace                // an existing product; unnamed variants go
	modePut                    // upsert; SKUs move from other products
)

// variantRow is a variant as stored, and as the JSON rows upsertVariants reads.
type variantRow struct {
	handle string
	SKU    string `json:"sku"`
	Pos    int    `json:"pos"`
	Size   string `json:"size"`
	Colour string `json:"colour"`
	Stock  int    `json:"stock"`
	Price  *int64 `json:"price"`
}

// sameExceptStock reports whether a and b differ in nothing but stock.
func (a variantRow) sameExceptStock(b variantRow) bool {
	return a.handle == b.handle && a.SKU == b.SKU && a.Pos == b.Pos && a.Size == b.Size &&
		a.Colour == b.Colour && (a.Price == nil) == (b.Price == nil) && (a.Price == nil || *a.Price == *b.Price)
}

// eventRow is a stock event to insert; I orders a batch.
type eventRow struct {
	I      int    `json:"i"`
	SKU    string `json:"sku"`
	Handle string `json:"handle"`
	Old    int    `json:"old_stock"`
	New    int    `json:"new_stock"`
}

// put writes p as mode says, in at most six statements: read the variants
// it names and the ones it has, check the product exists (Replace), write
// the product, delete its unnamed variants (Replace), upsert the changed
// variants, insert the stock events.
func (t *txn) put(ctx context.Context, p *catalog.Product, mode putMode) error {
	if err := p.Validate(); err != nil {
		return err
	}
	skus := make([]string, len(p.Variants))
	for i, v := range p.Variants {
		skus[i] = v.SKU
	}
	current, err := t.currentVariants(ctx, p.Handle, skus)
	if err != nil {
		return err
	}
	if mode == modeReplace {
		var one int
		err := t.tx.QueryRowContext(ctx, t.s.sql.productExists, p.Handle).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("sqlcatalog: replace product %q: %w", p.Handle, catalog.ErrNotFound)
		} else if err != nil {
			return err
		}
	}

	var (
		changed []variantRow
		events  []eventRow
		// structural: something other than stock changed in the variants.
		structural bool
	)
	for i, v := range p.Variants {
		row := variantRow{handle: p.Handle, SKU: v.SKU, Pos: i, Size: v.Size, Colour: v.Colour, Stock: v.Stock, Price: v.PriceMinor}
		cur, exists := current[v.SKU]
		if exists && (mode == modeCreate || mode == modeReplace && cur.handle != p.Handle) {
			return fmt.Errorf("sqlcatalog: sku %q belongs to product %q: %w", v.SKU, cur.handle, catalog.ErrConflict)
		}
		old := 0
		if exists {
			old = cur.Stock
		}
		if !exists || !cur.sameExceptStock(row) {
			structural = true
		}
		if !exists || !cur.sameExceptStock(row) || cur.Stock != row.Stock {
			changed = append(changed, row)
		}
		if row.Stock != old {
			events = append(events, eventRow{I: len(events), SKU: v.SKU, Handle: p.Handle, Old: old, New: row.Stock})
		}
	}
	var deleted []string
	if mode == modeReplace {
		named := make(map[string]bool, len(skus))
		for _, sku := range skus {
			named[sku] = true
		}
		for sku, cur := range current {
			if cur.handle == p.Handle && !named[sku] {
				deleted = append(deleted, sku)
			}
		}
		structural = structural || len(deleted) > 0
	}

	args := []any{p.Handle, p.Title, encodeMap(p.Titles), p.Brand, p.Category, p.Description,
		encodeMap(p.Attributes), p.ImageURL, p.PageURL, p.PriceMinor, p.Currency, p.SizeChart, p.Active, t.now}
	if mode == modeCreate {
		if _, err := t.exec(ctx, t.s.sql.insertProduct, args...); err != nil {
			if sqldb.IsUniqueViolation(err) {
				return fmt.Errorf("sqlcatalog: product %q already exists: %w", p.Handle, catalog.ErrConflict)
			}
			return err
		}
	} else if _, err := t.exec(ctx, t.s.sql.upsertProduct, append(args, structural)...); err != nil {
		return err
	}
	if len(deleted) > 0 {
		if _, err := t.exec(ctx, t.s.sql.deleteVariants, jsonText(deleted)); err != nil {
			return err
		}
	}
	if len(changed) > 0 {
		if _, err := t.exec(ctx, t.s.sql.upsertVariants, p.Handle, jsonText(changed)); err != nil {
			if sqldb.IsUniqueViolation(err) {
				return fmt.Errorf("sqlcatalog: a sku of product %q exists: %w", p.Handle, catalog.ErrConflict)
			}
			return err
		}
	}
	if len(events) > 0 {
		if _, err := t.exec(ctx, t.s.sql.insertEvents, jsonText(events), t.source, t.now); err != nil {
			return err
		}
	}
	return nil
}

// currentVariants reads the stored variants that are named in skus or
// belong to the product handle.
func (t *txn) currentVariants(ctx context.Context, handle string, skus []string) (map[string]variantRow, error) {
	rows, err := t.query(ctx, t.s.sql.currentVariants, handle, jsonText(skus))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	current := make(map[string]variantRow, len(skus))
	for rows.Next() {
		var (
			r     variantRow
			price sql.NullInt64
		)
		if err := rows.Scan(&r.handle, &r.SKU, &r.Pos, &r.Size, &r.Colour, &r.Stock, &price); err != nil {
			return nil, err
		}
		if price.Valid {
			r.Price = &price.Int64
		}
		current[r.SKU] = r
	}
	return current, rows.Err()
}

// AdjustStock applies every change or none, in order, and returns the
// events of the changes that changed a stock. ErrNotFound (wrapped with the
// SKU) for an unknown SKU; a *catalog.ValidationError, with one problem per
// offending change naming its SKU (Row is the change's 1-based position), if
// a change is malformed or a result would be negative.
func (s *Store) AdjustStock(ctx context.Context, changes []catalog.StockChange, source string) ([]catalog.StockEvent, error) {
	var verr catalog.ValidationError
	for i, c := range changes {
		var e *catalog.ValidationError
		if errors.As(catalog.ValidateStockChange(c), &e) {
			for _, p := range e.Problems {
				p.Row = i + 1
				if c.SKU != "" {
					p.Message = c.SKU + ": " + p.Message
				}
				verr.Problems = append(verr.Problems, p)
			}
		}
	}
	if err := verr.Err(); err != nil {
		return nil, err
	}
	if len(changes) == 0 {
		return nil, nil
	}
	var out []catalog.StockEvent
	err := s.write(ctx, source, false, func(t *txn) error {
		evs, err := t.adjust(ctx, changes)
		out = evs
		return err
	})
	if err != nil {
		return nil, s.wrap("adjust stock", err)
	}
	return out, nil
}

func (t *txn) adjust(ctx context.Context, changes []catalog.StockChange) ([]catalog.StockEvent, error) {
	skus := make([]string, 0, len(changes))
	seen := make(map[string]bool, len(changes))
	for _, c := range changes {
		if !seen[c.SKU] {
			seen[c.SKU] = true
			skus = append(skus, c.SKU)
		}
	}
	rows, err := t.query(ctx, t.s.sql.stockOf, jsonText(skus))
	if err != nil {
		return nil, err
	}
	stock := make(map[string]int, len(skus))
	handle := make(map[string]string, len(skus))
	for rows.Next() {
		var (
			sku, h string
			n      int
		)
		if err := rows.Scan(&sku, &h, &n); err != nil {
			rows.Close()
			return nil, err
		}
		stock[sku], handle[sku] = n, h
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, sku := range skus {
		if _, ok := stock[sku]; !ok {
			return nil, fmt.Errorf("sqlcatalog: adjust stock: sku %q: %w", sku, catalog.ErrNotFound)
		}
	}

	var (
		verr   catalog.ValidationError
		events []eventRow
	)
	for i, c := range changes {
		old := stock[c.SKU]
		n, field := old, "set"
		if c.Set != nil {
			n = *c.Set
		} else {
			n, field = old+*c.Delta, "delta"
		}
		switch {
		case n < 0:
			verr.Problems = append(verr.Problems, catalog.Problem{Row: i + 1, Field: field,
				Message: fmt.Sprintf("%s: stock would go below zero (%d %+d)", c.SKU, old, n-old)})
			continue
		case n > catalog.MaxStock:
			verr.Problems = append(verr.Problems, catalog.Problem{Row: i + 1, Field: field,
				Message: fmt.Sprintf("%s: stock would be implausibly large", c.SKU)})
			continue
		case n == old:
			continue
		}
		stock[c.SKU] = n
		events = append(events, eventRow{I: len(events), SKU: c.SKU, Handle: handle[c.SKU], Old: old, New: n})
	}
	if err := verr.Err(); err != nil {
		return nil, err
	}
	if len(events) == 0 {
		return nil, nil
	}

	type stockRow struct {
		SKU   string `json:"sku"`
		Stock int    `json:"stock"`
	}
	var final []stockRow
	touched := make(map[string]bool, len(events))
	for _, e := range events {
		if !touched[e.SKU] {
			touched[e.SKU] = true
			final = append(final, stockRow{e.SKU, stock[e.SKU]})
		}
	}
	if _, err := t.exec(ctx, t.s.sql.setStock, jsonText(final)); err != nil {
		return nil, err
	}
	rows, err = t.query(ctx, t.s.sql.insertEventsRet, jsonText(events), t.source, t.now)
	if err != nil {
		return nil, err
	}
	out, err := scanEvents(rows)
	if err != nil {
		return nil, err
	}
	// IDs follow the batch's order; RETURNING's order is not promised.
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}
