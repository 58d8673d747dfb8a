package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"net/http"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/bottega-shop/bottega/dialogs/redisdialogs"
)

// snapshot is the server's counters at one moment; a field is meaningful
// only when its have flag is set.
type snapshot struct {
	mallocs, allocBytes float64
	haveAllocs          bool
	trips               float64 // Redis round trips of the server's client
	haveTrips           bool
	commands            float64 // Redis commands run, from INFO commandstats
	haveCommands        bool
	// turns is the server's bottega_turn_duration_seconds histogram of
	// web-chat turns: cumulative counts by phase and bucket bound.
	turns turnBuckets
}

// turnBuckets are cumulative bucket counts by phase and upper bound (s).
type turnBuckets map[string]map[float64]float64

// probes read the server's counters: from this process when the server
// runs in it, else from the target's /metrics; and from Redis itself.
type probes struct {
	srv        *server // in process, or nil
	metricsURL string
	http       *http.Client
	rdb        *redis.Client // loadgen's own client to the server's Redis
	secretKey  string        // the server's BOTTEGA_SECRET_KEY, to find its pseudonymous keys
}

func newProbes(ctx context.Context, cfg *config, srv *server, target string) (*probes, error) {
	p := &probes{srv: srv, secretKey: cfg.secretKey, metricsURL: target + "/metrics", http: &http.Client{Timeout: 5 * time.Second}}
	if cfg.redisURL != "" {
		opts, err := redis.ParseURL(cfg.redisURL)
		if err != nil {
			return nil, errors.New("redis: not a redis:// URL")
		}
		p.rdb = redis.NewClient(opts)
		if err := p.rdb.Ping(ctx).Err(); err != nil {
			p.rdb.Close()
			return nil, fmt.Errorf("redis: cannot reach %s: %w", opts.Addr, err)
		}
	}
	return p, nil
}

// Close closes the probes' own Redis client.
func (p *probes) Close() error {
	if p.rdb != nil {
		return p.rdb.Close()
	}
	return nil
}

// snap reads the counters now. A target without a readable /metrics has
// no allocation figures; a Redis that does not answer is an error.
func (p *probes) snap(ctx context.Context) (snapshot, error) {
	var s snapshot
	if p.srv != nil {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		s.mallocs, s.allocBytes, s.haveAllocs = float64(ms.Mallocs), float64(ms.TotalAlloc), true
		if p.srv.rdb != nil {
			s.trips, s.haveTrips = float64(p.srv.trips.n.Load()), true
		}
	}
	if m, turns, err := p.scrape(ctx); err == nil {
		if p.srv == nil {
			s.mallocs, s.haveAllocs = m["go_memstats_mallocs_total"]
			s.allocBytes = m["go_memstats_alloc_bytes_total"]
			s.trips, s.haveTrips = m[roundTripsMetric]
		}
		s.turns = turns
	}
	if p.rdb != nil {
		n, err := commandCalls(ctx, p.rdb)
		if err != nil {
			return s, err
		}
		s.commands, s.haveCommands = n, true
	}
	return s, nil
}

// chatGoroutines counts the goroutines of this process still running a
// web-chat socket (in webchat's Channel.Serve), or -1 when the server is
// not in this process.
func (p *probes) chatGoroutines() int {
	if p.srv == nil {
		return -1
	}
	var buf bytes.Buffer
	if err := pprof.Lookup("goroutine").WriteTo(&buf, 1); err != nil {
		return -1
	}
	// Debug format 1: records of "N @ pc…" and "#	pc	function…" lines,
	// separated by blank lines.
	n := 0
	for rec := range strings.SplitSeq(buf.String(), "\n\n") {
		if !strings.Contains(rec, "webchat.(*Channel).Serve") {
			continue
		}
		count, _, _ := strings.Cut(rec, " @")
		if c, err := strconv.Atoi(strings.TrimSpace(count)); err == nil {
			n += c
		}
	}
	return n
}

// chatGoroutinesLeft waits up to two seconds for the socket goroutines to
// end once every shopper has left and returns how many are still running.
func (p *probes) chatGoroutinesLeft(ctx context.Context) int {
	deadline := time.Now().Add(2 * time.Second)
	for {
		n := p.chatGoroutines()
		if n <= 0 || !time.Now().Before(deadline) || ctx.Err() != nil {
			return n
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// scrape reads the server's Prometheus metrics: the unlabelled samples,
// and the web-chat turn histogram.
func (p *probes) scrape(ctx context.Context) (map[string]float64, turnBuckets, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.metricsURL, nil)
	if err != nil {
		return nil, nil, err
	}
	resp, err := p.http.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, nil, fmt.Errorf("metrics: HTTP %d", resp.StatusCode)
	}
	return parseMetrics(bufio.NewScanner(resp.Body))
}

// turnBucketPrefix starts the bucket samples of the server's turn
// histogram.
const turnBucketPrefix = "bottega_turn_duration_seconds_bucket{"

// parseMetrics reads "name value" lines of the Prometheus text format,
// skipping comments and other labelled samples, and the web-chat buckets
// of the turn histogram.
func parseMetrics(sc *bufio.Scanner) (map[string]float64, turnBuckets, error) {
	out := make(map[string]float64)
	turns := make(turnBuckets)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		var labels string
		if i := strings.IndexByte(line, '{'); i >= 0 {
			j := strings.LastIndexByte(line, '}')
			if j < i {
				continue
			}
			labels, line = line[:j+1], line[j+1:]
		} else {
			name, value, ok := strings.Cut(line, " ")
			if !ok {
				continue
			}
			labels, line = name, " "+value
		}
		value, _, _ := strings.Cut(strings.TrimPrefix(line, " "), " ") // an optional timestamp
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			continue
		}
		if !strings.HasPrefix(labels, turnBucketPrefix) {
			if !strings.ContainsRune(labels, '{') {
				out[labels] = v
			}
			continue
		}
		l := parseLabels(strings.TrimSuffix(strings.TrimPrefix(labels, turnBucketPrefix), "}"))
		le, err := strconv.ParseFloat(l["le"], 64)
		if l["channel"] != "webchat" || err != nil {
			continue
		}
		if turns[l["phase"]] == nil {
			turns[l["phase"]] = make(map[float64]float64)
		}
		turns[l["phase"]][le] = v
	}
	return out, turns, sc.Err()
}

// parseLabels reads `a="x",b="y"` (values without quotes or commas, as
// the turn histogram's are).
func parseLabels(s string) map[string]string {
	out := make(map[string]string)
	for kv := range strings.SplitSeq(s, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if ok {
			out[k] = strings.Trim(v, `"`)
		}
	}
	return out
}

// phaseBounds returns, per phase, the bucket bounds (in ms) under which
// half and 99% of the turns between the snapshots b and a fell, and how
// many turns that is.
func phaseBounds(b, a turnBuckets) map[string]PhaseBounds {
	out := make(map[string]PhaseBounds)
	for phase, after := range a {
		les := slices.Sorted(maps.Keys(after))
		delta := func(le float64) float64 { return after[le] - b[phase][le] }
		total := delta(math.Inf(1))
		if total <= 0 {
			continue
		}
		at := func(q float64) float64 {
			for _, le := range les {
				if delta(le) >= q*total {
					return le * 1000
				}
			}
			return math.Inf(1)
		}
		out[phase] = PhaseBounds{Turns: int64(total), P50: at(0.5), P99: at(0.99)}
	}
	return out
}

// commandCalls sums the calls of every command in INFO commandstats except
// INFO itself (ours). Redis counts the commands run inside Lua scripts too.
func commandCalls(ctx context.Context, rdb *redis.Client) (float64, error) {
	info, err := rdb.Info(ctx, "commandstats").Result()
	if err != nil {
		return 0, fmt.Errorf("redis: info commandstats: %w", err)
	}
	return parseCommandStats(info), nil
}

// parseCommandStats sums "cmdstat_NAME:calls=N,…" lines, except INFO's.
func parseCommandStats(info string) float64 {
	var total float64
	for line := range strings.Lines(info) {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok || !strings.HasPrefix(name, "cmdstat_") || name == "cmdstat_info" {
			continue
		}
		calls, _, _ := strings.Cut(strings.TrimPrefix(rest, "calls="), ",")
		if n, err := strconv.ParseFloat(calls, 64); err == nil {
			total += n
		}
	}
	return total
}

// idleSessions is what finished conversations keep in Redis.
type idleSessions struct {
	n     int                // conversations measured
	bytes float64            // mean bytes per conversation
	byKey map[string]float64 // mean bytes per key kind (the name's last part: m, s, l, d…)
}

// idleSessionBytes sums MEMORY USAGE over the Redis keys of each finished
// conversation that still has keys (under the default "bottega:" prefix)
// and averages over them.
func (p *probes) idleSessionBytes(ctx context.Context, conversations []string) (idleSessions, error) {
	// Only for Keys, with the server's pseudonyms: no connection of its own.
	keys := redisdialogs.New(p.rdb, redisdialogs.WithPseudonyms([]byte(p.secretKey)))
	defer keys.Close()
	var total int64
	byKey := make(map[string]int64)
	out := idleSessions{byKey: make(map[string]float64)}
	for _, conv := range conversations {
		var sum int64
		for _, k := range keys.Keys(conv) {
			b, err := p.rdb.MemoryUsage(ctx, k, 0).Result()
			if errors.Is(err, redis.Nil) {
				continue
			}
			if err != nil {
				return out, fmt.Errorf("redis: memory usage: %w", err)
			}
			sum += b
			byKey[k[strings.LastIndexByte(k, ':')+1:]] += b
		}
		if sum > 0 {
			total += sum
			out.n++
		}
	}
	if out.n == 0 {
		return out, nil
	}
	out.bytes = float64(total) / float64(out.n)
	for k, b := range byKey {
		out.byKey[k] = float64(b) / float64(out.n)
	}
	return out, nil
}
