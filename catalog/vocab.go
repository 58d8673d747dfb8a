package catalog

import (
	_ "embed"
	"encoding/json"
	"sort"
	"strings"
	"sync"
	"unicode"

	"golang.org/x/text/runes"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"
)

//go:embed colours.json
var coloursJSON []byte

// colourVocab maps folded colour words in every language to canonical keys.
var colourVocab = sync.OnceValues(func() (map[string]string, map[string]map[string][]string) {
	var byKey map[string]map[string][]string
	if err := json.Unmarshal(coloursJSON, &byKey); err != nil {
		panic("catalog: colours.json: " + err.Error()) // embedded at build time; a test covers it
	}
	words := make(map[string]string)
	for key, langs := range byKey {
		words[key] = key
		for _, ws := range langs {
			for _, w := range ws {
				words[Fold(w)] = key
			}
		}
	}
	return words, byKey
})

// ColourKey returns the canonical key ("red") for a colour word in any known
// language ("rosse", "Rosso", "red"). An unknown word is its own key, folded.
func ColourKey(word string) string {
	f := Fold(word)
	if f == "" {
		return ""
	}
	words, _ := colourVocab()
	if k, ok := words[f]; ok {
		return k
	}
	return f
}

// KnownColour reports whether the word names a colour in the vocabulary.
func KnownColour(word string) (key string, ok bool) {
	words, _ := colourVocab()
	key, ok = words[Fold(word)]
	return key, ok
}

// ColourWords returns the vocabulary's words for key in lang, first the
// preferred one, or nil if none are known.
func ColourWords(key, lang string) []string {
	_, byKey := colourVocab()
	return byKey[key][lang]
}

// ColourVocabulary returns every known colour word, folded, with its key.
func ColourVocabulary() map[string]string {
	words, _ := colourVocab()
	out := make(map[string]string, len(words))
	for w, k := range words {
		out[w] = k
	}
	return out
}

// OneSize is the normalized key of "one size" / "taglia unica".
const OneSize = "OS"

// SizeKey normalizes a size as written by a merchandiser or shopper:
// "42,5", "42 ½" and "42 1/2" become "42.5"; "m" becomes "M"; "taglia
// unica", "one size", "TU" and "" become "OS"; "EU 42" becomes "42".
func SizeKey(s string) string {
	s = strings.ToUpper(strings.TrimSpace(s))
	if strings.ContainsFunc(s, unicode.IsSpace) {
		s = strings.Join(strings.Fields(s), " ")
	}
	switch s {
	case "", "OS", "TU", "U", "UNICA", "TAGLIA UNICA", "ONE SIZE", "ONESIZE", "ONE-SIZE":
		return OneSize
	}
	s = strings.TrimPrefix(s, "EU ")
	s = strings.TrimPrefix(s, "EU")
	s = strings.TrimSpace(s)
	s = strings.ReplaceAll(s, ",", ".")
	for _, half := range []string{" 1/2", "1/2", " ½", "½"} {
		if strings.HasSuffix(s, half) {
			s = strings.TrimSuffix(s, half) + ".5"
			break
		}
	}
	s = strings.TrimSuffix(s, ".0")
	switch s {
	case "2XL":
		s = "XXL"
	case "3XL":
		s = "XXXL"
	case "2XS":
		s = "XXS"
	}
	return s
}

// SortSizes orders sizes as a shopper expects: numbers numerically, then
// letter sizes from XXS to XXXL, then the rest alphabetically.
func SortSizes(sizes []string) {
	sort.SliceStable(sizes, func(i, j int) bool { return sizeLess(sizes[i], sizes[j]) })
}

var letterOrder = map[string]int{"XXS": 1, "XS": 2, "S": 3, "M": 4, "L": 5, "XL": 6, "XXL": 7, "2XL": 7, "XXXL": 8, "3XL": 8, OneSize: 9}

func sizeLess(a, b string) bool {
	na, aNum := sizeNumber(a)
	nb, bNum := sizeNumber(b)
	switch {
	case aNum && bNum:
		return na < nb
	case aNum != bNum:
		return aNum
	}
	la, lb := letterOrder[a], letterOrder[b]
	if la != lb {
		if la == 0 || lb == 0 {
			return la != 0
		}
		return la < lb
	}
	return a < b
}

// sizeNumber parses "42", "42.5" or "W32" as a number.
func sizeNumber(s string) (float64, bool) {
	s = strings.TrimPrefix(s, "W")
	if s == "" {
		return 0, false
	}
	var n, frac float64
	div := 0.0
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9' && div == 0:
			n = n*10 + float64(r-'0')
		case r >= '0' && r <= '9':
			frac += float64(r-'0') / div
			div *= 10
		case r == '.' && div == 0:
			div = 10
		default:
			return 0, false
		}
	}
	return n + frac, true
}

var foldChain = sync.Pool{New: func() any {
	return transform.Chain(norm.NFD, runes.Remove(runes.In(unicode.Mn)), norm.NFC)
}}

// Fold lowercases s, removes accents and collapses spaces, for matching
// words written by people ("Però" and "pero" fold alike).
func Fold(s string) string {
	t := foldChain.Get().(transform.Transformer)
	defer foldChain.Put(t)
	t.Reset()
	out, _, err := transform.String(t, s)
	if err != nil {
		out = s
	}
	return strings.Join(strings.Fields(strings.ToLower(out)), " ")
}
