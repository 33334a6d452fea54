package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

const (
	bucket    = "bench"
	objectKey = "big.bin"
	rangeLen  = 64 << 10
	// publicRead lets anonymous clients GET objects of the bucket, so that
	// the "direct" target is read with the same unsigned HTTP client as
	// rangeserve.
	publicRead = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":["*"]},"Action":["s3:GetObject"],"Resource":["arn:aws:s3:::bench/*"]}]}`
)

// target is one way of reading the object.
type target struct {
	Name string `json:"name"`
	URL  string `json:"url"`
	Desc string `json:"desc"`
	// Only, when set, names the workloads the target runs (the disk
	// tier's second viewer and the local mount stream only).
	Only []string `json:"only,omitempty"`
	srv  *proc    // the rangeserve serving it, for its CPU; nil for MinIO
}

func (t target) runs(w string) bool { return len(t.Only) == 0 || slices.Contains(t.Only, w) }

// workload is one kind of run.
type workload struct {
	Name   string `json:"name"`
	Desc   string `json:"desc"`
	Metric string `json:"metric"` // "mb_per_s" or "req_per_s"
	run    func(ctx context.Context, c *client, url string, round int) (measurement, error)
	conns  int
}

// run is one workload run against one target.
type run struct {
	Round    int    `json:"round"`
	Workload string `json:"workload"`
	Target   string `json:"target"`
	measurement
	// CPU seconds spent during the run by each process.
	CPUMinIO      float64 `json:"cpu_minio_s"`
	CPURangeserve float64 `json:"cpu_rangeserve_s"`
	CPUClient     float64 `json:"cpu_client_s"`
	// GetObject and HeadObject requests MinIO served during the run (from
	// its metrics); -1 when the metrics were not available.
	MinIOGets  float64 `json:"minio_gets"`
	MinIOHeads float64 `json:"minio_heads"`
	// MinIOSent is the bytes MinIO sent during the run (its S3 traffic,
	// headers included): what rangeserve fetched, or what the client read
	// directly; -1 when not available.
	MinIOSent float64 `json:"minio_sent_bytes"`
}

type config struct {
	minioBin, rsBin, work, out string
	size                       int64
	dur                        time.Duration
	rounds, conc, points       int
	seed                       uint64
	cacheMax                   string
	accessLog                  bool
	commit, mode               string
	timeout                    time.Duration
	strict                     bool
	rsMemLimit                 string
	diskCache                  string // memory cap of the disk-tier instance; "" skips it
}

func main() {
	var cfg config
	var sizeMiB int64
	flag.StringVar(&cfg.minioBin, "minio", "", "path of the minio binary (required)")
	flag.StringVar(&cfg.rsBin, "rangeserve", "", "path of the rangeserve binary (required)")
	flag.StringVar(&cfg.work, "work", "", "scratch directory (required; data and logs go here)")
	flag.StringVar(&cfg.out, "out", "bench/out", "directory for the JSON and Markdown results")
	flag.Int64Var(&sizeMiB, "size-mib", 1024, "object size in MiB")
	flag.DurationVar(&cfg.dur, "dur", 10*time.Second, "duration of each run")
	flag.IntVar(&cfg.rounds, "rounds", 3, "rounds (the report gives the median)")
	flag.IntVar(&cfg.conc, "conc", 16, "concurrency of the range workloads")
	flag.IntVar(&cfg.points, "points", 32, "seek points of the repeated-seek workload")
	flag.Uint64Var(&cfg.seed, "seed", 1, "seed of the object's bytes and of every workload")
	flag.StringVar(&cfg.cacheMax, "cache-max", "512MiB", "rangeserve cache.max_bytes")
	flag.BoolVar(&cfg.accessLog, "access-log", true, "rangeserve access log on (to a file in -work)")
	flag.StringVar(&cfg.commit, "commit", "", "source revision, for the report")
	flag.StringVar(&cfg.mode, "mode", "full", "label of the run mode, for the report")
	flag.DurationVar(&cfg.timeout, "timeout", 20*time.Minute, "give up after this long")
	flag.BoolVar(&cfg.strict, "strict", false, "exit 1 when a target is missed")
	flag.StringVar(&cfg.rsMemLimit, "rs-gomemlimit", "", "GOMEMLIMIT for rangeserve only (default: none)")
	flag.StringVar(&cfg.diskCache, "disk-cache-max", "64MiB", "memory cache of the second rangeserve, which has the disk tier and a local mount (\"\" skips it)")
	flag.Parse()
	cfg.size = sizeMiB << 20
	if cfg.minioBin == "" || cfg.rsBin == "" || cfg.work == "" || flag.NArg() > 0 || cfg.size < 2<<20 || cfg.rounds < 1 {
		flag.Usage()
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.timeout)
	ctx, stopSignals := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	code := 0
	if err := bench(ctx, cfg); err != nil {
		fmt.Fprintf(os.Stderr, "s3bench: %v\n", err)
		code = 1
		if errors.Is(err, errTargetMissed) {
			code = 3
		}
	}
	stopSignals()
	cancel()
	os.Exit(code)
}

var errTargetMissed = errors.New("a target was missed (-strict)")

func note(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "s3bench: %s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, a...)...)
}

func bench(ctx context.Context, cfg config) error {
	startTime := time.Now().UTC()
	loadStart := loadavg()
	if err := os.MkdirAll(cfg.out, 0o755); err != nil {
		return err
	}
	dataPath := filepath.Join(cfg.work, "big.bin")
	note("writing %d MiB of seeded random bytes to %s", cfg.size>>20, dataPath)
	sum, err := writeData(dataPath, cfg.size, cfg.seed)
	if err != nil {
		return err
	}
	src, err := os.Open(dataPath)
	if err != nil {
		return err
	}
	defer src.Close()

	// MinIO.
	mport, err := freePort()
	if err != nil {
		return err
	}
	cport, err := freePort()
	if err != nil {
		return err
	}
	endpoint := fmt.Sprintf("127.0.0.1:%d", mport)
	user, secret := "bench"+randHex(4), randHex(16)
	mn, err := startProc("minio", cfg.minioBin,
		[]string{"server", filepath.Join(cfg.work, "minio"), "--address", endpoint, "--console-address", fmt.Sprintf("127.0.0.1:%d", cport), "--quiet"},
		[]string{"MINIO_ROOT_USER=" + user, "MINIO_ROOT_PASSWORD=" + secret, "MINIO_PROMETHEUS_AUTH_TYPE=public", "MINIO_BROWSER=off"},
		filepath.Join(cfg.work, "minio.log"))
	if err != nil {
		return err
	}
	defer mn.stop()
	if err := mn.waitReady("http://"+endpoint+"/minio/health/live", 60*time.Second); err != nil {
		return err
	}
	note("MinIO ready at %s (pid %d)", endpoint, mn.pid())
	if err := upload(ctx, endpoint, user, secret, dataPath); err != nil {
		return err
	}

	// rangeserve.
	rport, err := freePort()
	if err != nil {
		return err
	}
	rsAddr := fmt.Sprintf("127.0.0.1:%d", rport)
	cfgPath := filepath.Join(cfg.work, "rangeserve.yaml")
	if err := os.WriteFile(cfgPath, []byte(rangeserveConfig(cfg, endpoint, user, secret)), 0o600); err != nil {
		return err
	}
	var rsEnv []string
	if cfg.rsMemLimit != "" {
		rsEnv = append(rsEnv, "GOMEMLIMIT="+cfg.rsMemLimit)
	}
	rs, err := startProc("rangeserve", cfg.rsBin, []string{"-config", cfgPath, "-listen", rsAddr}, rsEnv,
		filepath.Join(cfg.work, "rangeserve.log"))
	if err != nil {
		return err
	}
	defer rs.stop()
	if err := rs.waitReady("http://"+rsAddr+"/api/healthz", 30*time.Second); err != nil {
		return err
	}
	note("rangeserve ready at %s (pid %d)", rsAddr, rs.pid())

	targets := []target{
		{Name: "direct", URL: "http://" + endpoint + "/" + bucket + "/" + objectKey, Desc: "MinIO, anonymous GET on a public-read bucket"},
		{Name: "raw", URL: "http://" + rsAddr + "/raw/" + objectKey, Desc: "rangeserve s3 mount, cache: false", srv: rs},
		{Name: "cached", URL: "http://" + rsAddr + "/cached/" + objectKey, Desc: "rangeserve s3 mount, block cache " + cfg.cacheMax, srv: rs},
	}

	// The disk tier: a second rangeserve whose small memory cache sits on
	// a disk tier, and a local mount of the same file for comparison.
	if cfg.diskCache != "" {
		rs2, addr, err := startDiskInstance(ctx, cfg, endpoint, user, secret)
		if err != nil {
			return err
		}
		defer rs2.stop()
		only := []string{"stream1", "stream4"}
		targets = append(targets,
			target{Name: "disk", URL: "http://" + addr + "/s3/" + objectKey, Only: only, srv: rs2,
				Desc: "second rangeserve, s3 mount, block cache " + cfg.diskCache + " over the disk tier, after a first viewer"},
			target{Name: "local", URL: "http://" + addr + "/local/" + objectKey, Only: only, srv: rs2,
				Desc: "the same rangeserve, local mount of the same file"})
	}
	pts := seekPoints(cfg.size, cfg.points, cfg.seed)
	workloads := []workload{
		{Name: "stream1", Desc: "whole object, 1 stream", Metric: "mb_per_s", conns: 1,
			run: func(ctx context.Context, c *client, url string, _ int) (measurement, error) {
				return streams(ctx, c, url, 1, cfg.dur)
			}},
		{Name: "stream4", Desc: "whole object, 4 parallel streams", Metric: "mb_per_s", conns: 4,
			run: func(ctx context.Context, c *client, url string, _ int) (measurement, error) {
				return streams(ctx, c, url, 4, cfg.dur)
			}},
		{Name: "random", Desc: fmt.Sprintf("random 64 KiB ranges, %d concurrent", cfg.conc), Metric: "req_per_s", conns: cfg.conc,
			run: func(ctx context.Context, c *client, url string, round int) (measurement, error) {
				return ranges(ctx, c, url, cfg.conc, cfg.dur, cfg.seed+uint64(round), func() rangeGen { return randomRanges(cfg.size, rangeLen) })
			}},
		{Name: "seek", Desc: fmt.Sprintf("repeated seeks: %d points, 1-4 × 64-256 KiB after each, %d concurrent", cfg.points, cfg.conc), Metric: "req_per_s", conns: cfg.conc,
			run: func(ctx context.Context, c *client, url string, round int) (measurement, error) {
				return ranges(ctx, c, url, cfg.conc, cfg.dur, cfg.seed+1000+uint64(round), seekSessions(pts))
			}},
	}

	// Warm-up: every target once, the whole object checked by SHA-256, then
	// a second of each range workload (first responses byte-checked).
	var diskFill float64
	for _, t := range targets {
		c := newClient(cfg.conc, cfg.size, src)
		passes := 1
		if t.Name == "disk" {
			passes = 2 // the first viewer, then one more for segments the writer skipped
		}
		for range passes {
			got, err := c.sha256Whole(ctx, t.URL)
			if err != nil {
				return fmt.Errorf("warm-up %s: %w", t.Name, err)
			}
			if got != sum {
				return fmt.Errorf("warm-up %s: SHA-256 of the whole object %s, uploaded %s", t.Name, got, sum)
			}
		}
		if t.Name == "disk" {
			diskFill = waitDiskFill(filepath.Join(cfg.work, "disk"), cfg.size, 60*time.Second)
			note("warm-up disk: the disk tier holds %.0f%% of the object", 100*diskFill)
		}
		for _, w := range workloads[2:] {
			if !t.runs(w.Name) {
				continue
			}
			if _, err := ranges(ctx, c, t.URL, cfg.conc, time.Second, cfg.seed+999, map[string]func() rangeGen{
				"random": func() rangeGen { return randomRanges(cfg.size, rangeLen) },
				"seek":   seekSessions(pts),
			}[w.Name]); err != nil {
				return fmt.Errorf("warm-up %s %s: %w", t.Name, w.Name, err)
			}
		}
		c.close()
		note("warm-up %s: whole object SHA-256 matches, range workloads byte-checked", t.Name)
	}

	var runs []run
	for round := range cfg.rounds {
		k := round % len(targets)
		order := slices.Concat(targets[k:], targets[:k])
		for _, w := range workloads {
			for _, t := range order {
				if err := ctx.Err(); err != nil {
					return err
				}
				if !t.runs(w.Name) {
					continue
				}
				r, err := measure(ctx, cfg, mn, endpoint, src, round, w, t)
				if err != nil {
					return fmt.Errorf("round %d %s %s: %w", round+1, w.Name, t.Name, err)
				}
				note("round %d %-7s %-6s %9.1f req/s %8.1f MB/s p50 %6.2f ms p99 %6.2f ms  cpu minio %.1fs rs %.1fs client %.1fs  fetched/sent %.2f",
					round+1, w.Name, t.Name, r.ReqPerSec, r.MBPerSec, r.P50ms, r.P99ms, r.CPUMinIO, r.CPURangeserve, r.CPUClient, r.MinIOSent/float64(max(r.Bytes, 1)))
				runs = append(runs, r)
			}
		}
	}
	rss, hwm, err := rs.memKiB()
	if err != nil {
		return fmt.Errorf("rangeserve memory: %w", err)
	}

	rep := report{
		Date:     startTime.Format(time.RFC3339),
		Mode:     cfg.mode,
		Commit:   cfg.commit,
		Machine:  machine(),
		MinIO:    minioVersion(ctx, cfg.minioBin),
		Go:       runtime.Version(),
		SizeMiB:  cfg.size >> 20,
		Seconds:  cfg.dur.Seconds(),
		Rounds:   cfg.rounds,
		Conc:     cfg.conc,
		Points:   cfg.points,
		CacheMax: cfg.cacheMax,
		Access:   cfg.accessLog,
		MemLimit: cfg.rsMemLimit,
		Targets:  targets,
		Runs:     runs,
		RSSKiB:   rss,
		HWMKiB:   hwm,
		Elapsed:  time.Since(startTime).Round(time.Second).String(),
		LoadAvg:  loadStart + " at the start, " + loadavg() + " at the end",
		DiskMem:  cfg.diskCache,
		DiskFill: diskFill,
	}
	for _, w := range workloads {
		rep.Workloads = append(rep.Workloads, w)
	}
	rep.summarize()
	md := rep.markdown()
	fmt.Print(md)
	stamp := startTime.Format("20060102T150405Z")
	base := filepath.Join(cfg.out, "s3-"+stamp)
	js, _ := json.MarshalIndent(rep, "", "  ")
	if err := os.WriteFile(base+".json", append(js, '\n'), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(base+".md", []byte(md), 0o644); err != nil {
		return err
	}
	note("wrote %s.json and %s.md", base, base)
	if cfg.strict && !rep.allMet() {
		return errTargetMissed
	}
	return nil
}

// measure runs workload w against target t once, with the servers' CPU
// time and MinIO's request and traffic counters read around it.
func measure(ctx context.Context, cfg config, mn *proc, endpoint string, src *os.File, round int, w workload, t target) (run, error) {
	c := newClient(w.conns, cfg.size, src)
	defer c.close()
	m0, _ := mn.cpuSeconds()
	r0, _ := t.srv.cpuSeconds()
	s0 := selfCPUSeconds()
	g0, h0, b0, ok0 := minioCounts(ctx, endpoint)
	m, err := w.run(ctx, c, t.URL, round)
	if err != nil {
		return run{}, err
	}
	// Requests the client cut off at the deadline end on the servers a
	// moment later: let their bytes be counted in this run.
	time.Sleep(300 * time.Millisecond)
	g1, h1, b1, ok1 := minioCounts(ctx, endpoint)
	m1, _ := mn.cpuSeconds()
	r1, _ := t.srv.cpuSeconds()
	s1 := selfCPUSeconds()
	r := run{Round: round + 1, Workload: w.Name, Target: t.Name, measurement: m,
		CPUMinIO: m1 - m0, CPURangeserve: r1 - r0, CPUClient: s1 - s0,
		MinIOGets: -1, MinIOHeads: -1, MinIOSent: -1}
	if ok0 && ok1 {
		r.MinIOGets, r.MinIOHeads, r.MinIOSent = g1-g0, h1-h0, b1-b0
	}
	return r, nil
}

// startDiskInstance starts the second rangeserve: an s3 mount through a
// memory cache of cfg.diskCache over a disk tier in work/disk, and a
// local mount of work (where the object's file is).
func startDiskInstance(ctx context.Context, cfg config, endpoint, user, secret string) (*proc, string, error) {
	port, err := freePort()
	if err != nil {
		return nil, "", err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	yaml := fmt.Sprintf(`log: {access: %t}
cache: {max_bytes: %s, disk: {dir: %q, max_bytes: %d}}
mounts:
  - prefix: /s3/
    backend: s3
    auth: public
    s3: {endpoint: %q, bucket: %s, tls: false, path_style: true, access_key: %q, secret_key: %q, timeout: 30s}
  - prefix: /local/
    backend: local
    auth: public
    root: %q
`, cfg.accessLog, cfg.diskCache, filepath.Join(cfg.work, "disk"), 2*cfg.size+(64<<20), endpoint, bucket, user, secret, cfg.work)
	p := filepath.Join(cfg.work, "rangeserve-disk.yaml")
	if err := os.WriteFile(p, []byte(yaml), 0o600); err != nil {
		return nil, "", err
	}
	var env []string
	if cfg.rsMemLimit != "" {
		env = append(env, "GOMEMLIMIT="+cfg.rsMemLimit)
	}
	rs2, err := startProc("rangeserve-disk", cfg.rsBin, []string{"-config", p, "-listen", addr}, env,
		filepath.Join(cfg.work, "rangeserve-disk.log"))
	if err != nil {
		return nil, "", err
	}
	if err := rs2.waitReady("http://"+addr+"/api/healthz", 30*time.Second); err != nil {
		rs2.stop()
		return nil, "", err
	}
	note("rangeserve with the disk tier ready at %s (pid %d)", addr, rs2.pid())
	return rs2, addr, nil
}

// waitDiskFill waits until the files under dir stop growing (or hold size
// bytes) and returns their share of size.
func waitDiskFill(dir string, size int64, limit time.Duration) float64 {
	deadline := time.Now().Add(limit)
	var last int64 = -1
	for {
		var n int64
		filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() {
				if fi, err := d.Info(); err == nil {
					n += fi.Size()
				}
			}
			return nil
		})
		if n >= size || n == last || time.Now().After(deadline) {
			return float64(n) / float64(size)
		}
		last = n
		time.Sleep(500 * time.Millisecond)
	}
}

// writeData writes size bytes from a ChaCha8 stream seeded with seed and
// returns their SHA-256.
func writeData(path string, size int64, seed uint64) (string, error) {
	var key [32]byte
	for i := range 8 {
		key[i] = byte(seed >> (8 * i))
	}
	rng := mrand.NewChaCha8(key)
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	if _, err := io.CopyN(io.MultiWriter(f, h), rng, size); err != nil {
		f.Close()
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// upload creates the bucket, makes it public-read and uploads the object.
func upload(ctx context.Context, endpoint, user, secret, path string) error {
	mc, err := minio.New(endpoint, &minio.Options{Creds: credentials.NewStaticV4(user, secret, ""), Region: "us-east-1"})
	if err != nil {
		return err
	}
	if err := mc.MakeBucket(ctx, bucket, minio.MakeBucketOptions{Region: "us-east-1"}); err != nil {
		return fmt.Errorf("make bucket: %w", err)
	}
	if err := mc.SetBucketPolicy(ctx, bucket, publicRead); err != nil {
		return fmt.Errorf("set bucket policy: %w", err)
	}
	t0 := time.Now()
	info, err := mc.FPutObject(ctx, bucket, objectKey, path, minio.PutObjectOptions{
		ContentType: "application/octet-stream", PartSize: 64 << 20, NumThreads: 4})
	if err != nil {
		return fmt.Errorf("upload: %w", err)
	}
	note("uploaded %s/%s: %d bytes, ETag %s, in %s", bucket, objectKey, info.Size, info.ETag, time.Since(t0).Round(time.Millisecond))
	return nil
}

// rangeserveConfig is the configuration under test: two public mounts on
// the same bucket, without and with the block cache.
func rangeserveConfig(cfg config, endpoint, user, secret string) string {
	mount := func(prefix, extra string) string {
		return fmt.Sprintf(`  - prefix: %s
    backend: s3
    auth: public
    s3: {endpoint: %q, bucket: %s, tls: false, path_style: true, access_key: %q, secret_key: %q, timeout: 30s%s}
`, prefix, endpoint, bucket, user, secret, extra)
	}
	// The cache's block size and read-ahead are rangeserve's defaults.
	return fmt.Sprintf("log: {access: %t}\ncache: {max_bytes: %s}\nmounts:\n",
		cfg.accessLog, cfg.cacheMax) + mount("/raw/", ", cache: false") + mount("/cached/", "")
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// machine describes the host: CPU model, core count, memory, kernel.
func machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "model name"); ok {
				model = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	mem := ""
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kib int64
		if _, err := fmt.Sscanf(string(b), "MemTotal: %d kB", &kib); err == nil {
			mem = fmt.Sprintf(", %.0f GiB RAM", float64(kib)/(1<<20))
		}
	}
	kernel := ""
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		kernel = ", Linux " + strings.TrimSpace(string(b))
	}
	return fmt.Sprintf("%s, %d CPUs%s%s", model, runtime.NumCPU(), mem, kernel)
}

func minioVersion(ctx context.Context, bin string) string {
	out, err := exec.CommandContext(ctx, bin, "--version").Output()
	if err != nil {
		return "unknown"
	}
	first, _, _ := strings.Cut(string(out), "\n")
	return strings.TrimSpace(first)
}

// loadavg returns the 1, 5 and 15 minute load averages: other work on the
// machine shows there.
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
