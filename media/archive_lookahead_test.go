package media_test

import (
	"bytes"
	"context"
	"fmt"
	"iter"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/rangeserve/rangeserve/media"
	"github.com/rangeserve/rangeserve/storage"
	"github.com/rangeserve/rangeserve/storage/local"
)

// slowLister is a local backend whose listings each take delay (a store
// one round trip away), counting how many run at once; the listing of
// failDir fails.
type slowLister struct {
	*local.Backend
	delay   time.Duration
	failDir string

	mu       sync.Mutex
	now, max int
	calls    int
}

func (b *slowLister) List(ctx context.Context, prefix string) iter.Seq2[storage.Info, error] {
	return func(yield func(storage.Info, error) bool) {
		b.mu.Lock()
		b.now++
		b.calls++
		b.max = max(b.max, b.now)
		b.mu.Unlock()
		defer func() {
			b.mu.Lock()
			b.now--
			b.mu.Unlock()
		}()
		select {
		case <-time.After(b.delay):
		case <-ctx.Done():
			yield(storage.Info{}, ctx.Err())
			return
		}
		if prefix == b.failDir {
			yield(storage.Info{}, fmt.Errorf("fake: listing %q: %w", prefix, storage.ErrUnavailable))
			return
		}
		for info, err := range b.Backend.List(ctx, prefix) {
			if !yield(info, err) {
				return
			}
		}
	}
}

// nestedTree writes tree/dNN/sM/file.txt and tree/dNN/top.txt: 12
// folders of 3 subfolders each.
func nestedTree(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	for d := range 12 {
		for s := range 3 {
			p := filepath.Join(root, "tree", fmt.Sprintf("d%02d", d), fmt.Sprintf("s%d", s))
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(p, "file.txt"), []byte(p), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(root, "tree", fmt.Sprintf("d%02d", d), "top.txt"), []byte("top"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// TestArchiveListingLookahead: the folders of an archive are listed a few
// at a time, concurrently, and the archive is the same byte for byte as
// one listed folder after folder; a failing or too large listing ends the
// request with no listing left running.
func TestArchiveListingLookahead(t *testing.T) {
	root := nestedTree(t)
	want := serve(http.StripPrefix("/m", newHandler(t, localBackend(t, root), media.Options{})), "GET", "/m/tree/?archive=zip", nil)
	if want.Code != http.StatusOK {
		t.Fatalf("status %d", want.Code)
	}
	for _, tc := range []struct {
		name    string
		failDir string
		limit   int
		status  int
	}{
		{"whole", "", 0, http.StatusOK},
		{"a subfolder fails", "tree/d07/s1", 0, http.StatusBadGateway},
		{"too many entries", "", 30, http.StatusForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := runtime.NumGoroutine()
			b := &slowLister{Backend: localBackend(t, root), delay: 20 * time.Millisecond, failDir: tc.failDir}
			h := http.StripPrefix("/m", newHandler(t, b, media.Options{ArchiveMaxEntries: tc.limit}))
			got := serve(h, "GET", "/m/tree/?archive=zip", nil)
			if got.Code != tc.status {
				t.Fatalf("status %d, want %d", got.Code, tc.status)
			}
			if tc.status == http.StatusOK && !bytes.Equal(got.Body.Bytes(), want.Body.Bytes()) {
				t.Errorf("the archive differs from one listed folder after folder")
			}
			b.mu.Lock()
			calls, most := b.calls, b.max
			b.mu.Unlock()
			if tc.status == http.StatusOK && calls != 1+12+36 {
				t.Errorf("%d listings, want 49 (each folder once)", calls)
			}
			if most < 2 || most > 4 {
				t.Errorf("at most %d listings ran at once, want 2 to 4", most)
			}
			waitGoroutines(t, base)
		})
	}
}
