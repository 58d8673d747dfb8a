package messenger_test

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/bottega-shop/bottega/bot"
	"github.com/bottega-shop/bottega/bot/messenger"
	"github.com/bottega-shop/bottega/dialogs/sqldialogs"
	"github.com/bottega-shop/bottega/internal/sqldb"
)

// TestRedelivery sends one signed batch again and again, in turn and on
// concurrent connections, through a real Dispatcher on the SQL store: every
// mid is handled once, and each conversation's log holds its turns in order.
func TestRedelivery(t *testing.T) {
	ctx := context.Background()
	db, err := sqldb.Open(ctx, "", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	store, err := sqldialogs.New(db)
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu      sync.Mutex
		handled = map[string]int{}
	)
	h := bot.HandlerFunc(func(_ context.Context, state []byte, m bot.Message) ([]byte, []bot.Reply, error) {
		mu.Lock()
		handled[m.ID]++
		mu.Unlock()
		return append(state, '.'), []bot.Reply{{Text: "re " + m.ID}}, nil
	})
	d := bot.NewDispatcher(store, h)
	const secret = "app-secret"
	w := messenger.NewWebhook(secret, "verify", d, nil, nil)

	body, err := os.ReadFile("testdata/batch.json")
	if err != nil {
		t.Fatal(err)
	}
	sig := messenger.Sign(body, secret)
	for range 2 {
		if status, err := w.Handle(ctx, sig, body); status != 200 || err != nil {
			t.Fatalf("Handle = %d, %v; want 200", status, err)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Go(func() {
			if status, err := w.Handle(ctx, sig, body); status != 200 {
				errs <- fmt.Errorf("concurrent Handle = %d, %v", status, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	want := map[string]int{"fb:m_1": 1, "fb:m_2": 1, "fb:m_pb1": 1, "fb:m_img": 1}
	if diff := cmp.Diff(want, handled); diff != "" {
		t.Errorf("handler calls per message mismatch (-want +got):\n%s", diff)
	}
	entries, err := d.Entries(ctx, bot.Messenger+":1001", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		if e.Reply != nil {
			got = append(got, fmt.Sprintf("%d %s %s", e.Seq, e.From, e.Reply.Text))
		} else {
			got = append(got, fmt.Sprintf("%d %s %s", e.Seq, e.From, e.Text))
		}
	}
	wantLog := []string{
		"1 shopper ciao, avete le Trail Runner?",
		"2 bot re fb:m_1",
		"3 shopper 42",
		"4 bot re fb:m_2",
	}
	if diff := cmp.Diff(wantLog, got); diff != "" {
		t.Errorf("log of messenger:1001 mismatch (-want +got):\n%s", diff)
	}
}
