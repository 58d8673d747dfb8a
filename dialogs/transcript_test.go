package dialogs_test

import (
	"bufio"
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/bottega-shop/bottega/bot"
	"github.com/bottega-shop/bottega/catalog"
	"github.com/bottega-shop/bottega/catalog/blevecatalog"
	"github.com/bottega-shop/bottega/catalog/demo"
	"github.com/bottega-shop/bottega/catalog/sqlcatalog"
	"github.com/bottega-shop/bottega/consent"
	"github.com/bottega-shop/bottega/dialogs"
	"github.com/bottega-shop/bottega/dialogs/sqldialogs"
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
	op   string // ">", ">>", "<", "<!", "<-", "@", "?"
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
//	@ privacy on        from here on the engine has the consent ledger (SQLite)
//	                    and the data rights (testRights)
//	@ notices v2        the ledger's notices get a second version of the
//	                    notifications notice (testdata/notices)
//	@ held none         the rights hold nothing on the shopper
//	@ ledger down       the ledger cannot be reached ("up" again)
//	@ rights down       the rights cannot be reached ("up" again)
//	@ linking on        from here on the engine runs on the real consent
//	                    stack (ledger, keyring, export links and link codes
//	                    on SQLite) for consent, rights and linking, with
//	                    the subject resolved to the person as cmd does
//	@ linking down      link codes cannot be made or redeemed ("up" again)
//	@ links LIST        the apps offered, "telegram,messenger" (the
//	                    default) or "none"
//	@ chat CH [N]       from here on the shopper writes on channel CH, in
//	                    this transcript's chat there (or its N-th other
//	                    chat there); the web chat is the first
//	@ signed in NAME    the current web chat's visitor signs in on the
//	                    shop's site as customer NAME (LinkCustomer)
//	> text              the shopper writes
//	>> payload          the shopper presses a button or quick reply; in
//	                    it {telegram} and {messenger} stand for the code
//	                    of the last link to that app the bot showed
//	< pattern           the bot's answer to the last message contains it
//	<! pattern          the answer does not contain it
//	<-                  the bot says nothing
//	? events N          the ledger holds N events of this shopper
//	? last P A M V L    the newest is purpose P ("-" for none), action A,
//	                    method M, notice version V ("v1", or "-" for none)
//	                    and language L, carried by the last message on the
//	                    webchat channel, with the hash of that notice's text
//	? granted P         the ledger's state of purpose P is a yes
//	? refused P         … is not a yes
//	? person NAME        this chat's shopper is customer NAME ("self":
//	                    linked to no one)
//	? link METHOD       the newest ledger event links this chat's
//	                    identity to its person, made with METHOD
//	                    (sign_in, link_code) on this chat's channel
//	? erased            the rights were asked to erase this shopper and
//	                    this conversation
//	? forgot            the last turn had the dispatcher erase the
//	                    conversation: the store's log holds only that
//	                    turn, without the shopper's words, then the
//	                    farewell; its tables hold no earlier entry and no
//	                    session state (? kept: the earlier entries, the
//	                    words and the state are all still there)
//
// Patterns ignore case; "*" stands for anything on one line. The answer is
// matched as render shows it, so buttons ("[button] Avvisami…"), quick
// replies and cards can be checked too. Every conversation runs through a
// bot.Dispatcher on the embedded store (sqldialogs on SQLite), as in
// production.
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
			case ">", ">>", "<", "<!", "<-", "@", "?":
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
	ls := newLedgers(t)
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
	// One conversation store for all, as in production: each conversation
	// has a key of its own, and a clock of its own that the store follows
	// while it plays (they play one at a time).
	var clk *clock
	store, db := newConvStore(t, func() time.Time { return clk.now() })
	for i, c := range convs {
		t.Run(strings.TrimSuffix(c.file, ".txt")+"/"+c.name, func(t *testing.T) {
			clk = newClock()
			conv := fmt.Sprintf("t%d", i)
			runConversation(&run{t: t, cat: svc, ls: ls, clk: clk, store: store, db: db, conv: conv, notices: "v1",
				channel: bot.WebChat, chat: conv, links: testLinks, codes: map[string]string{}}, c)
		})
	}
}

// run is one transcript conversation being played.
type run struct {
	t       *testing.T
	cat     dialogs.Catalog
	ls      *ledgers
	clk     *clock
	store   *sqldialogs.Store
	db      *sqldb.DB // under store
	conv    string
	d       *bot.Dispatcher
	ledger  *consent.Ledger
	rights  *testRights
	privacy bool
	notices string // "v1", "v2"
	down    bool   // the ledger is down
	last    bot.Message

	linking  bool       // the real consent stack and linking
	stack    *linkStack // with linking
	linkDown bool
	links    map[string]string
	channel  string            // where the shopper writes now
	chat     string            // the conversation id there
	codes    map[string]string // app → code of the last link shown
}

// build makes the engine and the dispatcher for the current settings; the
// conversation's store, ledger store and rights carry over.
func (r *run) build() {
	r.t.Helper()
	opts := []dialogs.Option{dialogs.WithNow(r.clk.now)}
	if r.privacy {
		r.ledger = r.ls.ledger(r.t, r.notices, r.clk.now)
		if r.rights == nil {
			r.rights = newTestRights(r.ledger, r.clk.now)
		}
		r.rights.ledger = r.ledger
		var l dialogs.Consent = r.ledger
		if r.down {
			l = downConsent{l}
		}
		if r.linking {
			r.stack = r.ls.linkStack(r.t, r.ledger, r.clk.now)
			var lk dialogs.Linking = r.stack.rights
			if r.linkDown {
				lk = downLinking{}
			}
			opts = append(opts, dialogs.WithConsent(l), dialogs.WithRights(r.stack.rights),
				dialogs.WithSubjects(r.stack.personOf), dialogs.WithLinking(lk, r.links))
		} else {
			opts = append(opts, dialogs.WithConsent(l), dialogs.WithRights(r.rights), dialogs.WithSubjects(subjectOf))
		}
	}
	e, err := dialogs.New(r.cat, opts...)
	if err != nil {
		r.t.Fatal(err)
	}
	r.d = newTestDispatcher(r.store, e, r.clk.now)
}

// subject is the current chat's shopper's subject: their person's, with
// linking.
func (r *run) subject() string {
	m := bot.Message{Channel: r.channel, Conversation: r.chat}
	if r.stack != nil {
		return r.stack.personOf(context.Background(), m)
	}
	return subjectOf(context.Background(), m)
}

func (r *run) key() string { return r.channel + ":" + r.chat }

func runConversation(r *run, c conversation) {
	t, conv := r.t, r.conv
	r.build()
	ctx := context.Background()
	var out string
	said := ""
	locale := ""
	seq := 0
	for _, s := range c.steps {
		where := fmt.Sprintf("%s:%d", c.file, s.line)
		switch s.op {
		case "@":
			key, val, _ := strings.Cut(s.arg, " ")
			switch {
			case key == "locale":
				locale = val
			case key == "wait":
				d, err := parseWait(val)
				if err != nil {
					t.Fatalf("%s: %v", where, err)
				}
				r.clk.advance(d)
			case key == "privacy" && (val == "on" || val == "off"):
				r.privacy = val == "on"
				r.build()
			case key == "notices":
				r.notices = val
				r.build()
			case key == "held" && val == "none" && r.rights != nil:
				r.rights.held[r.subject()] = nil
			case key == "ledger" && (val == "down" || val == "up"):
				r.down = val == "down"
				r.build()
			case key == "rights" && (val == "down" || val == "up") && r.rights != nil:
				r.rights.down = val == "down"
			case key == "linking" && val == "on":
				r.privacy, r.linking = true, true
				r.build()
			case key == "linking" && (val == "down" || val == "up") && r.linking:
				r.linkDown = val == "down"
				r.build()
			case key == "links":
				r.links = map[string]string{}
				for app := range strings.SplitSeq(val, ",") {
					if tpl, ok := testLinks[app]; ok {
						r.links[app] = tpl
					} else if app != "none" {
						t.Fatalf("%s: no link template for %q", where, app)
					}
				}
				r.build()
			case key == "chat":
				ch, n, _ := strings.Cut(val, " ")
				r.channel, r.chat = ch, conv
				if n != "" {
					r.chat = conv + "-" + n
				}
			case key == "signed" && strings.HasPrefix(val, "in ") && r.stack != nil && r.channel == bot.WebChat:
				name, lang := strings.TrimPrefix(val, "in "), "it"
				if locale != "" {
					lang, _, _ = strings.Cut(locale, "-")
				}
				if _, err := r.stack.rights.LinkCustomer(ctx, r.key(), r.customer(name),
					consent.Event{Lang: lang, MessageID: "sign-in"}); err != nil {
					t.Fatalf("%s: LinkCustomer: %v", where, err)
				}
			default:
				t.Fatalf("%s: unknown setting %q", where, s.arg)
			}
		case ">", ">>":
			seq++
			m := bot.Message{Channel: r.channel, ID: fmt.Sprint(seq), Conversation: r.chat, Sender: "s1",
				Locale: locale, Seq: int64(seq), At: r.clk.now()}
			if s.op == ">" {
				m.Text = s.arg
			} else {
				m.Payload = r.withCodes(where, s.arg)
			}
			entries, err := r.d.Dispatch(ctx, m)
			if err != nil {
				t.Fatalf("%s: Dispatch(%q): %v", where, s.arg, err)
			}
			out, said, r.last = render(repliesOf(entries)), s.arg, m
			maps.Copy(r.codes, linkCodes(out))
			r.clk.advance(time.Minute)
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
		case "?":
			r.check(where, s.arg)
		}
	}
}

// check runs a "?" instruction.
func (r *run) check(where, arg string) {
	t := r.t
	t.Helper()
	f := strings.Fields(arg)
	if len(f) == 0 {
		t.Fatalf("%s: empty check", where)
	}
	if f[0] == "forgot" || f[0] == "kept" {
		bad := kept(t, r.store, r.db, r.key(), r.last.ID)
		if f[0] == "forgot" {
			bad = forgotten(t, r.store, r.db, r.key(), r.last.ID)
		}
		if len(bad) > 0 {
			t.Errorf("%s: after Handle(%q) the conversation is not %s: %s", where, r.last.Text+r.last.Payload, f[0], strings.Join(bad, "; "))
		}
		return
	}
	if (f[0] == "person" || f[0] == "link") && len(f) == 2 {
		r.checkLink(where, f[0], f[1])
		return
	}
	if f[0] == "erased" {
		if r.rights == nil || !slices.Contains(r.rights.erases, r.subject()+" "+r.key()) {
			t.Errorf("%s: Erase was not called for this subject and conversation %s", where, r.key())
		}
		return
	}
	if r.ledger == nil {
		t.Fatalf("%s: a ledger check without @ privacy on", where)
	}
	ctx := context.Background()
	events, err := r.ledger.History(ctx, r.subject())
	if err != nil {
		t.Fatalf("%s: History: %v", where, err)
	}
	switch {
	case f[0] == "events" && len(f) == 2:
		if want := f[1]; fmt.Sprint(len(events)) != want {
			t.Errorf("%s: the ledger holds %d events, want %s: %s", where, len(events), want, describe(events))
		}
	case (f[0] == "granted" || f[0] == "refused") && len(f) == 2:
		st := consent.StateOf(events)[consent.Purpose(f[1])]
		if st.Granted != (f[0] == "granted") {
			t.Errorf("%s: the state of %s is %+v, want %s", where, f[1], st, f[0])
		}
	case f[0] == "last" && len(f) == 6:
		if len(events) == 0 {
			t.Errorf("%s: the ledger holds no event", where)
			return
		}
		e := events[len(events)-1]
		version, purpose := 0, consent.Purpose(f[1])
		if purpose == "-" {
			purpose = ""
		}
		if f[4] != "-" {
			if _, err := fmt.Sscanf(f[4], "v%d", &version); err != nil {
				t.Fatalf("%s: bad version %q", where, f[4])
			}
		}
		hash := ""
		if version > 0 {
			n, ok := r.ledger.Notices().Find(purpose, f[5], version)
			if !ok {
				t.Fatalf("%s: no notice %s.%s.v%d", where, purpose, f[5], version)
			}
			hash = n.Hash()
		}
		want := consent.Event{Subject: r.subject(), Purpose: purpose, Action: consent.Action(f[2]),
			Method: consent.Method(f[3]), NoticeVersion: version, NoticeHash: hash, Lang: f[5],
			Channel: r.channel, MessageID: r.last.ID, Actor: consent.Shopper}
		got := consent.Event{Subject: e.Subject, Purpose: e.Purpose, Action: e.Action, Method: e.Method,
			NoticeVersion: e.NoticeVersion, NoticeHash: e.NoticeHash, Lang: e.Lang, Channel: e.Channel,
			MessageID: e.MessageID, Actor: e.Actor}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s: the newest ledger event (-want +got):\n%s", where, diff)
		}
	default:
		t.Fatalf("%s: unknown check %q", where, arg)
	}
}

func describe(events []consent.Event) string {
	var parts []string
	for _, e := range events {
		parts = append(parts, fmt.Sprintf("%s %s v%d (message %s)", e.Purpose, e.Action, e.NoticeVersion, e.MessageID))
	}
	return "[" + strings.Join(parts, "; ") + "]"
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
