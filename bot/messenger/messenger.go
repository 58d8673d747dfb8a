// Package messenger is the Facebook Messenger channel: the webhook's
// handshake and signature check, the parsing of batched webhook events into
// bot.Message values and channel events (statuses, opt-ins, handover, human
// replies), the 24-hour window and thread ownership per shopper, and a
// Sender that delivers bot.Reply values through the Graph Send API over
// net/http.
//
// The conversation of a Messenger message is the shopper's page-scoped id
// (PSID); its Seq is the event's timestamp in milliseconds.
package messenger

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"strings"
)

// PageInboxAppID is the app id of Meta's Page Inbox (Meta Business Suite):
// echoes carrying it are messages a person wrote from the inbox, and
// passing a thread to it hands the conversation to a person.
const PageInboxAppID = "263902037430900"

// pageInboxTypo is the Page Inbox id as the message_echoes reference
// prints it, one digit short; accepted as well in case it is real.
const pageInboxTypo = "26390203743090"

// SignatureHeader is the header that carries the payload signature.
const SignatureHeader = "X-Hub-Signature-256"

// Verify answers the webhook's subscription handshake: given the query's
// hub.mode, hub.verify_token and hub.challenge and the configured verify
// token, it returns the challenge to echo verbatim and true when mode is
// "subscribe" and the tokens match (compared in constant time). An empty
// configured token refuses every handshake.
func Verify(mode, token, challenge, verifyToken string) (string, bool) {
	if verifyToken == "" || mode != "subscribe" {
		return "", false
	}
	if subtle.ConstantTimeCompare([]byte(token), []byte(verifyToken)) != 1 {
		return "", false
	}
	return challenge, true
}

// CheckSignature reports whether header, the X-Hub-Signature-256 value
// "sha256=<hex>", is the HMAC-SHA256 of the raw body keyed with appSecret.
// Hex digits may be in either case; the comparison is constant-time. An
// empty appSecret refuses every body.
func CheckSignature(header string, body []byte, appSecret string) bool {
	if appSecret == "" {
		return false
	}
	const prefix = "sha256="
	if len(header) != len(prefix)+2*sha256.Size || !strings.EqualFold(header[:len(prefix)], prefix) {
		return false
	}
	got, err := hex.DecodeString(header[len(prefix):])
	if err != nil {
		return false
	}
	mac := hmac.New(sha256.New, []byte(appSecret))
	mac.Write(body)
	return hmac.Equal(got, mac.Sum(nil))
}

// Sign returns the X-Hub-Signature-256 value for body under appSecret, as
// Meta computes it (for tests and load generators).
func Sign(body []byte, appSecret string) string {
	mac := hmac.New(sha256.New, []byte(appSecret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}
