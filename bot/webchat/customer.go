package webchat

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strconv"
	"time"
	"unicode/utf8"
)

// Customer claim errors. None of them names the customer.
var (
	ErrBadCustomerID    = errors.New("webchat: customer id is empty, longer than 256 bytes or not UTF-8")
	ErrMalformedClaim   = errors.New("webchat: customer claim's expiry is not unix seconds")
	ErrBadSignature     = errors.New("webchat: bad customer signature")
	ErrClaimExpired     = errors.New("webchat: customer claim expired")
	ErrClaimTooLongLife = errors.New("webchat: customer claim expires more than 30 days ahead")
)

// Limits of a customer claim.
const (
	// MaxCustomerID is the longest customer id, in bytes.
	MaxCustomerID = 256
	// MaxClaimLife is how far ahead a claim may expire.
	MaxClaimLife = 30 * 24 * time.Hour
)

// CustomerClaim is the shop's word that the visitor is signed in as a
// customer: the widget tag's data-customer-id, data-customer-expires and
// data-customer-signature attributes, sent with hello.
//
// Signature is the lowercase hex HMAC-SHA256, under BOTTEGA_CUSTOMER_KEY,
// of ID + ":" + Expires, where Expires is the claim's expiry in unix
// seconds, decimal. The shop's backend computes it; the key never reaches
// the page.
type CustomerClaim struct {
	ID        string `json:"id"`
	Expires   string `json:"expires"`
	Signature string `json:"signature"`
}

// UnmarshalJSON reads a claim leniently: expires may be a JSON number or
// string, and a claim of the wrong shape decodes to an empty one (which
// Verify refuses) instead of failing the whole frame, so that a broken
// claim never breaks the chat.
func (c *CustomerClaim) UnmarshalJSON(b []byte) error {
	*c = CustomerClaim{}
	var raw struct {
		ID        string          `json:"id"`
		Expires   json.RawMessage `json:"expires"`
		Signature string          `json:"signature"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil
	}
	exp := bytes.TrimSpace(raw.Expires)
	if len(exp) > 0 && exp[0] == '"' {
		var s string
		if err := json.Unmarshal(exp, &s); err != nil {
			return nil
		}
		exp = []byte(s)
	}
	*c = CustomerClaim{ID: raw.ID, Expires: string(exp), Signature: raw.Signature}
	return nil
}

// Customers verifies the claims a shop signs for its signed-in customers
// (Intercom-style identity verification with an expiry).
type Customers struct {
	key []byte
	now func() time.Time
}

// NewCustomers returns a verifier for claims signed with key
// (BOTTEGA_CUSTOMER_KEY); now may be nil.
func NewCustomers(key string, now func() time.Time) *Customers {
	if now == nil {
		now = time.Now
	}
	return &Customers{key: []byte(key), now: now}
}

// Sign returns the claim for customer id that expires at expires, as the
// shop's backend would compute it (the demo page and tests use it).
func (c *Customers) Sign(id string, expires time.Time) CustomerClaim {
	exp := strconv.FormatInt(expires.Unix(), 10)
	return CustomerClaim{ID: id, Expires: exp, Signature: hex.EncodeToString(c.mac(id, exp))}
}

func (c *Customers) mac(id, expires string) []byte {
	m := hmac.New(sha256.New, c.key)
	m.Write([]byte(id))
	m.Write([]byte{':'})
	m.Write([]byte(expires))
	return m.Sum(nil)
}

// Verify returns the customer id of a genuine claim that has not expired
// and expires at most MaxClaimLife ahead. It returns ErrBadCustomerID,
// ErrMalformedClaim, ErrBadSignature, ErrClaimExpired or
// ErrClaimTooLongLife.
func (c *Customers) Verify(claim CustomerClaim) (string, error) {
	if claim.ID == "" || len(claim.ID) > MaxCustomerID || !utf8.ValidString(claim.ID) {
		return "", ErrBadCustomerID
	}
	exp, ok := unixSeconds(claim.Expires)
	if !ok {
		return "", ErrMalformedClaim
	}
	sig, err := hex.DecodeString(claim.Signature)
	if err != nil || !hmac.Equal(sig, c.mac(claim.ID, claim.Expires)) {
		return "", ErrBadSignature
	}
	now := c.now()
	switch at := time.Unix(exp, 0); {
	case !now.Before(at):
		return "", ErrClaimExpired
	case at.Sub(now) > MaxClaimLife:
		return "", ErrClaimTooLongLife
	}
	return claim.ID, nil
}

// unixSeconds parses a positive decimal number of seconds: digits only,
// no sign, no leading zero, at most 12 digits (year 33658).
func unixSeconds(s string) (int64, bool) {
	if s == "" || len(s) > 12 || s[0] == '0' {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}
