package zipstream_test

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/rangeserve/rangeserve/zipstream"
)

// TestConcurrentRequestsShareCRCs: eight archives of one listing produce
// their central directories at once; with a shared Sums each entry is
// read once in all.
func TestConcurrentRequestsShareCRCs(t *testing.T) {
	m, es := tree(t)
	var total int64
	for _, e := range es {
		total += e.Size
	}
	sums := zipstream.NewSums(0)
	gate := &gatedFS{memFS: m, release: make(chan struct{})}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a, err := zipstream.Build(seq(es), zipstream.BuildOptions{})
			if err != nil {
				errs <- err
				return
			}
			cd, n := a.CentralDirectory()
			errs <- a.Reader(t.Context(), gate, sums).WriteRange(io.Discard, cd, n)
		}()
	}
	close(gate.release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := m.bytesRead(); got != total {
		t.Errorf("8 concurrent central directories read %d bytes of entries, want %d (each once)", got, total)
	}
	if sums.Len() == 0 {
		t.Errorf("the shared cache holds nothing")
	}
}

// gatedFS holds every Open until release is closed, so that concurrent
// callers pile up on the first computation.
type gatedFS struct {
	*memFS
	release chan struct{}
}

func (g *gatedFS) Open(ctx context.Context, e zipstream.Entry) (zipstream.File, error) {
	<-g.release
	return g.memFS.Open(ctx, e)
}

func TestCancelledContext(t *testing.T) {
	m, es := tree(t)
	a := build(t, es)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := a.Reader(ctx, m, nil).WriteRange(io.Discard, 0, a.Size())
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: err %v, want context.Canceled", err)
	}
}

func TestReadRangeStopsWhenClosed(t *testing.T) {
	m, es := tree(t)
	a := build(t, es)
	rc, err := a.Reader(t.Context(), m, nil).ReadRange(0, a.Size())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(rc, make([]byte, 100)); err != nil {
		t.Fatal(err)
	}
	rc.Close() // the producing goroutine ends on its next write
	if _, err := rc.Read(make([]byte, 1)); err == nil {
		t.Errorf("read after Close: no error")
	}
}

func TestWriteDeflate(t *testing.T) {
	m, es := tree(t)
	m.put("notes.md", bytes.Repeat([]byte("compress me "), 5000))
	es = m.entries([]string{"a", "a/b", "a/empty-dir", "日本語"}, mtime)
	var buf bytes.Buffer
	if err := zipstream.WriteDeflate(t.Context(), &buf, seq(es), m, zipstream.DeflateOptions{}); err != nil {
		t.Fatal(err)
	}
	zr, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	if len(zr.File) != len(es) {
		t.Fatalf("%d entries, want %d", len(zr.File), len(es))
	}
	for i, f := range zr.File {
		e := es[i]
		if e.Dir {
			if f.Name != e.Name+"/" || !f.FileInfo().IsDir() {
				t.Errorf("entry %d: %q (%v), want folder %q", i, f.Name, f.Mode(), e.Name+"/")
			}
			continue
		}
		wantMethod := zip.Store
		if e.Size > 0 && zipstream.Compressible(e.Name) {
			wantMethod = zip.Deflate
		}
		if f.Name != e.Name || f.Method != wantMethod {
			t.Errorf("entry %d: %q method %d, want %q method %d", i, f.Name, f.Method, e.Name, wantMethod)
		}
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || sha256.Sum256(got) != sha256.Sum256(m.files[e.Name].data) {
			t.Errorf("%s: content differs (%v)", e.Name, err)
		}
	}
	if f := zr.File[len(zr.File)-1]; f.Name == "notes.md" && f.CompressedSize64*10 > f.UncompressedSize64 {
		t.Errorf("notes.md: %d bytes compressed from %d", f.CompressedSize64, f.UncompressedSize64)
	}

	// A changed entry fails the stream.
	for _, e := range es {
		if !e.Dir && e.Size > 0 {
			m.put(e.Name, []byte("other"))
			break
		}
	}
	err = zipstream.WriteDeflate(t.Context(), io.Discard, seq(es), m, zipstream.DeflateOptions{})
	if !errors.Is(err, zipstream.ErrChanged) {
		t.Errorf("changed entry: err %v, want ErrChanged", err)
	}
}

func TestCompressible(t *testing.T) {
	for name, want := range map[string]bool{
		"a.txt": true, "dir/B.CSV": true, "x.json": true, "page.html": true, "s.svg": true,
		"v.mp4": false, "p.jpg": false, "a.zip": false, "noext": false, "a.txt.gz": false,
	} {
		if got := zipstream.Compressible(name); got != want {
			t.Errorf("Compressible(%q) = %v, want %v", name, got, want)
		}
	}
}

// FuzzArchive builds archives of fuzzed names and sizes: Build accepts or
// refuses with ErrInvalidEntry, and what it accepts archive/zip reads back
// with the same names, sizes and bytes, the layout's size being the
// number of bytes produced.
func FuzzArchive(f *testing.F) {
	f.Add("a/b.txt\nc\nd/é", uint16(3), uint16(0))
	f.Add("x\n../y", uint16(1), uint16(9))
	f.Add("dir/\nfile", uint16(0), uint16(1))
	f.Fuzz(func(t *testing.T, names string, n1, n2 uint16) {
		m := newMemFS()
		var es []zipstream.Entry
		seen := map[string]bool{}
		for i, name := range strings.Split(names, "\n") {
			if seen[name] || i > 20 {
				continue
			}
			seen[name] = true
			size := int(n1)
			if i%2 == 1 {
				size = int(n2)
			}
			size %= 2000
			data := bytes.Repeat([]byte{byte(i)}, size)
			m.put(name, data)
			es = append(es, zipstream.Entry{Name: name, Size: int64(size), ETag: m.files[name].etag, ModTime: mtime})
		}
		a, err := zipstream.Build(seq(es), zipstream.BuildOptions{})
		if err != nil {
			if !errors.Is(err, zipstream.ErrInvalidEntry) {
				t.Fatalf("Build: %v", err)
			}
			return
		}
		var buf bytes.Buffer
		if err := a.Reader(t.Context(), m, nil).WriteRange(&buf, 0, a.Size()); err != nil {
			t.Fatal(err)
		}
		if int64(buf.Len()) != a.Size() {
			t.Fatalf("produced %d bytes, layout says %d", buf.Len(), a.Size())
		}
		zr, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
		if err != nil {
			t.Fatalf("archive/zip: %v", err)
		}
		if len(zr.File) != len(es) {
			t.Fatalf("%d entries, want %d", len(zr.File), len(es))
		}
		for i, zf := range zr.File {
			if zf.Name != es[i].Name {
				t.Fatalf("entry %d named %q, want %q", i, zf.Name, es[i].Name)
			}
			rc, err := zf.Open()
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(rc)
			rc.Close()
			if err != nil || !bytes.Equal(got, m.files[es[i].Name].data) {
				t.Fatalf("%q: content differs (%v)", zf.Name, err)
			}
		}
	})
}

// filerFS opens files of a directory as entries with a File method, the
// shape of storage.Filer.
type filerFS struct{ osFS }

func (o filerFS) Open(ctx context.Context, e zipstream.Entry) (zipstream.File, error) {
	f, err := o.osFS.Open(ctx, e)
	if err != nil {
		return nil, err
	}
	return filerHandle{f.(*osHandle)}, nil
}

type filerHandle struct{ *osHandle }

func (h filerHandle) File() *os.File { return h.osHandle.File }

// readFromWriter is a writer with ReadFrom, as net/http's response
// writer has: it counts the bytes that came through ReadFrom.
type readFromWriter struct {
	bytes.Buffer
	viaReadFrom int64
}

func (w *readFromWriter) ReadFrom(r io.Reader) (int64, error) {
	n, err := w.Buffer.ReadFrom(r)
	w.viaReadFrom += n
	return n, err
}

// TestLocalFilesThroughReadFrom: once the CRC-32s are known, the data of
// local files goes through the writer's ReadFrom (sendfile for an HTTP
// response), and the bytes are the same.
func TestLocalFilesThroughReadFrom(t *testing.T) {
	dir := t.TempDir()
	var es []zipstream.Entry
	for i, size := range []int{0, 1, 70000, 300000} {
		name := fmt.Sprintf("f%d.bin", i)
		data := bytes.Repeat([]byte{byte('a' + i)}, size)
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
		fi, _ := os.Stat(filepath.Join(dir, name))
		es = append(es, zipstream.Entry{Name: name, Size: fi.Size(), ModTime: fi.ModTime(), ETag: osETag(fi)})
	}
	sums := zipstream.NewSums(0)
	o := filerFS{osFS{dir: dir}}
	first := &readFromWriter{}
	a := build(t, es)
	if err := a.Reader(t.Context(), o, sums).WriteRange(first, 0, a.Size()); err != nil {
		t.Fatal(err)
	}
	if first.viaReadFrom != 0 {
		t.Errorf("first pass (CRC-32s unknown): %d bytes through ReadFrom, want 0 (they are hashed)", first.viaReadFrom)
	}
	second := &readFromWriter{}
	b := build(t, es)
	if err := b.Reader(t.Context(), o, sums).WriteRange(second, 0, b.Size()); err != nil {
		t.Fatal(err)
	}
	if second.viaReadFrom != 370001 {
		t.Errorf("second pass: %d bytes through ReadFrom, want 370001 (all the data)", second.viaReadFrom)
	}
	if !bytes.Equal(first.Bytes(), second.Bytes()) {
		t.Fatalf("the two passes differ")
	}
	// A range in the middle of a file, through ReadFrom too.
	third := &readFromWriter{}
	p := b.Entry(3)
	if err := b.Reader(t.Context(), o, sums).WriteRange(third, p.Data+100, 5000); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(third.Bytes(), first.Bytes()[p.Data+100:p.Data+5100]) {
		t.Errorf("range through ReadFrom differs")
	}
}

// TestRangeReadsOnlyWhatItNeeds: a range over the first central directory
// record reads the first file and no other.
func TestRangeReadsOnlyWhatItNeeds(t *testing.T) {
	m, es := tree(t)
	a := build(t, es)
	first := -1
	for i := range a.Len() {
		if p := a.Entry(i); !p.Dir && p.Size > 0 {
			first = i
			break
		}
	}
	cd, _ := a.CentralDirectory()
	// Records of the folders and empty files before it, and its own.
	var end int64 = cd
	for i := 0; i <= first; i++ {
		p := a.Entry(i)
		end += 46 + int64(len(p.Name)) + 9
	}
	if err := a.Reader(t.Context(), m, nil).WriteRange(io.Discard, cd, end-cd); err != nil {
		t.Fatal(err)
	}
	if got, want := m.bytesRead(), a.Entry(first).Size; got != want {
		t.Errorf("the first %d central records read %d bytes, want %d (%s only)", first+1, got, want, a.Entry(first).Name)
	}
}
