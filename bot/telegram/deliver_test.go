package telegram_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/bottega-shop/bottega/bot"
	"github.com/bottega-shop/bottega/bot/telegram"
	"github.com/bottega-shop/bottega/bot/telegram/telegramtest"
	"github.com/bottega-shop/bottega/dialogs/sqldialogs"
	"github.com/bottega-shop/bottega/internal/testserver"
)

func newDelivery(t *testing.T) (*telegram.Delivery, *telegramtest.Server, *reach) {
	t.Helper()
	s, api := newSender(t, telegram.WithPayloadStore(&seqPayloads{}))
	r := &reach{}
	return telegram.NewDelivery(s, r, nil), api, r
}

func replyEntry(seq int64, r bot.Reply) bot.Entry {
	return bot.Entry{Seq: seq, Conversation: telegram.Key(1001), From: bot.FromBot, Reply: &r}
}

// cardsReply is send_cards.golden's reply: a photo card, two text cards
// and a text, four calls.
var cardsReply = bot.Reply{
	Text: "Ecco cosa ho trovato.",
	Cards: []bot.Card{
		{Title: "Scarpa Trail Runner", Subtitle: "Montalto", Price: "129,90 €", ImageURL: "https://cdn.example/tr.jpg",
			URL: "https://shop.example/p/trail-runner", Buttons: []bot.Button{{Title: "Vedi il prodotto", URL: "https://shop.example/p/trail-runner"}}},
		{Title: "Calza Tecnica", Price: "12,00 €", URL: "https://shop.example/p/calza"},
		{Title: "Senza immagine valida", ImageURL: "ftp://cdn.example/x.jpg", Buttons: []bot.Button{{Title: "Scegli", Payload: "choose:x"}}},
	},
	QuickReplies: []bot.QuickReply{{Title: "Altro", Payload: "more"}},
}

// TestDeliveryGolden: the Delivery sends what Sender.Send sends.
func TestDeliveryGolden(t *testing.T) {
	d, api, _ := newDelivery(t)
	if err := d.Deliver(context.Background(), telegram.Key(1001), replyEntry(2, cardsReply)); err != nil {
		t.Fatalf("Deliver = %v", err)
	}
	golden(t, "send_cards", api.Calls())
}

// TestDeliveryErrors: the Bot API's answers become the outbound queue's
// errors.
func TestDeliveryErrors(t *testing.T) {
	type want struct {
		retryAfter  time.Duration
		undelivered bool
		plain       bool
		calls       int
		unreachable bool
	}
	text := replyEntry(2, bot.Reply{Text: "ciao"})
	tests := []struct {
		name string
		fail []telegramtest.Failure
		key  string
		e    bot.Entry
		want want
	}{
		{"sent", nil, telegram.Key(1001), text, want{calls: 1}},
		{"a shopper's entry", nil, telegram.Key(1001), bot.Entry{Seq: 1, From: bot.FromShopper, Text: "ciao"}, want{}},
		{"not a Telegram key", nil, "messenger:1001", text, want{undelivered: true}},
		{"flood control", []telegramtest.Failure{telegramtest.TooManyRequests(34)}, telegram.Key(1001), text,
			want{retryAfter: 34 * time.Second, calls: 1}},
		{"blocked", []telegramtest.Failure{telegramtest.Blocked()}, telegram.Key(1001), text,
			want{undelivered: true, calls: 1, unreachable: true}},
		{"deactivated", []telegramtest.Failure{telegramtest.Deactivated()}, telegram.Key(1001), text,
			want{undelivered: true, calls: 1, unreachable: true}},
		{"chat not found", []telegramtest.Failure{telegramtest.ChatNotFound()}, telegram.Key(1001), text,
			want{undelivered: true, calls: 1}},
		{"server error", []telegramtest.Failure{telegramtest.InternalError()}, telegram.Key(1001), text,
			want{plain: true, calls: 1}},
		{"proxy error page", []telegramtest.Failure{telegramtest.BadGateway()}, telegram.Key(1001), text,
			want{plain: true, calls: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, api, r := newDelivery(t)
			api.Fail("sendMessage", tt.fail...)
			err := d.Deliver(context.Background(), tt.key, tt.e)
			var ra *bot.RetryAfterError
			got := want{undelivered: errors.Is(err, bot.ErrUndeliverable), calls: len(api.Calls())}
			if errors.As(err, &ra) {
				got.retryAfter = ra.After
			}
			got.plain = err != nil && got.retryAfter == 0 && !got.undelivered && !errors.Is(err, bot.ErrHold)
			for _, c := range r.changes() {
				got.unreachable = got.unreachable || c == tt.key+" unreachable"
			}
			if got != tt.want {
				t.Errorf("Deliver = %v: got %+v, want %+v", err, got, tt.want)
			}
		})
	}
}

// TestDeliveryResumes: a reply cut short by flood control after its first
// messages goes on from the first message not sent.
func TestDeliveryResumes(t *testing.T) {
	d, api, _ := newDelivery(t)
	e := replyEntry(2, cardsReply)
	api.Fail("sendMessage", telegramtest.Failure{}, telegramtest.TooManyRequests(1)) // the first text card goes
	var ra *bot.RetryAfterError
	if err := d.Deliver(context.Background(), telegram.Key(1001), e); !errors.As(err, &ra) {
		t.Fatalf("Deliver = %v, want a *bot.RetryAfterError", err)
	}
	api.Reset()
	if err := d.Deliver(context.Background(), telegram.Key(1001), e); err != nil {
		t.Fatalf("Deliver again = %v", err)
	}
	var methods []string
	for _, c := range api.Calls() {
		methods = append(methods, c.Method+" "+c.Params["text"])
	}
	want := []string{"sendMessage Senza immagine valida", "sendMessage Ecco cosa ho trovato."}
	if fmt.Sprint(methods) != fmt.Sprint(want) {
		t.Errorf("the retry sent %q, want %q", methods, want)
	}
}

// countingPacer counts waits and can refuse.
type countingPacer struct {
	mu  sync.Mutex
	n   int
	err error
}

func (p *countingPacer) Wait(context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.n++
	return p.err
}

// TestDeliveryPaces: each Bot API call of a reply waits for the pacer
// first; a pacer that refuses stops the calls.
func TestDeliveryPaces(t *testing.T) {
	d, api, _ := newDelivery(t)
	p := &countingPacer{}
	ctx := bot.WithPacer(context.Background(), p)
	if err := d.Deliver(ctx, telegram.Key(1001), replyEntry(2, cardsReply)); err != nil {
		t.Fatalf("Deliver = %v", err)
	}
	if n := len(api.Calls()); p.n != n || n != 4 {
		t.Errorf("pacer waited %d times for %d calls, want 4 and 4", p.n, n)
	}
	p.err = errors.New("lease ending")
	err := d.Deliver(ctx, telegram.Key(1001), replyEntry(3, bot.Reply{Text: "ok"}))
	if err == nil || errors.Is(err, bot.ErrUndeliverable) {
		t.Errorf("Deliver with a refusing pacer = %v, want a plain error", err)
	}
	if n := len(api.Calls()); n != 4 {
		t.Errorf("the Bot API got %d calls more after the pacer refused", n-4)
	}
}

// TestFakeFloodControl: the fake Bot API refuses sends over its flood
// limits with Telegram's 429 and retry_after, which the Sender reads.
func TestFakeFloodControl(t *testing.T) {
	s, api := newSender(t)
	api.EnforceFlood(telegramtest.Flood{PerSecond: 5, PerChat: 1})
	ctx := context.Background()
	for chat := int64(1); chat <= 5; chat++ {
		if err := s.Send(ctx, chat, bot.Reply{Text: "ok"}); err != nil {
			t.Fatalf("send %d = %v", chat, err)
		}
	}
	var ra *telegram.RetryAfterError
	if err := s.Send(ctx, 6, bot.Reply{Text: "ok"}); !errors.As(err, &ra) || ra.After != time.Second {
		t.Errorf("a sixth send within a second = %v, want retry after 1s", err)
	}
	api.EnforceFlood(telegramtest.Flood{PerChat: 1})
	if err := s.Send(ctx, 1, bot.Reply{Text: "again"}); !errors.As(err, &ra) || ra.After != time.Second {
		t.Errorf("a second send to a chat within a second = %v, want retry after 1s", err)
	}
	if n := api.FloodRefusals(); n != 2 {
		t.Errorf("FloodRefusals = %d, want 2", n)
	}
}

// queue is the outbound queue on SQLite delivering Telegram replies to a
// fake Bot API.
type queue struct {
	d   *bot.Dispatcher
	o   *bot.Outbound
	api *telegramtest.Server
}

func newQueue(tb testing.TB, opts ...bot.OutboundOption) *queue {
	tb.Helper()
	store, err := sqldialogs.New(testserver.SQLiteDB(tb, ""))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { store.Close() })
	q := &queue{d: bot.NewDispatcher(store, nil, bot.WithDelivery(bot.Telegram))}
	q.api = telegramtest.NewServer(tb, testToken)
	s, err := telegram.NewSender(testToken, q.api.URL)
	if err != nil {
		tb.Fatal(err)
	}
	q.o = bot.NewOutbound(store, q.d, nil, opts...)
	q.o.Register(bot.Telegram, telegram.NewDelivery(s, nil, nil), bot.TelegramLimits)
	return q
}

func (q *queue) reply(t testing.TB, chat int64, texts ...string) {
	t.Helper()
	rs := make([]bot.Reply, len(texts))
	for i, s := range texts {
		rs[i] = bot.Reply{Text: s}
	}
	if _, err := q.d.Append(context.Background(), telegram.Key(chat), bot.FromBot, rs); err != nil {
		t.Fatalf("Append = %v", err)
	}
}

// run runs the queue until the returned stop is called or the test ends.
func (q *queue) run(tb testing.TB) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { q.o.Run(ctx); close(done) }()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	tb.Cleanup(stop)
	return stop
}

// sent returns the texts the fake accepted per chat, in order, and when
// the first and last went.
func sent(api *telegramtest.Server) (map[string][]string, time.Time, time.Time) {
	out := make(map[string][]string)
	var first, last time.Time
	for _, c := range api.CallsTo("sendMessage") {
		if c.Code != 0 {
			continue
		}
		out[c.Params["chat_id"]] = append(out[c.Params["chat_id"]], c.Params["text"])
		if first.IsZero() || c.At.Before(first) {
			first = c.At
		}
		if c.At.After(last) {
			last = c.At
		}
	}
	return out, first, last
}

// TestOutboundTelegram: through the outbound queue, Telegram's flood
// control (30 a second, 1 a second per chat, as the fake enforces them) is
// never hit, and a 429 that comes anyway is honoured: no send before its
// retry_after, then the rest in order.
func TestOutboundTelegram(t *testing.T) {
	q := newQueue(t, bot.WithPoll(50*time.Millisecond))
	q.api.EnforceFlood(telegramtest.Flood{PerSecond: 30, PerChat: 1})
	q.api.Fail("sendMessage", telegramtest.TooManyRequests(1))
	want := make(map[string][]string)
	for chat := int64(1); chat <= 15; chat++ {
		ts := []string{fmt.Sprintf("%d a", chat), fmt.Sprintf("%d b", chat), fmt.Sprintf("%d c", chat)}
		q.reply(t, chat, ts...)
		want[strconv.FormatInt(chat, 10)] = ts
	}
	q.run(t)
	deadline := time.Now().Add(20 * time.Second)
	for {
		got, _, _ := sent(q.api)
		n := 0
		for _, ts := range got {
			n += len(ts)
		}
		if n == 45 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of 45 replies sent after 20s", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	got, _, _ := sent(q.api)
	for chat, ts := range want {
		if fmt.Sprint(got[chat]) != fmt.Sprint(ts) {
			t.Errorf("chat %s got %q, want %q", chat, got[chat], ts)
		}
	}
	calls := q.api.Calls()
	hit := calls[0]
	if hit.Code != 429 {
		t.Fatalf("first call answered %d, want the scripted 429", hit.Code)
	}
	for _, c := range calls[1:] {
		if c.At.Before(hit.At.Add(time.Second)) {
			t.Errorf("a %s came %v after a 429 with retry_after 1", c.Method, c.At.Sub(hit.At))
		}
	}
	if n := q.api.FloodRefusals(); n != 0 {
		t.Errorf("flood control refused %d sends, want 0", n)
		for i, c := range calls[1:] {
			if c.Code != 429 {
				continue
			}
			win, last := 0, time.Time{}
			for _, x := range calls[1 : i+1] {
				if x.Code == 0 && c.At.Sub(x.At) < time.Second {
					win++
				}
				if x.Code == 0 && x.Params["chat_id"] == c.Params["chat_id"] {
					last = x.At
				}
			}
			t.Logf("refused: chat %s: %d in window, %v after the chat's last", c.Params["chat_id"], win, c.At.Sub(last))
		}
	}
}

// BenchmarkOutboundTelegram30 pushes 600 replies across 200 chats through
// the outbound queue and the Telegram Delivery to a fake Bot API that
// enforces 30 sends a second and one a second per chat, and reports the
// sustained rate (over the middle 80% of the sends: at the start and the
// end fewer than 30 chats have a message ready, each being one a second),
// the rate from the first send to the last, the most sends the fake saw
// in a second and its 429s. It takes about 20 s an iteration, so it runs
// only with BOTTEGA_BENCH=1.
func BenchmarkOutboundTelegram30(b *testing.B) {
	if os.Getenv("BOTTEGA_BENCH") == "" {
		b.Skip("set BOTTEGA_BENCH=1 to run (about 20 s an iteration)")
	}
	const chats, per, total = 200, 3, 600
	var sustained, overall, peak, refused float64
	for range b.N {
		b.StopTimer()
		q := newQueue(b)
		q.api.EnforceFlood(telegramtest.Flood{PerSecond: 30, PerChat: 1})
		for chat := int64(1); chat <= chats; chat++ {
			ts := make([]string, per)
			for i := range ts {
				ts[i] = fmt.Sprintf("reply %d to chat %d", i+1, chat)
			}
			q.reply(b, chat, ts...)
		}
		b.StartTimer()
		stop := q.run(b)
		var at []time.Time
		for len(at) < total {
			time.Sleep(10 * time.Millisecond)
			at = at[:0]
			for _, c := range q.api.CallsTo("sendMessage") {
				if c.Code == 0 {
					at = append(at, c.At)
				}
			}
		}
		b.StopTimer()
		stop()
		slices.SortFunc(at, time.Time.Compare)
		lo, hi := total/10, total-total/10
		sustained += float64(hi-lo) / at[hi].Sub(at[lo]).Seconds()
		overall += float64(total-1) / at[total-1].Sub(at[0]).Seconds()
		most := 0
		for i, j := 0, 0; j < len(at); j++ {
			for at[j].Sub(at[i]) >= time.Second {
				i++
			}
			most = max(most, j-i+1)
		}
		peak = max(peak, float64(most))
		refused += float64(q.api.FloodRefusals())
	}
	b.ReportMetric(sustained/float64(b.N), "msgs/s")
	b.ReportMetric(overall/float64(b.N), "msgs/s-overall")
	b.ReportMetric(peak, "max-msgs/1s")
	b.ReportMetric(refused/float64(b.N), "429s")
}
