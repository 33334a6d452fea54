package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/rangeserve/rangeserve/internal/testenv"
)

// activePayloads are stored files whose script, if it ran on the origin,
// would rename the document, set a cookie for the whole origin and fetch a
// beacon path that nginx's access log records.
var activePayloads = map[string]string{
	"evil.html": `<!doctype html><title>inert</title><script>
document.title = 'pwned';
document.cookie = 'pwned=1; path=/';
fetch('/beacon' + location.pathname.replace(/\W/g, '-'));
</script><p>stored page</p>`,
	"evil.svg": `<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><title>inert</title><script>
document.title = 'pwned';
document.cookie = 'pwned=1; path=/';
fetch('/beacon' + location.pathname.replace(/\W/g, '-'));
</script><rect width="10" height="10"/></svg>`,
}

// accessLine is one rangeserve access-log entry.
type accessLine struct {
	path, rng string
	status    int
	bytes     int64
}

func accessLines(logs string) []accessLine {
	var out []accessLine
	for line := range strings.SplitSeq(logs, "\n") {
		f := parseLogfmt(line)
		if f["msg"] != "request" {
			continue
		}
		st, _ := strconv.Atoi(f["status"])
		n, _ := strconv.ParseInt(f["bytes"], 10, 64)
		out = append(out, accessLine{path: f["path"], rng: f["range"], status: st, bytes: n})
	}
	return out
}

// TestNginxActiveContentAndRanges puts real nginx in front of an x-accel
// mount (the README's proxy configuration without any add_header, so that
// rangeserve's own behaviour is what is tested) and checks issue 10's
// points 2 and 4:
//
//   - an .html and an .svg holding a script reach the client with
//     rangeserve's sandbox CSP and nosniff, served by rangeserve rather than
//     delegated (nginx would drop both headers), and the script does not run
//     in a real Chromium: the title stays, no cookie, no beacon. The same
//     bytes served by nginx without the sandbox do run their script in the
//     same browser, so the check can fail.
//   - 1,000 overlapping ranges get one one-byte part (serve mode's
//     answer), not the 1,000 parts nginx would send; an unsatisfiable
//     range is rangeserve's 416; a single range still goes through
//     X-Accel-Redirect (rangeserve's log: 0 bytes; nginx's: the 206).
func TestNginxActiveContentAndRanges(t *testing.T) {
	testenv.Require(t, "nginx")
	root := t.TempDir()
	for name, body := range activePayloads {
		if err := os.WriteFile(filepath.Join(root, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	video, err := os.ReadFile(filepath.Join(repoTestdata(t), "video.mp4"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "video.mp4"), video, 0o644); err != nil {
		t.Fatal(err)
	}
	srv, _, logs := startApp(t, fmt.Sprintf(`
mounts:
  - prefix: /m/
    backend: local
    root: %q
    auth: public
    mode: x-accel
    x_accel:
      internal_prefix: /_protected
`, root))
	// The control locations serve the same files straight from disk,
	// without rangeserve and without a sandbox.
	control := fmt.Sprintf(`
location = /control.html {
    alias %s;
}
location = /control.svg {
    alias %s;
}
`, testenv.NginxQuote(filepath.Join(root, "evil.html")), testenv.NginxQuote(filepath.Join(root, "evil.svg")))
	ngx := testenv.StartNginx(t, testenv.NginxConfig{
		ServerBlock: testenv.NginxProxyConfig(strings.TrimPrefix(srv.URL, "http://"), "/_protected", root) + control,
	})

	// The headers reach the client through nginx, and the bytes come
	// from rangeserve.
	for name, body := range activePayloads {
		r := get(t, ngx.URL+"/m/"+name, nil)
		csp := r.Header.Get("Content-Security-Policy")
		if r.StatusCode != 200 || !strings.HasPrefix(csp, "sandbox") || r.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s via nginx: %d CSP %q nosniff %q; want 200 with the sandbox and nosniff\nnginx error log:\n%s",
				name, r.StatusCode, csp, r.Header.Get("X-Content-Type-Options"), ngx.ErrorLog())
		}
		if sum(r.Body) != sum([]byte(body)) {
			t.Errorf("%s via nginx: body sha256 %s, want %s", name, sum(r.Body), sum([]byte(body)))
		}
	}
	for _, l := range accessLines(logs.String()) {
		if strings.HasPrefix(l.path, "/m/evil.") && (l.status != 200 || l.bytes == 0) {
			t.Errorf("%s: rangeserve logged status %d, %d bytes; want the page served by rangeserve, not delegated", l.path, l.status, l.bytes)
		}
	}

	// Ranges through nginx.
	size := strconv.Itoa(len(video))
	many := "bytes=" + strings.Repeat("0-0,", 999) + "0-0"
	r := get(t, ngx.URL+"/m/video.mp4", map[string]string{"Range": many})
	if r.StatusCode != 206 || len(r.Body) != 1 || r.Body[0] != video[0] || r.Header.Get("Content-Range") != "bytes 0-0/"+size {
		t.Errorf("1000 overlapping ranges via nginx: %d, %d bytes, Content-Range %q, Content-Type %q; want serve mode's one byte (206 bytes 0-0/%s)",
			r.StatusCode, len(r.Body), r.Header.Get("Content-Range"), r.Header.Get("Content-Type"), size)
	}
	r = get(t, ngx.URL+"/m/video.mp4", map[string]string{"Range": "bytes=0-9,20-29,0-4"})
	if r.StatusCode != 206 || !strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/byteranges") {
		t.Errorf("two ranges via nginx: %d %q", r.StatusCode, r.Header.Get("Content-Type"))
	} else {
		checkMultipart(t, "two ranges via nginx", r, video, [][2]int64{{0, 9}, {20, 29}})
	}
	r = get(t, ngx.URL+"/m/video.mp4", map[string]string{"Range": "bytes=" + size + "-"})
	if r.StatusCode != 416 || r.Header.Get("Content-Range") != "bytes */"+size || string(r.Body) != "416 range not satisfiable\n" {
		t.Errorf("unsatisfiable range via nginx: %d %q %q; want rangeserve's 416", r.StatusCode, r.Header.Get("Content-Range"), r.Body)
	}
	r = get(t, ngx.URL+"/m/video.mp4", map[string]string{"Range": "bytes=1000-1999"})
	if r.StatusCode != 206 || sum(r.Body) != sum(video[1000:2000]) || r.Header.Get("Content-Range") != "bytes 1000-1999/"+size {
		t.Errorf("single range via nginx: %d %q, %d bytes", r.StatusCode, r.Header.Get("Content-Range"), len(r.Body))
	}
	var delegated, served []accessLine
	for _, l := range accessLines(logs.String()) {
		if l.path != "/m/video.mp4" {
			continue
		}
		if l.status == 200 && l.bytes == 0 {
			delegated = append(delegated, l)
		} else {
			served = append(served, l)
		}
	}
	if len(delegated) != 1 || delegated[0].rng != "bytes=1000-1999" {
		t.Errorf("delegated requests (status 200, 0 bytes in rangeserve's log): %+v; want only the single range", delegated)
	}
	if len(served) != 3 {
		t.Errorf("requests served by rangeserve: %+v; want the 1000-range, two-range and unsatisfiable ones", served)
	}
	const single = `"GET /m/video.mp4 HTTP/1.1" 206 1000 range="bytes=1000-1999"`
	if !strings.Contains(ngx.WaitAccessLog(func(log string) bool { return strings.Contains(log, single) }), single) {
		t.Errorf("nginx's access log lacks its 206 of 1000 bytes for the single range:\n%s", ngx.AccessLog())
	}

	// Chromium: the stored pages do not run their script on the origin.
	b := startBrowser(t)
	visit := func(path string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
		defer cancel()
		if err := chromedp.Do(ctx, chromedp.Navigate(ngx.URL+path)); err != nil {
			t.Fatalf("opening %s: %v", path, err)
		}
		time.Sleep(500 * time.Millisecond) // time for the beacon to arrive
		return eval[string](t, b, 5*time.Second, `document.title`)
	}
	cookies := func() string {
		t.Helper()
		// A plain text document of the same origin sees the origin's cookies.
		ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
		defer cancel()
		if err := chromedp.Do(ctx, chromedp.Navigate(ngx.URL+"/beacon-cookie-check")); err != nil {
			t.Fatalf("opening the cookie check page: %v", err)
		}
		return eval[string](t, b, 5*time.Second, `document.cookie`)
	}
	for _, name := range []string{"evil.html", "evil.svg"} {
		if title := visit("/m/" + name); title == "pwned" {
			t.Errorf("%s: the stored script ran (document.title %q)", name, title)
		}
		beacon := "/beacon-m-" + strings.ReplaceAll(name, ".", "-")
		if strings.Contains(ngx.AccessLog(), beacon) {
			t.Errorf("%s: the stored script ran (nginx logged its beacon %s)", name, beacon)
		}
	}
	if c := cookies(); strings.Contains(c, "pwned") {
		t.Errorf("a stored script set a cookie on the origin: %q", c)
	}
	// The control: the same files without rangeserve's sandbox do run.
	for _, name := range []string{"control.html", "control.svg"} {
		title := visit("/" + name)
		beacon := "/beacon-" + strings.ReplaceAll(name, ".", "-")
		deadline := time.Now().Add(5 * time.Second)
		for !strings.Contains(ngx.AccessLog(), beacon) && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if title != "pwned" || !strings.Contains(ngx.AccessLog(), beacon) {
			t.Errorf("control %s: title %q, beacon logged %v: the browser did not run the unsandboxed script, so the test proves nothing",
				name, title, strings.Contains(ngx.AccessLog(), beacon))
		}
	}
	if c := cookies(); !strings.Contains(c, "pwned=1") {
		t.Errorf("control: cookies %q, want the one the unsandboxed script set", c)
	}
}

// TestNginxREADMEInternalLocation checks that the README's lines for the
// internal location (read from README.md) are valid nginx and do what they
// say: nosniff on delegated responses, the sandbox on active types only,
// one range at most, and single ranges through X-Accel-Redirect still
// work. They are defence in depth: rangeserve never delegates active
// content or multi-range requests, but the internal location sends
// nosniff, the sandbox for active types and at most one range by itself
// too ($sent_http_content_type is the Content-Type the response carries,
// rangeserve's own after X-Accel-Redirect).
func TestNginxREADMEInternalLocation(t *testing.T) {
	testenv.Require(t, "nginx")
	root := t.TempDir()
	for name, body := range activePayloads {
		if err := os.WriteFile(filepath.Join(root, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	video, err := os.ReadFile(filepath.Join(repoTestdata(t), "video.mp4"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "video.mp4"), video, 0o644); err != nil {
		t.Fatal(err)
	}
	srv, _, _ := startApp(t, fmt.Sprintf(`
mounts:
  - prefix: /m/
    backend: local
    root: %q
    auth: public
    mode: x-accel
    x_accel:
      internal_prefix: /_protected
`, root))
	// The proxy location of NginxProxyConfig, the README's internal
	// location, and the same lines on a location clients can reach, to
	// see them applied to active content too.
	proxy := testenv.NginxProxyConfig(strings.TrimPrefix(srv.URL, "http://"), "/_unused", root)
	proxy = proxy[:strings.Index(proxy, "location \"/_unused/\"")]
	readmeCSPMap, _ := readmeNginxBlock(t)
	readmeInternalLocation := readmeInternalDirectives(t)
	ngx := testenv.StartNginx(t, testenv.NginxConfig{
		HTTPBlock: readmeCSPMap,
		ServerBlock: proxy + fmt.Sprintf(`
location /_protected/ {
    internal;
    alias %s;
%s
}
location /direct/ {
    alias %s;
%s
}
`, testenv.NginxQuote(root+"/"), readmeInternalLocation, testenv.NginxQuote(root+"/"), readmeInternalLocation),
	})
	size := strconv.Itoa(len(video))
	r := get(t, ngx.URL+"/m/video.mp4", map[string]string{"Range": "bytes=1000-1999"})
	if r.StatusCode != 206 || sum(r.Body) != sum(video[1000:2000]) || r.Header.Get("Content-Range") != "bytes 1000-1999/"+size ||
		r.Header.Get("X-Content-Type-Options") != "nosniff" || r.Header.Get("Content-Security-Policy") != "" {
		t.Errorf("single range through the README's internal location: %d %q, nosniff %q, CSP %q\nerror log:\n%s", r.StatusCode,
			r.Header.Get("Content-Range"), r.Header.Get("X-Content-Type-Options"), r.Header.Get("Content-Security-Policy"), ngx.ErrorLog())
	}
	const want = `"GET /m/video.mp4 HTTP/1.1" 206 1000`
	if !strings.Contains(ngx.WaitAccessLog(func(log string) bool { return strings.Contains(log, want) }), want) {
		t.Errorf("the single range did not come from nginx:\n%s", ngx.AccessLog())
	}
	for _, c := range []struct {
		path string
		csp  bool
	}{{"/direct/evil.html", true}, {"/direct/evil.svg", true}, {"/direct/video.mp4", false}} {
		r := get(t, ngx.URL+c.path, nil)
		csp := r.Header.Get("Content-Security-Policy")
		if r.StatusCode != 200 || strings.HasPrefix(csp, "sandbox") != c.csp || r.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: %d CSP %q nosniff %q, want sandbox=%v", c.path, r.StatusCode, csp, r.Header.Get("X-Content-Type-Options"), c.csp)
		}
	}
	r = get(t, ngx.URL+"/direct/video.mp4", map[string]string{"Range": "bytes=" + strings.Repeat("0-0,", 999) + "0-0"})
	if r.StatusCode != 200 || len(r.Body) != len(video) {
		t.Errorf("max_ranges 1 with 1000 ranges: %d, %d bytes; want the whole file once (200)", r.StatusCode, len(r.Body))
	}
}
