package dialogs_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bottega-shop/bottega/bot"
	"github.com/bottega-shop/bottega/catalog"
	"github.com/bottega-shop/bottega/catalog/blevecatalog"
	"github.com/bottega-shop/bottega/catalog/demo"
	"github.com/bottega-shop/bottega/catalog/sqlcatalog"
	"github.com/bottega-shop/bottega/dialogs"
	"github.com/bottega-shop/bottega/internal/sqldb"
)

// newCatalog returns the demo catalog on SQLite and bleve, as the embedded
// deployment runs it.
func newCatalog(tb testing.TB) *catalog.Service {
	tb.Helper()
	ctx := context.Background()
	db, err := sqldb.Open(ctx, "", tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	store, err := sqlcatalog.New(db)
	if err != nil {
		tb.Fatal(err)
	}
	idx, err := blevecatalog.New()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { idx.Close() })
	svc := catalog.NewService(store, idx, nil, nil)
	ps, syns, charts := demo.Catalog()
	if _, err := svc.LoadDemo(ctx, ps, syns, charts); err != nil {
		tb.Fatal(err)
	}
	if err := svc.Reindex(ctx); err != nil {
		tb.Fatal(err)
	}
	return svc
}

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)} }

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// render shows a turn's replies as the transcripts expect them: each
// reply's text, then its quick replies, cards and buttons, one a line.
func render(replies []bot.Reply) string {
	var b strings.Builder
	for _, r := range replies {
		if r.Text != "" {
			b.WriteString(r.Text)
			b.WriteByte('\n')
		}
		for _, q := range r.QuickReplies {
			fmt.Fprintf(&b, "[quick] %s -> %s\n", q.Title, q.Payload)
		}
		for _, c := range r.Cards {
			fmt.Fprintf(&b, "[card] %s | %s | %s | %s\n", c.Title, c.Price, c.URL, c.ImageURL)
			for _, btn := range c.Buttons {
				fmt.Fprintf(&b, "[card button] %s -> %s%s\n", btn.Title, btn.Payload, btn.URL)
			}
		}
		for _, btn := range r.Buttons {
			fmt.Fprintf(&b, "[button] %s -> %s%s\n", btn.Title, btn.Payload, btn.URL)
		}
	}
	return b.String()
}

// matches reports whether pattern occurs in text, ignoring case; a "*" in
// the pattern stands for anything on the same line.
func matches(text, pattern string) bool {
	text, pattern = strings.ToLower(text), strings.ToLower(pattern)
	for _, line := range strings.Split(text, "\n") {
		if matchLine(line, pattern) {
			return true
		}
	}
	return false
}

func matchLine(line, pattern string) bool {
	rest := line
	for _, part := range strings.Split(pattern, "*") {
		j := strings.Index(rest, part)
		if j < 0 {
			return false
		}
		rest = rest[j+len(part):]
	}
	return true
}

// step is one line of a transcript.
type step struct {
	line int
	op   string // ">", ">>", "<", "<!", "<-", "@"
	arg  string
}

// conversation is one transcript conversation.
type conversation struct {
	name  string
	file  string
	steps []step
}

// readTranscripts parses every file in testdata/transcripts.
//
// Format, one instruction a line:
//
//	# a comment
//	=== name            starts a conversation (fresh session)
//	@ locale en-GB      sets the channel's locale from here on
//	@ wait 31d          moves the clock (h, m, s or d)
//	> text              the shopper writes
//	>> payload          the shopper presses a button or quick reply
//	< pattern           the bot's answer to the last message contains it
//	<! pattern          the answer does not contain it
//	<-                  the bot says nothing
//
// Patterns ignore case; "*" stands for anything on one line. The answer is
// matched as render shows it, so buttons ("[button] Avvisami…"), quick
// replies and cards can be checked too.
func readTranscripts(t *testing.T) []conversation {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "transcripts", "*.txt"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no transcripts: %v", err)
	}
	var convs []conversation
	for _, file := range files {
		f, err := os.Open(file)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		n := 0
		var cur *conversation
		for sc.Scan() {
			n++
			line := strings.TrimRight(sc.Text(), " \t")
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			if name, ok := strings.CutPrefix(line, "=== "); ok {
				convs = append(convs, conversation{name: name, file: filepath.Base(file)})
				cur = &convs[len(convs)-1]
				continue
			}
			if cur == nil {
				t.Fatalf("%s:%d: instruction before the first ===", file, n)
			}
			op, arg, _ := strings.Cut(line, " ")
			switch op {
			case ">", ">>", "<", "<!", "<-", "@":
			default:
				t.Fatalf("%s:%d: unknown instruction %q", file, n, op)
			}
			cur.steps = append(cur.steps, step{line: n, op: op, arg: strings.TrimSpace(arg)})
		}
		f.Close()
		if err := sc.Err(); err != nil {
			t.Fatal(err)
		}
	}
	return convs
}

func TestTranscripts(t *testing.T) {
	svc := newCatalog(t)
	convs := readTranscripts(t)
	phrasings := map[string]bool{}
	for _, c := range convs {
		for _, s := range c.steps {
			if s.op == ">" {
				phrasings[strings.ToLower(s.arg)] = true
			}
		}
	}
	if len(phrasings) < 60 {
		t.Errorf("transcripts hold %d distinct shopper lines, want at least 60", len(phrasings))
	}
	for _, c := range convs {
		t.Run(strings.TrimSuffix(c.file, ".txt")+"/"+c.name, func(t *testing.T) {
			runConversation(t, svc, c)
		})
	}
}

func runConversation(t *testing.T, cat dialogs.Catalog, c conversation) {
	clk := newClock()
	e, err := dialogs.New(cat, dialogs.WithNow(clk.now))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var state []byte
	var out string
	said := ""
	locale := ""
	seq := 0
	for _, s := range c.steps {
		where := fmt.Sprintf("%s:%d", c.file, s.line)
		switch s.op {
		case "@":
			key, val, _ := strings.Cut(s.arg, " ")
			switch key {
			case "locale":
				locale = val
			case "wait":
				d, err := parseWait(val)
				if err != nil {
					t.Fatalf("%s: %v", where, err)
				}
				clk.advance(d)
			default:
				t.Fatalf("%s: unknown setting %q", where, key)
			}
		case ">", ">>":
			seq++
			m := bot.Message{Channel: bot.WebChat, ID: fmt.Sprint(seq), Conversation: "c1", Sender: "s1",
				Locale: locale, Seq: int64(seq), At: clk.now()}
			if s.op == ">" {
				m.Text = s.arg
			} else {
				m.Payload = s.arg
			}
			var replies []bot.Reply
			state, replies, err = e.Handle(ctx, state, m)
			if err != nil {
				t.Fatalf("%s: Handle(%q): %v", where, s.arg, err)
			}
			out, said = render(replies), s.arg
			clk.advance(time.Minute)
		case "<":
			if !matches(out, s.arg) {
				t.Errorf("%s: Handle(%q) answered:\n%s\nwant a line matching %q", where, said, indent(out), s.arg)
			}
		case "<!":
			if matches(out, s.arg) {
				t.Errorf("%s: Handle(%q) answered:\n%s\nwant nothing matching %q", where, said, indent(out), s.arg)
			}
		case "<-":
			if out != "" {
				t.Errorf("%s: Handle(%q) answered:\n%s\nwant silence", where, said, indent(out))
			}
		}
	}
}

func indent(s string) string {
	if s == "" {
		return "\t(nothing)"
	}
	return "\t" + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n\t")
}

func parseWait(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		var n int
		if _, err := fmt.Sscan(days, &n); err != nil {
			return 0, fmt.Errorf("bad wait %q", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	return time.ParseDuration(s)
}
