package main

import (
	"io"
	"net/http"
	"sync"
	"time"
)

// accessSink receives the access log: one Write per line. json selects
// slog's JSON syntax instead of its text syntax.
type accessSink struct {
	w    io.Writer
	json bool
}

// accessLog logs one line per request to sink: method, path (never the
// query, which may hold a link signature), status, bytes, duration, peer
// and Range. A handler that aborts the connection (http.ErrAbortHandler)
// is logged as such and the panic goes on to net/http, which closes the
// connection.
func accessLog(sink *accessSink, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		aw := &accessWriter{ResponseWriter: w}
		defer func() {
			v := recover()
			now := time.Now()
			rec := accessRecord{
				t: now, method: r.Method, path: r.URL.Path, status: aw.status,
				bytes: aw.n, dur: now.Sub(start), remote: r.RemoteAddr, aborted: v != nil,
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
			if sink.json {
				*bp = rec.appendJSON((*bp)[:0])
			} else {
				*bp = rec.appendText((*bp)[:0])
			}
			sink.w.Write(*bp)
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
