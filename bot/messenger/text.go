package messenger

import (
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/rivo/uniseg"
)

// Lengths are counted in UTF-16 code units, the strictest reading of
// Meta's "characters": an emoji outside the Basic Multilingual Plane counts
// two. Cuts fall on grapheme-cluster boundaries (UAX #29, via uniseg), so a
// flag, a skin-toned or ZWJ emoji, or a letter with its accents is never cut
// in two.

// units is the length of s in UTF-16 code units.
func units(s string) int {
	n := 0
	for _, r := range s {
		n += utf16.RuneLen(r)
	}
	return n
}

// runeUnits is utf16.RuneLen for any rune (invalid ones count as U+FFFD).
func runeUnits(r rune) int {
	if n := utf16.RuneLen(r); n > 0 {
		return n
	}
	return 1
}

// splitText cuts s into pieces of at most limit UTF-16 units each, on
// grapheme boundaries, preferring the last line break and then the last
// space, if that keeps at least a quarter of the piece. Whitespace at the
// cuts is dropped; a text of only whitespace gives no pieces. A single grapheme longer than
// limit (thousands of combining marks) is cut between its code points.
func splitText(s string, limit int) []string {
	s = trimSpace(strings.ToValidUTF8(s, "\uFFFD"))
	if s == "" {
		return nil
	}
	if units(s) <= limit {
		return []string{s}
	}
	var out []string
	g := uniseg.NewGraphemes(s)
	start := 0     // byte offset where the current piece starts
	n := 0         // units in the current piece
	lineCut := -1  // byte offset just after the last line break in the piece
	spaceCut := -1 // byte offset just after the last space in the piece
	lineN, spaceN := 0, 0
	emit := func(end int) {
		if p := trimSpace(s[start:end]); p != "" {
			out = append(out, p)
		}
		start = end
	}
	for g.Next() {
		from, to := g.Positions()
		w := units(s[from:to])
		if n+w > limit {
			switch {
			case lineCut > start && lineN >= limit/4:
				emit(lineCut)
				n -= lineN
			case spaceCut > start && spaceN >= limit/4:
				emit(spaceCut)
				n -= spaceN
			}
			if n+w > limit { // no good break, or what follows it is still too long
				emit(from)
				n = 0
			}
			lineCut, spaceCut = -1, -1
		}
		if w > limit { // a monster grapheme: cut it between code points
			for _, r := range s[from:to] {
				rw := runeUnits(r)
				if n+rw > limit {
					emit(from)
					n = 0
				}
				from += utf8.RuneLen(r)
				n += rw
			}
			continue
		}
		n += w
		cluster := s[from:to]
		switch {
		case cluster == "\n" || cluster == "\r\n":
			lineCut, lineN = to, n
		case isSpace(cluster):
			spaceCut, spaceN = to, n
		}
	}
	emit(len(s))
	return out
}

// trimSpace drops the whitespace graphemes at both ends of s; unlike
// strings.TrimSpace it keeps a space that carries a combining mark.
func trimSpace(s string) string {
	first, last := -1, 0
	g := uniseg.NewGraphemes(s)
	for g.Next() {
		from, to := g.Positions()
		if isSpace(s[from:to]) {
			continue
		}
		if first < 0 {
			first = from
		}
		last = to
	}
	if first < 0 {
		return ""
	}
	return s[first:last]
}

// isSpace reports whether a grapheme cluster is one whitespace rune.
func isSpace(cluster string) bool {
	r, size := utf8.DecodeRuneInString(cluster)
	return size == len(cluster) && unicode.IsSpace(r)
}

// truncate shortens s to at most limit UTF-16 units on a grapheme boundary,
// ending it with "…" when it cut.
func truncate(s string, limit int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if units(s) <= limit {
		return s
	}
	const ellipsis = "…"
	var b strings.Builder
	n := 0
	g := uniseg.NewGraphemes(s)
	for g.Next() {
		c := g.Str()
		w := units(c)
		if n+w > limit-1 {
			break
		}
		b.WriteString(c)
		n += w
	}
	return strings.TrimRightFunc(b.String(), unicode.IsSpace) + ellipsis
}
