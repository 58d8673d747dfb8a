package messenger

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/rivo/uniseg"
)

// graphemes returns s's grapheme clusters.
func graphemes(s string) []string {
	var out []string
	g := uniseg.NewGraphemes(s)
	for g.Next() {
		out = append(out, g.Str())
	}
	return out
}

// checkPieces fails unless every piece fits limit, is valid UTF-8, and the
// pieces are s's graphemes in order with only whitespace dropped between.
func checkPieces(t *testing.T, s string, limit int, pieces []string) {
	t.Helper()
	for i, p := range pieces {
		if units(p) > limit {
			t.Errorf("piece %d has %d units, limit %d", i, units(p), limit)
		}
		if !utf8.ValidString(p) || p == "" {
			t.Errorf("piece %d is empty or not UTF-8: %q", i, p)
		}
	}
	squash := func(x string) string { return strings.Join(strings.Fields(x), "") }
	if got, want := squash(strings.Join(pieces, "")), squash(s); got != want {
		t.Errorf("pieces lose or change text: got %d bytes, want %d", len(got), len(want))
	}
	// No cut inside a grapheme: every piece is a run of whole graphemes
	// (unless a grapheme alone is over the limit).
	whole := map[string]bool{}
	for _, g := range graphemes(s) {
		if units(g) > limit {
			return
		}
		whole[g] = true
	}
	for i, p := range pieces {
		for _, g := range graphemes(p) {
			if !whole[g] {
				t.Errorf("piece %d holds %q, not a grapheme of the text (cut inside one)", i, g)
			}
		}
	}
}

func TestSplitText(t *testing.T) {
	family := "👩‍👩‍👧‍👦" // 11 units, one grapheme
	flag := "🇮🇹"        // 4 units
	tests := []struct {
		name   string
		s      string
		limit  int
		pieces int
	}{
		{"short", "ciao", 10, 1},
		{"exact", strings.Repeat("a", 10), 10, 1},
		{"words", "uno due tre quattro cinque sei sette", 10, 5},
		{"families", strings.Repeat(family, 5), 20, 5},
		{"flags", strings.Repeat(flag, 9), 10, 5},
		{"accents", strings.Repeat("e\u0301", 30), 7, 10},
		{"lines", "prima riga\nseconda riga\nterza", 14, 3},
		{"monster grapheme", "a" + strings.Repeat("\u0301", 50), 16, 4},
		{"invalid utf8", "ciao \xff\xfe mondo", 6, 3},
		{"blank", " \n\t ", 10, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := splitText(tt.s, tt.limit)
			if len(got) != tt.pieces {
				t.Errorf("splitText(%q, %d) = %q, want %d pieces", tt.s, tt.limit, got, tt.pieces)
			}
			checkPieces(t, strings.ToValidUTF8(tt.s, "\uFFFD"), tt.limit, got)
		})
	}
}

func TestSplitTextPrefersLineBreaks(t *testing.T) {
	s := strings.Repeat("x", 12) + "\n" + strings.Repeat("y", 5) + " " + strings.Repeat("z", 5)
	got := splitText(s, 20)
	if len(got) != 2 || got[0] != strings.Repeat("x", 12) {
		t.Errorf("splitText(%q, 20) = %q, want the cut at the line break", s, got)
	}
}

func TestTruncate(t *testing.T) {
	tests := []struct {
		s     string
		limit int
		want  string
	}{
		{"Taglia 42", 20, "Taglia 42"},
		{"Un titolo davvero troppo lungo", 20, "Un titolo davvero t…"},
		{"Scarpe rosse 👍🏽👍🏽", 16, "Scarpe rosse…"},
		{"🇮🇹🇮🇹🇮🇹🇮🇹🇮🇹🇮🇹", 20, "🇮🇹🇮🇹🇮🇹🇮🇹…"},
		{"e\u0301e\u0301e\u0301", 4, "e\u0301…"},
		{"bad \xff utf8", 20, "bad \uFFFD utf8"},
	}
	for _, tt := range tests {
		if got := truncate(tt.s, tt.limit); got != tt.want {
			t.Errorf("truncate(%q, %d) = %q, want %q", tt.s, tt.limit, got, tt.want)
		}
		if got := truncate(tt.s, tt.limit); units(got) > tt.limit {
			t.Errorf("truncate(%q, %d) has %d units", tt.s, tt.limit, units(got))
		}
	}
}

func FuzzSplitText(f *testing.F) {
	f.Add("uno due tre", 5)
	f.Add("👩‍👩‍👧‍👦🇮🇹e\u0301\n x", 3)
	f.Fuzz(func(t *testing.T, s string, limit int) {
		if limit < 2 || limit > 100 || len(s) > 2000 {
			t.Skip()
		}
		checkPieces(t, strings.ToValidUTF8(s, "\uFFFD"), limit, splitText(s, limit))
	})
}
