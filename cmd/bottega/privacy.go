package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"

	"github.com/bottega-shop/bottega/bot"
	"github.com/bottega-shop/bottega/consent"
	"github.com/bottega-shop/bottega/consent/sqlconsent"
	"github.com/bottega-shop/bottega/internal/sqldb"
)

// privacy is the consent and data-rights stack: the ledger on the system
// of record, the per-person keys in a database of their own (so that
// backups of the main database hold no keys), the data-rights service
// fanning requests out to every store, and the access audit.
type privacy struct {
	secret  string
	log     *slog.Logger
	keysDB  *sqldb.DB
	ledger  *consent.Ledger
	keyring *consent.Keyring
	audit   *sqlconsent.Audit
	rights  *consent.DataRights
	// convs is the conversation store's part in data requests; its
	// dispatcher is set once the chat stack is built.
	convs *conversationHolder

	// subjects remembers the subjects of recent conversation keys: a turn
	// seals its state and each entry, and each seal needs the subject.
	subjectsMu sync.Mutex
	subjects   map[string]string
}

// maxSubjects bounds privacy.subjects; past it the map starts over.
const maxSubjects = 8192

// openPrivacy opens the keys database and builds the ledger, keyring and
// data-rights service. Holders for the conversation store and the rest
// are registered here; the conversation holder learns its dispatcher later.
func openPrivacy(ctx context.Context, cfg *config, b *backends, log *slog.Logger, extra ...consent.Holder) (_ *privacy, err error) {
	p := &privacy{secret: cfg.SecretKey, log: log}
	defer func() {
		if err != nil {
			p.Close()
		}
	}()
	switch {
	case cfg.KeysDatabaseURL != "":
		p.keysDB, err = sqldb.Open(ctx, cfg.KeysDatabaseURL, "")
		if err != nil {
			return nil, startupError("BOTTEGA_KEYS_DATABASE_URL", err)
		}
	case cfg.embedded():
		p.keysDB, err = sqldb.OpenSQLite(filepath.Join(cfg.DataDir, sqlconsent.KeysFile))
		if err != nil {
			return nil, startupError("BOTTEGA_DATA_DIR", err)
		}
	default:
		p.keysDB, err = sqldb.Open(ctx, cfg.DatabaseURL, "")
		if err != nil {
			return nil, startupError("DATABASE_URL", err)
		}
	}
	keys, err := sqlconsent.NewKeyStore(p.keysDB)
	if err != nil {
		return nil, fmt.Errorf("keys store: %w", err)
	}
	if p.keyring, err = consent.NewKeyring(keys, []byte(cfg.SecretKey)); err != nil {
		return nil, fmt.Errorf("keyring: %w", err)
	}
	notices, err := consent.NewNotices()
	if err != nil {
		return nil, fmt.Errorf("consent notices: %w", err)
	}
	ledgerStore, err := sqlconsent.New(b.db)
	if err != nil {
		return nil, fmt.Errorf("consent ledger: %w", err)
	}
	p.ledger = consent.New(ledgerStore, notices)
	if p.audit, err = sqlconsent.NewAudit(b.db, nil); err != nil {
		return nil, fmt.Errorf("access audit: %w", err)
	}
	tokens, err := sqlconsent.NewTokens(b.db, nil)
	if err != nil {
		return nil, fmt.Errorf("export links: %w", err)
	}
	codes, err := sqlconsent.NewLinkCodes(b.db, nil)
	if err != nil {
		return nil, fmt.Errorf("link codes: %w", err)
	}
	convStore := "sql"
	if b.redis != nil {
		convStore = "redis"
	}
	p.convs = &conversationHolder{name: "conversations (" + convStore + ")"}
	opts := []consent.ServiceOption{
		consent.WithTokenStore(tokens), consent.WithLinkCodeStore(codes), consent.WithPublicURL(cfg.PublicURL),
		consent.WithServiceLogger(log), consent.WithHolder(p.convs),
		consent.WithHolder(indexHolder{name: "search index (" + b.indexName + ")"}),
	}
	for _, h := range extra {
		opts = append(opts, consent.WithHolder(h))
	}
	if b.db.Dialect == sqldb.SQLite {
		// Last, once every other store has deleted its rows.
		opts = append(opts, consent.WithHolder(walHolder{b.db}))
	}
	if p.rights, err = consent.NewService(p.ledger, p.keyring, []byte(cfg.SecretKey), opts...); err != nil {
		return nil, fmt.Errorf("data rights: %w", err)
	}
	return p, nil
}

// Close closes the keys database.
func (p *privacy) Close() error {
	if p == nil || p.keysDB == nil {
		return nil
	}
	return p.keysDB.Close()
}

// subject is the pseudonymous subject of a conversation key
// ("telegram:12345"): one subject per channel identity.
func (p *privacy) subject(key string) string {
	p.subjectsMu.Lock()
	s, ok := p.subjects[key]
	p.subjectsMu.Unlock()
	if ok {
		return s
	}
	channel, id, _ := strings.Cut(key, ":")
	s = consent.SubjectID(p.secret, channel, id)
	p.subjectsMu.Lock()
	if p.subjects == nil || len(p.subjects) >= maxSubjects {
		p.subjects = make(map[string]string)
	}
	p.subjects[key] = s
	p.subjectsMu.Unlock()
	return s
}

// personOf is the consent subject of a message's sender: the person their
// channel identity is linked to (a signed-in shop customer), or else the
// identity's own subject. A lookup that fails falls back to the
// identity's subject: its decisions still count for the person, whose
// ledger history merges the identities it links.
func (p *privacy) personOf(ctx context.Context, m bot.Message) string {
	key := m.Key()
	person, err := p.rights.PersonOf(ctx, key)
	if err != nil {
		p.log.Warn("resolving the shopper's person failed", "conversation", key, "err", err)
		return p.subject(key)
	}
	return person
}

// LinkCustomer implements webchat.Linker: a web-chat visitor signed in on
// the shop's site is that customer, from now on and in the ledger.
func (p *privacy) LinkCustomer(ctx context.Context, conversation, customerID string) error {
	_, err := p.rights.LinkCustomer(ctx, conversation, customerID, consent.Event{})
	return err
}

// Seal implements bot.Sealer with the conversation's person's key,
// linking the conversation to them so that an erasure finds it.
func (p *privacy) Seal(ctx context.Context, key string, plain []byte) ([]byte, error) {
	subject := p.subject(key)
	if err := p.keyring.Link(ctx, subject, key); err != nil {
		return nil, sealErr(err)
	}
	b, err := p.keyring.Seal(ctx, subject, plain)
	return b, sealErr(err)
}

// Open implements bot.Sealer.
func (p *privacy) Open(ctx context.Context, key string, sealed []byte) ([]byte, error) {
	b, err := p.keyring.Open(ctx, p.subject(key), sealed)
	return b, sealErr(err)
}

func sealErr(err error) error {
	if errors.Is(err, consent.ErrErased) {
		return fmt.Errorf("%w: %w", bot.ErrErased, err)
	}
	return err
}

// conversationHolder is the conversation store's part in data requests:
// the logs (opened through the dispatcher) and, on erasure, everything
// the store keeps of the conversation, the outbound queue's pending
// deliveries included (bot.Forgetter).
type conversationHolder struct {
	name   string
	d      *bot.Dispatcher
	forget bot.Forgetter
}

// Name implements consent.Holder.
func (h *conversationHolder) Name() string { return h.name }

// entries reads the whole readable log of a conversation.
func (h *conversationHolder) entries(ctx context.Context, key string) ([]bot.Entry, error) {
	var all []bot.Entry
	var after int64
	for {
		es, err := h.d.Entries(ctx, key, after, bot.MaxEntriesLimit)
		if err != nil {
			return nil, err
		}
		for _, e := range es {
			if !e.Erased {
				all = append(all, e)
			}
		}
		if len(es) < bot.MaxEntriesLimit {
			return all, nil
		}
		after = es[len(es)-1].Seq
	}
}

// Held implements consent.Holder.
func (h *conversationHolder) Held(ctx context.Context, _ string, convs []string) ([]consent.Holding, error) {
	n := 0
	for _, key := range convs {
		es, err := h.entries(ctx, key)
		if err != nil {
			return nil, err
		}
		n += len(es)
	}
	if n == 0 {
		return nil, nil
	}
	return []consent.Holding{{What: "conversation", Count: n}}, nil
}

// exportedMessage follows exportschema.json's message.
type exportedMessage struct {
	Seq   int64      `json:"seq"`
	From  string     `json:"from"`
	Text  string     `json:"text,omitempty"`
	Reply *bot.Reply `json:"reply,omitempty"`
	At    string     `json:"at"`
}

type exportedConversation struct {
	Conversation string            `json:"conversation"`
	Channel      string            `json:"channel"`
	Messages     []exportedMessage `json:"messages"`
}

// Export implements consent.Holder.
func (h *conversationHolder) Export(ctx context.Context, _ string, convs []string) (json.RawMessage, error) {
	out := struct {
		Conversations []exportedConversation `json:"conversations"`
	}{Conversations: []exportedConversation{}}
	for _, key := range convs {
		es, err := h.entries(ctx, key)
		if err != nil {
			return nil, err
		}
		if len(es) == 0 {
			continue
		}
		channel, _, _ := strings.Cut(key, ":")
		c := exportedConversation{Conversation: key, Channel: channel, Messages: make([]exportedMessage, 0, len(es))}
		for _, e := range es {
			c.Messages = append(c.Messages, exportedMessage{Seq: e.Seq, From: e.From, Text: e.Text, Reply: e.Reply, At: e.At.UTC().Format("2006-01-02T15:04:05.999999Z07:00")})
		}
		out.Conversations = append(out.Conversations, c)
	}
	return json.Marshal(out)
}

// Erase implements consent.Holder. The conversation of a chat turn that
// asked for the erasure is left to that turn's commit (bot.Turn.Forget),
// which erases it atomically and keeps only the farewell, briefly.
func (h *conversationHolder) Erase(ctx context.Context, _ string, convs []string) (consent.StoreReport, error) {
	r := consent.StoreReport{Store: h.name}
	current := ""
	if t := bot.TurnOf(ctx); t != nil {
		current = t.Key()
	}
	for _, key := range convs {
		if key == current {
			r.Erased++
			continue
		}
		if err := h.forget.Forget(ctx, key); err != nil {
			return r, err
		}
		r.Erased++
	}
	r.Note = fmt.Sprintf("deleted %d conversation(s): session state, messages, done marks and replies waiting in the outbound queue", r.Erased)
	return r, nil
}

// indexHolder is the search index's part: it holds products only.
type indexHolder struct{ name string }

func (h indexHolder) Name() string { return h.name }

func (h indexHolder) Held(context.Context, string, []string) ([]consent.Holding, error) {
	return nil, nil
}

func (h indexHolder) Export(context.Context, string, []string) (json.RawMessage, error) {
	return nil, nil
}

func (h indexHolder) Erase(context.Context, string, []string) (consent.StoreReport, error) {
	return consent.StoreReport{Store: h.name, Note: "holds products only, nothing about people: nothing to erase"}, nil
}

// walHolder truncates SQLite's write-ahead log after the other stores
// deleted a person's rows, so that no copy of them stays in the log file.
type walHolder struct{ db *sqldb.DB }

func (h walHolder) Name() string { return "sql write-ahead log" }

func (h walHolder) Held(context.Context, string, []string) ([]consent.Holding, error) {
	return nil, nil
}

func (h walHolder) Export(context.Context, string, []string) (json.RawMessage, error) {
	return nil, nil
}

func (h walHolder) Erase(ctx context.Context, _ string, _ []string) (consent.StoreReport, error) {
	r := consent.StoreReport{Store: h.Name(), Note: "truncated, so deleted rows do not linger in it"}
	if bot.TurnOf(ctx) != nil {
		// In a chat, the conversation is erased when the turn commits, and
		// the log is truncated once the farewell is delivered.
		r.Note = "truncated once the confirmation is delivered, so deleted rows do not linger in it"
		return r, nil
	}
	return r, h.db.Checkpoint(ctx)
}
