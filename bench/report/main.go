package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
)

// servers in table order, with their display names. nginx_ofc is nginx
// with open_file_cache (issue 14: compared as an operator tunes it).
var servers = []string{"rangeserve", "nginx", "nginx_ofc", "fileserver"}

var display = map[string]string{
	"rangeserve": "rangeserve",
	"nginx":      "nginx",
	"nginx_ofc":  "nginx + open_file_cache",
	"fileserver": "http.FileServer",
}

// short names the servers in ratio columns and target texts.
var short = map[string]string{
	"nginx":      "nginx",
	"nginx_ofc":  "nginx+ofc",
	"fileserver": "FileServer",
}

// sample is one run of one test against one server: raw key → value.
type sample map[string]float64

// data is test → server → round → sample.
type data map[string]map[string]map[int]sample

// target is one of issue 14's targets attached to a row.
type target struct {
	// Vs is "nginx", "nginx_ofc" or "fileserver" (rangeserve's ratio to
	// that server),
	// "abs" (rangeserve's own figure) or "row:ID" (rangeserve's figure
	// divided by its figure in row ID, checked as max/min of the two).
	Vs    string  `json:"vs"`
	Op    string  `json:"op"` // "at_least" or "at_most"
	Bound float64 `json:"bound"`
	Text  string  `json:"text"`
	Value float64 `json:"-"`
	Met   bool    `json:"met"`
}

// row is one line of the table.
type row struct {
	ID      string               `json:"id"`
	Test    string               `json:"test"`
	Label   string               `json:"label"`
	Unit    string               `json:"unit"`
	Better  string               `json:"better"` // "higher" or "lower"
	Median  map[string]float64   `json:"-"`
	Rounds  map[string][]float64 `json:"-"`
	Ratio   map[string]float64   `json:"-"` // rangeserve / server
	Targets []*target            `json:"targets"`
	derive  func(s sample) (float64, bool)
}

type report struct {
	Meta         map[string]string `json:"meta"`
	Rows         []*row            `json:"rows"`
	TargetsMet   int               `json:"targets_met"`
	TargetsTotal int               `json:"targets_total"`
	Clean        bool              `json:"clean"`
	Problems     []string          `json:"problems"`
}

func main() {
	rawPath := flag.String("raw", "", "raw measurements (TSV)")
	metaPath := flag.String("meta", "", "run description (key=value lines)")
	jsonPath := flag.String("json", "", "write the JSON report here")
	strict := flag.Bool("strict", false, "exit 3 when a target is missed")
	flag.Parse()
	if *rawPath == "" || *metaPath == "" || *jsonPath == "" {
		fmt.Fprintln(os.Stderr, "usage: report -raw RAW.tsv -meta META.txt -json OUT.json")
		os.Exit(2)
	}
	meta, err := readMeta(*metaPath)
	if err != nil {
		fatal(err)
	}
	d, err := readRaw(*rawPath)
	if err != nil {
		fatal(err)
	}
	tck, err := strconv.ParseFloat(meta["clk_tck"], 64)
	if err != nil || tck <= 0 {
		fatal(fmt.Errorf("%s: clk_tck=%q is not a positive number", *metaPath, meta["clk_tck"]))
	}
	rep := build(d, meta, tck)
	fmt.Print(markdown(rep))
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		fatal(err)
	}
	if err := os.WriteFile(*jsonPath, append(b, '\n'), 0o644); err != nil {
		fatal(err)
	}
	if !rep.Clean {
		os.Exit(1)
	}
	if *strict && rep.TargetsMet < rep.TargetsTotal {
		os.Exit(3)
	}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "report:", err)
	os.Exit(2)
}

func readMeta(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	m := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if ok {
			m[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return m, sc.Err()
}

func readRaw(path string) (data, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	d := data{}
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		fs := strings.Fields(sc.Text())
		if len(fs) == 0 {
			continue
		}
		if len(fs) != 5 {
			return nil, fmt.Errorf("%s:%d: want 5 fields (test server round key value), got %q", path, line, sc.Text())
		}
		round, err1 := strconv.Atoi(fs[2])
		v, err2 := strconv.ParseFloat(fs[4], 64)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("%s:%d: bad round or value in %q", path, line, sc.Text())
		}
		if d[fs[0]] == nil {
			d[fs[0]] = map[string]map[int]sample{}
		}
		if d[fs[0]][fs[1]] == nil {
			d[fs[0]][fs[1]] = map[int]sample{}
		}
		if d[fs[0]][fs[1]][round] == nil {
			d[fs[0]][fs[1]][round] = sample{}
		}
		d[fs[0]][fs[1]][round][fs[3]] = v
	}
	return d, sc.Err()
}

func build(d data, meta map[string]string, tck float64) *report {
	const mb, gb = 1e6, 1e9
	ratio := func(num, den string) func(s sample) (float64, bool) {
		return func(s sample) (float64, bool) {
			n, ok1 := s[num]
			m, ok2 := s[den]
			return n / m, ok1 && ok2 && m > 0
		}
	}
	mbps := func(s sample) (float64, bool) {
		v, ok := ratio("bytes", "seconds")(s)
		return v / mb, ok
	}
	cpuPerGB := func(s sample) (float64, bool) {
		t, ok1 := s["cpu_ticks"]
		b, ok2 := s["bytes"]
		return (t / tck) / (b / gb), ok1 && ok2 && b > 0
	}
	rps := func(s sample) (float64, bool) {
		v, ok := ratio("requests", "duration_us")(s)
		return v * 1e6, ok
	}
	field := func(k string, scale float64) func(s sample) (float64, bool) {
		return func(s sample) (float64, bool) { v, ok := s[k]; return v * scale, ok }
	}
	ge := func(vs string, b float64, text string) *target {
		return &target{Vs: vs, Op: "at_least", Bound: b, Text: text}
	}
	le := func(vs string, b float64, text string) *target {
		return &target{Vs: vs, Op: "at_most", Bound: b, Text: text}
	}
	big, mid := meta["big_label"], meta["mid_label"]
	// vsNginx is a target against both nginx targets: issue 14 compares
	// with nginx as shipped and as an operator tunes it.
	vsNginx := func(mk func(vs string, b float64, text string) *target, b float64, op string) []*target {
		return []*target{
			mk("nginx", b, fmt.Sprintf("%s %.1f× nginx", op, b)),
			mk("nginx_ofc", b, fmt.Sprintf("%s %.1f× nginx+ofc", op, b)),
		}
	}
	rows := []*row{
		{ID: "1.mbps", Test: "stream", Label: "1. one stream of " + big, Unit: "MB/s", Better: "higher", derive: mbps,
			Targets: vsNginx(ge, 1.0, "≥")},
		{ID: "1.cpu", Test: "stream", Label: "1. CPU per GB", Unit: "CPU s/GB", Better: "lower", derive: cpuPerGB,
			Targets: vsNginx(le, 1.0, "≤")},
		{ID: "2.mbps", Test: "parallel", Label: "2. 16 downloads of " + mid, Unit: "MB/s", Better: "higher", derive: mbps,
			Targets: vsNginx(ge, 1.0, "≥")},
		{ID: "2.cpu", Test: "parallel", Label: "2. CPU per GB", Unit: "CPU s/GB", Better: "lower", derive: cpuPerGB,
			Targets: vsNginx(le, 1.0, "≤")},
		{ID: "2.rss", Test: "parallel", Label: "2. peak RSS during the 16 downloads", Unit: "MiB", Better: "lower",
			derive: field("rss_peak_kb", 1.0/1024), Targets: vsNginx(le, 1.2, "≤")},
		{ID: "3.rps", Test: "ranges", Label: "3. 64 KiB ranges of " + big + ", 64 conns", Unit: "req/s", Better: "higher", derive: rps,
			Targets: vsNginx(ge, 1.0, "≥")},
		{ID: "3.p99", Test: "ranges", Label: "3. p99 latency", Unit: "ms", Better: "lower", derive: field("p99_us", 1e-3)},
		{ID: "3.cpu", Test: "ranges", Label: "3. CPU per GB", Unit: "CPU s/GB", Better: "lower", derive: cpuPerGB},
		{ID: "4.rps", Test: "small", Label: "4. 64 KiB file, 64 conns", Unit: "req/s", Better: "higher", derive: rps,
			Targets: vsNginx(ge, 0.8, "≥")},
		{ID: "4.p99", Test: "small", Label: "4. p99 latency", Unit: "ms", Better: "lower", derive: field("p99_us", 1e-3)},
		{ID: "4.cpu", Test: "small", Label: "4. CPU per GB", Unit: "CPU s/GB", Better: "lower", derive: cpuPerGB},
		{ID: "5.big", Test: "slow_big", Label: "5. RSS, " + meta["slow_n"] + " slow readers of " + big, Unit: "MiB", Better: "lower",
			derive:  field("rss_peak_kb", 1.0/1024),
			Targets: []*target{le("abs", 100, "≤ 100 MiB")}},
		{ID: "5.mid", Test: "slow_mid", Label: "5. RSS, " + meta["slow_n"] + " slow readers of " + mid, Unit: "MiB", Better: "lower",
			derive:  field("rss_peak_kb", 1.0/1024),
			Targets: []*target{le("abs", 100, "≤ 100 MiB"), le("row:5.big", 1.10, "within 10% of the "+big+" figure")}},
	}
	rep := &report{Meta: meta, Rows: rows, Clean: true}
	byID := map[string]*row{}
	for _, r := range rows {
		byID[r.ID] = r
		r.Median = map[string]float64{}
		r.Rounds = map[string][]float64{}
		for _, srv := range servers {
			rounds := d[r.Test][srv]
			keys := make([]int, 0, len(rounds))
			for k := range rounds {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			var vs []float64
			for _, k := range keys {
				if v, ok := r.derive(rounds[k]); ok && !math.IsNaN(v) && !math.IsInf(v, 0) {
					vs = append(vs, v)
				}
			}
			r.Rounds[srv] = vs
			r.Median[srv] = median(vs)
		}
		r.Ratio = map[string]float64{}
		for _, srv := range servers[1:] {
			r.Ratio[srv] = div(r.Median["rangeserve"], r.Median[srv])
		}
	}
	for _, r := range rows {
		for _, t := range r.Targets {
			switch {
			case short[t.Vs] != "":
				t.Value = r.Ratio[t.Vs]
			case t.Vs == "abs":
				t.Value = r.Median["rangeserve"]
			case strings.HasPrefix(t.Vs, "row:"):
				a, b := r.Median["rangeserve"], byID[strings.TrimPrefix(t.Vs, "row:")].Median["rangeserve"]
				t.Value = div(math.Max(a, b), math.Min(a, b))
			}
			switch t.Op {
			case "at_least":
				t.Met = t.Value >= t.Bound
			case "at_most":
				t.Met = t.Value <= t.Bound
			}
			if math.IsNaN(t.Value) {
				t.Met = false
			}
			rep.TargetsTotal++
			if t.Met {
				rep.TargetsMet++
			}
		}
	}
	// A run is clean when every response had the expected status, no
	// socket errored, every slow reader got its 200, and every server has
	// every measurement.
	for _, test := range []string{"stream", "parallel", "ranges", "small", "slow_big", "slow_mid"} {
		for _, srv := range servers {
			rounds := d[test][srv]
			if len(rounds) == 0 {
				rep.Problems = append(rep.Problems, fmt.Sprintf("%s: no measurement for %s", test, display[srv]))
			}
			for k, s := range rounds {
				for _, key := range []string{"unexpected", "errors", "failed"} {
					if s[key] > 0 {
						rep.Problems = append(rep.Problems, fmt.Sprintf("%s round %d, %s: %s=%g", test, k, display[srv], key, s[key]))
					}
				}
			}
		}
	}
	slices.Sort(rep.Problems)
	rep.Clean = len(rep.Problems) == 0
	return rep
}

// jsonNum is a float that encodes NaN (a missing figure) as null.
type jsonNum float64

func (v jsonNum) MarshalJSON() ([]byte, error) {
	if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
		return []byte("null"), nil
	}
	return strconv.AppendFloat(nil, float64(v), 'g', 6, 64), nil
}

// MarshalJSON adds the figures, which may be NaN, as jsonNum.
func (r *row) MarshalJSON() ([]byte, error) {
	type plain row
	med := map[string]jsonNum{}
	ratio := map[string]jsonNum{}
	rounds := map[string][]jsonNum{}
	for k, v := range r.Ratio {
		ratio[k] = jsonNum(v)
	}
	for k, v := range r.Median {
		med[k] = jsonNum(v)
	}
	for k, vs := range r.Rounds {
		rounds[k] = []jsonNum{}
		for _, v := range vs {
			rounds[k] = append(rounds[k], jsonNum(v))
		}
	}
	return json.Marshal(struct {
		*plain
		Median map[string]jsonNum   `json:"median"`
		Rounds map[string][]jsonNum `json:"rounds"`
		Ratio  map[string]jsonNum   `json:"ratio"` // rangeserve / server
	}{(*plain)(r), med, rounds, ratio})
}

// MarshalJSON adds the checked value, which may be NaN, as jsonNum.
func (t *target) MarshalJSON() ([]byte, error) {
	type plain target
	return json.Marshal(struct {
		*plain
		Value jsonNum `json:"value"`
	}{(*plain)(t), jsonNum(t.Value)})
}

func median(vs []float64) float64 {
	if len(vs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func div(a, b float64) float64 {
	if b == 0 || math.IsNaN(a) || math.IsNaN(b) {
		return math.NaN()
	}
	return a / b
}

func num(v float64) string {
	switch {
	case math.IsNaN(v):
		return "–"
	case math.Abs(v) >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case math.Abs(v) >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	default:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
}

func markdown(rep *report) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\nrangeserve benchmark, %s, %s rounds (median), %s; load average %s at the start, %s at the end\n\n",
		rep.Meta["date"], rep.Meta["rounds"], rep.Meta["mode"], rep.Meta["loadavg_start"], rep.Meta["loadavg_end"])
	b.WriteString("| measurement | unit |")
	for _, srv := range servers {
		b.WriteString(" " + display[srv] + " |")
	}
	for _, srv := range servers[1:] {
		b.WriteString(" rs / " + short[srv] + " |")
	}
	b.WriteString(" target | met |\n|---|---|")
	b.WriteString(strings.Repeat("--:|", 2*len(servers)-1))
	b.WriteString("---|---|\n")
	for _, r := range rep.Rows {
		var ts, ms []string
		for _, t := range r.Targets {
			ts = append(ts, t.Text)
			if t.Met {
				ms = append(ms, "yes")
			} else {
				ms = append(ms, fmt.Sprintf("**no** (%s)", num(t.Value)))
			}
		}
		fmt.Fprintf(&b, "| %s | %s |", r.Label, r.Unit)
		for _, srv := range servers {
			fmt.Fprintf(&b, " %s |", num(r.Median[srv]))
		}
		for _, srv := range servers[1:] {
			fmt.Fprintf(&b, " %s |", num(r.Ratio[srv]))
		}
		fmt.Fprintf(&b, " %s | %s |\n", strings.Join(ts, "; "), strings.Join(ms, "; "))
	}
	fmt.Fprintf(&b, "\nTargets met: %d of %d.", rep.TargetsMet, rep.TargetsTotal)
	if rep.Clean {
		b.WriteString(" Every response had the expected status; no socket errors.\n")
	} else {
		b.WriteString("\n\nThe run was NOT clean:\n")
		for _, p := range rep.Problems {
			fmt.Fprintf(&b, "- %s\n", p)
		}
	}
	return b.String()
}
