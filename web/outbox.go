package web

import (
	"strconv"

	"github.com/gofiber/fiber/v2"

	"github.com/bottega-shop/bottega/bot"
)

// outboxView shows the outbound queue: how many conversations wait, and
// the newest dead letters with their reasons (never a message's text).
func (s *Server) outboxView(c *fiber.Ctx) error {
	if s.cfg.Outbox == nil {
		return &httpError{status: fiber.StatusNotFound, msg: "no outbound queue: Telegram and Messenger are off"}
	}
	limit, err := strconv.Atoi(c.Query("limit", "100"))
	if err != nil || limit < 1 || limit > 1000 {
		return badRequest("limit must be a number from 1 to 1000")
	}
	ctx, cancel := reqCtx(c, apiTimeout)
	defer cancel()
	backlog, err := s.cfg.Outbox.Backlog(ctx)
	if err != nil {
		return err
	}
	dead, err := s.cfg.Outbox.DeadLetters(ctx, limit)
	if err != nil {
		return err
	}
	if dead == nil {
		dead = []bot.DeadLetter{}
	}
	return c.JSON(fiber.Map{"backlog": backlog, "dead_letters": dead})
}
