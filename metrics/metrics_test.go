package metrics_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"iter"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rangeserve/rangeserve/media"
	"github.com/rangeserve/rangeserve/metrics"
	"github.com/rangeserve/rangeserve/rangeio"
	"github.com/rangeserve/rangeserve/storage"
	"github.com/rangeserve/rangeserve/storage/local"
)

// series names one series: a metric name and its labels.
func series(name string, labels ...string) string {
	if len(labels) == 0 {
		return name
	}
	var pairs []string
	for i := 0; i+1 < len(labels); i += 2 {
		pairs = append(pairs, labels[i]+"="+strconv.Quote(labels[i+1]))
	}
	sort.Strings(pairs)
	return name + "{" + strings.Join(pairs, ",") + "}"
}

// scrape GETs the metrics endpoint and returns every sample by series.
func scrape(t *testing.T, url string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("scrape: %s", resp.Status)
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
			t.Fatalf("scrape: line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

// delta returns after-before for every series that changed or appeared.
func delta(before, after map[string]float64) map[string]float64 {
	d := map[string]float64{}
	for k, v := range after {
		if v != before[k] {
			d[k] = v - before[k]
		}
	}
	return d
}

// counting is a storage.Backend below the decorator that counts what it
// was asked, so the metrics can be compared with the truth.
type counting struct {
	storage.Backend
	opens, openErrs, notFound, stats, statNotFound atomic.Int64
}

func (c *counting) Open(ctx context.Context, key string) (storage.Object, error) {
	c.opens.Add(1)
	o, err := c.Backend.Open(ctx, key)
	if err != nil {
		c.openErrs.Add(1)
		if errors.Is(err, storage.ErrNotExist) {
			c.notFound.Add(1)
		}
	}
	return o, err
}

func (c *counting) Stat(ctx context.Context, key string) (storage.Info, error) {
	c.stats.Add(1)
	info, err := c.Backend.Stat(ctx, key)
	if errors.Is(err, storage.ErrNotExist) {
		c.statNotFound.Add(1)
	}
	return info, err
}

const fileSize = 100 << 10

// reporting calls h the way cmd calls media: with an Outcome attached,
// passed on to the metrics with SetStrategy.
func reporting(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var o media.Outcome
		h.ServeHTTP(w, r.WithContext(media.WithOutcome(r.Context(), &o)))
		metrics.SetStrategy(w, string(o.Strategy))
	})
}

func setup(t *testing.T) (*metrics.Metrics, string, storage.Backend) {
	t.Helper()
	dir := t.TempDir()
	data := make([]byte, fileSize)
	rand.Read(data)
	if err := os.WriteFile(filepath.Join(dir, "a.bin"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	lb, err := local.New(local.Options{Root: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lb.Close() })
	reg := metrics.NewRegistry()
	m, err := metrics.New(reg, metrics.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := metrics.New(reg, metrics.Options{}); err == nil {
		t.Errorf("a second New on one registry succeeded: duplicate series would follow")
	}
	ms := httptest.NewServer(metrics.Handler(reg, nil))
	t.Cleanup(ms.Close)
	return m, ms.URL, lb
}

// TestScrape sends known requests through the instrumented mounts, the
// instrumented transport, the cache and the link hook, and checks that
// every series the scrape shows moved by exactly the right amount, and
// that no other series of those families moved.
func TestScrape(t *testing.T) {
	m, metricsURL, lb := setup(t)
	cb := &counting{Backend: lb}
	dec := m.Backend("files", cb)
	serveH, err := media.New(dec, media.Options{})
	if err != nil {
		t.Fatal(err)
	}
	accelH, err := media.New(dec, media.Options{Mode: media.ModeXAccel, InternalPrefix: "/_protected"})
	if err != nil {
		t.Fatal(err)
	}
	// Twins over the bare backend learn which strategy media reports for
	// a request, so the test holds whichever strategies media reports.
	serveTwin, _ := media.New(lb, media.Options{})
	accelTwin, _ := media.New(lb, media.Options{Mode: media.ModeXAccel, InternalPrefix: "/_protected"})
	release := make(chan struct{})
	entered := make(chan struct{})
	mux := http.NewServeMux()
	mux.Handle("/files/", m.Middleware("/files/", http.StripPrefix("/files", reporting(serveH))))
	mux.Handle("/accel/", m.Middleware("/accel/", http.StripPrefix("/accel", reporting(accelH))))
	mux.Handle("/boom/", m.Middleware("/boom/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		w.Write([]byte("partial"))
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler)
	})))
	mux.Handle("/slow/", m.Middleware("/slow/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
		io.WriteString(w, "slow")
	})))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	before := scrape(t, metricsURL)
	opens0, notFound0, stats0, statNF0 := cb.opens.Load(), cb.notFound.Load(), cb.stats.Load(), cb.statNotFound.Load()

	type req struct {
		mount, method, path, rng string
		status                   int
		twin                     http.Handler
	}
	reqs := []req{
		{"/files/", "GET", "/a.bin", "", 200, serveTwin},
		{"/files/", "GET", "/a.bin", "bytes=0-99", 206, serveTwin},
		{"/files/", "GET", "/a.bin", "bytes=0-9,20-29", 206, serveTwin},
		{"/files/", "HEAD", "/a.bin", "", 200, serveTwin},
		{"/files/", "GET", "/missing.bin", "", 404, serveTwin},
		{"/files/", "POST", "/a.bin", "", 405, serveTwin},
		{"/files/", "GET", "/a.bin", "", 200, serveTwin},
		{"/accel/", "GET", "/a.bin", "", 200, accelTwin},
		{"/accel/", "HEAD", "/missing.bin", "", 404, accelTwin},
	}
	want := map[string]float64{}
	count := map[[2]string]float64{} // mount, strategy -> requests
	for _, rq := range reqs {
		r, _ := http.NewRequest(rq.method, srv.URL+rq.mount+strings.TrimPrefix(rq.path, "/"), nil)
		if rq.rng != "" {
			r.Header.Set("Range", rq.rng)
		}
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != rq.status {
			t.Fatalf("%s %s%s: %d, %v; want %d", rq.method, rq.mount, rq.path, resp.StatusCode, err, rq.status)
		}
		// The strategy media reports for this request, learnt from its twin.
		o := new(media.Outcome)
		tr := httptest.NewRequest(rq.method, rq.path, nil)
		tr.Header = r.Header.Clone()
		rec := httptest.NewRecorder()
		rq.twin.ServeHTTP(rec, tr.WithContext(media.WithOutcome(tr.Context(), o)))
		strategy := string(o.Strategy)
		if strategy == "" {
			strategy = "none"
		}
		want[series("rangeserve_http_requests_total", "mount", rq.mount, "method", rq.method, "status", strconv.Itoa(rq.status), "strategy", strategy)]++
		if len(body) > 0 {
			want[series("rangeserve_http_response_bytes_total", "mount", rq.mount, "strategy", strategy)] += float64(len(body))
		}
		count[[2]string{rq.mount, strategy}]++
	}
	// media reports its strategies: whole files and ranges are "serve",
	// delegated ones "x-accel", refusals "none".
	for _, k := range []string{
		series("rangeserve_http_requests_total", "mount", "/files/", "method", "GET", "status", "206", "strategy", "serve"),
		series("rangeserve_http_requests_total", "mount", "/accel/", "method", "GET", "status", "200", "strategy", "x-accel"),
		series("rangeserve_http_requests_total", "mount", "/files/", "method", "POST", "status", "405", "strategy", "none"),
	} {
		if want[k] == 0 {
			t.Errorf("no request expected as %s: media's strategies are not what the test assumes", k)
		}
	}
	// An aborted response: counted with the status it sent, and as aborted.
	if resp, err := http.Get(srv.URL + "/boom/"); err == nil {
		_, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		if err == nil {
			t.Errorf("an aborted response read as complete")
		}
	}
	want[series("rangeserve_http_requests_total", "mount", "/boom/", "method", "GET", "status", "200", "strategy", "none")]++
	want[series("rangeserve_http_response_bytes_total", "mount", "/boom/", "strategy", "none")] += float64(len("partial"))
	want[series("rangeserve_http_responses_aborted_total", "mount", "/boom/")]++
	count[[2]string{"/boom/", "none"}]++

	// A stream in flight is active; once done it is not.
	slowDone := make(chan error, 1)
	go func() {
		resp, err := http.Get(srv.URL + "/slow/")
		if err == nil {
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		slowDone <- err
	}()
	<-entered
	if v := scrape(t, metricsURL)[series("rangeserve_http_streams_active", "mount", "/slow/")]; v != 1 {
		t.Errorf("streams_active{/slow/} during the request = %v, want 1", v)
	}
	close(release)
	if err := <-slowDone; err != nil {
		t.Fatal(err)
	}
	want[series("rangeserve_http_requests_total", "mount", "/slow/", "method", "GET", "status", "200", "strategy", "none")]++
	want[series("rangeserve_http_response_bytes_total", "mount", "/slow/", "strategy", "none")] += 4
	count[[2]string{"/slow/", "none"}]++

	for k, n := range count {
		for _, h := range []string{"rangeserve_http_time_to_first_byte_seconds_count", "rangeserve_http_request_duration_seconds_count"} {
			want[series(h, "mount", k[0], "strategy", k[1])] = n
		}
	}

	// Storage: what the counting backend saw, by the decorator's account.
	opens, notFound, stats := cb.opens.Load()-opens0, cb.notFound.Load()-notFound0, cb.stats.Load()-stats0
	if opens < 5 || notFound < 1 {
		t.Fatalf("media opened %d times (%d missing): the test sends more requests than that", opens, notFound)
	}
	want[series("rangeserve_storage_operations_total", "backend", "files", "op", "open")] = float64(opens)
	want[series("rangeserve_storage_operation_duration_seconds_count", "backend", "files", "op", "open")] = float64(opens)
	want[series("rangeserve_storage_operation_errors_total", "backend", "files", "op", "open", "kind", "not_found")] = float64(notFound)
	if stats > 0 {
		want[series("rangeserve_storage_operations_total", "backend", "files", "op", "stat")] = float64(stats)
		want[series("rangeserve_storage_operation_duration_seconds_count", "backend", "files", "op", "stat")] = float64(stats)
	}
	if n := cb.statNotFound.Load() - statNF0; n > 0 {
		want[series("rangeserve_storage_operation_errors_total", "backend", "files", "op", "stat", "kind", "not_found")] = float64(n)
	}

	// Transport: a fake store answering 200, 404, 503, a request whose
	// client gives up, and a refused connection.
	store := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
			w.Write(bytes.Repeat([]byte("x"), 1000))
		case "/fail":
			w.WriteHeader(503)
			io.WriteString(w, "down\n")
		case "/hang":
			<-r.Context().Done()
		default:
			w.WriteHeader(404)
		}
	}))
	defer store.Close()
	client := &http.Client{Transport: m.Transport("s3 /v/", &http.Transport{})}
	storeReq := func(ctx context.Context, method, url string) error {
		r, _ := http.NewRequestWithContext(ctx, method, url, nil)
		resp, err := client.Do(r)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		return resp.Body.Close()
	}
	for _, c := range []struct{ method, path string }{{"GET", "/ok"}, {"HEAD", "/nope"}, {"GET", "/fail"}} {
		if err := storeReq(context.Background(), c.method, store.URL+c.path); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	if err := storeReq(ctx, "GET", store.URL+"/hang"); err == nil {
		t.Fatal("a request to a hung store succeeded")
	}
	cancel()
	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	if err := storeReq(ctx, "GET", store.URL+"/hang"); err == nil {
		t.Fatal("a cancelled request to a hung store succeeded")
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	refused := "http://" + ln.Addr().String() + "/ok"
	ln.Close()
	if err := storeReq(context.Background(), "GET", refused); err == nil {
		t.Fatal("a request to a closed port succeeded")
	}
	b := "s3 /v/"
	want[series("rangeserve_backend_requests_total", "backend", b, "method", "GET", "code", "200")] = 1
	want[series("rangeserve_backend_requests_total", "backend", b, "method", "HEAD", "code", "404")] = 1
	want[series("rangeserve_backend_requests_total", "backend", b, "method", "GET", "code", "503")] = 1
	want[series("rangeserve_backend_requests_total", "backend", b, "method", "GET", "code", "error")] = 1
	want[series("rangeserve_backend_requests_total", "backend", b, "method", "GET", "code", "canceled")] = 1
	want[series("rangeserve_backend_requests_total", "backend", b, "method", "GET", "code", "timeout")] = 1
	want[series("rangeserve_backend_request_errors_total", "backend", b, "method", "GET")] = 3
	want[series("rangeserve_backend_request_duration_seconds_count", "backend", b, "method", "GET")] = 5
	want[series("rangeserve_backend_request_duration_seconds_count", "backend", b, "method", "HEAD")] = 1
	want[series("rangeserve_backend_response_bytes_total", "backend", b)] = 1005

	// Links.
	for _, o := range []string{"ok", "ok", "expired", "Bad Outcome!", strings.Repeat("a", 40)} {
		m.LinkVerified(o)
	}
	want[series("rangeserve_link_verifications_total", "outcome", "ok")] = 2
	want[series("rangeserve_link_verifications_total", "outcome", "expired")] = 1
	want[series("rangeserve_link_verifications_total", "outcome", "other")] = 2

	// Cache: two blocks fit; block 0 missed, hit, then evicted by 1 and 2.
	cache := rangeio.NewCache(rangeio.CacheConfig{BlockSize: 4096, MaxBytes: 8192, ReadAhead: -1})
	src := bytes.Repeat([]byte("0123456789abcdef"), 2048)
	ra := cache.Wrap("obj", int64(len(src)), bytes.NewReader(src))
	p := make([]byte, 100)
	for _, off := range []int64{0, 10, 4096, 8192} {
		if _, err := ra.ReadAt(p, off); err != nil {
			t.Fatal(err)
		}
	}
	if v := scrape(t, metricsURL)["rangeserve_cache_hits_total"]; v != 0 {
		t.Errorf("cache metrics before SetCache: hits = %v", v)
	}
	m.SetCache(cache)
	st := cache.Stats()
	if st.Hits != 1 || st.Misses != 3 || st.Evictions != 1 {
		t.Fatalf("cache stats %+v: the pattern is not what the test assumes", st)
	}
	for name, v := range map[string]float64{
		"rangeserve_cache_hits_total":               1,
		"rangeserve_cache_misses_total":             3,
		"rangeserve_cache_evictions_total":          1,
		"rangeserve_cache_backend_reads_total":      3,
		"rangeserve_cache_backend_read_bytes_total": 3 * 4096,
		"rangeserve_cache_bytes":                    8192,
		"rangeserve_cache_blocks":                   2,
	} {
		want[name] = v
	}

	after := scrape(t, metricsURL)
	got := delta(before, after)
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s moved by %v, want %v", k, got[k], v)
		}
	}
	// Nothing else of ours moved (buckets and sums of the histograms
	// aside, whose counts are checked above).
	for k, v := range got {
		if _, ok := want[k]; ok || !strings.HasPrefix(k, "rangeserve_") ||
			strings.Contains(k, "_bucket{") || strings.Contains(k, "_sum{") {
			continue
		}
		if k == series("rangeserve_http_streams_active", "mount", "/slow/") && after[k] == 0 {
			continue // created at 0 by this test
		}
		t.Errorf("%s moved by %v unexpectedly", k, v)
	}
	for _, mount := range []string{"/files/", "/accel/", "/boom/", "/slow/"} {
		if v, ok := after[series("rangeserve_http_streams_active", "mount", mount)]; !ok || v != 0 {
			t.Errorf("streams_active{%s} after the requests = %v (present %v), want 0", mount, v, ok)
		}
	}
	m.SetCache(nil)
	if _, ok := scrape(t, metricsURL)["rangeserve_cache_hits_total"]; ok {
		t.Errorf("SetCache(nil) still reports the cache")
	}
}

// TestHistogramBuckets: a two-hour stream lands in the top duration
// bucket, a half-millisecond answer in the first latency bucket.
func TestHistogramBuckets(t *testing.T) {
	if metrics.DefaultDurationBuckets[len(metrics.DefaultDurationBuckets)-1] < 7200 || metrics.DefaultDurationBuckets[0] > 0.001 {
		t.Errorf("duration buckets %v do not span 1ms to 2h", metrics.DefaultDurationBuckets)
	}
	if !slices.IsSorted(metrics.DefaultDurationBuckets) || !slices.IsSorted(metrics.DefaultLatencyBuckets) {
		t.Errorf("buckets not sorted")
	}
}

// TestRecorderKeepsReadFrom: the middleware's writer hands the reader
// media copies from to the ResponseWriter below unchanged (so net/http
// can sendfile an *io.LimitedReader over an *os.File), and flushes.
func TestRecorderKeepsReadFrom(t *testing.T) {
	m, _, _ := setup(t)
	f, err := os.Open(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	lr := &io.LimitedReader{R: f, N: 1000}
	below := &fromRecorder{ResponseRecorder: httptest.NewRecorder()}
	h := m.Middleware("/m/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := w.(io.ReaderFrom); !ok {
			t.Fatal("the middleware's writer is not an io.ReaderFrom")
		}
		w.(http.Flusher).Flush()
		if n, err := io.Copy(w, lr); n != 1000 || err != nil {
			t.Errorf("copy = %d, %v", n, err)
		}
		if rc := http.NewResponseController(w); rc.SetWriteDeadline(time.Now().Add(time.Second)) != nil {
			// ResponseRecorder has no deadline: the call must reach it and
			// fail with ErrNotSupported, not stop at the wrapper.
		}
	}))
	h.ServeHTTP(below, httptest.NewRequest("GET", "/m/x", nil))
	if below.from != lr {
		t.Errorf("ReadFrom below got %T %p, want the handler's *io.LimitedReader %p", below.from, below.from, lr)
	}
	if !below.Flushed {
		t.Errorf("Flush did not reach the writer below")
	}
}

type fromRecorder struct {
	*httptest.ResponseRecorder
	from io.Reader
}

func (w *fromRecorder) ReadFrom(r io.Reader) (int64, error) {
	w.from = r
	return io.Copy(w.ResponseRecorder, r)
}

// Fake backends with several combinations of optional interfaces.
type (
	bare     struct{}
	withList struct{ bare }
	withPre  struct{ bare }
	withAll  struct{ withList }
)

func (bare) Open(context.Context, string) (storage.Object, error) { return nil, storage.ErrNotExist }
func (bare) Stat(context.Context, string) (storage.Info, error) {
	return storage.Info{}, fmt.Errorf("down: %w", storage.ErrUnavailable)
}
func (withList) List(context.Context, string) iter.Seq2[storage.Info, error] {
	return func(yield func(storage.Info, error) bool) {
		for _, k := range []string{"a", "b"} {
			if !yield(storage.Info{Key: k}, nil) {
				return
			}
		}
		yield(storage.Info{}, errors.New("page 2 failed"))
	}
}
func (withPre) PresignGet(context.Context, string, time.Duration, url.Values) (*url.URL, error) {
	return nil, nil
}
func (withAll) PresignGet(context.Context, string, time.Duration, url.Values) (*url.URL, error) {
	return nil, nil
}
func (withAll) Path(string) (string, error) { return "", nil }

// TestBackendDecoratorCapabilities: the decorated backend offers exactly
// the optional interfaces of the backend below, and counts List once per
// listing with its error.
func TestBackendDecoratorCapabilities(t *testing.T) {
	m, metricsURL, lb := setup(t)
	tests := []struct {
		name                string
		b                   storage.Backend
		lister, pre, pather bool
	}{
		{"bare", bare{}, false, false, false},
		{"local", lb, true, false, true},
		{"lister", withList{}, true, false, false},
		{"presigner", withPre{}, false, true, false},
		{"all", withAll{}, true, true, true},
	}
	for _, tt := range tests {
		d := m.Backend(tt.name, tt.b)
		_, l := d.(storage.Lister)
		_, p := d.(storage.Presigner)
		_, pa := d.(storage.Pather)
		if l != tt.lister || p != tt.pre || pa != tt.pather {
			t.Errorf("%s: Lister %v Presigner %v Pather %v; want %v %v %v", tt.name, l, p, pa, tt.lister, tt.pre, tt.pather)
		}
		if u, ok := d.(interface{ Unwrap() storage.Backend }); !ok || u.Unwrap() != tt.b {
			t.Errorf("%s: Unwrap does not return the backend", tt.name)
		}
	}
	d := m.Backend("lister", withList{})
	var keys []string
	var errs int
	for info, err := range d.(storage.Lister).List(context.Background(), "") {
		if err != nil {
			errs++
			continue
		}
		keys = append(keys, info.Key)
	}
	if !slices.Equal(keys, []string{"a", "b"}) || errs != 1 {
		t.Errorf("List through the decorator = %v and %d errors", keys, errs)
	}
	// Stopping early still counts the listing, once, without error.
	for range d.(storage.Lister).List(context.Background(), "") {
		break
	}
	d.Stat(context.Background(), "x")
	got := scrape(t, metricsURL)
	for k, v := range map[string]float64{
		series("rangeserve_storage_operations_total", "backend", "lister", "op", "list"):                              2,
		series("rangeserve_storage_operation_errors_total", "backend", "lister", "op", "list", "kind", "other"):       1,
		series("rangeserve_storage_operation_errors_total", "backend", "lister", "op", "stat", "kind", "unavailable"): 1,
	} {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
}

// TestConcurrentRequests: counters add up under concurrency (run with
// -race to check the recorder and the collectors).
func TestConcurrentRequests(t *testing.T) {
	m, metricsURL, _ := setup(t)
	h := m.Middleware("/c/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello")
	}))
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 50 {
				h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/c/x", nil))
			}
		})
	}
	wg.Wait()
	got := scrape(t, metricsURL)
	if v := got[series("rangeserve_http_requests_total", "mount", "/c/", "method", "GET", "status", "200", "strategy", "none")]; v != 400 {
		t.Errorf("requests = %v, want 400", v)
	}
	if v := got[series("rangeserve_http_response_bytes_total", "mount", "/c/", "strategy", "none")]; v != 2000 {
		t.Errorf("bytes = %v, want 2000", v)
	}
	if v := got[series("rangeserve_http_requests_total", "mount", "/c/", "method", "OTHER", "status", "200", "strategy", "none")]; v != 0 {
		t.Errorf("OTHER = %v", v)
	}
}

// unwrapper is a middleware's writer between the metrics and the handler.
type unwrapper struct{ http.ResponseWriter }

func (u unwrapper) Unwrap() http.ResponseWriter { return u.ResponseWriter }

// TestSetStrategyThroughWrappers: SetStrategy finds the middleware's
// writer below other wrappers; odd values become "other"; a writer the
// middleware did not wrap is left alone.
func TestSetStrategyThroughWrappers(t *testing.T) {
	m, metricsURL, _ := setup(t)
	for _, s := range []string{"serve", "x-accel", "Weird Value", ""} {
		h := m.Middleware("/s/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			metrics.SetStrategy(unwrapper{unwrapper{w}}, s)
		}))
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/s/x", nil))
	}
	metrics.SetStrategy(httptest.NewRecorder(), "serve") // no middleware: no effect, no panic
	got := scrape(t, metricsURL)
	for s, want := range map[string]float64{"serve": 1, "x-accel": 1, "other": 1, "none": 1} {
		k := series("rangeserve_http_requests_total", "mount", "/s/", "method", "GET", "status", "200", "strategy", s)
		if got[k] != want {
			t.Errorf("%s = %v, want %v", k, got[k], want)
		}
	}
}

// TestSetMount: one middleware over a router; the router names the mount
// it chose, and the request is counted (and active) there.
func TestSetMount(t *testing.T) {
	m, metricsURL, _ := setup(t)
	entered, release := make(chan struct{}), make(chan struct{})
	h := m.Middleware("none", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/unknown" {
			http.NotFound(w, r)
			return
		}
		metrics.SetMount(unwrapper{w}, "/media/")
		if r.URL.Path == "/hold" {
			close(entered)
			<-release
		}
		io.WriteString(w, "abc")
	}))
	done := make(chan struct{})
	go func() {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/hold", nil))
		close(done)
	}()
	<-entered
	got := scrape(t, metricsURL)
	if got[series("rangeserve_http_streams_active", "mount", "/media/")] != 1 || got[series("rangeserve_http_streams_active", "mount", "none")] != 0 {
		t.Errorf("while held: active = %v under /media/, %v under none; want 1, 0",
			got[series("rangeserve_http_streams_active", "mount", "/media/")], got[series("rangeserve_http_streams_active", "mount", "none")])
	}
	close(release)
	<-done
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/unknown", nil))
	got = scrape(t, metricsURL)
	for k, v := range map[string]float64{
		series("rangeserve_http_requests_total", "mount", "/media/", "method", "GET", "status", "200", "strategy", "none"): 1,
		series("rangeserve_http_requests_total", "mount", "none", "method", "GET", "status", "404", "strategy", "none"):    1,
		series("rangeserve_http_response_bytes_total", "mount", "/media/", "strategy", "none"):                             3,
		series("rangeserve_http_streams_active", "mount", "/media/"):                                                       0,
		series("rangeserve_http_streams_active", "mount", "none"):                                                          0,
	} {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
}
