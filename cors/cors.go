package cors

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// DefaultMaxAge is how long a browser may cache a preflight answer when
// [Options].MaxAge is 0. Chromium caps the value at two hours, Firefox at
// one day.
const DefaultMaxAge = 10 * time.Minute

// NoMaxAge, as [Options].MaxAge, sends no Access-Control-Max-Age: browsers
// then cache a preflight answer for five seconds.
const NoMaxAge time.Duration = -1

// DefaultExposeHeaders are the response headers a cross-origin reader may
// see besides the CORS-safelisted ones: what a player or a download script
// needs to seek and resume (Content-Range, Accept-Ranges, Content-Length,
// ETag) and to name a download (Content-Disposition).
var DefaultExposeHeaders = []string{"Content-Range", "Accept-Ranges", "Content-Length", "ETag", "Content-Disposition"}

// DefaultAllowHeaders are the request headers a preflight admits: Range
// and the precondition headers of RFC 9110 §13.
var DefaultAllowHeaders = []string{"Range", "If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since", "If-Range"}

// allowMethods is the one Access-Control-Allow-Methods answer: mounts are
// read-only.
const allowMethods = "GET, HEAD"

// Options configures a [Policy]. The zero value is CORS off.
type Options struct {
	// AllowedOrigins lists the origins whose pages may read the mount's
	// responses, each as scheme://host[:port] with no path
	// ("https://app.example.com", "http://127.0.0.1:5173"), or is exactly
	// ["*"] for every origin. Default empty: CORS off, the middleware adds
	// nothing and answers no preflight.
	AllowedOrigins []string
	// AllowCredentials lets pages send cookies (the playback grace cookie,
	// for one) and read the answer: Access-Control-Allow-Credentials: true
	// and the request's origin echoed instead of "*". Default false.
	// Combined with "*" it admits every site with the user's cookies: list
	// the origins instead unless that is what is meant.
	AllowCredentials bool
	// MaxAge is how long a browser may cache a preflight answer, rounded
	// down to seconds. Default [DefaultMaxAge]; [NoMaxAge] sends none.
	MaxAge time.Duration
	// ExposeHeaders are response headers exposed in addition to
	// [DefaultExposeHeaders].
	ExposeHeaders []string
	// AllowHeaders are request headers a preflight admits in addition to
	// [DefaultAllowHeaders], such as Authorization for bearer tokens.
	AllowHeaders []string
	// Logger receives a debug line per refused preflight. Default
	// slog.Default().
	Logger *slog.Logger
}

// Policy is one mount's CORS policy. It is immutable and safe for
// concurrent use.
type Policy struct {
	any     bool                // "*"
	origins map[string]struct{} // normalized exact origins
	creds   bool
	expose  string // Access-Control-Expose-Headers value
	allow   string // Access-Control-Allow-Headers value
	maxAge  string // Access-Control-Max-Age value, "" for none
	log     *slog.Logger
}

// New checks opts and returns the policy, or nil (and no error) when
// AllowedOrigins is empty: a nil *Policy's Middleware returns its handler
// unchanged. Errors name the offending entry and what to write instead.
func New(opts Options) (*Policy, error) {
	if len(opts.AllowedOrigins) == 0 {
		return nil, nil
	}
	p := &Policy{creds: opts.AllowCredentials, log: opts.Logger}
	if p.log == nil {
		p.log = slog.Default()
	}
	for _, o := range opts.AllowedOrigins {
		if strings.TrimSpace(o) == "*" {
			if len(opts.AllowedOrigins) > 1 {
				return nil, errors.New(`cors: AllowedOrigins: "*" must be the only entry (it already admits every origin)`)
			}
			p.any = true
			break
		}
		n, err := NormalizeOrigin(o)
		if err != nil {
			return nil, fmt.Errorf("cors: AllowedOrigins: %w", err)
		}
		if p.origins == nil {
			p.origins = make(map[string]struct{})
		}
		p.origins[n] = struct{}{}
	}
	var err error
	if p.expose, err = headerList("ExposeHeaders", DefaultExposeHeaders, opts.ExposeHeaders); err != nil {
		return nil, err
	}
	if p.allow, err = headerList("AllowHeaders", DefaultAllowHeaders, opts.AllowHeaders); err != nil {
		return nil, err
	}
	switch {
	case opts.MaxAge == 0:
		p.maxAge = strconv.Itoa(int(DefaultMaxAge / time.Second))
	case opts.MaxAge == NoMaxAge:
	case opts.MaxAge < 0:
		return nil, fmt.Errorf("cors: MaxAge %v is negative: use 0 for the default (%v) or NoMaxAge for none", opts.MaxAge, DefaultMaxAge)
	default:
		p.maxAge = strconv.FormatInt(int64(opts.MaxAge/time.Second), 10)
	}
	return p, nil
}

// NormalizeOrigin returns origin as browsers serialize it in the Origin
// header (lower-case scheme and host, no default port), or an error
// saying why it is not an origin (a path, a query, a missing host, "null").
// Its errors start with the origin, quoted.
func NormalizeOrigin(origin string) (string, error) {
	s := strings.TrimSpace(origin)
	if s == "null" {
		return "", errors.New(`"null" (sandboxed frames, file: pages) cannot be allowed safely: any page can send it`)
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" || u.Host == "" || u.Opaque != "" {
		return "", fmt.Errorf("%q is not scheme://host[:port] (such as https://app.example.com)", origin)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery || (u.Path != "" && u.Path != "/") {
		return "", fmt.Errorf("%q has more than scheme://host[:port]: remove the path, query or user", origin)
	}
	if u.Path == "/" {
		return "", fmt.Errorf("%q ends with a slash: browsers send %q", origin, strings.TrimSuffix(s, "/"))
	}
	if strings.Contains(u.Host, "*") {
		return "", fmt.Errorf("%q: wildcards are not supported: list each origin, or use \"*\" alone", origin)
	}
	scheme := strings.ToLower(u.Scheme)
	host := strings.ToLower(u.Hostname())
	port := u.Port()
	if (scheme == "http" && port == "80") || (scheme == "https" && port == "443") {
		port = ""
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port != "" {
		host += ":" + port
	}
	return scheme + "://" + host, nil
}

// headerList joins defaults and extra into one header value, checking
// that each extra entry is a header name.
func headerList(what string, defaults, extra []string) (string, error) {
	names := append([]string(nil), defaults...)
	for _, h := range extra {
		h = strings.TrimSpace(h)
		if !validToken(h) {
			return "", fmt.Errorf("cors: %s: %q is not a header name", what, h)
		}
		h = http.CanonicalHeaderKey(h)
		dup := false
		for _, n := range names {
			if strings.EqualFold(n, h) {
				dup = true
			}
		}
		if !dup {
			names = append(names, h)
		}
	}
	return strings.Join(names, ", "), nil
}

// validToken reports whether s is an RFC 9110 token, the syntax of a
// header name.
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// allowOrigin returns the Access-Control-Allow-Origin value for a request
// from origin, or "" when the origin is not allowed.
func (p *Policy) allowOrigin(origin string) string {
	if origin == "" {
		return ""
	}
	if p.any {
		if !p.creds {
			return "*"
		}
		if origin == "null" || strings.ContainsAny(origin, "*, \t") {
			// Never echo "null", nor something that is no single origin
			// (a literal "*" would read as the wildcard), with credentials.
			return ""
		}
		return origin
	}
	if _, ok := p.origins[origin]; ok {
		return origin
	}
	if _, ok := p.origins[strings.ToLower(origin)]; ok {
		return origin
	}
	return ""
}

// varies reports whether answers depend on the request's Origin (every
// case but "*" without credentials), so caches must key on it.
func (p *Policy) varies() bool { return !p.any || p.creds }

// Middleware returns next wrapped with the policy (see [Policy.Apply]).
// A nil *Policy returns next unchanged.
func (p *Policy) Middleware(next http.Handler) http.Handler {
	if p == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !p.Apply(w, r) {
			next.ServeHTTP(w, r)
		}
	})
}

// Apply answers r itself when it is a preflight and reports true; for any
// other request it adds the CORS headers to w and reports false: the
// caller then serves the request. A router that has already chosen the
// mount calls it instead of wrapping the mount's handler. A nil *Policy
// does nothing.
func (p *Policy) Apply(w http.ResponseWriter, r *http.Request) (answered bool) {
	if p == nil {
		return false
	}
	origin := r.Header.Get("Origin")
	if r.Method == http.MethodOptions && origin != "" && r.Header.Get("Access-Control-Request-Method") != "" {
		p.preflight(w, r, origin)
		return true
	}
	h := w.Header()
	if p.varies() {
		h.Add("Vary", "Origin")
	}
	if allow := p.allowOrigin(origin); allow != "" {
		h.Set("Access-Control-Allow-Origin", allow)
		if p.creds {
			h.Set("Access-Control-Allow-Credentials", "true")
		}
		h.Set("Access-Control-Expose-Headers", p.expose)
	}
	return false
}

// preflight answers an OPTIONS preflight: 204 with the policy for an
// allowed origin, 403 without CORS headers (so the browser refuses the
// real request) for another.
func (p *Policy) preflight(w http.ResponseWriter, r *http.Request, origin string) {
	h := w.Header()
	h.Add("Vary", "Origin")
	h.Add("Vary", "Access-Control-Request-Method")
	h.Add("Vary", "Access-Control-Request-Headers")
	allow := p.allowOrigin(origin)
	if allow == "" {
		p.log.Debug("cors: preflight from an origin not allowed", "origin", origin, "path", r.URL.Path)
		h.Set("Content-Type", "text/plain; charset=utf-8")
		h.Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprint(w, "403 forbidden: origin not allowed\n")
		return
	}
	h.Set("Access-Control-Allow-Origin", allow)
	if p.creds {
		h.Set("Access-Control-Allow-Credentials", "true")
	}
	h.Set("Access-Control-Allow-Methods", allowMethods)
	h.Set("Access-Control-Allow-Headers", p.allow)
	if p.maxAge != "" {
		h.Set("Access-Control-Max-Age", p.maxAge)
	}
	w.WriteHeader(http.StatusNoContent)
}
