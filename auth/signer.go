package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"github.com/rangeserve/rangeserve/storage"
	"hash"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Query parameters of a signed link. They are credentials, not part of a
// file's identity: see [StripParams].
const (
	ParamExp   = "exp"   // expiry, Unix seconds
	ParamKeyID = "kid"   // id of the signing [Key]
	ParamScope = "scope" // optional key prefix the link is valid for
	ParamIP    = "ip"    // optional client IP the link is bound to
	ParamSig   = "sig"   // HMAC-SHA256, URL-safe base64 without padding
)

var linkParams = [...]string{ParamExp, ParamKeyID, ParamScope, ParamIP, ParamSig}

// StripParams deletes the signed-link parameters ([ParamExp],
// [ParamKeyID], [ParamScope], [ParamIP], [ParamSig]) from v in place. Call
// it on anything that must not vary with, or leak, the credentials: cache
// keys, forwarded query strings, access logs.
func StripParams(v url.Values) {
	for _, p := range linkParams {
		v.Del(p)
	}
}

// IsParam reports whether name is one of the signed-link parameters.
func IsParam(name string) bool {
	for _, p := range linkParams {
		if name == p {
			return true
		}
	}
	return false
}

// Limits and defaults of a [Signer].
const (
	// MinSecretLen is the shortest [Key.Secret] NewSigner accepts, in bytes.
	MinSecretLen = 32
	// MaxTTL is the longest lifetime Sign accepts for a link.
	MaxTTL = 365 * 24 * time.Hour
	// DefaultSkew is [SignerOptions.Skew] when left zero.
	DefaultSkew = 30 * time.Second
	// MaxSkew bounds [SignerOptions.Skew]: a larger tolerance is a
	// configuration mistake, not clock drift.
	MaxSkew = 10 * time.Minute
	// DefaultGrace is [SignerOptions.Grace] when left zero.
	DefaultGrace = 2 * time.Hour
	// DefaultMaxGrace is [SignerOptions.MaxGrace] when left zero.
	DefaultMaxGrace = 12 * time.Hour
	// maxKeyID bounds a Key.ID, in bytes.
	maxKeyID = 64
)

// Errors returned by [Signer.Verify]. Every error wraps exactly one of them;
// only ErrExpired may be told apart in a response body, and only because it
// is returned after the signature checked out.
var (
	// ErrMissing means the request carries none of the link parameters.
	ErrMissing = errors.New("auth: no signed-link parameters")
	// ErrMalformed means a link parameter is duplicated, missing or not
	// parseable (bad base64, non-numeric exp, unclean scope).
	ErrMalformed = errors.New("auth: malformed signed link")
	// ErrBadSignature means the signature does not match (tampered
	// parameters, another key, unknown or removed kid).
	ErrBadSignature = errors.New("auth: invalid signature")
	// ErrScope means a genuine link does not cover the requested key (a
	// link for another file, or a key outside the signed scope).
	ErrScope = errors.New("auth: key outside the link's scope")
	// ErrIP means a genuine link is bound to another client IP.
	ErrIP = errors.New("auth: link bound to another client IP")
	// ErrExpired means a genuine link for this key and client has expired.
	ErrExpired = errors.New("auth: link expired")
)

// Key is one signing secret with the id that links carry in [ParamKeyID].
type Key struct {
	// ID is 1 to 64 characters of [A-Za-z0-9_-]. It is public.
	ID string
	// Secret is at least [MinSecretLen] random bytes.
	Secret []byte
}

// Off, as the value of a duration in [SignerOptions], turns that option
// off, where zero means its default.
const Off time.Duration = -1

// SignerOptions configures a [Signer]. The zero value of each field
// selects the default its comment states; [Off] turns an option off.
type SignerOptions struct {
	// Skew is how long after its exp a link is still accepted, to absorb
	// clock differences between the machine that signed it and this one.
	// 0 means [DefaultSkew] (30s); Off accepts no link after its exp. At
	// most [MaxSkew].
	Skew time.Duration
	// Grace is the sliding idle window of the playback grace cookie: a
	// playback that started with a valid link keeps working past the
	// link's expiry as long as requests come less than Grace apart.
	// 0 means [DefaultGrace] (2h); Off issues and honours no grace cookie.
	// At most MaxGrace.
	Grace time.Duration
	// MaxGrace is the hard cap of the grace: no request is authorized
	// later than the link's exp plus MaxGrace, however often it was
	// renewed. 0 means [DefaultMaxGrace] (12h); Off allows nothing past a
	// link's exp, and then Grace must be Off too.
	MaxGrace time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// LinkOptions are the optional restrictions of a signed link.
type LinkOptions struct {
	// Scope, when not "", makes the link valid for every key under this
	// prefix (compared on segment boundaries: "videos" covers "videos/x"
	// but not "videos2/x") instead of one key. It must be a clean key: no
	// leading "/", no "." or ".." segments, no "//", no backslash. A
	// trailing "/" is allowed and means the same.
	Scope string
	// IP, when valid, binds the link to that client IP.
	IP netip.Addr
}

// Signer signs and verifies links with a set of HMAC-SHA256 keys. The
// first key signs; every key verifies, so a key is rotated by putting the
// new one first, and retired by removing it once its links have expired.
// A Signer is safe for concurrent use.
type Signer struct {
	keys     []Key // keys[0] signs
	skew     time.Duration
	grace    time.Duration
	maxGrace time.Duration
	now      func() time.Time
}

// NewSigner validates keys (at least one, unique ids, secrets of at least
// [MinSecretLen] bytes) and options, fills in the defaults and copies the
// secrets. Its errors are [*OptionError]s.
func NewSigner(keys []Key, opts SignerOptions) (*Signer, error) {
	if len(keys) == 0 {
		return nil, &OptionError{Name: "Keys", Index: -1, Msg: "no signing key: configure at least one key id and secret"}
	}
	s := &Signer{now: opts.Now}
	seen := make(map[string]bool, len(keys))
	for i, k := range keys {
		if !validKeyID(k.ID) {
			return nil, &OptionError{Name: "ID", Index: i, Msg: fmt.Sprintf("key id %q: use 1 to %d characters of A-Z a-z 0-9 _ -", k.ID, maxKeyID)}
		}
		if seen[k.ID] {
			return nil, &OptionError{Name: "ID", Index: i, Msg: fmt.Sprintf("duplicate key id %q: ids must be unique", k.ID)}
		}
		seen[k.ID] = true
		if len(k.Secret) < MinSecretLen {
			return nil, &OptionError{Name: "Secret", Index: i, Msg: fmt.Sprintf("key %q: the secret is %d bytes: use at least %d random bytes", k.ID, len(k.Secret), MinSecretLen)}
		}
		s.keys = append(s.keys, Key{ID: k.ID, Secret: append([]byte(nil), k.Secret...)})
	}
	var err error
	if s.skew, err = durationOption("Skew", "skew", opts.Skew, DefaultSkew, MaxSkew); err != nil {
		return nil, err
	}
	if s.maxGrace, err = durationOption("MaxGrace", "max grace", opts.MaxGrace, DefaultMaxGrace, MaxTTL); err != nil {
		return nil, err
	}
	if s.grace, err = durationOption("Grace", "grace", opts.Grace, DefaultGrace, MaxTTL); err != nil {
		return nil, err
	}
	if s.grace > s.maxGrace {
		// Name the option that was set: a default Grace above an explicit
		// MaxGrace is MaxGrace's mistake.
		e := &OptionError{Name: "Grace", Index: -1, Msg: fmt.Sprintf("grace %v is longer than max grace %v, which caps it: shorten grace or raise max grace", s.grace, s.maxGrace)}
		if opts.Grace == 0 {
			e.Name, e.Msg = "MaxGrace", fmt.Sprintf("max grace %v is shorter than the grace (default %v) it caps: raise it, or turn the grace off", s.maxGrace, s.grace)
		}
		return nil, e
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s, nil
}

// durationOption resolves a duration option: 0 is def, [Off] is 0, and
// anything else must lie in (0, max].
func durationOption(option, name string, v, def, max time.Duration) (time.Duration, error) {
	switch {
	case v == 0:
		return def, nil
	case v == Off:
		return 0, nil
	case v < 0 || v > max:
		return 0, &OptionError{Name: option, Index: -1, Msg: fmt.Sprintf("%s %v is out of range: use at most %v (0 means the default, %v; auth.Off turns it off)", name, v, max, def)}
	}
	return v, nil
}

// OptionError is the error [NewSigner] and [NewTokens] return for an
// option or an entry they refuse, naming it so that a caller reading a
// configuration file can point at the right line.
type OptionError struct {
	// Name is the Go name of the field: "Skew", "Grace", "MaxGrace" of
	// [SignerOptions]; "Keys", "ID", "Secret" of a [Key]; "Name",
	// "SHA256", "Mounts", "Links", "MaxLinkTTL", "Admin" of a [Token].
	Name string
	// Index is the position of the key or token in the slice passed to
	// NewSigner or NewTokens, or -1 for an option of the whole set.
	Index int
	// Msg says what is wrong and what to do.
	Msg string
}

func (e *OptionError) Error() string { return "auth: " + e.Msg }

// Option returns e.Name: callers that map options to their own names
// (a configuration file's keys) can find it without knowing the type.
func (e *OptionError) Option() string { return e.Name }

func validKeyID(id string) bool {
	if id == "" || len(id) > maxKeyID {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// Sign returns the query parameters that authorize reading key on mount
// for ttl, and the link's expiry. mount is the mount's URL prefix (only
// its trimmed form counts: "/media/", "media" and "/media" are the same
// mount), so a link for one mount never opens a same-named key on
// another. key is the cleaned key (storage.CleanKey's form; "" is the
// mount's root). With o.Scope set, key must be "" or lie inside the
// scope; it is only checked, the link covers the whole scope.
//
// ttl must be positive and at most [MaxTTL]; exp is rounded up to the
// next whole second.
func (s *Signer) Sign(mount, key string, ttl time.Duration, o LinkOptions) (url.Values, time.Time, error) {
	if ttl <= 0 || ttl > MaxTTL {
		return nil, time.Time{}, fmt.Errorf("auth: ttl %v out of range (0, %v]", ttl, MaxTTL)
	}
	if key != "" && !cleanPath(key) {
		return nil, time.Time{}, fmt.Errorf("auth: key %q is not clean: clean it with storage.CleanKey first", key)
	}
	v := url.Values{}
	mode, subject := "key", key
	if o.Scope != "" {
		if !validScope(o.Scope) {
			return nil, time.Time{}, fmt.Errorf("auth: scope %q is not a clean key prefix", o.Scope)
		}
		if key != "" && !inScope(o.Scope, key) {
			return nil, time.Time{}, fmt.Errorf("auth: key %q is outside scope %q", key, o.Scope)
		}
		mode, subject = "scope", o.Scope
		v.Set(ParamScope, o.Scope)
	}
	ip := ""
	if o.IP.IsValid() {
		ip = normIP(o.IP).String()
		v.Set(ParamIP, ip)
	}
	exp := s.now().Add(ttl)
	if exp.Truncate(time.Second) != exp {
		exp = exp.Truncate(time.Second).Add(time.Second)
	}
	expStr := strconv.FormatInt(exp.Unix(), 10)
	k := s.keys[0]
	v.Set(ParamExp, expStr)
	v.Set(ParamKeyID, k.ID)
	v.Set(ParamSig, b64.EncodeToString(linkMAC(k.Secret, k.ID, mountName(mount), mode, subject, expStr, ip)))
	return v, time.Unix(exp.Unix(), 0), nil
}

// link is a parsed, signature-checked link.
type link struct {
	kid    string
	exp    int64
	expStr string
	ip     bool // bound to a client IP
	scope  bool // a folder link (ParamScope), not a link for one key
}

// Verify checks that values (a request's query) hold a genuine, unexpired
// link for key on mount, usable by clientIP. mount and key are as in
// [Signer.Sign]; key must already be cleaned: Verify compares it, it does
// not clean it.
//
// The order of checks is fixed so that errors leak nothing useful:
// syntax ([ErrMissing], [ErrMalformed]), then the signature
// ([ErrBadSignature], compared with hmac.Equal), then what the genuine link
// allows ([ErrScope], [ErrIP]), and only then its expiry ([ErrExpired],
// after exp + Skew). Parameters may come in any order; a duplicated one is
// [ErrMalformed]; other parameters are ignored.
func (s *Signer) Verify(values url.Values, mount, key string, clientIP netip.Addr) error {
	_, err := s.verify(values, mount, key, clientIP)
	return err
}

func (s *Signer) verify(values url.Values, mount, key string, clientIP netip.Addr) (link, error) {
	present := false
	for _, p := range linkParams {
		switch n := len(values[p]); {
		case n > 1:
			return link{}, fmt.Errorf("%w: parameter %q repeated", ErrMalformed, p)
		case n == 1:
			present = true
		}
	}
	if !present {
		return link{}, ErrMissing
	}
	expStr, kid, sigStr := first(values, ParamExp), first(values, ParamKeyID), first(values, ParamSig)
	scope, ipStr := first(values, ParamScope), first(values, ParamIP)
	if expStr == "" || kid == "" || sigStr == "" {
		return link{}, fmt.Errorf("%w: exp, kid and sig are required", ErrMalformed)
	}
	exp, err := strconv.ParseInt(expStr, 10, 64)
	if err != nil || exp <= 0 {
		return link{}, fmt.Errorf("%w: bad exp", ErrMalformed)
	}
	if len(sigStr) != b64.EncodedLen(sha256.Size) {
		return link{}, fmt.Errorf("%w: bad sig length", ErrMalformed)
	}
	sig, err := b64.DecodeString(sigStr)
	if err != nil {
		return link{}, fmt.Errorf("%w: bad sig encoding", ErrMalformed)
	}
	if _, ok := values[ParamScope]; ok && !validScope(scope) {
		return link{}, fmt.Errorf("%w: bad scope", ErrMalformed)
	}
	var linkIP netip.Addr
	if _, ok := values[ParamIP]; ok {
		if linkIP, err = netip.ParseAddr(ipStr); err != nil {
			return link{}, fmt.Errorf("%w: bad ip", ErrMalformed)
		}
	}
	mode, subject := "key", key
	if _, ok := values[ParamScope]; ok {
		mode, subject = "scope", scope
	}
	var secret []byte
	for _, k := range s.keys {
		if k.ID == kid {
			secret = k.Secret
			break
		}
	}
	if secret == nil {
		return link{}, fmt.Errorf("%w: unknown key id", ErrBadSignature)
	}
	if !hmac.Equal(sig, linkMAC(secret, kid, mountName(mount), mode, subject, expStr, ipStr)) {
		return link{}, ErrBadSignature
	}
	l := link{kid: kid, exp: exp, expStr: expStr, ip: linkIP.IsValid(), scope: mode == "scope"}
	if mode == "scope" && !inScope(scope, key) {
		return l, ErrScope
	}
	if linkIP.IsValid() && (!clientIP.IsValid() || normIP(linkIP) != normIP(clientIP)) {
		return l, ErrIP
	}
	if s.now().After(time.Unix(exp, 0).Add(s.skew)) {
		return l, ErrExpired
	}
	return l, nil
}

func first(v url.Values, k string) string {
	if vs := v[k]; len(vs) > 0 {
		return vs[0]
	}
	return ""
}

var b64 = base64.RawURLEncoding.Strict()

// mac computes HMAC-SHA256 over fields, each written as
// "<decimal length>:<bytes>," (a netstring), so no two different field
// lists have the same input. The first field is always the version tag
// "rs1" and the second the purpose ("read" for links, "grace" for the
// grace cookie), which keeps the two kinds of MAC apart.
func mac(secret []byte, fields ...string) []byte {
	m := hmac.New(sha256.New, secret)
	for _, f := range fields {
		writeField(m, f)
	}
	return m.Sum(nil)
}

func writeField(h hash.Hash, f string) {
	var buf [20]byte
	h.Write(strconv.AppendInt(buf[:0], int64(len(f)), 10))
	h.Write([]byte{':'})
	h.Write([]byte(f))
	h.Write([]byte{','})
}

func linkMAC(secret []byte, kid, mount, mode, subject, exp, ip string) []byte {
	return mac(secret, "rs1", "read", kid, mount, mode, subject, exp, ip)
}

// mountName is the form of a mount prefix that signatures cover.
func mountName(mount string) string { return strings.Trim(mount, "/") }

func normIP(a netip.Addr) netip.Addr { return a.Unmap().WithZone("") }

// cleanPath reports whether p is a non-empty key in the form
// storage.CleanKey gives (the one key validator): CleanKey accepts it and
// leaves it unchanged.
func cleanPath(p string) bool {
	k, err := storage.CleanKey(p)
	return err == nil && p != "" && k == p
}

// validScope reports whether s is a clean key, optionally with one
// trailing slash.
func validScope(s string) bool {
	return cleanPath(strings.TrimSuffix(s, "/"))
}

// inScope reports whether key lies under scope on segment boundaries.
// scope must satisfy validScope.
func inScope(scope, key string) bool {
	scope = strings.TrimSuffix(scope, "/")
	return key == scope || strings.HasPrefix(key, scope+"/")
}
