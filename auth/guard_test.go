package auth

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"
)

func hashHex(tok string) string {
	h := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(h[:])
}

// Test tokens: the secret values appear only here and in requests.
const (
	tokMedia = "tok-media-0123456789"
	tokSub   = "tok-sub-0123456789"
	tokOther = "tok-other-0123456789"
	tokAdmin = "tok-admin-0123456789"
	tokAll   = "tok-all-0123456789"
	tokLinks = "tok-links-0123456789"
)

func testTokens(t testing.TB) *Tokens {
	t.Helper()
	ts, err := NewTokens([]Token{
		{Name: "media", SHA256: hashHex(tokMedia), Mounts: []string{"/m/"}},
		{Name: "sub", SHA256: strings.ToUpper(hashHex(tokSub)), Mounts: []string{"/m/sub/"}},
		{Name: "other", SHA256: hashHex(tokOther), Mounts: []string{"/other/"}},
		{Name: "admin", SHA256: hashHex(tokAdmin), Admin: true, Links: []string{"/"}},
		{Name: "links", SHA256: hashHex(tokLinks), Admin: true, Links: []string{"/m/sub/", "/e/dir/a/", "/t/"}, MaxLinkTTL: 2 * time.Hour},
		{Name: "all", SHA256: hashHex(tokAll), Mounts: []string{"/"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

type env struct {
	clk    *clock
	signer *Signer
	guard  *Guard
	logs   *bytes.Buffer
	calls  int
}

func newEnv(t testing.TB, opts SignerOptions) *env {
	t.Helper()
	e := &env{clk: &clock{t0}, logs: &bytes.Buffer{}}
	e.signer = newSigner(t, e.clk, opts, keyA)
	e.guard = NewGuard(GuardOptions{
		Signer: e.signer,
		Tokens: testTokens(t),
		Logger: slog.New(slog.NewTextHandler(e.logs, nil)),
	})
	return e
}

// keyOf is a stand-in for the router's storage.CleanKey step.
func keyOf(prefix string) func(*http.Request) (string, bool) {
	return func(r *http.Request) (string, bool) {
		k := strings.TrimPrefix(r.URL.Path, prefix)
		if k == r.URL.Path || strings.Contains(k, "..") || strings.Contains(k, "//") {
			return "", false
		}
		return k, true
	}
}

// handler is a fake media handler: 200 with the key for "exists*" keys,
// 404 otherwise, counting calls so tests can prove refusals never reach it.
func (e *env) handler(p Policy) http.Handler {
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.calls++
		k := strings.TrimPrefix(r.URL.Path, "/m/")
		if !strings.HasPrefix(k, "exists") {
			http.Error(w, "404 page not found", http.StatusNotFound)
			return
		}
		fmt.Fprintf(w, "content of %s; query=%s", k, r.URL.RawQuery)
	})
	return e.guard.Middleware(next, p, "/m/", keyOf("/m/"))
}

type reqOpt func(*http.Request)

func bearerH(tok string) reqOpt {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
}

func withCookies(cs ...*http.Cookie) reqOpt {
	return func(r *http.Request) {
		for _, c := range cs {
			r.AddCookie(c)
		}
	}
}

func method(m string) reqOpt { return func(r *http.Request) { r.Method = m } }

func remote(a string) reqOpt { return func(r *http.Request) { r.RemoteAddr = a } }

func serve(h http.Handler, target string, opts ...reqOpt) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodGet, target, nil)
	r.RemoteAddr = "192.0.2.1:5555"
	for _, o := range opts {
		o(r)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func (e *env) link(key string, ttl time.Duration, o LinkOptions) string {
	v, _, err := e.signer.Sign("/m/", key, ttl, o)
	if err != nil {
		panic(err)
	}
	return "/m/" + key + "?" + v.Encode()
}

func graceOf(w *httptest.ResponseRecorder) *http.Cookie {
	for _, c := range (&http.Response{Header: w.Header()}).Cookies() {
		if c.Name == GraceCookie {
			return c
		}
	}
	return nil
}

func TestGuardPolicies(t *testing.T) {
	e := newEnv(t, SignerOptions{})
	good := e.link("exists.mp4", time.Hour, LinkOptions{})
	other := e.link("exists2.mp4", time.Hour, LinkOptions{})
	const (
		chNone    = ``
		chRealm   = `Bearer realm="rangeserve"`
		chInvalid = `Bearer realm="rangeserve", error="invalid_token"`
		chScope   = `Bearer realm="rangeserve", error="insufficient_scope"`
	)
	tests := []struct {
		name      string
		p         Policy
		target    string
		opts      []reqOpt
		status    int
		body      string
		challenge string
	}{
		{"public", PolicyPublic, "/m/exists.mp4", nil, 200, "content of exists.mp4; query=", chNone},
		{"signed ok", PolicySigned, good, nil, 200, "content of exists.mp4; query=", chNone},
		{"signed ok, other params kept", PolicySigned, good + "&download=1", nil, 200, "content of exists.mp4; query=download=1", chNone},
		{"signed HEAD", PolicySigned, good, []reqOpt{method("HEAD")}, 200, "content of exists.mp4; query=", chNone},
		{"signed POST", PolicySigned, good, []reqOpt{method("POST")}, 403, bodyMethod, chNone},
		{"signed missing", PolicySigned, "/m/exists.mp4", nil, 403, bodyLinkRequired, chNone},
		{"signed path swap", PolicySigned, strings.Replace(other, "exists2", "exists", 1), nil, 403, bodyBadSignature, chNone},
		{"signed dup sig", PolicySigned, good + "&sig=AAAA", nil, 403, bodyBadSignature, chNone},
		{"signed token is not enough", PolicySigned, "/m/exists.mp4", []reqOpt{bearerH(tokMedia)}, 403, bodyLinkRequired, chNone},
		{"token ok", PolicyToken, "/m/exists.mp4", []reqOpt{bearerH(tokMedia)}, 200, "content of exists.mp4; query=", chNone},
		{"token lowercase scheme", PolicyToken, "/m/exists.mp4", []reqOpt{func(r *http.Request) { r.Header.Set("Authorization", "bearer "+tokMedia) }}, 200, "content of exists.mp4; query=", chNone},
		{"token all", PolicyToken, "/m/exists.mp4", []reqOpt{bearerH(tokAll)}, 200, "content of exists.mp4; query=", chNone},
		{"token missing", PolicyToken, "/m/exists.mp4", nil, 401, bodyNeedToken, chRealm},
		{"token basic scheme", PolicyToken, "/m/exists.mp4", []reqOpt{func(r *http.Request) { r.SetBasicAuth("u", tokMedia) }}, 401, bodyNeedToken, chRealm},
		{"token wrong", PolicyToken, "/m/exists.mp4", []reqOpt{bearerH("nope")}, 401, bodyBadToken, chInvalid},
		{"token hash presented", PolicyToken, "/m/exists.mp4", []reqOpt{bearerH(hashHex(tokMedia))}, 401, bodyBadToken, chInvalid},
		{"token two headers", PolicyToken, "/m/exists.mp4", []reqOpt{bearerH(tokMedia), func(r *http.Request) { r.Header.Add("Authorization", "Bearer "+tokMedia) }}, 401, bodyNeedToken, chRealm},
		{"token other mount", PolicyToken, "/m/exists.mp4", []reqOpt{bearerH(tokOther)}, 403, bodyTokenScope, chScope},
		{"token admin has no read", PolicyToken, "/m/exists.mp4", []reqOpt{bearerH(tokAdmin)}, 403, bodyTokenScope, chScope},
		{"token key prefix in", PolicyToken, "/m/sub/exists.mp4", []reqOpt{bearerH(tokSub)}, 404, "404 page not found\n", chNone},
		{"token key prefix sibling", PolicyToken, "/m/subx/exists.mp4", []reqOpt{bearerH(tokSub)}, 403, bodyTokenScope, chScope},
		{"token link is not enough", PolicyToken, good, nil, 401, bodyNeedToken, chRealm},
		{"either: link", PolicySignedOrToken, good, nil, 200, "content of exists.mp4; query=", chNone},
		{"either: token", PolicySignedOrToken, "/m/exists.mp4", []reqOpt{bearerH(tokMedia)}, 200, "content of exists.mp4; query=", chNone},
		{"either: good link, bad token", PolicySignedOrToken, good, []reqOpt{bearerH("nope")}, 200, "content of exists.mp4; query=", chNone},
		{"either: bad link, good token", PolicySignedOrToken, good + "x", []reqOpt{bearerH(tokMedia)}, 200, "content of exists.mp4; query=", chNone},
		{"either: nothing", PolicySignedOrToken, "/m/exists.mp4", nil, 401, bodyNeedAny, chRealm},
		{"either: bad link", PolicySignedOrToken, good + "x", nil, 403, bodyBadSignature, chNone},
		{"either: bad token", PolicySignedOrToken, "/m/exists.mp4", []reqOpt{bearerH("nope")}, 401, bodyBadToken, chInvalid},
		{"either: token other mount", PolicySignedOrToken, "/m/exists.mp4", []reqOpt{bearerH(tokOther)}, 403, bodyTokenScope, chScope},
		{"invalid key never authorizes", PolicyToken, "/m/a/../exists.mp4", []reqOpt{bearerH(tokMedia)}, 404, bodyNotFound, chNone},
	}
	for _, tt := range tests {
		e.calls = 0
		w := serve(e.handler(tt.p), tt.target, tt.opts...)
		if w.Code != tt.status || w.Body.String() != tt.body {
			t.Errorf("%s: %s = %d %q, want %d %q", tt.name, tt.target, w.Code, w.Body.String(), tt.status, tt.body)
		}
		if got := w.Header().Get("WWW-Authenticate"); got != tt.challenge {
			t.Errorf("%s: WWW-Authenticate = %q, want %q", tt.name, got, tt.challenge)
		}
		refused := tt.status == 401 || tt.status == 403 || tt.name == "invalid key never authorizes"
		if refused && e.calls != 0 {
			t.Errorf("%s: refused request reached the storage handler", tt.name)
		}
		if refused {
			if ct := w.Header().Get("Content-Type"); ct != "text/plain; charset=utf-8" {
				t.Errorf("%s: Content-Type = %q", tt.name, ct)
			}
			if cc := w.Header().Get("Cache-Control"); cc != "no-store" {
				t.Errorf("%s: Cache-Control = %q", tt.name, cc)
			}
		}
	}
	for _, secretish := range []string{tokMedia, tokOther, tokAdmin, tokSub, tokAll, "nope", mustQuery(good).Get("sig")} {
		if strings.Contains(e.logs.String(), secretish) {
			t.Errorf("logs contain a credential %q:\n%s", secretish, e.logs.String())
		}
	}
	if !strings.Contains(e.logs.String(), "token=other") {
		t.Errorf("logs do not name the token refused for another mount:\n%s", e.logs.String())
	}
}

func mustQuery(target string) url.Values {
	u, err := url.Parse(target)
	if err != nil {
		panic(err)
	}
	return u.Query()
}

// TestGuardSameResponseWhetherKeyExists proves a refusal is byte-for-byte
// the same for an existing and a missing key.
func TestGuardSameResponseWhetherKeyExists(t *testing.T) {
	e := newEnv(t, SignerOptions{})
	type variant struct {
		name string
		p    Policy
		req  func(key string) (string, []reqOpt)
	}
	variants := []variant{
		{"no link", PolicySigned, func(k string) (string, []reqOpt) { return "/m/" + k, nil }},
		{"garbage sig", PolicySigned, func(k string) (string, []reqOpt) {
			return "/m/" + k + "?exp=1893502800&kid=a&sig=" + strings.Repeat("A", 43), nil
		}},
		{"link for another key", PolicySigned, func(k string) (string, []reqOpt) {
			return strings.Replace(e.link("zzz", time.Hour, LinkOptions{}), "zzz", k, 1), nil
		}},
		{"expired", PolicySigned, func(k string) (string, []reqOpt) {
			return e.link(k, time.Second, LinkOptions{}), nil
		}},
		{"no token", PolicyToken, func(k string) (string, []reqOpt) { return "/m/" + k, nil }},
		{"bad token", PolicyToken, func(k string) (string, []reqOpt) { return "/m/" + k, []reqOpt{bearerH("nope")} }},
		{"token other mount", PolicyToken, func(k string) (string, []reqOpt) { return "/m/" + k, []reqOpt{bearerH(tokOther)} }},
		{"either nothing", PolicySignedOrToken, func(k string) (string, []reqOpt) { return "/m/" + k, nil }},
	}
	for _, v := range variants {
		var got [2]string
		for i, key := range []string{"exists.mp4", "missing.mp4"} {
			e.clk.t = t0
			target, opts := v.req(key)
			if v.name == "expired" {
				e.clk.t = t0.Add(time.Hour)
			}
			w := serve(e.handler(v.p), target, opts...)
			h := sha256.Sum256(w.Body.Bytes())
			got[i] = fmt.Sprintf("%d %v %x", w.Code, w.Header(), h)
			if w.Code != 401 && w.Code != 403 {
				t.Errorf("%s/%s: status %d, want a refusal", v.name, key, w.Code)
			}
		}
		if got[0] != got[1] {
			t.Errorf("%s: response differs by existence:\n exists:  %s\n missing: %s", v.name, got[0], got[1])
		}
	}
	if e.calls != 0 {
		t.Errorf("storage handler called %d times for refused requests", e.calls)
	}
}

func TestGraceCookie(t *testing.T) {
	const grace, maxGrace, ttl = 10 * time.Minute, time.Hour, 5 * time.Minute
	e := newEnv(t, SignerOptions{Grace: grace, MaxGrace: maxGrace})
	h := e.handler(PolicySigned)
	linkA := e.link("exists-a.mp4", ttl, LinkOptions{})
	linkB := e.link("exists-b.mp4", ttl, LinkOptions{})
	exp := t0.Add(ttl)

	// Playback starts with a valid link: 200 and a cookie scoped to the key.
	w := serve(h, linkA)
	c := graceOf(w)
	if w.Code != 200 || c == nil {
		t.Fatalf("valid link: status %d, cookie %v", w.Code, c)
	}
	if c.Path != "/m/exists-a.mp4" || c.MaxAge != int(grace/time.Second) || !c.HttpOnly || c.Secure || c.SameSite != http.SameSiteLaxMode {
		t.Errorf("cookie = %+v, want Path=/m/exists-a.mp4 Max-Age=600 HttpOnly SameSite=Lax not Secure", c)
	}
	if strings.Contains(c.Value, mustQuery(linkA).Get("sig")) {
		t.Error("cookie value contains the link's signature")
	}
	cB := graceOf(serve(h, linkB))

	// The clock moves past the link's expiry.
	e.clk.t = exp.Add(time.Minute)
	tests := []struct {
		name   string
		target string
		cs     []*http.Cookie
		status int
		body   string
	}{
		{"expired link + its cookie", linkA, []*http.Cookie{c}, 200, ""},
		{"expired link, no cookie (new client)", linkA, nil, 403, bodyExpired},
		{"expired link + cookie of another key", linkA, []*http.Cookie{cB}, 403, bodyExpired},
		{"expired link + both cookies", linkA, []*http.Cookie{cB, c}, 200, ""},
		{"cookie alone, no link", "/m/exists-a.mp4", []*http.Cookie{c}, 403, bodyLinkRequired},
		{"cookie with link of other key", linkB, []*http.Cookie{c}, 403, bodyExpired},
		{"tampered cookie", linkA, []*http.Cookie{{Name: GraceCookie, Value: c.Value[:len(c.Value)-2] + "AA"}}, 403, bodyExpired},
		{"cookie exp pushed", linkA, []*http.Cookie{{Name: GraceCookie, Value: pushExp(c.Value)}}, 403, bodyExpired},
		{"garbage cookie", linkA, []*http.Cookie{{Name: GraceCookie, Value: "x.y.z"}}, 403, bodyExpired},
	}
	for _, tt := range tests {
		w := serve(h, tt.target, withCookies(tt.cs...))
		if w.Code != tt.status || (tt.body != "" && w.Body.String() != tt.body) {
			t.Errorf("%s: %d %q, want %d %q", tt.name, w.Code, w.Body.String(), tt.status, tt.body)
		}
		if w.Code != 200 && graceOf(w) != nil {
			t.Errorf("%s: refused response sets a cookie", tt.name)
		}
	}

	// A cookie from another, genuine link for the same key does not carry
	// over to this link: the cookie is bound to the link's exp.
	e.clk.t = t0.Add(time.Second)
	linkA2 := e.link("exists-a.mp4", ttl, LinkOptions{})
	e.clk.t = exp.Add(2 * time.Minute)
	if w := serve(h, linkA2, withCookies(c)); w.Code != 403 {
		t.Errorf("cookie of link 1 with expired link 2: %d, want 403", w.Code)
	}

	// Sliding renewal: seeks every 9 minutes keep the playback alive, up to
	// the hard cap exp + MaxGrace, and not a second longer.
	e.clk.t = exp.Add(time.Minute)
	cur := c
	var lastOK time.Time
	for i := 0; i < 20; i++ {
		w := serve(h, linkA, withCookies(cur))
		if w.Code != 200 {
			break
		}
		lastOK = e.clk.t
		cur = graceOf(w)
		if cur == nil {
			t.Fatalf("renewal at %v set no cookie", e.clk.t.Sub(exp))
		}
		if until := e.clk.t.Add(time.Duration(cur.MaxAge) * time.Second); until.After(exp.Add(maxGrace)) {
			t.Errorf("cookie at %v lives until exp%+v, beyond the hard cap", e.clk.t.Sub(exp), until.Sub(exp))
		}
		e.clk.Advance(9 * time.Minute)
	}
	if got := lastOK.Sub(exp); got < maxGrace-9*time.Minute || got >= maxGrace {
		t.Errorf("last seek allowed at exp%+v, want within the last 9m before exp+%v", got, maxGrace)
	}
	e.clk.t = exp.Add(maxGrace)
	if w := serve(h, linkA, withCookies(cur)); w.Code != 403 || w.Body.String() != bodyExpired {
		t.Errorf("at the hard cap: %d %q, want 403 expired", w.Code, w.Body.String())
	}

	// Idle longer than Grace: the cookie has expired.
	e.clk.t = t0
	c = graceOf(serve(h, linkA))
	e.clk.t = t0.Add(grace + time.Second)
	if w := serve(h, linkA, withCookies(c)); w.Code != 403 {
		t.Errorf("cookie idle past grace: %d, want 403", w.Code)
	}
}

// pushExp moves the cookie's expiry field one hour later, keeping its MAC.
func pushExp(v string) string {
	parts := strings.SplitN(v, ".", 3)
	var n int64
	fmt.Sscan(parts[1], &n)
	return fmt.Sprintf("%s.%d.%s", parts[0], n+3600, parts[2])
}

func TestGraceCookieSecureAndOff(t *testing.T) {
	e := newEnv(t, SignerOptions{Grace: time.Minute})
	link := e.link("exists.mp4", time.Hour, LinkOptions{})
	w := serve(e.handler(PolicySigned), link, func(r *http.Request) { r.TLS = &tls.ConnectionState{} })
	if c := graceOf(w); c == nil || !c.Secure {
		t.Errorf("TLS request: cookie %+v, want Secure", c)
	}
	e.guard.secure = true
	if c := graceOf(serve(e.handler(PolicySigned), link)); c == nil || !c.Secure {
		t.Errorf("SecureCookies: cookie %+v, want Secure", c)
	}
	// MaxGrace defaults when only Grace is set.
	if e.signer.maxGrace != DefaultMaxGrace {
		t.Errorf("maxGrace = %v, want %v", e.signer.maxGrace, DefaultMaxGrace)
	}

	off := newEnv(t, SignerOptions{Grace: Off})
	link = off.link("exists.mp4", time.Minute, LinkOptions{})
	w = serve(off.handler(PolicySigned), link)
	if w.Code != 200 || graceOf(w) != nil {
		t.Errorf("grace off: %d, cookie %v; want 200 without cookie", w.Code, graceOf(w))
	}
}

func TestGuardIPBinding(t *testing.T) {
	e := newEnv(t, SignerOptions{})
	link := e.link("exists.mp4", time.Hour, LinkOptions{IP: netip.MustParseAddr("2001:db8::7")})
	h := e.handler(PolicySigned)
	if w := serve(h, link, remote("[2001:db8::7]:443")); w.Code != 200 {
		t.Errorf("right IP: %d", w.Code)
	}
	if w := serve(h, link, remote("[2001:db8::8]:443")); w.Code != 403 || w.Body.String() != bodyBadSignature {
		t.Errorf("wrong IP: %d %q", w.Code, w.Body.String())
	}
	if w := serve(h, link, remote("@unix")); w.Code != 403 {
		t.Errorf("unknown client IP: %d", w.Code)
	}
	// A pluggable ClientIP (what cmd does behind a trusted proxy).
	g := NewGuard(GuardOptions{Signer: e.signer, Logger: slog.New(slog.NewTextHandler(e.logs, nil)),
		ClientIP: func(r *http.Request) netip.Addr { return netip.MustParseAddr(r.Header.Get("X-Test-IP")) }})
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	hp := g.Middleware(next, PolicySigned, "/m/", keyOf("/m/"))
	if w := serve(hp, link, func(r *http.Request) { r.Header.Set("X-Test-IP", "2001:db8::7") }); w.Code != 200 {
		t.Errorf("ClientIP func, right IP: %d", w.Code)
	}
}

func TestRemoteIP(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.1:80":          "192.0.2.1",
		"[::ffff:192.0.2.1]:80": "192.0.2.1",
		"[fe80::1%eth0]:80":     "fe80::1",
		"192.0.2.1":             "192.0.2.1",
		"@":                     "invalid IP",
		"":                      "invalid IP",
	} {
		if got := RemoteIP(&http.Request{RemoteAddr: in}).String(); got != want {
			t.Errorf("RemoteIP(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRequireAdmin(t *testing.T) {
	e := newEnv(t, SignerOptions{})
	var seen string
	h := e.guard.RequireAdmin(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, _ := TokenFrom(r.Context())
		seen = tok.Name
	}))
	tests := []struct {
		tok       string
		status    int
		challenge string
	}{
		{"", 401, `Bearer realm="rangeserve"`},
		{"nope", 401, `Bearer realm="rangeserve", error="invalid_token"`},
		{tokMedia, 403, `Bearer realm="rangeserve", error="insufficient_scope"`},
		{tokAdmin, 200, ""},
	}
	for _, tt := range tests {
		var opts []reqOpt
		if tt.tok != "" {
			opts = append(opts, bearerH(tt.tok))
		}
		seen = ""
		w := serve(h, "/api/links", opts...)
		if w.Code != tt.status || w.Header().Get("WWW-Authenticate") != tt.challenge {
			t.Errorf("token %q: %d %q, want %d %q", tt.tok, w.Code, w.Header().Get("WWW-Authenticate"), tt.status, tt.challenge)
		}
		if (w.Code == 200) != (seen == "admin") {
			t.Errorf("token %q: next saw token %q", tt.tok, seen)
		}
	}
	if _, ok := TokenFrom(context.Background()); ok {
		t.Error("TokenFrom on a bare context reported a token")
	}
	// A Guard without Tokens refuses every admin request.
	g := NewGuard(GuardOptions{Logger: slog.New(slog.DiscardHandler)})
	if w := serve(g.RequireAdmin(h), "/api/links", bearerH(tokAdmin)); w.Code != 401 {
		t.Errorf("no token set: %d, want 401", w.Code)
	}
}

func TestNewTokensValidation(t *testing.T) {
	good := hashHex("x")
	all := []string{"/"}
	tests := []struct {
		name string
		toks []Token
		ok   bool
	}{
		{"empty", nil, true},
		{"ok", []Token{{Name: "a", SHA256: good, Mounts: []string{"/m/", "/m/sub", "/"}}}, true},
		{"no name", []Token{{SHA256: good, Mounts: all}}, false},
		{"dup name", []Token{{Name: "a", SHA256: good, Mounts: all}, {Name: "a", SHA256: hashHex("y"), Mounts: all}}, false},
		{"dup hash", []Token{{Name: "a", SHA256: good, Mounts: all}, {Name: "b", SHA256: good, Mounts: all}}, false},
		{"short hash", []Token{{Name: "a", SHA256: good[:62], Mounts: all}}, false},
		{"non-hex", []Token{{Name: "a", SHA256: "zz" + good[2:], Mounts: all}}, false},
		{"plain token", []Token{{Name: "a", SHA256: "secret-token", Mounts: all}}, false},
		{"mount without slash", []Token{{Name: "a", SHA256: good, Mounts: []string{"m/"}}}, false},
		{"mount dotdot", []Token{{Name: "a", SHA256: good, Mounts: []string{"/m/../x/"}}}, false},
		{"mount double slash", []Token{{Name: "a", SHA256: good, Mounts: []string{"/m//x/"}}}, false},
		{"grants nothing", []Token{{Name: "a", SHA256: good}}, false},
		{"admin only", []Token{{Name: "a", SHA256: good, Admin: true}}, true},
		{"admin with links", []Token{{Name: "a", SHA256: good, Admin: true, Links: []string{"/m/"}, MaxLinkTTL: time.Hour}}, true},
		{"links without admin", []Token{{Name: "a", SHA256: good, Mounts: all, Links: []string{"/m/"}}}, false},
		{"max link ttl without admin", []Token{{Name: "a", SHA256: good, Mounts: all, MaxLinkTTL: time.Hour}}, false},
		{"max link ttl negative", []Token{{Name: "a", SHA256: good, Admin: true, MaxLinkTTL: -time.Hour}}, false},
		{"max link ttl too long", []Token{{Name: "a", SHA256: good, Admin: true, MaxLinkTTL: MaxTTL + time.Second}}, false},
		{"link dotdot", []Token{{Name: "a", SHA256: good, Admin: true, Links: []string{"/m/../x/"}}}, false},
	}
	for _, tt := range tests {
		_, err := NewTokens(tt.toks)
		if (err == nil) != tt.ok {
			t.Errorf("%s: NewTokens error = %v, want ok=%v", tt.name, err, tt.ok)
		}
	}
	// Errors name the token's position and the field, for config files.
	for _, c := range []struct {
		toks   []Token
		option string
		index  int
	}{
		{[]Token{{Name: "a", SHA256: good, Mounts: all}, {Name: "b", SHA256: "x", Mounts: all}}, "SHA256", 1},
		{[]Token{{Name: "a", SHA256: good, Admin: true, Links: []string{"nope"}}}, "Links", 0},
		{[]Token{{Name: "a", SHA256: good, Mounts: all, MaxLinkTTL: time.Hour}}, "MaxLinkTTL", 0},
		{[]Token{{Name: "a", SHA256: good}}, "Mounts", 0},
	} {
		var oe *OptionError
		if _, err := NewTokens(c.toks); !errors.As(err, &oe) || oe.Name != c.option || oe.Index != c.index {
			t.Errorf("%+v: %v, want an OptionError for [%d].%s", c.toks, err, c.index, c.option)
		}
	}
}

func TestTokensCheck(t *testing.T) {
	ts := testTokens(t)
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Authorization", "Bearer "+tokAll) // the last one: the loop must not stop early or late
	tok, err := ts.Check(r)
	if err != nil || tok.Name != "all" || tok.SHA256 != hashHex(tokAll) {
		t.Errorf("Check = %+v, %v", tok, err)
	}
	tok.Mounts[0] = "/changed/"
	if tok2, _ := ts.Check(r); tok2.Mounts[0] != "/" {
		t.Error("Check returned a Token sharing the set's Mounts slice")
	}
	r.Header.Set("Authorization", "Bearer  "+tokAll+" ")
	if _, err := ts.Check(r); err != nil {
		t.Errorf("extra spaces around the token: %v", err)
	}
	r.Header.Set("Authorization", "Bearer ")
	if _, err := ts.Check(r); err != ErrNoToken {
		t.Errorf("empty bearer: %v, want ErrNoToken", err)
	}
}

func TestMiddlewarePanicsOnMiswiring(t *testing.T) {
	next := http.NotFoundHandler()
	k := keyOf("/m/")
	quiet := slog.New(slog.DiscardHandler)
	noSigner := NewGuard(GuardOptions{Tokens: testTokens(t), Logger: quiet})
	noTokens := NewGuard(GuardOptions{Signer: newSigner(t, &clock{t0}, SignerOptions{}), Logger: quiet})
	cases := []struct {
		name string
		f    func()
	}{
		{"zero policy", func() { noSigner.Middleware(next, 0, "/m/", k) }},
		{"signed without signer", func() { noSigner.Middleware(next, PolicySigned, "/m/", k) }},
		{"token without tokens", func() { noTokens.Middleware(next, PolicyToken, "/m/", k) }},
		{"either without tokens", func() { noTokens.Middleware(next, PolicySignedOrToken, "/m/", k) }},
	}
	for _, c := range cases {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", c.name)
				}
			}()
			c.f()
		}()
	}
	// Authorize itself fails closed on the same mistakes.
	w := httptest.NewRecorder()
	r := httptest.NewRequest("GET", "/m/x", nil)
	if _, ok := noSigner.Authorize(w, r, PolicySigned, "/m/", "x"); ok || w.Code != 403 {
		t.Errorf("Authorize without signer: %d, want refusal 403", w.Code)
	}
	w = httptest.NewRecorder()
	if _, ok := noSigner.Authorize(w, r, 0, "/m/", "x"); ok || w.Code != 403 {
		t.Errorf("Authorize with zero policy: %d, want refusal 403", w.Code)
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// TestLinkVerifiedHook: the hook hears once per request that presents a
// link, with the outcome; requests without one, and token requests, are
// not reported.
func TestLinkVerifiedHook(t *testing.T) {
	const ttl = 5 * time.Minute
	e := newEnv(t, SignerOptions{Grace: 10 * time.Minute, MaxGrace: time.Hour})
	var got []string
	e.guard.verified = func(o string) { got = append(got, o) }
	h := e.guard.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}), PolicySignedOrToken, "/m/", keyOf("/m/"))
	good := e.link("exists-a.mp4", ttl, LinkOptions{})
	other := e.link("exists-b.mp4", ttl, LinkOptions{})
	bound := e.link("exists-a.mp4", ttl, LinkOptions{IP: netip.MustParseAddr("198.51.100.9")})
	scoped := e.link("dir/x", ttl, LinkOptions{Scope: "dir/"})
	q := mustQuery(good)
	tampered := "/m/exists-a.mp4?" + strings.Replace(q.Encode(), "sig="+q.Get("sig"), "sig=AAAA"+q.Get("sig")[4:], 1)
	cookie := graceOf(serve(h, good))
	got = nil
	steps := []struct {
		target string
		opts   []reqOpt
		want   string // "" for not reported
	}{
		{good, nil, "ok"},
		{"/m/exists-b.mp4" + other[strings.Index(other, "?"):], []reqOpt{method(http.MethodPost)}, "method"},
		{"/m/exists-a.mp4" + scoped[strings.Index(scoped, "?"):], nil, "scope"},
		{"/m/exists-a.mp4" + other[strings.Index(other, "?"):], nil, "bad_signature"},
		{tampered, nil, "bad_signature"},
		{bound, nil, "ip"},
		{"/m/exists-a.mp4?exp=x&kid=a&sig=b", nil, "malformed"},
		{"/m/exists-a.mp4", nil, ""},
		{"/m/exists-a.mp4", []reqOpt{bearerH(tokMedia)}, ""},
	}
	for _, s := range steps {
		got = nil
		serve(h, s.target, s.opts...)
		if s.want == "" && len(got) != 0 || s.want != "" && (len(got) != 1 || got[0] != s.want) {
			t.Errorf("%s: reported %q, want %q", s.target, got, s.want)
		}
	}
	e.clk.t = t0.Add(ttl + time.Minute)
	for _, s := range []struct {
		cs   []*http.Cookie
		want string
	}{{[]*http.Cookie{cookie}, "grace"}, {nil, "expired"}} {
		got = nil
		serve(h, good, withCookies(s.cs...))
		if len(got) != 1 || got[0] != s.want {
			t.Errorf("expired link, cookies %d: reported %q, want %q", len(s.cs), got, s.want)
		}
	}
	for _, o := range got {
		if !slicesContains(LinkOutcomes, o) {
			t.Errorf("outcome %q is not in LinkOutcomes", o)
		}
	}
}

func slicesContains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
