package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bottega-shop/bottega/bot"
	"github.com/bottega-shop/bottega/bot/chanstate"
	"github.com/bottega-shop/bottega/bot/chanstate/sqlchanstate"
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
//
// What the channels learn of shoppers besides their messages — Telegram's
// latest message per chat, who blocked the bot or cannot be written to,
// Messenger's 24-hour windows, thread owners and marketing opt-ins — is
// kept in the system of record (sqlchanstate), so that every replica
// sees it and a restart keeps it. It is personal data: the same store is
// a consent.Holder, registered with the data-rights service, so "forget
// me" erases it.

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
	state     *sqlchanstate.Store
}

// openChannelState opens the push channels' state of shoppers on the
// system of record, applying its migrations; Sweep keeps unreachable marks
// and stopped opt-ins for the retention period. The store is also a
// consent.Holder: give it to openPrivacy and to openChannels.
func openChannelState(cfg *config, b *backends) (*sqlchanstate.Store, error) {
	s, err := sqlchanstate.New(b.db, sqlchanstate.WithRetention(cfg.Retention))
	if err != nil {
		return nil, fmt.Errorf("channel state: %w", err)
	}
	return s, nil
}

// openChannels builds the webhooks of the configured channels on c's
// dispatcher and the outbound queue on c's store, with its metrics in reg.
// state (from openChannelState) keeps what the channels learn of shoppers,
// shared by every replica and kept across restarts.
func openChannels(cfg *config, c *chat, log *slog.Logger, reg prometheus.Registerer, state *sqlchanstate.Store) (*channels, error) {
	ch := &channels{state: state}
	if cfg.TelegramBotToken == "" && cfg.MessengerAppSecret == "" {
		return ch, nil
	}
	ch.events = newChannelEvents(log, reg, ch.state)
	ch.outbound = bot.NewOutbound(c.outbox, c.dispatcher, log, bot.WithOutboundMetrics(reg))
	// The queue polls its store; a commit in this process also wakes it at
	// once (the webhooks' outbox hooks queue nothing: see wakeOutbound).
	wake := wakeOutbound{ch.outbound}

	if cfg.TelegramBotToken != "" {
		sender, err := telegram.NewSender(cfg.TelegramBotToken, cfg.TelegramAPIURL, telegram.WithSenderLogger(log))
		if err != nil {
			return nil, fmt.Errorf("TELEGRAM_BOT_TOKEN: %w", err)
		}
		opts := []telegram.Option{
			telegram.WithOutbox(telegram.OutboxFunc(func(ctx context.Context, _ int64, entries []bot.Entry) error {
				return wake.Enqueue(ctx, "", entries)
			})),
			// The latest message of each chat tells an edit worth answering.
			telegram.WithLastMessages(ch.state),
		}
		ch.telegram = telegram.NewWebhook(cfg.TelegramWebhookSecret, c.dispatcher, sender, ch.events, log, opts...)
		ch.outbound.Register(bot.Telegram, ch.telegram.Deliverer(), bot.TelegramLimits)
	}
	if cfg.MessengerAppSecret != "" {
		opts := []messenger.Option{
			messenger.WithSender(messenger.NewSender(cfg.MessengerGraphURL, cfg.MessengerPageToken, nil)),
			messenger.WithOutbox(wake),
			// Every replica's queue worker reads the windows and owners
			// the webhook, on whichever replica, recorded.
			messenger.WithThreads(ch.state),
		}
		if cfg.MessengerAppID != "" {
			opts = append(opts, messenger.WithAppID(cfg.MessengerAppID))
		}
		ch.messenger = messenger.NewWebhook(cfg.MessengerAppSecret, cfg.MessengerVerify, c.dispatcher, ch.events, log, opts...)
		ch.outbound.Register(bot.Messenger, ch.messenger.Deliverer(), bot.MessengerLimits)
	}
	return ch, nil
}

// outbox is the outbound queue's store while a channel pushes replies,
// for the admin view; nil otherwise.
func (ch *channels) outbox(c *chat) bot.OutboxStore {
	if ch.outbound == nil {
		return nil
	}
	return c.outbox
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

// run runs the outbound queue, and sweeps the channel state every hour,
// until ctx ends.
func (ch *channels) run(ctx context.Context, log *slog.Logger) {
	var wg sync.WaitGroup
	if ch.state != nil {
		wg.Go(func() { ch.sweepLoop(ctx, log) })
	}
	if ch.outbound != nil {
		if err := ch.outbound.Run(ctx); err != nil && ctx.Err() == nil {
			log.Error("outbound queue stopped", "err", err)
		}
	}
	wg.Wait()
}

// sweepLoop deletes the channel state that no longer matters every hour
// until ctx ends.
func (ch *channels) sweepLoop(ctx context.Context, log *slog.Logger) {
	every(ctx, time.Hour, func(ctx context.Context) {
		if n, err := ch.state.Sweep(ctx); err != nil && ctx.Err() == nil {
			log.Warn("sweeping the channel state failed", "err", err)
		} else if n > 0 {
			log.Debug("channel state swept", "rows", n)
		}
	})
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
// my_chat_member and 403 answers, Messenger's 551 answers), Messenger's
// opt-ins with their tokens, stops and resumes — in the channel state,
// when there is one, and counts them, with Messenger's deliveries, reads
// and handovers, as bottega_channel_events_total{channel,kind}; a change
// of reachability is also logged, without personal data. An event is
// counted once recorded: a state that fails makes the webhook answer 503,
// and the platform sends it again.
type channelEvents struct {
	log    *slog.Logger
	counts *prometheus.CounterVec
	state  chanstate.Store // nil: nothing is kept
}

func newChannelEvents(log *slog.Logger, reg prometheus.Registerer, state *sqlchanstate.Store) *channelEvents {
	e := &channelEvents{
		log: log,
		counts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bottega_channel_events_total",
			Help: "Events of the push channels other than shopper messages, by channel and kind.",
		}, []string{"channel", "kind"}),
	}
	if state != nil {
		e.state = state
	}
	reg.MustRegister(e.counts)
	return e
}

// SetReachable implements telegram.Reachability.
func (e *channelEvents) SetReachable(ctx context.Context, key string, reachable bool) error {
	if e.state != nil {
		if err := e.state.SetReachable(ctx, key, reachable); err != nil {
			return err
		}
	}
	kind := "blocked"
	if reachable {
		kind = "unblocked"
	}
	e.counts.WithLabelValues(channelOf(key), kind).Inc() // the webhook logs the change
	return nil
}

// Event implements messenger.EventSink.
func (e *channelEvents) Event(ctx context.Context, ev messenger.Event) error {
	if e.state != nil {
		if err := e.state.Event(ctx, ev); err != nil {
			return err
		}
	}
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
		case !telegram.ValidSecret(c.TelegramWebhookSecret):
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
	return telegram.ValidSecret(rest)
}
