// Package redisdialogs keeps conversations — locks, queues, dedupe marks,
// session state and logs — and the outbound queue in Redis with go-redis
// v9. It implements bot.Store, bot.OutboxStore and bot.Forgetter for
// several replicas sharing one Redis.
//
// A Dispatch costs two round trips: one Lua script checks the done mark,
// queues the message and takes the lock (SET PX with a fencing token
// counted in a hash) and reads the session; another checks the token and
// the version and then saves the state, appends the entries, sets the done
// mark, marks the conversation due in the outbound queue (Update.Deliver),
// releases the lock and publishes the event — the last Seq committed —,
// atomically. Subscribe shares one pub/sub connection per Store among all
// its subscribers.
//
// The outbound queue is one sorted set of the conversations with entries
// to deliver, scored by when each is next due; the delivery cursor,
// attempts and lease live in the conversation's hash. Due, Settle and
// Forget are one script each. These scripts and the commit script reach
// the queue's keys besides the conversation's, so the Store needs a
// single Redis (with replicas if wanted), not Redis Cluster.
//
// Memory: an idle conversation keeps a small hash (counters), its state,
// a sorted set of the message IDs handled in the dedupe window and its
// log, all with TTLs; the lock and the queue exist only while messages are
// being handled, and the delivery fields (five small numbers in the hash,
// and the raw key with pseudonyms) and the conversation's member of the
// outbound set only while it has entries to deliver: once delivered, it
// keeps nothing for the queue. The dead letters are one list of at most
// maxDeadLetters entries. With WithArchive the log is only a tail: the
// entries of a conversation idle for the archive delay move to the SQL
// system of record (see archive.go), and the idle conversation keeps its
// hash, state and done marks, under 1 KB after eight turns.
//
// Forget, or a commit with Update.Forget, deletes everything but the
// counters in the hash (last Seq, version, fencing and queue tickets),
// which hold nothing about the person and expire with it; so Seq numbers
// and fencing tokens continue.
//
// Pseudonyms. A conversation key names the shopper on their platform
// ("telegram:777000111"). With WithPseudonyms, no key name, pub/sub
// channel or member of the outbound queue holds it: each is named after an
// HMAC of the key under a secret (see pseudonym.go), so that once a
// conversation is forgotten, and its counters are all that is left, no key
// or value in Redis leads back to the person. The raw key is stored in one
// place only, and only while the outbound queue needs it to deliver: a
// field of the conversation's hash, set by the commit that queues replies
// and deleted when the conversation leaves the queue (or is forgotten).
// Dead letters keep the raw key, for the admin who reads them, until they
// are trimmed or the conversation is forgotten. The stores sharing a
// secret share an outbound queue of their own, so stores with different
// secrets on one Redis (replicas during a change of secret) neither see
// nor lease each other's conversations.
//
// Turning pseudonyms on, or changing the secret, starts every session over:
// what was written under the old names is not found under the new ones,
// and expires with its TTLs (the log after the log TTL). Replies queued
// and not yet sent at the switch stay in the old queue: switch when the
// outbound queue is drained (Backlog) or accept that they are not sent.
// Forget, and a commit with Update.Forget, also delete what a conversation
// left under its raw key before pseudonyms were turned on, so an erasure
// in the meantime erases it too.
package redisdialogs

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/bottega-shop/bottega/bot"
)

// DefaultPrefix starts every key and pub/sub channel name.
const DefaultPrefix = "bottega:"

// fenceKeep is how long the hash counting a conversation's fencing tokens
// is kept at least after a lease or commit, so that a token is never
// granted twice to holders still alive.
const fenceKeep = 24 * time.Hour

// maxDeadLetters is how many dead letters the Store keeps; older ones are
// dropped.
const maxDeadLetters = 10000

// subscribeWait bounds how long Subscribe waits for Redis to confirm a
// subscription; past it the subscription still starts when Redis answers.
const subscribeWait = 5 * time.Second

// Store keeps conversations in Redis. It implements bot.Store. Close it to
// stop its pub/sub connection.
type Store struct {
	rdb          *redis.Client
	prefix       string
	events       string // pub/sub channel prefix, with the database number
	outbox, dead string // the outbound queue's keys (see QueueKeys)
	pseudonyms   *bot.Pseudonymizer
	legacyOutbox string // the outbound queue of raw keys, with pseudonyms

	archive      Archive       // WithArchive, else nil
	archiveDelay time.Duration // WithArchiveDelay
	archiveSet   string        // the archive's sorted set of due conversations

	mu     sync.Mutex
	ps     *redis.PubSub
	topics map[string]*topic // by channel name
	done   chan struct{}     // closed when the receive loop ends
	closed bool
}

var (
	_ bot.Store       = (*Store)(nil)
	_ bot.OutboxStore = (*Store)(nil)
	_ bot.Forgetter   = (*Store)(nil)
)

// topic is one subscribed channel and its local subscribers.
type topic struct {
	subs      map[chan int64]struct{}
	ready     chan struct{} // closed when Redis confirms the subscription
	confirmed bool
}

// Option configures a Store.
type Option func(*Store)

// WithPrefix sets the prefix of key and channel names (default
// DefaultPrefix). It must not contain "{" or "}".
func WithPrefix(p string) Option {
	return func(s *Store) { s.prefix = p }
}

// WithPseudonyms names each conversation's Redis keys, pub/sub channel and
// outbound queue member after a pseudonym of its key, an HMAC under secret,
// and keeps the raw key only while replies wait for delivery (see the
// package comment). Stores sharing a Redis and a prefix must share the
// secret to share conversations. It panics if secret is empty.
func WithPseudonyms(secret []byte) Option {
	if len(secret) == 0 {
		panic("redisdialogs: WithPseudonyms needs a secret")
	}
	p := bot.NewPseudonymizer(secret)
	return func(s *Store) { s.pseudonyms = p }
}

// New returns a Store on client, which the caller keeps and closes.
func New(client *redis.Client, opts ...Option) *Store {
	s := &Store{rdb: client, prefix: DefaultPrefix, topics: make(map[string]*topic), archiveDelay: DefaultArchiveDelay}
	for _, o := range opts {
		o(s)
	}
	// Pub/sub channels are not per database: name the database so that
	// stores on different databases of one server stay apart.
	s.events = s.prefix + "ev:" + strconv.Itoa(client.Options().DB) + ":"
	s.outbox, s.dead = s.prefix+"outbox", s.prefix+"outbox:dead"
	s.archiveSet = s.prefix + "archive"
	if s.pseudonyms != nil {
		s.legacyOutbox = s.outbox
		s.outbox += ":" + s.pseudonyms.Namespace()
		s.archiveSet += ":" + s.pseudonyms.Namespace()
	}
	return s
}

// name returns what conversation key is called in Redis: its pseudonym,
// or the key itself without WithPseudonyms. Error messages use it too.
func (s *Store) name(key string) string {
	if s.pseudonyms == nil {
		return key
	}
	var buf [bot.PseudonymLen]byte
	return string(s.pseudonyms.Append(buf[:0], key))
}

// Close stops the Store's pub/sub connection and closes every subscriber's
// channel. It does not close the client.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	for name, t := range s.topics {
		for ch := range t.subs {
			close(ch)
		}
		delete(s.topics, name)
	}
	ps, done := s.ps, s.done
	s.mu.Unlock()
	if ps == nil {
		return nil
	}
	err := ps.Close()
	<-done
	if err != nil {
		return fmt.Errorf("redisdialogs: close: %w", err)
	}
	return nil
}

// keys returns the Redis keys of conversation key, each with the given
// suffixes ("m", "s", …), with room for three more. The pseudonym, if any,
// is computed on the stack.
func (s *Store) keys(key string, suffixes ...string) []string {
	if s.pseudonyms == nil {
		return s.keysNamed(key, suffixes...)
	}
	var buf [bot.PseudonymLen]byte
	return s.keysNamed(string(s.pseudonyms.Append(buf[:0], key)), suffixes...)
}

// keysNamed is keys for the conversation named name (see Store.name). The
// names are written back to back in one string and sliced from it: a turn
// names a dozen keys, and one allocation holds them all.
func (s *Store) keysNamed(name string, suffixes ...string) []string {
	base := len(s.prefix) + len(name) + len("{}:")
	n := 0
	for _, x := range suffixes {
		n += base + len(x)
	}
	var b strings.Builder
	b.Grow(n)
	for _, x := range suffixes {
		b.WriteString(s.prefix)
		b.WriteByte('{')
		b.WriteString(name)
		b.WriteString("}:")
		b.WriteString(x)
	}
	all := b.String()
	out := make([]string, len(suffixes), len(suffixes)+3)
	for i, x := range suffixes {
		out[i], all = all[:base+len(x)], all[base+len(x):]
	}
	return out
}

// Keys returns the names of the Redis keys that conversation key may use,
// for inspection and erasure: the hash of counters first, then the state,
// the log, the done marks, the lock and the queue. Besides them, the
// conversation may be a member of the outbound queue's sorted set and have
// dead letters in its list (see QueueKeys); Forget removes those too.
func (s *Store) Keys(key string) []string {
	return s.keys(key, "m", "s", "l", "d", "k", "q")
}

// QueueKeys returns the names of the outbound queue's two Redis keys,
// shared by all conversations (with WithPseudonyms, the queue by all
// conversations under the same secret): the sorted set of the
// conversations with entries to deliver and the list of dead letters.
func (s *Store) QueueKeys() (outbox, dead string) {
	return s.outbox, s.dead
}

// deadPrefix is how the JSON of conversation key's dead letters begins.
func deadPrefix(key string) string {
	b, _ := json.Marshal(key) // a string always encodes
	return `{"conversation":` + string(b) + `,`
}

// Acquire implements bot.Store.
func (s *Store) Acquire(ctx context.Context, key string, c bot.Claim) (*bot.Lease, error) {
	switch {
	case key == "" || c.MessageID == "":
		return nil, fmt.Errorf("redisdialogs: acquire %q: conversation and message id are required", s.name(key))
	case c.Lease < time.Millisecond || c.Wait < time.Millisecond:
		return nil, fmt.Errorf("redisdialogs: acquire %q: lease and wait must be at least 1ms", s.name(key))
	}
	inOrder := "0"
	if c.InOrder {
		inOrder = "1"
	}
	res, err := acquireScript.Run(ctx, s.rdb, s.keys(key, "m", "s", "d", "k", "q"),
		c.MessageID, c.Seq, inOrder, c.Lease.Milliseconds(), c.Wait.Milliseconds()).Slice()
	if err != nil {
		return nil, fmt.Errorf("redisdialogs: acquire %q: %w", s.name(key), err)
	}
	switch status, _ := res[0].(int64); status {
	case 0:
		return nil, bot.ErrDuplicate
	case 2:
		return nil, bot.ErrGap
	case 3:
		return nil, bot.ErrBusy
	case 1:
		if len(res) < 4 {
			break
		}
		l := &bot.Lease{Key: key, MessageID: c.MessageID}
		l.Token, _ = res[1].(int64)
		l.Version, _ = res[2].(int64)
		l.LastSeq, _ = res[3].(int64)
		if len(res) > 4 {
			if st, ok := res[4].(string); ok && st != "" {
				l.State = []byte(st)
			}
		}
		return l, nil
	}
	return nil, fmt.Errorf("redisdialogs: acquire %q: unexpected reply %v", s.name(key), res)
}

// record is an Entry as stored in the log list: the conversation and Seq
// follow from the list, and the names are short to save memory.
type record struct {
	From      string     `json:"f"`
	MessageID string     `json:"m,omitempty"`
	Text      string     `json:"t,omitempty"`
	Reply     *bot.Reply `json:"r,omitempty"`
	At        int64      `json:"a"` // Unix microseconds
	Sealed    []byte     `json:"x,omitempty"`
}

// entry returns r as the entry seq of conversation key.
func (r *record) entry(key string, seq int64) bot.Entry {
	return bot.Entry{
		Seq: seq, Conversation: key, From: r.From, MessageID: r.MessageID,
		Text: r.Text, Reply: r.Reply, At: time.UnixMicro(r.At).UTC(), Sealed: r.Sealed,
	}
}

// Commit implements bot.Store.
func (s *Store) Commit(ctx context.Context, l *bot.Lease, u bot.Update) ([]bot.Entry, error) {
	name := s.name(l.Key)
	if u.SessionTTL < time.Millisecond || u.DedupeTTL < time.Millisecond || u.LogTTL < time.Millisecond {
		return nil, fmt.Errorf("redisdialogs: commit %q: expiry times must be at least 1ms", name)
	}
	mode, state := "s", ""
	switch {
	case u.KeepState:
		mode = "k"
	case len(u.State) == 0:
		mode = "d"
	default:
		state = string(u.State)
	}
	flags, dead := "", ""
	if u.Forget {
		flags, dead = "f", deadPrefix(l.Key)
	}
	if u.Deliver {
		flags += "o"
	}
	if s.archive != nil {
		flags += "a"
	}
	raw := "" // the raw key, kept while queued, if the names hide it
	if s.pseudonyms != nil {
		raw = l.Key
	}
	args := make([]any, 0, 16+len(u.Entries))
	args = append(args, l.Token, l.Version, u.MessageID, u.Seq, mode, state,
		u.SessionTTL.Milliseconds(), u.DedupeTTL.Milliseconds(), u.LogTTL.Milliseconds(),
		max(u.SessionTTL, u.LogTTL, fenceKeep).Milliseconds(), s.events+name, flags, name, dead, raw,
		s.archiveDelay.Milliseconds())
	out := make([]bot.Entry, len(u.Entries))
	for i, e := range u.Entries {
		e.Conversation = l.Key
		e.At = time.UnixMicro(e.At.UnixMicro()).UTC()
		out[i] = e
		b, err := json.Marshal(record{From: e.From, MessageID: e.MessageID, Text: e.Text, Reply: e.Reply, At: e.At.UnixMicro(), Sealed: e.Sealed})
		if err != nil {
			return nil, fmt.Errorf("redisdialogs: commit %q: encode entry: %w", name, err)
		}
		args = append(args, b)
	}
	ks := append(s.keysNamed(name, "m", "s", "d", "k", "l", "q"), s.outbox, s.dead, s.archiveSet)
	if u.Forget {
		ks = s.appendLegacy(ks, l.Key)
	}
	res, err := commitScript.Run(ctx, s.rdb, ks, args...).Slice()
	if err != nil {
		return nil, fmt.Errorf("redisdialogs: commit %q: %w", name, err)
	}
	switch status, _ := res[0].(int64); status {
	case 0:
		return nil, fmt.Errorf("redisdialogs: commit %q with token %d: %w", name, l.Token, bot.ErrLockLost)
	case -1:
		return nil, fmt.Errorf("redisdialogs: commit %q at version %d: %w", name, l.Version, bot.ErrStale)
	case 1:
		last, _ := res[1].(int64)
		for i := range out {
			out[i].Seq = last - int64(len(out)) + 1 + int64(i)
		}
		if u.Forget && s.archive != nil && len(res) > 3 {
			// The turn is committed: the erasure of the archived copies
			// is retried by ArchiveDue if it fails here (see archive.go).
			gen, _ := res[3].(int64)
			if err := s.forgetArchived(ctx, name, gen, l.Key); err != nil {
				return nil, fmt.Errorf("redisdialogs: commit %q: %w", name, err)
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("redisdialogs: commit %q: unexpected reply %v", name, res)
}

// appendLegacy appends to keys, with WithPseudonyms, the keys conversation
// key had before pseudonyms were turned on and the outbound queue they
// used, for the scripts that forget it to delete them too.
func (s *Store) appendLegacy(ks []string, key string) []string {
	if s.pseudonyms == nil {
		return ks
	}
	return append(append(ks, s.keysNamed(key, "m", "s", "d", "k", "q", "l")...), s.legacyOutbox)
}

// Release implements bot.Store.
func (s *Store) Release(ctx context.Context, key, messageID string, token int64) error {
	if err := releaseScript.Run(ctx, s.rdb, s.keys(key, "k", "q"), token, messageID).Err(); err != nil {
		return fmt.Errorf("redisdialogs: release %q: %w", s.name(key), err)
	}
	return nil
}

// Entries implements bot.Store. With WithArchive it reads the entries
// moved to the archive from there and the rest from Redis.
func (s *Store) Entries(ctx context.Context, key string, after int64, limit int) ([]bot.Entry, error) {
	name := s.name(key)
	if limit <= 0 {
		return nil, fmt.Errorf("redisdialogs: entries of %q: limit %d, want > 0", name, limit)
	}
	if s.archive != nil {
		return s.archivedEntries(ctx, key, name, after, limit)
	}
	res, err := entriesScript.Run(ctx, s.rdb, s.keysNamed(name, "m", "l"), after, limit).Slice()
	if err != nil {
		return nil, fmt.Errorf("redisdialogs: entries of %q: %w", name, err)
	}
	if len(res) != 2 {
		return nil, fmt.Errorf("redisdialogs: entries of %q: unexpected reply %v", name, res)
	}
	from, _ := res[0].(int64)
	items, _ := res[1].([]any)
	out, err := decodeEntries(make([]bot.Entry, 0, len(items)), key, from, items)
	if err != nil {
		return nil, fmt.Errorf("redisdialogs: entries of %q: %w", name, err)
	}
	return out, nil
}

// decodeEntries appends to out the log items a script returned, the first
// of them entry seq from, as entries of conversation key.
func decodeEntries(out []bot.Entry, key string, from int64, items []any) ([]bot.Entry, error) {
	for i, it := range items {
		raw, _ := it.(string)
		var r record
		if err := json.Unmarshal([]byte(raw), &r); err != nil {
			return out, fmt.Errorf("entry %d: %w", from+int64(i), err)
		}
		out = append(out, r.entry(key, from+int64(i)))
	}
	return out, nil
}

// Subscribe implements bot.Store with Redis pub/sub: the Store keeps one
// connection subscribed to the channels its subscribers need. A commit
// publishes the last entry Seq it appended, which the subscribers get.
// After the connection is re-established, every subscriber is signalled
// 0 (unknown), since events may have been missed meanwhile; so is a
// message whose payload is not a Seq.
func (s *Store) Subscribe(ctx context.Context, key string) (<-chan int64, func()) {
	ch := make(chan int64, 1)
	name := s.events + s.name(key)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		close(ch)
		return ch, func() {}
	}
	if s.ps == nil {
		s.ps = s.rdb.Subscribe(context.WithoutCancel(ctx))
		s.done = make(chan struct{})
		go s.receive(s.ps.ChannelWithSubscriptions(), s.done)
	}
	t := s.topics[name]
	if t == nil {
		t = &topic{subs: make(map[chan int64]struct{}), ready: make(chan struct{})}
		s.topics[name] = t
		// An error here is a connection problem: go-redis keeps the
		// channel and subscribes again when it reconnects.
		_ = s.ps.Subscribe(context.WithoutCancel(ctx), name)
	}
	t.subs[ch] = struct{}{}
	ready := t.ready
	s.mu.Unlock()

	timer := time.NewTimer(subscribeWait)
	select {
	case <-ready:
	case <-ctx.Done():
	case <-timer.C:
	}
	timer.Stop()
	var once sync.Once
	cancel := func() { once.Do(func() { s.unsubscribe(name, ch) }) }
	stop := context.AfterFunc(ctx, cancel)
	return ch, func() { stop(); cancel() }
}

func (s *Store) unsubscribe(name string, ch chan int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.topics[name]
	if t == nil {
		return // closed
	}
	if _, ok := t.subs[ch]; !ok {
		return
	}
	delete(t.subs, ch)
	close(ch)
	if len(t.subs) == 0 {
		delete(s.topics, name)
		ctx, cancel := context.WithTimeout(context.Background(), subscribeWait)
		defer cancel()
		_ = s.ps.Unsubscribe(ctx, name) // on error the reconnection drops it
	}
}

// receive fans pub/sub messages out to the subscribers until the PubSub
// is closed.
func (s *Store) receive(msgs <-chan any, done chan struct{}) {
	defer close(done)
	for msg := range msgs {
		var (
			name         string
			seq          int64 // 0 after a resubscription or for a bad payload
			resubscribed bool
		)
		switch m := msg.(type) {
		case *redis.Message:
			name = m.Channel
			if n, err := strconv.ParseInt(m.Payload, 10, 64); err == nil && n > 0 {
				seq = n
			}
		case *redis.Subscription:
			if m.Kind != "subscribe" {
				continue
			}
			name, resubscribed = m.Channel, true
		default:
			continue
		}
		s.mu.Lock()
		t := s.topics[name]
		if t != nil && resubscribed && !t.confirmed {
			t.confirmed = true
			close(t.ready)
		} else if t != nil {
			for ch := range t.subs {
				bot.Signal(ch, seq)
			}
		}
		s.mu.Unlock()
	}
}
