//go:build linux

package local

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/rangeserve/rangeserve/rangeio"
	"github.com/rangeserve/rangeserve/storage"
)

// fakeClock replaces the cache's clock for the test.
func fakeClock(t *testing.T) *atomic.Int64 {
	var now atomic.Int64
	now.Store(1 << 40)
	old := clock
	clock = now.Load
	t.Cleanup(func() { clock = old })
	return &now
}

func randBytes(t testing.TB, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func writeFile(t testing.TB, p string, b []byte) {
	t.Helper()
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// replace writes b to a temporary file and renames it over p.
func replace(t testing.TB, p string, b []byte) {
	t.Helper()
	tmp := p + ".tmp"
	writeFile(t, tmp, b)
	if err := os.Rename(tmp, p); err != nil {
		t.Fatal(err)
	}
}

func cacheBackend(t testing.TB, root string, o CacheOptions) *Backend {
	t.Helper()
	b, err := New(Options{Root: root, Cache: o})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	if b.files == nil {
		t.Skip("no openat2 fast path here (old kernel or seccomp): the open-file cache is off")
	}
	return b
}

// content reads o whole: with CopyAt (WriteRangeTo for memory), and
// through the descriptor (seek 0, read) as the HTTP layer's sendfile does.
func content(t testing.TB, o storage.Object) []byte {
	t.Helper()
	var buf bytes.Buffer
	if _, err := rangeio.CopyAt(&buf, o, 0, o.Info().Size); err != nil {
		t.Fatalf("CopyAt: %v", err)
	}
	if fl, ok := o.(storage.Filer); ok {
		f := fl.File() // at an unspecified offset: the HTTP layer seeks
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(io.LimitReader(f, o.Info().Size+1))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b, buf.Bytes()) {
			t.Fatalf("File() at offset 0 gives %d bytes that differ from ReadAt's %d", len(b), buf.Len())
		}
	}
	return buf.Bytes()
}

func openRead(t testing.TB, b *Backend, key string) (storage.Info, []byte, storage.Object) {
	t.Helper()
	o, err := b.Open(context.Background(), key)
	if err != nil {
		t.Fatalf("Open(%q): %v", key, err)
	}
	defer o.Close()
	return o.Info(), content(t, o), o
}

// TestFileCacheServes: what is served from where, by size and options.
func TestFileCacheServes(t *testing.T) {
	dir := t.TempDir()
	small, big := randBytes(t, 1000), randBytes(t, 256<<10)
	writeFile(t, filepath.Join(dir, "small"), small)
	writeFile(t, filepath.Join(dir, "big"), big)
	writeFile(t, filepath.Join(dir, "empty"), nil)
	tests := []struct {
		name     string
		opts     CacheOptions
		key      string
		want     []byte
		memory   bool // the second Open is served from memory
		pooled   bool // the second Open reuses the first's descriptor
		cacheOff bool
	}{
		{"small in memory", CacheOptions{}, "small", small, true, false, false},
		{"empty in memory", CacheOptions{}, "empty", nil, true, false, false},
		{"big pooled", CacheOptions{}, "big", big, false, true, false},
		{"big in memory when allowed", CacheOptions{MemoryFileSize: 1 << 20}, "big", big, true, false, false},
		{"big over the memory cap", CacheOptions{MemoryFileSize: 1 << 20, MemoryBytes: 100 << 10}, "big", big, false, true, false},
		{"memory off", CacheOptions{MemoryFileSize: NoMemoryFiles}, "small", small, false, true, false},
		{"valid 1h", CacheOptions{Valid: time.Hour}, "big", big, false, true, false},
		{"cache off", CacheOptions{Files: NoCache}, "small", small, false, false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := New(Options{Root: dir, Cache: tc.opts})
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			if b.fast < 0 {
				t.Skip("no openat2 fast path")
			}
			if tc.cacheOff != (b.files == nil) {
				t.Fatalf("cache on = %v, want %v", b.files != nil, !tc.cacheOff)
			}
			var fds []*os.File
			for i := range 3 {
				info, got, o := openRead(t, b, tc.key)
				if !bytes.Equal(got, tc.want) || info.Size != int64(len(tc.want)) {
					t.Fatalf("open %d: %d bytes (Size %d), want the file's %d", i, len(got), info.Size, len(tc.want))
				}
				_, isMem := o.(*memObject)
				if i > 0 && isMem != tc.memory {
					t.Errorf("open %d: from memory = %v, want %v (%T)", i, isMem, tc.memory, o)
				}
				if co, ok := o.(*cachedObject); ok {
					fds = append(fds, co.pf.f)
				}
			}
			if tc.pooled && (len(fds) != 3 || fds[0] != fds[1] || fds[1] != fds[2]) {
				t.Errorf("descriptors %v: want one, reused", fds)
			}
			st := b.CacheStats()
			if !tc.cacheOff && (st.Misses != 1 || st.Hits != 2) {
				t.Errorf("stats %+v: want 1 miss, 2 hits", st)
			}
			if tc.memory && (st.MemoryHits != 2 || st.MemoryBytes != int64(len(tc.want)) || st.IdleFiles != 0) {
				t.Errorf("stats %+v: want 2 memory hits, %d bytes, no descriptor", st, len(tc.want))
			}
			if tc.pooled && st.IdleFiles != 1 {
				t.Errorf("stats %+v: want 1 idle descriptor", st)
			}
		})
	}
}

// TestFileCacheReplaced: a file replaced by rename, rewritten in place, or
// deleted is served as its new state at once with Valid 0, and within
// Valid either as the cached version (old ETag, old bytes) or the new one,
// never a mix.
func TestFileCacheReplaced(t *testing.T) {
	for _, size := range []int{100, 200 << 10} { // memory, descriptor
		for _, valid := range []time.Duration{0, time.Second} {
			t.Run("", func(t *testing.T) {
				now := fakeClock(t)
				dir := t.TempDir()
				p := filepath.Join(dir, "f")
				v1 := randBytes(t, size)
				writeFile(t, p, v1)
				b := cacheBackend(t, dir, CacheOptions{Valid: valid})
				i1, got, _ := openRead(t, b, "f")
				if !bytes.Equal(got, v1) {
					t.Fatal("first open: wrong bytes")
				}
				openRead(t, b, "f")

				check := func(what string, want []byte, fresh bool) storage.Info {
					t.Helper()
					info, got, _ := openRead(t, b, "f")
					switch {
					case bytes.Equal(got, want):
						if info.ETag == i1.ETag && !bytes.Equal(want, v1) {
							t.Errorf("size %d valid %v, %s: the new bytes under the old ETag %s", size, valid, what, info.ETag)
						}
					case !fresh && info.ETag == i1.ETag && bytes.Equal(got, v1):
						// The cached version, consistently.
					default:
						t.Errorf("size %d valid %v, %s: ETag %s (old %s) with %d bytes, want the new version",
							size, valid, what, info.ETag, i1.ETag, len(got))
					}
					if info.Size != int64(len(got)) {
						t.Errorf("%s: Size %d for %d bytes", what, info.Size, len(got))
					}
					return info
				}

				// Replace by rename, same size.
				v2 := randBytes(t, size)
				replace(t, p, v2)
				check("after rename", v2, valid == 0)
				now.Add(int64(valid) + 1)
				i2 := check("after rename and Valid", v2, true)
				if i2.ETag == i1.ETag {
					t.Fatalf("ETag unchanged by a rename")
				}

				// Rewrite in place with other bytes of the same size, and
				// restore the mtime: only ctime tells.
				fi, _ := os.Stat(p)
				v3 := randBytes(t, size)
				writeFile(t, p, v3)
				if err := os.Chtimes(p, fi.ModTime(), fi.ModTime()); err != nil {
					t.Fatal(err)
				}
				info, got, o := openRead(t, b, "f")
				_, isMem := o.(*memObject)
				switch {
				case bytes.Equal(got, v3):
					// ETag may be i2's: the documented blind spot of the ETag.
				case valid > 0 && isMem && bytes.Equal(got, v2) && info.ETag == i2.ETag:
					// The memory snapshot within Valid.
				default:
					t.Errorf("size %d valid %v, after an in-place rewrite: got %d bytes of neither version", size, valid, len(got))
				}
				now.Add(int64(valid) + 1)
				i3, got, _ := openRead(t, b, "f")
				if !bytes.Equal(got, v3) {
					t.Errorf("size %d valid %v: in-place rewrite not seen after Valid", size, valid)
				}

				// Rewrite in place with another size: the ETag must change
				// with the bytes, at once for a descriptor (it reads the
				// live inode), within Valid for a snapshot in memory.
				v4 := randBytes(t, size+1)
				writeFile(t, p, v4)
				info, got, o = openRead(t, b, "f")
				_, isMem = o.(*memObject)
				switch {
				case bytes.Equal(got, v4) && info.ETag != i3.ETag && info.Size == int64(len(v4)):
				case valid > 0 && isMem && bytes.Equal(got, v3) && info.ETag == i3.ETag:
				default:
					t.Errorf("size %d valid %v, after an in-place rewrite to %d bytes: ETag %s (before %s), Size %d, %d bytes",
						size, valid, len(v4), info.ETag, i3.ETag, info.Size, len(got))
				}

				// Delete.
				if err := os.Remove(p); err != nil {
					t.Fatal(err)
				}
				now.Add(int64(valid) + 1)
				if _, err := b.Open(context.Background(), "f"); !errors.Is(err, storage.ErrNotExist) {
					t.Errorf("after delete: %v, want ErrNotExist", err)
				}
				if st := b.CacheStats(); st.Files != 0 || st.IdleFiles != 0 || st.MemoryBytes != 0 {
					t.Errorf("after delete: %+v, want an empty cache", st)
				}
			})
		}
	}
}

// TestFileCacheExclusiveDescriptors: concurrent objects of one file never
// share a descriptor (sendfile reads from, and moves, its offset).
func TestFileCacheExclusiveDescriptors(t *testing.T) {
	dir := t.TempDir()
	data := randBytes(t, 1<<20)
	writeFile(t, filepath.Join(dir, "f"), data)
	b := cacheBackend(t, dir, CacheOptions{})
	var wg sync.WaitGroup
	var inUse sync.Map
	errs := make(chan error, 8*50*4) // room for every error: no goroutine blocks
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				o, err := b.Open(context.Background(), "f")
				if err != nil {
					errs <- err
					return
				}
				f := o.(storage.Filer).File()
				if _, dup := inUse.LoadOrStore(f, g); dup {
					errs <- errors.New("a descriptor lent to two objects at once")
				}
				off := int64((g*50 + i) * 997 % (1 << 20))
				if i%2 == 0 {
					off = 0
				}
				if _, err := f.Seek(off, io.SeekStart); err != nil {
					errs <- err
				}
				got, err := io.ReadAll(io.LimitReader(f, 4096))
				if err != nil || !bytes.Equal(got, data[off:min(off+4096, int64(len(data)))]) {
					errs <- errors.New("wrong bytes at the descriptor's offset")
				}
				inUse.Delete(f)
				o.Close()
				o.Close() // a second Close must not return the descriptor twice
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if st := b.CacheStats(); st.IdleFiles < 1 || st.IdleFiles > 8 || st.Misses > 8 {
		t.Errorf("stats %+v: want at most 8 descriptors opened, all idle now", st)
	}
}

// TestFileCacheLimits: Files bounds entries and idle descriptors;
// MemoryBytes bounds memory; idle entries expire.
func TestFileCacheLimits(t *testing.T) {
	now := fakeClock(t)
	dir := t.TempDir()
	for _, k := range []string{"a", "b", "c", "d"} {
		writeFile(t, filepath.Join(dir, k), randBytes(t, 40<<10))
		writeFile(t, filepath.Join(dir, "big"+k), randBytes(t, 100<<10))
	}
	b := cacheBackend(t, dir, CacheOptions{Files: 3, MemoryBytes: 100 << 10})
	for _, k := range []string{"a", "b", "c", "d"} {
		openRead(t, b, k)
	}
	st := b.CacheStats()
	if st.MemoryBytes > 100<<10 || st.Files > 3 {
		t.Errorf("after 4 small files: %+v; want at most 100 KiB in memory and 3 files", st)
	}
	// Four descriptors lent at once, then returned: only 3 stay idle.
	var objs []storage.Object
	for _, k := range []string{"biga", "bigb", "bigc", "bigd"} {
		o, err := b.Open(context.Background(), k)
		if err != nil {
			t.Fatal(err)
		}
		objs = append(objs, o)
	}
	for _, o := range objs {
		o.Close()
	}
	if st := b.CacheStats(); st.IdleFiles > 3 || st.Files > 3 {
		t.Errorf("after 4 big files: %+v; want at most 3 idle descriptors and 3 files", st)
	}
	// Nobody asks for them for fileInactive: the sweep drops them.
	now.Add(int64(fileInactive) + 1)
	b.files.sweep()
	if st := b.CacheStats(); st.Files != 0 || st.IdleFiles != 0 || st.MemoryBytes != 0 {
		t.Errorf("after the inactive sweep: %+v; want empty", st)
	}
}

// TestFileCacheClose: Close closes idle descriptors at once and lent ones
// when their objects are closed; the objects work until then.
func TestFileCacheClose(t *testing.T) {
	dir := t.TempDir()
	data := randBytes(t, 200<<10)
	writeFile(t, filepath.Join(dir, "f"), data)
	b, err := New(Options{Root: dir})
	if err != nil {
		t.Fatal(err)
	}
	if b.files == nil {
		b.Close()
		t.Skip("no fast path")
	}
	openRead(t, b, "f")
	idle := b.files.m["f"].idle[0].f
	o, err := b.Open(context.Background(), "f")
	if err != nil {
		t.Fatal(err)
	}
	o2, err := b.Open(context.Background(), "f")
	if err != nil {
		t.Fatal(err)
	}
	o2.Close()
	b.Close()
	if got := content(t, o); !bytes.Equal(got, data) {
		t.Error("a lent object stopped working at Close")
	}
	lent := o.(*cachedObject).pf.f
	o.Close()
	for _, f := range []*os.File{idle, lent} {
		if _, err := f.Stat(); !errors.Is(err, os.ErrClosed) {
			t.Errorf("descriptor still open after Close: %v", err)
		}
	}
	if _, err := o.ReadAt(make([]byte, 1), 0); !errors.Is(err, os.ErrClosed) {
		t.Errorf("ReadAt after Close: %v", err)
	}
}

// TestFileCacheSymlinkSwap: a cached file whose name becomes a symbolic
// link out of the root is not served any more.
func TestFileCacheSymlinkSwap(t *testing.T) {
	base := t.TempDir()
	root, outside := filepath.Join(base, "root"), filepath.Join(base, "out")
	for _, d := range []string{root, outside} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, filepath.Join(outside, "secret"), []byte("secret"))
	writeFile(t, filepath.Join(root, "f"), []byte("public"))
	for _, valid := range []time.Duration{0, time.Second} {
		now := fakeClock(t)
		b := cacheBackend(t, root, CacheOptions{Valid: valid})
		openRead(t, b, "f")
		if err := os.Remove(filepath.Join(root, "f")); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(filepath.Join(outside, "secret"), filepath.Join(root, "f")); err != nil {
			t.Fatal(err)
		}
		now.Add(int64(valid) + 1)
		if o, err := b.Open(context.Background(), "f"); err == nil {
			got := content(t, o)
			o.Close()
			t.Errorf("valid %v: served %q through a link out of the root", valid, got)
		}
		if err := os.Remove(filepath.Join(root, "f")); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(root, "f"), []byte("public"))
	}
}

// TestFileCacheFIFO: a FIFO swapped in for a cached file is refused and
// does not block.
func TestFileCacheFIFO(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	writeFile(t, p, randBytes(t, 200<<10))
	b := cacheBackend(t, dir, CacheOptions{})
	openRead(t, b, "f")
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(p, 0o644); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		o, err := b.Open(context.Background(), "f")
		if err == nil {
			o.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, storage.ErrNotExist) {
			t.Errorf("Open of a FIFO swapped in: %v, want ErrNotExist", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Open blocked on a FIFO")
	}
}
