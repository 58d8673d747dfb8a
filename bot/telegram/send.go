package telegram

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	tgbot "github.com/go-telegram/bot"
	"github.com/go-telegram/bot/models"

	"github.com/bottega-shop/bottega/bot"
)

// Errors of Sender's calls; every error it returns wraps one of them, or
// is a *RetryAfterError (which matches ErrTemporary too).
var (
	// ErrUnreachable means the shopper cannot be written to: they blocked
	// the bot, deleted their account or never started it. Do not retry;
	// mark them unreachable.
	ErrUnreachable = errors.New("telegram: shopper unreachable")
	// ErrPermanent means Telegram refused the request (a 4xx other than
	// 429): retrying the same request fails the same way.
	ErrPermanent = errors.New("telegram: request refused")
	// ErrTemporary means the request may succeed later: a 5xx, a network
	// failure, a response that is not Telegram's, an ended context.
	ErrTemporary = errors.New("telegram: temporary failure")
)

// RetryAfterError is Telegram's flood control (429): wait After before the
// next request to the chat.
type RetryAfterError struct {
	After time.Duration
}

func (e *RetryAfterError) Error() string {
	return fmt.Sprintf("telegram: too many requests, retry after %s", e.After)
}

// Is makes a RetryAfterError match ErrTemporary.
func (e *RetryAfterError) Is(target error) bool { return target == ErrTemporary }

// PartialError is a failed Send after some of the reply's messages went
// out (a reply may take several: cards, then a long text in parts).
// SendFrom with Sent resumes it without repeating them.
type PartialError struct {
	// Sent is how many of the reply's messages were delivered.
	Sent int
	Err  error
}

func (e *PartialError) Error() string {
	return fmt.Sprintf("%v (after %d messages of the reply)", e.Err, e.Sent)
}

func (e *PartialError) Unwrap() error { return e.Err }

// allowedUpdates are the update types SetWebhook asks for.
var allowedUpdates = []string{
	models.AllowedUpdateMessage, models.AllowedUpdateEditedMessage,
	models.AllowedUpdateCallbackQuery, models.AllowedUpdateMyChatMember,
}

// WebhookPath is where Bottega serves Telegram's webhook.
const WebhookPath = "/webhooks/telegram"

// DefaultAPIURL is the Bot API's address.
const DefaultAPIURL = "https://api.telegram.org"

// storedPrefix marks callback data that is a PayloadStore key.
const storedPrefix = "~p:"

// Sender sends replies through the Bot API with go-telegram/bot. It makes
// one request per call and never retries: the caller (the outbound queue)
// decides from the error. It is safe for concurrent use.
type Sender struct {
	b        *tgbot.Bot
	payloads PayloadStore
}

// SenderOption configures a Sender.
type SenderOption func(*senderConfig)

type senderConfig struct {
	payloads PayloadStore
	client   *http.Client
	log      *slog.Logger
}

// WithPayloadStore sets where payloads too long for callback_data are kept
// (default: a MemoryPayloads with its defaults).
func WithPayloadStore(p PayloadStore) SenderOption {
	return func(c *senderConfig) { c.payloads = p }
}

// WithHTTPClient sets the HTTP client (default: one with a 30 s timeout).
func WithHTTPClient(hc *http.Client) SenderOption {
	return func(c *senderConfig) { c.client = hc }
}

// WithSenderLogger sets the logger for the library's own failures
// (closing request pipes); default: none.
func WithSenderLogger(l *slog.Logger) SenderOption {
	return func(c *senderConfig) { c.log = l }
}

// NewSender returns a Sender for the bot with token, talking to the Bot API
// at apiURL (DefaultAPIURL if empty; a fake one in tests). It makes no
// request.
func NewSender(token, apiURL string, opts ...SenderOption) (*Sender, error) {
	c := senderConfig{}
	for _, o := range opts {
		o(&c)
	}
	if c.payloads == nil {
		c.payloads = NewMemoryPayloads(0, 0, nil)
	}
	if c.client == nil {
		c.client = &http.Client{Timeout: 30 * time.Second}
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if apiURL == "" {
		apiURL = DefaultAPIURL
	}
	if u, err := url.Parse(apiURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("telegram: new sender: API URL %q is not an http(s) URL", apiURL)
	}
	if strings.TrimSpace(token) == "" {
		return nil, errors.New("telegram: new sender: empty bot token")
	}
	b, err := tgbot.New(token,
		tgbot.WithServerURL(strings.TrimRight(apiURL, "/")),
		tgbot.WithSkipGetMe(),
		tgbot.WithHTTPClient(c.client.Timeout, c.client),
		tgbot.WithErrorsHandler(func(err error) { c.log.Warn("telegram: client error", "err", err) }),
	)
	if err != nil {
		return nil, fmt.Errorf("telegram: new sender: %w", err)
	}
	return &Sender{b: b, payloads: c.payloads}, nil
}

// Send delivers r to chat chatID, rendered for Telegram as plain text (no
// parse mode, so nothing the shopper or a product name holds is read as
// markup):
//
//   - each card first, as a photo with its title, price and subtitle as
//     the caption (1,024 characters at most) when it has an http(s)
//     picture, else as a text message; its buttons, plus a link button
//     titled with the card's title for its URL when no button links there
//     already, form its inline keyboard;
//   - then the text, split into messages of at most 4,096 characters (see
//     Split);
//   - the quick replies (packed up to four to a row) and the buttons (one
//     to a row) as the inline keyboard of the last text message, or of the
//     last card when there is no text.
//
// A button is a URL button for an http(s) or tg URL, else a callback
// button; a payload over 64 bytes is kept in the PayloadStore and the
// button carries its key. A button with neither is left out.
//
// Errors wrap ErrUnreachable, ErrPermanent or ErrTemporary, or are a
// *RetryAfterError; after part of the reply went out, a *PartialError
// around them.
func (s *Sender) Send(ctx context.Context, chatID int64, r bot.Reply) error {
	return s.SendFrom(ctx, chatID, r, 0)
}

// SendFrom is Send without the first n messages of r's rendering, to
// resume after a *PartialError reported n sent. The rendering is
// deterministic while the PayloadStore keeps r's payloads.
func (s *Sender) SendFrom(ctx context.Context, chatID int64, r bot.Reply, n int) error {
	msgs, err := s.render(ctx, r)
	if err != nil {
		return fmt.Errorf("telegram: send to chat %d: %w", chatID, err)
	}
	for i := max(n, 0); i < len(msgs); i++ {
		if err := s.send(ctx, chatID, msgs[i]); err != nil {
			if i > 0 {
				return &PartialError{Sent: i, Err: err}
			}
			return err
		}
	}
	return nil
}

// AnswerCallback answers callback query id, stopping the button's progress
// indicator; text, if any, is shown as a notification (cut to 200
// characters). Errors are classified as Send's.
func (s *Sender) AnswerCallback(ctx context.Context, id, text string) error {
	_, err := s.b.AnswerCallbackQuery(ctx, &tgbot.AnswerCallbackQueryParams{
		CallbackQueryID: id, Text: Truncate(text, MaxCallbackAnswer),
	})
	if err != nil {
		return classify(err, "answerCallbackQuery", 0)
	}
	return nil
}

// Resolve returns the payload a button's callback data stands for: the
// data itself, or what the PayloadStore holds under the key it carries (an
// error wrapping ErrPayloadExpired if nothing).
func (s *Sender) Resolve(ctx context.Context, data string) (string, error) {
	key, ok := strings.CutPrefix(data, storedPrefix)
	if !ok {
		return data, nil
	}
	p, err := s.payloads.Get(ctx, key)
	if err != nil {
		return "", fmt.Errorf("telegram: button payload: %w", err)
	}
	return p, nil
}

// SetWebhook registers publicURL + WebhookPath as the bot's webhook, with
// secret as the secret_token Telegram sends in every request and the
// update types the channel handles (message, edited_message,
// callback_query, my_chat_member). The secret must be 1–256 characters of
// A-Z, a-z, 0-9, _ and -, as Telegram requires; publicURL must be https.
func (s *Sender) SetWebhook(ctx context.Context, publicURL, secret string) error {
	if !ValidSecret(secret) {
		return errors.New("telegram: set webhook: the secret must be 1-256 characters of A-Z, a-z, 0-9, _ and -")
	}
	u, err := url.Parse(publicURL)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("telegram: set webhook: public URL %q is not an https URL without query", publicURL)
	}
	ok, err := s.b.SetWebhook(ctx, &tgbot.SetWebhookParams{
		URL:            strings.TrimRight(publicURL, "/") + WebhookPath,
		AllowedUpdates: allowedUpdates,
		SecretToken:    secret,
	})
	if err != nil {
		return classify(err, "setWebhook", 0)
	}
	if !ok {
		return fmt.Errorf("telegram: setWebhook: Telegram answered false: %w", ErrPermanent)
	}
	return nil
}

// ValidSecret reports whether s can be setWebhook's secret_token: 1–256
// characters of A-Z, a-z, 0-9, _ and -.
func ValidSecret(s string) bool {
	if len(s) == 0 || len(s) > 256 {
		return false
	}
	for _, c := range []byte(s) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// outMsg is one Bot API call of a rendered reply.
type outMsg struct {
	photo    string // sendPhoto's photo URL; "" for sendMessage
	text     string // text, or caption
	keyboard *inlineKeyboard
}

// inlineKeyboard and inlineButton are what we send as reply_markup. The
// library's InlineKeyboardButton always carries "copy_text":{"text":""},
// which Telegram may refuse (BUTTON_COPY_TEXT_INVALID), so we send our own.
type inlineKeyboard struct {
	InlineKeyboard [][]inlineButton `json:"inline_keyboard"`
}

type inlineButton struct {
	Text         string `json:"text"`
	URL          string `json:"url,omitempty"`
	CallbackData string `json:"callback_data,omitempty"`
}

// maxButtonText bounds a button's title; Telegram shows little more.
const maxButtonText = 64

// render turns r into Bot API calls, in order.
func (s *Sender) render(ctx context.Context, r bot.Reply) ([]outMsg, error) {
	var msgs []outMsg
	for _, c := range r.Cards {
		m, ok, err := s.card(ctx, c)
		if err != nil {
			return nil, err
		}
		if ok {
			msgs = append(msgs, m)
		}
	}
	var kb *inlineKeyboard
	{
		var rows [][]inlineButton
		row, width := []inlineButton(nil), 0
		for _, q := range r.QuickReplies {
			b, ok, err := s.button(ctx, q.Title, q.Payload, "")
			if err != nil {
				return nil, err
			}
			if !ok {
				continue
			}
			w := units(b.Text)
			if len(row) > 0 && (len(row) == 4 || width+w > 24) {
				rows, row, width = append(rows, row), nil, 0
			}
			row, width = append(row, b), width+w
		}
		if len(row) > 0 {
			rows = append(rows, row)
		}
		for _, bt := range r.Buttons {
			b, ok, err := s.button(ctx, bt.Title, bt.Payload, bt.URL)
			if err != nil {
				return nil, err
			}
			if ok {
				rows = append(rows, []inlineButton{b})
			}
		}
		if len(rows) > 0 {
			kb = &inlineKeyboard{InlineKeyboard: rows}
		}
	}
	parts := Split(r.Text, MaxText)
	for _, p := range parts {
		msgs = append(msgs, outMsg{text: p})
	}
	if kb == nil {
		return msgs, nil
	}
	switch {
	case len(parts) > 0 || len(msgs) == 0:
		if len(msgs) == 0 { // only buttons: Telegram needs some text
			msgs = append(msgs, outMsg{text: "…"})
		}
		msgs[len(msgs)-1].keyboard = kb
	default: // cards without text: the last card carries the keyboard too
		last := &msgs[len(msgs)-1]
		if last.keyboard == nil {
			last.keyboard = kb
		} else {
			last.keyboard = &inlineKeyboard{InlineKeyboard: append(last.keyboard.InlineKeyboard, kb.InlineKeyboard...)}
		}
	}
	return msgs, nil
}

// card renders one card; ok is false for a card with nothing to show.
func (s *Sender) card(ctx context.Context, c bot.Card) (outMsg, bool, error) {
	var lines []string
	for _, l := range []string{c.Title, c.Price, c.Subtitle} {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	text := strings.Join(lines, "\n")
	var rows [][]inlineButton
	linked := false
	for _, bt := range c.Buttons {
		b, ok, err := s.button(ctx, bt.Title, bt.Payload, bt.URL)
		if err != nil {
			return outMsg{}, false, err
		}
		if ok {
			rows = append(rows, []inlineButton{b})
			linked = linked || (b.URL != "" && b.URL == c.URL)
		}
	}
	if !linked && linkURL(c.URL) {
		title := strings.TrimSpace(c.Title)
		if title == "" {
			title = "🔗"
		}
		rows = append(rows, []inlineButton{{Text: Truncate(title, maxButtonText), URL: c.URL}})
	}
	m := outMsg{}
	if len(rows) > 0 {
		m.keyboard = &inlineKeyboard{InlineKeyboard: rows}
	}
	if u, err := url.Parse(c.ImageURL); err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" {
		m.photo, m.text = c.ImageURL, Truncate(text, MaxCaption)
		return m, true, nil
	}
	if text == "" {
		if m.keyboard == nil {
			return outMsg{}, false, nil
		}
		text = "…"
	}
	m.text = Truncate(text, MaxText)
	return m, true, nil
}

// button renders one button; ok is false for one with no action or title.
func (s *Sender) button(ctx context.Context, title, payload, link string) (inlineButton, bool, error) {
	title = strings.TrimSpace(title)
	if title == "" {
		return inlineButton{}, false, nil
	}
	b := inlineButton{Text: Truncate(title, maxButtonText)}
	switch {
	case linkURL(link):
		b.URL = link
	case payload != "":
		data, err := s.callbackData(ctx, payload)
		if err != nil {
			return inlineButton{}, false, err
		}
		b.CallbackData = data
	default:
		return inlineButton{}, false, nil
	}
	return b, true, nil
}

// callbackData is payload itself when it fits in callback_data, else a key
// into the PayloadStore.
func (s *Sender) callbackData(ctx context.Context, payload string) (string, error) {
	if len(payload) <= MaxCallbackData && !strings.HasPrefix(payload, storedPrefix) {
		return payload, nil
	}
	key, err := s.payloads.Put(ctx, payload)
	if err != nil {
		return "", fmt.Errorf("storing a button payload: %w: %w", ErrTemporary, err)
	}
	data := storedPrefix + key
	if len(data) > MaxCallbackData {
		return "", fmt.Errorf("payload store key of %d bytes is too long: %w", len(key), ErrPermanent)
	}
	return data, nil
}

// linkURL reports whether s can be an inline URL button's url.
func linkURL(s string) bool {
	u, err := url.Parse(s)
	if err != nil {
		return false
	}
	switch u.Scheme {
	case "http", "https":
		return u.Host != ""
	case "tg":
		return true
	}
	return false
}

// send makes one call, once the rate limits in ctx allow it (bot.Pace).
func (s *Sender) send(ctx context.Context, chatID int64, m outMsg) error {
	if err := bot.Pace(ctx); err != nil {
		return fmt.Errorf("telegram: send to chat %d: waiting for the rate limits: %w: %w", chatID, ErrTemporary, err)
	}
	var markup models.ReplyMarkup
	if m.keyboard != nil {
		markup = m.keyboard
	}
	var err error
	method := "sendMessage"
	if m.photo != "" {
		method = "sendPhoto"
		_, err = s.b.SendPhoto(ctx, &tgbot.SendPhotoParams{
			ChatID: chatID, Photo: &models.InputFileString{Data: m.photo}, Caption: m.text, ReplyMarkup: markup,
		})
	} else {
		_, err = s.b.SendMessage(ctx, &tgbot.SendMessageParams{ChatID: chatID, Text: m.text, ReplyMarkup: markup})
	}
	if err != nil {
		return classify(err, method, chatID)
	}
	return nil
}

// classify maps go-telegram/bot's errors to ours. The library reads only
// the JSON body (ok, error_code, description, parameters), not the HTTP
// status, and never puts the token in its errors.
func classify(err error, method string, chatID int64) error {
	where := "telegram: " + method
	if chatID != 0 {
		where += " to chat " + strconv.FormatInt(chatID, 10)
	}
	var (
		tooMany *tgbot.TooManyRequestsError
		migrate *tgbot.MigrateError
	)
	msg := err.Error()
	switch {
	case errors.As(err, &tooMany):
		after := time.Duration(tooMany.RetryAfter) * time.Second
		if after <= 0 {
			after = time.Second
		}
		return fmt.Errorf("%s: %w", where, &RetryAfterError{After: after})
	case errors.Is(err, tgbot.ErrorForbidden) && unreachable(msg):
		return fmt.Errorf("%s: %s: %w", where, description(msg), ErrUnreachable)
	case errors.As(err, &migrate),
		errors.Is(err, tgbot.ErrorForbidden), errors.Is(err, tgbot.ErrorBadRequest),
		errors.Is(err, tgbot.ErrorUnauthorized), errors.Is(err, tgbot.ErrorNotFound),
		errors.Is(err, tgbot.ErrorConflict):
		return fmt.Errorf("%s: %s: %w", where, description(msg), ErrPermanent)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%s: %w: %w", where, ErrTemporary, err)
	}
	if code := otherCode(msg); code >= 400 && code < 500 {
		return fmt.Errorf("%s: error %d: %w", where, code, ErrPermanent)
	}
	return fmt.Errorf("%s: %s: %w", where, description(msg), ErrTemporary)
}

// unreachable reports whether a 403's description says the shopper is
// gone for good.
func unreachable(msg string) bool {
	msg = strings.ToLower(msg)
	for _, s := range []string{"bot was blocked by the user", "user is deactivated", "bot can't initiate conversation"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// description is the part of a library error worth logging: Telegram's
// description, or the library's text without the response body it may
// quote.
func description(msg string) string {
	switch {
	case strings.HasPrefix(msg, "error decode response body"):
		return "the response is not the Bot API's JSON"
	case strings.HasPrefix(msg, "error "):
		return Truncate(msg, 300)
	}
	if _, d, ok := strings.Cut(msg, ", "); ok {
		return Truncate(d, 300) // "forbidden, Forbidden: bot was blocked by the user"
	}
	return Truncate(msg, 300)
}

// otherCode is the error_code in the library's error for codes it has no
// type for ("error response from telegram for method m, 502 Bad Gateway").
func otherCode(msg string) int {
	const p = "error response from telegram for method "
	rest, ok := strings.CutPrefix(msg, p)
	if !ok {
		return 0
	}
	_, rest, _ = strings.Cut(rest, ", ")
	code, _, _ := strings.Cut(rest, " ")
	n, _ := strconv.Atoi(code)
	return n
}
