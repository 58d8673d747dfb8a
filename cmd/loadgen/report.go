package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"runtime"
	"slices"
	"strings"
	"time"
)

// The aims of issue 3's benchmark.
const (
	aimTurnsPerSecond = 3000
	aimP99            = 25 * time.Millisecond
	aimSessionBytes   = 2048
)

// Setup says what a run loaded and how, in either mode: where the server
// ran and on what, the machine, the shoppers and the time.
type Setup struct {
	Mode   string `json:"mode"` // in-process or target
	Target string `json:"target,omitempty"`
	// Sessions is where conversations are kept: redis or sql; empty when a
	// target's is unknown.
	Sessions string `json:"sessions,omitempty"`
	Store    string `json:"store,omitempty"` // sqlite or postgres (in process)

	GOMAXPROCS    int `json:"gomaxprocs"`
	CPUs          int `json:"cpus"`
	Conversations int `json:"conversations"`
	// TurnsPerConversation is how many turns (web chat) or webhook bodies a
	// conversation takes before a new one takes its place.
	TurnsPerConversation int     `json:"turns_per_conversation"`
	WarmupSeconds        float64 `json:"warmup_seconds"`
	MeasuredSeconds      float64 `json:"measured_seconds"`
}

// Outcome is how a run went, in either mode: the failed requests by
// kind, the in-process server's warnings and the figures against the aims.
type Outcome struct {
	Errors        int64             `json:"errors"`
	ErrorKinds    map[string]int64  `json:"error_kinds,omitempty"`
	ErrorExamples map[string]string `json:"error_examples,omitempty"`

	ServerWarnings int64    `json:"server_warnings"`
	FirstWarnings  []string `json:"first_warnings,omitempty"`

	Aim []AimCheck `json:"aim"`
}

// Report is what a web-chat run measured. Pointer fields are absent when
// the run could not measure them (no Redis, or a target without /metrics).
type Report struct {
	Setup
	Search string `json:"search,omitempty"`
	// OfferedRate is the -rate the shoppers were paced at; 0 for a closed
	// loop, where each sends its next message as soon as the last is answered.
	OfferedRate float64 `json:"offered_turns_per_second"`

	Turns          int     `json:"turns"`
	TurnsPerSecond float64 `json:"turns_per_second"`
	LatencyMS      Latency `json:"latency_ms"`
	SessionsOpened int64   `json:"sessions_opened"`

	AllocsPerTurn     *float64 `json:"allocs_per_turn,omitempty"`
	AllocBytesPerTurn *float64 `json:"alloc_bytes_per_turn,omitempty"`
	// AllocScope says whose allocations those are: "server", or "server
	// and load client" when both run in this process.
	AllocScope string `json:"alloc_scope,omitempty"`

	RedisRoundTripsPerTurn *float64 `json:"redis_round_trips_per_turn,omitempty"`
	// RedisCommandsPerTurn counts commands as INFO commandstats does,
	// including those run inside Lua scripts, from every client.
	RedisCommandsPerTurn *float64 `json:"redis_commands_per_turn,omitempty"`
	IdleSessionBytes     *float64 `json:"idle_session_bytes,omitempty"`
	// IdleSessionKeyBytes splits IdleSessionBytes by the last part of the
	// key names (see redisdialogs: m counters, s state, l log, d done marks).
	IdleSessionKeyBytes map[string]float64 `json:"idle_session_key_bytes,omitempty"`
	IdleSessionTurns    int                `json:"idle_session_turns,omitempty"`
	// ServerTurnMS is the server's own time for the turns of the window,
	// by phase (wait, handle, commit, total), from its
	// bottega_turn_duration_seconds histogram: bucket bounds, not exact.
	ServerTurnMS        map[string]PhaseBounds `json:"server_turn_ms,omitempty"`
	IdleSessionsSampled int                    `json:"idle_sessions_sampled,omitempty"`

	// SocketGoroutinesLeft counts the server's goroutines still serving a
	// chat socket two seconds after every shopper closed its own: anything
	// but 0 is a leak. -1 when the server is not in this process.
	SocketGoroutinesLeft int `json:"socket_goroutines_left"`

	HelloWorld *HelloReport `json:"fiber_hello_world,omitempty"`
	Outcome
}

// Latency is turn latency in milliseconds.
type Latency struct {
	P50  float64 `json:"p50"`
	P95  float64 `json:"p95"`
	P99  float64 `json:"p99"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

// PhaseBounds are the histogram bucket bounds, in milliseconds, under
// which half and 99% of the turns fell.
type PhaseBounds struct {
	Turns int64   `json:"turns"`
	P50   float64 `json:"p50_at_most"`
	P99   float64 `json:"p99_at_most"`
}

// HelloReport is the bare Fiber hello-world run.
type HelloReport struct {
	Connections       int     `json:"connections"`
	Seconds           float64 `json:"seconds"`
	Requests          int64   `json:"requests"`
	RequestsPerSecond float64 `json:"requests_per_second"`
	Errors            int64   `json:"errors"`
}

// AimCheck compares one figure with the aim.
type AimCheck struct {
	What string `json:"what"`
	Want string `json:"want"`
	Got  string `json:"got"`
	Met  bool   `json:"met"`
}

// locate starts the benchmark server in this process, or takes cfg's
// -target, and says where the load goes. The caller closes a server it
// gets.
func (s *Setup) locate(ctx context.Context, cfg *config) (srv *server, target string, err error) {
	if cfg.target != "" {
		s.Mode, s.Target = "target", cfg.target
		return nil, cfg.target, nil
	}
	srv, err = startServer(ctx, cfg, "127.0.0.1:0")
	if err != nil {
		return nil, "", err
	}
	s.Mode, s.Store, s.Sessions = "in-process", srv.storeName, "sql"
	if cfg.redisURL != "" {
		s.Sessions = "redis"
	}
	return srv, srv.url, nil
}

// measuredOver sets the machine, the shoppers and the time from cfg and
// the measured window.
func (s *Setup) measuredOver(cfg *config, window time.Duration) {
	s.GOMAXPROCS, s.CPUs = runtime.GOMAXPROCS(0), runtime.NumCPU()
	s.Conversations, s.TurnsPerConversation = cfg.conversations, cfg.turnsPerConv
	s.WarmupSeconds, s.MeasuredSeconds = cfg.warmup.Seconds(), window.Seconds()
}

// where says where the server ran and on what.
func (s *Setup) where() string {
	w := s.Mode
	if s.Target != "" {
		w += " " + s.Target
	}
	if s.Sessions != "" {
		w += ", sessions on " + s.Sessions
	}
	if s.Store != "" {
		w += ", catalog on " + s.Store
	}
	return w
}

// writeHead writes the report's first two lines: what ran where, on what
// machine, and how: shoppers at once, each taking turns, paced at rate
// turns a second (0: closed loop), with details after the turns.
func (s *Setup) writeHead(b *strings.Builder, what, shoppers, turns, details string, rate float64) {
	fmt.Fprintf(b, "bottega loadgen: %s; GOMAXPROCS=%d, %d CPUs\n", what, s.GOMAXPROCS, s.CPUs)
	loop := "closed loop"
	if rate > 0 {
		loop = fmt.Sprintf("paced at %g %s/s in all", rate, turns)
	}
	fmt.Fprintf(b, "%d %s at once, %d %s each%s, %s; warm-up %gs, measured %.1fs\n",
		s.Conversations, shoppers, s.TurnsPerConversation, turns, details, loop, s.WarmupSeconds, s.MeasuredSeconds)
}

// countErrors sets the errors from a run's failures.
func (o *Outcome) countErrors(m *measured) {
	o.Errors = 0
	for _, n := range m.errs {
		o.Errors += n
	}
	if o.Errors > 0 {
		o.ErrorKinds, o.ErrorExamples = m.errs, m.examples
	}
}

// errorsAim is the aim of no failed request.
func (o *Outcome) errorsAim() AimCheck {
	return AimCheck{What: "errors", Want: "0", Got: fmt.Sprint(o.Errors), Met: o.Errors == 0}
}

// p99Aim checks the 99th percentile of l, over done requests, against aim.
func p99Aim(what string, l Latency, done int, aim time.Duration) AimCheck {
	return AimCheck{What: what, Want: fmt.Sprintf("< %d ms", aim.Milliseconds()),
		Got: fmt.Sprintf("%.1f ms", l.P99), Met: done > 0 && l.P99 < float64(aim.Milliseconds())}
}

// fault is the error a run ends with, after its report, when the server
// misbehaved rather than was slow: nothing done (then it says
// nothingDone), failed requests, or the other problems given.
func (o *Outcome) fault(done int, nothingDone string, more ...string) error {
	var problems []string
	if done == 0 {
		problems = append(problems, nothingDone)
	}
	if o.Errors > 0 {
		problems = append(problems, fmt.Sprintf("%d errors", o.Errors))
	}
	problems = append(problems, more...)
	if len(problems) == 0 {
		return nil
	}
	return errors.New(strings.Join(problems, "; "))
}

func (o *Outcome) writeErrors(b *strings.Builder) {
	fmt.Fprintf(b, "errors         %d", o.Errors)
	for _, k := range slices.Sorted(maps.Keys(o.ErrorKinds)) {
		fmt.Fprintf(b, "; %s %d (%s)", k, o.ErrorKinds[k], o.ErrorExamples[k])
	}
	b.WriteString("\n")
}

func (o *Outcome) writeServerLog(b *strings.Builder) {
	fmt.Fprintf(b, "server log     %d warnings", o.ServerWarnings)
	if len(o.FirstWarnings) > 0 {
		fmt.Fprintf(b, ", first: %q", o.FirstWarnings[0])
	}
	b.WriteString("\n")
}

func (o *Outcome) writeAims(b *strings.Builder) {
	for _, a := range o.Aim {
		met := "no"
		if a.Met {
			met = "yes"
		}
		fmt.Fprintf(b, "aim            %s %s: %s (%s)\n", a.What, a.Want, met, a.Got)
	}
}

// report is a run's report in either mode.
type report interface {
	judge()
	writeText(io.Writer) error
	failure() error
}

// finish judges rep, writes it to w as text or, with -json, as JSON, and
// returns the error the run ends with.
func finish(w io.Writer, cfg *config, rep report) error {
	rep.judge()
	if cfg.json {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else if err := rep.writeText(w); err != nil {
		return err
	}
	return rep.failure()
}

// fill sets the load figures from a run's result.
func (r *Report) fill(cfg *config, res *result) {
	r.measuredOver(cfg, res.window)
	r.OfferedRate = cfg.rate
	r.Turns, r.TurnsPerSecond, r.LatencyMS = len(res.lats), res.perSecond(), latency(res.lats)
	r.SessionsOpened = res.sessions
	r.SocketGoroutinesLeft = res.socketsLeft
	r.countErrors(&res.measured)
	if r.Turns == 0 {
		return
	}
	perTurn := func(a, b float64) *float64 { v := (b - a) / float64(r.Turns); return &v }
	b, a := res.before, res.after
	if b.haveAllocs && a.haveAllocs {
		r.AllocsPerTurn, r.AllocBytesPerTurn = perTurn(b.mallocs, a.mallocs), perTurn(b.allocBytes, a.allocBytes)
		r.AllocScope = "server"
		if r.Mode == "in-process" {
			r.AllocScope = "server and load client"
		}
	}
	if b.haveTrips && a.haveTrips {
		r.RedisRoundTripsPerTurn = perTurn(b.trips, a.trips)
	}
	if b.haveCommands && a.haveCommands {
		r.RedisCommandsPerTurn = perTurn(b.commands, a.commands)
	}
	if ph := phaseBounds(b.turns, a.turns); len(ph) > 0 {
		r.ServerTurnMS = ph
	}
}

// latency summarises samples by nearest rank.
func latency(lats []time.Duration) Latency {
	if len(lats) == 0 {
		return Latency{}
	}
	s := slices.Clone(lats)
	slices.Sort(s)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	rank := func(p float64) float64 {
		i := int(p*float64(len(s))+0.999999) - 1 // ceil(p·n) - 1
		return ms(s[min(max(i, 0), len(s)-1)])
	}
	var sum time.Duration
	for _, d := range s {
		sum += d
	}
	return Latency{P50: rank(0.50), P95: rank(0.95), P99: rank(0.99), Max: ms(s[len(s)-1]), Mean: ms(sum / time.Duration(len(s)))}
}

// String gives the percentiles as the text report prints them.
func (l Latency) String() string {
	return fmt.Sprintf("p50 %.2f ms  p95 %.2f ms  p99 %.2f ms  max %.2f ms  mean %.2f ms", l.P50, l.P95, l.P99, l.Max, l.Mean)
}

// judge compares the figures with the aims.
func (r *Report) judge() {
	r.Aim = []AimCheck{
		{What: "turns per second", Want: fmt.Sprintf(">= %d", aimTurnsPerSecond),
			Got: fmt.Sprintf("%.0f", r.TurnsPerSecond), Met: math.Round(r.TurnsPerSecond) >= aimTurnsPerSecond},
		p99Aim("p99 turn latency", r.LatencyMS, r.Turns, aimP99),
		r.errorsAim(),
	}
	if r.SocketGoroutinesLeft >= 0 {
		r.Aim = append(r.Aim, AimCheck{What: "socket goroutines left after the load", Want: "0",
			Got: fmt.Sprint(r.SocketGoroutinesLeft), Met: r.SocketGoroutinesLeft == 0})
	}
	if r.IdleSessionBytes != nil {
		r.Aim = append(r.Aim, AimCheck{What: "bytes per idle session in Redis", Want: fmt.Sprintf("< %d", aimSessionBytes),
			Got: fmt.Sprintf("%.0f", *r.IdleSessionBytes), Met: *r.IdleSessionBytes < aimSessionBytes})
	}
}

// failure is the error a run ends with, after its report, when the server
// misbehaved rather than was slow: failed turns, no turn at all, or chat
// sockets left running.
func (r *Report) failure() error {
	var more []string
	if r.SocketGoroutinesLeft > 0 {
		more = append(more, fmt.Sprintf("%d goroutines still serving closed chat sockets", r.SocketGoroutinesLeft))
	}
	return r.fault(r.Turns, "no turn completed", more...)
}

func (r *Report) writeText(w io.Writer) error {
	var b strings.Builder
	where := r.where()
	if r.Search != "" {
		where += ", search on " + r.Search
	}
	r.writeHead(&b, where, "conversations", "turns", "", r.OfferedRate)
	fmt.Fprintf(&b, "turns          %d (%.0f/s), %d sessions opened\n", r.Turns, r.TurnsPerSecond, r.SessionsOpened)
	fmt.Fprintf(&b, "latency        %v\n", r.LatencyMS)
	r.writeErrors(&b)
	if r.SocketGoroutinesLeft >= 0 {
		fmt.Fprintf(&b, "sockets left   %d server goroutines still serving chat sockets after every shopper closed its own\n", r.SocketGoroutinesLeft)
	}
	if r.AllocsPerTurn != nil {
		fmt.Fprintf(&b, "allocations    %.0f per turn, %.1f KB per turn (%s)\n", *r.AllocsPerTurn, *r.AllocBytesPerTurn/1024, r.AllocScope)
	}
	if t, ok := r.ServerTurnMS["total"]; ok {
		fmt.Fprintf(&b, "server turn    p50 <= %g ms  p99 <= %g ms (its histogram's buckets", t.P50, t.P99)
		for _, phase := range []string{"wait", "handle", "commit"} {
			if ph, ok := r.ServerTurnMS[phase]; ok {
				fmt.Fprintf(&b, "; %s p99 <= %g", phase, ph.P99)
			}
		}
		b.WriteString(")\n")
	}
	if r.RedisRoundTripsPerTurn != nil {
		fmt.Fprintf(&b, "redis          %.2f round trips per turn (server's client)\n", *r.RedisRoundTripsPerTurn)
	}
	if r.RedisCommandsPerTurn != nil {
		fmt.Fprintf(&b, "redis          %.1f commands per turn (INFO commandstats, counting those inside Lua scripts)\n", *r.RedisCommandsPerTurn)
	}
	if r.IdleSessionBytes != nil {
		fmt.Fprintf(&b, "idle session   %.0f bytes in Redis after %d turns (MEMORY USAGE, mean of %d conversations):",
			*r.IdleSessionBytes, r.IdleSessionTurns, r.IdleSessionsSampled)
		for _, k := range slices.Sorted(maps.Keys(r.IdleSessionKeyBytes)) {
			fmt.Fprintf(&b, " %s %.0f", k, r.IdleSessionKeyBytes[k])
		}
		b.WriteString("\n")
	}
	if r.Mode == "in-process" {
		r.writeServerLog(&b)
	}
	if h := r.HelloWorld; h != nil {
		fmt.Fprintf(&b, "fiber hello    %.0f requests/s over %d keep-alive connections for %.1fs (%d errors)\n",
			h.RequestsPerSecond, h.Connections, h.Seconds, h.Errors)
	}
	r.writeAims(&b)
	_, err := io.WriteString(w, b.String())
	return err
}
