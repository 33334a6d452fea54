package metrics

import (
	"context"
	"errors"
	"iter"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rangeserve/rangeserve/storage"
)

// Backend returns b instrumented as the backend named name: each Open,
// Stat and List is counted, timed and, when it fails, classified by
// kind. The returned backend implements storage.Lister,
// storage.Presigner and storage.Pather exactly when b does (presigning
// and path lookups pass through uninstrumented: they do not reach the
// store), so media's capability checks see the same backend. Objects
// are b's own, untouched: their reads (sendfile, ranged GETs) are
// measured by the HTTP middleware and, for S3, by [Metrics.Transport].
// Other methods of b (Close, Probe) are reached on b itself or through
// Unwrap.
func (m *Metrics) Backend(name string, b storage.Backend) storage.Backend {
	base := &instrumented{b: b, name: name, m: m,
		open: m.op(name, "open"), stat: m.op(name, "stat"), list: m.op(name, "list")}
	l, isL := b.(storage.Lister)
	p, isP := b.(storage.Presigner)
	pa, isPa := b.(storage.Pather)
	var lw storage.Lister
	if isL {
		lw = &lister{base, l}
	}
	switch {
	case isL && isP && isPa:
		return struct {
			*instrumented
			storage.Lister
			storage.Presigner
			storage.Pather
		}{base, lw, p, pa}
	case isL && isP:
		return struct {
			*instrumented
			storage.Lister
			storage.Presigner
		}{base, lw, p}
	case isL && isPa:
		return struct {
			*instrumented
			storage.Lister
			storage.Pather
		}{base, lw, pa}
	case isP && isPa:
		return struct {
			*instrumented
			storage.Presigner
			storage.Pather
		}{base, p, pa}
	case isL:
		return struct {
			*instrumented
			storage.Lister
		}{base, lw}
	case isP:
		return struct {
			*instrumented
			storage.Presigner
		}{base, p}
	case isPa:
		return struct {
			*instrumented
			storage.Pather
		}{base, pa}
	}
	return base
}

// opMetrics are one operation's series, looked up once.
type opMetrics struct {
	total    prometheus.Counter
	duration prometheus.Observer
	errors   *prometheus.CounterVec
	backend  string
	op       string
}

func (m *Metrics) op(backend, op string) *opMetrics {
	return &opMetrics{
		total:    m.storageOps.WithLabelValues(backend, op),
		duration: m.storageDuration.WithLabelValues(backend, op),
		errors:   m.storageErrors,
		backend:  backend,
		op:       op,
	}
}

// observe records one operation that started at start and ended with err.
func (o *opMetrics) observe(start time.Time, err error) {
	o.total.Inc()
	o.duration.Observe(time.Since(start).Seconds())
	if err != nil {
		o.errors.WithLabelValues(o.backend, o.op, errorKind(err)).Inc()
	}
}

// errorKind classifies a storage error for the kind label.
func errorKind(err error) string {
	switch {
	case errors.Is(err, storage.ErrIsDir):
		return "is_dir"
	case errors.Is(err, storage.ErrNotExist):
		return "not_found"
	case errors.Is(err, storage.ErrPermission):
		return "permission"
	case errors.Is(err, storage.ErrChanged):
		return "changed"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, storage.ErrUnavailable):
		return "unavailable"
	}
	return "other"
}

// instrumented is the decorator's core: Open and Stat.
type instrumented struct {
	b                storage.Backend
	name             string
	m                *Metrics
	open, stat, list *opMetrics
}

func (i *instrumented) Open(ctx context.Context, key string) (storage.Object, error) {
	start := time.Now()
	o, err := i.b.Open(ctx, key)
	i.open.observe(start, err)
	return o, err
}

func (i *instrumented) Stat(ctx context.Context, key string) (storage.Info, error) {
	start := time.Now()
	info, err := i.b.Stat(ctx, key)
	i.stat.observe(start, err)
	return info, err
}

// Unwrap returns the backend under the decorator.
func (i *instrumented) Unwrap() storage.Backend { return i.b }

// lister instruments List: one operation per listing, timed until the
// caller stops iterating, failed if any entry came with an error.
type lister struct {
	*instrumented
	l storage.Lister
}

func (l *lister) List(ctx context.Context, prefix string) iter.Seq2[storage.Info, error] {
	return func(yield func(storage.Info, error) bool) {
		start := time.Now()
		var failed error
		defer func() { l.list.observe(start, failed) }()
		for info, err := range l.l.List(ctx, prefix) {
			if err != nil && failed == nil {
				failed = err
			}
			if !yield(info, err) {
				return
			}
		}
	}
}

// Interface guards.
var (
	_ storage.Backend = (*instrumented)(nil)
	_ storage.Lister  = (*lister)(nil)
)
