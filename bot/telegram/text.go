package telegram

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/rivo/uniseg"
)

// Telegram's length limits, in its "characters": UTF-16 code units, so an
// emoji outside the Basic Multilingual Plane counts as two. Counting code
// units keeps every part within the limit whether Telegram counts units or
// code points.
const (
	// MaxText is the longest text of one message.
	MaxText = 4096
	// MaxCaption is the longest caption of a photo.
	MaxCaption = 1024
	// MaxCallbackAnswer is the longest notification text of
	// answerCallbackQuery.
	MaxCallbackAnswer = 200
	// MaxCallbackData is the most bytes a button's callback_data may hold.
	MaxCallbackData = 64
)

// cluster is one grapheme cluster of a text being split.
type cluster struct {
	end   int // byte offset just past the cluster
	units int // UTF-16 code units
	brk   int // 2 after a line break, 1 after other white space, else 0
}

// Split cuts s into parts of at most max UTF-16 code units each, only
// between grapheme clusters (as github.com/rivo/uniseg finds them), so an
// emoji with its modifiers or a letter with its combining accents is never
// cut in two. It prefers to cut after a line break, then after a space, when
// that keeps a part at least half full. A single cluster longer than max
// (thousands of stacked combining marks) is cut between its code points.
// Parts holding only white space are dropped; Split("") is nil.
func Split(s string, max int) []string {
	if max <= 0 {
		max = MaxText
	}
	if units(s) <= max {
		if strings.TrimSpace(s) == "" {
			return nil
		}
		return []string{s}
	}
	cs := clusters(s, max)
	var parts []string
	start, i := 0, 0 // byte offset of the part, index of its first cluster
	for i < len(cs) {
		n, j := 0, i
		lastLine, lastSpace := -1, -1 // cluster index to cut after
		for j < len(cs) && n+cs[j].units <= max {
			n += cs[j].units
			switch cs[j].brk {
			case 2:
				lastLine = j
			case 1:
				lastSpace = j
			}
			j++
		}
		cut := j - 1 // the last cluster that fits
		if j < len(cs) {
			half := func(k int) bool { return k >= 0 && sumUnits(cs[i:k+1]) >= max/2 }
			switch {
			case half(lastLine):
				cut = lastLine
			case half(lastSpace):
				cut = lastSpace
			}
		}
		end := cs[cut].end
		if p := s[start:end]; strings.TrimSpace(p) != "" {
			parts = append(parts, p)
		}
		start, i = end, cut+1
	}
	return parts
}

// Truncate shortens s to at most max UTF-16 code units, between grapheme
// clusters, ending it with "…" when it cut something.
func Truncate(s string, max int) string {
	if units(s) <= max {
		return s
	}
	if max < 1 {
		return ""
	}
	cs := clusters(s, max)
	n, end := 0, 0
	for _, c := range cs {
		if n+c.units > max-1 { // room for the ellipsis
			break
		}
		n += c.units
		end = c.end
	}
	return strings.TrimRightFunc(s[:end], unicode.IsSpace) + "…"
}

// clusters lists s's grapheme clusters; one longer than max is listed as
// its code points.
func clusters(s string, max int) []cluster {
	var cs []cluster
	g := uniseg.NewGraphemes(s)
	for g.Next() {
		from, to := g.Positions()
		c := s[from:to]
		u := units(c)
		if u > max {
			for k := 0; k < len(c); {
				r, size := utf8.DecodeRuneInString(c[k:])
				k += size
				cs = append(cs, cluster{end: from + k, units: runeUnits(r)})
			}
			continue
		}
		brk := 0
		switch {
		case strings.ContainsAny(c, "\n\r"):
			brk = 2
		case strings.TrimSpace(c) == "":
			brk = 1
		}
		cs = append(cs, cluster{end: to, units: u, brk: brk})
	}
	return cs
}

func sumUnits(cs []cluster) int {
	n := 0
	for _, c := range cs {
		n += c.units
	}
	return n
}

// units is s's length in UTF-16 code units.
func units(s string) int {
	n := 0
	for _, r := range s {
		n += runeUnits(r)
	}
	return n
}

func runeUnits(r rune) int {
	if r >= 0x10000 {
		return 2
	}
	return 1
}
