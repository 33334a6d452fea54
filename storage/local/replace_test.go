//go:build unix

package local_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rangeserve/rangeserve/media"
	"github.com/rangeserve/rangeserve/storage/local"
)

// TestReplaceUnderLoad renames new versions of a file over the old one
// while clients fetch it whole and in ranges through the HTTP layer, with
// the open-file cache on: every response's bytes must be those of the
// version its ETag names. Small versions are served from memory, large
// ones with pooled descriptors and sendfile.
func TestReplaceUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("load test")
	}
	for _, tc := range []struct {
		name  string
		size  int
		cache local.CacheOptions
	}{
		{"memory/valid0", 30 << 10, local.CacheOptions{}},
		{"memory/valid5ms", 30 << 10, local.CacheOptions{Valid: 5 * time.Millisecond}},
		{"descriptor/valid0", 300 << 10, local.CacheOptions{}},
		{"descriptor/valid5ms", 300 << 10, local.CacheOptions{Valid: 5 * time.Millisecond}},
		{"no cache", 300 << 10, local.CacheOptions{Files: local.NoCache}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			b := newBackend(t, local.Options{Root: dir, Cache: tc.cache})
			h, err := media.New(b, media.Options{})
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(h)
			defer srv.Close()

			var versions sync.Map // ETag -> []byte
			next := func(i int) {
				data := make([]byte, tc.size+i%7*1000)
				rand.Read(data)
				tmp := filepath.Join(dir, "tmp-v")
				if err := os.WriteFile(tmp, data, 0o644); err != nil {
					t.Error(err)
					return
				}
				info, err := b.Stat(context.Background(), "tmp-v")
				if err != nil {
					t.Error(err)
					return
				}
				// Recorded before the rename: no response can carry the
				// ETag before it is known here.
				versions.Store(info.ETag, data)
				if err := os.Rename(tmp, filepath.Join(dir, "v.bin")); err != nil {
					t.Error(err)
				}
			}
			next(0)

			// At least 1.5 s and 200 responses (slow under -race on a busy
			// machine), at most 15 s.
			start := time.Now()
			var checked, whole atomic.Int64
			going := func() bool {
				el := time.Since(start)
				return el < 1500*time.Millisecond || el < 15*time.Second && checked.Load() < 200
			}
			seen := sync.Map{}
			var wg sync.WaitGroup
			wg.Go(func() {
				for i := 1; going(); i++ {
					next(i)
					time.Sleep(time.Duration(mrand.IntN(3)) * time.Millisecond)
				}
			})
			for g := range 6 {
				wg.Go(func() {
					client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
					defer client.CloseIdleConnections()
					for i := 0; going(); i++ {
						req, _ := http.NewRequest("GET", srv.URL+"/v.bin", nil)
						var off, n int64 = 0, -1
						if (g+i)%2 == 1 {
							off, n = int64(mrand.IntN(tc.size-1000)), int64(1+mrand.IntN(1000))
							req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", off, off+n-1))
						}
						resp, err := client.Do(req)
						if err != nil {
							t.Error(err)
							return
						}
						body, err := io.ReadAll(resp.Body)
						resp.Body.Close()
						if err != nil {
							t.Error(err)
							return
						}
						etag := resp.Header.Get("Etag")
						v, ok := versions.Load(etag)
						if !ok {
							t.Errorf("response with ETag %s, which names no version written", etag)
							return
						}
						data := v.([]byte)
						want := data
						wantStatus := http.StatusOK
						if n >= 0 {
							want, wantStatus = data[off:off+n], http.StatusPartialContent
						}
						if resp.StatusCode != wantStatus || !bytes.Equal(body, want) {
							t.Errorf("status %d, %d bytes under ETag %s: want %d and that version's %d bytes at %d",
								resp.StatusCode, len(body), etag, wantStatus, len(want), off)
							return
						}
						if n < 0 {
							whole.Add(1)
						}
						seen.Store(etag, true)
						checked.Add(1)
					}
				})
			}
			wg.Wait()
			nv := 0
			seen.Range(func(any, any) bool { nv++; return true })
			t.Logf("%d responses checked (%d whole), %d versions seen, cache %+v", checked.Load(), whole.Load(), nv, b.CacheStats())
			if checked.Load() < 100 || nv < 3 {
				t.Errorf("only %d responses and %d versions: the test did not exercise replacement", checked.Load(), nv)
			}
		})
	}
}
