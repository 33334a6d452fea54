package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rangeserve/rangeserve/internal/testenv"
)

// metricSeries names one series: a metric name and its labels.
func metricSeries(name string, labels ...string) string {
	var pairs []string
	for i := 0; i+1 < len(labels); i += 2 {
		pairs = append(pairs, labels[i]+"="+strconv.Quote(labels[i+1]))
	}
	sort.Strings(pairs)
	if len(pairs) == 0 {
		return name
	}
	return name + "{" + strings.Join(pairs, ",") + "}"
}

// scrapeMetrics GETs a /metrics URL and returns every sample by series.
func scrapeMetrics(t *testing.T, c *http.Client, url string) map[string]float64 {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

// fetchAll GETs u with optional headers and returns status, headers and
// body.
func fetchAll(t *testing.T, c *http.Client, method, u string, h map[string]string) (int, http.Header, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, u, nil)
	for k, v := range h {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	return resp.StatusCode, resp.Header, b
}

func hexSum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// TestMetricsAndHealth sends known requests to the binary and checks that
// /metrics moved by exactly what was sent: requests by mount, method,
// status and strategy, body bytes, time-to-first-byte counts, storage
// opens (refused requests never reach storage), link verifications by
// outcome; and that /healthz, /readyz and /api/healthz answer.
func TestMetricsAndHealth(t *testing.T) {
	dir := t.TempDir()
	path := randomFile(t, dir, "a.bin", 100_000)
	data, _ := os.ReadFile(path)
	cfg := fmt.Sprintf(`
auth:
  keys:
    - {id: k1, secret: %q}
  clock_skew: 0s
mounts:
  - {prefix: /pub/, backend: local, root: %q, auth: public}
  - {prefix: /sig/, backend: local, root: %q, auth: signed, nested_in: [/pub/]}
`, testSecret, dir, dir)
	p := startBinary(t, cfg)
	c := http.DefaultClient
	expired := signCLI(t, cfg, p.URL, "-ttl", "1s", "/sig/a.bin")
	link := signCLI(t, cfg, p.URL, "-ttl", "1h", "/sig/a.bin")
	before := scrapeMetrics(t, c, p.URL+"/metrics")
	want := map[string]float64{}
	req := func(mount, method, u string, h map[string]string, status int, strategy string) {
		t.Helper()
		got, _, body := fetchAll(t, c, method, u, h)
		if got != status {
			t.Fatalf("%s %s: %d, want %d", method, u, got, status)
		}
		want[metricSeries("rangeserve_http_requests_total", "mount", mount, "method", method, "status", strconv.Itoa(status), "strategy", strategy)]++
		want[metricSeries("rangeserve_http_time_to_first_byte_seconds_count", "mount", mount, "strategy", strategy)]++
		want[metricSeries("rangeserve_http_request_duration_seconds_count", "mount", mount, "strategy", strategy)]++
		if len(body) > 0 {
			want[metricSeries("rangeserve_http_response_bytes_total", "mount", mount, "strategy", strategy)] += float64(len(body))
		}
	}
	req("/pub/", "GET", p.URL+"/pub/a.bin", nil, 200, "serve")
	req("/pub/", "GET", p.URL+"/pub/a.bin", map[string]string{"Range": "bytes=0-99"}, 206, "serve")
	req("/pub/", "HEAD", p.URL+"/pub/a.bin", nil, 200, "serve")
	req("/pub/", "GET", p.URL+"/pub/missing.bin", nil, 404, "none")
	req("/sig/", "GET", link, nil, 200, "serve")
	req("/sig/", "GET", tamper(link), nil, 403, "none")
	time.Sleep(2100 * time.Millisecond) // exp is whole seconds, rounded up
	req("/sig/", "GET", expired, nil, 403, "none")
	req("/sig/", "GET", p.URL+"/sig/a.bin", nil, 403, "none") // no link: not a verification
	for k, v := range map[string]float64{
		metricSeries("rangeserve_link_verifications_total", "outcome", "ok"):            1,
		metricSeries("rangeserve_link_verifications_total", "outcome", "bad_signature"): 1,
		metricSeries("rangeserve_link_verifications_total", "outcome", "expired"):       1,
		// media opens once per request that reaches it; the refused
		// ones never touch storage.
		metricSeries("rangeserve_storage_operations_total", "backend", "/pub/", "op", "open"):                            4,
		metricSeries("rangeserve_storage_operation_errors_total", "backend", "/pub/", "op", "open", "kind", "not_found"): 1,
		metricSeries("rangeserve_storage_operations_total", "backend", "/sig/", "op", "open"):                            1,
	} {
		want[k] = v
	}
	after := scrapeMetrics(t, c, p.URL+"/metrics")
	for k, v := range want {
		if d := after[k] - before[k]; d != v {
			t.Errorf("%s moved by %v, want %v", k, d, v)
		}
	}
	for k, v := range after {
		if strings.HasPrefix(k, "rangeserve_http_requests_total") && v != before[k] && want[k] == 0 {
			t.Errorf("%s moved by %v unexpectedly", k, v-before[k])
		}
	}
	if after[metricSeries("rangeserve_http_streams_active", "mount", "/pub/")] != 0 {
		t.Errorf("streams_active{/pub/} = %v after the requests", after[metricSeries("rangeserve_http_streams_active", "mount", "/pub/")])
	}
	if _, ok := after["rangeserve_cache_bytes"]; !ok {
		t.Errorf("no cache metrics")
	}
	if _, ok := after["process_open_fds"]; !ok {
		t.Errorf("no process metrics")
	}
	if hexSum(data) == "" {
		t.Fatal("unreachable")
	}

	for _, tt := range []struct {
		path   string
		status int
		body   []string
	}{
		{"/healthz", 200, []string{"ok"}},
		{"/readyz", 200, []string{"ready", "mount /pub/ ok", "mount /sig/ ok"}},
		{"/api/healthz", 200, []string{"ok"}},
	} {
		status, _, body := fetchAll(t, c, "GET", p.URL+tt.path, nil)
		if status != tt.status {
			t.Errorf("GET %s: %d, want %d", tt.path, status, tt.status)
		}
		for _, s := range tt.body {
			if !strings.Contains(string(body), s) {
				t.Errorf("GET %s: body %q lacks %q", tt.path, body, s)
			}
		}
	}
	// A root that disappears makes the node unready, not dead.
	if err := os.Rename(dir, dir+".gone"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond) // the last result is reused for 1s
	if status, _, body := fetchAll(t, c, "GET", p.URL+"/readyz", nil); status != 503 || !strings.Contains(string(body), "mount /pub/ failed") {
		t.Errorf("/readyz with the root gone: %d %q, want 503 naming the mount", status, body)
	}
	if status, _, _ := fetchAll(t, c, "GET", p.URL+"/healthz", nil); status != 200 {
		t.Errorf("/healthz with the root gone: %d, want 200", status)
	}
	if logs := p.loggedLines(); !strings.Contains(logs, "probe failed") {
		t.Errorf("no log line for the failing probe:\n%s", logs)
	}
}

// tamper changes one character inside a link's signature (not the last,
// whose low bits base64 may ignore).
func tamper(link string) string {
	i := len(link) - 10
	c := byte('A')
	if link[i] == 'A' {
		c = 'B'
	}
	return link[:i] + string(c) + link[i+1:]
}

// TestMetricsListener: metrics.listen moves /metrics to a listener of its
// own; metrics.enabled: false removes it.
func TestMetricsListener(t *testing.T) {
	dir := t.TempDir()
	randomFile(t, dir, "a.bin", 1000)
	private := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	p := startBinary(t, fmt.Sprintf("metrics:\n  listen: %s\n", private)+localConfig(dir))
	fetchAll(t, http.DefaultClient, "GET", p.URL+"/a.bin", nil)
	if status, _, _ := fetchAll(t, http.DefaultClient, "GET", p.URL+"/metrics", nil); status != 404 {
		t.Errorf("/metrics on the public listener with metrics.listen set: %d, want 404", status)
	}
	m := scrapeMetrics(t, http.DefaultClient, "http://"+private+"/metrics")
	if m[metricSeries("rangeserve_http_requests_total", "mount", "/", "method", "GET", "status", "200", "strategy", "serve")] != 1 {
		t.Errorf("the metrics listener does not count the request")
	}
	if status, _, _ := fetchAll(t, http.DefaultClient, "GET", "http://"+private+"/readyz", nil); status != 200 {
		t.Errorf("/readyz on the metrics listener: %d", status)
	}

	q := startBinary(t, "metrics:\n  enabled: false\n"+localConfig(dir))
	if status, _, _ := fetchAll(t, http.DefaultClient, "GET", q.URL+"/metrics", nil); status != 404 {
		t.Errorf("/metrics with metrics.enabled false: %d, want 404", status)
	}
	if status, _, _ := fetchAll(t, http.DefaultClient, "GET", q.URL+"/a.bin", nil); status != 200 {
		t.Errorf("a file with metrics off: %d", status)
	}
}

// openStream starts a GET and returns the response with its body unread.
func openStream(t *testing.T, u string) *http.Response {
	t.Helper()
	tr := &http.Transport{DisableKeepAlives: true}
	resp, err := (&http.Client{Transport: tr}).Get(u)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// TestStreamCapsAndRate: with max_streams_per_client 2 and a connection
// rate of 64 KiB/s, a third stream from one address gets 429 with
// Retry-After while two run; when one ends, a new one is admitted; the
// rate holds a download to it.
func TestStreamCapsAndRate(t *testing.T) {
	dir := t.TempDir()
	randomFile(t, dir, "big.bin", 1<<20)
	small := randomFile(t, dir, "small.bin", 192<<10)
	smallData, _ := os.ReadFile(small)
	p := startBinary(t, `
server:
  max_streams_per_client: 2
  retry_after: 3s
  conn_rate: 64KiB
`+localConfig(dir))
	s1 := openStream(t, p.URL+"/big.bin")
	s2 := openStream(t, p.URL+"/big.bin")
	status, hdr, body := fetchAll(t, http.DefaultClient, "GET", p.URL+"/small.bin", nil)
	if status != 429 || hdr.Get("Retry-After") != "3" || !strings.Contains(string(body), "2 streams from your address") {
		t.Fatalf("third stream: %d Retry-After=%q %q; want 429, 3, a body naming the cap", status, hdr.Get("Retry-After"), body)
	}
	s1.Body.Close()
	deadline := time.Now().Add(10 * time.Second)
	var took time.Duration
	for {
		start := time.Now()
		status, _, body = fetchAll(t, http.DefaultClient, "GET", p.URL+"/small.bin", nil)
		took = time.Since(start)
		if status == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no stream admitted 10s after one of two ended: %d", status)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if hexSum(body) != hexSum(smallData) {
		t.Errorf("small.bin: wrong bytes")
	}
	// 192 KiB at 64 KiB/s, less the first 16 KiB burst: at least 2.75s.
	if took < 2500*time.Millisecond {
		t.Errorf("192 KiB at conn_rate 64KiB took %v, want at least 2.75s", took)
	}
	s2.Body.Close()
	m := scrapeMetrics(t, http.DefaultClient, p.URL+"/metrics")
	if m[metricSeries("rangeserve_http_requests_total", "mount", "/", "method", "GET", "status", "429", "strategy", "none")] < 1 {
		t.Errorf("the 429 is not counted")
	}
	if logs := p.loggedLines(); !strings.Contains(logs, "stream refused: 429") {
		t.Errorf("no log line for the refusal:\n%s", logs)
	}
}

// TestSIGHUPReload: a stream in flight when the configuration is reloaded
// finishes whole on the old configuration (whose mount the new one
// removes); new requests see the new mounts; a configuration that does
// not parse, or does not start, is refused with a log line and the one in
// force keeps serving.
func TestSIGHUPReload(t *testing.T) {
	dirA, dirB := t.TempDir(), t.TempDir()
	bigPath := randomFile(t, dirA, "big.bin", 1<<20)
	big, _ := os.ReadFile(bigPath)
	newPath := randomFile(t, dirB, "new.bin", 1000)
	newData, _ := os.ReadFile(newPath)
	cfgA := fmt.Sprintf("server:\n  conn_rate: 256KiB\nmounts:\n  - {prefix: /a/, backend: local, root: %q, auth: public}\n", dirA)
	cfgB := fmt.Sprintf("mounts:\n  - {prefix: /b/, backend: local, root: %q, auth: public}\n", dirB)
	p := startBinary(t, cfgA)
	type result struct {
		body []byte
		err  error
	}
	done := make(chan result, 1)
	resp := openStream(t, p.URL+"/a/big.bin")
	go func() {
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		done <- result{b, err}
	}()
	time.Sleep(500 * time.Millisecond)
	hup := func(config string) {
		t.Helper()
		if err := os.WriteFile(p.config, []byte(config), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
	}
	hup(cfgB)
	waitFor(t, 10*time.Second, "the new mount after SIGHUP", func() bool {
		status, _, body := fetchAll(t, http.DefaultClient, "GET", p.URL+"/b/new.bin", nil)
		return status == 200 && bytes.Equal(body, newData)
	})
	if status, _, _ := fetchAll(t, http.DefaultClient, "GET", p.URL+"/a/big.bin", nil); status != 404 {
		t.Errorf("the removed mount after SIGHUP: %d, want 404", status)
	}
	select {
	case r := <-done:
		if r.err != nil || !bytes.Equal(r.body, big) {
			t.Fatalf("the stream in flight during the reload: %d bytes, %v; want all %d", len(r.body), r.err, len(big))
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the stream in flight did not finish within 20s")
	}
	logs := p.loggedLines()
	if !strings.Contains(logs, "configuration reloaded") || !strings.Contains(logs, "streams_on_previous=1") {
		t.Errorf("no reload line counting the stream in flight:\n%s", logs)
	}

	for _, bad := range []struct{ config, log string }{
		{"mounts: [\n", "reload refused: the configuration does not load"},
		{"mounts:\n  - {prefix: /b/, backend: local, root: /nonexistent/rangeserve, auth: public}\n", "reload refused: the new configuration does not start"},
	} {
		hup(bad.config)
		waitFor(t, 10*time.Second, "the refusal line", func() bool { return strings.Contains(p.logs.String(), bad.log) })
		if status, _, body := fetchAll(t, http.DefaultClient, "GET", p.URL+"/b/new.bin", nil); status != 200 || !bytes.Equal(body, newData) {
			t.Errorf("after a refused reload (%s): %d, want the old configuration serving", bad.log, status)
		}
	}
	if err := p.stop(t); err != nil {
		t.Errorf("exit after SIGTERM: %v", err)
	}
}

// waitFor polls cond until it holds, failing the test after timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestSIGTERMDrain: 20 downloads run when SIGTERM comes. During
// drain_delay /readyz answers 503 and /healthz 200; then the downloads
// that finish within shutdown_timeout are whole, the others are cut
// (never complete), and each cut one resumes with a Range request against
// a restarted server to the right sha256.
func TestSIGTERMDrain(t *testing.T) {
	testenv.Short(t, "a 20-download drain")
	dir := t.TempDir()
	files := map[string][]byte{}
	var names []string
	for i := range 20 {
		size := int64(256 << 10) // 0.25s at 1 MiB/s: done within the deadline
		if i%2 == 1 {
			size = 16 << 20 // 16s: cut
		}
		name := fmt.Sprintf("f%02d.bin", i)
		b, _ := os.ReadFile(randomFile(t, dir, name, size))
		files[name] = b
		names = append(names, name)
	}
	p := startBinary(t, "server:\n  conn_rate: 1MiB\n  drain_delay: 1s\n  shutdown_timeout: 3s\n"+localConfig(dir))
	type result struct {
		name string
		body []byte
		err  error
	}
	results := make(chan result, len(names))
	var started sync.WaitGroup
	for _, name := range names {
		started.Add(1)
		go func() {
			resp := openStream(t, p.URL+"/"+name)
			started.Done()
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			results <- result{name, b, err}
		}()
	}
	started.Wait()
	time.Sleep(200 * time.Millisecond)
	sigterm := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if status, _, body := fetchAll(t, http.DefaultClient, "GET", p.URL+"/readyz", nil); status != 503 || string(body) != "draining\n" {
		t.Errorf("/readyz during the drain delay: %d %q, want 503 draining", status, body)
	}
	if status, _, _ := fetchAll(t, http.DefaultClient, "GET", p.URL+"/healthz", nil); status != 200 {
		t.Errorf("/healthz during the drain delay: %d, want 200", status)
	}
	select {
	case err := <-p.done:
		p.done <- err
		if err != nil {
			t.Errorf("exit after SIGTERM: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("still running 15s after SIGTERM with drain_delay 1s and shutdown_timeout 3s")
	}
	if el := time.Since(sigterm); el < 4*time.Second {
		t.Errorf("exited %v after SIGTERM: before drain_delay + shutdown_timeout while downloads ran", el)
	}
	q := startBinary(t, localConfig(dir))
	var whole, cut int
	for range names {
		r := <-results
		want := files[r.name]
		if !bytes.Equal(r.body, want[:min(len(r.body), len(want))]) {
			t.Errorf("%s: the bytes received are not the file's", r.name)
			continue
		}
		if r.err == nil {
			if len(r.body) != len(want) {
				t.Errorf("%s: reported complete with %d of %d bytes", r.name, len(r.body), len(want))
			}
			whole++
			continue
		}
		cut++
		if len(r.body) >= len(want) {
			t.Errorf("%s: an error (%v) after every byte", r.name, r.err)
		}
		status, hdr, rest := fetchAll(t, http.DefaultClient, "GET", q.URL+"/"+r.name, map[string]string{"Range": fmt.Sprintf("bytes=%d-", len(r.body))})
		if status != 206 || hdr.Get("Content-Range") != fmt.Sprintf("bytes %d-%d/%d", len(r.body), len(want)-1, len(want)) {
			t.Errorf("%s: resume: %d %q", r.name, status, hdr.Get("Content-Range"))
		}
		if got := hexSum(append(r.body, rest...)); got != hexSum(want) {
			t.Errorf("%s: resumed file sha256 %s, want %s", r.name, got, hexSum(want))
		}
	}
	if whole != 10 || cut != 10 {
		t.Errorf("%d downloads whole and %d cut, want 10 and 10", whole, cut)
	}
	logs := p.logs.String()
	for _, s := range []string{"draining", "shutting down", "shutdown timeout reached", "stopped"} {
		if !strings.Contains(logs, s) {
			t.Errorf("no %q line in the log", s)
		}
	}
	_ = filepath.Join
}

// TestS3MetricsAndReadiness: an S3 mount's requests to MinIO show in the
// backend_* metrics (through the transport s3.Options.WrapTransport
// installs), its reads in the cache's, and its bucket in /readyz, which
// fails while MinIO is down and recovers when it is back.
func TestS3MetricsAndReadiness(t *testing.T) {
	testenv.Short(t, "starts MinIO")
	m := testenv.StartMinIO(t)
	m.MakeBucket(t, "media")
	data := make([]byte, 3<<20)
	for i := range data {
		data[i] = byte(i * 7)
	}
	m.Put(t, "media", "v.bin", data, "")
	p := startBinary(t, "server:\n  probe_timeout: 1s\nmounts:"+s3MountAt("/s3/", m.Endpoint, m, ""))
	for range 2 {
		status, _, body := fetchAll(t, http.DefaultClient, "GET", p.URL+"/s3/v.bin", map[string]string{"Range": "bytes=0-99"})
		if status != 206 || !bytes.Equal(body, data[:100]) {
			t.Fatalf("range from S3: %d, %d bytes", status, len(body))
		}
	}
	got := scrapeMetrics(t, http.DefaultClient, p.URL+"/metrics")
	for k, min := range map[string]float64{
		metricSeries("rangeserve_backend_requests_total", "backend", "/s3/", "method", "HEAD", "code", "200"): 1,
		metricSeries("rangeserve_backend_requests_total", "backend", "/s3/", "method", "GET", "code", "206"):  1,
		metricSeries("rangeserve_backend_request_duration_seconds_count", "backend", "/s3/", "method", "GET"): 1,
		metricSeries("rangeserve_backend_response_bytes_total", "backend", "/s3/"):                            100,
		metricSeries("rangeserve_storage_operations_total", "backend", "/s3/", "op", "open"):                  2,
		"rangeserve_cache_misses_total": 1,
		"rangeserve_cache_hits_total":   1,
	} {
		if got[k] < min {
			t.Errorf("%s = %v, want at least %v", k, got[k], min)
		}
	}
	if got[metricSeries("rangeserve_storage_operations_total", "backend", "/s3/", "op", "open")] != 2 {
		t.Errorf("two requests opened the object %v times", got[metricSeries("rangeserve_storage_operations_total", "backend", "/s3/", "op", "open")])
	}
	if status, _, body := fetchAll(t, http.DefaultClient, "GET", p.URL+"/readyz", nil); status != 200 || !strings.Contains(string(body), "mount /s3/ ok") {
		t.Errorf("/readyz with MinIO up: %d %q", status, body)
	}

	m.Stop(t)
	waitFor(t, 15*time.Second, "/readyz failing with MinIO down", func() bool {
		status, _, body := fetchAll(t, http.DefaultClient, "GET", p.URL+"/readyz", nil)
		return status == 503 && strings.Contains(string(body), "mount /s3/")
	})
	if status, _, _ := fetchAll(t, http.DefaultClient, "GET", p.URL+"/s3/other.bin", nil); status < 500 {
		t.Errorf("a request with MinIO down: %d, want 5xx", status)
	}
	if got := scrapeMetrics(t, http.DefaultClient, p.URL+"/metrics"); got[metricSeries("rangeserve_backend_request_errors_total", "backend", "/s3/", "method", "HEAD")] < 1 {
		t.Errorf("no backend error counted with MinIO down")
	}
	m.Restart(t)
	waitFor(t, 30*time.Second, "/readyz back with MinIO", func() bool {
		status, _, _ := fetchAll(t, http.DefaultClient, "GET", p.URL+"/readyz", nil)
		return status == 200
	})
}
