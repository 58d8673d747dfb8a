package web

import (
	"context"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/bottega-shop/bottega/bot/telegram"
)

// telegramTimeout bounds the handling of one update, a little beyond the
// webhook's own dispatch timeout.
const telegramTimeout = telegram.DefaultDispatchTimeout + 5*time.Second

// telegramSecretHeader carries the secret_token given to setWebhook.
const telegramSecretHeader = "X-Telegram-Bot-Api-Secret-Token"

// telegramWebhook takes one update from Telegram. The secret header is
// checked before the body is read; the body is copied out of Fiber's
// reused buffers before it is handed on; the answer comes once the update
// is handled (see telegram.Webhook.Handle), with an empty 200 that
// Telegram reads as no Bot API call.
func (s *Server) telegramWebhook(c *fiber.Ctx) error {
	if s.cfg.Telegram == nil {
		return &httpError{status: fiber.StatusNotFound, msg: "telegram is not enabled"}
	}
	secret := strings.Clone(c.Get(telegramSecretHeader))
	if !s.cfg.Telegram.Authorized(secret) {
		return &httpError{status: fiber.StatusUnauthorized, msg: "bad or missing " + telegramSecretHeader}
	}
	if ct := c.Get(fiber.HeaderContentType); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err == nil && (mt == fiber.MIMEApplicationForm || mt == fiber.MIMEMultipartForm) {
			return badRequest("malformed update: send the update as JSON, not %s", mt)
		}
	}
	raw, err := readBody(c, s.cfg.JSONLimit)
	if err != nil {
		return err
	}
	body := append([]byte(nil), raw...)

	ctx, cancel := context.WithTimeout(c.UserContext(), telegramTimeout)
	defer cancel()
	status, err := s.cfg.Telegram.Handle(ctx, secret, body)
	switch status {
	case http.StatusOK:
		return c.SendStatus(fiber.StatusOK)
	case http.StatusUnauthorized:
		return &httpError{status: fiber.StatusUnauthorized, msg: "bad or missing " + telegramSecretHeader}
	case http.StatusRequestEntityTooLarge:
		return errTooLarge
	case http.StatusBadRequest:
		detail := strings.TrimSuffix(trimPackages(err), ": "+telegram.ErrMalformed.Error())
		return &httpError{status: fiber.StatusBadRequest, msg: "malformed update: " + detail}
	}
	// Not handled: Telegram delivers the update again.
	s.log.Warn("telegram update not processed", "request_id", requestID(c), "status", status, "err", err)
	return c.Status(status).JSON(errorBody{Error: "not processed; send it again", RequestID: requestID(c)})
}
