package metrics

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rangeserve/rangeserve/rangeio"
)

// CacheStatser is what the cache collector reads: *rangeio.Cache
// satisfies it.
type CacheStatser interface {
	Stats() rangeio.CacheStats
}

// SetCache makes the cache_* metrics report c's counters, read at each
// scrape. nil (the initial state) reports none. A configuration reload
// that builds a new cache calls it again; the counters then restart from
// the new cache's, which Prometheus treats as a counter reset.
func (m *Metrics) SetCache(c CacheStatser) {
	if c == nil {
		m.cache.src.Store(nil)
		return
	}
	m.cache.src.Store(&c)
}

// cacheCollector turns one rangeio.CacheStats snapshot per scrape into
// const metrics.
type cacheCollector struct {
	src    atomic.Pointer[CacheStatser]
	descs  []*prometheus.Desc
	values []func(rangeio.CacheStats) float64
	kinds  []prometheus.ValueType
}

func newCacheCollector(ns string) *cacheCollector {
	c := &cacheCollector{}
	add := func(name, help string, kind prometheus.ValueType, v func(rangeio.CacheStats) float64) {
		c.descs = append(c.descs, prometheus.NewDesc(prometheus.BuildFQName(ns, "cache", name), help, nil, nil))
		c.values = append(c.values, v)
		c.kinds = append(c.kinds, kind)
	}
	counter, gauge := prometheus.CounterValue, prometheus.GaugeValue
	add("hits_total", "Block lookups served from memory.", counter,
		func(s rangeio.CacheStats) float64 { return float64(s.Hits) })
	add("misses_total", "Block lookups not resident (including those that waited for another caller's fetch).", counter,
		func(s rangeio.CacheStats) float64 { return float64(s.Misses) })
	add("coalesced_total", "Misses that waited for a fetch already in flight instead of reading the backend.", counter,
		func(s rangeio.CacheStats) float64 { return float64(s.Coalesced) })
	add("evictions_total", "Blocks dropped to stay under the memory cap.", counter,
		func(s rangeio.CacheStats) float64 { return float64(s.Evictions) })
	add("backend_reads_total", "Reads the cache made from backends (requests and read-ahead).", counter,
		func(s rangeio.CacheStats) float64 { return float64(s.BackendReads) })
	add("backend_read_bytes_total", "Bytes the cache read from backends.", counter,
		func(s rangeio.CacheStats) float64 { return float64(s.BackendBytes) })
	add("backend_read_errors_total", "Backend reads by the cache that failed.", counter,
		func(s rangeio.CacheStats) float64 { return float64(s.BackendErrors) })
	add("read_aheads_total", "Blocks fetched by read-ahead.", counter,
		func(s rangeio.CacheStats) float64 { return float64(s.ReadAheads) })
	add("read_ahead_errors_total", "Read-ahead fetches that failed.", counter,
		func(s rangeio.CacheStats) float64 { return float64(s.ReadAheadErrors) })
	add("read_ahead_skipped_total", "Sequential reads whose read-ahead was skipped: all read-ahead slots busy.", counter,
		func(s rangeio.CacheStats) float64 { return float64(s.ReadAheadSkipped) })
	add("bytes", "Bytes of resident blocks.", gauge,
		func(s rangeio.CacheStats) float64 { return float64(s.Bytes) })
	add("blocks", "Resident blocks.", gauge,
		func(s rangeio.CacheStats) float64 { return float64(s.Blocks) })
	return c
}

func (c *cacheCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

func (c *cacheCollector) Collect(ch chan<- prometheus.Metric) {
	p := c.src.Load()
	if p == nil {
		return
	}
	s := (*p).Stats()
	for i, d := range c.descs {
		ch <- prometheus.MustNewConstMetric(d, c.kinds[i], c.values[i](s))
	}
}
