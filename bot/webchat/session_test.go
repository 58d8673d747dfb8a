package webchat

import (
	"strings"
	"testing"
	"time"
)

func TestSessions(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	s := NewSessions("a-secret-key-of-thirty-two-chars!!", time.Hour, clock)
	tok, id := s.New()
	if got, err := s.Verify(tok); err != nil || got != id {
		t.Fatalf("Verify(new token) = %q, %v; want %q", got, err, id)
	}
	if _, id2 := s.New(); id2 == id {
		t.Error("two sessions got the same id")
	}
	other := NewSessions("another-secret-key-of-32-chars!!!!", time.Hour, clock)
	forged := func() string {
		parts := strings.Split(tok, ".")
		b := []byte(parts[1])
		b[3] ^= 1
		return parts[0] + "." + string(b) + "." + parts[2]
	}()
	tests := []struct {
		name  string
		token string
		want  error
	}{
		{"empty", "", ErrInvalidToken},
		{"garbage", "hello", ErrInvalidToken},
		{"wrong version", "v2" + strings.TrimPrefix(tok, "v1"), ErrInvalidToken},
		{"other key", other.Refresh(id), ErrInvalidToken},
		{"tampered payload", forged, ErrInvalidToken},
		{"truncated signature", tok[:len(tok)-4], ErrInvalidToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := s.Verify(tt.token); err != tt.want {
				t.Errorf("Verify(%q) = %v, want %v", tt.token, err, tt.want)
			}
		})
	}
	now = now.Add(time.Hour)
	if _, err := s.Verify(tok); err != ErrExpiredToken {
		t.Errorf("Verify(token an hour old) = %v, want ErrExpiredToken", err)
	}
	if got, err := s.Verify(s.Refresh(id)); err != nil || got != id {
		t.Errorf("Verify(refreshed) = %q, %v; want %q", got, err, id)
	}
}

func TestLimiter(t *testing.T) {
	now := time.Unix(0, 0)
	l := NewLimiter(1, 3, func() time.Time { return now })
	for i := 0; i < 3; i++ {
		if !l.Allow("a") {
			t.Fatalf("message %d within the burst refused", i+1)
		}
	}
	if l.Allow("a") {
		t.Error("fourth message at once allowed, want refused")
	}
	if !l.Allow("b") {
		t.Error("another session refused because of the first")
	}
	now = now.Add(1100 * time.Millisecond)
	if !l.Allow("a") {
		t.Error("message after a second's refill refused")
	}
	if l.Allow("a") {
		t.Error("second message after one second's refill allowed")
	}
}

func TestCheckText(t *testing.T) {
	tests := []struct{ in, want string }{
		{"ciao", ""},
		{"<script>alert(1)</script>", ""},
		{"   ", "empty"},
		{"", "empty"},
		{strings.Repeat("a", MaxText), ""},
		{strings.Repeat("a", MaxText+1), "too_long"},
		{"ciao \xff", "invalid_utf8"},
	}
	for _, tt := range tests {
		if got := CheckText(tt.in); got != tt.want {
			t.Errorf("CheckText(%.20q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
