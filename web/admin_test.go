package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bottega-shop/bottega/catalog"
	"github.com/bottega-shop/bottega/catalog/blevecatalog"
	"github.com/bottega-shop/bottega/catalog/sqlcatalog"
	"github.com/bottega-shop/bottega/internal/sqldb"
	"github.com/bottega-shop/bottega/web"
)

const token = "test-admin-token-0123456789"

type harness struct {
	t   *testing.T
	srv *web.Server
	db  *sqldb.DB
}

func newHarness(t *testing.T, mod func(*web.Config)) *harness {
	t.Helper()
	ctx := context.Background()
	db, err := sqldb.Open(ctx, "", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	store, err := sqlcatalog.New(db)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := blevecatalog.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { idx.Close() })
	svc := catalog.NewService(store, idx, nil, nil)
	cfg := web.Config{
		Catalog:    svc,
		AdminToken: token,
		Ready: func(ctx context.Context) map[string]error {
			return map[string]error{"sqlite": store.Ping(ctx), "bleve": idx.Ping(ctx)}
		},
	}
	if mod != nil {
		mod(&cfg)
	}
	return &harness{t: t, srv: web.New(cfg), db: db}
}

// do sends a request and returns the status and the body.
func (h *harness) do(method, path, contentType string, body io.Reader, tok string) (int, []byte) {
	h.t.Helper()
	req := httptest.NewRequest(method, path, body)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := h.srv.App().Test(req, -1)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func (h *harness) json(method, path string, v any) (int, map[string]any) {
	h.t.Helper()
	var body io.Reader
	switch v := v.(type) {
	case nil:
	case string:
		body = strings.NewReader(v)
	default:
		b, _ := json.Marshal(v)
		body = bytes.NewReader(b)
	}
	status, b := h.do(method, path, "application/json", body, token)
	var out map[string]any
	if len(b) > 0 {
		if err := json.Unmarshal(b, &out); err != nil {
			h.t.Fatalf("%s %s: response is not a JSON object: %q", method, path, b)
		}
	}
	return status, out
}

func trailRunner() catalog.Product {
	return catalog.Product{
		Handle: "trail-runner", Title: "Scarpa Trail Runner", Titles: map[string]string{"en": "Trail Runner shoe"},
		Brand: "Montalto", Category: "scarpe da trail", PriceMinor: 12990, Currency: "EUR", Active: true,
		Variants: []catalog.Variant{
			{SKU: "TR-RED-41", Size: "41", Colour: "rosso", Stock: 4},
			{SKU: "TR-RED-42", Size: "42", Colour: "rosso", Stock: 0},
			{SKU: "TR-BLK-42", Size: "42", Colour: "nero", Stock: 2},
		},
	}
}

func problems(body map[string]any) []string {
	var out []string
	ps, _ := body["problems"].([]any)
	for _, p := range ps {
		m := p.(map[string]any)
		out = append(out, fmt.Sprintf("%v|%v|%v", m["row"], m["field"], m["message"]))
	}
	return out
}

func TestAdminAuth(t *testing.T) {
	h := newHarness(t, nil)
	tests := []struct {
		name, tok string
		want      int
	}{
		{"no token", "", http.StatusUnauthorized},
		{"wrong token", "nope-nope-nope-nope", http.StatusUnauthorized},
		{"right token", token, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, _ := h.do("GET", "/api/admin/products", "", nil, tt.tok); got != tt.want {
				t.Errorf("GET /api/admin/products = %d, want %d", got, tt.want)
			}
		})
	}
	disabled := newHarness(t, func(c *web.Config) { c.AdminToken = "" })
	if got, _ := disabled.do("GET", "/api/admin/products", "", nil, ""); got != http.StatusUnauthorized {
		t.Errorf("admin API with no token configured = %d, want 401", got)
	}
	if got, _ := disabled.do("GET", "/api/admin/products", "", nil, "Bearer "); got != http.StatusUnauthorized {
		t.Errorf("admin API with no token configured and an empty bearer = %d, want 401", got)
	}
}

func TestProductLifecycle(t *testing.T) {
	h := newHarness(t, nil)
	p := trailRunner()
	if st, body := h.json("POST", "/api/admin/products", p); st != http.StatusCreated {
		t.Fatalf("create = %d %v, want 201", st, body)
	}
	if st, _ := h.json("POST", "/api/admin/products", p); st != http.StatusConflict {
		t.Errorf("create twice = %d, want 409", st)
	}
	st, got := h.json("GET", "/api/admin/products/trail-runner", nil)
	if st != http.StatusOK || got["title"] != p.Title || len(got["variants"].([]any)) != 3 {
		t.Fatalf("get = %d %v", st, got)
	}
	if titles := got["titles"].(map[string]any); titles["en"] != "Trail Runner shoe" {
		t.Errorf("titles = %v, want en title", titles)
	}

	p.Variants = p.Variants[:2]
	p.Title = "Trail Runner GTX"
	if st, body := h.json("PUT", "/api/admin/products/trail-runner", p); st != http.StatusOK || len(body["variants"].([]any)) != 2 {
		t.Fatalf("replace = %d %v, want 200 with 2 variants", st, body)
	}
	if st, _ := h.json("PUT", "/api/admin/products/other", p); st != http.StatusBadRequest {
		t.Errorf("replace with mismatched handle = %d, want 400", st)
	}
	if st, _ := h.json("GET", "/api/admin/products?limit=10", nil); st != http.StatusOK {
		t.Errorf("list = %d", st)
	}
	if st, _ := h.json("DELETE", "/api/admin/products/trail-runner", nil); st != http.StatusNoContent {
		t.Errorf("delete = %d, want 204", st)
	}
	for _, m := range []string{"GET", "DELETE"} {
		if st, body := h.json(m, "/api/admin/products/trail-runner", nil); st != http.StatusNotFound || body["error"] == "" {
			t.Errorf("%s deleted product = %d %v, want 404 with an error", m, st, body)
		}
	}
}

func TestBadInput(t *testing.T) {
	h := newHarness(t, func(c *web.Config) { c.JSONLimit = 4096 })
	tests := []struct {
		name, method, path, body string
		want                     int
		wantProblem              string // substring of one problem
	}{
		{"truncated JSON", "POST", "/api/admin/products", `{"handle": "x", "title":`, 400, "ends too early"},
		{"syntax error", "POST", "/api/admin/products", `{"handle": x}`, 400, "malformed JSON"},
		{"wrong type", "POST", "/api/admin/products", `{"handle": 5}`, 400, "handle"},
		{"unknown field", "POST", "/api/admin/products", `{"handel": "x"}`, 400, "handel"},
		{"empty body", "POST", "/api/admin/products", ``, 400, ""},
		{"trailing data", "POST", "/api/admin/products", `{} {}`, 400, ""},
		{"every problem at once", "POST", "/api/admin/products",
			`{"handle":"Bad Handle","title":"","price_minor":-1,"currency":"euro","variants":[{"sku":"","stock":-2}]}`, 400, "currency"},
		{"negative stock set", "PUT", "/api/admin/stock/TR-RED-41", `{"set": -1}`, 400, "negative"},
		{"set and delta", "PUT", "/api/admin/stock/TR-RED-41", `{"set": 1, "delta": 1}`, 400, "not both"},
		{"too large", "POST", "/api/admin/products", `{"handle":"` + strings.Repeat("a", 5000) + `"}`, 413, ""},
		{"unknown route", "GET", "/api/admin/nope", ``, 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, body := h.json(tt.method, tt.path, tt.body)
			if st != tt.want {
				t.Fatalf("%s %s = %d %v, want %d", tt.method, tt.path, st, body, tt.want)
			}
			if body["error"] == nil || body["error"] == "" {
				t.Errorf("error body %v has no error message", body)
			}
			if tt.wantProblem != "" && !strings.Contains(strings.Join(problems(body), "\n"), tt.wantProblem) {
				t.Errorf("problems = %v, want one mentioning %q", problems(body), tt.wantProblem)
			}
		})
	}
	// Every field problem is reported at once.
	_, body := h.json("POST", "/api/admin/products", `{"handle":"Bad Handle","title":"","price_minor":-1,"currency":"euro","variants":[{"sku":"","stock":-2}]}`)
	if got := len(problems(body)); got < 6 {
		t.Errorf("invalid product reported %d problems (%v), want every one (at least 6)", got, problems(body))
	}
}

func TestStock(t *testing.T) {
	h := newHarness(t, nil)
	if st, body := h.json("POST", "/api/admin/products", trailRunner()); st != http.StatusCreated {
		t.Fatalf("create = %d %v", st, body)
	}
	st, body := h.json("PUT", "/api/admin/stock/TR-RED-42", map[string]int{"set": 5})
	if st != http.StatusOK {
		t.Fatalf("set stock = %d %v", st, body)
	}
	ev := body["events"].([]any)[0].(map[string]any)
	if ev["old"] != 0.0 || ev["new"] != 5.0 || ev["sku"] != "TR-RED-42" || ev["source"] == "" {
		t.Errorf("stock event = %v, want TR-RED-42 0 → 5 with a source", ev)
	}
	// All or nothing: one unknown SKU rolls back the others.
	st, _ = h.json("POST", "/api/admin/stock", `{"changes":[{"sku":"TR-RED-41","delta":-1},{"sku":"NOPE","set":1}]}`)
	if st != http.StatusNotFound {
		t.Errorf("adjust with unknown SKU = %d, want 404", st)
	}
	st, body = h.json("POST", "/api/admin/stock", `{"changes":[{"sku":"TR-RED-41","delta":-10}]}`)
	if st != http.StatusBadRequest {
		t.Errorf("adjust below zero = %d %v, want 400", st, body)
	}
	_, p := h.json("GET", "/api/admin/products/trail-runner", nil)
	for _, v := range p["variants"].([]any) {
		v := v.(map[string]any)
		if v["sku"] == "TR-RED-41" && v["stock"] != 4.0 {
			t.Errorf("TR-RED-41 stock = %v after failed batches, want 4 (unchanged)", v["stock"])
		}
	}
	// Search reflects the new availability of red 42.
	_, res := h.json("GET", "/api/admin/search?q=trail&size=42&colour=rosso&in_stock=true", nil)
	if ps := res["products"].([]any); len(ps) != 1 {
		t.Errorf("search red 42 in stock after restock = %v, want the trail runner", res)
	}
	_, ev2 := h.json("GET", "/api/admin/stock-events?after=0", nil)
	if n := len(ev2["events"].([]any)); n < 3 {
		t.Errorf("stock events = %d, want the 2 creations with stock and the restock", n)
	}
}

func TestBulkUpsertAllOrNothing(t *testing.T) {
	h := newHarness(t, nil)
	a, b := trailRunner(), trailRunner()
	b.Handle = "trail-runner-2"
	body := map[string]any{"products": []catalog.Product{a, b}}
	st, res := h.json("POST", "/api/admin/products/bulk", body)
	if st != http.StatusBadRequest || !strings.Contains(strings.Join(problems(res), "\n"), "duplicate SKU") {
		t.Fatalf("bulk with a repeated SKU = %d %v, want 400 naming the duplicate", st, res)
	}
	if st, _ := h.json("GET", "/api/admin/products/trail-runner", nil); st != http.StatusNotFound {
		t.Errorf("after a rejected batch, GET = %d, want 404 (nothing written)", st)
	}
	b.Variants = []catalog.Variant{{SKU: "TR2-1", Size: "40", Colour: "blu", Stock: 1}}
	for i := 0; i < 2; i++ { // idempotent
		st, res = h.json("POST", "/api/admin/products/bulk", map[string]any{"products": []catalog.Product{a, b}})
		if st != http.StatusOK || res["variants"] != 4.0 {
			t.Fatalf("bulk #%d = %d %v, want 200 with 4 variants", i+1, st, res)
		}
	}
	_, list := h.json("GET", "/api/admin/products", nil)
	if n := len(list["products"].([]any)); n != 2 {
		t.Errorf("after two identical bulk upserts there are %d products, want 2", n)
	}
}

const goodCSV = `handle,title,title_en,brand,category,price,currency,sku,size,colour,stock
scarpa-montagna,Scarpa da montagna Vetta,Vetta mountain boot,Dolomia,scarponi,149.90,EUR,VET-40-M,40,marrone,3
scarpa-montagna,Scarpa da montagna Vetta,Vetta mountain boot,Dolomia,scarponi,149.90,EUR,VET-41-M,41,marrone,0
felpa-cappuccio,Felpa con cappuccio Lago,Lago hoodie,Brezza,felpe,59,EUR,LAGO-M-B,M,blu,12
`

func TestImportExport(t *testing.T) {
	h := newHarness(t, nil)
	bad := "handle,title,price,currency,sku,stock\n" +
		"ok-one,Ok,10,EUR,OK-1,1\n" +
		"bad-price,Bad,ten,EUR,BP-1,1\n" +
		"neg,Neg,10,EUR,NEG-1,-3\n" +
		"dup,Dup,10,EUR,OK-1,1\n"
	st, b := h.do("POST", "/api/admin/import", "text/csv", strings.NewReader(bad), token)
	var res map[string]any
	json.Unmarshal(b, &res)
	if st != http.StatusBadRequest {
		t.Fatalf("import with bad rows = %d %s, want 400", st, b)
	}
	got := strings.Join(problems(res), "\n")
	for _, row := range []string{"3|", "4|", "5|"} {
		if !strings.Contains(got, row) {
			t.Errorf("problems %q do not name row %s", got, strings.TrimSuffix(row, "|"))
		}
	}
	if st, _ := h.json("GET", "/api/admin/products/ok-one", nil); st != http.StatusNotFound {
		t.Errorf("after a rejected import, the good row was written (GET = %d, want 404)", st)
	}

	if st, b := h.do("POST", "/api/admin/import", "text/csv", strings.NewReader(goodCSV), token); st != http.StatusOK {
		t.Fatalf("import = %d %s", st, b)
	}
	// Found by a misspelt name, with stock from the store.
	_, sr := h.json("GET", "/api/admin/search?q=montagan+vetta", nil)
	if ps := sr["products"].([]any); len(ps) == 0 || ps[0].(map[string]any)["handle"] != "scarpa-montagna" {
		t.Errorf("search for a misspelt name = %v, want scarpa-montagna first", sr)
	}
	st, out := h.do("GET", "/api/admin/export?format=csv", "", nil, token)
	if st != http.StatusOK || !strings.Contains(string(out), "VET-41-M") || !strings.Contains(string(out), "Lago hoodie") {
		t.Fatalf("export = %d %s", st, out)
	}
	// The export imports back unchanged.
	if st, b := h.do("POST", "/api/admin/import?format=csv", "", bytes.NewReader(out), token); st != http.StatusOK {
		t.Errorf("re-import of the export = %d %s", st, b)
	}
	st, js := h.do("GET", "/api/admin/export", "", nil, token)
	var all []catalog.Product
	if err := json.Unmarshal(js, &all); st != http.StatusOK || err != nil || len(all) != 2 {
		t.Errorf("JSON export = %d, %d products, err %v; want 2", st, len(all), err)
	}
	if st, _ := h.do("POST", "/api/admin/import", "text/plain", strings.NewReader("x"), token); st != http.StatusUnsupportedMediaType {
		t.Errorf("import of text/plain = %d, want 415", st)
	}
}

func TestSynonymsAndSizeCharts(t *testing.T) {
	h := newHarness(t, nil)
	h.json("POST", "/api/admin/products", trailRunner())
	if st, body := h.json("PUT", "/api/admin/synonyms", catalog.Synonym{Term: "scarpe da montagna", Alternatives: []string{"trail"}}); st != http.StatusOK {
		t.Fatalf("put synonym = %d %v", st, body)
	}
	_, sr := h.json("GET", "/api/admin/search?q=scarpe+da+montagna", nil)
	if ps := sr["products"].([]any); len(ps) != 1 {
		t.Errorf("search through a synonym = %v, want the trail runner", sr)
	}
	if st, _ := h.json("DELETE", "/api/admin/synonyms/scarpe%20da%20montagna", nil); st != http.StatusNoContent {
		t.Errorf("delete synonym = %d, want 204", st)
	}
	if st, _ := h.json("DELETE", "/api/admin/synonyms/nope", nil); st != http.StatusNotFound {
		t.Errorf("delete unknown synonym = %d, want 404", st)
	}
	chart := catalog.SizeChart{Name: "shoes-eu", Kind: "shoe", Systems: []string{"eu", "uk", "us"}, Rows: [][]string{{"42", "8", "9"}}}
	if st, body := h.json("PUT", "/api/admin/size-charts/shoes-eu", chart); st != http.StatusOK {
		t.Fatalf("put size chart = %d %v", st, body)
	}
	if st, body := h.json("PUT", "/api/admin/size-charts/bad", catalog.SizeChart{Name: "bad", Kind: "hat"}); st != http.StatusBadRequest || len(problems(body)) < 3 {
		t.Errorf("put invalid size chart = %d %v, want 400 with every problem", st, body)
	}
	_, list := h.json("GET", "/api/admin/size-charts", nil)
	if n := len(list["size_charts"].([]any)); n != 1 {
		t.Errorf("size charts = %d, want 1", n)
	}
}

func TestOperations(t *testing.T) {
	h := newHarness(t, nil)
	if st, _ := h.json("GET", "/healthz", nil); st != http.StatusOK {
		t.Errorf("healthz = %d", st)
	}
	st, body := h.json("GET", "/readyz", nil)
	if st != http.StatusOK || body["backends"].(map[string]any)["sqlite"] != "ok" {
		t.Errorf("readyz = %d %v", st, body)
	}
	h.json("GET", "/api/admin/products", nil)
	st, m := h.do("GET", "/metrics", "", nil, "")
	if st != http.StatusOK || !strings.Contains(string(m), `bottega_http_requests_total{method="GET",route="/api/admin/products",status="200"}`) {
		t.Errorf("metrics = %d, missing the request counter:\n%.2000s", st, m)
	}
	req := httptest.NewRequest("GET", "/healthz", nil)
	resp, _ := h.srv.App().Test(req, -1)
	if resp.Header.Get("X-Request-ID") == "" {
		t.Error("no X-Request-ID on responses")
	}
}

func TestBackendGoneIs503(t *testing.T) {
	h := newHarness(t, nil)
	h.json("POST", "/api/admin/products", trailRunner())
	h.db.Close() // the database goes away under the running server
	st, body := h.json("GET", "/api/admin/products/trail-runner", nil)
	if st != http.StatusServiceUnavailable || !strings.Contains(body["error"].(string), "unavailable") {
		t.Errorf("GET with the database gone = %d %v, want 503 saying a backend is unavailable", st, body)
	}
	if st, body := h.json("GET", "/readyz", nil); st != http.StatusServiceUnavailable {
		t.Errorf("readyz with the database gone = %d %v, want 503", st, body)
	}
}

func TestErrorsNeverLeakInternals(t *testing.T) {
	h := newHarness(t, func(c *web.Config) {
		c.Ready = func(context.Context) map[string]error { return map[string]error{"sqlite": nil} }
	})
	h.db.Close()
	_, b := h.do("GET", "/api/admin/products", "", nil, token)
	for _, leak := range []string{"sql:", "database is closed", ".go:", "goroutine"} {
		if strings.Contains(string(b), leak) {
			t.Errorf("error body %s leaks %q", b, leak)
		}
	}
}

func TestOpenAPIDocumentsEveryAdminRoute(t *testing.T) {
	h := newHarness(t, nil)
	st, b := h.do("GET", "/api/admin/openapi.json", "", nil, "")
	if st != http.StatusOK {
		t.Fatalf("openapi.json = %d", st)
	}
	var doc struct {
		OpenAPI string                    `json:"openapi"`
		Paths   map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(b, &doc); err != nil || !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi.json is not an OpenAPI 3 document: %v", err)
	}
	for _, r := range h.srv.App().GetRoutes(true) {
		path, ok := strings.CutPrefix(r.Path, "/api/admin")
		if !ok || path == "/openapi.json" || r.Method == "HEAD" || path == "" {
			continue
		}
		parts := strings.Split(path, "/")
		for i, p := range parts {
			if strings.HasPrefix(p, ":") {
				parts[i] = "{" + p[1:] + "}"
			}
		}
		oaPath := strings.Join(parts, "/")
		if _, ok := doc.Paths[oaPath][strings.ToLower(r.Method)]; !ok {
			t.Errorf("route %s %s is not documented in openapi.json (as %s)", r.Method, r.Path, oaPath)
		}
	}
}

var _ = errors.New
var _ = filepath.Join
