// Package limits owns how rangeserve protects itself from its clients:
// caps on concurrent streams (per client address and in total), optional
// bandwidth limits (per connection and per key, such as one share link),
// and the write deadline that moves forward while bytes flow.
//
// A [Limiter] is built from [Options] (zero fields take the defaults;
// [Off] turns a limit off) and wraps handlers with [Limiter.Middleware]:
//
//   - Stream caps: a request over a cap is refused before it reaches the
//     handler with 429 Too Many Requests, a Retry-After header, a short
//     plain-text body and a log line (at most one per second and reason,
//     with the count of those left out). The client address comes from
//     [Options].ClientIP, so that behind a trusted proxy the real client
//     is counted, not the proxy.
//   - Write deadline: every response gets a write deadline
//     ([Options].WriteIdleTimeout) through http.ResponseController, moved
//     forward as the response makes progress, so that a slow but live
//     client (a video player reading at its bitrate) keeps its stream for
//     hours while a stalled one is dropped once no write completes for the
//     idle timeout.
//   - Bandwidth: writes are paced with golang.org/x/time/rate token
//     buckets, one per connection ([ConnContext] must be installed as the
//     http.Server's ConnContext; without it each request gets its own)
//     and one per key ([Options].KeyOf), shared by every request using
//     that key while any is running.
//
// # Zero copy
//
// When neither a deadline nor a bandwidth limit applies to a request, the
// handler gets the ResponseWriter it would have had: nothing is wrapped.
// Otherwise the wrapper implements io.ReaderFrom, http.Flusher and
// Unwrap, and keeps sendfile(2): a body copied from an *os.File (or an
// *io.LimitedReader over one, the shape media uses) is handed to the
// ResponseWriter below in chunks of at most [SendfileChunk] bytes, each
// still an *io.LimitedReader over the *os.File, with the deadline moved
// and the rate limiters waited on between chunks. Only bodies from other
// readers go through the wrapper's Write, a chunk at a time. A client is
// therefore "live" when it accepts at least one chunk per idle timeout:
// 256 KiB per 60 s by default, about 4 KiB/s.
//
// # Order
//
// The write deadline covers writes, not the handler's work before its
// first byte. At the end of a request the deadline is set once more, so
// net/http's final flush is covered; the next request on the connection
// starts from a stale deadline unless it also passes through a Limiter or
// the server's WriteTimeout re-arms it: set http.Server.WriteTimeout to
// [Limiter.WriteIdleTimeout] and wrap every handler that sends large
// bodies. Put CORS outside the Limiter (a 429 without CORS headers is an
// opaque network error to a page) and authorization inside it (a refused
// stream costs no signature check).
//
// limits imports golang.org/x/time/rate and nothing of ours.
package limits
