package consent_test

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/bottega-shop/bottega/consent"
	"github.com/bottega-shop/bottega/consent/sqlconsent"
	"github.com/bottega-shop/bottega/internal/testserver"
)

// countingStore counts the calls that reach a KeyStore for a key: reads
// and puts.
type countingStore struct {
	consent.KeyStore
	reads atomic.Int64 // Key and PutKey calls
}

func (c *countingStore) Key(ctx context.Context, subject string) (consent.WrappedKey, error) {
	c.reads.Add(1)
	return c.KeyStore.Key(ctx, subject)
}

func (c *countingStore) PutKey(ctx context.Context, k consent.WrappedKey) (consent.WrappedKey, error) {
	c.reads.Add(1)
	return c.KeyStore.PutKey(ctx, k)
}

func newSQLiteKeyStore(tb testing.TB) consent.KeyStore {
	tb.Helper()
	s, err := sqlconsent.NewKeyStore(testserver.SQLiteDB(tb, filepath.Join(tb.TempDir(), sqlconsent.KeysFile)))
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// TestKeyringCacheHits checks that a chat turn's Seal and Open reach the
// key store once per subject and cache TTL, not once per call, and that
// linking a conversation again does not write.
func TestKeyringCacheHits(t *testing.T) {
	ctx := context.Background()
	store := &countingStore{KeyStore: newSQLiteKeyStore(t)}
	k, err := consent.NewKeyring(store, secretKey)
	if err != nil {
		t.Fatal(err)
	}
	subj := consent.SubjectID("k", "telegram", "ada")
	for i := range 100 {
		plain := fmt.Appendf(nil, "turn %d", i)
		sealed, err := k.Seal(ctx, subj, plain)
		if err != nil {
			t.Fatal(err)
		}
		got, err := k.Open(ctx, subj, sealed)
		if err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("Open(Seal(%q)) = %q, %v", plain, got, err)
		}
		if err := k.Link(ctx, subj, "telegram:ada"); err != nil {
			t.Fatal(err)
		}
	}
	if n := store.reads.Load(); n != 1 {
		t.Errorf("100 turns reached the key store %d times (reads and puts), want 1", n)
	}
}

// BenchmarkKeyring measures one chat turn's crypto with a warm cache:
// sealing a 512-byte state and opening it again, across 1,000 subjects
// (or one); and, for scale, an Open that reads the key from SQLite.
//
//	go test -run '^$' -bench Keyring ./consent/
func BenchmarkKeyring(b *testing.B) {
	ctx := context.Background()
	store := newSQLiteKeyStore(b)
	k, err := consent.NewKeyring(store, secretKey)
	if err != nil {
		b.Fatal(err)
	}
	subjects := make([]string, 1000)
	for i := range subjects {
		subjects[i] = consent.SubjectID("k", "telegram", fmt.Sprint(i))
		if _, err := k.Seal(ctx, subjects[i], nil); err != nil { // make and cache the keys
			b.Fatal(err)
		}
	}
	plain := bytes.Repeat([]byte("x"), 512)
	b.Run("SealOpen", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			s := subjects[i%len(subjects)]
			i++
			sealed, err := k.Seal(ctx, s, plain)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := k.Open(ctx, s, sealed); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("SealOpenOneSubject", func(b *testing.B) { // everything in the CPU's caches
		b.ReportAllocs()
		for b.Loop() {
			sealed, err := k.Seal(ctx, subjects[0], plain)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := k.Open(ctx, subjects[0], sealed); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("SealOpenParallel", func(b *testing.B) {
		b.ReportAllocs()
		var n atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				s := subjects[int(n.Add(1))%len(subjects)]
				sealed, err := k.Seal(ctx, s, plain)
				if err != nil {
					b.Error(err)
					return
				}
				if _, err := k.Open(ctx, s, sealed); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	b.Run("OpenUncached", func(b *testing.B) { // every Open reads and unwraps the key (SQLite)
		cold, err := consent.NewKeyring(store, secretKey, consent.WithKeyCache(0, 0))
		if err != nil {
			b.Fatal(err)
		}
		sealed, err := k.Seal(ctx, subjects[0], plain)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := cold.Open(ctx, subjects[0], sealed); err != nil {
				b.Fatal(err)
			}
		}
	})
}
