package telegram_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/bottega-shop/bottega/bot"
	"github.com/bottega-shop/bottega/bot/telegram"
)

func BenchmarkParse(b *testing.B) {
	body := readUpdate(b, "text.json")
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := telegram.Parse(body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHandle measures an acknowledgement: secret check, parse and a
// dispatched turn committed to SQLite, with a handler that answers at
// once. Updates go to 64 chats from parallel goroutines.
func BenchmarkHandle(b *testing.B) {
	s, err := telegram.NewSender(testToken, "http://127.0.0.1:1")
	if err != nil {
		b.Fatal(err)
	}
	h := bot.HandlerFunc(func(context.Context, []byte, bot.Message) ([]byte, []bot.Reply, error) {
		return nil, []bot.Reply{{Text: "ok"}}, nil
	})
	w := telegram.NewWebhook(secret, newDispatcher(b, h), s, nil, nil)
	var next atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			id := next.Add(1)
			if status, err := w.Handle(context.Background(), secret, textUpdate(id, int(id), 1000+id%64, "ciao")); status != 200 {
				b.Errorf("Handle = %d, %v", status, err)
				return
			}
		}
	})
}
