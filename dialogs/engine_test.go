package dialogs_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/bottega-shop/bottega/bot"
	"github.com/bottega-shop/bottega/catalog"
	"github.com/bottega-shop/bottega/dialogs"
)

// chat drives one conversation through an engine.
type chat struct {
	t      *testing.T
	e      *dialogs.Engine
	state  []byte
	locale string
	n      int
}

func newChat(t *testing.T, cat dialogs.Catalog, opts ...dialogs.Option) *chat {
	t.Helper()
	e, err := dialogs.New(cat, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return &chat{t: t, e: e}
}

// say sends text and returns the rendered answer.
func (c *chat) say(text string) string {
	c.t.Helper()
	return c.send(bot.Message{Text: text})
}

func (c *chat) press(payload string) string {
	c.t.Helper()
	return c.send(bot.Message{Payload: payload})
}

func (c *chat) send(m bot.Message) string {
	c.t.Helper()
	c.n++
	m.Channel, m.Conversation, m.Sender, m.ID, m.Locale = bot.WebChat, "c1", "s1", fmt.Sprint(c.n), c.locale
	state, replies, err := c.e.Handle(context.Background(), c.state, m)
	if err != nil {
		c.t.Fatalf("Handle(%q): %v", m.Text+m.Payload, err)
	}
	c.state = state
	return render(replies)
}

func (c *chat) expect(text, want string) {
	c.t.Helper()
	if got := c.say(text); !matches(got, want) {
		c.t.Errorf("Handle(%q) answered:\n%s\nwant a line matching %q", text, indent(got), want)
	}
}

func setStock(t *testing.T, store catalog.Store, sku string, n int) {
	t.Helper()
	if _, err := store.AdjustStock(context.Background(), []catalog.StockChange{{SKU: sku, Set: &n}}, "test"); err != nil {
		t.Fatal(err)
	}
}

// Stock answers are read from the system of record at answer time, not
// from the session nor the search index, which is not told of these changes.
func TestStockReadAtAnswerTime(t *testing.T) {
	svc := newCatalog(t)
	c := newChat(t, svc)
	c.expect("avete le trail runner nel 44 rosse?", "ne restano solo 3")
	setStock(t, svc.Store(), "TRL-000-RED-44", 0)
	c.expect("e nel 44?", "rosso, taglia 44: al momento è esaurito")
	setStock(t, svc.Store(), "TRL-000-RED-42", 2)
	c.expect("e nel 42?", "rosso, taglia 42: ne restano solo 2")
	setStock(t, svc.Store(), "TRL-000-RED-42", 1)
	c.expect("42?", "ne resta solo 1")
	setStock(t, svc.Store(), "TRL-000-RED-42", 30)
	c.expect("e nel 42?", "rosso, taglia 42: disponibile")
	var state map[string]any
	if err := json.Unmarshal(c.state, &state); err != nil {
		t.Fatalf("session state is not JSON: %v", err)
	}
	for k, v := range state {
		if k != "t" && strings.Contains(fmt.Sprint(v), "30") { // "t" is a time
			t.Errorf("session %s holds a stock figure in %q", c.state, k)
		}
	}
}

func TestSessionSize(t *testing.T) {
	svc := newCatalog(t)
	c := newChat(t, svc)
	c.say("ciao")
	if n := len(c.state); n > 200 {
		t.Errorf("idle session is %d bytes, want at most 200: %s", n, c.state)
	}
	for _, line := range []string{"sella", "la seconda", "taglia 42", "rosse", "quanto costa?"} {
		c.say(line)
	}
	for _, sku := range []string{"TRL-000-RED-42", "TRL-000-RED-44", "TRL-000-BLK-39"} {
		c.press("notify:" + sku)
	}
	if n := len(c.state); n > 2048 {
		t.Errorf("session after a conversation is %d bytes, want under 2 KB: %s", n, c.state)
	}
}

func TestHandoffSilenceAndHandBack(t *testing.T) {
	svc := newCatalog(t)
	c := newChat(t, svc)
	c.expect("trail runner", "Che taglia ti serve?")
	c.expect("operatore", "Ti metto in contatto")
	if !dialogs.InHandoff(c.state) {
		t.Fatalf("InHandoff(%s) = false after asking for a person", c.state)
	}
	for _, text := range []string{"ciao?", "trail runner 42", "aiuto"} {
		if got := c.say(text); got != "" {
			t.Errorf("Handle(%q) in handoff answered %q, want silence", text, got)
		}
	}
	if got := c.press("size:42"); got != "" {
		t.Errorf("a button in handoff answered %q, want silence", got)
	}
	back, err := dialogs.HandBack(c.state)
	if err != nil {
		t.Fatal(err)
	}
	c.state = back
	if dialogs.InHandoff(c.state) {
		t.Fatalf("InHandoff after HandBack = true")
	}
	// The bot resumes where it was: the Trail Runner, asking for a size.
	c.expect("43", "Trail Runner, rosso, taglia 43: disponibile")
}

func TestBadInput(t *testing.T) {
	svc := newCatalog(t)
	c := newChat(t, svc)
	c.state = []byte("{not json")
	c.expect("ciao", "Sono l'assistente")

	c.expect(strings.Repeat("trail runner ", 400), "troppo lungo")

	got := c.say("avete le trail runner\xff\xfe nel 43\xc0 rosse?")
	if !utf8.ValidString(got) {
		t.Errorf("answer to invalid UTF-8 is not UTF-8: %q", got)
	}
	if !matches(got, "rosso, taglia 43: disponibile") {
		t.Errorf("answer to invalid UTF-8:\n%s\nwant the stock of red 43", indent(got))
	}
	c.expect("<script>alert(1)</script>", "non ho capito")
	c.expect("", "")
}

func TestIdleTimeout(t *testing.T) {
	svc := newCatalog(t)
	clk := newClock()
	c := newChat(t, svc, dialogs.WithNow(clk.now), dialogs.WithIdleTimeout(time.Hour))
	c.expect("trail runner 43 rosse", "disponibile")
	clk.advance(59 * time.Minute)
	c.expect("e nel 41?", "rosso, taglia 41: disponibile")
	clk.advance(61 * time.Minute)
	got := c.say("e nel 44?")
	if !matches(got, "Bentornato! Per quale prodotto?") || matches(got, "Trail Runner") {
		t.Errorf("after the idle time, Handle(%q) =\n%s\nwant a welcome back and no past", "e nel 44?", indent(got))
	}
}

// A language added by files in a directory needs no code.
func TestLocaleDir(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("active.de.toml", `Welcome = "Hallo! Ich bin der Assistent von Bottega."
AskSize = "Welche Größe brauchst du?"
LanguageSet = "Gut, ich schreibe auf Deutsch."
`)
	write("lexicon.de.toml", `greet = ["hallo", "guten tag"]
names = { de = ["deutsch", "auf deutsch"] }
switch = ["bitte", "sprich"]
`)
	svc := newCatalog(t)
	c := newChat(t, svc, dialogs.WithLocaleDir(dir))
	c.locale = "de-DE"
	c.expect("hallo", "Hallo! Ich bin der Assistent")
	c.expect("trail runner", "Welche Größe brauchst du?")
	c.expect("43", "taglia 43") // not translated: falls back to the shop's language

	c2 := newChat(t, svc, dialogs.WithLocaleDir(dir))
	c2.expect("auf deutsch bitte", "Gut, ich schreibe auf Deutsch.")

	if _, err := dialogs.New(svc, dialogs.WithLocaleDir(t.TempDir())); err == nil {
		t.Errorf("New with an empty locale dir succeeded, want an error")
	}
	bad := t.TempDir()
	if err := os.WriteFile(filepath.Join(bad, "lexicon.fr.toml"), []byte("greet = 3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := dialogs.New(svc, dialogs.WithLocaleDir(bad)); err == nil {
		t.Errorf("New with a broken lexicon succeeded, want an error")
	}
}

// down is a catalog whose backends are away.
type down struct{ dialogs.Catalog }

func (down) Search(context.Context, catalog.Query) (catalog.SearchResult, error) {
	return catalog.SearchResult{}, fmt.Errorf("index: %w", catalog.ErrUnavailable)
}

func (down) Product(context.Context, string) (*catalog.Product, error) {
	return nil, fmt.Errorf("store: %w", catalog.ErrUnavailable)
}

func TestCatalogUnavailable(t *testing.T) {
	c := newChat(t, down{})
	c.expect("avete le trail runner nel 42?", "non riesco a consultare il catalogo")

	e, err := dialogs.New(down{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := e.Handle(ctx, nil, bot.Message{Text: "trail runner"}); !errors.Is(err, context.Canceled) {
		t.Errorf("Handle with a cancelled context = %v, want context.Canceled", err)
	}
}

func TestNewErrors(t *testing.T) {
	if _, err := dialogs.New(nil); err == nil {
		t.Errorf("New(nil) succeeded, want an error")
	}
	svc := newCatalog(t)
	if _, err := dialogs.New(svc, dialogs.WithLanguage("fr")); err == nil {
		t.Errorf("New with a default language that has no messages succeeded, want an error")
	}
}

func TestNotify(t *testing.T) {
	svc := newCatalog(t)
	c := newChat(t, svc)
	c.expect("trail runner rosse nel 42", "[button] Avvisami: rosso 42 -> notify:TRL-000-RED-42")
	c.expect("sella", "quale intendi") // the talk moves on; the button still works
	if got := c.press("notify:TRL-000-RED-42"); !matches(got, "ti avviserò qui quando Trail Runner, rosso, taglia 42") {
		t.Errorf("notify answered:\n%s", indent(got))
	}
	if !strings.Contains(string(c.state), "TRL-000-RED-42") {
		t.Errorf("session %s does not record the interest", c.state)
	}
	if got := c.press("notify:NOPE-1"); !matches(got, "Non trovo più questo articolo") {
		t.Errorf("notify of an unknown SKU answered:\n%s", indent(got))
	}
}

// Turns of many conversations run at once on one engine while its
// vocabulary keeps expiring and being rebuilt.
func TestConcurrentTurns(t *testing.T) {
	svc := newCatalog(t)
	e, err := dialogs.New(svc, dialogs.WithVocabularyTTL(time.Nanosecond))
	if err != nil {
		t.Fatal(err)
	}
	lines := []string{"avete le trail runner nel 42 rosse?", "e nel 43?", "sella", "la seconda", "quanto costa?"}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			var state []byte
			for i := range 10 {
				m := bot.Message{Channel: bot.WebChat, Conversation: fmt.Sprint(g), Text: lines[i%len(lines)]}
				st, replies, err := e.Handle(context.Background(), state, m)
				if err != nil || len(replies) == 0 {
					t.Errorf("Handle(%q) = %d replies, %v", m.Text, len(replies), err)
					return
				}
				state = st
			}
		})
	}
	wg.Wait()
}
