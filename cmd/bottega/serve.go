package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/sync/errgroup"

	"github.com/bottega-shop/bottega/bot"
	"github.com/bottega-shop/bottega/catalog"
	"github.com/bottega-shop/bottega/catalog/demo"
	"github.com/bottega-shop/bottega/web"
)

func newLogger(cfg *config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel)) // validated in loadConfig
	opts := &slog.HandlerOptions{Level: level}
	if cfg.SecretKey != "" {
		opts.ReplaceAttr = pseudonymizeKeys(bot.NewPseudonymizer([]byte(cfg.SecretKey)))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// every calls fn every d until ctx ends.
func every(ctx context.Context, d time.Duration, fn func(ctx context.Context)) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn(ctx)
		}
	}
}

// conversationKey matches a conversation key ("telegram:777000111"), which
// holds a shopper's platform id.
var conversationKey = regexp.MustCompile(`\b(telegram|messenger|webchat):-?[0-9A-Za-z_-]+`)

// pseudonymizeKeys rewrites the conversation keys in log attributes and
// error texts as "channel:~pseudonym" — the name the conversation stores
// use — so the log names no shopper, yet lines about one conversation can
// still be told apart and matched to its store keys.
func pseudonymizeKeys(p *bot.Pseudonymizer) func([]string, slog.Attr) slog.Attr {
	rewrite := func(s string) string {
		return conversationKey.ReplaceAllStringFunc(s, func(key string) string {
			channel, _, _ := strings.Cut(key, ":")
			return channel + ":~" + p.Of(key)
		})
	}
	return func(_ []string, a slog.Attr) slog.Attr {
		switch a.Value.Kind() {
		case slog.KindString:
			if s := a.Value.String(); strings.Contains(s, ":") {
				return slog.String(a.Key, rewrite(s))
			}
		case slog.KindAny:
			if err, ok := a.Value.Any().(error); ok {
				return slog.String(a.Key, rewrite(err.Error()))
			}
		}
		return a
	}
}

// serve runs the server until ctx ends, then shuts down in order: stop
// accepting and finish in-flight requests, wait for the calls the webhooks
// started after answering, stop background work (the outbound queue among
// it: a send cut short is sent again once its lease expires), close the
// stores.
func serve(ctx context.Context, cfg *config, stdout io.Writer) error {
	start := time.Now()
	if cfg.embedded() {
		if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
			return fmt.Errorf("BOTTEGA_DATA_DIR: %w", err)
		}
	}
	if cfg.SecretKey == "" {
		key, err := secretFile(cfg.DataDir, "secret-key")
		if err != nil {
			return err
		}
		cfg.SecretKey = key
	}
	log := newLogger(cfg, stdout) // after the secret: it pseudonymizes conversation keys
	if cfg.AdminToken == "" {
		tok, err := secretFile(cfg.DataDir, "admin-token")
		if err != nil {
			return err
		}
		cfg.AdminToken = tok
		log.Info("admin API token generated and kept in a file", "file", filepath.Join(cfg.DataDir, "admin-token"))
	}
	if cfg.CustomerKey == "" && cfg.Demo {
		// The demo page signs its demo customer in with it; a shop's
		// backend would share BOTTEGA_CUSTOMER_KEY instead.
		key, err := secretFile(cfg.DataDir, "customer-key")
		if err != nil {
			return err
		}
		cfg.CustomerKey = key
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	backendLatency := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "bottega_backend_call_duration_seconds",
		Help:    "Latency of calls to the store and the search index, by operation and outcome.",
		Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
	}, []string{"backend", "op", "outcome"})
	reg.MustRegister(backendLatency)
	observe := func(backend, op string, d time.Duration, err error) {
		outcome := "ok"
		if err != nil {
			outcome = "error"
		}
		backendLatency.WithLabelValues(backend, op, outcome).Observe(d.Seconds())
	}

	b, err := openBackends(ctx, cfg, log, observe)
	if err != nil {
		return err
	}
	defer b.Close()

	if cfg.Demo {
		ps, syns, charts := demo.Catalog()
		loaded, err := b.catalog.LoadDemo(ctx, ps, syns, charts)
		if err != nil {
			return fmt.Errorf("demo catalog: %w", err)
		}
		if loaded {
			log.Info("demo catalog loaded", "products", len(ps))
		}
	}
	if err := b.prepareIndex(ctx); err != nil {
		return err
	}

	// The channels' state (windows, reachability, opt-ins) holds shoppers'
	// identifiers: erasure reaches it as one of the privacy holders.
	state, err := openChannelState(cfg, b)
	if err != nil {
		return err
	}
	priv, err := openPrivacy(ctx, cfg, b, log, state)
	if err != nil {
		return err
	}
	defer priv.Close()
	chat, err := openChat(cfg, b, priv, log, reg)
	if err != nil {
		return err
	}
	defer chat.close()
	push, err := openChannels(cfg, chat, log, reg, state)
	if err != nil {
		return err
	}

	webCfg := web.Config{
		WebChat:     chat.webchat,
		Telegram:    push.telegram,
		Messenger:   push.messenger,
		Outbox:      push.outbox(chat),
		ChatOrigins: cfg.ChatOrigins,
		Privacy:     priv.rights,
		Audit:       priv.audit,
		Exports:     priv.rights,
		Catalog:     b.catalog,
		AdminToken:  cfg.AdminToken,
		Ready:       b.check,
		Logger:      log,
		Registry:    reg,
		Version:     version(),
	}
	if cfg.Demo {
		webCfg.DemoCustomerKey = cfg.CustomerKey
	}
	srv := web.New(webCfg)
	if cfg.DebugAddr != "" {
		stopDebug, err := serveDebug(cfg.DebugAddr, log)
		if err != nil {
			return err
		}
		defer stopDebug()
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("BOTTEGA_ADDR: %w", err)
	}
	products, variants, _ := b.store.Count(ctx)
	log.Info("listening", "addr", ln.Addr().String(), "store", b.storeName, "search", b.indexName,
		"products", products, "variants", variants, "channels", push.names(), "startup", time.Since(start).Round(time.Millisecond).String())

	// Background work has its own context, cancelled only after the server
	// has stopped taking requests.
	bgCtx, stopBackground := context.WithCancel(context.WithoutCancel(ctx))
	defer stopBackground()
	var bg errgroup.Group
	bg.Go(func() error { b.syncLoop(bgCtx, log); return nil })
	bg.Go(func() error { chat.sweepLoop(bgCtx, log); return nil })
	bg.Go(func() error { chat.archiveLoop(bgCtx, log); return nil })
	bg.Go(func() error { push.run(bgCtx, log); return nil })

	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()

	select {
	case err := <-serveErr:
		push.wait()
		stopBackground()
		_ = bg.Wait()
		return fmt.Errorf("server: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down", "timeout", cfg.ShutdownTimeout.String())
	shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		log.Warn("in-flight requests cut short", "err", err)
	}
	<-serveErr
	push.wait()
	stopBackground()
	done := make(chan struct{})
	go func() { _ = bg.Wait(); close(done) }()
	select {
	case <-done:
	case <-shutCtx.Done():
		log.Warn("background work did not finish in time")
	}
	log.Info("stopped")
	return nil
}

// importFile imports a catalog file straight into the configured stores.
func importFile(ctx context.Context, cfg *config, path string, stdout io.Writer) error {
	format := ""
	switch strings.ToLower(filepath.Ext(path)) {
	case ".csv":
		format = "csv"
	case ".json", ".ndjson", ".jsonl":
		format = "json"
	default:
		return fmt.Errorf("import: %s: want a .csv, .json or .ndjson file", path)
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	defer f.Close()
	log := newLogger(cfg, io.Discard)
	b, err := openBackends(ctx, cfg, log, nil)
	if err != nil {
		return err
	}
	defer b.Close()
	start := time.Now()
	res, err := b.catalog.Import(ctx, f, format, "import:"+filepath.Base(path))
	var verr *catalog.ValidationError
	if errors.As(err, &verr) {
		for _, p := range verr.Problems {
			fmt.Fprintln(stdout, p)
		}
		return fmt.Errorf("import: %d problems in %s; nothing was written", len(verr.Problems), path)
	}
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	fmt.Fprintf(stdout, "imported %d products, %d variants in %s\n", res.Products, res.Variants, time.Since(start).Round(time.Millisecond))
	return nil
}

// migrate applies the database migrations and exits.
func migrate(ctx context.Context, cfg *config, stdout io.Writer) error {
	b, err := openBackends(ctx, cfg, newLogger(cfg, io.Discard), nil, withoutIndex())
	if err != nil {
		return err
	}
	defer b.Close()
	fmt.Fprintf(stdout, "migrations applied to %s\n", b.storeName)
	return nil
}
