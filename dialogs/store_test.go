package dialogs_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/bottega-shop/bottega/bot"
	"github.com/bottega-shop/bottega/dialogs"
	"github.com/bottega-shop/bottega/dialogs/sqldialogs"
	"github.com/bottega-shop/bottega/internal/sqldb"
	"github.com/bottega-shop/bottega/internal/testserver"
)

// testSessionTTL is how long the tests' dispatchers keep an idle session:
// longer than the engine's idle timeout, so that a shopper back after it
// still has a session for the engine to welcome back (with the store's
// default, equal to the idle timeout, the state would be gone by then).
const testSessionTTL = 2 * dialogs.DefaultIdleTimeout

// newConvStore returns the embedded conversation store, sqldialogs on a
// fresh SQLite file, on the test's clock, and the database under it so
// that the tests can look at what it holds.
func newConvStore(tb testing.TB, now func() time.Time) (*sqldialogs.Store, *sqldb.DB) {
	tb.Helper()
	db := testserver.SQLiteDB(tb, "")
	s, err := sqldialogs.New(db, sqldialogs.WithNow(now))
	if err != nil {
		tb.Fatalf("sqldialogs.New = %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	return s, db
}

// newTestDispatcher returns the Dispatcher the chats of the tests run
// through, on store and the test's clock.
func newTestDispatcher(store bot.Store, h bot.Handler, now func() time.Time) *bot.Dispatcher {
	return bot.NewDispatcher(store, h, bot.WithNow(now), bot.WithSessionTTL(testSessionTTL))
}

// convRows is what the SQLite tables hold about one conversation, read
// directly, expired or not.
type convRows struct {
	state   []byte     // dialog_conversations.state, nil for none
	entries []rowEntry // dialog_entries, by Seq
	done    []string   // dialog_done: the message IDs marked done
	queued  int        // dialog_queue places
}

// rowEntry is one row of dialog_entries.
type rowEntry struct {
	seq                   int64
	from, messageID, body string
	reply                 string // bot.Reply as JSON, "" for none
}

// readConv reads every row db holds about conversation key.
func readConv(tb testing.TB, db *sqldb.DB, key string) convRows {
	tb.Helper()
	ctx := context.Background()
	var c convRows
	err := db.R.QueryRowContext(ctx, `SELECT state FROM dialog_conversations WHERE conv_key = $1`, key).Scan(&c.state)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		tb.Fatalf("reading the state of %s: %v", key, err)
	}
	rows, err := db.R.QueryContext(ctx, `SELECT seq, sender, message_id, body, reply FROM dialog_entries
		WHERE conv_key = $1 ORDER BY seq`, key)
	if err != nil {
		tb.Fatalf("reading the entries of %s: %v", key, err)
	}
	for rows.Next() {
		var (
			e     rowEntry
			reply sql.NullString
		)
		if err := rows.Scan(&e.seq, &e.from, &e.messageID, &e.body, &reply); err != nil {
			tb.Fatalf("reading the entries of %s: %v", key, err)
		}
		e.reply = reply.String
		c.entries = append(c.entries, e)
	}
	if err := rows.Err(); err != nil {
		tb.Fatalf("reading the entries of %s: %v", key, err)
	}
	rows.Close()
	rows, err = db.R.QueryContext(ctx, `SELECT message_id FROM dialog_done WHERE conv_key = $1 ORDER BY message_id`, key)
	if err != nil {
		tb.Fatalf("reading the done marks of %s: %v", key, err)
	}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			tb.Fatalf("reading the done marks of %s: %v", key, err)
		}
		c.done = append(c.done, id)
	}
	if err := rows.Err(); err != nil {
		tb.Fatalf("reading the done marks of %s: %v", key, err)
	}
	rows.Close()
	if err := db.R.QueryRowContext(ctx, `SELECT count(*) FROM dialog_queue WHERE conv_key = $1`, key).Scan(&c.queued); err != nil {
		tb.Fatalf("reading the queue of %s: %v", key, err)
	}
	return c
}

// entriesOf returns the whole log of key as the store gives it.
func entriesOf(tb testing.TB, store *sqldialogs.Store, key string) []bot.Entry {
	tb.Helper()
	es, err := store.Entries(context.Background(), key, 0, bot.MaxEntriesLimit)
	if err != nil {
		tb.Fatalf("Entries(%s, 0) = %v", key, err)
	}
	return es
}

// forgotten returns what contradicts that the turn of message lastID
// erased conversation key, nothing if it did: the log from Seq 0 holds only
// that turn, its shopper entry without the words and then the farewell
// replies; the tables hold no earlier entry, no session state (the next
// turn starts as a new conversation), no other done mark and no queue
// place.
func forgotten(tb testing.TB, store *sqldialogs.Store, db *sqldb.DB, key, lastID string) []string {
	tb.Helper()
	var bad []string
	es := entriesOf(tb, store, key)
	if len(es) < 2 {
		bad = append(bad, fmt.Sprintf("the log holds %d entries, want the turn's shopper entry and its farewell", len(es)))
	}
	for i, e := range es {
		switch {
		case e.MessageID != lastID:
			bad = append(bad, fmt.Sprintf("the log still holds entry %d of message %s", e.Seq, e.MessageID))
		case i == 0 && (e.From != bot.FromShopper || e.Text != "" || e.Reply != nil):
			bad = append(bad, fmt.Sprintf("the turn's first entry %d is %s %q, want the shopper's without words", e.Seq, e.From, e.Text))
		case i > 0 && (e.From != bot.FromBot || e.Reply == nil):
			bad = append(bad, fmt.Sprintf("entry %d is from %s with reply %v, want a farewell reply", e.Seq, e.From, e.Reply != nil))
		}
	}
	rows := readConv(tb, db, key)
	if len(rows.state) != 0 {
		bad = append(bad, fmt.Sprintf("the session state is %q, want none", rows.state))
	}
	if len(rows.entries) != len(es) {
		bad = append(bad, fmt.Sprintf("dialog_entries has %d rows, the log %d entries", len(rows.entries), len(es)))
	}
	for _, e := range rows.entries {
		if e.messageID != lastID || e.from == bot.FromShopper && e.body != "" {
			bad = append(bad, fmt.Sprintf("dialog_entries still has row %d of message %s, body %q", e.seq, e.messageID, e.body))
		}
	}
	if len(rows.done) != 1 || rows.done[0] != lastID {
		bad = append(bad, fmt.Sprintf("dialog_done marks %q, want only %q", rows.done, lastID))
	}
	if rows.queued != 0 {
		bad = append(bad, fmt.Sprintf("dialog_queue holds %d places, want none", rows.queued))
	}
	return bad
}

// kept returns what contradicts that conversation key was kept through the
// turn of message lastID, nothing if it was: the log still holds earlier
// entries, the turn's shopper entry keeps its words, and there is a
// session state.
func kept(tb testing.TB, store *sqldialogs.Store, db *sqldb.DB, key, lastID string) []string {
	tb.Helper()
	var bad []string
	es := entriesOf(tb, store, key)
	earlier, words := false, false
	for _, e := range es {
		earlier = earlier || e.MessageID != lastID
		words = words || e.MessageID == lastID && e.From == bot.FromShopper && e.Text != ""
	}
	if len(es) == 0 || es[0].Seq != 1 || !earlier {
		bad = append(bad, fmt.Sprintf("the log holds %d entries, want the earlier turns' from Seq 1", len(es)))
	}
	if !words {
		bad = append(bad, fmt.Sprintf("the log has no words of the shopper's message %s", lastID))
	}
	if st := readConv(tb, db, key).state; len(st) == 0 {
		bad = append(bad, "the conversation has no session state")
	}
	return bad
}
