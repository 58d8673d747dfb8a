package redisdialogs

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/bottega-shop/bottega/bot"
)

// Due implements bot.OutboxStore. now is the caller's clock: due times and
// lease ends are compared with it, to the millisecond. With WithPseudonyms
// it leases only the conversations of stores with the same secret, and
// Pending.Key is still the raw key, kept for the purpose while the
// conversation is queued.
func (s *Store) Due(ctx context.Context, now time.Time, n int, lease time.Duration) ([]bot.Pending, error) {
	if n <= 0 || lease < time.Millisecond {
		return nil, fmt.Errorf("redisdialogs: due: n %d and lease %v, want n > 0 and a lease of at least 1ms", n, lease)
	}
	res, err := dueScript.Run(ctx, s.rdb, []string{s.outbox}, now.UnixMilli(), n, lease.Milliseconds(), s.prefix).Slice()
	if err != nil {
		return nil, fmt.Errorf("redisdialogs: due: %w", err)
	}
	out := make([]bot.Pending, 0, len(res))
	for _, r := range res {
		f, _ := r.([]any)
		if len(f) != 6 {
			return nil, fmt.Errorf("redisdialogs: due: unexpected reply %v", r)
		}
		p := bot.Pending{}
		p.Key, _ = f[0].(string)
		p.Cursor, _ = f[1].(int64)
		p.Last, _ = f[2].(int64)
		attempts, _ := f[3].(int64)
		p.Attempts = int(attempts)
		since, _ := f[4].(int64)
		p.Since = time.UnixMilli(since).UTC()
		p.Token, _ = f[5].(int64)
		out = append(out, p)
	}
	return out, nil
}

// Settle implements bot.OutboxStore. A lease has ended when the server's
// clock passes the lease end Due computed from the caller's clock.
// o.Retry is kept to the millisecond; a dead letter without At is stamped
// now.
func (s *Store) Settle(ctx context.Context, p bot.Pending, o bot.Outcome) error {
	name := s.name(p.Key)
	retry, hold := int64(0), "0"
	if !o.Retry.IsZero() {
		retry = max(o.Retry.UnixMilli(), 1)
	}
	if o.Hold {
		hold = "1"
	}
	args := make([]any, 0, 8+len(o.Dead))
	args = append(args, name, p.Token, o.Through, retry, hold, p.Last, maxDeadLetters)
	// The newest goes last, so that it ends up first in the list.
	now := time.Now().UTC()
	for _, d := range o.Dead {
		d.Key = p.Key
		if d.At.IsZero() {
			d.At = now
		}
		b, err := json.Marshal(d)
		if err != nil {
			return fmt.Errorf("redisdialogs: settle %q: encode dead letter: %w", name, err)
		}
		args = append(args, b)
	}
	ks := append(s.keysNamed(name, "m"), s.outbox, s.dead)
	res, err := settleScript.Run(ctx, s.rdb, ks, args...).Slice()
	if err != nil {
		return fmt.Errorf("redisdialogs: settle %q: %w", name, err)
	}
	switch status, _ := res[0].(int64); status {
	case 1:
		return nil
	case 0:
		return fmt.Errorf("redisdialogs: settle %q with token %d: %w", name, p.Token, bot.ErrLockLost)
	case -2:
		var last int64
		if len(res) > 1 {
			last, _ = res[1].(int64)
		}
		return fmt.Errorf("redisdialogs: settle %q: through %d is beyond the log's last seq %d", name, o.Through, last)
	}
	return fmt.Errorf("redisdialogs: settle %q: unexpected reply %v", name, res)
}

// DeadLetters implements bot.OutboxStore. The dead letters of all the
// stores sharing the Redis and the prefix are one list, with their raw
// keys.
func (s *Store) DeadLetters(ctx context.Context, limit int) ([]bot.DeadLetter, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("redisdialogs: dead letters: limit %d, want > 0", limit)
	}
	raw, err := s.rdb.LRange(ctx, s.dead, 0, int64(limit)-1).Result()
	if err != nil {
		return nil, fmt.Errorf("redisdialogs: dead letters: %w", err)
	}
	out := make([]bot.DeadLetter, 0, len(raw))
	for i, r := range raw {
		var d bot.DeadLetter
		if err := json.Unmarshal([]byte(r), &d); err != nil {
			return nil, fmt.Errorf("redisdialogs: dead letters: letter %d: %w", i, err)
		}
		out = append(out, d)
	}
	return out, nil
}

// Backlog implements bot.OutboxStore. With WithPseudonyms it counts the
// conversations of the stores with the same secret.
func (s *Store) Backlog(ctx context.Context) (int, error) {
	n, err := s.rdb.ZCard(ctx, s.outbox).Result()
	if err != nil {
		return 0, fmt.Errorf("redisdialogs: backlog: %w", err)
	}
	return int(n), nil
}

// Forget implements bot.Forgetter: it deletes conversation key's state,
// log, done marks, queue places, lock, pending delivery and dead letters,
// and with WithPseudonyms every key it had under its raw key before. With
// WithArchive it then erases the archived entries (see ArchiveDue for
// what happens if that step fails). A
// turn in flight then fails to commit with bot.ErrLockLost. The hash of
// counters stays until it expires, so Seq numbers and fencing tokens
// continue.
func (s *Store) Forget(ctx context.Context, key string) error {
	if key == "" {
		return fmt.Errorf("redisdialogs: forget: no conversation")
	}
	name := s.name(key)
	ks := s.appendLegacy(append(s.keysNamed(name, "m", "s", "d", "k", "q", "l"), s.outbox, s.dead, s.archiveSet), key)
	arch := ""
	if s.archive != nil {
		arch = "a"
	}
	gen, err := forgetScript.Run(ctx, s.rdb, ks, name, deadPrefix(key), key, arch).Int64()
	if err != nil {
		return fmt.Errorf("redisdialogs: forget %q: %w", name, err)
	}
	if err := s.forgetArchived(ctx, name, gen, key); err != nil {
		return fmt.Errorf("redisdialogs: forget %q: %w", name, err)
	}
	return nil
}
