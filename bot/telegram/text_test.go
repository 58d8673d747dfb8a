package telegram_test

import (
	"strings"
	"testing"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"github.com/rivo/uniseg"

	"github.com/bottega-shop/bottega/bot/telegram"
)

func units(s string) int { return len(utf16.Encode([]rune(s))) }

func TestSplit(t *testing.T) {
	family := "👨\u200d👩\u200d👧\u200d👦" // one grapheme, 11 UTF-16 units
	accented := "e\u0301"              // é as e + combining acute: one grapheme
	tests := []struct {
		name string
		s    string
		max  int
		want []string
	}{
		{"short", "ciao", 10, []string{"ciao"}},
		{"empty", "", 10, nil},
		{"blank", "   \n ", 10, nil},
		{"exact", "abcdefghij", 10, []string{"abcdefghij"}},
		{"hard cut", "abcdefghijkl", 5, []string{"abcde", "fghij", "kl"}},
		{"at a space", "aaaa bbbb cccc", 10, []string{"aaaa bbbb ", "cccc"}},
		{"line break before space", "aaaaaa\nbb cc dd", 12, []string{"aaaaaa\n", "bb cc dd"}},
		{"space too early", "a bbbbbbbbbbbb", 10, []string{"a bbbbbbbb", "bbbb"}},
		{"emoji family kept whole", "ab" + family + family, 14, []string{"ab" + family, family}},
		{"combining accent kept whole", "caff" + accented + accented, 5, []string{"caff", accented + accented}},
		{"surrogates count twice", "😀😀😀", 4, []string{"😀😀", "😀"}},
		{"blank part dropped", "aaaa      bbbb", 4, []string{"aaaa", "bbbb"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := telegram.Split(tt.s, tt.max)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Split(%q, %d) mismatch (-want +got):\n%s", tt.s, tt.max, diff)
			}
		})
	}
}

// TestSplitLong checks the invariants on a long mixed text at Telegram's
// limit: every part fits, nothing is lost, and every cut falls between
// grapheme clusters.
func TestSplitLong(t *testing.T) {
	var b strings.Builder
	pieces := []string{"Scarpa Trail Runner ", "👍🏽 ", "perché ", "e\u0301 ", "🇮🇹", "\n", "Größe 42 ", "日本語 "}
	for i := 0; b.Len() < 40_000; i++ {
		b.WriteString(pieces[i%len(pieces)])
	}
	s := b.String()
	parts := telegram.Split(s, telegram.MaxText)
	if len(parts) < 3 {
		t.Fatalf("Split(%d bytes) = %d parts, want several", len(s), len(parts))
	}
	if got := strings.Join(parts, ""); strings.ReplaceAll(got, " ", "") != strings.ReplaceAll(s, " ", "") {
		t.Fatalf("Split lost text: joined parts differ from the input")
	}
	boundaries := map[int]bool{0: true}
	g := uniseg.NewGraphemes(s)
	for g.Next() {
		_, to := g.Positions()
		boundaries[to] = true
	}
	off := 0
	for i, p := range parts {
		if n := units(p); n > telegram.MaxText || n == 0 {
			t.Errorf("part %d has %d UTF-16 units, want 1..%d", i, n, telegram.MaxText)
		}
		if !utf8.ValidString(p) {
			t.Errorf("part %d is not valid UTF-8", i)
		}
		off = strings.Index(s[off:], p) + off
		if !boundaries[off] || !boundaries[off+len(p)] {
			t.Errorf("part %d [%d:%d] cuts a grapheme cluster", i, off, off+len(p))
		}
		off += len(p)
	}
}

func TestSplitZalgo(t *testing.T) {
	s := "a" + strings.Repeat("\u0301", 5000) + "b"
	parts := telegram.Split(s, telegram.MaxText)
	if strings.Join(parts, "") != s {
		t.Fatalf("Split(zalgo) lost text")
	}
	for i, p := range parts {
		if units(p) > telegram.MaxText {
			t.Errorf("Split(zalgo) part %d has %d units", i, units(p))
		}
	}
}

func TestTruncate(t *testing.T) {
	tests := []struct {
		s    string
		max  int
		want string
	}{
		{"Trail Runner", 20, "Trail Runner"},
		{"Trail Runner", 8, "Trail R…"},
		{"Trail Runner", 7, "Trail…"},
		{"caffe\u0301 latte", 7, "caffe\u0301…"},
		{"caffe\u0301 latte", 6, "caff…"},
		{"👍🏽👍🏽", 5, "👍🏽…"},
		{"abc", 0, ""},
	}
	for _, tt := range tests {
		if got := telegram.Truncate(tt.s, tt.max); got != tt.want {
			t.Errorf("Truncate(%q, %d) = %q, want %q", tt.s, tt.max, got, tt.want)
		}
	}
}
