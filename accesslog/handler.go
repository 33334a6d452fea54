package accesslog

import (
	"io"
	"net/http"
	"sync"
	"time"
)

// Sink receives the access log: one Write per line, typically a
// [Writer]. JSON selects slog's JSON syntax instead of its text syntax.
type Sink struct {
	W    io.Writer
	JSON bool
}

// Handler logs one line per request to sink: method, path (never the
// query, which may hold a link signature), status, bytes, duration, peer,
// Range, and the delivery strategy a handler reported with [SetStrategy].
// A handler that aborts the connection (http.ErrAbortHandler) is logged as
// such and the panic goes on to net/http, which closes the connection.
func Handler(sink *Sink, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		aw := &accessWriter{ResponseWriter: w}
		defer func() {
			v := recover()
			now := time.Now()
			rec := record{
				t: now, method: r.Method, path: r.URL.Path, status: aw.status,
				bytes: aw.n, dur: now.Sub(start), remote: r.RemoteAddr, strategy: aw.strategy, aborted: v != nil,
			}
			if rec.status == 0 {
				rec.status = http.StatusOK
			}
			if rg := r.Header.Get("Range"); rg != "" {
				if len(rg) > 128 {
					rg = rg[:128] + "…"
				}
				rec.rng = rg
			}
			bp := lineBufs.Get().(*[]byte)
			if sink.JSON {
				*bp = rec.appendJSON((*bp)[:0])
			} else {
				*bp = rec.appendText((*bp)[:0])
			}
			sink.W.Write(*bp)
			lineBufs.Put(bp)
			if v != nil {
				panic(v)
			}
		}()
		next.ServeHTTP(aw, r)
	})
}

// lineBufs holds the buffers access lines are formatted in.
var lineBufs = sync.Pool{New: func() any {
	b := make([]byte, 0, 512)
	return &b
}}

// accessWriter records the status and body size. It implements
// io.ReaderFrom by handing the reader to the underlying writer, so that
// net/http can still use sendfile(2) for an *os.File body.
type accessWriter struct {
	http.ResponseWriter
	status   int
	n        int64
	strategy string
}

// SetStrategy records s, the way the response was delivered (such as
// media's "serve", "x-accel" or "redirect"), in the access line of the
// request w answers. It finds Handler's writer through Unwrap methods; a
// w that [Handler] did not wrap is left alone.
func SetStrategy(w http.ResponseWriter, s string) {
	for {
		switch t := w.(type) {
		case *accessWriter:
			t.strategy = s
			return
		case interface{ Unwrap() http.ResponseWriter }:
			w = t.Unwrap()
		default:
			return
		}
	}
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
