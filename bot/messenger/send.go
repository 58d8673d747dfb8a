package messenger

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/bottega-shop/bottega/bot"
)

// DefaultGraphURL is the Graph API base the Sender posts to unless told
// otherwise (MESSENGER_GRAPH_URL).
const DefaultGraphURL = "https://graph.facebook.com/v25.0"

// Send API limits the renderer keeps to. Lengths are in UTF-16 units.
const (
	// MaxText bounds a text message: Meta wants it under 2,000 characters.
	MaxText = 1999
	// MaxButtonText bounds the text of a button template.
	MaxButtonText = 640
	// MaxQuickReplies is the most quick replies under one message.
	MaxQuickReplies = 13
	// MaxQuickReplyTitle bounds a quick reply's and a button's title.
	MaxQuickReplyTitle = 20
	// MaxPayload bounds a quick reply's or postback's payload; longer ones
	// are dropped, since a cut payload would route wrong.
	MaxPayload = 1000
	// MaxCards is the most elements in a generic-template carousel.
	MaxCards = 10
	// MaxButtons is the most buttons on a card or in a button template.
	MaxButtons = 3
	// MaxCardTitle bounds a card's title and subtitle.
	MaxCardTitle = 80
)

// Messaging types of the Send API.
const (
	// MessagingResponse answers the shopper inside the 24-hour window.
	MessagingResponse = "RESPONSE"
	// MessagingUpdate is a non-reply message inside the window.
	MessagingUpdate = "UPDATE"
)

// Errors the Sender returns, inside an *APIError; test with errors.Is.
var (
	// ErrOutsideWindow means the shopper has not written within 24 hours
	// (Graph 10/2018278, or found before sending): hold the message until
	// they write again; do not retry.
	ErrOutsideWindow = errors.New("messenger: outside the 24-hour messaging window")
	// ErrUnreachable means the shopper blocked the Page or is gone (Graph
	// 551/1545041): mark them unreachable; do not retry.
	ErrUnreachable = errors.New("messenger: the shopper is not reachable")
	// ErrThreadOwned means another app (a person in the Page Inbox, say)
	// owns the thread (Graph 10/2018300, or known before sending): the bot
	// stays silent; drop the message.
	ErrThreadOwned = errors.New("messenger: another app owns the thread")
)

// APIError is a Graph API error response. Error never includes the access
// token or the request.
type APIError struct {
	// Status is the HTTP status.
	Status int
	// Code, Subcode, Type, Message and TraceID are the Graph error's
	// code, error_subcode, type, message and fbtrace_id.
	Code, Subcode int
	Type, Message string
	TraceID       string
	// kind is the sentinel the error maps to, if any.
	kind error
	// temporary says a retry may succeed.
	temporary bool
}

// Error describes the Graph error: codes, status and Graph's message.
func (e *APIError) Error() string {
	msg := e.Message
	if len(msg) > 200 {
		msg = msg[:200] + "…"
	}
	return fmt.Sprintf("graph error %d/%d (status %d): %s", e.Code, e.Subcode, e.Status, strings.ToValidUTF8(msg, "?"))
}

// Unwrap returns the sentinel the error maps to: ErrOutsideWindow,
// ErrUnreachable, ErrThreadOwned, or nil.
func (e *APIError) Unwrap() error { return e.kind }

// Temporary reports whether a retry may succeed (a server error or a
// temporary send failure; rate limits come as *RateLimitError).
func (e *APIError) Temporary() bool { return e.temporary }

// RateLimitError means Graph refused the call for a rate limit (codes 4,
// 17, 32, 613): back off and retry.
type RateLimitError struct {
	// RetryAfter is Graph's hint (Retry-After, or the business-use-case
	// header's estimated time to regain access); zero when it gave none.
	RetryAfter time.Duration
	Err        *APIError
}

// Error describes the rate limit and Graph's hint.
func (e *RateLimitError) Error() string {
	if e.RetryAfter > 0 {
		return fmt.Sprintf("rate limited, retry after %s: %v", e.RetryAfter, e.Err)
	}
	return "rate limited: " + e.Err.Error()
}

// Unwrap returns the Graph error.
func (e *RateLimitError) Unwrap() error { return e.Err }

// transportError is a failure to get an answer from Graph at all.
type transportError struct{ err error }

func (e *transportError) Error() string { return e.err.Error() }
func (e *transportError) Unwrap() error { return e.err }

// Retryable reports whether a Sender error may go away on a retry: rate
// limits, Graph server errors, temporary send failures and network
// failures. Outside-window, unreachable, thread-owned and other 4xx errors
// are permanent.
func Retryable(err error) bool {
	var (
		rl *RateLimitError
		ae *APIError
		te *transportError
	)
	switch {
	case errors.As(err, &rl), errors.As(err, &te):
		return true
	case errors.As(err, &ae):
		return ae.temporary
	}
	return false
}

// Sender delivers replies through the Graph Send API with a Page access
// token. It is safe for concurrent use.
type Sender struct {
	endpoint string
	token    string
	client   *http.Client
}

// NewSender returns a Sender posting to graphURL (DefaultGraphURL if
// empty; a version path such as /v25.0 included) + "/me/messages" with
// pageToken, which goes in the Authorization header only. A nil client
// means one with a 15-second timeout.
func NewSender(graphURL, pageToken string, client *http.Client) *Sender {
	if graphURL == "" {
		graphURL = DefaultGraphURL
	}
	if client == nil {
		client = &http.Client{Timeout: 15 * time.Second}
	}
	return &Sender{endpoint: strings.TrimSuffix(graphURL, "/") + "/me/messages", token: pageToken, client: client}
}

// Send delivers r to the shopper psid as a RESPONSE, in as many messages as
// Render makes of it, stopping at the first failure. The error says which
// part failed; see SendMessage for what it wraps.
func (s *Sender) Send(ctx context.Context, psid string, r bot.Reply) error {
	parts := Render(r)
	for i, p := range parts {
		if _, err := s.SendMessage(ctx, psid, MessagingResponse, p); err != nil {
			return fmt.Errorf("messenger: send part %d of %d: %w", i+1, len(parts), err)
		}
	}
	return nil
}

// SendMessage posts one Send API message object (one of Render's parts)
// to psid with messagingType and returns the new message's mid. Errors:
// *RateLimitError, *APIError (wrapping ErrOutsideWindow, ErrUnreachable or
// ErrThreadOwned where they apply), or a network failure; Retryable sorts
// them. It waits for the rate limits in ctx first (bot.Pace).
func (s *Sender) SendMessage(ctx context.Context, psid, messagingType string, message json.RawMessage) (mid string, err error) {
	if err := bot.Pace(ctx); err != nil {
		return "", &transportError{fmt.Errorf("waiting for the rate limits: %w", err)}
	}
	body, err := marshal(sendRequest{
		Recipient:     recipient{ID: psid},
		MessagingType: messagingType,
		Message:       message,
	})
	if err != nil {
		return "", fmt.Errorf("encoding the request: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.endpoint, bytes.NewReader(body))
	if err != nil {
		return "", fmt.Errorf("building the request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+s.token)
	resp, err := s.client.Do(req)
	if err != nil {
		return "", &transportError{fmt.Errorf("posting to graph: %w", redactURLError(err))}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", &transportError{fmt.Errorf("reading graph's answer: %w", err)}
	}
	if resp.StatusCode/100 == 2 {
		var ok struct {
			MessageID string `json:"message_id"`
		}
		_ = json.Unmarshal(b, &ok) // a 2xx is a success even if unreadable
		return ok.MessageID, nil
	}
	return "", graphError(resp, b)
}

// redactURLError drops the URL from a *url.Error's text, in case a
// configured Graph URL carries credentials.
func redactURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) && ue.Err != nil {
		return ue.Err
	}
	return err
}

// graphError maps a non-2xx answer to an error.
func graphError(resp *http.Response, body []byte) error {
	var wire struct {
		Error struct {
			Message string `json:"message"`
			Type    string `json:"type"`
			Code    int    `json:"code"`
			Subcode int    `json:"error_subcode"`
			TraceID string `json:"fbtrace_id"`
		} `json:"error"`
	}
	e := &APIError{Status: resp.StatusCode}
	if err := json.Unmarshal(body, &wire); err != nil {
		e.Message = "unreadable error body"
	} else {
		w := wire.Error
		e.Code, e.Subcode, e.Type, e.Message, e.TraceID = w.Code, w.Subcode, w.Type, w.Message, w.TraceID
	}
	switch {
	case e.Code == 4 && e.Subcode == 2018354: // marketing message over its frequency: skip
	case e.Code == 4 || e.Code == 17 || e.Code == 32 || e.Code == 613 || resp.StatusCode == http.StatusTooManyRequests:
		e.temporary = true
		return &RateLimitError{RetryAfter: retryAfter(resp.Header), Err: e}
	case e.Code == 551 || e.Subcode == 1545041:
		e.kind = ErrUnreachable
	case e.Code == 10 && e.Subcode == 2018278:
		e.kind = ErrOutsideWindow
	case e.Code == 10 && e.Subcode == 2018300:
		e.kind = ErrThreadOwned
	case e.Code == 1200 || e.Code == 2 || resp.StatusCode >= 500:
		e.temporary = true
	}
	return e
}

// retryAfter reads Graph's hint for when to try again: a Retry-After in
// seconds, or the largest estimated_time_to_regain_access (minutes) in
// X-Business-Use-Case-Usage.
func retryAfter(h http.Header) time.Duration {
	if s, err := strconv.Atoi(strings.TrimSpace(h.Get("Retry-After"))); err == nil && s > 0 {
		return time.Duration(s) * time.Second
	}
	var usage map[string][]struct {
		Minutes int `json:"estimated_time_to_regain_access"`
	}
	if json.Unmarshal([]byte(h.Get("X-Business-Use-Case-Usage")), &usage) != nil {
		return 0
	}
	longest := 0
	for _, us := range usage {
		for _, u := range us {
			longest = max(longest, u.Minutes)
		}
	}
	return time.Duration(longest) * time.Minute
}

// Render turns a reply into Send API message objects, in order: the text
// (split under MaxText on grapheme boundaries; with Buttons, its last piece
// becomes a button template's text), then the cards as one generic-template
// carousel, with the quick replies under the last message. Titles are cut
// on graphemes to Meta's limits; past MaxQuickReplies, MaxCards and
// MaxButtons the rest is left out, as are quick replies and buttons whose
// payload is empty or longer than MaxPayload. An empty reply renders as
// nothing.
func Render(r bot.Reply) []json.RawMessage {
	var parts []outMessage
	texts := splitText(r.Text, MaxText)
	buttons := renderButtons(r.Buttons)
	if len(buttons) > 0 {
		var last string
		if len(texts) > 0 {
			last, texts = texts[len(texts)-1], texts[:len(texts)-1]
			if units(last) > MaxButtonText {
				more := splitText(last, MaxButtonText)
				last = more[len(more)-1]
				texts = append(texts, more[:len(more)-1]...)
			}
		} else {
			titles := make([]string, len(buttons))
			for i, b := range buttons {
				titles[i] = b.Title
			}
			last = truncate(strings.Join(titles, " · "), MaxButtonText)
		}
		for _, t := range texts {
			parts = append(parts, outMessage{Text: t})
		}
		parts = append(parts, outMessage{Attachment: &attachment{Type: "template", Payload: template{
			TemplateType: "button", Text: last, Buttons: buttons,
		}}})
	} else {
		for _, t := range texts {
			parts = append(parts, outMessage{Text: t})
		}
	}
	if els := renderCards(r.Cards); len(els) > 0 {
		parts = append(parts, outMessage{Attachment: &attachment{Type: "template", Payload: template{
			TemplateType: "generic", Elements: els,
		}}})
	}
	if qrs := renderQuickReplies(r.QuickReplies); len(qrs) > 0 {
		if len(parts) == 0 { // quick replies need a message to sit under
			titles := make([]string, len(qrs))
			for i, q := range qrs {
				titles[i] = q.Title
			}
			parts = append(parts, outMessage{Text: truncate(strings.Join(titles, " · "), MaxText)})
		}
		parts[len(parts)-1].QuickReplies = qrs
	}
	out := make([]json.RawMessage, len(parts))
	for i, p := range parts {
		b, err := marshal(p)
		if err != nil { // cannot happen: plain strings and structs
			panic(fmt.Sprintf("messenger: encoding a message: %v", err))
		}
		out[i] = b
	}
	return out
}

func renderButtons(bs []bot.Button) []button {
	var out []button
	for _, b := range bs {
		if len(out) == MaxButtons {
			break
		}
		if x, ok := renderButton(b); ok {
			out = append(out, x)
		}
	}
	return out
}

func renderButton(b bot.Button) (button, bool) {
	title := truncate(b.Title, MaxQuickReplyTitle)
	switch {
	case b.URL != "":
		if title == "" {
			title = "Link"
		}
		return button{Type: "web_url", Title: title, URL: b.URL}, true
	case b.Payload != "" && units(b.Payload) <= MaxPayload:
		if title == "" {
			title = truncate(b.Payload, MaxQuickReplyTitle)
		}
		return button{Type: "postback", Title: title, Payload: b.Payload}, true
	}
	return button{}, false
}

func renderCards(cs []bot.Card) []element {
	var out []element
	for _, c := range cs {
		if len(out) == MaxCards {
			break
		}
		e := element{
			Title:    truncate(c.Title, MaxCardTitle),
			ImageURL: c.ImageURL,
			Buttons:  renderButtons(c.Buttons),
		}
		if e.Title == "" {
			e.Title = "—"
		}
		var sub []string
		for _, s := range []string{c.Price, c.Subtitle} {
			if s = strings.TrimSpace(s); s != "" {
				sub = append(sub, s)
			}
		}
		e.Subtitle = truncate(strings.Join(sub, " · "), MaxCardTitle)
		if c.URL != "" {
			e.DefaultAction = &button{Type: "web_url", URL: c.URL}
		}
		out = append(out, e)
	}
	return out
}

func renderQuickReplies(qs []bot.QuickReply) []quickReply {
	var out []quickReply
	for _, q := range qs {
		if len(out) == MaxQuickReplies {
			break
		}
		if q.Payload == "" || units(q.Payload) > MaxPayload {
			continue
		}
		title := truncate(strings.TrimSpace(q.Title), MaxQuickReplyTitle)
		if title == "" {
			title = truncate(q.Payload, MaxQuickReplyTitle)
		}
		out = append(out, quickReply{ContentType: "text", Title: title, Payload: q.Payload})
	}
	return out
}

// marshal encodes v without escaping <, > and & (Graph takes UTF-8 JSON).
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// Send API wire shapes.

type sendRequest struct {
	Recipient     recipient       `json:"recipient"`
	MessagingType string          `json:"messaging_type"`
	Message       json.RawMessage `json:"message"`
}

type recipient struct {
	ID string `json:"id"`
}

type outMessage struct {
	Text         string       `json:"text,omitempty"`
	Attachment   *attachment  `json:"attachment,omitempty"`
	QuickReplies []quickReply `json:"quick_replies,omitempty"`
}

type attachment struct {
	Type    string   `json:"type"`
	Payload template `json:"payload"`
}

type template struct {
	TemplateType string    `json:"template_type"`
	Text         string    `json:"text,omitempty"`
	Elements     []element `json:"elements,omitempty"`
	Buttons      []button  `json:"buttons,omitempty"`
}

type element struct {
	Title         string   `json:"title"`
	Subtitle      string   `json:"subtitle,omitempty"`
	ImageURL      string   `json:"image_url,omitempty"`
	DefaultAction *button  `json:"default_action,omitempty"`
	Buttons       []button `json:"buttons,omitempty"`
}

type button struct {
	Type    string `json:"type"`
	Title   string `json:"title,omitempty"`
	URL     string `json:"url,omitempty"`
	Payload string `json:"payload,omitempty"`
}

type quickReply struct {
	ContentType string `json:"content_type"`
	Title       string `json:"title"`
	Payload     string `json:"payload"`
}
