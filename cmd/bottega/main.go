// Command bottega runs the Bottega conversational-commerce server.
//
//	bottega [serve]                 run the server (the default)
//	bottega import FILE             import a catalog CSV or JSON file
//	bottega migrate                 apply database migrations and exit
//	bottega telegram set-webhook    register the Telegram webhook at BOTTEGA_PUBLIC_URL
//	bottega telegram webhook-info   show what Telegram has registered
//	bottega version                 print the version
//
// Configuration is by environment variable; see the README.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/redis/go-redis/v9"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bottega:", err)
		os.Exit(1)
	}
}

// errUsage marks a command-line mistake.
var errUsage = errors.New("usage: bottega [serve [-addr host:port]] | import FILE | migrate | telegram set-webhook|webhook-info | version")

// run is the whole program: it owns signals, configuration, construction
// and the shutdown order.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	// go-redis logs dial failures through its own package logger, with
	// addresses and errors we report ourselves: keep it quiet.
	redis.SetLogger(quietLogger{})
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	cmd := "serve"
	if len(args) > 0 && args[0] != "" && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		fs := flag.NewFlagSet("serve", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		addr := fs.String("addr", "", "listen address (overrides BOTTEGA_ADDR)")
		dataDir := fs.String("data-dir", "", "embedded data folder (overrides BOTTEGA_DATA_DIR)")
		if err := fs.Parse(args); err != nil || fs.NArg() > 0 {
			return errUsage
		}
		cfg, err := loadConfig(overrides(getenv, map[string]string{"BOTTEGA_ADDR": *addr, "BOTTEGA_DATA_DIR": *dataDir}))
		if err != nil {
			return err
		}
		return serve(ctx, cfg, stdout)
	case "import":
		if len(args) != 1 {
			return errUsage
		}
		cfg, err := loadConfig(getenv)
		if err != nil {
			return err
		}
		return importFile(ctx, cfg, args[0], stdout)
	case "migrate":
		cfg, err := loadConfig(getenv)
		if err != nil {
			return err
		}
		return migrate(ctx, cfg, stdout)
	case "telegram":
		return telegramCommand(ctx, args, getenv, stdout)
	case "version":
		fmt.Fprintln(stdout, "bottega", version())
		return nil
	}
	return errUsage
}

type quietLogger struct{}

func (quietLogger) Printf(context.Context, string, ...any) {}

// overrides returns a getenv that prefers the non-empty values in o.
func overrides(getenv func(string) string, o map[string]string) func(string) string {
	return func(name string) string {
		if v := o[name]; v != "" {
			return v
		}
		return getenv(name)
	}
}

// version reports the module version and VCS revision baked into the binary.
func version() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := info.Main.Version
	for _, s := range info.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			v += " (" + s.Value[:12] + ")"
		}
	}
	return v
}
