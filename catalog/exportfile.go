package catalog

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
)

// Encoder writes products in a format DecodeProducts reads back: CSV with
// one row per variant, or a JSON array with one product per line. It writes
// as it goes, so exporting a large catalog holds one product at a time.
//
// A CSV header is fixed once written, so it must name every title language
// and attribute of the products that follow. By default it holds those of
// the first product; to export products that differ, call AddColumns with
// each of them before the first Encode. Encode refuses a product with a title
// or attribute its header lacks rather than drop it. Empty attribute values
// and surrounding spaces do not survive CSV.
type Encoder struct {
	w      io.Writer
	format string
	cw     *csv.Writer
	// langs and attrs collect the CSV columns until the header is written;
	// header holds them after.
	langs  map[string]bool
	attrs  map[string]bool
	header *encHeader
	n      int
	closed bool
	buf    bytes.Buffer
	rec    []string
}

type encHeader struct {
	langs, attrs []string
}

// NewEncoder returns an Encoder writing to w in format "csv" or "json".
func NewEncoder(w io.Writer, format string) (*Encoder, error) {
	e := &Encoder{w: w, format: format, langs: map[string]bool{}, attrs: map[string]bool{}}
	switch format {
	case "csv":
		e.cw = csv.NewWriter(w)
	case "json":
	default:
		return nil, fmt.Errorf("catalog: new encoder: unknown format %q, want csv or json", format)
	}
	return e, nil
}

// Format returns the encoder's format, "csv" or "json".
func (e *Encoder) Format() string { return e.format }

// errHeaderWritten is returned by AddColumns after the first Encode.
var errHeaderWritten = errors.New("the csv header is already written")

// AddColumns adds p's title languages and attribute names to the CSV header.
// It must be called before the first Encode; it does nothing for JSON.
func (e *Encoder) AddColumns(p *Product) error {
	if e.format != "csv" {
		return nil
	}
	if e.header != nil {
		return fmt.Errorf("catalog: add columns for %q: %w", p.Handle, errHeaderWritten)
	}
	for l := range p.Titles {
		e.langs[l] = true
	}
	for a := range p.Attributes {
		e.attrs[a] = true
	}
	return nil
}

// Encode writes one product.
func (e *Encoder) Encode(p *Product) error {
	if e.closed {
		return fmt.Errorf("catalog: encode %q: encoder is closed", p.Handle)
	}
	if e.format == "json" {
		return e.encodeJSON(p)
	}
	return e.encodeCSV(p)
}

func (e *Encoder) encodeJSON(p *Product) error {
	e.buf.Reset()
	if e.n == 0 {
		e.buf.WriteString("[\n")
	} else {
		e.buf.WriteString(",\n")
	}
	je := json.NewEncoder(&e.buf)
	je.SetEscapeHTML(false)
	if err := je.Encode(p); err != nil {
		return fmt.Errorf("catalog: encode %q: %w", p.Handle, err)
	}
	e.buf.Truncate(e.buf.Len() - 1) // json.Encoder's newline; the separator follows
	if _, err := e.w.Write(e.buf.Bytes()); err != nil {
		return fmt.Errorf("catalog: encode %q: %w", p.Handle, err)
	}
	e.n++
	return nil
}

func (e *Encoder) writeHeader() error {
	h := &encHeader{langs: slices.Sorted(maps.Keys(e.langs)), attrs: slices.Sorted(maps.Keys(e.attrs))}
	rec := make([]string, 0, numCols+len(h.langs)+len(h.attrs))
	for c := range colNames {
		switch c {
		case colTitle + 1: // the titles in other languages follow the title
			for _, l := range h.langs {
				rec = append(rec, "title_"+l)
			}
		case colSKU: // the attributes close the product's columns
			for _, a := range h.attrs {
				rec = append(rec, "attr_"+a)
			}
		}
		rec = append(rec, colNames[c])
	}
	e.header = h
	if err := e.cw.Write(rec); err != nil {
		return fmt.Errorf("catalog: encode csv header: %w", err)
	}
	return nil
}

func (e *Encoder) encodeCSV(p *Product) error {
	if e.header == nil {
		if len(e.langs) == 0 && len(e.attrs) == 0 {
			e.AddColumns(p)
		}
		if err := e.writeHeader(); err != nil {
			return err
		}
	}
	for l := range p.Titles {
		if _, ok := slices.BinarySearch(e.header.langs, l); !ok && p.Titles[l] != "" {
			return fmt.Errorf("catalog: encode %q: title language %q is not a csv column; call AddColumns first", p.Handle, l)
		}
	}
	for a := range p.Attributes {
		if _, ok := slices.BinarySearch(e.header.attrs, a); !ok && p.Attributes[a] != "" {
			return fmt.Errorf("catalog: encode %q: attribute %q is not a csv column; call AddColumns first", p.Handle, a)
		}
	}
	if len(p.Variants) == 0 {
		return fmt.Errorf("catalog: encode %q: a product without variants has no csv row", p.Handle)
	}
	decimals := CurrencyDecimals(p.Currency)
	active := "false"
	if p.Active {
		active = "true"
	}
	for _, v := range p.Variants {
		rec := e.rec[:0]
		rec = append(rec, p.Handle, p.Title)
		for _, l := range e.header.langs {
			rec = append(rec, p.Titles[l])
		}
		rec = append(rec, p.Brand, p.Category, p.Description,
			formatPrice(p.PriceMinor, decimals), p.Currency, active, p.SizeChart, p.ImageURL, p.PageURL)
		for _, a := range e.header.attrs {
			rec = append(rec, p.Attributes[a])
		}
		vprice := ""
		if v.PriceMinor != nil {
			vprice = formatPrice(*v.PriceMinor, decimals)
		}
		rec = append(rec, v.SKU, v.Size, v.Colour, strconv.Itoa(v.Stock), vprice)
		e.rec = rec
		if err := e.cw.Write(rec); err != nil {
			return fmt.Errorf("catalog: encode %q: %w", p.Handle, err)
		}
	}
	e.n++
	return nil
}

// Close finishes the output: it writes the CSV header if no product was
// written, or the JSON array's end, and flushes. It does not close the
// underlying writer.
func (e *Encoder) Close() error {
	if e.closed {
		return nil
	}
	e.closed = true
	if e.format == "json" {
		end := "\n]\n"
		if e.n == 0 {
			end = "[]\n"
		}
		if _, err := io.WriteString(e.w, end); err != nil {
			return fmt.Errorf("catalog: close json encoder: %w", err)
		}
		return nil
	}
	if e.header == nil {
		if err := e.writeHeader(); err != nil {
			return err
		}
	}
	e.cw.Flush()
	if err := e.cw.Error(); err != nil {
		return fmt.Errorf("catalog: close csv encoder: %w", err)
	}
	return nil
}
