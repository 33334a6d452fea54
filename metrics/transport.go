package metrics

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Transport returns next instrumented as the backend named name: every
// request is counted by method and status code, timed to its response
// headers, its body bytes counted as they are read, and transport errors
// (code "error"), timeouts (code "timeout": the request's deadline, such
// as s3.Options.Timeout, passed) and 5xx answers counted as errors. A
// request whose context was cancelled (the client went away) is counted
// with code "canceled" and not as an error. Install it with s3.Options.WrapTransport.
func (m *Metrics) Transport(name string, next http.RoundTripper) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	return &transport{next: next, m: m, name: name, bytes: m.backendBytes.WithLabelValues(name)}
}

type transport struct {
	next  http.RoundTripper
	m     *Metrics
	name  string
	bytes prometheus.Counter
}

func (t *transport) RoundTrip(r *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := t.next.RoundTrip(r)
	meth := method(r.Method)
	t.m.backendLatency.WithLabelValues(t.name, meth).Observe(time.Since(start).Seconds())
	var code string
	switch {
	case err != nil && (errors.Is(err, context.Canceled) || r.Context().Err() == context.Canceled):
		code = "canceled"
	case err != nil && (errors.Is(err, context.DeadlineExceeded) || r.Context().Err() == context.DeadlineExceeded):
		code = "timeout"
		t.m.backendErrors.WithLabelValues(t.name, meth).Inc()
	case err != nil:
		code = "error"
		t.m.backendErrors.WithLabelValues(t.name, meth).Inc()
	default:
		code = strconv.Itoa(resp.StatusCode)
		if resp.StatusCode >= 500 {
			t.m.backendErrors.WithLabelValues(t.name, meth).Inc()
		}
		if resp.Body != nil && resp.Body != http.NoBody {
			resp.Body = &countingBody{ReadCloser: resp.Body, c: t.bytes}
		}
	}
	t.m.backendRequests.WithLabelValues(t.name, meth, code).Inc()
	return resp, err
}

// countingBody adds the bytes read from a response body to a counter, in
// one Add when the body is closed (or reaches its end), not per Read.
type countingBody struct {
	io.ReadCloser
	c     prometheus.Counter
	n     int64
	added atomic.Bool
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n += int64(n)
	if err != nil {
		b.flush()
	}
	return n, err
}

func (b *countingBody) Close() error {
	b.flush()
	return b.ReadCloser.Close()
}

func (b *countingBody) flush() {
	if b.added.CompareAndSwap(false, true) {
		b.c.Add(float64(b.n))
	}
}
