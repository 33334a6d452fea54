package s3_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"golang.org/x/sync/errgroup"

	"github.com/rangeserve/rangeserve/internal/testenv"
	"github.com/rangeserve/rangeserve/rangeio"
	"github.com/rangeserve/rangeserve/storage"
	"github.com/rangeserve/rangeserve/storage/s3"
)

const bucket = "media"

// fixture is one MinIO server with the objects the tests read.
type fixture struct {
	m         *testenv.MinIO
	video     []byte // "pre/video.mp4", single PUT
	multi     []byte // "pre/multi.bin", multipart upload in 3 parts
	multiETag string // as minio-go reported it at upload
}

const (
	videoSize = 3<<20 + 12345 // not a multiple of any block size
	multiSize = 11 << 20      // 3 parts of 5 MiB (last one 1 MiB)
	partSize  = 5 << 20
)

func newFixture(t testing.TB) *fixture {
	t.Helper()
	f := &fixture{m: testenv.StartMinIO(t)}
	f.m.MakeBucket(t, bucket)
	rng := rand.New(rand.NewPCG(1, 2))
	f.video = randBytes(rng, videoSize)
	f.multi = randBytes(rng, multiSize)
	f.m.Put(t, bucket, "pre/video.mp4", f.video, "video/mp4")
	f.m.Put(t, bucket, "pre/empty.bin", nil, "")
	f.m.Put(t, bucket, "pre/dir/inside.txt", []byte("inside"), "text/plain")
	info := f.m.PutReader(t, bucket, "pre/multi.bin", bytes.NewReader(f.multi), multiSize,
		minio.PutObjectOptions{PartSize: partSize, ContentType: "application/octet-stream"})
	f.multiETag = info.ETag
	return f
}

func randBytes(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// backend returns a Backend on the fixture's server (or on endpoint, a
// proxy in front of it, when not empty).
func (f *fixture) backend(t testing.TB, endpoint string, opts s3.Options) *s3.Backend {
	t.Helper()
	if endpoint == "" {
		endpoint = f.m.Endpoint
	}
	opts.Endpoint = endpoint
	opts.Bucket = bucket
	opts.AccessKey, opts.SecretKey = f.m.AccessKey, f.m.SecretKey
	opts.PathStyle = true
	opts.DisableTLS = true // MinIO listens on plain http
	if opts.Timeout == 0 {
		opts.Timeout = 5 * time.Second
	}
	if opts.StatTTL == 0 {
		// These tests count requests and replace objects: one HEAD per
		// Open unless a test asks for the cache.
		opts.StatTTL = s3.NoStatCache
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := s3.New(ctx, opts)
	if err != nil {
		t.Fatalf("s3.New(%s): %v", endpoint, err)
	}
	return b
}

func sum(b []byte) string { return fmt.Sprintf("%x", sha256.Sum256(b)) }

func TestBackend(t *testing.T) {
	testenv.Short(t, "starts MinIO")
	f := newFixture(t)
	b := f.backend(t, "", s3.Options{Prefix: "/pre"})
	t.Run("Info", func(t *testing.T) { testInfo(t, f, b) })
	t.Run("Prefix", func(t *testing.T) { testPrefix(t, f) })
	t.Run("ReadAt", func(t *testing.T) { testReadAt(t, f, b) })
	t.Run("PastEOF", func(t *testing.T) { testPastEOF(t, f, b) })
	t.Run("OneGETPerReadAt", func(t *testing.T) { testOneGET(t, f) })
	t.Run("Cancel", func(t *testing.T) { testCancel(t, f) })
	t.Run("Hang", func(t *testing.T) { testHang(t, f) })
	t.Run("NotExist", func(t *testing.T) { testNotExist(t, b) })
	t.Run("Changed", func(t *testing.T) { testChanged(t, f, b) })
	t.Run("Misbehaving", func(t *testing.T) { testMisbehaving(t, f) })
	t.Run("Cache", func(t *testing.T) { testCache(t, f) })
	t.Run("BlockCache", func(t *testing.T) { testBlockCache(t, f) })
	t.Run("Presign", func(t *testing.T) { testPresign(t, f, b) })
	t.Run("NewErrors", func(t *testing.T) { testNewErrors(t, f) })
	t.Run("List", func(t *testing.T) { testList(t, f, b) })
}

func testInfo(t *testing.T, f *fixture, b *s3.Backend) {
	single := regexp.MustCompile(`^"[0-9a-f]{32}"$`)
	multi := regexp.MustCompile(`^"[0-9a-f]{32}-3"$`)
	tests := []struct {
		key      string
		size     int64
		ctype    string
		etag     *regexp.Regexp
		wantETag string // exact, when known
	}{
		{"video.mp4", videoSize, "video/mp4", single, fmt.Sprintf(`"%x"`, md5sum(f.video))},
		{"empty.bin", 0, "", single, `"d41d8cd98f00b204e9800998ecf8427e"`},
		{"dir/inside.txt", 6, "text/plain", single, ""},
		// Uploaded as application/octet-stream: reported as "" so that the
		// HTTP layer sniffs.
		{"multi.bin", multiSize, "", multi, `"` + f.multiETag + `"`},
	}
	for _, tt := range tests {
		ctx := context.Background()
		st, err := b.Stat(ctx, tt.key)
		if err != nil {
			t.Fatalf("Stat(%q): %v", tt.key, err)
		}
		o, err := b.Open(ctx, tt.key)
		if err != nil {
			t.Fatalf("Open(%q): %v", tt.key, err)
		}
		oi := o.Info()
		o.Close()
		if oi != st {
			t.Errorf("key=%q: Open.Info = %+v, Stat = %+v, want equal", tt.key, oi, st)
		}
		if oi.Key != tt.key || oi.Size != tt.size || oi.ContentType != tt.ctype || oi.IsDir {
			t.Errorf("key=%q: Info = {Key %q Size %d ContentType %q IsDir %v}, want {%q %d %q false}",
				tt.key, oi.Key, oi.Size, oi.ContentType, oi.IsDir, tt.key, tt.size, tt.ctype)
		}
		if !tt.etag.MatchString(oi.ETag) {
			t.Errorf("key=%q: ETag = %s, want match for %s", tt.key, oi.ETag, tt.etag)
		}
		if tt.wantETag != "" && oi.ETag != tt.wantETag {
			t.Errorf("key=%q: ETag = %s, want %s", tt.key, oi.ETag, tt.wantETag)
		}
		if d := time.Since(oi.ModTime); d < 0 || d > 10*time.Minute {
			t.Errorf("key=%q: ModTime = %v, want within the last minutes", tt.key, oi.ModTime)
		}
	}
}

func md5sum(b []byte) [16]byte { return md5.Sum(b) }

// testPrefix checks that the configured prefix is cleaned: every spelling
// maps "video.mp4" to "pre/video.mp4".
func testPrefix(t *testing.T, f *fixture) {
	for _, p := range []string{"pre", "/pre", "pre/", "//pre//"} {
		b := f.backend(t, "", s3.Options{Prefix: p})
		info, err := b.Stat(context.Background(), "video.mp4")
		if err != nil || info.Size != videoSize {
			t.Errorf("Prefix=%q: Stat(video.mp4) = %d, %v; want %d, nil", p, info.Size, err, videoSize)
		}
	}
	b := f.backend(t, "", s3.Options{})
	if info, err := b.Stat(context.Background(), "pre/video.mp4"); err != nil || info.Size != videoSize {
		t.Errorf("no prefix: Stat(pre/video.mp4) = %d, %v; want %d, nil", info.Size, err, videoSize)
	}
}

func testReadAt(t *testing.T, f *fixture, b *s3.Backend) {
	type rng struct{ off, n int64 }
	cases := []struct {
		key  string
		data []byte
		rs   []rng
	}{
		{"video.mp4", f.video, []rng{{0, 1}, {0, 64 << 10}, {videoSize - 1, 1}, {videoSize - 100, 100}, {1 << 20, 1 << 20}}},
		// Ranges across the multipart upload's part boundaries.
		{"multi.bin", f.multi, []rng{{partSize - 10, 20}, {2*partSize - 1, 2}, {multiSize - 1, 1}, {0, multiSize}}},
	}
	r := rand.New(rand.NewPCG(3, 4))
	for i := range cases {
		for range 20 {
			size := int64(len(cases[i].data))
			off := r.Int64N(size)
			n := 1 + r.Int64N(min(size-off, 256<<10))
			cases[i].rs = append(cases[i].rs, rng{off, n})
		}
	}
	for _, c := range cases {
		o, err := b.Open(context.Background(), c.key)
		if err != nil {
			t.Fatalf("Open(%q): %v", c.key, err)
		}
		// Concurrently, as players reading two tracks do.
		var g errgroup.Group
		for _, rr := range c.rs {
			g.Go(func() error {
				p := make([]byte, rr.n)
				n, err := o.ReadAt(p, rr.off)
				end := rr.off+rr.n == int64(len(c.data))
				if int64(n) != rr.n || (err != nil && !(end && err == io.EOF)) {
					return fmt.Errorf("%s: ReadAt(%d bytes at %d) = %d, %v; want %d, nil", c.key, rr.n, rr.off, n, err, rr.n)
				}
				if got, want := sum(p), sum(c.data[rr.off:rr.off+rr.n]); got != want {
					return fmt.Errorf("%s: ReadAt(%d bytes at %d): sha256 %s, want %s", c.key, rr.n, rr.off, got, want)
				}
				return nil
			})
		}
		if err := g.Wait(); err != nil {
			t.Error(err)
		}
		o.Close()
	}
}

// testPastEOF checks the io.ReaderAt contract at and beyond the end.
func testPastEOF(t *testing.T, f *fixture, b *s3.Backend) {
	o, err := b.Open(context.Background(), "video.mp4")
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	const size = videoSize
	tests := []struct {
		off     int64
		len     int
		wantN   int
		wantErr error // io.EOF, nil, or errAny
	}{
		{size, 10, 0, io.EOF},
		{size + 5, 10, 0, io.EOF},
		{size - 3, 10, 3, io.EOF},
		{size - 10, 10, 10, io.EOF}, // reaches the end exactly: EOF allowed
		{0, 0, 0, nil},
		{-1, 10, 0, errAny},
	}
	for _, tt := range tests {
		p := make([]byte, tt.len)
		n, err := o.ReadAt(p, tt.off)
		switch {
		case n != tt.wantN:
			t.Errorf("ReadAt(%d bytes at %d) n = %d, want %d", tt.len, tt.off, n, tt.wantN)
		case tt.wantErr == errAny && err == nil:
			t.Errorf("ReadAt(%d bytes at %d) err = nil, want an error", tt.len, tt.off)
		case tt.wantErr != errAny && err != tt.wantErr:
			t.Errorf("ReadAt(%d bytes at %d) err = %v, want %v", tt.len, tt.off, err, tt.wantErr)
		}
		if n > 0 && !bytes.Equal(p[:n], f.video[tt.off:tt.off+int64(n)]) {
			t.Errorf("ReadAt(%d bytes at %d): wrong bytes", tt.len, tt.off)
		}
	}
	// An empty object: EOF at once.
	e, err := b.Open(context.Background(), "empty.bin")
	if err != nil {
		t.Fatal(err)
	}
	if n, err := e.ReadAt(make([]byte, 10), 0); n != 0 || err != io.EOF {
		t.Errorf("empty.bin: ReadAt = %d, %v; want 0, EOF", n, err)
	}
	// A closed object refuses reads.
	e.Close()
	if _, err := e.ReadAt(make([]byte, 1), 0); err == nil {
		t.Errorf("ReadAt after Close: err = nil, want an error")
	}
}

var errAny = errors.New("any error")

// proxy is a reverse proxy in front of MinIO that records every request
// and can delay GET responses.
type proxy struct {
	srv      *httptest.Server
	mu       sync.Mutex
	reqs     []string // "METHOD path range"
	conns    atomic.Int64
	getDelay atomic.Int64 // nanoseconds to wait before forwarding a GET
	// fake, when set, answers GET requests instead of MinIO.
	fake atomic.Pointer[http.HandlerFunc]
}

func newProxy(t *testing.T, target string) *proxy {
	t.Helper()
	u, _ := url.Parse("http://" + target)
	p := &proxy{}
	rp := httputil.NewSingleHostReverseProxy(u)
	p.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.reqs = append(p.reqs, r.Method+" "+r.URL.Path+" "+r.Header.Get("Range"))
		p.mu.Unlock()
		if d := time.Duration(p.getDelay.Load()); d > 0 && r.Method == http.MethodGet {
			select {
			case <-time.After(d):
			case <-r.Context().Done():
				return
			}
		}
		if h := p.fake.Load(); h != nil && r.Method == http.MethodGet {
			(*h)(w, r)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	p.srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			p.conns.Add(1)
		}
	}
	p.srv.Start()
	t.Cleanup(p.srv.Close)
	return p
}

func (p *proxy) endpoint() string { return strings.TrimPrefix(p.srv.URL, "http://") }

// take returns the requests recorded since the last call.
func (p *proxy) take() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := p.reqs
	p.reqs = nil
	return r
}

// testOneGET proves that a ReadAt of 64 KiB is exactly one GET of exactly
// those bytes, never a whole-object GET, and that sequential reads reuse
// one connection.
func testOneGET(t *testing.T, f *fixture) {
	p := newProxy(t, f.m.Endpoint)
	b := f.backend(t, p.endpoint(), s3.Options{Prefix: "pre"})
	o, err := b.Open(context.Background(), "video.mp4")
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	p.take() // the start-up check and the HEAD of Open
	conns0 := p.conns.Load()

	const block = 64 << 10
	buf := make([]byte, block)
	for i := range int64(20) {
		off := 1<<20 + i*block
		if n, err := o.ReadAt(buf, off); n != block || err != nil {
			t.Fatalf("ReadAt(64 KiB at %d) = %d, %v", off, n, err)
		}
		if !bytes.Equal(buf, f.video[off:off+block]) {
			t.Fatalf("ReadAt(64 KiB at %d): wrong bytes", off)
		}
		reqs := p.take()
		want := fmt.Sprintf("GET /%s/pre/video.mp4 bytes=%d-%d", bucket, off, off+block-1)
		if len(reqs) != 1 || reqs[0] != want {
			t.Fatalf("ReadAt(64 KiB at %d): backend requests %q, want exactly [%q]", off, reqs, want)
		}
	}
	// The tail: clipped to the size, still one ranged GET.
	n, err := o.ReadAt(buf, videoSize-1000)
	if n != 1000 || err != io.EOF {
		t.Fatalf("ReadAt(64 KiB at size-1000) = %d, %v; want 1000, EOF", n, err)
	}
	reqs := p.take()
	want := fmt.Sprintf("GET /%s/pre/video.mp4 bytes=%d-%d", bucket, videoSize-1000, videoSize-1)
	if len(reqs) != 1 || reqs[0] != want {
		t.Fatalf("tail ReadAt: backend requests %q, want exactly [%q]", reqs, want)
	}
	if c := p.conns.Load() - conns0; c > 1 {
		t.Errorf("21 sequential ReadAt calls opened %d new connections, want at most 1 (keep-alive)", c)
	}
	t.Logf("21 sequential 64 KiB ReadAt: 21 ranged GETs, %d new connection(s)", p.conns.Load()-conns0)
}

// testCancel cancels Open's context while a ReadAt waits for the store:
// the read must fail at once with context.Canceled, not after the delay.
func testCancel(t *testing.T, f *fixture) {
	p := newProxy(t, f.m.Endpoint)
	b := f.backend(t, p.endpoint(), s3.Options{Prefix: "pre", Timeout: 20 * time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	o, err := b.Open(ctx, "video.mp4")
	if err != nil {
		t.Fatal(err)
	}
	p.getDelay.Store(int64(10 * time.Second))
	defer p.getDelay.Store(0)
	time.AfterFunc(200*time.Millisecond, cancel)
	start := time.Now()
	n, err := o.ReadAt(make([]byte, 64<<10), 0)
	el := time.Since(start)
	if n != 0 || !errors.Is(err, context.Canceled) {
		t.Errorf("ReadAt with ctx cancelled = %d, %v; want 0 and context.Canceled", n, err)
	}
	if errors.Is(err, storage.ErrUnavailable) {
		t.Errorf("ReadAt with ctx cancelled: %v is ErrUnavailable; a client going away is not the store's fault", err)
	}
	if el > 3*time.Second {
		t.Errorf("ReadAt took %v after cancel at 200ms, want well under the 10s delay", el)
	}
}

// testHang points the backend at a server that accepts connections and
// never answers: requests must fail after Options.Timeout with both
// storage.ErrUnavailable and context.DeadlineExceeded.
func testHang(t *testing.T, f *fixture) {
	p := newProxy(t, f.m.Endpoint)
	b := f.backend(t, p.endpoint(), s3.Options{Prefix: "pre", Timeout: time.Second})
	o, err := b.Open(context.Background(), "video.mp4")
	if err != nil {
		t.Fatal(err)
	}
	p.getDelay.Store(int64(30 * time.Second))
	defer p.getDelay.Store(0)
	start := time.Now()
	_, err = o.ReadAt(make([]byte, 10), 0)
	el := time.Since(start)
	if !errors.Is(err, storage.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("ReadAt from a hanging store: err = %v, want ErrUnavailable and DeadlineExceeded", err)
	}
	if el < 900*time.Millisecond || el > 5*time.Second {
		t.Errorf("ReadAt from a hanging store took %v, want about the 1s timeout", el)
	}
}

func testNotExist(t *testing.T, b *s3.Backend) {
	tests := []struct {
		key  string
		want error
	}{
		{"missing.mp4", storage.ErrNotExist},
		{"dir", storage.ErrNotExist}, // a prefix with children, no object
		{"dir/", storage.ErrNotExist},
		{"video.mp4/x", storage.ErrNotExist},
		{"", storage.ErrIsDir},
	}
	for _, tt := range tests {
		_, err := b.Open(context.Background(), tt.key)
		if !errors.Is(err, tt.want) {
			t.Errorf("Open(%q) err = %v, want %v", tt.key, err, tt.want)
		}
		_, err = b.Stat(context.Background(), tt.key)
		if !errors.Is(err, tt.want) {
			t.Errorf("Stat(%q) err = %v, want %v", tt.key, err, tt.want)
		}
	}
}

// testChanged replaces an object between Open and ReadAt: the read pinned
// to the old ETag must fail with ErrChanged, never return new bytes.
func testChanged(t *testing.T, f *fixture, b *s3.Backend) {
	f.m.Put(t, bucket, "pre/changing.bin", bytes.Repeat([]byte("a"), 1000), "")
	o, err := b.Open(context.Background(), "changing.bin")
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	if n, err := o.ReadAt(make([]byte, 10), 0); n != 10 || err != nil {
		t.Fatalf("ReadAt before replace = %d, %v", n, err)
	}
	f.m.Put(t, bucket, "pre/changing.bin", bytes.Repeat([]byte("b"), 1000), "")
	p := make([]byte, 10)
	n, err := o.ReadAt(p, 0)
	if n != 0 || !errors.Is(err, s3.ErrChanged) {
		t.Errorf("ReadAt after replace = %d (%q), %v; want 0 and ErrChanged", n, p[:n], err)
	}
	if o2, err := b.Open(context.Background(), "changing.bin"); err != nil || o2.Info().ETag == o.Info().ETag {
		t.Errorf("re-Open after replace: %v, ETag %v (old %v), want a new ETag", err, o2, o.Info().ETag)
	}
}

// testMisbehaving puts a fake store behind Open's HEAD: answers that do
// not match the opened version or the range asked for must be errors,
// never bytes served as the object's, through ReadAt and ReadRange.
func testMisbehaving(t *testing.T, f *fixture) {
	p := newProxy(t, f.m.Endpoint)
	b := f.backend(t, p.endpoint(), s3.Options{Prefix: "pre"})
	o, err := b.Open(context.Background(), "video.mp4")
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	etag := o.Info().ETag
	lastMod := o.Info().ModTime.UTC().Format(http.TimeFormat)
	const off, n = 1000, 100
	partial := func(etag, cr string, body []byte, length int) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			h := w.Header()
			h.Set("ETag", etag)
			h.Set("Last-Modified", lastMod)
			h.Set("Content-Length", fmt.Sprint(length))
			code := http.StatusOK
			if cr != "" {
				h.Set("Content-Range", cr)
				code = http.StatusPartialContent
			}
			w.WriteHeader(code)
			w.Write(body)
		}
	}
	cr := fmt.Sprintf("bytes %d-%d/%d", off, off+n-1, videoSize)
	tests := []struct {
		name string
		h    http.HandlerFunc
		want error
	}{
		{"control: a correct answer", partial(etag, cr, f.video[off:off+n], n), nil},
		{"Range ignored: 200 with the whole object", partial(etag, "", f.video, videoSize), storage.ErrUnavailable},
		{"another range", partial(etag, fmt.Sprintf("bytes 0-%d/%d", n-1, videoSize), f.video[:n], n), storage.ErrUnavailable},
		{"If-Match ignored: another version", partial(`"0123456789abcdef0123456789abcdef"`, cr, f.video[off:off+n], n), s3.ErrChanged},
		{"another size", partial(etag, fmt.Sprintf("bytes %d-%d/%d", off, off+n-1, videoSize+1), f.video[off:off+n], n), s3.ErrChanged},
		{"short body", partial(etag, cr, f.video[off:off+n/2], n), storage.ErrUnavailable},
		{"412", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusPreconditionFailed) }, s3.ErrChanged},
		{"503", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) }, storage.ErrUnavailable},
		{"403", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusForbidden) }, storage.ErrPermission},
		{"404", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNotFound) }, storage.ErrNotExist},
	}
	// Both ways of reading: ReadAt, and the stream media uses for a
	// response (ReadRange).
	reads := map[string]func() ([]byte, error){
		"ReadAt": func() ([]byte, error) {
			buf := make([]byte, n)
			got, err := o.ReadAt(buf, off)
			return buf[:got], err
		},
		"ReadRange": func() ([]byte, error) {
			rc, err := o.(rangeio.RangeReader).ReadRange(off, n)
			if err != nil {
				return nil, err
			}
			defer rc.Close()
			return io.ReadAll(rc)
		},
	}
	defer p.fake.Store(nil)
	for _, tt := range tests {
		p.fake.Store(&tt.h)
		for via, read := range reads {
			got, err := read()
			switch {
			case tt.want == nil && (err != nil || !bytes.Equal(got, f.video[off:off+n])):
				t.Errorf("%s: %s = %d bytes, %v; want %d correct bytes", tt.name, via, len(got), err, n)
			case tt.want != nil && !errors.Is(err, tt.want):
				t.Errorf("%s: %s = %d bytes, %v; want %v", tt.name, via, len(got), err, tt.want)
			}
			if tt.want != nil {
				t.Logf("%s: %s: %v", tt.name, via, err)
			}
		}
	}
}

// fakeCache records Wrap calls and counts reads through its wrappers.
type fakeCache struct {
	mu    sync.Mutex
	ids   []string
	sizes []int64
	reads atomic.Int64
}

func (c *fakeCache) Wrap(id string, size int64, r io.ReaderAt) io.ReaderAt {
	c.mu.Lock()
	c.ids = append(c.ids, id)
	c.sizes = append(c.sizes, size)
	c.mu.Unlock()
	return countingReaderAt{r, &c.reads}
}

type countingReaderAt struct {
	r io.ReaderAt
	n *atomic.Int64
}

func (c countingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	c.n.Add(1)
	return c.r.ReadAt(p, off)
}

func testCache(t *testing.T, f *fixture) {
	c := &fakeCache{}
	b := f.backend(t, "", s3.Options{Prefix: "pre", Cache: c})
	o, err := b.Open(context.Background(), "video.mp4")
	if err != nil {
		t.Fatal(err)
	}
	p := make([]byte, 100)
	if n, err := o.ReadAt(p, 5000); n != 100 || err != nil || !bytes.Equal(p, f.video[5000:5100]) {
		t.Fatalf("ReadAt through cache = %d, %v (bytes equal: %v)", n, err, bytes.Equal(p, f.video[5000:5100]))
	}
	etag := strings.Trim(o.Info().ETag, `"`)
	wantID := "s3://" + f.m.Endpoint + "/" + bucket + "/pre/video.mp4@" + etag
	if len(c.ids) != 1 || c.ids[0] != wantID || c.sizes[0] != videoSize {
		t.Errorf("Wrap calls: ids %q sizes %v, want [%q] [%d]", c.ids, c.sizes, wantID, videoSize)
	}
	if c.reads.Load() != 1 {
		t.Errorf("reads through the cache wrapper = %d, want 1", c.reads.Load())
	}

	// A nil *Cache in the interface means no cache, not a panic.
	var none *fakeCache
	b2 := f.backend(t, "", s3.Options{Prefix: "pre", Cache: none})
	o2, err := b2.Open(context.Background(), "video.mp4")
	if err != nil {
		t.Fatal(err)
	}
	if n, err := o2.ReadAt(p, 0); n != 100 || err != nil {
		t.Errorf("ReadAt with a typed-nil cache = %d, %v", n, err)
	}
}

// testBlockCache runs reads through the real rangeio.Cache: the store sees
// one aligned, block-sized ranged GET per block, and none for bytes
// already cached.
func testBlockCache(t *testing.T, f *fixture) {
	const bs = 256 << 10
	p := newProxy(t, f.m.Endpoint)
	cache := rangeio.NewCache(rangeio.CacheConfig{BlockSize: bs, MaxBytes: 64 << 20, ReadAhead: -1})
	b := f.backend(t, p.endpoint(), s3.Options{Prefix: "pre", Cache: cache})
	o, err := b.Open(context.Background(), "video.mp4")
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	p.take()
	get := func(from, to int64) string {
		return fmt.Sprintf("GET /%s/pre/video.mp4 bytes=%d-%d", bucket, from, to)
	}
	last := int64(videoSize-1) / bs * bs
	tests := []struct {
		off, n int64
		want   []string // backend requests this read causes
	}{
		{1000, 100, []string{get(0, bs-1)}},
		{5000, 200, nil}, // same block: from memory
		{bs - 10, 20, []string{get(bs, 2*bs-1)}},
		{0, 2 * bs, nil},
		{videoSize - 1, 1, []string{get(last, videoSize-1)}}, // short last block
	}
	for _, tt := range tests {
		buf := make([]byte, tt.n)
		n, err := o.ReadAt(buf, tt.off)
		if int64(n) != tt.n || (err != nil && err != io.EOF) || !bytes.Equal(buf, f.video[tt.off:tt.off+tt.n]) {
			t.Errorf("ReadAt(%d at %d) through the cache = %d, %v (bytes equal: %v)", tt.n, tt.off, n, err, bytes.Equal(buf[:n], f.video[tt.off:tt.off+int64(n)]))
		}
		if got := p.take(); !slices.Equal(got, tt.want) {
			t.Errorf("ReadAt(%d at %d) through the cache: backend requests %q, want %q", tt.n, tt.off, got, tt.want)
		}
	}
	st := cache.Stats()
	t.Logf("block cache: %+v", st)
	if st.BackendReads != 3 {
		t.Errorf("cache BackendReads = %d, want 3", st.BackendReads)
	}

	// A nil *rangeio.Cache (caching disabled in the configuration) works.
	var none *rangeio.Cache
	b2 := f.backend(t, "", s3.Options{Prefix: "pre", Cache: none})
	o2, err := b2.Open(context.Background(), "video.mp4")
	if err != nil {
		t.Fatal(err)
	}
	if n, err := o2.ReadAt(make([]byte, 10), 0); n != 10 || err != nil {
		t.Errorf("ReadAt with a nil *rangeio.Cache = %d, %v", n, err)
	}
}

func testPresign(t *testing.T, f *fixture, b *s3.Backend) {
	ctx := context.Background()
	// The characters minio/minio #8897, #16159, #17390 and minio-js #820
	// report breaking signatures: RFC 8187 encoding, ';', '!', '&', '"'.
	disposition := `attachment; filename="vid!eo & co.mp4"; filename*=UTF-8''vid%C3%A9o%20%F0%9D%84%9E.mp4`
	params := url.Values{
		"response-content-disposition": {disposition},
		"response-content-type":        {"video/mp4; codecs=\"avc1.42E01E\""},
	}
	u, err := b.PresignGet(ctx, "video.mp4", time.Minute, params)
	if err != nil {
		t.Fatalf("PresignGet: %v", err)
	}
	if strings.Contains(u.String(), f.m.SecretKey) {
		t.Fatalf("presigned URL contains the secret key")
	}
	hc := &http.Client{Timeout: 10 * time.Second}
	tests := []struct {
		method, rng string
		status      int
		body        []byte
		cr          string
	}{
		{http.MethodGet, "", http.StatusOK, f.video, ""},
		{http.MethodGet, "bytes=100-199", http.StatusPartialContent, f.video[100:200], fmt.Sprintf("bytes 100-199/%d", videoSize)},
		{http.MethodGet, "bytes=-10", http.StatusPartialContent, f.video[videoSize-10:], fmt.Sprintf("bytes %d-%d/%d", videoSize-10, videoSize-1, videoSize)},
		// Bound to GET (label-studio-frontend #1225).
		{http.MethodHead, "", http.StatusForbidden, nil, ""},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest(tt.method, u.String(), nil)
		if tt.rng != "" {
			req.Header.Set("Range", tt.rng)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("%s range=%q: %v", tt.method, tt.rng, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.status {
			t.Errorf("%s range=%q: status = %d, want %d; body %.300s", tt.method, tt.rng, resp.StatusCode, tt.status, body)
			continue
		}
		if tt.status >= 300 {
			continue
		}
		if got := resp.Header.Get("Content-Disposition"); got != disposition {
			t.Errorf("%s range=%q: Content-Disposition = %q, want %q", tt.method, tt.rng, got, disposition)
		}
		if got := resp.Header.Get("Content-Type"); got != params.Get("response-content-type") {
			t.Errorf("%s range=%q: Content-Type = %q, want %q", tt.method, tt.rng, got, params.Get("response-content-type"))
		}
		if got := resp.Header.Get("Content-Range"); got != tt.cr {
			t.Errorf("%s range=%q: Content-Range = %q, want %q", tt.method, tt.rng, got, tt.cr)
		}
		if sum(body) != sum(tt.body) {
			t.Errorf("%s range=%q: body sha256 %s (%d bytes), want %s (%d bytes)", tt.method, tt.rng, sum(body), len(body), sum(tt.body), len(tt.body))
		}
	}

	// Lifetimes and parameters outside what S3 accepts are refused before
	// signing.
	bad := []struct {
		ttl    time.Duration
		params url.Values
	}{
		{0, nil},
		{999 * time.Millisecond, nil},
		{7*24*time.Hour + time.Second, nil},
		{-time.Hour, nil},
		{time.Minute, url.Values{"versionId": {"x"}}},
		{time.Minute, url.Values{"X-Amz-Expires": {"999999"}}},
		{time.Minute, url.Values{"response-content-type": {"a", "b"}}},
	}
	for _, tt := range bad {
		if u, err := b.PresignGet(ctx, "video.mp4", tt.ttl, tt.params); err == nil {
			t.Errorf("PresignGet(ttl %v, %v) = %v, want an error", tt.ttl, tt.params, u)
		}
	}
	for _, ttl := range []time.Duration{time.Second, 7 * 24 * time.Hour} {
		if _, err := b.PresignGet(ctx, "video.mp4", ttl, nil); err != nil {
			t.Errorf("PresignGet(ttl %v): %v", ttl, err)
		}
	}
}

func testNewErrors(t *testing.T, f *fixture) {
	const wrongSecret = "wrong-secret-XYZZY-0123456789"
	tests := []struct {
		name    string
		opts    s3.Options
		want    error
		mention []string // substrings the message must contain
	}{
		{"wrong secret", s3.Options{Endpoint: f.m.Endpoint, DisableTLS: true, Bucket: bucket, AccessKey: f.m.AccessKey, SecretKey: wrongSecret, PathStyle: true},
			storage.ErrPermission, []string{bucket, f.m.Endpoint, "SignatureDoesNotMatch"}},
		{"unknown access key", s3.Options{Endpoint: f.m.Endpoint, DisableTLS: true, Bucket: bucket, AccessKey: "nobody", SecretKey: wrongSecret, PathStyle: true},
			storage.ErrPermission, []string{bucket, f.m.Endpoint}},
		{"anonymous on a private bucket", s3.Options{Endpoint: f.m.Endpoint, DisableTLS: true, Bucket: bucket, PathStyle: true, Region: testenv.MinIORegion},
			storage.ErrPermission, []string{bucket, f.m.Endpoint}},
		{"missing bucket", s3.Options{Endpoint: f.m.Endpoint, DisableTLS: true, Bucket: "no-such-bucket", AccessKey: f.m.AccessKey, SecretKey: f.m.SecretKey, PathStyle: true},
			storage.ErrNotExist, []string{"no-such-bucket", f.m.Endpoint, "does not exist"}},
		{"nothing listening", s3.Options{DisableTLS: true, Endpoint: "127.0.0.1:" + fmt.Sprint(testenv.FreePort(t)), Bucket: bucket, AccessKey: "a", SecretKey: wrongSecret, Region: testenv.MinIORegion, PathStyle: true},
			storage.ErrUnavailable, []string{bucket}},
	}
	for _, tt := range tests {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		start := time.Now()
		b, err := s3.New(ctx, tt.opts)
		el := time.Since(start)
		cancel()
		if err == nil {
			t.Errorf("%s: New = %v, want an error", tt.name, b)
			continue
		}
		if !errors.Is(err, tt.want) {
			t.Errorf("%s: New err = %v, want %v", tt.name, err, tt.want)
		}
		for _, s := range tt.mention {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("%s: New err = %q, want it to mention %q", tt.name, err, s)
			}
		}
		if strings.Contains(err.Error(), wrongSecret) || strings.Contains(err.Error(), f.m.SecretKey) {
			t.Errorf("%s: New err = %q contains a secret key", tt.name, err)
		}
		if el > 5*time.Second {
			t.Errorf("%s: New took %v, want a fast failure", tt.name, el)
		}
		t.Logf("%s (%v): %v", tt.name, el.Round(time.Millisecond), err)
	}

	// Configuration mistakes are caught without a request.
	for _, o := range []s3.Options{
		{Bucket: bucket},
		{Endpoint: "http://" + f.m.Endpoint, Bucket: bucket},
		{Endpoint: f.m.Endpoint},
		{Endpoint: f.m.Endpoint, Bucket: bucket, AccessKey: "only-the-id"},
		{Endpoint: f.m.Endpoint, Bucket: bucket, SecretKey: wrongSecret},
	} {
		if _, err := s3.New(context.Background(), o); err == nil || strings.Contains(err.Error(), wrongSecret) {
			t.Errorf("New(%+v) err = %v, want a configuration error without the secret", o.Endpoint+" "+o.Bucket, err)
		}
	}
}

func testList(t *testing.T, f *fixture, b *s3.Backend) {
	const n = 2500 // more than two pages of 1000
	c := f.m.Client(t)
	var g errgroup.Group
	g.SetLimit(32)
	for i := range n {
		g.Go(func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			body := []byte(fmt.Sprint(i))
			_, err := c.PutObject(ctx, bucket, fmt.Sprintf("pre/many/k%04d", i), bytes.NewReader(body), int64(len(body)), minio.PutObjectOptions{})
			return err
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatalf("putting %d objects: %v", n, err)
	}
	f.m.Put(t, bucket, "pre/many/sub/x", []byte("x"), "")
	f.m.Put(t, bucket, "pre/many/", nil, "") // a "folder" marker object
	// A name no cleaned key can reach: listed, it could not be opened.
	f.m.Put(t, bucket, "pre/many/%2e%2e", []byte("x"), "")

	ctx := context.Background()
	files, dirs := 0, 0
	var prev string
	for info, err := range b.List(ctx, "many") {
		if err != nil {
			t.Fatalf("List(many): %v after %d entries", err, files+dirs)
		}
		if !info.IsDir && info.Key <= prev {
			t.Errorf("List(many): %q after %q, want objects in lexical order", info.Key, prev)
		}
		if !info.IsDir {
			prev = info.Key
		}
		switch {
		case info.IsDir:
			dirs++
			if info.Key != "many/sub" || info.Size != -1 {
				t.Errorf("List(many): dir %+v, want many/sub with Size -1", info)
			}
		default:
			files++
			var i int
			if _, err := fmt.Sscanf(info.Key, "many/k%04d", &i); err != nil || info.Size != int64(len(fmt.Sprint(i))) || !strings.HasPrefix(info.ETag, `"`) {
				t.Errorf("List(many): entry %+v, want many/kNNNN with its size and a quoted ETag", info)
			}
		}
	}
	if files != n || dirs != 1 {
		t.Errorf("List(many): %d files and %d dirs, want %d and 1 (sub)", files, dirs, n)
	}

	// The root: the fixture's objects and prefixes, without "pre/".
	var root []string
	for info, err := range b.List(ctx, "") {
		if err != nil {
			t.Fatalf("List(\"\"): %v", err)
		}
		if info.Key != "changing.bin" { // only there when Changed ran
			root = append(root, fmt.Sprintf("%s dir=%v", info.Key, info.IsDir))
		}
	}
	slices.Sort(root) // objects come before prefixes within a page
	want := []string{"dir dir=true", "empty.bin dir=false", "many dir=true", "multi.bin dir=false", "video.mp4 dir=false"}
	if strings.Join(root, ",") != strings.Join(want, ",") {
		t.Errorf("List(\"\") = %q, want %q", root, want)
	}

	// A prefix that is not a cleaned key is refused without a request.
	for _, bad := range []string{"a/../b", "a//b", "..", "a\\b"} {
		for _, err := range b.List(ctx, bad) {
			if !errors.Is(err, storage.ErrNotExist) {
				t.Errorf("List(%q) err = %v, want ErrInvalidKey (ErrNotExist)", bad, err)
			}
		}
	}

	// Stopping early does not hang or yield again.
	count := 0
	for range b.List(ctx, "many") {
		count++
		if count == 10 {
			break
		}
	}
	// A cancelled context ends the listing with its error.
	cctx, cancel := context.WithCancel(ctx)
	count = 0
	var lastErr error
	for _, err := range b.List(cctx, "many") {
		if err != nil {
			lastErr = err
			break
		}
		count++
		if count == 100 {
			cancel()
		}
	}
	cancel()
	if !errors.Is(lastErr, context.Canceled) || count >= n {
		t.Errorf("List with ctx cancelled after 100: %d entries, last err %v; want fewer than %d and context.Canceled", count, lastErr, n)
	}
}

// TestOutage stops MinIO under a Backend and brings it back: requests fail
// fast with ErrUnavailable while it is down and work again, through the
// same Backend and the same opened Object, once it is back.
func TestOutage(t *testing.T) {
	testenv.Short(t, "starts MinIO")
	f := &fixture{m: testenv.StartMinIO(t)}
	f.m.MakeBucket(t, bucket)
	data := randBytes(rand.New(rand.NewPCG(5, 6)), 1<<20)
	f.m.Put(t, bucket, "a.bin", data, "")
	const timeout = 3 * time.Second
	var requests atomic.Int64
	b := f.backend(t, "", s3.Options{Timeout: timeout, WrapTransport: func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			requests.Add(1)
			return rt.RoundTrip(r)
		})
	}})
	ctx := context.Background()
	if n := requests.Load(); n == 0 {
		t.Errorf("WrapTransport's transport saw no request of New's start-up check")
	}
	if err := b.Probe(ctx); err != nil {
		t.Errorf("Probe while MinIO is up: %v", err)
	}
	o, err := b.Open(ctx, "a.bin")
	if err != nil {
		t.Fatal(err)
	}
	p := make([]byte, 4096)

	f.m.Stop(t)
	start := time.Now()
	_, err = b.Open(ctx, "a.bin")
	if el := time.Since(start); el > timeout+2*time.Second {
		t.Errorf("Open while MinIO is down took %v, want under the %v timeout", el, timeout)
	}
	if !errors.Is(err, storage.ErrUnavailable) {
		t.Errorf("Open while MinIO is down: err = %v, want ErrUnavailable", err)
	}
	t.Logf("Open while down (%v): %v", time.Since(start).Round(time.Millisecond), err)
	start = time.Now()
	if err := b.Probe(ctx); !errors.Is(err, storage.ErrUnavailable) {
		t.Errorf("Probe while MinIO is down = %v, want ErrUnavailable", err)
	}
	if el := time.Since(start); el > timeout+2*time.Second {
		t.Errorf("Probe while MinIO is down took %v, want under the %v timeout", el, timeout)
	}
	start = time.Now()
	if n, err := o.ReadAt(p, 1000); n != 0 || !errors.Is(err, storage.ErrUnavailable) {
		t.Errorf("ReadAt while MinIO is down = %d, %v; want 0 and ErrUnavailable", n, err)
	}
	if el := time.Since(start); el > timeout+2*time.Second {
		t.Errorf("ReadAt while MinIO is down took %v, want under the %v timeout", el, timeout)
	}

	f.m.Restart(t)
	if n, err := o.ReadAt(p, 1000); n != len(p) || err != nil || !bytes.Equal(p, data[1000:1000+len(p)]) {
		t.Errorf("ReadAt of the old Object after restart = %d, %v", n, err)
	}
	if err := b.Probe(ctx); err != nil {
		t.Errorf("Probe after restart: %v", err)
	}
	before := requests.Load()
	o2, err := b.Open(ctx, "a.bin")
	if err != nil {
		t.Fatalf("Open after restart: %v", err)
	}
	if requests.Load() == before {
		t.Errorf("Open made no request through WrapTransport's transport")
	}
	if o2.Info() != o.Info() {
		t.Errorf("Info after restart = %+v, before %+v", o2.Info(), o.Info())
	}
	if n, err := o2.ReadAt(p, int64(len(data)-len(p))); n != len(p) || (err != nil && err != io.EOF) || !bytes.Equal(p, data[len(data)-len(p):]) {
		t.Errorf("ReadAt after restart = %d, %v", n, err)
	}
}

// roundTripFunc adapts a function to http.RoundTripper.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
