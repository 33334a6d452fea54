package metrics

import (
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// strategyNone labels requests for which no strategy was reported:
// refused before media chose one, or never sent to media (the API).
const strategyNone = "none"

// statusAborted labels requests that panicked (http.ErrAbortHandler)
// before writing a status line: the client got no answer.
const statusAborted = "aborted"

// Middleware returns next instrumented as the mount named mount (its
// prefix, say): each request is counted with its method, status and the
// strategy reported with [SetStrategy], its body bytes added, its time to
// first byte and duration observed, and it counts as an active stream
// while it runs.
//
// The ResponseWriter it passes on keeps io.ReaderFrom (sendfile) and
// http.Flusher, and unwraps for http.ResponseController and
// [SetStrategy]. A handler that panics with http.ErrAbortHandler is
// counted as aborted and the panic goes on.
func (m *Metrics) Middleware(mount string, next http.Handler) http.Handler {
	active := m.active.WithLabelValues(mount)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		active.Inc()
		rec := &recorder{ResponseWriter: w, start: start, m: m, mount: mount, active: active}
		defer func() {
			v := recover()
			rec.active.Dec()
			mount := rec.mount
			end := time.Now()
			strategy := rec.strategy
			if strategy == "" {
				strategy = strategyNone
			}
			status := rec.status
			switch {
			case status != 0:
			case v != nil:
			default:
				status = http.StatusOK // net/http's implicit 200
			}
			statusLabel := statusAborted
			if status != 0 {
				statusLabel = strconv.Itoa(status)
			}
			if v != nil {
				m.aborted.WithLabelValues(mount).Inc()
			}
			m.requests.WithLabelValues(mount, method(r.Method), statusLabel, strategy).Inc()
			if rec.n > 0 {
				m.bytes.WithLabelValues(mount, strategy).Add(float64(rec.n))
			}
			first := rec.first
			if first.IsZero() {
				first = end
			}
			m.ttfb.WithLabelValues(mount, strategy).Observe(first.Sub(start).Seconds())
			m.duration.WithLabelValues(mount, strategy).Observe(end.Sub(start).Seconds())
			if v != nil {
				panic(v)
			}
		}()
		next.ServeHTTP(rec, r)
	})
}

// SetMount makes mount the mount label of the request w answers, in
// place of the one [Metrics.Middleware] was given: a router that wraps
// all its routes in one middleware says which mount it chose. The
// request moves to that mount's active streams. It finds the middleware's
// writer through Unwrap methods, as [SetStrategy] does.
func SetMount(w http.ResponseWriter, mount string) {
	if rec := find(w); rec != nil && rec.mount != mount {
		rec.active.Dec()
		rec.mount = mount
		rec.active = rec.m.active.WithLabelValues(mount)
		rec.active.Inc()
	}
}

// find returns the middleware's writer below w, or nil.
func find(w http.ResponseWriter) *recorder {
	for {
		switch t := w.(type) {
		case *recorder:
			return t
		case interface{ Unwrap() http.ResponseWriter }:
			w = t.Unwrap()
		default:
			return nil
		}
	}
}

// SetStrategy records s, the way the response was delivered (media's
// Outcome.Strategy: "serve", "stream", "x-accel", "x-sendfile",
// "redirect", "archive", "listing"), for the metrics of the request w
// answers. It finds [Metrics.Middleware]'s writer through Unwrap methods;
// a w the middleware did not wrap is left alone. A strategy that is not a
// short lower-case word (letters, digits, '-', '_') is recorded as
// "other", so label values stay bounded.
func SetStrategy(w http.ResponseWriter, s string) {
	if rec := find(w); rec != nil {
		if s != "" && !labelWord(s) {
			s = "other"
		}
		rec.strategy = s
	}
}

// method returns the method label: the standard methods as they are,
// anything else "OTHER", so a client cannot mint label values.
func method(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodPost,
		http.MethodPut, http.MethodDelete, http.MethodPatch:
		return m
	}
	return "OTHER"
}

// recorder records a response's status, body bytes and the time its
// status line was committed. It implements io.ReaderFrom by handing the
// reader to the writer below, so net/http can still use sendfile(2), and
// http.Flusher.
type recorder struct {
	http.ResponseWriter
	start, first time.Time
	status       int
	n            int64
	strategy     string
	m            *Metrics
	mount        string
	active       prometheus.Gauge // the mount's active streams, counting this request
}

// commit records the status line of a response about to be written.
func (w *recorder) commit(code int) {
	if w.status == 0 {
		w.status = code
		w.first = time.Now()
	}
}

func (w *recorder) WriteHeader(code int) {
	if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
		w.ResponseWriter.WriteHeader(code) // informational: not the answer
		return
	}
	w.commit(code)
	w.ResponseWriter.WriteHeader(code)
}

func (w *recorder) Write(p []byte) (int, error) {
	w.commit(http.StatusOK)
	n, err := w.ResponseWriter.Write(p)
	w.n += int64(n)
	return n, err
}

// ReadFrom passes r to the underlying writer's ReadFrom (sendfile for an
// *os.File), or copies through its Write.
func (w *recorder) ReadFrom(r io.Reader) (int64, error) {
	w.commit(http.StatusOK)
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

// Flush sends what is buffered, the status line first if need be.
func (w *recorder) Flush() {
	w.commit(http.StatusOK)
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
		return
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Unwrap serves http.ResponseController.
func (w *recorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Interface guards.
var (
	_ io.ReaderFrom = (*recorder)(nil)
	_ http.Flusher  = (*recorder)(nil)
)
