package auth

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"
)

// fuzzLink is a link the fuzz target signs itself; only these may verify.
type fuzzLink struct {
	mount, key string
	ttl        time.Duration
	o          LinkOptions
}

var fuzzLinks = []fuzzLink{
	{"/media/", "a/x.mp4", time.Hour, LinkOptions{}},
	{"/media/", "", time.Hour, LinkOptions{Scope: "a/"}},
	{"/media/", "a/x.mp4", time.Hour, LinkOptions{IP: netip.MustParseAddr("192.0.2.7")}},
	{"/media/", "a", time.Hour, LinkOptions{}},
	{"/other/", "a/x.mp4", time.Hour, LinkOptions{}}, // another mount: never valid here
	{"/media/", "old.mp4", time.Second, LinkOptions{}},
}

// fuzzSigners returns the fuzz target's signers, deterministic so that the
// committed corpus holds genuine links: rotated signs with "b" and also
// accepts "a"; signedA signs with "a".
// Links are signed at t0 and verified a minute later, when only the
// one-second link has expired.
func fuzzSigners(tb testing.TB) (rotated, signedA *Signer, clk *clock) {
	clk = &clock{t0}
	return newSigner(tb, clk, SignerOptions{Skew: 5 * time.Second}, keyB, keyA),
		newSigner(tb, clk, SignerOptions{Skew: 5 * time.Second}, keyA), clk
}

// FuzzVerify feeds Verify (and the Guard) arbitrary query strings and keys.
// Invariants: no panic; every error is one of the documented sentinels;
// and nil is returned only for a signature this test produced with Sign,
// with exactly the signed kid, exp, scope and ip, for the signed key or a
// key inside the signed scope, and the signed mount. The fuzzer never
// sees the secrets, so any other nil is a forgery.
func FuzzVerify(f *testing.F) {
	rotated, signedA, clk := fuzzSigners(f)
	genuine := map[string]fuzzLink{} // sig -> link
	kidOf := map[string]string{}
	for _, s := range []*Signer{rotated, signedA} {
		for _, l := range fuzzLinks {
			v, _, err := s.Sign(l.mount, l.key, l.ttl, l.o)
			if err != nil {
				f.Fatal(err)
			}
			genuine[v.Get(ParamSig)] = l
			kidOf[v.Get(ParamSig)] = v.Get(ParamKeyID)
			f.Add(v.Encode(), l.key)
			f.Add(v.Encode()+"&download=1", l.key)
			f.Add(v.Encode(), "a2/x.mp4")
		}
	}
	clk.Advance(time.Minute)
	f.Add("", "")
	f.Add("exp=1&kid=a&sig=", "a")
	f.Add("exp=1893502800&kid=a&sig=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "a/x.mp4")
	f.Add("exp=1893502800&exp=1893502800&kid=a&sig=x", "a/x.mp4")
	f.Add("scope=a%2F..&exp=1&kid=b&sig=x", "b")
	f.Add("ip=%5B%3A%3A1%5D&exp=1&kid=b&sig=x", "b")

	client := netip.MustParseAddr("192.0.2.7")
	sentinels := []error{ErrMissing, ErrMalformed, ErrBadSignature, ErrScope, ErrIP, ErrExpired}
	g := NewGuard(GuardOptions{Signer: rotated, Logger: discardLogger()})

	f.Fuzz(func(t *testing.T, query, key string) {
		values, _ := url.ParseQuery(query)
		for _, mount := range []string{"/media/", "/other/", ""} {
			err := rotated.Verify(values, mount, key, client)
			if err != nil {
				ok := false
				for _, s := range sentinels {
					ok = ok || errors.Is(err, s)
				}
				if !ok {
					t.Fatalf("Verify(%q, %q, %q) = %v: not a documented error", query, mount, key, err)
				}
				continue
			}
			sig := values.Get(ParamSig)
			l, known := genuine[sig]
			switch {
			case !known:
				t.Fatalf("forgery: Verify(%q, %q, %q) = nil for a signature Sign never made", query, mount, key)
			case mountName(mount) != mountName(l.mount):
				t.Fatalf("mount swap: link for %q verified on %q", l.mount, mount)
			case values.Get(ParamKeyID) != kidOf[sig]:
				t.Fatalf("kid changed: %q", query)
			case values.Get(ParamScope) != l.o.Scope:
				t.Fatalf("scope changed: %q", query)
			case l.o.IP.IsValid() != values.Has(ParamIP) || (l.o.IP.IsValid() && values.Get(ParamIP) != l.o.IP.String()):
				t.Fatalf("ip changed: %q", query)
			case l.o.Scope == "" && key != l.key:
				t.Fatalf("path swap: link for %q verified for %q", l.key, key)
			case l.o.Scope != "" && !keyUnder(l.o.Scope, key):
				t.Fatalf("scope escape: scope %q verified for %q", l.o.Scope, key)
			case l.ttl < time.Minute:
				t.Fatalf("expired link verified: %q", query)
			}
		}
		// The Guard must not panic either, whatever the URL.
		r := httptest.NewRequest(http.MethodGet, "/media/x", nil)
		r.URL.RawQuery = query
		r.Header.Set("Cookie", GraceCookie+"="+strings.ReplaceAll(key, ";", ""))
		g.Authorize(httptest.NewRecorder(), r, PolicySigned, "/media/", key)
	})
}

// keyUnder is an independent segment-boundary prefix check.
func keyUnder(scope, key string) bool {
	s := strings.Split(strings.TrimSuffix(scope, "/"), "/")
	k := strings.Split(key, "/")
	if len(k) < len(s) {
		return false
	}
	for i := range s {
		if s[i] != k[i] {
			return false
		}
	}
	return true
}
