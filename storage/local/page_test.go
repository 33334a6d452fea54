//go:build unix

package local_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"

	"github.com/rangeserve/rangeserve/storage"
	"github.com/rangeserve/rangeserve/storage/local"
)

// TestListPage walks a folder page by page with every limit and compares
// the result with List's entries sorted by ListName, on the openat2 path,
// the os.Root path and with FollowSymlinks.
func TestListPage(t *testing.T) {
	root := t.TempDir()
	outside := t.TempDir()
	d := filepath.Join(root, "d")
	for _, dir := range []string{"d/sub", "d/sub-1", "d/empty", "d/.git"} {
		os.MkdirAll(filepath.Join(root, dir), 0o755)
	}
	for _, f := range []string{"d/sub.txt", "d/a b.mp4", "d/vidéo 𝄞.mkv", "d/.env", "d/sub/x", "d/z"} {
		os.WriteFile(filepath.Join(root, f), []byte(f), 0o644)
	}
	os.WriteFile(filepath.Join(outside, "secret"), []byte("s"), 0o644)
	os.Symlink("sub", filepath.Join(d, "link-to-dir"))
	os.Symlink("z", filepath.Join(d, "link-to-file"))
	os.Symlink(filepath.Join(outside, "secret"), filepath.Join(d, "link-out"))
	os.Symlink("missing", filepath.Join(d, "dangling"))
	os.WriteFile(filepath.Join(d, `back\slash`), nil, 0o644)
	syscall.Mkfifo(filepath.Join(d, "fifo"), 0o644)

	for _, tc := range []struct {
		name string
		opts local.Options
		fast bool
	}{
		{"openat2", local.Options{Root: root}, true},
		{"os.Root", local.Options{Root: root}, false},
		{"FollowSymlinks", local.Options{Root: root, FollowSymlinks: true}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newBackend(t, tc.opts)
			if !tc.fast {
				local.WithoutFastPath(b)
			}
			var want []string
			for info, err := range b.List(context.Background(), "d") {
				if err != nil {
					t.Fatal(err)
				}
				want = append(want, storage.ListName(info))
			}
			slices.Sort(want)
			wantLinks := []string{"link-to-dir/", "link-to-file"}
			if tc.opts.FollowSymlinks {
				wantLinks = append(wantLinks, "link-out")
			}
			for _, l := range wantLinks {
				if !slices.Contains(want, l) {
					t.Fatalf("List lacks %q: %q", l, want)
				}
			}
			for limit := 1; limit <= len(want)+1; limit++ {
				var got []string
				after := ""
				for {
					page, more, err := b.ListPage(context.Background(), "d", after, limit)
					if err != nil {
						t.Fatal(err)
					}
					if len(page) > limit || more && len(page) == 0 {
						t.Fatalf("limit %d: %d entries, more %v", limit, len(page), more)
					}
					for _, info := range page {
						got = append(got, storage.ListName(info))
						if !info.IsDir && (info.Size != int64(len(info.Key)) && info.Key != "d/link-to-file" && info.Key != "d/link-out" || info.ETag == "") {
							t.Errorf("%+v: not described as List describes it", info)
						}
					}
					if !more {
						break
					}
					after = storage.ListName(page[len(page)-1])
				}
				if !slices.Equal(got, want) {
					t.Fatalf("limit %d: %q, want %q", limit, got, want)
				}
			}
		})
	}
	b := newBackend(t, local.Options{Root: root})
	for _, tc := range []struct {
		prefix string
		limit  int
		want   error
	}{
		{"missing", 10, storage.ErrNotExist},
		{"d/z", 10, storage.ErrNotExist},
		{"d/../..", 10, storage.ErrNotExist},
		{"d", 0, nil},
	} {
		_, _, err := b.ListPage(context.Background(), tc.prefix, "", tc.limit)
		if err == nil || tc.want != nil && !errors.Is(err, tc.want) {
			t.Errorf("ListPage(%q, limit %d): %v, want %v", tc.prefix, tc.limit, err, tc.want)
		}
	}
	if page, _, err := b.ListPage(context.Background(), "", "", 100); err != nil || len(page) != 1 || page[0].Key != "d" || !page[0].IsDir {
		t.Errorf("root page: %+v, %v", page, err)
	}
}
