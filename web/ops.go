package web

import (
	"context"
	_ "embed"
	"time"

	"github.com/gofiber/fiber/v2"
)

//go:embed openapi.json
var openAPIDoc []byte

func (s *Server) healthz(c *fiber.Ctx) error {
	return c.JSON(fiber.Map{"status": "ok", "version": s.cfg.Version})
}

// readyz answers 200 when every configured backend answers, else 503 naming
// the backends that do not (details go to the log only).
func (s *Server) readyz(c *fiber.Ctx) error {
	ctx, cancel := context.WithTimeout(c.UserContext(), 2*time.Second)
	defer cancel()
	backends := map[string]string{}
	ready := true
	for name, err := range s.cfg.Ready(ctx) {
		if err != nil {
			ready = false
			backends[name] = "unavailable"
			s.log.Warn("readiness check failed", "backend", name, "err", err)
			continue
		}
		backends[name] = "ok"
	}
	if !ready {
		return c.Status(fiber.StatusServiceUnavailable).JSON(fiber.Map{"status": "unavailable", "backends": backends})
	}
	return c.JSON(fiber.Map{"status": "ready", "backends": backends})
}

func (s *Server) openAPI(c *fiber.Ctx) error {
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSONCharsetUTF8)
	return c.Send(openAPIDoc)
}
