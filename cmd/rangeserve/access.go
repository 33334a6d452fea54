package main

import (
	"io"
	"log/slog"
	"net/http"
	"time"
)

// accessLog logs one line per request: method, path (never the query,
// which may hold a link signature), status, bytes and duration. A handler
// that aborts the connection (http.ErrAbortHandler) is logged as such and
// the panic goes on to net/http, which closes the connection.
//
// Records go straight to log's handler, built by hand with no caller PC:
// slog.Logger would capture one with runtime.Callers on every request,
// and the access log never shows it.
func accessLog(log *slog.Logger, next http.Handler) http.Handler {
	h := log.Handler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		aw := &accessWriter{ResponseWriter: w}
		defer func() {
			v := recover()
			status := aw.status
			if status == 0 {
				status = http.StatusOK
			}
			if !h.Enabled(r.Context(), slog.LevelInfo) {
				if v != nil {
					panic(v)
				}
				return
			}
			now := time.Now()
			rec := slog.NewRecord(now, slog.LevelInfo, "request", 0)
			rec.AddAttrs(
				slog.String("method", r.Method),
				slog.String("path", r.URL.Path),
				slog.Int("status", status),
				slog.Int64("bytes", aw.n),
				slog.Duration("dur", now.Sub(start)),
				slog.String("remote", r.RemoteAddr),
			)
			if rg := r.Header.Get("Range"); rg != "" {
				if len(rg) > 128 {
					rg = rg[:128] + "…"
				}
				rec.AddAttrs(slog.String("range", rg))
			}
			if v != nil {
				rec.AddAttrs(slog.Bool("aborted", true))
			}
			h.Handle(r.Context(), rec)
			if v != nil {
				panic(v)
			}
		}()
		next.ServeHTTP(aw, r)
	})
}

// accessWriter records the status and body size. It implements
// io.ReaderFrom by handing the reader to the underlying writer, so that
// net/http can still use sendfile(2) for an *os.File body.
type accessWriter struct {
	http.ResponseWriter
	status int
	n      int64
}

func (w *accessWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *accessWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(p)
	w.n += int64(n)
	return n, err
}

func (w *accessWriter) ReadFrom(r io.Reader) (int64, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	var n int64
	var err error
	if rf, ok := w.ResponseWriter.(io.ReaderFrom); ok {
		n, err = rf.ReadFrom(r)
	} else {
		n, err = io.Copy(struct{ io.Writer }{w.ResponseWriter}, r)
	}
	w.n += n
	return n, err
}

// Flush lets streaming responses flush through the wrapper.
func (w *accessWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap serves http.ResponseController.
func (w *accessWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
