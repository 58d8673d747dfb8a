package messenger

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bottega-shop/bottega/bot"
)

// deliveryFixture is a webhook with a Sender on the fake Graph API and its
// Delivery, at a fixed time, with shopper 1 inside the window.
type deliveryFixture struct {
	w    *Webhook
	d    *Delivery
	g    *fakeGraph
	sink *sink
	clk  *clock
}

func newDeliveryFixture(t *testing.T) *deliveryFixture {
	t.Helper()
	f := &deliveryFixture{g: newFakeGraph(t, pageToken), sink: &sink{}, clk: &clock{t: ms(1700000000000)}}
	f.w = NewWebhook(appSecret, verifyToken, &fakeDispatcher{}, f.sink, nil,
		WithAppID(ourApp), WithNow(f.clk.now), WithSender(NewSender(f.g.URL(), pageToken, nil)))
	f.d = f.w.Deliverer()
	if err := f.w.Threads().Wrote(context.Background(), "1", f.clk.now().Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	return f
}

func entry(seq int64, from string, r bot.Reply) bot.Entry {
	return bot.Entry{Seq: seq, Conversation: "messenger:1", From: from, Reply: &r}
}

// TestDeliveryGolden: the Delivery sends exactly what Sender.Send sends.
func TestDeliveryGolden(t *testing.T) {
	f := newDeliveryFixture(t)
	if err := f.w.Threads().Wrote(context.Background(), "1001", f.clk.now()); err != nil {
		t.Fatal(err)
	}
	if err := f.d.Deliver(context.Background(), "messenger:1001", entry(2, bot.FromBot, bot.Reply{Text: "Ciao! Cerchi qualcosa in particolare? <Trail & Road>"})); err != nil {
		t.Fatalf("Deliver = %v", err)
	}
	golden(t, "text.golden", indentBodies(t, f.g.Calls()))
}

// TestDeliveryErrors: what stands in the way of a reply becomes the
// outbound queue's error.
func TestDeliveryErrors(t *testing.T) {
	type want struct {
		retryAfter   time.Duration // > 0: a *bot.RetryAfterError with it
		hold         bool
		undelivered  bool
		plain        bool // none of the above
		calls        int
		unreachable  bool
		ownerOtherAp bool
	}
	tests := []struct {
		name  string
		setup func(f *deliveryFixture)
		key   string
		e     bot.Entry
		want  want
	}{
		{"sent", nil, "messenger:1", entry(2, bot.FromBot, bot.Reply{Text: "ok"}), want{calls: 1}},
		{"a shopper's entry", nil, "messenger:1", bot.Entry{Seq: 1, From: bot.FromShopper, Text: "ciao"}, want{}},
		{"not a Messenger key", nil, "telegram:1", entry(2, bot.FromBot, bot.Reply{Text: "ok"}), want{undelivered: true}},
		{"never wrote", nil, "messenger:2", entry(2, bot.FromBot, bot.Reply{Text: "ok"}), want{hold: true}},
		{"window closed", func(f *deliveryFixture) { f.clk.set(f.clk.now().Add(Window)) },
			"messenger:1", entry(2, bot.FromAgent, bot.Reply{Text: "ok"}), want{hold: true}},
		{"a person owns the thread: the bot is silent", func(f *deliveryFixture) {
			f.w.Threads().SetOwner(context.Background(), "1", PageInboxAppID, f.clk.now())
		}, "messenger:1", entry(2, bot.FromBot, bot.Reply{Text: "ok"}), want{undelivered: true}},
		{"a person owns the thread: an agent's reply goes", func(f *deliveryFixture) {
			f.w.Threads().SetOwner(context.Background(), "1", PageInboxAppID, f.clk.now())
		}, "messenger:1", entry(2, bot.FromAgent, bot.Reply{Text: "ok"}), want{calls: 1}},
		{"rate limit with a hint", func(f *deliveryFixture) {
			f.g.fail(graphFailure{status: 400, code: 613, message: "(#613) Calls to this API have exceeded the rate limit.",
				header: http.Header{"Retry-After": {"7"}}})
		}, "messenger:1", entry(2, bot.FromBot, bot.Reply{Text: "ok"}), want{retryAfter: 7 * time.Second, calls: 1}},
		{"rate limit without a hint", func(f *deliveryFixture) {
			f.g.fail(graphFailure{status: 400, code: 4, message: "(#4) Application request limit reached"})
		}, "messenger:1", entry(2, bot.FromBot, bot.Reply{Text: "ok"}), want{retryAfter: DefaultRetryAfter, calls: 1}},
		{"unreachable", func(f *deliveryFixture) {
			f.g.fail(graphFailure{status: 400, code: 551, subcode: 1545041, message: "(#551) This person isn't available right now."})
		}, "messenger:1", entry(2, bot.FromBot, bot.Reply{Text: "ok"}), want{undelivered: true, calls: 1, unreachable: true}},
		{"outside the window says Graph", func(f *deliveryFixture) {
			f.g.fail(graphFailure{status: 400, code: 10, subcode: 2018278, message: "(#10) This message is sent outside of allowed window."})
		}, "messenger:1", entry(2, bot.FromBot, bot.Reply{Text: "ok"}), want{hold: true, calls: 1}},
		{"another app owns the thread says Graph", func(f *deliveryFixture) {
			f.g.fail(graphFailure{status: 400, code: 10, subcode: 2018300, message: "(#10) another app is controlling this thread now"})
		}, "messenger:1", entry(2, bot.FromAgent, bot.Reply{Text: "ok"}), want{undelivered: true, calls: 1, ownerOtherAp: true}},
		{"temporary failure", func(f *deliveryFixture) {
			f.g.fail(graphFailure{status: 500, code: 1200, message: "Temporary send message failure. Please try again later."})
		}, "messenger:1", entry(2, bot.FromBot, bot.Reply{Text: "ok"}), want{plain: true, calls: 1}},
		{"server error", func(f *deliveryFixture) {
			f.g.fail(graphFailure{status: 503, code: 2, message: "An unexpected error has occurred."})
		}, "messenger:1", entry(2, bot.FromBot, bot.Reply{Text: "ok"}), want{plain: true, calls: 1}},
		{"refused for good", func(f *deliveryFixture) {
			f.g.fail(graphFailure{status: 400, code: 100, message: "(#100) Invalid parameter"})
		}, "messenger:1", entry(2, bot.FromBot, bot.Reply{Text: "ok"}), want{undelivered: true, calls: 1}},
		{"marketing message over its frequency", func(f *deliveryFixture) {
			f.g.fail(graphFailure{status: 400, code: 4, subcode: 2018354, message: "(#4) sent more often than allowed"})
		}, "messenger:1", entry(2, bot.FromBot, bot.Reply{Text: "ok"}), want{undelivered: true, calls: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newDeliveryFixture(t)
			if tt.setup != nil {
				tt.setup(f)
			}
			err := f.d.Deliver(context.Background(), tt.key, tt.e)
			var ra *bot.RetryAfterError
			got := want{
				hold:        errors.Is(err, bot.ErrHold),
				undelivered: errors.Is(err, bot.ErrUndeliverable),
				calls:       len(f.g.Calls()),
			}
			if errors.As(err, &ra) {
				got.retryAfter = ra.After
			}
			got.plain = err != nil && got.retryAfter == 0 && !got.hold && !got.undelivered
			for _, e := range f.sink.events {
				got.unreachable = got.unreachable || e.Kind == KindUnreachable
			}
			th, _ := f.w.Threads().Thread(context.Background(), "1")
			got.ownerOtherAp = tt.want.ownerOtherAp && th.OwnedByOther(f.clk.now())
			if got != tt.want {
				t.Errorf("Deliver = %v: got %+v, want %+v", err, got, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), pageToken) {
				t.Errorf("Deliver error %q leaks the page token", err)
			}
		})
	}
}

// TestDeliveryResumes: a reply cut short by a rate limit after its first
// part goes on from the second part, without sending the first again.
func TestDeliveryResumes(t *testing.T) {
	f := newDeliveryFixture(t)
	e := entry(2, bot.FromBot, bot.Reply{Text: longItalian()}) // three parts
	f.g.fail(graphFailure{})                                   // the first part goes
	f.g.fail(graphFailure{status: 400, code: 613, message: "(#613) rate limit"})
	err := f.d.Deliver(context.Background(), "messenger:1", e)
	var ra *bot.RetryAfterError
	if !errors.As(err, &ra) {
		t.Fatalf("Deliver = %v, want a *bot.RetryAfterError", err)
	}
	if err := f.d.Deliver(context.Background(), "messenger:1", e); err != nil {
		t.Fatalf("Deliver again = %v", err)
	}
	parts := Render(*e.Reply)
	calls := f.g.Calls()
	if len(calls) != 4 {
		t.Fatalf("Graph got %d calls, want 4: part 1, part 2 refused, parts 2 and 3", len(calls))
	}
	for i, want := range []int{0, 1, 1, 2} {
		if !strings.Contains(string(calls[i].Body), string(parts[want])) {
			t.Errorf("call %d sent %s, want part %d", i+1, calls[i].Body, want+1)
		}
	}
	// Delivered: a later delivery of the same entry starts over.
	f.g.fail(graphFailure{status: 500, code: 2, message: "unexpected"})
	f.d.Deliver(context.Background(), "messenger:1", e)
	if last := f.g.Calls()[4]; !strings.Contains(string(last.Body), string(parts[0])) {
		t.Errorf("a new delivery began with %s, want part 1", last.Body)
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

// TestDeliveryPaces: every Send API call waits for the pacer first; a
// pacer that refuses stops the call.
func TestDeliveryPaces(t *testing.T) {
	f := newDeliveryFixture(t)
	p := &countingPacer{}
	ctx := bot.WithPacer(context.Background(), p)
	e := entry(2, bot.FromBot, bot.Reply{Text: longItalian()})
	if err := f.d.Deliver(ctx, "messenger:1", e); err != nil {
		t.Fatalf("Deliver = %v", err)
	}
	if n := len(f.g.Calls()); p.n != n || n != 3 {
		t.Errorf("pacer waited %d times for %d calls, want 3 and 3", p.n, n)
	}
	p.err = errors.New("lease ending")
	err := f.d.Deliver(ctx, "messenger:1", entry(3, bot.FromBot, bot.Reply{Text: "ok"}))
	if err == nil || errors.Is(err, bot.ErrUndeliverable) || errors.Is(err, bot.ErrHold) {
		t.Errorf("Deliver with a refusing pacer = %v, want a plain error", err)
	}
	if n := len(f.g.Calls()); n != 3 {
		t.Errorf("Graph got %d calls, want none more after the pacer refused", n-3)
	}
}
