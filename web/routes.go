package web

import "github.com/gofiber/fiber/v2"

// routes is the whole HTTP surface in one place.
func (s *Server) routes() {
	app := s.app
	app.Use(requestIDs(), s.observe, s.recoverPanics)

	app.Get("/healthz", s.healthz)
	app.Get("/readyz", s.readyz)
	app.Get("/metrics", metricsHandler(s.cfg.Registry))

	app.Get("/", s.demoShop)
	app.Get("/widget.js", s.widget)
	app.Get("/chat/socket", s.chatUpgrade, s.chatSocket())

	app.Get("/webhooks/messenger", s.messengerVerify)
	app.Post("/webhooks/messenger", s.messengerWebhook)
	app.Post("/webhooks/telegram", s.telegramWebhook)

	app.Get("/api/admin/openapi.json", s.openAPI)
	admin := app.Group("/api/admin", s.requireAdmin)
	admin.Get("/products", s.listProducts)
	admin.Post("/products", s.createProduct)
	admin.Post("/products/bulk", s.bulkUpsert)
	admin.Get("/products/:handle", s.getProduct)
	admin.Put("/products/:handle", s.replaceProduct)
	admin.Delete("/products/:handle", s.deleteProduct)
	admin.Post("/stock", s.adjustStock)
	admin.Put("/stock/:sku", s.setStock)
	admin.Get("/stock-events", s.stockEvents)
	admin.Post("/import", s.importCatalog)
	admin.Get("/export", s.exportCatalog)
	admin.Get("/search", s.search)
	admin.Get("/synonyms", s.listSynonyms)
	admin.Put("/synonyms", s.putSynonym)
	admin.Delete("/synonyms/:term", s.deleteSynonym)
	admin.Get("/size-charts", s.listSizeCharts)
	admin.Put("/size-charts/:name", s.putSizeChart)
	admin.Delete("/size-charts/:name", s.deleteSizeChart)
	admin.Post("/reindex", s.reindex)
	admin.Get("/subjects", s.listSubjects)
	admin.Get("/subjects/:subject", s.subjectSummary)
	admin.Post("/subjects/:subject/export", s.subjectExport)
	admin.Delete("/subjects/:subject", s.eraseSubject)
	admin.Get("/audit", s.listAudit)
	admin.Get("/outbox", s.outboxView)

	app.Get("/privacy/export/:token", s.privacyExport)

	app.Use(func(c *fiber.Ctx) error {
		return &httpError{status: fiber.StatusNotFound, msg: "no such endpoint: " + c.Method() + " " + c.Path()}
	})
}
