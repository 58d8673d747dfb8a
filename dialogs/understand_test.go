package dialogs

import (
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/bottega-shop/bottega/catalog/demo"
)

// rules builds the lexicons and the demo catalog's vocabulary once.
var rules = sync.OnceValues(func() (*lexicon, *vocab) {
	_, files, err := loadLanguages("it", "")
	if err != nil {
		panic(err)
	}
	lx, err := buildLexicon(files)
	if err != nil {
		panic(err)
	}
	ps, syns, charts := demo.Catalog()
	return lx, newVocab(lx, ps, syns, charts, nil)
})

func read(text string) understanding {
	lx, v := rules()
	return understand(lx, v, text)
}

func TestUnderstandSizes(t *testing.T) {
	tests := []struct {
		text string
		want []string
	}{
		{"nel 42", []string{"42"}},
		{"quarantadue", []string{"42"}},
		{"taglia quarantatré", []string{"43"}},
		{"quarantuno", []string{"41"}},
		{"trentotto", []string{"38"}},
		{"quaranta due", []string{"42"}},
		{"forty-two", []string{"42"}},
		{"forty two", []string{"42"}},
		{"size thirty nine", []string{"39"}},
		{"42 e mezzo", []string{"42.5"}},
		{"quarantadue e mezzo", []string{"42.5"}},
		{"42.5", []string{"42.5"}},
		{"42,5", []string{"42.5"}},
		{"42½", []string{"42.5"}},
		{"42 ½", []string{"42.5"}},
		{"42 1/2", []string{"42.5"}},
		{"forty-two and a half", []string{"42.5"}},
		{"42 o 43", []string{"42", "43"}},
		{"42 and 43", []string{"42", "43"}},
		{"42, 43 oppure 44", []string{"42", "43", "44"}},
		{"42/43", []string{"42", "43"}},
		{"taglia emme", []string{"M"}},
		{"size medium", []string{"M"}},
		{"taglia M", []string{"M"}},
		{"M", []string{"M"}},
		{"m o l", []string{"M", "L"}},
		{"small or large", []string{"S", "L"}},
		{"XL", []string{"XL"}},
		{"una xxl", []string{"XXL"}},
		{"2XL", []string{"XXL"}},
		{"extra large", []string{"XL"}},
		{"W32", []string{"W32"}},
		{"w 32", []string{"W32"}},
		{"vita 32", []string{"W32"}},
		{"waist 34", []string{"W34"}},
		{"uk 8", []string{"uk:8"}},
		{"US 9.5", []string{"us:9.5"}},
		{"EU42", []string{"42"}},
		{"taglia unica", []string{"OS"}},
		{"one size", []string{"OS"}},
		{"size 9", []string{"9"}},
		{"l'hai nel 40?", []string{"40"}},
		{"2 paia", nil},
		{"la seconda", nil},
		{"the second one", nil},
		{"ne vorrei uno", nil},
		{"costa 100 euro", nil},
		{"avete le sneakers loggia", nil},
	}
	for _, tt := range tests {
		if got := read(tt.text).Sizes; !cmp.Equal(got, tt.want) {
			t.Errorf("understand(%q).Sizes = %q, want %q", tt.text, got, tt.want)
		}
	}
}

func TestUnderstandNumbers(t *testing.T) {
	tests := []struct {
		text   string
		qty    int
		choice int
		small  []int
	}{
		{"2 paia", 2, 0, nil},
		{"due paia nel 42", 2, 0, nil},
		{"3 pairs", 3, 0, nil},
		{"la seconda", 0, 2, nil},
		{"il primo", 0, 1, nil},
		{"the third one", 0, 3, nil},
		{"l'ultima", 0, -1, nil},
		{"the last one", 0, -1, nil},
		{"2", 0, 0, []int{2}},
		{"numero 3", 0, 0, []int{3}},
		{"one", 0, 0, nil},
	}
	for _, tt := range tests {
		u := read(tt.text)
		if u.Qty != tt.qty || u.Choice != tt.choice || !cmp.Equal(u.Small, tt.small) {
			t.Errorf("understand(%q) = qty %d, choice %d, small %v; want %d, %d, %v",
				tt.text, u.Qty, u.Choice, u.Small, tt.qty, tt.choice, tt.small)
		}
	}
}

func TestUnderstandColours(t *testing.T) {
	tests := []struct {
		text string
		want []string
	}{
		{"rosse", []string{"red"}},
		{"la nera", []string{"black"}},
		{"ROSSO", []string{"red"}},
		{"and in black?", []string{"black"}},
		{"blu navy", []string{"navy"}},
		{"navy blue", []string{"navy"}},
		{"blu", []string{"blue"}},
		{"light blue", []string{"blue"}},
		{"verde oliva", []string{"olive"}},
		{"grey or gray", []string{"grey"}},
		{"testa di moro", []string{"brown"}},
		{"bianche o nere", []string{"white", "black"}},
		{"trail runner", nil},
	}
	for _, tt := range tests {
		if got := read(tt.text).Colours; !cmp.Equal(got, tt.want) {
			t.Errorf("understand(%q).Colours = %q, want %q", tt.text, got, tt.want)
		}
	}
}

func TestUnderstandProduct(t *testing.T) {
	tests := []struct {
		text    string
		want    string
		unknown []string
	}{
		{"avete le trail runner nel 42 rosse?", "trail runner", nil},
		{"Avete le TRAIL RUNNER?", "trail runner", nil},
		{"trial runer", "trial runer", nil},
		{"c'è la Trail Rúnner?", "trail runner", nil},
		{"do you have the trail runner in size 42?", "trail runner", nil},
		{"e nel 43?", "", nil},
		{"and in black?", "", nil},
		{"quanto costa?", "", nil},
		{"avete gli sci?", "", []string{"sci"}},
		{"scarpe da calcio", "scarpe", []string{"calcio"}},
		{"felpa nebbia donna", "felpa nebbia", nil},
		{"parla italiano", "", nil},
	}
	for _, tt := range tests {
		u := read(tt.text)
		if got := u.text(); got != tt.want || !cmp.Equal(u.Unknown, tt.unknown) {
			t.Errorf("understand(%q) = product %q, unknown %q; want %q, %q", tt.text, got, u.Unknown, tt.want, tt.unknown)
		}
	}
}

func TestUnderstandIntents(t *testing.T) {
	type flags struct{ Greet, Thanks, Bye, Help, Yes, No, Person, Price, Show, Ask bool }
	tests := []struct {
		text string
		want flags
	}{
		{"ciao", flags{Greet: true}},
		{"Buongiorno!", flags{Greet: true}},
		{"hello there", flags{Greet: true}},
		{"grazie mille", flags{Thanks: true}},
		{"thank you", flags{Thanks: true}},
		{"arrivederci", flags{Bye: true}},
		{"aiuto", flags{Help: true}},
		{"what can you do?", flags{Help: true, Ask: false}},
		{"sì", flags{Yes: true}},
		{"no grazie", flags{No: true}},
		{"voglio parlare con un operatore", flags{Person: true}},
		{"can I talk to a human?", flags{Person: true}},
		{"quanto costa?", flags{Price: true}},
		{"how much is it?", flags{Price: true}},
		{"fammi vedere la foto", flags{Show: true}},
		{"avete le trail runner?", flags{Ask: true}},
		{"do you have skis", flags{Ask: true}},
	}
	for _, tt := range tests {
		u := read(tt.text)
		got := flags{u.Greet, u.Thanks, u.Bye, u.Help, u.Yes, u.No, u.Person, u.Price, u.Show, u.Ask}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("understand(%q) flags (-want +got):\n%s", tt.text, diff)
		}
	}
}

func TestUnderstandCommands(t *testing.T) {
	type flags struct{ Privacy, Unsubscribe, Export, Forget bool }
	tests := []struct {
		text string
		want flags
	}{
		{"privacy", flags{Privacy: true}},
		{"Privacy?", flags{Privacy: true}},
		{"privcy", flags{Privacy: true}},   // a typo
		{"privasy", flags{Privacy: true}},  // a typo
		{"privacyy", flags{Privacy: true}}, // a typo
		{"my data", flags{Privacy: true}},
		{"what data do you have on me?", flags{Privacy: true}},
		{"i miei dati", flags{Privacy: true}},
		{"I miei dati personali", flags{Privacy: true}},
		{"i mie dati", flags{Privacy: true}},
		{"che dati avete su di me?", flags{Privacy: true}},
		{"stop", flags{Unsubscribe: true}},
		{"STOP!", flags{Unsubscribe: true}},
		{"unsubscribe", flags{Unsubscribe: true}},
		{"unsubscibe", flags{Unsubscribe: true}}, // a typo
		{"no more messages please", flags{Unsubscribe: true}},
		{"basta messaggi", flags{Unsubscribe: true}},
		{"basta notifiche", flags{Unsubscribe: true}},
		{"non mandarmi più messaggi", flags{Unsubscribe: true}},
		{"disiscrivimi", flags{Unsubscribe: true}},
		{"export my data", flags{Export: true}},
		{"can I have a copy of my data?", flags{Export: true}},
		{"esporta i miei dati", flags{Export: true}},
		{"esprota i miei dati", flags{Export: true}}, // a typo
		{"scarica i miei dati", flags{Export: true}},
		{"forget me", flags{Forget: true}},
		{"please forgte me", flags{Forget: true}}, // a typo
		{"delete my data", flags{Forget: true}},
		{"delete all my data now", flags{Forget: true}},
		{"cancella i miei dati", flags{Forget: true}},
		{"cancela i miei dati", flags{Forget: true}}, // a typo
		{"dimenticami", flags{Forget: true}},
		{"dimenticmai", flags{Forget: true}}, // a typo
		{"diritto all'oblio", flags{Forget: true}},
		// Not commands.
		{"avete le trail runner nel 42?", flags{}},
		{"an expert opinion", flags{}}, // "export" is read only as written
		{"stip", flags{}},
		{"basta così grazie", flags{}},
		{"cancella", flags{}},
		{"i dati", flags{}},
	}
	for _, tt := range tests {
		u := read(tt.text)
		got := flags{u.Privacy, u.Unsubscribe, u.Export, u.Forget}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("understand(%q) commands (-want +got):\n%s", tt.text, diff)
		}
		if tt.want != (flags{}) && (u.hasEntities() || len(u.Unknown) > 0) {
			t.Errorf("understand(%q) = product %q, sizes %q, unknown %q; want a command alone", tt.text, u.text(), u.Sizes, u.Unknown)
		}
	}
}

func TestUnderstandLanguageSwitch(t *testing.T) {
	tests := []struct{ text, want string }{
		{"in English please", "en"},
		{"english", "en"},
		{"can you speak english?", "en"},
		{"parla italiano", "it"},
		{"in italiano per favore", "it"},
		{"parli inglese?", "en"},
		{"italian please", "it"},
		{"avete il modello inglese in vetrina?", ""},
		{"do you have the english trail runner", ""},
	}
	for _, tt := range tests {
		if got := read(tt.text).Lang; got != tt.want {
			t.Errorf("understand(%q).Lang = %q, want %q", tt.text, got, tt.want)
		}
	}
}

func TestGuessLanguage(t *testing.T) {
	tests := []struct {
		text   string
		want   string
		margin int // at least
	}{
		{"avete le trail runner nel 42 rosse?", "it", 2},
		{"do you have the trail runner in 42, red?", "en", 2},
		{"e nel 43?", "it", 2},
		{"and in black?", "en", 2},
		{"quanto costa?", "it", 2},
		{"how much is it?", "en", 2},
		{"grazie", "it", 1},
		{"thanks", "en", 1},
		{"e la nera?", "it", 2},
		{"trail runner 42", "", 0},
	}
	lx, _ := rules()
	for _, tt := range tests {
		u := read(tt.text)
		got, margin := guessLanguage(lx, &u)
		if tt.want == "" {
			if margin != 0 {
				t.Errorf("guessLanguage(%q) = %q by %d, want no guess", tt.text, got, margin)
			}
			continue
		}
		if got != tt.want || margin < tt.margin {
			t.Errorf("guessLanguage(%q) = %q by %d, want %q by %d or more", tt.text, got, margin, tt.want, tt.margin)
		}
	}
}

func TestTokenize(t *testing.T) {
	tests := []struct {
		text string
		want []string
	}{
		{"Avete le Trail Runner?", []string{"avete", "le", "trail", "runner"}},
		{"c'è", []string{"c'", "e"}},
		{"c’è l’hai", []string{"c'", "e", "l'", "hai"}},
		{"men's shoes", []string{"men", "shoes"}},
		{"don't", []string{"don"}},
		{"42,5 e 42.5 e 42½", []string{"42,5", "e", "42.5", "e", "42½"}},
		{"42 1/2", []string{"42", "1/2"}},
		{"forty-two", []string{"forty", "two"}},
		{"Perché è così", []string{"perche", "e", "cosi"}},
		{"rosso\xff\xfenero", []string{"rosso", "nero"}},
		{"t-shirt", []string{"t", "shirt"}},
		{"", nil},
	}
	for _, tt := range tests {
		if got := words(tt.text); !cmp.Equal(got, tt.want) {
			t.Errorf("words(%q) = %q, want %q", tt.text, got, tt.want)
		}
	}
	long := strings.Repeat("parola ", 1000)
	if got := len(words(long)); got != maxTokens {
		t.Errorf("len(words(1000 words)) = %d, want %d", got, maxTokens)
	}
	if got := words(strings.Repeat("x", 100) + " rosso"); !cmp.Equal(got, []string{"rosso"}) {
		t.Errorf("words(a 100-letter word, rosso) = %q, want [rosso]", got)
	}
}

func TestTypoMatch(t *testing.T) {
	tests := []struct {
		q, w string
		want int
	}{
		{"trail", "trail", 0},
		{"trial", "trail", 1}, // a transposition is one typo
		{"runer", "runner", 1},
		{"runner", "running", -1},
		{"trai", "trail", -1},  // four letters: no typos
		{"grail", "trail", -1}, // a wrong first letter is two
		{"maestrake", "maestrale", 1},
		{"maestrqke", "maestrale", 2},
		{"naestrale", "maestrale", 2},
		{"tramontans", "tramontana", 1},
	}
	for _, tt := range tests {
		if got := typoMatch(tt.q, tt.w); got != tt.want {
			t.Errorf("typoMatch(%q, %q) = %d, want %d", tt.q, tt.w, got, tt.want)
		}
	}
}

func TestRedact(t *testing.T) {
	tests := []struct{ in, want string }{
		{"scrivimi a mario.rossi@example.com per favore", "scrivimi a [email] per favore"},
		{"call me on +39 333 123 4567", "call me on [phone]"},
		{"il mio numero è 02-1234567", "il mio numero è [phone]"},
		{"trail runner 42 o 43", "trail runner 42 o 43"},
		{"taglie 40 41 42", "taglie 40 41 42"},
		{"ordine 12345 del 2026", "ordine 12345 del 2026"},
		{"tel. (02) 1234-5678", "tel. [phone]"},
	}
	for _, tt := range tests {
		if got := redact(tt.in); got != tt.want {
			t.Errorf("redact(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestMoney(t *testing.T) {
	tx, _, err := loadLanguages("it", "")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		lang     string
		minor    int64
		currency string
		want     string
	}{
		{"it", 12990, "EUR", "129,90 €"},
		{"en", 12990, "EUR", "€129.90"},
		{"it", 123456, "EUR", "1.234,56 €"},
		{"en", 123456, "EUR", "€1,234.56"},
		{"en", 5, "GBP", "£0.05"},
		{"it", 1000000, "JPY", "10.000,00 JPY"},
	}
	for _, tt := range tests {
		if got := tx.money(tt.lang, tt.minor, tt.currency); got != tt.want {
			t.Errorf("money(%q, %d, %q) = %q, want %q", tt.lang, tt.minor, tt.currency, got, tt.want)
		}
	}
}

func TestMessagesComplete(t *testing.T) {
	tx, _, err := loadLanguages("it", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, lang := range []string{"it", "en"} {
		for _, id := range messageIDs {
			// Each language must have its own text, not the default's.
			_, tag, err := tx.loc[lang].LocalizeWithTag(localizeConfig(id))
			if err != nil || baseLang(tag.String()) != lang {
				t.Errorf("message %s in %s: tag %v, err %v", id, lang, tag, err)
			}
		}
	}
}

// FuzzUnderstand checks that no input makes the understanding step panic or
// produce invalid text. Minimizing its long inputs is slow; run it with
//
//	go test ./dialogs -run '^$' -fuzz FuzzUnderstand -fuzztime 60s -fuzzminimizetime 1s
func FuzzUnderstand(f *testing.F) {
	seeds := []string{
		"avete le trail runner nel 42 rosse?", "forty-two and a half", "42½ o 43,5", "W32", "vita 32",
		"taglia emme", "c'è l'hai", "in English please", "the second one", "uk 8.5", "42/43/44",
		"\xff\xfe\xfd", "½½½", "1/2/3", "''''", "e e e e mezzo", strings.Repeat("quarantadue ", 400),
		strings.Repeat("a", 4096), strings.Repeat("é", 2048), "999999999999999999999", "4.2.5", "-42",
		"privcy", "cancela i miei dati", "esprota i miei", "forget forget forget me", "stop basta messaggi",
		"diritto all'oblio", strings.Repeat("dimenticami ", 100),
	}
	for _, s := range seeds {
		f.Add(s)
	}
	lx, v := rules()
	f.Fuzz(func(t *testing.T, text string) {
		u := understand(lx, v, text)
		if u.Tokens > maxTokens {
			t.Errorf("understand read %d tokens, at most %d", u.Tokens, maxTokens)
		}
		for _, s := range u.Sizes {
			if s == "" || !utf8.ValidString(s) {
				t.Errorf("understand(%q) size %q", text, s)
			}
		}
		for _, w := range u.Unknown {
			if !utf8.ValidString(w) {
				t.Errorf("understand(%q) unknown word %q is not UTF-8", text, w)
			}
		}
		_ = u.text()
		_ = redact(text)
	})
}

func BenchmarkUnderstand(b *testing.B) {
	lx, v := rules()
	for _, text := range []string{"avete le trail runner nel 42 rosse?", "avete le trial runer nel 42 rosse?", "cancela i miei dati"} {
		b.Run(text, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				understand(lx, v, text)
			}
		})
	}
}
