package auth

import (
	"context"
	"net/http"
	"time"
)

// Grant says how long, and for whom, the credential that admitted a
// request holds, so that whatever the request hands to someone else (a
// presigned URL, a redirect) can be bounded by it. [Guard.Authorize]
// returns it and [Guard.Protect] puts it in the request's context
// ([GrantFrom]).
type Grant struct {
	// Until is the last moment the credential can still admit this
	// client. For a signed link: its expiry extended by the playback
	// grace, exp + Grace, at most exp + MaxGrace and at least exp + Skew
	// (the link's own acceptance). For a request the grace cookie
	// admitted (the link has expired): the cookie's renewed expiry,
	// now + Grace, at most exp + MaxGrace. The zero time means no bound:
	// a public mount, or a bearer token, which holds until it is removed
	// from the configuration.
	Until time.Time
	// ClientBound reports a link bound to one client IP ([ParamIP]).
	ClientBound bool
	// OneObject reports a link for one key (no [ParamScope]): it admits
	// the object stored under that key, not what a folder of that name
	// would open (its archive, its listing). A folder is shared with a
	// scope link.
	OneObject bool
}

// IsZero reports whether g bounds nothing.
func (g Grant) IsZero() bool { return g.Until.IsZero() && !g.ClientBound && !g.OneObject }

type grantKey struct{}

// GrantFrom returns the Grant that [Guard.Protect] (or
// [Guard.Middleware]) attached to the request with context ctx, and
// whether there is one: only requests a signed link or its grace cookie
// admitted carry one.
func GrantFrom(ctx context.Context) (Grant, bool) {
	g, ok := ctx.Value(grantKey{}).(Grant)
	return g, ok
}

// grant is the Grant of a request that link l admitted: through its grace
// cookie when viaCookie (the link has expired), else by itself.
func (s *Signer) grant(l link, viaCookie bool) Grant {
	exp := time.Unix(l.exp, 0)
	hard := exp.Add(s.maxGrace)
	var until time.Time
	if viaCookie {
		until = s.now().Add(s.grace)
	} else {
		until = exp.Add(s.grace)
	}
	if until.After(hard) {
		until = hard
	}
	if own := exp.Add(s.skew); !viaCookie && until.Before(own) {
		until = own
	}
	return Grant{Until: until, ClientBound: l.ip, OneObject: !l.scope}
}

// KeyHandler serves one key of a mount, already cleaned by the caller
// (storage.CleanKey) and, behind [Guard.Protect], authorized.
// *media.Handler is one.
type KeyHandler interface {
	ServeKey(w http.ResponseWriter, r *http.Request, key string)
}

// KeyHandlerFunc adapts a function to [KeyHandler].
type KeyHandlerFunc func(w http.ResponseWriter, r *http.Request, key string)

// ServeKey calls f(w, r, key).
func (f KeyHandlerFunc) ServeKey(w http.ResponseWriter, r *http.Request, key string) { f(w, r, key) }
