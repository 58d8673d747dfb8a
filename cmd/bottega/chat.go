package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

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
	sweep      func(context.Context) error // deletes expired SQL rows; nil on Redis
	close      func() error
}

func openChat(cfg *config, b *backends, log *slog.Logger) (*chat, error) {
	opts := []dialogs.Option{dialogs.WithLogger(log), dialogs.WithIdleTimeout(cfg.SessionIdle)}
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
	var store bot.Store
	if b.redis != nil {
		rs := redisdialogs.New(b.redis)
		store, c.close = rs, rs.Close
	} else {
		ss, err := sqldialogs.New(b.db)
		if err != nil {
			return nil, fmt.Errorf("conversation store: %w", err)
		}
		store, c.close, c.sweep = ss, ss.Close, ss.Sweep
	}
	c.dispatcher = bot.NewDispatcher(store, engine, bot.WithSessionTTL(cfg.SessionIdle))
	sessions := webchat.NewSessions(cfg.SecretKey, cfg.SessionIdle, nil)
	// A burst of 8 messages, then one every 2 seconds: more than a person types.
	limiter := webchat.NewLimiter(0.5, 8, nil)
	c.webchat = webchat.New(c.dispatcher, sessions, limiter, log)
	return c, nil
}

// sweepLoop deletes expired conversation rows every hour until ctx ends.
func (c *chat) sweepLoop(ctx context.Context, log *slog.Logger) {
	if c.sweep == nil {
		return
	}
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := c.sweep(ctx); err != nil && ctx.Err() == nil {
				log.Warn("sweeping expired conversations failed", "err", err)
			}
		}
	}
}
