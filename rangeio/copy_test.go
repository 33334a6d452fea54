package rangeio

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"testing"
)

// testData returns n deterministic, non-repeating-looking bytes.
func testData(n int) []byte {
	b := make([]byte, n)
	var x uint32 = 2463534242
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}

// oneByteReaderAt returns at most one byte per ReadAt with a nil error.
// io.ReaderAt requires an error on a short read, so this breaks the
// contract; CopyAt must still copy everything.
type oneByteReaderAt struct{ r io.ReaderAt }

func (o oneByteReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if len(p) > 1 {
		p = p[:1]
	}
	return o.r.ReadAt(p, off)
}

// eofWithDataReaderAt returns io.EOF together with the last bytes, as
// io.ReaderAt allows.
type eofWithDataReaderAt struct{ b []byte }

func (e eofWithDataReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(e.b)) {
		return 0, io.EOF
	}
	n := copy(p, e.b[off:])
	if off+int64(n) == int64(len(e.b)) {
		return n, io.EOF
	}
	return n, nil
}

type stuckReaderAt struct{}

func (stuckReaderAt) ReadAt([]byte, int64) (int, error) { return 0, nil }

type errReaderAt struct{ err error }

func (e errReaderAt) ReadAt([]byte, int64) (int, error) { return 0, e.err }

// failAfterReaderAt serves left bytes, then returns the bytes it has with err.
type failAfterReaderAt struct {
	r    io.ReaderAt
	left int64
	err  error
}

func (f *failAfterReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if int64(len(p)) <= f.left {
		f.left -= int64(len(p))
		return f.r.ReadAt(p, off)
	}
	n, _ := f.r.ReadAt(p[:f.left], off)
	f.left = 0
	return n, f.err
}

type shortWriter struct{}

func (shortWriter) Write(p []byte) (int, error) { return len(p) / 2, nil }

func TestCopyAt(t *testing.T) {
	data := testData(3*copyBufSize + 12345)
	size := int64(len(data))
	errBackend := errors.New("backend down")
	tests := []struct {
		name    string
		src     io.ReaderAt
		off, n  int64
		wantN   int64
		wantErr error
	}{
		{"whole", bytes.NewReader(data), 0, size, size, nil},
		{"empty", bytes.NewReader(data), 5, 0, 0, nil},
		{"one byte", bytes.NewReader(data), 7, 1, 1, nil},
		{"one buffer", bytes.NewReader(data), 0, copyBufSize, copyBufSize, nil},
		{"buffer plus one", bytes.NewReader(data), 1, copyBufSize + 1, copyBufSize + 1, nil},
		{"tail", bytes.NewReader(data), size - 100, 100, 100, nil},
		{"unaligned middle", bytes.NewReader(data), 12345, 2*copyBufSize + 3, 2*copyBufSize + 3, nil},
		{"EOF with data", eofWithDataReaderAt{data}, size - copyBufSize - 1, copyBufSize + 1, copyBufSize + 1, nil},
		{"one byte reads", oneByteReaderAt{bytes.NewReader(data)}, 10, 1000, 1000, nil},
		{"short source", bytes.NewReader(data), size - 10, 20, 10, io.ErrUnexpectedEOF},
		{"short source EOF with data", eofWithDataReaderAt{data}, size - 10, 20, 10, io.ErrUnexpectedEOF},
		{"past the end", bytes.NewReader(data), size + 10, 5, 0, io.ErrUnexpectedEOF},
		{"backend error", errReaderAt{errBackend}, 0, 10, 0, errBackend},
		{"data then error", &failAfterReaderAt{r: bytes.NewReader(data), left: copyBufSize + 10, err: errBackend}, 0, 3 * copyBufSize, copyBufSize + 10, errBackend},
		{"no progress", stuckReaderAt{}, 0, 10, 0, io.ErrNoProgress},
		{"negative offset", bytes.NewReader(data), -1, 10, 0, errNegative},
		{"negative length", bytes.NewReader(data), 0, -1, 0, errNegative},
	}
	for _, tt := range tests {
		var out bytes.Buffer
		n, err := CopyAt(&out, tt.src, tt.off, tt.n)
		if n != tt.wantN || !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
			t.Errorf("%s: CopyAt(off=%d, n=%d) = %d, %v; want %d, %v", tt.name, tt.off, tt.n, n, err, tt.wantN, tt.wantErr)
			continue
		}
		if int64(out.Len()) != n {
			t.Errorf("%s: wrote %d bytes, returned %d", tt.name, out.Len(), n)
			continue
		}
		if n > 0 {
			want := sha256.Sum256(data[tt.off : tt.off+n])
			if got := sha256.Sum256(out.Bytes()); got != want {
				t.Errorf("%s: sha256 of output = %x, want %x", tt.name, got, want)
			}
		}
	}
}

func TestCopyAtShortWrite(t *testing.T) {
	n, err := CopyAt(shortWriter{}, bytes.NewReader(testData(100)), 0, 100)
	if n != 50 || !errors.Is(err, io.ErrShortWrite) {
		t.Errorf("CopyAt to a short writer = %d, %v; want 50, %v", n, err, io.ErrShortWrite)
	}
}

func TestCopyAtWriteError(t *testing.T) {
	errWrite := errors.New("client went away")
	w := &failAfterWriter{left: 1000, err: errWrite}
	n, err := CopyAt(w, bytes.NewReader(testData(copyBufSize*2)), 0, copyBufSize*2)
	if n != 1000 || !errors.Is(err, errWrite) {
		t.Errorf("CopyAt to a failing writer = %d, %v; want 1000, %v", n, err, errWrite)
	}
}

// failAfterWriter accepts left bytes, then fails with err.
type failAfterWriter struct {
	left int
	err  error
}

func (f *failAfterWriter) Write(p []byte) (int, error) {
	if len(p) <= f.left {
		f.left -= len(p)
		return len(p), nil
	}
	n := f.left
	f.left = 0
	return n, f.err
}

func TestCopyAtAllocs(t *testing.T) {
	src := bytes.NewReader(testData(1 << 20))
	w := io.Discard
	// Warm the pool so the first buffer does not count.
	if _, err := CopyAt(w, src, 0, 10); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := CopyAt(w, src, 100, 700000); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("CopyAt: %v allocs per run, want 0", allocs)
	}
}

func BenchmarkCopyAt(b *testing.B) {
	const n = 8 << 20
	src := bytes.NewReader(testData(n))
	b.SetBytes(n)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := CopyAt(io.Discard, src, 0, n); err != nil {
			b.Fatal(err)
		}
	}
}

// spanReader is a RangeReader over data whose streams can be cut short or
// refused; it records the spans asked for and whether streams were closed.
type spanReader struct {
	data   []byte
	cut    int64 // if > 0, streams end after this many bytes
	fail   error // ReadRange's error
	spans  [][2]int64
	closed int
}

func (s *spanReader) ReadAt(p []byte, off int64) (int, error) {
	panic("CopyAt used ReadAt on a RangeReader")
}

func (s *spanReader) ReadRange(off, n int64) (io.ReadCloser, error) {
	s.spans = append(s.spans, [2]int64{off, n})
	if s.fail != nil {
		return nil, s.fail
	}
	end := off + n
	if s.cut > 0 {
		end = off + s.cut
	}
	return closeCounter{bytes.NewReader(s.data[off:end]), &s.closed}, nil
}

type closeCounter struct {
	io.Reader
	n *int
}

func (c closeCounter) Close() error { *c.n++; return nil }

func TestCopyAtRangeReader(t *testing.T) {
	data := testData(1 << 20)
	var buf bytes.Buffer
	sr := &spanReader{data: data}
	n, err := CopyAt(&buf, sr, 1000, 700<<10)
	if err != nil || n != 700<<10 || !bytes.Equal(buf.Bytes(), data[1000:1000+700<<10]) {
		t.Fatalf("CopyAt = %d, %v; bytes equal %v", n, err, bytes.Equal(buf.Bytes(), data[1000:1000+700<<10]))
	}
	if len(sr.spans) != 1 || sr.spans[0] != [2]int64{1000, 700 << 10} || sr.closed != 1 {
		t.Errorf("spans %v, closed %d; want one span of the whole range, closed once", sr.spans, sr.closed)
	}

	// A stream that ends early is an error, not a short success.
	sr = &spanReader{data: data, cut: 100}
	if n, err := CopyAt(io.Discard, sr, 0, 1000); n != 100 || !errors.Is(err, io.ErrUnexpectedEOF) || sr.closed != 1 {
		t.Errorf("short stream: %d, %v, closed %d; want 100, ErrUnexpectedEOF, closed", n, err, sr.closed)
	}
	// A stream longer than asked for is cut at n.
	buf.Reset()
	sr = &spanReader{data: data, cut: 5000}
	if n, err := CopyAt(&buf, sr, 0, 1000); n != 1000 || err != nil || !bytes.Equal(buf.Bytes(), data[:1000]) {
		t.Errorf("long stream: %d, %v; want exactly the 1000 bytes", n, err)
	}
	// ReadRange's error comes back as is.
	boom := errors.New("boom")
	if n, err := CopyAt(io.Discard, &spanReader{data: data, fail: boom}, 0, 10); n != 0 || err != boom {
		t.Errorf("failing ReadRange: %d, %v", n, err)
	}
	// n == 0 asks for nothing.
	sr = &spanReader{data: data}
	if n, err := CopyAt(io.Discard, sr, 5, 0); n != 0 || err != nil || len(sr.spans) != 0 {
		t.Errorf("empty span: %d, %v, spans %v", n, err, sr.spans)
	}
}
