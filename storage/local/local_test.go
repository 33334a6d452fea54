//go:build unix

package local_test

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rangeserve/rangeserve/storage"
	"github.com/rangeserve/rangeserve/storage/local"
)

func newBackend(t testing.TB, opts local.Options) *local.Backend {
	t.Helper()
	b, err := local.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// readAll reads an object whole through ReadAt.
func readAll(t testing.TB, o storage.Object) []byte {
	t.Helper()
	b, err := io.ReadAll(io.NewSectionReader(o, 0, o.Info().Size))
	if err != nil {
		t.Fatalf("reading %q: %v", o.Info().Key, err)
	}
	return b
}

// Outcomes of a lookup.
const (
	okFile = "file"  // served; the bytes are those of want's key
	isDir  = "dir"   // ErrIsDir
	absent = "404"   // ErrNotExist (and not ErrIsDir)
	badKey = "clean" // refused by storage.CleanKey already
)

func TestOpenTraversalAndPolicy(t *testing.T) {
	tr := newTree(t)
	def := newBackend(t, local.Options{Root: tr.root})
	follow := newBackend(t, local.Options{Root: tr.root, FollowSymlinks: true})
	// The same without Linux's openat2 fast path, as on other systems and
	// on kernels or sandboxes without openat2.
	defPortable := local.WithoutFastPath(newBackend(t, local.Options{Root: tr.root}))
	followPortable := local.WithoutFastPath(newBackend(t, local.Options{Root: tr.root, FollowSymlinks: true}))

	// raw is the decoded URL path, as the router passes it to CleanKey.
	tests := []struct {
		raw        string
		def        string // outcome with default options
		follow     string // with FollowSymlinks (when different from def)
		served     string // key in tr.sums whose bytes an okFile returns (default: the key)
		followSent bool   // with FollowSymlinks the bytes are the sentinel
	}{
		{raw: "video.bin", def: okFile},
		{raw: "/video.bin", def: okFile, served: "video.bin"},
		{raw: "sub//b.txt", def: okFile, served: "sub/b.txt"},
		{raw: "100%", def: okFile},
		{raw: "50%off", def: okFile},
		{raw: "a b/c d.txt", def: okFile},
		{raw: "été.txt", def: okFile},
		{raw: "empty", def: okFile},
		{raw: "missing", def: absent},
		{raw: "video.bin/x", def: absent}, // ENOTDIR
		{raw: "", def: isDir},
		{raw: "/", def: isDir},
		{raw: "sub", def: isDir},
		{raw: "sub/", def: isDir},
		// Traversal, in every spelling a decoded URL path can take.
		{raw: "..", def: badKey},
		{raw: "../outside/secret.txt", def: badKey},
		{raw: "/../outside/secret.txt", def: badKey},
		{raw: "a/../../x", def: badKey},
		{raw: "sub/../../outside/secret.txt", def: badKey},
		{raw: "./video.bin", def: badKey},
		{raw: "%2e%2e/outside/secret.txt", def: badKey},     // %252e%252e on the wire
		{raw: "%2E%2E/outside/secret.txt", def: badKey},     // upper-case hex
		{raw: "%252e%252e/outside/secret.txt", def: badKey}, // triple-encoded
		{raw: "..%2foutside%2fsecret.txt", def: badKey},     // %2f survived decoding
		{raw: "%2e%2e%2foutside%2fsecret.txt", def: badKey},
		{raw: "sub%2f..%2f..%2foutside%2fsecret.txt", def: badKey},
		{raw: "..\\outside\\secret.txt", def: badKey},
		{raw: "sub\\..\\..\\outside\\secret.txt", def: badKey},
		{raw: "..%5coutside%5csecret.txt", def: badKey},
		{raw: "video.bin\x00.txt", def: badKey},
		{raw: "video.bin%00.txt", def: badKey},
		{raw: "%c0%ae%c0%ae/outside/secret.txt", def: badKey}, // overlong
		{raw: "\xc0\xae\xc0\xae/outside/secret.txt", def: badKey},
		// Symbolic links.
		{raw: "link-in", def: okFile, served: "sub/b.txt"},
		{raw: "dirlink-in/b.txt", def: okFile, served: "sub/b.txt"},
		{raw: "sub/up/video.bin", def: okFile, served: "video.bin"},
		{raw: "dirlink-in", def: isDir},
		{raw: "link-in-abs", def: absent, follow: okFile, served: "sub/b.txt"},
		{raw: "link-out", def: absent, follow: okFile, followSent: true},
		{raw: "link-out-rel", def: absent, follow: okFile, followSent: true},
		{raw: "dirlink-out/secret.txt", def: absent, follow: okFile, followSent: true},
		{raw: "dirlink-out", def: absent, follow: isDir},
		{raw: "devnull", def: absent}, // a device, with either policy
		{raw: "loop", def: absent},
		{raw: "dangling", def: absent},
		{raw: "fifo", def: absent},
		// Hidden names are ordinary keys here (the policy is media's).
		{raw: ".hidden", def: okFile},
		{raw: ".hdir/x.txt", def: okFile},
		{raw: ".hdir", def: isDir},
		{raw: "sub/.h", def: okFile},
		{raw: "sub/.missing", def: absent},
	}
	backends := []struct {
		name string
		b    *local.Backend
		pick func(def, follow string) string
	}{
		{"default", def, func(d, _ string) string { return d }},
		{"follow", follow, func(d, f string) string { return cmp(f, d) }},
		{"default-portable", defPortable, func(d, _ string) string { return d }},
		{"follow-portable", followPortable, func(d, f string) string { return cmp(f, d) }},
	}
	ctx := context.Background()
	for _, tc := range tests {
		for _, be := range backends {
			want := be.pick(tc.def, tc.follow)
			name := be.name + "/" + tc.raw
			key, err := storage.CleanKey(tc.raw)
			if want == badKey {
				if err == nil || !errors.Is(err, storage.ErrNotExist) {
					t.Errorf("%s: CleanKey = %q, %v; want ErrInvalidKey", name, key, err)
				}
				// The backend must refuse the raw input by itself too.
				if o, err := be.b.Open(ctx, tc.raw); err == nil {
					o.Close()
					t.Errorf("%s: Open(raw) succeeded; want ErrInvalidKey", name)
				} else if !errors.Is(err, storage.ErrInvalidKey) {
					t.Errorf("%s: Open(raw) error %v; want ErrInvalidKey", name, err)
				}
				continue
			}
			if err != nil {
				t.Errorf("%s: CleanKey: %v", name, err)
				continue
			}
			o, err := be.b.Open(ctx, key)
			checkNoLeak(t, tr, name+": Open", err)
			si, serr := be.b.Stat(ctx, key)
			checkNoLeak(t, tr, name+": Stat", serr)
			p, perr := be.b.Path(key)
			checkNoLeak(t, tr, name+": Path", perr)
			switch want {
			case okFile:
				if err != nil {
					t.Errorf("%s: Open: %v; want a file", name, err)
					continue
				}
				got := sum(readAll(t, o))
				info := o.Info()
				o.Close()
				wantSum := tr.sums[cmp(tc.served, key)]
				if strings.HasPrefix(be.name, "follow") && tc.followSent {
					wantSum = sum([]byte(sentinel))
				} else if got == sum([]byte(sentinel)) {
					t.Fatalf("%s: served the sentinel from outside the root", name)
				}
				if got != wantSum {
					t.Errorf("%s: sha256 = %s, want %s", name, got, wantSum)
				}
				if info.Key != key || info.ContentType != "" || info.IsDir {
					t.Errorf("%s: Info = %+v", name, info)
				}
				if serr != nil || si != info {
					t.Errorf("%s: Stat = %+v, %v; want %+v", name, si, serr, info)
				}
				if perr != nil {
					t.Errorf("%s: Path: %v", name, perr)
				} else {
					b, err := os.ReadFile(p)
					if !filepath.IsAbs(p) || err != nil || sum(b) != wantSum {
						t.Errorf("%s: Path = %q (read: %v); want an absolute path to the same bytes", name, p, err)
					}
					if be.name != "follow" && !strings.HasPrefix(p, tr.root+"/") {
						t.Errorf("%s: Path = %q, outside the root %q", name, p, tr.root)
					}
				}
			case isDir, absent:
				if err == nil {
					got := readAll(t, o)
					o.Close()
					if string(got) == sentinel {
						t.Fatalf("%s: served the sentinel from outside the root", name)
					}
					t.Errorf("%s: Open succeeded (%d bytes); want %s", name, len(got), want)
					continue
				}
				for _, c := range []struct {
					op  string
					err error
				}{{"Open", err}, {"Stat", serr}, {"Path", perr}} {
					if gotDir := errors.Is(c.err, storage.ErrIsDir); gotDir != (want == isDir) {
						t.Errorf("%s: %s error %v; want %s", name, c.op, c.err, want)
					}
					if want == absent && !errors.Is(c.err, storage.ErrNotExist) {
						t.Errorf("%s: %s error %v; want ErrNotExist", name, c.op, c.err)
					}
				}
				if want == isDir && !si.IsDir {
					t.Errorf("%s: Stat of a directory = %+v; want IsDir", name, si)
				}
			}
		}
	}
}

func cmp(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// checkNoLeak fails if an error message holds a path of the test tree.
func checkNoLeak(t *testing.T, tr *tree, what string, err error) {
	t.Helper()
	if err != nil && strings.Contains(err.Error(), tr.base) {
		t.Errorf("%s: error %q leaks the file system path", what, err)
	}
}

func TestUncleanKeysRefused(t *testing.T) {
	tr := newTree(t)
	b := newBackend(t, local.Options{Root: tr.root})
	for _, key := range []string{
		"/video.bin", "video.bin/", "sub//b.txt", "./video.bin", "sub/./b.txt", "sub/../video.bin",
		"..", ".", "/", "sub\\b.txt", "video.bin\x00", "%2e%2e", "\xff",
	} {
		o, err := b.Open(context.Background(), key)
		if err == nil {
			o.Close()
			t.Errorf("Open(%q) succeeded; want ErrInvalidKey", key)
		} else if !errors.Is(err, storage.ErrInvalidKey) {
			t.Errorf("Open(%q) error %v; want ErrInvalidKey", key, err)
		}
		if _, err := b.Stat(context.Background(), key); !errors.Is(err, storage.ErrInvalidKey) {
			t.Errorf("Stat(%q) error %v; want ErrInvalidKey", key, err)
		}
		if _, err := b.Path(key); !errors.Is(err, storage.ErrInvalidKey) {
			t.Errorf("Path(%q) error %v; want ErrInvalidKey", key, err)
		}
	}
}

func TestFIFODoesNotBlock(t *testing.T) {
	tr := newTree(t)
	for _, opts := range []local.Options{{Root: tr.root}, {Root: tr.root, FollowSymlinks: true}} {
		b := newBackend(t, opts)
		done := make(chan error, 1)
		go func() {
			o, err := b.Open(context.Background(), "fifo")
			if err == nil {
				o.Close()
			}
			done <- err
		}()
		select {
		case err := <-done:
			if !errors.Is(err, storage.ErrNotExist) {
				t.Errorf("follow=%v: Open(fifo) error %v; want ErrNotExist", opts.FollowSymlinks, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("follow=%v: Open(fifo) blocked for 5s", opts.FollowSymlinks)
		}
	}
}

func TestETag(t *testing.T) {
	tr := newTree(t)
	b := newBackend(t, local.Options{Root: tr.root})
	ctx := context.Background()
	etagOf := func(key string) string {
		t.Helper()
		o, err := b.Open(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		defer o.Close()
		return o.Info().ETag
	}
	p := filepath.Join(tr.root, "sub", "b.txt")
	e1, e2 := etagOf("sub/b.txt"), etagOf("sub/b.txt")
	if e1 != e2 {
		t.Fatalf("ETag not stable across Opens: %s then %s", e1, e2)
	}
	if len(e1) < 3 || e1[0] != '"' || e1[len(e1)-1] != '"' || strings.Count(e1, `"`) != 2 {
		t.Fatalf("ETag %s is not a quoted strong entity tag", e1)
	}
	if si, err := b.Stat(ctx, "sub/b.txt"); err != nil || si.ETag != e1 {
		t.Fatalf("Stat ETag = %q, %v; want %s", si.ETag, err, e1)
	}
	if etagOf("link-in") != e1 {
		t.Errorf("ETag through a symlink differs from the target's")
	}
	if etagOf("video.bin") == e1 {
		t.Errorf("two files share ETag %s", e1)
	}

	// Touch: same bytes, new mtime (nanoseconds matter).
	fi, _ := os.Stat(p)
	mt := fi.ModTime().Add(time.Nanosecond)
	if err := os.Chtimes(p, mt, mt); err != nil {
		t.Fatal(err)
	}
	e3 := etagOf("sub/b.txt")
	if e3 == e1 {
		t.Errorf("ETag %s unchanged after a 1ns touch", e3)
	}
	// Rewrite in place with other bytes of the same size, then restore the
	// mtime: same inode, size and mtime: the documented blind spot.
	write(t, p, []byte("BEE\n"))
	if err := os.Chtimes(p, mt, mt); err != nil {
		t.Fatal(err)
	}
	if e := etagOf("sub/b.txt"); e != e3 {
		t.Logf("note: same-size rewrite with restored mtime changed the ETag (%s → %s)", e3, e)
	}
	// Write: other size.
	write(t, p, []byte("bumblebee\n"))
	if err := os.Chtimes(p, mt, mt); err != nil {
		t.Fatal(err)
	}
	if e := etagOf("sub/b.txt"); e == e3 {
		t.Errorf("ETag %s unchanged after a write changing the size", e)
	}
	// Atomic replace by rename, same size and mtime: the inode changes.
	e4 := etagOf("sub/b.txt")
	tmp := filepath.Join(tr.root, "sub", "b.tmp")
	write(t, tmp, []byte("BUMBLEBEE\n"))
	if err := os.Chtimes(tmp, mt, mt); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, p); err != nil {
		t.Fatal(err)
	}
	if e := etagOf("sub/b.txt"); e == e4 {
		t.Errorf("ETag %s unchanged after replacing the file by rename", e)
	}
}

// TestInfoDescribesOpenedVersion replaces a file after Open: the object
// keeps serving, and describing, the version it opened.
func TestInfoDescribesOpenedVersion(t *testing.T) {
	tr := newTree(t)
	b := newBackend(t, local.Options{Root: tr.root})
	o, err := b.Open(context.Background(), "video.bin")
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	before := o.Info()
	tmp := filepath.Join(tr.root, "new.bin")
	write(t, tmp, []byte("a new, shorter version"))
	if err := os.Rename(tmp, filepath.Join(tr.root, "video.bin")); err != nil {
		t.Fatal(err)
	}
	if got := sum(readAll(t, o)); got != tr.sums["video.bin"] || o.Info() != before {
		t.Errorf("after replacement: sha256 %s, Info %+v; want the opened version", got, o.Info())
	}
	si, err := b.Stat(context.Background(), "video.bin")
	if err != nil || si.ETag == before.ETag || si.Size != 22 {
		t.Errorf("Stat after replacement = %+v, %v; want the new version", si, err)
	}
}

func TestReadAtConcurrentAndFiler(t *testing.T) {
	tr := newTree(t)
	b := newBackend(t, local.Options{Root: tr.root})
	o, err := b.Open(context.Background(), "video.bin")
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	size := o.Info().Size
	if size != 3<<20 {
		t.Fatalf("Size = %d, want %d", size, 3<<20)
	}
	// 8 goroutines read interleaved 64 KiB chunks into one buffer.
	buf := make([]byte, size)
	const chunk = 64 << 10
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Go(func() {
			for off := int64(g * chunk); off < size; off += 8 * chunk {
				end := min(off+chunk, size)
				if n, err := o.ReadAt(buf[off:end], off); err != nil && !(err == io.EOF && n == int(end-off)) {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got := sum(buf); got != tr.sums["video.bin"] {
		t.Fatalf("concurrent ReadAt: sha256 %s, want %s", got, tr.sums["video.bin"])
	}
	// Past the end.
	if n, err := o.ReadAt(make([]byte, 10), size-4); n != 4 || err != io.EOF {
		t.Errorf("ReadAt at size-4 = %d, %v; want 4, EOF", n, err)
	}

	fl, ok := o.(storage.Filer)
	if !ok {
		t.Fatal("object does not implement storage.Filer")
	}
	f := fl.File()
	if _, err := f.Seek(1<<20, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	rest, err := io.ReadAll(io.LimitReader(f, size))
	if err != nil || sum(rest) != sum(buf[1<<20:]) {
		t.Fatalf("File() Seek+Read: %v; sha256 %s, want %s", err, sum(rest), sum(buf[1<<20:]))
	}
}

func TestContext(t *testing.T) {
	tr := newTree(t)
	b := newBackend(t, local.Options{Root: tr.root})
	ctx, cancel := context.WithCancel(context.Background())
	o, err := b.Open(ctx, "video.bin")
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	cancel()
	if _, err := o.ReadAt(make([]byte, 1), 0); !errors.Is(err, context.Canceled) {
		t.Errorf("ReadAt after cancel: %v; want context.Canceled", err)
	}
	if _, err := b.Open(ctx, "video.bin"); !errors.Is(err, context.Canceled) {
		t.Errorf("Open with a cancelled context: %v; want context.Canceled", err)
	}
	if _, err := b.Stat(ctx, "video.bin"); !errors.Is(err, context.Canceled) {
		t.Errorf("Stat with a cancelled context: %v; want context.Canceled", err)
	}
}

func TestPermission(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root ignores file permissions")
	}
	tr := newTree(t)
	b := newBackend(t, local.Options{Root: tr.root})
	p := filepath.Join(tr.root, "locked")
	write(t, p, []byte("x"))
	if err := os.Chmod(p, 0); err != nil {
		t.Fatal(err)
	}
	_, err := b.Open(context.Background(), "locked")
	if !errors.Is(err, storage.ErrPermission) {
		t.Errorf("Open of an unreadable file: %v; want ErrPermission", err)
	}
	checkNoLeak(t, tr, "Open(locked)", err)
}

func TestNew(t *testing.T) {
	tr := newTree(t)
	link := filepath.Join(tr.base, "rootlink")
	if err := os.Symlink("root", link); err != nil {
		t.Fatal(err)
	}
	b := newBackend(t, local.Options{Root: link})
	if b.Root() != tr.root {
		t.Errorf("Root() = %q, want the resolved %q", b.Root(), tr.root)
	}
	// A relative root is made absolute.
	t.Chdir(tr.base)
	if b := newBackend(t, local.Options{Root: "root"}); b.Root() != tr.root {
		t.Errorf("Root() = %q, want %q", b.Root(), tr.root)
	}

	for _, tc := range []struct {
		root, want string
	}{
		{"", "Options.Root is empty"},
		{filepath.Join(tr.base, "nope"), filepath.Join(tr.base, "nope") + `" does not exist`},
		{filepath.Join(tr.root, "video.bin"), "is a regular file, not a directory"},
		{filepath.Join(tr.root, "fifo"), "is a named pipe, not a directory"},
	} {
		b, err := local.New(local.Options{Root: tc.root})
		if err == nil {
			b.Close()
			t.Errorf("New(%q) succeeded", tc.root)
		} else if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%q) error %q; want it to say %q", tc.root, err, tc.want)
		}
	}
}

// TestFastPathOnLinux fails if Linux's openat2 fast path is lost: it is
// what makes a small request cheaper than http.FileServer's (see
// BENCHMARKS.md). openat2 exists since Linux 5.6.
func TestFastPathOnLinux(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the openat2 fast path is Linux only")
	}
	b := newBackend(t, local.Options{Root: t.TempDir()})
	if !local.HasFastPath(b) {
		t.Fatal("openat2(2) with RESOLVE_BENEATH is not used on this Linux kernel; every Open takes the slower os.Root path")
	}
}
