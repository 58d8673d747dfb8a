package main

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"

	"github.com/bottega-shop/bottega/bot"
	"github.com/bottega-shop/bottega/bot/messenger"
	"github.com/bottega-shop/bottega/bot/telegram"
	"github.com/bottega-shop/bottega/web"
)

// The webhook load: -webhooks telegram|messenger.
//
// Simulated shoppers post Telegram updates (with the webhook secret) or
// signed Messenger webhook bodies (with -batch messages from as many
// shoppers each) at the server's webhook, many chats at once, and loadgen
// measures the acknowledgements: a webhook is answered 200 once its turn is
// committed, replies queued, so the ack latency is the time Telegram or
// Meta waits. The replies go out through the outbound queue, under the
// platform's rate limits, to a fake platform API that loadgen runs on
// loopback and that counts them: how many arrived, the most in any one
// second and, for Telegram, how often one chat got two messages less than a
// second apart.

// Aims of the webhook benchmark.
const aimAckP99 = 10 * time.Millisecond

// Defaults for the benchmark's secrets; -target servers take theirs from
// TELEGRAM_WEBHOOK_SECRET and MESSENGER_APP_SECRET. Loopback only.
const (
	loadgenBotToken      = "4242:loadgen-benchmark-token"
	loadgenWebhookSecret = "loadgen-benchmark-secret"
	loadgenAppSecret     = "loadgen-benchmark-app-secret"
	loadgenPageToken     = "loadgen-benchmark-page-token"
	loadgenVerifyToken   = "loadgen-benchmark-verify-token"
)

// repliesMetric is the Prometheus counter of the replies the benchmark
// server's fake platform API received, read by a loadgen driving it with
// -target.
const repliesMetric = "bottega_loadgen_platform_replies_total"

// platformAPI is a fake Telegram Bot API or Graph Send API on loopback
// that answers every send as the platform does when it accepts it and
// counts the sends.
type platformAPI struct {
	channel string
	url     string // base URL to configure the sender with
	srv     *http.Server
	served  chan error

	replies atomic.Int64

	mu       sync.Mutex
	second   int64 // the current second (Unix)
	inSecond int64
	peak     int64
	last     map[string]time.Time // chat → its last send (Telegram)
	tooSoon  int64
	bad      int64 // requests that are not the platform's
}

// startPlatformAPI starts the fake API for channel on a loopback port.
func startPlatformAPI(channel string) (*platformAPI, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("fake %s API: %w", channel, err)
	}
	p := &platformAPI{channel: channel, served: make(chan error, 1), last: make(map[string]time.Time)}
	base := "http://" + ln.Addr().String()
	if channel == bot.Telegram {
		p.url = base
	} else {
		p.url = base + "/v25.0"
	}
	p.srv = &http.Server{Handler: http.HandlerFunc(p.serve), ReadHeaderTimeout: 5 * time.Second}
	go func() { p.served <- p.srv.Serve(ln) }()
	return p, nil
}

// Close stops the fake API.
func (p *platformAPI) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := p.srv.Shutdown(ctx)
	<-p.served
	return err
}

func (p *platformAPI) serve(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if p.channel == bot.Telegram {
		p.telegram(w, r)
	} else {
		p.graph(w, r)
	}
}

// telegram answers POST /bot<token>/<method> with multipart/form-data, as
// go-telegram/bot sends it.
func (p *platformAPI) telegram(w http.ResponseWriter, r *http.Request) {
	method := r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:]
	if r.URL.Path != "/bot"+loadgenBotToken+"/"+method {
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, `{"ok":false,"error_code":401,"description":"Unauthorized"}`)
		return
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "multipart/form-data" {
		if err := r.ParseMultipartForm(1 << 20); err != nil {
			p.refuse(w, `{"ok":false,"error_code":400,"description":"Bad Request: can't parse the request"}`)
			return
		}
	}
	switch method {
	case "sendMessage", "sendPhoto":
		chat := r.FormValue("chat_id")
		id, err := strconv.ParseInt(chat, 10, 64)
		if err != nil || id == 0 || (method == "sendMessage" && strings.TrimSpace(r.FormValue("text")) == "") {
			p.refuse(w, `{"ok":false,"error_code":400,"description":"Bad Request: message text is empty"}`)
			return
		}
		n := p.sent(chat)
		fmt.Fprintf(w, `{"ok":true,"result":{"message_id":%d,"date":%d,"chat":{"id":%d,"type":"private","first_name":"Shopper"}}}`,
			n, time.Now().Unix(), id)
	default:
		io.WriteString(w, `{"ok":true,"result":true}`)
	}
}

// graph answers POST /v25.0/me/messages with a JSON body and the Page
// token as a bearer token.
func (p *platformAPI) graph(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/v25.0/me/messages" || r.Header.Get("Authorization") != "Bearer "+loadgenPageToken {
		p.refuse(w, `{"error":{"message":"Invalid OAuth access token.","type":"OAuthException","code":190}}`)
		return
	}
	var body struct {
		Recipient struct {
			ID string `json:"id"`
		} `json:"recipient"`
		Message json.RawMessage `json:"message"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&body); err != nil || body.Recipient.ID == "" || len(body.Message) == 0 {
		p.refuse(w, `{"error":{"message":"(#100) The parameter message is required","type":"OAuthException","code":100}}`)
		return
	}
	n := p.sent("")
	fmt.Fprintf(w, `{"recipient_id":%q,"message_id":"m_out_%d"}`, body.Recipient.ID, n)
}

func (p *platformAPI) refuse(w http.ResponseWriter, body string) {
	p.mu.Lock()
	p.bad++
	p.mu.Unlock()
	w.WriteHeader(http.StatusBadRequest)
	io.WriteString(w, body)
}

// sent counts a send to chat ("" when pace per chat is not checked) and
// returns its number.
func (p *platformAPI) sent(chat string) int64 {
	now := time.Now()
	p.mu.Lock()
	if s := now.Unix(); s != p.second {
		p.second, p.inSecond = s, 0
	}
	p.inSecond++
	p.peak = max(p.peak, p.inSecond)
	if chat != "" {
		if prev, ok := p.last[chat]; ok && now.Sub(prev) < 950*time.Millisecond {
			p.tooSoon++
		}
		p.last[chat] = now
	}
	p.mu.Unlock()
	return p.replies.Add(1)
}

// stats returns the peak sends in one second, the sends to one chat less
// than a second after the last, and the requests refused.
func (p *platformAPI) stats() (peak, tooSoon, bad int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.peak, p.tooSoon, p.bad
}

// channelServer is what the webhook mode adds to the benchmark server:
// the channel's webhook on the dispatcher, and the outbound queue sending
// its replies to the fake platform API.
type channelServer struct {
	api       *platformAPI
	telegram  *telegram.Webhook
	messenger *messenger.Webhook
	outbox    bot.OutboxStore
	stopQueue context.CancelFunc
	queueDone chan struct{}
}

// startChannel builds the webhook of cfg.webhooks on d, with cfg's
// secrets, and runs the outbound queue on store, with its metrics and the
// fake API's reply count in reg.
func startChannel(cfg *config, store bot.Store, d *bot.Dispatcher, log *slog.Logger, reg prometheus.Registerer) (*channelServer, error) {
	channel := cfg.webhooks
	outbox, ok := store.(bot.OutboxStore)
	if !ok {
		return nil, errors.New("conversation store: it keeps no outbound queue")
	}
	api, err := startPlatformAPI(channel)
	if err != nil {
		return nil, err
	}
	c := &channelServer{api: api, outbox: outbox, queueDone: make(chan struct{})}
	reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: repliesMetric,
		Help: "Replies the benchmark server's fake platform API received.",
	}, func() float64 { return float64(api.replies.Load()) }))
	q := bot.NewOutbound(outbox, d, log, bot.WithOutboundMetrics(reg))
	switch channel {
	case bot.Telegram:
		sender, err := telegram.NewSender(loadgenBotToken, api.url)
		if err != nil {
			api.Close()
			return nil, err
		}
		c.telegram = telegram.NewWebhook(cfg.telegramSecret, d, sender, nil, log,
			telegram.WithOutbox(telegram.OutboxFunc(func(context.Context, int64, []bot.Entry) error { q.Notify(); return nil })))
		q.Register(bot.Telegram, c.telegram.Deliverer(), bot.TelegramLimits)
	case bot.Messenger:
		c.messenger = messenger.NewWebhook(cfg.messengerSecret, loadgenVerifyToken, d, nil, log,
			messenger.WithSender(messenger.NewSender(api.url, loadgenPageToken, nil)),
			messenger.WithOutbox(notifyOutbox{q}))
		q.Register(bot.Messenger, c.messenger.Deliverer(), bot.MessengerLimits)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.stopQueue = cancel
	go func() {
		defer close(c.queueDone)
		if err := q.Run(ctx); err != nil && ctx.Err() == nil {
			log.Error("outbound queue stopped", "err", err)
		}
	}()
	return c, nil
}

// notifyOutbox wakes the outbound queue after a commit; the commit itself
// queued the replies.
type notifyOutbox struct{ q *bot.Outbound }

func (n notifyOutbox) Enqueue(context.Context, string, []bot.Entry) error { n.q.Notify(); return nil }

// configure puts the webhook into the server's configuration.
func (c *channelServer) configure(cfg *web.Config) {
	if c != nil {
		cfg.Telegram, cfg.Messenger = c.telegram, c.messenger
	}
}

// Close stops the outbound queue and the fake API. Call it after the
// HTTP server has stopped.
func (c *channelServer) Close() error {
	if c.telegram != nil {
		c.telegram.Wait()
	}
	c.stopQueue()
	<-c.queueDone
	return c.api.Close()
}

// hookLoad is one run of simulated shoppers posting to a webhook.
type hookLoad struct {
	crowd
	channel  string
	client   *fasthttp.HostClient
	uri      string
	secret   string
	run      string       // this run's id, in message ids
	chats    atomic.Int64 // conversations opened
	ids      atomic.Int64 // update ids, Messenger timestamps' tie-breakers
	chatBase int64
}

func newHookLoad(cfg *config, target string) *hookLoad {
	host := strings.TrimPrefix(strings.TrimPrefix(target, "http://"), "https://")
	l := &hookLoad{
		crowd: crowd{cfg: cfg}, channel: cfg.webhooks,
		client: &fasthttp.HostClient{Addr: host, MaxConns: cfg.conversations, IsTLS: strings.HasPrefix(target, "https://"),
			ReadTimeout: cfg.turnTimeout, WriteTimeout: cfg.turnTimeout},
		uri: target + "/webhooks/" + cfg.webhooks,
	}
	var b [8]byte
	rand.Read(b[:])
	l.run = hex.EncodeToString(b[:4])
	// Chat ids and update ids of their own, so that runs against one store
	// never meet each other's conversations or done marks.
	l.chatBase = 1_000_000_000 + int64(binary.BigEndian.Uint32(b[4:])%1_000_000)*1000
	l.ids.Store(int64(binary.BigEndian.Uint32(b[:4])) << 8)
	l.secret = cfg.telegramSecret
	if l.channel == bot.Messenger {
		l.secret = cfg.messengerSecret
	}
	return l
}

// shopper holds one conversation after another — a Telegram chat, or
// -batch Messenger shoppers writing together — each of turnsPerConv
// webhook bodies from its script, until the run is over.
func (l *hookLoad) shopper(ctx context.Context, i int) []sample {
	sc := scripts[i%len(scripts)]
	pace := newPacer(l.cfg)
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	var (
		out  []sample
		body []byte
	)
	for ctx.Err() == nil {
		conv := l.chatBase + l.chats.Add(1)
		for turn := range l.cfg.turnsPerConv {
			if !l.take() {
				return out
			}
			start, ok := pace.wait(ctx, l.end)
			if !ok {
				return out
			}
			line := sc.lines[turn%len(sc.lines)]
			req.Reset()
			req.SetRequestURI(l.uri)
			req.Header.SetMethod(fasthttp.MethodPost)
			req.Header.SetContentType("application/json")
			if l.channel == bot.Telegram {
				body = l.telegramUpdate(body[:0], conv, sc.locale, line)
				req.Header.Set("X-Telegram-Bot-Api-Secret-Token", l.secret)
			} else {
				body = l.messengerBody(body[:0], conv, line)
				req.Header.Set(messenger.SignatureHeader, messenger.Sign(body, l.secret))
			}
			req.SetBody(body)
			err := l.client.DoTimeout(req, resp, l.cfg.turnTimeout)
			switch {
			case errors.Is(err, fasthttp.ErrTimeout):
				l.fail("timeout", errors.New("no answer within -turn-timeout"))
				continue
			case err != nil:
				if ctx.Err() != nil {
					return out
				}
				l.fail("transport", err)
				continue
			case resp.StatusCode() != http.StatusOK:
				l.fail(fmt.Sprintf("status:%d", resp.StatusCode()), fmt.Errorf("HTTP %d: %.200s", resp.StatusCode(), resp.Body()))
				continue
			}
			now := time.Now()
			out = append(out, sample{done: now, lat: now.Sub(start)})
		}
	}
	return out
}

// telegramUpdate appends a private-chat text message update of chat to b.
func (l *hookLoad) telegramUpdate(b []byte, chat int64, locale, text string) []byte {
	id := l.ids.Add(1)
	b = append(b, `{"update_id":`...)
	b = strconv.AppendInt(b, id, 10)
	b = append(b, `,"message":{"message_id":`...)
	b = strconv.AppendInt(b, id, 10)
	b = append(b, `,"from":{"id":`...)
	b = strconv.AppendInt(b, chat, 10)
	b = append(b, `,"is_bot":false,"first_name":"Shopper","language_code":`...)
	b = strconv.AppendQuote(b, locale)
	b = append(b, `},"chat":{"id":`...)
	b = strconv.AppendInt(b, chat, 10)
	b = append(b, `,"type":"private","first_name":"Shopper"},"date":`...)
	b = strconv.AppendInt(b, time.Now().Unix(), 10)
	b = append(b, `,"text":`...)
	b, _ = appendJSONString(b, text)
	return append(b, "}}"...)
}

// messengerBody appends a webhook body with one message from each of the
// -batch shoppers of conversation conv to b.
func (l *hookLoad) messengerBody(b []byte, conv int64, text string) []byte {
	now := time.Now().UnixMilli()
	b = append(b, `{"object":"page","entry":[{"id":"PAGE1","time":`...)
	b = strconv.AppendInt(b, now, 10)
	b = append(b, `,"messaging":[`...)
	for k := range l.cfg.batch {
		if k > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"sender":{"id":"`...)
		b = strconv.AppendInt(b, conv*100+int64(k), 10)
		b = append(b, `"},"recipient":{"id":"PAGE1"},"timestamp":`...)
		b = strconv.AppendInt(b, now, 10)
		b = append(b, `,"message":{"mid":"m_`...)
		b = append(b, l.run...)
		b = append(b, '_')
		b = strconv.AppendInt(b, l.ids.Add(1), 10)
		b = append(b, `","text":`...)
		b, _ = appendJSONString(b, text)
		b = append(b, "}}"...)
	}
	return append(b, "]}]}"...)
}

func appendJSONString(b []byte, s string) ([]byte, error) {
	q, err := json.Marshal(s)
	return append(b, q...), err
}

// WebhookReport is what a webhook run measured. Pointer fields are absent
// when the run could not measure them (a -target that is not loadgen's
// own -serve server).
type WebhookReport struct {
	Setup
	Channel string `json:"channel"`
	// Batch is the Messenger messages per webhook body.
	Batch       int     `json:"batch,omitempty"`
	OfferedRate float64 `json:"offered_acks_per_second"`

	Acks              int     `json:"acks"`
	AcksPerSecond     float64 `json:"acks_per_second"`
	MessagesPerSecond float64 `json:"messages_per_second"`
	AckLatencyMS      Latency `json:"ack_latency_ms"`
	ChatsOpened       int64   `json:"chats_opened"`

	// Replies counts the sends the fake platform API accepted by the end
	// of the run (and of -drain); RepliesPerSecond those during the
	// measured window, per second of it.
	Replies          *int64   `json:"replies,omitempty"`
	RepliesPerSecond *float64 `json:"replies_per_second,omitempty"`
	// PeakRepliesPerSecond is the most sends in one calendar second.
	PeakRepliesPerSecond *int64 `json:"peak_replies_per_second,omitempty"`
	// RepliesTooSoon counts Telegram sends to a chat less than a second
	// after the last one to it.
	RepliesTooSoon *int64 `json:"replies_too_soon,omitempty"`
	// RepliesRefused counts sends the fake API refused as malformed.
	RepliesRefused *int64 `json:"replies_refused,omitempty"`
	// Backlog counts the conversations still waiting in the outbound queue
	// at the end.
	Backlog      *int    `json:"outbound_backlog,omitempty"`
	DrainSeconds float64 `json:"drain_seconds,omitempty"`

	Outcome
}

// runWebhooks is the webhook mode: the server (in process or not), the
// load, the drain of the outbound queue and the report.
func runWebhooks(ctx context.Context, cfg *config, stdout io.Writer) error {
	rep := &WebhookReport{Channel: cfg.webhooks}
	srv, target, err := rep.locate(ctx, cfg)
	if err != nil {
		return err
	}
	if srv != nil {
		defer srv.Close()
	}
	scrape := &probes{metricsURL: target + "/metrics", http: &http.Client{Timeout: 5 * time.Second}}
	replies := func(ctx context.Context) (int64, bool) {
		if srv != nil {
			return srv.channel.api.replies.Load(), true
		}
		m, _, err := scrape.scrape(ctx)
		v, ok := m[repliesMetric]
		return int64(v), err == nil && ok
	}

	l := newHookLoad(cfg, target)
	var before int64 // replies when the measured window starts
	res, err := l.drive(ctx, l.shopper, func(ctx context.Context) error { before, _ = replies(ctx); return nil }, nil)
	if err != nil {
		return err
	}
	inWindow, haveReplies := replies(ctx)
	inWindow -= before

	if srv != nil {
		drainStart := time.Now()
		backlog, err := srv.drain(ctx, cfg.drain)
		if err != nil {
			return err
		}
		rep.Backlog = &backlog
		rep.DrainSeconds = time.Since(drainStart).Seconds()
		peak, tooSoon, bad := srv.channel.api.stats()
		rep.PeakRepliesPerSecond, rep.RepliesRefused = &peak, &bad
		if cfg.webhooks == bot.Telegram {
			rep.RepliesTooSoon = &tooSoon
		}
		rep.ServerWarnings, rep.FirstWarnings = srv.warnings.summary()
	}
	if total, ok := replies(ctx); ok && haveReplies {
		rep.Replies = &total
		if res.window > 0 {
			v := float64(inWindow) / res.window.Seconds()
			rep.RepliesPerSecond = &v
		}
	}
	rep.fill(cfg, &res, l.chats.Load())
	return finish(stdout, cfg, rep)
}

// drain waits up to d for the outbound queue to empty and returns what
// is left in it.
func (s *server) drain(ctx context.Context, d time.Duration) (int, error) {
	deadline := time.Now().Add(d)
	for {
		n, err := s.channel.outbox.Backlog(ctx)
		if err != nil {
			return 0, fmt.Errorf("outbound backlog: %w", err)
		}
		if n == 0 || !time.Now().Before(deadline) {
			return n, nil
		}
		select {
		case <-ctx.Done():
			return n, fmt.Errorf("interrupted: %w", ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// fill sets the load figures from a run's result and the chats opened.
func (r *WebhookReport) fill(cfg *config, res *measured, chats int64) {
	r.measuredOver(cfg, res.window)
	r.OfferedRate = cfg.rate
	if cfg.webhooks == bot.Messenger {
		r.Batch = cfg.batch
	}
	r.Acks, r.AcksPerSecond, r.AckLatencyMS = len(res.lats), res.perSecond(), latency(res.lats)
	r.MessagesPerSecond = r.AcksPerSecond * float64(max(r.Batch, 1))
	r.ChatsOpened = chats
	r.countErrors(res)
}

// judge compares the figures with the webhook benchmark's aims.
func (r *WebhookReport) judge() {
	r.Aim = []AimCheck{p99Aim("p99 acknowledgement latency", r.AckLatencyMS, r.Acks, aimAckP99), r.errorsAim()}
	if r.RepliesRefused != nil {
		r.Aim = append(r.Aim, AimCheck{What: "replies the platform refused", Want: "0",
			Got: fmt.Sprint(*r.RepliesRefused), Met: *r.RepliesRefused == 0})
	}
	if r.PeakRepliesPerSecond != nil && r.Channel == bot.Telegram {
		limit := int64(bot.TelegramLimits.PerSecond) + int64(bot.TelegramLimits.Burst)
		r.Aim = append(r.Aim, AimCheck{What: "peak Telegram replies in one second", Want: fmt.Sprintf("<= %d", limit),
			Got: fmt.Sprint(*r.PeakRepliesPerSecond), Met: *r.PeakRepliesPerSecond <= limit})
	}
}

// failure is the error a run ends with, after its report, when the server
// misbehaved rather than was slow.
func (r *WebhookReport) failure() error {
	var more []string
	if r.RepliesRefused != nil && *r.RepliesRefused > 0 {
		more = append(more, fmt.Sprintf("%d replies refused by the platform", *r.RepliesRefused))
	}
	return r.fault(r.Acks, "no webhook acknowledged", more...)
}

func (r *WebhookReport) writeText(w io.Writer) error {
	var b strings.Builder
	batch := ""
	if r.Batch > 0 {
		batch = fmt.Sprintf(", %d messages per body", r.Batch)
	}
	r.writeHead(&b, r.Channel+" webhooks, "+r.where(), "chats", "bodies", batch, r.OfferedRate)
	fmt.Fprintf(&b, "acks           %d (%.0f/s, %.0f messages/s), %d chats opened\n", r.Acks, r.AcksPerSecond, r.MessagesPerSecond, r.ChatsOpened)
	fmt.Fprintf(&b, "ack latency    %v\n", r.AckLatencyMS)
	r.writeErrors(&b)
	if r.Replies != nil {
		fmt.Fprintf(&b, "replies        %d received by the fake %s API", *r.Replies, r.Channel)
		if r.RepliesPerSecond != nil {
			fmt.Fprintf(&b, " (%.1f/s in the measured window)", *r.RepliesPerSecond)
		}
		b.WriteString("\n")
	}
	if r.PeakRepliesPerSecond != nil {
		fmt.Fprintf(&b, "reply pace     at most %d in one second", *r.PeakRepliesPerSecond)
		if r.RepliesTooSoon != nil {
			fmt.Fprintf(&b, "; %d to a chat less than 1 s after the last", *r.RepliesTooSoon)
		}
		fmt.Fprintf(&b, "; %d refused\n", *r.RepliesRefused)
	}
	if r.Backlog != nil {
		fmt.Fprintf(&b, "outbound queue %d conversations still waiting after a drain of %.1fs\n", *r.Backlog, r.DrainSeconds)
	}
	if r.Mode == "in-process" {
		r.writeServerLog(&b)
	}
	r.writeAims(&b)
	_, err := io.WriteString(w, b.String())
	return err
}
