package messenger_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/bottega-shop/bottega/bot"
	"github.com/bottega-shop/bottega/bot/messenger"
	"github.com/bottega-shop/bottega/dialogs/sqldialogs"
	"github.com/bottega-shop/bottega/internal/sqldb"
)

// batch returns a signed-ready body of n text messages from n/2 shoppers,
// with mids unique to round.
func batch(round, n int) []byte {
	events := make([]string, n)
	for i := range events {
		events[i] = fmt.Sprintf(`{"sender":{"id":"%d"},"recipient":{"id":"P"},"timestamp":%d,"message":{"mid":"m_%d_%d","text":"avete le Trail Runner in 42?"}}`,
			1000+i/2, 1700000000000+int64(round*n+i), round, i)
	}
	return []byte(`{"object":"page","entry":[{"id":"P","time":1700000000000,"messaging":[` + strings.Join(events, ",") + `]}]}`)
}

type nopDispatcher struct{}

func (nopDispatcher) Dispatch(context.Context, bot.Message) ([]bot.Entry, error) { return nil, nil }

// BenchmarkHandleParse measures signature, parsing and bookkeeping of a
// 10-message body, without a store.
func BenchmarkHandleParse(b *testing.B) {
	w := messenger.NewWebhook("s", "v", nopDispatcher{}, nil, nil)
	body := batch(0, 10)
	sig := messenger.Sign(body, "s")
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if status, err := w.Handle(context.Background(), sig, body); status != 200 {
			b.Fatal(status, err)
		}
	}
}

// BenchmarkHandleSQLite acknowledges bodies of 10 new messages (5
// conversations) handled through a Dispatcher on the embedded SQL store.
func BenchmarkHandleSQLite(b *testing.B) {
	ctx := context.Background()
	db, err := sqldb.Open(ctx, "", b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	store, err := sqldialogs.New(db)
	if err != nil {
		b.Fatal(err)
	}
	h := bot.HandlerFunc(func(_ context.Context, _ []byte, m bot.Message) ([]byte, []bot.Reply, error) {
		return []byte("s"), []bot.Reply{{Text: "ok"}}, nil
	})
	w := messenger.NewWebhook("s", "v", bot.NewDispatcher(store, h), nil, nil)
	round := 0
	b.ReportAllocs()
	for b.Loop() {
		body := batch(round, 10)
		round++
		if status, err := w.Handle(ctx, messenger.Sign(body, "s"), body); status != 200 {
			b.Fatal(status, err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/10, "µs/message")
}
