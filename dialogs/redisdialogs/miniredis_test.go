package redisdialogs_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/bottega-shop/bottega/bot"
	"github.com/bottega-shop/bottega/dialogs/redisdialogs"
)

// TestMiniredis is a unit test that needs no Redis server: a turn, a
// redelivery, and idle expiry with miniredis's clock moved forward. The
// contract suites run on a real Redis (BOTTEGA_TEST_REDIS).
func TestMiniredis(t *testing.T) {
	ctx := context.Background()
	m := miniredis.RunT(t)
	c := redis.NewClient(&redis.Options{Addr: m.Addr()})
	t.Cleanup(func() { c.Close() })
	s := redisdialogs.New(c, redisdialogs.WithPrefix("test:"))
	t.Cleanup(func() { s.Close() })
	var states []string
	h := bot.HandlerFunc(func(ctx context.Context, state []byte, msg bot.Message) ([]byte, []bot.Reply, error) {
		states = append(states, string(state))
		return append(state, msg.ID...), []bot.Reply{{Text: "ok"}}, nil
	})
	d := bot.NewDispatcher(s, h, bot.WithSessionTTL(time.Hour), bot.WithLogTTL(48*time.Hour))
	msg := func(id string, seq int64) bot.Message {
		return bot.Message{Channel: bot.WebChat, ID: id, Conversation: "s", Text: "hi", Seq: seq}
	}
	es, err := d.Dispatch(ctx, msg("a", 1))
	if err != nil || len(es) != 2 || es[1].Seq != 2 {
		t.Fatalf("Dispatch = %v, %v; want Seq 1 and 2", es, err)
	}
	if _, err := d.Dispatch(ctx, msg("a", 1)); !errors.Is(err, bot.ErrDuplicate) {
		t.Errorf("redelivery = %v, want ErrDuplicate", err)
	}
	if _, err := d.Dispatch(ctx, msg("b", 2)); err != nil {
		t.Fatal(err)
	}
	if !m.Exists("test:{webchat:s}:s") || m.Exists("test:{webchat:s}:k") {
		t.Errorf("keys after two turns = %v, want the state and no lock", m.Keys())
	}
	m.FastForward(2 * time.Hour)
	if _, err := d.Dispatch(ctx, msg("c", 3)); err != nil {
		t.Fatal(err)
	}
	if want := []string{"", "a", ""}; len(states) != 3 || states[1] != want[1] || states[2] != want[2] {
		t.Errorf("handler saw states %q, want %q (the session expired after an idle hour)", states, want)
	}
	es, err = d.Entries(ctx, msg("", 0).Key(), 0, 0)
	if err != nil || len(es) != 6 {
		t.Errorf("Entries = %d entries, %v; want 6 (the log outlives the session)", len(es), err)
	}
	m.FastForward(49 * time.Hour)
	if es, err := d.Entries(ctx, msg("", 0).Key(), 0, 0); err != nil || len(es) != 0 {
		t.Errorf("Entries after the log TTL = %v, %v; want none", es, err)
	}
}
