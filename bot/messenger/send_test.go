package messenger

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/bottega-shop/bottega/bot"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

const pageToken = "EAAB-page-token-secret"

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", path, diff)
	}
}

// indentBodies renders recorded request bodies as one indented JSON array.
func indentBodies(t *testing.T, calls []graphCall) []byte {
	t.Helper()
	var buf bytes.Buffer
	buf.WriteString("[\n")
	for i, c := range calls {
		var out bytes.Buffer
		if err := json.Indent(&out, c.Body, "  ", "  "); err != nil {
			t.Fatalf("body %d is not JSON: %v", i, err)
		}
		buf.WriteString("  ")
		buf.Write(out.Bytes())
		if i < len(calls)-1 {
			buf.WriteString(",")
		}
		buf.WriteString("\n")
	}
	buf.WriteString("]\n")
	return buf.Bytes()
}

func longItalian() string {
	para := "Le Trail Runner sono disponibili nei numeri dal 38 al 46, in rosso 🟥, nero e blu 🇮🇹. " +
		"Per la corsa su sentiero consigliamo mezzo numero in più 👩‍👩‍👧‍👦; la suola è in gomma Vibram® e la tomaia è traspirante.\n"
	return strings.Repeat(para, 22)
}

func TestSendGolden(t *testing.T) {
	manyQR := make([]bot.QuickReply, 15)
	for i := range manyQR {
		manyQR[i] = bot.QuickReply{Title: fmt.Sprintf("Taglia %d", 36+i), Payload: fmt.Sprintf("size:%d", 36+i)}
	}
	manyQR[0].Title = "Un titolo davvero troppo lungo 👍🏽👍🏽"
	manyQR[1].Title = "🇮🇹🇮🇹🇮🇹🇮🇹🇮🇹🇮🇹"
	manyQR[2].Payload = strings.Repeat("x", 1001) // too long to route: dropped
	cards := make([]bot.Card, 12)
	for i := range cards {
		cards[i] = bot.Card{
			Title:    fmt.Sprintf("Trail Runner %d — scarpa da trail con suola Vibram e tomaia traspirante, edizione speciale", i+1),
			Subtitle: "Rosso, nero, blu",
			Price:    "€ 89,00",
			ImageURL: fmt.Sprintf("https://shop.example/img/tr%d.jpg", i+1),
			URL:      fmt.Sprintf("https://shop.example/p/trail-runner-%d", i+1),
			Buttons: []bot.Button{
				{Title: "Disponibilità", Payload: fmt.Sprintf("choose:trail-runner-%d", i+1)},
				{Title: "Avvisami quando torna disponibile", Payload: "notify:TR-42-RED"},
				{Title: "Vedi", URL: "https://shop.example/p/trail-runner"},
				{Title: "Quarto", Payload: "fourth"},
			},
		}
	}
	tests := []struct {
		name  string
		reply bot.Reply
		parts int
	}{
		{"text.golden", bot.Reply{Text: "Ciao! Cerchi qualcosa in particolare? <Trail & Road>"}, 1},
		{"quick_replies.golden", bot.Reply{Text: "Che taglia porti?", QuickReplies: manyQR}, 1},
		{"carousel.golden", bot.Reply{Text: "Ecco cosa ho trovato:", Cards: cards, QuickReplies: manyQR[3:5]}, 2},
		{"split_text.golden", bot.Reply{Text: longItalian()}, 3},
		{"buttons.golden", bot.Reply{Text: "Vuoi parlare con una persona?", Buttons: []bot.Button{
			{Title: "Sì", Payload: "person:yes"}, {Title: "No", Payload: "person:no"}, {Title: "Il negozio", URL: "https://shop.example"},
		}}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newFakeGraph(t, pageToken)
			s := NewSender(g.URL(), pageToken, nil)
			if err := s.Send(context.Background(), "1001", tt.reply); err != nil {
				t.Fatalf("Send: %v", err)
			}
			calls := g.Calls()
			if len(calls) != tt.parts {
				t.Errorf("Send made %d calls, want %d", len(calls), tt.parts)
			}
			for _, c := range calls {
				if c.Query != "" {
					t.Errorf("call has query %q; the token goes in the Authorization header only", c.Query)
				}
				if bytes.Contains(c.Body, []byte(pageToken)) {
					t.Errorf("the page token is in the request body")
				}
			}
			golden(t, tt.name, indentBodies(t, calls))
		})
	}
}

func TestSendSplitKeepsText(t *testing.T) {
	g := newFakeGraph(t, pageToken)
	s := NewSender(g.URL(), pageToken, nil)
	text := longItalian()
	if err := s.Send(context.Background(), "1001", bot.Reply{Text: text}); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, b := range g.Bodies() {
		got = append(got, b["message"].(map[string]any)["text"].(string))
	}
	if len(got) < 2 {
		t.Fatalf("a text of %d units went in %d message(s)", units(text), len(got))
	}
	// Pieces end on line breaks here: joined with them, they are the text.
	if joined := strings.Join(got, "\n"); joined != strings.TrimSpace(text) {
		t.Errorf("pieces joined differ from the text:\n%s", cmp.Diff(strings.TrimSpace(text), joined))
	}
}

func TestSendErrors(t *testing.T) {
	tests := []struct {
		name      string
		fail      graphFailure
		is        error
		rateLimit bool
		after     time.Duration
		retryable bool
	}{
		{name: "rate limit 4", fail: graphFailure{status: 400, code: 4, message: "(#4) Application request limit reached"},
			rateLimit: true, retryable: true},
		{name: "rate limit 613 with retry-after", fail: graphFailure{status: 400, code: 613, message: "(#613) Calls to this api have exceeded the rate limit.",
			header: http.Header{"Retry-After": {"7"}}}, rateLimit: true, after: 7 * time.Second, retryable: true},
		{name: "rate limit with usage header", fail: graphFailure{status: 400, code: 613, message: "(#613) rate limit",
			header: http.Header{"X-Business-Use-Case-Usage": {`{"112233":[{"type":"messenger","call_count":100,"estimated_time_to_regain_access":3}]}`}}},
			rateLimit: true, after: 3 * time.Minute, retryable: true},
		{name: "unreachable 551", fail: graphFailure{status: 400, code: 551, subcode: 1545041, message: "(#551) This person isn't available right now."},
			is: ErrUnreachable},
		{name: "unreachable by subcode", fail: graphFailure{status: 400, code: 100, subcode: 1545041, message: "not available"},
			is: ErrUnreachable},
		{name: "outside window", fail: graphFailure{status: 400, code: 10, subcode: 2018278, message: "(#10) This message is sent outside of allowed window."},
			is: ErrOutsideWindow},
		{name: "thread owned", fail: graphFailure{status: 400, code: 10, subcode: 2018300, message: "(#10) another app is controlling this thread now"},
			is: ErrThreadOwned},
		{name: "bad parameter", fail: graphFailure{status: 400, code: 100, message: "(#100) Invalid parameter"}},
		{name: "expired token", fail: graphFailure{status: 400, code: 190, message: "Error validating access token"}},
		{name: "server error", fail: graphFailure{status: 500, code: 1, message: "An unknown error occurred"}, retryable: true},
		{name: "temporary failure", fail: graphFailure{status: 400, code: 1200, message: "Temporary send message failure. Please try again later"}, retryable: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newFakeGraph(t, pageToken)
			g.fail(tt.fail)
			s := NewSender(g.URL(), pageToken, nil)
			err := s.Send(context.Background(), "1001", bot.Reply{Text: "ciao"})
			if err == nil {
				t.Fatal("Send = nil, want an error")
			}
			if strings.Contains(err.Error(), pageToken) {
				t.Errorf("error text holds the page token: %v", err)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("Send = %v, want errors.Is %v", err, tt.is)
			}
			for _, other := range []error{ErrUnreachable, ErrOutsideWindow, ErrThreadOwned} {
				if other != tt.is && errors.Is(err, other) {
					t.Errorf("Send = %v, unexpectedly errors.Is %v", err, other)
				}
			}
			var rl *RateLimitError
			if got := errors.As(err, &rl); got != tt.rateLimit {
				t.Errorf("Send = %v: rate limit %v, want %v", err, got, tt.rateLimit)
			} else if got && rl.RetryAfter != tt.after {
				t.Errorf("RetryAfter = %v, want %v", rl.RetryAfter, tt.after)
			}
			if got := Retryable(err); got != tt.retryable {
				t.Errorf("Retryable(%v) = %v, want %v", err, got, tt.retryable)
			}
			var ae *APIError
			if !errors.As(err, &ae) || ae.Code != tt.fail.code || ae.Subcode != tt.fail.subcode || ae.Status != tt.fail.status {
				t.Errorf("Send = %#v, want an *APIError with code %d/%d status %d", err, tt.fail.code, tt.fail.subcode, tt.fail.status)
			}
		})
	}
}

func TestSendStopsAtFirstFailure(t *testing.T) {
	g := newFakeGraph(t, pageToken)
	s := NewSender(g.URL(), pageToken, nil)
	g.fail(graphFailure{}) // the first part goes through
	g.fail(graphFailure{status: 400, code: 613, message: "(#613) rate limit"})
	r := bot.Reply{Text: "Ecco:", Cards: []bot.Card{{Title: "Trail Runner"}}, QuickReplies: []bot.QuickReply{{Title: "Altro", Payload: "more"}}}
	err := s.Send(context.Background(), "1001", r)
	var rl *RateLimitError
	if !errors.As(err, &rl) || !strings.Contains(err.Error(), "part 2 of 2") {
		t.Fatalf("Send = %v, want a rate limit on part 2 of 2", err)
	}
	if n := len(g.Calls()); n != 2 {
		t.Errorf("Graph got %d calls, want 2", n)
	}
}

func TestSendNetworkError(t *testing.T) {
	g := newFakeGraph(t, pageToken)
	url := g.URL()
	g.srv.Close()
	s := NewSender(url, pageToken, &http.Client{Timeout: time.Second})
	err := s.Send(context.Background(), "1001", bot.Reply{Text: "ciao"})
	if err == nil {
		t.Fatal("Send to a closed server = nil, want an error")
	}
	if !Retryable(err) {
		t.Errorf("Retryable(%v) = false, want true", err)
	}
	if strings.Contains(err.Error(), pageToken) {
		t.Errorf("error text holds the page token: %v", err)
	}
}

func TestSendWrongToken(t *testing.T) {
	g := newFakeGraph(t, pageToken)
	s := NewSender(g.URL(), "another-token", nil)
	err := s.Send(context.Background(), "1001", bot.Reply{Text: "ciao"})
	var ae *APIError
	if !errors.As(err, &ae) || ae.Code != 190 || Retryable(err) {
		t.Fatalf("Send with a wrong token = %v, want a permanent 190 *APIError", err)
	}
	if strings.Contains(err.Error(), "another-token") {
		t.Errorf("error text holds the token: %v", err)
	}
}

func TestRender(t *testing.T) {
	tests := []struct {
		name  string
		reply bot.Reply
		want  []string
	}{
		{"empty", bot.Reply{}, nil},
		{"whitespace", bot.Reply{Text: " \n "}, nil},
		{"quick replies alone", bot.Reply{QuickReplies: []bot.QuickReply{{Title: "Sì", Payload: "y"}, {Title: "No", Payload: "n"}}},
			[]string{`{"text":"Sì · No","quick_replies":[{"content_type":"text","title":"Sì","payload":"y"},{"content_type":"text","title":"No","payload":"n"}]}`}},
		{"buttons without text", bot.Reply{Buttons: []bot.Button{{Title: "Apri", URL: "https://x.example"}}},
			[]string{`{"attachment":{"type":"template","payload":{"template_type":"button","text":"Apri","buttons":[{"type":"web_url","title":"Apri","url":"https://x.example"}]}}}`}},
		{"unusable button", bot.Reply{Text: "ciao", Buttons: []bot.Button{{Title: "Niente"}}},
			[]string{`{"text":"ciao"}`}},
		{"quick reply without title", bot.Reply{Text: "ok", QuickReplies: []bot.QuickReply{{Payload: "size:42"}}},
			[]string{`{"text":"ok","quick_replies":[{"content_type":"text","title":"size:42","payload":"size:42"}]}`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, p := range Render(tt.reply) {
				got = append(got, string(p))
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Render(%+v) mismatch (-want +got):\n%s", tt.reply, diff)
			}
		})
	}
}

func TestRenderLongButtonText(t *testing.T) {
	text := strings.Repeat("parola ", 150) // 1050 units: over a button template's 640
	parts := Render(bot.Reply{Text: text, Buttons: []bot.Button{{Title: "Ok", Payload: "ok"}}})
	if len(parts) != 2 {
		t.Fatalf("Render made %d parts, want 2", len(parts))
	}
	if problem := checkSend("1", "RESPONSE", parts[1]); problem != "" {
		t.Errorf("button template part: %s", problem)
	}
	var first struct{ Text string }
	json.Unmarshal(parts[0], &first)
	var second struct {
		Attachment struct{ Payload struct{ Text string } }
	}
	json.Unmarshal(parts[1], &second)
	if got := first.Text + " " + second.Attachment.Payload.Text; got != strings.TrimSpace(text) {
		t.Errorf("the two parts do not make the text: %q", got)
	}
}
