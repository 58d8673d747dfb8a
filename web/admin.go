package web

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/bottega-shop/bottega/catalog"
)

// reqCtx derives a context with a deadline: Fiber does not cancel request
// contexts on its own.
func reqCtx(c *fiber.Ctx, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(c.UserContext(), d)
}

const apiTimeout = 30 * time.Second

func (s *Server) listProducts(c *fiber.Ctx) error {
	limit := 50
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 500 {
			return badRequest("limit must be a number from 1 to 500")
		}
		limit = n
	}
	ctx, cancel := reqCtx(c, apiTimeout)
	defer cancel()
	page, err := s.cfg.Catalog.List(ctx, catalog.ListOptions{
		After: c.Query("after"), Limit: limit, Category: c.Query("category"), Brand: c.Query("brand"),
	})
	if err != nil {
		return err
	}
	if page.Products == nil {
		page.Products = []catalog.Product{}
	}
	return c.JSON(page)
}

// newProduct returns a product whose Active defaults to true when the JSON
// leaves it out.
func newProduct() *catalog.Product { return &catalog.Product{Active: true} }

func (s *Server) createProduct(c *fiber.Ctx) error {
	p := newProduct()
	if err := decodeJSON(c, s.cfg.JSONLimit, p); err != nil {
		return err
	}
	ctx, cancel := reqCtx(c, apiTimeout)
	defer cancel()
	if err := s.cfg.Catalog.Create(ctx, p, "admin:create"); err != nil {
		return err
	}
	saved, err := s.cfg.Catalog.Product(ctx, p.Handle)
	if err != nil {
		return err
	}
	c.Location("/api/admin/products/" + p.Handle)
	return c.Status(fiber.StatusCreated).JSON(saved)
}

func (s *Server) getProduct(c *fiber.Ctx) error {
	ctx, cancel := reqCtx(c, apiTimeout)
	defer cancel()
	p, err := s.cfg.Catalog.Product(ctx, c.Params("handle"))
	if err != nil {
		return err
	}
	return c.JSON(p)
}

func (s *Server) replaceProduct(c *fiber.Ctx) error {
	p := newProduct()
	if err := decodeJSON(c, s.cfg.JSONLimit, p); err != nil {
		return err
	}
	handle := c.Params("handle")
	if p.Handle == "" {
		p.Handle = handle
	}
	if p.Handle != handle {
		return badRequest("the body's handle %q differs from the URL's %q", p.Handle, handle)
	}
	ctx, cancel := reqCtx(c, apiTimeout)
	defer cancel()
	if err := s.cfg.Catalog.Replace(ctx, p, "admin:replace"); err != nil {
		return err
	}
	saved, err := s.cfg.Catalog.Product(ctx, handle)
	if err != nil {
		return err
	}
	return c.JSON(saved)
}

func (s *Server) deleteProduct(c *fiber.Ctx) error {
	ctx, cancel := reqCtx(c, apiTimeout)
	defer cancel()
	if err := s.cfg.Catalog.Delete(ctx, c.Params("handle")); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// bulkBody is the bulk upsert's request: products with their variants.
type bulkBody struct {
	Products []json.RawMessage `json:"products"`
}

func (s *Server) bulkUpsert(c *fiber.Ctx) error {
	var body bulkBody
	if err := decodeJSON(c, s.cfg.BulkLimit, &body); err != nil {
		return err
	}
	if len(body.Products) == 0 {
		return badRequest("products: needs at least one product")
	}
	// Decode each product on its own so Active defaults to true and a
	// problem names the product's position.
	ps := make([]catalog.Product, len(body.Products))
	var problems []catalog.Problem
	for i, raw := range body.Products {
		ps[i].Active = true
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&ps[i]); err != nil {
			var herr *httpError
			if errors.As(jsonError(err), &herr) {
				for _, p := range herr.problems {
					p.Row = i + 1
					problems = append(problems, p)
				}
			}
		}
	}
	if len(problems) > 0 {
		return &httpError{status: fiber.StatusBadRequest, msg: "malformed JSON", problems: problems}
	}
	ctx, cancel := reqCtx(c, 5*time.Minute)
	defer cancel()
	res, err := s.cfg.Catalog.Upsert(ctx, ps, "admin:bulk")
	if err != nil {
		return err
	}
	return c.JSON(res)
}

type stockBody struct {
	Changes []catalog.StockChange `json:"changes"`
}

func (s *Server) adjustStock(c *fiber.Ctx) error {
	var body stockBody
	if err := decodeJSON(c, s.cfg.BulkLimit, &body); err != nil {
		return err
	}
	return s.applyStock(c, body.Changes)
}

func (s *Server) setStock(c *fiber.Ctx) error {
	var ch catalog.StockChange
	if err := decodeJSON(c, s.cfg.JSONLimit, &ch); err != nil {
		return err
	}
	if ch.SKU != "" && ch.SKU != c.Params("sku") {
		return badRequest("the body's sku %q differs from the URL's %q", ch.SKU, c.Params("sku"))
	}
	ch.SKU = c.Params("sku")
	return s.applyStock(c, []catalog.StockChange{ch})
}

func (s *Server) applyStock(c *fiber.Ctx, changes []catalog.StockChange) error {
	ctx, cancel := reqCtx(c, apiTimeout)
	defer cancel()
	events, err := s.cfg.Catalog.AdjustStock(ctx, changes, "admin:stock")
	if err != nil {
		return err
	}
	if events == nil {
		events = []catalog.StockEvent{}
	}
	return c.JSON(fiber.Map{"events": events})
}

func (s *Server) stockEvents(c *fiber.Ctx) error {
	after, err := strconv.ParseInt(c.Query("after", "0"), 10, 64)
	if err != nil || after < 0 {
		return badRequest("after must be an event id")
	}
	limit, err := strconv.Atoi(c.Query("limit", "100"))
	if err != nil || limit < 1 || limit > 1000 {
		return badRequest("limit must be a number from 1 to 1000")
	}
	ctx, cancel := reqCtx(c, apiTimeout)
	defer cancel()
	events, err := s.cfg.Catalog.StockEvents(ctx, after, limit)
	if err != nil {
		return err
	}
	if events == nil {
		events = []catalog.StockEvent{}
	}
	return c.JSON(fiber.Map{"events": events})
}

// importFormat picks csv or json from ?format= or the Content-Type.
func importFormat(c *fiber.Ctx) (string, error) {
	switch f := c.Query("format"); f {
	case "csv", "json":
		return f, nil
	case "":
	default:
		return "", badRequest("format must be csv or json")
	}
	mt, _, _ := mime.ParseMediaType(c.Get(fiber.HeaderContentType))
	switch mt {
	case "text/csv", "application/csv":
		return "csv", nil
	case "application/json", "application/x-ndjson":
		return "json", nil
	}
	return "", &httpError{status: fiber.StatusUnsupportedMediaType,
		msg: "send text/csv or application/json, or say ?format=csv|json"}
}

func (s *Server) importCatalog(c *fiber.Ctx) error {
	format, err := importFormat(c)
	if err != nil {
		return err
	}
	r, err := bodyReader(c, s.cfg.ImportLimit)
	if err != nil {
		return err
	}
	ctx, cancel := reqCtx(c, 30*time.Minute)
	defer cancel()
	res, err := s.cfg.Catalog.Import(ctx, r, format, "admin:import")
	if err != nil {
		return err
	}
	return c.JSON(res)
}

func (s *Server) exportCatalog(c *fiber.Ctx) error {
	format := c.Query("format", "json")
	if format != "csv" && format != "json" {
		return badRequest("format must be csv or json")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	if format == "csv" {
		c.Set(fiber.HeaderContentType, "text/csv; charset=utf-8")
	} else {
		c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSONCharsetUTF8)
	}
	c.Set(fiber.HeaderContentDisposition, fmt.Sprintf(`attachment; filename="catalog.%s"`, format))
	log := s.log
	c.Context().SetBodyStreamWriter(func(w *bufio.Writer) {
		defer cancel()
		enc, err := catalog.NewEncoder(w, format)
		if err == nil {
			err = s.cfg.Catalog.Export(ctx, enc)
		}
		if err == nil {
			err = enc.Close()
		}
		if err != nil {
			// The status is sent already; the truncated body shows the failure.
			log.Error("export failed", "err", err)
		}
		w.Flush()
	})
	return nil
}

func (s *Server) search(c *fiber.Ctx) error {
	q := catalog.Query{Text: c.Query("q"), Brand: c.Query("brand"), Category: c.Query("category"), Facets: c.QueryBool("facets")}
	for _, v := range strings.Split(c.Query("size"), ",") {
		if v = strings.TrimSpace(v); v != "" {
			q.Sizes = append(q.Sizes, v)
		}
	}
	for _, v := range strings.Split(c.Query("colour", c.Query("color")), ",") {
		if v = strings.TrimSpace(v); v != "" {
			q.Colours = append(q.Colours, v)
		}
	}
	q.InStock = c.QueryBool("in_stock")
	q.Limit = c.QueryInt("limit", 20)
	q.Offset = c.QueryInt("offset", 0)
	if q.Limit < 1 || q.Limit > 100 || q.Offset < 0 {
		return badRequest("limit must be from 1 to 100 and offset not negative")
	}
	if len(q.Text) > 500 {
		return badRequest("q is longer than 500 characters")
	}
	ctx, cancel := reqCtx(c, 10*time.Second)
	defer cancel()
	res, err := s.cfg.Catalog.Search(ctx, q)
	if err != nil {
		return err
	}
	return c.JSON(res)
}

func (s *Server) listSynonyms(c *fiber.Ctx) error {
	ctx, cancel := reqCtx(c, apiTimeout)
	defer cancel()
	syns, err := s.cfg.Catalog.Synonyms(ctx)
	if err != nil {
		return err
	}
	if syns == nil {
		syns = []catalog.Synonym{}
	}
	return c.JSON(fiber.Map{"synonyms": syns})
}

func (s *Server) putSynonym(c *fiber.Ctx) error {
	var syn catalog.Synonym
	if err := decodeJSON(c, s.cfg.JSONLimit, &syn); err != nil {
		return err
	}
	ctx, cancel := reqCtx(c, apiTimeout)
	defer cancel()
	if err := s.cfg.Catalog.PutSynonym(ctx, syn); err != nil {
		return err
	}
	return c.JSON(syn)
}

func (s *Server) deleteSynonym(c *fiber.Ctx) error {
	ctx, cancel := reqCtx(c, apiTimeout)
	defer cancel()
	if err := s.cfg.Catalog.DeleteSynonym(ctx, c.Params("term")); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

func (s *Server) listSizeCharts(c *fiber.Ctx) error {
	ctx, cancel := reqCtx(c, apiTimeout)
	defer cancel()
	charts, err := s.cfg.Catalog.SizeCharts(ctx)
	if err != nil {
		return err
	}
	if charts == nil {
		charts = []catalog.SizeChart{}
	}
	return c.JSON(fiber.Map{"size_charts": charts})
}

func (s *Server) putSizeChart(c *fiber.Ctx) error {
	var chart catalog.SizeChart
	if err := decodeJSON(c, s.cfg.JSONLimit, &chart); err != nil {
		return err
	}
	if chart.Name == "" {
		chart.Name = c.Params("name")
	}
	if chart.Name != c.Params("name") {
		return badRequest("the body's name %q differs from the URL's %q", chart.Name, c.Params("name"))
	}
	ctx, cancel := reqCtx(c, apiTimeout)
	defer cancel()
	if err := s.cfg.Catalog.PutSizeChart(ctx, chart); err != nil {
		return err
	}
	return c.JSON(chart)
}

func (s *Server) deleteSizeChart(c *fiber.Ctx) error {
	ctx, cancel := reqCtx(c, apiTimeout)
	defer cancel()
	if err := s.cfg.Catalog.DeleteSizeChart(ctx, c.Params("name")); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

func (s *Server) reindex(c *fiber.Ctx) error {
	ctx, cancel := reqCtx(c, 30*time.Minute)
	defer cancel()
	start := time.Now()
	if err := s.cfg.Catalog.Reindex(ctx); err != nil {
		return err
	}
	return c.JSON(fiber.Map{"status": "reindexed", "seconds": time.Since(start).Seconds()})
}
