package sqlcatalog

import (
	"fmt"
	"strings"

	"github.com/bottega-shop/bottega/internal/sqldb"
)

// This file holds every statement the store runs. Both dialects share them
// except for one construct: reading a JSON array parameter as rows, which
// lets a single statement with a single parameter read or write a whole
// batch (a product's variants, a list of handles, a batch of events).

// column is a field of the JSON objects a jsonRows parameter holds.
type column struct {
	name   string // JSON key and column name
	pgType string
}

// jsonRows returns a FROM item that reads parameter $n, a JSON array of
// objects, as the rows of alias, one column per key.
func jsonRows(d sqldb.Dialect, n int, alias string, cols ...column) string {
	var b strings.Builder
	if d == sqldb.Postgres {
		fmt.Fprintf(&b, "json_to_recordset($%d::text::json) AS %s(", n, alias)
		for i, c := range cols {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(c.name + " " + c.pgType)
		}
		b.WriteString(")")
		return b.String()
	}
	b.WriteString("(SELECT ")
	for i, c := range cols {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "json_extract(value, '$.%s') AS %s", c.name, c.name)
	}
	fmt.Fprintf(&b, " FROM json_each($%d)) AS %s", n, alias)
	return b.String()
}

// inJSON returns a condition, "IN (…)" or "= ANY(…)", matching the strings
// in parameter $n, a JSON array. On Postgres the array is built once (an
// init plan), so the planner can look each string up in an index, also
// under OR.
func inJSON(d sqldb.Dialect, n int) string {
	if d == sqldb.Postgres {
		return fmt.Sprintf("= ANY(ARRAY(SELECT json_array_elements_text($%d::text::json)))", n)
	}
	return fmt.Sprintf("IN (SELECT value FROM json_each($%d))", n)
}

const productColumns = `handle, title, titles, brand, category, description, attributes,
	image_url, page_url, price_minor, currency, size_chart, active, created_at, updated_at`

// productFields are the columns a Put or Replace may change.
var productFields = []string{"title", "titles", "brand", "category", "description", "attributes",
	"image_url", "page_url", "price_minor", "currency", "size_chart", "active"}

// variantsColumn is the last column of a product read: the product's
// variants as a JSON array of [sku, size, colour, stock, price_minor]
// arrays in their order (see decodeVariants). Reading them with the product
// takes one statement, which sees one snapshot of the database without a
// transaction, and one value to decode instead of a row per variant.
func variantsColumn(d sqldb.Dialect) string {
	if d == sqldb.Postgres {
		return `(SELECT COALESCE(json_agg(json_build_array(v.sku, v.size, v.colour, v.stock, v.price_minor)
			ORDER BY v.position, v.sku), '[]')::text FROM variants v WHERE v.product_handle = products.handle)`
	}
	return `(SELECT json_group_array(json_array(v.sku, v.size, v.colour, v.stock, v.price_minor)
		ORDER BY v.position, v.sku) FROM variants v WHERE v.product_handle = products.handle)`
}

const eventColumns = `id, sku, product_handle, old_stock, new_stock, source, at`

// statements are the store's queries for one dialect.
type statements struct {
	// bulkSetup, if not empty, starts a Write transaction. On Postgres it
	// rules out sequential scans for the transaction: the tables grow
	// within it, and a plan made while they were small (prepared statements
	// switch to a generic plan after five runs) would scan them whole for
	// every product, making an import quadratic. Every statement of a Write
	// is a key lookup or an insert, for which an index is right at any
	// size. (force_custom_plan also fixes it, at 50% more time.)
	bulkSetup string

	// productByHandle, productsByHandle and list read productColumns and
	// variantsColumn.
	productByHandle  string // $1 handle
	productsByHandle string // $1 JSON handles
	list             string // $1 after, $2 category, $3 brand, $4 limit
	count            string

	productExists   string // $1 handle
	currentVariants string // $1 handle, $2 JSON SKUs
	insertProduct   string // $1…$13 fields, $14 now
	upsertProduct   string // as insertProduct, $15 force update
	deleteProduct   string // $1 handle
	deleteVariants  string // $1 JSON SKUs
	upsertVariants  string // $1 handle, $2 JSON variantRows
	insertEvents    string // $1 JSON eventRows, $2 source, $3 now
	insertEventsRet string // as insertEvents, returning the events
	stockOf         string // $1 JSON SKUs
	setStock        string // $1 JSON stockRows
	events          string // $1 after ID, $2 limit

	synonyms      string
	putSynonym    string // $1 term, $2 JSON alternatives
	deleteSynonym string // $1 term
	sizeCharts    string
	putSizeChart  string // $1 name, $2 JSON body
	deleteChart   string // $1 name
}

func newStatements(d sqldb.Dialect) statements {
	var changed []string
	var set []string
	for _, f := range productFields {
		changed = append(changed, "products."+f+" <> excluded."+f)
		set = append(set, f+" = excluded."+f)
	}
	insertProduct := `INSERT INTO products (` + productColumns + `)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14)`
	variantRow := []column{{"sku", "text"}, {"pos", "integer"}, {"size", "text"}, {"colour", "text"},
		{"stock", "integer"}, {"price", "bigint"}}
	eventRow := []column{{"i", "integer"}, {"sku", "text"}, {"handle", "text"}, {"old_stock", "integer"}, {"new_stock", "integer"}}
	insertEvents := `INSERT INTO stock_events (sku, product_handle, old_stock, new_stock, source, at)
		SELECT r.sku, r.handle, r.old_stock, r.new_stock, $2, $3 FROM ` + jsonRows(d, 1, "r", eventRow...) + ` ORDER BY r.i`
	bulkSetup := ""
	if d == sqldb.Postgres {
		bulkSetup = "SET LOCAL enable_seqscan = off"
	}
	return statements{
		bulkSetup:        bulkSetup,
		productByHandle:  `SELECT ` + productColumns + `, ` + variantsColumn(d) + ` FROM products WHERE handle = $1`,
		productsByHandle: `SELECT ` + productColumns + `, ` + variantsColumn(d) + ` FROM products WHERE handle ` + inJSON(d, 1),
		list: `SELECT ` + productColumns + `, ` + variantsColumn(d) + ` FROM products
			WHERE handle > $1 AND ($2 = '' OR category = $2) AND ($3 = '' OR brand = $3)
			ORDER BY handle LIMIT $4`,
		count: `SELECT (SELECT COUNT(*) FROM products), (SELECT COUNT(*) FROM variants)`,

		productExists: `SELECT 1 FROM products WHERE handle = $1`,
		currentVariants: `SELECT product_handle, sku, position, size, colour, stock, price_minor FROM variants
			WHERE product_handle = $1 OR sku ` + inJSON(d, 2),
		insertProduct: insertProduct,
		upsertProduct: insertProduct + ` ON CONFLICT (handle) DO UPDATE SET ` + strings.Join(set, ", ") +
			`, updated_at = excluded.updated_at WHERE $15 OR ` + strings.Join(changed, " OR "),
		deleteProduct:  `DELETE FROM products WHERE handle = $1`,
		deleteVariants: `DELETE FROM variants WHERE sku ` + inJSON(d, 1),
		// WHERE true resolves SQLite's parsing ambiguity between a join's ON
		// and the upsert's ON CONFLICT.
		upsertVariants: `INSERT INTO variants (sku, product_handle, position, size, colour, stock, price_minor)
			SELECT r.sku, $1, r.pos, r.size, r.colour, r.stock, r.price FROM ` + jsonRows(d, 2, "r", variantRow...) + ` WHERE true
			ON CONFLICT (sku) DO UPDATE SET product_handle = excluded.product_handle, position = excluded.position,
			size = excluded.size, colour = excluded.colour, stock = excluded.stock, price_minor = excluded.price_minor`,
		insertEvents:    insertEvents,
		insertEventsRet: insertEvents + ` RETURNING ` + eventColumns,
		stockOf:         `SELECT sku, product_handle, stock FROM variants WHERE sku ` + inJSON(d, 1),
		setStock: `UPDATE variants SET stock = r.stock FROM ` +
			jsonRows(d, 1, "r", column{"sku", "text"}, column{"stock", "integer"}) + ` WHERE variants.sku = r.sku`,
		events: `SELECT ` + eventColumns + ` FROM stock_events WHERE id > $1 ORDER BY id LIMIT $2`,

		synonyms: `SELECT term, alternatives FROM synonyms ORDER BY term`,
		putSynonym: `INSERT INTO synonyms (term, alternatives) VALUES ($1, $2)
			ON CONFLICT (term) DO UPDATE SET alternatives = excluded.alternatives`,
		deleteSynonym: `DELETE FROM synonyms WHERE term = $1`,
		sizeCharts:    `SELECT name, body FROM size_charts ORDER BY name`,
		putSizeChart: `INSERT INTO size_charts (name, body) VALUES ($1, $2)
			ON CONFLICT (name) DO UPDATE SET body = excluded.body`,
		deleteChart: `DELETE FROM size_charts WHERE name = $1`,
	}
}
