package media_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rangeserve/rangeserve/internal/testenv"
	"github.com/rangeserve/rangeserve/media"
)

// Real clients fetching a folder's archive, checked by sha256 against a
// plain download of it.

// statusLog records the status and Range header of every request.
type statusLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *statusLog) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rw := &statusWriter{ResponseWriter: w}
		h.ServeHTTP(rw, r)
		l.mu.Lock()
		l.lines = append(l.lines, fmt.Sprintf("%d range=%q if-range=%q", rw.code, r.Header.Get("Range"), r.Header.Get("If-Range")))
		l.mu.Unlock()
	})
}

func (l *statusLog) count(prefix string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, s := range l.lines {
		if strings.HasPrefix(s, prefix) {
			n++
		}
	}
	return n
}

func (l *statusLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

// ReadFrom keeps the response writer's ReadFrom (sendfile) visible.
func (w *statusWriter) ReadFrom(r io.Reader) (int64, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.(io.ReaderFrom).ReadFrom(r)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

// archiveServer serves a tree whose archive is about 12 MiB.
func archiveServer(t *testing.T) (url string, log *statusLog, plain []byte) {
	t.Helper()
	root, _ := archiveTree(t, 12<<20)
	_, h := localHandler(t, root, media.Options{})
	log = &statusLog{}
	srv := httptest.NewServer(log.wrap(h))
	t.Cleanup(srv.Close)
	url = srv.URL + "/m/album/?archive=zip"
	plain = get(t, url)
	// The second download's data goes through sendfile (the CRC-32s are
	// known now): the same bytes.
	if again := get(t, url); sha256.Sum256(again) != sha256.Sum256(plain) {
		t.Fatalf("a second plain download differs from the first")
	}
	return url, log, plain
}

func get(t *testing.T, url string) []byte {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("plain download: %d, %v", resp.StatusCode, err)
	}
	return b
}

func run(t *testing.T, timeout time.Duration, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	return string(out), err
}

func sha256Of(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

func TestArchiveAria2Segmented(t *testing.T) {
	aria := testenv.Require(t, "aria2c")
	url, log, plain := archiveServer(t)
	dir := t.TempDir()
	o, err := run(t, 120*time.Second, aria, "-q", "-x8", "-s8", "-k1M", "--file-allocation=none",
		"--allow-overwrite=true", "-d", dir, "-o", "album.zip", url)
	if err != nil {
		t.Fatalf("aria2c: %v\n%s", err, o)
	}
	if got := sha256Of(t, filepath.Join(dir, "album.zip")); got != sha256.Sum256(plain) {
		t.Fatalf("aria2c's archive differs from a plain download (sha256)")
	}
	if n := log.count("206"); n < 4 {
		t.Errorf("aria2c made %d ranged (206) requests, want several:\n%s", n, log)
	}
	t.Logf("aria2c -x8 -s8 -k1M of a %d-byte archive: %d ranged requests", len(plain), log.count("206"))
}

func TestArchiveCurlResume(t *testing.T) {
	curl := testenv.Require(t, "curl")
	url, log, plain := archiveServer(t)
	out := filepath.Join(t.TempDir(), "album.zip")
	cut := int64(len(plain)) * 4 / 10
	proxied := strings.Replace(url, strings.Split(url, "/m/")[0], archiveCutProxy(t, strings.Split(url, "/m/")[0], cut), 1)
	if _, err := run(t, 30*time.Second, curl, "-sS", "-o", out, proxied); err == nil {
		t.Fatal("curl through the cutting proxy finished: the interruption did not happen")
	}
	fi, err := os.Stat(out)
	if err != nil || fi.Size() == 0 || fi.Size() >= int64(len(plain)) {
		t.Fatalf("partial download: %v, size %d of %d", err, fi.Size(), len(plain))
	}
	partial := fi.Size()
	if o, err := run(t, 60*time.Second, curl, "-sS", "-f", "-C", "-", "-o", out, url); err != nil {
		t.Fatalf("curl -C -: %v\n%s", err, o)
	}
	if got := sha256Of(t, out); got != sha256.Sum256(plain) {
		t.Fatalf("resumed archive differs from a plain download (sha256)")
	}
	if want := fmt.Sprintf("206 range=%q", fmt.Sprintf("bytes=%d-", partial)); log.count(want) != 1 {
		t.Errorf("no %s in the log: curl did not resume with a range\n%s", want, log)
	}
	t.Logf("curl -C -: cut after %d of %d bytes, resumed, sha256 equal", partial, len(plain))
}

// archiveCutProxy forwards connections to base (http://host:port) and
// cuts each after limit bytes of response, as a dropped connection would.
func archiveCutProxy(t *testing.T, base string, limit int64) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	target := strings.TrimPrefix(base, "http://")
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				s, err := net.Dial("tcp", target)
				if err != nil {
					return
				}
				defer s.Close()
				go io.Copy(s, c)
				io.CopyN(c, s, limit)
			}()
		}
	}()
	return "http://" + l.Addr().String()
}

// TestArchiveClientLeaves: clients that leave in the middle of a whole
// archive, a range and a multipart response leave no goroutine behind.
func TestArchiveClientLeaves(t *testing.T) {
	root, _ := archiveTree(t, 12<<20)
	_, h := localHandler(t, root, media.Options{})
	srv := httptest.NewServer(h)
	defer srv.Close()
	url := srv.URL + "/m/album/?archive=zip"
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	base := runtime.NumGoroutine()
	for _, rng := range []string{"", "bytes=1000-", "bytes=0-10,2000000-"} {
		req, _ := http.NewRequest("GET", url, nil)
		if rng != "" {
			req.Header.Set("Range", rng)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.CopyN(io.Discard, resp.Body, 1<<20); err != nil {
			t.Fatalf("range %q: %v", rng, err)
		}
		resp.Body.Close() // leaves with most of the body unread
	}
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > base && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > base {
		buf := make([]byte, 1<<20)
		t.Fatalf("%d goroutines, %d before the clients came:\n%s", n, base, buf[:runtime.Stack(buf, true)])
	}
}
