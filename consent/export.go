package consent

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// ExportFormat names the format of Export, described by the JSON Schema
// ExportSchema.
const ExportFormat = "bottega.export/v1"

//go:embed exportschema.json
var exportSchema []byte

// ExportSchema returns the JSON Schema (draft 2020-12) of the export.
func ExportSchema() []byte { return bytes.Clone(exportSchema) }

// Export is everything held on one person, as they download it: a
// structured, machine-readable copy (GDPR art. 15 and 20). Its JSON is
// described by ExportSchema.
type Export struct {
	// Format is ExportFormat.
	Format      string        `json:"format"`
	GeneratedAt time.Time     `json:"generated_at"`
	Profile     ExportProfile `json:"profile"`
	// Consents holds every asked purpose with its state and the receipts
	// of every decision about it, oldest first.
	Consents []ExportConsent `json:"consents"`
	// Erasures are the earlier erasures of the person's data.
	Erasures []Receipt `json:"erasures"`
	// Links are the receipts of the person's channel identities linked
	// to their shop account, oldest first.
	Links []Receipt `json:"links"`
	// Subscriptions are back-in-stock subscriptions, from the holders.
	Subscriptions []json.RawMessage `json:"subscriptions"`
	// Conversations are the chat transcripts, from the holders.
	Conversations []json.RawMessage `json:"conversations"`
	// Orders is empty: Bottega keeps no orders yet.
	Orders []json.RawMessage `json:"orders"`
	// Other holds the holders' other sections, by store name.
	Other map[string]json.RawMessage `json:"other"`
}

// ExportProfile says who the export is about.
type ExportProfile struct {
	// Subject is the person's pseudonymous id.
	Subject string `json:"subject"`
	// Channels are the channels the person used, sorted.
	Channels []string `json:"channels"`
	// Linked are the channels linked to the person's shop account,
	// sorted; none when the person is not a shop customer.
	Linked []string `json:"linked,omitempty"`
	// FirstSeen is the time of the first consent record, if any.
	FirstSeen time.Time `json:"first_seen,omitzero"`
}

// ExportConsent is one purpose's state and its receipts.
type ExportConsent struct {
	Purpose Purpose `json:"purpose"`
	// Granted reports whether the purpose may be used now.
	Granted  bool      `json:"granted"`
	Receipts []Receipt `json:"receipts"`
}

// Receipt is one ledger event as the person sees it: what was decided,
// on which notice, how and when.
type Receipt struct {
	EventID       int64  `json:"event_id"`
	Action        Action `json:"action"`
	NoticeVersion int    `json:"notice_version,omitempty"`
	// NoticeHash is the hex SHA-256 of the notice text shown.
	NoticeHash string    `json:"notice_hash,omitempty"`
	Lang       string    `json:"lang,omitempty"`
	Channel    string    `json:"channel,omitempty"`
	Method     Method    `json:"method,omitempty"`
	MessageID  string    `json:"message_id,omitempty"`
	Actor      Actor     `json:"actor"`
	At         time.Time `json:"at"`
}

func receiptOf(e Event) Receipt {
	return Receipt{EventID: e.ID, Action: e.Action, NoticeVersion: e.NoticeVersion, NoticeHash: e.NoticeHash,
		Lang: e.Lang, Channel: e.Channel, Method: e.Method, MessageID: e.MessageID, Actor: e.Actor, At: e.At}
}

// exportSections are the holder sections that join the export's own.
var exportSections = []string{"subscriptions", "conversations", "orders"}

// Export collects everything held on the person subject resolves to (a
// person, or the person a channel identity is linked to), over every
// identity linked to it: the consent and link receipts from the ledger
// and every holder's sections. Errors wrap ErrInvalid for a malformed
// subject or a holder's export that is not a JSON object of sections,
// and ErrNotFound when nothing is held on the person (never seen, or
// erased with nothing held since).
func (s *DataRights) Export(ctx context.Context, subject string) (Export, error) {
	if !isSubject(subject) {
		return Export{}, fmt.Errorf("consent: export: subject is not a subject id: %w", ErrInvalid)
	}
	sc, err := s.scopeOf(ctx, subject)
	if err != nil {
		return Export{}, fmt.Errorf("consent: export: %w", err)
	}
	events, convs := sc.events, sc.convs
	if known, err := s.known(ctx, sc); err != nil {
		return Export{}, fmt.Errorf("consent: export: %w", err)
	} else if !known {
		return Export{}, fmt.Errorf("consent: export: subject: %w", ErrNotFound)
	}

	x := Export{
		Format:        ExportFormat,
		GeneratedAt:   s.now().UTC().Truncate(time.Second),
		Profile:       ExportProfile{Subject: sc.person, Channels: []string{}, Linked: linkedChannels(sc.identities)},
		Erasures:      []Receipt{},
		Links:         []Receipt{},
		Subscriptions: []json.RawMessage{},
		Conversations: []json.RawMessage{},
		Orders:        []json.RawMessage{},
		Other:         map[string]json.RawMessage{},
	}
	state := StateOf(events)
	byPurpose := make(map[Purpose][]Receipt)
	channels := make(map[string]bool)
	for _, e := range events {
		if e.Channel != "" {
			channels[e.Channel] = true
		}
		switch e.Action {
		case Erase:
			x.Erasures = append(x.Erasures, receiptOf(e))
			continue
		case Link:
			x.Links = append(x.Links, receiptOf(e))
			continue
		}
		byPurpose[e.Purpose] = append(byPurpose[e.Purpose], receiptOf(e))
	}
	if len(events) > 0 {
		x.Profile.FirstSeen = events[0].At
	}
	for _, p := range Purposes() {
		if !p.Asked() {
			continue
		}
		rs := byPurpose[p]
		if rs == nil {
			rs = []Receipt{}
		}
		x.Consents = append(x.Consents, ExportConsent{Purpose: p, Granted: state[p].Granted, Receipts: rs})
	}
	for _, c := range convs {
		if ch := channelOf(c); ch != "" {
			channels[ch] = true
		}
	}
	for ch := range channels {
		x.Profile.Channels = append(x.Profile.Channels, ch)
	}
	slices.Sort(x.Profile.Channels)

	for _, h := range s.holders {
		raw, err := h.Export(ctx, sc.person, convs)
		if err != nil {
			return Export{}, fmt.Errorf("consent: export: store %s: %w", h.Name(), err)
		}
		if err := x.add(h.Name(), raw); err != nil {
			return Export{}, fmt.Errorf("consent: export: store %s: %w", h.Name(), err)
		}
	}
	return x, nil
}

// add merges one holder's sections into x.
func (x *Export) add(store string, raw json.RawMessage) error {
	if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null" {
		return nil
	}
	var sections map[string]json.RawMessage
	if err := json.Unmarshal(raw, &sections); err != nil {
		return fmt.Errorf("its export is not a JSON object of sections: %w", ErrInvalid)
	}
	for _, name := range exportSections {
		sec, ok := sections[name]
		if !ok {
			continue
		}
		delete(sections, name)
		var items []json.RawMessage
		if err := json.Unmarshal(sec, &items); err != nil {
			return fmt.Errorf("its section %s is not an array: %w", name, ErrInvalid)
		}
		switch name {
		case "subscriptions":
			x.Subscriptions = append(x.Subscriptions, items...)
		case "conversations":
			x.Conversations = append(x.Conversations, items...)
		case "orders":
			x.Orders = append(x.Orders, items...)
		}
	}
	if len(sections) == 0 {
		return nil
	}
	rest, err := json.Marshal(sections)
	if err != nil {
		return err
	}
	x.Other[store] = rest
	return nil
}
