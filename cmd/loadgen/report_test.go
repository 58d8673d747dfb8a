package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestReportText pins the text reports of both modes, from their JSON
// form: the lines, the aims judged and the error the run ends with.
func TestReportText(t *testing.T) {
	tests := []struct {
		name        string
		rep         report
		json        string
		want        string
		wantFailure string // "" for none
	}{
		{
			name: "web chat in process, every figure",
			rep:  &Report{},
			json: `{"mode":"in-process","sessions":"redis","store":"sqlite","search":"bleve","gomaxprocs":2,"cpus":2,"conversations":200,"turns_per_conversation":8,"offered_turns_per_second":0,"warmup_seconds":3,"measured_seconds":20.01,"turns":60000,"turns_per_second":2999.4,"latency_ms":{"p50":1.5,"p95":3.25,"p99":9.75,"max":30.1,"mean":2.2},"sessions_opened":7500,"errors":3,"error_kinds":{"timeout":2,"closed":1},"error_examples":{"timeout":"no answer","closed":"eof"},"allocs_per_turn":1234.5,"alloc_bytes_per_turn":204800,"alloc_scope":"server and load client","redis_round_trips_per_turn":2.5,"redis_commands_per_turn":7.25,"idle_session_bytes":1800,"idle_session_key_bytes":{"l":1000,"s":800},"idle_session_turns":8,"idle_sessions_sampled":32,"socket_goroutines_left":1,"server_warnings":2,"first_warnings":["w1","w2"],"fiber_hello_world":{"connections":200,"seconds":3,"requests":300000,"requests_per_second":100000,"errors":0}}`,
			want: `bottega loadgen: in-process, sessions on redis, catalog on sqlite, search on bleve; GOMAXPROCS=2, 2 CPUs
200 conversations at once, 8 turns each, closed loop; warm-up 3s, measured 20.0s
turns          60000 (2999/s), 7500 sessions opened
latency        p50 1.50 ms  p95 3.25 ms  p99 9.75 ms  max 30.10 ms  mean 2.20 ms
errors         3; closed 1 (eof); timeout 2 (no answer)
sockets left   1 server goroutines still serving chat sockets after every shopper closed its own
allocations    1234 per turn, 200.0 KB per turn (server and load client)
redis          2.50 round trips per turn (server's client)
redis          7.2 commands per turn (INFO commandstats, counting those inside Lua scripts)
idle session   1800 bytes in Redis after 8 turns (MEMORY USAGE, mean of 32 conversations): l 1000 s 800
server log     2 warnings, first: "w1"
fiber hello    100000 requests/s over 200 keep-alive connections for 3.0s (0 errors)
aim            turns per second >= 3000: no (2999)
aim            p99 turn latency < 25 ms: yes (9.8 ms)
aim            errors 0: no (3)
aim            socket goroutines left after the load 0: no (1)
aim            bytes per idle session in Redis < 2048: yes (1800)
`,
			wantFailure: "3 errors; 1 goroutines still serving closed chat sockets",
		},
		{
			name: "telegram in process, paced",
			rep:  &WebhookReport{},
			json: `{"mode":"in-process","channel":"telegram","store":"sqlite","sessions":"sql","gomaxprocs":2,"cpus":2,"conversations":200,"turns_per_conversation":8,"offered_acks_per_second":200,"warmup_seconds":3,"measured_seconds":20,"acks":4000,"acks_per_second":200,"messages_per_second":200,"ack_latency_ms":{"p50":1.9,"p95":5.7,"p99":9.7,"max":20,"mean":2.5},"chats_opened":600,"errors":1,"error_kinds":{"status:401":1},"error_examples":{"status:401":"HTTP 401"},"replies":600,"replies_per_second":30,"peak_replies_per_second":30,"replies_too_soon":0,"replies_refused":2,"outbound_backlog":3,"drain_seconds":5,"server_warnings":1,"first_warnings":["x"]}`,
			want: `bottega loadgen: telegram webhooks, in-process, sessions on sql, catalog on sqlite; GOMAXPROCS=2, 2 CPUs
200 chats at once, 8 bodies each, paced at 200 bodies/s in all; warm-up 3s, measured 20.0s
acks           4000 (200/s, 200 messages/s), 600 chats opened
ack latency    p50 1.90 ms  p95 5.70 ms  p99 9.70 ms  max 20.00 ms  mean 2.50 ms
errors         1; status:401 1 (HTTP 401)
replies        600 received by the fake telegram API (30.0/s in the measured window)
reply pace     at most 30 in one second; 0 to a chat less than 1 s after the last; 2 refused
outbound queue 3 conversations still waiting after a drain of 5.0s
server log     1 warnings, first: "x"
aim            p99 acknowledgement latency < 10 ms: yes (9.7 ms)
aim            errors 0: no (1)
aim            replies the platform refused 0: no (2)
aim            peak Telegram replies in one second <= 31: yes (30)
`,
			wantFailure: "1 errors; 2 replies refused by the platform",
		},
		{
			name: "telegram target refused",
			rep:  &WebhookReport{},
			json: `{"mode":"target","target":"http://127.0.0.1:1","channel":"telegram","gomaxprocs":2,"cpus":2,"conversations":2,"turns_per_conversation":2,"offered_acks_per_second":0,"warmup_seconds":0,"measured_seconds":1,"acks":0,"acks_per_second":0,"messages_per_second":0,"ack_latency_ms":{"p50":0,"p95":0,"p99":0,"max":0,"mean":0},"chats_opened":2,"errors":4,"error_kinds":{"status:401":4},"error_examples":{"status:401":"HTTP 401: no"},"replies":0,"server_warnings":0}`,
			want: `bottega loadgen: telegram webhooks, target http://127.0.0.1:1; GOMAXPROCS=2, 2 CPUs
2 chats at once, 2 bodies each, closed loop; warm-up 0s, measured 1.0s
acks           0 (0/s, 0 messages/s), 2 chats opened
ack latency    p50 0.00 ms  p95 0.00 ms  p99 0.00 ms  max 0.00 ms  mean 0.00 ms
errors         4; status:401 4 (HTTP 401: no)
replies        0 received by the fake telegram API
aim            p99 acknowledgement latency < 10 ms: no (0.0 ms)
aim            errors 0: no (4)
`,
			wantFailure: "no webhook acknowledged; 4 errors",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := json.Unmarshal([]byte(tt.json), tt.rep); err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			cfg := &config{}
			err := finish(&out, cfg, tt.rep)
			if diff := cmp.Diff(tt.want, out.String()); diff != "" {
				t.Errorf("text report (-want +got):\n%s", diff)
			}
			if got := fmt.Sprint(err); (err == nil) != (tt.wantFailure == "") || (err != nil && got != tt.wantFailure) {
				t.Errorf("finish() = %v, want %q", err, tt.wantFailure)
			}

			// The JSON report says the same again.
			out.Reset()
			cfg.json = true
			finish(&out, cfg, tt.rep)
			var got, want map[string]any
			if err := json.Unmarshal(out.Bytes(), &got); err != nil {
				t.Fatalf("JSON report: %v\n%s", err, out.String())
			}
			json.Unmarshal([]byte(tt.json), &want)
			delete(got, "aim")
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("JSON report (-fixture +got):\n%s", diff)
			}
		})
	}
}

func TestWriteTimeline(t *testing.T) {
	t0 := time.Unix(1000, 0)
	ms := time.Millisecond
	samples := []sample{
		{done: t0.Add(12 * ms), lat: 2 * ms},   // due at 10 ms
		{done: t0.Add(100 * ms), lat: 4 * ms},  // due at 96 ms
		{done: t0.Add(600 * ms), lat: 80 * ms}, // due at 520 ms
	}
	path := filepath.Join(t.TempDir(), "timeline.csv")
	if err := writeTimeline(path, t0, samples); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := "start_s,turns,p50_ms,p99_ms,max_ms\n" +
		"0.00,2,2.00,4.00,4.00\n" +
		"0.25,0,0.00,0.00,0.00\n" +
		"0.50,1,80.00,80.00,80.00\n"
	if string(got) != want {
		t.Errorf("timeline:\n%s\nwant:\n%s", got, want)
	}
}
