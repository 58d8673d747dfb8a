package meilicatalog_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/meilisearch/meilisearch-go"

	"github.com/bottega-shop/bottega/catalog"
	"github.com/bottega-shop/bottega/catalog/catalogtest"
	"github.com/bottega-shop/bottega/catalog/meilicatalog"
)

// TestIndex runs the contract suite against the Meilisearch server named by
// BOTTEGA_TEST_MEILI (a URL; the API key, if any, in BOTTEGA_TEST_MEILI_KEY).
// Every test gets its own index, deleted afterwards.
func TestIndex(t *testing.T) {
	url := os.Getenv("BOTTEGA_TEST_MEILI")
	if url == "" {
		t.Skip("BOTTEGA_TEST_MEILI not set: Meilisearch contract tests skipped")
	}
	key := os.Getenv("BOTTEGA_TEST_MEILI_KEY")
	catalogtest.TestIndex(t, func(t *testing.T) catalog.Index {
		b := make([]byte, 6)
		rand.Read(b)
		uid := "bottega_test_" + hex.EncodeToString(b)
		idx, err := meilicatalog.New(t.Context(), url, key, uid)
		if err != nil {
			t.Fatalf("New(%s) = %v", uid, err)
		}
		t.Cleanup(func() {
			idx.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			client := meilisearch.New(url, meilisearch.WithAPIKey(key))
			defer client.Close()
			ti, err := client.DeleteIndexWithContext(ctx, uid)
			if err == nil {
				_, err = client.WaitForTaskWithContext(ctx, ti.TaskUID, 50*time.Millisecond)
			}
			if err != nil {
				t.Errorf("delete test index %s: %v", uid, err)
			}
		})
		return idx
	})
}
