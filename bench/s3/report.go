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
}

// check is one of the targets.
type check struct {
	Name  string  `json:"name"`
	Ratio float64 `json:"ratio"`
	Want  float64 `json:"want"`
	Met   bool    `json:"met"`
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
			var f [9][]float64
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
				for i, v := range []float64{x.ReqPerSec, x.MBPerSec, x.P50ms, x.P99ms, x.CPUMinIO, x.CPURangeserve, x.CPUClient, per(x.MinIOGets), per(x.MinIOHeads)} {
					f[i] = append(f[i], v)
				}
			}
			r.Medians[w.Name][t.Name] = median{med(f[0]), med(f[1]), med(f[2]), med(f[3]), med(f[4]), med(f[5]), med(f[6]), med(f[7]), med(f[8])}
		}
	}
	ratio := func(w, t string, metric func(median) float64) float64 {
		d := metric(r.Medians[w]["direct"])
		if d == 0 {
			return 0
		}
		return metric(r.Medians[w][t]) / d
	}
	mb := func(m median) float64 { return m.MBPerSec }
	rps := func(m median) float64 { return m.ReqPerSec }
	for _, c := range []check{
		{Name: "raw ≥ 0.8× direct throughput, 1 stream", Ratio: ratio("stream1", "raw", mb), Want: 0.8},
		{Name: "raw ≥ 0.8× direct throughput, 4 streams", Ratio: ratio("stream4", "raw", mb), Want: 0.8},
		{Name: "cached ≥ 2× direct requests/s, repeated seeks", Ratio: ratio("seek", "cached", rps), Want: 2},
	} {
		c.Met = c.Ratio >= c.Want
		r.Checks = append(r.Checks, c)
	}
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
	p("- rangeserve: cache block 1 MiB, max %s, read-ahead 2; access log %s; GOMEMLIMIT %s\n\n", r.CacheMax, onOff(r.Access), limit)

	p("| workload | metric | direct (MinIO) | raw (rangeserve, no cache) | cached (rangeserve + cache) | raw/direct | cached/direct |\n")
	p("|---|---|---:|---:|---:|---:|---:|\n")
	for _, w := range r.Workloads {
		m := r.Medians[w.Name]
		d, rw, c := m["direct"], m["raw"], m["cached"]
		if w.Metric == "mb_per_s" {
			p("| %s | MB/s | %.0f | %.0f | %.0f | %s | %s |\n", w.Desc, d.MBPerSec, rw.MBPerSec, c.MBPerSec,
				ratioStr(rw.MBPerSec, d.MBPerSec), ratioStr(c.MBPerSec, d.MBPerSec))
			continue
		}
		p("| %s | req/s | %.0f | %.0f | %.0f | %s | %s |\n", w.Desc, d.ReqPerSec, rw.ReqPerSec, c.ReqPerSec,
			ratioStr(rw.ReqPerSec, d.ReqPerSec), ratioStr(c.ReqPerSec, d.ReqPerSec))
		p("| %s | p50 / p99 ms | %.2f / %.2f | %.2f / %.2f | %.2f / %.2f | | |\n", w.Desc,
			d.P50ms, d.P99ms, rw.P50ms, rw.P99ms, c.P50ms, c.P99ms)
	}

	p("\nTargets (issue 4):\n\n")
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
			m := r.Medians[w.Name][t.Name]
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
