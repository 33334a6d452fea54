package media_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/rangeserve/rangeserve/media"
	"github.com/rangeserve/rangeserve/storage/local"
)

// discardWriter is a reusable ResponseWriter that, like net/http's,
// implements io.ReaderFrom, and throws the body away.
type discardWriter struct {
	h    http.Header
	code int
	n    int64
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) WriteHeader(code int)        { w.code = code }
func (w *discardWriter) Write(p []byte) (int, error) { w.n += int64(len(p)); return len(p), nil }
func (w *discardWriter) ReadFrom(r io.Reader) (int64, error) {
	n, err := io.Copy(io.Discard, r)
	w.n += n
	return n, err
}

// BenchmarkServe64KiBRange measures the handler's own cost for the
// request a seeking player makes: a 64 KiB range of a 4 MiB local file with
// If-Range, through storage/local (open, fstat, content type from the
// cache, headers, seek + copy of an io.LimitedReader over the *os.File).
func BenchmarkServe64KiBRange(b *testing.B) {
	dir := b.TempDir()
	data := make([]byte, 4<<20)
	copy(data, readTestdata(b, "video.mp4"))
	if err := os.WriteFile(filepath.Join(dir, "v.mp4"), data, 0o644); err != nil {
		b.Fatal(err)
	}
	lb, err := local.New(local.Options{Root: dir})
	if err != nil {
		b.Fatal(err)
	}
	h := newHandler(b, lb, media.Options{CacheControl: cacheControl})

	// Learn the ETag, as a player does with its first request.
	w0 := httptest.NewRecorder()
	h.ServeHTTP(w0, httptest.NewRequest("HEAD", "/v.mp4", nil))
	etag := w0.Header().Get("Etag")

	reqs := make([]*http.Request, 16)
	for i := range reqs {
		r := httptest.NewRequest("GET", "/v.mp4", nil)
		off := i * 256 << 10
		r.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", off, off+64<<10-1))
		r.Header.Set("If-Range", etag)
		reqs[i] = r
	}
	w := &discardWriter{h: http.Header{}}
	b.SetBytes(64 << 10)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		clear(w.h)
		w.n = 0
		h.ServeHTTP(w, reqs[i%len(reqs)])
		if w.code != 206 || w.n != 64<<10 {
			b.Fatalf("status %d, %d bytes", w.code, w.n)
		}
	}
}
