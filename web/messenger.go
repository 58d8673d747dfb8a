package web

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/bottega-shop/bottega/bot/messenger"
)

// messengerTimeout bounds the handling of one webhook body: Meta waits
// about 5 seconds for the 200 and sends the body again after a failure.
const messengerTimeout = 4 * time.Second

// messengerVerify answers Meta's subscription handshake: the challenge as
// plain text, byte for byte, or 403. The query holds the verify token, and
// observe never logs query strings.
func (s *Server) messengerVerify(c *fiber.Ctx) error {
	if s.cfg.Messenger == nil {
		return &httpError{status: fiber.StatusNotFound, msg: "messenger is not enabled"}
	}
	challenge, ok := s.cfg.Messenger.Verify(c.Query("hub.mode"), c.Query("hub.verify_token"), c.Query("hub.challenge"))
	if !ok {
		return &httpError{status: fiber.StatusForbidden, msg: "webhook verification failed"}
	}
	c.Set(fiber.HeaderContentType, fiber.MIMETextPlainCharsetUTF8)
	return c.Status(fiber.StatusOK).SendString(challenge)
}

// messengerWebhook takes one signed webhook body. The signature is checked
// on the exact bytes received, copied out of Fiber's reused buffers; the
// answer comes once every event is handled (see messenger.Webhook.Handle).
func (s *Server) messengerWebhook(c *fiber.Ctx) error {
	if s.cfg.Messenger == nil {
		return &httpError{status: fiber.StatusNotFound, msg: "messenger is not enabled"}
	}
	raw, err := readBody(c, s.cfg.JSONLimit)
	if err != nil {
		return err
	}
	body := append([]byte(nil), raw...)
	signature := strings.Clone(c.Get(messenger.SignatureHeader))

	ctx, cancel := context.WithTimeout(c.UserContext(), messengerTimeout)
	defer cancel()
	status, err := s.cfg.Messenger.Handle(ctx, signature, body)
	switch status {
	case http.StatusOK:
		c.Set(fiber.HeaderContentType, fiber.MIMETextPlainCharsetUTF8)
		return c.Status(fiber.StatusOK).SendString("EVENT_RECEIVED")
	case http.StatusUnauthorized:
		return &httpError{status: fiber.StatusUnauthorized, msg: "bad or missing X-Hub-Signature-256"}
	case http.StatusBadRequest:
		detail := strings.TrimSuffix(trimPackages(err), ": "+messenger.ErrMalformed.Error())
		return &httpError{status: fiber.StatusBadRequest, msg: "malformed webhook body: " + detail}
	}
	// Not all events could be handled: Meta sends the body again.
	s.log.Warn("messenger webhook not processed", "request_id", requestID(c), "status", status, "err", err)
	return c.Status(status).JSON(errorBody{Error: "not processed; send it again", RequestID: requestID(c)})
}
