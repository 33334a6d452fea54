package auth

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// testMounts is LinksOptions.Mount for the tests: /m/ and / are signed,
// /e/ signed-or-token, /t/ token, /p/ public; /m/nested/ is another
// mount's.
func testMounts(mount, subject string) (Policy, error) {
	switch mount {
	case "/m/", "/":
		if mount == "/m/" && (subject == "nested" || strings.HasPrefix(subject, "nested/")) {
			return 0, errors.New("mount /m/ does not serve this key")
		}
		return PolicySigned, nil
	case "/e/":
		return PolicySignedOrToken, nil
	case "/t/":
		return PolicyToken, nil
	case "/p/":
		return PolicyPublic, nil
	}
	return 0, errors.New("unknown mount")
}

// newLinks returns the links handler behind RequireAdmin, as servers
// mount it, and the bare handler.
func newLinks(t *testing.T, e *env) (http.Handler, *LinksHandler) {
	t.Helper()
	h, err := NewLinksHandler(LinksOptions{
		Signer: e.signer,
		Mount:  testMounts,
		Logger: slog.New(slog.NewTextHandler(e.logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	return e.guard.RequireAdmin(h), h
}

// postJSON posts body with the admin token, unless opts set another.
func postJSON(h http.Handler, body string, opts ...reqOpt) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, "/api/links", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Authorization", "Bearer "+tokAdmin)
	for _, o := range opts {
		o(r)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestLinksHandler(t *testing.T) {
	e := newEnv(t, SignerOptions{})
	lh, _ := newLinks(t, e)
	tests := []struct {
		name    string
		body    string
		status  int
		urlPath string // expected escaped path of the link, for 200
	}{
		{"basic", `{"key":"exists.mp4","mount":"/m/","ttl":"24h"}`, 200, "/m/exists.mp4"},
		{"escaping", `{"key":"dir/a b#?%.mp4","mount":"/m/","ttl":"1h"}`, 200, "/m/dir/a%20b%23%3F%25.mp4"},
		{"unicode", `{"key":"é/ü.mp4","mount":"/m/","ttl":"1h"}`, 200, "/m/%C3%A9/%C3%BC.mp4"},
		{"scope folder", `{"key":"","mount":"/m/","ttl":"1h","scope":"videos"}`, 200, "/m/videos/"},
		{"scope with key", `{"key":"videos/x.mp4","mount":"/m/","ttl":"1h","scope":"videos/"}`, 200, "/m/videos/x.mp4"},
		{"ip", `{"key":"exists.mp4","mount":"/m/","ttl":"1h","ip":"192.0.2.9"}`, 200, "/m/exists.mp4"},
		{"root mount", `{"key":"exists.mp4","mount":"/","ttl":"1h"}`, 200, "/exists.mp4"},
		{"bad json", `{"key":`, 400, ""},
		{"unknown field", `{"key":"a","mount":"/m/","ttl":"1h","admin":true}`, 400, ""},
		{"trailing data", `{"key":"a","mount":"/m/","ttl":"1h"} {}`, 400, ""},
		{"ttl missing", `{"key":"a","mount":"/m/"}`, 400, ""},
		{"ttl garbage", `{"key":"a","mount":"/m/","ttl":"soon"}`, 400, ""},
		{"ttl negative", `{"key":"a","mount":"/m/","ttl":"-1h"}`, 400, ""},
		{"ttl too long", `{"key":"a","mount":"/m/","ttl":"9000h"}`, 400, ""},
		{"unknown mount", `{"key":"a","mount":"/secret/","ttl":"1h"}`, 400, ""},
		{"no mount", `{"key":"a","ttl":"1h"}`, 400, ""},
		{"key dotdot", `{"key":"../etc/passwd","mount":"/m/","ttl":"1h"}`, 400, ""},
		{"key leading slash, cleaned as the router does", `{"key":"/a","mount":"/m/","ttl":"1h"}`, 200, "/m/a"},
		{"no key no scope", `{"key":"","mount":"/m/","ttl":"1h"}`, 400, ""},
		{"bad scope", `{"key":"","mount":"/m/","ttl":"1h","scope":"../"}`, 400, ""},
		{"key outside scope", `{"key":"b/x","mount":"/m/","ttl":"1h","scope":"a"}`, 400, ""},
		{"bad ip", `{"key":"a","mount":"/m/","ttl":"1h","ip":"host"}`, 400, ""},
		{"too large", `{"key":"` + strings.Repeat("a", 70<<10) + `","mount":"/m/","ttl":"1h"}`, 413, ""},
	}
	for _, tt := range tests {
		w := postJSON(lh, tt.body)
		if w.Code != tt.status {
			t.Errorf("%s: status %d %s, want %d", tt.name, w.Code, w.Body.String(), tt.status)
			continue
		}
		if ct := w.Header().Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s: Content-Type %q", tt.name, ct)
		}
		if tt.status != 200 {
			var eb struct{ Error string }
			if err := json.Unmarshal(w.Body.Bytes(), &eb); err != nil || eb.Error == "" {
				t.Errorf("%s: error body %q is not {\"error\":...}", tt.name, w.Body.String())
			}
			continue
		}
		var out struct{ URL, Expires string }
		if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		u, err := url.Parse(out.URL)
		if err != nil || u.EscapedPath() != tt.urlPath || u.Host != "" {
			t.Errorf("%s: url %q, want path %q", tt.name, out.URL, tt.urlPath)
			continue
		}
		exp, err := time.Parse(time.RFC3339, out.Expires)
		if err != nil || exp.Unix() != mustInt(u.Query().Get(ParamExp)) {
			t.Errorf("%s: expires %q does not match exp %q", tt.name, out.Expires, u.Query().Get(ParamExp))
		}
		// The issued URL is accepted by the guard for the key the router
		// derives from it (decoded path below the mount).
		mount := "/m/"
		if !strings.HasPrefix(tt.urlPath, "/m/") {
			mount = "/"
		}
		key := strings.TrimSuffix(strings.TrimPrefix(u.Path, mount), "/")
		client := netip.MustParseAddr("192.0.2.9")
		if err := e.signer.Verify(u.Query(), mount, key, client); err != nil {
			t.Errorf("%s: issued link does not verify for key %q: %v", tt.name, key, err)
		}
	}
	if strings.Contains(e.logs.String(), "sig=") {
		t.Errorf("links log contains a signature:\n%s", e.logs.String())
	}
}

func mustInt(s string) int64 {
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}

func TestLinksHandlerRequestShape(t *testing.T) {
	e := newEnv(t, SignerOptions{})
	lh, bare := newLinks(t, e)
	r := httptest.NewRequest(http.MethodGet, "/api/links", nil)
	w := httptest.NewRecorder()
	bare.ServeHTTP(w, r)
	if w.Code != 405 || w.Header().Get("Allow") != "POST" {
		t.Errorf("GET: %d Allow=%q, want 405 POST", w.Code, w.Header().Get("Allow"))
	}
	w = postJSON(lh, `{"key":"a","mount":"/m/","ttl":"1h"}`, func(r *http.Request) { r.Header.Set("Content-Type", "text/plain") })
	if w.Code != 415 {
		t.Errorf("text/plain: %d, want 415", w.Code)
	}
	w = postJSON(lh, `{"key":"a","mount":"/m/","ttl":"1h"}`, func(r *http.Request) { r.Header.Set("Content-Type", "application/json; charset=utf-8") })
	if w.Code != 200 {
		t.Errorf("json with charset: %d, want 200", w.Code)
	}
	if _, err := NewLinksHandler(LinksOptions{Signer: e.signer}); err == nil {
		t.Error("NewLinksHandler without Mount succeeded")
	}
	// Without RequireAdmin in front, nothing is signed (fail closed).
	if w := postJSON(bare, `{"key":"a","mount":"/m/","ttl":"1h"}`); w.Code != 403 {
		t.Errorf("no admin token in the context: %d, want 403", w.Code)
	}
}

func TestLinksHandlerCleanKeyAndAdmin(t *testing.T) {
	e := newEnv(t, SignerOptions{})
	// Keys are cleaned as the router cleans paths (storage.CleanKey):
	// empty segments dropped, dot segments refused.
	h, _ := newLinks(t, e)
	if w := postJSON(h, `{"key":"a","mount":"/m/","ttl":"1h"}`, bearerH(tokMedia)); w.Code != 403 {
		t.Errorf("non-admin token: %d, want 403", w.Code)
	}
	w := postJSON(h, `{"key":"/x//y.mp4","mount":"/m/","ttl":"1h"}`, bearerH(tokAdmin))
	if w.Code != 200 || !strings.Contains(w.Body.String(), `"/m/x/y.mp4?`) {
		t.Errorf("cleaned key: %d %s", w.Code, w.Body.String())
	}
	if !strings.Contains(e.logs.String(), "token=admin") {
		t.Errorf("issuing log does not name the admin token:\n%s", e.logs.String())
	}
	if w := postJSON(h, `{"key":"x/../y","mount":"/m/","ttl":"1h"}`, bearerH(tokAdmin)); w.Code != 400 {
		t.Errorf("dot segment: %d, want 400", w.Code)
	}
}

// TestLinksHandlerTokenLimits: an admin token mints links only under its
// Links (mount and key, or mount and the whole scope), only on mounts that
// accept links, and for at most its MaxLinkTTL.
func TestLinksHandlerTokenLimits(t *testing.T) {
	e := newEnv(t, SignerOptions{})
	h, _ := newLinks(t, e)
	links := bearerH(tokLinks) // Links: /m/sub/, /e/dir/a/, /t/; MaxLinkTTL 2h
	for _, tt := range []struct {
		name, body string
		opts       []reqOpt
		status     int
	}{
		{"key under its links", `{"key":"sub/a.mp4","mount":"/m/","ttl":"1h"}`, []reqOpt{links}, 200},
		{"the folder of its links", `{"mount":"/m/","scope":"sub","ttl":"1h"}`, []reqOpt{links}, 200},
		{"a subfolder", `{"mount":"/m/","scope":"sub/deeper/","ttl":"1h"}`, []reqOpt{links}, 200},
		{"key elsewhere on the mount", `{"key":"a.mp4","mount":"/m/","ttl":"1h"}`, []reqOpt{links}, 403},
		{"sibling folder", `{"key":"subx/a.mp4","mount":"/m/","ttl":"1h"}`, []reqOpt{links}, 403},
		{"empty scope: a key link", `{"key":"sub/a.mp4","mount":"/m/","scope":"","ttl":"1h"}`, []reqOpt{links}, 200},
		{"key inside its links, scope wider", `{"key":"dir/a/x.mp4","mount":"/e/","scope":"dir","ttl":"1h"}`, []reqOpt{links}, 403},
		{"key and scope inside its links", `{"key":"dir/a/x.mp4","mount":"/e/","scope":"dir/a","ttl":"1h"}`, []reqOpt{links}, 200},
		{"another mount", `{"key":"sub/a.mp4","mount":"/e/","ttl":"1h"}`, []reqOpt{links}, 403},
		{"token mount", `{"key":"a.mp4","mount":"/t/","ttl":"1h"}`, []reqOpt{links}, 400},
		{"public mount", `{"key":"a.mp4","mount":"/p/","ttl":"1h"}`, nil, 400},
		{"signed-or-token mount", `{"key":"a.mp4","mount":"/e/","ttl":"1h"}`, nil, 200},
		{"nested mount's key", `{"key":"nested/a.mp4","mount":"/m/","ttl":"1h"}`, nil, 400},
		{"at its max ttl", `{"key":"sub/a.mp4","mount":"/m/","ttl":"2h"}`, []reqOpt{links}, 200},
		{"beyond its max ttl", `{"key":"sub/a.mp4","mount":"/m/","ttl":"2h1s"}`, []reqOpt{links}, 400},
		{"default max ttl", `{"key":"a.mp4","mount":"/m/","ttl":"168h"}`, nil, 200},
		{"beyond the default max ttl", `{"key":"a.mp4","mount":"/m/","ttl":"168h1s"}`, nil, 400},
		{"reader token", `{"key":"a.mp4","mount":"/m/","ttl":"1h"}`, []reqOpt{bearerH(tokMedia)}, 403},
	} {
		w := postJSON(h, tt.body, tt.opts...)
		if w.Code != tt.status {
			t.Errorf("%s: %d %s, want %d", tt.name, w.Code, w.Body.String(), tt.status)
		}
	}
	if !strings.Contains(e.logs.String(), "token=links") || !strings.Contains(e.logs.String(), "link refused") {
		t.Errorf("refusals are not logged with the token's name:\n%s", e.logs.String())
	}
}
