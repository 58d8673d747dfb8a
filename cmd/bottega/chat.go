package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sashabaranov/go-openai"

	"github.com/bottega-shop/bottega/bot"
	"github.com/bottega-shop/bottega/bot/webchat"
	"github.com/bottega-shop/bottega/dialogs"
	"github.com/bottega-shop/bottega/dialogs/redisdialogs"
	"github.com/bottega-shop/bottega/dialogs/sqldialogs"
)

// chat is the conversation stack: the dialog engine behind the dispatcher,
// on Redis when configured, else on the SQL store, and the web-chat channel.
type chat struct {
	dispatcher *bot.Dispatcher
	webchat    *webchat.Channel
	outbox     bot.OutboxStore             // the store's outbound queue, for the push channels
	sweep      func(context.Context) error // deletes expired SQL rows
	// archive moves the logs of idle conversations from Redis to SQL and
	// reports how many it moved; nil without Redis.
	archive func(ctx context.Context, now time.Time, n int) (int, error)
	close   func() error
}

// Archiver settings: how often the loop looks for idle conversations and
// how many it moves per call. Small, frequent batches, with a pause of
// half as long as each batch took, keep it from holding Redis (the claim
// is one script) or a core for long while shoppers wait: it uses at most
// about two thirds of a core while it catches up, which at 3,000 turns/s
// on 2 cores keeps the backlog under a second.
const (
	archiveEvery = time.Second
	archiveBatch = 50
)

// openChat builds the conversation stack. Consent and data rights come
// from p: the engine asks and records consent on p's ledger and serves the
// privacy commands with p's rights; the dispatcher seals what the
// conversation store keeps with the person's key.
func openChat(cfg *config, b *backends, p *privacy, log *slog.Logger, reg prometheus.Registerer) (*chat, error) {
	opts := []dialogs.Option{
		dialogs.WithLogger(log), dialogs.WithIdleTimeout(cfg.SessionIdle),
		dialogs.WithConsent(p.ledger), dialogs.WithRights(p.rights), dialogs.WithSubjects(p.personOf),
	}
	if links := channelLinks(cfg); len(links) > 0 {
		opts = append(opts, dialogs.WithLinking(p.rights, links))
	}
	if cfg.LocalesDir != "" {
		opts = append(opts, dialogs.WithLocaleDir(cfg.LocalesDir))
	}
	if cfg.OpenAIBaseURL != "" {
		oc := openai.DefaultConfig(cfg.OpenAIAPIKey)
		oc.BaseURL = cfg.OpenAIBaseURL
		opts = append(opts, dialogs.WithOpenAI(openai.NewClientWithConfig(oc), cfg.OpenAIModel))
	}
	engine, err := dialogs.New(b.catalog, opts...)
	if err != nil {
		return nil, fmt.Errorf("dialogs: %w", err)
	}
	c := &chat{}
	var store interface {
		bot.Store
		bot.Forgetter
	}
	if b.redis != nil {
		// Redis keeps sessions and the tail of each log; the transcripts
		// go to the system of record (the SQL store's archive).
		ss, err := sqldialogs.New(b.db)
		if err != nil {
			return nil, fmt.Errorf("transcript archive: %w", err)
		}
		rs := redisdialogs.New(b.redis, redisdialogs.WithPseudonyms([]byte(cfg.SecretKey)),
			redisdialogs.WithArchive(ss.Archive()))
		store, c.outbox, c.sweep, c.archive = rs, rs, ss.Sweep, rs.ArchiveDue
		c.close = func() error { return errors.Join(rs.Close(), ss.Close()) }
	} else {
		ss, err := sqldialogs.New(b.db, sqldialogs.WithPseudonyms([]byte(cfg.SecretKey)))
		if err != nil {
			return nil, fmt.Errorf("conversation store: %w", err)
		}
		store, c.outbox, c.close, c.sweep = ss, ss, ss.Close, ss.Sweep
	}
	// The engine starts over after the idle time but greets a returning
	// shopper as such: the state (language, consented preferences) and the
	// log are kept for the retention period, then expire.
	c.dispatcher = bot.NewDispatcher(store, engine,
		bot.WithSessionTTL(max(cfg.Retention, cfg.SessionIdle)), bot.WithLogTTL(cfg.Retention),
		bot.WithDelivery(pushChannels...), bot.WithSealer(p), bot.WithMetrics(reg))
	p.convs.d, p.convs.forget = c.dispatcher, store
	sessions := webchat.NewSessions(cfg.SecretKey, cfg.SessionIdle, nil)
	// A burst of 8 messages, then one every 2 seconds: more than a person types.
	limiter := webchat.NewLimiter(0.5, 8, nil)
	var signIn []webchat.Option
	if cfg.CustomerKey != "" {
		// Shoppers signed in on the shop's site are that customer: the
		// session binds them and the data-rights service links the chat.
		signIn = append(signIn, webchat.WithCustomers(webchat.NewCustomers(cfg.CustomerKey, nil)), webchat.WithLinker(p))
	}
	c.webchat = webchat.New(c.dispatcher, sessions, limiter, log, signIn...)
	return c, nil
}

// channelLinks are the links that continue a signed-in shopper's chat on
// a messaging app, by channel, with "{code}" for the single-use link code:
// Telegram's deep link (/start payload) and Messenger's m.me link (ref),
// for the channels configured with a bot username or a Page id.
func channelLinks(cfg *config) map[string]string {
	links := map[string]string{}
	if cfg.TelegramBotToken != "" && cfg.TelegramBotUsername != "" {
		links[bot.Telegram] = "https://t.me/" + cfg.TelegramBotUsername + "?start=link-{code}"
	}
	if cfg.MessengerAppSecret != "" && cfg.MessengerPageID != "" {
		links[bot.Messenger] = "https://m.me/" + cfg.MessengerPageID + "?ref=link-{code}"
	}
	return links
}

// sweepLoop deletes expired conversation rows every hour until ctx ends.
func (c *chat) sweepLoop(ctx context.Context, log *slog.Logger) {
	every(ctx, time.Hour, func(ctx context.Context) {
		if err := c.sweep(ctx); err != nil && ctx.Err() == nil {
			log.Warn("sweeping expired conversations failed", "err", err)
		}
	})
}

// archiveLoop moves the logs of idle conversations from Redis to SQL
// every archiveEvery until ctx ends; replicas may run it at once. Without
// Redis there is nothing to move.
func (c *chat) archiveLoop(ctx context.Context, log *slog.Logger) {
	if c.archive == nil {
		return
	}
	every(ctx, archiveEvery, func(ctx context.Context) {
		for {
			start := time.Now()
			n, err := c.archive(ctx, start, archiveBatch)
			if err != nil && ctx.Err() == nil {
				log.Warn("archiving conversation logs failed", "err", err)
			}
			if err != nil || n < archiveBatch {
				return
			}
			t := time.NewTimer(time.Since(start) / 2)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
	})
}
