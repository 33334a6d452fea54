// Command reliability is bench/reliability.sh's client: bounded-time load
// and fault runs against one rangeserve serving the files of a directory
// on a public local mount, every body checked against the file.
//
//	reliability -base URL -dir DIR -pid PID load      -clients 256 -dur 60s
//	reliability -base URL -dir DIR -pid PID storm     -clients 1000
//	reliability -base URL -dir DIR -pid PID slowloris -clients 500 -dur 20s
//	reliability -base URL -dir DIR -pid PID slowread  -clients 200 -dur 30s
//
// It reads the server's RSS and open descriptors from /proc/PID and its
// goroutines from /metrics (go_goroutines), prints figures, and exits 1
// when a check fails (a 5xx, a wrong byte, a leak, a p99 over budget).
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

var (
	base    = flag.String("base", "", "rangeserve base URL of the mount, e.g. http://127.0.0.1:8080/f/")
	dir     = flag.String("dir", "", "directory the mount serves (the expected bytes)")
	pid     = flag.Int("pid", 0, "rangeserve's pid, for RSS and open descriptors")
	metrics = flag.String("metrics", "", "URL of /metrics (default: base's host + /metrics)")
	clients = flag.Int("clients", 0, "concurrent clients (default per run)")
	dur     = flag.Duration("dur", 0, "duration (default per run)")
)

type file struct {
	name string
	data []byte
	etag string
}

var files []file

func main() {
	flag.Parse()
	if flag.NArg() != 1 || *base == "" || *dir == "" || *pid == 0 {
		fmt.Fprintln(os.Stderr, "usage: reliability -base URL -dir DIR -pid PID [-clients N] [-dur D] load|storm|slowloris|slowread")
		os.Exit(2)
	}
	if *metrics == "" {
		i := strings.Index((*base)[len("http://"):], "/")
		*metrics = (*base)[:len("http://")+i] + "/metrics"
	}
	ents, err := os.ReadDir(*dir)
	check(err)
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(*dir, e.Name()))
		check(err)
		files = append(files, file{name: e.Name(), data: b})
	}
	sort.Slice(files, func(i, j int) bool { return len(files[i].data) < len(files[j].data) })
	for i := range files {
		resp, err := http.Head(*base + files[i].name)
		check(err)
		resp.Body.Close()
		files[i].etag = resp.Header.Get("ETag")
	}
	var ok bool
	switch flag.Arg(0) {
	case "load":
		ok = load(def(*clients, 256), defd(*dur, 60*time.Second))
	case "storm":
		ok = storm(def(*clients, 1000))
	case "slowloris":
		ok = slowloris(def(*clients, 500), defd(*dur, 20*time.Second))
	case "slowread":
		ok = slowread(def(*clients, 200), defd(*dur, 30*time.Second))
	default:
		fmt.Fprintln(os.Stderr, "unknown run", flag.Arg(0))
		os.Exit(2)
	}
	if !ok {
		os.Exit(1)
	}
}

func def(v, d int) int {
	if v == 0 {
		return d
	}
	return v
}

func defd(v, d time.Duration) time.Duration {
	if v == 0 {
		return d
	}
	return v
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "reliability:", err)
		os.Exit(1)
	}
}

// --- server figures ---------------------------------------------------------

func rssKiB() int {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", *pid))
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return n
		}
	}
	return -1
}

func fds() int {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", *pid))
	if err != nil {
		return -1
	}
	return len(ents)
}

func goroutines() int {
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(*metrics)
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "go_goroutines "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return int(f)
		}
	}
	return -1
}

// sampler records the peak RSS every 200 ms until stopped.
func sampler() (stop func() int) {
	var peak atomic.Int64
	done := make(chan struct{})
	fin := make(chan struct{})
	go func() {
		defer close(fin)
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			if r := int64(rssKiB()); r > peak.Load() {
				peak.Store(r)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() int { close(done); <-fin; return int(peak.Load()) }
}

func pct(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	return d[min(len(d)-1, int(float64(len(d))*p))]
}

func transport(conns int) *http.Transport {
	return &http.Transport{
		DisableCompression:  true,
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
	}
}

// --- load -------------------------------------------------------------------

type stats struct {
	mu     sync.Mutex
	lat    map[string][]time.Duration
	count  map[string]int
	status map[int]int
	errs   []string
	bytes  int64
}

func (s *stats) add(kind string, d time.Duration, code int, n int64, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lat[kind] = append(s.lat[kind], d)
	s.count[kind]++
	s.status[code]++
	s.bytes += n
	if err != nil && len(s.errs) < 20 {
		s.errs = append(s.errs, kind+": "+err.Error())
	}
	if err != nil {
		s.count["wrong"]++
	}
}

func load(n int, d time.Duration) bool {
	fmt.Printf("load: %d clients for %s over %d files (%s)\n", n, d, len(files), sizes())
	rss0, fd0, g0 := rssKiB(), fds(), goroutines()
	stop := sampler()
	st := &stats{lat: map[string][]time.Duration{}, count: map[string]int{}, status: map[int]int{}}
	c := &http.Client{Transport: transport(n), Timeout: 60 * time.Second}
	end := time.Now().Add(d)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(seed uint64) {
			defer wg.Done()
			r := rand.New(rand.NewPCG(seed, 7))
			for time.Now().Before(end) {
				one(c, r, st)
			}
		}(uint64(i))
	}
	wg.Wait()
	peak := stop()
	total := 0
	var all []time.Duration
	for k, v := range st.lat {
		total += len(v)
		all = append(all, v...)
		_ = k
	}
	fmt.Printf("load: %d requests in %s: %.0f req/s, %.1f MiB/s; p50 %s p99 %s\n", total, d,
		float64(total)/d.Seconds(), float64(st.bytes)/d.Seconds()/(1<<20), pct(all, 0.5).Round(time.Microsecond), pct(all, 0.99).Round(time.Microsecond))
	kinds := make([]string, 0, len(st.lat))
	for k := range st.lat {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		fmt.Printf("load:   %-10s %7d requests, p50 %10s, p99 %10s\n", k, len(st.lat[k]), pct(st.lat[k], 0.5).Round(time.Microsecond), pct(st.lat[k], 0.99).Round(time.Microsecond))
	}
	fmt.Printf("load: statuses %v; wrong (bytes, headers or errors) %d\n", st.status, st.count["wrong"])
	for _, e := range st.errs {
		fmt.Println("load:   error:", e)
	}
	time.Sleep(2 * time.Second)
	c.CloseIdleConnections()
	time.Sleep(1 * time.Second)
	fmt.Printf("load: server RSS %d MiB before, peak %d MiB, %d MiB after; fds %d -> %d; goroutines %d -> %d\n",
		rss0>>10, peak>>10, rssKiB()>>10, fd0, fds(), g0, goroutines())
	five := 0
	for code, k := range st.status {
		if code >= 500 {
			five += k
		}
	}
	ok := five == 0 && st.count["wrong"] == 0
	fmt.Printf("load: %s (5xx %d, wrong %d)\n", verdict(ok), five, st.count["wrong"])
	return ok
}

func verdict(ok bool) string {
	if ok {
		return "PASS"
	}
	return "FAIL"
}

func sizes() string {
	var s []string
	for _, f := range files {
		s = append(s, fmt.Sprintf("%s %d", f.name, len(f.data)))
	}
	return strings.Join(s, ", ")
}

// one issues one request of a random kind and checks it.
func one(c *http.Client, r *rand.Rand, st *stats) {
	f := files[r.IntN(len(files))]
	url := *base + f.name
	size := int64(len(f.data))
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	var kind string
	var want func(*http.Response, []byte) error
	switch k := r.IntN(100); {
	case k < 10: // whole download, smallest files only (the big one by range)
		f = files[r.IntN(max(1, len(files)-1))]
		url, size = *base+f.name, int64(len(f.data))
		req, _ = http.NewRequest(http.MethodGet, url, nil)
		kind = "whole"
		want = func(resp *http.Response, b []byte) error {
			if resp.StatusCode != 200 {
				return fmt.Errorf("status %d", resp.StatusCode)
			}
			if !bytes.Equal(b, f.data) {
				return fmt.Errorf("%s: body differs (%d bytes, sha256 %x)", f.name, len(b), sha256.Sum256(b))
			}
			return nil
		}
	case k < 50: // one random range
		kind = "range"
		a := r.Int64N(size)
		z := min(size-1, a+r.Int64N(1<<20))
		form := fmt.Sprintf("bytes=%d-%d", a, z)
		if r.IntN(4) == 0 { // suffix form
			sfx := 1 + r.Int64N(min(size, 256<<10))
			form, a, z = fmt.Sprintf("bytes=-%d", sfx), size-sfx, size-1
		}
		req.Header.Set("Range", form)
		want = func(resp *http.Response, b []byte) error {
			if resp.StatusCode != 206 {
				return fmt.Errorf("%s %s: status %d", f.name, form, resp.StatusCode)
			}
			if cr := fmt.Sprintf("bytes %d-%d/%d", a, z, size); resp.Header.Get("Content-Range") != cr {
				return fmt.Errorf("%s %s: Content-Range %q, want %q", f.name, form, resp.Header.Get("Content-Range"), cr)
			}
			if !bytes.Equal(b, f.data[a:z+1]) {
				return fmt.Errorf("%s %s: bytes differ", f.name, form)
			}
			return nil
		}
	case k < 70: // multi-range
		kind = "multirange"
		var parts []string
		for j := 0; j < 2+r.IntN(4); j++ {
			a := r.Int64N(size)
			parts = append(parts, fmt.Sprintf("%d-%d", a, min(size-1, a+r.Int64N(64<<10))))
		}
		form := "bytes=" + strings.Join(parts, ",")
		req.Header.Set("Range", form)
		want = func(resp *http.Response, b []byte) error { return checkMulti(f, form, resp, b) }
	case k < 85: // conditional
		kind = "cond"
		switch r.IntN(3) {
		case 0:
			req.Header.Set("If-None-Match", f.etag)
			want = func(resp *http.Response, b []byte) error {
				if resp.StatusCode != 304 || len(b) != 0 {
					return fmt.Errorf("If-None-Match %s: status %d, %d bytes", f.etag, resp.StatusCode, len(b))
				}
				return nil
			}
		case 1: // If-Range matching: the range
			a := r.Int64N(size)
			z := min(size-1, a+r.Int64N(1<<20))
			req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", a, z))
			req.Header.Set("If-Range", f.etag)
			want = func(resp *http.Response, b []byte) error {
				if resp.StatusCode != 206 || !bytes.Equal(b, f.data[a:z+1]) {
					return fmt.Errorf("If-Range match from %d: status %d, %d bytes", a, resp.StatusCode, len(b))
				}
				return nil
			}
		default: // If-Range not matching: the whole file
			f = files[0]
			req, _ = http.NewRequest(http.MethodGet, *base+f.name, nil)
			req.Header.Set("Range", "bytes=10-20")
			req.Header.Set("If-Range", `"not-the-etag"`)
			want = func(resp *http.Response, b []byte) error {
				if resp.StatusCode != 200 || !bytes.Equal(b, f.data) {
					return fmt.Errorf("If-Range mismatch: status %d, %d bytes", resp.StatusCode, len(b))
				}
				return nil
			}
		}
	default:
		kind = "head"
		req.Method = http.MethodHead
		want = func(resp *http.Response, b []byte) error {
			if resp.StatusCode != 200 || resp.ContentLength != size || len(b) != 0 || resp.Header.Get("Accept-Ranges") != "bytes" {
				return fmt.Errorf("HEAD %s: status %d, length %d, body %d", f.name, resp.StatusCode, resp.ContentLength, len(b))
			}
			return nil
		}
	}
	t0 := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		st.add(kind, time.Since(t0), 0, 0, err)
		return
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err == nil {
		err = want(resp, b)
	}
	st.add(kind, time.Since(t0), resp.StatusCode, int64(len(b)), err)
}

func checkMulti(f file, form string, resp *http.Response, b []byte) error {
	if resp.StatusCode == 200 { // too many ranges after coalescing: the whole file
		if !bytes.Equal(b, f.data) {
			return fmt.Errorf("%s %s: 200 with wrong body", f.name, form)
		}
		return nil
	}
	if resp.StatusCode != 206 {
		return fmt.Errorf("%s %s: status %d", f.name, form, resp.StatusCode)
	}
	mt, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/byteranges" {
		// Ranges coalesced into one: a single part.
		return checkPart(f, resp.Header.Get("Content-Range"), b)
	}
	mr := multipart.NewReader(bytes.NewReader(b), params["boundary"])
	n := 0
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("%s %s: part %d: %v", f.name, form, n, err)
		}
		pb, err := io.ReadAll(p)
		if err != nil {
			return err
		}
		if err := checkPart(f, p.Header.Get("Content-Range"), pb); err != nil {
			return fmt.Errorf("%s %s: part %d: %v", f.name, form, n, err)
		}
		n++
	}
	if n < 2 {
		return fmt.Errorf("%s %s: multipart with %d parts", f.name, form, n)
	}
	return nil
}

func checkPart(f file, cr string, b []byte) error {
	var a, z, size int64
	if _, err := fmt.Sscanf(cr, "bytes %d-%d/%d", &a, &z, &size); err != nil {
		return fmt.Errorf("Content-Range %q: %v", cr, err)
	}
	if size != int64(len(f.data)) || a > z || z >= size || !bytes.Equal(b, f.data[a:z+1]) {
		return fmt.Errorf("Content-Range %q: bytes differ (%d bytes)", cr, len(b))
	}
	return nil
}

// --- disconnect storm -------------------------------------------------------

// baseline waits until fds and goroutines settle and returns them.
func settle(label string, fd0, g0 int, limit time.Duration) (int, int, time.Duration) {
	t0 := time.Now()
	var fd, g int
	for {
		fd, g = fds(), goroutines()
		if (fd <= fd0 && g <= g0) || time.Since(t0) > limit {
			return fd, g, time.Since(t0)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func storm(n int) bool {
	big := files[len(files)-1]
	time.Sleep(500 * time.Millisecond)
	fd0, g0, rss0 := fds(), goroutines(), rssKiB()
	fmt.Printf("storm: %d clients GET %s (%d bytes), each drops after 64-512 KiB; baseline fds %d, goroutines %d, RSS %d MiB\n",
		n, big.name, len(big.data), fd0, g0, rss0>>10)
	stop := sampler()
	var wg sync.WaitGroup
	var started, dropped, failed atomic.Int64
	var peakFD, peakG atomic.Int64
	gate := make(chan struct{})
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			<-gate
			conn, err := net.DialTimeout("tcp", hostOf(*base), 10*time.Second)
			if err != nil {
				failed.Add(1)
				return
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(30 * time.Second))
			fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: x\r\nRange: bytes=%d-\r\n\r\n", pathOf(*base)+big.name, i*4096)
			started.Add(1)
			want := int64(64<<10) + rand.Int64N(448<<10)
			if _, err := io.CopyN(io.Discard, conn, want); err != nil {
				failed.Add(1)
				return
			}
			// Drop with unread data: the kernel sends RST.
			if tc, ok := conn.(*net.TCPConn); ok {
				tc.SetLinger(0)
			}
			dropped.Add(1)
		}(i)
	}
	go func() { // peaks while the storm runs
		for {
			if f := int64(fds()); f > peakFD.Load() {
				peakFD.Store(f)
			}
			if g := int64(goroutines()); g > peakG.Load() {
				peakG.Store(g)
			}
			select {
			case <-gate:
			default:
			}
			time.Sleep(100 * time.Millisecond)
			if started.Load()+failed.Load() >= int64(n) && dropped.Load()+failed.Load() >= int64(n) {
				return
			}
		}
	}()
	t0 := time.Now()
	close(gate)
	wg.Wait()
	elapsed := time.Since(t0)
	peak := stop()
	fd1, g1, took := settle("storm", fd0, g0, 30*time.Second)
	ok := fd1 <= fd0 && g1 <= g0 && failed.Load() == 0
	fmt.Printf("storm: %d dropped mid-stream, %d failed before dropping, in %s; peak fds %d, goroutines %d, RSS %d MiB\n",
		dropped.Load(), failed.Load(), elapsed.Round(time.Millisecond), peakFD.Load(), peakG.Load(), peak>>10)
	fmt.Printf("storm: after %s: fds %d (baseline %d), goroutines %d (baseline %d), RSS %d MiB\n", took.Round(time.Millisecond), fd1, fd0, g1, g0, rssKiB()>>10)
	fmt.Printf("storm: %s\n", verdict(ok))
	return ok
}

func hostOf(u string) string {
	s := strings.TrimPrefix(u, "http://")
	return s[:strings.Index(s, "/")]
}

func pathOf(u string) string {
	s := strings.TrimPrefix(u, "http://")
	return s[strings.Index(s, "/"):]
}

// --- slowloris --------------------------------------------------------------

func slowloris(n int, d time.Duration) bool {
	fmt.Printf("slowloris: %d connections sending headers a byte a second for %s; 16 normal clients fetch %s meanwhile\n", n, d, files[0].name)
	var open, closedEarly atomic.Int64
	rss0 := rssKiB()
	stop := sampler()
	end := time.Now().Add(d)
	var wg sync.WaitGroup
	var closeAt sync.Map
	t0 := time.Now()
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			conn, err := net.DialTimeout("tcp", hostOf(*base), 10*time.Second)
			if err != nil {
				return
			}
			defer conn.Close()
			open.Add(1)
			msg := "GET " + pathOf(*base) + files[0].name + " HTTP/1.1\r\nHost: x\r\nX-Slow: " + strings.Repeat("a", 4096)
			for j := 0; time.Now().Before(end); j++ {
				conn.SetWriteDeadline(time.Now().Add(2 * time.Second))
				if _, err := conn.Write([]byte{msg[j%len(msg)]}); err != nil {
					closedEarly.Add(1)
					closeAt.Store(i, time.Since(t0))
					return
				}
				time.Sleep(time.Second)
			}
		}(i)
	}
	time.Sleep(2 * time.Second) // let them connect
	var lat []time.Duration
	var mu sync.Mutex
	var bad atomic.Int64
	c := &http.Client{Transport: transport(16), Timeout: 30 * time.Second}
	var nwg sync.WaitGroup
	for i := 0; i < 16; i++ {
		nwg.Add(1)
		go func() {
			defer nwg.Done()
			for time.Now().Before(end) {
				f := files[0]
				t := time.Now()
				resp, err := c.Get(*base + f.name)
				if err != nil {
					bad.Add(1)
					continue
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != 200 || !bytes.Equal(b, f.data) {
					bad.Add(1)
				}
				mu.Lock()
				lat = append(lat, time.Since(t))
				mu.Unlock()
			}
		}()
	}
	nwg.Wait()
	wg.Wait()
	peak := stop()
	fmt.Printf("slowloris: server RSS %d MiB before, peak %d MiB\n", rss0>>10, peak>>10)
	var first, last time.Duration
	closeAt.Range(func(_, v any) bool {
		d := v.(time.Duration)
		if first == 0 || d < first {
			first = d
		}
		last = max(last, d)
		return true
	})
	p99 := pct(lat, 0.99)
	ok := bad.Load() == 0 && p99 < time.Second && len(lat) > 0
	fmt.Printf("slowloris: %d slow connections opened, %d closed by the server (first after %s, last after %s)\n",
		open.Load(), closedEarly.Load(), first.Round(100*time.Millisecond), last.Round(100*time.Millisecond))
	fmt.Printf("slowloris: normal clients: %d requests, %d bad, p50 %s, p99 %s; %s\n", len(lat), bad.Load(),
		pct(lat, 0.5).Round(time.Microsecond), p99.Round(time.Microsecond), verdict(ok))
	return ok
}

// --- slow readers -----------------------------------------------------------

func slowread(n int, d time.Duration) bool {
	big := files[len(files)-1]
	const rate = 64 << 10
	time.Sleep(500 * time.Millisecond)
	rss0, fd0, g0 := rssKiB(), fds(), goroutines()
	fmt.Printf("slowread: %d clients read %s at %d KiB/s each for %s (4 KiB receive buffers); baseline RSS %d MiB\n", n, big.name, rate>>10, d, rss0>>10)
	stop := sampler()
	end := time.Now().Add(d)
	var wg sync.WaitGroup
	var got, bad atomic.Int64
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			dl := net.Dialer{Timeout: 10 * time.Second, Control: func(_, _ string, c syscall.RawConn) error {
				return c.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
			}}
			conn, err := dl.DialContext(context.Background(), "tcp", hostOf(*base))
			if err != nil {
				bad.Add(1)
				return
			}
			defer conn.Close()
			off := int64(i) * 65536 % int64(len(big.data)/2)
			fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: x\r\nRange: bytes=%d-\r\n\r\n", pathOf(*base)+big.name, off)
			br := bufio.NewReader(conn)
			resp, err := http.ReadResponse(br, nil)
			if err != nil || resp.StatusCode != 206 {
				bad.Add(1)
				return
			}
			buf := make([]byte, rate/4)
			pos := off
			for time.Now().Before(end) {
				t := time.Now()
				m, err := io.ReadFull(resp.Body, buf)
				if m > 0 && !bytes.Equal(buf[:m], big.data[pos:pos+int64(m)]) {
					bad.Add(1)
					return
				}
				pos += int64(m)
				got.Add(int64(m))
				if err != nil {
					bad.Add(1)
					return
				}
				time.Sleep(250*time.Millisecond - time.Since(t))
			}
		}(i)
	}
	time.Sleep(d / 2)
	mid := rssKiB()
	wg.Wait()
	peak := stop()
	growth := float64(peak-rss0) / float64(n)
	fmt.Printf("slowread: %d MiB read, %d bad (wrong bytes or cut); RSS %d MiB baseline, %d MiB mid-run, peak %d MiB: %.0f KiB per client\n",
		got.Load()>>20, bad.Load(), rss0>>10, mid>>10, peak>>10, growth)
	time.Sleep(2 * time.Second)
	fd1, g1, took := settle("slowread", fd0, g0, 20*time.Second)
	fmt.Printf("slowread: after %s: fds %d (baseline %d), goroutines %d (baseline %d)\n", took.Round(time.Millisecond), fd1, fd0, g1, g0)
	ok := bad.Load() == 0
	fmt.Printf("slowread: %s\n", verdict(ok))
	return ok
}
