package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/bottega-shop/bottega/catalog"
	"github.com/bottega-shop/bottega/catalog/blevecatalog"
	"github.com/bottega-shop/bottega/catalog/meilicatalog"
	"github.com/bottega-shop/bottega/catalog/sqlcatalog"
	"github.com/bottega-shop/bottega/internal/sqldb"
)

// backends are the stores behind the domains, embedded or real.
type backends struct {
	db        *sqldb.DB
	store     *sqlcatalog.Store
	index     catalog.Index
	redis     *redis.Client
	catalog   *catalog.Service
	storeName string
	indexName string
	meili     bool
}

type backendOption func(*backendOptions)

type backendOptions struct{ noIndex bool }

// withoutIndex opens only the SQL store (for migrate).
func withoutIndex() backendOption { return func(o *backendOptions) { o.noIndex = true } }

// connectTimeout bounds how long start-up waits for each backend.
const connectTimeout = 10 * time.Second

// openBackends connects to every configured backend, failing fast with one
// line naming the variable and the problem.
func openBackends(ctx context.Context, cfg *config, log *slog.Logger, observe catalog.Observer, opts ...backendOption) (_ *backends, err error) {
	var o backendOptions
	for _, opt := range opts {
		opt(&o)
	}
	b := &backends{storeName: "sqlite", indexName: "bleve"}
	defer func() {
		if err != nil {
			b.Close()
		}
	}()

	cctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	b.db, err = sqldb.Open(cctx, cfg.DatabaseURL, cfg.DataDir)
	if err != nil {
		if cfg.embedded() {
			return nil, startupError("BOTTEGA_DATA_DIR", err)
		}
		return nil, startupError("DATABASE_URL", err)
	}
	if !cfg.embedded() {
		b.storeName = "postgres"
	}
	b.store, err = sqlcatalog.New(b.db)
	if err != nil {
		return nil, fmt.Errorf("catalog store: %w", err)
	}

	if cfg.RedisURL != "" {
		ropts, _ := redis.ParseURL(cfg.RedisURL) // validated in loadConfig
		ropts.MaxRetries = -1                    // fail fast at start; the pool reconnects later
		b.redis = redis.NewClient(ropts)
		if err := b.redis.Ping(cctx).Err(); err != nil {
			return nil, fmt.Errorf("REDIS_URL: cannot reach %s: %v", ropts.Addr, rootCause(err))
		}
	}

	if o.noIndex {
		return b, nil
	}
	if cfg.MeiliURL != "" {
		b.indexName, b.meili = "meilisearch", true
		idx, err := meilicatalog.New(cctx, cfg.MeiliURL, cfg.MeiliAPIKey, cfg.MeiliIndex)
		if err != nil {
			return nil, startupError("MEILI_URL", err)
		}
		b.index = idx
	} else {
		idx, err := blevecatalog.New()
		if err != nil {
			return nil, fmt.Errorf("search index: %w", err)
		}
		b.index = idx
	}
	b.catalog = catalog.NewService(b.store, b.index, log, observe)
	return b, nil
}

// prepareIndex fills the search index at start: the embedded index always
// (it lives in memory and is rebuilt from the system of record), Meilisearch
// only when it is empty and the catalog is not.
func (b *backends) prepareIndex(ctx context.Context) error {
	if b.meili {
		res, err := b.index.Search(ctx, catalog.Query{Limit: 1})
		if err != nil {
			return fmt.Errorf("MEILI_URL: %w", err)
		}
		if products, _, err := b.store.Count(ctx); err != nil || res.Total > 0 || products == 0 {
			return err
		}
	}
	if err := b.catalog.Reindex(ctx); err != nil {
		return fmt.Errorf("search index: %w", err)
	}
	return nil
}

// check pings every configured backend, for /readyz.
func (b *backends) check(ctx context.Context) map[string]error {
	out := map[string]error{b.storeName: b.store.Ping(ctx)}
	if b.index != nil {
		out[b.indexName] = b.index.Ping(ctx)
	}
	if b.redis != nil {
		out["redis"] = b.redis.Ping(ctx).Err()
	}
	return out
}

// syncLoop retries index updates that failed, until ctx ends.
func (b *backends) syncLoop(ctx context.Context, log *slog.Logger) {
	every(ctx, 10*time.Second, func(ctx context.Context) {
		if err := b.catalog.Sync(ctx); err != nil && ctx.Err() == nil {
			log.Warn("search index still behind the catalog", "err", err)
		}
	})
}

// Close closes the backends in reverse order of opening.
func (b *backends) Close() error {
	var errs []error
	if b.index != nil {
		errs = append(errs, b.index.Close())
	}
	if b.redis != nil {
		errs = append(errs, b.redis.Close())
	}
	if b.db != nil {
		errs = append(errs, b.db.Close())
	}
	return errors.Join(errs...)
}

// startupError is the one line that stops a start: the variable, then the
// readable part of err without package prefixes ("cannot reach host:port:
// connection refused").
func startupError(name string, err error) error {
	msg := err.Error()
	if i := strings.Index(msg, "cannot reach "); i >= 0 {
		msg = strings.TrimSuffix(msg[i:], ": "+catalog.ErrUnavailable.Error())
	} else {
		for {
			i := strings.Index(msg, ": ")
			if i < 0 || strings.ContainsAny(msg[:i], " /\"") {
				break
			}
			msg = msg[i+2:]
		}
	}
	return fmt.Errorf("%s: %s", name, msg)
}

// rootCause unwraps to the innermost error, which for network failures is
// the readable part ("connection refused").
func rootCause(err error) error {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err
		}
		err = next
	}
}
