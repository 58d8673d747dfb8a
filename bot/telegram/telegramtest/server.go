// Package telegramtest is a fake Telegram Bot API for tests: an httptest
// server that speaks the documented wire format — POST (or GET)
// /bot<token>/<method> with multipart/form-data, URL-encoded or JSON
// parameters, answered with {"ok":true,"result":…} or
// {"ok":false,"error_code":…,"description":…,"parameters":{…}} — records
// every call, refuses what the real API refuses (empty or over-long texts
// and captions, inline buttons without exactly one action, callback_data
// over 64 bytes, bad URLs) and answers with scripted failures: 429 with
// retry_after, 403 blocked, 5xx, or a body that is not the API's. With
// EnforceFlood it also applies flood control as Telegram does, answering
// 429 with retry_after to sends over the limits.
package telegramtest

import (
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf16"
)

// Call is one request the server received.
type Call struct {
	Method string
	// Params are the request's parameters as sent: form fields, or the
	// JSON body's members (objects re-encoded as JSON).
	Params map[string]string
	// Code is the error_code answered, 0 for success.
	Code int
	// At is when the server took the call up.
	At time.Time
}

// Failure is a scripted error answer.
type Failure struct {
	// Code is the error_code (and the HTTP status).
	Code        int
	Description string
	// RetryAfter, when > 0, is sent as parameters.retry_after.
	RetryAfter int
	// RawBody, when set, is sent as is instead of the API's JSON (a
	// proxy's error page, say), with Code as the HTTP status.
	RawBody string
}

// TooManyRequests is Telegram's flood control answer.
func TooManyRequests(retryAfter int) Failure {
	return Failure{Code: 429, Description: fmt.Sprintf("Too Many Requests: retry after %d", retryAfter), RetryAfter: retryAfter}
}

// Blocked is the answer to a send to a shopper who blocked the bot.
func Blocked() Failure {
	return Failure{Code: 403, Description: "Forbidden: bot was blocked by the user"}
}

// Deactivated is the answer to a send to a deleted account.
func Deactivated() Failure {
	return Failure{Code: 403, Description: "Forbidden: user is deactivated"}
}

// ChatNotFound is a 400 for an unknown chat.
func ChatNotFound() Failure {
	return Failure{Code: 400, Description: "Bad Request: chat not found"}
}

// InternalError is a 500 in the API's own format.
func InternalError() Failure {
	return Failure{Code: 500, Description: "Internal Server Error"}
}

// BadGateway is a proxy's 502 page, not the API's JSON.
func BadGateway() Failure {
	return Failure{Code: 502, RawBody: "<html><body><h1>502 Bad Gateway</h1></body></html>"}
}

// Server is the fake Bot API.
type Server struct {
	// URL is the base URL to give the client (WithServerURL).
	URL string
	// Token is the only bot token it accepts.
	Token string

	mu       sync.Mutex
	calls    []Call
	failures map[string][]Failure
	blocked  map[string]bool
	delay    map[string]time.Duration
	nextID   int

	flood   Flood
	sends   []send // sends accepted in the last second, oldest first
	refused int
}

// Flood is Telegram's flood control on sendMessage and sendPhoto: at most
// PerSecond sends in any one-second window over all chats and PerChat to
// one chat (0 for no limit). A send over either limit is refused with 429
// and parameters.retry_after, the whole seconds until the window has room
// again (at least 1); refused sends do not count.
type Flood struct {
	PerSecond int
	PerChat   int
}

// send is a send accepted under flood control.
type send struct {
	at   time.Time
	chat string
}

// EnforceFlood applies f to the calls from now on.
func (s *Server) EnforceFlood(f Flood) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.flood = f
}

// FloodRefusals counts the sends refused by flood control.
func (s *Server) FloodRefusals() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refused
}

// checkFlood decides whether a send to chat at now is within the flood
// limits, recording it if so; retryAfter > 0 refuses it. s.mu is held.
func (s *Server) checkFlood(chat string, now time.Time) (retryAfter int) {
	if s.flood.PerSecond <= 0 && s.flood.PerChat <= 0 {
		return 0
	}
	if n := len(s.sends); n > 0 && now.Before(s.sends[n-1].at) {
		now = s.sends[n-1].at // calls that raced to the lock: keep the order
	}
	from := now.Add(-time.Second)
	i := 0
	for i < len(s.sends) && !s.sends[i].at.After(from) {
		i++
	}
	s.sends = s.sends[i:]
	var free time.Time // when the window has room again
	if n := s.flood.PerSecond; n > 0 && len(s.sends) >= n {
		free = s.sends[len(s.sends)-n].at.Add(time.Second)
	}
	if n := s.flood.PerChat; n > 0 {
		var mine []time.Time
		for _, x := range s.sends {
			if x.chat == chat {
				mine = append(mine, x.at)
			}
		}
		if len(mine) >= n {
			if t := mine[len(mine)-n].Add(time.Second); t.After(free) {
				free = t
			}
		}
	}
	if !free.IsZero() {
		s.refused++
		return max(int((free.Sub(now)+time.Second-1)/time.Second), 1)
	}
	s.sends = append(s.sends, send{at: now, chat: chat})
	return 0
}

// NewServer starts a fake Bot API accepting token; it stops at the end of
// the test.
func NewServer(t testing.TB, token string) *Server {
	t.Helper()
	s := &Server{
		Token: token, failures: make(map[string][]Failure), blocked: make(map[string]bool),
		delay: make(map[string]time.Duration),
	}
	srv := httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

// Fail makes the next calls of method answer fs, one each, in order.
func (s *Server) Fail(method string, fs ...Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures[method] = append(s.failures[method], fs...)
}

// Heal drops the failures still queued for method.
func (s *Server) Heal(method string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.failures, method)
}

// Block makes every send to chatID fail as if the shopper blocked the bot.
func (s *Server) Block(chatID int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.blocked[strconv.FormatInt(chatID, 10)] = true
}

// Delay makes every call of method wait d before answering.
func (s *Server) Delay(method string, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay[method] = d
}

// Calls returns every call received so far, in order.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

// CallsTo returns the calls of method received so far, in order.
func (s *Server) CallsTo(method string) []Call {
	var out []Call
	for _, c := range s.Calls() {
		if c.Method == method {
			out = append(out, c)
		}
	}
	return out
}

// Reset forgets the calls received so far.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = nil
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimPrefix(r.URL.Path, "/bot")
	token, method, ok := strings.Cut(path, "/")
	method = strings.TrimPrefix(method, "test/")
	if !ok || path == r.URL.Path || token != s.Token {
		writeJSON(w, 401, map[string]any{"ok": false, "error_code": 401, "description": "Unauthorized"})
		return
	}
	params, err := readParams(r)
	call := Call{Method: method, Params: params, At: time.Now()}
	s.mu.Lock()
	d := s.delay[method]
	s.mu.Unlock()
	if d > 0 {
		select {
		case <-time.After(d):
		case <-r.Context().Done():
		}
	}
	var (
		f      Failure
		result any
	)
	switch {
	case err != nil:
		f = Failure{Code: 400, Description: "Bad Request: " + err.Error()}
	default:
		f, result = s.answer(method, params, call.At)
	}
	call.Code = f.Code
	s.mu.Lock()
	s.calls = append(s.calls, call)
	s.mu.Unlock()
	switch {
	case f.RawBody != "":
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(f.Code)
		io.WriteString(w, f.RawBody)
	case f.Code != 0:
		body := map[string]any{"ok": false, "error_code": f.Code, "description": f.Description}
		if f.RetryAfter > 0 {
			body["parameters"] = map[string]any{"retry_after": f.RetryAfter}
		}
		writeJSON(w, f.Code, body)
	default:
		writeJSON(w, 200, map[string]any{"ok": true, "result": result})
	}
}

// answer decides a call's outcome: a scripted failure, a refusal, or the
// result.
func (s *Server) answer(method string, p map[string]string, at time.Time) (Failure, any) {
	s.mu.Lock()
	if q := s.failures[method]; len(q) > 0 {
		s.failures[method] = q[1:]
		s.mu.Unlock()
		return q[0], nil
	}
	if method == "sendMessage" || method == "sendPhoto" {
		if after := s.checkFlood(p["chat_id"], at); after > 0 {
			s.mu.Unlock()
			return TooManyRequests(after), nil
		}
	}
	blocked := s.blocked[p["chat_id"]]
	s.nextID++
	id := s.nextID
	s.mu.Unlock()

	bad := func(d string) (Failure, any) { return Failure{Code: 400, Description: "Bad Request: " + d}, nil }
	switch method {
	case "getMe":
		return Failure{}, map[string]any{"id": 1, "is_bot": true, "first_name": "Bottega", "username": "bottega_test_bot"}
	case "sendMessage", "sendPhoto":
		chat, err := strconv.ParseInt(p["chat_id"], 10, 64)
		if err != nil || chat == 0 {
			return bad("chat_id is empty")
		}
		if blocked {
			return Blocked(), nil
		}
		msg := map[string]any{"message_id": id, "date": time.Now().Unix(), "chat": chatJSON(chat)}
		if method == "sendMessage" {
			text := strings.TrimSpace(p["text"])
			switch {
			case text == "":
				return bad("message text is empty")
			case units(text) > 4096:
				return bad("message is too long")
			}
			msg["text"] = p["text"]
		} else {
			if p["photo"] == "" {
				return bad("there is no photo in the request")
			}
			if units(strings.TrimSpace(p["caption"])) > 1024 {
				return bad("message caption is too long")
			}
			msg["photo"] = []any{map[string]any{"file_id": "f" + strconv.Itoa(id), "file_unique_id": "u" + strconv.Itoa(id), "width": 90, "height": 90}}
			if p["caption"] != "" {
				msg["caption"] = p["caption"]
			}
		}
		if m, ok := p["reply_markup"]; ok {
			if d := checkMarkup(m); d != "" {
				return bad(d)
			}
		}
		return Failure{}, msg
	case "answerCallbackQuery":
		switch {
		case p["callback_query_id"] == "":
			return bad("query_id is empty")
		case units(p["text"]) > 200:
			return bad("message is too long")
		}
		return Failure{}, true
	case "setWebhook":
		u, err := url.Parse(p["url"])
		if err != nil || u.Scheme != "https" || u.Host == "" {
			return bad("bad webhook: HTTPS url must be provided for webhook")
		}
		if t, ok := p["secret_token"]; ok && !validSecret(t) {
			return bad("bad webhook: secret token contains unallowed characters")
		}
		if a, ok := p["allowed_updates"]; ok {
			var list []string
			if json.Unmarshal([]byte(a), &list) != nil {
				return bad("can't parse allowed updates")
			}
		}
		return Failure{}, true
	}
	return Failure{Code: 404, Description: "Not Found"}, nil
}

// checkMarkup checks an inline keyboard as Telegram does; "" means fine.
func checkMarkup(raw string) string {
	var m struct {
		InlineKeyboard *[][]map[string]json.RawMessage `json:"inline_keyboard"`
	}
	if json.Unmarshal([]byte(raw), &m) != nil || m.InlineKeyboard == nil {
		return "can't parse reply keyboard markup JSON object"
	}
	for _, row := range *m.InlineKeyboard {
		for _, b := range row {
			var text string
			if json.Unmarshal(b["text"], &text) != nil || strings.TrimSpace(text) == "" {
				return "can't parse inline keyboard button: Text must be non-empty"
			}
			actions := 0
			for k, v := range b {
				switch k {
				case "text", "icon_custom_emoji_id", "style":
					continue
				case "callback_data":
					var d string
					if json.Unmarshal(v, &d) != nil || len(d) == 0 || len(d) > 64 {
						return "BUTTON_DATA_INVALID"
					}
				case "url":
					var s string
					if json.Unmarshal(v, &s) != nil {
						return "BUTTON_URL_INVALID"
					}
					u, err := url.Parse(s)
					if err != nil || !(u.Scheme == "http" || u.Scheme == "https" || u.Scheme == "tg") {
						return "BUTTON_URL_INVALID"
					}
				case "copy_text":
					// go-telegram/bot sends "copy_text":{"text":""} on every
					// button; whether Telegram still refuses it is not
					// certain, so the fake refuses it to keep us off it.
					var c struct {
						Text string `json:"text"`
					}
					if json.Unmarshal(v, &c) != nil || c.Text == "" {
						return "BUTTON_COPY_TEXT_INVALID"
					}
				}
				actions++
			}
			if actions != 1 {
				return "can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard"
			}
		}
	}
	return ""
}

// readParams reads a request's parameters from its query and its body in
// any of the encodings the Bot API accepts.
func readParams(r *http.Request) (map[string]string, error) {
	p := make(map[string]string)
	for k, v := range r.URL.Query() {
		p[k] = v[0]
	}
	ct, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch ct {
	case "multipart/form-data":
		mr := multipart.NewReader(r.Body, params["boundary"])
		for {
			part, err := mr.NextPart()
			if err == io.EOF {
				return p, nil
			}
			if err != nil {
				return nil, fmt.Errorf("reading multipart body: %v", err)
			}
			b, err := io.ReadAll(io.LimitReader(part, 10<<20))
			if err != nil {
				return nil, fmt.Errorf("reading multipart body: %v", err)
			}
			p[part.FormName()] = string(b)
		}
	case "application/x-www-form-urlencoded":
		if err := r.ParseForm(); err != nil {
			return nil, err
		}
		for k, v := range r.PostForm {
			p[k] = v[0]
		}
	case "application/json":
		var m map[string]json.RawMessage
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
			return nil, fmt.Errorf("can't parse JSON: %v", err)
		}
		for k, v := range m {
			var s string
			if json.Unmarshal(v, &s) == nil {
				p[k] = s
			} else {
				p[k] = string(v)
			}
		}
	}
	return p, nil
}

func chatJSON(id int64) map[string]any {
	if id < 0 {
		return map[string]any{"id": id, "type": "group", "title": "Group"}
	}
	return map[string]any{"id": id, "type": "private", "first_name": "Shopper"}
}

func validSecret(s string) bool {
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

// units is s's length in UTF-16 code units, as Telegram counts.
func units(s string) int { return len(utf16.Encode([]rune(s))) }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
