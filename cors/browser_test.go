package cors_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rangeserve/rangeserve/cors"
	"github.com/rangeserve/rangeserve/internal/testenv"
	"github.com/rangeserve/rangeserve/internal/uitest"
	"github.com/rangeserve/rangeserve/media"
	"github.com/rangeserve/rangeserve/storage/local"
)

// probePage is served by the page's own loopback server (another origin
// than the media's). probe(src, mode) plays src in a <video crossorigin>
// (seeks to 70%, reads a frame back from a canvas, which a tainted video
// forbids), then fetches a range and a multi-range (which needs a
// preflight) and reports what the page could see.
const probePage = `<!doctype html>
<meta charset="utf-8">
<title>cors probe</title>
<body>
<script>
function until(el, name, ms) {
  return new Promise(res => {
    const t = setTimeout(() => res('timeout'), ms);
    el.addEventListener(name, () => { clearTimeout(t); res('ok'); }, {once: true});
    el.addEventListener('error', () => { clearTimeout(t); res('error'); }, {once: true});
  });
}
async function probe(src, mode) {
  const out = {};
  const v = document.createElement('video');
  v.muted = true;
  v.preload = 'auto';
  v.crossOrigin = mode;
  const meta = until(v, 'loadedmetadata', 15000);
  v.src = src;
  document.body.append(v);
  out.video = await meta;
  if (out.video === 'ok') {
    const seeked = until(v, 'seeked', 15000);
    v.currentTime = v.duration * 0.7;
    out.seeked = await seeked;
    if (v.readyState < 2) await until(v, 'canplay', 5000);
    const c = document.createElement('canvas');
    c.width = 8; c.height = 8;
    const g = c.getContext('2d');
    g.drawImage(v, 0, 0, 8, 8);
    try { g.getImageData(0, 0, 1, 1); out.frame = 'readable'; } catch (e) { out.frame = e.name; }
  }
  v.removeAttribute('src'); v.load(); v.remove();
  const credentials = mode === 'use-credentials' ? 'include' : 'same-origin';
  try {
    const r = await fetch(src, {headers: {Range: 'bytes=0-99'}, credentials, cache: 'no-store'});
    out.status = r.status;
    out.contentRange = r.headers.get('Content-Range') || '';
    out.acceptRanges = r.headers.get('Accept-Ranges') || '';
    out.etag = r.headers.get('ETag') || '';
    out.length = (await r.arrayBuffer()).byteLength;
  } catch (e) { out.fetch = e.name; }
  try {
    const r = await fetch(src, {headers: {Range: 'bytes=0-9,20-29'}, credentials, cache: 'no-store'});
    out.multi = String(r.status);
  } catch (e) { out.multi = e.name; }
  return out;
}
</script>`

type probeResult struct {
	Video, Seeked, Frame             string
	Status                           int
	ContentRange, AcceptRanges, ETag string
	Length                           int
	Fetch, Multi                     string
}

// TestChromium: a page on one loopback origin plays, with crossorigin, a
// video served through the policy from another, reads its frames, and
// reads ranges with their headers; origins and credentials the policy
// does not allow are refused by the browser.
func TestChromium(t *testing.T) {
	testenv.Short(t, "starts Chromium")
	b := uitest.Start(t)
	page := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, probePage)
	}))
	defer page.Close()
	origin := page.URL // http://127.0.0.1:port

	backend, err := local.New(local.Options{Root: "../testdata"})
	if err != nil {
		t.Fatal(err)
	}
	defer backend.Close()
	fi, err := os.Stat("../testdata/video.mp4")
	if err != nil {
		t.Fatal(err)
	}
	h, err := media.New(backend, media.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var preflights atomic.Int32
	mux := http.NewServeMux()
	policies := map[string]cors.Options{
		"/listed/":      {AllowedOrigins: []string{origin}},
		"/star/":        {AllowedOrigins: []string{"*"}},
		"/credentials/": {AllowedOrigins: []string{origin}, AllowCredentials: true},
		"/elsewhere/":   {AllowedOrigins: []string{"https://app.example.com"}},
		"/off/":         {},
	}
	for prefix, opts := range policies {
		p, err := cors.New(opts)
		if err != nil {
			t.Fatal(err)
		}
		mux.Handle(prefix, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodOptions {
				preflights.Add(1)
			}
			p.Middleware(http.StripPrefix(prefix[:len(prefix)-1], h)).ServeHTTP(w, r)
		}))
	}
	files := httptest.NewServer(mux)
	defer files.Close()
	if files.URL == origin {
		t.Fatal("the page and the files share an origin")
	}
	b.Navigate(t, origin+"/")

	size := strconv.FormatInt(fi.Size(), 10)
	allowed := probeResult{Video: "ok", Seeked: "ok", Frame: "readable", Status: 206,
		ContentRange: "bytes 0-99/" + size, AcceptRanges: "bytes", Length: 100, Multi: "206"}
	refused := probeResult{Video: "error", Fetch: "TypeError", Multi: "TypeError"}
	tests := []struct {
		prefix, mode string
		want         probeResult
	}{
		{"/listed/", "anonymous", allowed},
		{"/star/", "anonymous", allowed},
		{"/credentials/", "use-credentials", allowed},
		{"/credentials/", "anonymous", allowed},
		{"/listed/", "use-credentials", refused}, // no Allow-Credentials
		{"/star/", "use-credentials", refused},   // "*" never admits credentials
		{"/elsewhere/", "anonymous", refused},
		{"/off/", "anonymous", refused},
	}
	for _, tt := range tests {
		before := preflights.Load()
		got := uitest.Eval[probeResult](t, b, 60*time.Second,
			fmt.Sprintf("probe(%q, %q)", files.URL+tt.prefix+"video.mp4", tt.mode))
		t.Logf("%s crossorigin=%s: %+v", tt.prefix, tt.mode, got)
		want := tt.want
		if want.Status == 206 {
			if got.ETag == "" {
				t.Errorf("%s %s: the page cannot read ETag: not exposed", tt.prefix, tt.mode)
			}
			want.ETag = got.ETag
		}
		if got != want {
			t.Errorf("%s with crossorigin=%s:\n got %+v\nwant %+v", tt.prefix, tt.mode, got, want)
		}
		if want.Multi == "206" && preflights.Load() == before {
			t.Errorf("%s %s: the multi-range fetch was not preflighted", tt.prefix, tt.mode)
		}
	}
}
