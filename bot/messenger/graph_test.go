package messenger

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
)

// fakeGraph is an httptest Graph API that speaks the Send API's documented
// format: JSON bodies POSTed to /me/messages with a Page token, answered
// {"recipient_id","message_id"} or a Graph error object. It refuses bodies
// that break the documented limits (as Graph does, with code 100), records
// every call, and answers injected failures first.
type fakeGraph struct {
	t     *testing.T
	srv   *httptest.Server
	token string

	mu       sync.Mutex
	calls    []graphCall
	failures []graphFailure
	n        int
}

// graphCall is one recorded request.
type graphCall struct {
	Method, Path, Query, Auth, ContentType string
	Body                                   []byte
}

// graphFailure is an injected error answer.
type graphFailure struct {
	status        int
	code, subcode int
	message       string
	header        http.Header
}

func newFakeGraph(t *testing.T, token string) *fakeGraph {
	t.Helper()
	f := &fakeGraph{t: t, token: token}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeGraph) URL() string { return f.srv.URL }

// fail queues the answer to the next call not yet given one: a Graph
// error, or a normal answer for a zero graphFailure.
func (f *fakeGraph) fail(g graphFailure) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failures = append(f.failures, g)
}

// Calls returns the calls so far.
func (f *fakeGraph) Calls() []graphCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// Bodies returns the JSON bodies of the calls so far.
func (f *fakeGraph) Bodies() []map[string]any {
	var out []map[string]any
	for _, c := range f.Calls() {
		var v map[string]any
		if err := json.Unmarshal(c.Body, &v); err != nil {
			f.t.Errorf("fake graph: body is not JSON: %v", err)
		}
		out = append(out, v)
	}
	return out
}

func (f *fakeGraph) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		f.t.Errorf("fake graph: reading the body: %v", err)
	}
	f.mu.Lock()
	f.calls = append(f.calls, graphCall{
		Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery,
		Auth: r.Header.Get("Authorization"), ContentType: r.Header.Get("Content-Type"), Body: body,
	})
	var fail *graphFailure
	if len(f.failures) > 0 {
		fail = &f.failures[0]
		f.failures = f.failures[1:]
	}
	f.n++
	n := f.n
	f.mu.Unlock()

	switch {
	case r.Method != http.MethodPost || r.URL.Path != "/me/messages":
		graphErrorAnswer(w, http.StatusNotFound, 100, 0, "Unsupported request", nil)
		return
	case r.Header.Get("Authorization") != "Bearer "+f.token:
		graphErrorAnswer(w, http.StatusBadRequest, 190, 0, "Invalid OAuth access token", nil)
		return
	case fail != nil && fail.status != 0:
		graphErrorAnswer(w, fail.status, fail.code, fail.subcode, fail.message, fail.header)
		return
	}
	var req struct {
		Recipient struct {
			ID string `json:"id"`
		} `json:"recipient"`
		MessagingType string          `json:"messaging_type"`
		Message       json.RawMessage `json:"message"`
	}
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		graphErrorAnswer(w, http.StatusBadRequest, 100, 0, "(#100) expected a JSON body", nil)
		return
	}
	if err := json.Unmarshal(body, &req); err != nil {
		graphErrorAnswer(w, http.StatusBadRequest, 100, 0, "(#100) malformed JSON", nil)
		return
	}
	if problem := checkSend(req.Recipient.ID, req.MessagingType, req.Message); problem != "" {
		f.t.Logf("fake graph refused a body: %s", problem)
		graphErrorAnswer(w, http.StatusBadRequest, 100, 0, "(#100) "+problem, nil)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"recipient_id":%q,"message_id":"m_sent_%d"}`, req.Recipient.ID, n)
}

func graphErrorAnswer(w http.ResponseWriter, status, code, subcode int, msg string, h http.Header) {
	for k, vs := range h {
		w.Header()[k] = vs
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	e := map[string]any{"message": msg, "type": "OAuthException", "code": code, "fbtrace_id": "AbCdEf"}
	if subcode != 0 {
		e["error_subcode"] = subcode
	}
	b, _ := json.Marshal(map[string]any{"error": e})
	w.Write(b)
}

// checkSend returns what breaks the Send API's documented rules, or "".
func checkSend(psid, messagingType string, raw json.RawMessage) string {
	var m struct {
		Text       *string `json:"text"`
		Attachment *struct {
			Type    string `json:"type"`
			Payload struct {
				TemplateType string `json:"template_type"`
				Text         string `json:"text"`
				Elements     []struct {
					Title         string       `json:"title"`
					Subtitle      string       `json:"subtitle"`
					DefaultAction *wireButton  `json:"default_action"`
					Buttons       []wireButton `json:"buttons"`
				} `json:"elements"`
				Buttons []wireButton `json:"buttons"`
			} `json:"payload"`
		} `json:"attachment"`
		QuickReplies []struct {
			ContentType string `json:"content_type"`
			Title       string `json:"title"`
			Payload     string `json:"payload"`
		} `json:"quick_replies"`
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		return "message is not an object"
	}
	switch {
	case psid == "":
		return "recipient id missing"
	case messagingType != "RESPONSE" && messagingType != "UPDATE" && messagingType != "MESSAGE_TAG":
		return "bad messaging_type"
	case (m.Text == nil) == (m.Attachment == nil):
		return "message needs text or an attachment, not both"
	case m.Text != nil && (*m.Text == "" || units(*m.Text) >= 2000):
		return "text empty or not under 2000 characters"
	case len(m.QuickReplies) > 13:
		return "more than 13 quick replies"
	}
	for _, q := range m.QuickReplies {
		if q.ContentType != "text" || q.Title == "" || units(q.Title) > 20 || q.Payload == "" || units(q.Payload) > 1000 {
			return "bad quick reply"
		}
	}
	if a := m.Attachment; a != nil {
		p := a.Payload
		if a.Type != "template" {
			return "unexpected attachment type"
		}
		switch p.TemplateType {
		case "generic":
			if len(p.Elements) == 0 || len(p.Elements) > 10 {
				return "generic template needs 1 to 10 elements"
			}
			for _, e := range p.Elements {
				if e.Title == "" || units(e.Title) > 80 || units(e.Subtitle) > 80 || len(e.Buttons) > 3 {
					return "bad element"
				}
				if e.DefaultAction != nil && (e.DefaultAction.Type != "web_url" || e.DefaultAction.Title != "") {
					return "bad default_action"
				}
				for _, b := range e.Buttons {
					if msg := b.check(); msg != "" {
						return msg
					}
				}
			}
		case "button":
			if p.Text == "" || units(p.Text) > 640 || len(p.Buttons) == 0 || len(p.Buttons) > 3 {
				return "bad button template"
			}
			for _, b := range p.Buttons {
				if msg := b.check(); msg != "" {
					return msg
				}
			}
		default:
			return "unexpected template type"
		}
	}
	return ""
}

type wireButton struct {
	Type    string `json:"type"`
	Title   string `json:"title"`
	URL     string `json:"url"`
	Payload string `json:"payload"`
}

func (b wireButton) check() string {
	switch {
	case b.Title == "" || units(b.Title) > 20:
		return "bad button title"
	case b.Type == "web_url" && b.URL != "":
	case b.Type == "postback" && b.Payload != "" && units(b.Payload) <= 1000:
	default:
		return "bad button"
	}
	return ""
}
