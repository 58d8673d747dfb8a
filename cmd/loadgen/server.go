package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"

	"github.com/bottega-shop/bottega/bot"
	"github.com/bottega-shop/bottega/bot/webchat"
	"github.com/bottega-shop/bottega/catalog"
	"github.com/bottega-shop/bottega/catalog/blevecatalog"
	"github.com/bottega-shop/bottega/catalog/demo"
	"github.com/bottega-shop/bottega/catalog/sqlcatalog"
	"github.com/bottega-shop/bottega/dialogs"
	"github.com/bottega-shop/bottega/dialogs/redisdialogs"
	"github.com/bottega-shop/bottega/dialogs/sqldialogs"
	"github.com/bottega-shop/bottega/internal/sqldb"
	"github.com/bottega-shop/bottega/web"
)

// roundTripsMetric is the Prometheus counter of the benchmark server's
// Redis round trips, read by a loadgen driving it with -target.
const roundTripsMetric = "bottega_loadgen_redis_round_trips_total"

// server is Bottega wired as `bottega serve` wires it — SQL system of
// record, bleve search, the dialog engine behind the dispatcher on Redis or
// SQL, the web-chat channel — on a loopback port, with the demo catalog and
// a rate limiter that never throttles.
type server struct {
	url       string
	storeName string // sqlite or postgres
	warnings  *warnCounter
	rdb       *redis.Client  // nil without -redis
	trips     *roundTrips    // counts rdb's round trips
	channel   *channelServer // the webhook and outbound queue of -webhooks, or nil

	srv      *web.Server
	serveErr chan error
	closers  []func() error // in order of opening
	tmpDir   string
}

// startServer starts the benchmark server on addr.
func startServer(ctx context.Context, cfg *config, addr string) (s *server, err error) {
	s = &server{storeName: "sqlite", warnings: &warnCounter{}, trips: &roundTrips{}}
	if cfg.secretKey == "" {
		cfg.secretKey = randomKey()
	}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	log := slog.New(s.warnings)

	if cfg.databaseURL == "" {
		s.tmpDir, err = os.MkdirTemp(cfg.tmpDir, "bottega-loadgen-")
		if err != nil {
			return nil, fmt.Errorf("temporary data folder: %w", err)
		}
	} else {
		s.storeName = "postgres"
	}
	octx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	db, err := sqldb.Open(octx, cfg.databaseURL, s.tmpDir)
	if err != nil {
		return nil, fmt.Errorf("database: %w", err)
	}
	s.closers = append(s.closers, db.Close)
	store, err := sqlcatalog.New(db)
	if err != nil {
		return nil, fmt.Errorf("catalog store: %w", err)
	}
	idx, err := blevecatalog.New()
	if err != nil {
		return nil, fmt.Errorf("search index: %w", err)
	}
	s.closers = append(s.closers, idx.Close)
	svc := catalog.NewService(store, idx, log, nil)
	ps, syns, charts := demo.Catalog()
	if _, err := svc.LoadDemo(ctx, ps, syns, charts); err != nil {
		return nil, fmt.Errorf("demo catalog: %w", err)
	}
	if err := svc.Reindex(ctx); err != nil {
		return nil, fmt.Errorf("search index: %w", err)
	}

	if cfg.redisURL != "" {
		opts, err := redis.ParseURL(cfg.redisURL)
		if err != nil {
			return nil, errors.New("redis: not a redis:// URL")
		}
		s.rdb = redis.NewClient(opts)
		s.closers = append(s.closers, s.rdb.Close)
		s.rdb.AddHook(s.trips)
		if err := s.rdb.Ping(octx).Err(); err != nil {
			return nil, fmt.Errorf("redis: cannot reach %s: %w", opts.Addr, err)
		}
	}

	engine, err := dialogs.New(svc, dialogs.WithLogger(log))
	if err != nil {
		return nil, fmt.Errorf("dialogs: %w", err)
	}
	var convs bot.Store
	if s.rdb != nil {
		rs := redisdialogs.New(s.rdb, redisdialogs.WithPseudonyms([]byte(cfg.secretKey)))
		convs = rs
		s.closers = append(s.closers, rs.Close)
	} else {
		ss, err := sqldialogs.New(db, sqldialogs.WithPseudonyms([]byte(cfg.secretKey)))
		if err != nil {
			return nil, fmt.Errorf("conversation store: %w", err)
		}
		convs = ss
		s.closers = append(s.closers, ss.Close)
	}
	var dopts []bot.DispatcherOption
	if cfg.webhooks != "" {
		dopts = append(dopts, bot.WithDelivery(cfg.webhooks))
	}
	reg := prometheus.NewRegistry()
	dopts = append(dopts, bot.WithMetrics(reg))
	dispatcher := bot.NewDispatcher(convs, engine, dopts...)
	// A benchmark shopper types far faster than a person: the limiter's
	// bucket never runs dry here (bottega serve allows 8 at once, then 1
	// every 2 s, per session).
	limiter := webchat.NewLimiter(1e9, 1e9, nil)
	chat := webchat.New(dispatcher, webchat.NewSessions(cfg.secretKey, bot.DefaultSessionTTL, nil), limiter, log)

	reg.MustRegister(collectors.NewGoCollector(), prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: roundTripsMetric,
		Help: "Round trips to Redis (commands and pipelines) made by the benchmark server.",
	}, func() float64 { return float64(s.trips.n.Load()) }))
	wcfg := web.Config{
		WebChat:  chat,
		Catalog:  svc,
		Logger:   log,
		Registry: reg,
		Ready:    func(ctx context.Context) map[string]error { return svc.Ping(ctx) },
	}
	if cfg.webhooks != "" {
		s.channel, err = startChannel(cfg, convs, dispatcher, log, reg)
		if err != nil {
			return nil, err
		}
		s.closers = append(s.closers, s.channel.Close) // closed before the stores
		s.channel.configure(&wcfg)
	}
	s.srv = web.New(wcfg)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	s.url = "http://" + ln.Addr().String()
	s.serveErr = make(chan error, 1)
	go func() { s.serveErr <- s.srv.Serve(ln) }()
	return s, nil
}

// Close stops the server, closing its chat sockets, then the stores in
// reverse order of opening, and removes the temporary data folder.
func (s *server) Close() error {
	var errs []error
	if s.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		errs = append(errs, s.srv.Shutdown(ctx))
		cancel()
		<-s.serveErr
		s.srv = nil
	}
	for i := len(s.closers) - 1; i >= 0; i-- {
		errs = append(errs, s.closers[i]())
	}
	s.closers = nil
	if s.tmpDir != "" {
		errs = append(errs, os.RemoveAll(s.tmpDir))
		s.tmpDir = ""
	}
	return errors.Join(errs...)
}

// serveOnly runs the benchmark server on cfg.serve until ctx ends, for a
// loadgen in another process to drive with -target: its /metrics then
// gives the server's own allocations and Redis round trips.
func serveOnly(ctx context.Context, cfg *config, stdout io.Writer) error {
	s, err := startServer(ctx, cfg, cfg.serve)
	if err != nil {
		return err
	}
	defer s.Close()
	redisFlag := ""
	if cfg.redisURL != "" {
		redisFlag = " -redis " + redactedRedis(cfg.redisURL)
	}
	if cfg.webhooks != "" {
		redisFlag = " -webhooks " + cfg.webhooks // the load needs no Redis probe
	}
	fmt.Fprintf(stdout, "benchmark server on %s (%s); load it with:\n  go run ./cmd/loadgen -target %s%s\n",
		s.url, s.storeName, s.url, redisFlag)
	select {
	case <-ctx.Done():
	case err := <-s.serveErr:
		s.serveErr <- err // for Close
		return fmt.Errorf("server: %w", err)
	}
	n, first := s.warnings.summary()
	if n > 0 {
		fmt.Fprintf(stdout, "server warnings: %d, first: %v\n", n, first)
	}
	return nil
}

// redactedRedis is u without a password, to print.
func redactedRedis(u string) string {
	opts, err := redis.ParseURL(u)
	if err != nil || opts.Password == "" {
		return u
	}
	return fmt.Sprintf("redis://%s/%d", opts.Addr, opts.DB)
}

func randomKey() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails on supported platforms
	return hex.EncodeToString(b)
}

// roundTrips is a go-redis hook counting round trips: each command or
// pipeline sent.
type roundTrips struct{ n atomic.Int64 }

func (r *roundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }

func (r *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		r.n.Add(1)
		return next(ctx, cmd)
	}
}

func (r *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		r.n.Add(1)
		return next(ctx, cmds)
	}
}

// warnCounter is the server's log: it counts warnings and errors and keeps
// the first few messages for the report; everything else is dropped.
type warnCounter struct {
	mu    sync.Mutex
	n     int64
	first []string
}

const keepWarnings = 5

func (w *warnCounter) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }

func (w *warnCounter) Handle(_ context.Context, r slog.Record) error {
	msg := r.Message
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "err" {
			msg += ": " + a.Value.String()
		}
		return true
	})
	w.mu.Lock()
	defer w.mu.Unlock()
	w.n++
	if len(w.first) < keepWarnings {
		w.first = append(w.first, msg)
	}
	return nil
}

func (w *warnCounter) WithAttrs([]slog.Attr) slog.Handler { return w }
func (w *warnCounter) WithGroup(string) slog.Handler      { return w }

func (w *warnCounter) summary() (int64, []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.n, append([]string(nil), w.first...)
}
