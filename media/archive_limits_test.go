package media_test

import (
	"context"
	"iter"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/rangeserve/rangeserve/media"
	"github.com/rangeserve/rangeserve/storage"
	"github.com/rangeserve/rangeserve/storage/local"
)

// TestArchiveShadowed: a folder another handler serves (a nested mount,
// Options.Shadowed) is left out of archives, stored and deflated, also
// when a relative link (sub/loop -> ..) would reach it again; a request
// for a key beneath it is 404 here.
func TestArchiveShadowed(t *testing.T) {
	root := t.TempDir()
	for name, data := range map[string]string{"pub.txt": "public\n", "private/secret.txt": "TOP-SECRET\n", "private/in/deeper.txt": "TOP-SECRET\n", "sub/s.txt": "s\n", "privately.txt": "p\n"} {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("..", filepath.Join(root, "sub", "loop")); err != nil {
		t.Fatal(err)
	}
	_, h := localHandler(t, root, media.Options{Shadowed: []string{"private"}})
	want := map[string][]byte{"pub.txt": []byte("public\n"), "sub/s.txt": []byte("s\n"), "privately.txt": []byte("p\n")}
	for _, tgt := range []string{"/m/?archive=zip", "/m?archive=zip", "/m/?archive=zip&deflate=1"} {
		rec := serve(h, "GET", tgt, nil)
		if rec.Code != http.StatusOK {
			t.Errorf("GET %s: status %d, want 200", tgt, rec.Code)
			continue
		}
		readZip(t, rec.Body.Bytes(), want, []string{"sub"})
	}
	for _, tgt := range []string{"/m/private/?archive=zip", "/m/private/in/?archive=zip&deflate=1", "/m/private/secret.txt", "/m/private/?format=json"} {
		if rec := serve(h, "GET", tgt, nil); rec.Code != http.StatusNotFound {
			t.Errorf("GET %s: status %d, want 404 (another handler serves it)", tgt, rec.Code)
		}
	}
	for _, bad := range []string{"", "/private", "a/../b", "private/"} {
		if _, err := media.New(newMem(), media.Options{Shadowed: []string{bad}}); err == nil {
			t.Errorf("Shadowed %q accepted", bad)
		}
	}
}

// gatedBackend is a local backend whose List and Open wait for gate
// (at most 3s) after saying so on entered, to hold archive requests in
// flight.
type gatedBackend struct {
	*local.Backend
	entered chan string
	gate    chan struct{}
}

func (b *gatedBackend) wait(what string) {
	// Bounded, so that a handler without a cap fails the test instead of
	// hanging it.
	timeout := time.After(3 * time.Second)
	select {
	case b.entered <- what:
	case <-timeout:
		return
	}
	select {
	case <-b.gate:
	case <-timeout:
	}
}

func (b *gatedBackend) List(ctx context.Context, prefix string) iter.Seq2[storage.Info, error] {
	b.wait("list " + prefix)
	return b.Backend.List(ctx, prefix)
}

func (b *gatedBackend) Open(ctx context.Context, key string) (storage.Object, error) {
	b.wait("open " + key)
	return b.Backend.Open(ctx, key)
}

// TestArchiveConcurrency: over Options.ArchiveConcurrency, archive
// requests (HEAD included) are answered 503 with Retry-After: 1 while
// others list a folder (stored) or stream one (deflated); a freed token
// serves the next.
func TestArchiveConcurrency(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "d"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "d", "a.txt"), []byte("aaaa\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	lb, err := local.New(local.Options{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	defer lb.Close()
	for _, c := range []struct {
		name, query string
		holds       string // the call that holds the first request
	}{
		{"stored", "archive=zip", "list d"},
		{"deflated", "archive=zip&deflate=1", "open d/a.txt"},
	} {
		t.Run(c.name, func(t *testing.T) {
			gb := &gatedBackend{Backend: lb, entered: make(chan string, 16), gate: make(chan struct{})}
			h := http.StripPrefix("/m", newHandler(t, gb, media.Options{ArchiveConcurrency: 1}))
			var wg sync.WaitGroup
			var first *httptest.ResponseRecorder
			wg.Add(1)
			go func() {
				defer wg.Done()
				first = serve(h, "GET", "/m/d/?"+c.query, nil)
			}()
			deadline := time.After(10 * time.Second)
		wait:
			for {
				select {
				case got := <-gb.entered:
					if got == c.holds {
						break wait
					}
					gb.gate <- struct{}{} // let the other calls through
				case <-deadline:
					t.Fatalf("the first request never reached %q", c.holds)
				}
			}
			for _, method := range []string{"GET", "HEAD"} {
				rec := serve(h, method, "/m/d/?"+c.query, nil)
				if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") != "1" {
					t.Errorf("%s while one archive is in flight: status %d, Retry-After %q; want 503, 1", method, rec.Code, rec.Header().Get("Retry-After"))
				}
			}
			close(gb.gate)
			go func() {
				for range gb.entered {
				}
			}()
			wg.Wait()
			if first.Code != http.StatusOK {
				t.Errorf("the first request: status %d, want 200", first.Code)
			}
			if rec := serve(h, "GET", "/m/d/?"+c.query, nil); rec.Code != http.StatusOK {
				t.Errorf("after the first request: status %d, want 200 (token not returned?)", rec.Code)
			}
			close(gb.entered)
		})
	}
	if _, err := media.New(newMem(), media.Options{ArchiveConcurrency: -1}); err == nil {
		t.Errorf("ArchiveConcurrency -1 accepted")
	}
}
