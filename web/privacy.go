package web

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/bottega-shop/bottega/consent"
)

// The data-rights API: the shop's admin looks up, exports and erases what
// is held on a person, and the person downloads their export from a
// single-use link.
//
// Every call on one person's data (GET, POST …/export and DELETE on
// /api/admin/subjects/{subject}) needs a reason, in the X-Access-Reason
// header or, where a header cannot be set, the reason query parameter
// (the header wins); it is written to the access audit, with the actor
// "admin", what was done and when, before the data is read. The list of
// subjects (pseudonymous ids, channels, first seen) and the audit itself
// need no reason.

// Privacy is the data-rights service the admin API fronts:
// consent.Rights and the list of subjects. *consent.DataRights implements
// it.
type Privacy interface {
	consent.Rights
	Subjects(ctx context.Context, after string, limit int) ([]consent.SubjectInfo, error)
}

// Exports redeems export links (the token after /privacy/export/).
// *consent.DataRights implements it: errors wrap consent.ErrNotFound for
// a token that is not a valid link or whose person was erased, and
// consent.ErrGone for one that expired or was used.
type Exports interface {
	Redeem(ctx context.Context, token string) (consent.Export, error)
}

// accessReasonHeader carries the reason for reading a person's data.
const accessReasonHeader = "X-Access-Reason"

// adminActor is the audit's actor for calls with the admin token.
const adminActor = "admin"

// privacyOn fails unless the data-rights API is configured: the service
// and the audit (no read of a person's data goes unaudited).
func (s *Server) privacyOn() error {
	if s.cfg.Privacy == nil || s.cfg.Audit == nil {
		return &httpError{status: fiber.StatusNotFound, msg: "the data-rights API is not enabled"}
	}
	return nil
}

// privacyError maps the consent package's errors to responses whose texts
// name nothing about the person.
func (s *Server) privacyError(c *fiber.Ctx, err error) error {
	switch {
	case errors.Is(err, consent.ErrInvalid):
		return badRequest("%s", trimPackages(err))
	case errors.Is(err, consent.ErrNotFound):
		return &httpError{status: fiber.StatusNotFound, msg: "nothing is held on this subject"}
	case errors.Is(err, consent.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		s.log.Warn("data rights: backend unavailable", "request_id", requestID(c), "route", c.Route().Path, "err", err)
		return &httpError{status: fiber.StatusServiceUnavailable, msg: "a backend is unavailable; try again shortly"}
	}
	return err
}

// audit records the admin's access to subject's data, with the reason the
// request gives, before the data is read.
func (s *Server) audit(ctx context.Context, c *fiber.Ctx, subject, what string) error {
	why := strings.TrimSpace(c.Get(accessReasonHeader))
	if why == "" {
		why = strings.TrimSpace(c.Query("reason"))
	}
	if why == "" {
		return badRequest("say why you access this person's data: set the %s header (or the reason query parameter)", accessReasonHeader)
	}
	_, err := s.cfg.Audit.Record(ctx, consent.Access{Actor: adminActor, Subject: subject, What: what, Why: why})
	return s.privacyError(c, err)
}

func (s *Server) listSubjects(c *fiber.Ctx) error {
	if err := s.privacyOn(); err != nil {
		return err
	}
	limit, err := strconv.Atoi(c.Query("limit", strconv.Itoa(consent.DefaultSubjectsLimit)))
	if err != nil || limit < 1 || limit > consent.MaxSubjectsLimit {
		return badRequest("limit must be a number from 1 to %d", consent.MaxSubjectsLimit)
	}
	ctx, cancel := reqCtx(c, apiTimeout)
	defer cancel()
	subjects, err := s.cfg.Privacy.Subjects(ctx, c.Query("after"), limit)
	if err != nil {
		return s.privacyError(c, err)
	}
	if subjects == nil {
		subjects = []consent.SubjectInfo{}
	}
	body := fiber.Map{"subjects": subjects}
	if len(subjects) == limit {
		body["next"] = subjects[len(subjects)-1].Subject
	}
	return c.JSON(body)
}

func (s *Server) subjectSummary(c *fiber.Ctx) error {
	if err := s.privacyOn(); err != nil {
		return err
	}
	subject := c.Params("subject")
	ctx, cancel := reqCtx(c, apiTimeout)
	defer cancel()
	if err := s.audit(ctx, c, subject, "summary"); err != nil {
		return err
	}
	sum, err := s.cfg.Privacy.Summary(ctx, subject)
	if err != nil {
		return s.privacyError(c, err)
	}
	if len(sum.Held) == 0 && len(sum.Receipts) == 0 {
		return s.privacyError(c, consent.ErrNotFound)
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(sum)
}

func (s *Server) subjectExport(c *fiber.Ctx) error {
	if err := s.privacyOn(); err != nil {
		return err
	}
	subject := c.Params("subject")
	ctx, cancel := reqCtx(c, apiTimeout)
	defer cancel()
	if err := s.audit(ctx, c, subject, "export link"); err != nil {
		return err
	}
	url, expires, err := s.cfg.Privacy.ExportLink(ctx, subject)
	if err != nil {
		return s.privacyError(c, err)
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(fiber.Map{"url": url, "expires": expires})
}

func (s *Server) eraseSubject(c *fiber.Ctx) error {
	if err := s.privacyOn(); err != nil {
		return err
	}
	subject := c.Params("subject")
	ctx, cancel := reqCtx(c, apiTimeout)
	defer cancel()
	if err := s.audit(ctx, c, subject, "erase"); err != nil {
		return err
	}
	rep, err := s.cfg.Privacy.Erase(ctx, subject, consent.Request{})
	if err != nil {
		return s.privacyError(c, err)
	}
	if !rep.Complete() {
		s.log.Warn("data rights: erasure incomplete", "request_id", requestID(c))
	}
	return c.JSON(rep)
}

func (s *Server) listAudit(c *fiber.Ctx) error {
	if err := s.privacyOn(); err != nil {
		return err
	}
	before, err := strconv.ParseInt(c.Query("before", "0"), 10, 64)
	if err != nil || before < 0 {
		return badRequest("before must be an access id")
	}
	limit, err := strconv.Atoi(c.Query("limit", strconv.Itoa(consent.DefaultAccessLimit)))
	if err != nil || limit < 1 || limit > consent.MaxAccessLimit {
		return badRequest("limit must be a number from 1 to %d", consent.MaxAccessLimit)
	}
	ctx, cancel := reqCtx(c, apiTimeout)
	defer cancel()
	accesses, err := s.cfg.Audit.List(ctx, consent.AccessFilter{
		Subject: c.Query("subject"), Actor: c.Query("actor"), Before: before, Limit: limit,
	})
	if err != nil {
		return s.privacyError(c, err)
	}
	if accesses == nil {
		accesses = []consent.Access{}
	}
	body := fiber.Map{"accesses": accesses}
	if len(accesses) == limit {
		body["next"] = accesses[len(accesses)-1].ID
	}
	return c.JSON(body)
}

// privacyExport serves a person's export from their link, once, as a
// download. Its errors say only that the link is not valid (404) or no
// longer valid (410).
func (s *Server) privacyExport(c *fiber.Ctx) error {
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set("Referrer-Policy", "no-referrer")
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	if s.cfg.Exports == nil {
		return &httpError{status: fiber.StatusNotFound, msg: "this link is not valid"}
	}
	ctx, cancel := reqCtx(c, apiTimeout)
	defer cancel()
	x, err := s.cfg.Exports.Redeem(ctx, c.Params("token"))
	switch {
	case errors.Is(err, consent.ErrGone):
		return &httpError{status: fiber.StatusGone, msg: "this link has expired or was used already; ask the shop for a new one"}
	case errors.Is(err, consent.ErrNotFound):
		return &httpError{status: fiber.StatusNotFound, msg: "this link is not valid"}
	case err != nil:
		return s.privacyError(c, err)
	}
	if s.cfg.Audit != nil {
		// The link is used up now: a failure to record the download is
		// logged, and the person still gets their data.
		if _, err := s.cfg.Audit.Record(ctx, consent.Access{Actor: "subject", Subject: x.Profile.Subject, What: "export", Why: "export link"}); err != nil {
			s.log.Warn("data rights: audit the export download", "request_id", requestID(c), "err", err)
		}
	}
	c.Attachment("bottega-export-" + x.GeneratedAt.Format("2006-01-02") + ".json")
	return c.JSON(x)
}
