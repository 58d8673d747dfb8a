package redisdialogs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/bottega-shop/bottega/bot"
)

// The archive. With WithArchive, Redis keeps only the tail of each
// conversation's log: ArchiveDue moves the entries of conversations idle
// for the archive delay to an Archive (the SQL system of record, see
// sqldialogs.Store.Archive), and Entries reads the archived part from it
// and the tail from Redis, gapless.
//
// The conversation's hash keeps three more fields: the first Seq of the
// log (lb), its generation (lg) and its end of retention (lx, server
// milliseconds). Redis stays the authority on the log: Entries reads the
// archive only for Seq numbers of the current generation between lb and
// the tail, and only while lx has not passed, so archived copies of a log
// that expired or was forgotten are never read, whatever is left in the
// archive. A log that has ended starts a new generation when a commit
// appends to it; so does Forget.
//
// Each commit that appends entries puts the conversation in the archive's
// sorted set (one global key, like the outbound queue's), due the delay
// later; the commit script does it, so a turn still costs two round trips.
// ArchiveDue leases the due conversations (several replicas may run it at
// once: the lease moves a conversation's score past the lease's end, so
// no other takes it meanwhile), appends their entries to the archive —
// idempotent by (name, Seq) — and then, in a script, trims from the list
// the entries archived if they are still there (same generation), and
// takes the conversation out of the set unless a commit came meanwhile.
// A crash in between leaves the entries in both places; the lease ends and
// the next run archives them again, harmlessly.
//
// Erasure. Forget, and a commit with Update.Forget, first erase Redis (a
// new generation; the list and the archive's lease are gone) and then the
// archived entries of the older generations, a second step. Should that
// step fail (a crash, the database down), nothing is lost for the
// erasure's purpose: Entries no longer reads the old generation, the
// archive refuses the old generation's entries from an archiver that read
// them before the erasure, and the erasure left the conversation due in
// the archive's set, so the next ArchiveDue erases the archived entries
// then. Forget returns the step's error so the caller may retry.

// DefaultArchiveDelay is how long after a conversation's last commit its
// entries are moved to the archive.
const DefaultArchiveDelay = 30 * time.Second

// archiveLease is how long ArchiveDue holds a conversation it archives.
const archiveLease = time.Minute

// maxArchiveBatch is how many entries of one conversation ArchiveDue moves
// at once; a longer tail is due again at once.
const maxArchiveBatch = 256

// Archive keeps the entries of conversation logs moved out of Redis. A
// conversation is named as in Redis (by its pseudonym with WithPseudonyms)
// and its log has generations, each starting when the previous one expired
// or was forgotten; their numbers grow. sqldialogs.Store.Archive returns
// one on the SQL system of record.
type Archive interface {
	// Append stores the entries (with Seq set, Conversation empty) of
	// each log, all or nothing, idempotently by (name, Seq). For each log
	// it deletes the entries of older generations first; if a newer
	// generation has been recorded, it stores nothing of that log.
	Append(ctx context.Context, logs ...bot.ArchivedLog) error
	// Entries returns the stored entries of generation gen of conversation
	// name with from <= Seq <= to, oldest first.
	Entries(ctx context.Context, name string, gen, from, to int64) ([]bot.Entry, error)
	// Forget deletes the entries of the generations of conversation name
	// before gen and records gen, so that Append of an older one stores
	// nothing. Gen 0 deletes everything of name, the record too.
	Forget(ctx context.Context, name string, gen int64) error
}

// WithArchive moves the log entries of idle conversations from Redis to a,
// leaving a short tail in Redis (see ArchiveDue); Entries reads both. Stores
// sharing a Redis and a prefix must share the archive.
func WithArchive(a Archive) Option {
	return func(s *Store) { s.archive = a }
}

// WithArchiveDelay sets how long after a conversation's last commit its
// entries become due for the archive (default DefaultArchiveDelay). It has
// no effect without WithArchive.
func WithArchiveDelay(d time.Duration) Option {
	return func(s *Store) { s.archiveDelay = max(d, time.Millisecond) }
}

// ArchiveDue moves to the archive the log entries of up to n conversations
// whose archive delay has passed at now (the caller's clock, compared with
// the delay's end to the millisecond), and erases the archived entries of
// conversations forgotten since, and reports how many conversations it
// handled. Call it every few seconds; replicas may call it at once. An
// error about one conversation does not stop the others; it is retried
// once the conversation's lease ends (a minute).
func (s *Store) ArchiveDue(ctx context.Context, now time.Time, n int) (int, error) {
	if s.archive == nil {
		return 0, errors.New("redisdialogs: archive due: no archive (WithArchive)")
	}
	if n <= 0 {
		return 0, fmt.Errorf("redisdialogs: archive due: n %d, want > 0", n)
	}
	res, err := archiveClaimScript.Run(ctx, s.rdb, []string{s.archiveSet},
		now.UnixMilli(), n, archiveLease.Milliseconds(), s.prefix, maxArchiveBatch).Slice()
	if err != nil {
		return 0, fmt.Errorf("redisdialogs: archive due: %w", err)
	}
	// The logs go to the archive in one write (a conversation whose list
	// is empty has only older generations to erase there), then each is
	// trimmed in Redis. A conversation not trimmed stays leased until
	// archiveLease and is moved again then, which the archive ignores.
	cs := make([]claimed, 0, len(res))
	logs := make([]bot.ArchivedLog, 0, len(res))
	var errs []error
	for _, r := range res {
		f, _ := r.([]any)
		if len(f) != 6 {
			return 0, fmt.Errorf("redisdialogs: archive due: unexpected reply %v", r)
		}
		c := claimed{}
		c.name, _ = f[0].(string)
		c.gen, _ = f[1].(int64)
		c.first, _ = f[2].(int64)
		lx, _ := f[3].(int64)
		c.until = time.UnixMilli(lx)
		c.score, _ = f[4].(int64)
		items, _ := f[5].([]any)
		es, err := decodeEntries(make([]bot.Entry, 0, len(items)), "", c.first, items)
		if err != nil {
			errs = append(errs, fmt.Errorf("redisdialogs: archive %q: %w", c.name, err))
			continue
		}
		if len(es) > 0 {
			c.through = es[len(es)-1].Seq
			logs = append(logs, bot.ArchivedLog{Name: c.name, Gen: c.gen, Until: c.until, Entries: es})
		} else if err := s.forgetArchived(ctx, c.name, c.gen, ""); err != nil {
			errs = append(errs, fmt.Errorf("redisdialogs: archive %q: %w", c.name, err))
			continue
		}
		cs = append(cs, c)
	}
	if len(logs) > 0 {
		if err := s.archive.Append(ctx, logs...); err != nil {
			return 0, errors.Join(append(errs, fmt.Errorf("redisdialogs: archive %d logs: %w", len(logs), err))...)
		}
	}
	done := 0
	for _, c := range cs {
		ks := append(s.keysNamed(c.name, "m", "l"), s.archiveSet)
		if err := archiveTrimScript.Run(ctx, s.rdb, ks, c.name, c.gen, c.through, c.score, now.UnixMilli()).Err(); err != nil {
			errs = append(errs, fmt.Errorf("redisdialogs: archive %q: trim: %w", c.name, err))
			continue
		}
		done++
	}
	return done, errors.Join(errs...)
}

// claimed is a conversation leased by ArchiveDue: its name, log
// generation, the Seq of its list's first entry, the log's end, its score
// in the archive's set while leased and the Seq of the last entry read
// from the list (0 for none).
type claimed struct {
	name                string
	gen, first, through int64
	until               time.Time
	score               int64
}

// forgetArchived erases the archived entries of conversation name's log
// generations before gen; gen 0 (no archive, or no conversation) erases
// nothing. With pseudonyms and a raw key, it also erases whatever was
// archived under the raw key before pseudonyms were turned on.
func (s *Store) forgetArchived(ctx context.Context, name string, gen int64, raw string) error {
	if s.archive == nil {
		return nil
	}
	if gen != 0 {
		if err := s.archive.Forget(ctx, name, gen); err != nil {
			return fmt.Errorf("erase archived entries: %w", err)
		}
	}
	if s.pseudonyms != nil && raw != "" {
		if err := s.archive.Forget(ctx, raw, 0); err != nil {
			return fmt.Errorf("erase archived entries under the raw key: %w", err)
		}
	}
	return nil
}

// archivedEntries is Entries with the archive: the script returns the
// range of Seq numbers to read (lo to hi, within the live log), the log's
// generation, the Seq of the list's first entry and the list's part of
// the range; the rest is read from the archive. If the archive lacks part
// of it — the conversation was forgotten or its log ended between the two
// reads — it reads again.
func (s *Store) archivedEntries(ctx context.Context, key, name string, after int64, limit int) ([]bot.Entry, error) {
	for attempt := 0; ; attempt++ {
		res, err := tailScript.Run(ctx, s.rdb, s.keysNamed(name, "m", "l"), after, limit).Slice()
		if err != nil {
			return nil, fmt.Errorf("redisdialogs: entries of %q: %w", name, err)
		}
		if len(res) != 5 {
			return nil, fmt.Errorf("redisdialogs: entries of %q: unexpected reply %v", name, res)
		}
		lo, _ := res[0].(int64)
		hi, _ := res[1].(int64)
		gen, _ := res[2].(int64)
		first, _ := res[3].(int64)
		items, _ := res[4].([]any)
		out := make([]bot.Entry, 0, max(hi-lo+1, 0))
		if lo > hi {
			return out, nil
		}
		if lo < first {
			to := min(hi, first-1)
			old, err := s.archive.Entries(ctx, name, gen, lo, to)
			if err != nil {
				return nil, fmt.Errorf("redisdialogs: entries of %q: %w", name, err)
			}
			k := 0
			for k < len(old) && old[k].Seq == lo+int64(k) {
				old[k].Conversation = key
				k++
			}
			if k < int(to-lo+1) {
				if attempt == 0 {
					continue
				}
				if k == 0 {
					return nil, fmt.Errorf("redisdialogs: entries of %q: archived entries %d to %d are missing", name, lo, to)
				}
				return old[:k], nil
			}
			out = append(out, old...)
		}
		out, derr := decodeEntries(out, key, max(lo, first), items)
		if derr != nil {
			return nil, fmt.Errorf("redisdialogs: entries of %q: %w", name, derr)
		}
		return out, nil
	}
}

// archiveClaimScript: KEYS archive; ARGV now ms, n, lease ms, key prefix,
// max entries. It leases up to n conversations due at or before now,
// oldest first, and returns {name, generation, Seq of the list's first
// entry, log end ms, lease score, entries} for each; the entries (at most
// max entries, from the list's head) only while the log has not ended.
var archiveClaimScript = redis.NewScript(`
local now, lease = tonumber(ARGV[1]), tonumber(ARGV[3])
local t = redis.call('TIME')
local snow = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local out = {}
for _, conv in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, ARGV[2])) do
  local m, l = ARGV[4] .. '{' .. conv .. '}:m', ARGV[4] .. '{' .. conv .. '}:l'
  local f = redis.call('HMGET', m, 'n', 'lg', 'lx')
  local score = now + lease
  redis.call('ZADD', KEYS[1], score, conv)
  local lx, len = tonumber(f[3] or '0'), redis.call('LLEN', l)
  local entries = {}
  if lx > snow and len > 0 then entries = redis.call('LRANGE', l, 0, tonumber(ARGV[5]) - 1) end
  out[#out + 1] = {conv, tonumber(f[2] or '0'), tonumber(f[1] or '0') - len + 1, lx, score, entries}
end
return out
`)

// archiveTrimScript: KEYS m l archive; ARGV name, generation, through,
// lease score, now ms. If the log's generation is still the one archived,
// it trims the entries through Seq through from the list and, if the
// conversation's score is still the lease's (no commit or erasure since),
// takes it out of the set, or makes it due now if entries remain. Returns
// the entries left in the list.
var archiveTrimScript = redis.NewScript(`
local f = redis.call('HMGET', KEYS[1], 'n', 'lg')
if tonumber(f[2] or '0') ~= tonumber(ARGV[2]) then return 0 end
local len = redis.call('LLEN', KEYS[2])
local k = tonumber(ARGV[3]) - (tonumber(f[1] or '0') - len + 1) + 1
if k > 0 then redis.call('LTRIM', KEYS[2], k, -1) end
local rest = redis.call('LLEN', KEYS[2])
local sc = redis.call('ZSCORE', KEYS[3], ARGV[1])
if sc and tonumber(sc) == tonumber(ARGV[4]) then
  if rest > 0 then
    redis.call('ZADD', KEYS[3], ARGV[5], ARGV[1])
  else
    redis.call('ZREM', KEYS[3], ARGV[1])
  end
end
return rest
`)

// tailScript: KEYS m l; ARGV after, limit. Returns {lo, hi, generation,
// Seq of the list's first entry, the list's entries from max(lo, first)
// to hi}: the Seq numbers to read are lo to hi, none if lo > hi (the log
// ended, or nothing is after after).
var tailScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local f = redis.call('HMGET', KEYS[1], 'n', 'lb', 'lg', 'lx')
local n = tonumber(f[1] or '0')
local len = redis.call('LLEN', KEYS[2])
local first = n - len + 1
if (f[4] and tonumber(f[4]) <= now) or (not f[4] and len == 0) then return {1, 0, 0, first, {}} end
local lo = math.max(tonumber(ARGV[1]) + 1, tonumber(f[2] or first))
local hi = math.min(n, lo + tonumber(ARGV[2]) - 1)
if lo > hi then return {lo, hi, 0, first, {}} end
local tail = {}
if hi >= first then tail = redis.call('LRANGE', KEYS[2], math.max(lo, first) - first, hi - first) end
return {lo, hi, tonumber(f[3] or '0'), first, tail}
`)
