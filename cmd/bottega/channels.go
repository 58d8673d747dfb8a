package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bottega-shop/bottega/bot"
	"github.com/bottega-shop/bottega/bot/messenger"
	"github.com/bottega-shop/bottega/bot/telegram"
)

// The push channels.
//
// Telegram and Messenger post each shopper message to a webhook, which
// answers once the turn is committed. The replies are not sent from the
// webhook: the dispatcher commits them with Update.Deliver (WithDelivery),
// which queues the conversation in the conversation store's outbox in the
// same write, and the outbound queue (bot.Outbound) sends them under each
// platform's rate limits, retrying and dead-lettering. Every replica runs
// a queue worker; the store's leases keep a conversation on one at a time.

// pushChannels are the channels whose replies the outbound queue sends.
var pushChannels = []string{bot.Telegram, bot.Messenger}

// channels are the configured push channels and the outbound queue that
// delivers their replies. The zero value (no channel configured) runs
// nothing.
type channels struct {
	telegram  *telegram.Webhook
	messenger *messenger.Webhook
	outbound  *bot.Outbound
	events    *channelEvents
}

// openChannels builds the webhooks of the configured channels on c's
// dispatcher and the outbound queue on c's store, with its metrics in reg.
func openChannels(cfg *config, c *chat, log *slog.Logger, reg prometheus.Registerer) (*channels, error) {
	ch := &channels{}
	if cfg.TelegramBotToken == "" && cfg.MessengerAppSecret == "" {
		return ch, nil
	}
	ch.events = newChannelEvents(log, reg)
	ch.outbound = bot.NewOutbound(c.outbox, c.dispatcher, log, bot.WithOutboundMetrics(reg))
	// The queue polls its store; a commit in this process also wakes it at
	// once (the webhooks' outbox hooks queue nothing: see wakeOutbound).
	wake := wakeOutbound{ch.outbound}

	if cfg.TelegramBotToken != "" {
		sender, err := telegram.NewSender(cfg.TelegramBotToken, cfg.TelegramAPIURL, telegram.WithSenderLogger(log))
		if err != nil {
			return nil, fmt.Errorf("TELEGRAM_BOT_TOKEN: %w", err)
		}
		// The latest message of each chat, which tells an edit worth
		// answering, is kept in memory (the default).
		ch.telegram = telegram.NewWebhook(cfg.TelegramWebhookSecret, c.dispatcher, sender, ch.events, log,
			telegram.WithOutbox(telegram.OutboxFunc(func(ctx context.Context, _ int64, entries []bot.Entry) error {
				return wake.Enqueue(ctx, "", entries)
			})))
		ch.outbound.Register(bot.Telegram, ch.telegram.Deliverer(), bot.TelegramLimits)
	}
	if cfg.MessengerAppSecret != "" {
		// Windows and thread owners are kept in memory (the default
		// MemThreads), right for one replica: see the README.
		opts := []messenger.Option{
			messenger.WithSender(messenger.NewSender(cfg.MessengerGraphURL, cfg.MessengerPageToken, nil)),
			messenger.WithOutbox(wake),
		}
		if cfg.MessengerAppID != "" {
			opts = append(opts, messenger.WithAppID(cfg.MessengerAppID))
		}
		ch.messenger = messenger.NewWebhook(cfg.MessengerAppSecret, cfg.MessengerVerify, c.dispatcher, ch.events, log, opts...)
		ch.outbound.Register(bot.Messenger, ch.messenger.Deliverer(), bot.MessengerLimits)
	}
	return ch, nil
}

// names lists the channels the server answers on.
func (ch *channels) names() []string {
	out := []string{bot.WebChat}
	if ch.telegram != nil {
		out = append(out, bot.Telegram)
	}
	if ch.messenger != nil {
		out = append(out, bot.Messenger)
	}
	return out
}

// run runs the outbound queue until ctx ends.
func (ch *channels) run(ctx context.Context, log *slog.Logger) {
	if ch.outbound == nil {
		return
	}
	if err := ch.outbound.Run(ctx); err != nil && ctx.Err() == nil {
		log.Error("outbound queue stopped", "err", err)
	}
}

// wait waits for the calls the webhooks started after answering (Telegram
// callback answers and group notes). Call it once the server has stopped
// taking requests.
func (ch *channels) wait() {
	if ch.telegram != nil {
		ch.telegram.Wait()
	}
}

// wakeOutbound is the webhooks' outbox hook, called after each committed
// turn. It queues nothing — the commit itself queued the replies, durably
// — and only wakes this process's outbound queue, so that the replies go
// out at once instead of at its next poll (up to bot.DefaultPoll later).
type wakeOutbound struct{ o *bot.Outbound }

// Enqueue implements messenger.Outbox.
func (w wakeOutbound) Enqueue(context.Context, string, []bot.Entry) error {
	w.o.Notify()
	return nil
}

// channelEvents records what the push channels learn of shoppers besides
// their messages — who blocked the bot or cannot be written to (Telegram's
// my_chat_member and 403 answers, Messenger's 551 answers), and
// Messenger's deliveries, reads, opt-ins and handovers — as the counter
// bottega_channel_events_total{channel,kind} and, for reachability, a log
// line without personal data. Nothing reads reachability back yet (the
// proactive messages that will need it are not built), so nothing is
// stored: the deliverers already stop at a refused send, and the webhook
// keeps a Messenger opt-in token nowhere.
type channelEvents struct {
	log    *slog.Logger
	counts *prometheus.CounterVec
}

func newChannelEvents(log *slog.Logger, reg prometheus.Registerer) *channelEvents {
	e := &channelEvents{
		log: log,
		counts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bottega_channel_events_total",
			Help: "Events of the push channels other than shopper messages, by channel and kind.",
		}, []string{"channel", "kind"}),
	}
	reg.MustRegister(e.counts)
	return e
}

// SetReachable implements telegram.Reachability.
func (e *channelEvents) SetReachable(_ context.Context, key string, reachable bool) error {
	kind := "blocked"
	if reachable {
		kind = "unblocked"
	}
	e.counts.WithLabelValues(channelOf(key), kind).Inc() // the webhook logs the change
	return nil
}

// Event implements messenger.EventSink.
func (e *channelEvents) Event(_ context.Context, ev messenger.Event) error {
	kind := string(ev.Kind)
	if ev.Kind == messenger.KindOptin && ev.Optin != nil && ev.Optin.Status != "" {
		kind += "_" + ev.Optin.Status // optin_stop, optin_resume
	}
	e.counts.WithLabelValues(bot.Messenger, kind).Inc()
	if ev.Kind == messenger.KindUnreachable {
		e.log.Info("shopper reachability changed", "channel", bot.Messenger, "reachable", false)
	}
	return nil
}

// channelOf is the channel part of a conversation key.
func channelOf(key string) string {
	c, _, _ := strings.Cut(key, ":")
	return c
}

// checkChannels validates the Telegram and Messenger variables. A channel
// is on when its main secret is set (TELEGRAM_BOT_TOKEN,
// MESSENGER_APP_SECRET) and then needs the others; a value never appears
// in an error.
func (c *config) checkChannels(bad func(name, format string, args ...any)) {
	switch {
	case c.TelegramBotToken != "":
		if !telegramToken(c.TelegramBotToken) {
			bad("TELEGRAM_BOT_TOKEN", "want the token @BotFather gave, digits, a colon and letters (123456789:AA…)")
		}
		switch {
		case c.TelegramWebhookSecret == "":
			bad("TELEGRAM_WEBHOOK_SECRET", "required when TELEGRAM_BOT_TOKEN is set: 1-256 characters of A-Z, a-z, 0-9, _ and -")
		case !webhookSecret(c.TelegramWebhookSecret):
			bad("TELEGRAM_WEBHOOK_SECRET", "want 1-256 characters of A-Z, a-z, 0-9, _ and - (Telegram's rule for secret_token)")
		}
		checkAPIURL("TELEGRAM_API_URL", c.TelegramAPIURL, "the bot token", bad)
	case c.TelegramWebhookSecret != "":
		bad("TELEGRAM_BOT_TOKEN", "required when TELEGRAM_WEBHOOK_SECRET is set")
	}
	switch {
	case c.MessengerAppSecret != "":
		if c.MessengerVerify == "" {
			bad("MESSENGER_VERIFY_TOKEN", "required when MESSENGER_APP_SECRET is set: the verify token you type in Meta's webhook settings")
		}
		if c.MessengerPageToken == "" {
			bad("MESSENGER_PAGE_TOKEN", "required when MESSENGER_APP_SECRET is set: the Page access token replies are sent with")
		}
		checkAPIURL("MESSENGER_GRAPH_URL", c.MessengerGraphURL, "the Page token", bad)
	case c.MessengerPageToken != "":
		bad("MESSENGER_APP_SECRET", "required when MESSENGER_PAGE_TOKEN is set: every webhook body is checked with it")
	case c.MessengerVerify != "":
		bad("MESSENGER_APP_SECRET", "required when MESSENGER_VERIFY_TOKEN is set: every webhook body is checked with it")
	}
	if c.MessengerAppID != "" && strings.Trim(c.MessengerAppID, "0123456789") != "" {
		bad("MESSENGER_APP_ID", "want the numeric id of your Meta app")
	}
}

// checkAPIURL refuses a platform API URL over plain http unless it is on
// this machine (a fake API in tests): the credential would travel in clear.
func checkAPIURL(name, v, credential string, bad func(name, format string, args ...any)) {
	u, err := url.Parse(v)
	if err != nil || u.Scheme != "http" {
		return // https, or reported by checkHTTPURL
	}
	if !loopbackHost(u.Hostname()) {
		bad(name, "want https: %s would travel in clear (http is allowed only for a loopback address)", credential)
	}
}

// loopbackHost reports whether host names this machine's loopback interface.
func loopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// telegramToken reports whether s has the shape of a bot token: the bot's
// numeric id, a colon, and letters, digits, _ and -.
func telegramToken(s string) bool {
	id, rest, ok := strings.Cut(s, ":")
	if !ok || id == "" || rest == "" || strings.Trim(id, "0123456789") != "" {
		return false
	}
	return webhookSecret(rest)
}

// webhookSecret reports whether s is a valid secret_token for setWebhook:
// 1–256 characters of A-Z, a-z, 0-9, _ and -.
func webhookSecret(s string) bool {
	if len(s) == 0 || len(s) > 256 {
		return false
	}
	for _, c := range []byte(s) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
