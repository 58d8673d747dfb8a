package consenttest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/bottega-shop/bottega/consent"
)

// keyringSecret stands in for BOTTEGA_SECRET_KEY.
var keyringSecret = []byte("consenttest-keyring-secret-0123456789abcdef")

// TestKeyring runs the contract of a consent.KeyStore, directly and
// through consent.Keyring: keys made once (also under concurrent first
// seals from several replicas), sealing bound to the subject, destroyed
// keys, the cache TTL, conversation links, the subject list, and the
// identities linking channel identities to persons (first link wins, also
// under concurrent links from several replicas; cached lookups; gone with
// either side's key). newStore is called once per subtest and must return
// an empty store that lives until the subtest ends.
func TestKeyring(t *testing.T, newStore func(t *testing.T) consent.KeyStore) {
	tests := []struct {
		name string
		fn   func(t *testing.T, newStore func(t *testing.T) consent.KeyStore)
	}{
		{"RoundTrip", testRoundTrip},
		{"BoundToSubject", testBoundToSubject},
		{"Damaged", testDamaged},
		{"Destroy", testDestroy},
		{"Replicas", testReplicas},
		{"WrongSecret", testWrongSecret},
		{"ConcurrentFirstSeal", testConcurrentFirstSeal},
		{"CacheTTL", testCacheTTL},
		{"Links", testLinks},
		{"Subjects", testSubjects},
		{"StoreDirect", testKeyStoreDirect},
		{"Identities", testIdentities},
		{"IdentitiesDestroyed", testIdentitiesDestroyed},
		{"ConcurrentLinkIdentity", testConcurrentLinkIdentity},
		{"PersonCache", testPersonCache},
		{"IdentityStoreDirect", testIdentityStoreDirect},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, newStore) })
	}
}

func newKeyring(t *testing.T, store consent.KeyStore, opts ...consent.KeyringOption) *consent.Keyring {
	t.Helper()
	k, err := consent.NewKeyring(store, keyringSecret, opts...)
	if err != nil {
		t.Fatalf("NewKeyring() = %v", err)
	}
	return k
}

func seal(t *testing.T, k *consent.Keyring, subj string, plain []byte) []byte {
	t.Helper()
	sealed, err := k.Seal(context.Background(), subj, plain)
	if err != nil {
		t.Fatalf("Seal() = %v", err)
	}
	return sealed
}

func testRoundTrip(t *testing.T, newStore func(t *testing.T) consent.KeyStore) {
	ctx := context.Background()
	k := newKeyring(t, newStore(t))
	subj := subject("ada")
	for _, plain := range [][]byte{[]byte("avete le trail runner nel 42?"), {}, bytes.Repeat([]byte{0, 1, 2, 0xff}, 5000)} {
		sealed := seal(t, k, subj, plain)
		if len(plain) > 8 && bytes.Contains(sealed, plain[:8]) {
			t.Errorf("Seal(%.20q) holds the plain text", plain)
		}
		got, err := k.Open(ctx, subj, sealed)
		if err != nil || !bytes.Equal(got, plain) {
			t.Errorf("Open(Seal(%.20q)) = %.20q, %v, want the plain text", plain, got, err)
		}
		// A random nonce: the same text seals differently each time.
		if again := seal(t, k, subj, plain); bytes.Equal(again, sealed) {
			t.Errorf("Seal(%.20q) twice gave the same bytes", plain)
		}
	}
	if _, err := k.Seal(ctx, "telegram:12345", []byte("x")); !errors.Is(err, consent.ErrInvalid) {
		t.Errorf("Seal(a conversation key, not a subject id) = %v, want ErrInvalid", err)
	}
	if ok, err := k.Has(ctx, subject("nobody")); ok || err != nil {
		t.Errorf("Has(a subject never sealed for) = %v, %v, want false, nil", ok, err)
	}
	if ok, err := k.Has(ctx, subj); !ok || err != nil {
		t.Errorf("Has(a subject sealed for) = %v, %v, want true, nil", ok, err)
	}
}

func testBoundToSubject(t *testing.T, newStore func(t *testing.T) consent.KeyStore) {
	ctx := context.Background()
	k := newKeyring(t, newStore(t))
	ada, bob := subject("ada"), subject("bob")
	sealed := seal(t, k, ada, []byte("taglia 42"))
	seal(t, k, bob, []byte("bob has a key too"))
	if got, err := k.Open(ctx, bob, sealed); !errors.Is(err, consent.ErrInvalid) {
		t.Errorf("Open(bob, ada's data) = %q, %v, want ErrInvalid", got, err)
	}
	if got, err := k.Open(ctx, subject("carla"), sealed); !errors.Is(err, consent.ErrErased) {
		t.Errorf("Open(a subject without a key, ada's data) = %q, %v, want ErrErased", got, err)
	}
}

func testDamaged(t *testing.T, newStore func(t *testing.T) consent.KeyStore) {
	ctx := context.Background()
	k := newKeyring(t, newStore(t))
	subj := subject("ada")
	sealed := seal(t, k, subj, []byte("taglia 42"))
	tests := []struct {
		name   string
		sealed []byte
	}{
		{"empty", nil},
		{"unknown version", append([]byte{9}, sealed[1:]...)},
		{"flipped bit", func() []byte { b := bytes.Clone(sealed); b[len(b)/2] ^= 1; return b }()},
		{"cut", sealed[:len(sealed)-1]},
		{"only the version", sealed[:1]},
	}
	for _, tt := range tests {
		if got, err := k.Open(ctx, subj, tt.sealed); !errors.Is(err, consent.ErrInvalid) {
			t.Errorf("Open(%s) = %q, %v, want ErrInvalid", tt.name, got, err)
		}
	}
}

func testDestroy(t *testing.T, newStore func(t *testing.T) consent.KeyStore) {
	ctx := context.Background()
	store := newStore(t)
	k := newKeyring(t, store)
	ada, bob := subject("ada"), subject("bob")
	old := seal(t, k, ada, []byte("ada's size"))
	bobs := seal(t, k, bob, []byte("bob's size"))

	if ok, err := k.Destroy(ctx, ada); !ok || err != nil {
		t.Fatalf("Destroy(ada) = %v, %v, want true, nil", ok, err)
	}
	if got, err := k.Open(ctx, ada, old); !errors.Is(err, consent.ErrErased) {
		t.Errorf("Open(ada) after Destroy = %q, %v, want ErrErased", got, err)
	}
	if got, err := k.Open(ctx, bob, bobs); err != nil || string(got) != "bob's size" {
		t.Errorf("Open(bob) after Destroy(ada) = %q, %v, want bob's data", got, err)
	}
	if ok, err := k.Destroy(ctx, ada); ok || err != nil {
		t.Errorf("Destroy(ada) again = %v, %v, want false, nil", ok, err)
	}
	// New data makes a new key, which does not open the old data.
	fresh := seal(t, k, ada, []byte("after"))
	if got, err := k.Open(ctx, ada, fresh); err != nil || string(got) != "after" {
		t.Errorf("Open(data sealed after Destroy) = %q, %v, want it", got, err)
	}
	if got, err := k.Open(ctx, ada, old); err == nil {
		t.Errorf("Open(data sealed before Destroy) with the new key = %q, want an error", got)
	}
	// Another replica that never saw the key cannot open it either.
	if got, err := newKeyring(t, store).Open(ctx, ada, old); err == nil {
		t.Errorf("Open(data sealed before Destroy) on a fresh keyring = %q, want an error", got)
	}
}

func testReplicas(t *testing.T, newStore func(t *testing.T) consent.KeyStore) {
	ctx := context.Background()
	store := newStore(t)
	a, b := newKeyring(t, store), newKeyring(t, store)
	subj := subject("ada")
	sealed := seal(t, a, subj, []byte("from replica a"))
	if got, err := b.Open(ctx, subj, sealed); err != nil || string(got) != "from replica a" {
		t.Errorf("replica b: Open(sealed on a) = %q, %v, want the text", got, err)
	}
	sealed = seal(t, b, subj, []byte("from replica b"))
	if got, err := a.Open(ctx, subj, sealed); err != nil || string(got) != "from replica b" {
		t.Errorf("replica a: Open(sealed on b) = %q, %v, want the text", got, err)
	}
}

func testWrongSecret(t *testing.T, newStore func(t *testing.T) consent.KeyStore) {
	ctx := context.Background()
	store := newStore(t)
	subj := subject("ada")
	sealed := seal(t, newKeyring(t, store), subj, []byte("secret"))
	other, err := consent.NewKeyring(store, []byte("another-secret-of-enough-length-0123456789"))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := other.Open(ctx, subj, sealed); !errors.Is(err, consent.ErrInvalid) {
		t.Errorf("Open() with another secret = %q, %v, want ErrInvalid", got, err)
	}
	if _, err := consent.NewKeyring(store, []byte("short")); !errors.Is(err, consent.ErrInvalid) {
		t.Errorf("NewKeyring(a 5-byte secret) = %v, want ErrInvalid", err)
	}
}

func testConcurrentFirstSeal(t *testing.T, newStore func(t *testing.T) consent.KeyStore) {
	ctx := context.Background()
	store := newStore(t)
	subj := subject("ada")
	const n = 8
	sealed := make([][]byte, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		k := newKeyring(t, store) // one per replica: no shared cache
		wg.Go(func() {
			<-start
			sealed[i], errs[i] = k.Seal(ctx, subj, fmt.Appendf(nil, "message %d", i))
		})
	}
	close(start)
	wg.Wait()
	reader := newKeyring(t, store)
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("concurrent first Seal %d = %v", i, errs[i])
		}
		got, err := reader.Open(ctx, subj, sealed[i])
		if want := fmt.Sprintf("message %d", i); err != nil || string(got) != want {
			t.Errorf("Open(concurrent first Seal %d) = %q, %v, want %q: the replicas made different keys", i, got, err, want)
		}
	}
}

func testCacheTTL(t *testing.T, newStore func(t *testing.T) consent.KeyStore) {
	ctx := context.Background()
	store := newStore(t)
	clk := newClock()
	const ttl = time.Minute
	a := newKeyring(t, store, consent.WithKeyringNow(clk.now), consent.WithKeyCache(10, ttl))
	b := newKeyring(t, store, consent.WithKeyringNow(clk.now), consent.WithKeyCache(10, ttl))
	subj := subject("ada")
	sealed := seal(t, a, subj, []byte("cached"))
	if _, err := b.Open(ctx, subj, sealed); err != nil { // b caches the key
		t.Fatalf("Open() on b = %v", err)
	}
	if ok, err := a.Destroy(ctx, subj); !ok || err != nil {
		t.Fatalf("Destroy() on a = %v, %v", ok, err)
	}
	if _, err := a.Open(ctx, subj, sealed); !errors.Is(err, consent.ErrErased) {
		t.Errorf("Open() on a right after its Destroy = %v, want ErrErased", err)
	}
	clk.advance(ttl - time.Second)
	if _, err := b.Open(ctx, subj, sealed); err != nil {
		t.Errorf("Open() on b within the cache TTL of another replica's Destroy = %v, want the cached key to work", err)
	}
	clk.advance(2 * time.Second)
	if _, err := b.Open(ctx, subj, sealed); !errors.Is(err, consent.ErrErased) {
		t.Errorf("Open() on b after the cache TTL = %v, want ErrErased", err)
	}

	// A keyring without a cache reads the store every time.
	c := newKeyring(t, store, consent.WithKeyCache(0, ttl))
	sealed = seal(t, c, subj, []byte("uncached"))
	if _, err := a.Destroy(ctx, subj); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Open(ctx, subj, sealed); !errors.Is(err, consent.ErrErased) {
		t.Errorf("Open() on an uncached keyring after Destroy elsewhere = %v, want ErrErased", err)
	}

	// The cache keeps at most its size, least recently used out first:
	// evicted keys are read again and still work.
	small := newKeyring(t, store, consent.WithKeyCache(2, ttl))
	var subjects []string
	var all [][]byte
	for i := range 5 {
		s := subject(fmt.Sprintf("lru-%d", i))
		subjects = append(subjects, s)
		all = append(all, seal(t, small, s, []byte(s)))
	}
	for i, s := range subjects {
		if got, err := small.Open(ctx, s, all[i]); err != nil || string(got) != s {
			t.Errorf("Open(subject %d) through a cache of 2 = %q, %v, want it", i, got, err)
		}
	}
}

func testLinks(t *testing.T, newStore func(t *testing.T) consent.KeyStore) {
	ctx := context.Background()
	store := newStore(t)
	k := newKeyring(t, store)
	ada := subject("ada")
	if got, err := k.Conversations(ctx, ada); len(got) != 0 || err != nil {
		t.Errorf("Conversations(a subject without a key) = %q, %v, want none", got, err)
	}
	for _, c := range []string{"webchat:s-9", "telegram:12345", "telegram:12345", "webchat:s-9"} {
		if err := k.Link(ctx, ada, c); err != nil {
			t.Fatalf("Link(%q) = %v", c, err)
		}
	}
	// Another replica links one of them again, and a new one.
	other := newKeyring(t, store)
	for _, c := range []string{"telegram:12345", "messenger:psid-1"} {
		if err := other.Link(ctx, ada, c); err != nil {
			t.Fatalf("Link(%q) on another replica = %v", c, err)
		}
	}
	want := []string{"messenger:psid-1", "telegram:12345", "webchat:s-9"}
	got, err := newKeyring(t, store).Conversations(ctx, ada)
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("Conversations() = %q, %v, want %q", got, err, want)
	}
	links, err := store.Links(ctx, ada)
	if err != nil || len(links) != 3 {
		t.Fatalf("store.Links() = %d links, %v, want 3 (one per conversation)", len(links), err)
	}
	for _, l := range links {
		for _, c := range want {
			_, id, _ := cutChannel(c)
			if bytes.Contains(l.Sealed, []byte(id)) || l.ID == c {
				t.Errorf("link %s holds the conversation key %q in clear", l.ID, c)
			}
		}
	}
	if err := k.Link(ctx, ada, ""); !errors.Is(err, consent.ErrInvalid) {
		t.Errorf("Link(empty conversation) = %v, want ErrInvalid", err)
	}

	if _, err := k.Destroy(ctx, ada); err != nil {
		t.Fatal(err)
	}
	if got, err := k.Conversations(ctx, ada); len(got) != 0 || err != nil {
		t.Errorf("Conversations() after Destroy = %q, %v, want none", got, err)
	}
	if links, err := store.Links(ctx, ada); len(links) != 0 || err != nil {
		t.Errorf("store.Links() after Destroy = %d links, %v, want none", len(links), err)
	}
	// A replica whose cache still holds the destroyed key cannot link to it.
	if err := other.Link(ctx, ada, "telegram:777"); !errors.Is(err, consent.ErrErased) {
		t.Errorf("Link() with a destroyed key still cached = %v, want ErrErased", err)
	}
}

func cutChannel(c string) (string, string, bool) { return strings.Cut(c, ":") }

func testSubjects(t *testing.T, newStore func(t *testing.T) consent.KeyStore) {
	ctx := context.Background()
	clk := newClock()
	k := newKeyring(t, newStore(t), consent.WithKeyringNow(clk.now))
	if got, err := k.Subjects(ctx, "", 0); len(got) != 0 || err != nil {
		t.Errorf("Subjects() of an empty store = %v, %v, want none", got, err)
	}
	want := map[string]consent.SubjectInfo{}
	for i, c := range []string{"telegram:1", "webchat:a", "messenger:x", ""} {
		s := subject(fmt.Sprintf("s%d", i))
		seal(t, k, s, []byte("x"))
		si := consent.SubjectInfo{Subject: s, Channels: []string{}, Created: clk.now().UTC().Truncate(time.Microsecond)}
		if c != "" {
			if err := k.Link(ctx, s, c); err != nil {
				t.Fatal(err)
			}
			ch, _, _ := cutChannel(c)
			si.Channels = []string{ch}
		}
		if i == 0 {
			if err := k.Link(ctx, s, "webchat:b"); err != nil {
				t.Fatal(err)
			}
			si.Channels = []string{"telegram", "webchat"}
		}
		want[s] = si
		clk.advance(time.Second)
	}
	var got []consent.SubjectInfo
	after := ""
	for range 10 {
		page, err := k.Subjects(ctx, after, 3)
		if err != nil {
			t.Fatalf("Subjects(after %.8s, 3) = %v", after, err)
		}
		if len(page) > 3 {
			t.Fatalf("Subjects(limit 3) = %d subjects", len(page))
		}
		if len(page) == 0 {
			break
		}
		got = append(got, page...)
		after = page[len(page)-1].Subject
	}
	var wantList []consent.SubjectInfo
	for _, si := range want {
		wantList = append(wantList, si)
	}
	slices.SortFunc(wantList, func(a, b consent.SubjectInfo) int { return strings.Compare(a.Subject, b.Subject) })
	if diff := cmp.Diff(wantList, got); diff != "" {
		t.Errorf("Subjects() in pages of 3 (-want +got):\n%s", diff)
	}
}

func testKeyStoreDirect(t *testing.T, newStore func(t *testing.T) consent.KeyStore) {
	ctx := context.Background()
	store := newStore(t)
	subj := subject("ada")
	if _, err := store.Key(ctx, subj); !errors.Is(err, consent.ErrNotFound) {
		t.Errorf("Key(missing) = %v, want ErrNotFound", err)
	}
	at := time.Date(2026, 3, 14, 10, 0, 0, 0, time.UTC)
	first := consent.WrappedKey{Subject: subj, Wrapped: []byte{1, 2, 3}, Created: at}
	got, err := store.PutKey(ctx, first)
	if err != nil || !bytes.Equal(got.Wrapped, first.Wrapped) || !got.Created.Equal(at) {
		t.Errorf("PutKey(first) = %v, %v, want it stored", got, err)
	}
	got, err = store.PutKey(ctx, consent.WrappedKey{Subject: subj, Wrapped: []byte{4, 5, 6}, Created: at.Add(time.Hour)})
	if err != nil || !bytes.Equal(got.Wrapped, first.Wrapped) || !got.Created.Equal(at) {
		t.Errorf("PutKey(second) = %v, %v, want the first key back", got, err)
	}
	if got, err := store.Key(ctx, subj); err != nil || !bytes.Equal(got.Wrapped, first.Wrapped) {
		t.Errorf("Key() = %v, %v, want the first key", got, err)
	}
	if err := store.PutLink(ctx, subject("bob"), consent.ConversationLink{ID: "l1", Channel: "telegram", Sealed: []byte{1}, Created: at}); !errors.Is(err, consent.ErrNotFound) {
		t.Errorf("PutLink(a subject without a key) = %v, want ErrNotFound", err)
	}
	for range 2 {
		if err := store.PutLink(ctx, subj, consent.ConversationLink{ID: "l1", Channel: "telegram", Sealed: []byte{1}, Created: at}); err != nil {
			t.Errorf("PutLink() = %v", err)
		}
	}
	if links, err := store.Links(ctx, subj); err != nil || len(links) != 1 {
		t.Errorf("Links() after the same link twice = %v, %v, want one", links, err)
	}
	if ok, err := store.DeleteKey(ctx, subject("bob")); ok || err != nil {
		t.Errorf("DeleteKey(missing) = %v, %v, want false, nil", ok, err)
	}
	if ok, err := store.DeleteKey(ctx, subj); !ok || err != nil {
		t.Errorf("DeleteKey() = %v, %v, want true, nil", ok, err)
	}
	if _, err := store.Key(ctx, subj); !errors.Is(err, consent.ErrNotFound) {
		t.Errorf("Key() after DeleteKey = %v, want ErrNotFound", err)
	}
}
