package auth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Errors returned by [Tokens.Check].
var (
	// ErrNoToken means the request has no "Authorization: Bearer" header.
	ErrNoToken = errors.New("auth: no bearer token")
	// ErrBadToken means the presented token matches no configured one.
	ErrBadToken = errors.New("auth: invalid bearer token")
)

// Token is one configured bearer token. The token itself is never stored:
// only its SHA-256, so a leaked config file does not leak credentials.
// Generate one with e.g. `openssl rand -base64 32`, and store
// `printf %s "$TOKEN" | sha256sum`.
type Token struct {
	// Name identifies the token in logs. Required, unique.
	Name string
	// SHA256 is the lowercase or uppercase hex SHA-256 of the token (64
	// characters).
	SHA256 string
	// Mounts lists the URL path prefixes the token may read, compared on
	// segment boundaries: "/media/" is a whole mount, "/media/videos/" a
	// folder of it, "/" everything. An entry must be clean (no "." or
	// ".." segment, no "//", no backslash).
	Mounts []string
	// Admin allows the admin endpoints guarded by [Guard.RequireAdmin]
	// (such as [LinksHandler]). It grants no read access by itself.
	Admin bool
	// Links lists the URL path prefixes an Admin token may mint links
	// for with [LinksHandler], in the syntax of Mounts: a link's mount and
	// key (or, for a folder link, its scope) must lie under one of them.
	// It is separate from Mounts, so that a token can hand out links
	// without reading, or read without handing out. Empty: no links.
	Links []string
	// MaxLinkTTL is the longest lifetime [LinksHandler] gives a link this
	// token asks for. 0 means [DefaultMaxLinkTTL]; at most [MaxTTL].
	MaxLinkTTL time.Duration
}

// DefaultMaxLinkTTL is [Token.MaxLinkTTL] when left zero.
const DefaultMaxLinkTTL = 7 * 24 * time.Hour

// Tokens is a validated set of bearer tokens, safe for concurrent use.
type Tokens struct {
	list   []Token
	hashes [][sha256.Size]byte
	mounts [][]string // per token: trimmed, slash-free prefixes ("" = all)
	links  [][]string // the same for Links
}

// NewTokens validates toks (non-empty unique names, 64-hex-digit unique
// hashes, clean prefixes, a token that grants something, Links and
// MaxLinkTTL only on admin tokens) and copies them, with MaxLinkTTL's
// default filled in.
func NewTokens(toks []Token) (*Tokens, error) {
	t := &Tokens{}
	names := map[string]bool{}
	hashes := map[[sha256.Size]byte]bool{}
	for i, tok := range toks {
		fail := func(option, format string, args ...any) (*Tokens, error) {
			return nil, &OptionError{Name: option, Index: i, Msg: fmt.Sprintf("token %q: ", tok.Name) + fmt.Sprintf(format, args...)}
		}
		if tok.Name == "" {
			return nil, &OptionError{Name: "Name", Index: i, Msg: "token without a name: give every token a name for the logs"}
		}
		if names[tok.Name] {
			return fail("Name", "duplicate name: names must be unique")
		}
		names[tok.Name] = true
		var h [sha256.Size]byte
		if b, err := hex.DecodeString(tok.SHA256); err != nil || len(b) != sha256.Size {
			return fail("SHA256", "sha256 must be 64 hex digits: store `printf %%s \"$TOKEN\" | sha256sum`, never the token itself")
		} else {
			copy(h[:], b)
		}
		if hashes[h] {
			return fail("SHA256", "same hash as another token")
		}
		hashes[h] = true
		if len(tok.Mounts) == 0 && !tok.Admin {
			return fail("Mounts", "grants nothing: list the mount prefixes it may read")
		}
		if !tok.Admin && len(tok.Links) > 0 {
			return fail("Links", "links are for admin tokens: set admin, or remove them")
		}
		if !tok.Admin && tok.MaxLinkTTL != 0 {
			return fail("MaxLinkTTL", "a maximum link lifetime is for admin tokens: set admin, or remove it")
		}
		if tok.MaxLinkTTL < 0 || tok.MaxLinkTTL > MaxTTL {
			return fail("MaxLinkTTL", "maximum link lifetime %v is out of range: use at most %v (0 means the default, %v)", tok.MaxLinkTTL, MaxTTL, DefaultMaxLinkTTL)
		}
		if tok.MaxLinkTTL == 0 {
			tok.MaxLinkTTL = DefaultMaxLinkTTL
		}
		ms, err := prefixes(tok.Mounts)
		if err != nil {
			return fail("Mounts", "%v", err)
		}
		ls, err := prefixes(tok.Links)
		if err != nil {
			return fail("Links", "%v", err)
		}
		c := tok
		c.Mounts = slices.Clone(tok.Mounts)
		c.Links = slices.Clone(tok.Links)
		t.list = append(t.list, c)
		t.hashes = append(t.hashes, h)
		t.mounts = append(t.mounts, ms)
		t.links = append(t.links, ls)
	}
	return t, nil
}

// prefixes checks URL path prefixes ("/media/", "/media/videos", "/") and
// returns them trimmed of slashes ("" for "/").
func prefixes(list []string) ([]string, error) {
	var out []string
	for _, m := range list {
		tm := strings.Trim(m, "/")
		if !strings.HasPrefix(m, "/") || (tm != "" && !cleanPath(tm)) {
			return nil, fmt.Errorf("prefix %q must start with / and be clean (no empty, . or .. segments)", m)
		}
		out = append(out, tm)
	}
	return out, nil
}

// Check finds the token presented in r's "Authorization: Bearer" header.
// It hashes the presented token and compares the hash with every
// configured one in constant time, without stopping at a match, so the
// time taken does not depend on which token (if any) matched. It returns
// [ErrNoToken] or [ErrBadToken] when no token matches.
func (t *Tokens) Check(r *http.Request) (Token, error) {
	i, err := t.find(r)
	if err != nil {
		return Token{}, err
	}
	return t.token(i), nil
}

// token returns a copy of token i that shares nothing with the set.
func (t *Tokens) token(i int) Token {
	tok := t.list[i]
	tok.Mounts = slices.Clone(tok.Mounts)
	tok.Links = slices.Clone(tok.Links)
	return tok
}

func (t *Tokens) find(r *http.Request) (int, error) {
	presented, ok := bearer(r)
	if !ok {
		return -1, ErrNoToken
	}
	if t == nil {
		return -1, ErrBadToken
	}
	h := sha256.Sum256([]byte(presented))
	found := -1
	for i := range t.hashes {
		if subtle.ConstantTimeCompare(h[:], t.hashes[i][:]) == 1 {
			found = i
		}
	}
	if found < 0 {
		return -1, ErrBadToken
	}
	return found, nil
}

// allows reports whether token i may read key on mount.
func (t *Tokens) allows(i int, mount, key string) bool {
	return covers(t.mounts[i], mount, key)
}

// mayLink reports whether token i may mint a link for subject (a key or a
// scope) on mount.
func (t *Tokens) mayLink(i int, mount, subject string) bool {
	return covers(t.links[i], mount, strings.TrimSuffix(subject, "/"))
}

// covers reports whether one of prefixes (trimmed of slashes) holds key on
// mount, on segment boundaries.
func covers(prefixes []string, mount, key string) bool {
	full := mountName(mount)
	if key != "" {
		if full != "" {
			full += "/"
		}
		full += key
	}
	for _, p := range prefixes {
		if p == "" || full == p || strings.HasPrefix(full, p+"/") {
			return true
		}
	}
	return false
}

// bearer extracts the token of an "Authorization: Bearer <token>" header
// (scheme case-insensitive, RFC 7235). A request with several
// Authorization headers presents no token.
func bearer(r *http.Request) (string, bool) {
	hs := r.Header.Values("Authorization")
	if len(hs) != 1 {
		return "", false
	}
	scheme, tok, ok := strings.Cut(hs[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

type tokenCtxKey struct{}

// adminCtx is what [Guard.RequireAdmin] puts in the request's context.
type adminCtx struct {
	set *Tokens
	i   int
}

// TokenFrom returns the admin token that [Guard.RequireAdmin] authorized
// for the request with context ctx, for audit logs (use its Name only).
func TokenFrom(ctx context.Context) (Token, bool) {
	a, ok := ctx.Value(tokenCtxKey{}).(adminCtx)
	if !ok {
		return Token{}, false
	}
	return a.set.token(a.i), true
}
