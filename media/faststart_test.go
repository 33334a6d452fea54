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
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rangeserve/rangeserve/media"
	"github.com/rangeserve/rangeserve/mp4"
	"github.com/rangeserve/rangeserve/storage"
	"github.com/rangeserve/rangeserve/storage/local"
)

// faststartFixture is the moov-at-end fixture and its virtual faststart
// file, built in memory with package mp4 (independently of the handler).
type faststartFixture struct {
	src, virt []byte
	boundary  int64 // end of the in-memory part (ftyp and the new moov)
}

func newFaststartFixture(t testing.TB) faststartFixture {
	t.Helper()
	src := readTestdata(t, "moov-at-end.mp4")
	l, err := mp4.Plan(bytes.NewReader(src), int64(len(src)), mp4.Options{})
	if err != nil {
		t.Fatalf("mp4.Plan: %v", err)
	}
	virt := make([]byte, l.Size)
	if _, err := l.ReadAt(bytes.NewReader(src), virt, 0); err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(virt, src) || string(virt[36:40]) != "moov" {
		t.Fatal("the fixture's virtual file does not start with ftyp, moov")
	}
	return faststartFixture{src: src, virt: virt, boundary: l.Segments[0].Len}
}

// flakyRemote is a remote backend (ReadRange) whose spans fail once
// fail is set, while ReadAt (planning) works.
type flakyRemote struct {
	data  []byte
	etag  string
	spans atomic.Int64
	reads atomic.Int64
	fail  atomic.Bool
}

func (b *flakyRemote) Open(ctx context.Context, key string) (storage.Object, error) {
	return &flakyObject{b: b, key: key}, nil
}

func (b *flakyRemote) Stat(ctx context.Context, key string) (storage.Info, error) {
	return (&flakyObject{b: b, key: key}).Info(), nil
}

type flakyObject struct {
	b   *flakyRemote
	key string
}

func (o *flakyObject) Info() storage.Info {
	return storage.Info{Key: o.key, Size: int64(len(o.b.data)), ETag: o.b.etag, ModTime: modTime}
}

func (o *flakyObject) ReadAt(p []byte, off int64) (int, error) {
	o.b.reads.Add(1)
	return bytes.NewReader(o.b.data).ReadAt(p, off)
}

func (o *flakyObject) ReadRange(off, n int64) (io.ReadCloser, error) {
	o.b.spans.Add(1)
	if o.b.fail.Load() {
		return nil, fmt.Errorf("fake: %w", storage.ErrUnavailable)
	}
	return io.NopCloser(bytes.NewReader(o.b.data[off : off+n])), nil
}

func (o *flakyObject) Close() error { return nil }

// TestFaststartConformance runs the Range, multi-range, If-Range and
// conditional cases of TestServe against the virtual file of the
// moov-at-end fixture, for GET and HEAD, on every kind of backend (ReadAt,
// a local file with sendfile, storage/local, a store that streams spans),
// and compares every body byte for byte with the virtual file built in
// memory. ?original=1 gets the stored bytes under the stored ETag.
func TestFaststartConformance(t *testing.T) {
	fx := newFaststartFixture(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "clip.mp4"), fx.src, 0o644); err != nil {
		t.Fatal(err)
	}
	lb, err := local.New(local.Options{Root: dir})
	if err != nil {
		t.Fatal(err)
	}
	mem := newMem()
	mem.put("clip.mp4", &entry{data: fx.src, etag: `"m1"`, mod: modTime})
	backends := []struct {
		name string
		b    storage.Backend
	}{
		{"readat", mem},
		{"filer", fileBackend{dir: dir}},
		{"storage/local", lb},
		{"remote", &flakyRemote{data: fx.src, etag: `"r1"`}},
	}
	vsize, B := int64(len(fx.virt)), fx.boundary
	vlen := strconv.FormatInt(vsize, 10)
	tiny := func(n, step int) string {
		var s strings.Builder
		s.WriteString("bytes=")
		for i := range n {
			if i > 0 {
				s.WriteByte(',')
			}
			fmt.Fprintf(&s, "%d-%d", i*step, i*step)
		}
		return s.String()
	}
	whole := &span{0, vsize}
	for _, be := range backends {
		info, err := be.b.Stat(context.Background(), "clip.mp4")
		if err != nil {
			t.Fatal(err)
		}
		srcTag := info.ETag
		vtag := mp4.VirtualETag(srcTag)
		lm := media.HTTPDate(info.ModTime)
		before := info.ModTime.Add(-time.Hour).Format(http.TimeFormat)
		h := newHandler(t, be.b, media.Options{})
		tests := []struct {
			name, query string
			req         map[string]string
			status      int
			crange      string // Content-Range of a single part
			body        *span  // of the virtual file (of the source with original)
			parts       []span
		}{
			{name: "plain", status: 200, body: whole},
			{name: "range first 100 (in memory)", req: map[string]string{"Range": "bytes=0-99"}, status: 206, crange: "bytes 0-99/" + vlen, body: &span{0, 100}},
			{name: "range across moov and mdat", req: map[string]string{"Range": fmt.Sprintf("bytes=%d-%d", B-50, B+49)}, status: 206,
				crange: fmt.Sprintf("bytes %d-%d/%s", B-50, B+49, vlen), body: &span{B - 50, B + 50}},
			{name: "range in mdat", req: map[string]string{"Range": "bytes=10000-10999"}, status: 206, crange: "bytes 10000-10999/" + vlen, body: &span{10000, 11000}},
			{name: "range suffix", req: map[string]string{"Range": "bytes=-100"}, status: 206,
				crange: fmt.Sprintf("bytes %d-%d/%d", vsize-100, vsize-1, vsize), body: &span{vsize - 100, vsize}},
			{name: "range open end", req: map[string]string{"Range": "bytes=1000-"}, status: 206,
				crange: fmt.Sprintf("bytes 1000-%d/%d", vsize-1, vsize), body: &span{1000, vsize}},
			{name: "range last clamped", req: map[string]string{"Range": "bytes=100-99999999"}, status: 206,
				crange: fmt.Sprintf("bytes 100-%d/%d", vsize-1, vsize), body: &span{100, vsize}},
			{name: "range unsatisfiable", req: map[string]string{"Range": fmt.Sprintf("bytes=%d-", vsize)}, status: 416, crange: "bytes */" + vlen},
			{name: "range malformed", req: map[string]string{"Range": "bytes=abc"}, status: 200, body: whole},
			{name: "range other unit", req: map[string]string{"Range": "items=0-9"}, status: 200, body: whole},
			{name: "range reversed", req: map[string]string{"Range": "bytes=9-0"}, status: 200, body: whole},
			{name: "multi range", req: map[string]string{"Range": fmt.Sprintf("bytes=0-9,%d-%d,-5", B-5, B+4)}, status: 206,
				parts: []span{{0, 10}, {B - 5, B + 5}, {vsize - 5, vsize}}},
			{name: "multi range in request order", req: map[string]string{"Range": "bytes=-5,20-29,0-9,25-34"}, status: 206,
				parts: []span{{vsize - 5, vsize}, {20, 35}, {0, 10}}},
			{name: "multi range coalesced to one", req: map[string]string{"Range": "bytes=0-9,10-19,5-14"}, status: 206, crange: "bytes 0-19/" + vlen, body: &span{0, 20}},
			{name: "1000 tiny ranges with gaps", req: map[string]string{"Range": tiny(1000, 2)}, status: 200, body: whole},
			{name: "1000 adjacent tiny ranges", req: map[string]string{"Range": tiny(1000, 1)}, status: 206, crange: "bytes 0-999/" + vlen, body: &span{0, 1000}},
			{name: "too many specs", req: map[string]string{"Range": tiny(1100, 1)}, status: 200, body: whole},
			{name: "if-none-match virtual", req: map[string]string{"If-None-Match": vtag}, status: 304},
			{name: "if-none-match weak virtual", req: map[string]string{"If-None-Match": "W/" + vtag}, status: 304},
			{name: "if-none-match star", req: map[string]string{"If-None-Match": "*"}, status: 304},
			{name: "if-none-match of the stored file is another representation", req: map[string]string{"If-None-Match": srcTag}, status: 200, body: whole},
			{name: "if-none-match beats range", req: map[string]string{"If-None-Match": vtag, "Range": "bytes=0-1"}, status: 304},
			{name: "if-match virtual", req: map[string]string{"If-Match": vtag}, status: 200, body: whole},
			{name: "if-match of the stored file fails", req: map[string]string{"If-Match": srcTag}, status: 412},
			{name: "if-unmodified-since fails", req: map[string]string{"If-Unmodified-Since": before}, status: 412},
			{name: "if-modified-since equal", req: map[string]string{"If-Modified-Since": lm}, status: 304},
			{name: "if-range virtual", req: map[string]string{"Range": "bytes=0-99", "If-Range": vtag}, status: 206, crange: "bytes 0-99/" + vlen, body: &span{0, 100}},
			{name: "if-range of the stored file: whole virtual file", req: map[string]string{"Range": "bytes=0-99", "If-Range": srcTag}, status: 200, body: whole},
			{name: "if-range weak", req: map[string]string{"Range": "bytes=0-99", "If-Range": "W/" + vtag}, status: 200, body: whole},
			{name: "if-range date", req: map[string]string{"Range": "bytes=0-99", "If-Range": lm}, status: 206, crange: "bytes 0-99/" + vlen, body: &span{0, 100}},
			{name: "if-range date mismatch", req: map[string]string{"Range": "bytes=0-99", "If-Range": before}, status: 200, body: whole},
			{name: "if-range multi", req: map[string]string{"Range": fmt.Sprintf("bytes=0-9,%d-%d", B, B+9), "If-Range": vtag}, status: 206,
				parts: []span{{0, 10}, {B, B + 10}}},

			{name: "original", query: "original=1", status: 200, body: &span{0, int64(len(fx.src))}},
			{name: "original range", query: "original=1", req: map[string]string{"Range": "bytes=0-99"}, status: 206,
				crange: fmt.Sprintf("bytes 0-99/%d", len(fx.src)), body: &span{0, 100}},
			{name: "original if-range virtual: whole stored file", query: "original=true", req: map[string]string{"Range": "bytes=0-99", "If-Range": vtag}, status: 200,
				body: &span{0, int64(len(fx.src))}},
			{name: "original=0 is virtual", query: "original=0", status: 200, body: whole},
		}
		for _, tt := range tests {
			for _, method := range []string{"GET", "HEAD"} {
				name := be.name + " " + method + " " + tt.name
				w := serve(h, method, target("clip.mp4", tt.query), tt.req)
				res := w.Result()
				if res.StatusCode != tt.status {
					t.Fatalf("%s: status = %d, want %d (body %.80q)", name, res.StatusCode, tt.status, w.Body.String())
				}
				data, etag := fx.virt, vtag
				if strings.HasPrefix(tt.query, "original=1") || strings.HasPrefix(tt.query, "original=true") {
					data, etag = fx.src, srcTag
				}
				want := map[string]string{"Content-Range": absent}
				if tt.crange != "" {
					want["Content-Range"] = tt.crange
				}
				if tt.status < 300 || tt.status == 304 {
					want["Etag"] = etag
					want["Last-Modified"] = lm
				}
				if tt.status < 300 {
					want["Accept-Ranges"] = "bytes"
					want["Content-Type"] = "video/mp4"
					if tt.parts != nil {
						want["Content-Type"] = "multipart/byteranges; boundary=*"
					}
				}
				if tt.body != nil {
					want["Content-Length"] = strconv.FormatInt(tt.body.end-tt.body.start, 10)
				}
				checkHeaders(t, name, res.Header, want)
				body := w.Body.Bytes()
				switch {
				case method == "HEAD":
					if len(body) != 0 {
						t.Errorf("%s: body of %d bytes", name, len(body))
					}
				case tt.parts != nil:
					checkMultipart(t, res.Header.Get("Content-Type"), body, data, tt.parts, "video/mp4")
				case tt.body != nil:
					if want := data[tt.body.start:tt.body.end]; !bytes.Equal(body, want) {
						t.Errorf("%s: body %d bytes sha256 %s, want [%d,%d) sha256 %s", name, len(body), sum(body), tt.body.start, tt.body.end, sum(want))
					}
				}
			}
		}
	}
}

// TestFaststartSendfile: on a local file the media data of the virtual
// file still reaches the ResponseWriter's ReadFrom as an io.LimitedReader
// over the *os.File (sendfile); the in-memory moov is written.
func TestFaststartSendfile(t *testing.T) {
	fx := newFaststartFixture(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "clip.mp4"), fx.src, 0o644); err != nil {
		t.Fatal(err)
	}
	lb, err := local.New(local.Options{Root: dir})
	if err != nil {
		t.Fatal(err)
	}
	B, vsize := fx.boundary, int64(len(fx.virt))
	for name, h := range map[string]http.Handler{
		"fake filer":    newHandler(t, fileBackend{dir: dir}, media.Options{}),
		"storage/local": newHandler(t, lb, media.Options{}),
	} {
		for _, tt := range []struct {
			rng        string
			start, end int64
			files      int // ReadFrom calls with the file
		}{
			{"", 0, vsize, 1},
			{"bytes=0-99", 0, 100, 0},
			{fmt.Sprintf("bytes=%d-%d", B-10, B+9), B - 10, B + 10, 1},
			{"bytes=-10", vsize - 10, vsize, 1},
		} {
			for range 2 { // a fresh file, then again (the file offset is not assumed)
				w := &readFromRecorder{ResponseRecorder: httptest.NewRecorder()}
				r := httptest.NewRequest("GET", "/clip.mp4", nil)
				if tt.rng != "" {
					r.Header.Set("Range", tt.rng)
				}
				h.ServeHTTP(w, r)
				if got := w.Body.Bytes(); !bytes.Equal(got, fx.virt[tt.start:tt.end]) {
					t.Fatalf("%s range=%q: status %d, body %d bytes sha256 %s, want [%d,%d)", name, tt.rng, w.Code, len(got), sum(got), tt.start, tt.end)
				}
				if len(w.sources) != tt.files || (tt.files == 1 && (!w.files[0] || w.sources[0] != "*io.LimitedReader")) {
					t.Errorf("%s range=%q: ReadFrom sources %v (file %v), want %d *io.LimitedReader over *os.File", name, tt.rng, w.sources, w.files, tt.files)
				}
			}
		}
	}
}

// TestFaststartRemoteSpans: on a store that streams spans, a response asks
// for one span per source range it covers (the in-memory part costs none),
// the span of a single range is requested before the status line (a store
// that fails gets 502, not a cut transfer), and planning happens once per
// object version.
func TestFaststartRemoteSpans(t *testing.T) {
	fx := newFaststartFixture(t)
	B, vsize := fx.boundary, int64(len(fx.virt))
	b := &flakyRemote{data: fx.src, etag: `"r1"`}
	h := newHandler(t, b, media.Options{})
	for _, tt := range []struct {
		rng   string
		spans int64
	}{
		{"", 1},
		{"bytes=0-99", 0},
		{fmt.Sprintf("bytes=%d-%d", B-10, B+9), 1},
		{fmt.Sprintf("bytes=0-9,%d-%d,%d-%d,-5", B+100, B+199, B+1000, B+1099), 3},
	} {
		b.spans.Store(0)
		w := serve(h, "GET", "/clip.mp4", map[string]string{"Range": tt.rng})
		if w.Code != 200 && w.Code != 206 {
			t.Fatalf("range=%q: status %d", tt.rng, w.Code)
		}
		if tt.rng == "" && !bytes.Equal(w.Body.Bytes(), fx.virt) {
			t.Fatalf("body differs from the virtual file")
		}
		if got := b.spans.Load(); got != tt.spans {
			t.Errorf("range=%q: %d ReadRange calls, want %d", tt.rng, got, tt.spans)
		}
	}
	if reads := b.reads.Load(); reads > 6 {
		t.Errorf("%d ReadAt calls over 4 requests: planning (and sniffing) should happen once", reads)
	}
	b.fail.Store(true)
	for _, rng := range []string{"", fmt.Sprintf("bytes=%d-", B+5)} {
		w := serve(h, "GET", "/clip.mp4", map[string]string{"Range": rng})
		if w.Code != 502 || w.Header().Get("Etag") != "" {
			t.Errorf("store failing, range=%q: status %d, ETag %q; want 502 without validators", rng, w.Code, w.Header().Get("Etag"))
		}
	}
	_ = vsize
}

// TestFaststartCache: the plan is made once per object version; later
// requests (HEAD, 304, ranges in the moov) read nothing; a new version is
// planned afresh; a moov over a quarter of the cache is served as stored.
func TestFaststartCache(t *testing.T) {
	fx := newFaststartFixture(t)
	b := newMem()
	b.put("clip.mp4", &entry{data: fx.src, etag: `"a"`, mod: modTime, ctype: "video/mp4"})
	h := newHandler(t, b, media.Options{})
	w := serve(h, "HEAD", "/clip.mp4", nil)
	if w.Code != 200 || w.Header().Get("Etag") != `"a-fs1"` || w.Header().Get("Content-Length") != strconv.Itoa(len(fx.virt)) {
		t.Fatalf("HEAD: %d %v", w.Code, w.Header())
	}
	if r := b.reads.Load(); r != 3 {
		t.Errorf("planning took %d reads, want 3 (head, moov header, moov)", r)
	}
	b.reads.Store(0)
	for _, hdr := range []map[string]string{nil, {"If-None-Match": `"a-fs1"`}, {"Range": "bytes=0-99"}} {
		if w := serve(h, "GET", "/clip.mp4", hdr); hdr != nil && w.Code != 304 && w.Code != 206 {
			t.Fatalf("%v: status %d", hdr, w.Code)
		}
		serve(h, "HEAD", "/clip.mp4", nil)
	}
	// One ReadAt for the whole GET's media data, none for the rest.
	if r := b.reads.Load(); r > int64(len(fx.src))/(32<<10)+2 {
		t.Errorf("requests after the first read %d times", r)
	}
	b.put("clip.mp4", &entry{data: fx.src, etag: `"b"`, mod: modTime, ctype: "video/mp4"})
	b.reads.Store(0)
	if w := serve(h, "HEAD", "/clip.mp4", nil); w.Header().Get("Etag") != `"b-fs1"` || b.reads.Load() != 3 {
		t.Errorf("new version: ETag %q after %d reads, want \"b-fs1\" after 3", w.Header().Get("Etag"), b.reads.Load())
	}

	small := newHandler(t, b, media.Options{FaststartCacheSize: 4 * 1024})
	if w := serve(small, "GET", "/clip.mp4", nil); w.Header().Get("Etag") != `"b"` || !bytes.Equal(w.Body.Bytes(), fx.src) {
		t.Errorf("moov over a quarter of the cache: ETag %q, want the stored file as stored", w.Header().Get("Etag"))
	}
}

// TestFaststartUnchanged: files that need no rewrite, or must not get
// one, are served as stored under their own ETag.
func TestFaststartUnchanged(t *testing.T) {
	fx := newFaststartFixture(t)
	video := readTestdata(t, "video.mp4")
	b := newMem()
	b.put("fast.mp4", &entry{data: video, etag: `"f"`, mod: modTime})
	b.put("clip.mp4", &entry{data: fx.src, etag: `"c"`, mod: modTime})
	b.put("noetag.mp4", &entry{data: fx.src, mod: modTime})
	b.put("truncated.mp4", &entry{data: fx.src[:len(fx.src)-100], etag: `"t"`, mod: modTime})
	b.put("clip.bin", &entry{data: fx.src, etag: `"x"`, mod: modTime, ctype: "application/x-thing"})
	on := newHandler(t, b, media.Options{})
	off := newHandler(t, b, media.Options{Faststart: media.FaststartOff})
	for _, tt := range []struct {
		h    http.Handler
		key  string
		data []byte
		etag string
	}{
		{on, "fast.mp4", video, `"f"`},
		{on, "noetag.mp4", fx.src, ""},
		{on, "truncated.mp4", fx.src[:len(fx.src)-100], `"t"`},
		{on, "clip.bin", fx.src, `"x"`},
		{off, "clip.mp4", fx.src, `"c"`},
		{on, "clip.mp4", fx.virt, `"c-fs1"`},
	} {
		w := serve(tt.h, "GET", "/"+tt.key, nil)
		if w.Code != 200 || w.Header().Get("Etag") != tt.etag || !bytes.Equal(w.Body.Bytes(), tt.data) {
			t.Errorf("%s: status %d, ETag %q, body sha256 %s; want 200, %q, %s", tt.key, w.Code, w.Header().Get("Etag"), sum(w.Body.Bytes()), tt.etag, sum(tt.data))
		}
	}
}

func TestFaststartOptions(t *testing.T) {
	b := &delegatingBackend{memBackend: newMem()}
	for _, tt := range []struct {
		opts media.Options
		ok   bool
	}{
		{media.Options{}, true},
		{media.Options{Faststart: "on"}, true},
		{media.Options{Faststart: "off"}, true},
		{media.Options{Faststart: "yes"}, false},
		{media.Options{Faststart: "on", Mode: media.ModeXAccel, InternalPrefix: "/_p"}, true},
		{media.Options{Faststart: "on", Mode: media.ModeXSendfile}, true},
		{media.Options{Faststart: "on", Mode: media.ModeRedirect}, false},
		{media.Options{Mode: media.ModeRedirect}, true},
		{media.Options{FaststartCacheSize: -1}, false},
	} {
		if _, err := media.New(b, tt.opts); (err == nil) != tt.ok {
			t.Errorf("New(%+v): err = %v, want ok %v", tt.opts, err, tt.ok)
		}
	}
}

// TestFaststartDelegation: in x-accel and x-sendfile modes nginx (or
// another proxy) can only send the stored bytes. By default such a mount
// delegates every file unchanged; with Faststart "on" it serves the
// virtual file itself for files that need one and delegates the rest,
// remembering which is which per version.
func TestFaststartDelegation(t *testing.T) {
	fx := newFaststartFixture(t)
	mem := newMem()
	mem.put("clip.mp4", &entry{data: fx.src, etag: `"c"`, mod: modTime})
	mem.put("fast.mp4", &entry{data: readTestdata(t, "video.mp4"), etag: `"f"`, mod: modTime})
	mem.put("notes.txt", &entry{data: []byte("hello"), etag: `"n"`, mod: modTime})
	mem.put("noext", &entry{data: bytes.Repeat([]byte("plain text "), 10), etag: `"x"`, mod: modTime})
	b := &delegatingBackend{memBackend: mem}
	accel := media.Options{Mode: media.ModeXAccel, InternalPrefix: "/_p"}
	on := accel
	on.Faststart = media.FaststartOn
	sendfileOn := media.Options{Mode: media.ModeXSendfile, Faststart: media.FaststartOn}
	for _, tt := range []struct {
		name     string
		opts     media.Options
		tgt      string
		rng      string
		status   int
		redirect string // X-Accel-Redirect or X-Sendfile; "" for none
		body     []byte
	}{
		{"x-accel default delegates", accel, "/clip.mp4", "", 200, "/_p/clip.mp4", nil},
		{"x-accel on serves the virtual file", on, "/clip.mp4", "", 200, "", fx.virt},
		{"x-accel on serves a range of it", on, "/clip.mp4", "bytes=0-99", 206, "", fx.virt[:100]},
		{"x-accel on: ?original=1 delegates", on, "/clip.mp4?original=1", "", 200, "/_p/clip.mp4", nil},
		{"x-accel on: faststart file delegated", on, "/fast.mp4", "", 200, "/_p/fast.mp4", nil},
		{"x-accel on: other types delegated", on, "/notes.txt", "", 200, "/_p/notes.txt", nil},
		{"x-accel on: sniffed types delegated", on, "/noext", "", 200, "/_p/noext", nil},
		{"x-sendfile on serves the virtual file", sendfileOn, "/clip.mp4", "", 200, "", fx.virt},
		{"x-sendfile on: faststart file delegated", sendfileOn, "/fast.mp4", "", 200, "/srv/media/fast.mp4", nil},
	} {
		h := newHandler(t, b, tt.opts)
		for round := range 2 { // the second time from the cache
			mem.reads.Store(0)
			w := serve(h, "GET", tt.tgt, map[string]string{"Range": tt.rng})
			got := w.Header().Get("X-Accel-Redirect") + w.Header().Get("X-Sendfile")
			if w.Code != tt.status || got != tt.redirect || (tt.body != nil && !bytes.Equal(w.Body.Bytes(), tt.body)) {
				t.Errorf("%s (round %d): status %d, delegated to %q, body %d bytes; want %d, %q, %d bytes",
					tt.name, round, w.Code, got, w.Body.Len(), tt.status, tt.redirect, len(tt.body))
			}
			if tt.body != nil && w.Header().Get("Etag") != `"c-fs1"` {
				t.Errorf("%s: ETag %q", tt.name, w.Header().Get("Etag"))
			}
			if round == 1 && tt.redirect != "" && mem.reads.Load() != 0 {
				t.Errorf("%s: a known faststart file was read again (%d reads) before delegating", tt.name, mem.reads.Load())
			}
		}
	}
}

var _ = errors.New

// TestFaststartOutcome: a virtual file is reported as StrategyFaststart,
// the stored file (?original=1, or a file that needs no rewrite) as
// StrategyServe, and a delegated one as delegated.
func TestFaststartOutcome(t *testing.T) {
	fx := newFaststartFixture(t)
	mem := newMem()
	mem.put("clip.mp4", &entry{data: fx.src, etag: `"c"`, mod: modTime})
	mem.put("fast.mp4", &entry{data: readTestdata(t, "video.mp4"), etag: `"f"`, mod: modTime})
	serveH := newHandler(t, mem, media.Options{})
	accelOn := newHandler(t, mem, media.Options{Mode: media.ModeXAccel, InternalPrefix: "/_p", Faststart: media.FaststartOn})
	for _, tt := range []struct {
		name string
		h    *media.Handler
		tgt  string
		want media.Strategy
	}{
		{"virtual", serveH, "/clip.mp4", media.StrategyFaststart},
		{"original", serveH, "/clip.mp4?original=1", media.StrategyServe},
		{"already faststart", serveH, "/fast.mp4", media.StrategyServe},
		{"x-accel on, virtual", accelOn, "/clip.mp4", media.StrategyFaststart},
		{"x-accel on, delegated", accelOn, "/fast.mp4", media.StrategyXAccel},
	} {
		var o media.Outcome
		r := httptest.NewRequestWithContext(media.WithOutcome(context.Background(), &o), "GET", tt.tgt, nil)
		tt.h.ServeHTTP(httptest.NewRecorder(), r)
		if o.Strategy != tt.want {
			t.Errorf("%s: Strategy %q, want %q", tt.name, o.Strategy, tt.want)
		}
	}
}
