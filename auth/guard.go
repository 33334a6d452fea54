package auth

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
)

// GuardOptions configures a [Guard].
type GuardOptions struct {
	// Signer verifies signed links and grace cookies. Required for mounts
	// with [PolicySigned] or [PolicySignedOrToken].
	Signer *Signer
	// Tokens holds the bearer tokens. Required for [PolicyToken] and
	// [PolicySignedOrToken] mounts and for [Guard.RequireAdmin]; a nil set
	// refuses every token.
	Tokens *Tokens
	// Logger receives one line per refused request; default slog.Default().
	Logger *slog.Logger
	// ClientIP returns the client address that IP-bound links are compared
	// with and that logs show. Default: the host of r.RemoteAddr. Behind
	// a reverse proxy, cmd supplies a function that trusts
	// X-Forwarded-For only from the configured proxies.
	ClientIP func(*http.Request) netip.Addr
	// SecureCookies marks the grace cookie Secure even on plain-HTTP
	// requests (TLS terminated by a proxy). It is always Secure on TLS
	// requests.
	SecureCookies bool
	// LinkVerified, when not nil, is called once per request that
	// presents a signed link (or a grace cookie for an expired one), with
	// the outcome: one of the [LinkOutcomes]. Metrics count them. Default
	// nil.
	LinkVerified func(outcome string)
}

// LinkOutcomes are the outcomes [GuardOptions].LinkVerified reports: a
// link admitted ("ok"), an expired link admitted by its grace cookie
// ("grace"), or why it was refused.
var LinkOutcomes = []string{"ok", "grace", "expired", "bad_signature", "malformed", "scope", "ip", "method"}

// linkOutcome names a refusal of [Signer.Verify] or of the guard.
func linkOutcome(err error) string {
	switch {
	case errors.Is(err, ErrExpired):
		return "expired"
	case errors.Is(err, ErrMalformed):
		return "malformed"
	case errors.Is(err, ErrScope):
		return "scope"
	case errors.Is(err, ErrIP):
		return "ip"
	case errors.Is(err, errMethod):
		return "method"
	}
	return "bad_signature"
}

// Guard decides whether a request may read a key of a mount, and writes
// the refusal itself. It runs before storage is touched, so no refusal
// depends on whether the key exists. A Guard is safe for concurrent use.
type Guard struct {
	signer   *Signer
	tokens   *Tokens
	log      *slog.Logger
	clientIP func(*http.Request) netip.Addr
	secure   bool
	verified func(outcome string) // nil: not reported
}

// NewGuard returns a Guard with the given options.
func NewGuard(o GuardOptions) *Guard {
	g := &Guard{signer: o.Signer, tokens: o.Tokens, log: o.Logger, clientIP: o.ClientIP, secure: o.SecureCookies, verified: o.LinkVerified}
	if g.log == nil {
		g.log = slog.Default()
	}
	if g.clientIP == nil {
		g.clientIP = RemoteIP
	}
	return g
}

// RemoteIP returns the host of r.RemoteAddr, or the zero Addr when it is
// not an IP address. It is the default [GuardOptions.ClientIP].
func RemoteIP(r *http.Request) netip.Addr {
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		return normIP(ap.Addr())
	}
	if a, err := netip.ParseAddr(r.RemoteAddr); err == nil {
		return normIP(a)
	}
	return netip.Addr{}
}

// Refusal bodies. They depend only on the credentials presented, never on
// the key or whether it exists.
const (
	bodyExpired      = "403 forbidden: link expired\n"
	bodyBadSignature = "403 forbidden: invalid signature\n"
	bodyLinkRequired = "403 forbidden: signed link required\n"
	bodyMethod       = "403 forbidden: signed links allow GET and HEAD only\n"
	bodyForbidden    = "403 forbidden\n"
	bodyTokenScope   = "403 forbidden: token not allowed here\n"
	bodyNeedToken    = "401 unauthorized: bearer token required\n"
	bodyNeedAny      = "401 unauthorized: signed link or bearer token required\n"
	bodyBadToken     = "401 unauthorized: invalid token\n"
	bodyNotAdmin     = "403 forbidden: admin token required\n"
	bodyNotFound     = "404 page not found\n"
)

const realm = `Bearer realm="rangeserve"`

var (
	errMethod      = errors.New("auth: method not allowed by a signed link")
	errNoSigner    = errors.New("auth: mount needs signed links but no signer is configured")
	errBadPolicy   = errors.New("auth: invalid policy")
	errTokenScope  = errors.New("auth: token not allowed for this mount or key")
	errTokenNotAdm = errors.New("auth: token is not an admin token")
)

// Authorize reports whether r may read key (already cleaned, as given to
// media) on the mount with URL prefix mount under policy p. When it
// returns false it has written the response: 401 (token mounts, with
// WWW-Authenticate as RFC 6750 says) or 403, a short text/plain body, and
// a log line with the reason, mount, key and client IP (never the token
// or the signature). When a signed link (or a genuine expired link plus a
// valid grace cookie) authorized the request, it sets or renews the grace
// cookie on w, so call it before writing anything else.
//
// Signed links authorize GET and HEAD only. A request carrying both a
// link and a token passes if either is good (the link is tried first).
//
// The [Grant] it returns bounds what the request may hand on: the zero
// Grant when no link admitted it.
func (g *Guard) Authorize(w http.ResponseWriter, r *http.Request, p Policy, mount, key string) (Grant, bool) {
	if !p.valid() {
		g.refuse(w, r, http.StatusForbidden, bodyForbidden, "", slog.LevelError, errBadPolicy, p.String(), mount, key)
		return Grant{}, false
	}
	if p == PolicyPublic {
		return Grant{}, true
	}
	linkErr, tokErr := error(ErrMissing), error(ErrNoToken)
	tokName := ""
	if p.allowsLinks() {
		if gr, ok := g.linkOK(w, r, mount, key, &linkErr); ok {
			return gr, true
		}
	}
	if p.allowsTokens() {
		i, err := g.tokens.find(r)
		switch {
		case err != nil:
			tokErr = err
		case g.tokens.allows(i, mount, key):
			return Grant{}, true
		default:
			tokErr, tokName = errTokenScope, g.tokens.list[i].Name
		}
	}
	// Report the credential the client actually presented.
	if p == PolicyToken || (p == PolicySignedOrToken && tokErr != ErrNoToken) {
		switch tokErr {
		case ErrNoToken:
			g.refuse(w, r, http.StatusUnauthorized, bodyNeedToken, realm, slog.LevelInfo, tokErr, p.String(), mount, key)
		case ErrBadToken:
			g.refuse(w, r, http.StatusUnauthorized, bodyBadToken, realm+`, error="invalid_token"`, slog.LevelWarn, tokErr, p.String(), mount, key)
		default:
			g.refuse(w, r, http.StatusForbidden, bodyTokenScope, realm+`, error="insufficient_scope"`, slog.LevelWarn, tokErr, p.String(), mount, key, slog.String("token", tokName))
		}
		return Grant{}, false
	}
	switch {
	case errors.Is(linkErr, ErrMissing) && p == PolicySignedOrToken:
		g.refuse(w, r, http.StatusUnauthorized, bodyNeedAny, realm, slog.LevelInfo, linkErr, p.String(), mount, key)
	case errors.Is(linkErr, ErrMissing):
		g.refuse(w, r, http.StatusForbidden, bodyLinkRequired, "", slog.LevelInfo, linkErr, p.String(), mount, key)
	case errors.Is(linkErr, ErrExpired):
		g.refuse(w, r, http.StatusForbidden, bodyExpired, "", slog.LevelInfo, linkErr, p.String(), mount, key)
	case errors.Is(linkErr, errMethod):
		g.refuse(w, r, http.StatusForbidden, bodyMethod, "", slog.LevelInfo, linkErr, p.String(), mount, key)
	case errors.Is(linkErr, errNoSigner):
		g.refuse(w, r, http.StatusForbidden, bodyForbidden, "", slog.LevelError, linkErr, p.String(), mount, key)
	default:
		g.refuse(w, r, http.StatusForbidden, bodyBadSignature, "", slog.LevelWarn, linkErr, p.String(), mount, key)
	}
	return Grant{}, false
}

// linkOK checks the signed link of r, with the grace cookie as a fallback
// for an expired one, and sets the grace cookie when it passes.
func (g *Guard) linkOK(w http.ResponseWriter, r *http.Request, mount, key string, errp *error) (Grant, bool) {
	if g.signer == nil {
		*errp = errNoSigner
		return Grant{}, false
	}
	l, err := g.signer.verify(r.URL.Query(), mount, key, g.clientIP(r))
	viaCookie := err != nil
	if err == nil || (errors.Is(err, ErrExpired) && g.signer.validGrace(r, l, mount, key)) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			g.report(errMethod)
			*errp = errMethod
			return Grant{}, false
		}
		if c := g.signer.graceCookie(l, mount, key, r.URL.EscapedPath(), r.TLS != nil || g.secure); c != nil {
			http.SetCookie(w, c)
		}
		if viaCookie {
			g.reportOutcome("grace")
		} else {
			g.reportOutcome("ok")
		}
		return g.signer.grant(l, viaCookie), true
	}
	if !errors.Is(err, ErrMissing) {
		g.report(err)
	}
	*errp = err
	return Grant{}, false
}

// report and reportOutcome call the LinkVerified hook, if any.
func (g *Guard) report(err error) { g.reportOutcome(linkOutcome(err)) }

func (g *Guard) reportOutcome(outcome string) {
	if g.verified != nil {
		g.verified(outcome)
	}
}

func (g *Guard) refuse(w http.ResponseWriter, r *http.Request, status int, body, challenge string, level slog.Level, reason error, policy string, mount, key string, extra ...slog.Attr) {
	attrs := append([]slog.Attr{
		slog.String("reason", reason.Error()),
		slog.Int("status", status),
		slog.String("policy", policy),
		slog.String("mount", mount),
		slog.String("key", key),
		slog.String("method", r.Method),
		slog.String("remote", g.clientIP(r).String()),
	}, extra...)
	g.log.LogAttrs(r.Context(), level, "auth: request refused", attrs...)
	h := w.Header()
	if challenge != "" {
		h.Set("WWW-Authenticate", challenge)
	}
	writeText(w, status, body)
}

func writeText(w http.ResponseWriter, status int, body string) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	h.Del("ETag")
	h.Del("Last-Modified")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}

// Protect returns a KeyHandler that authorizes every request for a key
// with [Guard.Authorize] under policy for mount before calling next with
// the same key. Before calling next it removes the signed-link parameters
// from the request's query (see [StripParams]) so that nothing downstream
// logs, forwards or caches by them, and, when a link (or its grace
// cookie) admitted the request, attaches the link's [Grant] to the
// request's context ([GrantFrom]). The caller cleans the key
// (storage.CleanKey) and refuses what it cannot clean; Protect never sees
// an invalid key.
//
// Protect panics when policy is invalid, or needs a Signer or Tokens the
// Guard does not have: that is a wiring mistake.
func (g *Guard) Protect(next KeyHandler, policy Policy, mount string) KeyHandler {
	switch {
	case !policy.valid():
		panic("auth: Protect with invalid policy")
	case policy == PolicySigned && g.signer == nil:
		panic("auth: Protect for a signed mount without a Signer")
	case policy == PolicyToken && g.tokens == nil:
		panic("auth: Protect for a token mount without Tokens")
	case policy == PolicySignedOrToken && (g.signer == nil || g.tokens == nil):
		panic("auth: Protect for a signed-or-token mount without a Signer and Tokens")
	}
	return KeyHandlerFunc(func(w http.ResponseWriter, r *http.Request, key string) {
		grant, ok := g.Authorize(w, r, policy, mount, key)
		if !ok {
			return
		}
		next.ServeKey(w, forward(r, grant), key)
	})
}

// Middleware is [Guard.Protect] for http.Handler chains: keyOf computes
// the key (typically storage.CleanKey of the path below the mount
// prefix). When keyOf reports false (an invalid key) it answers 404
// without looking at credentials: that reveals the key's syntax is bad,
// nothing about storage. next receives the request as Protect passes it
// on.
//
// Middleware panics where Protect does.
func (g *Guard) Middleware(next http.Handler, policy Policy, mount string, keyOf func(*http.Request) (string, bool)) http.Handler {
	p := g.Protect(KeyHandlerFunc(func(w http.ResponseWriter, r *http.Request, _ string) { next.ServeHTTP(w, r) }), policy, mount)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key, ok := keyOf(r)
		if !ok {
			writeText(w, http.StatusNotFound, bodyNotFound)
			return
		}
		p.ServeKey(w, r, key)
	})
}

// forward returns r, or a shallow copy of r whose query has no signed-link
// parameters and whose context carries grant when it is not zero.
func forward(r *http.Request, grant Grant) *http.Request {
	found := false
	var q url.Values
	if r.URL.RawQuery != "" {
		q = r.URL.Query()
		for name := range q {
			if IsParam(name) {
				found = true
				break
			}
		}
	}
	if !found && grant.IsZero() {
		return r
	}
	var r2 *http.Request
	if grant.IsZero() {
		r2 = new(http.Request)
		*r2 = *r
	} else {
		r2 = r.WithContext(context.WithValue(r.Context(), grantKey{}, grant))
	}
	if found {
		StripParams(q)
		r2.URL = new(url.URL)
		*r2.URL = *r.URL
		r2.URL.RawQuery = q.Encode()
		r2.RequestURI = r2.URL.RequestURI()
	}
	return r2
}

// RequireAdmin returns a handler that calls next only for requests with a
// bearer token whose Admin flag is set: no or an unknown token gets 401
// with WWW-Authenticate, a valid non-admin token 403. next can get the
// token with [TokenFrom].
func (g *Guard) RequireAdmin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i, err := g.tokens.find(r)
		switch {
		case errors.Is(err, ErrNoToken):
			g.refuse(w, r, http.StatusUnauthorized, bodyNeedToken, realm, slog.LevelInfo, err, "admin", "", "")
		case err != nil:
			g.refuse(w, r, http.StatusUnauthorized, bodyBadToken, realm+`, error="invalid_token"`, slog.LevelWarn, err, "admin", "", "")
		case !g.tokens.list[i].Admin:
			g.refuse(w, r, http.StatusForbidden, bodyNotAdmin, realm+`, error="insufficient_scope"`, slog.LevelWarn, errTokenNotAdm, "admin", "", "", slog.String("token", g.tokens.list[i].Name))
		default:
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), tokenCtxKey{}, adminCtx{g.tokens, i})))
		}
	})
}
