package main

import (
	"fmt"
	"slices"
	"strings"
)

// report is the whole result, written as JSON and rendered as Markdown.
type report struct {
	Date      string     `json:"date"`
	Mode      string     `json:"mode"`
	Commit    string     `json:"commit"`
	Machine   string     `json:"machine"`
	MinIO     string     `json:"minio"`
	Go        string     `json:"go"`
	SizeMiB   int64      `json:"size_mib"`
	Seconds   float64    `json:"seconds_per_run"`
	Rounds    int        `json:"rounds"`
	Conc      int        `json:"concurrency"`
	Points    int        `json:"seek_points"`
	CacheMax  string     `json:"cache_max_bytes"`
	Access    bool       `json:"access_log"`
	MemLimit  string     `json:"rangeserve_gomemlimit,omitempty"`
	Targets   []target   `json:"targets"`
	Workloads []workload `json:"workloads"`
	Runs      []run      `json:"runs"`
	RSSKiB    int64      `json:"rangeserve_rss_kib"`
	HWMKiB    int64      `json:"rangeserve_peak_rss_kib"`
	Elapsed   string     `json:"elapsed"`
	LoadAvg   string     `json:"loadavg"`
	DiskMem   string     `json:"disk_instance_cache_max_bytes,omitempty"`
	DiskFill  float64    `json:"disk_fill"` // share of the object on disk after the warm-up

	Medians map[string]map[string]median `json:"medians"` // workload -> target
	Checks  []check                      `json:"targets_checked"`
}

// median holds the medians over rounds of one workload on one target.
type median struct {
	ReqPerSec     float64 `json:"req_per_s"`
	MBPerSec      float64 `json:"mb_per_s"`
	P50ms         float64 `json:"p50_ms"`
	P99ms         float64 `json:"p99_ms"`
	CPUMinIO      float64 `json:"cpu_minio_s"`
	CPURangeserve float64 `json:"cpu_rangeserve_s"`
	CPUClient     float64 `json:"cpu_client_s"`
	// MinIO requests per client request (range workloads) or per GiB
	// delivered (stream workloads); -1 when not available.
	GetsPerUnit  float64 `json:"minio_gets_per_unit"`
	HeadsPerUnit float64 `json:"minio_heads_per_unit"`
	// Fetched is the bytes MinIO sent per byte the client received (1.00
	// for direct; what rangeserve fetched per byte it sent); -1 when not
	// available.
	Fetched float64 `json:"fetched_per_sent"`
}

// check is one of the targets: Ratio ≥ Want, or ≤ with AtMost.
type check struct {
	Name   string  `json:"name"`
	Ratio  float64 `json:"ratio"`
	Want   float64 `json:"want"`
	AtMost bool    `json:"at_most,omitempty"`
	Met    bool    `json:"met"`
}

func med(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func (r *report) summarize() {
	r.Medians = map[string]map[string]median{}
	for _, w := range r.Workloads {
		r.Medians[w.Name] = map[string]median{}
		for _, t := range r.Targets {
			var f [10][]float64
			for _, x := range r.Runs {
				if x.Workload != w.Name || x.Target != t.Name {
					continue
				}
				per := func(v float64) float64 {
					switch {
					case v < 0:
						return -1
					case w.Metric == "mb_per_s" && x.Bytes > 0:
						return v / (float64(x.Bytes) / (1 << 30))
					case x.Requests > 0:
						return v / float64(x.Requests)
					}
					return -1
				}
				fetched := -1.0
				if x.MinIOSent >= 0 && x.Bytes > 0 {
					fetched = x.MinIOSent / float64(x.Bytes)
				}
				for i, v := range []float64{x.ReqPerSec, x.MBPerSec, x.P50ms, x.P99ms, x.CPUMinIO, x.CPURangeserve, x.CPUClient, per(x.MinIOGets), per(x.MinIOHeads), fetched} {
					f[i] = append(f[i], v)
				}
			}
			if len(f[0]) == 0 {
				continue // the target does not run this workload
			}
			r.Medians[w.Name][t.Name] = median{med(f[0]), med(f[1]), med(f[2]), med(f[3]), med(f[4]), med(f[5]), med(f[6]), med(f[7]), med(f[8]), maxOf(f[9])}
		}
	}
	ratio := func(w, t, vs string, metric func(median) float64) float64 {
		d := metric(r.Medians[w][vs])
		if d == 0 {
			return 0
		}
		return metric(r.Medians[w][t]) / d
	}
	mb := func(m median) float64 { return m.MBPerSec }
	rps := func(m median) float64 { return m.ReqPerSec }
	checks := []check{
		// issue 14
		{Name: "raw ≥ 0.9× direct throughput, 1 stream", Ratio: ratio("stream1", "raw", "direct", mb), Want: 0.9},
		{Name: "raw ≥ 0.9× direct throughput, 4 streams", Ratio: ratio("stream4", "raw", "direct", mb), Want: 0.9},
		{Name: "cached ≥ 0.9× direct throughput, 1 stream (object larger than the cache)", Ratio: ratio("stream1", "cached", "direct", mb), Want: 0.9},
		{Name: "cached ≥ 0.9× direct throughput, 4 streams (object larger than the cache)", Ratio: ratio("stream4", "cached", "direct", mb), Want: 0.9},
		{Name: "cached ≥ 1.0× raw requests/s, random 64 KiB ranges (object larger than the cache)", Ratio: ratio("random", "cached", "raw", rps), Want: 1},
		// issue 4
		{Name: "cached ≥ 2× direct requests/s, repeated seeks", Ratio: ratio("seek", "cached", "direct", rps), Want: 2},
	}
	for _, w := range r.Workloads {
		for _, t := range []string{"raw", "cached", "disk"} {
			m, ok := r.Medians[w.Name][t]
			if !ok || m.Fetched < 0 {
				continue
			}
			checks = append(checks, check{Name: fmt.Sprintf("%s, %s: bytes fetched from S3 ≤ 2× bytes sent (worst round)", w.Name, t),
				Ratio: m.Fetched, Want: 2, AtMost: true})
		}
	}
	for _, c := range checks {
		if c.AtMost {
			c.Met = c.Ratio <= c.Want
		} else {
			c.Met = c.Ratio >= c.Want
		}
		r.Checks = append(r.Checks, c)
	}
}

func maxOf(xs []float64) float64 {
	if len(xs) == 0 {
		return -1
	}
	return slices.Max(xs)
}

func (r *report) allMet() bool {
	for _, c := range r.Checks {
		if !c.Met {
			return false
		}
	}
	return true
}

func (r *report) markdown() string {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	p("\n## S3 backend: MinIO direct vs rangeserve (%s run)\n\n", r.Mode)
	p("- date: %s; commit: %s; elapsed: %s\n", r.Date, r.Commit, r.Elapsed)
	p("- load average: %s\n", r.LoadAvg)
	p("- machine: %s (client, MinIO and rangeserve share it)\n", r.Machine)
	p("- %s; %s\n", r.MinIO, r.Go)
	p("- object: %d MiB of random bytes; %d rounds of %.0f s per run, targets interleaved (order rotates per round), medians shown\n",
		r.SizeMiB, r.Rounds, r.Seconds)
	limit := "unset"
	if r.MemLimit != "" {
		limit = r.MemLimit
	}
	p("- rangeserve: block cache with rangeserve's defaults (64 KiB blocks), max %s; access log %s; GOMEMLIMIT %s\n", r.CacheMax, onOff(r.Access), limit)
	if r.DiskMem != "" {
		p("- disk tier: a second rangeserve with a %s memory cache over cache.disk; after its warm-up (the first viewer) the disk held %.0f%% of the object\n", r.DiskMem, 100*r.DiskFill)
	}
	p("\n| workload | metric | direct (MinIO) | raw (rangeserve, no cache) | cached (rangeserve + cache) | raw/direct | cached/direct | cached/raw |\n")
	p("|---|---|---:|---:|---:|---:|---:|---:|\n")
	for _, w := range r.Workloads {
		m := r.Medians[w.Name]
		d, rw, c := m["direct"], m["raw"], m["cached"]
		if w.Metric == "mb_per_s" {
			p("| %s | MB/s | %.0f | %.0f | %.0f | %s | %s | %s |\n", w.Desc, d.MBPerSec, rw.MBPerSec, c.MBPerSec,
				ratioStr(rw.MBPerSec, d.MBPerSec), ratioStr(c.MBPerSec, d.MBPerSec), ratioStr(c.MBPerSec, rw.MBPerSec))
		} else {
			p("| %s | req/s | %.0f | %.0f | %.0f | %s | %s | %s |\n", w.Desc, d.ReqPerSec, rw.ReqPerSec, c.ReqPerSec,
				ratioStr(rw.ReqPerSec, d.ReqPerSec), ratioStr(c.ReqPerSec, d.ReqPerSec), ratioStr(c.ReqPerSec, rw.ReqPerSec))
			p("| %s | p50 / p99 ms | %.2f / %.2f | %.2f / %.2f | %.2f / %.2f | | | |\n", w.Desc,
				d.P50ms, d.P99ms, rw.P50ms, rw.P99ms, c.P50ms, c.P99ms)
		}
		p("| %s | bytes fetched from S3 per byte sent (worst round) | %s | %s | %s | | | |\n", w.Desc,
			perReq(d.Fetched), perReq(rw.Fetched), perReq(c.Fetched))
	}
	if r.DiskMem != "" {
		p("\nThe disk tier's second viewer against the same file from a local mount (same rangeserve process):\n\n")
		p("| workload | disk tier MB/s | local mount MB/s | disk/local | bytes fetched from S3 per byte sent |\n|---|---:|---:|---:|---:|\n")
		for _, w := range r.Workloads {
			dk, okd := r.Medians[w.Name]["disk"]
			lc, okl := r.Medians[w.Name]["local"]
			if okd && okl {
				p("| %s | %.0f | %.0f | %s | %s |\n", w.Desc, dk.MBPerSec, lc.MBPerSec, ratioStr(dk.MBPerSec, lc.MBPerSec), perReq(dk.Fetched))
			}
		}
	}

	p("\nTargets (issue 14, and issue 4's seek target):\n\n")
	for _, c := range r.Checks {
		mark := "**missed**"
		if c.Met {
			mark = "met"
		}
		p("- %s: %.2f× → %s\n", c.Name, c.Ratio, mark)
	}

	p("\nWhere the time goes (medians per run): CPU seconds each process spent during the run, and the requests MinIO served (from its metrics) per client request for the range workloads, per GiB delivered for the stream workloads:\n\n")
	p("| workload | target | MinIO CPU s | rangeserve CPU s | client CPU s | MinIO GETs per req or GiB | MinIO HEADs per req or GiB |\n")
	p("|---|---|---:|---:|---:|---:|---:|\n")
	for _, w := range r.Workloads {
		for _, t := range r.Targets {
			m, ok := r.Medians[w.Name][t.Name]
			if !ok {
				continue
			}
			p("| %s | %s | %.1f | %.1f | %.1f | %s | %s |\n", w.Name, t.Name, m.CPUMinIO, m.CPURangeserve, m.CPUClient,
				perReq(m.GetsPerUnit), perReq(m.HeadsPerUnit))
		}
	}
	p("\nrangeserve memory at the end: VmRSS %.0f MiB, peak (VmHWM) %.0f MiB (cache cap %s).\n",
		float64(r.RSSKiB)/1024, float64(r.HWMKiB)/1024, r.CacheMax)
	return b.String()
}

func onOff(b bool) string {
	if b {
		return "on (to a file)"
	}
	return "off"
}

func ratioStr(x, d float64) string {
	if d == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2f×", x/d)
}

func perReq(v float64) string {
	if v < 0 {
		return "n/a"
	}
	if v >= 10 {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.2f", v)
}
