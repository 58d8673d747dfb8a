package dialogs

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"net/url"
	"os"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"golang.org/x/text/language"

	"github.com/bottega-shop/bottega/bot"
	"github.com/bottega-shop/bottega/consent"
)

// One person across channels.
//
// A shopper signed in on the shop's website is a shop customer, and the
// web chat's identity is linked to them (consent.DataRights.LinkCustomer,
// outside the engine). There, "continue on Telegram" or "collega i miei
// account" answers with one link button per other app the shop offers
// (WithLinking), each carrying a single-use code valid for a few minutes.
// Opening it starts the app's chat with the payload "start:link-<code>"
// (Telegram's /start deep link and Messenger's m.me referral both arrive
// so), and the engine redeems the code: that chat's identity is linked to
// the same customer, with a Link event in the ledger, and from then on the
// person's consent, privacy view, export and erasure apply there too.
// A shopper not signed in is told to sign in on the website and ask there.
//
// Not built: unlinking one chat ("forget me" erases the person and every
// linked chat), linking two apps without a shop account, and carrying
// remembered sizes from one chat to another.

// Linking makes and redeems the codes that link a chat to the shop
// customer its shopper signed in as; *consent.DataRights satisfies it.
// conversation is a conversation key ("webchat:<session>", "telegram:42").
type Linking interface {
	// LinkCode returns a single-use code, valid until expires, that links
	// another chat to the customer conversation's identity is linked to.
	// Its errors wrap consent.ErrNotLinked when the identity is linked to
	// no customer.
	LinkCode(ctx context.Context, conversation string) (code string, expires time.Time, err error)
	// RedeemLinkCode links conversation's identity to the customer the code
	// was made for, recording e (Lang, MessageID, Channel, Method, Actor) as
	// the proof; already is true when it was linked to them before. Its
	// errors wrap consent.ErrNotFound for an unknown code, consent.ErrGone
	// for a used or expired one, and consent.ErrConflict when the identity
	// is linked to another customer.
	RedeemLinkCode(ctx context.Context, conversation, code string, e consent.Event) (already bool, err error)
}

// WithLinking lets shoppers signed in on the shop's website link their
// chats on other apps to their shop account, through l. links maps a
// channel name (bot.Telegram, bot.Messenger) to the URL that opens a chat
// with the shop on it, with "{code}" where the link code goes:
// "https://t.me/<bot>?start=link-{code}", "https://m.me/<page id>?ref=link-{code}".
// A channel without one is not offered. Without WithLinking (or with a nil
// l) the engine says linking is not available.
func WithLinking(l Linking, links map[string]string) Option {
	return func(c *config) {
		if l == nil {
			c.linking, c.links = nil, nil
			return
		}
		c.linking, c.links = l, make(map[string]string, len(links))
		for ch, tpl := range links {
			c.links[ch] = tpl
		}
	}
}

// payloadLink prefixes the code of a link opened in another app: Telegram's
// "/start link-<code>" and Messenger's referral "link-<code>" both arrive
// as "start:link-<code>". A "start:" payload without it is read as text.
const payloadLink = "start:link-"

// codeMark is where the code goes in a link template.
const codeMark = "{code}"

// checkLinks makes sure every link template is an absolute URL with a
// place for the code.
func checkLinks(links map[string]string) error {
	for ch, tpl := range links {
		if ch == "" {
			return errors.New("dialogs: a link template without a channel name")
		}
		if !strings.Contains(tpl, codeMark) {
			return fmt.Errorf("dialogs: link template for %s: no %s in it", ch, codeMark)
		}
		u, err := url.Parse(strings.ReplaceAll(tpl, codeMark, "x"))
		if err != nil || u.Host == "" || u.Scheme != "https" && u.Scheme != "http" {
			return fmt.Errorf("dialogs: link template for %s: not an absolute http(s) URL", ch)
		}
	}
	return nil
}

// linkApps returns the channels to offer links to, in a stable order:
// the one asked for, or every other configured one.
func (t *turn) linkApps(asked string) []string {
	var apps []string
	for ch := range t.e.links {
		if ch != t.m.Channel && (asked == "" || ch == asked) {
			apps = append(apps, ch)
		}
	}
	sort.Strings(apps)
	return apps
}

// linkRequest answers "continue on Telegram", "link my accounts": link
// buttons for a shopper signed in on the website, else how to get them.
// asked is the app named, "" for any.
func (t *turn) linkRequest(ctx context.Context, asked string) ([]bot.Reply, error) {
	t.s.Misses = 0
	if err := t.settle(); err != nil {
		return nil, err
	}
	if asked == t.m.Channel {
		asked = "" // "continue on Telegram" said on Telegram: the other apps
	}
	if t.e.linking == nil {
		return t.text(msgLinkOff, data{"App": t.channelName(asked)}), nil
	}
	// Links are asked for on the website: there, the app to ask for is
	// the one asked for here, or this one when it is an app links lead to.
	_, onApp := t.e.links[t.m.Channel]
	signIn := data{"App": t.channelName(asked)}
	if asked == "" && onApp {
		signIn["App"] = t.channelName(t.m.Channel)
	}
	apps := t.linkApps(asked)
	if len(apps) == 0 {
		if onApp && asked == "" {
			return t.text(msgLinkSignIn, signIn), nil
		}
		return t.text(msgLinkOff, data{"App": t.channelName(asked)}), nil
	}
	// A code per app, so that each link works on its own.
	buttons := make([]bot.Button, 0, len(apps))
	var expires time.Time
	for _, app := range apps {
		code, exp, err := t.e.linking.LinkCode(ctx, t.m.Key())
		switch {
		case errors.Is(err, consent.ErrNotLinked):
			return t.text(msgLinkSignIn, signIn), nil
		case err != nil:
			t.e.log.Warn("dialogs: link code", "conversation", t.m.Key(), "err", err)
			return t.text(msgLinkUnavailable, nil), nil
		}
		if expires.IsZero() || exp.Before(expires) {
			expires = exp
		}
		buttons = append(buttons, bot.Button{
			Title: t.say(msgLinkButton, data{"App": t.channelName(app)}),
			URL:   strings.ReplaceAll(t.e.links[app], codeMark, url.QueryEscape(code)),
		})
	}
	minutes := max(int(math.Ceil(expires.Sub(t.e.now()).Minutes())), 1)
	return t.reply(bot.Reply{
		Text:    t.e.texts.count(t.lang(), msgLinkOffer, len(buttons), data{"Minutes": minutes}),
		Buttons: buttons,
	}), nil
}

// redeem links this chat to the shop account a link code was made for,
// and makes the turn's subject the person from then on.
func (t *turn) redeem(ctx context.Context, code string) ([]bot.Reply, error) {
	t.s.Misses = 0
	if err := t.settle(); err != nil {
		return nil, err
	}
	if t.e.linking == nil {
		return t.text(msgLinkOff, data{}), nil
	}
	if code == "" {
		return t.text(msgLinkCodeBad, nil), nil
	}
	already, err := t.e.linking.RedeemLinkCode(ctx, t.m.Key(), code, consent.Event{
		Lang: t.lang(), MessageID: t.m.ID, Channel: t.m.Channel, Method: consent.LinkCode, Actor: consent.Shopper,
	})
	switch {
	case errors.Is(err, consent.ErrNotFound), errors.Is(err, consent.ErrGone):
		return t.text(msgLinkCodeBad, nil), nil
	case errors.Is(err, consent.ErrConflict):
		return t.text(msgLinkConflict, nil), nil
	case err != nil:
		t.e.log.Warn("dialogs: redeem link code", "conversation", t.m.Key(), "err", err)
		return t.text(msgLinkUnavailable, nil), nil
	}
	// From now on the turn is the person's: asked for again at once, so
	// that whatever the turn does next reads their consent.
	t.relink()
	t.subject(ctx)
	if already {
		return t.text(msgLinkAlready, nil), nil
	}
	return t.text(msgLinked, nil), nil
}

// channelTexts are the message IDs of the channels' names.
var channelTexts = map[string]string{
	bot.WebChat:   msgChannelWebChat,
	bot.Telegram:  msgChannelTelegram,
	bot.Messenger: msgChannelMessenger,
}

// channelName is a channel's name in the conversation's language; a
// channel without one in the message files shows as it is named, "" as "".
func (t *turn) channelName(ch string) string {
	if id, ok := channelTexts[ch]; ok {
		return t.say(id, nil)
	}
	return ch
}

// channelNames names channels, those the chat knows first (web chat,
// Telegram, Messenger), then the others as given.
func (t *turn) channelNames(chs []string) []string {
	names := make([]string, 0, len(chs))
	for _, known := range []string{bot.WebChat, bot.Telegram, bot.Messenger} {
		for _, ch := range chs {
			if ch == known {
				names = append(names, t.channelName(ch))
				break
			}
		}
	}
	for _, ch := range chs {
		if _, ok := channelTexts[ch]; !ok {
			names = append(names, ch)
		}
	}
	return names
}

// scoreLink counts the words of a link request that only one language uses
// toward the language guess, as understand does for its own words.
func (t *turn) scoreLink(u *understanding, req linkRequest) {
	for lang, n := range req.scores {
		if i := t.e.lex.langIndex(lang); i >= 0 && i < len(u.Scores) {
			u.Scores[i] += n
		}
	}
}

// Understanding link requests.

// maxLinkTokens is the longest message read as a link request, in words:
// a longer one is about something else.
const maxLinkTokens = 12

// linkFile is one language's words for asking to link chats
// (locales/linking.<lang>.toml).
type linkFile struct {
	// Verbs ask to link or move the chat: "link", "continue", "collega".
	Verbs []string `toml:"verbs"`
	// Accounts name the shopper's accounts in general: "my accounts".
	Accounts []string `toml:"accounts"`
	// Apps name each channel: telegram = ["telegram"].
	Apps map[string][]string `toml:"apps"`
}

// linkPhrase is one verb, app or accounts phrase, folded.
type linkPhrase struct {
	words []string
	verb  bool
	app   string          // the channel an app phrase names
	langs map[string]bool // the languages listing it
}

// linkWords reads link requests: a message of a few words with a verb and
// an app or "my accounts", in any order ("link Telegram", "continua su
// Telegram", "collega i miei account").
type linkWords struct {
	phrases map[string][]*linkPhrase // by first word, longest first
	// gate holds the last word of every app and accounts phrase: a message
	// with none of them is no request, and is not read further.
	gate []string
}

// linkRequest is a link request read in a message.
type linkRequest struct {
	app    string         // the one app named, "" for none or several
	scores map[string]int // words only one language uses, per language
}

// loadLinkWords reads the embedded linking files, then those in dir (if
// not empty), which may add languages and words.
func loadLinkWords(dir string) (*linkWords, error) {
	lw := &linkWords{phrases: map[string][]*linkPhrase{}}
	index := map[string]*linkPhrase{}
	gate := map[string]bool{}
	add := func(lang, entry string, verb bool, app string) {
		ws := words(entry)
		if len(ws) == 0 {
			return
		}
		key := fmt.Sprintf("%t %s %s", verb, app, strings.Join(ws, " "))
		p := index[key]
		if p == nil {
			p = &linkPhrase{words: ws, verb: verb, app: app, langs: map[string]bool{}}
			index[key] = p
			lw.phrases[ws[0]] = append(lw.phrases[ws[0]], p)
		}
		p.langs[lang] = true
		if !verb {
			gate[ws[len(ws)-1]] = true
		}
	}
	load := func(fsys fs.FS, name string) error {
		base := path.Base(name)
		tag := strings.TrimSuffix(strings.TrimPrefix(base, "linking."), ".toml")
		if _, err := language.Parse(tag); err != nil {
			return fmt.Errorf("dialogs: linking words %s: bad language tag", base)
		}
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return fmt.Errorf("dialogs: read %s: %w", base, err)
		}
		var f linkFile
		md, err := toml.Decode(string(b), &f)
		if err != nil {
			return fmt.Errorf("dialogs: linking words %s: %w", base, err)
		}
		if und := md.Undecoded(); len(und) > 0 {
			return fmt.Errorf("dialogs: linking words %s: unknown key %s", base, und[0])
		}
		lang := baseLang(tag)
		for _, w := range f.Verbs {
			add(lang, w, true, "")
		}
		for _, w := range f.Accounts {
			add(lang, w, false, "")
		}
		for app, ws := range f.Apps {
			for _, w := range ws {
				add(lang, w, false, app)
			}
		}
		return nil
	}
	embedded, err := fs.Glob(locales, "locales/linking.*.toml")
	if err != nil {
		return nil, err
	}
	for _, name := range embedded {
		if err := load(locales, name); err != nil {
			return nil, err
		}
	}
	if dir != "" {
		extra, err := fs.Glob(os.DirFS(dir), "linking.*.toml")
		if err != nil {
			return nil, fmt.Errorf("dialogs: locale dir: %w", err)
		}
		for _, name := range extra {
			if err := load(os.DirFS(dir), name); err != nil {
				return nil, err
			}
		}
	}
	for _, ps := range lw.phrases {
		sort.SliceStable(ps, func(i, j int) bool { return len(ps[i].words) > len(ps[j].words) })
	}
	for w := range gate {
		lw.gate = append(lw.gate, w)
	}
	sort.Strings(lw.gate)
	return lw, nil
}

// match reads a link request in text.
func (lw *linkWords) match(text string) (linkRequest, bool) {
	if lw == nil || !lw.gated(text) {
		return linkRequest{}, false
	}
	toks := words(text)
	if len(toks) > maxLinkTokens {
		return linkRequest{}, false
	}
	var verb, target bool
	req := linkRequest{scores: map[string]int{}}
	apps := 0
	for i := 0; i < len(toks); {
		p := lw.at(toks, i)
		if p == nil {
			i++
			continue
		}
		i += len(p.words)
		if p.verb {
			verb = true
		} else {
			target = true
			if p.app != "" && p.app != req.app {
				req.app = p.app
				apps++
			}
		}
		if len(p.langs) == 1 {
			for lang := range p.langs {
				req.scores[lang] += len(p.words)
			}
		}
	}
	if !verb || !target {
		return linkRequest{}, false
	}
	if apps > 1 {
		req.app = ""
	}
	return req, true
}

// at returns the longest phrase starting at toks[i], or nil.
func (lw *linkWords) at(toks []string, i int) *linkPhrase {
	return longestAt(lw.phrases[toks[i]], func(p *linkPhrase) []string { return p.words }, toks, i)
}

// gated reports whether text holds one of the gate words, ignoring ASCII
// case, in its first maxScan bytes: the cheap test every message gets.
func (lw *linkWords) gated(text string) bool {
	if len(text) > maxScan {
		text = text[:maxScan]
	}
	for _, w := range lw.gate {
		if containsFoldASCII(text, w) {
			return true
		}
	}
	return false
}

// containsFoldASCII reports whether s contains the lowercase word w,
// ignoring the case of ASCII letters.
func containsFoldASCII(s, w string) bool {
	n := len(w)
	if n == 0 {
		return false
	}
	for i := 0; i+n <= len(s); i++ {
		if lowerASCII(s[i]) != w[0] {
			continue
		}
		j := 1
		for j < n && lowerASCII(s[i+j]) == w[j] {
			j++
		}
		if j == n {
			return true
		}
	}
	return false
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}
