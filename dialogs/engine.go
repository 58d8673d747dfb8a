// Package dialogs is Bottega's conversation engine: a state machine with
// slots (product, sizes, colours, quantity) that understands shoppers'
// messages in Italian and English with rules built from the catalog's own
// vocabulary, falls back to a language model when one is configured, and
// answers from per-language message catalogs with stock read from the
// catalog's system of record at answer time. With a consent ledger
// (WithConsent, WithRights) it asks for consent just in time and serves the
// shopper's data rights in the chat: see privacy.go. With WithLinking a
// shopper signed in on the shop's website links their Telegram and
// Messenger chats to their shop account: see linking.go.
//
// Engine implements bot.Handler: it keeps no state of its own between
// turns beyond caches of the catalog's vocabulary.
package dialogs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/bottega-shop/bottega/bot"
	"github.com/bottega-shop/bottega/catalog"
	"github.com/bottega-shop/bottega/consent"
)

// Catalog is what the engine reads of the catalog; *catalog.Service
// satisfies it. Search and Product must return stock as the system of
// record has it now.
type Catalog interface {
	Search(ctx context.Context, q catalog.Query) (catalog.SearchResult, error)
	Product(ctx context.Context, handle string) (*catalog.Product, error)
	Synonyms(ctx context.Context) ([]catalog.Synonym, error)
	SizeCharts(ctx context.Context) ([]catalog.SizeChart, error)
}

// Defaults of the options.
const (
	DefaultIdleTimeout = 30 * 24 * time.Hour
	DefaultVocabTTL    = time.Minute
	DefaultLowStock    = 3
	DefaultLLMTimeout  = 3 * time.Second
	// MaxText is the longest message read; longer ones get a polite refusal.
	MaxText = 4096
)

// Engine is the dialog engine. It is safe for concurrent use.
type Engine struct {
	cat      Catalog
	now      func() time.Time
	log      *slog.Logger
	idle     time.Duration
	lowStock int
	lang     string // the shop's default language, that of Product.Title
	texts    *texts
	lex      *lexicon
	vocab    *vocabCache
	llm      *llm
	consent  Consent
	rights   consent.Rights
	subjects func(context.Context, bot.Message) string
	linking  Linking
	links    map[string]string // channel → link template with {code}
	linkLex  *linkWords
}

type config struct {
	now        func() time.Time
	log        *slog.Logger
	idle       time.Duration
	vocabTTL   time.Duration
	lowStock   int
	lang       string
	localeDir  string
	llm        *llm
	llmTimeout time.Duration
	consent    Consent
	rights     consent.Rights
	subjects   func(context.Context, bot.Message) string
	linking    Linking
	links      map[string]string
}

// Option configures New.
type Option func(*config)

// WithNow sets the clock, for tests.
func WithNow(now func() time.Time) Option { return func(c *config) { c.now = now } }

// WithLogger logs catalog and language-model failures (never message text).
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.log = l } }

// WithIdleTimeout sets how long a session may sit idle before the next
// message starts a fresh one (default 30 days).
func WithIdleTimeout(d time.Duration) Option { return func(c *config) { c.idle = d } }

// WithVocabularyTTL sets how long the catalog's vocabulary is cached
// (default one minute).
func WithVocabularyTTL(d time.Duration) Option { return func(c *config) { c.vocabTTL = d } }

// WithLowStock sets the stock at or under which answers say how many are
// left (default 3).
func WithLowStock(n int) Option { return func(c *config) { c.lowStock = n } }

// WithLanguage sets the shop's default language: that of product titles,
// and of answers when neither the channel nor the text says (default "it").
func WithLanguage(tag string) Option { return func(c *config) { c.lang = baseLang(tag) } }

// WithLocaleDir loads extra message files (active.<lang>.toml) and
// understanding files (lexicon.<lang>.toml) from dir, which add languages
// or override the embedded ones, with no change to the code.
func WithLocaleDir(dir string) Option { return func(c *config) { c.localeDir = dir } }

// New returns an engine reading from cat.
func New(cat Catalog, opts ...Option) (*Engine, error) {
	c := config{
		now:        time.Now,
		idle:       DefaultIdleTimeout,
		vocabTTL:   DefaultVocabTTL,
		lowStock:   DefaultLowStock,
		lang:       "it",
		llmTimeout: DefaultLLMTimeout,
	}
	for _, o := range opts {
		o(&c)
	}
	if cat == nil {
		return nil, errors.New("dialogs: no catalog")
	}
	if (c.consent != nil || c.rights != nil) && c.subjects == nil {
		return nil, errors.New("dialogs: WithConsent and WithRights need WithSubjects")
	}
	if c.consent != nil {
		if err := checkNotices(c.consent, c.lang); err != nil {
			return nil, err
		}
	}
	if err := checkLinks(c.links); err != nil {
		return nil, err
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	texts, lexFiles, err := loadLanguages(c.lang, c.localeDir)
	if err != nil {
		return nil, err
	}
	lx, err := buildLexicon(lexFiles)
	if err != nil {
		return nil, err
	}
	linkLex, err := loadLinkWords(c.localeDir)
	if err != nil {
		return nil, err
	}
	e := &Engine{
		cat:      cat,
		now:      c.now,
		log:      c.log,
		idle:     c.idle,
		lowStock: c.lowStock,
		lang:     c.lang,
		texts:    texts,
		lex:      lx,
		vocab:    &vocabCache{cat: cat, lx: lx, ttl: c.vocabTTL, now: c.now},
		llm:      c.llm,
		consent:  c.consent,
		rights:   c.rights,
		subjects: c.subjects,
		linking:  c.linking,
		links:    c.links,
		linkLex:  linkLex,
	}
	if e.llm != nil {
		e.llm.timeout = c.llmTimeout
	}
	return e, nil
}

// Handle answers one message. A state that does not decode (a session from
// an incompatible version) starts a fresh conversation. In the handoff
// state the bot is silent: no replies. Catalog, ledger and data-rights
// failures become a friendly reply; only a cancelled context is returned as
// an error.
//
// With WithConsent, the first turn of a conversation states what the chat
// does with the shopper's messages (the service notice). After "forget
// me" is confirmed and the data erased, the returned state is empty and,
// under a bot.Dispatcher, the turn asks it (bot.Turn.Forget) to erase the
// conversation's state and log when it commits.
func (e *Engine) Handle(ctx context.Context, state []byte, m bot.Message) ([]byte, []bot.Reply, error) {
	s, err := decodeSession(state)
	if err != nil {
		e.log.Warn("dialogs: session reset", "conversation", m.Key(), "err", err)
		s = session{}
	}
	now := e.now()
	returning := false
	t := &turn{e: e, s: &s, m: m}
	if s.Last != 0 && now.Sub(time.Unix(s.Last, 0)) > e.idle {
		// Start fresh, keeping only the language, the recorded interest
		// and, while the shopper allows it, the sizes they told us.
		fresh := session{Lang: s.Lang, LangSet: s.LangSet, Seen: true, Notify: s.Notify}
		if len(s.Remember) > 0 && t.keepRemembered(ctx) {
			fresh.Remember = s.Remember
		}
		s = fresh
		returning = true
	}
	s.Last = now.Unix()
	if s.State == stHandoff {
		return s.encode(), nil, nil
	}
	first := !s.Seen
	if s.Lang == "" {
		s.Lang = e.lang
		if l := baseLang(m.Locale); e.texts.has(l) {
			s.Lang = l
		}
	}
	t.returning, t.first = returning, first && m.Locale == ""
	replies, err := t.run(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		e.log.Warn("dialogs: turn failed", "conversation", m.Key(), "err", err)
		replies = []bot.Reply{{Text: e.texts.get(s.Lang, msgUnavailable, nil)}}
	}
	if t.end {
		return nil, replies, nil // forgotten: nothing of the session stays
	}
	if first && t.consentOn(ctx) {
		// Service is stated, not asked: first, so that a question the
		// answer ends with stays the last message (with its buttons).
		if n := e.consent.Notices().Current(consent.Service, s.Lang); n.Version > 0 {
			replies = append([]bot.Reply{{Text: n.Text}}, replies...)
		}
	}
	s.Seen = true
	return s.encode(), replies, nil
}

// keepRemembered reports whether the sizes remembered may be carried into
// a new conversation: while personalization is granted, or when the ledger
// cannot say (their use is checked again when they are used).
func (t *turn) keepRemembered(ctx context.Context) bool {
	if !t.consentOn(ctx) {
		return false
	}
	st, err := t.status(ctx, consent.Personalization)
	if err != nil {
		t.e.log.Warn("dialogs: consent state", "conversation", t.m.Key(), "err", err)
		return true
	}
	return st.Granted
}

// turn is one message being answered.
type turn struct {
	e         *Engine
	s         *session
	m         bot.Message
	v         *vocab
	returning bool
	first     bool // no locale and no earlier turn: the text alone decides the language
	prefix    []string

	subj     string // the shopper's subject in the consent ledger
	subjDone bool
	states   map[consent.Purpose]consent.Status // the ledger's state, read once a turn
	end      bool                               // the shopper was forgotten: the session ends
}

func (t *turn) lang() string { return t.s.Lang }

func (t *turn) say(id string, d data) string { return t.e.texts.get(t.s.Lang, id, d) }

// reply builds the turn's answer, prefixed by a greeting when one is due.
func (t *turn) reply(r bot.Reply) []bot.Reply {
	if len(t.prefix) > 0 {
		r.Text = strings.Join(append(t.prefix, r.Text), " ")
	}
	return []bot.Reply{r}
}

func (t *turn) text(id string, d data) []bot.Reply { return t.reply(bot.Reply{Text: t.say(id, d)}) }

func (t *turn) run(ctx context.Context) ([]bot.Reply, error) {
	if t.returning {
		t.prefix = append(t.prefix, t.say(msgWelcomeBackShort, nil))
	}
	if t.m.Payload != "" {
		if r, ok, err := t.payload(ctx); ok || err != nil {
			return r, err
		}
	}
	if len(t.m.Text) > MaxText {
		return t.text(msgTooLong, nil), nil
	}
	v, err := t.e.vocab.get(ctx)
	if err != nil {
		return nil, err
	}
	t.v = v
	u := understand(t.e.lex, v, redact(t.m.Text))
	if req, ok := t.e.linkLex.match(t.m.Text); ok {
		// "continue on Telegram": its words tell the language too.
		t.scoreLink(&u, req)
		t.detectLanguage(&u)
		return t.linkRequest(ctx, req.app)
	}
	t.detectLanguage(&u)
	return t.answer(ctx, &u, true)
}

// detectLanguage follows the language the shopper writes in, unless they
// chose one: clear evidence (two words more) switches, and so does any
// evidence in a first message on a channel that gave no locale.
func (t *turn) detectLanguage(u *understanding) {
	if t.s.LangSet {
		return
	}
	best, margin := guessLanguage(t.e.lex, u)
	if best == "" || !t.e.texts.has(best) {
		return
	}
	if margin >= 2 || (t.first && margin >= 1) {
		t.s.Lang = best
	}
}

// guessLanguage returns the language with the most words of its own in the
// message, and by how many words it leads the next one.
func guessLanguage(lx *lexicon, u *understanding) (lang string, margin int) {
	top, second := 0, 0
	for i, l := range lx.langs {
		if i >= len(u.Scores) {
			break
		}
		switch n := u.Scores[i]; {
		case n > top:
			lang, second, top = l, top, n
		case n > second:
			second = n
		}
	}
	return lang, top - second
}

// answer decides what the message asks and answers it. fallback allows the
// language model for a message the rules cannot read.
func (t *turn) answer(ctx context.Context, u *understanding, fallback bool) ([]bot.Reply, error) {
	s := t.s
	short := u.Tokens <= 4
	if u.Lang != "" && t.e.texts.has(u.Lang) {
		s.Lang, s.LangSet, s.Misses = u.Lang, true, 0
		return t.text(msgLanguageSet, nil), nil
	}
	if !u.hasEntities() {
		if r, ok, err := t.command(ctx, u); ok || err != nil {
			return r, err
		}
	}
	if u.Person && !u.hasEntities() {
		return t.handoff()
	}
	yes, no := u.Yes && !u.No && short && !u.hasEntities(), u.No && !u.Yes && short && !u.hasEntities()
	switch s.State {
	case stAskConsent:
		if n := len(s.Asks); n > 0 && (yes || no) {
			return t.decide(ctx, s.Asks[n-1].Purpose, yes)
		}
	case stConfirmForget:
		if yes {
			return t.forget(ctx)
		}
		if no {
			return t.keep()
		}
	case stOfferPerson:
		if u.Yes && short && !u.hasEntities() {
			return t.handoff()
		}
		if u.No && short && !u.hasEntities() {
			s.Misses = 0
			if err := s.to(stIdle); err != nil {
				return nil, err
			}
			return t.text(msgHandoffDeclined, nil), nil
		}
	case stChoosing:
		if r, ok, err := t.choose(ctx, u); ok || err != nil {
			return r, err
		}
	case stAskSize:
		if len(u.Sizes) == 0 && len(u.Small) == 1 && len(u.Product) == 0 {
			u.Sizes = []string{formatSize(float64(u.Small[0]), false)}
		}
	}
	if u.hasEntities() || (u.Price || u.Show) && (s.Product != "" || len(u.Product) > 0) {
		s.Misses = 0
		if u.Greet && !t.returning {
			t.prefix = append(t.prefix, t.say(msgHello, nil))
		}
		return t.ask(ctx, u)
	}
	switch {
	case u.Greet:
		s.Misses = 0
		if t.returning {
			t.prefix = nil
		}
		if s.Seen {
			return t.text(msgWelcomeBack, nil), t.settle()
		}
		return t.text(msgWelcome, nil), t.settle()
	case u.Help:
		s.Misses = 0
		return t.text(msgHelp, nil), t.settle()
	case u.Thanks:
		s.Misses = 0
		return t.text(msgThanks, nil), t.settle()
	case u.Bye:
		s.Misses = 0
		return t.text(msgBye, nil), t.settle()
	case (u.Yes || u.No) && short:
		s.Misses = 0
		return t.text(msgAck, nil), t.settle()
	case u.Ask && len(u.Unknown) > 0:
		s.Misses = 0
		return t.notSold(nil), t.settle()
	case u.Price && s.Product == "":
		s.Misses = 0
		s.Price = true
		return t.text(msgWhichProduct, nil), s.to(stAskProduct)
	}
	if fallback && t.e.llm != nil && strings.TrimSpace(t.m.Text) != "" {
		if lu, ok := t.e.llm.interpret(ctx, t.e, t.v, t.m.Text); ok {
			return t.answer(ctx, lu, false)
		}
	}
	return t.miss()
}

// settle leaves a question the shopper moved away from. A consent notice
// shown stays answerable by its buttons.
func (t *turn) settle() error {
	switch t.s.State {
	case stOfferPerson, stAskConsent, stConfirmForget:
		return t.s.to(stIdle)
	}
	return nil
}

// miss answers a message nobody could read; the second in a row offers a person.
func (t *turn) miss() ([]bot.Reply, error) {
	s := t.s
	if err := t.settle(); err != nil {
		return nil, err
	}
	s.Misses++
	if s.Misses >= 2 {
		if err := s.to(stOfferPerson); err != nil {
			return nil, err
		}
		return t.reply(bot.Reply{
			Text: t.say(msgOfferPerson, nil),
			QuickReplies: []bot.QuickReply{
				{Title: t.say(msgPersonYes, nil), Payload: payloadPersonYes},
				{Title: t.say(msgPersonNo, nil), Payload: payloadPersonNo},
			},
		}), nil
	}
	return t.text(msgNotUnderstood, nil), nil
}

// handoff gives the conversation to a person.
func (t *turn) handoff() ([]bot.Reply, error) {
	t.s.Misses = 0
	if err := t.s.to(stHandoff); err != nil {
		return nil, err
	}
	return t.text(msgHandoff, nil), nil
}

// Button and quick-reply payloads.
const (
	payloadChoose    = "choose:"
	payloadSize      = "size:"
	payloadNotify    = "notify:"
	payloadLang      = "lang:"
	payloadPersonYes = "person:yes"
	payloadPersonNo  = "person:no"
)

// payload routes a pressed button. ok is false for a payload it does not
// know, which is then read as text.
func (t *turn) payload(ctx context.Context) ([]bot.Reply, bool, error) {
	p, s := t.m.Payload, t.s
	if strings.HasPrefix(p, payloadConsent) || strings.HasPrefix(p, payloadPrivacy) {
		return t.privacyPayload(ctx)
	}
	if code, ok := strings.CutPrefix(p, payloadLink); ok {
		r, err := t.redeem(ctx, code)
		return r, true, err
	}
	switch {
	case p == payloadPersonYes:
		r, err := t.handoff()
		return r, true, err
	case p == payloadPersonNo:
		s.Misses = 0
		if s.State == stOfferPerson {
			if err := s.to(stIdle); err != nil {
				return nil, true, err
			}
		}
		return t.text(msgHandoffDeclined, nil), true, nil
	case strings.HasPrefix(p, payloadLang):
		l := baseLang(strings.TrimPrefix(p, payloadLang))
		if !t.e.texts.has(l) {
			return nil, false, nil
		}
		s.Lang, s.LangSet = l, true
		return t.text(msgLanguageSet, nil), true, nil
	case strings.HasPrefix(p, payloadNotify):
		r, err := t.notify(ctx, strings.TrimPrefix(p, payloadNotify))
		return r, true, err
	}
	v, err := t.e.vocab.get(ctx)
	if err != nil {
		return nil, true, err
	}
	t.v = v
	switch {
	case strings.HasPrefix(p, payloadChoose):
		h := strings.TrimPrefix(p, payloadChoose)
		u := &understanding{}
		r, err := t.picked(ctx, h, u)
		return r, true, err
	case strings.HasPrefix(p, payloadSize) && s.Product != "":
		u := &understanding{Sizes: []string{catalog.SizeKey(strings.TrimPrefix(p, payloadSize))}}
		r, err := t.ask(ctx, u)
		return r, true, err
	}
	return nil, false, nil
}

// notify records the shopper's wish to hear when a sold-out SKU is back:
// with a consent ledger, once they agreed to notifications (the wish waits
// in the session for the answer to the notice). The subscription and the
// message itself come with the notifications issue; the SKU is kept in the
// session until then.
func (t *turn) notify(ctx context.Context, sku string) ([]bot.Reply, error) {
	p, vr, ok, err := t.findVariant(ctx, sku)
	if err != nil {
		return nil, err
	}
	if !ok {
		return t.text(msgNotifyGone, nil), nil
	}
	d := data{"Product": t.title(p), "Variant": t.variantLabel(p, vr, true)}
	if r, ok, err := t.notifyAllowed(ctx, sku, d); !ok || err != nil {
		return r, err
	}
	t.s.Notify = addCapped(t.s.Notify, sku, maxNotify)
	return t.text(msgNotifyDone, d), nil
}

// findVariant finds the variant sku among the products of the
// conversation; ok is false when it is not there (any more).
func (t *turn) findVariant(ctx context.Context, sku string) (*catalog.Product, catalog.Variant, bool, error) {
	s := t.s
	handles := s.Recent
	if s.Product != "" && !contains(handles, s.Product) {
		handles = append([]string{s.Product}, handles...)
	}
	for _, h := range handles {
		p, err := t.e.cat.Product(ctx, h)
		if errors.Is(err, catalog.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, catalog.Variant{}, false, err
		}
		if vr, ok := p.Variant(sku); ok {
			return p, vr, true, nil
		}
	}
	return nil, catalog.Variant{}, false, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// choose reads the answer to a numbered list: a number, an ordinal, or
// words that single out one of the choices. ok is false when the message
// is about something else.
func (t *turn) choose(ctx context.Context, u *understanding) ([]bot.Reply, bool, error) {
	s := t.s
	n := 0
	switch {
	case u.Choice > 0:
		n = u.Choice
	case u.Choice < 0:
		n = len(s.Choices)
	case len(u.Small) == 1 && len(u.Product) == 0 && len(u.Sizes) <= 1:
		n = u.Small[0]
		u.Sizes = nil // "numero 2" is the second choice, not a size
	}
	if n > 0 {
		if n > len(s.Choices) {
			return t.text(msgChooseAgain, data{"Max": len(s.Choices)}), true, nil
		}
		r, err := t.picked(ctx, s.Choices[n-1], u)
		return r, true, err
	}
	if len(u.Product) == 0 {
		if len(u.Sizes) > 0 || len(u.Colours) > 0 || u.Qty > 0 || u.Price {
			// More about the product still to be chosen: keep it for the choice.
			s.Sizes, s.Colours = mergeSlots(s.Sizes, u.Sizes), mergeSlots(s.Colours, u.Colours)
			if u.Qty > 0 {
				s.Qty = u.Qty
			}
			s.Price = s.Price || u.Price
			return t.text(msgChooseAgain, data{"Max": len(s.Choices)}), true, nil
		}
		return nil, false, nil
	}
	// Words that fit one choice better than the others: "donna", "the cap".
	best, bestScore, tie := "", 0.0, false
	for _, h := range s.Choices {
		pw, ok := t.v.products[h]
		if !ok {
			continue
		}
		sc, _ := scoreProduct(u.Product, pw)
		switch {
		case sc > bestScore:
			best, bestScore, tie = h, sc, false
		case sc == bestScore && sc > 0:
			tie = true
		}
	}
	if best == "" || tie {
		return nil, false, nil
	}
	u.Product = nil
	r, err := t.picked(ctx, best, u)
	return r, true, err
}

// picked answers the pending question about the chosen product.
func (t *turn) picked(ctx context.Context, handle string, u *understanding) ([]bot.Reply, error) {
	s := t.s
	p, err := t.e.cat.Product(ctx, handle)
	if errors.Is(err, catalog.ErrNotFound) {
		s.Choices = nil
		if err := s.to(stIdle); err != nil {
			return nil, err
		}
		return t.text(msgNotifyGone, nil), nil
	}
	if err != nil {
		return nil, err
	}
	price := s.Price || u.Price
	s.Choices = nil
	if err := s.to(stIdle); err != nil {
		return nil, err
	}
	u.Price = price
	return t.about(ctx, p, u, true)
}

// ask answers a question about a product: its stock in sizes and colours,
// its price or its page.
func (t *turn) ask(ctx context.Context, u *understanding) ([]bot.Reply, error) {
	s := t.s
	if s.State == stAskProduct {
		u.Price = u.Price || s.Price // asked before the product was named
	}
	if len(u.Product) > 0 {
		otherGender := onlyGenders(u.Product) && s.Product != ""
		if otherGender {
			t.sameProductOtherGender(u)
		}
		r, err := t.e.resolve(ctx, t.v, u)
		if err != nil {
			return nil, err
		}
		if s.State != stAskProduct && !otherGender && (len(r.best) > 1 || len(r.best) == 1 && r.best[0].Handle != s.Product) {
			// Another product: what was said of the last one does not carry over.
			s.Sizes, s.Colours, s.Qty = nil, nil, 0
		}
		switch {
		case len(r.best) == 0:
			if s.Product == "" || (len(u.Sizes) == 0 && len(u.Colours) == 0) {
				return t.notSold(nil), t.settle()
			}
			// Words around a follow-up that name nothing: keep the product.
		case len(r.best) == 1 && !(r.partial && len(u.Unknown) > 0):
			if s.State != stIdle && s.State != stAskSize {
				if err := s.to(stIdle); err != nil {
					return nil, err
				}
			}
			p := &r.best[0]
			return t.about(ctx, p, u, p.Handle != s.Product)
		default:
			if len(u.Unknown) > 0 {
				// "scarpe da calcio": the shop has shoes, not these.
				return t.notSold(r.best), nil
			}
			return t.choices(r.best, u, msgChoose)
		}
	}
	if s.Product == "" {
		s.Sizes, s.Colours = mergeSlots(s.Sizes, u.Sizes), mergeSlots(s.Colours, u.Colours)
		if u.Qty > 0 {
			s.Qty = u.Qty
		}
		s.Price = s.Price || u.Price
		if err := s.to(stAskProduct); err != nil {
			return nil, err
		}
		return t.text(msgWhichProduct, nil), nil
	}
	p, err := t.e.cat.Product(ctx, s.Product)
	if errors.Is(err, catalog.ErrNotFound) || err == nil && !p.Active {
		s.Product = ""
		return t.ask(ctx, u)
	}
	if err != nil {
		return nil, err
	}
	return t.about(ctx, p, u, false)
}

func mergeSlots(old, now []string) []string {
	if len(now) > 0 {
		return now
	}
	return old
}

func onlyGenders(slots []slot) bool {
	for _, s := range slots {
		if len(s.words) != 1 || !strings.HasPrefix(s.words[0], "_") {
			return false
		}
	}
	return true
}

// sameProductOtherGender turns "e da donna?" into the session product's
// name with the new gender.
func (t *turn) sameProductOtherGender(u *understanding) {
	pw := t.v.products[t.s.Product]
	var ws []string
	for _, w := range pw {
		if !strings.HasPrefix(w, "_") {
			ws = append(ws, w)
		}
	}
	title := contentWords(t.e.lex, t.s.Product) // the handle names the product too
	for _, w := range title {
		if !strings.HasPrefix(w, "_") && contains(ws, w) {
			u.Product = append(u.Product, slot{words: []string{w}})
		}
	}
}

// choices shows a numbered list and keeps what was asked for the choice.
func (t *turn) choices(ps []catalog.Product, u *understanding, header string) ([]bot.Reply, error) {
	s := t.s
	if len(ps) > maxChoices {
		ps = ps[:maxChoices]
	}
	s.Choices = s.Choices[:0]
	lines := []string{t.say(header, nil)}
	var quick []bot.QuickReply
	for i := range ps {
		p := &ps[i]
		s.Choices = append(s.Choices, p.Handle)
		d := data{"N": i + 1, "Title": t.title(p), "Price": t.e.texts.money(t.lang(), p.PriceMinor, p.Currency)}
		lines = append(lines, t.say(msgChooseLine, d))
		quick = append(quick, bot.QuickReply{
			Title:   truncate(t.say(msgChooseQuick, d), 20),
			Payload: payloadChoose + p.Handle,
		})
	}
	s.Sizes, s.Colours = mergeSlots(s.Sizes, u.Sizes), mergeSlots(s.Colours, u.Colours)
	if u.Qty > 0 {
		s.Qty = u.Qty
	}
	s.Price = s.Price || u.Price
	if err := s.to(stChoosing); err != nil {
		return nil, err
	}
	return t.reply(bot.Reply{Text: strings.Join(lines, "\n"), QuickReplies: quick}), nil
}

// notSold says the shop does not sell what was asked, offering the close
// products found, or the shop's categories.
func (t *turn) notSold(close []catalog.Product) []bot.Reply {
	if len(close) > 0 {
		r, err := t.choices(close, &understanding{}, msgNotSoldSuggest)
		if err == nil {
			return r
		}
	}
	text := t.say(msgNotSold, nil)
	if cats := t.v.categories; len(cats) > 0 {
		if len(cats) > 6 {
			cats = cats[:6]
		}
		text += " " + t.say(msgWeSell, data{"Categories": t.e.texts.list(t.lang(), cats, false)})
	}
	return t.reply(bot.Reply{Text: text})
}

// title is the product's name in the session's language.
func (t *turn) title(p *catalog.Product) string {
	if t.lang() != t.e.lang {
		if s, ok := p.Titles[t.lang()]; ok && s != "" {
			return s
		}
	}
	return p.Title
}

// card is the product's card: picture, name, price and a link to its page.
func (t *turn) card(p *catalog.Product) bot.Card {
	c := bot.Card{
		Title:    t.title(p),
		Subtitle: p.Brand,
		ImageURL: p.ImageURL,
		URL:      p.PageURL,
		Price:    t.e.texts.money(t.lang(), p.PriceMinor, p.Currency),
	}
	if p.PageURL != "" {
		c.Buttons = []bot.Button{{Title: t.say(msgViewProduct, nil), URL: p.PageURL}}
	}
	return c
}

// String describes the engine for logs.
func (e *Engine) String() string {
	return fmt.Sprintf("dialogs.Engine(lang=%s, languages=%v, llm=%t)", e.lang, e.texts.langs, e.llm != nil)
}
