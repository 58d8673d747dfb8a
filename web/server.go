// Package web is Bottega's HTTP surface and the only package that imports
// Fiber: the merchandisers' admin API, health, readiness and metrics (and,
// as the product grows, the webhooks, the web-chat socket and the consoles).
package web

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/gofiber/fiber/v2/middleware/requestid"
	"github.com/gofiber/fiber/v2/utils"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/bottega-shop/bottega/bot"
	"github.com/bottega-shop/bottega/bot/messenger"
	"github.com/bottega-shop/bottega/bot/telegram"
	"github.com/bottega-shop/bottega/bot/webchat"
	"github.com/bottega-shop/bottega/catalog"
	"github.com/bottega-shop/bottega/consent"
)

// Body limits. Import bodies are streamed and may be much larger.
const (
	DefaultJSONLimit   = 1 << 20
	DefaultBulkLimit   = 32 << 20
	DefaultImportLimit = 512 << 20
)

// Checker reports, per backend name, whether each configured backend answers.
type Checker func(ctx context.Context) map[string]error

// Config holds what the server needs.
type Config struct {
	Catalog *catalog.Service
	// AdminToken is the bearer token for /api/admin/. Empty disables the admin API.
	AdminToken string
	// Ready checks the backends for /readyz and for mapping failures to 503.
	Ready  Checker
	Logger *slog.Logger
	// Registry receives the HTTP metrics and is served at /metrics.
	Registry *prometheus.Registry
	// Limits; zero means the defaults above.
	JSONLimit, BulkLimit, ImportLimit int
	// Version is reported by /healthz.
	Version string
	// WebChat serves the chat widget's sockets; nil disables /chat.
	WebChat *webchat.Channel
	// ChatOrigins are the sites allowed to open chat sockets besides the
	// server's own host (e.g. "https://shop.example").
	ChatOrigins []string
	// DemoCustomerKey, in demo mode only, is BOTTEGA_CUSTOMER_KEY: the demo
	// shop page at / then offers to sign in as a demo customer and signs
	// the widget's customer claim with it. Empty disables the demo sign-in.
	DemoCustomerKey string
	// Messenger serves the Messenger webhook; nil disables /webhooks/messenger.
	Messenger *messenger.Webhook
	// Telegram serves the Telegram webhook; nil disables /webhooks/telegram.
	Telegram *telegram.Webhook
	// Outbox is the outbound queue's store, shown at /api/admin/outbox;
	// nil while no channel pushes replies.
	Outbox bot.OutboxStore
	// Privacy serves the admin's data-rights calls under
	// /api/admin/subjects; with Audit, which records every read of a
	// person's data and serves /api/admin/audit. Either nil disables them.
	Privacy Privacy
	Audit   consent.Audit
	// Exports serves the export links at /privacy/export/{token}; nil
	// disables them.
	Exports Exports
}

// Server is the Fiber application with its routes.
type Server struct {
	app *fiber.App
	// sockets ends long-lived connections (chat sockets) at Shutdown.
	sockets     context.Context
	stopSockets context.CancelFunc

	cfg      Config
	log      *slog.Logger
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

// New builds the server and its routes.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	if cfg.Ready == nil {
		cfg.Ready = func(context.Context) map[string]error { return nil }
	}
	if cfg.JSONLimit == 0 {
		cfg.JSONLimit = DefaultJSONLimit
	}
	if cfg.BulkLimit == 0 {
		cfg.BulkLimit = DefaultBulkLimit
	}
	if cfg.ImportLimit == 0 {
		cfg.ImportLimit = DefaultImportLimit
	}
	s := &Server{cfg: cfg, log: cfg.Logger}
	s.sockets, s.stopSockets = context.WithCancel(context.Background())
	s.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "bottega_http_requests_total",
		Help: "HTTP requests by route pattern, method and status.",
	}, []string{"route", "method", "status"})
	s.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "bottega_http_request_duration_seconds",
		Help:    "HTTP request latency by route pattern.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
	}, []string{"route"})
	cfg.Registry.MustRegister(s.requests, s.latency)

	s.app = fiber.New(fiber.Config{
		AppName:               "bottega",
		DisableStartupMessage: true,
		ErrorHandler:          s.handleError,
		// Bodies beyond 4 MiB are streamed to the handler, which enforces
		// its own limit (see readBody); imports read the stream directly.
		StreamRequestBody: true,
		UnescapePath:      true,
		BodyLimit:         4 << 20,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      5 * time.Minute,
		IdleTimeout:       2 * time.Minute,
	})
	s.routes()
	return s
}

// App returns the Fiber app, for tests (app.Test).
func (s *Server) App() *fiber.App { return s.app }

// Serve accepts connections on ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error { return s.app.Listener(ln) }

// Shutdown stops accepting connections, closes chat sockets and waits for
// in-flight requests until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	s.stopSockets()
	return s.app.ShutdownWithContext(ctx)
}

// requestIDs gives every request an unguessable id, echoed in X-Request-ID.
func requestIDs() fiber.Handler {
	return requestid.New(requestid.Config{Generator: utils.UUIDv4})
}

// methodLabel returns the metric label for an HTTP method: a constant,
// never Fiber's string, which points into a buffer that the next request
// on the connection overwrites (the counter keeps its label values).
func methodLabel(m string) string {
	for _, known := range []string{fiber.MethodGet, fiber.MethodHead, fiber.MethodPost, fiber.MethodPut,
		fiber.MethodPatch, fiber.MethodDelete, fiber.MethodOptions, fiber.MethodConnect, fiber.MethodTrace} {
		if m == known {
			return known
		}
	}
	return "other"
}

// observe logs one line per request and counts it. It never logs query
// strings or bodies, which may hold tokens or personal data.
func (s *Server) observe(c *fiber.Ctx) error {
	start := time.Now()
	err := c.Next()
	if err != nil {
		if herr := s.handleError(c, err); herr != nil {
			c.Status(fiber.StatusInternalServerError)
		}
	}
	status := c.Response().StatusCode()
	route := c.Route().Path
	if status == fiber.StatusNotFound && route == "/" && c.Path() != "/" {
		route = "unmatched"
	}
	d := time.Since(start)
	s.requests.WithLabelValues(route, methodLabel(c.Method()), strconv.Itoa(status)).Inc()
	s.latency.WithLabelValues(route).Observe(d.Seconds())
	level := slog.LevelInfo
	if status >= 500 {
		level = slog.LevelError
	}
	s.log.LogAttrs(c.UserContext(), level, "http request",
		slog.String("request_id", requestID(c)),
		slog.String("method", c.Method()),
		slog.String("route", route),
		slog.Int("status", status),
		slog.Duration("duration", d))
	return nil
}

// recoverPanics turns a panic into a 500 without a stack trace in the
// response or the log.
func (s *Server) recoverPanics(c *fiber.Ctx) (err error) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("panic in handler", "request_id", requestID(c), "route", c.Route().Path, "type", typeName(r))
			err = errPanic
		}
	}()
	return c.Next()
}

var errPanic = errors.New("internal error")

func typeName(v any) string { return fmt.Sprintf("%T", v) }

func requestID(c *fiber.Ctx) string {
	if v, ok := c.Locals(requestid.ConfigDefault.ContextKey).(string); ok {
		return v
	}
	return ""
}

// requireAdmin checks the bearer token in constant time.
func (s *Server) requireAdmin(c *fiber.Ctx) error {
	if s.cfg.AdminToken == "" {
		return &httpError{status: fiber.StatusUnauthorized, msg: "the admin API is disabled: set BOTTEGA_ADMIN_TOKEN"}
	}
	auth := c.Get(fiber.HeaderAuthorization)
	token, ok := strings.CutPrefix(auth, "Bearer ")
	if !ok || subtle.ConstantTimeCompare([]byte(token), []byte(s.cfg.AdminToken)) != 1 {
		c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="bottega admin"`)
		return &httpError{status: fiber.StatusUnauthorized, msg: "missing or wrong bearer token"}
	}
	return c.Next()
}

// httpError is an error with its HTTP status and a message safe to show.
type httpError struct {
	status   int
	msg      string
	problems []catalog.Problem
}

func (e *httpError) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return &httpError{status: fiber.StatusBadRequest, msg: fmt.Sprintf(format, args...)}
}

var errTooLarge = &httpError{status: fiber.StatusRequestEntityTooLarge, msg: "request body too large"}

// errorBody is every error response's JSON.
type errorBody struct {
	Error     string            `json:"error"`
	Problems  []catalog.Problem `json:"problems,omitempty"`
	RequestID string            `json:"request_id,omitempty"`
}

// handleError maps an error to a status and a JSON body from one table.
// Internal details go to the log, never to the client.
func (s *Server) handleError(c *fiber.Ctx, err error) error {
	status, body := s.classify(c, err)
	body.RequestID = requestID(c)
	if status >= 500 && status != fiber.StatusServiceUnavailable {
		s.log.Error("request failed", "request_id", body.RequestID, "route", c.Route().Path, "err", err)
	} else if status == fiber.StatusServiceUnavailable {
		s.log.Warn("backend unavailable", "request_id", body.RequestID, "route", c.Route().Path, "err", err)
	}
	return c.Status(status).JSON(body)
}

func (s *Server) classify(c *fiber.Ctx, err error) (int, errorBody) {
	var (
		herr *httpError
		ferr *fiber.Error
		verr *catalog.ValidationError
	)
	switch {
	case errors.As(err, &herr):
		return herr.status, errorBody{Error: herr.msg, Problems: herr.problems}
	case errors.As(err, &verr):
		return fiber.StatusBadRequest, errorBody{Error: "invalid input", Problems: verr.Problems}
	case errors.Is(err, catalog.ErrNotFound):
		return fiber.StatusNotFound, errorBody{Error: notFoundMessage(err)}
	case errors.Is(err, catalog.ErrConflict):
		return fiber.StatusConflict, errorBody{Error: "already exists: " + trimPackages(err)}
	case errors.Is(err, catalog.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		return fiber.StatusServiceUnavailable, errorBody{Error: "a backend is unavailable; try again shortly"}
	case errors.As(err, &ferr):
		msg := ferr.Message
		if ferr.Code == fiber.StatusRequestEntityTooLarge {
			msg = "request body too large"
		}
		return ferr.Code, errorBody{Error: msg}
	}
	// Unknown: if a backend is down, that is the likely cause.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	for _, e := range s.cfg.Ready(ctx) {
		if e != nil {
			return fiber.StatusServiceUnavailable, errorBody{Error: "a backend is unavailable; try again shortly"}
		}
	}
	return fiber.StatusInternalServerError, errorBody{Error: "internal error"}
}

// notFoundMessage keeps the part of a not-found error that names the thing,
// which comes from the request, and drops package prefixes.
func notFoundMessage(err error) string { return trimPackages(err) }

func trimPackages(err error) string {
	msg := err.Error()
	for {
		i := strings.Index(msg, ": ")
		if i < 0 || strings.ContainsAny(msg[:i], " \"") {
			return msg
		}
		msg = msg[i+2:]
	}
}

// readBody returns the request body, or errTooLarge past limit.
func readBody(c *fiber.Ctx, limit int) ([]byte, error) {
	if n := c.Request().Header.ContentLength(); n > limit {
		return nil, errTooLarge
	}
	if r := c.Context().RequestBodyStream(); r != nil {
		b, err := io.ReadAll(io.LimitReader(r, int64(limit)+1))
		if err != nil {
			return nil, badRequest("reading the body: %v", err)
		}
		if len(b) > limit {
			return nil, errTooLarge
		}
		return b, nil
	}
	b := c.Body()
	if len(b) > limit {
		return nil, errTooLarge
	}
	return b, nil
}

// bodyReader returns the body as a stream, failing with errTooLarge past limit.
func bodyReader(c *fiber.Ctx, limit int) (io.Reader, error) {
	if n := c.Request().Header.ContentLength(); n > limit {
		return nil, errTooLarge
	}
	if r := c.Context().RequestBodyStream(); r != nil {
		return &limitedReader{r: r, left: int64(limit)}, nil
	}
	b := c.Body()
	if len(b) > limit {
		return nil, errTooLarge
	}
	return strings.NewReader(string(b)), nil
}

type limitedReader struct {
	r    io.Reader
	left int64
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.left < 0 {
		return 0, errTooLarge
	}
	if int64(len(p)) > l.left+1 {
		p = p[:l.left+1]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	if l.left < 0 {
		return n, errTooLarge
	}
	return n, err
}

// decodeJSON reads a JSON body into v, rejecting unknown fields, trailing
// data and bodies over limit, with a message that says where it went wrong.
func decodeJSON(c *fiber.Ctx, limit int, v any) error {
	b, err := readBody(c, limit)
	if err != nil {
		return err
	}
	if len(strings.TrimSpace(string(b))) == 0 {
		return badRequest("the request body is empty; send JSON")
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if dec.More() {
		return badRequest("malformed JSON: unexpected data after the first value")
	}
	return nil
}

func jsonError(err error) error {
	var (
		syn *json.SyntaxError
		typ *json.UnmarshalTypeError
	)
	p := catalog.Problem{Message: err.Error()}
	switch {
	case errors.As(err, &syn):
		p.Message = fmt.Sprintf("malformed JSON at byte %d: %s", syn.Offset, syn.Error())
	case errors.As(err, &typ):
		p.Field = typ.Field
		p.Message = fmt.Sprintf("expected %s, got %s", typ.Type, typ.Value)
	case errors.Is(err, io.ErrUnexpectedEOF):
		p.Message = "malformed JSON: the body ends too early"
	case strings.HasPrefix(err.Error(), "json: unknown field"):
		p.Field = strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		p.Message = "unknown field"
	}
	return &httpError{status: fiber.StatusBadRequest, msg: "malformed JSON", problems: []catalog.Problem{p}}
}

func metricsHandler(reg *prometheus.Registry) fiber.Handler {
	return adaptor.HTTPHandler(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
}
