package cors_test

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rangeserve/rangeserve/cors"
)

const (
	site  = "https://app.example.com"
	other = "https://evil.example.net"
)

var exposeAll = "Content-Range, Accept-Ranges, Content-Length, ETag, Content-Disposition"

// next is the mount under the policy: it answers like media does, with a
// 206 and the headers a player reads.
var next = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/missing" {
		http.Error(w, "404 not found", http.StatusNotFound)
		return
	}
	if r.Method == http.MethodOptions {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "405 method not allowed", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Content-Range", "bytes 0-3/10")
	w.Header().Set("Accept-Ranges", "bytes")
	w.Header().Set("ETag", `"abc"`)
	w.WriteHeader(http.StatusPartialContent)
	if r.Method != http.MethodHead {
		w.Write([]byte("abcd"))
	}
})

// want lists the CORS headers of an answer; "" means absent.
type want struct {
	status      int
	allowOrigin string
	credentials string
	expose      string
	vary        []string
	methods     string
	headers     string
	maxAge      string
}

func TestPolicy(t *testing.T) {
	list := cors.Options{AllowedOrigins: []string{site, "http://127.0.0.1:5173"}}
	listCreds := cors.Options{AllowedOrigins: []string{site}, AllowCredentials: true}
	star := cors.Options{AllowedOrigins: []string{"*"}}
	starCreds := cors.Options{AllowedOrigins: []string{"*"}, AllowCredentials: true}
	preflightVary := []string{"Origin", "Access-Control-Request-Method", "Access-Control-Request-Headers"}
	allowAll := "Range, If-Match, If-None-Match, If-Modified-Since, If-Unmodified-Since, If-Range"
	tests := []struct {
		name   string
		opts   cors.Options
		method string
		path   string
		hdr    map[string]string
		want   want
	}{
		{"list, no Origin: only Vary", list, "GET", "/a", nil,
			want{status: 206, vary: []string{"Origin"}}},
		{"list, allowed origin", list, "GET", "/a", map[string]string{"Origin": site},
			want{status: 206, allowOrigin: site, expose: exposeAll, vary: []string{"Origin"}}},
		{"list, second origin with port", list, "GET", "/a", map[string]string{"Origin": "http://127.0.0.1:5173"},
			want{status: 206, allowOrigin: "http://127.0.0.1:5173", expose: exposeAll, vary: []string{"Origin"}}},
		{"list, same host other port is another origin", list, "GET", "/a", map[string]string{"Origin": "http://127.0.0.1:5174"},
			want{status: 206, vary: []string{"Origin"}}},
		{"list, other origin: served without CORS headers", list, "GET", "/a", map[string]string{"Origin": other},
			want{status: 206, vary: []string{"Origin"}}},
		{"list, HEAD", list, "HEAD", "/a", map[string]string{"Origin": site},
			want{status: 206, allowOrigin: site, expose: exposeAll, vary: []string{"Origin"}}},
		{"list, error answers carry CORS too", list, "GET", "/missing", map[string]string{"Origin": site},
			want{status: 404, allowOrigin: site, expose: exposeAll, vary: []string{"Origin"}}},
		{"list+credentials", listCreds, "GET", "/a", map[string]string{"Origin": site},
			want{status: 206, allowOrigin: site, credentials: "true", expose: exposeAll, vary: []string{"Origin"}}},
		{"list+credentials, other origin", listCreds, "GET", "/a", map[string]string{"Origin": other},
			want{status: 206, vary: []string{"Origin"}}},
		{"star, no Origin: nothing", star, "GET", "/a", nil,
			want{status: 206}},
		{"star, any origin gets *, no Vary", star, "GET", "/a", map[string]string{"Origin": other},
			want{status: 206, allowOrigin: "*", expose: exposeAll}},
		{"star, null origin gets *", star, "GET", "/a", map[string]string{"Origin": "null"},
			want{status: 206, allowOrigin: "*", expose: exposeAll}},
		{"star+credentials echoes, never *", starCreds, "GET", "/a", map[string]string{"Origin": other},
			want{status: 206, allowOrigin: other, credentials: "true", expose: exposeAll, vary: []string{"Origin"}}},
		{"star+credentials never echoes null", starCreds, "GET", "/a", map[string]string{"Origin": "null"},
			want{status: 206, vary: []string{"Origin"}}},
		{"preflight, allowed", list, "OPTIONS", "/a", map[string]string{"Origin": site, "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "range,if-range"},
			want{status: 204, allowOrigin: site, vary: preflightVary, methods: "GET, HEAD", headers: allowAll, maxAge: "600"}},
		{"preflight, allowed with credentials", listCreds, "OPTIONS", "/a", map[string]string{"Origin": site, "Access-Control-Request-Method": "HEAD"},
			want{status: 204, allowOrigin: site, credentials: "true", vary: preflightVary, methods: "GET, HEAD", headers: allowAll, maxAge: "600"}},
		{"preflight, star", star, "OPTIONS", "/a", map[string]string{"Origin": other, "Access-Control-Request-Method": "GET"},
			want{status: 204, allowOrigin: "*", vary: preflightVary, methods: "GET, HEAD", headers: allowAll, maxAge: "600"}},
		{"preflight, for a missing key is answered the same", list, "OPTIONS", "/missing", map[string]string{"Origin": site, "Access-Control-Request-Method": "GET"},
			want{status: 204, allowOrigin: site, vary: preflightVary, methods: "GET, HEAD", headers: allowAll, maxAge: "600"}},
		{"preflight, other origin: 403 without CORS", list, "OPTIONS", "/a", map[string]string{"Origin": other, "Access-Control-Request-Method": "GET"},
			want{status: 403, vary: preflightVary}},
		{"OPTIONS without Access-Control-Request-Method is not a preflight", list, "OPTIONS", "/a", map[string]string{"Origin": site},
			want{status: 405, allowOrigin: site, expose: exposeAll, vary: []string{"Origin"}}},
		{"OPTIONS without Origin is not a preflight", list, "OPTIONS", "/a", map[string]string{"Access-Control-Request-Method": "GET"},
			want{status: 405, vary: []string{"Origin"}}},
		{"custom max age and headers", cors.Options{AllowedOrigins: []string{site}, MaxAge: 90 * time.Second, AllowHeaders: []string{"authorization", "range"}, ExposeHeaders: []string{"x-request-id", "ETag"}},
			"OPTIONS", "/a", map[string]string{"Origin": site, "Access-Control-Request-Method": "GET"},
			want{status: 204, allowOrigin: site, vary: preflightVary, methods: "GET, HEAD", headers: allowAll + ", Authorization", maxAge: "90"}},
		{"custom expose headers", cors.Options{AllowedOrigins: []string{site}, ExposeHeaders: []string{"x-request-id", "ETag"}},
			"GET", "/a", map[string]string{"Origin": site},
			want{status: 206, allowOrigin: site, expose: exposeAll + ", X-Request-Id", vary: []string{"Origin"}}},
		{"no max age", cors.Options{AllowedOrigins: []string{site}, MaxAge: cors.NoMaxAge},
			"OPTIONS", "/a", map[string]string{"Origin": site, "Access-Control-Request-Method": "GET"},
			want{status: 204, allowOrigin: site, vary: preflightVary, methods: "GET, HEAD", headers: allowAll}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := cors.New(tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			r := httptest.NewRequest(tt.method, tt.path, nil)
			for k, v := range tt.hdr {
				r.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			p.Middleware(next).ServeHTTP(rec, r)
			h := rec.Result().Header
			if rec.Code != tt.want.status {
				t.Errorf("status = %d, want %d", rec.Code, tt.want.status)
			}
			for _, c := range []struct{ name, want string }{
				{"Access-Control-Allow-Origin", tt.want.allowOrigin},
				{"Access-Control-Allow-Credentials", tt.want.credentials},
				{"Access-Control-Expose-Headers", tt.want.expose},
				{"Access-Control-Allow-Methods", tt.want.methods},
				{"Access-Control-Allow-Headers", tt.want.headers},
				{"Access-Control-Max-Age", tt.want.maxAge},
			} {
				if got := h.Values(c.name); c.want == "" && len(got) != 0 || c.want != "" && (len(got) != 1 || got[0] != c.want) {
					t.Errorf("%s = %q, want %q", c.name, got, c.want)
				}
			}
			if got := h.Values("Vary"); !slices.Equal(got, tt.want.vary) {
				t.Errorf("Vary = %q, want %q", got, tt.want.vary)
			}
			if got := h.Get("Access-Control-Allow-Origin"); got == "*" && h.Get("Access-Control-Allow-Credentials") != "" {
				t.Errorf("Allow-Origin * with credentials: browsers refuse it")
			}
			// The mount's own headers survive.
			if tt.want.status == 206 && h.Get("Content-Range") != "bytes 0-3/10" {
				t.Errorf("Content-Range = %q: the mount's headers were lost", h.Get("Content-Range"))
			}
		})
	}
}

func TestNilPolicyIsPassThrough(t *testing.T) {
	p, err := cors.New(cors.Options{})
	if err != nil || p != nil {
		t.Fatalf("New(zero) = %v, %v; want nil, nil", p, err)
	}
	r := httptest.NewRequest("GET", "/a", nil)
	r.Header.Set("Origin", site)
	rec := httptest.NewRecorder()
	p.Middleware(next).ServeHTTP(rec, r)
	if len(rec.Header().Values("Vary")) != 0 || rec.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("CORS off added headers: %v", rec.Header())
	}
}

func TestNormalizeOrigin(t *testing.T) {
	tests := []struct {
		in, want string
		errHas   string
	}{
		{"https://app.example.com", "https://app.example.com", ""},
		{"HTTPS://App.Example.COM", "https://app.example.com", ""},
		{"https://app.example.com:443", "https://app.example.com", ""},
		{"http://app.example.com:80", "http://app.example.com", ""},
		{"http://app.example.com:443", "http://app.example.com:443", ""},
		{"http://127.0.0.1:5173", "http://127.0.0.1:5173", ""},
		{"http://[::1]:8080", "http://[::1]:8080", ""},
		{" https://a.b ", "https://a.b", ""},
		{"https://app.example.com/", "", "ends with a slash"},
		{"https://app.example.com/path", "", "remove the path"},
		{"https://app.example.com?q", "", "remove the path"},
		{"https://user@app.example.com", "", "remove the path"},
		{"app.example.com", "", "not scheme://host"},
		{"https://", "", "not scheme://host"},
		{"https://*.example.com", "", "wildcards"},
		{"null", "", `"null"`},
		{"", "", "not scheme://host"},
	}
	for _, tt := range tests {
		got, err := cors.NormalizeOrigin(tt.in)
		if tt.errHas != "" {
			if err == nil || !strings.Contains(err.Error(), tt.errHas) {
				t.Errorf("NormalizeOrigin(%q) = %q, %v; want an error containing %q", tt.in, got, err, tt.errHas)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("NormalizeOrigin(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestNewRefuses(t *testing.T) {
	tests := []struct {
		name   string
		opts   cors.Options
		errHas string
	}{
		{"star among others", cors.Options{AllowedOrigins: []string{site, "*"}}, "only entry"},
		{"bad origin", cors.Options{AllowedOrigins: []string{"example.com"}}, `AllowedOrigins: "example.com" is not`},
		{"bad header", cors.Options{AllowedOrigins: []string{site}, ExposeHeaders: []string{"X Bad"}}, "ExposeHeaders"},
		{"negative max age", cors.Options{AllowedOrigins: []string{site}, MaxAge: -5 * time.Second}, "MaxAge"},
	}
	for _, tt := range tests {
		if _, err := cors.New(tt.opts); err == nil || !strings.Contains(err.Error(), tt.errHas) {
			t.Errorf("%s: New = %v, want an error containing %q", tt.name, err, tt.errHas)
		}
	}
}

// FuzzMiddleware checks the invariants for any Origin a client sends:
// the allowed origin is "*", the request's own origin or absent; never
// "*" with credentials; never an origin that is not allowed.
func FuzzMiddleware(f *testing.F) {
	for _, s := range []string{site, other, "null", "HTTPS://APP.EXAMPLE.COM", "", "https://app.example.com\x00"} {
		f.Add(s, false, false)
		f.Add(s, true, true)
	}
	f.Fuzz(func(t *testing.T, origin string, star, creds bool) {
		opts := cors.Options{AllowedOrigins: []string{site}, AllowCredentials: creds}
		if star {
			opts.AllowedOrigins = []string{"*"}
		}
		p, err := cors.New(opts)
		if err != nil {
			t.Fatal(err)
		}
		for _, method := range []string{"GET", "OPTIONS"} {
			r := httptest.NewRequest(method, "/a", nil)
			r.Header["Origin"] = []string{origin}
			r.Header.Set("Access-Control-Request-Method", "GET")
			rec := httptest.NewRecorder()
			p.Middleware(next).ServeHTTP(rec, r)
			got := rec.Header().Get("Access-Control-Allow-Origin")
			switch {
			case got == "":
			case got == "*":
				if creds || !star {
					t.Fatalf("origin %q: * with creds=%v star=%v", origin, creds, star)
				}
			case got != origin:
				t.Fatalf("origin %q: Allow-Origin %q is neither * nor the origin", origin, got)
			case !star && !strings.EqualFold(origin, site):
				t.Fatalf("origin %q admitted by a list holding only %q", origin, site)
			}
		}
	})
}
