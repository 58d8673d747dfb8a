package messenger

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/bottega-shop/bottega/bot"
)

// Limits on a webhook body that Parse enforces.
const (
	// MaxBody is the largest body Parse accepts, in bytes.
	MaxBody = 8 << 20
	// MaxDepth is the deepest nesting of objects and arrays Parse accepts;
	// Messenger's own events nest about a dozen levels.
	MaxDepth = 32
)

// Payload prefixes of the messages Parse makes.
const (
	// PayloadStart prefixes the ref of a Get Started postback or m.me link
	// that carried a referral: "start:<ref>".
	PayloadStart = "start:"
	// PayloadAttachment prefixes the type of an attachment sent without
	// text ("attachment:image"): the engine answers it with a helpful line
	// instead of reading empty text.
	PayloadAttachment = "attachment:"
	// PayloadImage is the payload of a picture sent without text.
	PayloadImage = PayloadAttachment + "image"
)

// ErrMalformed is wrapped by Parse's errors: the body is not a webhook body
// (empty, not JSON, truncated, wrong types, too large or too deep).
var ErrMalformed = errors.New("messenger: malformed webhook body")

// Kind says what an Event is.
type Kind string

// Event kinds.
const (
	// KindMessage is a shopper's message or postback that arrived in
	// standby: another app owns the thread, so the bot does not handle it.
	KindMessage Kind = "message"
	// KindEcho is the copy of a message the Page sent, by an app that is
	// not known to be a person's (AppID says which).
	KindEcho Kind = "echo"
	// KindHumanReply is an echo of a message a person sent from another
	// app (the Page Inbox, say): a human is talking to the shopper.
	KindHumanReply Kind = "human_reply"
	// KindDelivery says the Page's messages up to Watermark were delivered.
	KindDelivery Kind = "delivery"
	// KindRead says the shopper read the Page's messages up to Watermark.
	KindRead Kind = "read"
	// KindOptin is a messaging_optins event: Optin holds it.
	KindOptin Kind = "optin"
	// KindThreadOwner says the thread changed hands: AppID is the new
	// owner, PreviousOwner the old one, Handover "pass" or "take".
	KindThreadOwner Kind = "thread_owner"
	// KindThreadRequest says app AppID asks for the thread.
	KindThreadRequest Kind = "thread_request"
	// KindUnreachable says the Send API refused the shopper as unavailable
	// (blocked the Page or deactivated): stop sending to them.
	KindUnreachable Kind = "unreachable"
)

// Event is a webhook event that is not a message for the bot to handle,
// or a fact learnt while sending.
type Event struct {
	Kind Kind
	// ID identifies the event for dedupe: "fb:<mid>" for an event with a
	// mid, otherwise derived from its kind, shopper and times. A
	// redelivered body repeats it.
	ID string
	// Page is the Page id of the webhook entry.
	Page string
	// PSID is the shopper's page-scoped id.
	PSID string
	// At is the event's time.
	At time.Time
	// Standby is set for events from entry.standby[]: another app owns
	// the thread.
	Standby bool
	// Message is the shopper's message of a KindMessage event.
	Message *bot.Message
	// MIDs are the delivered messages of a KindDelivery event, if listed.
	MIDs []string
	// Watermark: every message sent up to it was delivered or read.
	Watermark time.Time
	// AppID is the app of an echo, the new owner of a thread or the app
	// asking for it.
	AppID string
	// PreviousOwner is the app that owned the thread before.
	PreviousOwner string
	// Handover is "pass" or "take" for KindThreadOwner.
	Handover string
	// Metadata is the handover's or echo's metadata string.
	Metadata string
	// Optin is the opt-in of a KindOptin event.
	Optin *Optin
}

// Optin is a messaging_optins event: a marketing-message opt-in, a
// re-opt-in, or a stop or resume of notifications.
type Optin struct {
	// Type is "notification_messages" for marketing messages.
	Type    string
	Payload string
	// Token is the notification_messages_token that addresses messages to
	// the shopper. It is a credential: never log it.
	Token string
	// Status is "stop" or "resume" when the shopper stopped or resumed
	// notifications, "" for an opt-in.
	Status string
	// TokenStatus is user_token_status as sent.
	TokenStatus string
	// Timezone is notification_messages_timezone.
	Timezone    string
	Title       string
	TokenExpiry time.Time
	// Ref is the ref of a checkbox or send-to-Messenger opt-in.
	Ref string
}

// LogValue keeps the token out of logs.
func (o Optin) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("type", o.Type),
		slog.String("status", o.Status),
		slog.Bool("token", o.Token != ""),
	)
}

// Skip is an event Parse could not use; the other events of the batch are
// still parsed.
type Skip struct {
	// Entry and Index locate the event: entry[Entry].messaging[Index] (or
	// .standby[Index] when Standby).
	Entry, Index int
	Standby      bool
	// Reason says what was wrong, without personal data.
	Reason string
}

// Batch is what one webhook body holds.
type Batch struct {
	// Object is the body's object; only "page" bodies have events.
	Object string
	// Messages are the shopper's messages for the bot, in body order.
	Messages []bot.Message
	// Events are the other events, in body order.
	Events []Event
	// Skipped are the events that could not be used.
	Skipped []Skip
	// Ignored counts events of kinds the channel does not handle
	// (reactions, app_roles, …) and empty messages.
	Ignored int
}

// Parse reads a webhook body: every entry and, in each, every messaging
// and standby event. A body whose object is not "page" gives an empty
// Batch with its Object and no error. An event without a sender, or that
// is itself malformed, is skipped and listed in Batch.Skipped. The error,
// wrapping ErrMalformed, is for a body that is not a webhook body: empty,
// not a JSON object, truncated, of wrong types in its envelope, larger
// than MaxBody or nested deeper than MaxDepth.
func Parse(body []byte) (Batch, error) {
	switch {
	case len(body) > MaxBody:
		return Batch{}, fmt.Errorf("messenger: body of %d bytes, over %d: %w", len(body), MaxBody, ErrMalformed)
	case tooDeep(body, MaxDepth):
		return Batch{}, fmt.Errorf("messenger: body nests deeper than %d levels: %w", MaxDepth, ErrMalformed)
	}
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 {
		return Batch{}, fmt.Errorf("messenger: empty body: %w", ErrMalformed)
	}
	if trimmed[0] != '{' {
		return Batch{}, fmt.Errorf("messenger: body is not a JSON object: %w", ErrMalformed)
	}
	var top struct {
		Object json.RawMessage `json:"object"`
		Entry  json.RawMessage `json:"entry"`
	}
	if err := json.Unmarshal(body, &top); err != nil {
		return Batch{}, fmt.Errorf("messenger: %s: %w", jsonProblem(err), ErrMalformed)
	}
	var b Batch
	if len(top.Object) == 0 || string(top.Object) == "null" {
		return Batch{}, fmt.Errorf("messenger: body has no object: %w", ErrMalformed)
	}
	if err := json.Unmarshal(top.Object, &b.Object); err != nil {
		return Batch{}, fmt.Errorf("messenger: object is not a string: %w", ErrMalformed)
	}
	if b.Object != "page" {
		return b, nil
	}
	var entries []wireEntry
	if len(top.Entry) > 0 {
		if err := json.Unmarshal(top.Entry, &entries); err != nil {
			return Batch{}, fmt.Errorf("messenger: entry: %s: %w", jsonProblem(err), ErrMalformed)
		}
	}
	for i, e := range entries {
		for j, raw := range e.Messaging {
			b.event(i, j, false, e, raw)
		}
		for j, raw := range e.Standby {
			b.event(i, j, true, e, raw)
		}
	}
	return b, nil
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
		if typ.Field != "" {
			return fmt.Sprintf("field %s: expected %s, got %s", typ.Field, typ.Type, typ.Value)
		}
		return fmt.Sprintf("expected %s, got %s", typ.Type, typ.Value)
	case errors.Is(err, errFlex):
		return err.Error()
	}
	return "invalid JSON: the body ends too early"
}

// tooDeep reports whether objects and arrays in b nest deeper than limit,
// without decoding it.
func tooDeep(b []byte, limit int) bool {
	depth := 0
	inString, escaped := false, false
	for _, c := range b {
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '{', '[':
			depth++
			if depth > limit {
				return true
			}
		case '}', ']':
			depth--
		}
	}
	return false
}

// event maps one messaging or standby event into b.
func (b *Batch) event(entry, index int, standby bool, e wireEntry, raw json.RawMessage) {
	skip := func(reason string) {
		b.Skipped = append(b.Skipped, Skip{Entry: entry, Index: index, Standby: standby, Reason: reason})
	}
	var ev wireEvent
	if err := json.Unmarshal(raw, &ev); err != nil {
		skip("malformed event: " + jsonProblem(err))
		return
	}
	ts := ev.Timestamp
	if ts == 0 {
		ts = e.Time
	}
	at := ts.time()
	page := string(e.ID)

	// An echo is the Page's own message: the shopper is the recipient.
	if ev.Message != nil && bool(ev.Message.IsEcho) {
		psid := ev.Recipient.id()
		if psid == "" {
			skip("echo without a recipient id")
			return
		}
		m := ev.Message
		kind := KindEcho
		if app := string(m.AppID); app == PageInboxAppID || app == pageInboxTypo {
			kind = KindHumanReply
		}
		b.Events = append(b.Events, Event{
			Kind: kind, ID: eventID(m.MID, kind, psid, ts), Page: page, PSID: psid, At: at,
			Standby: standby, AppID: string(m.AppID), Metadata: m.Metadata,
		})
		return
	}

	known := ev.Message != nil || ev.Postback != nil || ev.Referral != nil || ev.Delivery != nil ||
		ev.Read != nil || ev.Optin != nil || ev.Pass != nil || ev.Take != nil || ev.Request != nil
	if !known {
		b.Ignored++
		return
	}
	psid := ev.Sender.id()
	if psid == "" {
		if ev.Sender != nil && ev.Sender.UserRef != "" {
			skip("sender has a user_ref, not a page-scoped id")
		} else {
			skip("event without a sender id")
		}
		return
	}
	base := Event{Page: page, PSID: psid, At: at, Standby: standby}

	switch {
	case ev.Message != nil || ev.Postback != nil || ev.Referral != nil:
		m, reason := message(psid, ts, ev)
		switch {
		case reason == reasonIgnore:
			b.Ignored++
		case reason != "":
			skip(reason)
		case standby:
			base.Kind, base.ID, base.Message = KindMessage, m.ID, &m
			b.Events = append(b.Events, base)
		default:
			b.Messages = append(b.Messages, m)
		}
	case ev.Delivery != nil:
		base.Kind, base.MIDs = KindDelivery, ev.Delivery.MIDs
		base.Watermark = ev.Delivery.Watermark.time()
		base.ID = fmt.Sprintf("fb:%s:%s:%d:%d", KindDelivery, psid, ts, ev.Delivery.Watermark)
		b.Events = append(b.Events, base)
	case ev.Read != nil:
		base.Kind, base.Watermark = KindRead, ev.Read.Watermark.time()
		base.ID = fmt.Sprintf("fb:%s:%s:%d:%d", KindRead, psid, ts, ev.Read.Watermark)
		b.Events = append(b.Events, base)
	case ev.Optin != nil:
		o := ev.Optin
		base.Kind, base.ID = KindOptin, eventID("", KindOptin, psid, ts)
		base.Optin = &Optin{
			Type: o.Type, Payload: o.Payload, Token: o.Token, Status: optinStatus(o.Status),
			TokenStatus: o.TokenStatus, Timezone: o.Timezone, Title: o.Title,
			TokenExpiry: o.TokenExpiry.time(), Ref: o.Ref,
		}
		b.Events = append(b.Events, base)
	case ev.Pass != nil || ev.Take != nil:
		h, how := ev.Pass, "pass"
		if h == nil {
			h, how = ev.Take, "take"
		}
		base.Kind, base.ID, base.Handover = KindThreadOwner, eventID("", KindThreadOwner, psid, ts)+":"+how, how
		base.AppID, base.PreviousOwner, base.Metadata = string(h.NewOwner), string(h.PreviousOwner), h.Metadata
		b.Events = append(b.Events, base)
	case ev.Request != nil:
		base.Kind, base.ID = KindThreadRequest, eventID("", KindThreadRequest, psid, ts)
		base.AppID, base.Metadata = string(ev.Request.Requested), ev.Request.Metadata
		b.Events = append(b.Events, base)
	}
}

// reasonIgnore is message's reason for an event with nothing to handle.
const reasonIgnore = "ignore"

// message maps a message, postback or referral event. reason is
// reasonIgnore for a message with nothing in it, or why the event is
// skipped.
func message(psid string, ts flexTime, ev wireEvent) (m bot.Message, reason string) {
	m = bot.Message{Channel: bot.Messenger, Conversation: psid, Sender: psid, Seq: int64(ts), At: ts.time()}
	switch {
	case ev.Message != nil:
		wm := ev.Message
		if wm.MID == "" {
			return m, "message without a mid"
		}
		m.ID, m.Text = "fb:"+wm.MID, wm.Text
		switch {
		case wm.QuickReply != nil && wm.QuickReply.Payload != "":
			m.Payload = wm.QuickReply.Payload
		case m.Text != "":
		case wm.StickerID != "":
			m.Payload = PayloadAttachment + "sticker"
		case len(wm.Attachments) > 0:
			t := wm.Attachments[0].Type
			if t == "" {
				t = "unknown"
			}
			m.Payload = PayloadAttachment + t
		default:
			return m, reasonIgnore
		}
	case ev.Postback != nil:
		p := ev.Postback
		m.ID = "fb:" + p.MID
		if p.MID == "" {
			m.ID = localID("postback", ts)
		}
		m.Text, m.Payload = p.Title, p.Payload
		if p.Referral != nil && p.Referral.Ref != "" {
			m.Payload = PayloadStart + p.Referral.Ref
		}
		if m.Payload == "" && m.Text == "" {
			return m, reasonIgnore
		}
	default: // a referral in an existing thread (m.me link, ad)
		if ev.Referral.Ref == "" {
			return m, reasonIgnore
		}
		m.ID = localID("referral", ts)
		m.Payload = PayloadStart + ev.Referral.Ref
	}
	return m, ""
}

// localID is the message id of a postback without a mid (before Graph
// v11) or of a referral: "fb:<kind>:<ms>". The dispatcher dedupes message
// ids per conversation, so the time is enough; and the id goes into the
// consent ledger with the decision it carries (a link code comes as a
// referral), which outlives an erasure, so it must not hold the PSID.
func localID(kind string, ts flexTime) string {
	return fmt.Sprintf("fb:%s:%d", kind, ts)
}

// eventID is "fb:<mid>", or for an event without one "fb:<kind>:<psid>:<ms>".
func eventID(mid string, kind Kind, psid string, ts flexTime) string {
	if mid != "" {
		return "fb:" + mid
	}
	return fmt.Sprintf("fb:%s:%s:%d", kind, psid, ts)
}

// optinStatus maps notification_messages_status, in either spelling.
func optinStatus(s string) string {
	switch s {
	case "STOP_NOTIFICATIONS", "STOP NOTIFICATIONS":
		return "stop"
	case "RESUME_NOTIFICATIONS", "RESUME NOTIFICATIONS":
		return "resume"
	}
	return ""
}

// Wire shapes. Unknown fields are ignored: Meta adds them.

type wireEntry struct {
	ID        flexString        `json:"id"`
	Time      flexTime          `json:"time"`
	Messaging []json.RawMessage `json:"messaging"`
	Standby   []json.RawMessage `json:"standby"`
}

type wireEvent struct {
	Sender    *party        `json:"sender"`
	Recipient *party        `json:"recipient"`
	Timestamp flexTime      `json:"timestamp"`
	Message   *wireMessage  `json:"message"`
	Postback  *wirePostback `json:"postback"`
	Referral  *wireReferral `json:"referral"`
	Delivery  *struct {
		MIDs      []string `json:"mids"`
		Watermark flexTime `json:"watermark"`
	} `json:"delivery"`
	Read *struct {
		Watermark flexTime `json:"watermark"`
	} `json:"read"`
	Optin   *wireOptin    `json:"optin"`
	Pass    *wireHandover `json:"pass_thread_control"`
	Take    *wireHandover `json:"take_thread_control"`
	Request *wireHandover `json:"request_thread_control"`
}

type party struct {
	ID      flexString `json:"id"`
	UserRef flexString `json:"user_ref"`
}

func (p *party) id() string {
	if p == nil {
		return ""
	}
	return string(p.ID)
}

type wireMessage struct {
	MID        string     `json:"mid"`
	Text       string     `json:"text"`
	IsEcho     flexBool   `json:"is_echo"`
	AppID      flexString `json:"app_id"`
	Metadata   string     `json:"metadata"`
	StickerID  flexString `json:"sticker_id"`
	QuickReply *struct {
		Payload string `json:"payload"`
	} `json:"quick_reply"`
	Attachments []struct {
		Type string `json:"type"`
	} `json:"attachments"`
}

type wirePostback struct {
	MID      string        `json:"mid"`
	Title    string        `json:"title"`
	Payload  string        `json:"payload"`
	Referral *wireReferral `json:"referral"`
}

type wireReferral struct {
	Ref    string `json:"ref"`
	Source string `json:"source"`
	Type   string `json:"type"`
}

type wireOptin struct {
	Type        string   `json:"type"`
	Payload     string   `json:"payload"`
	Ref         string   `json:"ref"`
	Token       string   `json:"notification_messages_token"`
	Status      string   `json:"notification_messages_status"`
	TokenStatus string   `json:"user_token_status"`
	Timezone    string   `json:"notification_messages_timezone"`
	Title       string   `json:"title"`
	TokenExpiry flexTime `json:"token_expiry_timestamp"`
}

type wireHandover struct {
	PreviousOwner flexString `json:"previous_owner_app_id"`
	NewOwner      flexString `json:"new_owner_app_id"`
	Requested     flexString `json:"requested_owner_app_id"`
	Metadata      string     `json:"metadata"`
}

// errFlex is wrapped by the flexible types' decoding errors.
var errFlex = errors.New("wrong type")

// flexString is an id sent as a JSON string or a number.
type flexString string

func (s *flexString) UnmarshalJSON(b []byte) error {
	switch {
	case string(b) == "null":
		*s = ""
	case len(b) > 0 && b[0] == '"':
		var v string
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*s = flexString(v)
	case len(b) > 0 && (b[0] == '-' || b[0] >= '0' && b[0] <= '9'):
		*s = flexString(b)
	default:
		return fmt.Errorf("id is neither a string nor a number: %w", errFlex)
	}
	return nil
}

// flexTime is an epoch time in milliseconds, sent as a number or a string
// of digits. Values below 1e11 are read as seconds (the newer reference
// pages print second-precision strings).
type flexTime int64

func (t *flexTime) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*t = 0
		return nil
	}
	s := string(b)
	if len(b) > 0 && b[0] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		if s == "" {
			*t = 0
			return nil
		}
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || !(v >= 0 && v <= 1e15) { // also refuses NaN
		return fmt.Errorf("timestamp is not an epoch time: %w", errFlex)
	}
	if v < 1e11 {
		v *= 1000
	}
	*t = flexTime(v)
	return nil
}

func (t flexTime) time() time.Time {
	if t <= 0 {
		return time.Time{}
	}
	return time.UnixMilli(int64(t)).UTC()
}

// flexBool is a boolean sent as true/false or "true"/"false".
type flexBool bool

func (f *flexBool) UnmarshalJSON(b []byte) error {
	switch string(b) {
	case "true", `"true"`:
		*f = true
	case "false", `"false"`, "null", `""`:
		*f = false
	default:
		return fmt.Errorf("boolean is neither true nor false: %w", errFlex)
	}
	return nil
}
