package dialogs

import (
	"context"
	"strconv"
	"strings"

	"github.com/bottega-shop/bottega/bot"
	"github.com/bottega-shop/bottega/catalog"
)

// Limits that keep an answer short.
const (
	maxStockLines   = 6
	maxNotifyButton = 3
	maxSizeReplies  = 10
)

// about answers about product p, which the catalog has just read: stock in
// the slots' sizes and colours, or the price, or the card. A product new to
// the conversation comes with its card.
//
// With the shopper's personalization consent, a question without a size
// uses a size they told us before, and the sizes they state are
// remembered; without a decision yet, the answer asks for it once.
func (t *turn) about(ctx context.Context, p *catalog.Product, u *understanding, isNew bool) ([]bot.Reply, error) {
	s := t.s
	s.Product = p.Handle
	s.remember(p.Handle)
	s.Sizes = mergeSlots(s.Sizes, u.Sizes)
	s.Colours = mergeSlots(s.Colours, u.Colours)
	if u.Qty > 0 {
		s.Qty = u.Qty
	}
	next := stIdle
	var r bot.Reply
	var ask *bot.Reply
	switch {
	case u.Price || s.Price:
		r.Text = t.priceText(p)
	case u.Show && !u.hasEntities():
		isNew = true
	default:
		recalled := false
		if len(s.Sizes) == 0 {
			sizes, chart := t.productSizes(p), t.v.charts[p.SizeChart]
			if z, ok := t.rememberedSize(ctx, func(z string) bool {
				_, _, ok := matchSize(p, sizes, chart, z)
				return ok
			}); ok {
				s.Sizes, recalled = []string{z}, true
				t.prefix = append(t.prefix, t.say(msgRememberedSize, data{"Size": sizeDisplay(z)}))
			}
		}
		r, next = t.stock(p)
		if len(s.Sizes) > 0 && !recalled {
			// Only an answer that asks nothing itself asks for consent.
			quiet := next == stIdle && len(r.Buttons) == 0 && len(r.QuickReplies) == 0
			var err error
			if ask, err = t.personalize(ctx, s.Sizes, quiet); err != nil {
				return nil, err
			}
			if ask != nil {
				next = stAskConsent
			}
		}
	}
	if isNew {
		r.Cards = []bot.Card{t.card(p)}
	}
	if err := s.to(next); err != nil {
		return nil, err
	}
	replies := t.reply(r)
	if ask != nil {
		replies = append(replies, *ask)
	}
	return replies, nil
}

// productColours lists p's colours by key, in the order of its variants,
// each with the word the merchandiser used.
func (t *turn) productColours(p *catalog.Product) (keys []string, raw map[string]string) {
	raw = map[string]string{}
	for _, v := range p.Variants {
		k := t.v.colourKey(v.Colour)
		if _, ok := raw[k]; !ok {
			raw[k] = v.Colour
			keys = append(keys, k)
		}
	}
	return keys, raw
}

// productSizes lists p's size keys in a shopper's order.
func (t *turn) productSizes(p *catalog.Product) []string {
	seen := map[string]bool{}
	var out []string
	for _, v := range p.Variants {
		k := t.v.sizeKey(v.Size)
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	catalog.SortSizes(out)
	return out
}

// variant finds p's variant in size key and colour key.
func (t *turn) variant(p *catalog.Product, size, colour string) (catalog.Variant, bool) {
	for _, v := range p.Variants {
		if t.v.sizeKey(v.Size) == size && t.v.colourKey(v.Colour) == colour {
			return v, true
		}
	}
	return catalog.Variant{}, false
}

// stock states the stock of every asked variant, read from the product
// the catalog returned for this turn, and offers what is near when one is
// sold out. Without a size it lists the sizes in stock and asks for one.
func (t *turn) stock(p *catalog.Product) (bot.Reply, stateName) {
	s := t.s
	colours, raw := t.productColours(p)
	sizes := t.productSizes(p)
	var lines []string
	var want []string
	for _, c := range s.Colours {
		if _, ok := raw[c]; ok {
			want = append(want, c)
			continue
		}
		lines = append(lines, t.say(msgNoSuchColour, data{
			"Product": t.title(p), "Colour": t.colourName(c, ""), "Colours": t.colourList(colours, raw),
		}))
	}
	if len(s.Colours) > 0 && len(want) == 0 {
		return bot.Reply{Text: strings.Join(lines, "\n")}, stIdle
	}
	asked := s.Sizes
	if len(sizes) == 1 {
		asked = sizes
	}
	if len(asked) == 0 {
		return t.overview(p, lines, want, colours, raw)
	}
	chart := t.v.charts[p.SizeChart]
	var out []catalog.Variant
	type near struct{ size, colour string }
	var nears []near
	for _, req := range asked {
		key, label, ok := matchSize(p, sizes, chart, req)
		if !ok {
			lines = append(lines, t.say(msgNoSuchSize, data{
				"Product": t.title(p), "Size": sizeDisplay(req), "Sizes": t.e.texts.list(t.lang(), t.sizeLabels(sizes), false),
			}))
			continue
		}
		cols := want
		if len(cols) == 0 {
			for _, c := range colours {
				if _, ok := t.variant(p, key, c); ok {
					cols = append(cols, c)
				}
			}
		}
		for _, c := range cols {
			v, ok := t.variant(p, key, c)
			if !ok {
				lines = append(lines, t.say(msgNoSuchSize, data{
					"Product": t.title(p) + " " + t.colourName(c, raw[c]), "Size": label,
					"Sizes": t.e.texts.list(t.lang(), t.sizeLabels(t.sizesIn(p, c, false)), false),
				}))
				continue
			}
			if len(lines) >= maxStockLines {
				break
			}
			d := data{"Product": t.title(p), "Variant": t.variantLabelIn(colours, raw, v, label, len(want) > 0)}
			switch n := v.Stock; {
			case n <= 0:
				lines = append(lines, t.say(msgStockOut, d))
				out = append(out, v)
				nears = append(nears, near{key, c})
			case s.Qty > n:
				lines = append(lines, t.e.texts.count(t.lang(), msgStockNotEnough, n, d))
			case n <= t.e.lowStock:
				lines = append(lines, t.e.texts.count(t.lang(), msgStockLow, n, d))
			default:
				lines = append(lines, t.say(msgStockIn, d))
			}
		}
	}
	var r bot.Reply
	for _, n := range nears {
		near := nearestSizes(t.sizesIn(p, n.colour, true), n.size)
		if len(near) > 0 && (len(want) > 0 || len(colours) == 1) {
			if n.colour == "" {
				lines = appendLine(lines, t.say(msgNearestAny, data{"Sizes": t.e.texts.list(t.lang(), t.sizeLabels(near), false)}))
			} else {
				lines = appendLine(lines, t.say(msgNearestSizes, data{
					"Colour": t.colourName(n.colour, raw[n.colour]), "Sizes": t.e.texts.list(t.lang(), t.sizeLabels(near), false),
				}))
			}
			for _, sz := range near {
				r.QuickReplies = append(r.QuickReplies, bot.QuickReply{Title: sizeDisplay(sz), Payload: payloadSize + sz})
			}
		}
		if len(want) > 0 {
			var others []string
			for _, c := range colours {
				if v, ok := t.variant(p, n.size, c); ok && c != n.colour && v.Stock > 0 {
					others = append(others, t.colourName(c, raw[c]))
				}
			}
			if len(others) > 0 {
				lines = appendLine(lines, t.say(msgOtherColours, data{"Size": t.sizeLabel(n.size), "Colours": t.e.texts.list(t.lang(), others, false)}))
			}
		}
	}
	for i, v := range out {
		if i == maxNotifyButton {
			break
		}
		r.Buttons = append(r.Buttons, bot.Button{
			Title:   t.say(msgNotifyButton, data{"Label": t.shortLabel(p, v, raw)}),
			Payload: payloadNotify + v.SKU,
		})
	}
	if len(out) > 0 {
		lines = append(lines, t.say(msgNotifyOffer, nil))
	}
	r.Text = strings.Join(lines, "\n")
	return r, stIdle
}

func appendLine(lines []string, l string) []string {
	for _, x := range lines {
		if x == l {
			return lines
		}
	}
	return append(lines, l)
}

// overview lists the sizes in stock per colour and asks for a size.
func (t *turn) overview(p *catalog.Product, lines []string, want, colours []string, raw map[string]string) (bot.Reply, stateName) {
	if len(want) == 0 {
		want = colours
	}
	var r bot.Reply
	any := false
	seen := map[string]bool{}
	var quick []string
	for _, c := range want {
		in := t.sizesIn(p, c, true)
		for _, sz := range in {
			if !seen[sz] {
				seen[sz] = true
				quick = append(quick, sz)
			}
		}
		switch {
		case c == "" && len(in) > 0:
			lines = append(lines, t.say(msgSizesInStock, data{"Sizes": t.e.texts.list(t.lang(), t.sizeLabels(in), false)}))
		case len(in) > 0:
			lines = append(lines, t.say(msgColourSizes, data{
				"Colour": t.colourName(c, raw[c]), "Sizes": t.e.texts.list(t.lang(), t.sizeLabels(in), false),
			}))
		case c != "":
			lines = append(lines, t.say(msgColourOut, data{"Colour": t.colourName(c, raw[c])}))
		}
		any = any || len(in) > 0
	}
	if !any {
		lines = append(lines, t.say(msgAllOut, data{"Product": t.title(p)}))
		r.Text = strings.Join(lines, "\n")
		return r, stIdle
	}
	lines = append(lines, t.say(msgAskSize, nil))
	catalog.SortSizes(quick)
	for i, sz := range quick {
		if i == maxSizeReplies {
			break
		}
		r.QuickReplies = append(r.QuickReplies, bot.QuickReply{Title: sizeDisplay(sz), Payload: payloadSize + sz})
	}
	r.Text = strings.Join(lines, "\n")
	return r, stAskSize
}

// sizesIn lists p's sizes in colour key c, only those in stock if inStock.
func (t *turn) sizesIn(p *catalog.Product, c string, inStock bool) []string {
	var out []string
	for _, v := range p.Variants {
		if t.v.colourKey(v.Colour) == c && (!inStock || v.Stock > 0) {
			out = appendNew(out, t.v.sizeKey(v.Size))
		}
	}
	catalog.SortSizes(out)
	return out
}

// nearestSizes returns the sizes of have closest to size: the nearest on
// each side.
func nearestSizes(have []string, size string) []string {
	x, ok := sizeRank(size)
	if !ok {
		return nil
	}
	var below, above string
	var db, da float64
	for _, h := range have {
		y, ok := sizeRank(h)
		if !ok || h == size {
			continue
		}
		if y < x && (below == "" || x-y < db) {
			below, db = h, x-y
		}
		if y > x && (above == "" || y-x < da) {
			above, da = h, y-x
		}
	}
	var out []string
	if below != "" {
		out = append(out, below)
	}
	if above != "" {
		out = append(out, above)
	}
	return out
}

// letterRank orders letter sizes.
var letterRank = map[string]float64{"XXS": 1, "XS": 2, "S": 3, "M": 4, "L": 5, "XL": 6, "XXL": 7, "XXXL": 8}

// sizeRank places a size key on a line: numbers as themselves, "W32" as 32,
// letter sizes in order.
func sizeRank(s string) (float64, bool) {
	if r, ok := letterRank[s]; ok {
		return r, true
	}
	f, err := strconv.ParseFloat(strings.TrimPrefix(s, "W"), 64)
	return f, err == nil
}

// matchSize finds the product size a shopper's size means: the same key,
// or its equivalent in the product's size chart ("UK 8" is EU 42, "48" is
// M in the Italian column). label says the size, with the conversion.
func matchSize(p *catalog.Product, sizes []string, chart catalog.SizeChart, want string) (key, label string, ok bool) {
	has := func(k string) bool { return contains(sizes, k) }
	system, value, prefixed := strings.Cut(want, ":")
	if !prefixed {
		value = want
		if has(want) {
			return want, sizeDisplay(want), true
		}
	}
	if len(chart.Systems) < 2 {
		return "", "", false
	}
	// Systems in the chart's order: "9" is UK 9 before it is US 9.
	for col := 1; col < len(chart.Systems); col++ {
		if prefixed && chart.Systems[col] != system {
			continue
		}
		for _, row := range chart.Rows {
			if col >= len(row) || !has(catalog.SizeKey(row[0])) {
				continue
			}
			if chartValueMatches(row[col], value) {
				k := catalog.SizeKey(row[0])
				return k, k + " (" + strings.ToUpper(chart.Systems[col]) + " " + value + ")", true
			}
		}
	}
	return "", "", false
}

// chartValueMatches compares a chart cell ("8", "39-42") with a size.
func chartValueMatches(cell, size string) bool {
	if catalog.SizeKey(cell) == size {
		return true
	}
	lo, hi, ok := strings.Cut(cell, "-")
	if !ok {
		return false
	}
	a, err1 := strconv.ParseFloat(strings.TrimSpace(lo), 64)
	b, err2 := strconv.ParseFloat(strings.TrimSpace(hi), 64)
	x, err3 := strconv.ParseFloat(size, 64)
	return err1 == nil && err2 == nil && err3 == nil && a <= x && x <= b
}

// sizeDisplay shows a size key as shoppers write it.
func sizeDisplay(k string) string {
	if sys, v, ok := strings.Cut(k, ":"); ok {
		return strings.ToUpper(sys) + " " + v
	}
	return k
}

func (t *turn) sizeLabel(k string) string {
	if k == catalog.OneSize {
		return t.say(msgOneSize, nil)
	}
	return sizeDisplay(k)
}

func (t *turn) sizeLabels(ks []string) []string {
	out := make([]string, len(ks))
	for i, k := range ks {
		out[i] = t.sizeLabel(k)
	}
	return out
}

// colourName names colour key c in the session's language; in the shop's
// language the merchandiser's own word (raw) is kept.
func (t *turn) colourName(c, raw string) string {
	if raw != "" && t.lang() == t.e.lang {
		return strings.ToLower(raw)
	}
	if ws := catalog.ColourWords(c, t.lang()); len(ws) > 0 {
		return ws[0]
	}
	if raw != "" {
		return strings.ToLower(raw)
	}
	return c
}

func (t *turn) colourList(keys []string, raw map[string]string) string {
	names := make([]string, 0, len(keys))
	for _, k := range keys {
		if k != "" {
			names = append(names, t.colourName(k, raw[k]))
		}
	}
	return t.e.texts.list(t.lang(), names, false)
}

// variantLabel names a variant: "rosso, taglia 42", "taglia 42" when the
// product has one colour, "nero" when it has one size.
func (t *turn) variantLabel(p *catalog.Product, v catalog.Variant, withColour bool) string {
	return t.variantLabelWith(p, v, t.sizeLabel(t.v.sizeKey(v.Size)), withColour)
}

func (t *turn) variantLabelWith(p *catalog.Product, v catalog.Variant, sizeLabel string, withColour bool) string {
	colours, raw := t.productColours(p)
	return t.variantLabelIn(colours, raw, v, sizeLabel, withColour)
}

// variantLabelIn is variantLabelWith for a product whose colours, as
// productColours lists them, are known.
func (t *turn) variantLabelIn(colours []string, raw map[string]string, v catalog.Variant, sizeLabel string, withColour bool) string {
	c := t.v.colourKey(v.Colour)
	showColour := c != "" && (withColour || len(colours) > 1)
	oneSize := t.v.sizeKey(v.Size) == catalog.OneSize
	switch {
	case showColour && oneSize:
		return t.colourName(c, raw[c])
	case showColour:
		return t.say(msgVariantLabel, data{"Colour": t.colourName(c, raw[c]), "Size": sizeLabel})
	case oneSize:
		return t.say(msgOneSize, nil)
	}
	return t.say(msgSizeLabel, data{"Size": sizeLabel})
}

// shortLabel names a variant on a button: "rosso 42".
func (t *turn) shortLabel(p *catalog.Product, v catalog.Variant, raw map[string]string) string {
	parts := make([]string, 0, 2)
	if c := t.v.colourKey(v.Colour); c != "" {
		parts = append(parts, t.colourName(c, raw[c]))
	}
	if k := t.v.sizeKey(v.Size); k != catalog.OneSize {
		parts = append(parts, sizeDisplay(k))
	}
	return truncate(strings.Join(parts, " "), 20)
}

// priceText states the product's price, or the variant's when the slots
// name one variant with a price of its own.
func (t *turn) priceText(p *catalog.Product) string {
	s := t.s
	if len(s.Sizes) == 1 {
		sizes := t.productSizes(p)
		colours, _ := t.productColours(p)
		key, _, ok := matchSize(p, sizes, t.v.charts[p.SizeChart], s.Sizes[0])
		c := ""
		switch {
		case len(s.Colours) == 1:
			c = s.Colours[0]
		case len(colours) == 1:
			c = colours[0]
		}
		if v, found := t.variant(p, key, c); ok && found && v.PriceMinor != nil {
			return t.say(msgVariantPrice, data{
				"Product": t.title(p), "Variant": t.variantLabel(p, v, false),
				"Price": t.e.texts.money(t.lang(), p.Price(v), p.Currency),
			})
		}
	}
	return t.say(msgProductPrice, data{"Product": t.title(p), "Price": t.e.texts.money(t.lang(), p.PriceMinor, p.Currency)})
}
