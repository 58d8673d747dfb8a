package sqldialogs_test

import (
	"context"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/bottega-shop/bottega/bot"
	"github.com/bottega-shop/bottega/bot/bottest"
	"github.com/bottega-shop/bottega/dialogs/sqldialogs"
	"github.com/bottega-shop/bottega/internal/sqldb"
	"github.com/bottega-shop/bottega/internal/testserver"
)

// TestSubscribeSeqPostgres checks the values a subscriber gets on
// Postgres: the last Seq of a replica's commit, through NOTIFY; 0 for a
// notification without a Seq (from a replica of an earlier version) or
// for any conversation; 0 once the listener is back after an outage,
// when commits may have been missed; and the Seq of its own Store's
// commits.
func TestSubscribeSeqPostgres(t *testing.T) {
	ctx := context.Background()
	raw := testserver.Postgres(t)
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	p := testserver.NewProxy(t, u.Host)
	u.Host = p.Addr
	dbA, err := sqldb.OpenPostgres(ctx, u.String())
	if err != nil {
		t.Fatalf("OpenPostgres through the proxy = %v", err)
	}
	t.Cleanup(func() { dbA.Close() })
	dbB := testserver.PostgresDB(t, raw)
	a, b := newStore(t, dbA), newStore(t, dbB) // two replicas; a's connections can be cut

	h := bot.HandlerFunc(func(ctx context.Context, state []byte, m bot.Message) ([]byte, []bot.Reply, error) {
		return []byte("s"), []bot.Reply{{Text: "ok"}}, nil
	})
	dA, dB := bot.NewDispatcher(a, h), bot.NewDispatcher(b, h)
	const key = "telegram:42"
	n := 0
	turn := func(t *testing.T, d *bot.Dispatcher) int64 {
		t.Helper()
		n++
		m := bot.Message{Channel: bot.Telegram, ID: "m" + strconv.Itoa(n), Conversation: "42", Text: "ciao"}
		deadline := time.Now().Add(15 * time.Second)
		for {
			es, err := d.Dispatch(ctx, m)
			if err == nil {
				return es[len(es)-1].Seq
			}
			if time.Now().After(deadline) {
				t.Fatalf("Dispatch %d = %v", n, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	ch, cancel := a.Subscribe(ctx, key)
	defer cancel()
	recv := func(what string) int64 {
		t.Helper()
		return bottest.NextSignal(t, ch, what)
	}

	if want, got := turn(t, dB), recv("after a replica's turn"); got != want {
		t.Errorf("signal after a replica's turn = %d, want %d (its last Seq)", got, want)
	}
	for _, tt := range []struct {
		payload string
		want    int64
	}{
		{"41 " + key, 41},
		{key, 0}, // a replica of an earlier version: no Seq
		{"", 0},  // any conversation
	} {
		if _, err := dbB.W.ExecContext(ctx, `SELECT pg_notify('bottega_dialogs', $1)`, tt.payload); err != nil {
			t.Fatalf("pg_notify = %v", err)
		}
		if got := recv("for payload " + tt.payload); got != tt.want {
			t.Errorf("signal for payload %q = %d, want %d", tt.payload, got, tt.want)
		}
	}

	p.Down()
	time.Sleep(100 * time.Millisecond)
	p.Up()
	if got := recv("once listening again"); got != 0 {
		t.Errorf("signal once listening again = %d, want 0 (commits may have been missed)", got)
	}
	if want, got := turn(t, dB), recv("after a replica's turn, once back"); got != want {
		t.Errorf("signal after a replica's turn, once back = %d, want %d", got, want)
	}
	if want, got := turn(t, dA), recv("after the store's own turn"); got != want {
		t.Errorf("signal after the store's own turn = %d, want %d", got, want)
	}
}

// TestSubscribeSeqSQLite checks that on SQLite, where the Store signals
// its own commits, the value is the last Seq committed.
func TestSubscribeSeqSQLite(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, testserver.SQLiteDB(t, ""), sqldialogs.WithPseudonyms([]byte("sqldialogs test secret, 32 bytes or more")))
	const key = "webchat:v1"
	ch, cancel := s.Subscribe(ctx, key)
	defer cancel()
	d := bot.NewDispatcher(s, bot.HandlerFunc(func(ctx context.Context, state []byte, m bot.Message) ([]byte, []bot.Reply, error) {
		return nil, []bot.Reply{{Text: "a"}, {Text: "b"}}, nil
	}))
	for i, want := range []int64{3, 6} {
		if _, err := d.Dispatch(ctx, bot.Message{Channel: bot.WebChat, ID: "m" + strconv.Itoa(i), Conversation: "v1", Seq: int64(i + 1)}); err != nil {
			t.Fatalf("Dispatch = %v", err)
		}
		select {
		case got := <-ch:
			if got != want {
				t.Errorf("signal after turn %d = %d, want %d (its last Seq)", i+1, got, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no signal after turn %d", i+1)
		}
	}
}
