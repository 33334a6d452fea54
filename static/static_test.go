package static_test

import (
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/rangeserve/rangeserve/static"
)

// securityHeaders are on every response of the handler, errors included.
var securityHeaders = map[string]string{
	"Content-Security-Policy": static.DefaultCSP,
	"X-Content-Type-Options":  "nosniff",
	"Referrer-Policy":         "no-referrer",
	"X-Frame-Options":         "DENY",
}

func serve(h http.Handler, method, target string, hdr map[string]string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestHandler(t *testing.T) {
	h := static.Handler()
	index, err := fs.ReadFile(static.FS(), "index.html")
	if err != nil {
		t.Fatal(err)
	}
	appJS, err := fs.ReadFile(static.FS(), "app.js")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		method, path string
		status       int
		ctype        string
		body         []byte // nil: not checked (HEAD: must be empty)
	}{
		{"GET", "/", 200, "text/html; charset=utf-8", index},
		{"HEAD", "/", 200, "text/html; charset=utf-8", nil},
		{"GET", "/index.html", 200, "text/html; charset=utf-8", index},
		{"GET", "/app.js", 200, "text/javascript; charset=utf-8", appJS},
		{"HEAD", "/app.js", 200, "text/javascript; charset=utf-8", nil},
		{"GET", "/app.css", 200, "text/css; charset=utf-8", nil},
		{"GET", "/favicon.svg", 200, "image/svg+xml", nil},
		{"GET", "/nope.js", 404, "text/plain; charset=utf-8", nil},
		{"GET", "/ui/app.js", 404, "text/plain; charset=utf-8", nil}, // the caller strips the prefix
		{"GET", "/../static.go", 404, "text/plain; charset=utf-8", nil},
		{"GET", "/app.js/", 404, "text/plain; charset=utf-8", nil},
		{"POST", "/", 405, "text/plain; charset=utf-8", nil},
		{"PUT", "/app.js", 405, "text/plain; charset=utf-8", nil},
	} {
		rec := serve(h, c.method, c.path, nil)
		what := c.method + " " + c.path
		if rec.Code != c.status {
			t.Errorf("%s: status = %d, want %d", what, rec.Code, c.status)
		}
		if ct := rec.Header().Get("Content-Type"); ct != c.ctype {
			t.Errorf("%s: Content-Type = %q, want %q", what, ct, c.ctype)
		}
		for k, v := range securityHeaders {
			if got := rec.Header().Get(k); got != v {
				t.Errorf("%s: %s = %q, want %q", what, k, got, v)
			}
		}
		if c.status == 405 && rec.Header().Get("Allow") != "GET, HEAD" {
			t.Errorf("%s: Allow = %q", what, rec.Header().Get("Allow"))
		}
		if c.status != 200 {
			continue
		}
		if cc := rec.Header().Get("Cache-Control"); cc != "no-cache" {
			t.Errorf("%s: Cache-Control = %q, want no-cache", what, cc)
		}
		if et := rec.Header().Get("ETag"); !regexp.MustCompile(`^"[0-9a-f]{24}"$`).MatchString(et) {
			t.Errorf("%s: ETag = %q, want a strong hex ETag", what, et)
		}
		if c.method == "HEAD" && rec.Body.Len() != 0 {
			t.Errorf("%s: %d body bytes", what, rec.Body.Len())
		}
		if c.body != nil && rec.Body.String() != string(c.body) {
			t.Errorf("%s: body differs from the embedded file (%d bytes, want %d)", what, rec.Body.Len(), len(c.body))
		}
	}
}

// TestHandlerConditional: If-None-Match with the ETag is 304 with no
// body; another ETag is 200; every file's ETag differs.
func TestHandlerConditional(t *testing.T) {
	h := static.Handler()
	seen := map[string]string{}
	err := fs.WalkDir(static.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rec := serve(h, "GET", "/"+p, nil)
		et := rec.Header().Get("ETag")
		if rec.Code != 200 || et == "" {
			t.Errorf("GET /%s: %d, ETag %q", p, rec.Code, et)
			return nil
		}
		if other, dup := seen[et]; dup {
			t.Errorf("/%s and /%s share the ETag %s", p, other, et)
		}
		seen[et] = p
		for _, c := range []struct {
			inm    string
			status int
		}{{et, 304}, {`W/` + et, 304}, {`"other", ` + et, 304}, {`"other"`, 200}, {`*`, 304}} {
			rec := serve(h, "GET", "/"+p, map[string]string{"If-None-Match": c.inm})
			if rec.Code != c.status {
				t.Errorf("GET /%s If-None-Match %s: status = %d, want %d", p, c.inm, rec.Code, c.status)
			}
			if c.status == 304 && rec.Body.Len() != 0 {
				t.Errorf("GET /%s If-None-Match %s: 304 with %d body bytes", p, c.inm, rec.Body.Len())
			}
			if rec.Header().Get("Content-Security-Policy") != static.DefaultCSP {
				t.Errorf("GET /%s If-None-Match %s: no CSP", p, c.inm)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) < 10 {
		t.Fatalf("only %d embedded files", len(seen))
	}
}

// TestCSP: the policy allows no inline script or style and no eval, and
// extra media origins land in the media directives only; an origin that
// could end a directive is dropped.
func TestCSP(t *testing.T) {
	for _, bad := range []string{"'unsafe-inline'", "'unsafe-eval'", "'wasm-unsafe-eval'", "*"} {
		if strings.Contains(static.DefaultCSP, bad) {
			t.Errorf("DefaultCSP contains %s", bad)
		}
	}
	for _, d := range []string{"script-src 'self'", "style-src 'self'", "object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'", "default-src 'self'"} {
		if !strings.Contains(static.DefaultCSP, d) {
			t.Errorf("DefaultCSP lacks %q", d)
		}
	}
	h := static.New(static.Options{MediaOrigins: []string{"https://bucket.s3.example.com", "http://x; script-src *", "", "https://cdn.example"}})
	csp := serve(h, "GET", "/", nil).Header().Get("Content-Security-Policy")
	dirs := map[string]string{}
	for d := range strings.SplitSeq(csp, ";") {
		d = strings.TrimSpace(d)
		name, val, _ := strings.Cut(d, " ")
		if _, dup := dirs[name]; dup {
			t.Errorf("directive %s twice in %q", name, csp)
		}
		dirs[name] = val
	}
	for _, d := range []string{"media-src", "img-src", "connect-src"} {
		if !strings.Contains(dirs[d], "https://bucket.s3.example.com") || !strings.Contains(dirs[d], "https://cdn.example") {
			t.Errorf("%s = %q, want the media origins", d, dirs[d])
		}
	}
	if dirs["script-src"] != "'self'" || strings.Contains(csp, "http://x") {
		t.Errorf("an origin changed the policy beyond the media directives: %q", csp)
	}
}

// TestUISourcesAreCSPClean: nothing in the UI needs 'unsafe-inline' or
// eval, and no code writes HTML from strings. (The browser test also
// fails on any CSP violation it sees.)
func TestUISourcesAreCSPClean(t *testing.T) {
	forbidden := map[string]*regexp.Regexp{
		".html": regexp.MustCompile(`(?i)<script(?:\s[^>]*)?>\s*[^<\s]|<style|\sstyle\s*=|\son[a-z]+\s*=|javascript:`),
		".js":   regexp.MustCompile(`innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function|setTimeout\(\s*['"` + "`" + `]|\.setAttribute\(\s*['"](?:style|on)`),
		".css":  regexp.MustCompile(`@import\s+url\(\s*['"]?https?:|url\(\s*['"]?https?:`),
		".svg":  regexp.MustCompile(`(?i)<script|\son[a-z]+\s*=`),
	}
	n := 0
	err := fs.WalkDir(static.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		f, err := static.FS().Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		b, err := io.ReadAll(f)
		if err != nil {
			return err
		}
		for ext, re := range forbidden {
			if strings.HasSuffix(p, ext) {
				n++
				if m := re.Find(b); m != nil {
					t.Errorf("%s: %q is not allowed (CSP or HTML injection)", p, m)
				}
			}
		}
		if strings.Contains(strings.ReplaceAll(string(b), "http://www.w3.org/2000/svg", ""), "http://") {
			t.Errorf("%s: refers to an absolute http:// URL (no CDN)", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 10 {
		t.Fatalf("checked %d files", n)
	}
}
