package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/bottega-shop/bottega/bot/messenger"
	"github.com/bottega-shop/bottega/bot/telegram"
)

// config is Bottega's configuration, read from the environment (design §5).
type config struct {
	Addr       string
	DataDir    string
	PublicURL  string
	AdminToken string
	SecretKey  string
	Demo       bool

	DatabaseURL string
	RedisURL    string
	MeiliURL    string
	MeiliAPIKey string
	MeiliIndex  string

	TelegramBotToken, TelegramWebhookSecret, TelegramAPIURL string
	MessengerAppSecret, MessengerPageToken, MessengerVerify string
	MessengerGraphURL, MessengerAppID                       string
	OpenAIBaseURL, OpenAIAPIKey, OpenAIModel                string
	ChatOrigins                                             []string
	SessionIdle                                             time.Duration
	Retention                                               time.Duration // BOTTEGA_RETENTION_DAYS
	KeysDatabaseURL                                         string
	CustomerKey                                             string // BOTTEGA_CUSTOMER_KEY: verifies signed-in shoppers
	TelegramBotUsername, MessengerPageID                    string // for links that continue a chat there
	LocalesDir                                              string
	ShutdownTimeout                                         time.Duration
	DebugAddr                                               string // BOTTEGA_DEBUG_ADDR: the profiler, loopback only
	LogLevel                                                string
}

// embedded reports whether the system of record is the embedded SQLite store.
func (c *config) embedded() bool { return c.DatabaseURL == "" }

// loadConfig reads and validates the environment. The error names the
// variable and the problem in one line, and never holds a secret's value.
func loadConfig(getenv func(string) string) (*config, error) {
	env := func(name, def string) string {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			return v
		}
		return def
	}
	c := &config{
		Addr:                  env("BOTTEGA_ADDR", ":8080"),
		DataDir:               env("BOTTEGA_DATA_DIR", "./data"),
		PublicURL:             env("BOTTEGA_PUBLIC_URL", ""),
		AdminToken:            env("BOTTEGA_ADMIN_TOKEN", ""),
		SecretKey:             env("BOTTEGA_SECRET_KEY", ""),
		DatabaseURL:           env("DATABASE_URL", ""),
		KeysDatabaseURL:       env("BOTTEGA_KEYS_DATABASE_URL", ""),
		RedisURL:              env("REDIS_URL", ""),
		MeiliURL:              env("MEILI_URL", ""),
		MeiliAPIKey:           env("MEILI_API_KEY", ""),
		MeiliIndex:            env("MEILI_INDEX", "products"),
		TelegramBotToken:      env("TELEGRAM_BOT_TOKEN", ""),
		TelegramWebhookSecret: env("TELEGRAM_WEBHOOK_SECRET", ""),
		TelegramAPIURL:        env("TELEGRAM_API_URL", telegram.DefaultAPIURL),
		MessengerAppSecret:    env("MESSENGER_APP_SECRET", ""),
		MessengerPageToken:    env("MESSENGER_PAGE_TOKEN", ""),
		MessengerVerify:       env("MESSENGER_VERIFY_TOKEN", ""),
		MessengerGraphURL:     env("MESSENGER_GRAPH_URL", messenger.DefaultGraphURL),
		MessengerAppID:        env("MESSENGER_APP_ID", ""),
		MessengerPageID:       env("MESSENGER_PAGE_ID", ""),
		TelegramBotUsername:   strings.TrimPrefix(env("TELEGRAM_BOT_USERNAME", ""), "@"),
		CustomerKey:           env("BOTTEGA_CUSTOMER_KEY", ""),
		OpenAIBaseURL:         env("OPENAI_BASE_URL", ""),
		OpenAIAPIKey:          env("OPENAI_API_KEY", ""),
		OpenAIModel:           env("OPENAI_MODEL", ""),
		LogLevel:              env("BOTTEGA_LOG_LEVEL", "info"),
		DebugAddr:             env("BOTTEGA_DEBUG_ADDR", ""),
	}
	var errs []error
	bad := func(name, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", name, fmt.Sprintf(format, args...)))
	}

	if _, port, err := net.SplitHostPort(c.Addr); err != nil {
		bad("BOTTEGA_ADDR", "want host:port such as :8080, got %q", c.Addr)
	} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		bad("BOTTEGA_ADDR", "port %q is not a number from 0 to 65535", port)
	}
	demo := env("BOTTEGA_DEMO", "")
	if demo == "" {
		c.Demo = c.embedded()
	} else if v, err := strconv.ParseBool(demo); err != nil {
		bad("BOTTEGA_DEMO", "want true or false, got %q", demo)
	} else {
		c.Demo = v
	}
	checkHTTPURL := func(name, v string) {
		if v == "" {
			return
		}
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad(name, "want an absolute http or https URL")
		}
	}
	checkHTTPURL("BOTTEGA_PUBLIC_URL", c.PublicURL)
	checkHTTPURL("MEILI_URL", c.MeiliURL)
	checkHTTPURL("TELEGRAM_API_URL", c.TelegramAPIURL)
	checkHTTPURL("MESSENGER_GRAPH_URL", c.MessengerGraphURL)
	checkHTTPURL("OPENAI_BASE_URL", c.OpenAIBaseURL)
	c.checkChannels(bad)
	if c.DatabaseURL != "" {
		// Never echo the URL: it may hold a password.
		u, err := url.Parse(c.DatabaseURL)
		if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "" {
			bad("DATABASE_URL", "want postgres://user:password@host:port/dbname")
		}
	}
	if c.KeysDatabaseURL != "" {
		u, err := url.Parse(c.KeysDatabaseURL)
		if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "" {
			bad("BOTTEGA_KEYS_DATABASE_URL", "want postgres://user:password@host:port/dbname")
		}
	}
	if c.RedisURL != "" {
		if _, err := redis.ParseURL(c.RedisURL); err != nil {
			bad("REDIS_URL", "want redis://[:password@]host:port[/db]")
		}
	}
	if c.AdminToken != "" && len(c.AdminToken) < 16 {
		bad("BOTTEGA_ADMIN_TOKEN", "too short: use at least 16 random characters")
	}
	if c.DebugAddr != "" && !loopbackAddr(c.DebugAddr) {
		bad("BOTTEGA_DEBUG_ADDR", "want a loopback host:port such as 127.0.0.1:6060, got %q", c.DebugAddr)
	}
	if c.CustomerKey != "" && len(c.CustomerKey) < 32 {
		bad("BOTTEGA_CUSTOMER_KEY", "too short: use at least 32 random characters")
	}
	if c.CustomerKey != "" && c.CustomerKey == c.SecretKey {
		bad("BOTTEGA_CUSTOMER_KEY", "must differ from BOTTEGA_SECRET_KEY: the shop's backend holds it")
	}
	if u := c.TelegramBotUsername; u != "" && !validName(u, 5, 32) {
		bad("TELEGRAM_BOT_USERNAME", "want the bot's username such as bottega_shop_bot, got %q", u)
	}
	if id := c.MessengerPageID; id != "" && !validName(id, 1, 64) {
		bad("MESSENGER_PAGE_ID", "want the Page's id or username, got %q", id)
	}
	if c.SecretKey != "" && len(c.SecretKey) < 32 {
		bad("BOTTEGA_SECRET_KEY", "too short: use at least 32 random characters")
	}
	if !c.embedded() {
		// Replicas must share these; a per-replica generated one would break sessions.
		if c.SecretKey == "" {
			bad("BOTTEGA_SECRET_KEY", "required when DATABASE_URL is set, so every replica shares it")
		}
		if c.AdminToken == "" {
			bad("BOTTEGA_ADMIN_TOKEN", "required when DATABASE_URL is set")
		}
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		bad("BOTTEGA_LOG_LEVEL", "want debug, info, warn or error, got %q", c.LogLevel)
	}
	for _, o := range strings.Split(env("BOTTEGA_CHAT_ORIGINS", ""), ",") {
		if o = strings.TrimSpace(o); o == "" {
			continue
		}
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			bad("BOTTEGA_CHAT_ORIGINS", "want comma-separated origins such as https://shop.example, got %q", o)
			continue
		}
		c.ChatOrigins = append(c.ChatOrigins, u.Scheme+"://"+u.Host)
	}
	if c.PublicURL != "" {
		if u, err := url.Parse(c.PublicURL); err == nil {
			c.ChatOrigins = append(c.ChatOrigins, u.Scheme+"://"+u.Host)
		}
	}
	idle := env("BOTTEGA_SESSION_IDLE", "720h")
	if d, err := time.ParseDuration(idle); err != nil || d < time.Minute {
		bad("BOTTEGA_SESSION_IDLE", "want a duration of a minute or more such as 720h, got %q", idle)
	} else {
		c.SessionIdle = d
	}
	days := env("BOTTEGA_RETENTION_DAYS", "180")
	if n, err := strconv.Atoi(days); err != nil || n < 1 || n > 3650 {
		bad("BOTTEGA_RETENTION_DAYS", "want a whole number of days from 1 to 3650, got %q", days)
	} else {
		c.Retention = time.Duration(n) * 24 * time.Hour
	}
	c.LocalesDir = env("BOTTEGA_LOCALES_DIR", "")
	if c.LocalesDir != "" {
		if st, err := os.Stat(c.LocalesDir); err != nil || !st.IsDir() {
			bad("BOTTEGA_LOCALES_DIR", "%q is not a folder", c.LocalesDir)
		}
	}
	if c.OpenAIBaseURL != "" && c.OpenAIModel == "" {
		bad("OPENAI_MODEL", "required when OPENAI_BASE_URL is set")
	}
	if c.OpenAIAPIKey == "" {
		c.OpenAIAPIKey = "none" // local servers such as Ollama ignore it; go-openai wants one
	}
	timeout := env("BOTTEGA_SHUTDOWN_TIMEOUT", "20s")
	d, err := time.ParseDuration(timeout)
	if err != nil || d <= 0 {
		bad("BOTTEGA_SHUTDOWN_TIMEOUT", "want a duration such as 20s, got %q", timeout)
	}
	c.ShutdownTimeout = d
	if len(errs) > 0 {
		return nil, errs[0]
	}
	return c, nil
}

// validName reports whether s is n to m letters, digits, '_', '.' or '-':
// a Telegram bot username or a Facebook Page id or username, safe in a URL.
func validName(s string, n, m int) bool {
	if len(s) < n || len(s) > m {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '.' || r == '-') {
			return false
		}
	}
	return true
}

// secretFile returns the secret stored at dataDir/name, creating it with
// random content (mode 0600) the first time. It lets `bottega serve` run
// with no configuration without ever printing a secret.
func secretFile(dataDir, name string) (string, error) {
	path := filepath.Join(dataDir, name)
	if b, err := os.ReadFile(path); err == nil {
		if s := strings.TrimSpace(string(b)); s != "" {
			return s, nil
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("BOTTEGA_DATA_DIR: %w", err)
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return "", fmt.Errorf("BOTTEGA_DATA_DIR: %w", err)
	}
	buf := make([]byte, 32)
	if _, err := rand.Read(buf); err != nil {
		return "", err
	}
	s := hex.EncodeToString(buf)
	if err := os.WriteFile(path, []byte(s+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("BOTTEGA_DATA_DIR: %w", err)
	}
	return s, nil
}
