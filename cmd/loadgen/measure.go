package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// crowd is what the web-chat and the webhook loads share: the shoppers'
// warm-up and measured window, the budget of turns (-max-turns) and the
// failures by kind. A load embeds it and brings its own shopper.
type crowd struct {
	cfg        *config
	start, end time.Time    // the measured window, set by drive
	started    atomic.Int64 // turns taken

	mu       sync.Mutex
	errs     map[string]int64
	examples map[string]string // one error message per kind
}

// sample is one completed turn: when it completed and its latency, which
// a bot entry arriving after completion may still lengthen.
type sample struct {
	done time.Time
	lat  time.Duration
}

// measured is what a run of the crowd measured.
type measured struct {
	window   time.Duration   // length of the measured window
	lats     []time.Duration // turns completed in the window
	errs     map[string]int64
	examples map[string]string
}

// perSecond is the turns completed in the window per second of it.
func (m *measured) perSecond() float64 {
	if m.window <= 0 {
		return 0
	}
	return float64(len(m.lats)) / m.window.Seconds()
}

// drive runs cfg.conversations shoppers through the warm-up and the
// measured window. atStart and atEnd, when not nil, run at the window's
// edges, with the -cpuprofile between them. After the window it gives the
// shoppers -turn-timeout and a little more to finish their last turns,
// cuts them off, and returns the turns completed in the window and the
// failures.
func (c *crowd) drive(ctx context.Context, shopper func(ctx context.Context, i int) []sample, atStart, atEnd func(context.Context) error) (measured, error) {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	c.start = time.Now().Add(c.cfg.warmup)
	c.end = c.start.Add(c.cfg.duration)

	samples := make([][]sample, c.cfg.conversations)
	var wg sync.WaitGroup
	for i := range samples {
		wg.Go(func() { samples[i] = shopper(sctx, i) })
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	wait := func(until time.Time) {
		t := time.NewTimer(time.Until(until))
		defer t.Stop()
		select {
		case <-t.C:
		case <-done:
		case <-ctx.Done():
		}
	}
	abort := func(err error) (measured, error) {
		cancel()
		<-done
		return measured{}, err
	}
	edge := func(f func(context.Context) error) error {
		if f == nil {
			return nil
		}
		return f(ctx)
	}

	wait(c.start)
	select {
	case <-done:
		if ctx.Err() == nil {
			return measured{}, errors.New("the run ended during the warm-up: lower -warmup or raise -max-turns")
		}
	default:
	}
	t0 := time.Now()
	if err := edge(atStart); err != nil {
		return abort(err)
	}
	stopProfile, err := startProfile(c.cfg.cpuProfile, c.cfg.memProfile)
	if err != nil {
		return abort(err)
	}
	wait(c.end)
	t1 := time.Now()
	perr := stopProfile()
	if err := edge(atEnd); err != nil {
		return abort(err)
	}
	if perr != nil {
		return abort(perr)
	}
	// Shoppers take no new turns after c.end; give the last ones time to
	// be answered, then cut them off.
	grace := time.NewTimer(c.cfg.turnTimeout + 2*time.Second)
	defer grace.Stop()
	select {
	case <-done:
	case <-grace.C:
		cancel()
		<-done
	}
	if err := ctx.Err(); err != nil {
		return measured{}, fmt.Errorf("interrupted: %w", err)
	}

	m := measured{window: t1.Sub(t0)}
	var inWindow []sample
	for _, ss := range samples {
		for _, s := range ss {
			if !s.done.Before(t0) && !s.done.After(t1) {
				m.lats = append(m.lats, s.lat)
				if c.cfg.timeline != "" {
					inWindow = append(inWindow, s)
				}
			}
		}
	}
	if c.cfg.timeline != "" {
		if err := writeTimeline(c.cfg.timeline, t0, inWindow); err != nil {
			return measured{}, fmt.Errorf("-timeline: %w", err)
		}
	}
	c.mu.Lock()
	m.errs, m.examples = c.errs, c.examples
	c.mu.Unlock()
	return m, nil
}

// take reserves the next turn, reporting false when the run is over.
func (c *crowd) take() bool {
	if !time.Now().Before(c.end) {
		return false
	}
	return c.cfg.maxTurns == 0 || c.started.Add(1) <= c.cfg.maxTurns
}

// fail counts a failed turn or conversation of kind, keeping the first
// message of each kind as its example.
func (c *crowd) fail(kind string, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.errs == nil {
		c.errs, c.examples = make(map[string]int64), make(map[string]string)
	}
	c.errs[kind]++
	if _, ok := c.examples[kind]; !ok {
		c.examples[kind] = err.Error()
	}
}

// newPacer paces one shopper at its share of -rate; without -rate, not at
// all.
func newPacer(cfg *config) *pacer {
	p := &pacer{}
	if cfg.rate > 0 {
		p.interval = time.Duration(float64(cfg.conversations) / cfg.rate * float64(time.Second))
	}
	return p
}

// pacer spaces one shopper's turns interval apart, from a random phase,
// and says when each turn was due. A turn's latency counts from then, so
// a server that falls behind is charged for the time its shoppers waited
// (no coordinated omission). A zero interval means no pacing: each turn is
// due when it is sent.
type pacer struct {
	interval time.Duration
	next     time.Time
}

// wait waits until the next turn is due and returns when that was; false
// when it would be due at or after end, or ctx ended.
func (p *pacer) wait(ctx context.Context, end time.Time) (time.Time, bool) {
	if p.interval <= 0 {
		return time.Now(), time.Now().Before(end)
	}
	if p.next.IsZero() {
		p.next = time.Now().Add(rand.N(p.interval))
	}
	due := p.next
	p.next = p.next.Add(p.interval)
	if !due.Before(end) {
		return due, false
	}
	if d := time.Until(due); d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return due, false
		case <-t.C:
		}
	}
	return due, true
}

// memProfileRate is the sampling rate of -memprofile, in bytes: finer
// than the runtime's default, for the allocations of a short window.
const memProfileRate = 4096

// startProfile starts a CPU profile into cpuPath and writes the allocations
// so far to memPath.start, for the paths that are set, and returns the
// function that stops the CPU profile and writes the allocations to memPath.
func startProfile(cpuPath, memPath string) (stop func() error, err error) {
	writeAllocs := func(path string) error {
		if memPath == "" {
			return nil
		}
		f, err := os.Create(path)
		if err != nil {
			return fmt.Errorf("memory profile: %w", err)
		}
		err = pprof.Lookup("allocs").WriteTo(f, 0)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("memory profile: %w", err)
		}
		return nil
	}
	if err := writeAllocs(memPath + ".start"); err != nil {
		return nil, err
	}
	if cpuPath == "" {
		return func() error { return writeAllocs(memPath) }, nil
	}
	f, err := os.Create(cpuPath)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return func() error {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		return writeAllocs(memPath)
	}, nil
}

// timelineStep is the width of a -timeline window.
const timelineStep = 250 * time.Millisecond

// writeTimeline writes the samples' latency by timelineStep, by when each
// turn was due (done less its latency) from t0, as CSV: a burst of slow
// turns shows as a few bad windows among good ones, steady overload as a
// climb.
func writeTimeline(path string, t0 time.Time, samples []sample) error {
	byStep := make(map[int][]time.Duration)
	last := 0
	for _, s := range samples {
		i := max(int(s.done.Add(-s.lat).Sub(t0)/timelineStep), 0)
		byStep[i] = append(byStep[i], s.lat)
		last = max(last, i)
	}
	var b strings.Builder
	b.WriteString("start_s,turns,p50_ms,p99_ms,max_ms\n")
	for i := 0; i <= last; i++ {
		l := latency(byStep[i])
		fmt.Fprintf(&b, "%.2f,%d,%.2f,%.2f,%.2f\n", (time.Duration(i) * timelineStep).Seconds(), len(byStep[i]), l.P50, l.P99, l.Max)
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}
