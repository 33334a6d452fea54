// Package auth owns who may read what on rangeserve: signed expiring links
// (HMAC-SHA256 with key ids for rotation, optional key-prefix scope and
// client-IP binding), the playback grace cookie that keeps a started
// playback seeking after its link expired, bearer tokens (stored as
// SHA-256 hashes), the per-mount [Policy], the [Guard] that applies them
// before storage is touched, and the admin [LinksHandler] that issues
// links. It imports only the standard library and storage (the key syntax
// and the path escaper); cmd/rangeserve wires it from config.
//
// # Signed links
//
// A link is the URL of a key plus the query parameters exp (Unix seconds),
// kid, optional scope, optional ip and sig (URL-safe base64 without
// padding). sig is HMAC-SHA256 over length-prefixed fields: the version
// tag "rs1", the purpose "read", kid, the mount (trimmed of slashes), the
// mode ("key" or "scope"), the key or the scope, exp and ip. Parameters
// may come in any order; a repeated one is refused; other parameters
// (such as download) are ignored and not covered. [StripParams] removes
// the link parameters where they must not count as part of a file's
// identity (cache keys, forwarded queries, logs).
//
// [Signer.Verify] checks syntax, then the signature (constant time, with
// hmac.Equal), then scope and IP, and only then expiry, so "link expired"
// is only ever said about a genuine link. The key passed to Verify must
// already be cleaned (storage.CleanKey); resolving "/a/../b" in a request
// URL is the router's job, and a scope is compared on segment boundaries
// ("videos" does not cover "videos2/x").
//
// # Playback grace
//
// When a link authorizes a request, the Guard sets the cookie
// [GraceCookie] (HttpOnly, SameSite=Lax, Path = that key's URL path,
// Secure on TLS or when configured), whose value is a MAC over the mount,
// the key, the link's exp and the cookie's own expiry. Every authorized
// request renews it to now + Grace, never beyond the link's exp +
// MaxGrace. A request with the genuine but expired link and a valid cookie
// for the same key passes; a new client with only the expired link gets
// 403 "link expired". [SignerOptions] holds the defaults (Skew 30s, Grace
// 2h, MaxGrace 12h); zero means the default and [Off] turns an option
// off.
//
// # Grants
//
// [Guard.Authorize] returns, and [Guard.Protect] (the form a server puts
// in front of each mount; [Guard.Middleware] is the same for http.Handler
// chains) attaches to the request's context, the [Grant] of the link that
// admitted a request: until when it can still admit this client, and
// whether it is bound to one IP. Whatever the request hands to someone
// else, such as a presigned URL, must not outlive it. The cookie never authorizes another key or another
// link's playback, nor a request without the link. Being SameSite=Lax, it
// only helps same-site players (cross-site embeds get no grace).
//
// # Admin tokens
//
// [Guard.RequireAdmin] admits tokens with [Token.Admin]. The
// [LinksHandler] behind it signs a link only when the token's
// [Token.Links] cover the mount and the key (or, for a folder link, the
// mount and the whole scope) on segment boundaries, only for mounts whose
// policy accepts links, and for at most the token's [Token.MaxLinkTTL]
// ([DefaultMaxLinkTTL], 7 days, by default). Links are separate from
// [Token.Mounts]: reading and handing out are granted apart.
//
// # Security caveats
//
//   - Links and tokens are bearer credentials: anyone holding one can use
//     it until it expires (links) or is removed from config (tokens).
//     Keep TTLs short and rely on the grace cookie for long playbacks;
//     use ip binding when clients have stable addresses.
//   - A signing key cannot revoke single links: removing a key id
//     invalidates every link it signed.
//   - Logs written by this package never contain a signature, a token or
//     a cookie value, only the reason, mount, key, client IP and a token's
//     configured name. Access logs elsewhere must not log the raw query
//     string of signed requests (use [StripParams]), and responses to
//     signed requests should not be stored by shared caches.
//   - Refusals depend only on the presented credentials, never on whether
//     the key exists, as long as the Guard runs before storage.
package auth
