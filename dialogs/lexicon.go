package dialogs

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/bottega-shop/bottega/catalog"
)

// lexiconFile is one language's understanding vocabulary
// (locales/lexicon.<lang>.toml).
type lexiconFile struct {
	Names       map[string][]string `toml:"names"`
	Switch      []string            `toml:"switch"`
	Stop        []string            `toml:"stop"`
	Greet       []string            `toml:"greet"`
	Thanks      []string            `toml:"thanks"`
	Bye         []string            `toml:"bye"`
	Help        []string            `toml:"help"`
	Yes         []string            `toml:"yes"`
	No          []string            `toml:"no"`
	Person      []string            `toml:"person"`
	Price       []string            `toml:"price"`
	Show        []string            `toml:"show"`
	Ask         []string            `toml:"ask"`
	SizeCue     []string            `toml:"size_cue"`
	Waist       []string            `toml:"waist"`
	Half        []string            `toml:"half"`
	And         []string            `toml:"and"`
	Or          []string            `toml:"or"`
	Quantity    []string            `toml:"quantity"`
	Last        []string            `toml:"last"`
	Ordinals    [][]string          `toml:"ordinals"`
	Units       []string            `toml:"units"`
	Teens       []string            `toml:"teens"`
	Tens        []string            `toml:"tens"`
	Elide       bool                `toml:"elide"`
	LetterSizes map[string][]string `toml:"letter_sizes"`
	Gender      map[string][]string `toml:"gender"`
	// The data-rights commands, understood at any moment: see what is
	// held and agreed ("privacy"), stop notifications and marketing
	// ("stop"), export the data, erase it ("forget me").
	Privacy     []string `toml:"privacy"`
	Unsubscribe []string `toml:"unsubscribe"`
	Export      []string `toml:"export"`
	Forget      []string `toml:"forget"`
}

// kind is a bit set of what a phrase can mean.
type kind uint64

const (
	kStop kind = 1 << iota
	kGreet
	kThanks
	kBye
	kHelp
	kYes
	kNo
	kPerson
	kPrice
	kShow
	kAsk
	kSizeCue
	kWaist
	kHalf
	kAnd
	kOr
	kQuantity
	kLast
	kOrdinal
	kUnit   // 1–9
	kTeen   // 10–19
	kTen    // 20, 30…
	kNumber // a compound number word ("quarantadue")
	kLetter // a letter size word ("emme")
	kColour
	kLangName
	kSwitch
	kGender
	kSystem // a size system: "uk", "us", "eu", "it"
	kPrivacy
	kUnsubscribe
	kExport
	kForget
)

// kCommand are the data-rights commands, which the rules also read with
// typos (see lexicon.fuzzyCommand).
const kCommand = kPrivacy | kUnsubscribe | kExport | kForget

// phrase is one entry of the lexicon: one or more folded words and
// everything they can mean.
type phrase struct {
	words  []string
	kinds  kind
	langs  uint64 // bit i: listed by lexicon i
	num    int    // ordinal, unit, teen, ten or number value
	size   string // letter size key, size system
	colour string // colour key
	lang   string // the language a name names
	gender string // "men" or "women"
}

// lexicon is every language's phrases, matched longest first.
type lexicon struct {
	langs   []string             // language tags, index = bit in phrase.langs
	byFirst map[string][]*phrase // by first word, longest first
	// genders lists each gender's one-word names, in language order.
	genders map[string][]string
	// commands are the data-rights phrases, longest first.
	commands []*phrase
}

// buildLexicon merges the languages' files and the catalog's colour words.
func buildLexicon(files map[string]lexiconFile) (*lexicon, error) {
	lx := &lexicon{byFirst: map[string][]*phrase{}, genders: map[string][]string{}}
	for tag := range files {
		lx.langs = append(lx.langs, tag)
	}
	sort.Strings(lx.langs)
	if len(lx.langs) > 64 {
		return nil, fmt.Errorf("dialogs: %d lexicons, at most 64", len(lx.langs))
	}
	index := map[string]*phrase{}
	add := func(li int, entry string, k kind, set func(p *phrase)) {
		ws := words(entry)
		if len(ws) == 0 {
			return
		}
		key := strings.Join(ws, " ")
		p := index[key]
		if p == nil {
			p = &phrase{words: ws}
			index[key] = p
			lx.byFirst[ws[0]] = append(lx.byFirst[ws[0]], p)
		}
		p.kinds |= k
		if li >= 0 {
			p.langs |= 1 << li
		}
		if set != nil {
			set(p)
		}
	}
	for li, tag := range lx.langs {
		f := files[tag]
		lists := []struct {
			k  kind
			ws []string
		}{
			{kSwitch, f.Switch}, {kStop, f.Stop}, {kGreet, f.Greet}, {kThanks, f.Thanks}, {kBye, f.Bye},
			{kHelp, f.Help}, {kYes, f.Yes}, {kNo, f.No}, {kPerson, f.Person}, {kPrice, f.Price},
			{kShow, f.Show}, {kAsk, f.Ask}, {kSizeCue, f.SizeCue}, {kWaist, f.Waist}, {kHalf, f.Half},
			{kAnd, f.And}, {kOr, f.Or}, {kQuantity, f.Quantity}, {kLast, f.Last},
			{kPrivacy, f.Privacy}, {kUnsubscribe, f.Unsubscribe}, {kExport, f.Export}, {kForget, f.Forget},
		}
		for _, l := range lists {
			for _, w := range l.ws {
				add(li, w, l.k, nil)
			}
		}
		for target, names := range f.Names {
			for _, w := range names {
				add(li, w, kLangName, func(p *phrase) { p.lang = target })
			}
		}
		for i, forms := range f.Ordinals {
			for _, w := range forms {
				add(li, w, kOrdinal, func(p *phrase) { p.num = i + 1 })
			}
		}
		for i, w := range f.Units {
			add(li, w, kUnit, func(p *phrase) { p.num = i + 1 })
		}
		for i, w := range f.Teens {
			add(li, w, kTeen, func(p *phrase) { p.num = i + 10 })
		}
		for i, ten := range f.Tens {
			add(li, ten, kTen, func(p *phrase) { p.num = (i + 2) * 10 })
			if !f.Elide {
				continue
			}
			tw := words(ten)
			if len(tw) != 1 {
				continue
			}
			for u, unit := range f.Units {
				uw := words(unit)
				if len(uw) != 1 {
					continue
				}
				stem := tw[0]
				if strings.ContainsRune("aeiou", rune(uw[0][0])) && strings.ContainsRune("aeiou", rune(stem[len(stem)-1])) {
					stem = stem[:len(stem)-1]
				}
				n := (i+2)*10 + u + 1
				add(li, stem+uw[0], kNumber, func(p *phrase) { p.num = n })
			}
		}
		for key, ws := range f.LetterSizes {
			size := catalog.SizeKey(key)
			for _, w := range ws {
				add(li, w, kLetter, func(p *phrase) { p.size = size })
			}
		}
		for g, ws := range f.Gender {
			for _, w := range ws {
				add(li, w, kGender, func(p *phrase) { p.gender = g })
			}
			if len(ws) > 0 && len(words(ws[0])) == 1 {
				lx.genders[g] = append(lx.genders[g], words(ws[0])[0])
			}
		}
		// The catalog's colour words in this language.
		for key := range colourKeys() {
			for _, w := range catalog.ColourWords(key, tag) {
				add(li, w, kColour, func(p *phrase) { p.colour = key })
			}
		}
	}
	// Colour words of languages without a lexicon still name colours.
	for w, key := range catalog.ColourVocabulary() {
		add(-1, w, kColour, func(p *phrase) { p.colour = key })
	}
	for _, sys := range []string{"uk", "us", "eu"} {
		add(-1, sys, kSystem, func(p *phrase) { p.size = sys })
	}
	for _, ps := range lx.byFirst {
		sort.SliceStable(ps, func(i, j int) bool { return len(ps[i].words) > len(ps[j].words) })
	}
	for _, p := range index {
		// Short commands ("stop", "export") are read only as written:
		// with a typo they are too close to ordinary words ("expert").
		if p.kinds&kCommand != 0 && len(strings.Join(p.words, "")) >= 7 {
			lx.commands = append(lx.commands, p)
		}
	}
	sort.Slice(lx.commands, func(i, j int) bool {
		a, b := lx.commands[i], lx.commands[j]
		if len(a.words) != len(b.words) {
			return len(a.words) > len(b.words)
		}
		return strings.Join(a.words, " ") < strings.Join(b.words, " ")
	})
	return lx, nil
}

func colourKeys() map[string]bool {
	keys := map[string]bool{}
	for _, k := range catalog.ColourVocabulary() {
		keys[k] = true
	}
	return keys
}

// match returns the longest phrase starting at toks[i], or nil.
func (lx *lexicon) match(toks []string, i int) *phrase {
	return longestAt(lx.byFirst[toks[i]], func(p *phrase) []string { return p.words }, toks, i)
}

// longestAt returns the first of cands, phrases starting with toks[i]
// listed longest first, whose words all follow from toks[i]; nil if none.
func longestAt[P any](cands []*P, words func(*P) []string, toks []string, i int) *P {
	for _, p := range cands {
		if ws := words(p); len(ws) <= len(toks)-i && slices.Equal(ws[1:], toks[i+1:i+len(ws)]) {
			return p
		}
	}
	return nil
}

// fuzzyCommand returns the longest data-rights phrase of seven letters or
// more starting at toks[i]
// whose words each match the tokens exactly or within their typo budget
// ("privcy", "esprota i miei dati"), or nil. It is tried only on words the
// lexicon and the catalog do not know, so it costs nothing on the usual
// questions.
func (lx *lexicon) fuzzyCommand(toks []string, i int) *phrase {
	first := toks[i]
	for _, p := range lx.commands {
		// Cheap tests first: the words must fit, and the first word be
		// near enough in length to carry at most two typos.
		if d := len(first) - len(p.words[0]); len(p.words) > len(toks)-i || d > 2 || d < -2 {
			continue
		}
		ok := true
		for j, w := range p.words {
			if t := toks[i+j]; t != w && typoMatch(t, w) < 0 {
				ok = false
				break
			}
		}
		if ok {
			return p
		}
	}
	return nil
}

// langIndex returns the bit of tag in phrase.langs, or -1.
func (lx *lexicon) langIndex(tag string) int {
	for i, l := range lx.langs {
		if l == tag {
			return i
		}
	}
	return -1
}

func decodeLexicon(data []byte, name string) (lexiconFile, error) {
	var f lexiconFile
	md, err := toml.Decode(string(data), &f)
	if err != nil {
		return f, fmt.Errorf("dialogs: lexicon %s: %w", name, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		return f, fmt.Errorf("dialogs: lexicon %s: unknown key %s", name, und[0])
	}
	return f, nil
}
