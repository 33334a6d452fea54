package main

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"github.com/rangeserve/rangeserve/storage"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/rangeserve/rangeserve/internal/testenv"
)

// s3Proxy stands between rangeserve and MinIO: it counts the object GETs
// rangeserve makes and can be told to hang, like a store that stopped
// answering.
type s3Proxy struct {
	URL  *url.URL
	gets atomic.Int64
	hang atomic.Bool
	mu   sync.Mutex
	rngs []string
}

func startS3Proxy(t *testing.T, target string) *s3Proxy {
	t.Helper()
	p := &s3Proxy{}
	tu, _ := url.Parse(target)
	rp := httputil.NewSingleHostReverseProxy(tu)
	l := testenv.FreePort(t)
	srv := &http.Server{Addr: fmt.Sprintf("127.0.0.1:%d", l), Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p.hang.Load() {
			select {
			case <-r.Context().Done():
			case <-time.After(30 * time.Second):
			}
			return
		}
		// Object GETs only: not the bucket checks or HEADs.
		if r.Method == http.MethodGet && r.URL.RawQuery == "" && !strings.HasPrefix(r.URL.Path, "/minio/") {
			p.gets.Add(1)
			p.mu.Lock()
			p.rngs = append(p.rngs, r.URL.Path+" "+r.Header.Get("Range"))
			p.mu.Unlock()
		}
		rp.ServeHTTP(w, r)
	})}
	go srv.ListenAndServe()
	t.Cleanup(func() { srv.Close() })
	p.URL, _ = url.Parse(fmt.Sprintf("http://127.0.0.1:%d", l))
	// Wait until it accepts.
	for i := 0; i < 100; i++ {
		if resp, err := http.Get(p.URL.String() + "/minio/health/live"); err == nil {
			resp.Body.Close()
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	return p
}

func (p *s3Proxy) ranges() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.rngs...)
}

func s3MountAt(prefix, endpoint string, m *testenv.MinIO, extra string) string {
	return fmt.Sprintf(`
  - prefix: %s
    backend: s3
    auth: public
    s3:
      endpoint: %q
      bucket: media
      tls: false
      path_style: true
      access_key: %q
      secret_key: %q
      timeout: 2s
%s`, prefix, endpoint, m.AccessKey, m.SecretKey, extra)
}

func randomBytes(t *testing.T, n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// TestS3EndToEnd: a real MinIO behind an S3 mount, read by real clients.
func TestS3EndToEnd(t *testing.T) {
	m := testenv.StartMinIO(t)
	m.MakeBucket(t, "media")
	big := randomBytes(t, 64<<20)
	m.PutReader(t, "media", "big.bin", bytes.NewReader(big), int64(len(big)), minio.PutObjectOptions{PartSize: 16 << 20})
	video, _ := os.ReadFile(filepath.Join(repoTestdata(t), "video.mp4"))
	m.Put(t, "media", "video.mp4", video, "video/mp4")
	m.Put(t, "media", "vidéo 𝄞 test.mp4", video, "video/mp4")

	cfg := "mounts:" + s3MountAt("/s3/", m.Endpoint, m, "") +
		s3MountAt("/go/", m.Endpoint, m, "    mode: redirect\n    redirect_ttl: 10m\n")
	p := startBinary(t, cfg)

	t.Run("multipart ETag", func(t *testing.T) {
		r := do(t, "HEAD", p.URL+"/s3/big.bin", nil)
		if et := r.Header.Get("ETag"); !strings.HasPrefix(et, `"`) || !strings.HasSuffix(et, `-4"`) {
			t.Errorf("ETag of a 4-part upload = %q, want a quoted \"<md5>-4\"", et)
		}
		if r2 := do(t, "GET", p.URL+"/s3/big.bin", map[string]string{"Range": "bytes=0-9", "If-Range": r.Header.Get("ETag")}); r2.StatusCode != 206 {
			t.Errorf("If-Range with the multipart ETag: %d, want 206 (it is a strong validator)", r2.StatusCode)
		}
	})

	t.Run("ffprobe", func(t *testing.T) {
		ffprobe := testenv.Require(t, "ffprobe")
		o, err := runCmd(t, 60*time.Second, ffprobe, "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", p.URL+"/s3/video.mp4")
		if err != nil {
			t.Fatalf("ffprobe: %v\n%s", err, o)
		}
		if d, err := strconv.ParseFloat(strings.TrimSpace(o), 64); err != nil || d < 9.9 || d > 10.1 {
			t.Fatalf("ffprobe duration %q, want about 10", o)
		}
	})

	t.Run("aria2c 64MiB", func(t *testing.T) {
		aria := testenv.Require(t, "aria2c")
		dir := t.TempDir()
		start := time.Now()
		o, err := runCmd(t, 120*time.Second, aria, "-q", "-x8", "-s8", "-k1M", "--file-allocation=none", "-d", dir, "-o", "big.bin", p.URL+"/s3/big.bin")
		if err != nil {
			t.Fatalf("aria2c: %v\n%s", err, o)
		}
		got, _ := os.ReadFile(filepath.Join(dir, "big.bin"))
		if sum(got) != sum(big) {
			t.Fatalf("aria2c via S3: sha256 %s, want %s", sum(got), sum(big))
		}
		t.Logf("aria2c -x8 -s8 64 MiB from S3 in %s, sha256 %s", time.Since(start).Round(time.Millisecond), sum(got))
	})

	t.Run("presigned redirect", func(t *testing.T) {
		curl := testenv.Require(t, "curl")
		for _, name := range []string{"video.mp4", "vidéo 𝄞 test.mp4"} {
			r := do(t, "GET", p.URL+storage.EscapeKey("/go/"+name)+"?download=1", nil)
			if r.StatusCode != 307 || !strings.Contains(r.Header.Get("Location"), "X-Amz-Signature") {
				t.Fatalf("%s: %d Location %q, want 307 to a presigned URL", name, r.StatusCode, r.Header.Get("Location"))
			}
			// A HEAD is answered by rangeserve itself: presigned URLs are
			// bound to GET, so a HEAD sent to one fails at the store.
			if h := do(t, "HEAD", p.URL+storage.EscapeKey("/go/"+name), nil); h.StatusCode != 200 || h.Header.Get("Content-Length") != strconv.Itoa(len(video)) || h.Header.Get("Accept-Ranges") != "bytes" {
				t.Errorf("HEAD %s: %d Content-Length %q, want 200 with the object's headers", name, h.StatusCode, h.Header.Get("Content-Length"))
			}
			// curl follows the redirect with its Range header.
			out := filepath.Join(t.TempDir(), "part")
			o, err := runCmd(t, 30*time.Second, curl, "-sS", "-f", "-L", "-r", "1000-1999", "-D", "-", "-o", out, p.URL+storage.EscapeKey("/go/"+name)+"?download=1")
			if err != nil {
				t.Fatalf("curl -L -r: %v\n%s", err, o)
			}
			got, _ := os.ReadFile(out)
			if !strings.Contains(o, "HTTP/1.1 206") || sum(got) != sum(video[1000:2000]) {
				t.Fatalf("%s: presigned Range: headers\n%s\nbytes %d, sha256 match %v", name, o, len(got), sum(got) == sum(video[1000:2000]))
			}
			lo := strings.ToLower(o)
			if !strings.Contains(lo, "content-disposition: attachment") || !strings.Contains(lo, "content-type: video/mp4") {
				t.Errorf("%s: the store did not apply response-content-disposition/-type:\n%s", name, o)
			}
			if name != "video.mp4" && !strings.Contains(o, "filename*=UTF-8''vid%C3%A9o%20%F0%9D%84%9E%20test.mp4") {
				t.Errorf("%s: UTF-8 filename lost through the presigned URL:\n%s", name, o)
			}
		}
	})
}

// TestS3Failures: MinIO stopped mid-download aborts the client's transfer;
// stopped before a request gives 502 fast; a hanging store gives 504
// within the timeout; MinIO back means requests work again without a
// restart of rangeserve.
func TestS3Failures(t *testing.T) {
	m := testenv.StartMinIO(t)
	m.MakeBucket(t, "media")
	big := randomBytes(t, 64<<20)
	m.PutReader(t, "media", "big.bin", bytes.NewReader(big), int64(len(big)), minio.PutObjectOptions{})
	m.Put(t, "media", "small.txt", []byte("hello from minio\n"), "text/plain")
	m.Put(t, "media", "unread.txt", []byte("not read before the store hangs\n"), "text/plain")
	proxy := startS3Proxy(t, m.URL())
	p := startBinary(t, "mounts:"+s3MountAt("/s3/", proxy.URL.Host, m, ""))

	// Mid-download: read 2 MiB, stop MinIO, read on.
	resp, err := http.Get(p.URL + "/s3/big.bin")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET big.bin: %v %v", err, resp)
	}
	if _, err := io.CopyN(io.Discard, resp.Body, 2<<20); err != nil {
		t.Fatal(err)
	}
	m.Stop(t)
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err == nil {
		t.Fatalf("MinIO stopped mid-download: the client saw a clean end after %d more bytes (a short body that looks complete)", n)
	}
	t.Logf("mid-download stop: client error after %d more bytes: %v", n, err)
	// The log reaches us through a pipe: give it a moment.
	for i := 0; i < 100 && !strings.Contains(p.logs.String(), "aborted=true"); i++ {
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(p.logs.String(), "aborted=true") {
		t.Errorf("the abort is not logged:\n%s", p.logs.String())
	}

	// Stopped before a request: 502, fast.
	start := time.Now()
	r := get(t, p.URL+"/s3/small.txt", nil)
	if r.StatusCode != 502 || time.Since(start) > 3*time.Second {
		t.Errorf("MinIO down: %d after %s, want 502 within the 2s timeout", r.StatusCode, time.Since(start))
	}
	if strings.Contains(string(r.Body), m.SecretKey) || strings.Contains(string(r.Body), "127.0.0.1") {
		t.Errorf("the 502 body leaks internals: %q", r.Body)
	}

	// Back: works again without restarting rangeserve.
	m.Restart(t)
	if r := get(t, p.URL+"/s3/small.txt", nil); r.StatusCode != 200 || string(r.Body) != "hello from minio\n" {
		t.Errorf("after MinIO restarted: %d %q", r.StatusCode, r.Body)
	}

	// A store that accepts but never answers: 504 within the timeout (for
	// an object whose metadata is not remembered: see stat_ttl).
	proxy.hang.Store(true)
	start = time.Now()
	r = get(t, p.URL+"/s3/unread.txt", nil)
	if r.StatusCode != 504 || time.Since(start) > 5*time.Second {
		t.Errorf("hanging store: %d after %s, want 504 within about 2s", r.StatusCode, time.Since(start))
	}

	proxy.hang.Store(false)
	if strings.Contains(p.loggedLines(), m.SecretKey) {
		t.Errorf("the secret key appears in the log")
	}
}

// TestS3Cache: a video player's pattern (head, seek to the middle, read
// on, seek back), played twice, costs one GET per range each time without
// the block cache, and only a few on the replay with it; the cache stays
// under its memory cap.
func TestS3Cache(t *testing.T) {
	m := testenv.StartMinIO(t)
	m.MakeBucket(t, "media")
	big := randomBytes(t, 32<<20)
	m.PutReader(t, "media", "movie.mp4", bytes.NewReader(big), int64(len(big)), minio.PutObjectOptions{})
	proxy := startS3Proxy(t, m.URL())
	cfg := `
cache:
  block_size: 1MiB
  max_bytes: 32MiB
  read_ahead: 2
mounts:` + s3MountAt("/cached/", proxy.URL.Host, m, "") + s3MountAt("/raw/", proxy.URL.Host, m, "      cache: false\n")
	srv, a, _ := startApp(t, cfg)

	// Range reads as a player would make them, each read to the end.
	pattern := []string{
		"bytes=0-65535",           // head: ftyp/moov
		"bytes=16777216-",         // seek to the middle, read on (4 MiB of it)
		"bytes=0-65535",           // seek back to the head
		"bytes=16777216-17825791", // replay the middle
		"bytes=33488896-33554431", // the tail (moov at the end)
		"bytes=16800000-16865535", // a small seek inside the middle
	}
	play := func(mount string) int64 {
		before := proxy.gets.Load()
		for _, rg := range pattern {
			req, _ := http.NewRequest("GET", srv.URL+mount+"movie.mp4", nil)
			req.Header.Set("Range", rg)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			limit := int64(4 << 20)
			got, err := io.ReadAll(io.LimitReader(resp.Body, limit))
			resp.Body.Close()
			if err != nil || resp.StatusCode != 206 {
				t.Fatalf("%s %s: %d %v", mount, rg, resp.StatusCode, err)
			}
			var first int64
			fmt.Sscanf(rg, "bytes=%d-", &first)
			if !bytes.Equal(got, big[first:first+int64(len(got))]) {
				t.Fatalf("%s %s: wrong bytes", mount, rg)
			}
		}
		return proxy.gets.Load() - before
	}
	// Without the cache each response is one GET of its span, every
	// time; with it the first pass reads blocks and a replay (the player
	// seeking back over what it has seen) costs far fewer.
	raw, raw2 := play("/raw/"), play("/raw/")
	cached, cached2 := play("/cached/"), play("/cached/")
	st := a.cache.Stats()
	t.Logf("player pattern, twice: %d+%d backend GETs without the cache, %d+%d with; cache stats %+v", raw, raw2, cached, cached2, st)
	// (The first pass also reads the head once to detect the type.)
	if raw > int64(len(pattern))+1 || raw2 != int64(len(pattern)) {
		t.Errorf("without the cache: %d and %d GETs for %d ranges, want one per range each time", raw, raw2, len(pattern))
	}
	// The pattern's working set fits the 32 MiB cap whatever the stream
	// that is cut at 4 MiB fetched meanwhile (read-ahead, and what the
	// loopback socket buffers took: up to 20 MiB in all on a loaded
	// machine, where a 16 MiB cap evicted the head before its replay), so
	// the replay must cost at most a few GETs.
	if cached2 >= raw2 || cached2*2 > cached {
		t.Errorf("backend GETs with the cache = %d then %d on the replay, without = %d then %d: the cache must save requests on the replay", cached, cached2, raw, raw2)
	}
	if st.Bytes > 32<<20 {
		t.Errorf("cache holds %d bytes, over its 32 MiB cap", st.Bytes)
	}
	if st.Hits == 0 {
		t.Errorf("no cache hits for a pattern that seeks back")
	}
	// Every backend GET is ranged: never a whole-object GET.
	for _, rg := range proxy.ranges() {
		if !strings.Contains(rg, " bytes=") {
			t.Errorf("a backend GET without Range (%q): the whole object was fetched", rg)
		}
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	t.Logf("heap in use after the test: %d MiB", ms.HeapInuse>>20)
}
