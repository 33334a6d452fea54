//go:build unix

package local_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/rangeserve/rangeserve/storage"
	"github.com/rangeserve/rangeserve/storage/local"
)

// FuzzOpen feeds decoded URL paths through storage.CleanKey and Open, as
// the router does, and checks that nothing outside the root is ever
// served: every successful Open returns the bytes of a file of the tree,
// never the sentinel, and Path stays beneath the root.
func FuzzOpen(f *testing.F) {
	tr := newTree(f)
	backends := []*local.Backend{
		newBackend(f, local.Options{Root: tr.root}),
		local.WithoutFastPath(newBackend(f, local.Options{Root: tr.root})),
	}
	known := map[string]bool{}
	for _, s := range tr.sums {
		known[s] = true
	}
	for _, s := range []string{
		"video.bin", "sub/b.txt", "../outside/secret.txt", "link-out", "link-out-rel",
		"dirlink-out/secret.txt", "sub/up/video.bin", "sub/up/../outside/secret.txt",
		"%2e%2e/outside/secret.txt", "dirlink-in/up/dirlink-out/secret.txt", ".hdir/x.txt",
		"fifo", "devnull", "link-in-abs", "loop",
	} {
		f.Add(s)
	}
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, raw string) {
		key, err := storage.CleanKey(raw)
		for _, b := range backends {
			if err != nil {
				if o, oerr := b.Open(ctx, raw); oerr == nil {
					o.Close()
					t.Fatalf("Open(%q) succeeded for a key CleanKey refuses", raw)
				}
				continue
			}
			o, oerr := b.Open(ctx, key)
			if oerr != nil {
				if errors.Is(oerr, storage.ErrUnavailable) {
					t.Fatalf("Open(%q): %v", key, oerr)
				}
				continue
			}
			got := readAll(t, o)
			o.Close()
			if string(got) == sentinel {
				t.Fatalf("Open(%q) served the sentinel from outside the root", key)
			}
			if !known[sum(got)] {
				t.Fatalf("Open(%q) served %d bytes that are no file of the tree", key, len(got))
			}
			p, perr := b.Path(key)
			if perr != nil || !strings.HasPrefix(p, tr.root+"/") {
				t.Fatalf("Path(%q) = %q, %v; want a path beneath %q", key, p, perr, tr.root)
			}
		}
	})
}
