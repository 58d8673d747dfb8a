package catalog_test

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/bottega-shop/bottega/catalog"
)

func TestSizeKey(t *testing.T) {
	tests := []struct{ in, want string }{
		{"42", "42"},
		{" 42 ", "42"},
		{"42,5", "42.5"},
		{"42.5", "42.5"},
		{"42 ½", "42.5"},
		{"42½", "42.5"},
		{"42 1/2", "42.5"},
		{"42.0", "42"},
		{"EU 42", "42"},
		{"eu42", "42"},
		{"EU  42,5", "42.5"},
		{"m", "M"},
		{" xl ", "XL"},
		{"XXL", "XXL"},
		{"w32", "W32"},
		{"", catalog.OneSize},
		{"   ", catalog.OneSize},
		{"taglia unica", catalog.OneSize},
		{"Taglia  Unica", catalog.OneSize},
		{"taglia\tunica", catalog.OneSize},
		{"EU\u00a042", "42"},
		{"one size", catalog.OneSize},
		{"One-Size", catalog.OneSize},
		{"TU", catalog.OneSize},
		{"os", catalog.OneSize},
	}
	for _, tt := range tests {
		if got := catalog.SizeKey(tt.in); got != tt.want {
			t.Errorf("SizeKey(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestSortSizes(t *testing.T) {
	tests := []struct {
		name     string
		in, want []string
	}{
		{"shoes", []string{"44", "42.5", "39", "42", "46"}, []string{"39", "42", "42.5", "44", "46"}},
		{"numeric, not alphabetical", []string{"10", "9.5", "9", "11"}, []string{"9", "9.5", "10", "11"}},
		{"letters", []string{"XL", "S", "XXL", "M", "XS", "L", "XXS", "XXXL"}, []string{"XXS", "XS", "S", "M", "L", "XL", "XXL", "XXXL"}},
		{"numeric letter sizes", []string{"3XL", "L", "2XL"}, []string{"L", "2XL", "3XL"}},
		{"one size after letters", []string{catalog.OneSize, "L", "S"}, []string{"S", "L", catalog.OneSize}},
		{"waists", []string{"W34", "W28", "W30", "W38"}, []string{"W28", "W30", "W34", "W38"}},
		{"numbers, letters, then the rest", []string{"M", "bambino", "42", "S", "40", "adulto"}, []string{"40", "42", "S", "M", "adulto", "bambino"}},
		{"empty", []string{}, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := append([]string{}, tt.in...)
			catalog.SortSizes(got)
			if !cmp.Equal(got, tt.want) {
				t.Errorf("SortSizes(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestColourKey(t *testing.T) {
	tests := []struct{ in, want string }{
		{"rosso", "red"},
		{"Rossa", "red"},
		{"ROSSE", "red"},
		{"red", "red"},
		{"nere", "black"},
		{"Black", "black"},
		{"blu", "blue"},
		{"azzurro", "blue"},
		{"Blu Navy", "navy"},
		{"blu   navy", "navy"},
		{"navy blue", "navy"},
		{"verde oliva", "olive"},
		{"grigio", "grey"},
		{"gray", "grey"},
		{"testa di moro", "brown"},
		{"lillà", "purple"}, // the vocabulary has "lilla"; accents fold away
		{"Turchese", "turchese"},
		{"  Verde  Acqua ", "verde acqua"},
		{"", ""},
		{"   ", ""},
	}
	for _, tt := range tests {
		if got := catalog.ColourKey(tt.in); got != tt.want {
			t.Errorf("ColourKey(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestKnownColour(t *testing.T) {
	tests := []struct {
		in      string
		wantKey string
		wantOK  bool
	}{
		{"rosso", "red", true},
		{"Gialle", "yellow", true},
		{"cognac", "brown", true},
		{"Multicolore", "multi", true},
		{"red", "red", true},
		{"turchese", "", false},
		{"", "", false},
		{"rossiccio", "", false},
	}
	for _, tt := range tests {
		key, ok := catalog.KnownColour(tt.in)
		if key != tt.wantKey || ok != tt.wantOK {
			t.Errorf("KnownColour(%q) = %q, %v, want %q, %v", tt.in, key, ok, tt.wantKey, tt.wantOK)
		}
	}
}

func TestColourWords(t *testing.T) {
	tests := []struct {
		key, lang string
		wantFirst string
		wantNil   bool
	}{
		{"red", "it", "rosso", false},
		{"red", "en", "red", false},
		{"navy", "it", "blu navy", false},
		{"red", "fr", "", true},
		{"turquoise", "it", "", true},
	}
	for _, tt := range tests {
		got := catalog.ColourWords(tt.key, tt.lang)
		switch {
		case tt.wantNil && got != nil:
			t.Errorf("ColourWords(%q, %q) = %q, want nil", tt.key, tt.lang, got)
		case !tt.wantNil && (len(got) == 0 || got[0] != tt.wantFirst):
			t.Errorf("ColourWords(%q, %q) = %q, want %q first", tt.key, tt.lang, got, tt.wantFirst)
		}
	}
}

// TestColourVocabulary checks colours.json itself: every word of every
// language folds to one key only, and every key knows itself.
func TestColourVocabulary(t *testing.T) {
	data, err := os.ReadFile("colours.json")
	if err != nil {
		t.Fatal(err)
	}
	var byKey map[string]map[string][]string
	if err := json.Unmarshal(data, &byKey); err != nil {
		t.Fatalf("colours.json: %v", err)
	}
	vocab := catalog.ColourVocabulary()
	owner := map[string]string{}
	for key, langs := range byKey {
		if got := vocab[key]; got != key {
			t.Errorf("ColourVocabulary()[%q] = %q, want the key itself", key, got)
		}
		for _, lang := range []string{"it", "en"} {
			if len(langs[lang]) == 0 {
				t.Errorf("colour %q has no %s words", key, lang)
			}
		}
		for lang, words := range langs {
			for _, w := range words {
				f := catalog.Fold(w)
				if other, ok := owner[f]; ok && other != key {
					t.Errorf("colour word %q (%s) belongs to both %q and %q", w, lang, other, key)
				}
				owner[f] = key
				if got := vocab[f]; got != key {
					t.Errorf("ColourVocabulary()[%q] = %q, want %q", f, got, key)
				}
			}
		}
	}
	vocab["rosso"] = "changed"
	if got := catalog.ColourKey("rosso"); got != "red" {
		t.Errorf("after changing ColourVocabulary()'s result, ColourKey(rosso) = %q, want red", got)
	}
}

func TestFold(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Però", "pero"},
		{"Città", "citta"},
		{"  Scarpe   DA\tTrail\n", "scarpe da trail"},
		{"ÀÉÎÕÜ", "aeiou"},
		{"naïve café", "naive cafe"},
		{"Ångström", "angstrom"},
		{"scarpe", "scarpe"},
		{"", ""},
		{"42,5", "42,5"},
	}
	for _, tt := range tests {
		if got := catalog.Fold(tt.in); got != tt.want {
			t.Errorf("Fold(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
