package dialogs

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
	"github.com/nicksnyder/go-i18n/v2/i18n"
	"golang.org/x/text/language"
)

//go:embed locales/*.toml
var locales embed.FS

// Message IDs of the answers, in locales/active.<lang>.toml.
const (
	msgWelcome          = "Welcome"
	msgWelcomeBack      = "WelcomeBack"
	msgWelcomeBackShort = "WelcomeBackShort"
	msgHello            = "Hello"
	msgHelp             = "Help"
	msgThanks           = "Thanks"
	msgBye              = "Bye"
	msgAck              = "Ack"
	msgNotUnderstood    = "NotUnderstood"
	msgOfferPerson      = "OfferPerson"
	msgPersonYes        = "PersonYes"
	msgPersonNo         = "PersonNo"
	msgHandoff          = "Handoff"
	msgHandoffDeclined  = "HandoffDeclined"
	msgLanguageSet      = "LanguageSet"
	msgTooLong          = "TooLong"
	msgUnavailable      = "Unavailable"
	msgWhichProduct     = "WhichProduct"
	msgChoose           = "Choose"
	msgChooseLine       = "ChooseLine"
	msgChooseQuick      = "ChooseQuick"
	msgChooseAgain      = "ChooseAgain"
	msgNotSold          = "NotSold"
	msgNotSoldSuggest   = "NotSoldSuggest"
	msgWeSell           = "WeSell"
	msgProductPrice     = "ProductPrice"
	msgVariantPrice     = "VariantPrice"
	msgColourSizes      = "ColourSizes"
	msgColourOut        = "ColourOut"
	msgSizesInStock     = "SizesInStock"
	msgAllOut           = "AllOut"
	msgAskSize          = "AskSize"
	msgStockIn          = "StockIn"
	msgStockLow         = "StockLow"
	msgStockOut         = "StockOut"
	msgStockNotEnough   = "StockNotEnough"
	msgNearestSizes     = "NearestSizes"
	msgNearestAny       = "NearestAny"
	msgOtherColours     = "OtherColours"
	msgNotifyOffer      = "NotifyOffer"
	msgNotifyButton     = "NotifyButton"
	msgNotifyDone       = "NotifyDone"
	msgNotifyGone       = "NotifyGone"
	msgNoSuchSize       = "NoSuchSize"
	msgNoSuchColour     = "NoSuchColour"
	msgViewProduct      = "ViewProduct"
	msgVariantLabel     = "VariantLabel"
	msgSizeLabel        = "SizeLabel"
	msgSizeConverted    = "SizeConverted"
	msgOneSize          = "OneSize"
	msgListSeparator    = "ListSeparator"
	msgListAnd          = "ListAnd"
	msgListOr           = "ListOr"
	msgMoney            = "Money"
	msgThousands        = "ThousandsSeparator"
)

// Message IDs of the consent and data-rights answers.
const (
	msgPrivacyOff         = "PrivacyOff"
	msgPrivacyUnavailable = "PrivacyUnavailable"
	msgPrivacyIntro       = "PrivacyIntro"
	msgPrivacyHeld        = "PrivacyHeld"
	msgPrivacyHeldNone    = "PrivacyHeldNone"
	msgPrivacyRemembered  = "PrivacyRemembered"
	msgPrivacyRequests    = "PrivacyRequests"
	msgPrivacyChoices     = "PrivacyChoices"
	msgPrivacyRecorded    = "PrivacyRecorded"
	msgPrivacyMore        = "PrivacyMore"
	msgHeldConversation   = "HeldConversation"
	msgHeldPreferences    = "HeldPreferences"
	msgHeldSubscriptions  = "HeldSubscriptions"
	msgHeldConsents       = "HeldConsents"
	msgHeldOther          = "HeldOther"
	msgReceiptYes         = "ReceiptYes"
	msgReceiptNo          = "ReceiptNo"
	msgReceiptWithdrawn   = "ReceiptWithdrawn"
	msgReceiptExpired     = "ReceiptExpired"
	msgReceiptErased      = "ReceiptErased"
	msgReceiptNever       = "ReceiptNever"
	msgPurposeNotify      = "PurposeNotifications"
	msgPurposeMarketing   = "PurposeMarketing"
	msgPurposePersonal    = "PurposePersonalization"
	msgOnNotify           = "OnNotifications"
	msgOffNotify          = "OffNotifications"
	msgOnMarketing        = "OnMarketing"
	msgOffMarketing       = "OffMarketing"
	msgOnPersonal         = "OnPersonalization"
	msgOffPersonal        = "OffPersonalization"
	msgExportButton       = "ExportButton"
	msgForgetButton       = "ForgetButton"
	msgAskNotify          = "AskNotifications"
	msgAskPersonal        = "AskPersonalization"
	msgAskChange          = "AskChange"
	msgAskUpdated         = "AskUpdated"
	msgAskAgain           = "AskAgain"
	msgConsentYes         = "ConsentYes"
	msgConsentNo          = "ConsentNo"
	msgGrantedNotify      = "GrantedNotifications"
	msgGrantedMarketing   = "GrantedMarketing"
	msgGrantedPersonal    = "GrantedPersonalization"
	msgDeniedNotify       = "DeniedNotifications"
	msgDeniedMarketing    = "DeniedMarketing"
	msgDeniedPersonal     = "DeniedPersonalization"
	msgWithdrawnNotify    = "WithdrawnNotifications"
	msgWithdrawnMarketing = "WithdrawnMarketing"
	msgWithdrawnPersonal  = "WithdrawnPersonalization"
	msgAlreadyOn          = "AlreadyOn"
	msgAlreadyOff         = "AlreadyOff"
	msgStopped            = "Stopped"
	msgNotifyRefused      = "NotifyRefused"
	msgRememberedSize     = "RememberedSize"
	msgForgetConfirm      = "ForgetConfirm"
	msgForgetYes          = "ForgetYes"
	msgForgetNo           = "ForgetNo"
	msgForgetDone         = "ForgetDone"
	msgForgetStore        = "ForgetStore"
	msgForgetFresh        = "ForgetFresh"
	msgForgetPartial      = "ForgetPartial"
	msgForgetNothing      = "ForgetNothing"
	msgForgetCancelled    = "ForgetCancelled"
	msgForgetFailed       = "ForgetFailed"
	msgExport             = "Export"
	msgExportOpen         = "ExportOpen"
	msgExportNothing      = "ExportNothing"
	msgDateLayout         = "DateLayout"
)

// Message IDs of the answers about linking chats (linking.go).
const (
	msgLinkOffer        = "LinkOffer"
	msgLinkButton       = "LinkButton"
	msgLinkSignIn       = "LinkSignIn"
	msgLinkOff          = "LinkOff"
	msgLinkUnavailable  = "LinkUnavailable"
	msgLinked           = "Linked"
	msgLinkAlready      = "LinkAlready"
	msgLinkCodeBad      = "LinkCodeBad"
	msgLinkConflict     = "LinkConflict"
	msgPrivacyLinked    = "PrivacyLinked"
	msgChannelWebChat   = "ChannelWebChat"
	msgChannelTelegram  = "ChannelTelegram"
	msgChannelMessenger = "ChannelMessenger"
)

// messageIDs lists every message the engine uses; a test checks each
// language file has them all.
var messageIDs = []string{
	msgWelcome, msgWelcomeBack, msgWelcomeBackShort, msgHello, msgHelp, msgThanks, msgBye, msgAck,
	msgNotUnderstood, msgOfferPerson, msgPersonYes, msgPersonNo, msgHandoff, msgHandoffDeclined,
	msgLanguageSet, msgTooLong, msgUnavailable, msgWhichProduct, msgChoose, msgChooseLine, msgChooseQuick,
	msgChooseAgain, msgNotSold, msgNotSoldSuggest, msgWeSell, msgProductPrice, msgVariantPrice,
	msgColourSizes, msgColourOut, msgSizesInStock, msgAllOut, msgAskSize, msgStockIn, msgStockLow,
	msgStockOut, msgStockNotEnough, msgNearestSizes, msgNearestAny, msgOtherColours, msgNotifyOffer,
	msgNotifyButton, msgNotifyDone, msgNotifyGone, msgNoSuchSize, msgNoSuchColour, msgViewProduct,
	msgVariantLabel, msgSizeLabel, msgSizeConverted, msgOneSize, msgListSeparator, msgListAnd, msgListOr,
	msgMoney, msgThousands,

	msgPrivacyOff, msgPrivacyUnavailable, msgPrivacyIntro, msgPrivacyHeld, msgPrivacyHeldNone,
	msgPrivacyRemembered, msgPrivacyRequests, msgPrivacyChoices, msgPrivacyRecorded, msgPrivacyMore,
	msgHeldConversation, msgHeldPreferences, msgHeldSubscriptions, msgHeldConsents, msgHeldOther,
	msgReceiptYes, msgReceiptNo, msgReceiptWithdrawn, msgReceiptExpired, msgReceiptErased, msgReceiptNever,
	msgPurposeNotify, msgPurposeMarketing, msgPurposePersonal, msgOnNotify, msgOffNotify, msgOnMarketing,
	msgOffMarketing, msgOnPersonal, msgOffPersonal, msgExportButton, msgForgetButton, msgAskNotify,
	msgAskPersonal, msgAskChange, msgAskUpdated, msgAskAgain, msgConsentYes, msgConsentNo,
	msgGrantedNotify, msgGrantedMarketing, msgGrantedPersonal, msgDeniedNotify, msgDeniedMarketing,
	msgDeniedPersonal, msgWithdrawnNotify, msgWithdrawnMarketing, msgWithdrawnPersonal, msgAlreadyOn,
	msgAlreadyOff, msgStopped, msgNotifyRefused, msgRememberedSize, msgForgetConfirm, msgForgetYes,
	msgForgetNo, msgForgetDone, msgForgetStore, msgForgetFresh, msgForgetPartial, msgForgetNothing,
	msgForgetCancelled, msgForgetFailed, msgExport, msgExportOpen, msgExportNothing, msgDateLayout,

	msgLinkOffer, msgLinkButton, msgLinkSignIn, msgLinkOff, msgLinkUnavailable, msgLinked, msgLinkAlready,
	msgLinkCodeBad, msgLinkConflict, msgPrivacyLinked, msgChannelWebChat, msgChannelTelegram,
	msgChannelMessenger,
}

// texts renders answers from the message catalogs, one localizer per
// language, made once.
type texts struct {
	bundle *i18n.Bundle
	loc    map[string]*i18n.Localizer
	langs  []string
}

// data is a message's template data.
type data map[string]any

// loadLanguages reads the embedded message and lexicon files, then those in
// dir (if not empty), which may add languages or override messages.
func loadLanguages(def string, dir string) (*texts, map[string]lexiconFile, error) {
	bundle := i18n.NewBundle(language.Make(def))
	bundle.RegisterUnmarshalFunc("toml", toml.Unmarshal)
	lexicons := map[string]lexiconFile{}
	load := func(fsys fs.FS, name string) error {
		base := filepath.Base(name)
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return fmt.Errorf("dialogs: read %s: %w", base, err)
		}
		switch {
		case strings.HasPrefix(base, "lexicon."):
			tag := strings.TrimSuffix(strings.TrimPrefix(base, "lexicon."), ".toml")
			if _, err := language.Parse(tag); err != nil {
				return fmt.Errorf("dialogs: lexicon %s: bad language tag", base)
			}
			f, err := decodeLexicon(b, base)
			if err != nil {
				return err
			}
			lexicons[baseLang(tag)] = f
		case strings.HasPrefix(base, "active."):
			if _, err := bundle.ParseMessageFileBytes(b, base); err != nil {
				return fmt.Errorf("dialogs: messages %s: %w", base, err)
			}
		}
		return nil
	}
	embedded, err := fs.Glob(locales, "locales/*.toml")
	if err != nil {
		return nil, nil, err
	}
	for _, name := range embedded {
		if err := load(locales, name); err != nil {
			return nil, nil, err
		}
	}
	if dir != "" {
		extra, err := fs.Glob(os.DirFS(dir), "*.toml")
		if err != nil {
			return nil, nil, fmt.Errorf("dialogs: locale dir: %w", err)
		}
		if len(extra) == 0 {
			return nil, nil, fmt.Errorf("dialogs: locale dir %s: no .toml files", dir)
		}
		for _, name := range extra {
			if err := load(os.DirFS(dir), name); err != nil {
				return nil, nil, err
			}
		}
	}
	t := &texts{bundle: bundle, loc: map[string]*i18n.Localizer{}}
	for _, tag := range bundle.LanguageTags() {
		l := baseLang(tag.String())
		if _, ok := t.loc[l]; ok {
			continue
		}
		t.loc[l] = i18n.NewLocalizer(bundle, tag.String(), def)
		t.langs = append(t.langs, l)
	}
	sort.Strings(t.langs)
	if _, ok := t.loc[def]; !ok {
		return nil, nil, fmt.Errorf("dialogs: no messages for the default language %q", def)
	}
	// Every message must render in the default language; the others fall
	// back to it for what they lack.
	for _, l := range t.langs {
		for _, id := range messageIDs {
			if _, err := t.loc[l].Localize(localizeConfig(id)); err != nil && !(l != def && fallsBack(err)) {
				return nil, nil, fmt.Errorf("dialogs: message %s in %s: %w", id, l, err)
			}
		}
	}
	return t, lexicons, nil
}

// baseLang returns the language of a tag or locale: "it_IT" → "it".
func baseLang(tag string) string {
	tag = strings.ToLower(strings.TrimSpace(tag))
	if i := strings.IndexAny(tag, "-_"); i >= 0 {
		tag = tag[:i]
	}
	return tag
}

// has reports whether lang has messages.
func (t *texts) has(lang string) bool {
	_, ok := t.loc[lang]
	return ok
}

// get renders message id in lang.
func (t *texts) get(lang, id string, d data) string {
	return t.localize(lang, &i18n.LocalizeConfig{MessageID: id, TemplateData: d})
}

// count renders message id in lang with the plural form for n.
func (t *texts) count(lang, id string, n int, d data) string {
	if d == nil {
		d = data{}
	}
	d["Count"] = n
	return t.localize(lang, &i18n.LocalizeConfig{MessageID: id, TemplateData: d, PluralCount: n})
}

func (t *texts) localize(lang string, lc *i18n.LocalizeConfig) string {
	l, ok := t.loc[lang]
	if !ok {
		l = t.loc[t.langs[0]]
	}
	s, err := l.Localize(lc)
	if err != nil && !(s != "" && fallsBack(err)) {
		// Every ID is checked at load time; a template error is a bug in a
		// message file. Show the ID rather than nothing.
		return lc.MessageID
	}
	return s
}

// list joins items as the language does: "41, 42 e 43".
func (t *texts) list(lang string, items []string, or bool) string {
	switch len(items) {
	case 0:
		return ""
	case 1:
		return items[0]
	}
	last := msgListAnd
	if or {
		last = msgListOr
	}
	sep := t.get(lang, msgListSeparator, nil)
	return strings.Join(items[:len(items)-1], sep) + t.get(lang, last, nil) + items[len(items)-1]
}

// currencySymbols are the symbols of common currencies; others show their code.
var currencySymbols = map[string]string{"EUR": "€", "USD": "$", "GBP": "£", "CHF": "CHF"}

// money formats an amount in minor units as the language writes prices.
func (t *texts) money(lang string, minor int64, currency string) string {
	sym, ok := currencySymbols[currency]
	if !ok {
		sym = currency
	}
	neg := minor < 0
	if neg {
		minor = -minor
	}
	units := strconv.FormatInt(minor/100, 10)
	if len(units) > 3 {
		sep := t.get(lang, msgThousands, nil)
		var b strings.Builder
		for i, r := range units {
			if i > 0 && (len(units)-i)%3 == 0 {
				b.WriteString(sep)
			}
			b.WriteRune(r)
		}
		units = b.String()
	}
	if neg {
		units = "-" + units
	}
	cents := fmt.Sprintf("%02d", minor%100)
	return t.get(lang, msgMoney, data{"Units": units, "Cents": cents, "Symbol": sym})
}

// fallsBack reports whether err only says that a message came from the
// default language because the asked one lacks it.
func fallsBack(err error) bool {
	var nf *i18n.MessageNotFoundErr
	return errors.As(err, &nf)
}

// localizeConfig asks for message id with a plural count, so that plural
// messages render too.
func localizeConfig(id string) *i18n.LocalizeConfig {
	return &i18n.LocalizeConfig{MessageID: id, PluralCount: 2}
}
