// Package testserver gives tests their own database on the Postgres and
// Redis servers named by environment variables, and cleans up after them.
//
// BOTTEGA_TEST_POSTGRES is the URL of a Postgres server and a user allowed
// to create databases, such as
// postgres://app@127.0.0.1:55432/postgres?sslmode=disable. BOTTEGA_TEST_REDIS
// is the URL of a Redis server, such as redis://127.0.0.1:56379. When a
// variable is unset the tests that need the server are skipped, except in CI
// (CI=true), where a missing server fails them.
package testserver

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
)

// Environment variables naming the test servers.
const (
	PostgresEnv = "BOTTEGA_TEST_POSTGRES"
	RedisEnv    = "BOTTEGA_TEST_REDIS"
)

const setupTimeout = 30 * time.Second

// Postgres creates a fresh, uniquely named database on the server at
// $BOTTEGA_TEST_POSTGRES for this test, drops it when the test ends, and
// returns its URL.
func Postgres(t testing.TB) string {
	t.Helper()
	admin := serverURL(t, PostgresEnv, "Postgres")
	u, err := url.Parse(admin)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		t.Fatalf("testserver: %s must be a postgres:// URL", PostgresEnv)
	}
	name := databaseName(t)
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	if err := pgExec(ctx, admin, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("testserver: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
		defer cancel()
		if err := pgExec(ctx, admin, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("testserver: drop database %s: %v", name, err)
		}
	})
	u.Path = "/" + name
	return u.String()
}

func pgExec(ctx context.Context, url, sql string) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	_, err = conn.Exec(ctx, sql)
	return err
}

// databaseName makes a database name from the test's name and a random
// suffix, within Postgres's 63-byte limit.
func databaseName(t testing.TB) string {
	var b strings.Builder
	b.WriteString("bottega_")
	for _, r := range strings.ToLower(t.Name()) {
		if b.Len() >= 40 {
			break
		}
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	b.WriteByte('_')
	b.WriteString(randomHex(t, 6))
	return b.String()
}

func randomHex(t testing.TB, n int) string {
	buf := make([]byte, n)
	if _, err := rand.Read(buf); err != nil {
		t.Fatalf("testserver: %v", err)
	}
	return hex.EncodeToString(buf)
}

// Redis numbered databases 1 to redisDBs-1 are handed out to tests; 0 holds
// the claims.
const (
	redisDBs      = 16
	redisClaimTTL = 30 * time.Minute
	redisClaimKey = "bottega:testserver:db:"
)

// releaseClaim deletes a claim only if it is still ours.
var releaseClaim = redis.NewScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end return 0`)

// Redis gives the test a Redis database of its own on the server at
// $BOTTEGA_TEST_REDIS and returns its URL, redis://host:port/N.
//
// Isolation is by database number: the test claims one of the numbered
// databases 1–15 with a key in database 0 (held for at most 30 minutes, so
// a crashed test frees its database eventually), so tests running at once,
// in this process or in other test binaries, never share one. The database
// is emptied before it is handed out and again when the test ends. If all
// are taken, Redis waits for one for up to a minute.
func Redis(t testing.TB) string {
	t.Helper()
	raw := serverURL(t, RedisEnv, "Redis")
	opts, err := redis.ParseURL(raw)
	if err != nil {
		t.Fatalf("testserver: %s must be a redis:// URL: %v", RedisEnv, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*setupTimeout)
	defer cancel()
	opts.DB = 0
	claims := redis.NewClient(opts)
	defer claims.Close()
	token := t.Name() + " " + randomHex(t, 8)
	n := 0
	for n == 0 {
		for i := 1; i < redisDBs; i++ {
			ok, err := claims.SetNX(ctx, redisClaimKey+strconv.Itoa(i), token, redisClaimTTL).Result()
			if err != nil {
				t.Fatalf("testserver: claim a redis database: %v", err)
			}
			if ok {
				n = i
				break
			}
		}
		if n == 0 {
			select {
			case <-ctx.Done():
				t.Fatalf("testserver: every redis database 1-%d is taken by other tests", redisDBs-1)
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	opts.DB = n
	flush := func(ctx context.Context) error {
		c := redis.NewClient(opts)
		defer c.Close()
		return c.FlushDB(ctx).Err()
	}
	release := func() {
		ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
		defer cancel()
		if err := flush(ctx); err != nil {
			t.Errorf("testserver: empty redis database %d: %v", n, err)
		}
		c := redis.NewClient(&redis.Options{Addr: opts.Addr, Username: opts.Username, Password: opts.Password, TLSConfig: opts.TLSConfig})
		defer c.Close()
		if err := releaseClaim.Run(ctx, c, []string{redisClaimKey + strconv.Itoa(n)}, token).Err(); err != nil {
			t.Errorf("testserver: release redis database %d: %v", n, err)
		}
	}
	if err := flush(ctx); err != nil {
		release()
		t.Fatalf("testserver: empty redis database %d: %v", n, err)
	}
	t.Cleanup(release)
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("testserver: %s: %v", RedisEnv, err)
	}
	u.Path = "/" + strconv.Itoa(n)
	return u.String()
}

// serverURL returns the environment variable env, or skips the test when it
// is unset, or fails it in CI.
func serverURL(t testing.TB, env, server string) string {
	t.Helper()
	v := os.Getenv(env)
	if v != "" {
		return v
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s not set: CI must run the %s tests", env, server)
	}
	t.Skipf("%s not set: %s tests skipped", env, server)
	return ""
}
