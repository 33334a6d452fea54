package main

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rangeserve/rangeserve/internal/testenv"
	"github.com/rangeserve/rangeserve/mp4"
)

// virtualFixture returns the moov-at-end fixture and its virtual
// faststart file, built in memory with package mp4.
func virtualFixture(t *testing.T) (src, virt []byte) {
	t.Helper()
	src, err := os.ReadFile(filepath.Join(repoTestdata(t), "moov-at-end.mp4"))
	if err != nil {
		t.Fatal(err)
	}
	l, err := mp4.Plan(bytes.NewReader(src), int64(len(src)), mp4.Options{})
	if err != nil {
		t.Fatal(err)
	}
	virt = make([]byte, l.Size)
	if _, err := l.ReadAt(bytes.NewReader(src), virt, 0); err != nil {
		t.Fatal(err)
	}
	return src, virt
}

// requestCounter counts the requests a handler gets, per path.
type requestCounter struct {
	h  http.Handler
	mu sync.Mutex
	n  map[string]int
}

func (c *requestCounter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	c.n[r.URL.Path]++
	c.mu.Unlock()
	c.h.ServeHTTP(w, r)
}

func (c *requestCounter) take(path string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.n[path]
	delete(c.n, path)
	return n
}

// TestFaststartMounts serves the moov-at-end fixture from a local mount
// and from an S3 mount (MinIO, behind a proxy that counts its GETs): the
// virtual file passes the same Range and conditional conformance as a
// stored file, byte for byte against the virtual file built in memory;
// ?original=1 and a mount with faststart off give the stored bytes; a
// whole response from S3 is one ranged GET; ffprobe reads the virtual file
// in one request where the stored one needs a seek to its end, and ffmpeg
// decodes it frame for frame like the file on disk.
func TestFaststartMounts(t *testing.T) {
	src, virt := virtualFixture(t)
	m := testenv.StartMinIO(t)
	m.MakeBucket(t, "media")
	m.Put(t, "media", "moov-at-end.mp4", src, "")
	proxy := startS3Proxy(t, m.URL())
	cfg := fmt.Sprintf(`
mounts:
  - prefix: /local/
    backend: local
    root: %q
    auth: public
    cache_control: "public, max-age=60"
  - prefix: /stored/
    backend: local
    root: %q
    auth: public
    faststart: "off"
%s    cache_control: "public, max-age=60"
`, repoTestdata(t), repoTestdata(t), s3MountAt("/s3/", proxy.URL.Host, m, "      cache: false\n"))
	_, a, _ := startApp(t, cfg)
	rc := &requestCounter{h: a.Handler(), n: map[string]int{}}
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)

	for _, mount := range []string{"/local/", "/s3/"} {
		u := srv.URL + mount + "moov-at-end.mp4"
		runConformance(t, mount+" virtual", u, virt)
		if r := get(t, u, nil); !strings.HasSuffix(r.Header.Get("ETag"), `-fs1"`) {
			t.Errorf("%s: ETag %q, want the derived one", mount, r.Header.Get("ETag"))
		}
		r := get(t, u+"?original=1", nil)
		if r.StatusCode != 200 || !bytes.Equal(r.Body, src) || strings.Contains(r.Header.Get("ETag"), "-fs1") {
			t.Errorf("%s?original=1: status %d, %d bytes, ETag %q: want the stored file", mount, r.StatusCode, len(r.Body), r.Header.Get("ETag"))
		}
	}
	if r := get(t, srv.URL+"/stored/moov-at-end.mp4", nil); !bytes.Equal(r.Body, src) {
		t.Errorf("faststart off: %d bytes, not the stored file", len(r.Body))
	}

	// S3: once planned, a whole response is one GET of the media data and
	// a range inside the moov none.
	before := proxy.gets.Load()
	if r := get(t, srv.URL+"/s3/moov-at-end.mp4", nil); !bytes.Equal(r.Body, virt) {
		t.Fatal("s3: whole virtual file differs")
	}
	if r := get(t, srv.URL+"/s3/moov-at-end.mp4", map[string]string{"Range": "bytes=0-999"}); !bytes.Equal(r.Body, virt[:1000]) {
		t.Fatal("s3: range in the moov differs")
	}
	if n := proxy.gets.Load() - before; n != 1 {
		t.Errorf("s3: %d backend GETs for a whole response and a range in the moov, want 1 (%v)", n, proxy.ranges())
	}

	ffprobe, ffmpeg := testenv.Require(t, "ffprobe"), testenv.Require(t, "ffmpeg")
	for _, tt := range []struct {
		path, query string
		one         bool // a single request
	}{
		{"/local/moov-at-end.mp4", "", true},
		{"/s3/moov-at-end.mp4", "", true},
		{"/local/moov-at-end.mp4", "original=1", false},
		{"/stored/moov-at-end.mp4", "", false},
	} {
		u := srv.URL + tt.path
		if tt.query != "" {
			u += "?" + tt.query
		}
		rc.take(tt.path)
		o, err := runCmd(t, 60*time.Second, ffprobe, "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", u)
		if err != nil || strings.TrimSpace(o) != "5.000000" {
			t.Fatalf("ffprobe %s: %v %q", u, err, o)
		}
		n := rc.take(tt.path)
		if tt.one != (n == 1) {
			t.Errorf("ffprobe %s made %d requests; want one exactly when the moov comes first", u, n)
		}
		t.Logf("ffprobe %s: %d request(s)", u, n)
	}
	want, err := runCmd(t, 60*time.Second, ffmpeg, "-v", "error", "-i", filepath.Join(repoTestdata(t), "moov-at-end.mp4"), "-map", "0", "-f", "framemd5", "-")
	if err != nil {
		t.Fatal(err)
	}
	for _, mount := range []string{"/local/", "/s3/"} {
		got, err := runCmd(t, 60*time.Second, ffmpeg, "-v", "error", "-i", srv.URL+mount+"moov-at-end.mp4", "-map", "0", "-f", "framemd5", "-")
		if err != nil || got != want {
			t.Errorf("%s: ffmpeg framemd5 over HTTP differs from the file on disk (%v)", mount, err)
		}
	}
}

// TestNginxFaststart: in mode x-accel nginx can only send stored files.
// By default such a mount delegates the moov-at-end file unchanged; with
// faststart: on, rangeserve serves its virtual file itself (through nginx,
// which passes it on) and still delegates files that need no rewrite and
// ?original=1.
func TestNginxFaststart(t *testing.T) {
	testenv.Require(t, "nginx")
	src, virt := virtualFixture(t)
	root := repoTestdata(t)
	video, err := os.ReadFile(filepath.Join(root, "video.mp4"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`
server:
  trusted_proxies: [127.0.0.1]
mounts:
  - prefix: /plain/
    backend: local
    root: %[1]q
    auth: public
    mode: x-accel
    x_accel: {internal_prefix: /_protected}
  - prefix: /fs/
    backend: local
    root: %[1]q
    auth: public
    mode: x-accel
    faststart: "on"
    x_accel: {internal_prefix: /_protected}
`, root)
	srv, _, _ := startApp(t, cfg)
	ngx := testenv.StartNginx(t, testenv.NginxConfig{
		ServerBlock: testenv.NginxProxyConfig(strings.TrimPrefix(srv.URL, "http://"), "/_protected", root),
	})
	for _, tt := range []struct {
		path   string
		rng    string
		status int
		body   []byte
		fs1    bool // the derived ETag: served by rangeserve
	}{
		{"/plain/moov-at-end.mp4", "", 200, src, false},
		{"/plain/moov-at-end.mp4", "bytes=1000-1999", 206, src[1000:2000], false},
		{"/fs/moov-at-end.mp4", "", 200, virt, true},
		{"/fs/moov-at-end.mp4", "bytes=1000-1999", 206, virt[1000:2000], true},
		{"/fs/moov-at-end.mp4?original=1", "", 200, src, false},
		{"/fs/video.mp4", "bytes=0-99", 206, video[:100], false},
	} {
		var h map[string]string
		if tt.rng != "" {
			h = map[string]string{"Range": tt.rng}
		}
		r := get(t, ngx.URL+tt.path, h)
		if r.StatusCode != tt.status || !bytes.Equal(r.Body, tt.body) {
			t.Errorf("%s %s via nginx: status %d, %d bytes (sha256 %.16s); want %d, %d bytes (%.16s)\nnginx error log:\n%s",
				tt.path, tt.rng, r.StatusCode, len(r.Body), sum(r.Body), tt.status, len(tt.body), sum(tt.body), ngx.ErrorLog())
		}
		if got := strings.HasSuffix(r.Header.Get("ETag"), `-fs1"`); got != tt.fs1 {
			t.Errorf("%s via nginx: ETag %q (derived: %v, want %v)", tt.path, r.Header.Get("ETag"), got, tt.fs1)
		}
		if r.Header.Get("X-Accel-Redirect") != "" {
			t.Errorf("%s: X-Accel-Redirect leaked to the client", tt.path)
		}
	}
}

// mediaLog records, for the requests it passes on after a fixed delay
// (a slow network: 50 ms per round trip), when each arrived and when each
// body write happened, so that a test can count the requests and bytes
// that came before a moment in the browser.
type mediaLog struct {
	h     http.Handler
	delay time.Duration
	mu    sync.Mutex
	reqs  []loggedRequest
	bytes []sentBytes
}

type loggedRequest struct {
	at          time.Time
	path, query string
	rng         string
}

type sentBytes struct {
	at time.Time
	n  int
}

func (m *mediaLog) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == playerPath {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		fmt.Fprint(w, playerPage)
		return
	}
	m.mu.Lock()
	m.reqs = append(m.reqs, loggedRequest{time.Now(), r.URL.Path, r.URL.RawQuery, r.Header.Get("Range")})
	m.mu.Unlock()
	time.Sleep(m.delay)
	m.h.ServeHTTP(&loggedWriter{ResponseWriter: w, m: m}, r)
}

// before returns the requests and counts the body bytes from start up to
// end.
func (m *mediaLog) before(start, end time.Time) (reqs []string, bytes int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range m.reqs {
		if !r.at.Before(start) && !r.at.After(end) && r.path != "/favicon.ico" {
			reqs = append(reqs, r.path+"?"+r.query+" "+r.rng)
		}
	}
	for _, b := range m.bytes {
		if !b.at.Before(start) && !b.at.After(end) {
			bytes += b.n
		}
	}
	return reqs, bytes
}

// loggedWriter hides the ResponseWriter's ReadFrom, so every body byte
// passes through Write and is counted.
type loggedWriter struct {
	http.ResponseWriter
	m *mediaLog
}

func (w *loggedWriter) Write(p []byte) (int, error) {
	n, err := w.ResponseWriter.Write(p)
	w.m.mu.Lock()
	w.m.bytes = append(w.m.bytes, sentBytes{time.Now(), n})
	w.m.mu.Unlock()
	return n, err
}

// TestBrowserFaststart plays a moov-at-end MP4 in Chromium from a
// local and an S3 mount, each request to rangeserve delayed by 50 ms, as
// a virtual faststart file and as stored (?original=1). It counts the
// requests and bytes before canplay and the time to canplay (logged; on a
// shared machine the times vary by a second from run to run, the request
// counts do not), and requires that the virtual file reaches canplay with
// a single request, as ffmpeg's own +faststart output does, and plays and
// seeks.
func TestBrowserFaststart(t *testing.T) {
	testenv.Require(t, "chromium")
	ffmpeg := testenv.Require(t, "ffmpeg")
	// The committed fixture is so small that Chromium's first response
	// brings the moov along; a 12 MB file (8 s of noise at 12 Mb/s, moov
	// at the end) makes the stored file need a seek, as real videos do.
	dir := t.TempDir()
	if o, err := runCmd(t, 120*time.Second, ffmpeg, "-hide_banner", "-v", "error", "-nostdin",
		"-f", "lavfi", "-i", "nullsrc=s=320x180:r=25:d=8,geq=lum='random(1)*255':cb=128:cr=128",
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100:duration=8",
		"-c:v", "libx264", "-profile:v", "baseline", "-preset", "ultrafast", "-b:v", "12M", "-maxrate", "12M", "-bufsize", "4M",
		"-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "64k", "-shortest", filepath.Join(dir, "moov-at-end.mp4")); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, o)
	}
	// For comparison, the same file made faststart by ffmpeg (on disk:
	// rangeserve serves it unchanged).
	if o, err := runCmd(t, 60*time.Second, ffmpeg, "-hide_banner", "-v", "error", "-nostdin", "-i", filepath.Join(dir, "moov-at-end.mp4"),
		"-map", "0", "-c", "copy", "-movflags", "+faststart", filepath.Join(dir, "ffmpeg-faststart.mp4")); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, o)
	}
	src, err := os.ReadFile(filepath.Join(dir, "moov-at-end.mp4"))
	if err != nil {
		t.Fatal(err)
	}
	m := testenv.StartMinIO(t)
	m.MakeBucket(t, "media")
	m.Put(t, "media", "moov-at-end.mp4", src, "")
	_, a, _ := startApp(t, fmt.Sprintf(`
mounts:
  - {prefix: /local/, backend: local, root: %q, auth: public}
%s`, dir, s3MountAt("/s3/", m.Endpoint, m, "")))
	ml := &mediaLog{h: a.Handler(), delay: 50 * time.Millisecond}
	srv := httptest.NewServer(ml)
	t.Cleanup(srv.Close)
	b := startBrowser(t)
	b.open(t, srv.URL)
	eval[bool](t, b, 5*time.Second, `window.canplay = async function(src) {
  const el = newVideo(src);
  const p = once(el, 'canplay', 20000);
  const t0 = Date.now();
  document.body.append(el);
  await p;
  return {Start: t0, End: Date.now()};
}; true`)
	type window struct{ Start, End int64 }
	// A first load warms up the media pipeline (seconds the first time).
	eval[window](t, b, 25*time.Second, `canplay("/local/moov-at-end.mp4?warm-up")`)
	eval[bool](t, b, 5*time.Second, `newVideo(''); true`)
	for _, c := range []struct {
		path    string
		virtual bool
	}{
		{"/local/moov-at-end.mp4", true},
		{"/local/moov-at-end.mp4?original=1", false},
		{"/local/ffmpeg-faststart.mp4", true},
		{"/s3/moov-at-end.mp4", true},
		{"/s3/moov-at-end.mp4?original=1", false},
	} {
		w := eval[window](t, b, 25*time.Second, "canplay("+jsString(c.path)+")")
		start, end := time.UnixMilli(w.Start), time.UnixMilli(w.End)
		reqs, n := ml.before(start, end.Add(time.Millisecond))
		t.Logf("%s: canplay after %d ms, %d request(s), %d bytes sent before it (50 ms per request): %q", c.path, w.End-w.Start, len(reqs), n, reqs)
		if c.virtual && len(reqs) != 1 {
			t.Errorf("%s: %d requests before canplay, want 1 (moov first)", c.path, len(reqs))
		}
		if !c.virtual && len(reqs) < 2 {
			t.Errorf("%s: %d request before canplay: the stored file should need a seek to its moov", c.path, len(reqs))
		}
		if c.virtual {
			p := eval[played](t, b, 15*time.Second, "play(300)")
			s := eval[seeked](t, b, 30*time.Second, "seek(3.5)")
			if p.Paused || p.CurrentTime <= 0 || s.ReadyState < 3 || s.SeekedAt < 3.4 || s.SeekedAt > 3.8 {
				t.Errorf("%s: played to %.3f (paused %v), seeked to %.3f (readyState %d)", c.path, p.CurrentTime, p.Paused, s.SeekedAt, s.ReadyState)
			}
		}
		eval[bool](t, b, 5*time.Second, `newVideo(''); true`)
		time.Sleep(200 * time.Millisecond) // let the old element's requests end
	}
}
