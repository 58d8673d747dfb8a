// Package blevecatalog is the embedded catalog search: a bleve v2 scorch
// index, in memory by default, that follows Meilisearch's matching rules
// (per-word typo tolerance, prefix on the last word, synonyms, words dropped
// from the right) closely enough that catalogtest.TestIndex holds for both.
package blevecatalog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/index/scorch"
	"github.com/blevesearch/bleve/v2/mapping"
	"github.com/blevesearch/bleve/v2/search"
	"github.com/blevesearch/bleve/v2/search/collector"
	"github.com/blevesearch/bleve/v2/search/query"

	"github.com/bottega-shop/bottega/catalog"
)

// Index is catalog search on an embedded bleve index. It is safe for
// concurrent use.
//
// In memory, bleve's scorch index never merges the segment each write adds,
// and searches slow down with every one (50 times slower after 1,000 single
// writes to 5,000 products). So the in-memory index keeps its documents and,
// after compactAfter writes, rebuilds itself as one segment in the
// background, replays the writes made meanwhile and swaps. On disk scorch
// merges segments itself.
type Index struct {
	path         string
	mapping      *mapping.IndexMappingImpl
	analyzer     analysis.Analyzer
	log          *slog.Logger
	compactAfter int

	// writeMu serializes writes and index swaps, and guards the fields below.
	writeMu sync.Mutex
	docs    map[string][]byte // in memory: every document as JSON, to rebuild from
	writes  int               // batches applied since the index was built
	running *compaction       // the compaction under way, if any
	resting time.Time         // no compaction starts before
	gen     uint64            // bumped by Clear and Close; older compactions are dropped
	swaps   int               // compactions swapped in
	wg      sync.WaitGroup    // waits for the compaction goroutine

	// facets holds every document's facet values in memory; nil on disk.
	facets *facetTable

	// mu guards idx and synonyms. Searches hold it for reading throughout,
	// so an index swapped out is closed once no search uses it.
	mu       sync.RWMutex
	idx      bleve.Index // nil once closed
	synonyms []synonymRule

	// reach caches the terms query words reach in the current snapshot.
	reach wordCache
}

// compaction is an in-memory index being rebuilt.
type compaction struct {
	gen  uint64
	docs map[string][]byte
	// pending are the writes applied to the current index meanwhile.
	pending []op
	done    chan struct{} // closed when finished, with err set
	err     error
}

// op is one write: a document to index, or an ID to delete if doc is nil.
type op struct {
	id  string
	doc map[string]any
	// src is the catalog.Document as JSON, kept in memory to rebuild from:
	// a few large byte slices cost the garbage collector far less than
	// the documents' many small objects.
	src []byte
}

const (
	// defaultCompactAfter is the number of writes after which the in-memory
	// index is rebuilt; searches are about twice as slow by then.
	defaultCompactAfter = 32
	// compactRest spaces rebuilds: after one that took d, the next starts
	// no sooner than compactRest×d later.
	compactRest = 4
)

var _ catalog.Index = (*Index)(nil)

// Option configures New.
type Option func(*Index)

// WithPath keeps the index on disk in dir instead of in memory. An index
// already in dir is reopened if it was built with the same mapping, and
// rebuilt empty otherwise.
func WithPath(dir string) Option {
	return func(x *Index) { x.path = dir }
}

// WithLogger logs background compactions and their failures.
func WithLogger(l *slog.Logger) Option {
	return func(x *Index) { x.log = l }
}

// New returns an empty in-memory index, or the on-disk one chosen with WithPath.
func New(opts ...Option) (*Index, error) {
	x := &Index{compactAfter: defaultCompactAfter}
	for _, o := range opts {
		o(x)
	}
	if x.log == nil {
		x.log = slog.New(slog.DiscardHandler)
	}
	m, err := newMapping()
	if err != nil {
		return nil, fmt.Errorf("blevecatalog: mapping: %w", err)
	}
	x.mapping = m
	x.analyzer = m.AnalyzerNamed(textAnalyzer)
	if x.analyzer == nil {
		return nil, errors.New("blevecatalog: mapping: text analyzer missing")
	}
	if x.path == "" {
		x.docs = make(map[string][]byte)
		x.facets = newFacetTable()
	}
	idx, err := x.open()
	if err != nil {
		return nil, err
	}
	x.idx = idx
	return x, nil
}

// open opens the on-disk index if it matches our mapping, or creates a new one.
func (x *Index) open() (bleve.Index, error) {
	if x.path != "" {
		if _, err := os.Stat(filepath.Join(x.path, "index_meta.json")); err == nil {
			idx, err := bleve.Open(x.path)
			if err == nil {
				v, verr := idx.GetInternal([]byte(versionKey))
				if verr == nil && string(v) == mappingVersion {
					return idx, nil
				}
				_ = idx.Close()
			}
			if err := os.RemoveAll(x.path); err != nil {
				return nil, fmt.Errorf("blevecatalog: remove outdated index: %w", err)
			}
		}
	}
	return x.create()
}

// create makes an empty index. Scorch with an empty path keeps everything in
// memory. Never use bleve.NewMemOnly: it is the deprecated upside_down index.
func (x *Index) create() (bleve.Index, error) {
	idx, err := bleve.NewUsing(x.path, x.mapping, scorch.Name, scorch.Name, nil)
	if err != nil {
		return nil, fmt.Errorf("blevecatalog: create index: %w", err)
	}
	if x.path != "" {
		if err := idx.SetInternal([]byte(versionKey), []byte(mappingVersion)); err != nil {
			_ = idx.Close()
			return nil, fmt.Errorf("blevecatalog: create index: %w", err)
		}
	}
	return idx, nil
}

// current returns the index, nil once closed.
func (x *Index) current() bleve.Index {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.idx
}

// errClosed is returned after Close.
var errClosed = fmt.Errorf("blevecatalog: index is closed: %w", catalog.ErrUnavailable)

// Put adds or replaces documents by ID. It returns once they are searchable.
func (x *Index) Put(ctx context.Context, docs []catalog.Document) error {
	if len(docs) == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("blevecatalog: put: %w", err)
	}
	ops := make([]op, len(docs))
	for i := range docs {
		d := &docs[i]
		if d.ID == "" {
			return fmt.Errorf("blevecatalog: put: document %d has no id", i)
		}
		ops[i] = op{id: d.ID, doc: indexDoc(d)}
		if x.path == "" {
			src, err := json.Marshal(d)
			if err != nil {
				return fmt.Errorf("blevecatalog: put %q: %w", d.ID, err)
			}
			ops[i].src = src
		}
	}
	return x.apply("put", ops)
}

// Remove deletes documents by ID; unknown IDs are ignored.
func (x *Index) Remove(ctx context.Context, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("blevecatalog: remove: %w", err)
	}
	ops := make([]op, len(ids))
	for i, id := range ids {
		ops[i] = op{id: id}
	}
	return x.apply("remove", ops)
}

// apply writes ops to the index in one batch.
func (x *Index) apply(what string, ops []op) error {
	x.writeMu.Lock()
	defer x.writeMu.Unlock()
	idx := x.current()
	if idx == nil {
		return errClosed
	}
	if err := batch(idx, ops); err != nil {
		return fmt.Errorf("blevecatalog: %s: %w", what, err)
	}
	if x.docs == nil {
		return nil // on disk
	}
	for _, o := range ops {
		if o.doc == nil {
			delete(x.docs, o.id)
		} else {
			x.docs[o.id] = o.src
		}
	}
	x.facets.apply(ops)
	x.writes++
	if x.running != nil {
		x.running.pending = append(x.running.pending, ops...)
	} else if x.writes >= x.compactAfter && !time.Now().Before(x.resting) {
		x.startCompaction()
	}
	return nil
}

// startCompaction starts rebuilding the in-memory index in the background.
// x.writeMu must be held.
func (x *Index) startCompaction() *compaction {
	c := &compaction{gen: x.gen, docs: maps.Clone(x.docs), done: make(chan struct{})}
	x.running = c
	x.wg.Add(1)
	go func() {
		defer x.wg.Done()
		defer close(c.done)
		c.err = x.compact(c)
		if c.err != nil {
			x.log.Error("blevecatalog: compaction failed", "err", c.err)
		}
	}()
	return c
}

// Compact rebuilds the in-memory index as one segment, which searches
// fastest, and returns once it is in use. Writes rebuild it in the
// background anyway; Compact is for after loading a catalog in many
// batches. On disk it does nothing: scorch merges segments itself.
func (x *Index) Compact(ctx context.Context) error {
	if x.path != "" {
		return nil
	}
	for {
		x.writeMu.Lock()
		if x.current() == nil {
			x.writeMu.Unlock()
			return errClosed
		}
		c := x.running
		if c == nil {
			if x.writes == 0 {
				x.writeMu.Unlock()
				return nil
			}
			c = x.startCompaction()
		}
		x.writeMu.Unlock()
		select {
		case <-c.done:
			if c.err != nil {
				return c.err
			}
		case <-ctx.Done():
			return fmt.Errorf("blevecatalog: compact: %w", ctx.Err())
		}
	}
}

func batch(idx bleve.Index, ops []op) error {
	b := idx.NewBatch()
	for _, o := range ops {
		if o.doc == nil {
			b.Delete(o.id)
		} else if err := b.Index(o.id, o.doc); err != nil {
			return fmt.Errorf("document %q: %w", o.id, err)
		}
	}
	return idx.Batch(b)
}

// compact rebuilds the in-memory index in one segment and swaps it in.
func (x *Index) compact(c *compaction) error {
	start := time.Now()
	idx, err := x.create()
	if err == nil {
		ops := make([]op, 0, len(c.docs))
		for id, src := range c.docs {
			var d catalog.Document
			if err = json.Unmarshal(src, &d); err != nil {
				err = fmt.Errorf("document %q: %w", id, err)
				break
			}
			ops = append(ops, op{id: id, doc: indexDoc(&d)})
		}
		c.docs = nil
		if err == nil {
			err = batch(idx, ops)
		}
	}
	took := time.Since(start)

	x.writeMu.Lock()
	defer x.writeMu.Unlock()
	x.running = nil
	x.resting = time.Now().Add(compactRest * took)
	if c.gen != x.gen { // cleared or closed meanwhile
		if idx != nil {
			_ = idx.Close()
		}
		return nil
	}
	if err == nil && len(c.pending) > 0 {
		err = batch(idx, c.pending)
	}
	if err != nil {
		if idx != nil {
			_ = idx.Close()
		}
		return fmt.Errorf("blevecatalog: compact: %w", err)
	}
	x.mu.Lock()
	old := x.idx
	x.idx = idx
	x.mu.Unlock()
	x.swaps++
	x.writes = 0
	if len(c.pending) > 0 {
		x.writes = 1
	}
	x.log.Debug("blevecatalog: compacted", "docs", len(x.docs), "took", took)
	if err := old.Close(); err != nil {
		return fmt.Errorf("blevecatalog: compact: close old index: %w", err)
	}
	return nil
}

// Clear removes every document by replacing the index with an empty one.
func (x *Index) Clear(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("blevecatalog: clear: %w", err)
	}
	x.writeMu.Lock()
	defer x.writeMu.Unlock()
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.idx == nil {
		return errClosed
	}
	x.gen++
	if x.path == "" {
		idx, err := x.create()
		if err != nil {
			return err
		}
		old := x.idx
		x.idx = idx
		x.docs = make(map[string][]byte)
		x.facets.reset()
		x.writes = 0
		if err := old.Close(); err != nil {
			return fmt.Errorf("blevecatalog: clear: close old index: %w", err)
		}
		return nil
	}
	// On disk the new index needs the old one's folder: close, remove, create.
	err := x.idx.Close()
	x.idx = nil
	if err != nil {
		return fmt.Errorf("blevecatalog: clear: close index: %w", err)
	}
	if err := os.RemoveAll(x.path); err != nil {
		return fmt.Errorf("blevecatalog: clear: %w", err)
	}
	idx, err := x.create()
	if err != nil {
		return err
	}
	x.idx = idx
	return nil
}

// SetSynonyms replaces the synonyms used by Search. Each synonym is checked
// with Synonym.Validate; on error nothing changes.
func (x *Index) SetSynonyms(ctx context.Context, syns []catalog.Synonym) error {
	rules := make([]synonymRule, 0, len(syns))
	for _, s := range syns {
		if err := s.Validate(); err != nil {
			return fmt.Errorf("blevecatalog: synonym %q: %w", s.Term, err)
		}
		r := synonymRule{term: x.terms(s.Term)}
		if len(r.term) == 0 {
			continue
		}
		for _, a := range s.Alternatives {
			if t := x.terms(a); len(t) > 0 {
				r.alternatives = append(r.alternatives, t)
			}
		}
		if len(r.alternatives) > 0 {
			rules = append(rules, r)
		}
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.idx == nil {
		return errClosed
	}
	x.synonyms = rules
	return nil
}

// Search ranks matches by relevance, then availability, then ID.
func (x *Index) Search(ctx context.Context, q catalog.Query) (catalog.Result, error) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	if x.idx == nil {
		return catalog.Result{}, errClosed
	}
	words := x.words(q.Text)
	filter := filterQuery(q)
	if len(words) == 0 {
		// A placeholder search: everything that passes the filters. The
		// filters drive the search rather than filter a scan of every document.
		all := filter
		if all == nil {
			all = query.NewMatchAllQuery()
		}
		return x.search(ctx, constant(all, 1), nil, q)
	}
	// Meilisearch's matchingStrategy "last": when nothing matches every word,
	// drop words from the right until something does or one word is left.
	n := len(words)
	for {
		text := textQuery(expand(words[:n], x.synonyms), &x.reach)
		res, err := x.search(ctx, text, filter, q)
		if err != nil {
			return catalog.Result{}, err
		}
		if res.Total > 0 || n <= 1 {
			return res, nil
		}
		n--
	}
}

func (x *Index) search(ctx context.Context, text, filter query.Query, q catalog.Query) (catalog.Result, error) {
	limit, offset := q.Limit, q.Offset
	if limit <= 0 {
		limit = defaultLimit
	}
	if offset < 0 {
		offset = 0
	}
	bq := &query.BooleanQuery{
		Must:   text,
		Should: availableBonus(),
	}
	if filter != nil {
		bq.Filter = filter
	}
	res, err := x.collect(ctx, bq, limit, offset, q.Facets)
	if err != nil {
		return catalog.Result{}, fmt.Errorf("blevecatalog: search: %w", err)
	}
	return res, nil
}

// collect runs the query as bleve's SearchInContext would, except for facets:
// in memory they are counted from the facet table, on disk from doc values
// with a counter that does not allocate for every value of every match.
func (x *Index) collect(ctx context.Context, q query.Query, limit, offset int, facets bool) (res catalog.Result, err error) {
	ix, err := x.idx.Advanced()
	if err != nil {
		return res, err
	}
	r, err := ix.Reader()
	if err != nil {
		return res, err
	}
	defer func() {
		if cerr := r.Close(); err == nil && cerr != nil {
			err = cerr
		}
	}()
	s, err := q.Searcher(ctx, r, x.mapping, search.SearcherOptions{})
	if err != nil {
		return res, err
	}
	defer func() {
		if cerr := s.Close(); err == nil && cerr != nil {
			err = cerr
		}
	}()
	if facets && x.facets != nil {
		return x.facets.collect(ctx, s, r, limit, offset)
	}
	coll := collector.NewTopNCollector(limit, offset, search.SortOrder{&search.SortScore{Desc: true}, &search.SortDocID{}})
	var counter *facetCounter
	if facets {
		counter = &facetCounter{counts: make(map[string]*int)}
		fb := search.NewFacetsBuilder(r)
		fb.Add(fieldFacets, counter)
		coll.SetFacetsBuilder(fb)
	}
	if err := coll.Collect(ctx, s, r); err != nil {
		return res, err
	}
	hits := coll.Results()
	res.Hits = make([]catalog.Hit, 0, len(hits))
	for _, h := range hits {
		res.Hits = append(res.Hits, catalog.Hit{ID: h.ID})
	}
	res.Total = int(coll.Total())
	if counter != nil {
		res.Facets = counter.result()
	}
	return res, nil
}

// Ping reports whether the index answers.
func (x *Index) Ping(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("blevecatalog: ping: %w", err)
	}
	x.mu.RLock()
	defer x.mu.RUnlock()
	if x.idx == nil {
		return errClosed
	}
	if _, err := x.idx.DocCount(); err != nil {
		return fmt.Errorf("blevecatalog: ping: %w", err)
	}
	return nil
}

// Close releases the index, after waiting for a compaction under way.
// Later calls return catalog.ErrUnavailable.
func (x *Index) Close() error {
	x.writeMu.Lock()
	x.gen++
	x.mu.Lock()
	idx := x.idx
	x.idx = nil
	x.mu.Unlock()
	x.writeMu.Unlock()
	x.wg.Wait()
	if idx == nil {
		return nil
	}
	if err := idx.Close(); err != nil {
		return fmt.Errorf("blevecatalog: close: %w", err)
	}
	return nil
}
