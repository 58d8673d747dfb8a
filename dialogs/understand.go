package dialogs

import (
	"math/bits"
	"strconv"
	"strings"

	"github.com/bottega-shop/bottega/catalog"
)

// understanding is what the rules read in one message: intents as flags
// (a message can greet and ask at once) and entities.
type understanding struct {
	Greet, Thanks, Bye, Help, Yes, No, Person, Price, Show, Ask bool
	// Privacy, Unsubscribe, Export and Forget are the data-rights
	// commands: "privacy", "stop", "export my data", "forget me".
	Privacy, Unsubscribe, Export, Forget bool
	// Lang is the language the shopper asks to switch to ("in English please").
	Lang string
	// Scores counts, per lexicon language (the first eight), the words that
	// only that language uses.
	Scores [8]int
	// Product holds the words naming a product, with synonyms.
	Product []slot
	// Genders are the genders named ("men", "women").
	Genders []string
	// Unknown are content words neither the lexicon nor the catalog knows.
	Unknown []string
	// Sizes are size keys as catalog.SizeKey writes them, or "uk:8",
	// "us:9" when the shopper named the size system.
	Sizes   []string
	Colours []string
	Qty     int
	// Choice is a 1-based ordinal ("the second one"), -1 for "the last one".
	Choice int
	// Small are whole numbers up to 15 said alone: a choice, or a size
	// when one is expected.
	Small []int
	// Tokens counts the words read.
	Tokens int
}

// slot is one product word, or a synonym's term, with its alternatives.
type slot struct {
	words []string   // as typed, folded
	alts  [][]string // a synonym's alternatives
}

// text returns the product words as typed, for the catalog search.
func (u *understanding) text() string {
	var b strings.Builder
	for _, s := range u.Product {
		for _, w := range s.words {
			if strings.HasPrefix(w, "_") {
				continue // a canonical gender word: searched by its name below
			}
			if b.Len() > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(w)
		}
	}
	return b.String()
}

// hasEntities reports whether the message names a product, size, colour or
// quantity.
func (u *understanding) hasEntities() bool {
	return len(u.Product) > 0 || len(u.Sizes) > 0 || len(u.Colours) > 0 || u.Qty > 0
}

// item is one word or phrase of a message, classified.
type item struct {
	tok   string
	p     *phrase // its lexicon meaning, if any
	n     int     // tokens it spans
	num   float64 // a number written in digits
	isNum bool
	// half is a "1/2" or "½" on its own.
	half bool
	// size is a size written in one token: "xl", "w32", "eu42".
	size string
	// weak is a one-letter size ("m") that needs context.
	weak  bool
	vocab int // how the word matches the catalog's words; -1 not at all
}

func (it *item) is(k kind) bool { return it.p != nil && it.p.kinds&k != 0 }

// understand reads text with the lexicon and the catalog's vocabulary. It
// never fails: what it cannot read is left out.
func understand(lx *lexicon, v *vocab, text string) understanding {
	var buf [maxTokens]string
	toks := tokenize(text, buf[:0])
	var ibuf [maxTokens]item
	items := classify(lx, v, toks, ibuf[:0])
	u := understanding{Tokens: len(toks)}
	var product []string
	switchCue := false
	for i := 0; i < len(items); i++ {
		it := &items[i]
		if it.p != nil && bits.OnesCount64(it.p.langs) == 1 {
			if li := bits.TrailingZeros64(it.p.langs); li < len(u.Scores) {
				u.Scores[li] += len(it.p.words)
			}
		}
		switch {
		case it.isNum || it.is(kUnit|kTeen|kTen|kNumber):
			i = readNumber(items, i, &u)
			continue
		case it.half:
			continue
		case it.size != "":
			u.Sizes = appendNew(u.Sizes, it.size)
			continue
		case it.weak:
			if weakSizeOK(items, i) {
				u.Sizes = appendNew(u.Sizes, catalog.SizeKey(it.tok))
			}
			continue
		case it.is(kLetter):
			u.Sizes = appendNew(u.Sizes, it.p.size)
			continue
		case it.is(kColour):
			u.Colours = appendNew(u.Colours, it.p.colour)
			continue
		case it.is(kOrdinal):
			u.Choice = it.p.num
			continue
		case it.is(kLast) && len(items) <= 4:
			u.Choice = -1
			continue
		case it.is(kGender):
			g := genderWord(it.p.gender)
			u.Genders = appendNew(u.Genders, it.p.gender)
			product = append(product, g)
			continue
		case it.is(kLangName):
			u.Lang = it.p.lang
		}
		if it.p != nil {
			k := it.p.kinds
			u.Greet = u.Greet || k&kGreet != 0
			u.Thanks = u.Thanks || k&kThanks != 0
			u.Bye = u.Bye || k&kBye != 0
			u.Help = u.Help || k&kHelp != 0
			u.Yes = u.Yes || k&kYes != 0
			u.No = u.No || k&kNo != 0
			u.Person = u.Person || k&kPerson != 0
			u.Price = u.Price || k&kPrice != 0
			u.Show = u.Show || k&kShow != 0
			u.Ask = u.Ask || k&kAsk != 0
			u.Privacy = u.Privacy || k&kPrivacy != 0
			u.Unsubscribe = u.Unsubscribe || k&kUnsubscribe != 0
			u.Export = u.Export || k&kExport != 0
			u.Forget = u.Forget || k&kForget != 0
			switchCue = switchCue || k&kSwitch != 0
			if it.vocab == 0 && k&(kWaist|kSizeCue|kSystem) != 0 && k&kStop == 0 {
				product = append(product, it.tok) // a cue left unused: "vita" in a name
			}
			continue
		}
		if it.vocab >= 0 {
			product = append(product, it.tok)
			continue
		}
		if len(it.tok) > 1 {
			u.Unknown = append(u.Unknown, it.tok)
		}
	}
	if u.Lang != "" && !switchCue && len(toks) > 3 {
		u.Lang = "" // "the English model": a name, not a request
	}
	if u.Lang != "" && (len(product) > 0 || len(u.Sizes) > 0) {
		u.Lang = ""
	}
	u.Product = slots(v, product)
	return u
}

// classify matches each position to the longest lexicon phrase, a number,
// a size, or a catalog word.
func classify(lx *lexicon, v *vocab, toks []string, items []item) []item {
	for i := 0; i < len(toks); {
		t := toks[i]
		it := item{tok: t, n: 1, vocab: -1}
		p := lx.match(toks, i)
		if p == nil && !isDigit(t[0]) && (v == nil || !v.words[t]) {
			p = lx.fuzzyCommand(toks, i) // "privcy", "dimenticami" mistyped
		}
		if p != nil {
			it.p, it.n = p, len(p.words)
			// A cue that is also a word of a product's name ("vita"),
			// kept as a name word when it cues nothing.
			if it.n == 1 && v != nil && p.kinds&(kWaist|kSizeCue|kSystem) != 0 && v.words[t] {
				it.vocab = 0
			}
			items = append(items, it)
			i += it.n
			continue
		}
		switch {
		case t == "1/2" || t == "½":
			it.half = true
		case isDigit(t[0]):
			if n, half, ok := parseNumber(t); ok {
				it.num, it.isNum = n, true
				if half {
					it.num += 0.5
				}
			} else if a, b, ok := strings.Cut(t, "/"); ok {
				// "42/43": two sizes.
				if x, _, ok1 := parseNumber(a); ok1 {
					if y, _, ok2 := parseNumber(b); ok2 {
						items = append(items, item{tok: a, n: 1, num: x, isNum: true, vocab: -1})
						it = item{tok: b, n: 1, num: y, isNum: true, vocab: -1}
					}
				}
			} else {
				it.size = letterToken(t)
			}
		default:
			it.size = letterToken(t)
			if it.size == "" {
				if t == "s" || t == "m" || t == "l" {
					it.weak = true
				} else if v != nil {
					it.vocab = v.known(t)
				}
			}
		}
		items = append(items, it)
		i++
	}
	return items
}

// letterToken reads a size written as one token: letter sizes from XXS to
// XXXL, "w32", "eu42".
func letterToken(t string) string {
	switch t {
	case "xxs", "xs", "xl", "xxl", "xxxl", "2xl", "3xl", "2xs":
		return catalog.SizeKey(t)
	}
	if len(t) >= 2 && t[0] == 'w' && isDigit(t[1]) {
		if n, half, ok := parseNumber(t[1:]); ok && !half && n >= 20 && n <= 50 {
			return "W" + t[1:]
		}
	}
	if strings.HasPrefix(t, "eu") && len(t) > 2 && isDigit(t[2]) {
		if n, half, ok := parseNumber(t[2:]); ok && n >= 16 && n <= 60 {
			return formatSize(n, half)
		}
	}
	return ""
}

// parseNumber reads "42", "42.5", "42,5", "42½" and "42.0". half reports
// a trailing "½".
func parseNumber(t string) (n float64, half, ok bool) {
	if strings.HasSuffix(t, "½") {
		t, half = strings.TrimSuffix(t, "½"), true
		if t == "" {
			return 0, false, false
		}
	}
	if len(t) > 6 {
		return 0, false, false
	}
	f, err := strconv.ParseFloat(strings.Replace(t, ",", ".", 1), 64)
	if err != nil || f < 0 {
		return 0, false, false
	}
	return f, half, true
}

func formatSize(n float64, half bool) string {
	if half {
		n += 0.5
	}
	return catalog.SizeKey(strconv.FormatFloat(n, 'f', -1, 64))
}

// readNumber reads the number starting at items[i] with what surrounds it
// (a size system or cue before it, a half or a unit after it) into u, and
// returns the index of the last item it used.
func readNumber(items []item, i int, u *understanding) int {
	start := i
	var n float64
	it := &items[i]
	switch {
	case it.isNum:
		n = it.num
	case it.is(kTen):
		n = float64(it.p.num)
		if i+1 < len(items) && items[i+1].is(kUnit) && !items[i+1].isNum {
			i++
			n += float64(items[i].p.num)
		}
	case it.is(kUnit):
		if it.is(kStop) && !(i > 0 && items[i-1].is(kSizeCue|kSystem)) && !(i+1 < len(items) && items[i+1].is(kQuantity)) {
			return i // "uno", "one": an article, not a number
		}
		n = float64(it.p.num)
	default:
		n = float64(it.p.num)
	}
	// "e mezzo", "and a half", "½".
	half := false
	j := i + 1
	for j < len(items) && items[j].is(kAnd) && !items[j].is(kHalf) && j-i <= 2 {
		j++
	}
	if j < len(items) && (items[j].is(kHalf) || items[j].half) {
		half, i = true, j
	} else if i+1 < len(items) && items[i+1].half {
		half, i = true, i+1
	}
	var before *item
	if start > 0 {
		before = &items[start-1]
	}
	if i+1 < len(items) && items[i+1].is(kQuantity) && !half && n >= 1 && n <= 99 && n == float64(int(n)) {
		u.Qty = int(n)
		return i + 1
	}
	whole := n == float64(int(n)) && !half
	switch {
	case before != nil && before.is(kWaist) && whole && n >= 20 && n <= 50:
		u.Sizes = appendNew(u.Sizes, "W"+strconv.Itoa(int(n)))
	case before != nil && before.is(kSystem) && (before.p.size == "uk" || before.p.size == "us") && n >= 1 && n <= 20:
		u.Sizes = appendNew(u.Sizes, before.p.size+":"+formatSize(n, half))
	case whole && n >= 1 && n <= 15:
		u.Small = append(u.Small, int(n))
		if before != nil && before.is(kSizeCue) {
			u.Sizes = appendNew(u.Sizes, formatSize(n, false))
		}
	case n >= 1 && n <= 60:
		u.Sizes = appendNew(u.Sizes, formatSize(n, half))
	}
	return i
}

// weakSizeOK accepts a one-letter size ("m") after a size cue, next to
// another size ("m o l"), or as the whole message.
func weakSizeOK(items []item, i int) bool {
	if len(items) <= 2 {
		return true
	}
	if i > 0 && items[i-1].is(kSizeCue) {
		return true
	}
	sizeAt := func(j int) bool {
		return j >= 0 && j < len(items) && (items[j].weak || items[j].size != "" || items[j].is(kLetter))
	}
	if i > 1 && items[i-1].is(kOr) && sizeAt(i-2) {
		return true
	}
	return i+2 < len(items) && items[i+1].is(kOr) && sizeAt(i+2)
}

func appendNew(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}

// slots groups product words into slots, a synonym's term into one slot
// with the term's alternatives.
func slots(v *vocab, ws []string) []slot {
	if len(ws) == 0 {
		return nil
	}
	out := make([]slot, 0, len(ws))
	for i := 0; i < len(ws); {
		var rule *synonymRule
		if v != nil {
			for r := range v.synonyms {
				t := v.synonyms[r].term
				if len(t) <= len(ws)-i && equalWords(t, ws[i:i+len(t)]) && (rule == nil || len(t) > len(rule.term)) {
					rule = &v.synonyms[r]
				}
			}
		}
		if rule != nil {
			out = append(out, slot{words: ws[i : i+len(rule.term)], alts: rule.alts})
			i += len(rule.term)
			continue
		}
		out = append(out, slot{words: ws[i : i+1]})
		i++
	}
	return out
}

func equalWords(a, b []string) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
