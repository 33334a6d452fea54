package zipstream_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"iter"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rangeserve/rangeserve/zipstream"
)

// memFile is one version of a file of memFS.
type memFile struct {
	data []byte
	etag string
}

var versions atomic.Int64

// memFS is an in-memory Opener that counts the bytes read per entry.
type memFS struct {
	mu    sync.Mutex
	files map[string]memFile
	read  map[string]int64
	opens int
	// failCheck makes Check report a change for that name.
	failCheck string
}

func newMemFS() *memFS {
	return &memFS{files: map[string]memFile{}, read: map[string]int64{}}
}

func (m *memFS) put(name string, data []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.files[name] = memFile{data: data, etag: fmt.Sprintf(`"%x-%d"`, len(data), versions.Add(1))}
}

func (m *memFS) bytesRead() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	var n int64
	for _, v := range m.read {
		n += v
	}
	return n
}

func (m *memFS) resetCounts() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.read = map[string]int64{}
	m.opens = 0
}

func (m *memFS) Open(_ context.Context, e zipstream.Entry) (zipstream.File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f, ok := m.files[e.Name]
	if !ok {
		return nil, os.ErrNotExist
	}
	m.opens++
	return &memHandle{fs: m, name: e.Name, f: f}, nil
}

type memHandle struct {
	fs   *memFS
	name string
	f    memFile
}

func (h *memHandle) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(h.f.data)) {
		return 0, io.EOF
	}
	n := copy(p, h.f.data[off:])
	h.fs.mu.Lock()
	h.fs.read[h.name] += int64(n)
	h.fs.mu.Unlock()
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (h *memHandle) Close() error { return nil }
func (h *memHandle) Size() int64  { return int64(len(h.f.data)) }
func (h *memHandle) ETag() string { return h.f.etag }
func (h *memHandle) Check() error {
	if h.fs.failCheck == h.name {
		return fmt.Errorf("%w: modified while read", zipstream.ErrChanged)
	}
	return nil
}

// entries lists m's files (sorted), with folders for dirs, as a listing.
func (m *memFS) entries(dirs []string, mtime time.Time) []zipstream.Entry {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []zipstream.Entry
	for _, d := range dirs {
		out = append(out, zipstream.Entry{Name: d, Dir: true, ModTime: mtime})
	}
	for name, f := range m.files {
		out = append(out, zipstream.Entry{Name: name, Size: int64(len(f.data)), ModTime: mtime, ETag: f.etag})
	}
	slices.SortFunc(out, func(a, b zipstream.Entry) int {
		return bytes.Compare([]byte(a.Name), []byte(b.Name))
	})
	return out
}

// seq turns a slice into the listing Build takes.
func seq(es []zipstream.Entry) iter.Seq2[zipstream.Entry, error] {
	return func(yield func(zipstream.Entry, error) bool) {
		for _, e := range es {
			if !yield(e, nil) {
				return
			}
		}
	}
}

func build(t testing.TB, es []zipstream.Entry) *zipstream.Archive {
	t.Helper()
	a, err := zipstream.Build(seq(es), zipstream.BuildOptions{})
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	return a
}

// whole produces the entire archive.
func whole(t testing.TB, r *zipstream.Reader) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := r.WriteRange(&b, 0, r.Size()); err != nil {
		t.Fatalf("WriteRange(0, %d): %v", r.Size(), err)
	}
	if int64(b.Len()) != r.Size() {
		t.Fatalf("produced %d bytes, layout says %d", b.Len(), r.Size())
	}
	return b.Bytes()
}

// osFS opens files of a directory.
type osFS struct {
	dir    string
	stored map[string]uint32 // StoredCRC32 per name
}

func (o osFS) Open(_ context.Context, e zipstream.Entry) (zipstream.File, error) {
	f, err := os.Open(filepath.Join(o.dir, filepath.FromSlash(e.Name)))
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	crc, ok := o.stored[e.Name]
	return &osHandle{File: f, size: fi.Size(), etag: osETag(fi), crc: crc, hasCRC: ok}, nil
}

func osETag(fi os.FileInfo) string {
	return fmt.Sprintf(`"%x-%x"`, fi.Size(), fi.ModTime().UnixNano())
}

type osHandle struct {
	*os.File
	size   int64
	etag   string
	crc    uint32
	hasCRC bool
}

func (h *osHandle) Size() int64                 { return h.size }
func (h *osHandle) ETag() string                { return h.etag }
func (h *osHandle) StoredCRC32() (uint32, bool) { return h.crc, h.hasCRC }
