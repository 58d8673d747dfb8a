package dialogs

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
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
)

// transitions lists the states each state may move to. Handoff is left
// only by HandBack, which returns to the state it was entered from.
var transitions = map[stateName][]stateName{
	stIdle:        {stIdle, stChoosing, stAskSize, stAskProduct, stOfferPerson, stHandoff},
	stChoosing:    {stIdle, stChoosing, stAskSize, stAskProduct, stOfferPerson, stHandoff},
	stAskSize:     {stIdle, stChoosing, stAskSize, stAskProduct, stOfferPerson, stHandoff},
	stAskProduct:  {stIdle, stChoosing, stAskSize, stAskProduct, stOfferPerson, stHandoff},
	stOfferPerson: {stIdle, stChoosing, stAskSize, stAskProduct, stOfferPerson, stHandoff},
	stHandoff:     {stHandoff},
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
	// stock. The subscription itself comes with the notifications issue.
	Notify []string `json:"n,omitempty"`
	// Seen means the shopper has talked to the bot before.
	Seen bool `json:"seen,omitempty"`
	// Resume is the state to go back to when a person hands back.
	Resume stateName `json:"rs,omitempty"`
	// Last is the time of the last turn, in Unix seconds.
	Last int64 `json:"t,omitempty"`
}

// Limits that keep a session small.
const (
	maxRecent = 3
	maxNotify = 20
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
		if s.Resume == stOfferPerson {
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
