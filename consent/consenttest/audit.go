package consenttest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/bottega-shop/bottega/consent"
)

// TestAudit runs the contract of a consent.Audit: accesses recorded with
// increasing IDs, listed newest first, filtered by subject and actor,
// paged, and invalid ones refused. newAudit is called once per subtest and
// must return an empty audit; now is the clock it stamps accesses with.
func TestAudit(t *testing.T, newAudit func(t *testing.T, now func() time.Time) consent.Audit) {
	tests := []struct {
		name string
		fn   func(t *testing.T, newAudit func(t *testing.T, now func() time.Time) consent.Audit)
	}{
		{"RecordAndList", testRecordAndList},
		{"Filters", testAuditFilters},
		{"Invalid", testAuditInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, newAudit) })
	}
}

func testRecordAndList(t *testing.T, newAudit func(t *testing.T, now func() time.Time) consent.Audit) {
	ctx := context.Background()
	clk := newClock()
	a := newAudit(t, clk.now)
	if got, err := a.List(ctx, consent.AccessFilter{}); err != nil || len(got) != 0 {
		t.Errorf("List() of an empty audit = %v, %v, want none", got, err)
	}
	first, err := a.Record(ctx, consent.Access{Actor: "admin", Subject: subject("ada"), What: "summary", Why: "ticket 4711"})
	if err != nil {
		t.Fatalf("Record() = %v", err)
	}
	if want := clk.now().UTC().Truncate(time.Microsecond); first.ID < 1 || !first.At.Equal(want) || first.At.Location() != time.UTC {
		t.Errorf("Record() = id %d at %v, want an id and the clock's time %v in UTC", first.ID, first.At, want)
	}
	at := time.Date(2026, 1, 2, 3, 4, 5, 6789, time.UTC)
	second, err := a.Record(ctx, consent.Access{Actor: "agent:marta", Subject: subject("bob"), What: "transcript", Why: "handoff", At: at})
	if err != nil {
		t.Fatalf("Record() = %v", err)
	}
	if second.ID <= first.ID || !second.At.Equal(at.Truncate(time.Microsecond)) {
		t.Errorf("Record(second) = id %d at %v, want an id above %d and the given time", second.ID, second.At, first.ID)
	}
	got, err := a.List(ctx, consent.AccessFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]consent.Access{second, first}, got); diff != "" {
		t.Errorf("List() (-want +got):\n%s", diff)
	}

	// Concurrent records all land, with distinct IDs.
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Go(func() {
			if _, err := a.Record(ctx, consent.Access{Actor: "admin", Subject: subject("ada"), What: "summary", Why: fmt.Sprint("concurrent ", i)}); err != nil {
				t.Errorf("concurrent Record() = %v", err)
			}
		})
	}
	wg.Wait()
	all, err := a.List(ctx, consent.AccessFilter{Limit: 100})
	if err != nil || len(all) != 12 {
		t.Fatalf("List() = %d accesses, %v, want 12", len(all), err)
	}
	for i := 1; i < len(all); i++ {
		if all[i].ID >= all[i-1].ID {
			t.Errorf("List() ids %d then %d, want newest first", all[i-1].ID, all[i].ID)
		}
	}
}

func testAuditFilters(t *testing.T, newAudit func(t *testing.T, now func() time.Time) consent.Audit) {
	ctx := context.Background()
	a := newAudit(t, newClock().now)
	ada, bob := subject("ada"), subject("bob")
	var recorded []consent.Access
	for i := range 7 {
		acc := consent.Access{Actor: "admin", Subject: ada, What: "summary", Why: fmt.Sprint("reason ", i)}
		if i%2 == 1 {
			acc.Actor, acc.Subject = "agent:marta", bob
		}
		r, err := a.Record(ctx, acc)
		if err != nil {
			t.Fatal(err)
		}
		recorded = append(recorded, r)
	}
	whys := func(as []consent.Access) string {
		var s []string
		for _, x := range as {
			s = append(s, strings.TrimPrefix(x.Why, "reason "))
		}
		return strings.Join(s, ",")
	}
	tests := []struct {
		name string
		f    consent.AccessFilter
		want string
	}{
		{"all", consent.AccessFilter{}, "6,5,4,3,2,1,0"},
		{"subject", consent.AccessFilter{Subject: bob}, "5,3,1"},
		{"actor", consent.AccessFilter{Actor: "admin"}, "6,4,2,0"},
		{"both", consent.AccessFilter{Subject: ada, Actor: "agent:marta"}, ""},
		{"limit", consent.AccessFilter{Limit: 2}, "6,5"},
		{"next page", consent.AccessFilter{Limit: 2, Before: recorded[5].ID}, "4,3"},
		{"subject page", consent.AccessFilter{Subject: ada, Before: recorded[4].ID}, "2,0"},
	}
	for _, tt := range tests {
		got, err := a.List(ctx, tt.f)
		if err != nil || whys(got) != tt.want {
			t.Errorf("List(%s) = %q, %v, want %q", tt.name, whys(got), err, tt.want)
		}
	}
}

func testAuditInvalid(t *testing.T, newAudit func(t *testing.T, now func() time.Time) consent.Audit) {
	ctx := context.Background()
	a := newAudit(t, newClock().now)
	ok := consent.Access{Actor: "admin", Subject: subject("ada"), What: "summary", Why: "ticket 1"}
	tests := []struct {
		name string
		mod  func(*consent.Access)
	}{
		{"no actor", func(x *consent.Access) { x.Actor = "" }},
		{"actor with spaces", func(x *consent.Access) { x.Actor = "the admin" }},
		{"no subject", func(x *consent.Access) { x.Subject = "" }},
		{"subject not an id", func(x *consent.Access) { x.Subject = "telegram:12345" }},
		{"no what", func(x *consent.Access) { x.What = "" }},
		{"no reason", func(x *consent.Access) { x.Why = "" }},
		{"long reason", func(x *consent.Access) { x.Why = strings.Repeat("x", consent.MaxAccessReason+1) }},
		{"control characters", func(x *consent.Access) { x.Why = "line\nbreak" }},
		{"id set", func(x *consent.Access) { x.ID = 7 }},
	}
	for _, tt := range tests {
		acc := ok
		tt.mod(&acc)
		if _, err := a.Record(ctx, acc); !errors.Is(err, consent.ErrInvalid) {
			t.Errorf("Record(%s) = %v, want ErrInvalid", tt.name, err)
		}
	}
	if got, err := a.List(ctx, consent.AccessFilter{}); err != nil || len(got) != 0 {
		t.Errorf("List() after invalid records = %d accesses, %v, want none", len(got), err)
	}
}

// TestTokenStore runs the contract of a consent.TokenStore: a token is
// used once, also under concurrent uses. newStore is called once per
// subtest and must return an empty store.
func TestTokenStore(t *testing.T, newStore func(t *testing.T) consent.TokenStore) {
	ctx := context.Background()
	s := newStore(t)
	expires := time.Now().Add(time.Hour)
	if used, err := s.TokenUsed(ctx, "t1"); used || err != nil {
		t.Errorf("TokenUsed(new) = %v, %v, want false", used, err)
	}
	if first, err := s.UseToken(ctx, "t1", expires); !first || err != nil {
		t.Errorf("UseToken(new) = %v, %v, want true", first, err)
	}
	if first, err := s.UseToken(ctx, "t1", expires); first || err != nil {
		t.Errorf("UseToken(used) = %v, %v, want false", first, err)
	}
	if used, err := s.TokenUsed(ctx, "t1"); !used || err != nil {
		t.Errorf("TokenUsed(used) = %v, %v, want true", used, err)
	}
	const n = 8
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		wins  int
		start = make(chan struct{})
	)
	for range n {
		wg.Go(func() {
			<-start
			first, err := s.UseToken(ctx, "t2", expires)
			if err != nil {
				t.Errorf("concurrent UseToken() = %v", err)
			}
			if first {
				mu.Lock()
				wins++
				mu.Unlock()
			}
		})
	}
	close(start)
	wg.Wait()
	if wins != 1 {
		t.Errorf("%d concurrent UseToken() of one token: %d got true, want 1", n, wins)
	}
}
