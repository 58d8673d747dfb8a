package web_test

import (
	"context"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bottega-shop/bottega/bot"
	"github.com/bottega-shop/bottega/bot/webchat"
	"github.com/bottega-shop/bottega/dialogs/sqldialogs"
	"github.com/bottega-shop/bottega/internal/sqldb"
	"github.com/bottega-shop/bottega/web"
)

const demoCustomerKey = "demo-customer-key-of-32-characters"

// widgetTag matches the demo page's widget script tag.
var widgetTag = regexp.MustCompile(`<script src="/widget.js"[^>]*>`)

// attr returns the value of a tag's attribute name, or "" without it.
func attr(tag, name string) string {
	m := regexp.MustCompile(` ` + name + `="([^"]*)"`).FindStringSubmatch(tag)
	if m == nil {
		return ""
	}
	return m[1]
}

func TestDemoPage(t *testing.T) {
	tests := []struct {
		name, key, path string
		signIn, signOut bool // the links shown
		claim           bool // the widget tag carries a customer claim
	}{
		{"demo sign-in disabled", "", "/", false, false, false},
		{"disabled, sign-in asked for", "", "/?signin=demo", false, false, false},
		{"guest", demoCustomerKey, "/", true, false, false},
		{"signed in", demoCustomerKey, "/?signin=demo", false, true, true},
		{"unknown sign-in", demoCustomerKey, "/?signin=admin", true, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, func(cfg *web.Config) { cfg.DemoCustomerKey = tt.key })
			start := time.Now()
			status, b := h.do("GET", tt.path, "", nil, "")
			page := string(b)
			if status != 200 || !strings.Contains(page, "Bottega Demo") {
				t.Fatalf("GET %s = %d %.200q, want the demo page", tt.path, status, page)
			}
			if got := strings.Contains(page, `id="demo-signin"`); got != tt.signIn {
				t.Errorf("GET %s shows the sign-in link: %v, want %v", tt.path, got, tt.signIn)
			}
			if got := strings.Contains(page, `id="demo-signout"`); got != tt.signOut {
				t.Errorf("GET %s shows the sign-out link: %v, want %v", tt.path, got, tt.signOut)
			}
			if strings.Contains(page, "{{") || strings.Contains(page, demoCustomerKey) {
				t.Errorf("GET %s shows template syntax or the key:\n%s", tt.path, page)
			}
			tags := widgetTag.FindAllString(page, -1)
			if len(tags) != 1 {
				t.Fatalf("GET %s has widget tags %q, want one", tt.path, tags)
			}
			tag := tags[0]
			claim := webchat.CustomerClaim{
				ID: attr(tag, "data-customer-id"), Expires: attr(tag, "data-customer-expires"),
				Signature: attr(tag, "data-customer-signature"),
			}
			if !tt.claim {
				if claim != (webchat.CustomerClaim{}) || strings.Contains(page, "data-customer") {
					t.Errorf("GET %s: widget tag %q carries a claim, want none", tt.path, tag)
				}
				return
			}
			id, err := webchat.NewCustomers(tt.key, nil).Verify(claim)
			if err != nil || id != "demo-giulia" {
				t.Fatalf("Verify(claim of %q) = %q, %v; want demo-giulia", tag, id, err)
			}
			// Valid for an hour from now, not for the 30 days allowed.
			in2h := webchat.NewCustomers(tt.key, func() time.Time { return start.Add(61 * time.Minute) })
			if _, err := in2h.Verify(claim); err != webchat.ErrClaimExpired {
				t.Errorf("Verify(claim) 61 minutes later = %v, want ErrClaimExpired", err)
			}
			if _, err := webchat.NewCustomers("another-key-of-thirty-two-characters", nil).Verify(claim); err == nil {
				t.Error("the claim verifies under another key")
			}
		})
	}
}

// TestDemoPageNotCached: a page that differs by sign-in and holds a signed
// claim is never cached; the plain page may be.
func TestDemoPageNotCached(t *testing.T) {
	h := newHarness(t, func(cfg *web.Config) { cfg.DemoCustomerKey = demoCustomerKey })
	for _, path := range []string{"/", "/?signin=demo"} {
		resp, err := h.srv.App().Test(httptest.NewRequest("GET", path, nil), -1)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.Header.Get("Cache-Control"); got != "no-store" {
			t.Errorf("GET %s: Cache-Control = %q, want no-store", path, got)
		}
	}
}

// demoLinks records the web chat's Linker calls.
type demoLinks struct {
	mu    sync.Mutex
	calls []string
}

func (l *demoLinks) LinkCustomer(_ context.Context, conversation, customerID string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls = append(l.calls, customerID+" "+conversation)
	return nil
}

// TestBrowserSignIn runs web/e2e/signin.mjs in Chromium against the demo
// page and a web chat on a real Dispatcher (an echo handler instead of
// the dialog engine).
func TestBrowserSignIn(t *testing.T) {
	e2e, _ := filepath.Abs("e2e")
	chromium := os.Getenv("CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	missing := ""
	if _, err := exec.LookPath("node"); err != nil {
		missing = "node"
	} else if _, err := os.Stat(chromium); err != nil {
		missing = chromium
	} else if _, err := os.Stat(filepath.Join(e2e, "node_modules", "playwright-core")); err != nil {
		missing = "web/e2e/node_modules (npm ci --prefix web/e2e)"
	}
	if missing != "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("browser test needs %s", missing)
		}
		t.Skipf("browser test skipped: %s not found", missing)
	}

	db, err := sqldb.Open(context.Background(), "", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	store, err := sqldialogs.New(db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	echo := bot.HandlerFunc(func(_ context.Context, state []byte, m bot.Message) ([]byte, []bot.Reply, error) {
		return state, []bot.Reply{{Text: "Risposta a «" + m.Text + "»"}}, nil
	})
	links := &demoLinks{}
	chat := webchat.New(bot.NewDispatcher(store, echo),
		webchat.NewSessions("a-secret-key-of-thirty-two-chars!!", time.Hour, nil), webchat.NewLimiter(10, 20, nil), nil,
		webchat.WithCustomers(webchat.NewCustomers(demoCustomerKey, nil)), webchat.WithLinker(links))
	h := newHarness(t, func(cfg *web.Config) {
		cfg.WebChat = chat
		cfg.DemoCustomerKey = demoCustomerKey
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go h.srv.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		h.srv.Shutdown(ctx)
	})

	shots := t.TempDir()
	if dir := os.Getenv("BOTTEGA_SCREENSHOTS"); dir != "" {
		shots = dir
	}
	cmd := exec.Command("node", filepath.Join(e2e, "signin.mjs"), "http://"+ln.Addr().String(), shots)
	cmd.Env = append(os.Environ(), "CHROMIUM="+chromium)
	out, err := cmd.CombinedOutput()
	t.Logf("browser test:\n%s", out)
	if err != nil {
		t.Fatalf("browser test failed: %v", err)
	}
	links.mu.Lock()
	defer links.mu.Unlock()
	if len(links.calls) == 0 {
		t.Fatal("the signed-in page never linked its conversation")
	}
	for _, c := range links.calls {
		if !strings.HasPrefix(c, "demo-giulia webchat:") {
			t.Errorf("Linker call %q, want demo-giulia's web-chat conversation", c)
		}
	}
}
