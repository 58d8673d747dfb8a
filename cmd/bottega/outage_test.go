package main

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/bottega-shop/bottega/internal/testserver"
)

// TestPostgresOutage: the database goes away under a running server.
// /readyz fails and requests get 503 with a clear body; the process stays
// up and recovers when the database returns.
func TestPostgresOutage(t *testing.T) {
	dbURL := testserver.Postgres(t)
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := testserver.NewProxy(t, u.Host)
	u.Host = proxy.Addr
	const tok = "outage-admin-token-0123456789"
	base, _ := startServer(t, map[string]string{
		"DATABASE_URL": u.String(), "BOTTEGA_ADMIN_TOKEN": tok, "BOTTEGA_SECRET_KEY": strings.Repeat("s", 40),
	})
	if st, body := call(t, "POST", base+"/api/admin/import", tok, "text/csv", strings.NewReader(importCSV)); st != http.StatusOK {
		t.Fatalf("import = %d %s", st, body)
	}

	proxy.Down()
	if st, _ := call(t, "GET", base+"/readyz", "", "", nil); st != http.StatusServiceUnavailable {
		t.Errorf("readyz with the database down = %d, want 503", st)
	}
	st, body := call(t, "GET", base+"/api/admin/products/giacca-vento", tok, "", nil)
	if st != http.StatusServiceUnavailable || !strings.Contains(body, "unavailable") {
		t.Errorf("GET with the database down = %d %s, want 503 saying a backend is unavailable", st, body)
	}
	if st, _ := call(t, "GET", base+"/healthz", "", "", nil); st != http.StatusOK {
		t.Errorf("healthz with the database down = %d, want 200: the process is up", st)
	}

	proxy.Up()
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, body = call(t, "GET", base+"/api/admin/products/giacca-vento", tok, "", nil)
		if st == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no recovery 20s after the database returned: %d %s", st, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if st, _ := call(t, "GET", base+"/readyz", "", "", nil); st != http.StatusOK {
		t.Errorf("readyz after recovery = %d, want 200", st)
	}
}
