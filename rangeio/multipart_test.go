package rangeio

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"mime"
	"mime/multipart"
	"net/textproto"
	"regexp"
	"testing"
)

// stdlibMultipart builds the body net/http's ServeContent would send for
// ranges, with mime/multipart's Writer and the given boundary. Unlike
// net/http, it omits Content-Type when contentType is "".
func stdlibMultipart(t testing.TB, boundary string, ranges []Range, size int64, contentType string, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	if err := mw.SetBoundary(boundary); err != nil {
		t.Fatal(err)
	}
	for _, r := range ranges {
		h := textproto.MIMEHeader{"Content-Range": {r.ContentRange(size)}}
		if contentType != "" {
			h.Set("Content-Type", contentType)
		}
		pw, err := mw.CreatePart(h)
		if err != nil {
			t.Fatal(err)
		}
		pw.Write(data[r.Start:r.End()])
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// checkMultipart writes m for data and checks the body three ways: its
// length against Len, its bytes against mime/multipart's Writer, and its
// parts as read back by mime/multipart's Reader (headers and sha256).
func checkMultipart(t *testing.T, name string, ranges []Range, data []byte, contentType string) {
	t.Helper()
	size := int64(len(data))
	m := NewMultipart(ranges, size, contentType)
	var body bytes.Buffer
	n, err := m.Write(&body, bytes.NewReader(data))
	if err != nil {
		t.Errorf("%s: Write: %v", name, err)
		return
	}
	if n != m.Len() || int64(body.Len()) != n {
		t.Errorf("%s: Len() = %d, Write returned %d, wrote %d bytes; want all equal", name, m.Len(), n, body.Len())
		return
	}

	wantCT := partContentType(contentType)
	if want := stdlibMultipart(t, m.boundary, ranges, size, wantCT, data); !bytes.Equal(body.Bytes(), want) {
		t.Errorf("%s: body differs from mime/multipart's Writer:\n got %q\nwant %q", name, trunc(body.Bytes()), trunc(want))
	}

	mediaType, params, err := mime.ParseMediaType(m.ContentType())
	if err != nil || mediaType != "multipart/byteranges" || params["boundary"] != m.boundary {
		t.Errorf("%s: ContentType() = %q: parsed %q %v, %v", name, m.ContentType(), mediaType, params, err)
		return
	}
	mr := multipart.NewReader(&body, params["boundary"])
	for i, r := range ranges {
		p, err := mr.NextPart()
		if err != nil {
			t.Errorf("%s: part %d: %v", name, i, err)
			return
		}
		if got, want := p.Header.Get("Content-Range"), r.ContentRange(size); got != want {
			t.Errorf("%s: part %d: Content-Range = %q, want %q", name, i, got, want)
		}
		if got := p.Header.Values("Content-Type"); (wantCT == "" && len(got) != 0) || (wantCT != "" && (len(got) != 1 || got[0] != wantCT)) {
			t.Errorf("%s: part %d: Content-Type = %q, want %q", name, i, got, wantCT)
		}
		if len(p.Header) != 1+min(len(wantCT), 1) {
			t.Errorf("%s: part %d: header %v has extra fields", name, i, p.Header)
		}
		got, err := io.ReadAll(p)
		if err != nil {
			t.Errorf("%s: part %d: reading: %v", name, i, err)
			return
		}
		if sha256.Sum256(got) != sha256.Sum256(data[r.Start:r.End()]) {
			t.Errorf("%s: part %d (%v): %d bytes with the wrong sha256", name, i, r, len(got))
		}
	}
	if p, err := mr.NextPart(); err != io.EOF {
		t.Errorf("%s: after %d parts: NextPart() = %v, %v; want io.EOF", name, len(ranges), p, err)
	}
}

func trunc(b []byte) []byte {
	if len(b) > 400 {
		return b[:400]
	}
	return b
}

func TestMultipart(t *testing.T) {
	data := testData(3*copyBufSize + 777)
	size := int64(len(data))
	tests := []struct {
		name        string
		ranges      []Range
		contentType string
	}{
		{"two", []Range{{0, 1}, {size - 1, 1}}, "video/mp4"},
		{"with params", []Range{{0, 100}, {200, 100}}, "text/plain; charset=utf-8"},
		{"no content type", []Range{{0, 100}, {200, 100}}, ""},
		{"CRLF in content type", []Range{{0, 10}, {20, 10}}, "text/html\r\nX-Evil: 1"},
		{"NUL in content type", []Range{{0, 10}, {20, 10}}, "text/html\x00"},
		{"tab in content type", []Range{{0, 10}, {20, 10}}, "text/plain;\tcharset=utf-8"},
		{"blank content type", []Range{{0, 10}, {20, 10}}, " \t "},
		{"padded content type", []Range{{0, 10}, {20, 10}}, " text/plain "},
		{"parts larger than the copy buffer", []Range{{1, copyBufSize + 1}, {2 * copyBufSize, copyBufSize + 777}}, "application/octet-stream"},
		{"one range", []Range{{5, 5}}, "audio/mpeg"},
		{"whole", []Range{{0, size}}, "audio/mpeg"},
		{"no ranges", nil, "audio/mpeg"},
		{"unsorted", []Range{{500, 10}, {0, 10}}, "image/png"},
	}
	for _, tt := range tests {
		checkMultipart(t, tt.name, tt.ranges, data, tt.contentType)
	}
}

// TestMultipartMany checks Len and the body for many random range sets
// built by Parse, across sizes whose digits change the header lengths.
func TestMultipartMany(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	cts := []string{"", "video/mp4", "application/pdf"}
	for _, size := range []int{1, 2, 9, 10, 11, 99, 100, 101, 1000, 4096, 65537, copyBufSize + 1} {
		data := testData(size)
		for range 30 {
			header := "bytes="
			for j := range 1 + rng.IntN(6) {
				if j > 0 {
					header += ","
				}
				a, b := rng.Int64N(int64(size)+2), rng.Int64N(int64(size)+2)
				switch rng.IntN(3) {
				case 0:
					header += fmt.Sprintf("%d-%d", min(a, b), max(a, b))
				case 1:
					header += fmt.Sprintf("%d-", a)
				case 2:
					header += fmt.Sprintf("-%d", a)
				}
			}
			ranges, err := Parse(header, int64(size), 0)
			if err != nil {
				continue
			}
			checkMultipart(t, fmt.Sprintf("size %d %s", size, header), ranges, data, cts[rng.IntN(len(cts))])
		}
	}
}

func TestMultipartContentType(t *testing.T) {
	re := regexp.MustCompile(`^multipart/byteranges; boundary=[0-9a-f]{60}$`)
	a := NewMultipart([]Range{{0, 1}, {2, 1}}, 3, "text/plain")
	b := NewMultipart([]Range{{0, 1}, {2, 1}}, 3, "text/plain")
	if !re.MatchString(a.ContentType()) {
		t.Errorf("ContentType() = %q, want %s", a.ContentType(), re)
	}
	if a.ContentType() == b.ContentType() {
		t.Errorf("two Multiparts share the boundary %q; want random boundaries", a.boundary)
	}
}

func TestMultipartCopiesRanges(t *testing.T) {
	ranges := []Range{{0, 1}, {2, 1}}
	m := NewMultipart(ranges, 3, "")
	ranges[1] = Range{0, 3}
	var body bytes.Buffer
	if n, err := m.Write(&body, bytes.NewReader([]byte("abc"))); err != nil || n != m.Len() {
		t.Fatalf("Write after the caller changed its ranges = %d, %v; want %d, nil", n, err, m.Len())
	}
}

func TestMultipartWriteErrors(t *testing.T) {
	data := testData(1000)
	errWrite := errors.New("client went away")
	tests := []struct {
		name   string
		ranges []Range
		size   int64
		src    io.ReaderAt
		w      io.Writer
		wantN  int64 // -1: anything between 1 and Len()-1
		want   error
	}{
		{"range past size", []Range{{0, 10}, {995, 10}}, 1000, bytes.NewReader(data), new(bytes.Buffer), 0, nil},
		{"negative start", []Range{{-1, 10}, {20, 10}}, 1000, bytes.NewReader(data), new(bytes.Buffer), 0, nil},
		{"empty range", []Range{{0, 0}, {20, 10}}, 1000, bytes.NewReader(data), new(bytes.Buffer), 0, nil},
		{"source shorter than size", []Range{{0, 10}, {1500, 10}}, 2000, bytes.NewReader(data), new(bytes.Buffer), -1, io.ErrUnexpectedEOF},
		{"writer fails", []Range{{0, 500}, {600, 100}}, 1000, bytes.NewReader(data), &failAfterWriter{left: 300, err: errWrite}, -1, errWrite},
	}
	for _, tt := range tests {
		m := NewMultipart(tt.ranges, tt.size, "text/plain")
		n, err := m.Write(tt.w, tt.src)
		if err == nil {
			t.Errorf("%s: Write = %d, nil; want an error", tt.name, n)
			continue
		}
		if tt.want != nil && !errors.Is(err, tt.want) {
			t.Errorf("%s: Write error = %v, want %v", tt.name, err, tt.want)
		}
		if (tt.wantN >= 0 && n != tt.wantN) || (tt.wantN < 0 && (n <= 0 || n >= m.Len())) {
			t.Errorf("%s: Write = %d bytes (Len %d), want %d", tt.name, n, m.Len(), tt.wantN)
		}
		if b, ok := tt.w.(*bytes.Buffer); ok && int64(b.Len()) != n {
			t.Errorf("%s: wrote %d bytes, returned %d", tt.name, b.Len(), n)
		}
	}
}

// maxReaderAt records the largest ReadAt; maxWriter the largest Write.
type maxReaderAt struct {
	r   io.ReaderAt
	max int
}

func (m *maxReaderAt) ReadAt(p []byte, off int64) (int, error) {
	m.max = max(m.max, len(p))
	return m.r.ReadAt(p, off)
}

type maxWriter struct{ n, max int64 }

func (m *maxWriter) Write(p []byte) (int, error) {
	m.max = max(m.max, int64(len(p)))
	m.n += int64(len(p))
	return len(p), nil
}

// TestMultipartStreams checks that parts much larger than the copy buffer
// are read and written in buffer-sized pieces, never whole.
func TestMultipartStreams(t *testing.T) {
	data := testData(8 << 20)
	src := &maxReaderAt{r: bytes.NewReader(data)}
	w := &maxWriter{}
	m := NewMultipart([]Range{{0, 4 << 20}, {5 << 20, 3 << 20}}, int64(len(data)), "video/mp4")
	if n, err := m.Write(w, src); err != nil || n != m.Len() || w.n != n {
		t.Fatalf("Write = %d, %v (writer saw %d); want %d, nil", n, err, w.n, m.Len())
	}
	if src.max > copyBufSize || w.max > copyBufSize {
		t.Errorf("largest ReadAt %d, largest Write %d; want <= %d", src.max, w.max, copyBufSize)
	}
}

func FuzzMultipart(f *testing.F) {
	f.Add(uint16(10000), "bytes=0-0,-1", "video/mp4")
	f.Add(uint16(11), "bytes=1-2,4-5,7-8", "")
	f.Add(uint16(100), "bytes=0-10,20-,-5", "text/plain\r\nX: y")
	f.Add(uint16(1), "bytes=0-0", "a")
	f.Fuzz(func(t *testing.T, size uint16, header, contentType string) {
		ranges, err := Parse(header, int64(size), 0)
		if err != nil || ranges == nil {
			return
		}
		checkMultipart(t, fmt.Sprintf("size %d %q %q", size, header, contentType), ranges, testData(int(size)), contentType)
	})
}

func BenchmarkMultipart(b *testing.B) {
	data := testData(4 << 20)
	src := bytes.NewReader(data)
	ranges, err := Parse("bytes=0-1023,1048576-2097151,-65536", int64(len(data)), 0)
	if err != nil {
		b.Fatal(err)
	}
	m := NewMultipart(ranges, int64(len(data)), "video/mp4")
	b.SetBytes(m.Len())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Write(io.Discard, src); err != nil {
			b.Fatal(err)
		}
	}
}
