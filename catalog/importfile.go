package catalog

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxProblems is the most problems DecodeProducts lists. Beyond it problems
// are only counted, and one last problem says how many more there were.
const MaxProblems = 1000

// maxJSONLine bounds one line of newline-delimited JSON, so a file without
// newlines cannot make the decoder hold all of it.
const maxJSONLine = 4 << 20

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// DecodeProducts reads products from r in format "csv" or "json" and calls fn
// with each product and the 1-based row it started at (the CSV line number, or
// the JSON item number). It reads as it goes, holding one product at a time
// (plus a small hash of each handle and SKU seen, to find duplicates), so a
// 100,000-variant file decodes in bounded memory.
//
// Problems in the input (malformed rows, unknown or missing columns, wrong
// numbers, invalid UTF-8, invalid products per Product.Validate, a handle or
// SKU seen twice in the file) are collected, up to MaxProblems, with row
// numbers, and decoding continues so every problem is reported at once; a
// product with problems is not passed to fn. An error returned by fn stops
// decoding and is returned as err, as is an error reading r.
//
// CSV has one row per variant and a header naming the columns, in any order
// and any case: handle, title, title_<lang> (title_en), brand, category,
// description, price, currency, sku, size, colour (or color), stock,
// variant_price, image_url, page_url, active, size_chart and attr_<name>.
// handle, title, price, currency, sku and stock are required; without one of
// them nothing is decoded. Consecutive rows with the same handle form one
// product, whose fields are read from its first row. Prices are decimals in
// major units ("89.90" or "89,90"), with the currency's number of decimals;
// active is true, false, 1, 0, yes, no, sì or si, and empty means true.
// Values are trimmed, an empty title_<lang> or attr_<name> cell sets nothing,
// and rows with only empty cells are skipped. A UTF-8 byte order mark is
// skipped, and a header with semicolons (or tabs) and no commas sets the
// delimiter.
//
// JSON is an array of products in Product's JSON shape, or one product per
// line (newline-delimited JSON). Unknown fields are problems; active defaults
// to true.
func DecodeProducts(r io.Reader, format string, fn func(p *Product, row int) error) (problems []Problem, err error) {
	d := newDecoder(fn)
	switch format {
	case "csv":
		err = d.decodeCSV(r)
	case "json":
		err = d.decodeJSON(r)
	default:
		return nil, fmt.Errorf("catalog: decode products: unknown format %q, want csv or json", format)
	}
	return d.result(), err
}

// decoder holds the state of one DecodeProducts call.
type decoder struct {
	fn       func(p *Product, row int) error
	problems []Problem
	more     int
	handles  seenSet
	skus     seenSet
}

func newDecoder(fn func(p *Product, row int) error) *decoder {
	return &decoder{fn: fn, handles: newSeenSet(), skus: newSeenSet()}
}

func (d *decoder) add(row int, field, format string, args ...any) {
	if len(d.problems) >= MaxProblems {
		d.more++
		return
	}
	d.problems = append(d.problems, Problem{Row: row, Field: field, Message: fmt.Sprintf(format, args...)})
}

// result returns the problems in row order.
func (d *decoder) result() []Problem {
	slices.SortStableFunc(d.problems, func(a, b Problem) int { return a.Row - b.Row })
	if d.more > 0 {
		return append(d.problems, Problem{Message: fmt.Sprintf("%d more problems not listed", d.more)})
	}
	return d.problems
}

// seenSet remembers the row each handle or SKU of a file was first seen on.
// It keeps a 64-bit hash with a per-file random seed instead of the string,
// about 27 bytes an entry instead of 57, so that the one thing a decoder holds
// for the whole file stays small. Two different strings would be taken for
// duplicates with odds of about 1 in 4 billion for a 100,000-variant file, 1
// in 40 million for a million variants, and differently each time.
type seenSet struct {
	seed maphash.Seed
	rows map[uint64]int
}

func newSeenSet() seenSet {
	return seenSet{seed: maphash.MakeSeed(), rows: make(map[uint64]int)}
}

// see records s on row and reports the row it was first seen on, if that was
// an earlier row. Empty strings are not recorded.
func (ss seenSet) see(s string, row int) (first int, dup bool) {
	if s == "" {
		return 0, false
	}
	h := maphash.String(ss.seed, s)
	if first, ok := ss.rows[h]; ok {
		return first, first != row
	}
	ss.rows[h] = row
	return 0, false
}

// CSV columns, in the order Encoder writes them.
const (
	colHandle = iota
	colTitle
	colBrand
	colCategory
	colDescription
	colPrice
	colCurrency
	colActive
	colSizeChart
	colImageURL
	colPageURL
	colSKU
	colSize
	colColour
	colStock
	colVariantPrice
	numCols
)

var colNames = [numCols]string{
	colHandle:       "handle",
	colTitle:        "title",
	colBrand:        "brand",
	colCategory:     "category",
	colDescription:  "description",
	colPrice:        "price",
	colCurrency:     "currency",
	colActive:       "active",
	colSizeChart:    "size_chart",
	colImageURL:     "image_url",
	colPageURL:      "page_url",
	colSKU:          "sku",
	colSize:         "size",
	colColour:       "colour",
	colStock:        "stock",
	colVariantPrice: "variant_price",
}

var requiredCols = []int{colHandle, colTitle, colPrice, colCurrency, colSKU, colStock}

// extraCol is a title_<lang> or attr_<name> column.
type extraCol struct {
	key string // the language or attribute name
	i   int
}

// csvHeader maps column names to record positions.
type csvHeader struct {
	n      int
	col    [numCols]int // -1 when absent
	titles []extraCol
	attrs  []extraCol
	names  []string // the canonical name of each position, for problems
}

// parseHeader reads the header record. It returns false if nothing can be
// decoded with it.
func (d *decoder) parseHeader(rec []string) (*csvHeader, bool) {
	h := &csvHeader{n: len(rec), names: make([]string, len(rec))}
	for i := range h.col {
		h.col[i] = -1
	}
	byName := make(map[string]int, numCols)
	for i, n := range colNames {
		byName[n] = i
	}
	byName["color"] = colColour
	seen := make(map[string]bool, len(rec))
	for i, raw := range rec {
		name := strings.TrimSpace(raw)
		lower := strings.ToLower(name)
		if !utf8.ValidString(name) {
			d.add(1, "", "column %d: name is not valid UTF-8", i+1)
			continue
		}
		switch c, ok := byName[lower]; {
		case name == "":
			continue // spreadsheets often leave a trailing empty column
		case ok:
			h.names[i] = colNames[c]
			if h.col[c] >= 0 {
				d.add(1, colNames[c], "column appears twice")
				continue
			}
			h.col[c] = i
		case strings.HasPrefix(lower, "title_") && len(lower) > len("title_"):
			lang := lower[len("title_"):]
			h.names[i] = "title_" + lang
			if seen[h.names[i]] {
				d.add(1, h.names[i], "column appears twice")
				continue
			}
			h.titles = append(h.titles, extraCol{lang, i})
		case strings.HasPrefix(lower, "attr_") && len(lower) > len("attr_"):
			attr := name[len("attr_"):]
			h.names[i] = "attr_" + attr
			if seen[h.names[i]] {
				d.add(1, h.names[i], "column appears twice")
				continue
			}
			h.attrs = append(h.attrs, extraCol{attr, i})
		default:
			d.add(1, short(name), "unknown column")
			continue
		}
		seen[h.names[i]] = true
	}
	var missing []string
	for _, c := range requiredCols {
		if h.col[c] < 0 {
			missing = append(missing, colNames[c])
		}
	}
	if len(missing) > 0 {
		d.add(1, "", "missing required columns: %s", strings.Join(missing, ", "))
		return nil, false
	}
	return h, true
}

func (h *csvHeader) get(rec []string, c int) string {
	if i := h.col[c]; i >= 0 && i < len(rec) {
		return strings.TrimSpace(rec[i])
	}
	return ""
}

// csvProduct is the product being assembled from consecutive rows.
type csvProduct struct {
	p    *Product
	row  int
	rows []int // the row of each variant
	bad  bool
}

func (d *decoder) decodeCSV(r io.Reader) error {
	br := bufio.NewReaderSize(r, 64<<10)
	if b, _ := br.Peek(len(utf8BOM)); bytes.Equal(b, utf8BOM) {
		br.Discard(len(utf8BOM))
	}
	head, err := br.Peek(br.Size())
	if err != nil && err != io.EOF && err != bufio.ErrBufferFull {
		return fmt.Errorf("catalog: decode csv: %w", err)
	}
	if i := bytes.IndexByte(head, '\n'); i >= 0 {
		head = head[:i]
	}
	cr := csv.NewReader(br)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	switch {
	case bytes.IndexByte(head, ',') >= 0:
	case bytes.IndexByte(head, ';') >= 0:
		cr.Comma = ';'
	case bytes.IndexByte(head, '\t') >= 0:
		cr.Comma = '\t'
	}

	rec, err := cr.Read()
	var perr *csv.ParseError
	switch {
	case err == io.EOF:
		d.add(1, "", "the file is empty; its first row must name the columns")
		return nil
	case errors.As(err, &perr):
		d.add(perr.StartLine, "", "malformed CSV header: %v", perr.Err)
		return nil
	case err != nil:
		return fmt.Errorf("catalog: decode csv: %w", err)
	}
	h, ok := d.parseHeader(rec)
	if !ok {
		return nil
	}

	var cur *csvProduct
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if errors.As(err, &perr) {
			d.add(perr.StartLine, "", "malformed CSV: %v", perr.Err)
			cur.taint(h, rec)
			continue
		}
		if err != nil {
			return fmt.Errorf("catalog: decode csv: %w", err)
		}
		line, _ := cr.FieldPos(0)
		if blank(rec) {
			continue
		}
		if len(rec) != h.n {
			d.add(line, "", "has %d fields, the header has %d", len(rec), h.n)
			cur.taint(h, rec)
			continue
		}
		if i := slices.IndexFunc(rec, func(s string) bool { return !utf8.ValidString(s) }); i >= 0 {
			d.add(line, h.names[i], "is not valid UTF-8")
			cur.taint(h, rec)
			continue
		}
		if handle := h.get(rec, colHandle); cur == nil || handle == "" || handle != cur.p.Handle {
			if err := d.flush(cur); err != nil {
				return err
			}
			cur = d.startProduct(h, rec, line)
		}
		d.addVariant(cur, h, rec, line)
	}
	return d.flush(cur)
}

func blank(rec []string) bool {
	for _, s := range rec {
		if strings.TrimSpace(s) != "" {
			return false
		}
	}
	return true
}

// taint marks the product bad if rec, a row that could not be read, seems to
// belong to it.
func (cp *csvProduct) taint(h *csvHeader, rec []string) {
	if cp != nil && h.get(rec, colHandle) == cp.p.Handle {
		cp.bad = true
	}
}

func (d *decoder) startProduct(h *csvHeader, rec []string, row int) *csvProduct {
	cp := &csvProduct{row: row}
	bad := func(field, format string, args ...any) {
		d.add(row, field, format, args...)
		cp.bad = true
	}
	p := &Product{
		Handle:      h.get(rec, colHandle),
		Title:       h.get(rec, colTitle),
		Brand:       h.get(rec, colBrand),
		Category:    h.get(rec, colCategory),
		Description: h.get(rec, colDescription),
		Currency:    h.get(rec, colCurrency),
		SizeChart:   h.get(rec, colSizeChart),
		ImageURL:    h.get(rec, colImageURL),
		PageURL:     h.get(rec, colPageURL),
		Active:      true,
	}
	cp.p = p
	if first, dup := d.handles.see(p.Handle, row); dup {
		bad("handle", "duplicate handle %q, first on row %d; a product's rows must be next to each other", short(p.Handle), first)
	}
	if s := h.get(rec, colPrice); s == "" {
		bad("price", "is required")
	} else if n, msg := parsePrice(s, CurrencyDecimals(p.Currency)); msg != "" {
		bad("price", "%s, got %q", msg, short(s))
	} else {
		p.PriceMinor = n
	}
	if s := h.get(rec, colActive); s != "" {
		switch Fold(s) {
		case "true", "1", "yes", "si", "vero":
		case "false", "0", "no", "falso":
			p.Active = false
		default:
			bad("active", "must be true or false (or 1/0, yes/no, sì/no), got %q", short(s))
		}
	}
	for _, t := range h.titles {
		if v := strings.TrimSpace(rec[t.i]); v != "" {
			if p.Titles == nil {
				p.Titles = make(map[string]string, len(h.titles))
			}
			p.Titles[t.key] = v
		}
	}
	for _, a := range h.attrs {
		if v := strings.TrimSpace(rec[a.i]); v != "" {
			if p.Attributes == nil {
				p.Attributes = make(map[string]string, len(h.attrs))
			}
			p.Attributes[a.key] = v
		}
	}
	return cp
}

func (d *decoder) addVariant(cp *csvProduct, h *csvHeader, rec []string, row int) {
	bad := func(field, format string, args ...any) {
		d.add(row, field, format, args...)
		cp.bad = true
	}
	v := Variant{
		SKU:    h.get(rec, colSKU),
		Size:   h.get(rec, colSize),
		Colour: h.get(rec, colColour),
	}
	if first, dup := d.skus.see(v.SKU, row); dup {
		bad("sku", "duplicate SKU %q, first on row %d", short(v.SKU), first)
	}
	if s := h.get(rec, colStock); s == "" {
		bad("stock", "is required")
	} else if n, err := strconv.Atoi(s); err != nil {
		bad("stock", "must be a whole number, got %q", short(s))
	} else {
		v.Stock = n
	}
	if s := h.get(rec, colVariantPrice); s != "" {
		if n, msg := parsePrice(s, CurrencyDecimals(cp.p.Currency)); msg != "" {
			bad("variant_price", "%s, got %q", msg, short(s))
		} else {
			v.PriceMinor = &n
		}
	}
	cp.p.Variants = append(cp.p.Variants, v)
	cp.rows = append(cp.rows, row)
}

// flush validates the finished product and hands it to fn if it is sound.
func (d *decoder) flush(cp *csvProduct) error {
	if cp == nil {
		return nil
	}
	probs := validationProblems(cp.p)
	for _, pr := range probs {
		row, field := csvField(pr.Field, cp.row, cp.rows)
		d.add(row, field, "%s", pr.Message)
	}
	if cp.bad || len(probs) > 0 {
		return nil
	}
	return d.fn(cp.p, cp.row)
}

// validationProblems returns p's problems sorted by field, so that problems
// from map fields come in a stable order.
func validationProblems(p *Product) []Problem {
	var ve *ValidationError
	if err := p.Validate(); !errors.As(err, &ve) {
		return nil
	}
	probs := slices.Clone(ve.Problems)
	slices.SortStableFunc(probs, func(a, b Problem) int { return strings.Compare(a.Field, b.Field) })
	return probs
}

// csvField maps a Product.Validate field name to the CSV row and column it
// came from.
func csvField(field string, row int, rows []int) (int, string) {
	if rest, ok := strings.CutPrefix(field, "variants["); ok {
		idx, name, _ := strings.Cut(rest, "]")
		if i, err := strconv.Atoi(idx); err == nil && i >= 0 && i < len(rows) {
			row = rows[i]
		}
		name = strings.TrimPrefix(name, ".")
		if name == "price_minor" {
			name = colNames[colVariantPrice]
		}
		return row, name
	}
	if lang, ok := strings.CutPrefix(field, "titles."); ok {
		return row, "title_" + lang
	}
	if attr, ok := strings.CutPrefix(field, "attributes."); ok {
		return row, "attr_" + attr
	}
	if field == "price_minor" {
		return row, colNames[colPrice]
	}
	return row, field
}

func (d *decoder) decodeJSON(r io.Reader) error {
	br := bufio.NewReaderSize(r, 64<<10)
	if b, _ := br.Peek(len(utf8BOM)); bytes.Equal(b, utf8BOM) {
		br.Discard(len(utf8BOM))
	}
	for {
		c, err := br.ReadByte()
		if err == io.EOF {
			d.add(1, "", "the file is empty; want a JSON array of products or one product per line")
			return nil
		}
		if err != nil {
			return fmt.Errorf("catalog: decode json: %w", err)
		}
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		case '[':
			br.UnreadByte()
			return d.decodeJSONArray(br)
		case '{':
			br.UnreadByte()
			return d.decodeJSONLines(br)
		default:
			d.add(1, "", "want a JSON array of products or one product per line, got %q", c)
			return nil
		}
	}
}

// isSyntax reports whether err from a json.Decoder is about the input's
// syntax rather than a failure to read it.
func isSyntax(err error) bool {
	var se *json.SyntaxError
	return errors.As(err, &se) || err == io.ErrUnexpectedEOF
}

func (d *decoder) decodeJSONArray(r io.Reader) error {
	dec := json.NewDecoder(r)
	if _, err := dec.Token(); err != nil { // the '[' seen by decodeJSON
		return fmt.Errorf("catalog: decode json: %w", err)
	}
	item := 0
	for dec.More() {
		item++
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF // the array is open
			}
			if isSyntax(err) {
				d.add(item, "", "malformed JSON: %v", err)
				return nil
			}
			return fmt.Errorf("catalog: decode json item %d: %w", item, err)
		}
		if err := d.jsonItem(raw, item); err != nil {
			return err
		}
	}
	tok, err := dec.Token()
	switch {
	case err == io.EOF || isSyntax(err):
		d.add(item+1, "", "malformed JSON: the array does not end with ]")
		return nil
	case err != nil:
		return fmt.Errorf("catalog: decode json: %w", err)
	case tok != json.Delim(']'):
		d.add(item+1, "", "malformed JSON: want , or ] after item %d", item)
		return nil
	}
	if _, err := dec.Token(); err != io.EOF {
		d.add(item+1, "", "unexpected data after the array's closing ]")
	}
	return nil
}

func (d *decoder) decodeJSONLines(br *bufio.Reader) error {
	item := 0
	for {
		line, tooLong, err := readLine(br, maxJSONLine)
		if err != nil && err != io.EOF {
			return fmt.Errorf("catalog: decode json line %d: %w", item+1, err)
		}
		if line = bytes.TrimSpace(line); len(line) > 0 || tooLong {
			item++
			if tooLong {
				d.add(item, "", "line is longer than %d bytes", maxJSONLine)
			} else if err := d.jsonItem(line, item); err != nil {
				return err
			}
		}
		if err == io.EOF {
			return nil
		}
	}
}

// readLine reads up to and excluding the next newline. A line longer than max
// is skipped and reported as tooLong.
func readLine(br *bufio.Reader, max int) (line []byte, tooLong bool, err error) {
	for {
		chunk, err := br.ReadSlice('\n')
		if !tooLong {
			if len(line)+len(chunk) > max+1 {
				tooLong, line = true, nil
			} else {
				line = append(line, chunk...)
			}
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		return bytes.TrimSuffix(line, []byte("\n")), tooLong, err
	}
}

// jsonItem decodes, checks and hands on one product of a JSON file.
func (d *decoder) jsonItem(raw []byte, item int) error {
	if !utf8.Valid(raw) {
		d.add(item, "", "is not valid UTF-8")
		return nil
	}
	p := &Product{Active: true}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(p); err != nil {
		field, msg := jsonProblem(err)
		d.add(item, field, "%s", msg)
		return nil
	}
	if dec.More() {
		d.add(item, "", "holds more than one JSON value; put each product on its own line")
		return nil
	}
	bad := false
	if first, dup := d.handles.see(p.Handle, item); dup {
		d.add(item, "handle", "duplicate handle %q, first on row %d", short(p.Handle), first)
		bad = true
	}
	for i, v := range p.Variants {
		if first, dup := d.skus.see(v.SKU, item); dup {
			d.add(item, "variants["+strconv.Itoa(i)+"].sku", "duplicate SKU %q, first on row %d", short(v.SKU), first)
			bad = true
		}
	}
	for _, pr := range validationProblems(p) {
		d.add(item, pr.Field, "%s", pr.Message)
		bad = true
	}
	if bad {
		return nil
	}
	return d.fn(p, item)
}

// jsonProblem turns an encoding/json error into a field and a message.
func jsonProblem(err error) (field, msg string) {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		if te.Field == "" {
			return "", fmt.Sprintf("must be a product object, not a JSON %s", te.Value)
		}
		return te.Field, fmt.Sprintf("must be %s, not a JSON %s", jsonKind(te.Type), te.Value)
	case errors.As(err, &se), err == io.ErrUnexpectedEOF:
		return "", "malformed JSON: " + err.Error()
	}
	msg = strings.TrimPrefix(err.Error(), "json: ")
	if name, ok := strings.CutPrefix(msg, "unknown field "); ok {
		if n, err := strconv.Unquote(name); err == nil {
			name = n
		}
		return name, "is not a known field"
	}
	return "", msg
}

func jsonKind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int64, reflect.Int32, reflect.Uint, reflect.Uint64, reflect.Uint32:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice, reflect.Array:
		return "an array"
	}
	return "an object"
}

// short truncates a value quoted in a problem.
func short(s string) string {
	const max = 40
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	r := []rune(s)
	return string(r[:max]) + "…"
}

// CurrencyDecimals returns the number of minor-unit digits of an ISO 4217
// currency: 0 for JPY or KRW, 3 for BHD or KWD, and 2 for the rest.
func CurrencyDecimals(currency string) int {
	switch currency {
	case "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF",
		"UGX", "UYI", "VND", "VUV", "XAF", "XOF", "XPF":
		return 0
	case "BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND":
		return 3
	}
	return 2
}

// parsePrice converts a decimal in major units ("89.90", "89,90", "89") to
// minor units without going through floats. On failure msg says why.
func parsePrice(s string, decimals int) (minor int64, msg string) {
	const notPrice = "is not a price like 89.90"
	if strings.HasPrefix(s, "-") {
		return 0, "must not be negative"
	}
	whole, frac, hasSep := strings.Cut(s, ".")
	if !hasSep {
		whole, frac, hasSep = strings.Cut(s, ",")
	}
	if whole == "" && frac == "" || hasSep && frac == "" || !digits(whole) || !digits(frac) {
		return 0, notPrice
	}
	if trimmed := strings.TrimRight(frac, "0"); len(trimmed) > decimals {
		return 0, fmt.Sprintf("has more than %d decimals", decimals)
	}
	for len(frac) < decimals {
		frac += "0"
	}
	for _, c := range whole + frac[:decimals] {
		dgt := int64(c - '0')
		if minor > (1<<63-1-dgt)/10 {
			return 0, "is too large"
		}
		minor = minor*10 + dgt
	}
	return minor, ""
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// formatPrice writes minor units as a decimal in major units ("89.90").
func formatPrice(minor int64, decimals int) string {
	s := strconv.FormatInt(minor, 10)
	if decimals == 0 {
		return s
	}
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	for len(s) <= decimals {
		s = "0" + s
	}
	s = s[:len(s)-decimals] + "." + s[len(s)-decimals:]
	if neg {
		s = "-" + s
	}
	return s
}
