package main

import (
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bottega-shop/bottega/internal/testserver"
)

// flakyProxy forwards TCP connections to a backend and can go down (refusing
// and cutting connections) and come back on the same port, standing in for
// a database server that restarts.
type flakyProxy struct {
	t        *testing.T
	addr     string
	upstream string
	mu       sync.Mutex
	ln       net.Listener
	conns    []net.Conn
}

func newFlakyProxy(t *testing.T, upstream string) *flakyProxy {
	p := &flakyProxy{t: t, upstream: upstream}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = ln.Addr().String()
	p.serve(ln)
	t.Cleanup(p.down)
	return p
}

func (p *flakyProxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", p.upstream)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, u)
			p.mu.Unlock()
			go func() { io.Copy(u, c); u.Close() }()
			go func() { io.Copy(c, u); c.Close() }()
		}
	}()
}

func (p *flakyProxy) down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func (p *flakyProxy) up() {
	var ln net.Listener
	var err error
	for i := 0; i < 50; i++ {
		if ln, err = net.Listen("tcp", p.addr); err == nil {
			p.serve(ln)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	p.t.Fatalf("proxy could not listen again on %s: %v", p.addr, err)
}

// TestPostgresOutage: the database goes away under a running server.
// /readyz fails and requests get 503 with a clear body; the process stays
// up and recovers when the database returns.
func TestPostgresOutage(t *testing.T) {
	dbURL := testserver.Postgres(t)
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := newFlakyProxy(t, u.Host)
	u.Host = proxy.addr
	const tok = "outage-admin-token-0123456789"
	base, _ := startServer(t, map[string]string{
		"DATABASE_URL": u.String(), "BOTTEGA_ADMIN_TOKEN": tok, "BOTTEGA_SECRET_KEY": strings.Repeat("s", 40),
	})
	if st, body := call(t, "POST", base+"/api/admin/import", tok, "text/csv", strings.NewReader(importCSV)); st != http.StatusOK {
		t.Fatalf("import = %d %s", st, body)
	}

	proxy.down()
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

	proxy.up()
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
