package auth

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"
)

// TestGrant: a request a link admits carries the link's Grant to the next
// handler (expiry plus grace, capped; IP binding); one a grace cookie
// admits carries the cookie's renewed expiry; tokens and public mounts
// carry none.
func TestGrant(t *testing.T) {
	const skew, grace, maxGrace, ttl = 30 * time.Second, 10 * time.Minute, time.Hour, 5 * time.Minute
	exp := t0.Add(ttl)
	type seen struct {
		grant Grant
		ok    bool
		query string
	}
	run := func(e *env, p Policy, target string, opts ...reqOpt) (seen, int, *http.Cookie) {
		var s seen
		next := KeyHandlerFunc(func(w http.ResponseWriter, r *http.Request, key string) {
			s.grant, s.ok = GrantFrom(r.Context())
			s.query = r.URL.RawQuery
		})
		h := e.guard.Protect(next, p, "/m/")
		r, _ := http.NewRequest("GET", target, nil)
		r.RemoteAddr = "192.0.2.1:5555"
		for _, o := range opts {
			o(r)
		}
		w := httptest.NewRecorder()
		h.ServeKey(w, r, "exists.mp4")
		return s, w.Code, graceOf(w)
	}

	e := newEnv(t, SignerOptions{Skew: skew, Grace: grace, MaxGrace: maxGrace})
	plain := e.link("exists.mp4", ttl, LinkOptions{})
	bound := e.link("exists.mp4", ttl, LinkOptions{IP: netip.MustParseAddr("192.0.2.1")})
	for _, c := range []struct {
		name   string
		p      Policy
		target string
		opts   []reqOpt
		want   Grant
		has    bool
	}{
		{"link", PolicySigned, plain + "&download=1", nil, Grant{Until: exp.Add(grace)}, true},
		{"ip-bound link", PolicySigned, bound, nil, Grant{Until: exp.Add(grace), ClientBound: true}, true},
		{"link on signed-or-token", PolicySignedOrToken, plain, []reqOpt{bearerH(tokMedia)}, Grant{Until: exp.Add(grace)}, true},
		{"token", PolicySignedOrToken, "/m/exists.mp4", []reqOpt{bearerH(tokMedia)}, Grant{}, false},
		{"public", PolicyPublic, "/m/exists.mp4?download=1", nil, Grant{}, false},
	} {
		e.clk.t = t0
		s, code, _ := run(e, c.p, c.target, c.opts...)
		if code != 200 || s.ok != c.has || !sameGrant(s.grant, c.want) {
			t.Errorf("%s: %d, grant %+v (%v), want %+v (%v)", c.name, code, s.grant, s.ok, c.want, c.has)
		}
		if q := mustQuery("/?" + s.query); q.Get(ParamSig) != "" || q.Get(ParamExp) != "" {
			t.Errorf("%s: next saw the link's parameters: %q", c.name, s.query)
		}
	}

	// Through the grace cookie, after the link expired: now + Grace,
	// never beyond exp + MaxGrace.
	e.clk.t = t0
	_, _, cookie := run(e, PolicySigned, plain)
	for _, at := range []time.Duration{time.Minute, 8 * time.Minute} {
		e.clk.t = exp.Add(at)
		s, code, c := run(e, PolicySigned, plain, withCookies(cookie))
		if want := (Grant{Until: e.clk.t.Add(grace)}); code != 200 || !sameGrant(s.grant, want) {
			t.Errorf("cookie at exp+%v: %d, grant %+v, want %+v", at, code, s.grant, want)
		}
		cookie = c
	}
	for e.clk.t = exp.Add(8 * time.Minute); e.clk.t.Before(exp.Add(maxGrace - 5*time.Minute)); e.clk.Advance(8 * time.Minute) {
		_, _, cookie = run(e, PolicySigned, plain, withCookies(cookie))
	}
	s, code, _ := run(e, PolicySigned, plain, withCookies(cookie))
	if want := (Grant{Until: exp.Add(maxGrace)}); code != 200 || !sameGrant(s.grant, want) {
		t.Errorf("cookie near the hard cap (exp+%v): %d, grant %+v, want %+v", e.clk.t.Sub(exp), code, s.grant, want)
	}

	// Without grace a link holds until its expiry plus the skew.
	e = newEnv(t, SignerOptions{Skew: skew, Grace: Off})
	if s, _, _ := run(e, PolicySigned, e.link("exists.mp4", ttl, LinkOptions{})); !sameGrant(s.grant, Grant{Until: exp.Add(skew)}) {
		t.Errorf("no grace: grant %+v, want until exp+%v", s.grant, skew)
	}
}

func sameGrant(a, b Grant) bool { return a.Until.Equal(b.Until) && a.ClientBound == b.ClientBound }
