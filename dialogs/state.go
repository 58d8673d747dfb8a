package dialogs

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/bottega-shop/bottega/consent"
)

// stateName is where a conversation is in the dialog.
type stateName string

// The dialog's states. The zero value is idle.
const (
	// stIdle: no question pending; anything may come.
	stIdle stateName = ""
	// stChoosing: a numbered list of products is on screen; a number, an
	// ordinal or a distinguishing word picks one.
	stChoosing stateName = "choose"
	// stAskSize: the product is known and the bot asked for a size; a
	// bare number is a size.
	stAskSize stateName = "size"
	// stAskProduct: the shopper gave a size or colour but no product; the
	// next product named gets them.
	stAskProduct stateName = "product"
	// stOfferPerson: after two misunderstandings in a row the bot offered
	// a person; yes hands off, no goes back to idle.
	stOfferPerson stateName = "offer"
	// stHandoff: a person owns the conversation; the bot is silent until
	// HandBack.
	stHandoff stateName = "handoff"
	// stAskConsent: a consent notice was just shown with yes and no; a
	// short typed yes or no answers it (the buttons work in any state).
	stAskConsent stateName = "consent"
	// stConfirmForget: the bot asked whether to erase everything held on
	// the shopper; yes erases, no keeps it.
	stConfirmForget stateName = "forget"
)

// transitions lists the states each state may move to. Handoff is left
// only by HandBack, which returns to the state it was entered from.
var transitions = map[stateName][]stateName{
	stIdle:          talking,
	stChoosing:      talking,
	stAskSize:       talking,
	stAskProduct:    talking,
	stOfferPerson:   talking,
	stAskConsent:    talking,
	stConfirmForget: talking,
	stHandoff:       {stHandoff},
}

// talking are the states a conversation the bot owns may move to.
var talking = []stateName{
	stIdle, stChoosing, stAskSize, stAskProduct, stOfferPerson, stAskConsent, stConfirmForget, stHandoff,
}

// errTransition is a move the state machine does not allow: a bug.
var errTransition = errors.New("dialogs: state transition not allowed")

// session is a conversation's state between turns, saved as JSON by the
// dispatcher. It holds slots and references, never stock figures: those
// are read from the catalog at answer time.
type session struct {
	State stateName `json:"s,omitempty"`
	// Lang is the language the bot answers in; LangSet means the shopper
	// chose it ("in English please"), so guesses no longer change it.
	Lang    string `json:"l,omitempty"`
	LangSet bool   `json:"ls,omitempty"`
	// Product is the handle of the product being talked about.
	Product string   `json:"p,omitempty"`
	Sizes   []string `json:"z,omitempty"`
	Colours []string `json:"c,omitempty"`
	Qty     int      `json:"q,omitempty"`
	// Price means the question waiting for a product or a choice asked
	// for the price.
	Price bool `json:"pr,omitempty"`
	// Choices are the handles of the numbered list last shown.
	Choices []string `json:"ch,omitempty"`
	// Recent are the last products talked about, newest first, for
	// buttons pressed after the talk moved on.
	Recent []string `json:"r,omitempty"`
	// Misses counts misunderstandings in a row.
	Misses int `json:"m,omitempty"`
	// Notify are the SKUs the shopper asked to hear about when back in
	// stock: with a consent ledger, only once they agreed to
	// notifications. The subscription itself comes with the notifications
	// issue.
	Notify []string `json:"n,omitempty"`
	// PendNotify are SKUs asked about while the notifications question
	// waits for its answer: a yes moves them to Notify, a no drops them.
	PendNotify []string `json:"pn,omitempty"`
	// Asks are the consent notices shown and not answered yet, at most one
	// per purpose, the newest last: what a yes or no given later agrees to.
	Asks []shownNotice `json:"a,omitempty"`
	// PendSizes are sizes stated while the personalization question
	// waits: a yes remembers them, a no drops them.
	PendSizes []string `json:"pz,omitempty"`
	// Remember are the sizes the shopper allowed us to remember beyond
	// this conversation (personalization), newest first. They are used
	// only while that consent stands.
	Remember []string `json:"rm,omitempty"`
	// Seen means the shopper has talked to the bot before.
	Seen bool `json:"seen,omitempty"`
	// Resume is the state to go back to when a person hands back.
	Resume stateName `json:"rs,omitempty"`
	// Last is the time of the last turn, in Unix seconds.
	Last int64 `json:"t,omitempty"`
}

// shownNotice is a consent notice shown to the shopper: its purpose,
// version and language, which the answer to it is recorded with.
type shownNotice struct {
	Purpose consent.Purpose `json:"p"`
	Version int             `json:"v"`
	Lang    string          `json:"l"`
}

// Limits that keep a session small.
const (
	maxRecent   = 3
	maxNotify   = 20
	maxRemember = 3
)

func decodeSession(b []byte) (session, error) {
	var s session
	if len(b) == 0 {
		return s, nil
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return session{}, fmt.Errorf("dialogs: decode session: %w", err)
	}
	if _, ok := transitions[s.State]; !ok {
		return session{}, fmt.Errorf("dialogs: decode session: unknown state %q", s.State)
	}
	return s, nil
}

func (s *session) encode() []byte {
	b, err := json.Marshal(s)
	if err != nil {
		panic("dialogs: session does not encode: " + err.Error()) // only strings, ints and bools
	}
	return b
}

// to moves the session to next, if the state machine allows it.
func (s *session) to(next stateName) error {
	if !slices.Contains(transitions[s.State], next) {
		return fmt.Errorf("%w: %q to %q", errTransition, s.State, next)
	}
	if next == stHandoff && s.State != stHandoff {
		s.Resume = s.State
		switch s.Resume {
		case stOfferPerson, stAskConsent, stConfirmForget:
			// A question the person answered for the bot: do not let a
			// "yes" after the hand-back answer it.
			s.Resume = stIdle
		}
	}
	if next != stChoosing && next != stAskProduct {
		s.Price = false
	}
	if next != stChoosing {
		s.Choices = nil
	}
	s.State = next
	return nil
}

// asked returns the notice of purpose p shown and not answered yet.
func (s *session) asked(p consent.Purpose) (shownNotice, bool) {
	for _, a := range s.Asks {
		if a.Purpose == p {
			return a, true
		}
	}
	return shownNotice{}, false
}

// setAsk records that notice n was shown, replacing an older one of its
// purpose.
func (s *session) setAsk(n shownNotice) {
	s.dropAsk(n.Purpose)
	s.Asks = append(s.Asks, n)
}

// dropAsk forgets the notice of purpose p shown: it was answered.
func (s *session) dropAsk(p consent.Purpose) {
	s.Asks = slices.DeleteFunc(s.Asks, func(a shownNotice) bool { return a.Purpose == p })
	if len(s.Asks) == 0 {
		s.Asks = nil
	}
}

// addCapped appends x to list unless it is there, keeping the newest n.
func addCapped(list []string, x string, n int) []string {
	if slices.Contains(list, x) {
		return list
	}
	list = append(list, x)
	if len(list) > n {
		list = list[len(list)-n:]
	}
	return list
}

// remember puts handle first in the recent products.
func (s *session) remember(handle string) {
	s.Recent = slices.DeleteFunc(s.Recent, func(h string) bool { return h == handle })
	s.Recent = slices.Insert(s.Recent, 0, handle)
	if len(s.Recent) > maxRecent {
		s.Recent = s.Recent[:maxRecent]
	}
}

// HandBack returns a conversation from a person to the bot: the session
// leaves the handoff state for the one it was in before, and the bot
// answers again from the next message. A session not in handoff is
// returned unchanged.
func HandBack(state []byte) ([]byte, error) {
	s, err := decodeSession(state)
	if err != nil {
		return nil, err
	}
	if s.State != stHandoff {
		return state, nil
	}
	s.State, s.Resume, s.Misses = s.Resume, stIdle, 0
	if s.State == stChoosing && len(s.Choices) == 0 {
		s.State = stIdle
	}
	return s.encode(), nil
}

// InHandoff reports whether a person owns the conversation, so the bot is
// silent in it.
func InHandoff(state []byte) bool {
	s, err := decodeSession(state)
	return err == nil && s.State == stHandoff
}
