package sqldialogs

import (
	"strings"
	"testing"
)

func TestParsePayload(t *testing.T) {
	tests := []struct {
		payload string
		wantRow string
		wantSeq int64
	}{
		{"12 webchat:abc", "webchat:abc", 12},
		{"1 Xy-_0pseudonym", "Xy-_0pseudonym", 1},
		{"7 webchat:with space", "webchat:with space", 7},
		// From a replica that sent the key alone: Seq unknown.
		{"webchat:abc", "webchat:abc", 0},
		{"telegram:777 000", "telegram:777 000", 0},
		// Not a Seq before the space: the whole payload is the key.
		{"x webchat:abc", "x webchat:abc", 0},
		{"-4 webchat:abc", "-4 webchat:abc", 0},
		{"0 webchat:abc", "0 webchat:abc", 0},
		{"99999999999999999999 webchat:abc", "99999999999999999999 webchat:abc", 0},
		{" webchat:abc", " webchat:abc", 0},
		{"12 ", "12 ", 0},
	}
	for _, tt := range tests {
		row, seq := parsePayload(tt.payload)
		if row != tt.wantRow || seq != tt.wantSeq {
			t.Errorf("parsePayload(%q) = %q, %d; want %q, %d", tt.payload, row, seq, tt.wantRow, tt.wantSeq)
		}
	}
}

func TestNotifyPayload(t *testing.T) {
	for _, tt := range []struct {
		row string
		seq int64
	}{
		{"webchat:abc", 3},
		{"Xy-_0pseudonym", 1 << 40},
		{"webchat:with space", 9},
	} {
		p := notifyPayload(tt.row, tt.seq)
		if row, seq := parsePayload(p); row != tt.row || seq != tt.seq {
			t.Errorf("parsePayload(notifyPayload(%q, %d)) = %q, %d; want them back", tt.row, tt.seq, row, seq)
		}
	}
	if p := notifyPayload(strings.Repeat("k", maxNotifyKey+1), 5); p != "" {
		t.Errorf("notifyPayload of a key of %d bytes = %d bytes, want empty (any conversation)", maxNotifyKey+1, len(p))
	}
	if p := notifyPayload(strings.Repeat("k", maxNotifyKey), 1<<62); len(p) >= 8000 {
		t.Errorf("notifyPayload of a key of %d bytes = %d bytes, want under Postgres's 8000", maxNotifyKey, len(p))
	}
}
