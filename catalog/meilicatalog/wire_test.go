package meilicatalog

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/bottega-shop/bottega/catalog"
)

// fakeMeili answers like a Meilisearch server: every write is a task, 202
// with a taskUid, that GET /tasks/{uid} reports "processing" once and then
// finished. It records every request.
type fakeMeili struct {
	t   *testing.T
	srv *httptest.Server

	mu          sync.Mutex
	requests    []request
	indexExists bool
	primaryKey  string
	tasks       []fakeTask
	polls       map[int]int
	// fail decides whether a task of a request fails, and with which code.
	fail func(method, path string) (code, message string)
	// search answers searches: status and body.
	searchStatus int
	searchBody   string
}

type request struct {
	Method, Path, Query, Auth string
	Body                      []byte
}

type fakeTask struct {
	kind          string
	code, message string
}

const testKey = "s3cr3t-master-key"

func newFakeMeili(t *testing.T) *fakeMeili {
	f := &fakeMeili{t: t, polls: map[int]int{}, primaryKey: "id", searchStatus: http.StatusOK,
		searchBody: `{"hits":[],"estimatedTotalHits":0,"limit":20,"offset":0,"processingTimeMs":1,"query":""}`}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeMeili) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, request{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Get("Authorization"), body})
	w.Header().Set("Content-Type", "application/json")
	answer := func(status int, v any) {
		w.WriteHeader(status)
		if s, ok := v.(string); ok {
			io.WriteString(w, s)
			return
		}
		json.NewEncoder(w).Encode(v)
	}
	task := func(kind string) {
		ft := fakeTask{kind: kind}
		if f.fail != nil {
			ft.code, ft.message = f.fail(r.Method, r.URL.Path)
		}
		f.tasks = append(f.tasks, ft)
		answer(http.StatusAccepted, map[string]any{"taskUid": len(f.tasks) - 1, "indexUid": "products",
			"status": "enqueued", "type": kind, "enqueuedAt": "2026-11-01T10:00:00Z"})
	}
	path := r.URL.Path
	switch {
	case r.Method == "GET" && path == "/health":
		answer(http.StatusOK, `{"status":"available"}`)
	case r.Method == "GET" && strings.HasPrefix(path, "/tasks/"):
		uid, err := strconv.Atoi(strings.TrimPrefix(path, "/tasks/"))
		if err != nil || uid >= len(f.tasks) {
			answer(http.StatusNotFound, `{"message":"task not found","code":"task_not_found","type":"invalid_request","link":""}`)
			return
		}
		ft := f.tasks[uid]
		f.polls[uid]++
		resp := map[string]any{"uid": uid, "indexUid": "products", "type": ft.kind, "enqueuedAt": "2026-11-01T10:00:00Z"}
		switch {
		case f.polls[uid] == 1:
			resp["status"] = "processing"
		case ft.code != "":
			resp["status"] = "failed"
			resp["error"] = map[string]string{"message": ft.message, "code": ft.code, "type": "invalid_request", "link": ""}
		default:
			resp["status"] = "succeeded"
			if ft.kind == "indexCreation" {
				f.indexExists = true
			}
		}
		answer(http.StatusOK, resp)
	case r.Method == "GET" && strings.HasPrefix(path, "/indexes/"):
		if !f.indexExists {
			answer(http.StatusNotFound, `{"message":"Index not found.","code":"index_not_found","type":"invalid_request","link":""}`)
			return
		}
		answer(http.StatusOK, map[string]any{"uid": strings.TrimPrefix(path, "/indexes/"), "primaryKey": f.primaryKey,
			"createdAt": "2026-11-01T10:00:00Z", "updatedAt": "2026-11-01T10:00:00Z"})
	case r.Method == "POST" && path == "/indexes":
		task("indexCreation")
	case r.Method == "PATCH" && strings.HasSuffix(path, "/settings"),
		r.Method == "PUT" && strings.HasSuffix(path, "/settings/synonyms"):
		task("settingsUpdate")
	case r.Method == "POST" && strings.HasSuffix(path, "/documents"):
		task("documentAdditionOrUpdate")
	case r.Method == "POST" && strings.HasSuffix(path, "/documents/delete-batch"),
		r.Method == "DELETE" && strings.HasSuffix(path, "/documents"):
		task("documentDeletion")
	case r.Method == "POST" && strings.HasSuffix(path, "/search"):
		answer(f.searchStatus, f.searchBody)
	default:
		answer(http.StatusNotFound, `{"message":"unknown route","code":"not_found","type":"invalid_request","link":""}`)
	}
}

// sent returns the recorded requests with the method and path.
func (f *fakeMeili) sent(method, path string) []request {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []request
	for _, r := range f.requests {
		if r.Method == method && r.Path == path {
			out = append(out, r)
		}
	}
	return out
}

func (f *fakeMeili) reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = nil
}

func (f *fakeMeili) open(t *testing.T) *Index {
	t.Helper()
	x, err := New(t.Context(), f.srv.URL, testKey, "products", fastPolls())
	if err != nil {
		t.Fatalf("New(%s) = %v", f.srv.URL, err)
	}
	t.Cleanup(func() { x.Close() })
	return x
}

// fastPolls polls tasks every millisecond and does not retry.
func fastPolls() Option {
	return func(cf *config) {
		cf.pollInterval = time.Millisecond
		cf.retries = 0
	}
}

func decode(t *testing.T, body []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("request body %q is not JSON: %v", body, err)
	}
	return v
}

func TestNewCreatesIndexAndAppliesSettings(t *testing.T) {
	f := newFakeMeili(t)
	f.open(t)

	creates := f.sent("POST", "/indexes")
	if len(creates) != 1 {
		t.Fatalf("New sent %d POST /indexes, want 1", len(creates))
	}
	if diff := cmp.Diff(map[string]any{"uid": "products", "primaryKey": "id"}, decode(t, creates[0].Body)); diff != "" {
		t.Errorf("POST /indexes body (-want +got):\n%s", diff)
	}
	patches := f.sent("PATCH", "/indexes/products/settings")
	if len(patches) != 1 {
		t.Fatalf("New sent %d PATCH settings, want 1", len(patches))
	}
	got := decode(t, patches[0].Body).(map[string]any)
	want := map[string]any{
		"searchableAttributes": []any{"title", "titles", "brand", "category", "description"},
		"filterableAttributes": []any{"variant_keys", "stock_keys", "brand", "category", "sizes", "colours"},
		"rankingRules":         []any{"words", "typo", "proximity", "attributeRank", "sort", "wordPosition", "exactness", "available:desc"},
		"typoTolerance": map[string]any{
			"enabled":             true,
			"minWordSizeForTypos": map[string]any{"oneTypo": 5.0, "twoTypos": 9.0},
			"disableOnWords":      []any{},
			"disableOnAttributes": []any{},
			"disableOnNumbers":    true,
		},
		"faceting": map[string]any{"maxValuesPerFacet": 100.0, "sortFacetValuesBy": map[string]any{"*": "count"}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("PATCH settings body (-want +got):\n%s", diff)
	}
	// Both tasks were waited for until finished, not just enqueued.
	f.mu.Lock()
	defer f.mu.Unlock()
	for uid := range f.tasks {
		if f.polls[uid] < 2 {
			t.Errorf("task %d (%s) polled %d times, want until it finished (2)", uid, f.tasks[uid].kind, f.polls[uid])
		}
	}
	for _, r := range f.requests {
		if r.Auth != "Bearer "+testKey {
			t.Errorf("%s %s sent Authorization %q, want the API key as bearer", r.Method, r.Path, r.Auth)
		}
	}
}

func TestNewKeepsExistingIndex(t *testing.T) {
	f := newFakeMeili(t)
	f.indexExists = true
	f.open(t)
	if n := len(f.sent("POST", "/indexes")); n != 0 {
		t.Errorf("New sent %d POST /indexes for an existing index, want 0", n)
	}
	if n := len(f.sent("PATCH", "/indexes/products/settings")); n != 1 {
		t.Errorf("New sent %d PATCH settings for an existing index, want 1", n)
	}

	f.primaryKey = "sku"
	if _, err := New(t.Context(), f.srv.URL, testKey, "products", fastPolls()); err == nil || !strings.Contains(err.Error(), `primary key "sku"`) {
		t.Errorf("New on an index with primary key sku = %v, want an error naming it", err)
	}
}

func TestFailedTasks(t *testing.T) {
	t.Run("settings", func(t *testing.T) {
		f := newFakeMeili(t)
		f.fail = func(method, path string) (string, string) {
			if method == "PATCH" {
				return "invalid_settings_ranking_rules", "`available:desc` is not a valid ranking rule."
			}
			return "", ""
		}
		_, err := New(t.Context(), f.srv.URL, testKey, "products", fastPolls())
		var te *TaskError
		if !errors.As(err, &te) {
			t.Fatalf("New with a failing settings task = %v, want a *TaskError", err)
		}
		if te.Code != "invalid_settings_ranking_rules" || te.Status != "failed" {
			t.Errorf("TaskError = %+v, want code invalid_settings_ranking_rules, status failed", te)
		}
		for _, s := range []string{"apply settings", "invalid_settings_ranking_rules", "is not a valid ranking rule"} {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("New error %q does not mention %q", err, s)
			}
		}
	})
	t.Run("index created meanwhile", func(t *testing.T) {
		f := newFakeMeili(t)
		f.fail = func(method, path string) (string, string) {
			if path == "/indexes" {
				return "index_already_exists", "Index `products` already exists."
			}
			return "", ""
		}
		if _, err := New(t.Context(), f.srv.URL, testKey, "products", fastPolls()); err != nil {
			t.Errorf("New when another replica created the index = %v, want nil", err)
		}
	})
	t.Run("documents", func(t *testing.T) {
		f := newFakeMeili(t)
		x := f.open(t)
		f.fail = func(method, path string) (string, string) {
			if strings.HasSuffix(path, "/documents") {
				return "invalid_document_id", "Document identifier `a b` is invalid."
			}
			return "", ""
		}
		err := x.Put(t.Context(), []catalog.Document{{ID: "a b", Title: "x"}})
		var te *TaskError
		if !errors.As(err, &te) || te.Code != "invalid_document_id" {
			t.Errorf("Put with a failing task = %v, want a *TaskError with code invalid_document_id", err)
		}
	})
}

func TestWrites(t *testing.T) {
	f := newFakeMeili(t)
	x := f.open(t)
	f.reset()
	ctx := t.Context()

	doc := catalog.Document{ID: "trail-runner", Title: "Trail Runner", Brand: "Scarpà", Category: "Scarpe  da Trail",
		Colours: []string{"red"}, Sizes: []string{"42"}, VariantKeys: []string{"*|*", "*|42", "red|*", "red|42"},
		StockKeys: []string{}, Available: 0}
	if err := x.Put(ctx, []catalog.Document{doc}); err != nil {
		t.Fatalf("Put = %v", err)
	}
	adds := f.sent("POST", "/indexes/products/documents")
	if len(adds) != 1 || adds[0].Query != "primaryKey=id" {
		t.Fatalf("Put sent %+v, want one POST documents?primaryKey=id", adds)
	}
	want := []any{map[string]any{
		"id": "trail-runner", "title": "Trail Runner", "brand": "scarpa", "category": "scarpe da trail",
		"colours": []any{"red"}, "sizes": []any{"42"}, "variant_keys": []any{"*|*", "*|42", "red|*", "red|42"},
		"stock_keys": []any{}, "available": 0.0, "price_minor": 0.0,
	}}
	if diff := cmp.Diff(want, decode(t, adds[0].Body)); diff != "" {
		t.Errorf("Put body (-want +got):\n%s", diff)
	}

	if err := x.Remove(ctx, []string{"a", "b"}); err != nil {
		t.Fatalf("Remove = %v", err)
	}
	if dels := f.sent("POST", "/indexes/products/documents/delete-batch"); len(dels) != 1 || string(dels[0].Body) != `["a","b"]` {
		t.Errorf("Remove sent %+v, want one POST delete-batch with [\"a\",\"b\"]", dels)
	}
	if err := x.Clear(ctx); err != nil {
		t.Fatalf("Clear = %v", err)
	}
	if n := len(f.sent("DELETE", "/indexes/products/documents")); n != 1 {
		t.Errorf("Clear sent %d DELETE documents, want 1", n)
	}

	syns := []catalog.Synonym{{Term: "Scarpe da Trail", Alternatives: []string{"trail running", "Trail Running"}}}
	if err := x.SetSynonyms(ctx, syns); err != nil {
		t.Fatalf("SetSynonyms = %v", err)
	}
	if err := x.SetSynonyms(ctx, nil); err != nil {
		t.Fatalf("SetSynonyms(nil) = %v", err)
	}
	puts := f.sent("PUT", "/indexes/products/settings/synonyms")
	if len(puts) != 2 {
		t.Fatalf("SetSynonyms sent %d PUT synonyms, want 2", len(puts))
	}
	if diff := cmp.Diff(map[string]any{"scarpe da trail": []any{"trail running"}}, decode(t, puts[0].Body)); diff != "" {
		t.Errorf("SetSynonyms body (-want +got):\n%s", diff)
	}
	if got := string(puts[1].Body); got != "{}" {
		t.Errorf("SetSynonyms(nil) body = %s, want {}", got)
	}
	if err := x.SetSynonyms(ctx, []catalog.Synonym{{Term: "x"}}); err == nil {
		t.Error("SetSynonyms with no alternatives = nil, want a validation error")
	}
}

func TestSearchRequest(t *testing.T) {
	f := newFakeMeili(t)
	x := f.open(t)
	tests := []struct {
		name string
		q    catalog.Query
		want map[string]any
	}{
		{
			name: "text only",
			q:    catalog.Query{Text: "trial runer"},
			want: map[string]any{"q": "trial runer", "limit": 20.0, "attributesToRetrieve": []any{"id"}, "matchingStrategy": "last"},
		},
		{
			name: "sizes by colours in stock",
			q:    catalog.Query{Text: "trail", Sizes: []string{"42", "41"}, Colours: []string{"rosso", "Black"}, InStock: true},
			want: map[string]any{"q": "trail", "limit": 20.0, "attributesToRetrieve": []any{"id"}, "matchingStrategy": "last",
				"filter": `stock_keys IN ["black|41", "black|42", "red|41", "red|42"]`},
		},
		{
			name: "colour in any size, any stock",
			q:    catalog.Query{Colours: []string{"red"}},
			want: map[string]any{"q": "", "limit": 20.0, "attributesToRetrieve": []any{"id"}, "matchingStrategy": "last",
				"filter": `variant_keys IN ["red|*"]`},
		},
		{
			name: "in stock only",
			q:    catalog.Query{InStock: true},
			want: map[string]any{"q": "", "limit": 20.0, "attributesToRetrieve": []any{"id"}, "matchingStrategy": "last",
				"filter": `stock_keys IN ["*|*"]`},
		},
		{
			name: "brand and category folded",
			q:    catalog.Query{Brand: "SCARPÀ", Category: "Scarpe  da Trail"},
			want: map[string]any{"q": "", "limit": 20.0, "attributesToRetrieve": []any{"id"}, "matchingStrategy": "last",
				"filter": `brand = "scarpa" AND category = "scarpe da trail"`},
		},
		{
			name: "quote and backslash in values",
			q:    catalog.Query{Brand: `O"Neill`, Category: `a\b`},
			want: map[string]any{"q": "", "limit": 20.0, "attributesToRetrieve": []any{"id"}, "matchingStrategy": "last",
				"filter": `brand = "o\"neill" AND category = "a\\b"`},
		},
		{
			name: "facets and a page",
			q:    catalog.Query{Text: "giacca", Facets: true, Limit: 5, Offset: 10},
			want: map[string]any{"q": "giacca", "limit": 5.0, "offset": 10.0, "attributesToRetrieve": []any{"id"}, "matchingStrategy": "last",
				"facets": []any{"sizes", "colours", "brand", "category"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.reset()
			if _, err := x.Search(t.Context(), tt.q); err != nil {
				t.Fatalf("Search = %v", err)
			}
			sent := f.sent("POST", "/indexes/products/search")
			if len(sent) != 1 {
				t.Fatalf("Search sent %d requests, want 1", len(sent))
			}
			got := decode(t, sent[0].Body).(map[string]any)
			delete(got, "hybrid") // meilisearch-go always sends "hybrid": null
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Search(%+v) body (-want +got):\n%s", tt.q, diff)
			}
		})
	}
}

// meiliUnquote reads a double-quoted filter value as Meilisearch's filter
// parser does (crates/filter-parser/src/value.rs): a backslash skips the next
// character while looking for the closing quote; then \" becomes " and the
// remaining escapes are decoded. It returns the value and what follows it.
func meiliUnquote(s string) (value, rest string, err error) {
	if !strings.HasPrefix(s, `"`) {
		return "", "", errors.New("no opening quote")
	}
	body := s[1:]
	i, escapedQuote := 0, false
	for ; i < len(body) && body[i] != '"'; i++ {
		if body[i] == '\\' {
			if i+1 == len(body) {
				return "", "", errors.New("backslash at the end")
			}
			escapedQuote = escapedQuote || body[i+1] == '"'
			i++
		}
	}
	if i == len(body) {
		return "", "", errors.New("no closing quote")
	}
	tok, rest := body[:i], body[i+1:]
	if escapedQuote {
		tok = strings.ReplaceAll(tok, `\"`, `"`)
	}
	var b strings.Builder
	for j := 0; j < len(tok); j++ {
		if tok[j] == '\\' && j+1 < len(tok) {
			switch tok[j+1] {
			case '\\', '"', '\'':
				b.WriteByte(tok[j+1])
				j++
				continue
			default:
				return "", "", fmt.Errorf("escape \\%c", tok[j+1])
			}
		}
		b.WriteByte(tok[j])
	}
	return b.String(), rest, nil
}

func TestQuoteCannotBreakOut(t *testing.T) {
	values := []string{`plain`, `o"neill`, `a\b`, `ends with \`, `\"`, `\\"`, `x" OR brand = "y`, `"`, `''`, `a"] OR stock_keys EXISTS AND x IN ["`, "new\nline"}
	for _, v := range values {
		q := quote(v)
		got, rest, err := meiliUnquote(q)
		if err != nil || got != v || rest != "" {
			t.Errorf("quote(%q) = %s, read back as %q followed by %q (err %v), want exactly the value", v, q, got, rest, err)
		}
	}
	// A whole filter: the value stays one value.
	f := filter(catalog.Query{Brand: `x" OR brand = "y`})
	if want := `brand = "x\" or brand = \"y"`; f != want {
		t.Errorf("filter(Brand: %q) = %s, want %s", `x" OR brand = "y`, f, want)
	}
}

func TestSearchResponse(t *testing.T) {
	f := newFakeMeili(t)
	x := f.open(t)
	f.searchBody = `{"hits":[{"id":"borraccia-b"},{"id":"borraccia-a"}],"estimatedTotalHits":42,"limit":2,"offset":0,
		"processingTimeMs":1,"query":"borraccia","facetDistribution":{"sizes":{"OS":2},"brand":{"lupo":2}}}`
	q := catalog.Query{Text: "borraccia", Facets: true, Limit: 2}
	got, err := x.Search(t.Context(), q)
	if err != nil {
		t.Fatalf("Search = %v", err)
	}
	want := catalog.Result{
		Hits:  []catalog.Hit{{ID: "borraccia-b"}, {ID: "borraccia-a"}},
		Total: 42,
		Facets: map[string]map[string]int{
			catalog.FacetSize: {"OS": 2}, catalog.FacetColour: {}, catalog.FacetBrand: {"lupo": 2}, catalog.FacetCategory: {},
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Search(%+v) (-want +got):\n%s", q, diff)
	}
}

func TestErrors(t *testing.T) {
	t.Run("unreachable", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		for _, u := range []string{"http://" + addr, "http://admin:hunter2@" + addr} {
			start := time.Now()
			_, err := New(t.Context(), u, testKey, "products")
			if took := time.Since(start); took > 2*time.Second {
				t.Errorf("New(%s) took %v, want it to fail fast", u, took)
			}
			if !errors.Is(err, catalog.ErrUnavailable) {
				t.Errorf("New(%s) = %v, want catalog.ErrUnavailable", u, err)
				continue
			}
			msg := err.Error()
			if !strings.Contains(msg, "cannot reach http://") || !strings.Contains(msg, addr+": connection refused") {
				t.Errorf("New(%s) = %q, want it to say it cannot reach the server: connection refused", u, msg)
			}
			for _, secret := range []string{testKey, "hunter2"} {
				if strings.Contains(msg, secret) {
					t.Errorf("New(%s) error %q contains a secret", u, msg)
				}
			}
		}
	})
	t.Run("bad filter", func(t *testing.T) {
		f := newFakeMeili(t)
		x := f.open(t)
		f.searchStatus = http.StatusBadRequest
		f.searchBody = `{"message":"Attribute ` + "`x`" + ` is not filterable.","code":"invalid_search_filter","type":"invalid_request","link":""}`
		_, err := x.Search(t.Context(), catalog.Query{Brand: "x"})
		if err == nil || !strings.Contains(err.Error(), "invalid_search_filter") || errors.Is(err, catalog.ErrUnavailable) {
			t.Errorf("Search answered 400 invalid_search_filter = %v, want an error with the code, not ErrUnavailable", err)
		}
	})
	t.Run("overloaded", func(t *testing.T) {
		f := newFakeMeili(t)
		x := f.open(t)
		f.searchStatus = http.StatusServiceUnavailable
		f.searchBody = `{"message":"Too many search requests.","code":"too_many_search_requests","type":"system","link":""}`
		if _, err := x.Search(t.Context(), catalog.Query{Text: "x"}); !errors.Is(err, catalog.ErrUnavailable) {
			t.Errorf("Search answered 503 = %v, want catalog.ErrUnavailable", err)
		}
	})
	t.Run("bad URL", func(t *testing.T) {
		if _, err := New(t.Context(), "127.0.0.1:7700", testKey, "products"); err == nil {
			t.Error("New without a scheme = nil, want an error")
		}
	})
}
