package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/bottega-shop/bottega/bot/webchat"
	"github.com/bottega-shop/bottega/internal/testserver"
)

// chatClient is a test client of the web-chat socket protocol.
type chatClient struct {
	t       *testing.T
	conn    *websocket.Conn
	pending []webchat.ServerFrame // the rest of a batch
}

func dialChat(t *testing.T, base, origin string) (*chatClient, error) {
	t.Helper()
	h := map[string][]string{}
	if origin != "" {
		h["Origin"] = []string{origin}
	}
	conn, resp, err := websocket.DefaultDialer.Dial(strings.Replace(base, "http", "ws", 1)+"/chat/socket", h)
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("%w (HTTP %d)", err, resp.StatusCode)
		}
		return nil, err
	}
	return &chatClient{t: t, conn: conn}, nil
}

func (c *chatClient) send(f webchat.ClientFrame) {
	c.t.Helper()
	b, _ := json.Marshal(f)
	if err := c.conn.WriteMessage(websocket.TextMessage, b); err != nil {
		c.t.Fatalf("send: %v", err)
	}
}

// read returns the next frame, one at a time from a batch.
func (c *chatClient) read() webchat.ServerFrame {
	c.t.Helper()
	for len(c.pending) == 0 {
		c.pending = c.readMessage().Unbatch()
	}
	f := c.pending[0]
	c.pending = c.pending[1:]
	return f
}

// readMessage reads one socket message.
func (c *chatClient) readMessage() webchat.ServerFrame {
	c.t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(15 * time.Second))
	_, b, err := c.conn.ReadMessage()
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	var f webchat.ServerFrame
	if err := json.Unmarshal(b, &f); err != nil {
		c.t.Fatalf("read: %q: %v", b, err)
	}
	return f
}

// until reads frames until one satisfies ok, returning the entries seen.
func (c *chatClient) until(ok func(webchat.ServerFrame) bool) (webchat.ServerFrame, []int64) {
	c.t.Helper()
	var seqs []int64
	for {
		f := c.read()
		if f.Type == "entry" {
			seqs = append(seqs, f.Entry.Seq)
		}
		if ok(f) {
			return f, seqs
		}
	}
}

func (c *chatClient) hello(token string, last int64) webchat.ServerFrame {
	c.t.Helper()
	c.send(webchat.ClientFrame{Type: "hello", Token: token, LastSeq: last, Locale: "it"})
	f := c.read()
	if f.Type != "welcome" || f.Token == "" {
		c.t.Fatalf("hello answered %+v, want a welcome with a token", f)
	}
	return f
}

// TestWebChatResume drops the socket mid-conversation and resumes from
// the last entry seen: nothing lost, nothing doubled; a resend of the same
// client_msg_id is answered once.
func TestWebChatResume(t *testing.T) {
	for name, env := range chatBackends(t) {
		t.Run(name, func(t *testing.T) {
			base, _ := startServer(t, env)
			c, err := dialChat(t, base, "")
			if err != nil {
				t.Fatal(err)
			}
			w := c.hello("", 0)
			c.send(webchat.ClientFrame{Type: "message", ClientMsgID: "m1", Text: "avete le trail runner nel 42 rosse?"})
			// Read only the shopper's own entry, then drop the connection.
			_, seqs := c.until(func(f webchat.ServerFrame) bool { return f.Type == "entry" })
			if len(seqs) != 1 || seqs[0] != 1 {
				t.Fatalf("first entry seqs = %v, want [1]", seqs)
			}
			c.conn.Close()
			time.Sleep(300 * time.Millisecond) // the bot answers meanwhile

			c2, err := dialChat(t, base, "")
			if err != nil {
				t.Fatal(err)
			}
			w2 := c2.hello(w.Token, 1)
			if w2.NewSession {
				t.Fatal("resume with a valid token started a new session")
			}
			// The resend of m1 after the drop is acknowledged, not answered again.
			c2.send(webchat.ClientFrame{Type: "message", ClientMsgID: "m1", Text: "avete le trail runner nel 42 rosse?"})
			_, got := c2.until(func(f webchat.ServerFrame) bool { return f.Type == "ack" && f.ClientMsgID == "m1" })
			c2.send(webchat.ClientFrame{Type: "message", ClientMsgID: "m2", Text: "e nel 43?"})
			// Read until the bot's answer to m2 has arrived.
			_, more := c2.until(func(f webchat.ServerFrame) bool {
				return f.Type == "entry" && f.Entry.From == "bot" && f.Entry.MessageID == "m2"
			})
			got = append(got, more...)
			if len(got) < 3 {
				t.Fatalf("after resume got entries %v, want the bot's answer to m1, m2 and its answer", got)
			}
			for i, s := range got {
				if s != int64(i+2) {
					t.Fatalf("entries after resume = %v, want 2, 3, 4… with no gap or repeat", got)
				}
			}
			// A reload (last_seq 0) replays the whole history in order.
			c3, err := dialChat(t, base, "")
			if err != nil {
				t.Fatal(err)
			}
			c3.hello(w.Token, 0)
			last := got[len(got)-1]
			_, all := c3.until(func(f webchat.ServerFrame) bool { return f.Type == "entry" && f.Entry.Seq == last })
			if len(all) != len(got)+1 {
				t.Errorf("history after reload has entries %v, want 1…%d once each", all, last)
			}
		})
	}
}

// chatBackends are the conversation stores that can run here: the embedded
// SQL store always, Redis when BOTTEGA_TEST_REDIS is set.
func chatBackends(t *testing.T) map[string]map[string]string {
	out := map[string]map[string]string{"embedded": {"BOTTEGA_DEMO": "true"}}
	if os.Getenv("BOTTEGA_TEST_REDIS") != "" || os.Getenv("CI") == "true" {
		out["redis+postgres"] = map[string]string{
			"BOTTEGA_DEMO": "true", "REDIS_URL": testserver.Redis(t), "DATABASE_URL": testserver.Postgres(t),
			"BOTTEGA_ADMIN_TOKEN": strings.Repeat("a", 20), "BOTTEGA_SECRET_KEY": strings.Repeat("s", 40),
		}
	}
	return out
}

func TestWebChatBadInput(t *testing.T) {
	base, _ := startServer(t, map[string]string{"BOTTEGA_DEMO": "true"})
	if _, err := dialChat(t, base, "https://evil.example"); err == nil || !strings.Contains(err.Error(), "403") {
		t.Errorf("socket from a foreign origin = %v, want refused with 403", err)
	}
	c, err := dialChat(t, base, base)
	if err != nil {
		t.Fatalf("socket from the shop's own origin: %v", err)
	}
	w := c.hello("v1.forged.token", 0)
	if !w.NewSession {
		t.Error("a forged token was not refused with a fresh session")
	}
	tests := []struct {
		name string
		f    webchat.ClientFrame
		raw  string
		want string
	}{
		{name: "too long", f: webchat.ClientFrame{Type: "message", ClientMsgID: "a", Text: strings.Repeat("x", 4097)}, want: "too_long"},
		{name: "empty", f: webchat.ClientFrame{Type: "message", ClientMsgID: "b", Text: "  "}, want: "empty"},
		{name: "invalid UTF-8", raw: "{\"type\":\"message\",\"client_msg_id\":\"c\",\"text\":\"ciao \xff\"}", want: "invalid_utf8"},
		{name: "not JSON", raw: "hello?", want: "bad_frame"},
		{name: "no client_msg_id", f: webchat.ClientFrame{Type: "message", Text: "ciao"}, want: "bad_frame"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.raw != "" {
				c.conn.WriteMessage(websocket.TextMessage, []byte(tt.raw))
			} else {
				c.send(tt.f)
			}
			f := c.read()
			if f.Type != "error" || f.Code != tt.want {
				t.Errorf("got %+v, want error %s", f, tt.want)
			}
		})
	}
	t.Run("flood", func(t *testing.T) {
		limited := false
		for i := 0; i < 20 && !limited; i++ {
			c.send(webchat.ClientFrame{Type: "message", ClientMsgID: fmt.Sprintf("flood-%d", i), Text: "ciao"})
			f, _ := c.until(func(f webchat.ServerFrame) bool { return f.Type == "ack" || f.Type == "error" })
			limited = f.Type == "error" && f.Code == "rate_limited"
		}
		if !limited {
			t.Error("20 messages at once were never rate-limited")
		}
	})
	// The server is still healthy.
	if st, _ := call(t, "GET", base+"/readyz", "", "", nil); st != 200 {
		t.Errorf("readyz after bad input = %d", st)
	}
}

// TestBrowserWidget opens the demo shop in headless Chromium (Debian's,
// driven by playwright-core), asks a stock question in the widget, sees the
// answer and its buttons, reloads and sees the history; then signs in as
// the demo customer and out again. It needs node,
// chromium and web/e2e/node_modules (.ci/run installs them); it skips
// without them, except under CI=true, where that is a failure.
func TestBrowserWidget(t *testing.T) {
	e2e, _ := filepath.Abs("../../web/e2e")
	missing := ""
	if _, err := exec.LookPath("node"); err != nil {
		missing = "node"
	}
	chromium := os.Getenv("CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	if _, err := os.Stat(chromium); err != nil {
		missing = chromium
	}
	if _, err := os.Stat(filepath.Join(e2e, "node_modules", "playwright-core")); err != nil {
		missing = "web/e2e/node_modules (npm install --prefix web/e2e)"
	}
	if missing != "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("browser test needs %s", missing)
		}
		t.Skipf("browser test skipped: %s not found", missing)
	}
	base, _ := startServer(t, map[string]string{"BOTTEGA_DEMO": "true"})
	shots := t.TempDir()
	if dir := os.Getenv("BOTTEGA_SCREENSHOTS"); dir != "" {
		shots = dir
	}
	// widget.mjs: a stock question, buttons, history after a reload;
	// signin.mjs: the demo sign-in keeps the chat, signing out starts a
	// new one that shows nothing of the signed-in shopper's.
	for _, script := range []string{"widget.mjs", "signin.mjs"} {
		cmd := exec.Command("node", filepath.Join(e2e, script), base, shots)
		cmd.Env = append(os.Environ(), "CHROMIUM="+chromium)
		out, err := cmd.CombinedOutput()
		t.Logf("browser test %s:\n%s", script, out)
		if err != nil {
			t.Fatalf("browser test %s failed: %v\n%s", script, err, out)
		}
	}
}

// TestShutdownWithOpenChat: an open chat socket does not hold up shutdown.
func TestShutdownWithOpenChat(t *testing.T) {
	env := map[string]string{"BOTTEGA_ADDR": "127.0.0.1:0", "BOTTEGA_DATA_DIR": t.TempDir(), "BOTTEGA_DEMO": "false"}
	out := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"serve"}, envFunc(env), out) }()
	base := "http://" + waitListening(t, out, done)
	c, err := dialChat(t, base, "")
	if err != nil {
		t.Fatal(err)
	}
	c.hello("", 0)
	start := time.Now()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("shutdown waited on an open chat socket for 10s")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("shutdown took %v with an open chat socket", d)
	}
	c.conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, _, err := c.conn.ReadMessage(); err == nil {
		t.Error("the chat socket is still open after shutdown")
	}
}
