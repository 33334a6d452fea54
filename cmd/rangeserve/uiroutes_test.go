package main

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rangeserve/rangeserve/static"
)

// browserAccept is Chromium's Accept header for a page.
const browserAccept = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"

// TestUIRoutes checks the UI's routes through the whole router: the page
// and its assets at /ui/ with the CSP, /ui → /ui/, GET /api/mounts and its
// methods, a browser's folder requests sent to the UI (inside a mount by
// media, elsewhere by the router) while other clients get what they got
// before, and the reserved names of a mount at /.
func TestUIRoutes(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"docs", "ui", "api"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, body := range map[string]string{"docs/a.txt": "a\n", "ui/index.html": "<p>shadowed</p>\n", "api/mounts": "shadowed\n", "hello.txt": "hello\n"} {
		if err := os.WriteFile(filepath.Join(root, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	srv, _, logs := startApp(t, fmt.Sprintf(`
mounts:
  - {prefix: /, backend: local, root: %q, auth: public}
  - {prefix: /videos/, backend: local, root: %q, auth: public, archives: false, mode: x-accel, x_accel: {internal_prefix: /_protected}}
`, root, repoTestdata(t)))
	page := map[string]string{"Accept": browserAccept}
	for _, c := range []struct {
		method, path string
		hdr          map[string]string
		status       int
		loc, ctype   string
		body         string // a substring of the body
	}{
		{"GET", "/ui/", nil, 200, "", "text/html; charset=utf-8", `<script type="module" src="app.js">`},
		{"GET", "/ui/index.html", nil, 200, "", "text/html; charset=utf-8", "rangeserve"},
		{"HEAD", "/ui/", nil, 200, "", "text/html; charset=utf-8", ""},
		{"GET", "/ui/app.js", nil, 200, "", "text/javascript; charset=utf-8", "import"},
		{"GET", "/ui/app.css", nil, 200, "", "text/css; charset=utf-8", ""},
		{"GET", "/ui", nil, 301, "/ui/", "", ""},
		{"GET", "/ui/nope.js", nil, 404, "", "", ""},
		{"GET", "//ui/app.js", nil, 404, "", "", ""},
		{"POST", "/ui/", nil, 405, "", "", ""},
		{"GET", "/api/mounts", nil, 200, "", "application/json", `"mounts"`},
		{"HEAD", "/api/mounts", nil, 200, "", "application/json", ""},
		{"POST", "/api/mounts", nil, 405, "", "", ""},
		{"DELETE", "/api/mounts", nil, 405, "", "", ""},
		// A browser asking for a folder goes to the UI.
		{"GET", "/", page, 302, "/ui/#/", "", ""},
		{"GET", "/docs/", page, 302, "/ui/#/docs/", "", ""},
		{"GET", "/docs", page, 302, "/ui/#/docs/", "", ""},
		{"GET", "/videos/", page, 302, "/ui/#/videos/", "", ""},
		// A folder through a share link keeps the link in the fragment.
		{"GET", "/docs/?sig=x&exp=1&kid=k1", page, 302, "/ui/#/docs/?exp=1&kid=k1&sig=x", "", ""},
		{"GET", "/docs/?exp=1&sig=x&format=json", page, 200, "", "application/json", `"a.txt"`},
		{"GET", "/docs/?exp=1&x=%zz", page, 302, "/ui/#/docs/", "", ""}, // not a link: media drops the bad pair
		// Files, listings, archives and non-browsers are unchanged.
		{"GET", "/hello.txt", page, 200, "", "text/plain; charset=utf-8", "hello"},
		{"GET", "/", nil, 404, "", "", ""},
		{"GET", "/", map[string]string{"Accept": "*/*"}, 404, "", "", ""},
		{"GET", "/docs/?format=json", page, 200, "", "application/json", `"a.txt"`},
		{"GET", "/docs/?archive=zip", page, 200, "", "application/zip", ""},
		{"GET", "/videos/?archive=zip", nil, 404, "", "", ""},
		// The mount at / does not serve the reserved names.
		{"GET", "/ui/index.html", page, 200, "", "text/html; charset=utf-8", "rangeserve"},
		{"GET", "/api/mounts", page, 200, "", "application/json", `"mounts"`},
	} {
		r := do(t, c.method, srv.URL+c.path, c.hdr)
		what := fmt.Sprintf("%s %s (Accept %q)", c.method, c.path, c.hdr["Accept"])
		if r.StatusCode != c.status || r.Header.Get("Location") != c.loc {
			t.Errorf("%s: %d, Location %q; want %d %q (body %.100q)", what, r.StatusCode, r.Header.Get("Location"), c.status, c.loc, r.Body)
			continue
		}
		if c.ctype != "" && r.Header.Get("Content-Type") != c.ctype {
			t.Errorf("%s: Content-Type %q, want %q", what, r.Header.Get("Content-Type"), c.ctype)
		}
		if !strings.Contains(string(r.Body), c.body) || strings.Contains(string(r.Body), "shadowed") {
			t.Errorf("%s: body %.200q, want it to hold %q", what, r.Body, c.body)
		}
		if strings.HasPrefix(c.path, "/ui/") && c.status != 404 && r.Header.Get("Content-Security-Policy") != static.DefaultCSP {
			t.Errorf("%s: CSP %q, want static.DefaultCSP", what, r.Header.Get("Content-Security-Policy"))
		}
		if c.status == 405 {
			want := "GET, HEAD"
			if got := r.Header.Get("Allow"); got != want {
				t.Errorf("%s: Allow %q, want %q", what, got, want)
			}
		}
		if c.method == "HEAD" && len(r.Body) != 0 {
			t.Errorf("%s: %d bytes of body", what, len(r.Body))
		}
	}

	// The mount list: prefixes, policies, modes, backends; no root.
	r := get(t, srv.URL+"/api/mounts", nil)
	var got struct {
		Mounts []map[string]any `json:"mounts"`
	}
	if err := json.Unmarshal(r.Body, &got); err != nil {
		t.Fatalf("/api/mounts: %v: %q", err, r.Body)
	}
	want := []map[string]any{
		{"prefix": "/", "auth": "public", "mode": "serve", "backend": "local", "archives": true},
		{"prefix": "/videos/", "auth": "public", "mode": "x-accel", "backend": "local", "archives": false},
	}
	if !slices.EqualFunc(got.Mounts, want, func(a, b map[string]any) bool { return fmt.Sprint(a) == fmt.Sprint(b) }) {
		t.Errorf("/api/mounts = %v, want %v", got.Mounts, want)
	}
	if strings.Contains(string(r.Body), root) || strings.Contains(string(r.Body), "_protected") {
		t.Errorf("/api/mounts tells a root or an internal prefix: %s", r.Body)
	}

	// Start-up warned about the shadowed entries.
	for _, name := range []string{"ui", "api"} {
		if !strings.Contains(logs.String(), "hidden by rangeserve's own /"+name+"/") {
			t.Errorf("no start-up warning for the shadowed %s/ of the mount at /:\n%s", name, logs.String())
		}
	}
}

// TestUIRoutesWithoutRootMount: with mounts below / only, a browser asking
// for / or a folder no mount serves goes to the UI (which lists the mounts
// or says the folder does not exist); other clients still get 404.
func TestUIRoutesWithoutRootMount(t *testing.T) {
	srv, _, logs := startApp(t, fmt.Sprintf(`
mounts:
  - {prefix: /media/, backend: local, root: %q, auth: public}
`, repoTestdata(t)))
	page := map[string]string{"Accept": browserAccept}
	for _, c := range []struct {
		method, path string
		hdr          map[string]string
		status       int
		loc          string
	}{
		{"GET", "/", page, 302, "/ui/#/"},
		{"HEAD", "/", page, 302, "/ui/#/"},
		{"GET", "/other/", page, 302, "/ui/#/other/"},
		{"GET", "//other//x/", page, 302, "/ui/#/other/x/"},
		{"GET", "/%3Cb%3E/", page, 302, "/ui/#/%3Cb%3E/"},
		{"GET", "/media", page, 302, "/ui/#/media/"},
		{"GET", "/", nil, 404, ""},
		{"GET", "/other", page, 404, ""},
		{"GET", "/?format=json", page, 404, ""},
		{"POST", "/", page, 404, ""},
		{"GET", "/a/../b/", page, 404, ""},
		{"GET", "/media/video.mp4", page, 200, ""},
	} {
		r := do(t, c.method, srv.URL+c.path, c.hdr)
		if r.StatusCode != c.status || r.Header.Get("Location") != c.loc {
			t.Errorf("%s %s: %d, Location %q; want %d %q", c.method, c.path, r.StatusCode, r.Header.Get("Location"), c.status, c.loc)
		}
	}
	if strings.Contains(logs.String(), "hidden by rangeserve") {
		t.Errorf("a shadowing warning without a mount at /:\n%s", logs.String())
	}
}

// TestMediaOrigins: the UI's CSP allows the S3 endpoints of redirect
// mounts only, with the scheme tls says and bucket subdomains unless
// path_style.
func TestMediaOrigins(t *testing.T) {
	cfg, err := parseConfig("test.yaml", ".", []byte(fmt.Sprintf(`
mounts:
  - {prefix: /local/, backend: local, root: %q, auth: public}
  - {prefix: /served/, backend: s3, s3: {endpoint: 'served.example:9000', bucket: b}, auth: public}
  - {prefix: /a/, backend: s3, s3: {endpoint: 'S3.Example.com', bucket: b}, auth: public, mode: redirect}
  - {prefix: /b/, backend: s3, s3: {endpoint: '127.0.0.1:9000', bucket: b, tls: false, path_style: true}, auth: public, mode: redirect}
  - {prefix: /c/, backend: s3, s3: {endpoint: 's3.example.com', bucket: c}, auth: public, mode: redirect}
`, repoTestdata(t))))
	if err != nil {
		t.Fatal(err)
	}
	got := cfg.mediaOrigins()
	want := []string{"https://s3.example.com", "https://*.s3.example.com", "http://127.0.0.1:9000"}
	if !slices.Equal(got, want) {
		t.Errorf("mediaOrigins = %q, want %q", got, want)
	}
	srv, _, _ := startApp(t, fmt.Sprintf(`
mounts:
  - {prefix: /b/, backend: local, root: %q, auth: public}
`, repoTestdata(t)))
	if csp := get(t, srv.URL+"/ui/", nil).Header.Get("Content-Security-Policy"); csp != static.DefaultCSP {
		t.Errorf("CSP without redirect mounts: %q", csp)
	}
}

func TestListenURL(t *testing.T) {
	for _, c := range []struct {
		addr net.Addr
		want string
	}{
		{&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080}, "http://127.0.0.1:8080/ui/"},
		{&net.TCPAddr{IP: net.IPv4zero, Port: 8080}, "http://localhost:8080/ui/"},
		{&net.TCPAddr{IP: net.IPv6unspecified, Port: 80}, "http://localhost:80/ui/"},
		{&net.TCPAddr{IP: net.IPv6loopback, Port: 8080}, "http://[::1]:8080/ui/"},
	} {
		if got := listenURL(c.addr); got != c.want {
			t.Errorf("listenURL(%v) = %q, want %q", c.addr, got, c.want)
		}
	}
}
