package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/bottega-shop/bottega/bot"
	"github.com/bottega-shop/bottega/bot/webchat"
	"github.com/bottega-shop/bottega/catalog"
	"github.com/bottega-shop/bottega/catalog/blevecatalog"
	"github.com/bottega-shop/bottega/catalog/demo"
	"github.com/bottega-shop/bottega/catalog/sqlcatalog"
	"github.com/bottega-shop/bottega/dialogs"
	"github.com/bottega-shop/bottega/internal/sqldb"
	"github.com/bottega-shop/bottega/internal/testserver"
)

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

// runReport runs loadgen with args and -json, with vars as the
// environment, and decodes its report into an R; it returns run's error
// too, for a run fails after its report when the server misbehaved.
func runReport[R any](t *testing.T, vars map[string]string, args ...string) (*R, error) {
	t.Helper()
	if vars == nil {
		vars = map[string]string{}
	}
	vars["TMPDIR"] = t.TempDir()
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	err := run(ctx, append(args, "-json"), env(vars), &out)
	var rep R
	if jerr := json.Unmarshal(out.Bytes(), &rep); jerr != nil {
		t.Fatalf("report is not JSON: %v (run: %v)\n%s", jerr, err, out.String())
	}
	return &rep, err
}

// runJSON runs a web-chat load with args. A run that fails after its
// report (errors, sockets left) is a test error, and the report is still
// checked.
func runJSON(t *testing.T, args ...string) *Report {
	t.Helper()
	rep, err := runReport[Report](t, nil, args...)
	if err != nil {
		t.Errorf("run(%q) = %v", args, err)
	}
	return rep
}

// checkTinyLoad checks a run of 4 shoppers × 3 turns, 12 turns in all.
func checkTinyLoad(t *testing.T, rep *Report) {
	t.Helper()
	if rep.Turns != 12 || rep.Errors != 0 {
		t.Errorf("turns = %d, errors = %d %v %v; want 12 turns, no errors", rep.Turns, rep.Errors, rep.ErrorKinds, rep.ErrorExamples)
	}
	if rep.SessionsOpened < 4 {
		t.Errorf("sessions opened = %d, want at least 4", rep.SessionsOpened)
	}
	if rep.TurnsPerSecond <= 0 || rep.MeasuredSeconds <= 0 {
		t.Errorf("turns/s = %v over %vs, want positive", rep.TurnsPerSecond, rep.MeasuredSeconds)
	}
	l := rep.LatencyMS
	if !(l.P50 > 0 && l.P50 <= l.P95 && l.P95 <= l.P99 && l.P99 <= l.Max) {
		t.Errorf("latency = %+v, want 0 < p50 <= p95 <= p99 <= max", l)
	}
	if rep.AllocsPerTurn == nil || *rep.AllocsPerTurn <= 0 || rep.AllocScope == "" {
		t.Errorf("allocations per turn = %v (%q), want a positive figure and its scope", rep.AllocsPerTurn, rep.AllocScope)
	}
	if rep.Mode == "in-process" && rep.SocketGoroutinesLeft != 0 {
		t.Errorf("server goroutines serving chat sockets after every shopper closed its own = %d, want 0", rep.SocketGoroutinesLeft)
	}
	if rep.ServerWarnings != 0 {
		t.Errorf("server warnings = %d %q, want none", rep.ServerWarnings, rep.FirstWarnings)
	}
	if h := rep.HelloWorld; h == nil || h.Requests == 0 || h.RequestsPerSecond <= 0 || h.Connections != 4 {
		t.Errorf("fiber hello-world = %+v, want requests over 4 connections", h)
	}
	if len(rep.Aim) < 3 {
		t.Errorf("aim checks = %+v, want at least turns/s, p99 and errors", rep.Aim)
	}
}

var tinyLoad = []string{"-conversations", "4", "-turns-per-conversation", "3", "-max-turns", "12",
	"-warmup", "0", "-duration", "30s", "-hello-duration", "200ms"}

// TestRunEmbedded runs a tiny load on the embedded backends (SQLite,
// sessions in SQL, bleve) in process.
func TestRunEmbedded(t *testing.T) {
	rep := runJSON(t, tinyLoad...)
	checkTinyLoad(t, rep)
	if rep.Mode != "in-process" || rep.Sessions != "sql" || rep.Store != "sqlite" {
		t.Errorf("mode, sessions, store = %q, %q, %q; want in-process, sql, sqlite", rep.Mode, rep.Sessions, rep.Store)
	}
	if rep.RedisRoundTripsPerTurn != nil || rep.IdleSessionBytes != nil {
		t.Errorf("Redis figures without Redis: %v, %v", rep.RedisRoundTripsPerTurn, rep.IdleSessionBytes)
	}

	t.Run("profiles", func(t *testing.T) {
		defer func(rate int) { runtime.MemProfileRate = rate }(runtime.MemProfileRate)
		dir := t.TempDir()
		cpu, mem := filepath.Join(dir, "cpu.prof"), filepath.Join(dir, "mem.prof")
		checkTinyLoad(t, runJSON(t, append(tinyLoad, "-cpuprofile", cpu, "-memprofile", mem)...))
		for _, path := range []string{cpu, mem + ".start", mem} {
			b, err := os.ReadFile(path)
			if err != nil {
				t.Errorf("profile: %v", err)
				continue
			}
			if len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
				t.Errorf("profile %s = %d bytes, want a gzipped pprof profile", filepath.Base(path), len(b))
			}
		}
	})

	t.Run("paced", func(t *testing.T) {
		rep := runJSON(t, append(tinyLoad, "-rate", "400")...)
		checkTinyLoad(t, rep)
		if rep.OfferedRate != 400 {
			t.Errorf("offered rate = %v, want 400", rep.OfferedRate)
		}
	})
}

// TestRunRedis runs the tiny load with sessions on the Redis at
// BOTTEGA_TEST_REDIS, and drives the same kind of server as a -target.
func TestRunRedis(t *testing.T) {
	redisURL := testserver.Redis(t)
	rep := runJSON(t, append(tinyLoad, "-redis", redisURL)...)
	checkTinyLoad(t, rep)
	if rep.Sessions != "redis" {
		t.Errorf("sessions = %q, want redis", rep.Sessions)
	}
	// Each turn is at least the dispatcher's two scripts.
	if rep.RedisRoundTripsPerTurn == nil || *rep.RedisRoundTripsPerTurn < 2 {
		t.Errorf("redis round trips per turn = %v, want at least 2", rep.RedisRoundTripsPerTurn)
	}
	if rep.RedisCommandsPerTurn == nil || *rep.RedisCommandsPerTurn < 2 {
		t.Errorf("redis commands per turn = %v, want at least 2", rep.RedisCommandsPerTurn)
	}
	if rep.IdleSessionBytes == nil || *rep.IdleSessionBytes <= 0 || rep.IdleSessionsSampled == 0 || rep.IdleSessionTurns != 3 ||
		rep.IdleSessionKeyBytes["l"] <= 0 {
		t.Errorf("idle session = %v bytes over %d conversations of %d turns, want a positive size", rep.IdleSessionBytes, rep.IdleSessionsSampled, rep.IdleSessionTurns)
	}

	t.Run("target", func(t *testing.T) {
		cfg := &config{redisURL: redisURL, tmpDir: t.TempDir()}
		srv, err := startServer(context.Background(), cfg, "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Close()
		rep := runJSON(t, append(tinyLoad, "-target", srv.url, "-redis", redisURL)...)
		checkTinyLoad(t, rep)
		if rep.Mode != "target" || rep.AllocScope != "server" {
			t.Errorf("mode, alloc scope = %q, %q; want target, server", rep.Mode, rep.AllocScope)
		}
		if rep.RedisRoundTripsPerTurn == nil || *rep.RedisRoundTripsPerTurn < 2 {
			t.Errorf("redis round trips per turn from /metrics = %v, want at least 2", rep.RedisRoundTripsPerTurn)
		}
	})
}

// TestScriptsUnderstood plays every script twice over through the dialog
// engine: each line gets an answer, never "I didn't get that", so a load
// never drifts into misunderstandings or a handoff, where the bot is
// silent.
func TestScriptsUnderstood(t *testing.T) {
	ctx := context.Background()
	db, err := sqldb.Open(ctx, "", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	store, err := sqlcatalog.New(db)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := blevecatalog.New()
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	svc := catalog.NewService(store, idx, nil, nil)
	ps, syns, charts := demo.Catalog()
	if _, err := svc.LoadDemo(ctx, ps, syns, charts); err != nil {
		t.Fatal(err)
	}
	if err := svc.Reindex(ctx); err != nil {
		t.Fatal(err)
	}
	e, err := dialogs.New(svc)
	if err != nil {
		t.Fatal(err)
	}
	misses := []string{"non ho capito", "non riesco a capire", "didn't get that", "can't work it out",
		"non riesco a consultare il catalogo", "can't look at the catalogue"}
	distinct := map[string]bool{}
	langs := map[string]bool{}
	for i, s := range scripts {
		langs[s.locale] = true
		var state []byte
		for n := range 2 * len(s.lines) {
			line := s.lines[n%len(s.lines)]
			distinct[line] = true
			st, replies, err := e.Handle(ctx, state, bot.Message{Channel: bot.WebChat, Conversation: "c", Text: line, Locale: s.locale})
			if err != nil {
				t.Fatalf("script %d: Handle(%q) = %v", i, line, err)
			}
			state = st
			if len(replies) == 0 {
				t.Errorf("script %d: Handle(%q) gave no reply", i, line)
			}
			for _, r := range replies {
				for _, m := range misses {
					if strings.Contains(strings.ToLower(r.Text), m) {
						t.Errorf("script %d: Handle(%q) = %q, want an answer", i, line, r.Text)
					}
				}
			}
		}
	}
	if len(distinct) < 30 || !langs["it"] || !langs["en"] {
		t.Errorf("scripts have %d distinct lines in %v, want at least 30 in it and en", len(distinct), langs)
	}
}

func TestSessionID(t *testing.T) {
	token, id := webchat.NewSessions("secret", time.Hour, nil).NewBound(webchat.Binding{})
	got, err := sessionID(token)
	if err != nil || got != id {
		t.Errorf("sessionID(%q) = %q, %v; want %q", token, got, err, id)
	}
	for _, bad := range []string{"", "v1.forged", "v2.AAAA.BBBB", "v1.!!!.x", "v1.AAAA.x"} {
		if got, err := sessionID(bad); err == nil {
			t.Errorf("sessionID(%q) = %q, want an error", bad, got)
		}
	}
}

// TestFrameReadsServerFrames: the shoppers' light frame decodes what the
// channel sends.
func TestFrameReadsServerFrames(t *testing.T) {
	tests := []webchat.ServerFrame{
		{Type: "welcome", Token: "v1.a.b"},
		{Type: "entry", Entry: &bot.Entry{Seq: 2, From: bot.FromBot, MessageID: "7", Reply: &bot.Reply{Text: "ok"}}},
		{Type: "ack", ClientMsgID: "7", Seq: 1},
		{Type: "error", Code: "rate_limited", ClientMsgID: "8"},
	}
	for _, sf := range tests {
		b, _ := json.Marshal(sf)
		var got frame
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatal(err)
		}
		want := frame{Type: sf.Type, Token: sf.Token, ClientMsgID: sf.ClientMsgID, Code: sf.Code}
		if sf.Entry != nil {
			want.Entry.From, want.Entry.MessageID = sf.Entry.From, sf.Entry.MessageID
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("frame from %s (-want +got):\n%s", b, diff)
		}
	}
}

func TestParseFlags(t *testing.T) {
	tests := []struct {
		args []string
		want string // part of the error; "" for none
	}{
		{nil, ""},
		{[]string{"-target", "http://127.0.0.1:8080/"}, ""},
		{[]string{"-target", "http://localhost:8080", "-redis", "redis://127.0.0.1:6379/2"}, ""},
		{[]string{"-database", "postgres://app@127.0.0.1:55432/bench?sslmode=disable"}, ""},
		{[]string{"-target", "http://shop.example"}, "not a loopback"},
		{[]string{"-target", "ftp://127.0.0.1"}, "http://"},
		{[]string{"-redis", "redis://10.0.0.5:6379"}, "not a loopback"},
		{[]string{"-database", "postgres://app:pw@db.example/x"}, "not a loopback"},
		{[]string{"-serve", "0.0.0.0:8089"}, "loopback"},
		{[]string{"-serve", ":8089", "-target", "http://127.0.0.1:1"}, "exclude"},
		{[]string{"-conversations", "0"}, "-conversations"},
		{[]string{"-duration", "0s"}, "-duration"},
		{[]string{"extra"}, "unexpected"},
		{[]string{"-webhooks", "telegram"}, ""},
		{[]string{"-webhooks", "messenger", "-batch", "100"}, ""},
		{[]string{"-webhooks", "whatsapp"}, "-webhooks"},
		{[]string{"-webhooks", "telegram", "-batch", "2"}, "only Messenger"},
		{[]string{"-webhooks", "messenger", "-batch", "0"}, "-batch"},
		{[]string{"-webhooks", "messenger", "-batch", "101"}, "-batch"},
		{[]string{"-webhooks", "messenger", "-drain", "-1s"}, "-drain"},
	}
	for _, tt := range tests {
		_, err := parseFlags(tt.args, env(nil), &bytes.Buffer{})
		if (err == nil) != (tt.want == "") || (err != nil && !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("parseFlags(%q) = %v, want error containing %q", tt.args, err, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), "pw") {
			t.Errorf("parseFlags(%q) = %v: shows the password", tt.args, err)
		}
	}
}

func TestLatency(t *testing.T) {
	var lats []time.Duration
	for i := 100; i >= 1; i-- { // 1 ms … 100 ms, out of order
		lats = append(lats, time.Duration(i)*time.Millisecond)
	}
	got := latency(lats)
	want := Latency{P50: 50, P95: 95, P99: 99, Max: 100, Mean: 50.5}
	if got != want {
		t.Errorf("latency(1…100 ms) = %+v, want %+v", got, want)
	}
	if got := latency([]time.Duration{3 * time.Millisecond}); got.P50 != 3 || got.P99 != 3 {
		t.Errorf("latency(3 ms) = %+v, want every percentile 3", got)
	}
	if got := latency(nil); got != (Latency{}) {
		t.Errorf("latency(nil) = %+v, want zero", got)
	}
}

func TestParseCounters(t *testing.T) {
	info := "# Commandstats\r\ncmdstat_evalsha:calls=200,usec=900,usec_per_call=4.5\r\n" +
		"cmdstat_info:calls=7,usec=70\r\ncmdstat_client|setinfo:calls=2,usec=1\r\n"
	if got := parseCommandStats(info); got != 202 {
		t.Errorf("parseCommandStats = %v, want 202 (INFO not counted)", got)
	}
	metrics := "# HELP go_memstats_mallocs_total x\n# TYPE go_memstats_mallocs_total counter\n" +
		"go_memstats_mallocs_total 1.5e+06\nbottega_http_requests_total{route=\"/\"} 3\n" + roundTripsMetric + " 42\n" +
		`bottega_turn_duration_seconds_bucket{channel="webchat",phase="total",le="0.001"} 60` + "\n" +
		`bottega_turn_duration_seconds_bucket{channel="webchat",phase="total",le="0.01"} 109` + "\n" +
		`bottega_turn_duration_seconds_bucket{channel="webchat",phase="total",le="+Inf"} 110` + "\n" +
		`bottega_turn_duration_seconds_bucket{channel="telegram",phase="total",le="+Inf"} 7` + "\n"
	got, turns, err := parseMetrics(bufio.NewScanner(strings.NewReader(metrics)))
	want := map[string]float64{"go_memstats_mallocs_total": 1.5e6, roundTripsMetric: 42}
	if err != nil || !cmp.Equal(got, want) {
		t.Errorf("parseMetrics = %v, %v; want %v", got, err, want)
	}
	wantTurns := turnBuckets{"total": {0.001: 60, 0.01: 109, math.Inf(1): 110}}
	if !cmp.Equal(turns, wantTurns) {
		t.Errorf("parseMetrics turn buckets = %v, want %v (web chat only)", turns, wantTurns)
	}
	before := turnBuckets{"total": {0.001: 10, 0.01: 10, math.Inf(1): 10}}
	if got, want := phaseBounds(before, turns), map[string]PhaseBounds{"total": {Turns: 100, P50: 1, P99: 10}}; !cmp.Equal(got, want) {
		t.Errorf("phaseBounds = %v, want %v (the window's 100 turns: 50 within 1 ms, 99 within 10)", got, want)
	}
}

func TestPacer(t *testing.T) {
	ctx := context.Background()
	p := &pacer{interval: 10 * time.Millisecond}
	end := time.Now().Add(time.Hour)
	first, ok := p.wait(ctx, end)
	for i := 1; i <= 4; i++ {
		due, ok2 := p.wait(ctx, end)
		if want := first.Add(time.Duration(i) * p.interval); !ok || !ok2 || !due.Equal(want) {
			t.Fatalf("wait #%d = %v, %v; want %v, true", i, due, ok2, want)
		}
		if time.Now().Before(due) {
			t.Fatalf("wait #%d returned before its turn was due", i)
		}
	}
	if _, ok := p.wait(ctx, time.Now()); ok {
		t.Error("wait past the end = true, want false")
	}
	if _, ok := (&pacer{}).wait(ctx, end); !ok {
		t.Error("unpaced wait = false, want true")
	}
}
