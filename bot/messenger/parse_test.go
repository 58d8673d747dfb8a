package messenger

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/bottega-shop/bottega/bot"
)

func ms(v int64) time.Time { return time.UnixMilli(v).UTC() }

func TestParseBatch(t *testing.T) {
	body, err := os.ReadFile("testdata/batch.json")
	if err != nil {
		t.Fatal(err)
	}
	got, err := Parse(body)
	if err != nil {
		t.Fatalf("Parse(batch.json): %v", err)
	}
	msg := func(id, psid, text, payload string, at int64) bot.Message {
		return bot.Message{Channel: bot.Messenger, ID: id, Conversation: psid, Sender: psid,
			Text: text, Payload: payload, Seq: at, At: ms(at)}
	}
	standby := msg("fb:m_sb1", "1005", "c'è qualcuno?", "", 1700000008000)
	want := Batch{
		Object: "page",
		Messages: []bot.Message{
			msg("fb:m_1", "1001", "ciao, avete le Trail Runner?", "", 1700000000000),
			msg("fb:m_2", "1001", "42", "size:42", 1700000001000),
			msg("fb:m_pb1", "1002", "Get Started", "start:spring-sale", 1700000004000),
			msg("fb:m_img", "1002", "", PayloadImage, 1700000004500),
		},
		Events: []Event{
			{Kind: KindDelivery, ID: "fb:delivery:1001:1700000005000:1700000001500", Page: "PAGE1", PSID: "1001",
				At: ms(1700000005000), MIDs: []string{"m_sent_1"}, Watermark: ms(1700000001500)},
			{Kind: KindRead, ID: "fb:read:1001:1700000002500:1700000002000", Page: "PAGE1", PSID: "1001",
				At: ms(1700000002500), Watermark: ms(1700000002000)},
			{Kind: KindEcho, ID: "fb:m_echo1", Page: "PAGE1", PSID: "1001", At: ms(1700000003000), AppID: "111"},
			{Kind: KindOptin, ID: "fb:optin:1003:1700000006000", Page: "PAGE1", PSID: "1003", At: ms(1700000006000),
				Optin: &Optin{Type: "notification_messages", Payload: "restock", Token: "TOKEN-1003", Status: "stop",
					TokenStatus: "NOT_REFRESHED", Timezone: "Europe/Rome", Title: "Restock", TokenExpiry: ms(1800000000000)}},
			{Kind: KindThreadOwner, ID: "fb:thread_owner:1004:1700000007000:pass", Page: "PAGE1", PSID: "1004",
				At: ms(1700000007000), AppID: "111", PreviousOwner: PageInboxAppID, Handover: "pass", Metadata: "done"},
			{Kind: KindMessage, ID: "fb:m_sb1", Page: "PAGE1", PSID: "1005", At: ms(1700000008000), Standby: true, Message: &standby},
			{Kind: KindHumanReply, ID: "fb:m_human1", Page: "PAGE1", PSID: "1005", At: ms(1700000008500), Standby: true, AppID: PageInboxAppID},
			{Kind: KindThreadOwner, ID: "fb:thread_owner:1006:1700000010000:take", Page: "PAGE1", PSID: "1006",
				At: ms(1700000010000), AppID: PageInboxAppID, PreviousOwner: "111", Handover: "take", Metadata: "agent"},
		},
		Skipped: []Skip{{Entry: 0, Index: 5, Reason: "event without a sender id"}},
		Ignored: 1,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Parse(batch.json) mismatch (-want +got):\n%s", diff)
	}
}

func TestParseEvents(t *testing.T) {
	tests := []struct {
		name  string
		event string
		want  Batch
	}{
		{
			name:  "sticker without text",
			event: `{"sender":{"id":"7"},"timestamp":1700000000000,"message":{"mid":"m_s","sticker_id":369239263222822,"attachments":[{"type":"image"}]}}`,
			want: Batch{Object: "page", Messages: []bot.Message{{Channel: bot.Messenger, ID: "fb:m_s", Conversation: "7", Sender: "7",
				Payload: "attachment:sticker", Seq: 1700000000000, At: ms(1700000000000)}}},
		},
		{
			name:  "attachment with text keeps the text",
			event: `{"sender":{"id":"7"},"timestamp":1700000000000,"message":{"mid":"m_t","text":"questa?","attachments":[{"type":"image"}]}}`,
			want: Batch{Object: "page", Messages: []bot.Message{{Channel: bot.Messenger, ID: "fb:m_t", Conversation: "7", Sender: "7",
				Text: "questa?", Seq: 1700000000000, At: ms(1700000000000)}}},
		},
		{
			name:  "postback without mid or referral",
			event: `{"sender":{"id":"7"},"timestamp":1700000000000,"postback":{"title":"Menu","payload":"MENU"}}`,
			want: Batch{Object: "page", Messages: []bot.Message{{Channel: bot.Messenger, ID: "fb:postback:1700000000000", Conversation: "7", Sender: "7",
				Text: "Menu", Payload: "MENU", Seq: 1700000000000, At: ms(1700000000000)}}},
		},
		{
			name:  "referral in an open thread",
			event: `{"sender":{"id":"7"},"timestamp":1700000000000,"referral":{"ref":"promo","source":"SHORTLINK","type":"OPEN_THREAD"}}`,
			want: Batch{Object: "page", Messages: []bot.Message{{Channel: bot.Messenger, ID: "fb:referral:1700000000000", Conversation: "7", Sender: "7",
				Payload: "start:promo", Seq: 1700000000000, At: ms(1700000000000)}}},
		},
		{
			name:  "resume with the spaced spelling",
			event: `{"sender":{"id":"7"},"timestamp":1700000000000,"optin":{"type":"notification_messages","notification_messages_token":"T","notification_messages_status":"RESUME NOTIFICATIONS"}}`,
			want: Batch{Object: "page", Events: []Event{{Kind: KindOptin, ID: "fb:optin:7:1700000000000", Page: "P", PSID: "7", At: ms(1700000000000),
				Optin: &Optin{Type: "notification_messages", Token: "T", Status: "resume"}}}},
		},
		{
			name:  "request thread control",
			event: `{"sender":{"id":"7"},"timestamp":1700000000000,"request_thread_control":{"requested_owner_app_id":263902037430900,"metadata":"please"}}`,
			want: Batch{Object: "page", Events: []Event{{Kind: KindThreadRequest, ID: "fb:thread_request:7:1700000000000", Page: "P", PSID: "7",
				At: ms(1700000000000), AppID: PageInboxAppID, Metadata: "please"}}},
		},
		{
			name:  "echo as strings",
			event: `{"sender":{"id":"P"},"recipient":{"id":"7"},"timestamp":"1700000000000","message":{"mid":"m_e","is_echo":"true","app_id":"26390203743090"}}`,
			want: Batch{Object: "page", Events: []Event{{Kind: KindHumanReply, ID: "fb:m_e", Page: "P", PSID: "7",
				At: ms(1700000000000), AppID: "26390203743090"}}},
		},
		{
			name:  "chat plugin user_ref",
			event: `{"sender":{"user_ref":"abc"},"timestamp":1700000000000,"postback":{"mid":"m_u","payload":"X"}}`,
			want:  Batch{Object: "page", Skipped: []Skip{{Reason: "sender has a user_ref, not a page-scoped id"}}},
		},
		{
			name:  "message without mid",
			event: `{"sender":{"id":"7"},"timestamp":1700000000000,"message":{"text":"hi"}}`,
			want:  Batch{Object: "page", Skipped: []Skip{{Reason: "message without a mid"}}},
		},
		{
			name:  "echo without recipient",
			event: `{"sender":{"id":"P"},"timestamp":1700000000000,"message":{"mid":"m_e","is_echo":true}}`,
			want:  Batch{Object: "page", Skipped: []Skip{{Reason: "echo without a recipient id"}}},
		},
		{
			name:  "wrongly typed event",
			event: `{"sender":{"id":"7"},"timestamp":1700000000000,"message":"hello"}`,
			want:  Batch{Object: "page", Skipped: []Skip{{Reason: "malformed event: field message: expected messenger.wireMessage, got string"}}},
		},
		{
			name:  "bad timestamp",
			event: `{"sender":{"id":"7"},"timestamp":"yesterday","message":{"mid":"m","text":"x"}}`,
			want:  Batch{Object: "page", Skipped: []Skip{{Reason: "malformed event: timestamp is not an epoch time: wrong type"}}},
		},
		{
			name:  "empty message",
			event: `{"sender":{"id":"7"},"timestamp":1700000000000,"message":{"mid":"m_empty"}}`,
			want:  Batch{Object: "page", Ignored: 1},
		},
		{
			name:  "unknown event",
			event: `{"app_roles":{"123":["primary_receiver"]}}`,
			want:  Batch{Object: "page", Ignored: 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := `{"object":"page","entry":[{"id":"P","time":1600000000000,"messaging":[` + tt.event + `]}]}`
			got, err := Parse([]byte(body))
			if err != nil {
				t.Fatalf("Parse(%s): %v", body, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Parse(%s) mismatch (-want +got):\n%s", body, diff)
			}
		})
	}
}

func TestParseMalformed(t *testing.T) {
	deep := `{"object":"page","entry":[{"id":"P","messaging":[{"sender":{"id":"1"},"message":{"mid":"m","text":"x","x":` +
		strings.Repeat("[", 40) + strings.Repeat("]", 40) + `}}]}]}`
	tests := []struct {
		name string
		body string
	}{
		{"empty", ""},
		{"blank", " \n"},
		{"form encoded", "object=page&entry=1"},
		{"truncated", `{"object":"page","entry":[{"id":"P","messaging":[{"sender":{"id":"1"}`},
		{"not an object", `["page"]`},
		{"null", `null`},
		{"no object", `{"entry":[]}`},
		{"object not a string", `{"object":7,"entry":[]}`},
		{"entry not an array", `{"object":"page","entry":"x"}`},
		{"messaging not an array", `{"object":"page","entry":[{"id":"P","messaging":{"sender":{"id":"1"}}}]}`},
		{"entry time wrong", `{"object":"page","entry":[{"id":"P","time":true}]}`},
		{"trailing data", `{"object":"page","entry":[]} {"object":"page"}`},
		{"deep nesting", deep},
		{"too large", `{"object":"page","x":"` + strings.Repeat("a", MaxBody) + `"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := Parse([]byte(tt.body))
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("Parse(%.60q) = %+v, %v; want ErrMalformed", tt.body, b, err)
			}
		})
	}
}

func TestParseIgnoresOtherObjects(t *testing.T) {
	for _, body := range []string{
		`{"object":"instagram","entry":[{"id":"1","changes":[{"field":"comments"}]}]}`,
		`{"object":"user","entry":"not even an array"}`,
	} {
		b, err := Parse([]byte(body))
		if err != nil || len(b.Messages)+len(b.Events)+len(b.Skipped) != 0 || b.Object == "page" {
			t.Errorf("Parse(%s) = %+v, %v; want an empty batch of another object", body, b, err)
		}
	}
}

func TestParseInvalidUTF8(t *testing.T) {
	body := []byte("{\"object\":\"page\",\"entry\":[{\"id\":\"P\",\"messaging\":[{\"sender\":{\"id\":\"1\"},\"timestamp\":1700000000000," +
		"\"message\":{\"mid\":\"m\xff\",\"text\":\"ciao \xc3\x28 mondo\"}}]}]}")
	b, err := Parse(body)
	if err != nil {
		t.Fatalf("Parse(invalid UTF-8) = %v", err)
	}
	if len(b.Messages) != 1 || b.Messages[0].Text != "ciao \uFFFD( mondo" {
		t.Errorf("Parse(invalid UTF-8) = %+v, want one message with U+FFFD", b.Messages)
	}
}

func TestParseTimestamps(t *testing.T) {
	tests := []struct {
		raw  string
		want int64
	}{
		{`1700000000000`, 1700000000000},
		{`"1700000000000"`, 1700000000000},
		{`"1700000000"`, 1700000000000}, // seconds, as the newer reference prints
		{`1.7e12`, 1700000000000},
		{`null`, 1600000000000}, // falls back to the entry's time
		{`""`, 1600000000000},
	}
	for _, tt := range tests {
		body := `{"object":"page","entry":[{"id":"P","time":1600000000000,"messaging":[{"sender":{"id":"1"},"timestamp":` + tt.raw +
			`,"message":{"mid":"m","text":"x"}}]}]}`
		b, err := Parse([]byte(body))
		if err != nil || len(b.Messages) != 1 {
			t.Errorf("Parse(timestamp %s) = %+v, %v", tt.raw, b, err)
			continue
		}
		if got := b.Messages[0].Seq; got != tt.want {
			t.Errorf("Parse(timestamp %s).Seq = %d, want %d", tt.raw, got, tt.want)
		}
	}
	for _, raw := range []string{`"NaN"`, `-5`, `true`, `"Infinity"`, `{"a":1}`} {
		body := `{"object":"page","entry":[{"id":"P","messaging":[{"sender":{"id":"1"},"timestamp":` + raw +
			`,"message":{"mid":"m","text":"x"}}]}]}`
		b, err := Parse([]byte(body))
		if err != nil || len(b.Skipped) != 1 {
			t.Errorf("Parse(timestamp %s) = %+v, %v; want the event skipped", raw, b, err)
		}
	}
}

func TestOptinLogValueHidesToken(t *testing.T) {
	o := Optin{Type: "notification_messages", Token: "TOKEN-SECRET", Status: "stop"}
	if s := o.LogValue().String(); strings.Contains(s, "TOKEN-SECRET") {
		t.Errorf("Optin.LogValue() = %s, holds the token", s)
	}
}

func FuzzParse(f *testing.F) {
	if b, err := os.ReadFile("testdata/batch.json"); err == nil {
		f.Add(b)
	}
	f.Add([]byte(`{"object":"page","entry":[{"id":"P","messaging":[{"sender":{"id":"1"},"timestamp":"1","postback":{"payload":"x"}}]}]}`))
	f.Add([]byte(`{"object":"page","entry":[{"standby":[{"sender":{"id":1},"message":{"mid":"m","is_echo":"true"}}]}]}`))
	f.Add([]byte(`[[[[{"object":"page"}]]]]`))
	f.Add([]byte(`object=page`))
	f.Fuzz(func(t *testing.T, body []byte) {
		b, err := Parse(body)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Parse error %v does not wrap ErrMalformed", err)
			}
			return
		}
		for _, m := range b.Messages {
			if m.ID == "" || m.Conversation == "" || m.Sender == "" || m.Channel != bot.Messenger {
				t.Fatalf("Parse made an undispatchable message %+v", m)
			}
		}
		for _, e := range b.Events {
			if e.ID == "" || e.PSID == "" || e.Kind == "" {
				t.Fatalf("Parse made an event without id, shopper or kind: %+v", e)
			}
		}
	})
}
