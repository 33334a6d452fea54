package testenv

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// utf8Name is the fixture whose name needs escaping in URLs and headers.
const utf8Name = "vidéo 𝄞 test.mp4"

// copyFixtures copies files from the repository's testdata/ into a new
// temp dir and returns it.
func copyFixtures(t *testing.T, names ...string) string {
	t.Helper()
	dir := t.TempDir()
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join("..", "..", "testdata", n))
		if err != nil {
			t.Fatalf("reading fixture: %v", err)
		}
		if err := os.WriteFile(filepath.Join(dir, n), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func fileSHA(t *testing.T, path string) (string, []byte) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha(b), b
}

// get does a GET with optional headers and returns status, headers, body.
func get(t *testing.T, rawURL string, hdr map[string]string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", rawURL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: reading body: %v", rawURL, err)
	}
	return resp.StatusCode, resp.Header, b
}

func TestStartNginxStatic(t *testing.T) {
	root := copyFixtures(t, "video.mp4", utf8Name, "hello.txt")
	n := StartNginx(t, NginxConfig{
		ServerBlock: "location / {\n    root " + NginxQuote(root) + ";\n}\n",
	})
	if !strings.HasPrefix(n.URL, "http://127.0.0.1:") {
		t.Fatalf("URL = %q, want http://127.0.0.1:PORT", n.URL)
	}
	wantMP4, mp4 := fileSHA(t, filepath.Join(root, "video.mp4"))
	wantUTF8, _ := fileSHA(t, filepath.Join(root, utf8Name))
	size := len(mp4)

	tests := []struct {
		name         string
		path         string
		rng          string
		wantStatus   int
		wantSHA      string
		wantRange    string
		wantType     string
		wantAccessRe string // substring expected in the access log
	}{
		{"whole file", "/video.mp4", "", 200, wantMP4, "", "video/mp4", `"GET /video.mp4 HTTP/1.1" 200 ` + fmt.Sprint(size)},
		{"first 100 bytes", "/video.mp4", "bytes=0-99", 206, sha(mp4[:100]), fmt.Sprintf("bytes 0-99/%d", size), "video/mp4",
			fmt.Sprintf(`206 100 range="bytes=0-99" content_range="bytes 0-99/%d"`, size)},
		{"unaligned middle", "/video.mp4", "bytes=5000-12344", 206, sha(mp4[5000:12345]), fmt.Sprintf("bytes 5000-12344/%d", size), "video/mp4",
			`206 7345 range="bytes=5000-12344"`},
		{"suffix", "/video.mp4", "bytes=-10", 206, sha(mp4[size-10:]), fmt.Sprintf("bytes %d-%d/%d", size-10, size-1, size), "video/mp4",
			`range="bytes=-10"`},
		{"UTF-8 name, escaped", "/" + url.PathEscape(utf8Name), "", 200, wantUTF8, "", "video/mp4", "200 29837"},
		{"missing", "/nope.mp4", "", 404, "", "", "", `"GET /nope.mp4 HTTP/1.1" 404`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hdr := map[string]string{}
			if tc.rng != "" {
				hdr["Range"] = tc.rng
			}
			status, h, body := get(t, n.URL+tc.path, hdr)
			if status != tc.wantStatus {
				t.Fatalf("path=%q range=%q: status = %d, want %d", tc.path, tc.rng, status, tc.wantStatus)
			}
			if tc.wantSHA != "" && sha(body) != tc.wantSHA {
				t.Errorf("path=%q range=%q: body sha256 = %s, want %s", tc.path, tc.rng, sha(body), tc.wantSHA)
			}
			if got := h.Get("Content-Range"); got != tc.wantRange {
				t.Errorf("path=%q range=%q: Content-Range = %q, want %q", tc.path, tc.rng, got, tc.wantRange)
			}
			if tc.wantType != "" && h.Get("Content-Type") != tc.wantType {
				t.Errorf("path=%q: Content-Type = %q, want %q", tc.path, h.Get("Content-Type"), tc.wantType)
			}
			if !waitLogContains(n, tc.wantAccessRe) {
				t.Errorf("access log lacks %q:\n%s", tc.wantAccessRe, n.AccessLog())
			}
		})
	}

	if strings.Contains(n.AccessLog(), nginxReadyPath) {
		t.Errorf("access log has the readiness probe:\n%s", n.AccessLog())
	}
	if !strings.Contains(n.ErrorLog(), "start worker process") {
		t.Errorf("error log lacks the start-up notice:\n%s", n.ErrorLog())
	}

	// Stop: master and workers gone, port closed, Stop idempotent.
	master := n.Pid()
	workers := n.WorkerPids()
	if len(workers) != 1 {
		t.Errorf("worker pids = %v, want 1 worker", workers)
	}
	if err := n.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := n.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	for _, pid := range append([]int{master}, workers...) {
		if processAlive(pid) {
			t.Errorf("pid %d still running after Stop", pid)
		}
	}
	if left := childPids(master); len(left) != 0 {
		t.Errorf("children of master %d left after Stop: %v", master, left)
	}
	if _, err := http.Get(n.URL + "/video.mp4"); err == nil {
		t.Errorf("GET after Stop succeeded; want connection refused")
	}
}

// waitLogContains reports whether the access log contains want, waiting
// up to 3 s: nginx writes the line after it has sent the response.
func waitLogContains(n *Nginx, want string) bool {
	return strings.Contains(n.WaitAccessLog(func(log string) bool { return strings.Contains(log, want) }), want)
}

func TestStartNginxWorkerProcesses(t *testing.T) {
	n := StartNginx(t, NginxConfig{WorkerProcesses: 2, ServerBlock: "location / { return 200 \"ok\\n\"; }"})
	status, _, body := get(t, n.URL+"/", nil)
	if status != 200 || string(body) != "ok\n" {
		t.Fatalf("GET / = %d %q, want 200 \"ok\\n\"", status, body)
	}
	if w := n.WorkerPids(); len(w) != 2 {
		t.Errorf("worker pids = %v, want 2", w)
	}
}

func TestStartNginxBadConfigFails(t *testing.T) {
	ft := &fatalRecorder{TB: t}
	func() {
		defer func() { _ = recover() }()
		StartNginx(ft, NginxConfig{ServerBlock: "no_such_directive on;"})
	}()
	if !ft.failed {
		t.Fatalf("StartNginx with an unknown directive did not fail the test")
	}
	if !strings.Contains(ft.msg, "no_such_directive") {
		t.Errorf("failure message does not quote nginx's complaint:\n%s", ft.msg)
	}
}

// fatalRecorder records Fatalf instead of ending the test, so the failure
// path of StartNginx can be checked. Fatalf panics to stop StartNginx as
// runtime.Goexit would.
type fatalRecorder struct {
	testing.TB
	failed bool
	msg    string
}

func (f *fatalRecorder) Fatalf(format string, args ...any) {
	f.failed = true
	f.msg = fmt.Sprintf(format, args...)
	panic("fatalRecorder")
}

func (f *fatalRecorder) Helper() {}

// TestNginxXAccelRedirect proves what the comment at the top of nginx.go
// says about escaping X-Accel-Redirect values. The upstream answers every
// request with the X-Accel-Redirect value given in the ?x= query parameter.
func TestNginxXAccelRedirect(t *testing.T) {
	root := copyFixtures(t, "video.mp4", utf8Name)
	if err := os.Mkdir(filepath.Join(root, "sub"), 0o700); err != nil {
		t.Fatal(err)
	}
	extra := []string{"sub/in sub.txt", "plain.txt", "with space.txt", "a?b.txt", "a", "100%.txt", "x%20y.txt", "a+b.txt", "semi;colon.txt", "a#b.txt"}
	for _, name := range extra {
		if err := os.WriteFile(filepath.Join(root, name), []byte("file:"+name), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Accel-Redirect", r.URL.Query().Get("x"))
		w.Header().Set("Content-Type", "video/x-from-upstream")
		w.Header().Set("Content-Disposition", `inline; filename="f"`)
		// The body is discarded by nginx when it redirects.
		io.WriteString(w, "upstream body")
	}))
	defer up.Close()
	if !strings.HasPrefix(up.Listener.Addr().String(), "127.0.0.1:") {
		t.Fatalf("upstream listens on %s, want 127.0.0.1", up.Listener.Addr())
	}
	n := StartNginx(t, NginxConfig{ServerBlock: NginxProxyConfig(up.Listener.Addr().String(), "/_internal", root)})

	wantMP4, mp4 := fileSHA(t, filepath.Join(root, "video.mp4"))
	wantUTF8, _ := fileSHA(t, filepath.Join(root, utf8Name))
	file := func(name string) string { return sha([]byte("file:" + name)) }

	tests := []struct {
		name       string
		accel      string // X-Accel-Redirect value the upstream sends
		rng        string
		wantStatus int
		wantSHA    string // "" for error pages
	}{
		{"ASCII", "/_internal/video.mp4", "", 200, wantMP4},
		{"ASCII with Range", "/_internal/video.mp4", "bytes=100-199", 206, sha(mp4[100:200])},
		{"UTF-8 escaped (url.PathEscape)", "/_internal/" + url.PathEscape(utf8Name), "", 200, wantUTF8},
		{"UTF-8 escaped (URL.EscapedPath)", (&url.URL{Path: "/_internal/" + utf8Name}).EscapedPath(), "", 200, wantUTF8},
		{"UTF-8 raw also works", "/_internal/" + utf8Name, "", 200, wantUTF8},
		{"space escaped", "/_internal/with%20space.txt", "", 200, file("with space.txt")},
		{"space raw also works", "/_internal/with space.txt", "", 200, file("with space.txt")},
		{"question mark escaped", "/_internal/a%3Fb.txt", "", 200, file("a?b.txt")},
		{"question mark raw starts the query", "/_internal/a?b.txt", "", 200, file("a")},
		{"percent escaped", "/_internal/100%25.txt", "", 200, file("100%.txt")},
		{"percent raw is lost", "/_internal/100%.txt", "", 404, ""},
		{"decoded once: %2520 is %20 on disk", "/_internal/x%2520y.txt", "", 200, file("x%20y.txt")},
		{"plus is literal", "/_internal/a+b.txt", "", 200, file("a+b.txt")},
		{"plus escaped", "/_internal/a%2Bb.txt", "", 200, file("a+b.txt")},
		{"semicolon raw", "/_internal/semi;colon.txt", "", 200, file("semi;colon.txt")},
		{"hash escaped", "/_internal/a%23b.txt", "", 200, file("a#b.txt")},
		{"escaped slash decodes", "/_internal/" + url.PathEscape("sub/in sub.txt"), "", 200, file("sub/in sub.txt")},
		{"subdirectory, EscapedPath", (&url.URL{Path: "/_internal/sub/in sub.txt"}).EscapedPath(), "", 200, file("sub/in sub.txt")},
		{"dot segment collapsed", "/_internal/./plain.txt", "", 200, file("plain.txt")},
		{"double slash collapsed", "/_internal//plain.txt", "", 200, file("plain.txt")},
		{"dot-dot refused", "/_internal/../nginx.conf", "", 404, ""},
		{"encoded dot-dot refused", "/_internal/%2e%2e/nginx.conf", "", 404, ""},
		{"encoded dot-dot-slash refused", "/_internal/%2E%2E%2Fnginx.conf", "", 404, ""},
		{"NUL refused", "/_internal/plain.txt%00", "", 404, ""},
		{"missing file", "/_internal/nope.mp4", "", 404, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hdr := map[string]string{}
			if tc.rng != "" {
				hdr["Range"] = tc.rng
			}
			status, h, body := get(t, n.URL+"/get?x="+url.QueryEscape(tc.accel), hdr)
			if status != tc.wantStatus {
				t.Fatalf("X-Accel-Redirect %q: status = %d, want %d\nerror.log:\n%s", tc.accel, status, tc.wantStatus, n.ErrorLog())
			}
			if tc.wantSHA == "" {
				return
			}
			if sha(body) != tc.wantSHA {
				t.Errorf("X-Accel-Redirect %q: body sha256 = %s (%q...), want %s", tc.accel, sha(body), body[:min(len(body), 32)], tc.wantSHA)
			}
			if got := h.Get("Content-Type"); got != "video/x-from-upstream" {
				t.Errorf("X-Accel-Redirect %q: Content-Type = %q, want the upstream's", tc.accel, got)
			}
			if got := h.Get("Content-Disposition"); got != `inline; filename="f"` {
				t.Errorf("X-Accel-Redirect %q: Content-Disposition = %q, want the upstream's", tc.accel, got)
			}
			if h.Get("X-Accel-Redirect") != "" {
				t.Errorf("X-Accel-Redirect header leaked to the client: %q", h.Get("X-Accel-Redirect"))
			}
		})
	}

	// A client cannot reach the internal location directly.
	for _, p := range []string{"/_internal/video.mp4", "/_internal/" + url.PathEscape(utf8Name)} {
		if status, _, _ := get(t, n.URL+p, nil); status != 404 {
			t.Errorf("direct GET %s: status = %d, want 404", p, status)
		}
	}
	if !waitLogContains(n, `upstream_status="200"`) {
		t.Errorf("access log lacks upstream_status:\n%s", n.AccessLog())
	}
}

func TestNginxProxyConfig(t *testing.T) {
	tests := []struct {
		prefix, root string
		want         []string
	}{
		{"/_internal", "/srv/media", []string{`location "/_internal/" {`, `alias "/srv/media/";`, "internal;", "proxy_pass http://127.0.0.1:9;"}},
		{"/_internal/", "/srv/media/", []string{`location "/_internal/" {`, `alias "/srv/media/";`}},
		{"x", `/tmp/a "q"`, []string{`location "/x/" {`, `alias "/tmp/a \"q\"/";`}},
	}
	for _, tc := range tests {
		got := NginxProxyConfig("127.0.0.1:9", tc.prefix, tc.root)
		for _, w := range tc.want {
			if !strings.Contains(got, w) {
				t.Errorf("NginxProxyConfig(%q, %q) lacks %q:\n%s", tc.prefix, tc.root, w, got)
			}
		}
	}
}

// TestNginxStopForcesStuckRequest checks the SIGKILL path: a proxied
// response that never ends keeps a graceful shutdown (SIGQUIT) waiting, so
// Stop must kill the worker and the master after 5 s and leave nothing.
func TestNginxStopForcesStuckRequest(t *testing.T) {
	Short(t, "starts nginx and waits 5 s for its forced stop")
	release := make(chan struct{})
	started := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(200)
		io.WriteString(w, "first chunk")
		w.(http.Flusher).Flush()
		close(started)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer up.Close()
	defer close(release)
	n := StartNginx(t, NginxConfig{ServerBlock: NginxProxyConfig(up.Listener.Addr().String(), "/_internal", t.TempDir())})

	resp, err := http.Get(n.URL + "/stuck")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	<-started
	master, workers := n.Pid(), n.WorkerPids()
	if len(workers) == 0 {
		t.Fatalf("no workers found for master %d", master)
	}
	begin := time.Now()
	if err := n.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if d := time.Since(begin); d < 4*time.Second || d > 9*time.Second {
		t.Errorf("Stop took %v, want about 5 s (graceful wait, then SIGKILL)", d)
	}
	for _, pid := range append([]int{master}, workers...) {
		if processAlive(pid) {
			t.Errorf("pid %d still running after Stop", pid)
		}
	}
}
