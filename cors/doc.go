// Package cors owns rangeserve's cross-origin resource sharing (the Fetch
// standard's CORS protocol) for one mount: which origins may read its
// responses from a script or a <video crossorigin>, whether credentials
// (cookies) may come along, which response headers such a reader may see,
// and the answer to a preflight (OPTIONS) request.
//
// A [Policy] is built once from [Options] and wraps the mount's handler
// with [Policy.Middleware]. It only adds headers (and answers preflights
// itself); it never refuses a simple GET or HEAD: enforcing the policy is
// the browser's job, and a request without Origin (curl, a download
// manager, a same-origin page) is served exactly as without CORS.
//
// The headers a player needs are exposed by default: Content-Range,
// Accept-Ranges, Content-Length, ETag and Content-Disposition; a
// preflight admits GET and HEAD with Range and the If-* precondition
// headers. With credentials on, the answer never says "*": the request's
// Origin is echoed (and Vary: Origin tells caches the answer depends on
// it).
//
// The middleware must run before authorization: browsers send preflights
// without credentials, so a preflight that reached the mount's guard
// would be refused and the real request never sent.
//
// cors imports only the standard library.
package cors
