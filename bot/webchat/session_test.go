package webchat

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestSessions(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	s := NewSessions("a-secret-key-of-thirty-two-chars!!", time.Hour, clock)
	verify := func(token string) (string, error) {
		sess, err := s.Open(token)
		return sess.ID, err
	}
	tok, id := s.NewBound(Binding{})
	if got, err := verify(tok); err != nil || got != id {
		t.Fatalf("Open(new token) = %q, %v; want %q", got, err, id)
	}
	if _, id2 := s.NewBound(Binding{}); id2 == id {
		t.Error("two sessions got the same id")
	}
	other := NewSessions("another-secret-key-of-32-chars!!!!", time.Hour, clock)
	forged := func() string {
		parts := strings.Split(tok, ".")
		b := []byte(parts[1])
		b[3] ^= 1
		return parts[0] + "." + string(b) + "." + parts[2]
	}()
	// A bound token whose binding is swapped for another customer's.
	bound := s.Issue(Session{ID: id, Binding: s.Bind("giulia")})
	rebound := func() string {
		parts := strings.Split(bound, ".")
		p, _ := base64.RawURLEncoding.DecodeString(parts[1])
		b := s.Bind("marco")
		copy(p[24:], b[:])
		return parts[0] + "." + base64.RawURLEncoding.EncodeToString(p) + "." + parts[2]
	}()
	tests := []struct {
		name  string
		token string
		want  error
	}{
		{"empty", "", ErrInvalidToken},
		{"garbage", "hello", ErrInvalidToken},
		{"unknown version", "v3" + strings.TrimPrefix(tok, "v2"), ErrInvalidToken},
		{"v2 payload as v1", "v1" + strings.TrimPrefix(tok, "v2"), ErrInvalidToken},
		{"v1 payload as v2", "v2" + strings.TrimPrefix(v1Token(s, id), "v1"), ErrInvalidToken},
		{"other key", other.Issue(Session{ID: id}), ErrInvalidToken},
		{"tampered payload", forged, ErrInvalidToken},
		{"other customer's binding", rebound, ErrInvalidToken},
		{"truncated signature", tok[:len(tok)-4], ErrInvalidToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := verify(tt.token); err != tt.want {
				t.Errorf("Open(%q) = %v, want %v", tt.token, err, tt.want)
			}
		})
	}
	now = now.Add(time.Hour)
	if _, err := verify(tok); err != ErrExpiredToken {
		t.Errorf("Open(token an hour old) = %v, want ErrExpiredToken", err)
	}
	if got, err := verify(s.Issue(Session{ID: id})); err != nil || got != id {
		t.Errorf("Open(reissued) = %q, %v; want %q", got, err, id)
	}
}

// v1Token is a token as Sessions issued them before customer bindings:
// "v1." base64url(id, expiry) "." base64url(HMAC).
func v1Token(s *Sessions, id string) string {
	raw, _ := hex.DecodeString(id)
	payload := binary.BigEndian.AppendUint64(raw, uint64(s.now().Add(s.ttl).Unix()))
	enc := base64.RawURLEncoding
	return "v1." + enc.EncodeToString(payload) + "." + enc.EncodeToString(s.sign(payload))
}

func TestSessionBinding(t *testing.T) {
	s := NewSessions("a-secret-key-of-thirty-two-chars!!", time.Hour, nil)
	const id = "00112233445566778899aabbccddeeff"
	giulia, marco := s.Bind("giulia"), s.Bind("marco")
	if !s.Bind("").IsZero() {
		t.Errorf("Bind(\"\") = %x, want the zero binding", s.Bind(""))
	}
	if giulia.IsZero() || giulia == marco || giulia != s.Bind("giulia") {
		t.Errorf("Bind(giulia) = %x, Bind(marco) = %x: want distinct, stable, non-zero", giulia, marco)
	}
	if other := NewSessions("another-secret-key-of-32-chars!!!!", time.Hour, nil); other.Bind("giulia") == giulia {
		t.Error("two secret keys give giulia the same binding")
	}
	tests := []struct {
		name  string
		token string
		want  Session
	}{
		{"anonymous", s.Issue(Session{ID: id}), Session{ID: id}},
		{"bound", s.Issue(Session{ID: id, Binding: giulia}), Session{ID: id, Binding: giulia}},
		{"old v1 token is anonymous", v1Token(s, id), Session{ID: id}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Open(tt.token)
			if err != nil || got != tt.want {
				t.Errorf("Open(%q) = %+v, %v; want %+v", tt.token, got, err, tt.want)
			}
		})
	}
	tok, id2 := s.NewBound(marco)
	if got, err := s.Open(tok); err != nil || got != (Session{ID: id2, Binding: marco}) {
		t.Errorf("Open(NewBound(marco)) = %+v, %v; want session %q bound to marco", got, err, id2)
	}
	if parts := strings.Split(tok, "."); strings.Contains(tok, "marco") || len(parts) != 3 || parts[0] != "v2" {
		t.Errorf("NewBound(marco) = %q, want a v2 token that does not show the id", tok)
	}
}

func TestCustomers(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	c := NewCustomers("shop-customer-key-of-32-characters", func() time.Time { return now })
	good := c.Sign("cust-42", now.Add(time.Hour))
	withSig := func(cl CustomerClaim, sig string) CustomerClaim { cl.Signature = sig; return cl }
	// resigned signs id:expires exactly as given, as a shop might.
	resigned := func(id, expires string) CustomerClaim {
		return CustomerClaim{ID: id, Expires: expires, Signature: hex.EncodeToString(c.mac(id, expires))}
	}
	exp := func(d time.Duration) string { return strconv.FormatInt(now.Add(d).Unix(), 10) }
	tests := []struct {
		name  string
		claim CustomerClaim
		want  error
	}{
		{"good", good, nil},
		{"unicode id", c.Sign("clienta-è-😀", now.Add(time.Hour)), nil},
		{"longest id", c.Sign(strings.Repeat("x", 256), now.Add(time.Hour)), nil},
		{"30 days ahead", c.Sign("cust-42", now.Add(MaxClaimLife)), nil},
		{"uppercase hex", withSig(good, strings.ToUpper(good.Signature)), nil},
		{"other key", NewCustomers("another-key-of-thirty-two-characters", nil).Sign("cust-42", now.Add(time.Hour)), ErrBadSignature},
		{"other customer", CustomerClaim{ID: "cust-43", Expires: good.Expires, Signature: good.Signature}, ErrBadSignature},
		{"later expiry", CustomerClaim{ID: "cust-42", Expires: exp(2 * time.Hour), Signature: good.Signature}, ErrBadSignature},
		{"id and expiry moved across the colon", CustomerClaim{ID: "cust-42:" + good.Expires[:2], Expires: good.Expires[2:], Signature: good.Signature}, ErrBadSignature},
		{"empty signature", withSig(good, ""), ErrBadSignature},
		{"truncated signature", withSig(good, good.Signature[:62]), ErrBadSignature},
		{"not hex", withSig(good, strings.Repeat("zz", 32)), ErrBadSignature},
		{"raw SHA-256, no key", withSig(good, func() string { h := sha256.Sum256([]byte("cust-42:" + good.Expires)); return hex.EncodeToString(h[:]) }()), ErrBadSignature},
		{"expired", c.Sign("cust-42", now.Add(-time.Second)), ErrClaimExpired},
		{"expires now", c.Sign("cust-42", now), ErrClaimExpired},
		{"more than 30 days ahead", c.Sign("cust-42", now.Add(MaxClaimLife+time.Second)), ErrClaimTooLongLife},
		{"empty id", c.Sign("", now.Add(time.Hour)), ErrBadCustomerID},
		{"id over 256 bytes", c.Sign(strings.Repeat("x", 257), now.Add(time.Hour)), ErrBadCustomerID},
		{"id not UTF-8", c.Sign("cust-\xff", now.Add(time.Hour)), ErrBadCustomerID},
		{"empty expiry", resigned("cust-42", ""), ErrMalformedClaim},
		{"negative expiry", resigned("cust-42", "-"+exp(time.Hour)), ErrMalformedClaim},
		{"leading zero", resigned("cust-42", "0"+exp(time.Hour)), ErrMalformedClaim},
		{"fractional expiry", resigned("cust-42", exp(time.Hour)+".5"), ErrMalformedClaim},
		{"milliseconds", resigned("cust-42", exp(time.Hour)+"000"), ErrMalformedClaim},
		{"space", resigned("cust-42", " "+exp(time.Hour)), ErrMalformedClaim},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.Verify(tt.claim)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Verify(%+v) = %q, %v; want %v", tt.claim, got, err, tt.want)
			}
			if err == nil && got != tt.claim.ID {
				t.Errorf("Verify(%+v) = %q, want %q", tt.claim, got, tt.claim.ID)
			}
			if err != nil && (got != "" || (tt.claim.ID != "" && strings.Contains(err.Error(), tt.claim.ID))) {
				t.Errorf("Verify(%+v) = %q, %v; want no id in either", tt.claim, got, err)
			}
		})
	}
}

// TestCustomerSignatureFormat pins the signature to the README's recipe,
// lowercase hex(HMAC-SHA256(key, id + ":" + expires)): computed here and
// by the README's Python line, which gave the literal.
func TestCustomerSignatureFormat(t *testing.T) {
	const key = "shop-customer-key-of-32-characters"
	c := NewCustomers(key, nil)
	got := c.Sign("cust-42", time.Unix(1767225600, 0))
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write([]byte("cust-42:1767225600"))
	const python = "87a40e945dbf3b98c5607205cb6d5607cbbe20ed38b572657499bde3a6f6e79a"
	for _, sig := range []string{hex.EncodeToString(mac.Sum(nil)), python} {
		want := CustomerClaim{ID: "cust-42", Expires: "1767225600", Signature: sig}
		if got != want {
			t.Errorf("Sign(cust-42, 1767225600) = %+v, want %+v", got, want)
		}
	}
}

func TestCustomerClaimJSON(t *testing.T) {
	tests := []struct {
		in   string
		want *CustomerClaim
	}{
		{`{}`, nil},
		{`{"customer":null}`, nil},
		{`{"customer":{"id":"c1","expires":"1767225600","signature":"ab"}}`, &CustomerClaim{ID: "c1", Expires: "1767225600", Signature: "ab"}},
		{`{"customer":{"id":"c1","expires":1767225600,"signature":"ab"}}`, &CustomerClaim{ID: "c1", Expires: "1767225600", Signature: "ab"}},
		{`{"customer":{"id":"c1","expires":true,"signature":"ab"}}`, &CustomerClaim{ID: "c1", Expires: "true", Signature: "ab"}},
		{`{"customer":{"id":7,"expires":"1","signature":"ab"}}`, &CustomerClaim{}},
		{`{"customer":"giulia"}`, &CustomerClaim{}},
		{`{"customer":[1,2]}`, &CustomerClaim{}},
	}
	for _, tt := range tests {
		var f ClientFrame
		if err := json.Unmarshal([]byte(tt.in), &f); err != nil {
			t.Errorf("Unmarshal(%s) = %v, want no error: a broken claim must not break hello", tt.in, err)
			continue
		}
		if diff := cmp.Diff(tt.want, f.Customer); diff != "" {
			t.Errorf("Unmarshal(%s).Customer (-want +got):\n%s", tt.in, diff)
		}
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
