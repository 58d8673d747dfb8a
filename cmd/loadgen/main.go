// Command loadgen is the web-chat load benchmark: simulated shoppers hold
// concurrent conversations over the chat socket, asking stock questions in
// Italian and English about the demo catalog, and loadgen reports turns per
// second, turn latency percentiles, errors, allocations and Redis round
// trips per turn, the bytes an idle session keeps in Redis and, for scale,
// what a bare Fiber hello-world serves on the same machine.
//
//	go run ./cmd/loadgen [flags]                  start Bottega in this process and load it
//	go run ./cmd/loadgen -target http://127.0.0.1:8080 [flags]
//	                                             load a server that is already running
//	go run ./cmd/loadgen -serve 127.0.0.1:8089 [-redis URL] [-database URL]
//	                                             only run the benchmark server, for -target
//	go run ./cmd/loadgen -webhooks telegram|messenger [flags]
//	                                             load the Telegram or Messenger webhook instead
//
// Everything runs on loopback addresses only. A turn is one shopper message:
// its latency runs from sending the frame to the last bot entry answering
// it, and it is complete when the server has acknowledged the message and
// at least one bot entry for it has arrived.
//
// By default each shopper sends its next message as soon as the last is
// answered (a closed loop: throughput is the server's capacity, and the
// latency mostly its queue, conversations ÷ throughput). With -rate the
// shoppers are paced to offer that many turns per second in all, and a
// turn's latency counts from when it was due, which is the figure to hold
// against a latency aim.
//
// The run ends with an error, after the report, when turns failed or
// closed chat sockets left server goroutines running.
//
// With -webhooks, the shoppers post Telegram updates or signed Messenger
// webhook bodies instead, and loadgen reports acknowledgements per second,
// their latency, and the replies the outbound queue delivered to a fake
// platform API in this process (see webhooks.go).
package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

// config is the command line.
type config struct {
	target      string // base URL of a running server; empty: start one in process
	serve       string // listen address: only run the benchmark server
	redisURL    string
	databaseURL string
	tmpDir      string // where the embedded SQLite database goes

	conversations int
	duration      time.Duration
	warmup        time.Duration
	turnsPerConv  int
	maxTurns      int64
	rate          float64 // offered turns per second; 0: closed loop
	turnTimeout   time.Duration
	helloDuration time.Duration
	json          bool
	cpuProfile    string
	memProfile    string
	timeline      string // CSV of the window's latency by quarter second

	webhooks        string // telegram or messenger: load that webhook instead of the chat socket
	batch           int    // Messenger messages per webhook body
	drain           time.Duration
	telegramSecret  string
	messengerSecret string
	// secretKey is the server's BOTTEGA_SECRET_KEY: the conversation
	// stores name their keys by pseudonyms made with it.
	secretKey string
	idleWait  time.Duration // wait before measuring idle sessions
}

func parseFlags(args []string, getenv func(string) string, usage io.Writer) (*config, error) {
	cfg := &config{tmpDir: getenv("TMPDIR")}
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(usage)
	fs.StringVar(&cfg.target, "target", "", "base `URL` of a running Bottega to load (loopback only); default: start one in this process")
	fs.StringVar(&cfg.serve, "serve", "", "only run the benchmark server on this loopback `address` until interrupted, for -target")
	fs.StringVar(&cfg.redisURL, "redis", "", "Redis `URL` for conversation sessions (default: the embedded SQL store); with -target, the server's Redis, for round trips and bytes per session")
	fs.StringVar(&cfg.databaseURL, "database", "", "Postgres `URL` for the system of record (default: SQLite in a temporary folder)")
	fs.IntVar(&cfg.conversations, "conversations", 200, "concurrent shoppers, each in its own conversation")
	fs.DurationVar(&cfg.duration, "duration", 20*time.Second, "measured load time")
	fs.DurationVar(&cfg.warmup, "warmup", 3*time.Second, "load time before measuring")
	fs.IntVar(&cfg.turnsPerConv, "turns-per-conversation", 8, "turns before a shopper leaves and a new one (new session) takes its place (each shopper's first conversation ends after a random number of turns up to this, so that sessions do not all start together); Bottega's default limiter allows 8 at once per session")
	fs.Float64Var(&cfg.rate, "rate", 0, "offered turns per second in all, spread evenly over the shoppers, latency counted from when each turn was due (0: closed loop, each shopper sends its next message as soon as the last is answered)")
	fs.Int64Var(&cfg.maxTurns, "max-turns", 0, "stop after this many turns in all (0: only -warmup and -duration bound the run)")
	fs.DurationVar(&cfg.turnTimeout, "turn-timeout", 10*time.Second, "longest wait for a turn's answer before counting it an error")
	fs.DurationVar(&cfg.helloDuration, "hello-duration", 3*time.Second, "how long to load the bare Fiber hello-world (0: skip)")
	fs.BoolVar(&cfg.json, "json", false, "print the report as JSON")
	fs.StringVar(&cfg.timeline, "timeline", "", "write the measured window's turn latency by quarter second (by when each turn was due) to `file`, as CSV: start_s,turns,p50_ms,p99_ms,max_ms")
	fs.StringVar(&cfg.cpuProfile, "cpuprofile", "", "write a CPU profile of this process during the measured window to `file`")
	fs.StringVar(&cfg.memProfile, "memprofile", "", "write this process's allocations, sampled every 4 KB, at the start of the measured window to `file`.start and at its end to file; the window's own: go tool pprof -sample_index=alloc_objects -diff_base file.start file")
	fs.StringVar(&cfg.webhooks, "webhooks", "", "load the `channel`'s webhook (telegram or messenger) instead of the chat socket; replies go to a fake platform API in this process; the secrets are TELEGRAM_WEBHOOK_SECRET and MESSENGER_APP_SECRET, or loadgen's own")
	fs.IntVar(&cfg.batch, "batch", 1, "with -webhooks messenger: messages per webhook body, each from another shopper of the conversation (1-100)")
	fs.DurationVar(&cfg.idleWait, "idle-wait", 0, "with -redis: how long to wait after the load before measuring idle sessions, e.g. 40s against a server that archives logs 30s after a conversation's last turn")
	fs.DurationVar(&cfg.drain, "drain", 5*time.Second, "with -webhooks in process: how long to wait after the load for the outbound queue to empty")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	cfg.telegramSecret = cmp.Or(getenv("TELEGRAM_WEBHOOK_SECRET"), loadgenWebhookSecret)
	cfg.messengerSecret = cmp.Or(getenv("MESSENGER_APP_SECRET"), loadgenAppSecret)
	cfg.secretKey = cmp.Or(getenv("BOTTEGA_SECRET_KEY"), randomKey())
	switch cfg.webhooks {
	case "", "telegram", "messenger":
	default:
		return nil, fmt.Errorf("-webhooks: want telegram or messenger, got %q", cfg.webhooks)
	}
	switch {
	case cfg.batch < 1 || cfg.batch > 100:
		return nil, errors.New("-batch: want 1 to 100 messages per body")
	case cfg.batch > 1 && cfg.webhooks != "messenger":
		return nil, errors.New("-batch: only Messenger batches messages; use it with -webhooks messenger")
	case cfg.drain < 0:
		return nil, errors.New("-drain: must not be negative")
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	switch {
	case cfg.conversations < 1:
		return nil, errors.New("-conversations: want at least 1")
	case cfg.turnsPerConv < 1:
		return nil, errors.New("-turns-per-conversation: want at least 1")
	case cfg.duration <= 0:
		return nil, errors.New("-duration: want a positive duration")
	case cfg.warmup < 0 || cfg.helloDuration < 0 || cfg.maxTurns < 0 || cfg.rate < 0:
		return nil, errors.New("-warmup, -hello-duration, -max-turns and -rate must not be negative")
	case cfg.turnTimeout <= 0:
		return nil, errors.New("-turn-timeout: want a positive duration")
	case cfg.target != "" && cfg.serve != "":
		return nil, errors.New("-target and -serve exclude each other")
	case cfg.target != "" && cfg.databaseURL != "":
		return nil, errors.New("-database configures the in-process server; a -target server has its own")
	}
	if cfg.target != "" {
		u, err := url.Parse(cfg.target)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("-target %q: want an http:// or https:// base URL", cfg.target)
		}
		if !loopback(u.Hostname()) {
			return nil, fmt.Errorf("-target: host %q is not a loopback address", u.Hostname())
		}
		cfg.target = strings.TrimSuffix(u.String(), "/")
	}
	if cfg.serve != "" {
		host, _, err := net.SplitHostPort(cfg.serve)
		if err != nil || !loopback(host) {
			return nil, fmt.Errorf("-serve %q: want a loopback host:port", cfg.serve)
		}
	}
	if cfg.redisURL != "" {
		opts, err := redis.ParseURL(cfg.redisURL)
		if err != nil {
			return nil, errors.New("-redis: not a redis:// URL")
		}
		host, _, _ := net.SplitHostPort(opts.Addr)
		if !loopback(host) {
			return nil, fmt.Errorf("-redis: host %q is not a loopback address", host)
		}
	}
	if cfg.databaseURL != "" {
		pc, err := pgxpool.ParseConfig(cfg.databaseURL)
		if err != nil {
			return nil, errors.New("-database: not a Postgres URL")
		}
		// A host starting with "/" is a Unix socket folder: local too.
		if h := pc.ConnConfig.Host; !strings.HasPrefix(h, "/") && !loopback(h) {
			return nil, fmt.Errorf("-database: host %q is not a loopback address", h)
		}
	}
	return cfg, nil
}

// loopback reports whether host names this machine's loopback interface.
func loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// run is the whole program: flags, the server (in process or not), the
// load, the hello-world comparison and the report.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	// go-redis logs through its own package logger; our errors say enough.
	redis.SetLogger(quietLogger{})
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	cfg, err := parseFlags(args, getenv, stdout)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	if cfg.memProfile != "" {
		runtime.MemProfileRate = memProfileRate
	}
	if cfg.serve != "" {
		return serveOnly(ctx, cfg, stdout)
	}
	if cfg.webhooks != "" {
		return runWebhooks(ctx, cfg, stdout)
	}

	rep := &Report{}
	srv, target, err := rep.locate(ctx, cfg)
	if err != nil {
		return err
	}
	if srv != nil {
		defer srv.Close()
		rep.Search = "bleve"
	} else if cfg.redisURL != "" {
		rep.Sessions = "redis" // the -target server's, as -redis says
	}

	probes, err := newProbes(ctx, cfg, srv, target)
	if err != nil {
		return err
	}
	defer probes.Close()

	lg := newLoad(cfg, target)
	res, err := lg.run(ctx, probes)
	if err != nil {
		return err
	}
	rep.fill(cfg, res)
	if srv != nil {
		rep.ServerWarnings, rep.FirstWarnings = srv.warnings.summary()
		// Stop it now so that it does not share the machine with the
		// hello-world.
		if err := srv.Close(); err != nil {
			return fmt.Errorf("stopping the server: %w", err)
		}
	}
	if probes.rdb != nil {
		if cfg.idleWait > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(cfg.idleWait):
			}
		}
		idle, err := probes.idleSessionBytes(ctx, res.finished)
		if err != nil {
			return err
		}
		if idle.n > 0 {
			rep.IdleSessionBytes, rep.IdleSessionKeyBytes = &idle.bytes, idle.byKey
			rep.IdleSessionsSampled, rep.IdleSessionTurns = idle.n, cfg.turnsPerConv
		}
	}
	if cfg.helloDuration > 0 {
		h, err := helloWorld(ctx, cfg.conversations, cfg.helloDuration)
		if err != nil {
			return fmt.Errorf("hello-world: %w", err)
		}
		rep.HelloWorld = h
	}
	return finish(stdout, cfg, rep)
}

type quietLogger struct{}

func (quietLogger) Printf(context.Context, string, ...any) {}
