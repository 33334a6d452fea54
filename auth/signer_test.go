package auth

import (
	"bytes"
	"errors"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"
)

// t0 is the fake clock's start: a whole second.
var t0 = time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)

type clock struct{ t time.Time }

func (c *clock) Now() time.Time          { return c.t }
func (c *clock) Advance(d time.Duration) { c.t = c.t.Add(d) }

func secret(c byte) []byte { return bytes.Repeat([]byte{c}, MinSecretLen) }

var (
	keyA = Key{ID: "a", Secret: secret('A')}
	keyB = Key{ID: "b", Secret: secret('B')}
)

func newSigner(t testing.TB, clk *clock, opts SignerOptions, keys ...Key) *Signer {
	t.Helper()
	if len(keys) == 0 {
		keys = []Key{keyA}
	}
	opts.Now = clk.Now
	s, err := NewSigner(keys, opts)
	if err != nil {
		t.Fatalf("NewSigner: %v", err)
	}
	return s
}

func mustSign(t testing.TB, s *Signer, mount, key string, ttl time.Duration, o LinkOptions) url.Values {
	t.Helper()
	v, _, err := s.Sign(mount, key, ttl, o)
	if err != nil {
		t.Fatalf("Sign(%q, %q): %v", mount, key, err)
	}
	return v
}

func errName(err error) string {
	for _, e := range []error{ErrMissing, ErrMalformed, ErrBadSignature, ErrScope, ErrIP, ErrExpired} {
		if errors.Is(err, e) {
			return e.Error()
		}
	}
	if err == nil {
		return "<nil>"
	}
	return "other: " + err.Error()
}

func TestNewSignerValidation(t *testing.T) {
	tests := []struct {
		name string
		keys []Key
		opts SignerOptions
		ok   bool
	}{
		{"ok", []Key{keyA}, SignerOptions{}, true},
		{"rotation", []Key{keyB, keyA}, SignerOptions{Skew: time.Minute, Grace: time.Minute}, true},
		{"no keys", nil, SignerOptions{}, false},
		{"short secret", []Key{{ID: "a", Secret: make([]byte, 31)}}, SignerOptions{}, false},
		{"empty id", []Key{{ID: "", Secret: secret('x')}}, SignerOptions{}, false},
		{"id with dot", []Key{{ID: "a.b", Secret: secret('x')}}, SignerOptions{}, false},
		{"id too long", []Key{{ID: strings.Repeat("a", 65), Secret: secret('x')}}, SignerOptions{}, false},
		{"duplicate id", []Key{keyA, {ID: "a", Secret: secret('z')}}, SignerOptions{}, false},
		{"negative skew", []Key{keyA}, SignerOptions{Skew: -time.Second}, false},
		{"huge skew", []Key{keyA}, SignerOptions{Skew: time.Hour}, false},
		{"negative grace", []Key{keyA}, SignerOptions{Grace: -time.Second}, false},
		{"everything off", []Key{keyA}, SignerOptions{Skew: Off, Grace: Off, MaxGrace: Off}, true},
		{"max grace off, grace default", []Key{keyA}, SignerOptions{MaxGrace: Off}, false},
		{"max grace off, grace set", []Key{keyA}, SignerOptions{MaxGrace: Off, Grace: time.Minute}, false},
		{"grace above max grace", []Key{keyA}, SignerOptions{Grace: 2 * time.Hour, MaxGrace: time.Hour}, false},
		{"default grace above max grace", []Key{keyA}, SignerOptions{MaxGrace: time.Hour}, false},
		{"grace off, short max grace", []Key{keyA}, SignerOptions{Grace: Off, MaxGrace: time.Minute}, true},
	}
	for _, tt := range tests {
		_, err := NewSigner(tt.keys, tt.opts)
		if (err == nil) != tt.ok {
			t.Errorf("%s: NewSigner error = %v, want ok=%v", tt.name, err, tt.ok)
		}
		var oe *OptionError
		if err != nil && !errors.As(err, &oe) {
			t.Errorf("%s: error %v is not an *OptionError", tt.name, err)
		}
	}
}

// TestSignerDefaults: zero selects each documented default, Off turns an
// option off, and a contradiction names the option that was set.
func TestSignerDefaults(t *testing.T) {
	s, err := NewSigner([]Key{keyA}, SignerOptions{})
	if err != nil || s.skew != DefaultSkew || s.grace != DefaultGrace || s.maxGrace != DefaultMaxGrace {
		t.Errorf("zero options: skew %v grace %v max grace %v, %v; want %v %v %v", s.skew, s.grace, s.maxGrace, err, DefaultSkew, DefaultGrace, DefaultMaxGrace)
	}
	if DefaultSkew != 30*time.Second || DefaultGrace != 2*time.Hour || DefaultMaxGrace != 12*time.Hour {
		t.Errorf("defaults changed: the README documents 30s, 2h and 12h")
	}
	s, err = NewSigner([]Key{keyA}, SignerOptions{Skew: Off, Grace: Off, MaxGrace: Off})
	if err != nil || s.skew != 0 || s.grace != 0 || s.maxGrace != 0 {
		t.Errorf("Off: skew %v grace %v max grace %v, %v; want all 0", s.skew, s.grace, s.maxGrace, err)
	}
	for _, c := range []struct {
		opts   SignerOptions
		option string
	}{
		{SignerOptions{MaxGrace: time.Hour}, "MaxGrace"},
		{SignerOptions{MaxGrace: Off}, "MaxGrace"},
		{SignerOptions{Grace: 3 * time.Hour, MaxGrace: time.Hour}, "Grace"},
		{SignerOptions{Grace: 13 * time.Hour}, "Grace"},
		{SignerOptions{Skew: 11 * time.Minute}, "Skew"},
	} {
		var oe *OptionError
		if _, err := NewSigner([]Key{keyA}, c.opts); !errors.As(err, &oe) || oe.Name != c.option || oe.Index != -1 {
			t.Errorf("%+v: %v, want an OptionError for %s", c.opts, err, c.option)
		}
	}
}

func TestNewSignerCopiesSecret(t *testing.T) {
	sec := secret('Q')
	clk := &clock{t0}
	s := newSigner(t, clk, SignerOptions{}, Key{ID: "q", Secret: sec})
	v := mustSign(t, s, "/m/", "f", time.Hour, LinkOptions{})
	sec[0] = 'X' // the caller reusing its buffer must not change the key
	if err := s.Verify(v, "/m/", "f", netip.Addr{}); err != nil {
		t.Fatalf("Verify after caller mutated secret: %v", err)
	}
}

func TestSignValidation(t *testing.T) {
	clk := &clock{t0}
	s := newSigner(t, clk, SignerOptions{})
	tests := []struct {
		key   string
		ttl   time.Duration
		scope string
		ok    bool
	}{
		{"a/b.mp4", time.Hour, "", true},
		{"a/b.mp4", MaxTTL, "", true},
		{"a/b.mp4", MaxTTL + time.Second, "", false},
		{"a/b.mp4", 0, "", false},
		{"a/b.mp4", -time.Hour, "", false},
		{"/a/b.mp4", time.Hour, "", false},
		{"a//b.mp4", time.Hour, "", false},
		{"a/../b.mp4", time.Hour, "", false},
		{"a/./b.mp4", time.Hour, "", false},
		{"a\\b.mp4", time.Hour, "", false},
		{"a/b.mp4/", time.Hour, "", false},
		{"a/\x00b", time.Hour, "", false},
		{"a/b.mp4", time.Hour, "a", true},
		{"a/b.mp4", time.Hour, "a/", true},
		{"", time.Hour, "a/", true},
		{"a2/b.mp4", time.Hour, "a", false},
		{"a/b.mp4", time.Hour, "/a", false},
		{"a/b.mp4", time.Hour, "a//", false},
		{"a/b.mp4", time.Hour, "../a", false},
		{"a/b.mp4", time.Hour, "a\\", false},
		{"x", time.Hour, "/", false},
	}
	for _, tt := range tests {
		_, _, err := s.Sign("/m/", tt.key, tt.ttl, LinkOptions{Scope: tt.scope})
		if (err == nil) != tt.ok {
			t.Errorf("Sign(key=%q, ttl=%v, scope=%q) error = %v, want ok=%v", tt.key, tt.ttl, tt.scope, err, tt.ok)
		}
	}
}

func TestSignOutput(t *testing.T) {
	clk := &clock{t0.Add(300 * time.Millisecond)}
	s := newSigner(t, clk, SignerOptions{})
	v, exp, err := s.Sign("/media/", "a/b.mp4", time.Hour, LinkOptions{Scope: "a/", IP: netip.MustParseAddr("::ffff:192.0.2.7")})
	if err != nil {
		t.Fatal(err)
	}
	// exp is rounded up to a whole second, never down.
	if want := t0.Add(time.Hour + time.Second); !exp.Equal(want) {
		t.Errorf("exp = %v, want %v", exp, want)
	}
	if got, want := v.Get(ParamExp), "1893502801"; got != want {
		t.Errorf("exp param = %q, want %q", got, want)
	}
	if got := v.Get(ParamIP); got != "192.0.2.7" {
		t.Errorf("ip param = %q, want the unmapped IPv4 form", got)
	}
	sig := v.Get(ParamSig)
	if len(sig) != 43 || strings.ContainsAny(sig, "+/=") {
		t.Errorf("sig = %q, want 43 chars of unpadded URL-safe base64", sig)
	}
	if got, want := v.Get(ParamKeyID), "a"; got != want {
		t.Errorf("kid = %q, want %q", got, want)
	}
	// Deterministic: the same inputs give the same signature.
	v2, _, _ := s.Sign("/media/", "a/b.mp4", time.Hour, LinkOptions{Scope: "a/", IP: netip.MustParseAddr("192.0.2.7")})
	if v.Encode() != v2.Encode() {
		t.Errorf("signing twice: %q vs %q", v.Encode(), v2.Encode())
	}
}

func TestVerifyExpiryBoundary(t *testing.T) {
	for _, c := range []struct{ opt, skew time.Duration }{{Off, 0}, {0, DefaultSkew}, {time.Minute, time.Minute}} {
		skew := c.skew
		clk := &clock{t0}
		s := newSigner(t, clk, SignerOptions{Skew: c.opt})
		v := mustSign(t, s, "/m/", "f.mp4", time.Minute, LinkOptions{})
		exp := t0.Add(time.Minute)
		tests := []struct {
			at   time.Time
			want error
		}{
			{t0, nil},
			{exp.Add(-time.Second), nil},
			{exp, nil},
			{exp.Add(skew - time.Second), nil},
			{exp.Add(skew), nil},
			{exp.Add(skew + time.Nanosecond), ErrExpired},
			{exp.Add(skew + time.Second), ErrExpired},
			{exp.Add(24 * time.Hour), ErrExpired},
		}
		for _, tt := range tests {
			clk.t = tt.at
			if err := s.Verify(v, "/m/", "f.mp4", netip.Addr{}); errName(err) != errName(tt.want) {
				t.Errorf("skew=%v at exp%+v: Verify = %v, want %v", skew, tt.at.Sub(exp), err, tt.want)
			}
		}
	}
}

func TestVerifyKeyRotation(t *testing.T) {
	clk := &clock{t0}
	old := newSigner(t, clk, SignerOptions{}, keyA)
	oldLink := mustSign(t, old, "/m/", "f", time.Hour, LinkOptions{})

	rotated := newSigner(t, clk, SignerOptions{}, keyB, keyA) // B is new and signs, A still verifies
	if err := rotated.Verify(oldLink, "/m/", "f", netip.Addr{}); err != nil {
		t.Errorf("old key's link after rotation: %v, want nil", err)
	}
	newLink := mustSign(t, rotated, "/m/", "f", time.Hour, LinkOptions{})
	if got := newLink.Get(ParamKeyID); got != "b" {
		t.Errorf("rotated signer signs with kid %q, want b", got)
	}
	if err := rotated.Verify(newLink, "/m/", "f", netip.Addr{}); err != nil {
		t.Errorf("new link: %v", err)
	}

	retired := newSigner(t, clk, SignerOptions{}, keyB) // A removed
	if err := retired.Verify(oldLink, "/m/", "f", netip.Addr{}); !errors.Is(err, ErrBadSignature) {
		t.Errorf("removed key's link: %v, want ErrBadSignature", err)
	}
	if err := retired.Verify(newLink, "/m/", "f", netip.Addr{}); err != nil {
		t.Errorf("new link after retiring A: %v", err)
	}

	// Same id, different secret (a key replaced in place) verifies nothing.
	replaced := newSigner(t, clk, SignerOptions{}, Key{ID: "a", Secret: secret('Z')})
	if err := replaced.Verify(oldLink, "/m/", "f", netip.Addr{}); !errors.Is(err, ErrBadSignature) {
		t.Errorf("link under a replaced secret: %v, want ErrBadSignature", err)
	}
}

func TestVerifyTable(t *testing.T) {
	clk := &clock{t0}
	s := newSigner(t, clk, SignerOptions{}, keyA, keyB)
	ip := netip.MustParseAddr("192.0.2.7")
	file := mustSign(t, s, "/media/", "a/x.mp4", time.Hour, LinkOptions{})
	scoped := mustSign(t, s, "/media/", "", time.Hour, LinkOptions{Scope: "a"})
	scopedSlash := mustSign(t, s, "/media/", "", time.Hour, LinkOptions{Scope: "a/"})
	bound := mustSign(t, s, "/media/", "a/x.mp4", time.Hour, LinkOptions{IP: ip})
	// A key link for "a" must not become a scope link for "a/" by adding
	// scope=a: the mode is signed.
	keyLinkA := mustSign(t, s, "/media/", "a", time.Hour, LinkOptions{})

	with := func(v url.Values, edits ...string) url.Values {
		c := url.Values{}
		for k, vs := range v {
			c[k] = append([]string(nil), vs...)
		}
		for i := 0; i+1 < len(edits); i += 2 {
			switch {
			case strings.HasPrefix(edits[i], "+"):
				c.Add(edits[i][1:], edits[i+1])
			case strings.HasPrefix(edits[i], "-"):
				c.Del(edits[i][1:])
			default:
				c.Set(edits[i], edits[i+1])
			}
		}
		return c
	}
	raw := func(q string) url.Values {
		v, err := url.ParseQuery(q)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	// Reordered: the same parameters in reverse order in a query string.
	var parts []string
	for _, p := range strings.Split(file.Encode(), "&") {
		parts = append([]string{p}, parts...)
	}
	reordered := raw(strings.Join(parts, "&") + "&download=1")

	tests := []struct {
		name   string
		v      url.Values
		mount  string
		key    string
		client netip.Addr
		want   error
	}{
		{"valid", file, "/media/", "a/x.mp4", netip.Addr{}, nil},
		{"mount spelled differently", file, "media", "a/x.mp4", netip.Addr{}, nil},
		{"reordered plus other param", reordered, "/media/", "a/x.mp4", netip.Addr{}, nil},
		{"path swap", file, "/media/", "a/y.mp4", netip.Addr{}, ErrBadSignature},
		{"mount swap", file, "/private/", "a/x.mp4", netip.Addr{}, ErrBadSignature},
		{"no params", url.Values{"download": {"1"}}, "/media/", "a/x.mp4", netip.Addr{}, ErrMissing},
		{"empty values", url.Values{}, "/media/", "a/x.mp4", netip.Addr{}, ErrMissing},
		{"empty sig", with(file, "sig", ""), "/media/", "a/x.mp4", netip.Addr{}, ErrMalformed},
		{"no sig", with(file, "-sig", ""), "/media/", "a/x.mp4", netip.Addr{}, ErrMalformed},
		{"no exp", with(file, "-exp", ""), "/media/", "a/x.mp4", netip.Addr{}, ErrMalformed},
		{"no kid", with(file, "-kid", ""), "/media/", "a/x.mp4", netip.Addr{}, ErrMalformed},
		{"garbage base64", with(file, "sig", strings.Repeat("!", 43)), "/media/", "a/x.mp4", netip.Addr{}, ErrMalformed},
		{"std base64 chars", with(file, "sig", strings.Repeat("+", 43)), "/media/", "a/x.mp4", netip.Addr{}, ErrMalformed},
		{"padded sig", with(file, "sig", file.Get("sig")+"="), "/media/", "a/x.mp4", netip.Addr{}, ErrMalformed},
		{"truncated sig", with(file, "sig", file.Get("sig")[:42]), "/media/", "a/x.mp4", netip.Addr{}, ErrMalformed},
		{"flipped sig", with(file, "sig", flip(file.Get("sig"))), "/media/", "a/x.mp4", netip.Addr{}, ErrBadSignature},
		{"zero sig", with(file, "sig", strings.Repeat("A", 43)), "/media/", "a/x.mp4", netip.Addr{}, ErrBadSignature},
		{"duplicated sig", with(file, "+sig", file.Get("sig")), "/media/", "a/x.mp4", netip.Addr{}, ErrMalformed},
		{"duplicated exp", with(file, "+exp", "9999999999"), "/media/", "a/x.mp4", netip.Addr{}, ErrMalformed},
		{"duplicated kid", with(file, "+kid", "a"), "/media/", "a/x.mp4", netip.Addr{}, ErrMalformed},
		{"exp extended", with(file, "exp", "9999999999"), "/media/", "a/x.mp4", netip.Addr{}, ErrBadSignature},
		{"exp with plus", with(file, "exp", "+"+file.Get("exp")), "/media/", "a/x.mp4", netip.Addr{}, ErrBadSignature},
		{"exp not a number", with(file, "exp", "soon"), "/media/", "a/x.mp4", netip.Addr{}, ErrMalformed},
		{"exp negative", with(file, "exp", "-1"), "/media/", "a/x.mp4", netip.Addr{}, ErrMalformed},
		{"kid unknown", with(file, "kid", "zz"), "/media/", "a/x.mp4", netip.Addr{}, ErrBadSignature},
		{"kid swapped to other known key", with(file, "kid", "b"), "/media/", "a/x.mp4", netip.Addr{}, ErrBadSignature},
		{"scope added to file link", with(file, "scope", "a"), "/media/", "a/x.mp4", netip.Addr{}, ErrBadSignature},
		{"key link for a turned into scope a", with(keyLinkA, "scope", "a"), "/media/", "a/x.mp4", netip.Addr{}, ErrBadSignature},
		{"ip added to unbound link", with(file, "ip", ip.String()), "/media/", "a/x.mp4", ip, ErrBadSignature},

		{"scope: key inside", scoped, "/media/", "a/x.mp4", netip.Addr{}, nil},
		{"scope: deep key", scoped, "/media/", "a/b/c/d.mp4", netip.Addr{}, nil},
		{"scope: the folder itself", scoped, "/media/", "a", netip.Addr{}, nil},
		{"scope with slash: key inside", scopedSlash, "/media/", "a/x.mp4", netip.Addr{}, nil},
		{"scope: sibling prefix a2", scoped, "/media/", "a2/x.mp4", netip.Addr{}, ErrScope},
		{"scope with slash: sibling prefix a2", scopedSlash, "/media/", "a2/x.mp4", netip.Addr{}, ErrScope},
		{"scope: other folder", scoped, "/media/", "b/x.mp4", netip.Addr{}, ErrScope},
		{"scope: root", scoped, "/media/", "", netip.Addr{}, ErrScope},
		{"scope widened to root-ish", with(scoped, "scope", "a/.."), "/media/", "b/x.mp4", netip.Addr{}, ErrMalformed},
		{"scope widened", with(scoped, "scope", "b"), "/media/", "b/x.mp4", netip.Addr{}, ErrBadSignature},
		{"scope removed", with(scoped, "-scope", ""), "/media/", "a", netip.Addr{}, ErrBadSignature},
		{"scope empty", with(scoped, "scope", ""), "/media/", "a/x.mp4", netip.Addr{}, ErrMalformed},
		{"scope leading slash", with(scoped, "scope", "/a"), "/media/", "a/x.mp4", netip.Addr{}, ErrMalformed},
		{"scope double slash", with(scoped, "scope", "a//"), "/media/", "a/x.mp4", netip.Addr{}, ErrMalformed},
		{"scope backslash", with(scoped, "scope", "a\\b"), "/media/", "a\\b/x", netip.Addr{}, ErrMalformed},
		{"scope dotdot", with(scoped, "scope", "../a"), "/media/", "a/x.mp4", netip.Addr{}, ErrMalformed},
		{"scope duplicated", with(scoped, "+scope", "b"), "/media/", "a/x.mp4", netip.Addr{}, ErrMalformed},
		{"scope other mount", scoped, "/private/", "a/x.mp4", netip.Addr{}, ErrBadSignature},

		{"ip: right", bound, "/media/", "a/x.mp4", ip, nil},
		{"ip: right, v4-mapped client", bound, "/media/", "a/x.mp4", netip.MustParseAddr("::ffff:192.0.2.7"), nil},
		{"ip: wrong", bound, "/media/", "a/x.mp4", netip.MustParseAddr("192.0.2.8"), ErrIP},
		{"ip: unknown client", bound, "/media/", "a/x.mp4", netip.Addr{}, ErrIP},
		{"ip: param changed to client's", with(bound, "ip", "192.0.2.8"), "/media/", "a/x.mp4", netip.MustParseAddr("192.0.2.8"), ErrBadSignature},
		{"ip: param removed", with(bound, "-ip", ""), "/media/", "a/x.mp4", netip.MustParseAddr("192.0.2.8"), ErrBadSignature},
		{"ip: garbage", with(bound, "ip", "not-an-ip"), "/media/", "a/x.mp4", ip, ErrMalformed},
		{"ip: duplicated", with(bound, "+ip", "192.0.2.8"), "/media/", "a/x.mp4", ip, ErrMalformed},
	}
	for _, tt := range tests {
		err := s.Verify(tt.v, tt.mount, tt.key, tt.client)
		if errName(err) != errName(tt.want) {
			t.Errorf("%s: Verify(%q, %q, %q) = %v, want %v", tt.name, tt.v.Encode(), tt.mount, tt.key, err, tt.want)
		}
	}
}

// flip changes the first character of a base64 string to another valid one.
func flip(s string) string {
	if s[0] == 'A' {
		return "B" + s[1:]
	}
	return "A" + s[1:]
}

func TestVerifyOrderExpiredOnlyForGenuine(t *testing.T) {
	clk := &clock{t0}
	s := newSigner(t, clk, SignerOptions{})
	v := mustSign(t, s, "/m/", "f", time.Minute, LinkOptions{})
	clk.Advance(time.Hour)
	if err := s.Verify(v, "/m/", "f", netip.Addr{}); !errors.Is(err, ErrExpired) {
		t.Fatalf("expired genuine link: %v, want ErrExpired", err)
	}
	// The same expired link used for another key is a bad signature, not
	// "expired": expiry is never reported for a link that does not check out.
	if err := s.Verify(v, "/m/", "g", netip.Addr{}); !errors.Is(err, ErrBadSignature) {
		t.Errorf("expired link on another key: %v, want ErrBadSignature", err)
	}
}

func TestStripParams(t *testing.T) {
	v := url.Values{"exp": {"1"}, "kid": {"a"}, "scope": {"x"}, "ip": {"::1"}, "sig": {"s", "t"}, "download": {"1"}, "Sig": {"kept"}}
	StripParams(v)
	if got, want := v.Encode(), "Sig=kept&download=1"; got != want {
		t.Errorf("StripParams left %q, want %q", got, want)
	}
	for _, p := range []string{"exp", "kid", "scope", "ip", "sig"} {
		if !IsParam(p) {
			t.Errorf("IsParam(%q) = false", p)
		}
	}
	if IsParam("download") {
		t.Error("IsParam(download) = true")
	}
}

func TestParsePolicy(t *testing.T) {
	tests := []struct {
		in   string
		want Policy
		ok   bool
	}{
		{"public", PolicyPublic, true},
		{"signed", PolicySigned, true},
		{"token", PolicyToken, true},
		{"signed-or-token", PolicySignedOrToken, true},
		{"", 0, false},
		{"Public", 0, false},
		{"signed_or_token", 0, false},
		{"none", 0, false},
	}
	for _, tt := range tests {
		got, err := ParsePolicy(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParsePolicy(%q) = %v, %v; want %v, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
		if tt.ok && got.String() != tt.in {
			t.Errorf("%v.String() = %q, want %q", got, got.String(), tt.in)
		}
	}
	var p Policy
	if err := p.UnmarshalText([]byte("signed")); err != nil || p != PolicySigned {
		t.Errorf("UnmarshalText(signed) = %v, %v", p, err)
	}
	if _, err := Policy(0).MarshalText(); err == nil {
		t.Error("MarshalText of the zero Policy succeeded")
	}
}
