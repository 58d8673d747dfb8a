package dialogs

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/bottega-shop/bottega/bot"
	"github.com/bottega-shop/bottega/consent"
)

// Consent in the chat.
//
// The engine asks just in time, with the notice's exact text and two equal
// choices: before the first back-in-stock request (notifications) and
// before remembering a stated size beyond the conversation
// (personalization). What was asked for waits in the session for the answer.
// A no is not asked again until a new version of the notice comes
// (Consent.NeedsAsk). "privacy", "stop", "export my data" and "forget me",
// in either language, work at any moment. Every decision is recorded in the
// ledger with the notice shown, the language, the channel, how it was given
// (a quick reply under a notice, a button of the privacy view, typed words)
// and the id of the message that carried it.

// Consent is what the engine needs of the consent ledger; *consent.Ledger
// satisfies it.
type Consent interface {
	// State returns the state of every asked purpose for subject.
	State(ctx context.Context, subject string) (map[consent.Purpose]consent.Status, error)
	// NeedsAsk reports whether to ask subject about purpose now, in lang:
	// never decided, or decided on an older notice than the current one.
	NeedsAsk(ctx context.Context, subject string, purpose consent.Purpose, lang string) (bool, error)
	// Record appends a decision to the ledger. Its errors wrap
	// consent.ErrInvalid or consent.ErrUnavailable.
	Record(ctx context.Context, e consent.Event) (consent.Event, error)
	// Notices returns the notices shown when asking.
	Notices() *consent.Notices
}

var _ Consent = (*consent.Ledger)(nil)

// WithConsent makes the engine ask for consent and record the shopper's
// decisions in l, and understand "privacy" and "stop". It needs
// WithSubjects. Without it the engine asks nothing and answers the privacy
// commands by saying they are not available.
func WithConsent(l Consent) Option { return func(c *config) { c.consent = l } }

// WithRights serves the shopper's data rights in the chat: what is held
// (in "privacy"), "export my data" and "forget me". It needs WithSubjects.
func WithRights(r consent.Rights) Option { return func(c *config) { c.rights = r } }

// WithSubjects maps a message to the pseudonymous id of its sender in the
// ledger: consent.SubjectID(secret, m.Channel, m.Conversation), or, for a
// channel identity linked to a shop customer, the customer's subject (see
// consent.DataRights.PersonOf), whose consent and data rights then apply.
// It is called at most once a turn until the turn links the identity
// (WithLinking), then once more; ctx is the turn's. An empty id means the
// message has none: the privacy features then say they are not available.
func WithSubjects(f func(ctx context.Context, m bot.Message) string) Option {
	return func(c *config) { c.subjects = f }
}

// Payloads of the consent and privacy buttons. A decision given with a
// "consent:" payload was a quick reply under the notice; one given with a
// "privacy:" payload, a button of the privacy view.
const (
	// payloadConsent prefixes "grant:<purpose>" and "deny:<purpose>".
	payloadConsent = "consent:"
	payloadPrivacy = "privacy:"
	// payloadPrivacyShow shows the privacy view.
	payloadPrivacyShow = "privacy:show"
	// payloadPrivacyAsk prefixes a purpose whose notice to show, to turn it on.
	payloadPrivacyAsk = "privacy:ask:"
	// payloadPrivacyWithdraw prefixes a purpose to turn off.
	payloadPrivacyWithdraw = "privacy:withdraw:"
	payloadPrivacyStop     = "privacy:stop"
	payloadPrivacyExport   = "privacy:export"
	payloadPrivacyForget   = "privacy:forget"
	payloadForgetConfirm   = "privacy:forget:confirm"
	payloadForgetCancel    = "privacy:forget:cancel"
)

// Consent actions in payloads.
const (
	grant = "grant"
	deny  = "deny"
)

// asked are the purposes the chat asks about, in the order it shows them.
var asked = []consent.Purpose{consent.Notifications, consent.Marketing, consent.Personalization}

// purposeTexts are the message IDs about each asked purpose.
var purposeTexts = map[consent.Purpose]struct{ name, on, off, granted, denied, withdrawn string }{
	consent.Notifications: {msgPurposeNotify, msgOnNotify, msgOffNotify, msgGrantedNotify, msgDeniedNotify, msgWithdrawnNotify},
	consent.Marketing:     {msgPurposeMarketing, msgOnMarketing, msgOffMarketing, msgGrantedMarketing, msgDeniedMarketing, msgWithdrawnMarketing},
	consent.Personalization: {msgPurposePersonal, msgOnPersonal, msgOffPersonal, msgGrantedPersonal, msgDeniedPersonal,
		msgWithdrawnPersonal},
}

// heldTexts name the kinds of data a consent.Summary counts.
var heldTexts = map[string]string{
	"conversation":  msgHeldConversation,
	"conversations": msgHeldConversation,
	"preferences":   msgHeldPreferences,
	"subscriptions": msgHeldSubscriptions,
	"consents":      msgHeldConsents,
}

// checkNotices makes sure every purpose has a notice to show.
func checkNotices(l Consent, lang string) error {
	ns := l.Notices()
	if ns == nil {
		return errors.New("dialogs: the consent ledger has no notices")
	}
	for _, p := range consent.Purposes() {
		if ns.Current(p, lang).Version == 0 {
			return errors.New("dialogs: no consent notice for " + string(p))
		}
	}
	return nil
}

// subject returns the sender's pseudonymous id, "" when there is none:
// the person their channel identity is linked to, if any. It is asked for
// once a turn, and again after the turn links the identity (relink).
func (t *turn) subject(ctx context.Context) string {
	if !t.subjDone {
		t.subjDone = true
		if t.e.subjects != nil {
			t.subj = t.e.subjects(ctx, t.m)
		}
	}
	return t.subj
}

// relink forgets the subject and the consent state read so far: the turn
// linked the sender to a person, whose they are from now on (the state is
// read again when next needed).
func (t *turn) relink() {
	t.subj, t.subjDone, t.states = "", false, nil
}

// consentOn reports whether consent can be asked and recorded in this turn.
func (t *turn) consentOn(ctx context.Context) bool { return t.e.consent != nil && t.subject(ctx) != "" }

// rightsOn reports whether the data rights can be served in this turn.
func (t *turn) rightsOn(ctx context.Context) bool { return t.e.rights != nil && t.subject(ctx) != "" }

// consents returns the state of every asked purpose, read once per turn
// (and again after the turn records a decision).
func (t *turn) consents(ctx context.Context) (map[consent.Purpose]consent.Status, error) {
	if t.states == nil {
		st, err := t.e.consent.State(ctx, t.subject(ctx))
		if err != nil {
			return nil, err
		}
		t.states = st
	}
	return t.states, nil
}

func (t *turn) status(ctx context.Context, p consent.Purpose) (consent.Status, error) {
	st, err := t.consents(ctx)
	if err != nil {
		return consent.Status{}, err
	}
	return st[p], nil
}

// method is how this message carried a decision.
func (t *turn) method() consent.Method {
	switch {
	case strings.HasPrefix(t.m.Payload, payloadConsent):
		return consent.QuickReply
	case t.m.Payload != "":
		return consent.Button
	}
	return consent.Typed
}

// record appends the shopper's decision about p to the ledger. version and
// lang are those of the notice shown, or 0 and the conversation's language
// when none was.
func (t *turn) record(ctx context.Context, p consent.Purpose, a consent.Action, version int, lang string) error {
	if lang == "" {
		lang = t.lang()
	}
	_, err := t.e.consent.Record(ctx, consent.Event{
		Subject: t.subject(ctx), Purpose: p, NoticeVersion: version, Lang: lang,
		Channel: t.m.Channel, Method: t.method(), MessageID: t.m.ID,
		Action: a, Actor: consent.Shopper,
	})
	t.states = nil
	return err
}

// unavailable answers when the ledger or the rights cannot be reached.
func (t *turn) unavailable(what string, err error) []bot.Reply {
	t.e.log.Warn("dialogs: "+what, "conversation", t.m.Key(), "err", err)
	return t.text(msgPrivacyUnavailable, nil)
}

// privacyOff answers a privacy command when the engine has no ledger or
// rights, or the message no subject.
func (t *turn) privacyOff() ([]bot.Reply, error) {
	return t.text(msgPrivacyOff, nil), t.settle()
}

// command answers a data-rights command typed by the shopper. ok is false
// when u holds none.
func (t *turn) command(ctx context.Context, u *understanding) ([]bot.Reply, bool, error) {
	var r []bot.Reply
	var err error
	switch {
	case u.Forget:
		r, err = t.confirmForget(ctx)
	case u.Export:
		r, err = t.export(ctx)
	case u.Unsubscribe:
		r, err = t.stop(ctx)
	case u.Privacy:
		r, err = t.view(ctx)
	default:
		return nil, false, nil
	}
	t.s.Misses = 0
	return r, true, err
}

// privacyPayload routes a consent or privacy button. ok is false for a
// payload it does not know, which is then read as text.
func (t *turn) privacyPayload(ctx context.Context) ([]bot.Reply, bool, error) {
	p := t.m.Payload
	var r []bot.Reply
	var err error
	switch {
	case strings.HasPrefix(p, payloadConsent):
		action, purpose, _ := strings.Cut(strings.TrimPrefix(p, payloadConsent), ":")
		pp := consent.Purpose(purpose)
		if !pp.Asked() || action != grant && action != deny {
			return nil, false, nil
		}
		r, err = t.decide(ctx, pp, action == grant)
	case strings.HasPrefix(p, payloadPrivacyAsk):
		pp := consent.Purpose(strings.TrimPrefix(p, payloadPrivacyAsk))
		if !pp.Asked() {
			return nil, false, nil
		}
		r, err = t.offer(ctx, pp)
	case strings.HasPrefix(p, payloadPrivacyWithdraw):
		pp := consent.Purpose(strings.TrimPrefix(p, payloadPrivacyWithdraw))
		if !pp.Asked() {
			return nil, false, nil
		}
		r, err = t.withdraw(ctx, pp)
	case p == payloadPrivacyShow:
		r, err = t.view(ctx)
	case p == payloadPrivacyStop:
		r, err = t.stop(ctx)
	case p == payloadPrivacyExport:
		r, err = t.export(ctx)
	case p == payloadPrivacyForget:
		r, err = t.confirmForget(ctx)
	case p == payloadForgetConfirm:
		r, err = t.forget(ctx)
	case p == payloadForgetCancel:
		r, err = t.keep()
	default:
		return nil, false, nil
	}
	t.s.Misses = 0
	return r, true, err
}

// askReply shows the current notice of p, after intro if any, with yes and
// no as equal choices, and notes in the session what was shown.
func (t *turn) askReply(p consent.Purpose, intro string) (bot.Reply, bool) {
	n := t.e.consent.Notices().Current(p, t.lang())
	if n.Version == 0 {
		return bot.Reply{}, false
	}
	t.s.setAsk(shownNotice{Purpose: p, Version: n.Version, Lang: n.Lang})
	text := n.Text
	if intro != "" {
		text = intro + "\n" + n.Text
	}
	return bot.Reply{Text: text, QuickReplies: []bot.QuickReply{
		{Title: t.say(msgConsentYes, nil), Payload: payloadConsent + grant + ":" + string(p)},
		{Title: t.say(msgConsentNo, nil), Payload: payloadConsent + deny + ":" + string(p)},
	}}, true
}

// askConsent shows p's notice as the turn's answer and waits for a yes or no.
func (t *turn) askConsent(p consent.Purpose, intro string) ([]bot.Reply, error) {
	r, ok := t.askReply(p, intro)
	if !ok {
		return t.text(msgPrivacyUnavailable, nil), t.settle()
	}
	if err := t.s.to(stAskConsent); err != nil {
		return nil, err
	}
	return t.reply(r), nil
}

// introFor is the line before p's notice: intro, or, when the shopper
// decided on an older version of it, a word that it changed.
func (t *turn) introFor(st consent.Status, intro string) string {
	switch st.Action {
	case consent.Grant, consent.Deny, consent.Withdraw:
		if st.NoticeVersion > 0 {
			return t.say(msgAskUpdated, nil)
		}
	}
	return intro
}

// decide records the shopper's yes or no to the notice of p shown in this
// conversation, and acts on it.
func (t *turn) decide(ctx context.Context, p consent.Purpose, yes bool) ([]bot.Reply, error) {
	if !t.consentOn(ctx) {
		return t.privacyOff()
	}
	s := t.s
	shown, ok := s.asked(p)
	if !ok {
		// A button from an earlier conversation, or pressed twice: what it
		// agrees to is not known any more.
		st, err := t.status(ctx, p)
		if err != nil {
			return t.unavailable("consent state", err), t.settle()
		}
		name := data{"Purpose": t.say(purposeTexts[p].name, nil)}
		switch {
		case yes && st.Granted:
			return t.text(msgAlreadyOn, name), t.settle()
		case !yes && (st.Action == consent.Deny || st.Action == consent.Withdraw):
			return t.text(msgAlreadyOff, name), t.settle()
		}
		return t.askConsent(p, t.say(msgAskAgain, nil))
	}
	action := consent.Deny
	if yes {
		action = consent.Grant
	}
	if err := t.record(ctx, p, action, shown.Version, shown.Lang); err != nil {
		return t.unavailable("record consent", err), t.settle()
	}
	s.dropAsk(p)
	if err := t.settle(); err != nil {
		return nil, err
	}
	texts := purposeTexts[p]
	if !yes {
		switch p {
		case consent.Notifications:
			s.PendNotify = nil
		case consent.Personalization:
			s.PendSizes = nil
		}
		return t.text(texts.denied, nil), nil
	}
	switch p {
	case consent.Notifications:
		return t.notifyGranted(ctx)
	case consent.Personalization:
		sizes := s.PendSizes
		for _, z := range sizes {
			s.Remember = rememberSize(s.Remember, z)
		}
		s.PendSizes = nil
		labels := make([]string, len(sizes))
		for i, z := range sizes {
			labels[i] = sizeDisplay(z)
		}
		return t.text(texts.granted, data{"Sizes": t.e.texts.list(t.lang(), labels, false)}), nil
	}
	return t.text(texts.granted, nil), nil
}

// notifyGranted makes the back-in-stock requests that waited for the
// shopper's yes real, and says so.
func (t *turn) notifyGranted(ctx context.Context) ([]bot.Reply, error) {
	s := t.s
	lines := []string{t.say(msgGrantedNotify, nil)}
	for _, sku := range s.PendNotify {
		p, v, ok, err := t.findVariant(ctx, sku)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		s.Notify = addCapped(s.Notify, sku, maxNotify)
		lines = append(lines, t.say(msgNotifyDone, data{"Product": t.title(p), "Variant": t.variantLabel(p, v, true)}))
	}
	s.PendNotify = nil
	return t.reply(bot.Reply{Text: strings.Join(lines, "\n")}), nil
}

// notifyAllowed decides whether a back-in-stock request may be noted now.
// It returns the answer to give instead when it may not: the notice to
// agree to first (the request then waits in the session), or a reminder
// of an earlier no.
func (t *turn) notifyAllowed(ctx context.Context, sku string, d data) ([]bot.Reply, bool, error) {
	if !t.consentOn(ctx) {
		return nil, true, nil
	}
	st, err := t.status(ctx, consent.Notifications)
	if err != nil {
		return t.unavailable("consent state", err), false, nil
	}
	need, err := t.e.consent.NeedsAsk(ctx, t.subject(ctx), consent.Notifications, t.lang())
	if err != nil {
		return t.unavailable("consent needs ask", err), false, nil
	}
	switch {
	case !need && st.Granted:
		return nil, true, nil
	case !need, st.Action == consent.Withdraw && st.NoticeVersion == 0:
		// A no stands until a new notice: not asked twice. A "stop" said
		// before any notice was shown is a no too (the ledger would ask).
		return t.text(msgNotifyRefused, nil), false, t.settle()
	}
	t.s.PendNotify = addCapped(t.s.PendNotify, sku, maxNotify)
	r, err := t.askConsent(consent.Notifications, t.introFor(st, t.say(msgAskNotify, d)))
	return r, false, err
}

// personalize runs when an answer used sizes the shopper stated: with
// their consent they are remembered beyond this conversation; without a
// decision yet, and when the answer asks nothing itself, the notice is
// shown once (the sizes wait for the answer). It returns the ask to add
// to the answer, if any.
func (t *turn) personalize(ctx context.Context, sizes []string, canAsk bool) (*bot.Reply, error) {
	s := t.s
	if !t.consentOn(ctx) || len(sizes) == 0 {
		return nil, nil
	}
	if _, waiting := s.asked(consent.Personalization); waiting {
		for _, z := range sizes {
			s.PendSizes = addCapped(s.PendSizes, z, maxRemember)
		}
		return nil, nil
	}
	st, err := t.status(ctx, consent.Personalization)
	if err != nil {
		t.e.log.Warn("dialogs: consent state", "conversation", t.m.Key(), "err", err)
		return nil, nil // the answer stands; nothing is remembered
	}
	if st.Granted {
		for _, z := range sizes {
			s.Remember = rememberSize(s.Remember, z)
		}
	}
	cur := t.e.consent.Notices().Current(consent.Personalization, t.lang())
	decided := st.Action == consent.Grant || st.Action == consent.Deny || st.Action == consent.Withdraw
	if !canAsk || decided && cur.Version <= st.NoticeVersion {
		return nil, nil
	}
	need, err := t.e.consent.NeedsAsk(ctx, t.subject(ctx), consent.Personalization, t.lang())
	if err != nil || !need {
		if err != nil {
			t.e.log.Warn("dialogs: consent needs ask", "conversation", t.m.Key(), "err", err)
		}
		return nil, nil
	}
	r, ok := t.askReply(consent.Personalization, t.introFor(st, t.say(msgAskPersonal, nil)))
	if !ok {
		return nil, nil
	}
	if !st.Granted {
		for _, z := range sizes {
			s.PendSizes = addCapped(s.PendSizes, z, maxRemember)
		}
	}
	return &r, nil
}

// rememberedSize returns the first remembered size that p comes in, when
// the shopper's personalization consent stands.
func (t *turn) rememberedSize(ctx context.Context, match func(size string) bool) (string, bool) {
	if len(t.s.Remember) == 0 || !t.consentOn(ctx) {
		return "", false
	}
	st, err := t.status(ctx, consent.Personalization)
	if err != nil {
		t.e.log.Warn("dialogs: consent state", "conversation", t.m.Key(), "err", err)
		return "", false
	}
	if !st.Granted {
		return "", false
	}
	for _, z := range t.s.Remember {
		if match(z) {
			return z, true
		}
	}
	return "", false
}

// rememberSize puts size first in list, keeping one size per kind (shoe
// sizes, letter sizes, waists, sizes of one system) and at most
// maxRemember.
func rememberSize(list []string, size string) []string {
	kind := sizeKind(size)
	out := []string{size}
	for _, z := range list {
		if z != size && sizeKind(z) != kind && len(out) < maxRemember {
			out = append(out, z)
		}
	}
	return out
}

// sizeKind names the kind of a size key: its system ("uk"), "W" for a
// waist, "letter" for S–XXL, "number" otherwise.
func sizeKind(k string) string {
	if sys, _, ok := strings.Cut(k, ":"); ok {
		return sys
	}
	if _, ok := letterRank[k]; ok {
		return "letter"
	}
	if strings.HasPrefix(k, "W") {
		return "W"
	}
	return "number"
}

// offer shows the notice of p so that the shopper can turn it on (a button
// of the privacy view).
func (t *turn) offer(ctx context.Context, p consent.Purpose) ([]bot.Reply, error) {
	if !t.consentOn(ctx) {
		return t.privacyOff()
	}
	st, err := t.status(ctx, p)
	if err != nil {
		return t.unavailable("consent state", err), t.settle()
	}
	name := t.say(purposeTexts[p].name, nil)
	if st.Granted {
		if need, err := t.e.consent.NeedsAsk(ctx, t.subject(ctx), p, t.lang()); err != nil || !need {
			return t.text(msgAlreadyOn, data{"Purpose": name}), t.settle()
		}
	}
	return t.askConsent(p, t.say(msgAskChange, data{"Purpose": name}))
}

// withdraw turns p off (a button of the privacy view): the use stops, the
// data stays until the shopper erases it.
func (t *turn) withdraw(ctx context.Context, p consent.Purpose) ([]bot.Reply, error) {
	if !t.consentOn(ctx) {
		return t.privacyOff()
	}
	st, err := t.status(ctx, p)
	if err != nil {
		return t.unavailable("consent state", err), t.settle()
	}
	if !st.Granted {
		return t.text(msgAlreadyOff, data{"Purpose": t.say(purposeTexts[p].name, nil)}), t.settle()
	}
	if err := t.record(ctx, p, consent.Withdraw, 0, ""); err != nil {
		return t.unavailable("record consent", err), t.settle()
	}
	t.s.dropAsk(p)
	if p == consent.Notifications {
		t.s.PendNotify = nil
	}
	return t.text(purposeTexts[p].withdrawn, nil), t.settle()
}

// stop withdraws notifications and marketing in one step. A purpose
// already refused is left as it is; one never asked gets the withdrawal
// too, which records the shopper's objection.
func (t *turn) stop(ctx context.Context) ([]bot.Reply, error) {
	if !t.consentOn(ctx) {
		return t.privacyOff()
	}
	st, err := t.consents(ctx)
	if err != nil {
		return t.unavailable("consent state", err), t.settle()
	}
	for _, p := range []consent.Purpose{consent.Notifications, consent.Marketing} {
		t.s.dropAsk(p)
		if a := st[p].Action; a == consent.Deny || a == consent.Withdraw {
			continue
		}
		if err := t.record(ctx, p, consent.Withdraw, 0, ""); err != nil {
			return t.unavailable("record consent", err), t.settle()
		}
	}
	t.s.PendNotify = nil
	return t.text(msgStopped, nil), t.settle()
}

// view shows what is held on the shopper and what they agreed to, as
// receipts, with a button to change each purpose.
func (t *turn) view(ctx context.Context) ([]bot.Reply, error) {
	if !t.consentOn(ctx) && !t.rightsOn(ctx) {
		return t.privacyOff()
	}
	if err := t.settle(); err != nil {
		return nil, err
	}
	var sum consent.Summary
	if t.rightsOn(ctx) {
		var err error
		if sum, err = t.e.rights.Summary(ctx, t.subject(ctx)); err != nil {
			return t.unavailable("privacy summary", err), nil
		}
	}
	if t.consentOn(ctx) {
		st, err := t.consents(ctx)
		if err != nil {
			return t.unavailable("consent state", err), nil
		}
		sum.Consents = st // the ledger as of now
	}
	lang := t.lang()
	lines := []string{t.say(msgPrivacyIntro, nil)}
	if t.e.consent != nil {
		if n := t.e.consent.Notices().Current(consent.Service, lang); n.Version > 0 {
			lines = append(lines, n.Text)
		}
	}
	var held []string
	for _, h := range sum.Held {
		if h.Count <= 0 {
			continue
		}
		if id, ok := heldTexts[h.What]; ok {
			held = append(held, t.e.texts.count(lang, id, h.Count, nil))
		} else {
			held = append(held, t.say(msgHeldOther, data{"What": h.What, "Count": h.Count}))
		}
	}
	if len(held) > 0 {
		lines = append(lines, t.say(msgPrivacyHeld, data{"List": t.e.texts.list(lang, held, false)}))
	}
	if len(t.s.Remember) > 0 {
		lines = append(lines, t.say(msgPrivacyRemembered, data{"Sizes": t.e.texts.list(lang, t.sizeLabels(t.s.Remember), false)}))
	}
	if n := len(t.s.Notify); n > 0 {
		lines = append(lines, t.e.texts.count(lang, msgPrivacyRequests, n, nil))
	}
	if len(held) == 0 && len(t.s.Remember) == 0 && len(t.s.Notify) == 0 {
		lines = append(lines, t.say(msgPrivacyHeldNone, nil))
	}
	if len(sum.Linked) > 0 {
		names := t.e.texts.list(lang, t.channelNames(sum.Linked), false)
		lines = append(lines, t.say(msgPrivacyLinked, data{"Channels": names}))
	}
	var r bot.Reply
	if sum.Consents != nil {
		lines = append(lines, t.say(msgPrivacyChoices, nil))
		for _, p := range asked {
			st := sum.Consents[p]
			lines = append(lines, t.receipt(p, st))
			texts := purposeTexts[p]
			switch {
			case !t.consentOn(ctx):
				// Rights without a ledger to record a change in.
			case st.Granted:
				r.Buttons = append(r.Buttons, bot.Button{Title: t.say(texts.off, nil), Payload: payloadPrivacyWithdraw + string(p)})
			default:
				r.Buttons = append(r.Buttons, bot.Button{Title: t.say(texts.on, nil), Payload: payloadPrivacyAsk + string(p)})
			}
		}
	}
	if n := len(sum.Receipts); n > 0 {
		lines = append(lines, t.e.texts.count(lang, msgPrivacyRecorded, n, nil))
	}
	r.Text = strings.Join(lines, "\n")
	replies := t.reply(r)
	if t.rightsOn(ctx) {
		// A second message: platforms show at most three buttons on one.
		replies = append(replies, bot.Reply{Text: t.say(msgPrivacyMore, nil), Buttons: []bot.Button{
			{Title: t.say(msgExportButton, nil), Payload: payloadPrivacyExport},
			{Title: t.say(msgForgetButton, nil), Payload: payloadPrivacyForget},
		}})
	}
	return replies, nil
}

// receipt is one line of the privacy view: p's last decision.
func (t *turn) receipt(p consent.Purpose, st consent.Status) string {
	d := data{"Purpose": t.say(purposeTexts[p].name, nil), "Date": t.date(st.At), "Version": st.NoticeVersion}
	switch st.Action {
	case consent.Grant:
		return t.say(msgReceiptYes, d)
	case consent.Deny:
		return t.say(msgReceiptNo, d)
	case consent.Withdraw:
		return t.say(msgReceiptWithdrawn, d)
	case consent.Expire:
		return t.say(msgReceiptExpired, d)
	case consent.Erase:
		return t.say(msgReceiptErased, d)
	}
	return t.say(msgReceiptNever, d)
}

// date writes a time as the language does, in UTC (the chat does not know
// the shopper's time zone).
func (t *turn) date(at time.Time) string {
	return at.UTC().Format(t.say(msgDateLayout, nil))
}

// export answers with a signed, expiring link to a copy of the shopper's
// data.
func (t *turn) export(ctx context.Context) ([]bot.Reply, error) {
	if !t.rightsOn(ctx) {
		return t.privacyOff()
	}
	if err := t.settle(); err != nil {
		return nil, err
	}
	url, expires, err := t.e.rights.ExportLink(ctx, t.subject(ctx))
	switch {
	case errors.Is(err, consent.ErrNotFound):
		return t.text(msgExportNothing, nil), nil
	case err != nil:
		return t.unavailable("export link", err), nil
	}
	return t.reply(bot.Reply{
		Text:    t.say(msgExport, data{"URL": url, "Expires": t.date(expires)}),
		Buttons: []bot.Button{{Title: t.say(msgExportOpen, nil), URL: url}},
	}), nil
}

// confirmForget asks whether to erase everything held on the shopper.
func (t *turn) confirmForget(ctx context.Context) ([]bot.Reply, error) {
	if !t.rightsOn(ctx) {
		return t.privacyOff()
	}
	if err := t.s.to(stConfirmForget); err != nil {
		return nil, err
	}
	return t.reply(bot.Reply{Text: t.say(msgForgetConfirm, nil), Buttons: []bot.Button{
		{Title: t.say(msgForgetYes, nil), Payload: payloadForgetConfirm},
		{Title: t.say(msgForgetNo, nil), Payload: payloadForgetCancel},
	}}), nil
}

// keep answers a "no" to the erasure.
func (t *turn) keep() ([]bot.Reply, error) {
	if t.s.State == stConfirmForget {
		if err := t.s.to(stIdle); err != nil {
			return nil, err
		}
	}
	return t.text(msgForgetCancelled, nil), nil
}

// forget erases everything held on the shopper in every store, then has
// the dispatcher erase this conversation's state and log when it commits
// the turn; the answer is all that stays, briefly, so that it is delivered.
func (t *turn) forget(ctx context.Context) ([]bot.Reply, error) {
	if !t.rightsOn(ctx) {
		return t.privacyOff()
	}
	rep, err := t.e.rights.Erase(ctx, t.subject(ctx), consent.Request{
		Conversation: t.m.Key(), MessageID: t.m.ID, Method: t.method(), Lang: t.lang(),
	})
	switch {
	case errors.Is(err, consent.ErrNotFound):
		// Nothing held anywhere: this conversation's own state goes too.
		t.forgetConversation(ctx)
		return t.text(msgForgetNothing, nil), nil
	case err != nil:
		t.e.log.Warn("dialogs: erase", "conversation", t.m.Key(), "err", err)
		if t.s.State == stConfirmForget {
			if err := t.s.to(stIdle); err != nil {
				return nil, err
			}
		}
		return t.text(msgForgetFailed, nil), nil
	}
	t.forgetConversation(ctx)
	lines := []string{t.say(msgForgetDone, nil)}
	for _, sr := range rep.Stores {
		if sr.Err == "" && sr.Erased > 0 {
			lines = append(lines, t.e.texts.count(t.lang(), msgForgetStore, sr.Erased, data{"Store": sr.Store}))
		}
	}
	if rep.Complete() {
		lines = append(lines, t.say(msgForgetFresh, nil))
	} else {
		t.e.log.Warn("dialogs: erase incomplete", "conversation", t.m.Key())
		lines = append(lines, t.say(msgForgetPartial, nil))
	}
	return t.reply(bot.Reply{Text: strings.Join(lines, "\n")}), nil
}

// forgetConversation ends the session and asks the dispatcher, if the
// turn runs under one, to erase the conversation in the same commit.
func (t *turn) forgetConversation(ctx context.Context) {
	if bt := bot.TurnOf(ctx); bt != nil {
		bt.Forget()
	}
	t.end = true
}
