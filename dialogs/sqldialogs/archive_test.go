package sqldialogs_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/bottega-shop/bottega/bot"
	"github.com/bottega-shop/bottega/dialogs/sqldialogs"
	"github.com/bottega-shop/bottega/internal/sqldb"
)

// TestArchive checks the archive of logs moved out of Redis on each
// backend: appends are idempotent by Seq and read back in a range, a newer
// generation deletes the older one's entries and refuses them afterwards,
// Forget erases older generations and refuses them too, Forget with gen 0
// erases the name whole, and Sweep deletes a log an hour after its end of
// retention.
func TestArchive(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) { testArchive(t, be.open(t)) })
	}
}

func testArchive(t *testing.T, db *sqldb.DB) {
	ctx := context.Background()
	clk := &clock{t: time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC)}
	s := newStore(t, db, sqldialogs.WithNow(clk.now))
	a := s.Archive()
	at := time.Date(2026, 5, 4, 8, 0, 0, 123000, time.UTC)
	entry := func(seq int64, text string) bot.Entry {
		return bot.Entry{Seq: seq, From: bot.FromShopper, MessageID: "m", Text: text, At: at}
	}
	reply := bot.Entry{Seq: 3, From: bot.FromBot, MessageID: "m", Reply: &bot.Reply{Text: "ok", Buttons: []bot.Button{{Title: "b", Payload: "p"}}}, Sealed: []byte{0, 1, 2}, At: at}
	until := clk.now().Add(time.Hour)
	mustAppend := func(name string, gen int64, es ...bot.Entry) {
		t.Helper()
		if err := a.Append(ctx, bot.ArchivedLog{Name: name, Gen: gen, Until: until, Entries: es}); err != nil {
			t.Fatalf("Append(%q, gen %d) = %v", name, gen, err)
		}
	}
	read := func(name string, gen, from, to int64) []bot.Entry {
		t.Helper()
		es, err := a.Entries(ctx, name, gen, from, to)
		if err != nil {
			t.Fatalf("Entries(%q, gen %d, %d, %d) = %v", name, gen, from, to, err)
		}
		return es
	}

	mustAppend("c1", 10, entry(1, "one"), entry(2, "two"))
	mustAppend("c1", 10, entry(2, "two"), reply) // again, and one more
	mustAppend("c2", 5, entry(1, "other"))
	if diff := cmp.Diff([]bot.Entry{entry(1, "one"), entry(2, "two"), reply}, read("c1", 10, 1, 10)); diff != "" {
		t.Errorf("Entries after appends (-want +got):\n%s", diff)
	}
	if got := read("c1", 10, 2, 2); len(got) != 1 || got[0].Seq != 2 {
		t.Errorf("Entries(2 to 2) = %v, want Seq 2", got)
	}
	if got := read("c1", 9, 1, 10); len(got) != 0 {
		t.Errorf("Entries of another generation = %v, want none", got)
	}

	// A new generation replaces the old; the old one is refused after.
	mustAppend("c1", 11, entry(4, "new"))
	mustAppend("c1", 10, entry(1, "stale"))
	if got := count(t, db, "dialog_transcripts WHERE conv_key = 'c1'"); got != 1 {
		t.Errorf("rows of c1 after a new generation and a stale append = %d, want 1", got)
	}

	// Forget erases older generations and refuses them.
	if err := a.Forget(ctx, "c1", 12); err != nil {
		t.Fatalf("Forget = %v", err)
	}
	mustAppend("c1", 11, entry(5, "stale"))
	if got := count(t, db, "dialog_transcripts WHERE conv_key = 'c1'"); got != 0 {
		t.Errorf("rows of c1 after Forget and a stale append = %d, want 0", got)
	}
	mustAppend("c1", 13, entry(6, "after"))
	if got := read("c1", 13, 1, 10); len(got) != 1 || got[0].Text != "after" {
		t.Errorf("Entries of the generation after Forget = %v, want the one entry", got)
	}
	if err := a.Forget(ctx, "c1", 0); err != nil {
		t.Fatalf("Forget(gen 0) = %v", err)
	}
	if got := count(t, db, "dialog_transcripts WHERE conv_key = 'c1'") + count(t, db, "dialog_transcript_logs WHERE conv_key = 'c1'"); got != 0 {
		t.Errorf("rows of c1 after Forget with gen 0 = %d, want 0", got)
	}

	// Several logs in one Append: a stale generation is skipped, the others
	// stored, a long one across several INSERTs.
	long := make([]bot.Entry, 1203)
	for i := range long {
		long[i] = entry(int64(i+1), fmt.Sprint("line ", i+1))
	}
	if err := a.Forget(ctx, "c5", 9); err != nil { // c5 is at generation 9
		t.Fatal(err)
	}
	err := a.Append(ctx,
		bot.ArchivedLog{Name: "c3", Gen: 1, Until: until, Entries: long},
		bot.ArchivedLog{Name: "c5", Gen: 8, Until: until, Entries: []bot.Entry{entry(1, "stale")}},
		bot.ArchivedLog{Name: "c4", Gen: 2, Until: until, Entries: []bot.Entry{entry(7, "seven")}},
	)
	if err != nil {
		t.Fatalf("Append(three logs) = %v", err)
	}
	if got := read("c3", 1, 1, 2000); len(got) != len(long) || got[1202].Text != "line 1203" {
		t.Errorf("the long log read back has %d entries, want %d", len(got), len(long))
	}
	if got := read("c4", 2, 1, 10); len(got) != 1 || got[0].Text != "seven" {
		t.Errorf("Entries(c4) = %v, want its one entry", got)
	}
	if got := count(t, db, "dialog_transcripts WHERE conv_key = 'c5'"); got != 0 {
		t.Errorf("rows of c5 after a stale generation in a batch = %d, want 0", got)
	}
	for _, name := range []string{"c3", "c4", "c5"} {
		if err := a.Forget(ctx, name, 0); err != nil {
			t.Fatal(err)
		}
	}

	// Retention: c2's log ends in an hour; Sweep keeps it an hour more.
	clk.add(90 * time.Minute)
	if err := s.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if got := count(t, db, "dialog_transcripts"); got != 1 {
		t.Errorf("archived rows after Sweep within the grace = %d, want 1", got)
	}
	clk.add(time.Hour)
	if err := s.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if got := count(t, db, "dialog_transcripts") + count(t, db, "dialog_transcript_logs"); got != 0 {
		t.Errorf("archive rows after Sweep past the grace = %d, want 0", got)
	}
}
