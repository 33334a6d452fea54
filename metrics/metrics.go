package metrics

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// DefaultNamespace prefixes every metric name when [Options].Namespace is
// empty.
const DefaultNamespace = "rangeserve"

// DefaultDurationBuckets are the upper bounds, in seconds, of the request
// duration histogram: from a cached 304 (a millisecond) to a film
// downloaded over a slow link (two hours).
var DefaultDurationBuckets = []float64{
	.001, .0025, .005, .01, .025, .05, .1, .25, .5,
	1, 2.5, 5, 10, 30, 60, 300, 900, 1800, 3600, 7200,
}

// DefaultLatencyBuckets are the upper bounds, in seconds, of the time to
// first byte and of backend latency: from a local stat (half a
// millisecond) to a store at its timeout (30s).
var DefaultLatencyBuckets = []float64{
	.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30,
}

// Options configures [New]. Zero fields take their defaults.
type Options struct {
	// Namespace prefixes every metric name. Default [DefaultNamespace].
	Namespace string
	// DurationBuckets bound the request duration histogram. Default
	// [DefaultDurationBuckets].
	DurationBuckets []float64
	// LatencyBuckets bound the time-to-first-byte, storage operation and
	// backend request histograms. Default [DefaultLatencyBuckets].
	LatencyBuckets []float64
}

// Metrics holds rangeserve's metric families, registered in one registry.
// It is safe for concurrent use and meant to live as long as the process.
type Metrics struct {
	// HTTP, by mount.
	requests *prometheus.CounterVec   // mount, method, status, strategy
	bytes    *prometheus.CounterVec   // mount, strategy
	active   *prometheus.GaugeVec     // mount
	aborted  *prometheus.CounterVec   // mount
	ttfb     *prometheus.HistogramVec // mount, strategy
	duration *prometheus.HistogramVec // mount, strategy

	// Storage operations, by backend.
	storageOps      *prometheus.CounterVec   // backend, op
	storageErrors   *prometheus.CounterVec   // backend, op, kind
	storageDuration *prometheus.HistogramVec // backend, op

	// HTTP requests to remote stores, by backend.
	backendRequests *prometheus.CounterVec   // backend, method, code
	backendErrors   *prometheus.CounterVec   // backend, method
	backendLatency  *prometheus.HistogramVec // backend, method
	backendBytes    *prometheus.CounterVec   // backend

	links *prometheus.CounterVec // outcome

	cache *cacheCollector
}

// New creates the metric families and registers them in reg. It fails
// when one is already registered there (New called twice on one
// registry).
func New(reg prometheus.Registerer, opts Options) (*Metrics, error) {
	if reg == nil {
		return nil, errors.New("metrics: New: nil registry")
	}
	ns := opts.Namespace
	if ns == "" {
		ns = DefaultNamespace
	}
	durB := opts.DurationBuckets
	if len(durB) == 0 {
		durB = DefaultDurationBuckets
	}
	latB := opts.LatencyBuckets
	if len(latB) == 0 {
		latB = DefaultLatencyBuckets
	}
	counter := func(sub, name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: name, Help: help}, labels)
	}
	histogram := func(sub, name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
		return prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub, Name: name, Help: help, Buckets: buckets}, labels)
	}
	m := &Metrics{
		requests: counter("http", "requests_total",
			"HTTP requests answered, by mount, method, status and delivery strategy.",
			"mount", "method", "status", "strategy"),
		bytes: counter("http", "response_bytes_total",
			"Response body bytes written, by mount and delivery strategy.",
			"mount", "strategy"),
		active: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Subsystem: "http", Name: "streams_active",
			Help: "Requests in flight (streams being sent), by mount."}, []string{"mount"}),
		aborted: counter("http", "responses_aborted_total",
			"Responses cut after their status line (backend failure mid-body, client gone), by mount.",
			"mount"),
		ttfb: histogram("http", "time_to_first_byte_seconds",
			"Time from the request's arrival at the mount to its status line, by mount and strategy.",
			latB, "mount", "strategy"),
		duration: histogram("http", "request_duration_seconds",
			"Time from the request's arrival at the mount to the end of its response, by mount and strategy.",
			durB, "mount", "strategy"),

		storageOps: counter("storage", "operations_total",
			"Operations asked of a storage backend (open, stat, list), by backend and operation.",
			"backend", "op"),
		storageErrors: counter("storage", "operation_errors_total",
			"Storage operations that failed, by backend, operation and kind (not_found, is_dir, permission, changed, canceled, timeout, unavailable, other).",
			"backend", "op", "kind"),
		storageDuration: histogram("storage", "operation_duration_seconds",
			"Duration of storage operations (a list: until its last entry), by backend and operation.",
			latB, "backend", "op"),

		backendRequests: counter("backend", "requests_total",
			"HTTP requests sent to a remote store, by backend, method and status code (\"error\" when no response came, \"timeout\" when the request's deadline passed, \"canceled\" when the client went away).",
			"backend", "method", "code"),
		backendErrors: counter("backend", "request_errors_total",
			"Requests to a remote store that failed: transport errors, timeouts and 5xx answers, not cancellations. By backend and method.",
			"backend", "method"),
		backendLatency: histogram("backend", "request_duration_seconds",
			"Time from sending a request to a remote store to its response headers, by backend and method.",
			latB, "backend", "method"),
		backendBytes: counter("backend", "response_bytes_total",
			"Response body bytes read from a remote store, by backend.",
			"backend"),

		links: counter("", "link_verifications_total",
			"Signed-link verifications, by outcome.",
			"outcome"),

		cache: newCacheCollector(ns),
	}
	for _, c := range []prometheus.Collector{
		m.requests, m.bytes, m.active, m.aborted, m.ttfb, m.duration,
		m.storageOps, m.storageErrors, m.storageDuration,
		m.backendRequests, m.backendErrors, m.backendLatency, m.backendBytes,
		m.links, m.cache,
	} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("metrics: registering: %w", err)
		}
	}
	return m, nil
}

// NewRegistry returns a registry holding the Go runtime's and the
// process's collectors (memory, goroutines, GC, CPU, open files), ready
// for [New].
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return reg
}

// Handler returns the /metrics handler for g: the text exposition format
// (or protobuf and OpenMetrics when the scraper asks), gzip when accepted,
// at most four scrapes at a time, errors logged to log (default
// slog.Default()) and the metrics that could be gathered still served.
func Handler(g prometheus.Gatherer, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.Default()
	}
	return promhttp.HandlerFor(g, promhttp.HandlerOpts{
		ErrorLog:            slog.NewLogLogger(log.Handler(), slog.LevelError),
		ErrorHandling:       promhttp.ContinueOnError,
		MaxRequestsInFlight: 4,
	})
}
