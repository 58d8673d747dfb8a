package telegram

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/go-telegram/bot/models"

	"github.com/bottega-shop/bottega/bot"
)

// Limits on a webhook body that Parse enforces.
const (
	// MaxBody is the largest body Parse accepts, in bytes. Telegram's
	// updates are a few kilobytes.
	MaxBody = 1 << 20
	// MaxDepth is the deepest nesting of objects and arrays Parse accepts;
	// a message quoting a reply with entities nests about eight levels.
	MaxDepth = 32
)

// Payload values and prefixes of the messages Parse makes; they match the
// Messenger channel's.
const (
	// PayloadStart prefixes the deep-link payload of /start:
	// "start:<payload>", or just "start:" for a bare /start.
	PayloadStart = "start:"
	// PayloadAttachment prefixes the kind of a message that has no text
	// ("attachment:image"): the engine answers it with a helpful line.
	PayloadAttachment = "attachment:"
	// PayloadImage is the payload of a photo sent without a caption.
	PayloadImage = PayloadAttachment + "image"
)

// Errors Parse wraps.
var (
	// ErrMalformed means the body is not an update: empty, not JSON,
	// truncated, of the wrong types, too deep or without an update_id.
	ErrMalformed = errors.New("telegram: malformed update")
	// ErrTooLarge means the body is over MaxBody.
	ErrTooLarge = errors.New("telegram: update too large")
)

// Kind says what an Update asks of the bot.
type Kind string

// Update kinds.
const (
	// KindIgnored is an update the bot does not handle (an unknown type, a
	// channel post, a service message, a bot's message): acknowledge it and
	// drop it.
	KindIgnored Kind = "ignored"
	// KindMessage is a shopper's message in a private chat.
	KindMessage Kind = "message"
	// KindEdit is a shopper's correction of a message in a private chat:
	// MessageID names the edited message. It is answered again only if
	// that was the chat's latest message.
	KindEdit Kind = "edit"
	// KindCallback is a pressed inline button. CallbackID must be answered;
	// Message, when set, carries the button's callback data as Payload,
	// which may still be a key into the PayloadStore (Sender.Resolve).
	KindCallback Kind = "callback"
	// KindMember is the shopper blocking (Reachable false) or unblocking
	// and restarting (Reachable true) the bot in a private chat.
	KindMember Kind = "member"
	// KindGroup is a message in a group or supergroup: the bot only says
	// that it works in private chats.
	KindGroup Kind = "group"
)

// Update is a parsed webhook update: what it is and, for what the bot
// handles, the channel-neutral message it maps to.
type Update struct {
	// ID is the update_id.
	ID   int64
	Kind Kind
	// ChatID is the chat the update is about (0 for KindIgnored).
	ChatID int64
	// MessageID is Telegram's message_id of the message (KindMessage,
	// KindGroup) or of the edited message (KindEdit).
	MessageID int
	// Message is what to dispatch, nil for nothing. Its ID is
	// "tg:<update_id>" ("tg:edit:<update_id>" for an edit), its Seq the
	// update_id, its Conversation the chat id and its Sender the user id.
	Message *bot.Message
	// CallbackID is the callback query to answer (KindCallback).
	CallbackID string
	// Reachable is the shopper's new state (KindMember).
	Reachable bool
	// Locale is the user's language_code, if Telegram sent it.
	Locale string
	// Raw is the update as go-telegram/bot decodes it; only update_id is
	// decoded for KindIgnored.
	Raw models.Update
}

// CheckSecret reports whether header, the X-Telegram-Bot-Api-Secret-Token
// of a webhook request, is secret. It takes the same time whatever the
// header holds (both sides are hashed first, so not even the length shows)
// and refuses everything when secret is empty.
func CheckSecret(header, secret string) bool {
	if secret == "" {
		return false
	}
	h, s := sha256.Sum256([]byte(header)), sha256.Sum256([]byte(secret))
	return subtle.ConstantTimeCompare(h[:], s[:]) == 1
}

// Parse checks and decodes a webhook body and maps it to what the bot
// handles. Errors wrap ErrTooLarge (over MaxBody) or ErrMalformed (empty,
// not one JSON object, truncated, wrong types, nested deeper than MaxDepth,
// no positive update_id). An update of a type the bot does not handle is
// not an error: it comes back as KindIgnored, and its other fields are not
// even decoded, so a future Telegram field cannot make it fail.
//
// Invalid UTF-8 inside JSON strings is replaced by U+FFFD, as
// encoding/json does.
func Parse(body []byte) (Update, error) {
	if len(body) > MaxBody {
		return Update{}, fmt.Errorf("%d bytes, limit %d: %w", len(body), MaxBody, ErrTooLarge)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return Update{}, fmt.Errorf("empty body: %w", ErrMalformed)
	}
	if err := checkDepth(body, MaxDepth); err != nil {
		return Update{}, err
	}
	var head map[string]json.RawMessage
	if err := decodeOne(body, &head); err != nil {
		return Update{}, err
	}
	if head == nil {
		return Update{}, fmt.Errorf("not an object: %w", ErrMalformed)
	}
	var id int64
	if raw, ok := head["update_id"]; !ok {
		return Update{}, fmt.Errorf("no update_id: %w", ErrMalformed)
	} else if err := json.Unmarshal(raw, &id); err != nil || id <= 0 {
		return Update{}, fmt.Errorf("update_id %.40s is not a positive integer: %w", raw, ErrMalformed)
	}
	u := Update{ID: id, Kind: KindIgnored}
	u.Raw.ID = id
	present := func(k string) bool {
		raw, ok := head[k]
		return ok && !bytes.Equal(bytes.TrimSpace(raw), []byte("null"))
	}
	switch {
	case present("message"), present("edited_message"), present("callback_query"):
	case present("my_chat_member"):
		if !knownStatuses(head["my_chat_member"]) {
			return u, nil // a member status this version does not know
		}
	default:
		return u, nil
	}
	if err := json.Unmarshal(body, &u.Raw); err != nil {
		return Update{}, fmt.Errorf("%s: %w", jsonProblem(err), ErrMalformed)
	}
	var err error
	switch r := &u.Raw; {
	case r.Message != nil:
		err = u.message(r.Message, false)
	case r.EditedMessage != nil:
		err = u.message(r.EditedMessage, true)
	case r.CallbackQuery != nil:
		err = u.callback(r.CallbackQuery)
	case r.MyChatMember != nil:
		u.member(r.MyChatMember)
	}
	if err != nil {
		return Update{}, err
	}
	return u, nil
}

// message maps a message or an edited message.
func (u *Update) message(m *models.Message, edit bool) error {
	if m.Chat.ID == 0 {
		return fmt.Errorf("message without a chat id: %w", ErrMalformed)
	}
	switch m.Chat.Type {
	case models.ChatTypePrivate:
	case models.ChatTypeGroup, models.ChatTypeSupergroup:
		if !edit && m.From != nil && !m.From.IsBot {
			u.Kind, u.ChatID, u.MessageID = KindGroup, m.Chat.ID, m.ID
			u.Locale = m.From.LanguageCode
		}
		return nil
	default:
		return nil
	}
	if m.From == nil || m.From.IsBot {
		return nil
	}
	text, payload := m.Text, ""
	if text == "" {
		text = m.Caption
	}
	switch {
	case isStart(text):
		text, payload = "", startPayload(text)
	case strings.TrimSpace(text) == "":
		text, payload = "", attachment(m)
		if payload == "" {
			return nil // a service message: nothing to answer
		}
	}
	id, at := "tg:"+strconv.FormatInt(u.ID, 10), m.Date
	u.Kind = KindMessage
	if edit {
		id, u.Kind = "tg:edit:"+strconv.FormatInt(u.ID, 10), KindEdit
		if m.EditDate != 0 {
			at = m.EditDate
		}
	}
	u.ChatID, u.MessageID, u.Locale = m.Chat.ID, m.ID, m.From.LanguageCode
	u.Message = &bot.Message{
		Channel: bot.Telegram, ID: id, Conversation: strconv.FormatInt(m.Chat.ID, 10),
		Sender: strconv.FormatInt(m.From.ID, 10), Text: text, Payload: payload,
		Locale: m.From.LanguageCode, Seq: u.ID, At: unixTime(at),
	}
	return nil
}

// callback maps a pressed button.
func (u *Update) callback(q *models.CallbackQuery) error {
	if q.ID == "" {
		return fmt.Errorf("callback query without an id: %w", ErrMalformed)
	}
	u.Kind, u.CallbackID, u.Locale = KindCallback, q.ID, q.From.LanguageCode
	var chat models.Chat
	switch m := q.Message; {
	case m.Message != nil:
		chat = m.Message.Chat
	case m.InaccessibleMessage != nil:
		chat = m.InaccessibleMessage.Chat
	}
	u.ChatID = chat.ID
	if chat.ID == 0 || chat.Type != models.ChatTypePrivate || q.Data == "" || q.From.ID == 0 || q.From.IsBot {
		return nil // inline mode, a group, a game: answer it and nothing more
	}
	u.Message = &bot.Message{
		Channel: bot.Telegram, ID: "tg:" + strconv.FormatInt(u.ID, 10),
		Conversation: strconv.FormatInt(chat.ID, 10), Sender: strconv.FormatInt(q.From.ID, 10),
		Payload: q.Data, Locale: q.From.LanguageCode, Seq: u.ID,
	}
	return nil
}

// member maps my_chat_member in a private chat.
func (u *Update) member(c *models.ChatMemberUpdated) {
	if c.Chat.Type != models.ChatTypePrivate || c.Chat.ID == 0 {
		return
	}
	u.Kind, u.ChatID, u.Locale = KindMember, c.Chat.ID, c.From.LanguageCode
	switch c.NewChatMember.Type {
	case models.ChatMemberTypeBanned, models.ChatMemberTypeLeft:
		u.Reachable = false
	default:
		u.Reachable = true
	}
}

// isStart reports whether text is the /start command ("/start",
// "/start payload", "/start@bot payload").
func isStart(text string) bool {
	cmd, _, _ := strings.Cut(text, " ")
	return cmd == "/start" || strings.HasPrefix(cmd, "/start@")
}

// startPayload is PayloadStart with the deep-link payload, which must be
// 1–64 characters of A-Z, a-z, 0-9, _ and - as deep links allow; anything
// else (someone typing "/start whatever") is dropped.
func startPayload(text string) string {
	_, p, _ := strings.Cut(text, " ")
	p = strings.TrimSpace(p)
	if len(p) == 0 || len(p) > 64 {
		return PayloadStart
	}
	for _, c := range []byte(p) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return PayloadStart
		}
	}
	return PayloadStart + p
}

// attachment is the payload of a message without text, "" for a service
// message.
func attachment(m *models.Message) string {
	switch {
	case len(m.Photo) > 0:
		return PayloadImage
	case m.Sticker != nil:
		return PayloadAttachment + "sticker"
	case m.Voice != nil, m.Audio != nil:
		return PayloadAttachment + "audio"
	case m.Video != nil, m.VideoNote != nil, m.Animation != nil:
		return PayloadAttachment + "video"
	case m.Document != nil:
		return PayloadAttachment + "file"
	case m.Location != nil, m.Venue != nil:
		return PayloadAttachment + "location"
	case m.Contact != nil:
		return PayloadAttachment + "contact"
	}
	return ""
}

// knownStatuses reports whether go-telegram/bot can decode the member
// statuses of a my_chat_member object; it fails the whole update on one it
// does not know.
func knownStatuses(raw json.RawMessage) bool {
	var v struct {
		Old struct {
			Status string `json:"status"`
		} `json:"old_chat_member"`
		New struct {
			Status string `json:"status"`
		} `json:"new_chat_member"`
	}
	if json.Unmarshal(raw, &v) != nil {
		return true // let the full decode report the problem
	}
	known := func(s string) bool {
		switch models.ChatMemberType(s) {
		case models.ChatMemberTypeOwner, models.ChatMemberTypeAdministrator, models.ChatMemberTypeMember,
			models.ChatMemberTypeRestricted, models.ChatMemberTypeLeft, models.ChatMemberTypeBanned:
			return true
		}
		return false
	}
	return known(v.Old.Status) && known(v.New.Status)
}

// checkDepth fails when objects and arrays nest deeper than max, without
// decoding anything.
func checkDepth(b []byte, max int) error {
	depth, inString, escaped := 0, false, false
	for _, c := range b {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			depth++
			if depth > max {
				return fmt.Errorf("nested deeper than %d levels: %w", max, ErrMalformed)
			}
		case c == '}' || c == ']':
			depth--
		}
	}
	return nil
}

// decodeOne decodes exactly one JSON value from b into v.
func decodeOne(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%s: %w", jsonProblem(err), ErrMalformed)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("data after the update: %w", ErrMalformed)
	}
	return nil
}

// jsonProblem describes a decoding error without quoting the body.
func jsonProblem(err error) string {
	var (
		syn *json.SyntaxError
		typ *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("invalid JSON at byte %d", syn.Offset)
	case errors.As(err, &typ):
		return fmt.Sprintf("field %q: expected %s, got %s", typ.Field, typ.Type, typ.Value)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "the body ends too early"
	}
	return "cannot decode the update"
}

func unixTime(sec int) time.Time {
	if sec <= 0 {
		return time.Time{}
	}
	return time.Unix(int64(sec), 0).UTC()
}
