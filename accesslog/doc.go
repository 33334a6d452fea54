// Package accesslog owns rangeserve's access log: the middleware that
// writes one line per request ([Handler]: method, path without the query,
// status, bytes, duration, peer, Range and the delivery strategy reported
// with [SetStrategy]), the line's format, written by hand but byte for
// byte what log/slog's TextHandler or JSONHandler would write, and the
// [Writer] that batches lines into few write(2) calls, which the process
// log shares ([Flushing]) so that lines keep their order. It imports only
// the standard library.
package accesslog
