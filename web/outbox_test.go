package web_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bottega-shop/bottega/bot"
	"github.com/bottega-shop/bottega/dialogs/sqldialogs"
	"github.com/bottega-shop/bottega/internal/testserver"
	"github.com/bottega-shop/bottega/web"
)

// TestOutboxView queues a reply in the real embedded store, gives up on it
// as the queue does, and reads the backlog and the dead letter through the
// admin API.
func TestOutboxView(t *testing.T) {
	ctx := context.Background()
	store, err := sqldialogs.New(testserver.SQLiteDB(t, filepath.Join(t.TempDir(), "conversations.db")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	h := newHarness(t, func(cfg *web.Config) { cfg.Outbox = store })

	if status, _ := h.json("GET", "/api/admin/outbox", nil); status != 200 {
		t.Fatalf("GET /api/admin/outbox on an empty queue = %d, want 200", status)
	}
	key := "telegram:4242"
	l, err := store.Acquire(ctx, key, bot.Claim{MessageID: "u1", Lease: time.Minute, Wait: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	_, err = store.Commit(ctx, l, bot.Update{
		MessageID: "u1", Deliver: true, State: []byte("s"),
		Entries:    []bot.Entry{{From: bot.FromShopper, Text: "ciao"}, {From: bot.FromBot, Reply: &bot.Reply{Text: "secret reply text"}}},
		SessionTTL: time.Hour, DedupeTTL: time.Hour, LogTTL: time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	_, body := h.json("GET", "/api/admin/outbox", nil)
	if got := body["backlog"]; got != float64(1) {
		t.Errorf("backlog with one conversation waiting = %v, want 1", got)
	}
	ps, err := store.Due(ctx, time.Now(), 10, time.Minute)
	if err != nil || len(ps) != 1 {
		t.Fatalf("Due = %v, %v; want the conversation", ps, err)
	}
	reason := "telegram: deliver entry 2: bot: undeliverable: Forbidden: bot was blocked by the user"
	err = store.Settle(ctx, ps[0], bot.Outcome{Through: 2, Dead: []bot.DeadLetter{{Key: key, Seq: 2, Reason: reason}}})
	if err != nil {
		t.Fatal(err)
	}

	status, raw := h.do("GET", "/api/admin/outbox?limit=10", "", nil, token)
	if status != 200 {
		t.Fatalf("GET /api/admin/outbox = %d %s", status, raw)
	}
	_, body = h.json("GET", "/api/admin/outbox", nil)
	dead, _ := body["dead_letters"].([]any)
	if body["backlog"] != float64(0) || len(dead) != 1 {
		t.Fatalf("after the dead letter: %v, want backlog 0 and one dead letter", body)
	}
	d := dead[0].(map[string]any)
	if d["conversation"] != key || d["seq"] != float64(2) || d["reason"] != reason {
		t.Errorf("dead letter = %v, want conversation %s, seq 2 and the reason", d, key)
	}
	if s := string(raw); strings.Contains(s, "secret reply text") {
		t.Errorf("the outbox view shows a message's text: %s", s)
	}

	if status, _ := h.do("GET", "/api/admin/outbox", "", nil, ""); status != 401 {
		t.Errorf("GET /api/admin/outbox without the token = %d, want 401", status)
	}
	if status, _ := h.json("GET", "/api/admin/outbox?limit=0", nil); status != 400 {
		t.Errorf("limit=0 = %d, want 400", status)
	}
	off := newHarness(t, nil)
	if status, _ := off.json("GET", "/api/admin/outbox", nil); status != 404 {
		t.Errorf("GET /api/admin/outbox with no channel pushing replies = %d, want 404", status)
	}
}
