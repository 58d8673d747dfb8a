package telegram_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/bottega-shop/bottega/bot/telegram"
)

// TestConcurrentDeliveryInOrder sends one chat's updates on several
// goroutines at once — later update_ids first, each twice, as Telegram
// does over parallel connections and retries — while the chat is busy with
// an earlier turn, through a real Dispatcher on the SQL store. Each update
// must be handled once, in update_id order.
func TestConcurrentDeliveryInOrder(t *testing.T) {
	for round := range 3 {
		t.Run(fmt.Sprint("round ", round), func(t *testing.T) {
			f := newFixture(t)
			f.h.blockText, f.h.block, f.h.entered = "first", make(chan struct{}), make(chan struct{})
			const chat = 4242

			// The chat's first turn holds the conversation until released.
			first := make(chan int, 1)
			go func() { first <- f.handle(t, textUpdate(900, 1, chat, "first")) }()
			select {
			case <-f.h.entered:
			case <-time.After(5 * time.Second):
				t.Fatal("the first turn did not start")
			}

			var wg sync.WaitGroup
			statuses := make(chan int, 6)
			for _, u := range []struct {
				id  int64
				msg int
			}{{903, 4}, {902, 3}, {901, 2}, {903, 4}, {901, 2}, {902, 3}} {
				wg.Go(func() { statuses <- f.handle(t, textUpdate(u.id, u.msg, chat, fmt.Sprint("msg ", u.id))) })
			}
			time.Sleep(150 * time.Millisecond) // all of them reach the store's queue
			released := time.Now()
			close(f.h.block)
			wg.Wait()
			if d := time.Since(released); d > 2*time.Second {
				t.Errorf("the queued updates took %v after the first turn ended: a redelivery stalled the chat", d)
			}
			close(statuses)
			if s := <-first; s != 200 {
				t.Errorf("Handle(first) = %d", s)
			}
			for s := range statuses {
				if s != 200 {
					t.Errorf("Handle(concurrent) = %d", s)
				}
			}
			want := []string{"tg:900", "tg:901", "tg:902", "tg:903"}
			if got := f.h.ids(); !cmp.Equal(got, want) {
				t.Errorf("handled %v, want %v: each once, in update_id order", got, want)
			}
			es, err := f.d.Entries(context.Background(), telegram.Key(chat), 0, 100)
			if err != nil {
				t.Fatal(err)
			}
			if len(es) != 8 {
				t.Errorf("the log holds %d entries, want 8 (4 messages, 4 replies)", len(es))
			}
		})
	}
}
