package web

import (
	"bytes"
	_ "embed"
	"fmt"
	"html/template"
	"net/url"
	"strings"
	"time"

	"github.com/gofiber/contrib/websocket"
	"github.com/gofiber/fiber/v2"

	"github.com/bottega-shop/bottega/bot/webchat"
)

//go:embed assets/widget.js
var widgetJS []byte

//go:embed assets/index.html
var demoPage string

// demoTemplate is the demo shop page; with the demo sign-in enabled it
// offers to sign in as a demo customer.
var demoTemplate = template.Must(template.New("index.html").Parse(demoPage))

// The demo sign-in: one customer, signed for an hour at each page load.
const (
	demoCustomerID = "demo-giulia"
	demoClaimLife  = time.Hour
)

// socketConn adapts a Fiber websocket to webchat.Conn: text frames only,
// an idle deadline refreshed by every frame (the widget pings every 25 s).
type socketConn struct{ c *websocket.Conn }

const socketIdle = 70 * time.Second

func (s socketConn) ReadMessage() ([]byte, error) {
	s.c.SetReadDeadline(time.Now().Add(socketIdle))
	_, b, err := s.c.ReadMessage()
	return b, err
}

func (s socketConn) WriteMessage(b []byte) error {
	s.c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	return s.c.WriteMessage(websocket.TextMessage, b)
}

func (s socketConn) Close() error { return s.c.Close() }

// chatUpgrade lets only WebSocket upgrades from allowed origins through:
// the configured origins, or the page's own host. A request with no Origin
// (not a browser) passes; browsers always send one.
func (s *Server) chatUpgrade(c *fiber.Ctx) error {
	if s.cfg.WebChat == nil {
		return &httpError{status: fiber.StatusNotFound, msg: "web chat is not enabled"}
	}
	if !websocket.IsWebSocketUpgrade(c) {
		return fiber.ErrUpgradeRequired
	}
	origin := c.Get(fiber.HeaderOrigin)
	if origin != "" && !s.originAllowed(origin, c.Hostname()) {
		return &httpError{status: fiber.StatusForbidden, msg: "origin not allowed for web chat"}
	}
	return c.Next()
}

func (s *Server) originAllowed(origin, host string) bool {
	for _, o := range s.cfg.ChatOrigins {
		if strings.EqualFold(strings.TrimSuffix(o, "/"), origin) {
			return true
		}
	}
	u, err := url.Parse(origin)
	return err == nil && u.Host != "" && strings.EqualFold(u.Host, host)
}

// chatSocket serves the web-chat socket. The origin check is chatUpgrade's
// (it needs the request's host), so the library's own list is open.
func (s *Server) chatSocket() fiber.Handler {
	return websocket.New(func(c *websocket.Conn) {
		c.SetReadLimit(64 << 10)
		s.cfg.WebChat.Serve(s.sockets, socketConn{c})
	}, websocket.Config{
		Origins:          []string{"*"},
		HandshakeTimeout: 10 * time.Second,
		RecoverHandler: func(c *websocket.Conn) {
			if r := recover(); r != nil {
				s.log.Error("panic in web-chat socket", "type", typeName(r))
				c.Close()
			}
		},
	})
}

func (s *Server) widget(c *fiber.Ctx) error {
	c.Set(fiber.HeaderContentType, "text/javascript; charset=utf-8")
	c.Set(fiber.HeaderCacheControl, "public, max-age=300")
	return c.Send(widgetJS)
}

// demoShop serves the demo shop page. With Config.DemoCustomerKey set,
// it offers "Sign in as Giulia (demo)", a link to /?signin=demo, where the
// widget tag carries a claim for demoCustomerID signed with that key, as a
// shop's backend would sign its customer's; "Sign out" goes back to /.
func (s *Server) demoShop(c *fiber.Ctx) error {
	var page struct {
		Demo  bool
		Claim *webchat.CustomerClaim
	}
	if s.cfg.DemoCustomerKey != "" {
		page.Demo = true
		if c.Query("signin") == "demo" {
			claim := webchat.NewCustomers(s.cfg.DemoCustomerKey, nil).Sign(demoCustomerID, time.Now().Add(demoClaimLife))
			page.Claim = &claim
		}
		// The page differs by sign-in and holds a signed claim.
		c.Set(fiber.HeaderCacheControl, "no-store")
	}
	var b bytes.Buffer
	if err := demoTemplate.Execute(&b, page); err != nil {
		return fmt.Errorf("demo page: %w", err)
	}
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	return c.Send(b.Bytes())
}
