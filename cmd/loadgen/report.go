package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
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

// Report is what a run measured. Pointer fields are absent when the run
// could not measure them (no Redis, or a target without /metrics).
type Report struct {
	Mode     string `json:"mode"` // in-process or target
	Target   string `json:"target,omitempty"`
	Sessions string `json:"sessions,omitempty"` // redis or sql; empty when a target's is unknown
	Store    string `json:"store,omitempty"`    // sqlite or postgres (in process)
	Search   string `json:"search,omitempty"`

	GOMAXPROCS           int `json:"gomaxprocs"`
	CPUs                 int `json:"cpus"`
	Conversations        int `json:"conversations"`
	TurnsPerConversation int `json:"turns_per_conversation"`
	// OfferedRate is the -rate the shoppers were paced at; 0 for a closed
	// loop, where each sends its next message as soon as the last is answered.
	OfferedRate     float64 `json:"offered_turns_per_second"`
	WarmupSeconds   float64 `json:"warmup_seconds"`
	MeasuredSeconds float64 `json:"measured_seconds"`

	Turns          int     `json:"turns"`
	TurnsPerSecond float64 `json:"turns_per_second"`
	LatencyMS      Latency `json:"latency_ms"`
	SessionsOpened int64   `json:"sessions_opened"`

	Errors        int64             `json:"errors"`
	ErrorKinds    map[string]int64  `json:"error_kinds,omitempty"`
	ErrorExamples map[string]string `json:"error_examples,omitempty"`

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
	IdleSessionsSampled int                `json:"idle_sessions_sampled,omitempty"`

	// SocketGoroutinesLeft counts the server's goroutines still serving a
	// chat socket two seconds after every shopper closed its own: anything
	// but 0 is a leak. -1 when the server is not in this process.
	SocketGoroutinesLeft int `json:"socket_goroutines_left"`

	ServerWarnings int64    `json:"server_warnings"`
	FirstWarnings  []string `json:"first_warnings,omitempty"`

	HelloWorld *HelloReport `json:"fiber_hello_world,omitempty"`
	Aim        []AimCheck   `json:"aim"`
}

// Latency is turn latency in milliseconds.
type Latency struct {
	P50  float64 `json:"p50"`
	P95  float64 `json:"p95"`
	P99  float64 `json:"p99"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
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

// fill sets the load figures from a run's result.
func (r *Report) fill(cfg *config, res *result) {
	r.GOMAXPROCS, r.CPUs = runtime.GOMAXPROCS(0), runtime.NumCPU()
	r.Conversations, r.TurnsPerConversation, r.OfferedRate = cfg.conversations, cfg.turnsPerConv, cfg.rate
	r.WarmupSeconds, r.MeasuredSeconds = cfg.warmup.Seconds(), res.window.Seconds()
	r.Turns = len(res.lats)
	if res.window > 0 {
		r.TurnsPerSecond = float64(r.Turns) / res.window.Seconds()
	}
	r.LatencyMS = latency(res.lats)
	r.SessionsOpened = res.sessions
	r.SocketGoroutinesLeft = res.socketsLeft
	for _, n := range res.errs {
		r.Errors += n
	}
	if r.Errors > 0 {
		r.ErrorKinds, r.ErrorExamples = res.errs, res.examples
	}
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

// judge compares the figures with the aims.
func (r *Report) judge() {
	r.Aim = []AimCheck{
		{What: "turns per second", Want: fmt.Sprintf(">= %d", aimTurnsPerSecond),
			Got: fmt.Sprintf("%.0f", r.TurnsPerSecond), Met: r.TurnsPerSecond >= aimTurnsPerSecond},
		{What: "p99 turn latency", Want: fmt.Sprintf("< %d ms", aimP99.Milliseconds()),
			Got: fmt.Sprintf("%.1f ms", r.LatencyMS.P99), Met: r.Turns > 0 && r.LatencyMS.P99 < float64(aimP99.Milliseconds())},
		{What: "errors", Want: "0", Got: fmt.Sprint(r.Errors), Met: r.Errors == 0},
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
	var problems []string
	if r.Turns == 0 {
		problems = append(problems, "no turn completed")
	}
	if r.Errors > 0 {
		problems = append(problems, fmt.Sprintf("%d errors", r.Errors))
	}
	if r.SocketGoroutinesLeft > 0 {
		problems = append(problems, fmt.Sprintf("%d goroutines still serving closed chat sockets", r.SocketGoroutinesLeft))
	}
	if len(problems) == 0 {
		return nil
	}
	return errors.New(strings.Join(problems, "; "))
}

func (r *Report) writeJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

func (r *Report) writeText(w io.Writer) error {
	var b strings.Builder
	where := r.Mode
	if r.Target != "" {
		where += " " + r.Target
	}
	if r.Sessions != "" {
		where += ", sessions on " + r.Sessions
	}
	if r.Store != "" {
		where += ", catalog on " + r.Store
	}
	if r.Search != "" {
		where += ", search on " + r.Search
	}
	fmt.Fprintf(&b, "bottega loadgen: %s; GOMAXPROCS=%d, %d CPUs\n", where, r.GOMAXPROCS, r.CPUs)
	loop := "closed loop"
	if r.OfferedRate > 0 {
		loop = fmt.Sprintf("paced at %g turns/s in all", r.OfferedRate)
	}
	fmt.Fprintf(&b, "%d conversations at once, %d turns each, %s; warm-up %gs, measured %.1fs\n",
		r.Conversations, r.TurnsPerConversation, loop, r.WarmupSeconds, r.MeasuredSeconds)
	fmt.Fprintf(&b, "turns          %d (%.0f/s), %d sessions opened\n", r.Turns, r.TurnsPerSecond, r.SessionsOpened)
	l := r.LatencyMS
	fmt.Fprintf(&b, "latency        p50 %.2f ms  p95 %.2f ms  p99 %.2f ms  max %.2f ms  mean %.2f ms\n", l.P50, l.P95, l.P99, l.Max, l.Mean)
	fmt.Fprintf(&b, "errors         %d", r.Errors)
	for _, k := range slices.Sorted(maps.Keys(r.ErrorKinds)) {
		fmt.Fprintf(&b, "; %s %d (%s)", k, r.ErrorKinds[k], r.ErrorExamples[k])
	}
	b.WriteString("\n")
	if r.SocketGoroutinesLeft >= 0 {
		fmt.Fprintf(&b, "sockets left   %d server goroutines still serving chat sockets after every shopper closed its own\n", r.SocketGoroutinesLeft)
	}
	if r.AllocsPerTurn != nil {
		fmt.Fprintf(&b, "allocations    %.0f per turn, %.1f KB per turn (%s)\n", *r.AllocsPerTurn, *r.AllocBytesPerTurn/1024, r.AllocScope)
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
		fmt.Fprintf(&b, "server log     %d warnings", r.ServerWarnings)
		if len(r.FirstWarnings) > 0 {
			fmt.Fprintf(&b, ", first: %q", r.FirstWarnings[0])
		}
		b.WriteString("\n")
	}
	if h := r.HelloWorld; h != nil {
		fmt.Fprintf(&b, "fiber hello    %.0f requests/s over %d keep-alive connections for %.1fs (%d errors)\n",
			h.RequestsPerSecond, h.Connections, h.Seconds, h.Errors)
	}
	for _, a := range r.Aim {
		met := "no"
		if a.Met {
			met = "yes"
		}
		fmt.Fprintf(&b, "aim            %s %s: %s (%s)\n", a.What, a.Want, met, a.Got)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
