package testserver_test

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/bottega-shop/bottega/internal/testserver"
)

// recorder is a testing.TB that records Skipf and Fatalf instead of
// ending the real test.
type recorder struct {
	testing.TB
	skipped, fatal string
}

func (r *recorder) Helper() {}

func (r *recorder) Skipf(format string, args ...any) {
	r.skipped = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func (r *recorder) Fatalf(format string, args ...any) {
	r.fatal = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// run calls fn with a recorder in a goroutine of its own, as Goexit needs.
func run(t *testing.T, fn func(tb testing.TB)) *recorder {
	r := &recorder{TB: t}
	var wg sync.WaitGroup
	wg.Go(func() { fn(r) })
	wg.Wait()
	return r
}

func TestMissingServer(t *testing.T) {
	helpers := []struct {
		env string
		fn  func(testing.TB) string
	}{
		{testserver.PostgresEnv, testserver.Postgres},
		{testserver.RedisEnv, testserver.Redis},
	}
	for _, h := range helpers {
		t.Run(h.env, func(t *testing.T) {
			t.Setenv(h.env, "")
			t.Setenv("CI", "")
			r := run(t, func(tb testing.TB) { h.fn(tb) })
			if want := h.env + " not set: "; !strings.HasPrefix(r.skipped, want) || r.fatal != "" {
				t.Errorf("without %s: skipped %q, fatal %q; want a skip starting %q", h.env, r.skipped, r.fatal, want)
			}
			t.Setenv("CI", "true")
			r = run(t, func(tb testing.TB) { h.fn(tb) })
			if r.fatal == "" || r.skipped != "" {
				t.Errorf("without %s in CI: skipped %q, fatal %q; want a failure", h.env, r.skipped, r.fatal)
			}
		})
	}
}

func TestPostgres(t *testing.T) {
	ctx := context.Background()
	var url string
	t.Run("inner", func(t *testing.T) {
		url = testserver.Postgres(t)
		other := testserver.Postgres(t)
		if url == other {
			t.Fatalf("two calls gave the same database %q", url)
		}
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Fatalf("connect to the test database: %v", err)
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "CREATE TABLE t (x int)"); err != nil {
			t.Fatalf("create table: %v", err)
		}
	})
	if url == "" {
		return // skipped
	}
	if _, err := pgx.Connect(ctx, url); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("connect after the test ended = %v, want database does not exist", err)
	}
}

func TestRedis(t *testing.T) {
	ctx := context.Background()
	const n = 6
	urls := make([]string, n)
	t.Run("inner", func(t *testing.T) {
		// Claim n databases at once; each is held until the test ends.
		urls[0] = testserver.Redis(t) // skips here, on the test's goroutine
		var wg sync.WaitGroup
		for i := 1; i < n; i++ {
			wg.Go(func() { urls[i] = testserver.Redis(t) })
		}
		wg.Wait()
		for i, u := range urls {
			if u == "" {
				t.Fatalf("Redis #%d gave no URL", i)
			}
			opts, err := redis.ParseURL(u)
			if err != nil {
				t.Fatalf("ParseURL(%q) = %v", u, err)
			}
			c := redis.NewClient(opts)
			defer c.Close()
			if keys, err := c.Keys(ctx, "*").Result(); err != nil || len(keys) != 0 {
				t.Errorf("a new test database holds %v, %v; want no keys", keys, err)
			}
			if err := c.Set(ctx, "mine", i, 0).Err(); err != nil {
				t.Fatalf("SET = %v", err)
			}
		}
		for _, u := range urls {
			opts, _ := redis.ParseURL(u)
			c := redis.NewClient(opts)
			defer c.Close()
			if got, err := c.DBSize(ctx).Result(); err != nil || got != 1 {
				t.Errorf("DBSIZE of %s = %d, %v; want 1 (a database shared between tests?)", u, got, err)
			}
		}
	})
	if urls[0] == "" {
		return // skipped
	}
	seen := map[string]bool{}
	for _, u := range urls {
		if seen[u] {
			t.Errorf("two tests got the same database %q", u)
		}
		seen[u] = true
		opts, _ := redis.ParseURL(u)
		c := redis.NewClient(opts)
		if got, err := c.DBSize(ctx).Result(); err != nil || got != 0 {
			t.Errorf("after the test, %s holds %d keys, %v; want 0", u, got, err)
		}
		c.Close()
	}
}
