package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/bottega-shop/bottega/bot"
	"github.com/bottega-shop/bottega/bot/messenger"
	"github.com/bottega-shop/bottega/bot/telegram"
	"github.com/bottega-shop/bottega/internal/testserver"
)

// checkWebhookLoad checks a tiny in-process run that drained: every body
// acknowledged, every message answered through the fake platform API,
// nothing left in the queue.
func checkWebhookLoad(t *testing.T, rep *WebhookReport, acks, messages int) {
	t.Helper()
	if rep.Acks != acks || rep.Errors != 0 {
		t.Errorf("acks = %d, errors = %d %v %v; want %d acks, no errors", rep.Acks, rep.Errors, rep.ErrorKinds, rep.ErrorExamples, acks)
	}
	l := rep.AckLatencyMS
	if !(l.P50 > 0 && l.P50 <= l.P95 && l.P95 <= l.P99 && l.P99 <= l.Max) {
		t.Errorf("ack latency = %+v, want 0 < p50 <= p95 <= p99 <= max", l)
	}
	if rep.Replies == nil || *rep.Replies < int64(messages) {
		t.Errorf("replies = %v, want at least one for each of the %d messages", rep.Replies, messages)
	}
	if rep.Backlog == nil || *rep.Backlog != 0 {
		t.Errorf("outbound backlog after the drain = %v, want 0", rep.Backlog)
	}
	if rep.RepliesRefused == nil || *rep.RepliesRefused != 0 {
		t.Errorf("replies refused by the fake API = %v, want 0", rep.RepliesRefused)
	}
	if rep.ServerWarnings != 0 {
		t.Errorf("server warnings = %d %q, want none", rep.ServerWarnings, rep.FirstWarnings)
	}
	if len(rep.Aim) < 2 {
		t.Errorf("aim checks = %+v, want at least p99 and errors", rep.Aim)
	}
}

var tinyHookLoad = []string{"-conversations", "4", "-warmup", "0", "-duration", "30s", "-drain", "30s"}

// TestRunWebhooksMessenger posts signed batches of two shoppers' messages
// at an in-process server and waits for every reply at the fake Graph API.
func TestRunWebhooksMessenger(t *testing.T) {
	rep, err := runReport[WebhookReport](t, nil, append(tinyHookLoad, "-webhooks", "messenger", "-batch", "2",
		"-turns-per-conversation", "3", "-max-turns", "12")...)
	if err != nil {
		t.Errorf("run = %v", err)
	}
	checkWebhookLoad(t, rep, 12, 24)
	if rep.Channel != "messenger" || rep.Batch != 2 || rep.Mode != "in-process" || rep.Sessions != "sql" {
		t.Errorf("channel, batch, mode, sessions = %q, %d, %q, %q", rep.Channel, rep.Batch, rep.Mode, rep.Sessions)
	}
	if rep.ChatsOpened < 4 {
		t.Errorf("chats opened = %d, want at least 4", rep.ChatsOpened)
	}
}

// TestRunWebhooksTelegram does the same on Telegram, whose replies go one a
// second per chat and 30 a second in all, with sessions on Redis when
// BOTTEGA_TEST_REDIS is set.
func TestRunWebhooksTelegram(t *testing.T) {
	args := append(tinyHookLoad, "-webhooks", "telegram", "-turns-per-conversation", "2", "-max-turns", "8")
	rep, err := runReport[WebhookReport](t, nil, args...)
	if err != nil {
		t.Errorf("run = %v", err)
	}
	checkWebhookLoad(t, rep, 8, 8)
	if rep.RepliesTooSoon == nil || *rep.RepliesTooSoon != 0 {
		t.Errorf("replies to a chat less than a second apart = %v, want 0", rep.RepliesTooSoon)
	}
	if rep.PeakRepliesPerSecond == nil || *rep.PeakRepliesPerSecond > 31 {
		t.Errorf("peak replies in a second = %v, want at most 31", rep.PeakRepliesPerSecond)
	}

	t.Run("redis", func(t *testing.T) {
		rep, err := runReport[WebhookReport](t, nil, append(args, "-redis", testserver.Redis(t))...)
		if err != nil {
			t.Errorf("run = %v", err)
		}
		checkWebhookLoad(t, rep, 8, 8)
		if rep.Sessions != "redis" {
			t.Errorf("sessions = %q, want redis", rep.Sessions)
		}
	})
}

// TestRunWebhooksTarget drives a benchmark server started apart, as
// -serve runs it: the replies come from its /metrics; a wrong secret is
// counted as errors and fails the run.
func TestRunWebhooksTarget(t *testing.T) {
	cfg := &config{tmpDir: t.TempDir(), webhooks: "telegram", telegramSecret: loadgenWebhookSecret, messengerSecret: loadgenAppSecret}
	srv, err := startServer(context.Background(), cfg, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	args := []string{"-webhooks", "telegram", "-target", srv.url, "-conversations", "2", "-turns-per-conversation", "2",
		"-max-turns", "4", "-warmup", "0", "-duration", "30s"}
	rep, err := runReport[WebhookReport](t, nil, args...)
	if err != nil {
		t.Errorf("run = %v", err)
	}
	if rep.Mode != "target" || rep.Acks != 4 || rep.Errors != 0 {
		t.Errorf("mode, acks, errors = %q, %d, %d; want target, 4, 0", rep.Mode, rep.Acks, rep.Errors)
	}
	if rep.Replies == nil || rep.Backlog != nil {
		t.Errorf("replies, backlog = %v, %v; want the replies from /metrics and no backlog (not in process)", rep.Replies, rep.Backlog)
	}

	rep, err = runReport[WebhookReport](t, map[string]string{"TELEGRAM_WEBHOOK_SECRET": "not-the-servers"}, args...)
	if err == nil || !strings.Contains(err.Error(), "errors") {
		t.Errorf("run with a wrong secret = %v, want it to fail for errors", err)
	}
	if rep.ErrorKinds["status:401"] != 4 || rep.Acks != 0 {
		t.Errorf("error kinds = %v, acks = %d; want 4 status:401 and no ack", rep.ErrorKinds, rep.Acks)
	}
}

// TestWebhookBodies: what the shoppers post is what the channels parse.
func TestWebhookBodies(t *testing.T) {
	cfg := &config{webhooks: "messenger", batch: 3, messengerSecret: "s3cret"}
	l := newHookLoad(cfg, "http://127.0.0.1:1")
	body := l.messengerBody(nil, 7, `dite "ciao" à tutti`)
	if !messenger.CheckSignature(messenger.Sign(body, "s3cret"), body, "s3cret") {
		t.Fatal("signature of the body does not check")
	}
	b, err := messenger.Parse(body)
	if err != nil {
		t.Fatalf("Parse(messenger body) = %v\n%s", err, body)
	}
	if len(b.Messages) != 3 || len(b.Skipped) != 0 {
		t.Fatalf("messenger body has %d messages, %d skipped; want 3, 0", len(b.Messages), len(b.Skipped))
	}
	seen := map[string]bool{}
	for _, m := range b.Messages {
		if m.Text != `dite "ciao" à tutti` || seen[m.Conversation] || seen[m.ID] || time.Since(m.At) > time.Minute {
			t.Errorf("message %+v: want the text, a shopper and a mid of its own, sent now", m)
		}
		seen[m.Conversation], seen[m.ID] = true, true
	}

	l = newHookLoad(&config{webhooks: "telegram"}, "http://127.0.0.1:1")
	first := l.telegramUpdate(nil, 1_000_000_042, "en", "any trail runners?")
	u, err := telegram.Parse(first)
	if err != nil {
		t.Fatalf("Parse(telegram update) = %v\n%s", err, first)
	}
	if u.Kind != telegram.KindMessage || u.ChatID != 1_000_000_042 || u.Message == nil || u.Message.Text != "any trail runners?" || u.Message.Locale != "en" {
		t.Errorf("telegram update = %+v, want a private message of chat 1000000042 in English", u)
	}
	next, _ := telegram.Parse(l.telegramUpdate(nil, 1_000_000_042, "en", "x"))
	if next.ID <= u.ID || next.Message.Channel != bot.Telegram {
		t.Errorf("update ids %d then %d, want them to count up", u.ID, next.ID)
	}
}

// TestWebhookSecrets: the webhook secrets come from the environment, as a
// -target server's do, else loadgen's own.
func TestWebhookSecrets(t *testing.T) {
	cfg, err := parseFlags([]string{"-webhooks", "telegram"}, env(map[string]string{"TELEGRAM_WEBHOOK_SECRET": "mine", "MESSENGER_APP_SECRET": "ours"}), &bytes.Buffer{})
	if err != nil || cfg.telegramSecret != "mine" || cfg.messengerSecret != "ours" {
		t.Errorf("secrets from the environment = %+v, %v", cfg, err)
	}
	cfg, _ = parseFlags(nil, env(nil), &bytes.Buffer{})
	if cfg.telegramSecret != loadgenWebhookSecret || cfg.messengerSecret != loadgenAppSecret {
		t.Errorf("default secrets = %q, %q; want loadgen's own", cfg.telegramSecret, cfg.messengerSecret)
	}
}
