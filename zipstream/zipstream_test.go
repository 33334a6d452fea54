package zipstream_test

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rangeserve/rangeserve/internal/testenv"
	"github.com/rangeserve/rangeserve/zipstream"
)

var mtime = time.Date(2024, 5, 17, 13, 45, 22, 0, time.UTC)

// tree fills a memFS with nested folders, UTF-8 names and empty files.
func tree(t testing.TB) (*memFS, []zipstream.Entry) {
	t.Helper()
	m := newMemFS()
	rng := rand.New(rand.NewPCG(1, 2))
	blob := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.UintN(256))
		}
		return b
	}
	m.put("hello.txt", []byte("hello, world\n"))
	m.put("empty", nil)
	m.put("a/b/deep.bin", blob(300<<10))
	m.put("a/b/empty.txt", nil)
	m.put("a/small", blob(1))
	m.put("vidéo 𝄞 test.mp4", blob(70<<10))
	m.put("日本語/ファイル.txt", []byte("こんにちは\n"))
	m.put("a/exactly-256k", blob(256<<10))
	dirs := []string{"a", "a/b", "a/empty-dir", "日本語"}
	return m, m.entries(dirs, mtime)
}

func TestArchiveReadsBackWithArchiveZip(t *testing.T) {
	m, es := tree(t)
	a := build(t, es)
	data := whole(t, a.Reader(t.Context(), m, nil))
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatalf("archive/zip: %v", err)
	}
	if len(zr.File) != len(es) {
		t.Fatalf("archive/zip sees %d entries, want %d", len(zr.File), len(es))
	}
	for i, f := range zr.File {
		e := es[i]
		want := e.Name
		if e.Dir {
			want += "/"
		}
		if f.Name != want {
			t.Errorf("entry %d: name %q, want %q", i, f.Name, want)
		}
		if f.Method != zip.Store {
			t.Errorf("%s: method %d, want stored", f.Name, f.Method)
		}
		if !f.Modified.Equal(mtime) {
			t.Errorf("%s: modified %v, want %v", f.Name, f.Modified, mtime)
		}
		if e.Dir {
			if !f.FileInfo().IsDir() || f.UncompressedSize64 != 0 {
				t.Errorf("%s: not an empty directory entry (mode %v, size %d)", f.Name, f.Mode(), f.UncompressedSize64)
			}
			continue
		}
		if f.Mode().Perm() != 0o644 || !f.Mode().IsRegular() {
			t.Errorf("%s: mode %v, want -rw-r--r--", f.Name, f.Mode())
		}
		rc, err := f.Open()
		if err != nil {
			t.Fatalf("%s: Open: %v", f.Name, err)
		}
		got, err := io.ReadAll(rc) // checks the CRC-32 and the descriptor
		rc.Close()
		if err != nil {
			t.Fatalf("%s: read: %v", f.Name, err)
		}
		if sha256.Sum256(got) != sha256.Sum256(m.files[e.Name].data) {
			t.Errorf("%s: content differs (sha256)", f.Name)
		}
		// The layout says where the data is; archive/zip agrees.
		p := a.Entry(i)
		if off, err := f.DataOffset(); err != nil || off != p.Data {
			t.Errorf("%s: data at %d (%v), layout says %d", f.Name, off, err, p.Data)
		}
	}
}

func TestLayoutIsContiguous(t *testing.T) {
	_, es := tree(t)
	a := build(t, es)
	var prev int64
	for i := range a.Len() {
		p := a.Entry(i)
		if p.Header != prev {
			t.Errorf("entry %d (%s): header at %d, previous entry ends at %d", i, p.Name, p.Header, prev)
		}
		extra := int64(9) // extended timestamp
		if p.Data-p.Header != 30+int64(len(p.Name))+extra {
			t.Errorf("%s: local header of %d bytes, want %d", p.Name, p.Data-p.Header, 30+len(p.Name)+9)
		}
		if p.Descriptor-p.Data != p.Size {
			t.Errorf("%s: data of %d bytes, size %d", p.Name, p.Descriptor-p.Data, p.Size)
		}
		wantDesc := int64(16)
		if p.Dir {
			wantDesc = 0
		}
		if p.End-p.Descriptor != wantDesc {
			t.Errorf("%s: descriptor of %d bytes, want %d", p.Name, p.End-p.Descriptor, wantDesc)
		}
		prev = p.End
	}
	off, size := a.CentralDirectory()
	if off != prev {
		t.Errorf("central directory at %d, entries end at %d", off, prev)
	}
	if a.Size() != off+size+22 {
		t.Errorf("size %d, want central directory end %d + 22", a.Size(), off+size)
	}
}

func TestUnzipTest(t *testing.T) {
	unzip := testenv.Require(t, "unzip")
	m, es := tree(t)
	a := build(t, es)
	path := filepath.Join(t.TempDir(), "tree.zip")
	if err := os.WriteFile(path, whole(t, a.Reader(t.Context(), m, nil)), 0o644); err != nil {
		t.Fatal(err)
	}
	runUnzipTest(t, unzip, path, len(es))

	// Extracted, every file has its bytes.
	dir := t.TempDir()
	out, err := exec.CommandContext(t.Context(), unzip, "-q", path, "-d", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("unzip: %v\n%s", err, out)
	}
	for _, e := range es {
		fi, err := os.Stat(filepath.Join(dir, e.Name))
		if err != nil {
			t.Errorf("%s: not extracted: %v", e.Name, err)
			continue
		}
		if e.Dir {
			if !fi.IsDir() {
				t.Errorf("%s: extracted as %v, want a directory", e.Name, fi.Mode())
			}
			continue
		}
		got, _ := os.ReadFile(filepath.Join(dir, e.Name))
		if !bytes.Equal(got, m.files[e.Name].data) {
			t.Errorf("%s: extracted bytes differ", e.Name)
		}
		if !fi.ModTime().Equal(mtime) {
			t.Errorf("%s: extracted mtime %v, want %v", e.Name, fi.ModTime(), mtime)
		}
	}
}

// runUnzipTest runs `unzip -t` on path and checks that it found no error
// in n entries.
func runUnzipTest(t *testing.T, unzip, path string, n int) {
	t.Helper()
	out, err := exec.CommandContext(t.Context(), unzip, "-t", path).CombinedOutput()
	if err != nil {
		t.Fatalf("unzip -t: %v\n%s", err, tail(out))
	}
	if !bytes.Contains(out, []byte("No errors detected")) {
		t.Fatalf("unzip -t did not report success:\n%s", tail(out))
	}
	if got := bytes.Count(out, []byte("  OK\n")); got != n {
		t.Errorf("unzip -t tested %d entries OK, want %d", got, n)
	}
}

func tail(b []byte) []byte {
	if len(b) > 4000 {
		return append([]byte("...\n"), b[len(b)-4000:]...)
	}
	return b
}

func TestRangesEqualSlicesOfTheWhole(t *testing.T) {
	m, es := tree(t)
	a := build(t, es)
	full := whole(t, a.Reader(t.Context(), m, nil))
	size := int64(len(full))
	type span struct{ off, n int64 }
	var spans []span
	// Edges: every record boundary, one byte either side.
	var edges []int64
	for i := range a.Len() {
		p := a.Entry(i)
		edges = append(edges, p.Header, p.Data, p.Descriptor, p.End)
	}
	cd, cdSize := a.CentralDirectory()
	edges = append(edges, cd, cd+cdSize, size-22, size-1, size)
	for _, e := range edges {
		for _, d := range []int64{-1, 0, 1} {
			off := e + d
			if off < 0 || off > size {
				continue
			}
			for _, n := range []int64{0, 1, 2, 17, 4096, size - off} {
				if n >= 0 && off+n <= size {
					spans = append(spans, span{off, n})
				}
			}
		}
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 500 {
		off := rng.Int64N(size)
		n := rng.Int64N(size - off + 1)
		if rng.IntN(2) == 0 {
			n = min(n, rng.Int64N(1024))
		}
		spans = append(spans, span{off, n})
	}
	for _, s := range spans {
		// A fresh archive each time, so that no CRC-32 is known
		// beforehand (a shared cache would hide the computing paths).
		r := build(t, es).Reader(t.Context(), m, nil)
		var b bytes.Buffer
		if err := r.WriteRange(&b, s.off, s.n); err != nil {
			t.Fatalf("WriteRange(%d, %d): %v", s.off, s.n, err)
		}
		if !bytes.Equal(b.Bytes(), full[s.off:s.off+s.n]) {
			t.Fatalf("WriteRange(%d, %d): %d bytes differ from the whole archive's slice", s.off, s.n, b.Len())
		}
	}
	// ReadAt and ReadRange agree too.
	r := a.Reader(t.Context(), m, nil)
	for _, s := range spans[:100] {
		p := make([]byte, s.n)
		n, err := r.ReadAt(p, s.off)
		if n != int(s.n) || err != nil && !(err == io.EOF && s.off+s.n == size) {
			t.Fatalf("ReadAt(%d bytes, %d) = %d, %v", s.n, s.off, n, err)
		}
		if !bytes.Equal(p, full[s.off:s.off+s.n]) {
			t.Fatalf("ReadAt(%d bytes, %d) differs", s.n, s.off)
		}
		rc, err := r.ReadRange(s.off, s.n)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || !bytes.Equal(got, full[s.off:s.off+s.n]) {
			t.Fatalf("ReadRange(%d, %d): %d bytes, %v; differs", s.off, s.n, len(got), err)
		}
	}
	if _, err := r.ReadAt(make([]byte, 10), size-5); err != io.EOF {
		t.Errorf("ReadAt past the end: err %v, want io.EOF", err)
	}
	if _, err := r.ReadRange(size-5, 10); err == nil {
		t.Errorf("ReadRange past the end: no error")
	}
}

func TestEntriesAreReadOnce(t *testing.T) {
	m, es := tree(t)
	var total int64
	for _, e := range es {
		total += e.Size
	}
	sums := zipstream.NewSums(0)
	a := build(t, es)
	whole(t, a.Reader(t.Context(), m, sums))
	if got := m.bytesRead(); got != total {
		t.Errorf("a whole-archive download read %d bytes of entries, want %d (each entry once)", got, total)
	}

	// Another archive of the same listing, sharing the CRC-32 cache: its
	// central directory needs no read at all.
	m.resetCounts()
	b := build(t, es)
	cd, cdSize := b.CentralDirectory()
	var buf bytes.Buffer
	if err := b.Reader(t.Context(), m, sums).WriteRange(&buf, cd, cdSize); err != nil {
		t.Fatal(err)
	}
	if got := m.bytesRead(); got != 0 || m.opens != 0 {
		t.Errorf("central directory with cached CRC-32s: %d opens, %d bytes read; want none", m.opens, got)
	}

	// Without the cache, the central directory reads each file once.
	m.resetCounts()
	c := build(t, es)
	buf.Reset()
	if err := c.Reader(t.Context(), m, nil).WriteRange(&buf, cd, cdSize); err != nil {
		t.Fatal(err)
	}
	if got := m.bytesRead(); got != total {
		t.Errorf("central directory without cache read %d bytes, want %d", got, total)
	}

	// A range from the middle of an entry through its descriptor reads
	// the part before it once, not the whole entry twice.
	m.resetCounts()
	d := build(t, es)
	var p zipstream.Placement
	for i := range d.Len() {
		if p = d.Entry(i); p.Size > 1000 {
			break
		}
	}
	buf.Reset()
	if err := d.Reader(t.Context(), m, nil).WriteRange(&buf, p.Data+500, p.End-(p.Data+500)); err != nil {
		t.Fatal(err)
	}
	if got := m.bytesRead(); got != p.Size {
		t.Errorf("range from the middle of %s through its descriptor read %d bytes, want %d", p.Name, got, p.Size)
	}
}

func TestETag(t *testing.T) {
	_, es := tree(t)
	base := build(t, es).ETag()
	if again := build(t, es).ETag(); again != base {
		t.Fatalf("same listing, ETags %s and %s", base, again)
	}
	if !strings.HasPrefix(base, `"zs1-`) || !strings.HasSuffix(base, `"`) {
		t.Errorf("ETag %s is not a quoted strong ETag", base)
	}
	i := 0
	for ; es[i].Dir || es[i].Size == 0; i++ {
	}
	changes := map[string]func(e *zipstream.Entry){
		"name":  func(e *zipstream.Entry) { e.Name += "x" },
		"size":  func(e *zipstream.Entry) { e.Size++ },
		"etag":  func(e *zipstream.Entry) { e.ETag = `"other"` },
		"mtime": func(e *zipstream.Entry) { e.ModTime = e.ModTime.Add(time.Nanosecond) },
		"kind":  func(e *zipstream.Entry) { e.Dir = true },
	}
	seen := map[string]string{base: "base"}
	for what, change := range changes {
		mod := append([]zipstream.Entry(nil), es...)
		change(&mod[i])
		got := build(t, mod).ETag()
		if prev, dup := seen[got]; dup {
			t.Errorf("changing the %s gives ETag %s, the same as %s", what, got, prev)
		}
		seen[got] = what
	}
	removed := build(t, es[1:]).ETag()
	if removed == base {
		t.Errorf("removing an entry keeps the ETag")
	}
	noTag := append([]zipstream.Entry(nil), es...)
	noTag[i].ETag = ""
	if w := build(t, noTag).ETag(); !strings.HasPrefix(w, `W/"`) {
		t.Errorf("an entry without ETag gives %s, want a weak ETag", w)
	}
}

func TestChangedEntryIsAnError(t *testing.T) {
	m, es := tree(t)
	a := build(t, es)
	r := a.Reader(t.Context(), m, nil)
	p := a.Entry(len(es) - 1)
	for i := range a.Len() {
		if q := a.Entry(i); q.Size > 1000 {
			p = q
			break
		}
	}
	var b bytes.Buffer
	if err := r.WriteRange(&b, 0, p.Data+10); err != nil {
		t.Fatalf("first range: %v", err)
	}
	// The entry is replaced between two range requests.
	m.put(p.Name, bytes.Repeat([]byte("x"), int(p.Size)))
	b.Reset()
	err := r.WriteRange(&b, p.Data+10, 100)
	if !errors.Is(err, zipstream.ErrChanged) {
		t.Fatalf("second range after the entry changed: err %v, want ErrChanged", err)
	}
	if b.Len() != 0 {
		t.Errorf("%d bytes written before the error; the range starts in the changed entry", b.Len())
	}
	// Its CRC-32 cannot be computed either.
	cd, cdSize := a.CentralDirectory()
	if err := r.WriteRange(io.Discard, cd, cdSize); !errors.Is(err, zipstream.ErrChanged) {
		t.Errorf("central directory after the entry changed: err %v, want ErrChanged", err)
	}

	// A file that reports a change after being read (Checker).
	m2, es2 := tree(t)
	a2 := build(t, es2)
	m2.failCheck = p.Name
	if err := a2.Reader(t.Context(), m2, nil).WriteRange(io.Discard, 0, a2.Size()); !errors.Is(err, zipstream.ErrChanged) {
		t.Errorf("Check reporting a change: err %v, want ErrChanged", err)
	}

	// A file shorter than listed.
	m3, es3 := tree(t)
	a3 := build(t, es3)
	f := m3.files[p.Name]
	f.data = f.data[:len(f.data)-1]
	m3.files[p.Name] = f // same ETag, fewer bytes: a lying backend
	if err := a3.Reader(t.Context(), m3, nil).WriteRange(io.Discard, 0, a3.Size()); err == nil {
		t.Errorf("a file shorter than listed: no error")
	}

	// A removed file.
	m4, es4 := tree(t)
	a4 := build(t, es4)
	delete(m4.files, p.Name)
	if err := a4.Reader(t.Context(), m4, nil).WriteRange(io.Discard, 0, a4.Size()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a removed file: err %v, want ErrNotExist", err)
	}
}

func TestBuildRejects(t *testing.T) {
	for _, name := range []string{"", "/abs", "a//b", "a/../b", "./a", "a/", "a\\b", "nul\x00", "bad\xff", strings.Repeat("a", 65535)} {
		_, err := zipstream.Build(seq([]zipstream.Entry{{Name: name}}), zipstream.BuildOptions{})
		if !errors.Is(err, zipstream.ErrInvalidEntry) {
			t.Errorf("name %q: err %v, want ErrInvalidEntry", name, err)
		}
	}
	_, err := zipstream.Build(seq([]zipstream.Entry{{Name: "growing", Size: -1}}), zipstream.BuildOptions{})
	if !errors.Is(err, zipstream.ErrInvalidEntry) {
		t.Errorf("unknown size: err %v, want ErrInvalidEntry", err)
	}
	es := make([]zipstream.Entry, 11)
	for i := range es {
		es[i] = zipstream.Entry{Name: fmt.Sprint(i)}
	}
	if _, err := zipstream.Build(seq(es), zipstream.BuildOptions{MaxEntries: 10}); !errors.Is(err, zipstream.ErrTooManyEntries) {
		t.Errorf("11 entries, limit 10: err %v, want ErrTooManyEntries", err)
	}
	if _, err := zipstream.Build(seq(es), zipstream.BuildOptions{MaxEntries: zipstream.NoEntryLimit}); err != nil {
		t.Errorf("no limit: %v", err)
	}
	boom := errors.New("listing failed")
	_, err = zipstream.Build(func(yield func(zipstream.Entry, error) bool) {
		if yield(zipstream.Entry{Name: "a"}, nil) {
			yield(zipstream.Entry{}, boom)
		}
	}, zipstream.BuildOptions{})
	if !errors.Is(err, boom) {
		t.Errorf("listing error: got %v", err)
	}
}

func TestEmptyArchive(t *testing.T) {
	a := build(t, nil)
	data := whole(t, a.Reader(t.Context(), newMemFS(), nil))
	if len(data) != 22 {
		t.Fatalf("empty archive of %d bytes, want 22", len(data))
	}
	zr, err := zip.NewReader(bytes.NewReader(data), 22)
	if err != nil || len(zr.File) != 0 {
		t.Fatalf("archive/zip: %v, %d files", err, len(zr.File))
	}
}
