package media

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strconv"

	"github.com/rangeserve/rangeserve/storage"
)

// errorStatus maps an error from a backend (or from reading an object
// before the first byte was sent) to the status the client gets. It
// returns 0 when the client has gone away (its request context was
// canceled): nothing should be written then.
//
// It is the only place where errors become statuses.
func errorStatus(ctx context.Context, err error) int {
	var ne net.Error
	switch {
	case errors.Is(ctx.Err(), context.Canceled):
		return 0
	case errors.Is(err, storage.ErrNotExist), errors.Is(err, storage.ErrIsDir):
		// ErrInvalidKey wraps ErrNotExist: a traversal attempt reads as a
		// missing file.
		return http.StatusNotFound
	case errors.Is(err, storage.ErrPermission):
		return http.StatusForbidden
	case errors.Is(err, context.DeadlineExceeded),
		errors.As(err, &ne) && ne.Timeout():
		return http.StatusGatewayTimeout
	default:
		// storage.ErrUnavailable and anything a backend failed to
		// translate.
		return http.StatusBadGateway
	}
}

// fail answers a request that failed before the first byte of the
// response: it logs err with the key and writes the status errorStatus
// chooses, with a short fixed body. The error's text never reaches the
// client.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, key string, err error) {
	status := errorStatus(r.Context(), err)
	level := slog.LevelError
	switch status {
	case 0:
		h.log.LogAttrs(r.Context(), slog.LevelDebug, "media: client went away before the response",
			slog.String("key", key), slog.Any("err", err))
		return
	case http.StatusNotFound:
		level = slog.LevelDebug
		if errors.Is(err, storage.ErrIsDir) && h.redirectToUI(w, r) {
			return // a browser asking for a folder (query.go)
		}
	case http.StatusForbidden:
		level = slog.LevelInfo
	}
	h.log.LogAttrs(r.Context(), level, "media: request failed",
		slog.String("method", r.Method), slog.String("key", key),
		slog.Int("status", status), slog.Any("err", err))
	writeStatus(w, r, status)
}

// writeStatus writes an error or status-only response: status, a short
// text body such as "404 not found\n" (none for HEAD), and no validators
// or caching headers that a caller may have set for a successful response
// (like net/http since Go 1.23, golang/go #50905).
func writeStatus(w http.ResponseWriter, r *http.Request, status int) {
	writeStatusBody(w, r, status, statusBody(status))
}

// writeStatusBody is writeStatus with a body of the caller's, such as
// "400 follow needs a local file\n".
func writeStatusBody(w http.ResponseWriter, r *http.Request, status int, body string) {
	hdr := w.Header()
	for _, k := range []string{"Etag", "Last-Modified", "Cache-Control", "Content-Disposition", "Content-Encoding", "Accept-Ranges"} {
		delete(hdr, k)
	}
	hdr.Set("Content-Type", "text/plain; charset=utf-8")
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write([]byte(body))
	}
}

// statusBody returns the short body of an error response, "404 not
// found\n" for 404.
func statusBody(status int) string {
	switch status {
	case http.StatusNotFound:
		return "404 not found\n"
	case http.StatusForbidden:
		return "403 forbidden\n"
	case http.StatusMethodNotAllowed:
		return "405 method not allowed\n"
	case http.StatusPreconditionFailed:
		return "412 precondition failed\n"
	case http.StatusRequestedRangeNotSatisfiable:
		return "416 range not satisfiable\n"
	case http.StatusNotImplemented:
		return "501 not implemented\n"
	case http.StatusGatewayTimeout:
		return "504 gateway timeout\n"
	case http.StatusBadGateway:
		return "502 bad gateway\n"
	}
	return strconv.Itoa(status) + " " + http.StatusText(status) + "\n"
}
