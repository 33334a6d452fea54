package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/rangeserve/rangeserve/storage"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/rangeserve/rangeserve/internal/testenv"
)

// browserTimeout bounds the whole life of one headless chromium, so a hung
// browser cannot hang the test run.
const browserTimeout = 60 * time.Second

// playerPath is where playerServer serves playerPage.
const playerPath = "/player.html"

// playerPage is a same-origin page with helpers that the tests call
// through chromedp: each returns a promise that rejects with a message
// saying what the <video> was doing when something went wrong.
const playerPage = `<!doctype html>
<meta charset="utf-8">
<title>rangeserve player test</title>
<body>
<script>
const sleep = ms => new Promise(r => setTimeout(r, ms));
function state(el) {
  return 'readyState ' + el.readyState + ', networkState ' + el.networkState +
    ', currentTime ' + el.currentTime + (el.error ? ', error ' + el.error.code + ' ' + el.error.message : '');
}
// once resolves on the element's next event name and rejects on a media
// error or after ms milliseconds.
function once(el, name, ms) {
  return new Promise((resolve, reject) => {
    const ok = () => { done(); resolve(); };
    const bad = () => { done(); reject(new Error('media error while waiting for ' + name + ': ' + state(el))); };
    const timer = setTimeout(() => { done(); reject(new Error('no ' + name + ' after ' + ms + ' ms: ' + state(el))); }, ms);
    function done() { clearTimeout(timer); el.removeEventListener(name, ok); el.removeEventListener('error', bad); }
    el.addEventListener(name, ok);
    if (name !== 'error') el.addEventListener('error', bad);
  });
}
function newVideo(src) {
  if (window.v) { v.pause(); v.removeAttribute('src'); v.load(); v.remove(); }
  const el = document.createElement('video');
  el.muted = true;
  el.preload = 'auto';
  el.src = src;
  window.v = el;
  return el;
}
async function load(src) {
  const el = newVideo(src);
  const p = once(el, 'loadedmetadata', 20000);
  document.body.append(el);
  await p;
  return {duration: el.duration, width: el.videoWidth, height: el.videoHeight};
}
async function play(ms) {
  await v.play();
  const t0 = performance.now();
  while (v.currentTime === 0) {
    if (v.error || performance.now() - t0 > 10000) throw new Error('playback does not advance: ' + state(v));
    await sleep(20);
  }
  await sleep(ms);
  if (v.error) throw new Error('error while playing: ' + state(v));
  return {currentTime: v.currentTime, paused: v.paused};
}
// seek sets currentTime, waits for 'seeked' and then for HAVE_FUTURE_DATA.
async function seek(t) {
  const p = once(v, 'seeked', 20000);
  v.currentTime = t;
  await p;
  const at = v.currentTime;
  const t0 = performance.now();
  while (v.readyState < 3) {
    if (v.error || performance.now() - t0 > 20000) throw new Error('no HAVE_FUTURE_DATA after seeked: ' + state(v));
    await sleep(20);
  }
  return {seekedAt: at, currentTime: v.currentTime, readyState: v.readyState};
}
// loadError loads src and expects the <video> to fail.
async function loadError(src) {
  const el = newVideo(src);
  const p = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no error after 20000 ms: ' + state(el))), 20000);
    el.addEventListener('error', () => { clearTimeout(timer); resolve(); });
    el.addEventListener('loadedmetadata', () => { clearTimeout(timer); reject(new Error('loaded, want an error: ' + state(el))); });
  });
  document.body.append(el);
  await p;
  return {code: el.error.code, message: el.error.message};
}
async function fetchText(u) {
  const r = await fetch(u);
  return {status: r.status, body: await r.text()};
}
</script>
`

// playerServer serves playerPage at playerPath and everything else with
// the app's own handler (access log included), on one loopback origin: the
// player page and the media are same-origin, as on a site that embeds its
// own videos. The page is not put in a mount because the media handler
// sandboxes HTML (an opaque origin, which would make the media requests
// cross-site).
func playerServer(t *testing.T, a *app) *httptest.Server {
	t.Helper()
	h := a.Handler()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != playerPath {
			h.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		io.WriteString(w, playerPage)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// browser is one headless chromium with its own profile directory.
type browser struct {
	ctx  context.Context
	dir  string
	out  *syncBuffer
	stop func()
}

// startBrowser starts Debian's chromium headless with a fresh profile. The
// browser lives at most browserTimeout; stop (also run at cleanup) closes
// it and checks that none of its processes is left.
func startBrowser(t *testing.T) *browser {
	t.Helper()
	bin := testenv.Require(t, "chromium")
	dir := t.TempDir()
	out := &syncBuffer{}
	opts := slices.Concat(chromedp.DefaultExecAllocatorOptions[:], []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(bin),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Headless,
		chromedp.NoFirstRun,
		chromedp.UserDataDir(dir),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		chromedp.Flag("mute-audio", true),
		chromedp.CombinedOutput(out),
	})
	root, cancelRoot := context.WithTimeout(context.Background(), browserTimeout)
	actx, cancelAlloc := chromedp.NewExecAllocator(root, opts...)
	logf := func(format string, args ...any) { fmt.Fprintf(out, "chromedp: "+format+"\n", args...) }
	ctx, cancelCtx := chromedp.NewContext(actx, chromedp.WithLogf(logf), chromedp.WithErrorf(logf))
	b := &browser{ctx: ctx, dir: dir, out: out}
	var once sync.Once
	b.stop = func() {
		once.Do(func() {
			if err := chromedp.Cancel(ctx); err != nil && !errors.Is(err, context.Canceled) {
				logf("closing the browser: %v", err)
			}
			cancelCtx()
			cancelAlloc()
			cancelRoot()
			if left := chromiumProcesses(dir, 10*time.Second); len(left) > 0 {
				t.Errorf("chromium processes left after closing the browser: %v", left)
			}
		})
	}
	t.Cleanup(func() {
		b.stop()
		if t.Failed() {
			t.Logf("chromium output (%s, D-Bus noise left out):\n%s", dir, withoutDBus(out.String()))
		}
	})
	// The first Run starts the browser; it must not get a shorter
	// deadline than the browser's own.
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("starting chromium (%s): %v\n%s", bin, err, withoutDBus(out.String()))
	}
	return b
}

// withoutDBus drops chromium's complaints about the missing D-Bus, which
// are harmless in a container and would hide the lines that matter.
func withoutDBus(s string) string {
	var keep []string
	for line := range strings.SplitSeq(s, "\n") {
		if !strings.Contains(line, ":ERROR:dbus/") {
			keep = append(keep, line)
		}
	}
	return strings.Join(keep, "\n")
}

// chromiumProcesses waits up to timeout until no process runs with the
// profile directory dir on its command line, and returns those still
// running then (pid and command).
func chromiumProcesses(dir string, timeout time.Duration) []string {
	needle := "--user-data-dir=" + dir
	deadline := time.Now().Add(timeout)
	for {
		var left []string
		procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
		for _, p := range procs {
			b, err := os.ReadFile(p)
			if err != nil || !strings.Contains(string(b), needle) {
				continue
			}
			cmd := strings.ReplaceAll(string(b), "\x00", " ")
			if len(cmd) > 120 {
				cmd = cmd[:120] + "…"
			}
			left = append(left, filepath.Base(filepath.Dir(p))+": "+cmd)
		}
		if len(left) == 0 || time.Now().After(deadline) {
			return left
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// eval runs js in the page, awaits its promise and decodes the result.
func eval[T any](t *testing.T, b *browser, timeout time.Duration, js string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, timeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("%s: %v", js, err)
	}
	return v
}

// open navigates the browser to the player page.
func (b *browser) open(t *testing.T, base string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(base+playerPath)); err != nil {
		t.Fatalf("opening %s%s: %v", base, playerPath, err)
	}
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

type loaded struct {
	Duration      float64
	Width, Height int
}

type played struct {
	CurrentTime float64
	Paused      bool
}

type seeked struct {
	SeekedAt    float64
	CurrentTime float64
	ReadyState  int
}

type mediaError struct {
	Code    int
	Message string
}

type fetched struct {
	Status int
	Body   string
}

// logEntry is one line of the server's slog text log.
type logEntry map[string]string

// parseLogfmt splits one slog text line into its keys and values
// (quoted values unquoted).
func parseLogfmt(line string) logEntry {
	m := logEntry{}
	s := strings.TrimSpace(line)
	for s != "" {
		eq := strings.IndexByte(s, '=')
		if eq < 0 {
			break
		}
		key := s[:eq]
		s = s[eq+1:]
		var val string
		if strings.HasPrefix(s, `"`) {
			end := 1
			for end < len(s) && s[end] != '"' {
				if s[end] == '\\' {
					end++
				}
				end++
			}
			if end >= len(s) {
				break
			}
			v, err := strconv.Unquote(s[:end+1])
			if err != nil {
				break
			}
			val, s = v, s[end+1:]
		} else {
			sp := strings.IndexByte(s, ' ')
			if sp < 0 {
				sp = len(s)
			}
			val, s = s[:sp], s[sp:]
		}
		m[key] = val
		s = strings.TrimLeft(s, " ")
	}
	return m
}

// accessEntry is one access-log line. Start is when the request arrived
// (log time minus duration), which is when it was authorized.
type accessEntry struct {
	Start   time.Time
	Path    string
	Range   string
	Status  int
	Aborted bool
}

func accessEntries(t *testing.T, logs string) []accessEntry {
	t.Helper()
	var es []accessEntry
	for line := range strings.SplitSeq(logs, "\n") {
		f := parseLogfmt(line)
		if f["msg"] != "request" {
			continue
		}
		at, err1 := time.Parse(time.RFC3339Nano, f["time"])
		dur, err2 := time.ParseDuration(f["dur"])
		status, err3 := strconv.Atoi(f["status"])
		if err := errors.Join(err1, err2, err3); err != nil {
			t.Fatalf("access log line %q: %v", line, err)
		}
		es = append(es, accessEntry{Start: at.Add(-dur), Path: f["path"], Range: f["range"], Status: status, Aborted: f["aborted"] == "true"})
	}
	return es
}

// TestBrowserPlaysAndSeeks plays the fixtures in a real Chromium, seeks in
// each and checks from the server log that the browser's requests were
// Range requests answered 206, and that nothing got a 5xx.
func TestBrowserPlaysAndSeeks(t *testing.T) {
	_, a, logs := startApp(t, fmt.Sprintf(`
mounts:
  - {prefix: /pub/, backend: local, root: %q, auth: public}
`, repoTestdata(t)))
	srv := playerServer(t, a)
	b := startBrowser(t)
	b.open(t, srv.URL)
	t.Logf("browser: %s", eval[string](t, b, 5*time.Second, `navigator.userAgent`))

	for _, c := range []struct {
		name          string
		duration      float64
		width, height int
		seekTo        float64
	}{
		{"video.mp4", 10, 320, 180, 7},
		{"video.webm", 5, 320, 180, 3.5},
		{"vidéo 𝄞 test.mp4", 2, 160, 90, 1.5},
	} {
		src := storage.EscapeKey("/pub/" + c.name)
		l := eval[loaded](t, b, 25*time.Second, "load("+jsString(src)+")")
		if d := l.Duration - c.duration; d < -0.1 || d > 0.1 || l.Width != c.width || l.Height != c.height {
			t.Errorf("%s: loadedmetadata with duration %.3f s, %dx%d; want %.1f s, %dx%d", c.name, l.Duration, l.Width, l.Height, c.duration, c.width, c.height)
		}
		p := eval[played](t, b, 15*time.Second, "play(300)")
		if p.Paused || p.CurrentTime <= 0 {
			t.Errorf("%s: after play(): currentTime %.3f, paused %v; want playing", c.name, p.CurrentTime, p.Paused)
		}
		s := eval[seeked](t, b, 45*time.Second, fmt.Sprintf("seek(%g)", c.seekTo))
		if d := s.SeekedAt - c.seekTo; d < -0.05 || d > 0.3 || s.ReadyState < 3 {
			t.Errorf("%s: seek to %g: seeked at %.3f, readyState %d; want ≈%g and >= 3", c.name, c.seekTo, s.SeekedAt, s.ReadyState, c.seekTo)
		}
		t.Logf("%s: duration %.3f s, playing at %.3f s, seeked at %.3f s, readyState %d", c.name, l.Duration, p.CurrentTime, s.SeekedAt, s.ReadyState)
	}
	b.stop()

	entries := accessEntries(t, logs.String())
	for _, c := range []string{"video.mp4", "video.webm", "vidéo 𝄞 test.mp4"} {
		path := "/pub/" + c
		var ranges []string
		for _, e := range entries {
			if e.Path == path && e.Status == http.StatusPartialContent && strings.HasPrefix(e.Range, "bytes=") {
				ranges = append(ranges, e.Range)
			}
		}
		if len(ranges) == 0 {
			t.Errorf("%s: the browser made no Range request answered 206", path)
		}
		t.Logf("%s: 206 answers to %v", path, ranges)
	}
	for _, e := range entries {
		if e.Status >= 500 {
			t.Errorf("%s (Range %q): status %d", e.Path, e.Range, e.Status)
		}
	}
}

// browserGrace is the playback grace of TestBrowserPlaybackGraceAfterExpiry.
// With "0s" the test must fail at the seek after expiry.
const browserGrace = "30m"

// TestBrowserPlaybackGraceAfterExpiry: a playback started in a real
// browser with a short-lived signed link keeps seeking after the link has
// expired (its grace cookie authorizes the new Range requests), while a new
// browser presenting the same expired link is refused.
func TestBrowserPlaybackGraceAfterExpiry(t *testing.T) {
	ffmpeg := testenv.Require(t, "ffmpeg")
	testenv.Require(t, "chromium")
	// A 60 s, ~30 MB video: far more than Chrome buffers ahead, so a seek
	// near the end needs new Range requests after the link has expired.
	bigDir := t.TempDir()
	big := filepath.Join(bigDir, "big.mp4")
	if out, err := runCmd(t, 60*time.Second, ffmpeg, "-hide_banner", "-loglevel", "error", "-y",
		"-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25:duration=60",
		"-c:v", "libx264", "-preset", "ultrafast", "-qp", "4", "-g", "50", "-pix_fmt", "yuv420p",
		"-movflags", "+faststart", big); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	st, err := os.Stat(big)
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() < 15<<20 {
		t.Fatalf("generated video is %d bytes, want > 15 MiB so that Chrome cannot buffer it all", st.Size())
	}

	cfg := authConfig(t, browserGrace) + fmt.Sprintf("  - {prefix: /big/, backend: local, root: %q, auth: signed}\n", bigDir)
	_, a, logs := startApp(t, cfg)
	srv := playerServer(t, a)
	const path = "/big/big.mp4"

	player := startBrowser(t)
	player.open(t, srv.URL)
	link := signCLI(t, cfg, srv.URL, "-ttl", "3s", path)
	exp, err := strconv.ParseInt(mustURL(t, link).Query().Get("exp"), 10, 64)
	if err != nil {
		t.Fatalf("link %q: exp: %v", link, err)
	}
	expiry := time.Unix(exp, 0)

	l := eval[loaded](t, player, 25*time.Second, "load("+jsString(link)+")")
	if d := l.Duration - 60; d < -0.1 || d > 0.1 {
		t.Errorf("loadedmetadata: duration %.3f s, want 60", l.Duration)
	}
	p := eval[played](t, player, 15*time.Second, "play(500)")
	if p.Paused || p.CurrentTime <= 0 {
		t.Fatalf("after play(): currentTime %.3f, paused %v; want playing", p.CurrentTime, p.Paused)
	}
	if time.Now().After(expiry) {
		t.Fatalf("the playback started only after the link expired (%s): machine too slow for a 3 s link", expiry.Format(time.RFC3339))
	}

	// Wait until the link has expired, and check that the server really
	// refuses it now to a client without the cookie.
	time.Sleep(time.Until(expiry.Add(time.Second)))
	if r := get(t, link, map[string]string{"Range": "bytes=0-99"}); r.StatusCode != http.StatusForbidden || !strings.Contains(string(r.Body), "link expired") {
		t.Fatalf("expired link without the grace cookie: %d %q, want 403 link expired", r.StatusCode, r.Body)
	}
	time.Sleep(50 * time.Millisecond)

	// The started playback seeks near the end: new Range requests, allowed
	// by the grace cookie.
	seekStart := time.Now()
	s := eval[seeked](t, player, 45*time.Second, "seek(57)")
	if d := s.SeekedAt - 57; d < -0.05 || d > 0.3 || s.ReadyState < 3 {
		t.Errorf("seek to 57 s after expiry: seeked at %.3f, readyState %d; want ≈57 and >= 3", s.SeekedAt, s.ReadyState)
	}
	player.stop()

	// The other side: a new browser (fresh profile, no cookie) with the
	// same expired link is refused.
	freshStart := time.Now()
	fresh := startBrowser(t)
	fresh.open(t, srv.URL)
	me := eval[mediaError](t, fresh, 25*time.Second, "loadError("+jsString(link)+")")
	if me.Code != 2 && me.Code != 4 {
		t.Errorf("<video> with the expired link in a new browser: error %d %q, want MEDIA_ERR_NETWORK (2) or MEDIA_ERR_SRC_NOT_SUPPORTED (4)", me.Code, me.Message)
	}
	f := eval[fetched](t, fresh, 15*time.Second, "fetchText("+jsString(link)+")")
	if f.Status != http.StatusForbidden || !strings.Contains(f.Body, "link expired") {
		t.Errorf("fetch of the expired link in a new browser: %d %q, want 403 link expired", f.Status, f.Body)
	}
	fresh.stop()
	t.Logf("link expired at %s; seek requested %s later; new browser from %s; media error %d %q",
		expiry.Format("15:04:05"), seekStart.Sub(expiry).Round(time.Millisecond), freshStart.Format("15:04:05.000"), me.Code, me.Message)

	// The server's view.
	var afterExpiry, refused []string
	for _, e := range accessEntries(t, logs.String()) {
		if e.Path != path {
			continue
		}
		switch {
		case e.Start.Before(seekStart):
		case e.Start.Before(freshStart):
			if e.Status != http.StatusPartialContent {
				t.Errorf("playback after expiry: %s (Range %q) got %d, want 206", e.Path, e.Range, e.Status)
			}
			if !strings.HasPrefix(e.Range, "bytes=") || strings.HasPrefix(e.Range, "bytes=0-") {
				t.Errorf("playback after expiry: Range %q, want one that starts near the seek target", e.Range)
			}
			afterExpiry = append(afterExpiry, fmt.Sprintf("%s %d", e.Range, e.Status))
		default:
			if e.Status != http.StatusForbidden {
				t.Errorf("new browser with the expired link: %s (Range %q) got %d, want 403", e.Path, e.Range, e.Status)
			}
			refused = append(refused, fmt.Sprintf("%s %d", e.Range, e.Status))
		}
	}
	if len(afterExpiry) == 0 {
		t.Errorf("no request for %s after the link expired: the seek did not need the server, so grace was not tested", path)
	}
	if len(refused) == 0 {
		t.Errorf("no request from the new browser for %s in the access log", path)
	}
	var reasons int
	for line := range strings.SplitSeq(logs.String(), "\n") {
		f := parseLogfmt(line)
		if f["msg"] == "auth: request refused" && f["key"] == "big.mp4" && f["status"] == "403" && strings.Contains(f["reason"], "link expired") {
			reasons++
		}
	}
	// One refusal is the test's own probe, the others the new browser's.
	if reasons < 2 {
		t.Errorf("%d refusals with reason \"link expired\" for big.mp4 in the log, want the probe's and the new browser's", reasons)
	}
	t.Logf("after expiry, the playing browser got: %v; the new browser got: %v", afterExpiry, refused)
	if strings.Contains(logs.String(), mustURL(t, link).Query().Get("sig")) {
		t.Errorf("the log contains the link's signature")
	}
}
