package redisdialogs_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/bottega-shop/bottega/bot"
	"github.com/bottega-shop/bottega/bot/bottest"
	"github.com/bottega-shop/bottega/dialogs/redisdialogs"
	"github.com/bottega-shop/bottega/internal/testserver"
)

// newClient returns a client on a Redis database of the test's own.
func newClient(t testing.TB) *redis.Client {
	t.Helper()
	opts, err := redis.ParseURL(testserver.Redis(t))
	if err != nil {
		t.Fatalf("redis.ParseURL = %v", err)
	}
	c := redis.NewClient(opts)
	t.Cleanup(func() { c.Close() })
	return c
}

func newStore(t testing.TB, c *redis.Client, opts ...redisdialogs.Option) *redisdialogs.Store {
	t.Helper()
	s := redisdialogs.New(c, opts...)
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close = %v", err)
		}
	})
	return s
}

// configs are the configurations the contract suites run in: conversations
// under their raw keys, and under pseudonyms.
var configs = []struct {
	name string
	opts []redisdialogs.Option
}{
	{"raw", nil},
	{"pseudonyms", []redisdialogs.Option{redisdialogs.WithPseudonyms([]byte("redisdialogs test secret, 32 bytes or more"))}},
}

func TestStore(t *testing.T) {
	for _, cfg := range configs {
		t.Run(cfg.name, func(t *testing.T) {
			bottest.TestStore(t, func(t *testing.T) bot.Store {
				return newStore(t, newClient(t), cfg.opts...)
			})
		})
	}
}

func TestOutboxStore(t *testing.T) {
	for _, cfg := range configs {
		t.Run(cfg.name, func(t *testing.T) {
			bottest.TestOutboxStore(t, func(t *testing.T) interface {
				bot.Store
				bot.OutboxStore
			} {
				return newStore(t, newClient(t), cfg.opts...)
			})
		})
	}
}

func TestErasure(t *testing.T) {
	for _, cfg := range configs {
		t.Run(cfg.name, func(t *testing.T) {
			bottest.TestErasure(t, func(t *testing.T) (bot.Store, bottest.Contents) {
				c := newClient(t)
				return newStore(t, c, cfg.opts...), contents(c)
			})
		})
	}
}

func TestPseudonyms(t *testing.T) {
	bottest.TestPseudonyms(t, func(t *testing.T, secrets ...[]byte) ([]bot.Store, bottest.Contents) {
		c := newClient(t)
		var stores []bot.Store
		for _, secret := range secrets {
			var opts []redisdialogs.Option
			if secret != nil {
				opts = append(opts, redisdialogs.WithPseudonyms(secret))
			}
			stores = append(stores, newStore(t, c, opts...))
		}
		return stores, contents(c)
	})
}

// contents dumps every key of c's database with its value.
func contents(c *redis.Client) bottest.Contents {
	return func(t *testing.T) []byte {
		t.Helper()
		ctx := context.Background()
		keys, err := c.Keys(ctx, "*").Result()
		if err != nil {
			t.Fatalf("KEYS = %v", err)
		}
		var b bytes.Buffer
		for _, k := range keys {
			var vals []string
			switch typ := c.Type(ctx, k).Val(); typ {
			case "string":
				vals = []string{c.Get(ctx, k).Val()}
			case "hash":
				for f, v := range c.HGetAll(ctx, k).Val() {
					vals = append(vals, f, v)
				}
			case "list":
				vals = c.LRange(ctx, k, 0, -1).Val()
			case "zset":
				for _, z := range c.ZRangeWithScores(ctx, k, 0, -1).Val() {
					vals = append(vals, fmt.Sprint(z.Member), fmt.Sprint(z.Score))
				}
			case "set":
				vals = c.SMembers(ctx, k).Val()
			case "none": // expired meanwhile
			default:
				t.Fatalf("key %q has type %s, which contents cannot read", k, typ)
			}
			fmt.Fprintf(&b, "%s:", k)
			for _, v := range vals {
				b.WriteString(" " + v)
			}
			b.WriteByte('\n')
		}
		return b.Bytes()
	}
}

// TestDispatcher runs the dispatcher suite with each Dispatcher on a client
// and Store of its own, as replicas sharing one Redis would be.
func TestDispatcher(t *testing.T) {
	for _, cfg := range configs {
		t.Run(cfg.name, func(t *testing.T) {
			bottest.TestDispatcher(t, func(t *testing.T, n int, h bot.Handler, opts ...bot.DispatcherOption) []*bot.Dispatcher {
				url := testserver.Redis(t)
				var ds []*bot.Dispatcher
				for range n {
					ropts, err := redis.ParseURL(url)
					if err != nil {
						t.Fatalf("redis.ParseURL = %v", err)
					}
					c := redis.NewClient(ropts)
					t.Cleanup(func() { c.Close() })
					ds = append(ds, bot.NewDispatcher(newStore(t, c, cfg.opts...), h, opts...))
				}
				return ds
			})
		})
	}
}

// counter is a go-redis hook that counts round trips: each command or
// pipeline sent and answered.
type counter struct{ n atomic.Int64 }

func (c *counter) DialHook(next redis.DialHook) redis.DialHook { return next }

func (c *counter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.n.Add(1)
		return next(ctx, cmd)
	}
}

func (c *counter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		c.n.Add(1)
		return next(ctx, cmds)
	}
}

// shortConversation is three turns of a typical chat, with realistic
// replies and state, for measuring what an idle session keeps.
func shortConversation(conv string) []bot.Message {
	texts := []string{"avete le trail runner nel 42 rosse?", "e nel 43?", "quanto costano?"}
	var ms []bot.Message
	for i, t := range texts {
		ms = append(ms, bot.Message{
			Channel: bot.WebChat, ID: fmt.Sprintf("c-%s-%d", conv, i+1), Conversation: conv,
			Sender: conv, Text: t, Locale: "it-IT", Seq: int64(i + 1), At: time.Now(),
		})
	}
	return ms
}

// shopHandler answers like the dialog engine would, in size and shape.
var shopHandler = bot.HandlerFunc(func(ctx context.Context, state []byte, m bot.Message) ([]byte, []bot.Reply, error) {
	st := []byte(`{"s":"product","l":"it","p":"trail-runner","z":"43","c":"rosso","m":0,"t":` + strconv.FormatInt(m.Seq, 10) + `}`)
	switch m.Seq {
	case 1:
		return st, []bot.Reply{{
			Text: "Sì! Le Trail Runner rosse nel 42 ci sono: ne restano 2.",
			Cards: []bot.Card{{
				Title: "Trail Runner", Subtitle: "Rosso · 42", ImageURL: "https://shop.example.com/img/trail-runner-rosso.jpg",
				URL: "https://shop.example.com/p/trail-runner", Price: "129,00 €",
				Buttons: []bot.Button{{Title: "Vedi", URL: "https://shop.example.com/p/trail-runner"}},
			}},
		}}, nil
	case 2:
		return st, []bot.Reply{{
			Text:         "Nel 43 rosse sono finite. Le ho nel 43 in nero, oppure nel 42 e 44 in rosso.",
			QuickReplies: []bot.QuickReply{{Title: "43 nero", Payload: "V:TR-43-NERO"}, {Title: "Avvisami", Payload: "NOTIFY:TR-43-ROSSO"}},
		}}, nil
	}
	return st, []bot.Reply{{Text: "Le Trail Runner costano 129,00 €."}}, nil
})

// TestRoundTrips checks that a Dispatch costs two round trips to Redis,
// also when its replies are queued for delivery (Update.Deliver), with
// pseudonyms, and with the archive.
func TestRoundTrips(t *testing.T) {
	for _, tt := range []struct {
		name  string
		opts  []bot.DispatcherOption
		sopts []redisdialogs.Option
	}{
		{"plain", nil, nil},
		{"deliver", []bot.DispatcherOption{bot.WithDelivery(bot.WebChat)}, nil},
		{"pseudonyms", []bot.DispatcherOption{bot.WithDelivery(bot.WebChat)}, configs[1].opts},
		{"archive", []bot.DispatcherOption{bot.WithDelivery(bot.WebChat)}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			c := newClient(t)
			if tt.name == "archive" {
				tt.sopts = append(configs[1].opts, redisdialogs.WithArchive(newArchive(t, sqliteDB(t))))
			}
			var rt counter
			c.AddHook(&rt)
			d := bot.NewDispatcher(newStore(t, c, tt.sopts...), shopHandler, tt.opts...)
			ms := shortConversation("rt")
			if _, err := d.Dispatch(ctx, ms[0]); err != nil { // loads the scripts
				t.Fatal(err)
			}
			for _, m := range ms[1:] {
				before := rt.n.Load()
				if _, err := d.Dispatch(ctx, m); err != nil {
					t.Fatal(err)
				}
				if got := rt.n.Load() - before; got != 2 {
					t.Errorf("Dispatch(%s) took %d round trips, want 2", m.ID, got)
				}
			}
			before := rt.n.Load()
			if _, err := d.Dispatch(ctx, ms[0]); !errors.Is(err, bot.ErrDuplicate) {
				t.Fatalf("redelivery = %v, want ErrDuplicate", err)
			}
			if got := rt.n.Load() - before; got != 1 {
				t.Errorf("a redelivery took %d round trips, want 1", got)
			}
		})
	}
}

// TestIdleAfterDelivery checks that a conversation whose replies were all
// delivered keeps nothing for the outbound queue: no delivery fields in
// its hash (with pseudonyms, not the raw key either), no member in the
// queue's set.
func TestIdleAfterDelivery(t *testing.T) {
	for _, cfg := range configs {
		t.Run(cfg.name, func(t *testing.T) { testIdleAfterDelivery(t, cfg.opts...) })
	}
}

func testIdleAfterDelivery(t *testing.T, opts ...redisdialogs.Option) {
	ctx := context.Background()
	c := newClient(t)
	s := newStore(t, c, opts...)
	d := bot.NewDispatcher(s, shopHandler, bot.WithDelivery(bot.WebChat))
	const conv = "Zk3pQ9xV2mT8rL1aB4cD6e"
	key := bot.WebChat + ":" + conv
	for _, m := range shortConversation(conv) {
		if _, err := d.Dispatch(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	outbox, _ := s.QueueKeys()
	m := s.Keys(key)[0]
	if fields := c.HKeys(ctx, m).Val(); !slices.Contains(fields, "oc") || c.ZCard(ctx, outbox).Val() != 1 {
		t.Fatalf("after 3 turns with Deliver: hash fields %v, %d queued; want the delivery fields and one queued", fields, c.ZCard(ctx, outbox).Val())
	}
	ps, err := s.Due(ctx, time.Now(), 10, time.Minute)
	if err != nil || len(ps) != 1 {
		t.Fatalf("Due = %v, %v; want one", ps, err)
	}
	if err := s.Settle(ctx, ps[0], bot.Outcome{Through: ps[0].Last}); err != nil {
		t.Fatalf("Settle = %v", err)
	}
	fields := c.HKeys(ctx, m).Val()
	for _, f := range fields {
		if !slices.Contains([]string{"n", "q", "v", "f", "t"}, f) {
			t.Errorf("hash fields once delivered = %v, want only counters (n, q, v, f, t)", fields)
			break
		}
	}
	if n := c.Exists(ctx, outbox).Val(); n != 0 {
		t.Errorf("the outbound queue's set exists once everything is delivered")
	}
}

// TestIdleSession checks what an idle conversation leaves in Redis: no
// lock or queue, a TTL on every key, and under 2 KB in all (MEMORY USAGE);
// with pseudonyms, no key name holds the conversation's id.
func TestIdleSession(t *testing.T) {
	for _, cfg := range configs {
		t.Run(cfg.name, func(t *testing.T) { testIdleSession(t, cfg.opts...) })
	}
}

func testIdleSession(t *testing.T, opts ...redisdialogs.Option) {
	ctx := context.Background()
	c := newClient(t)
	s := newStore(t, c, opts...)
	d := bot.NewDispatcher(s, shopHandler)
	const conv = "Zk3pQ9xV2mT8rL1aB4cD6e" // a web-chat session id
	for _, m := range shortConversation(conv) {
		if _, err := d.Dispatch(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	keys, err := c.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for _, k := range s.Keys(bot.WebChat + ":" + conv)[:4] { // m s l d
		want[k] = true
	}
	total, session := int64(0), int64(0)
	for _, k := range keys {
		if !want[k] {
			t.Errorf("idle conversation left key %q, want only %v", k, want)
			continue
		}
		if ttl := c.PTTL(ctx, k).Val(); ttl <= 0 {
			t.Errorf("PTTL(%q) = %v, want a TTL", k, ttl)
		}
		n, err := c.MemoryUsage(ctx, k).Result()
		if err != nil {
			t.Fatalf("MEMORY USAGE %s: %v", k, err)
		}
		t.Logf("%-45s %4d bytes", k, n)
		total += n
		if !strings.HasSuffix(k, ":l") {
			session += n
		}
	}
	t.Logf("idle session after 3 turns: %d bytes in all, %d without the log", total, session)
	if len(keys) != len(want) {
		t.Errorf("keys = %v, want %d", keys, len(want))
	}
	if total >= 2048 {
		t.Errorf("an idle 3-turn session takes %d bytes, want under 2 KB", total)
	}
	for _, k := range keys {
		if len(opts) > 0 && strings.Contains(k, conv) {
			t.Errorf("with pseudonyms, key %q holds the conversation's id %q", k, conv)
		}
	}
}

// pseudonym computes the documented pseudonym of key under secret, and the
// namespace of secret, independently of the package.
func pseudonym(secret []byte, key string) (name, namespace string) {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte("bottega-conv-v1\x00" + key))
	name = base64.RawURLEncoding.EncodeToString(mac.Sum(nil)[:16])
	mac = hmac.New(sha256.New, secret)
	mac.Write([]byte("bottega-queue-v1"))
	return name, base64.RawURLEncoding.EncodeToString(mac.Sum(nil)[:6])
}

// TestPseudonymFormula checks that the key names, the pub/sub channel and
// the outbound queue follow the documented formula, which sqldialogs
// shares, and that the raw key is kept in the hash while queued only.
func TestPseudonymFormula(t *testing.T) {
	ctx := context.Background()
	secret := []byte("a secret for the known-answer test")
	const key = "telegram:777000111"
	name, ns := pseudonym(secret, key)
	c := newClient(t)
	s := newStore(t, c, redisdialogs.WithPseudonyms(secret))
	want := []string{"m", "s", "l", "d", "k", "q"}
	for i, x := range want {
		want[i] = "bottega:{" + name + "}:" + x
	}
	if got := s.Keys(key); !slices.Equal(got, want) {
		t.Errorf("Keys(%q) = %q, want %q", key, got, want)
	}
	if outbox, dead := s.QueueKeys(); outbox != "bottega:outbox:"+ns || dead != "bottega:outbox:dead" {
		t.Errorf("QueueKeys() = %q, %q; want %q, %q", outbox, dead, "bottega:outbox:"+ns, "bottega:outbox:dead")
	}

	ps := c.PSubscribe(ctx, "bottega:ev:*")
	defer ps.Close()
	if _, err := ps.Receive(ctx); err != nil {
		t.Fatalf("PSUBSCRIBE = %v", err)
	}
	d := bot.NewDispatcher(s, shopHandler, bot.WithDelivery(bot.Telegram))
	es, err := d.Dispatch(ctx, bot.Message{Channel: bot.Telegram, ID: "1", Conversation: "777000111", Text: "ciao"})
	if err != nil || len(es) == 0 {
		t.Fatalf("Dispatch = %v, %v; want entries", es, err)
	}
	msg, err := ps.ReceiveTimeout(ctx, 5*time.Second)
	if m, ok := msg.(*redis.Message); !ok || !strings.HasSuffix(m.Channel, ":"+name) || strings.Contains(m.Channel, "777000111") {
		t.Errorf("the commit published %v, %v; want a message on a channel named by the pseudonym %q", msg, err, name)
	} else if want := strconv.FormatInt(es[len(es)-1].Seq, 10); m.Payload != want {
		t.Errorf("the commit published payload %q, want %q (the last Seq committed)", m.Payload, want)
	}
	if got := c.HGet(ctx, want[0], "ok").Val(); got != key {
		t.Errorf("hash field ok while queued = %q, want %q", got, key)
	}
	outbox, _ := s.QueueKeys()
	if got := c.ZRange(ctx, outbox, 0, -1).Val(); !slices.Equal(got, []string{name}) {
		t.Errorf("outbound queue members = %q, want the pseudonym %q", got, name)
	}
	p, err := s.Due(ctx, time.Now(), 10, time.Minute)
	if err != nil || len(p) != 1 || p[0].Key != key {
		t.Fatalf("Due = %+v, %v; want %q", p, err, key)
	}
	if err := s.Settle(ctx, p[0], bot.Outcome{Through: p[0].Last}); err != nil {
		t.Fatal(err)
	}
	if got := c.HExists(ctx, want[0], "ok").Val(); got {
		t.Errorf("hash field ok exists once delivered, want it deleted")
	}
}

// TestSubscribeSeq checks the values a subscriber gets: the last Seq a
// commit (a turn, an Append) published, 0 for a payload that is not a
// Seq, and 0 once the pub/sub connection is re-established after an
// outage, when commits may have been missed.
func TestSubscribeSeq(t *testing.T) {
	ctx := context.Background()
	opts, err := redis.ParseURL(testserver.Redis(t))
	if err != nil {
		t.Fatalf("redis.ParseURL = %v", err)
	}
	p := testserver.NewProxy(t, opts.Addr)
	opts.Addr = p.Addr
	c := redis.NewClient(opts)
	t.Cleanup(func() { c.Close() })
	s := newStore(t, c)
	const key = "webchat:seq"
	ch, cancel := s.Subscribe(ctx, key)
	defer cancel()
	recv := func(what string) int64 {
		t.Helper()
		return bottest.NextSignal(t, ch, what)
	}

	d := bot.NewDispatcher(s, shopHandler)
	msg := func(id string, seq int64) bot.Message {
		return bot.Message{Channel: bot.WebChat, ID: id, Conversation: "seq", Text: "ciao", Seq: seq}
	}
	es, err := d.Dispatch(ctx, msg("m1", 1))
	if err != nil {
		t.Fatalf("Dispatch = %v", err)
	}
	if got, want := recv("after a turn"), es[len(es)-1].Seq; got != want {
		t.Errorf("signal after a turn = %d, want %d (its last Seq)", got, want)
	}
	es, err = d.Append(ctx, key, bot.FromAgent, []bot.Reply{{Text: "Sono Giulia, ti aiuto io."}})
	if err != nil {
		t.Fatalf("Append = %v", err)
	}
	if got, want := recv("after an Append"), es[len(es)-1].Seq; got != want {
		t.Errorf("signal after an Append = %d, want %d (its Seq)", got, want)
	}

	// The channel is the documented one: prefix, "ev:", database, name.
	channel := "bottega:ev:" + strconv.Itoa(opts.DB) + ":" + key
	for _, tt := range []struct {
		payload string
		want    int64
	}{
		{"41", 41},
		{"", 0},
		{"garbage", 0},
		{"-3", 0},
		{"12abc", 0},
		{"99999999999999999999", 0},
	} {
		if err := c.Publish(ctx, channel, tt.payload).Err(); err != nil {
			t.Fatalf("PUBLISH = %v", err)
		}
		if got := recv("for payload " + strconv.Quote(tt.payload)); got != tt.want {
			t.Errorf("signal for payload %q = %d, want %d", tt.payload, got, tt.want)
		}
	}

	p.Down()
	time.Sleep(100 * time.Millisecond)
	p.Up()
	if got := recv("after the connection came back"); got != 0 {
		t.Errorf("signal after the connection came back = %d, want 0 (commits may have been missed)", got)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		es, err = d.Dispatch(ctx, msg("m2", 2))
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Dispatch 15s after Redis came back = %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got, want := recv("after a turn once back"), es[len(es)-1].Seq; got != want {
		t.Errorf("signal after a turn once back = %d, want %d", got, want)
	}
}
