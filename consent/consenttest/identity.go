package consenttest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/bottega-shop/bottega/consent"
)

func linkIdentity(t *testing.T, k *consent.Keyring, alias, person, channel string) (string, bool) {
	t.Helper()
	got, made, err := k.LinkIdentity(context.Background(), alias, person, channel)
	if err != nil {
		t.Fatalf("LinkIdentity(%.8s…, %.8s…, %s) = %v", alias, person, channel, err)
	}
	return got, made
}

func personOf(t *testing.T, k *consent.Keyring, alias string) string {
	t.Helper()
	got, err := k.Person(context.Background(), alias)
	if err != nil {
		t.Fatalf("Person(%.8s…) = %v", alias, err)
	}
	return got
}

func testIdentities(t *testing.T, newStore func(t *testing.T) consent.KeyStore) {
	ctx := context.Background()
	store := newStore(t)
	clk := newClock()
	k := newKeyring(t, store, consent.WithKeyringNow(clk.now))
	person, other := customer("c-1"), customer("c-2")
	tg, wc := subject("tg-1"), consent.SubjectID(secret, "webchat", "s-1")

	if got := personOf(t, k, tg); got != tg {
		t.Errorf("Person(an unlinked identity) = %.8s…, want itself", got)
	}
	if got, made := linkIdentity(t, k, wc, person, "webchat"); got != person || !made {
		t.Errorf("LinkIdentity(first) = %.8s…, %v; want the person, made", got, made)
	}
	if ok, err := k.Has(ctx, person); !ok || err != nil {
		t.Errorf("Has(person) after a link = %v, %v; want a key made for the person", ok, err)
	}
	clk.advance(time.Second)
	linkIdentity(t, k, tg, person, "telegram")
	if got, made := linkIdentity(t, k, tg, person, "telegram"); got != person || made {
		t.Errorf("LinkIdentity(again) = %.8s…, %v; want the person, not made again", got, made)
	}
	// The first link wins; the other person gets no key out of it.
	if got, made := linkIdentity(t, k, tg, other, "telegram"); got != person || made {
		t.Errorf("LinkIdentity(to another person) = %.8s…, %v; want the first person, not made", got, made)
	}
	if ok, err := k.Has(ctx, other); ok || err != nil {
		t.Errorf("Has(the person who lost the link) = %v, %v; want no key", ok, err)
	}
	for _, kr := range []*consent.Keyring{k, newKeyring(t, store)} {
		for _, alias := range []string{tg, wc} {
			if got := personOf(t, kr, alias); got != person {
				t.Errorf("Person(linked alias) = %.8s…, want the person", got)
			}
		}
		if got := personOf(t, kr, person); got != person {
			t.Errorf("Person(the person) = %.8s…, want itself", got)
		}
	}
	at := clk.now().UTC().Truncate(time.Microsecond)
	want := []consent.Identity{
		{Alias: wc, Person: person, Channel: "webchat", Created: at.Add(-time.Second)},
		{Alias: tg, Person: person, Channel: "telegram", Created: at},
	}
	ids, err := k.Identities(ctx, person)
	if diff := cmp.Diff(want, ids); err != nil || diff != "" {
		t.Errorf("Identities(person) = %v (-want +got):\n%s", err, diff)
	}
	if ids, err := k.Identities(ctx, other); err != nil || len(ids) != 0 {
		t.Errorf("Identities(a person without links) = %v, %v; want none", ids, err)
	}
	subjects, err := k.Subjects(ctx, "", 10)
	if err != nil || len(subjects) != 1 || subjects[0].Subject != person ||
		!slices.Equal(subjects[0].Channels, []string{"telegram", "webchat"}) {
		t.Errorf("Subjects() = %+v, %v; want the person with its linked channels", subjects, err)
	}

	bad := []struct {
		name                   string
		alias, person, channel string
	}{
		{"alias linked to itself", tg, tg, "telegram"},
		{"alias not a subject id", "telegram:1", person, "telegram"},
		{"person not a subject id", tg, "c-1", "telegram"},
		{"no channel", subject("tg-3"), person, ""},
		{"channel customer", subject("tg-3"), person, "customer"},
		{"bad channel", subject("tg-3"), person, "Tele gram"},
	}
	for _, tt := range bad {
		if _, _, err := k.LinkIdentity(ctx, tt.alias, tt.person, tt.channel); !errors.Is(err, consent.ErrInvalid) {
			t.Errorf("LinkIdentity(%s) = %v, want ErrInvalid", tt.name, err)
		}
	}
	if _, err := k.Person(ctx, "telegram:1"); !errors.Is(err, consent.ErrInvalid) {
		t.Errorf("Person(not a subject id) = %v, want ErrInvalid", err)
	}
}

func testIdentitiesDestroyed(t *testing.T, newStore func(t *testing.T) consent.KeyStore) {
	ctx := context.Background()
	store := newStore(t)
	k := newKeyring(t, store)
	person := customer("c-1")
	tg, wc, ms := subject("tg-1"), consent.SubjectID(secret, "webchat", "s-1"), consent.SubjectID(secret, "messenger", "p-1")
	for alias, ch := range map[string]string{tg: "telegram", wc: "webchat", ms: "messenger"} {
		linkIdentity(t, k, alias, person, ch)
	}
	seal(t, k, tg, []byte("the alias's own data"))

	// Destroying an alias's key deletes its link.
	if ok, err := k.Destroy(ctx, tg); !ok || err != nil {
		t.Fatalf("Destroy(alias) = %v, %v", ok, err)
	}
	if got := personOf(t, k, tg); got != tg {
		t.Errorf("Person(alias) after its Destroy = %.8s…, want itself", got)
	}
	// So does destroying an alias that never had a key.
	if ok, err := k.Destroy(ctx, ms); ok || err != nil {
		t.Errorf("Destroy(alias without a key) = %v, %v; want false, nil", ok, err)
	}
	ids, err := k.Identities(ctx, person)
	if err != nil || len(ids) != 1 || ids[0].Alias != wc {
		t.Errorf("Identities(person) after destroying two aliases = %+v, %v; want the web chat only", ids, err)
	}
	// Destroying the person's key deletes every link to it, here at once
	// and on a replica that never cached them.
	other := newKeyring(t, store)
	if ok, err := k.Destroy(ctx, person); !ok || err != nil {
		t.Fatalf("Destroy(person) = %v, %v", ok, err)
	}
	for _, kr := range []*consent.Keyring{k, other} {
		if got := personOf(t, kr, wc); got != wc {
			t.Errorf("Person(alias) after Destroy(person) = %.8s…, want itself", got)
		}
	}
	if ids, err := k.Identities(ctx, person); err != nil || len(ids) != 0 {
		t.Errorf("Identities(person) after its Destroy = %+v, %v; want none", ids, err)
	}
	// The alias can be linked again, to anyone.
	if got, made := linkIdentity(t, k, wc, customer("c-2"), "webchat"); got != customer("c-2") || !made {
		t.Errorf("LinkIdentity(after the person's Destroy) = %.8s…, %v; want the new person, made", got, made)
	}
}

func testConcurrentLinkIdentity(t *testing.T, newStore func(t *testing.T) consent.KeyStore) {
	store := newStore(t)
	alias := subject("tg-race")
	const n = 8
	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
		got   = make([]string, n)
		made  = make([]bool, n)
		errs  = make([]error, n)
	)
	for i := range n {
		k := newKeyring(t, store) // one per replica
		wg.Go(func() {
			<-start
			got[i], made[i], errs[i] = k.LinkIdentity(context.Background(), alias, customer(fmt.Sprintf("c-%d", i%2)), "telegram")
		})
	}
	close(start)
	wg.Wait()
	wins := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("concurrent LinkIdentity %d = %v", i, errs[i])
		}
		if made[i] {
			wins++
		}
		if got[i] != got[0] {
			t.Errorf("concurrent LinkIdentity %d = %.8s…, another = %.8s…; want one person for all", i, got[i], got[0])
		}
	}
	if wins != 1 {
		t.Errorf("%d concurrent LinkIdentity of one alias: %d made the link, want 1", n, wins)
	}
	if p := personOf(t, newKeyring(t, store), alias); p != got[0] {
		t.Errorf("Person(alias) = %.8s…, want the winner %.8s…", p, got[0])
	}
}

// countingKeyStore counts the identity reads of a KeyStore.
type countingKeyStore struct {
	consent.KeyStore
	reads atomic.Int64
}

func (c *countingKeyStore) Identity(ctx context.Context, alias string) (consent.Identity, error) {
	c.reads.Add(1)
	return c.KeyStore.Identity(ctx, alias)
}

func testPersonCache(t *testing.T, newStore func(t *testing.T) consent.KeyStore) {
	ctx := context.Background()
	store := newStore(t)
	clk := newClock()
	const ttl = time.Minute
	a := &countingKeyStore{KeyStore: store}
	ka := newKeyring(t, a, consent.WithKeyringNow(clk.now), consent.WithKeyCache(10, ttl))
	kb := newKeyring(t, store, consent.WithKeyringNow(clk.now), consent.WithKeyCache(10, ttl))
	person, linked, unlinked := customer("c-1"), subject("tg-linked"), subject("tg-unlinked")
	linkIdentity(t, kb, linked, person, "telegram")

	// Every chat turn asks; within the TTL only the first reaches the store.
	for range 100 {
		if got := personOf(t, ka, linked); got != person {
			t.Fatalf("Person(linked) = %.8s…, want the person", got)
		}
		if got := personOf(t, ka, unlinked); got != unlinked {
			t.Fatalf("Person(unlinked) = %.8s…, want itself", got)
		}
	}
	if n := a.reads.Load(); n != 2 {
		t.Errorf("200 lookups of 2 identities read the store %d times, want 2", n)
	}

	// A link made on another replica shows here once the TTL is over.
	linkIdentity(t, kb, unlinked, person, "telegram")
	clk.advance(ttl - time.Second)
	if got := personOf(t, ka, unlinked); got != unlinked {
		t.Errorf("Person() within the TTL of a link made elsewhere = %.8s…, want the cached answer", got)
	}
	clk.advance(2 * time.Second)
	if got := personOf(t, ka, unlinked); got != person {
		t.Errorf("Person() after the TTL of a link made elsewhere = %.8s…, want the person", got)
	}
	// A link made here, and a Destroy made here, show at once.
	fresh := subject("tg-fresh")
	personOf(t, ka, fresh)
	linkIdentity(t, ka, fresh, person, "telegram")
	if got := personOf(t, ka, fresh); got != person {
		t.Errorf("Person() right after a link made here = %.8s…, want the person", got)
	}
	if _, err := ka.Destroy(ctx, person); err != nil {
		t.Fatal(err)
	}
	if got := personOf(t, ka, fresh); got != fresh {
		t.Errorf("Person() right after the person's Destroy here = %.8s…, want itself", got)
	}

	// A keyring without a cache reads every time.
	c := &countingKeyStore{KeyStore: store}
	kc := newKeyring(t, c, consent.WithKeyCache(0, ttl))
	for range 3 {
		personOf(t, kc, linked)
	}
	if n := c.reads.Load(); n != 3 {
		t.Errorf("3 uncached lookups read the store %d times, want 3", n)
	}
}

func testIdentityStoreDirect(t *testing.T, newStore func(t *testing.T) consent.KeyStore) {
	ctx := context.Background()
	store := newStore(t)
	at := time.Date(2026, 3, 14, 10, 0, 0, 0, time.UTC)
	person, alias := customer("c-1"), subject("tg-1")
	id := consent.Identity{Alias: alias, Person: person, Channel: "telegram", Created: at}

	if _, _, err := store.PutIdentity(ctx, id); !errors.Is(err, consent.ErrNotFound) {
		t.Errorf("PutIdentity(a person without a key) = %v, want ErrNotFound", err)
	}
	if _, err := store.Identity(ctx, alias); !errors.Is(err, consent.ErrNotFound) {
		t.Errorf("Identity(unlinked) = %v, want ErrNotFound", err)
	}
	for _, p := range []string{person, customer("c-2")} {
		if _, err := store.PutKey(ctx, consent.WrappedKey{Subject: p, Wrapped: []byte{1}, Created: at}); err != nil {
			t.Fatal(err)
		}
	}
	got, made, err := store.PutIdentity(ctx, id)
	if err != nil || !made || !cmp.Equal(got, id) {
		t.Errorf("PutIdentity(first) = %+v, %v, %v; want it stored", got, made, err)
	}
	second := consent.Identity{Alias: alias, Person: customer("c-2"), Channel: "telegram", Created: at.Add(time.Hour)}
	got, made, err = store.PutIdentity(ctx, second)
	if err != nil || made || !cmp.Equal(got, id) {
		t.Errorf("PutIdentity(to another person) = %+v, %v, %v; want the first back, not made", got, made, err)
	}
	if got, err := store.Identity(ctx, alias); err != nil || !cmp.Equal(got, id) {
		t.Errorf("Identity() = %+v, %v; want the first", got, err)
	}
	if ok, err := store.DeleteIdentity(ctx, alias, customer("c-2")); ok || err != nil {
		t.Errorf("DeleteIdentity(alias, the wrong person) = %v, %v; want false", ok, err)
	}
	if ok, err := store.DeleteIdentity(ctx, alias, person); !ok || err != nil {
		t.Errorf("DeleteIdentity(alias, person) = %v, %v; want true", ok, err)
	}
	if _, err := store.Identity(ctx, alias); !errors.Is(err, consent.ErrNotFound) {
		t.Errorf("Identity() after DeleteIdentity = %v, want ErrNotFound", err)
	}
	// DeleteKey of either side deletes the identity.
	for _, side := range []string{alias, person} {
		if _, _, err := store.PutIdentity(ctx, id); err != nil {
			t.Fatal(err)
		}
		if _, err := store.DeleteKey(ctx, side); err != nil {
			t.Fatal(err)
		}
		if _, err := store.Identity(ctx, alias); !errors.Is(err, consent.ErrNotFound) {
			t.Errorf("Identity() after DeleteKey(%s side) = %v, want ErrNotFound", map[string]string{alias: "alias", person: "person"}[side], err)
		}
		if _, err := store.PutKey(ctx, consent.WrappedKey{Subject: person, Wrapped: []byte{1}, Created: at}); err != nil {
			t.Fatal(err)
		}
	}
	if ids, err := store.Identities(ctx, person); err != nil || len(ids) != 0 {
		t.Errorf("Identities() after the deletions = %+v, %v; want none", ids, err)
	}
}

// TestLinkCodeStore runs the contract of a consent.LinkCodeStore: a code
// is taken once (also under concurrent takes), expires by the store's
// clock, is told apart from an unknown one, and goes with its person's
// codes. newStore is called once per subtest with the clock the store
// must use and must return an empty store.
func TestLinkCodeStore(t *testing.T, newStore func(t *testing.T, now func() time.Time) consent.LinkCodeStore) {
	tests := []struct {
		name string
		fn   func(t *testing.T, newStore func(t *testing.T, now func() time.Time) consent.LinkCodeStore)
	}{
		{"TakeOnce", testTakeOnce},
		{"ConcurrentTakes", testConcurrentTakes},
		{"Expiry", testCodeExpiry},
		{"Delete", testDeleteCodes},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, newStore) })
	}
}

func putCode(t *testing.T, s consent.LinkCodeStore, id, person string, expires time.Time) {
	t.Helper()
	if err := s.PutLinkCode(context.Background(), id, person, expires); err != nil {
		t.Fatalf("PutLinkCode(%s) = %v", id, err)
	}
}

func testTakeOnce(t *testing.T, newStore func(t *testing.T, now func() time.Time) consent.LinkCodeStore) {
	ctx := context.Background()
	clk := newClock()
	s := newStore(t, clk.now)
	person := customer("c-1")
	putCode(t, s, "code-1", person, clk.now().Add(consent.DefaultLinkCodeTTL))
	putCode(t, s, "code-2", customer("c-2"), clk.now().Add(consent.DefaultLinkCodeTTL))
	if got, err := s.TakeLinkCode(ctx, "code-1"); err != nil || got != person {
		t.Errorf("TakeLinkCode(new) = %.8s…, %v; want its person", got, err)
	}
	if got, err := s.TakeLinkCode(ctx, "code-1"); !errors.Is(err, consent.ErrGone) || got != person {
		t.Errorf("TakeLinkCode(used) = %.8s…, %v; want its person and ErrGone", got, err)
	}
	if got, err := s.TakeLinkCode(ctx, "nope"); !errors.Is(err, consent.ErrNotFound) || got != "" {
		t.Errorf("TakeLinkCode(unknown) = %q, %v; want ErrNotFound", got, err)
	}
	if got, err := s.TakeLinkCode(ctx, "code-2"); err != nil || got != customer("c-2") {
		t.Errorf("TakeLinkCode(another code) = %.8s…, %v; want its person", got, err)
	}
	if err := s.PutLinkCode(ctx, "", person, clk.now()); !errors.Is(err, consent.ErrInvalid) {
		t.Errorf("PutLinkCode(no id) = %v, want ErrInvalid", err)
	}
}

func testConcurrentTakes(t *testing.T, newStore func(t *testing.T, now func() time.Time) consent.LinkCodeStore) {
	clk := newClock()
	s := newStore(t, clk.now)
	putCode(t, s, "race", customer("c-1"), clk.now().Add(time.Minute))
	const n = 8
	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
		wins  atomic.Int64
	)
	for range n {
		wg.Go(func() {
			<-start
			_, err := s.TakeLinkCode(context.Background(), "race")
			switch {
			case err == nil:
				wins.Add(1)
			case !errors.Is(err, consent.ErrGone):
				t.Errorf("concurrent TakeLinkCode() = %v, want success or ErrGone", err)
			}
		})
	}
	close(start)
	wg.Wait()
	if got := wins.Load(); got != 1 {
		t.Errorf("%d concurrent takes of one code: %d succeeded, want 1", n, got)
	}
}

func testCodeExpiry(t *testing.T, newStore func(t *testing.T, now func() time.Time) consent.LinkCodeStore) {
	ctx := context.Background()
	clk := newClock()
	s := newStore(t, clk.now)
	person := customer("c-1")
	putCode(t, s, "short", person, clk.now().Add(consent.DefaultLinkCodeTTL))
	putCode(t, s, "long", person, clk.now().Add(2*consent.DefaultLinkCodeTTL))
	clk.advance(consent.DefaultLinkCodeTTL)
	if got, err := s.TakeLinkCode(ctx, "short"); !errors.Is(err, consent.ErrGone) || got != person {
		t.Errorf("TakeLinkCode(expired) = %.8s…, %v; want its person and ErrGone", got, err)
	}
	if got, err := s.TakeLinkCode(ctx, "long"); err != nil || got != person {
		t.Errorf("TakeLinkCode(still valid) = %.8s…, %v; want its person", got, err)
	}
	// A code expired long ago is forgotten as new ones are made.
	clk.advance(48 * time.Hour)
	putCode(t, s, "new", person, clk.now().Add(consent.DefaultLinkCodeTTL))
	if _, err := s.TakeLinkCode(ctx, "short"); !errors.Is(err, consent.ErrNotFound) && !errors.Is(err, consent.ErrGone) {
		t.Errorf("TakeLinkCode(expired two days ago) = %v, want ErrNotFound or ErrGone", err)
	}
}

func testDeleteCodes(t *testing.T, newStore func(t *testing.T, now func() time.Time) consent.LinkCodeStore) {
	ctx := context.Background()
	clk := newClock()
	s := newStore(t, clk.now)
	person, other := customer("c-1"), customer("c-2")
	exp := clk.now().Add(time.Minute)
	putCode(t, s, "a", person, exp)
	putCode(t, s, "b", person, exp)
	putCode(t, s, "c", other, exp)
	if _, err := s.TakeLinkCode(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if n, err := s.DeleteLinkCodes(ctx, person); n != 2 || err != nil {
		t.Errorf("DeleteLinkCodes(person) = %d, %v; want 2, used or not", n, err)
	}
	for _, id := range []string{"a", "b"} {
		if _, err := s.TakeLinkCode(ctx, id); !errors.Is(err, consent.ErrNotFound) {
			t.Errorf("TakeLinkCode(%s) after DeleteLinkCodes = %v, want ErrNotFound", id, err)
		}
	}
	if got, err := s.TakeLinkCode(ctx, "c"); err != nil || got != other {
		t.Errorf("TakeLinkCode(another person's code) = %.8s…, %v; want it untouched", got, err)
	}
	if n, err := s.DeleteLinkCodes(ctx, person); n != 0 || err != nil {
		t.Errorf("DeleteLinkCodes(again) = %d, %v; want 0", n, err)
	}
}
