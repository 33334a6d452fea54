//go:build unix

package local_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/rangeserve/rangeserve/storage"
	"github.com/rangeserve/rangeserve/storage/local"
)

func collect(t *testing.T, b *local.Backend, ctx context.Context, prefix string) (map[string]storage.Info, error) {
	t.Helper()
	got := map[string]storage.Info{}
	for info, err := range b.List(ctx, prefix) {
		if err != nil {
			return got, err
		}
		if _, dup := got[info.Key]; dup {
			t.Fatalf("List(%q) yielded %q twice", prefix, info.Key)
		}
		got[info.Key] = info
	}
	return got, nil
}

func TestListTree(t *testing.T) {
	tr := newTree(t)
	ctx := context.Background()
	tests := []struct {
		opts   local.Options
		prefix string
		files  []string // regular files expected, by key
		dirs   []string
	}{
		{
			// Hidden names are listed: the policy is media's.
			opts:   local.Options{Root: tr.root},
			prefix: "",
			files:  []string{"video.bin", "100%", "50%off", "été.txt", "empty", "link-in", ".hidden"},
			dirs:   []string{"sub", "a b", "dirlink-in", ".hdir"},
		},
		{
			opts:   local.Options{Root: tr.root, FollowSymlinks: true},
			prefix: "",
			files:  []string{"video.bin", "100%", "50%off", "été.txt", "empty", "link-in", "link-in-abs", "link-out", "link-out-rel", ".hidden"},
			dirs:   []string{"sub", "a b", "dirlink-in", "dirlink-out", ".hdir"},
		},
		{
			opts:   local.Options{Root: tr.root},
			prefix: "sub",
			files:  []string{"sub/b.txt", "sub/.h"},
			dirs:   []string{"sub/up"},
		},
		{
			opts:   local.Options{Root: tr.root},
			prefix: "dirlink-in",
			files:  []string{"dirlink-in/b.txt", "dirlink-in/.h"},
			dirs:   []string{"dirlink-in/up"},
		},
	}
	for _, tc := range tests {
		name := fmt.Sprintf("follow=%v,prefix=%q", tc.opts.FollowSymlinks, tc.prefix)
		b := newBackend(t, tc.opts)
		got, err := collect(t, b, ctx, tc.prefix)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		want := map[string]bool{}
		for _, k := range tc.files {
			want[k] = false
		}
		for _, k := range tc.dirs {
			want[k] = true
		}
		for k, dir := range want {
			info, ok := got[k]
			switch {
			case !ok:
				t.Errorf("%s: %q missing from the listing", name, k)
			case info.IsDir != dir:
				t.Errorf("%s: %q IsDir = %v, want %v", name, k, info.IsDir, dir)
			case !dir:
				// A file's listing Info is what Stat says.
				si, err := b.Stat(ctx, k)
				if err != nil || si != info {
					t.Errorf("%s: listed %+v, Stat %+v, %v", name, info, si, err)
				}
			}
		}
		for k := range got {
			if _, ok := want[k]; !ok {
				t.Errorf("%s: unexpected entry %q", name, k)
			}
		}
	}
}

func TestListErrors(t *testing.T) {
	tr := newTree(t)
	b := newBackend(t, local.Options{Root: tr.root})
	for _, prefix := range []string{"missing", "video.bin", ".hmissing", "link-out", "dirlink-out", "../outside", "/sub", "fifo"} {
		got, err := collect(t, b, context.Background(), prefix)
		if !errors.Is(err, storage.ErrNotExist) || len(got) != 0 {
			t.Errorf("List(%q): %d entries, error %v; want ErrNotExist", prefix, len(got), err)
		}
		checkNoLeak(t, tr, fmt.Sprintf("List(%q)", prefix), err)
	}
}

// TestListMany lists a directory much larger than one batch, stops early,
// and honours cancellation in the middle.
func TestListMany(t *testing.T) {
	root := tempDir(t)
	const n = 3000
	for i := range n {
		write(t, filepath.Join(root, fmt.Sprintf("f%04d.txt", i)), []byte(fmt.Sprint(i)))
	}
	for i := range 50 { // hidden names are listed (media filters them)
		write(t, filepath.Join(root, fmt.Sprintf(".h%02d", i)), nil)
	}
	if err := os.Mkdir(filepath.Join(root, "d"), 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(root, "bad\\name"), nil) // not a valid key: skipped
	b := newBackend(t, local.Options{Root: root})

	got, err := collect(t, b, context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != n+51 {
		t.Fatalf("listed %d entries, want %d", len(got), n+51)
	}
	for i := range n {
		k := fmt.Sprintf("f%04d.txt", i)
		if info := got[k]; info.Size != int64(len(fmt.Sprint(i))) || info.ETag == "" || info.IsDir {
			t.Fatalf("%s: %+v", k, info)
		}
	}
	if !got["d"].IsDir {
		t.Errorf("d: %+v, want a directory", got["d"])
	}

	// Early stop.
	seen := 0
	for _, err := range b.List(context.Background(), "") {
		if err != nil {
			t.Fatal(err)
		}
		if seen++; seen == 10 {
			break
		}
	}
	if seen != 10 {
		t.Errorf("stopped after %d entries, want 10", seen)
	}

	// Cancel after 500 entries: the next value is the context's error.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	seen = 0
	var last error
	for _, err := range b.List(ctx, "") {
		if err != nil {
			last = err
			break
		}
		if seen++; seen == 500 {
			cancel()
		}
	}
	if seen != 500 || !errors.Is(last, context.Canceled) {
		t.Errorf("after cancel: %d entries, error %v; want 500 and context.Canceled", seen, last)
	}
}
