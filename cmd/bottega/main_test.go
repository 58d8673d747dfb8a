package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bottega-shop/bottega/internal/testserver"
)

// syncBuffer collects run's output safely across goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func envFunc(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// startServer runs `bottega serve` on a free loopback port and returns its
// base URL once it answers /readyz. It stops the server when the test ends
// and checks that it shut down cleanly.
func startServer(t *testing.T, env map[string]string) (string, *syncBuffer) {
	t.Helper()
	env["BOTTEGA_ADDR"] = "127.0.0.1:0"
	if env["BOTTEGA_DATA_DIR"] == "" {
		env["BOTTEGA_DATA_DIR"] = t.TempDir()
	}
	out := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"serve"}, envFunc(env), out) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("run returned %v after shutdown", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("run did not return within 30s of shutdown")
		}
		if !strings.Contains(out.String(), `"msg":"stopped"`) {
			t.Errorf("no clean stop in the log:\n%s", out)
		}
	})
	addr := waitListening(t, out, done)
	base := "http://" + addr
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return base, out
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz not ready within 30s; log:\n%s", out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func waitListening(t testing.TB, out *syncBuffer, done chan error) string {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if addr := listeningAddr(out.String()); addr != "" {
			return addr
		}
		select {
		case err := <-done:
			t.Fatalf("run exited early: %v\n%s", err, out)
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("server did not listen within 60s:\n%s", out)
	return ""
}

// listeningAddr finds the address in the "listening" log line.
func listeningAddr(log string) string {
	sc := bufio.NewScanner(strings.NewReader(log))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		var line struct {
			Msg, Addr string
		}
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "listening" {
			return line.Addr
		}
	}
	return ""
}

func call(t *testing.T, method, url, token, contentType string, body io.Reader) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

const importCSV = `handle,title,title_en,brand,category,price,currency,sku,size,colour,stock
giacca-vento,Giacca antivento Maestrale,Maestrale windbreaker,Brezza,giacche,119.00,EUR,MAE-S-R,S,rosso,2
giacca-vento,Giacca antivento Maestrale,Maestrale windbreaker,Brezza,giacche,119.00,EUR,MAE-M-R,M,rosso,0
giacca-vento,Giacca antivento Maestrale,Maestrale windbreaker,Brezza,giacche,119.00,EUR,MAE-M-N,M,nero,5
`

// TestEndToEnd runs the product as `bottega serve` would, on each store
// that can run here: import a CSV through the API and find a product by a
// misspelt name.
func TestEndToEnd(t *testing.T) {
	const tok = "e2e-admin-token-0123456789"
	stores := map[string]func(t *testing.T) map[string]string{
		"sqlite": func(t *testing.T) map[string]string {
			return map[string]string{"BOTTEGA_ADMIN_TOKEN": tok, "BOTTEGA_DEMO": "false"}
		},
		"postgres": func(t *testing.T) map[string]string {
			return map[string]string{"BOTTEGA_ADMIN_TOKEN": tok, "DATABASE_URL": testserver.Postgres(t),
				"BOTTEGA_SECRET_KEY": strings.Repeat("k", 40)}
		},
	}
	for name, env := range stores {
		t.Run(name, func(t *testing.T) {
			base, _ := startServer(t, env(t))
			st, body := call(t, "POST", base+"/api/admin/import", tok, "text/csv", strings.NewReader(importCSV))
			if st != http.StatusOK || !strings.Contains(body, `"variants":3`) {
				t.Fatalf("import = %d %s", st, body)
			}
			st, body = call(t, "GET", base+"/api/admin/search?q=maestarle", tok, "", nil)
			if st != http.StatusOK || !strings.Contains(body, `"handle":"giacca-vento"`) {
				t.Fatalf("search for a misspelt name = %d %s, want giacca-vento", st, body)
			}
			st, body = call(t, "GET", base+"/api/admin/search?q=maestrale&size=M&colour=red&in_stock=true", tok, "", nil)
			if st != http.StatusOK || strings.Contains(body, "giacca-vento") {
				t.Errorf("red M is sold out, but search in stock found it: %d %s", st, body)
			}
			if st, _ := call(t, "GET", base+"/api/admin/products", "", "", nil); st != http.StatusUnauthorized {
				t.Errorf("admin API without a token = %d, want 401", st)
			}
			st, body = call(t, "GET", base+"/metrics", "", "", nil)
			if st != http.StatusOK || !strings.Contains(body, "bottega_backend_call_duration_seconds") {
				t.Errorf("metrics = %d, missing backend latency", st)
			}
		})
	}
}

// TestZeroConfig is the README's first command: no configuration at all
// gives the whole product with the demo catalog, secrets kept in files.
func TestZeroConfig(t *testing.T) {
	dir := t.TempDir()
	base, out := startServer(t, map[string]string{"BOTTEGA_DATA_DIR": dir})
	tok, err := os.ReadFile(filepath.Join(dir, "admin-token"))
	if err != nil {
		t.Fatalf("no generated admin token: %v", err)
	}
	if strings.Contains(out.String(), strings.TrimSpace(string(tok))) {
		t.Error("the generated admin token appears in the log")
	}
	st, body := call(t, "GET", base+"/api/admin/search?q=trail+runner&size=42&colour=rosso", strings.TrimSpace(string(tok)), "", nil)
	if st != http.StatusOK || !strings.Contains(body, `"handle":"trail-runner"`) {
		t.Fatalf("demo search = %d %.500s", st, body)
	}
	if _, err := os.Stat(filepath.Join(dir, "bottega.db")); err != nil {
		t.Errorf("embedded store not persisted in the data folder: %v", err)
	}
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"bad addr", map[string]string{"BOTTEGA_ADDR": "nowhere"}, "BOTTEGA_ADDR: "},
		{"bad port", map[string]string{"BOTTEGA_ADDR": ":99999"}, "BOTTEGA_ADDR: "},
		{"bad demo", map[string]string{"BOTTEGA_DEMO": "perhaps"}, "BOTTEGA_DEMO: "},
		{"bad meili url", map[string]string{"MEILI_URL": "localhost:7700"}, "MEILI_URL: "},
		{"bad database url", map[string]string{"DATABASE_URL": "mysql://u:secretpw@h/db", "BOTTEGA_SECRET_KEY": strings.Repeat("k", 40), "BOTTEGA_ADMIN_TOKEN": strings.Repeat("a", 20)}, "DATABASE_URL: "},
		{"bad redis url", map[string]string{"REDIS_URL": "http://x"}, "REDIS_URL: "},
		{"short token", map[string]string{"BOTTEGA_ADMIN_TOKEN": "abc"}, "BOTTEGA_ADMIN_TOKEN: "},
		{"production without secret", map[string]string{"DATABASE_URL": "postgres://u@127.0.0.1:1/db"}, "BOTTEGA_SECRET_KEY: "},
		{"bad log level", map[string]string{"BOTTEGA_LOG_LEVEL": "loud"}, "BOTTEGA_LOG_LEVEL: "},
		{"public profiler", map[string]string{"BOTTEGA_DEBUG_ADDR": "0.0.0.0:6060"}, "BOTTEGA_DEBUG_ADDR: "},
		{"profiler without port", map[string]string{"BOTTEGA_DEBUG_ADDR": "127.0.0.1"}, "BOTTEGA_DEBUG_ADDR: "},
		{"short customer key", map[string]string{"BOTTEGA_CUSTOMER_KEY": "short"}, "BOTTEGA_CUSTOMER_KEY: "},
		{"customer key is the secret", map[string]string{"BOTTEGA_CUSTOMER_KEY": strings.Repeat("k", 40), "BOTTEGA_SECRET_KEY": strings.Repeat("k", 40)}, "BOTTEGA_CUSTOMER_KEY: "},
		{"bad bot username", map[string]string{"TELEGRAM_BOT_USERNAME": "bad name/x"}, "TELEGRAM_BOT_USERNAME: "},
		{"bad page id", map[string]string{"MESSENGER_PAGE_ID": "a?ref=x"}, "MESSENGER_PAGE_ID: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := run(context.Background(), []string{"serve"}, envFunc(tt.env), io.Discard)
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("run = %v, want one line starting %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "secretpw") {
				t.Errorf("error %q shows the password", err)
			}
		})
	}
}

// TestUnreachableBackends fails fast with one line naming the variable.
func TestUnreachableBackends(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	common := map[string]string{"BOTTEGA_SECRET_KEY": strings.Repeat("k", 40), "BOTTEGA_ADMIN_TOKEN": strings.Repeat("a", 20)}
	tests := []struct {
		name, key, value, want string
	}{
		{"postgres", "DATABASE_URL", "postgres://app:hunter2pw@" + closed + "/db", "DATABASE_URL: cannot reach"},
		{"redis", "REDIS_URL", "redis://:hunter2pw@" + closed, "REDIS_URL: cannot reach"},
		{"meilisearch", "MEILI_URL", "http://" + closed, "MEILI_URL: cannot reach"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{"BOTTEGA_DATA_DIR": t.TempDir(), tt.key: tt.value}
			for k, v := range common {
				if tt.key == "DATABASE_URL" || k == "BOTTEGA_ADMIN_TOKEN" {
					env[k] = v
				}
			}
			err := run(context.Background(), []string{"serve"}, envFunc(env), io.Discard)
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("run = %v, want one line starting %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "hunter2pw") {
				t.Errorf("error %q shows the password", err)
			}
		})
	}
}

func TestImportCommand(t *testing.T) {
	dir := t.TempDir()
	env := envFunc(map[string]string{"BOTTEGA_DATA_DIR": dir})
	good := filepath.Join(dir, "good.csv")
	os.WriteFile(good, []byte(importCSV), 0o600)
	var out strings.Builder
	if err := run(context.Background(), []string{"import", good}, env, &out); err != nil {
		t.Fatalf("import good file: %v", err)
	}
	if !strings.Contains(out.String(), "imported 1 products, 3 variants") {
		t.Errorf("import output = %q", out.String())
	}
	bad := filepath.Join(dir, "bad.csv")
	os.WriteFile(bad, []byte("handle,title,price,currency,sku,stock\nx,X,abc,EUR,X-1,1\n"), 0o600)
	out.Reset()
	err := run(context.Background(), []string{"import", bad}, env, &out)
	if err == nil || !strings.Contains(err.Error(), "nothing was written") || !strings.Contains(out.String(), "row 2") {
		t.Errorf("import bad file = %v, output %q; want a row 2 problem and nothing written", err, out.String())
	}
	for _, args := range [][]string{{"import"}, {"frobnicate"}, {"serve", "extra"}} {
		if err := run(context.Background(), args, env, io.Discard); err != errUsage {
			t.Errorf("run(%q) = %v, want the usage error", args, err)
		}
	}
	out.Reset()
	if err := run(context.Background(), []string{"migrate"}, env, &out); err != nil || !strings.Contains(out.String(), "migrations applied") {
		t.Errorf("migrate = %v, %q", err, out.String())
	}
	out.Reset()
	if err := run(context.Background(), []string{"version"}, env, &out); err != nil || !strings.HasPrefix(out.String(), "bottega ") {
		t.Errorf("version = %v, %q", err, out.String())
	}
}

var _ = fmt.Sprint

// TestDebugListener: BOTTEGA_DEBUG_ADDR serves the profiler on its own
// loopback address, never on the public one.
func TestDebugListener(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	base, _ := startServer(t, map[string]string{"BOTTEGA_DEMO": "false", "BOTTEGA_DEBUG_ADDR": addr})
	for _, tt := range []struct {
		url  string
		want int
	}{
		{"http://" + addr + "/debug/pprof/heap?debug=1", http.StatusOK},
		{base + "/debug/pprof/heap?debug=1", http.StatusNotFound},
	} {
		resp, err := http.Get(tt.url)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("GET %s = %d, want %d", tt.url, resp.StatusCode, tt.want)
		}
	}
}
