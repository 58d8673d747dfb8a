// Package chanstatetest holds the contract suite every chanstate.Store
// passes, as fstest.TestFS does for file systems.
package chanstatetest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/bottega-shop/bottega/bot/chanstate"
	"github.com/bottega-shop/bottega/bot/messenger"
	"github.com/bottega-shop/bottega/bot/telegram"
	"github.com/bottega-shop/bottega/consent"
)

// Contents returns everything the backend behind a store holds — every row
// of every table — as bytes, so that the suite can look for what an
// erasure must remove.
type Contents func(t *testing.T) []byte

// Clock is a settable clock for the stores under test.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock reading at.
func NewClock(at time.Time) *Clock { return &Clock{t: at} }

// Now reads the clock.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Add moves the clock by d.
func (c *Clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// start is the clock's reading when each subtest begins: millisecond
// precision and UTC, as Messenger's timestamps are.
var start = time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)

// TestStore checks the chanstate.Store contract: Telegram's latest message
// per chat, reachability, Messenger's windows and thread owners (the same
// answers as messenger.MemThreads), opt-ins with stop and resume, events
// applied once per ID, and the consent.Holder side: counts, an export
// without tokens, and an erasure that leaves no row of the conversations.
// newStore is called once per subtest and returns a store on an empty
// backend, using now as its clock, and the Contents of that backend.
func TestStore(t *testing.T, newStore func(t *testing.T, now func() time.Time) (chanstate.Store, Contents)) {
	ctx := context.Background()
	open := func(t *testing.T) (chanstate.Store, Contents, *Clock) {
		t.Helper()
		c := NewClock(start)
		s, contents := newStore(t, c.Now)
		return s, contents, c
	}

	t.Run("LatestMessage", func(t *testing.T) {
		s, _, _ := open(t)
		steps := []struct {
			chat     int64
			id, want int
		}{
			{100, 5, 5},
			{100, 3, 5}, // an edit of an older message
			{100, 5, 5}, // an edit of the latest
			{100, 9, 9},
			{200, 1, 1}, // chats are apart
			{-1001234567890, 7, 7},
			{100, 8, 9},
		}
		for _, st := range steps {
			got, err := s.Latest(ctx, st.chat, st.id)
			if err != nil || got != st.want {
				t.Errorf("Latest(%d, %d) = %d, %v; want %d", st.chat, st.id, got, err, st.want)
			}
		}
		var wg sync.WaitGroup
		for i := 1; i <= 16; i++ {
			wg.Go(func() {
				if _, err := s.Latest(ctx, 300, i); err != nil {
					t.Errorf("Latest(300, %d) = %v", i, err)
				}
			})
		}
		wg.Wait()
		if got, err := s.Latest(ctx, 300, 1); err != nil || got != 16 {
			t.Errorf("Latest(300, 1) after 16 concurrent messages = %d, %v; want 16", got, err)
		}
	})

	t.Run("Reachability", func(t *testing.T) {
		s, _, _ := open(t)
		key := telegram.Key(4242)
		reachable := func(key string, want bool) {
			t.Helper()
			if got, err := s.Reachable(ctx, key); err != nil || got != want {
				t.Errorf("Reachable(%q) = %v, %v; want %v", key, got, err, want)
			}
		}
		reachable(key, true) // never seen
		for _, r := range []bool{false, false, true, false} {
			if err := s.SetReachable(ctx, key, r); err != nil {
				t.Fatalf("SetReachable(%q, %v) = %v", key, r, err)
			}
			reachable(key, r)
		}
		reachable(telegram.Key(4243), true)
		reachable(chanstate.MessengerKey("4242"), true)
		// The latest message of the chat does not touch its reachability.
		if _, err := s.Latest(ctx, 4242, 10); err != nil {
			t.Fatalf("Latest = %v", err)
		}
		reachable(key, false)
	})

	t.Run("Window", func(t *testing.T) {
		s, _, clock := open(t)
		thread := func() messenger.Thread {
			t.Helper()
			th, err := s.Thread(ctx, "P1")
			if err != nil {
				t.Fatalf("Thread(P1) = %v", err)
			}
			return th
		}
		if th := thread(); !cmp.Equal(th, messenger.Thread{}) {
			t.Errorf("Thread of a shopper never seen = %+v, want the zero Thread", th)
		}
		t0 := clock.Now().Add(-time.Minute)
		for _, at := range []time.Time{t0, t0.Add(-time.Hour)} { // the older one arrives late
			if err := s.Wrote(ctx, "P1", at); err != nil {
				t.Fatalf("Wrote(P1, %v) = %v", at, err)
			}
		}
		if th := thread(); !th.LastWrote.Equal(t0) || !th.InWindow(clock.Now()) {
			t.Errorf("after Wrote: Thread = %+v, InWindow = %v; want LastWrote %v, in the window", th, th.InWindow(clock.Now()), t0)
		}
		if th, err := s.Thread(ctx, "P2"); err != nil || !th.LastWrote.IsZero() {
			t.Errorf("Thread(P2) = %+v, %v; want nothing: shoppers are apart", th, err)
		}
		clock.Add(24 * time.Hour)
		if th := thread(); th.InWindow(clock.Now()) {
			t.Errorf("24 hours after the last message: InWindow = true, want false (LastWrote %v, now %v)", th.LastWrote, clock.Now())
		}
		if err := s.Wrote(ctx, "P1", clock.Now()); err != nil {
			t.Fatalf("Wrote = %v", err)
		}
		if th := thread(); !th.InWindow(clock.Now()) {
			t.Errorf("after a new message: InWindow = false, want true")
		}
	})

	t.Run("Owner", func(t *testing.T) {
		s, _, _ := open(t)
		mem := messenger.NewMemThreads(nil)
		const inbox = "263902037430900"
		t0 := start
		steps := []struct {
			name  string
			wrote bool
			app   string
			at    time.Time
			owned bool // OwnedByOther at the step's time
		}{
			{name: "the shopper writes", wrote: true, at: t0},
			{name: "the Page Inbox takes the thread", app: inbox, at: t0.Add(time.Minute), owned: true},
			{name: "a standby event keeps the known owner", app: messenger.OtherApp, at: t0.Add(2 * time.Minute), owned: true},
			{name: "an older pass back changes nothing", app: "", at: t0.Add(90 * time.Second), owned: true},
			{name: "a message in standby", wrote: true, at: t0.Add(3 * time.Minute), owned: true},
			{name: "the thread is passed back", app: "", at: t0.Add(4 * time.Minute)},
			{name: "an unknown app takes it", app: messenger.OtherApp, at: t0.Add(5 * time.Minute), owned: true},
			{name: "a known app after it", app: "555", at: t0.Add(6 * time.Minute), owned: true},
			{name: "standby long after the owner went idle", app: messenger.OtherApp, at: t0.Add(6*time.Minute + messenger.OwnerIdle), owned: true},
			{name: "the same time again", app: "", at: t0.Add(6*time.Minute + messenger.OwnerIdle)},
		}
		for _, st := range steps {
			var err, merr error
			if st.wrote {
				err, merr = s.Wrote(ctx, "P1", st.at), mem.Wrote(ctx, "P1", st.at)
			} else {
				err, merr = s.SetOwner(ctx, "P1", st.app, st.at), mem.SetOwner(ctx, "P1", st.app, st.at)
			}
			if err != nil || merr != nil {
				t.Fatalf("%s: %v (MemThreads: %v)", st.name, err, merr)
			}
			got, err := s.Thread(ctx, "P1")
			if err != nil {
				t.Fatalf("%s: Thread = %v", st.name, err)
			}
			want, _ := mem.Thread(ctx, "P1")
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("%s: Thread differs from MemThreads' (-mem +store):\n%s", st.name, diff)
			}
			if got.OwnedByOther(st.at) != st.owned {
				t.Errorf("%s: OwnedByOther = %v, want %v (Thread %+v)", st.name, got.OwnedByOther(st.at), st.owned, got)
			}
		}
	})

	t.Run("OptinStopResume", func(t *testing.T) {
		s, _, _ := open(t)
		key := chanstate.MessengerKey("P1")
		t1 := start.Add(-time.Hour)
		expiry := start.Add(365 * 24 * time.Hour)
		optin := func(id string, at time.Time, token, status string) messenger.Event {
			return messenger.Event{Kind: messenger.KindOptin, ID: id, Page: "PAGE1", PSID: "P1", At: at,
				Optin: &messenger.Optin{Type: "notification_messages", Token: token, Status: status}}
		}
		first := optin("fb:optin:P1:1", t1, "TOKEN-1", "")
		first.Optin.Payload, first.Optin.Title, first.Optin.Timezone = "restock", "Restock", "Europe/Rome"
		first.Optin.TokenStatus, first.Optin.TokenExpiry = "NOT_REFRESHED", expiry
		want := chanstate.Optin{Key: key, Token: "TOKEN-1", Type: "notification_messages", Topic: "Restock",
			Payload: "restock", Timezone: "Europe/Rome", TokenStatus: "NOT_REFRESHED", TokenExpiry: expiry,
			Status: chanstate.Active, OptedIn: t1, Changed: t1}
		steps := []struct {
			name string
			e    messenger.Event
			want func(o *chanstate.Optin)
		}{
			{"opt-in", first, func(*chanstate.Optin) {}},
			{"stop", optin("fb:optin:P1:2", t1.Add(time.Minute), "TOKEN-1", "stop"), func(o *chanstate.Optin) {
				o.Status, o.Changed = chanstate.Stopped, t1.Add(time.Minute)
			}},
			{"resume", optin("fb:optin:P1:3", t1.Add(2*time.Minute), "TOKEN-1", "resume"), func(o *chanstate.Optin) {
				o.Status, o.Changed = chanstate.Active, t1.Add(2*time.Minute)
			}},
			{"a stop from before the resume, late", optin("fb:optin:P1:1b", t1.Add(90*time.Second), "TOKEN-1", "stop"), func(o *chanstate.Optin) {
				o.Status, o.Changed = chanstate.Active, t1.Add(2*time.Minute)
			}},
			{"stop again", optin("fb:optin:P1:4", t1.Add(3*time.Minute), "TOKEN-1", "stop"), func(o *chanstate.Optin) {
				o.Status, o.Changed = chanstate.Stopped, t1.Add(3*time.Minute)
			}},
		}
		for _, st := range steps {
			if err := s.Event(ctx, st.e); err != nil {
				t.Fatalf("%s: Event = %v", st.name, err)
			}
			st.want(&want)
			got, err := s.Optins(ctx, key)
			if err != nil {
				t.Fatalf("%s: Optins = %v", st.name, err)
			}
			if diff := cmp.Diff([]chanstate.Optin{want}, got); diff != "" {
				t.Errorf("%s: Optins (-want +got):\n%s", st.name, diff)
			}
		}
		// A re-opt-in gives a second token; the first stays stopped.
		second := optin("fb:optin:P1:5", t1.Add(4*time.Minute), "TOKEN-2", "")
		if err := s.Event(ctx, second); err != nil {
			t.Fatalf("second opt-in: Event = %v", err)
		}
		got, err := s.Optins(ctx, key)
		if err != nil || len(got) != 2 || got[0].Token != "TOKEN-1" || got[0].Status != chanstate.Stopped ||
			got[1].Token != "TOKEN-2" || got[1].Status != chanstate.Active {
			t.Errorf("Optins after a second opt-in = %+v, %v; want TOKEN-1 stopped, then TOKEN-2 active", got, err)
		}
		// Opt-ins without a token, without a shopper, and other events are
		// not kept.
		none := chanstate.MessengerKey("P9")
		noToken := optin("fb:optin:P9:1", t1, "", "")
		noToken.PSID = "P9"
		noShopper := optin("fb:optin::1", t1, "TOKEN-9", "")
		noShopper.PSID = ""
		for _, e := range []messenger.Event{
			noToken, noShopper,
			{Kind: messenger.KindDelivery, ID: "fb:delivery:P9:1:1", PSID: "P9", At: t1, Watermark: t1},
			{Kind: messenger.KindRead, ID: "fb:read:P9:1:1", PSID: "P9", At: t1, Watermark: t1},
			{Kind: messenger.KindEcho, ID: "fb:m_echo", PSID: "P9", At: t1, AppID: "1"},
		} {
			if err := s.Event(ctx, e); err != nil {
				t.Errorf("Event(%s) = %v, want nil", e.Kind, err)
			}
		}
		if got, err := s.Optins(ctx, none); err != nil || len(got) != 0 {
			t.Errorf("Optins after events with nothing to keep = %+v, %v; want none", got, err)
		}
		if held, err := s.Held(ctx, "", []string{none}); err != nil || len(held) != 0 {
			t.Errorf("Held after events with nothing to keep = %+v, %v; want nothing", held, err)
		}
	})

	t.Run("EventOnce", func(t *testing.T) {
		s, _, clock := open(t)
		key := chanstate.MessengerKey("P1")
		at := clock.Now()
		stop := messenger.Event{Kind: messenger.KindOptin, ID: "fb:optin:P1:7", PSID: "P1", At: at,
			Optin: &messenger.Optin{Type: "notification_messages", Token: "TOKEN-1", Status: "stop"}}
		// The same ID again is a redelivery, whatever it says.
		again := stop
		again.At, again.Optin = at.Add(time.Minute), &messenger.Optin{Type: "notification_messages", Token: "TOKEN-1", Status: "resume"}
		for _, e := range []messenger.Event{stop, stop, again} {
			if err := s.Event(ctx, e); err != nil {
				t.Fatalf("Event(%s) = %v", e.ID, err)
			}
		}
		if got, err := s.Optins(ctx, key); err != nil || len(got) != 1 || got[0].Status != chanstate.Stopped || !got[0].Changed.Equal(at) {
			t.Errorf("Optins after an event and two redeliveries = %+v, %v; want one, stopped at %v", got, err, at)
		}

		reachable := func(step string, want bool) {
			t.Helper()
			if got, err := s.Reachable(ctx, key); err != nil || got != want {
				t.Errorf("%s: Reachable = %v, %v; want %v", step, got, err, want)
			}
		}
		gone := messenger.Event{Kind: messenger.KindUnreachable, ID: "fb:unreachable:P1:1", PSID: "P1", At: at}
		if err := s.Wrote(ctx, "P1", at.Add(-time.Hour)); err != nil {
			t.Fatalf("Wrote = %v", err)
		}
		reachable("after a message", true)
		for range 2 {
			if err := s.Event(ctx, gone); err != nil {
				t.Fatalf("Event(unreachable) = %v", err)
			}
			reachable("after an unreachable event", false)
		}
		if err := s.Wrote(ctx, "P1", at.Add(-time.Minute)); err != nil {
			t.Fatalf("Wrote = %v", err)
		}
		reachable("after a message from before it, late", false)
		if err := s.Wrote(ctx, "P1", at.Add(time.Minute)); err != nil {
			t.Fatalf("Wrote = %v", err)
		}
		reachable("after the shopper wrote again", true)
		if err := s.Event(ctx, gone); err != nil {
			t.Fatalf("Event(unreachable) redelivered = %v", err)
		}
		reachable("after the unreachable event came again", true)
		// A failed send older than the shopper's last message does not
		// count, even with a new ID.
		late := messenger.Event{Kind: messenger.KindUnreachable, ID: "fb:unreachable:P1:2", PSID: "P1", At: at.Add(30 * time.Second)}
		if err := s.Event(ctx, late); err != nil {
			t.Fatalf("Event(unreachable) = %v", err)
		}
		reachable("after an unreachable event older than the last message", true)
		if th, err := s.Thread(ctx, "P1"); err != nil || !th.LastWrote.Equal(at.Add(time.Minute)) {
			t.Errorf("Thread = %+v, %v; want LastWrote %v", th, err, at.Add(time.Minute))
		}
		// The same for a shopper never found unreachable before: the
		// message recorded first, the older failed send after it.
		if err := s.Wrote(ctx, "P2", at.Add(time.Minute)); err != nil {
			t.Fatalf("Wrote = %v", err)
		}
		if err := s.Event(ctx, messenger.Event{Kind: messenger.KindUnreachable, ID: "fb:unreachable:P2:1", PSID: "P2", At: at}); err != nil {
			t.Fatalf("Event(unreachable) = %v", err)
		}
		if ok, err := s.Reachable(ctx, chanstate.MessengerKey("P2")); err != nil || !ok {
			t.Errorf("a failed send older than the shopper's message: Reachable = %v, %v; want true", ok, err)
		}
	})

	t.Run("Erase", func(t *testing.T) {
		s, contents, clock := open(t)
		now := clock.Now()
		const (
			tgGone, tgKept = 4242, 777
			psidGone       = "PSID_GONE_31337"
			psidKept       = "PSID_KEPT_27182"
			tokenGone      = "TOKEN_GONE_SECRET_8f3a"
			tokenKept      = "TOKEN_KEPT_SECRET_91bc"
		)
		gone := []string{telegram.Key(tgGone), chanstate.MessengerKey(psidGone)}
		kept := []string{telegram.Key(tgKept), chanstate.MessengerKey(psidKept)}
		for _, chat := range []int64{tgGone, tgKept} {
			if _, err := s.Latest(ctx, chat, 12); err != nil {
				t.Fatal(err)
			}
			if err := s.SetReachable(ctx, telegram.Key(chat), false); err != nil {
				t.Fatal(err)
			}
		}
		for _, p := range []struct{ psid, token string }{{psidGone, tokenGone}, {psidKept, tokenKept}} {
			must(t, s.Wrote(ctx, p.psid, now.Add(-time.Hour)))
			must(t, s.SetOwner(ctx, p.psid, "263902037430900", now.Add(-30*time.Minute)))
			must(t, s.Event(ctx, messenger.Event{Kind: messenger.KindOptin, ID: "fb:optin:" + p.psid + ":1", PSID: p.psid,
				At: now.Add(-20 * time.Minute), Optin: &messenger.Optin{Type: "notification_messages", Title: "Restock", Token: p.token}}))
			must(t, s.Event(ctx, messenger.Event{Kind: messenger.KindUnreachable, ID: "fb:unreachable:" + p.psid + ":1", PSID: p.psid, At: now}))
		}
		before := contents(t)
		for _, m := range []string{gone[0], psidGone, tokenGone, kept[0], psidKept, tokenKept} {
			if !bytes.Contains(before, []byte(m)) {
				t.Fatalf("the backend does not hold %q before the erasure: Contents misses rows", m)
			}
		}

		if s.Name() == "" {
			t.Error("Name() is empty")
		}
		held, err := s.Held(ctx, "subject", gone)
		want := []consent.Holding{{What: "channel state", Count: 2}, {What: "messenger opt-ins", Count: 1}}
		if err != nil || !cmp.Equal(held, want) {
			t.Errorf("Held(gone) = %+v, %v; want %+v", held, err, want)
		}
		if held, err := s.Held(ctx, "subject", nil); err != nil || len(held) != 0 {
			t.Errorf("Held(no conversations) = %+v, %v; want nothing", held, err)
		}

		raw, err := s.Export(ctx, "subject", gone)
		if err != nil {
			t.Fatalf("Export(gone) = %v", err)
		}
		var sections map[string][]map[string]any
		if err := json.Unmarshal(raw, &sections); err != nil {
			t.Fatalf("Export(gone) = %s: not an object of sections: %v", raw, err)
		}
		for _, name := range []string{"conversations", "subscriptions", "orders"} {
			if _, ok := sections[name]; ok {
				t.Errorf("Export has a section %q, which would join the export's own; want its data under other", name)
			}
		}
		n := 0
		for _, items := range sections {
			n += len(items)
		}
		if n != 3 {
			t.Errorf("Export(gone) has %d items, want 3 (two conversations, one opt-in):\n%s", n, raw)
		}
		if !bytes.Contains(raw, []byte(psidGone)) || bytes.Contains(raw, []byte(psidKept)) {
			t.Errorf("Export(gone) = %s, want the erased conversations' state and nothing of the others", raw)
		}
		if bytes.Contains(raw, []byte(tokenGone)) {
			t.Errorf("Export(gone) shows the opt-in token, a credential: %s", raw)
		}

		r, err := s.Erase(ctx, "subject", gone)
		if err != nil {
			t.Fatalf("Erase(gone) = %v", err)
		}
		if r.Store != s.Name() || r.Erased != 5 || r.Err != "" {
			t.Errorf("Erase(gone) = %+v, want store %q and 5 items (2 conversations, 1 opt-in, 2 event marks)", r, s.Name())
		}
		if strings.Contains(r.Note, psidGone) || strings.Contains(r.Note, tokenGone) {
			t.Errorf("the report's note %q names the shopper or the token", r.Note)
		}
		after := contents(t)
		for _, m := range []string{gone[0], psidGone, tokenGone} {
			if bytes.Contains(after, []byte(m)) {
				t.Errorf("after Erase the backend still holds %q:\n%s", m, after)
			}
		}
		for _, m := range []string{kept[0], psidKept, tokenKept} {
			if !bytes.Contains(after, []byte(m)) {
				t.Errorf("Erase of other conversations removed %q", m)
			}
		}
		for _, key := range gone {
			if ok, err := s.Reachable(ctx, key); err != nil || !ok {
				t.Errorf("Reachable(%s) after Erase = %v, %v; want true: nothing is known", key, ok, err)
			}
		}
		if held, err := s.Held(ctx, "subject", gone); err != nil || len(held) != 0 {
			t.Errorf("Held after Erase = %+v, %v; want nothing", held, err)
		}
		if raw, err := s.Export(ctx, "subject", gone); err != nil || !(len(raw) == 0 || string(raw) == "null") {
			t.Errorf("Export after Erase = %s, %v; want null", raw, err)
		}
		if r, err := s.Erase(ctx, "subject", gone); err != nil || r.Erased != 0 {
			t.Errorf("Erase again = %+v, %v; want nothing to do", r, err)
		}
		if r, err := s.Erase(ctx, "subject", nil); err != nil || r.Erased != 0 {
			t.Errorf("Erase(no conversations) = %+v, %v; want nothing to do", r, err)
		}
	})
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(fmt.Errorf("setting up: %w", err))
	}
}
