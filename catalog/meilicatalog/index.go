// Package meilicatalog is catalog search on a Meilisearch server, through
// meilisearch-go. It indexes catalog.Document values and filters on their
// scalar "colour|size" keys, like blevecatalog; catalogtest.TestIndex holds
// both to the same behaviour.
package meilicatalog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/meilisearch/meilisearch-go"

	"github.com/bottega-shop/bottega/catalog"
)

// Index is catalog search on one Meilisearch index. It is safe for concurrent use.
type Index struct {
	client meilisearch.ServiceManager
	index  meilisearch.IndexManager
	uid    string
	// server is the server's URL without credentials, for error messages.
	server       string
	taskTimeout  time.Duration
	pollInterval time.Duration
}

var _ catalog.Index = (*Index)(nil)

// Option configures New.
type Option func(*config)

type config struct {
	httpClient   *http.Client
	taskTimeout  time.Duration
	pollInterval time.Duration
	reachTimeout time.Duration
	// retries is how often a request answered 502, 503 or 504 is retried,
	// one second apart: a chat turn cannot wait longer.
	retries int
}

// WithHTTPClient sends requests with c instead of the SDK's default client.
func WithHTTPClient(c *http.Client) Option {
	return func(cf *config) { cf.httpClient = c }
}

// WithTaskTimeout bounds the wait for each write to be applied (default 1
// minute). Past it the write returns catalog.ErrUnavailable, although
// Meilisearch may still apply it later.
func WithTaskTimeout(d time.Duration) Option {
	return func(cf *config) { cf.taskTimeout = d }
}

// WithPollInterval sets how often a write's task is polled (default 50ms).
func WithPollInterval(d time.Duration) Option {
	return func(cf *config) { cf.pollInterval = d }
}

// Searchable, filterable and facet attributes, and the ranking rules.
var (
	searchableAttributes = []string{"title", "titles", "brand", "category", "description"}
	filterableAttributes = []string{"variant_keys", "stock_keys", "brand", "category", "sizes", "colours"}
	rankingRules         = []string{"words", "typo", "proximity", "attributeRank", "sort", "wordPosition", "exactness", "available:desc"}
	// facetAttributes maps catalog facet names to document attributes.
	facetAttributes = map[string]string{
		catalog.FacetSize:     "sizes",
		catalog.FacetColour:   "colours",
		catalog.FacetBrand:    "brand",
		catalog.FacetCategory: "category",
	}
)

const (
	defaultLimit   = 20
	maxFacetValues = 100
	// putChunk is the number of documents sent per request.
	putChunk = 5000
)

// settings are applied by New. Typo tolerance is always spelled out: since
// meilisearch-go v0.34.1 a TypoTolerance without MinWordSizeForTypos sends
// zeros, which allows typos in every word.
func settings() *meilisearch.Settings {
	return &meilisearch.Settings{
		SearchableAttributes: searchableAttributes,
		FilterableAttributes: filterableAttributes,
		RankingRules:         rankingRules,
		TypoTolerance: &meilisearch.TypoTolerance{
			Enabled:             true,
			MinWordSizeForTypos: meilisearch.MinWordSizeForTypos{OneTypo: 5, TwoTypos: 9},
			DisableOnWords:      []string{},
			DisableOnAttributes: []string{},
			DisableOnNumbers:    true,
		},
		Faceting: &meilisearch.Faceting{
			MaxValuesPerFacet: maxFacetValues,
			SortFacetValuesBy: map[string]meilisearch.SortFacetType{"*": meilisearch.SortFacetTypeCount},
		},
	}
}

// New connects to the Meilisearch server at serverURL, creates the index
// indexUID (primary key "id") if it is missing, and applies the search
// settings, waiting until Meilisearch has applied them. It fails fast with
// catalog.ErrUnavailable when the server cannot be reached. apiKey may be
// empty; it never appears in errors.
func New(ctx context.Context, serverURL, apiKey, indexUID string, opts ...Option) (*Index, error) {
	cf := config{taskTimeout: time.Minute, pollInterval: 50 * time.Millisecond, reachTimeout: 5 * time.Second, retries: 1}
	for _, o := range opts {
		o(&cf)
	}
	u, err := url.Parse(serverURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("meilicatalog: server URL must be an absolute http or https URL")
	}
	if indexUID == "" {
		return nil, errors.New("meilicatalog: index uid is required")
	}
	mopts := []meilisearch.Option{meilisearch.WithAPIKey(apiKey)}
	if cf.retries > 0 {
		mopts = append(mopts, meilisearch.WithCustomRetries([]int{502, 503, 504}, uint8(cf.retries)))
	} else {
		mopts = append(mopts, meilisearch.DisableRetries())
	}
	if cf.httpClient != nil {
		mopts = append(mopts, meilisearch.WithCustomClient(cf.httpClient))
	}
	client := meilisearch.New(strings.TrimRight(serverURL, "/"), mopts...)
	x := &Index{
		client:       client,
		index:        client.Index(indexUID),
		uid:          indexUID,
		server:       u.Redacted(),
		taskTimeout:  cf.taskTimeout,
		pollInterval: cf.pollInterval,
	}

	hctx, cancel := context.WithTimeout(ctx, cf.reachTimeout)
	err = x.ping(hctx)
	cancel()
	if err != nil {
		client.Close()
		return nil, err
	}
	if err := x.ensureIndex(ctx); err != nil {
		client.Close()
		return nil, err
	}
	ti, err := x.index.UpdateSettingsWithContext(ctx, settings())
	if err := x.wait(ctx, "apply settings", ti, err); err != nil {
		client.Close()
		return nil, err
	}
	return x, nil
}

// ensureIndex creates the index unless it exists with primary key "id".
func (x *Index) ensureIndex(ctx context.Context) error {
	info, err := x.client.GetIndexWithContext(ctx, x.uid)
	if err == nil {
		if info.PrimaryKey != "" && info.PrimaryKey != "id" {
			return fmt.Errorf("meilicatalog: index %q has primary key %q, want \"id\"", x.uid, info.PrimaryKey)
		}
		return nil
	}
	var me *meilisearch.Error
	if !errors.As(err, &me) || me.MeilisearchApiError.Code != "index_not_found" {
		return x.wrap(ctx, "get index", err)
	}
	ti, err := x.client.CreateIndexWithContext(ctx, &meilisearch.IndexConfig{Uid: x.uid, PrimaryKey: "id"})
	err = x.wait(ctx, "create index", ti, err)
	var te *TaskError
	if errors.As(err, &te) && te.Code == "index_already_exists" {
		return nil // created meanwhile by another replica
	}
	return err
}

// TaskError is a Meilisearch task that did not succeed: a write that
// Meilisearch accepted (202) and then failed or canceled.
type TaskError struct {
	Op      string // what we asked, e.g. "apply settings"
	UID     int64  // the task's uid
	Status  string // "failed" or "canceled"
	Code    string // Meilisearch's error code, e.g. "invalid_document_id"
	Message string // Meilisearch's error message
}

func (e *TaskError) Error() string {
	return fmt.Sprintf("meilicatalog: %s: task %d %s: %s (%s)", e.Op, e.UID, e.Status, e.Message, e.Code)
}

// wait waits for the task of a write and checks that it succeeded:
// meilisearch-go's WaitForTask returns no error for a failed task.
func (x *Index) wait(ctx context.Context, op string, ti *meilisearch.TaskInfo, err error) error {
	if err != nil {
		return x.wrap(ctx, op, err)
	}
	wctx, cancel := context.WithTimeout(ctx, x.taskTimeout)
	defer cancel()
	task, err := x.client.WaitForTaskWithContext(wctx, ti.TaskUID, x.pollInterval)
	if err != nil {
		if ctx.Err() == nil && wctx.Err() != nil {
			return fmt.Errorf("meilicatalog: %s: task %d not finished after %v: %w", op, ti.TaskUID, x.taskTimeout, catalog.ErrUnavailable)
		}
		return x.wrap(ctx, op, err)
	}
	if task.Status != meilisearch.TaskStatusSucceeded {
		return &TaskError{
			Op: op, UID: ti.TaskUID, Status: string(task.Status),
			Code: task.Error.Code, Message: task.Error.Message,
		}
	}
	return nil
}

// wrap turns a meilisearch-go error into ours: catalog.ErrUnavailable when
// the server cannot be reached or is overloaded, the API's code and message
// otherwise. It names the server by its URL without credentials and never
// repeats the request.
func (x *Index) wrap(ctx context.Context, op string, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("meilicatalog: %s: %w", op, cerr)
	}
	var me *meilisearch.Error
	if !errors.As(err, &me) {
		return fmt.Errorf("meilicatalog: %s: %w", op, err)
	}
	switch me.ErrCode {
	case meilisearch.MeilisearchCommunicationError, meilisearch.MeilisearchTimeoutError:
		return fmt.Errorf("meilicatalog: %s: cannot reach %s: %s: %w", op, x.server, reason(me.OriginError), catalog.ErrUnavailable)
	case meilisearch.MeilisearchMaxRetriesExceeded:
		return fmt.Errorf("meilicatalog: %s: %s keeps failing: %w", op, x.server, catalog.ErrUnavailable)
	case meilisearch.MeilisearchApiError, meilisearch.MeilisearchApiErrorWithoutMessage:
		api := me.MeilisearchApiError
		if me.StatusCode == http.StatusServiceUnavailable || me.StatusCode == http.StatusBadGateway || me.StatusCode == http.StatusGatewayTimeout {
			return fmt.Errorf("meilicatalog: %s: %s answered %d: %w", op, x.server, me.StatusCode, catalog.ErrUnavailable)
		}
		if api.Code == "" {
			return fmt.Errorf("meilicatalog: %s: %s answered %d", op, x.server, me.StatusCode)
		}
		return fmt.Errorf("meilicatalog: %s: %s (%s, status %d)", op, api.Message, api.Code, me.StatusCode)
	}
	return fmt.Errorf("meilicatalog: %s: unexpected answer from %s (status %d)", op, x.server, me.StatusCode)
}

// reason says briefly why a request failed to reach the server.
func reason(err error) string {
	var dnsErr *net.DNSError
	var netErr net.Error
	switch {
	case err == nil:
		return "no answer"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.As(err, &dnsErr):
		return "unknown host " + dnsErr.Name
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return "timed out"
	}
	// The innermost error, which names neither the URL nor the request.
	for {
		inner := errors.Unwrap(err)
		if inner == nil {
			return err.Error()
		}
		err = inner
	}
}

// ping checks that the server answers and is available.
func (x *Index) ping(ctx context.Context) error {
	h, err := x.client.HealthWithContext(ctx)
	if err != nil {
		return x.wrap(ctx, "health", err)
	}
	if h.Status != "available" {
		return fmt.Errorf("meilicatalog: %s is %q: %w", x.server, h.Status, catalog.ErrUnavailable)
	}
	return nil
}

// Ping reports whether the server answers.
func (x *Index) Ping(ctx context.Context) error { return x.ping(ctx) }

// document is what Meilisearch indexes: a catalog.Document whose brand and
// category are folded (lowercase, no accents) so that equality filters and
// facets behave as in blevecatalog.
func document(d catalog.Document) catalog.Document {
	d.Brand = catalog.Fold(d.Brand)
	d.Category = catalog.Fold(d.Category)
	return d
}

// Put adds or replaces documents by ID, returning once they are searchable.
func (x *Index) Put(ctx context.Context, docs []catalog.Document) error {
	for len(docs) > 0 {
		n := min(putChunk, len(docs))
		chunk := make([]catalog.Document, n)
		for i, d := range docs[:n] {
			if d.ID == "" {
				return errors.New("meilicatalog: put: document without id")
			}
			chunk[i] = document(d)
		}
		pk := "id"
		ti, err := x.index.AddDocumentsWithContext(ctx, chunk, &meilisearch.DocumentOptions{PrimaryKey: &pk})
		if err := x.wait(ctx, "put documents", ti, err); err != nil {
			return err
		}
		docs = docs[n:]
	}
	return nil
}

// Remove deletes documents by ID; unknown IDs are ignored.
func (x *Index) Remove(ctx context.Context, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	ti, err := x.index.DeleteDocumentsWithContext(ctx, ids, nil)
	return x.wait(ctx, "remove documents", ti, err)
}

// Clear removes every document.
func (x *Index) Clear(ctx context.Context) error {
	ti, err := x.index.DeleteAllDocumentsWithContext(ctx, nil)
	return x.wait(ctx, "clear", ti, err)
}

// SetSynonyms replaces the index's synonyms. Each synonym is checked with
// Synonym.Validate; on error nothing changes.
func (x *Index) SetSynonyms(ctx context.Context, syns []catalog.Synonym) error {
	m := make(map[string][]string, len(syns))
	for _, s := range syns {
		if err := s.Validate(); err != nil {
			return fmt.Errorf("meilicatalog: synonym %q: %w", s.Term, err)
		}
		term := catalog.Fold(s.Term)
		for _, a := range s.Alternatives {
			if a := catalog.Fold(a); a != "" && !slices.Contains(m[term], a) {
				m[term] = append(m[term], a)
			}
		}
	}
	ti, err := x.index.UpdateSynonymsWithContext(ctx, &m)
	return x.wait(ctx, "set synonyms", ti, err)
}

// Search ranks matches by relevance, then availability (the last ranking rule).
func (x *Index) Search(ctx context.Context, q catalog.Query) (catalog.Result, error) {
	limit, offset := q.Limit, q.Offset
	if limit <= 0 {
		limit = defaultLimit
	}
	req := &meilisearch.SearchRequest{
		Limit:                int64(limit),
		Offset:               int64(max(offset, 0)),
		AttributesToRetrieve: []string{"id"},
		MatchingStrategy:     meilisearch.Last,
	}
	if f := filter(q); f != "" {
		req.Filter = f
	}
	if q.Facets {
		for _, f := range catalog.Facets {
			req.Facets = append(req.Facets, facetAttributes[f])
		}
	}
	resp, err := x.index.SearchWithContext(ctx, q.Text, req)
	if err != nil {
		return catalog.Result{}, x.wrap(ctx, "search", err)
	}
	var hits []catalog.Hit
	if err := resp.Hits.DecodeInto(&hits); err != nil {
		return catalog.Result{}, fmt.Errorf("meilicatalog: search: decode hits: %w", err)
	}
	res := catalog.Result{Hits: hits, Total: int(resp.EstimatedTotalHits)}
	if res.Hits == nil {
		res.Hits = []catalog.Hit{}
	}
	if q.Facets {
		var dist map[string]map[string]int
		if len(resp.FacetDistribution) > 0 {
			if err := json.Unmarshal(resp.FacetDistribution, &dist); err != nil {
				return catalog.Result{}, fmt.Errorf("meilicatalog: search: decode facets: %w", err)
			}
		}
		res.Facets = make(map[string]map[string]int, len(catalog.Facets))
		for _, f := range catalog.Facets {
			counts := dist[facetAttributes[f]]
			if counts == nil {
				counts = map[string]int{}
			}
			res.Facets[f] = counts
		}
	}
	return res, nil
}

// filter returns the Meilisearch filter expression for the query's filters:
// the variant keys (scalars, so that red 41 plus black 42 is not red 42), and
// folded brand and category.
func filter(q catalog.Query) string {
	var parts []string
	if keys, inStock := q.FilterKeys(); len(keys) > 0 {
		attr := "variant_keys"
		if inStock {
			attr = "stock_keys"
		}
		slices.Sort(keys)
		keys = slices.Compact(keys)
		quoted := make([]string, len(keys))
		for i, k := range keys {
			quoted[i] = quote(k)
		}
		parts = append(parts, attr+" IN ["+strings.Join(quoted, ", ")+"]")
	}
	if b := catalog.Fold(q.Brand); b != "" {
		parts = append(parts, "brand = "+quote(b))
	}
	if c := catalog.Fold(q.Category); c != "" {
		parts = append(parts, "category = "+quote(c))
	}
	return strings.Join(parts, " AND ")
}

// quote makes s a double-quoted filter value: Meilisearch reads \" as a
// quote and \\ as a backslash inside one, so no value can end the quotes
// early or add operators to the filter.
func quote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// Close releases idle connections.
func (x *Index) Close() error {
	x.client.Close()
	return nil
}
