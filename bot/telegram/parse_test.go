package telegram_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/bottega-shop/bottega/bot"
	"github.com/bottega-shop/bottega/bot/telegram"
)

func readUpdate(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "updates", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParse(t *testing.T) {
	sent := time.Unix(1767225600, 0).UTC()
	msg := func(id, text, payload string, seq int64) *bot.Message {
		return &bot.Message{
			Channel: bot.Telegram, ID: id, Conversation: "1001", Sender: "1001",
			Text: text, Payload: payload, Locale: "it", Seq: seq, At: sent,
		}
	}
	tests := []struct {
		file string
		want telegram.Update
	}{
		{"text.json", telegram.Update{ID: 500, Kind: telegram.KindMessage, ChatID: 1001, MessageID: 10, Locale: "it",
			Message: msg("tg:500", "avete le trail runner rosse in 42?", "", 500)}},
		{"photo_caption.json", telegram.Update{ID: 501, Kind: telegram.KindMessage, ChatID: 1001, MessageID: 10, Locale: "it",
			Message: msg("tg:501", "ce l'avete in blu?", "", 501)}},
		{"photo.json", telegram.Update{ID: 502, Kind: telegram.KindMessage, ChatID: 1001, MessageID: 10, Locale: "it",
			Message: msg("tg:502", "", "attachment:image", 502)}},
		{"sticker.json", telegram.Update{ID: 518, Kind: telegram.KindMessage, ChatID: 1001, MessageID: 10, Locale: "it",
			Message: msg("tg:518", "", "attachment:sticker", 518)}},
		{"start_deeplink.json", telegram.Update{ID: 503, Kind: telegram.KindMessage, ChatID: 1001, MessageID: 10, Locale: "it",
			Message: msg("tg:503", "", "start:promo_42-A", 503)}},
		{"start_bare.json", telegram.Update{ID: 504, Kind: telegram.KindMessage, ChatID: 1001, MessageID: 10, Locale: "it",
			Message: msg("tg:504", "", "start:", 504)}},
		{"start_typed.json", telegram.Update{ID: 505, Kind: telegram.KindMessage, ChatID: 1001, MessageID: 10, Locale: "it",
			Message: msg("tg:505", "", "start:", 505)}},
		{"edited.json", telegram.Update{ID: 506, Kind: telegram.KindEdit, ChatID: 1001, MessageID: 10, Locale: "it",
			Message: func() *bot.Message {
				m := msg("tg:edit:506", "avete le trail runner rosse in 43?", "", 506)
				m.At = sent.Add(time.Minute)
				return m
			}()}},
		{"callback.json", telegram.Update{ID: 507, Kind: telegram.KindCallback, ChatID: 1001, CallbackID: "4382bfdwdsb323b2d9", Locale: "it",
			Message: func() *bot.Message { m := msg("tg:507", "", "size:42", 507); m.At = time.Time{}; return m }()}},
		{"callback_inaccessible.json", telegram.Update{ID: 508, Kind: telegram.KindCallback, ChatID: 1001, CallbackID: "cb2", Locale: "it",
			Message: func() *bot.Message { m := msg("tg:508", "", "size:41", 508); m.At = time.Time{}; return m }()}},
		{"callback_inline.json", telegram.Update{ID: 509, Kind: telegram.KindCallback, CallbackID: "cb3", Locale: "it"}},
		{"kicked.json", telegram.Update{ID: 510, Kind: telegram.KindMember, ChatID: 1001, Reachable: false, Locale: "it"}},
		{"member.json", telegram.Update{ID: 511, Kind: telegram.KindMember, ChatID: 1001, Reachable: true, Locale: "it"}},
		{"member_unknown_status.json", telegram.Update{ID: 512, Kind: telegram.KindIgnored}},
		{"group.json", telegram.Update{ID: 513, Kind: telegram.KindGroup, ChatID: -1002003004005, MessageID: 10, Locale: "it"}},
		{"group_edit.json", telegram.Update{ID: 514, Kind: telegram.KindIgnored}},
		{"poll.json", telegram.Update{ID: 515, Kind: telegram.KindIgnored}},
		{"future_type.json", telegram.Update{ID: 516, Kind: telegram.KindIgnored}},
		{"channel_post.json", telegram.Update{ID: 517, Kind: telegram.KindIgnored}},
		{"from_bot.json", telegram.Update{ID: 519, Kind: telegram.KindIgnored}},
		{"service.json", telegram.Update{ID: 520, Kind: telegram.KindIgnored}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			got, err := telegram.Parse(readUpdate(t, tt.file))
			if err != nil {
				t.Fatalf("Parse(%s) error: %v", tt.file, err)
			}
			if got.Raw.ID != tt.want.ID {
				t.Errorf("Parse(%s).Raw.ID = %d, want %d", tt.file, got.Raw.ID, tt.want.ID)
			}
			if diff := cmp.Diff(tt.want, got, cmpopts.IgnoreFields(telegram.Update{}, "Raw")); diff != "" {
				t.Errorf("Parse(%s) mismatch (-want +got):\n%s", tt.file, diff)
			}
		})
	}
}

func TestParseRejects(t *testing.T) {
	deep := strings.Repeat(`{"a":`, 40) + "1" + strings.Repeat("}", 40)
	deepInUnknown := `{"update_id":9,"x":` + strings.Repeat("[", 33) + strings.Repeat("]", 33) + "}"
	huge := `{"update_id":9,"pad":"` + strings.Repeat("x", telegram.MaxBody) + `"}`
	text := string(readUpdate(t, "text.json"))
	tests := []struct {
		name, body string
		want       error
	}{
		{"empty", "", telegram.ErrMalformed},
		{"blank", " \n\t", telegram.ErrMalformed},
		{"truncated", text[:len(text)/2], telegram.ErrMalformed},
		{"just a brace", "{", telegram.ErrMalformed},
		{"array", `[{"update_id":1}]`, telegram.ErrMalformed},
		{"string", `"update"`, telegram.ErrMalformed},
		{"null", `null`, telegram.ErrMalformed},
		{"empty object", `{}`, telegram.ErrMalformed},
		{"update_id a string", `{"update_id":"1"}`, telegram.ErrMalformed},
		{"update_id zero", `{"update_id":0}`, telegram.ErrMalformed},
		{"update_id negative", `{"update_id":-4}`, telegram.ErrMalformed},
		{"update_id fraction", `{"update_id":1.5}`, telegram.ErrMalformed},
		{"message_id a string", `{"update_id":1,"message":{"message_id":"x","date":1,"chat":{"id":1,"type":"private"}}}`, telegram.ErrMalformed},
		{"chat id a string", `{"update_id":1,"message":{"message_id":1,"date":1,"chat":{"id":"abc","type":"private"}}}`, telegram.ErrMalformed},
		{"text a number", `{"update_id":1,"message":{"message_id":1,"date":1,"chat":{"id":1,"type":"private"},"text":42}}`, telegram.ErrMalformed},
		{"message an array", `{"update_id":1,"message":[]}`, telegram.ErrMalformed},
		{"message without chat", `{"update_id":1,"message":{"message_id":1,"date":1,"text":"hi"}}`, telegram.ErrMalformed},
		{"callback without id", `{"update_id":1,"callback_query":{"from":{"id":1,"is_bot":false,"first_name":"a"},"data":"x"}}`, telegram.ErrMalformed},
		{"trailing data", `{"update_id":1} x`, telegram.ErrMalformed},
		{"two objects", `{"update_id":1}{"update_id":2}`, telegram.ErrMalformed},
		{"form encoded", `update_id=1&message=hi`, telegram.ErrMalformed},
		{"deep nesting", deep, telegram.ErrMalformed},
		{"deep nesting in an unknown field", deepInUnknown, telegram.ErrMalformed},
		{"invalid UTF-8 outside strings", "{\"update_id\":1,\xff}", telegram.ErrMalformed},
		{"too large", huge, telegram.ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := telegram.Parse([]byte(tt.body))
			if !errors.Is(err, tt.want) {
				t.Errorf("Parse(%.40q) = %+v, %v; want error %v", tt.body, u.Kind, err, tt.want)
			}
		})
	}
}

func TestParseInvalidUTF8InText(t *testing.T) {
	body := bytes.Replace(readUpdate(t, "text.json"), []byte("rosse"), []byte("ro\xff\xfesse"), 1)
	u, err := telegram.Parse(body)
	if err != nil {
		t.Fatalf("Parse(text with invalid UTF-8) error: %v", err)
	}
	if u.Message == nil || !utf8.ValidString(u.Message.Text) || !strings.Contains(u.Message.Text, "\uFFFD") {
		t.Errorf("Parse(text with invalid UTF-8).Message = %+v, want valid UTF-8 with U+FFFD", u.Message)
	}
}

func TestCheckSecret(t *testing.T) {
	tests := []struct {
		header, secret string
		want           bool
	}{
		{"s3cret_Token-1", "s3cret_Token-1", true},
		{"s3cret_Token-2", "s3cret_Token-1", false},
		{"s3cret_Token", "s3cret_Token-1", false},
		{"", "s3cret_Token-1", false},
		{"", "", false},
		{"anything", "", false},
		{"S3CRET_TOKEN-1", "s3cret_Token-1", false},
	}
	for _, tt := range tests {
		if got := telegram.CheckSecret(tt.header, tt.secret); got != tt.want {
			t.Errorf("CheckSecret(%q, %q) = %v, want %v", tt.header, tt.secret, got, tt.want)
		}
	}
}

// FuzzParse checks that Parse never panics and that what it accepts is
// consistent: a positive id, a known kind, valid UTF-8, and a message only
// where one belongs, with the id and sequence of its update.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "updates", "*.json"))
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{"", "{}", "null", `{"update_id":1}`, `{"update_id":1,"message":null}`, "[[[[", `{"update_id":1,"message":{"chat":{"id":1,"type":"private"},"from":{"id":2},"text":"/start@x \xff"}}`} {
		f.Add([]byte(s))
	}
	kinds := map[telegram.Kind]bool{
		telegram.KindIgnored: true, telegram.KindMessage: true, telegram.KindEdit: true,
		telegram.KindCallback: true, telegram.KindMember: true, telegram.KindGroup: true,
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		u, err := telegram.Parse(body)
		if err != nil {
			if !errors.Is(err, telegram.ErrMalformed) && !errors.Is(err, telegram.ErrTooLarge) {
				t.Fatalf("Parse error %v wraps neither ErrMalformed nor ErrTooLarge", err)
			}
			return
		}
		if u.ID <= 0 || !kinds[u.Kind] {
			t.Fatalf("Parse = id %d kind %q", u.ID, u.Kind)
		}
		m := u.Message
		if m == nil {
			if u.Kind == telegram.KindMessage || u.Kind == telegram.KindEdit {
				t.Fatalf("Parse = %s without a message", u.Kind)
			}
			return
		}
		switch {
		case u.Kind != telegram.KindMessage && u.Kind != telegram.KindEdit && u.Kind != telegram.KindCallback:
			t.Fatalf("Parse = %s with a message", u.Kind)
		case m.Channel != bot.Telegram || m.Seq != u.ID || m.Conversation == "" || m.Conversation == "0" || m.Sender == "":
			t.Fatalf("Parse = message %+v for update %d", m, u.ID)
		case !strings.HasPrefix(m.ID, "tg:"):
			t.Fatalf("Parse = message id %q", m.ID)
		case !utf8.ValidString(m.Text) || !utf8.ValidString(m.Payload):
			t.Fatalf("Parse = message with invalid UTF-8")
		case m.Text == "" && m.Payload == "":
			t.Fatalf("Parse = empty message %+v", m)
		}
	})
}
