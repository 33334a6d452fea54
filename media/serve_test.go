package media_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rangeserve/rangeserve/media"
	"github.com/rangeserve/rangeserve/storage"
	"github.com/rangeserve/rangeserve/storage/local"
)

func TestMethodNotAllowed(t *testing.T) {
	b, _ := fixture(t)
	h := newHandler(t, b, media.Options{})
	for _, m := range []string{"POST", "PUT", "DELETE", "PATCH", "OPTIONS", "PROPFIND"} {
		w := serve(h, m, "/video.mp4", nil)
		if w.Code != 405 || w.Header().Get("Allow") != "GET, HEAD" || w.Body.String() != "405 method not allowed\n" {
			t.Errorf("%s: status = %d, Allow = %q, body %q; want 405, \"GET, HEAD\", short body", m, w.Code, w.Header().Get("Allow"), w.Body.String())
		}
		// ServeKey checks the method too.
		r := httptest.NewRequest(m, "/x", nil)
		w = httptest.NewRecorder()
		h.ServeKey(w, r, "video.mp4")
		if w.Code != 405 {
			t.Errorf("ServeKey %s: status = %d, want 405", m, w.Code)
		}
	}
	if b.reads.Load() != 0 {
		t.Errorf("405 read the object %d times", b.reads.Load())
	}
}

// TestNoReads proves that 304, 412, 416 and HEAD never read object data:
// the object panics on any ReadAt (its Info carries a content type, so no
// sniffing is needed either). Faststart is off: with it an MP4 is read
// once per version to plan it (TestFaststartCache shows that the requests
// after the first read nothing either).
func TestNoReads(t *testing.T) {
	b := newMem()
	b.put("p.mp4", &entry{data: make([]byte, 5000), etag: `"p"`, mod: modTime, ctype: "video/mp4", panicOnRead: true})
	h := newHandler(t, b, media.Options{Faststart: media.FaststartOff})
	tests := []struct {
		method string
		hdr    map[string]string
		status int
	}{
		{"GET", map[string]string{"If-None-Match": `"p"`}, 304},
		{"GET", map[string]string{"If-Modified-Since": lastMod}, 304},
		{"GET", map[string]string{"If-Match": `"q"`}, 412},
		{"GET", map[string]string{"If-Unmodified-Since": modTime.Add(-time.Hour).Format(http.TimeFormat)}, 412},
		{"GET", map[string]string{"Range": "bytes=9000-"}, 416},
		{"HEAD", nil, 200},
		{"HEAD", map[string]string{"Range": "bytes=0-99"}, 206},
		{"HEAD", map[string]string{"Range": "bytes=0-9,20-29"}, 206},
		{"HEAD", map[string]string{"If-None-Match": `"p"`}, 304},
	}
	for _, tt := range tests {
		w := serve(h, tt.method, "/p.mp4", tt.hdr)
		if w.Code != tt.status {
			t.Errorf("%s %v: status = %d, want %d", tt.method, tt.hdr, w.Code, tt.status)
		}
	}
}

// TestContentTypeCache proves that the head of an object is read once per
// version to detect its type: a hot small-range request does not pay for
// it again, and a new ETag is detected afresh.
func TestContentTypeCache(t *testing.T) {
	video := readTestdata(t, "video.mp4")
	png := readTestdata(t, "image.png")
	b := newMem()
	b.put("x", &entry{data: video, etag: `"1"`, mod: modTime})
	// Faststart off: it would read an MP4's boxes once per version too.
	h := newHandler(t, b, media.Options{Faststart: media.FaststartOff})
	get := func(wantType string, wantReads int64) {
		t.Helper()
		b.reads.Store(0)
		b.bytes.Store(0)
		w := serve(h, "GET", "/x", map[string]string{"Range": "bytes=100-101"})
		if w.Code != 206 || w.Header().Get("Content-Type") != wantType {
			t.Fatalf("status %d, Content-Type %q; want 206, %q", w.Code, w.Header().Get("Content-Type"), wantType)
		}
		if got := b.reads.Load(); got != wantReads {
			t.Errorf("ReadAt calls = %d (%d bytes), want %d", got, b.bytes.Load(), wantReads)
		}
	}
	get("video/mp4", 2) // head + the range
	get("video/mp4", 1) // the range only
	get("video/mp4", 1)
	b.put("x", &entry{data: png, etag: `"2"`, mod: modTime})
	get("image/png", 2)
	get("image/png", 1)

	// HEAD reads at most the sniffed head, never the body.
	b.put("big", &entry{data: bytes.Repeat(video, 4), etag: `"b"`, mod: modTime})
	b.bytes.Store(0)
	for range 3 {
		if w := serve(h, "HEAD", "/big", nil); w.Code != 200 || w.Header().Get("Content-Type") != "video/mp4" {
			t.Fatalf("HEAD: %d %q", w.Code, w.Header().Get("Content-Type"))
		}
	}
	if got := b.bytes.Load(); got > 262 {
		t.Errorf("three HEADs read %d bytes, want at most 262 (one sniff)", got)
	}
}

// readFromRecorder is a ResponseWriter that, like net/http's, implements
// io.ReaderFrom; it records the concrete type of every source it is given.
type readFromRecorder struct {
	*httptest.ResponseRecorder
	sources []string
	files   []bool // whether the source was (a LimitedReader over) an *os.File
}

func (w *readFromRecorder) ReadFrom(src io.Reader) (int64, error) {
	w.sources = append(w.sources, reflect.TypeOf(src).String())
	isFile := false
	switch s := src.(type) {
	case *os.File:
		isFile = true
	case *io.LimitedReader:
		_, isFile = s.R.(*os.File)
	}
	w.files = append(w.files, isFile)
	return io.Copy(struct{ io.Writer }{w.ResponseRecorder}, src)
}

// TestSendfilePath proves that whole-file and single-range bodies of a
// local file reach the ResponseWriter's ReadFrom as an io.LimitedReader
// over the *os.File itself, the only shape net/http turns into sendfile(2).
func TestSendfilePath(t *testing.T) {
	dir := t.TempDir()
	video := readTestdata(t, "video.mp4")
	if err := os.WriteFile(filepath.Join(dir, "v.mp4"), video, 0o644); err != nil {
		t.Fatal(err)
	}
	lb, err := local.New(local.Options{Root: dir})
	if err != nil {
		t.Fatal(err)
	}
	backends := map[string]interface {
		http.Handler
	}{
		"fake filer":    newHandler(t, fileBackend{dir: dir}, media.Options{}),
		"storage/local": newHandler(t, lb, media.Options{}),
	}
	tests := []struct {
		rng        string
		status     int
		start, end int
		wantFile   bool
	}{
		{"", 200, 0, len(video), true},
		{"bytes=1000-1999", 206, 1000, 2000, true},
		{"bytes=-10", 206, len(video) - 10, len(video), true},
		{"bytes=0-0,10-19", 206, 0, 0, false}, // multipart: written part by part
	}
	for name, h := range backends {
		for _, tt := range tests {
			for _, method := range []string{"GET", "HEAD"} {
				w := &readFromRecorder{ResponseRecorder: httptest.NewRecorder()}
				r := httptest.NewRequest(method, "/v.mp4", nil)
				if tt.rng != "" {
					r.Header.Set("Range", tt.rng)
				}
				h.ServeHTTP(w, r)
				if w.Code != tt.status {
					t.Fatalf("%s %s range=%q: status = %d, want %d", name, method, tt.rng, w.Code, tt.status)
				}
				if method == "HEAD" || !tt.wantFile {
					if len(w.sources) != 0 {
						t.Errorf("%s %s range=%q: ReadFrom called with %v, want no call", name, method, tt.rng, w.sources)
					}
					continue
				}
				if len(w.sources) != 1 || !w.files[0] || w.sources[0] != "*io.LimitedReader" {
					t.Errorf("%s range=%q: ReadFrom sources = %v (file %v), want one *io.LimitedReader over *os.File", name, tt.rng, w.sources, w.files)
				}
				if got, want := w.Body.Bytes(), video[tt.start:tt.end]; !bytes.Equal(got, want) {
					t.Errorf("%s range=%q: body %d bytes sha256 %s, want %s", name, tt.rng, len(got), sum(got), sum(want))
				}
			}
		}
	}
}

// TestLocalBackend serves the real fixtures through storage/local over a
// temporary directory, through a real server.
func TestLocalBackend(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"video.mp4":        "video/mp4",
		"video.webm":       "video/webm",
		"audio.mp3":        "audio/mpeg",
		"audio.opus":       "audio/ogg; codecs=opus",
		"image.png":        "image/png",
		"hello.txt":        "text/plain; charset=utf-8",
		"vidéo 𝄞 test.mp4": "video/mp4",
	}
	for name := range files {
		if err := os.WriteFile(filepath.Join(dir, name), readTestdata(t, name), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	lb, err := local.New(local.Options{Root: dir})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(newHandler(t, lb, media.Options{CacheControl: cacheControl}))
	defer srv.Close()
	for name, ctype := range files {
		data := readTestdata(t, name)
		res, err := srv.Client().Get(srv.URL + target(name, ""))
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		etag := res.Header.Get("Etag")
		if res.StatusCode != 200 || res.Header.Get("Content-Type") != ctype || !bytes.Equal(body, data) ||
			!strings.HasPrefix(etag, `"`) || res.Header.Get("Last-Modified") == "" {
			t.Errorf("%s: status %d, Content-Type %q (want %q), ETag %q, Last-Modified %q, body sha256 %s (want %s)",
				name, res.StatusCode, res.Header.Get("Content-Type"), ctype, etag, res.Header.Get("Last-Modified"), sum(body), sum(data))
		}
		// A seek as Chrome does it: Range with If-Range of the ETag seen.
		req, _ := http.NewRequest("GET", srv.URL+target(name, ""), nil)
		req.Header.Set("Range", "bytes=50-")
		req.Header.Set("If-Range", etag)
		res, err = srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ = io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 206 || !bytes.Equal(body, data[50:]) ||
			res.Header.Get("Content-Range") != fmt.Sprintf("bytes 50-%d/%d", len(data)-1, len(data)) {
			t.Errorf("%s: seek: status %d, Content-Range %q, body sha256 %s (want %s)", name, res.StatusCode, res.Header.Get("Content-Range"), sum(body), sum(data[50:]))
		}
	}
	for _, key := range []string{"nope", "../etc/passwd", "%2e%2e/x", ".hidden"} {
		res, err := srv.Client().Get(srv.URL + "/" + key)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 404 || string(body) != "404 not found\n" {
			t.Errorf("%s: status %d body %q, want 404", key, res.StatusCode, body)
		}
	}
}

// TestAbortAfterFirstByte proves that a read error after the headers were
// sent aborts the connection: the client sees an unexpected EOF, never a
// clean end of a body shorter than Content-Length. An error before the
// first byte (while sniffing) is a proper 502.
func TestAbortAfterFirstByte(t *testing.T) {
	video := readTestdata(t, "video.mp4")
	b := newMem()
	b.put("late.mp4", &entry{data: video, etag: `"l"`, mod: modTime, failAfter: 100_000})
	b.put("early.mp4", &entry{data: video, etag: `"e"`, mod: modTime, failAfter: 1})
	srv := httptest.NewServer(newHandler(t, b, media.Options{}))
	defer srv.Close()

	for _, rng := range []string{"", "bytes=50000-", "bytes=0-9,1000-150000", "bytes=0-9,99990-100010"} {
		req, _ := http.NewRequest("GET", srv.URL+"/late.mp4", nil)
		if rng != "" {
			req.Header.Set("Range", rng)
		}
		res, err := srv.Client().Do(req)
		if err != nil {
			// The failure came before net/http flushed the headers: the
			// connection was closed without a response, which is as good.
			t.Logf("range=%q: no response: %v", rng, err)
			continue
		}
		body, err := io.ReadAll(res.Body)
		res.Body.Close()
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("range=%q: status %d, read %d of %s bytes, err = %v; want io.ErrUnexpectedEOF", rng, res.StatusCode, len(body), res.Header.Get("Content-Length"), err)
		}
		if cl, _ := strconv.Atoi(res.Header.Get("Content-Length")); len(body) >= cl {
			t.Errorf("range=%q: read %d bytes of Content-Length %d: the failure was not visible", rng, len(body), cl)
		}
	}

	res, err := srv.Client().Get(srv.URL + "/early.mp4")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 502 || string(body) != "502 bad gateway\n" || res.Header.Get("Etag") != "" {
		t.Errorf("error before the first byte: status %d, ETag %q, body %q; want 502 with a short body", res.StatusCode, res.Header.Get("Etag"), body)
	}
}

// TestStream covers objects of unknown size: streamed without
// Content-Length or ranges (Accept-Ranges: none) on the chunked path when
// the object is an io.Reader, 501 otherwise.
func TestStream(t *testing.T) {
	data := bytes.Repeat([]byte("growing log line\n"), 20000)
	b := newMem()
	b.put("live.txt", &entry{data: data, size: -1, etag: `"g"`, mod: modTime, stream: true})
	b.put("opaque.bin", &entry{data: data, size: -1})
	srv := httptest.NewServer(newHandler(t, b, media.Options{}))
	defer srv.Close()

	for _, method := range []string{"GET", "HEAD"} {
		req, _ := http.NewRequest(method, srv.URL+"/live.txt", nil)
		req.Header.Set("Range", "bytes=0-9")
		res, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		want := data
		if method == "HEAD" {
			want = nil
		}
		if res.StatusCode != 200 || res.ContentLength != -1 || res.Header.Get("Accept-Ranges") != "none" || res.Header.Get("X-Accel-Buffering") != "no" ||
			res.Header.Get("Content-Type") != "text/plain; charset=utf-8" || res.Header.Get("Etag") != `"g"` || !bytes.Equal(body, want) {
			t.Errorf("%s: status %d, length %d, Accept-Ranges %q, Content-Type %q, ETag %q, body %d bytes (want %d)",
				method, res.StatusCode, res.ContentLength, res.Header.Get("Accept-Ranges"), res.Header.Get("Content-Type"), res.Header.Get("Etag"), len(body), len(want))
		}
		if method == "GET" && (len(res.TransferEncoding) != 1 || res.TransferEncoding[0] != "chunked") {
			t.Errorf("GET: Transfer-Encoding %v, want chunked", res.TransferEncoding)
		}
	}
	w := serve(newHandler(t, b, media.Options{}), "GET", "/live.txt", map[string]string{"If-None-Match": `"g"`})
	if w.Code != 304 {
		t.Errorf("conditional GET of a stream: %d, want 304", w.Code)
	}
	w = serve(newHandler(t, b, media.Options{}), "GET", "/opaque.bin", nil)
	if w.Code != 501 || w.Body.String() != "501 not implemented\n" {
		t.Errorf("unstreamable object: %d %q, want 501", w.Code, w.Body.String())
	}
}

// cancelBackend fails every Open with the request context's error.
type cancelBackend struct{ *memBackend }

func (b cancelBackend) Open(ctx context.Context, key string) (storage.Object, error) {
	<-ctx.Done()
	return nil, fmt.Errorf("fake: open %q: %w", key, ctx.Err())
}

// TestClientGone checks that nothing is written when the client has gone
// away (its context is canceled), while a deadline is a 504.
func TestClientGone(t *testing.T) {
	h := newHandler(t, cancelBackend{newMem()}, media.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/x.mp4", nil).WithContext(ctx))
	if w.Body.Len() != 0 || len(w.Header()) != 0 {
		t.Errorf("canceled request: wrote headers %v, body %q; want nothing", w.Header(), w.Body.String())
	}
	ctx, cancel = context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	w = httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/x.mp4", nil).WithContext(ctx))
	if w.Code != 504 || w.Body.String() != "504 gateway timeout\n" {
		t.Errorf("deadline: %d %q, want 504", w.Code, w.Body.String())
	}
}
