package catalog

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"
)

// Observer is told how long each backend call took; cmd wires it to metrics.
// backend is "store" or "index".
type Observer func(backend, op string, d time.Duration, err error)

// Service is the catalog's front door. It writes to the Store, keeps the
// Index following every change, and answers searches with products and stock
// read from the Store, since the index may lag.
type Service struct {
	store   Store
	index   Index
	log     *slog.Logger
	observe Observer

	// mu guards dirty: handles whose index update failed after the store
	// committed; Sync retries them.
	mu    sync.Mutex
	dirty map[string]bool
}

// NewService returns a service over store and index. log and observe may be nil.
func NewService(store Store, index Index, log *slog.Logger, observe Observer) *Service {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if observe == nil {
		observe = func(string, string, time.Duration, error) {}
	}
	return &Service{store: store, index: index, log: log, observe: observe, dirty: map[string]bool{}}
}

// Store returns the system of record, for callers that read stock directly.
func (s *Service) Store() Store { return s.store }

func (s *Service) timed(backend, op string, fn func() error) error {
	start := time.Now()
	err := fn()
	s.observe(backend, op, time.Since(start), err)
	return err
}

// Create validates and stores a new product and indexes it.
func (s *Service) Create(ctx context.Context, p *Product, source string) error {
	if err := p.Validate(); err != nil {
		return err
	}
	if err := s.timed("store", "create", func() error { return s.store.Create(ctx, p, source) }); err != nil {
		return err
	}
	s.reindex(ctx, p.Handle)
	return nil
}

// Replace validates and replaces a product and its variants.
func (s *Service) Replace(ctx context.Context, p *Product, source string) error {
	if err := p.Validate(); err != nil {
		return err
	}
	if err := s.timed("store", "replace", func() error { return s.store.Replace(ctx, p, source) }); err != nil {
		return err
	}
	s.reindex(ctx, p.Handle)
	return nil
}

// Delete removes a product from the store and the index.
func (s *Service) Delete(ctx context.Context, handle string) error {
	if err := s.timed("store", "delete", func() error { return s.store.Delete(ctx, handle) }); err != nil {
		return err
	}
	s.reindex(ctx, handle)
	return nil
}

// Product returns one product with live stock.
func (s *Service) Product(ctx context.Context, handle string) (*Product, error) {
	var p *Product
	err := s.timed("store", "product", func() (err error) { p, err = s.store.Product(ctx, handle); return err })
	return p, err
}

// List returns a page of products.
func (s *Service) List(ctx context.Context, opts ListOptions) (Page, error) {
	var pg Page
	err := s.timed("store", "list", func() (err error) { pg, err = s.store.List(ctx, opts); return err })
	return pg, err
}

// UpsertResult says what a bulk upsert or import wrote.
type UpsertResult struct {
	Products int `json:"products"`
	Variants int `json:"variants"`
}

// Upsert validates every product, then writes them all in one transaction,
// idempotent by handle and SKU. If any product is invalid, or a SKU appears
// twice, nothing is written and a *ValidationError lists every problem with
// the product's 1-based position as its row.
func (s *Service) Upsert(ctx context.Context, ps []Product, source string) (UpsertResult, error) {
	var res UpsertResult
	var verr ValidationError
	seen := map[string]int{}
	for i := range ps {
		checkProduct(&verr, &ps[i], i+1, seen)
	}
	if err := verr.Err(); err != nil {
		return res, err
	}
	err := s.timed("store", "write", func() error {
		return s.store.Write(ctx, source, func(w Writer) error {
			for i := range ps {
				if err := w.Put(ctx, &ps[i]); err != nil {
					return err
				}
				res.Products++
				res.Variants += len(ps[i].Variants)
			}
			return nil
		})
	})
	if err != nil {
		return UpsertResult{}, err
	}
	handles := make([]string, len(ps))
	for i := range ps {
		handles[i] = ps[i].Handle
	}
	s.reindex(ctx, handles...)
	return res, nil
}

// checkProduct validates p and checks its SKUs against those seen earlier in
// the same batch, adding problems with the given row.
func checkProduct(verr *ValidationError, p *Product, row int, seen map[string]int) {
	if err := p.Validate(); err != nil {
		var ve *ValidationError
		if errors.As(err, &ve) {
			for _, pr := range ve.Problems {
				pr.Row = row
				verr.Problems = append(verr.Problems, pr)
			}
		}
	}
	for _, v := range p.Variants {
		if v.SKU == "" {
			continue
		}
		if first, ok := seen[v.SKU]; ok && first != row {
			verr.Problems = append(verr.Problems, Problem{Row: row, Field: "sku",
				Message: fmt.Sprintf("duplicate SKU %q, first on row %d", v.SKU, first)})
			continue
		}
		seen[v.SKU] = row
	}
}

// Import streams products from r (format "csv" or "json") into the store in
// one transaction. Every problem in the file is reported in a
// *ValidationError and then nothing is written. The index is rebuilt after.
func (s *Service) Import(ctx context.Context, r io.Reader, format, source string) (UpsertResult, error) {
	var res UpsertResult
	var problems []Problem
	err := s.timed("store", "import", func() error {
		return s.store.Write(ctx, source, func(w Writer) error {
			var err error
			// Valid products are written as they come; a problem anywhere
			// in the file rolls them all back below.
			problems, err = DecodeProducts(r, format, func(p *Product, row int) error {
				res.Products++
				res.Variants += len(p.Variants)
				return w.Put(ctx, p)
			})
			if err != nil {
				return err
			}
			if len(problems) > 0 {
				return &ValidationError{Problems: problems}
			}
			return nil
		})
	})
	if err != nil {
		return UpsertResult{}, err
	}
	if err := s.Reindex(ctx); err != nil {
		s.log.Warn("catalog: reindex after import failed; will retry", "err", err)
		s.markAllDirty()
	}
	return res, nil
}

// AdjustStock applies stock changes all or nothing and reindexes the products
// whose availability may have changed.
func (s *Service) AdjustStock(ctx context.Context, changes []StockChange, source string) ([]StockEvent, error) {
	var verr ValidationError
	for i, c := range changes {
		if err := ValidateStockChange(c); err != nil {
			var ve *ValidationError
			if errors.As(err, &ve) {
				for _, pr := range ve.Problems {
					pr.Row = i + 1
					verr.Problems = append(verr.Problems, pr)
				}
			}
		}
	}
	if len(changes) == 0 {
		verr.Add("changes", "needs at least one change")
	}
	if err := verr.Err(); err != nil {
		return nil, err
	}
	var events []StockEvent
	err := s.timed("store", "adjust_stock", func() (err error) {
		events, err = s.store.AdjustStock(ctx, changes, source)
		return err
	})
	if err != nil {
		return nil, err
	}
	s.reindexEvents(ctx, events)
	return events, nil
}

func (s *Service) reindexEvents(ctx context.Context, events []StockEvent) {
	seen := map[string]bool{}
	var handles []string
	for _, e := range events {
		if !seen[e.Handle] {
			seen[e.Handle] = true
			handles = append(handles, e.Handle)
		}
	}
	s.reindex(ctx, handles...)
}

// reindex brings the index in line with the store for the given handles. A
// failure is logged and remembered, and Sync retries it: the store change has
// already committed and must not be reported as failed.
func (s *Service) reindex(ctx context.Context, handles ...string) {
	if len(handles) == 0 {
		return
	}
	if err := s.syncHandles(ctx, handles); err != nil {
		s.log.Warn("catalog: index update failed; will retry", "products", len(handles), "err", err)
		s.mu.Lock()
		for _, h := range handles {
			s.dirty[h] = true
		}
		s.mu.Unlock()
	}
}

func (s *Service) syncHandles(ctx context.Context, handles []string) error {
	var ps []Product
	if err := s.timed("store", "products", func() (err error) { ps, err = s.store.Products(ctx, handles); return err }); err != nil {
		return err
	}
	found := make(map[string]bool, len(ps))
	docs := make([]Document, 0, len(ps))
	for i := range ps {
		found[ps[i].Handle] = true
		if ps[i].Active {
			docs = append(docs, NewDocument(&ps[i]))
		}
	}
	var gone []string
	for _, h := range handles {
		if !found[h] {
			gone = append(gone, h)
		}
	}
	for i := range ps {
		if !ps[i].Active {
			gone = append(gone, ps[i].Handle)
		}
	}
	if len(docs) > 0 {
		if err := s.timed("index", "put", func() error { return s.index.Put(ctx, docs) }); err != nil {
			return err
		}
	}
	if len(gone) > 0 {
		return s.timed("index", "remove", func() error { return s.index.Remove(ctx, gone) })
	}
	return nil
}

func (s *Service) markAllDirty() {
	s.mu.Lock()
	s.dirty["*"] = true
	s.mu.Unlock()
}

// Sync retries index updates that failed earlier. It reports whether the
// index is now up to date.
func (s *Service) Sync(ctx context.Context) error {
	s.mu.Lock()
	dirty := s.dirty
	s.dirty = map[string]bool{}
	s.mu.Unlock()
	if len(dirty) == 0 {
		return nil
	}
	var err error
	if dirty["*"] {
		err = s.Reindex(ctx)
	} else {
		handles := make([]string, 0, len(dirty))
		for h := range dirty {
			handles = append(handles, h)
		}
		err = s.syncHandles(ctx, handles)
	}
	if err != nil {
		s.mu.Lock()
		for h := range dirty {
			s.dirty[h] = true
		}
		s.mu.Unlock()
	}
	return err
}

// Reindex rebuilds the whole index from the store: synonyms, then every
// active product in batches.
func (s *Service) Reindex(ctx context.Context) error {
	var syns []Synonym
	if err := s.timed("store", "synonyms", func() (err error) { syns, err = s.store.Synonyms(ctx); return err }); err != nil {
		return fmt.Errorf("catalog: reindex: %w", err)
	}
	if err := s.timed("index", "clear", func() error { return s.index.Clear(ctx) }); err != nil {
		return fmt.Errorf("catalog: reindex: %w", err)
	}
	if err := s.timed("index", "synonyms", func() error { return s.index.SetSynonyms(ctx, syns) }); err != nil {
		return fmt.Errorf("catalog: reindex: %w", err)
	}
	const batch = 500
	docs := make([]Document, 0, batch)
	flush := func() error {
		if len(docs) == 0 {
			return nil
		}
		err := s.timed("index", "put", func() error { return s.index.Put(ctx, docs) })
		docs = docs[:0]
		return err
	}
	err := s.store.Walk(ctx, func(p *Product) error {
		if !p.Active {
			return nil
		}
		docs = append(docs, NewDocument(p))
		if len(docs) == batch {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return fmt.Errorf("catalog: reindex: %w", err)
	}
	// An index that builds in segments (bleve) searches fastest compacted.
	if c, ok := s.index.(interface{ Compact(context.Context) error }); ok {
		if err := s.timed("index", "compact", func() error { return c.Compact(ctx) }); err != nil {
			return fmt.Errorf("catalog: reindex: %w", err)
		}
	}
	return nil
}

// SearchResult is a page of matching products with stock read from the store.
type SearchResult struct {
	Products []Product                 `json:"products"`
	Total    int                       `json:"total"`
	Facets   map[string]map[string]int `json:"facets,omitempty"`
}

// Search finds products in the index and returns them as the store has them
// now: stock figures are never the index's. Products deleted or deactivated
// since they were indexed are left out.
func (s *Service) Search(ctx context.Context, q Query) (SearchResult, error) {
	res, err := s.Match(ctx, q)
	if err != nil {
		return SearchResult{}, err
	}
	handles := make([]string, len(res.Hits))
	for i, h := range res.Hits {
		handles[i] = h.ID
	}
	out := SearchResult{Total: res.Total, Facets: res.Facets, Products: []Product{}}
	if len(handles) == 0 {
		return out, nil
	}
	ps, err := s.Products(ctx, handles)
	if err != nil {
		return SearchResult{}, err
	}
	for _, p := range ps {
		if p.Active {
			out.Products = append(out.Products, p)
		}
	}
	return out, nil
}

// Match searches the index alone: the hits, best first, without reading
// the products. It is for a caller that reads only some of them, with
// Products: the index may lag, so a hit may name a product deleted or
// deactivated since, and its stock figures are not the store's.
func (s *Service) Match(ctx context.Context, q Query) (Result, error) {
	var res Result
	err := s.timed("index", "search", func() (err error) { res, err = s.index.Search(ctx, q); return err })
	return res, err
}

// Products returns the named products that exist, as the store has them
// now, in the order asked; inactive ones too.
func (s *Service) Products(ctx context.Context, handles []string) ([]Product, error) {
	var ps []Product
	err := s.timed("store", "products", func() (err error) { ps, err = s.store.Products(ctx, handles); return err })
	return ps, err
}

// Synonyms lists the merchandisers' synonyms.
func (s *Service) Synonyms(ctx context.Context) ([]Synonym, error) { return s.store.Synonyms(ctx) }

// PutSynonym stores a synonym and updates the index.
func (s *Service) PutSynonym(ctx context.Context, syn Synonym) error {
	if err := syn.Validate(); err != nil {
		return err
	}
	if err := s.store.PutSynonym(ctx, syn); err != nil {
		return err
	}
	return s.pushSynonyms(ctx)
}

// DeleteSynonym removes a synonym and updates the index.
func (s *Service) DeleteSynonym(ctx context.Context, term string) error {
	if err := s.store.DeleteSynonym(ctx, term); err != nil {
		return err
	}
	return s.pushSynonyms(ctx)
}

func (s *Service) pushSynonyms(ctx context.Context) error {
	syns, err := s.store.Synonyms(ctx)
	if err == nil {
		err = s.timed("index", "synonyms", func() error { return s.index.SetSynonyms(ctx, syns) })
	}
	if err != nil {
		s.log.Warn("catalog: synonyms not pushed to the index; will retry", "err", err)
		s.markAllDirty()
	}
	return nil
}

// SizeCharts lists the size charts.
func (s *Service) SizeCharts(ctx context.Context) ([]SizeChart, error) {
	return s.store.SizeCharts(ctx)
}

// PutSizeChart validates and stores a size chart.
func (s *Service) PutSizeChart(ctx context.Context, c SizeChart) error {
	if err := c.Validate(); err != nil {
		return err
	}
	return s.store.PutSizeChart(ctx, c)
}

// DeleteSizeChart removes a size chart.
func (s *Service) DeleteSizeChart(ctx context.Context, name string) error {
	return s.store.DeleteSizeChart(ctx, name)
}

// Export writes every product in handle order to enc.
func (s *Service) Export(ctx context.Context, enc *Encoder) error {
	if enc.Format() == "csv" {
		// The CSV header must name every title language and attribute first.
		if err := s.store.Walk(ctx, enc.AddColumns); err != nil {
			return err
		}
	}
	return s.store.Walk(ctx, enc.Encode)
}

// StockEvents returns stock events after afterID.
func (s *Service) StockEvents(ctx context.Context, afterID int64, limit int) ([]StockEvent, error) {
	return s.store.StockEvents(ctx, afterID, limit)
}

// LoadDemo fills an empty catalog with the given products, synonyms and size
// charts. It reports whether it loaded anything.
func (s *Service) LoadDemo(ctx context.Context, ps []Product, syns []Synonym, charts []SizeChart) (bool, error) {
	n, _, err := s.store.Count(ctx)
	if err != nil || n > 0 {
		return false, err
	}
	for _, c := range charts {
		if err := s.store.PutSizeChart(ctx, c); err != nil {
			return false, fmt.Errorf("catalog: demo size chart %s: %w", c.Name, err)
		}
	}
	for _, syn := range syns {
		if err := s.store.PutSynonym(ctx, syn); err != nil {
			return false, fmt.Errorf("catalog: demo synonym %s: %w", syn.Term, err)
		}
	}
	err = s.store.Write(ctx, "demo", func(w Writer) error {
		for i := range ps {
			if err := w.Put(ctx, &ps[i]); err != nil {
				return err
			}
		}
		return nil
	})
	return err == nil, err
}

// Ping checks the store and the index.
func (s *Service) Ping(ctx context.Context) map[string]error {
	return map[string]error{"store": s.store.Ping(ctx), "index": s.index.Ping(ctx)}
}
