package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rangeserve/rangeserve/accesslog"
	"github.com/rangeserve/rangeserve/internal/testenv"
	"github.com/rangeserve/rangeserve/storage"
)

// startApp builds the server in-process from a config document and serves
// it with httptest on loopback.
func startApp(t *testing.T, config string) (*httptest.Server, *app, *syncBuffer) {
	t.Helper()
	cfg, err := parseConfig("test.yaml", ".", []byte(config))
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	a, err := newApp(context.Background(), cfg, log, &accesslog.Sink{W: logs}, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(func() {
		srv.Close()
		a.Close()
		if t.Failed() {
			t.Logf("server log:\n%s", logs.String())
		}
	})
	return srv, a, logs
}

// fixtures are the testdata files every backend under test holds.
var fixtures = []string{"video.mp4", "video.webm", "audio.mp3", "image.png", "hello.txt", "vidéo 𝄞 test.mp4", ".hidden.txt"}

// s3Mount starts MinIO, uploads the fixtures into a bucket and returns the
// mount's YAML (as a list item) and the MinIO.
func s3Mount(t *testing.T, prefix, extra string) (string, *testenv.MinIO) {
	t.Helper()
	m := testenv.StartMinIO(t)
	m.MakeBucket(t, "media")
	td := repoTestdata(t)
	for _, f := range fixtures {
		data, err := os.ReadFile(filepath.Join(td, f))
		if err != nil {
			t.Fatal(err)
		}
		m.Put(t, "media", f, data, "")
	}
	return s3MountAt(prefix, m.Endpoint, m, extra), m
}

// TestBackendsAgree runs one table of Range, conditional and multi-range
// cases against a local mount and an S3 mount holding the same files: the
// two must answer alike, byte for byte.
func TestBackendsAgree(t *testing.T) {
	s3m, _ := s3Mount(t, "/s3/", "")
	cfg := fmt.Sprintf(`
mounts:
  - prefix: /local/
    backend: local
    root: %q
    auth: public
    cache_control: "public, max-age=60"
%s    cache_control: "public, max-age=60"
`, repoTestdata(t), s3m)
	srv, _, _ := startApp(t, cfg)
	td := repoTestdata(t)
	for _, mountPrefix := range []string{"/local/", "/s3/"} {
		for _, name := range []string{"video.mp4", "hello.txt", "vidéo 𝄞 test.mp4"} {
			data, err := os.ReadFile(filepath.Join(td, name))
			if err != nil {
				t.Fatal(err)
			}
			u := srv.URL + storage.EscapeKey(mountPrefix+name)
			runConformance(t, mountPrefix+name, u, data)
		}
		for _, name := range []string{"missing.mp4", ".hidden.txt"} {
			resp := get(t, srv.URL+mountPrefix+name, nil)
			if resp.StatusCode != 404 || strings.Contains(string(resp.Body), "secret") {
				t.Errorf("%s%s: status %d, want 404", mountPrefix, name, resp.StatusCode)
			}
		}
	}
}

type response struct {
	StatusCode int
	Header     http.Header
	Body       []byte
}

func do(t *testing.T, method, u string, h map[string]string) response {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range h {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, u, err)
	}
	return response{resp.StatusCode, resp.Header, body}
}

func get(t *testing.T, u string, h map[string]string) response { return do(t, "GET", u, h) }

func sum(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// runConformance checks one file, served at u, whose content is data.
func runConformance(t *testing.T, name, u string, data []byte) {
	size := int64(len(data))
	head := do(t, "HEAD", u, nil)
	etag, lastMod := head.Header.Get("ETag"), head.Header.Get("Last-Modified")
	if head.StatusCode != 200 || !strings.HasPrefix(etag, `"`) || !strings.HasSuffix(etag, `"`) || lastMod == "" {
		t.Fatalf("%s: HEAD %d ETag %q Last-Modified %q: want 200 with a quoted strong ETag and a date", name, head.StatusCode, etag, lastMod)
	}
	lm, _ := http.ParseTime(lastMod)
	sz := strconv.FormatInt(size, 10)
	type tc struct {
		desc    string
		hdr     map[string]string
		status  int
		body    []byte            // nil: no check (multipart checked apart)
		headers map[string]string // exact values
		parts   [][2]int64        // multipart: [start, end] inclusive
	}
	cases := []tc{
		{"full", nil, 200, data, map[string]string{"Content-Length": sz, "Accept-Ranges": "bytes", "ETag": etag, "Cache-Control": "public, max-age=60", "X-Content-Type-Options": "nosniff"}, nil},
		{"first 100", map[string]string{"Range": "bytes=0-99"}, 206, data[:100], map[string]string{"Content-Range": "bytes 0-99/" + sz, "Content-Length": "100"}, nil},
		{"suffix", map[string]string{"Range": "bytes=-100"}, 206, data[size-100:], map[string]string{"Content-Range": fmt.Sprintf("bytes %d-%d/%s", size-100, size-1, sz)}, nil},
		{"open", map[string]string{"Range": "bytes=100-"}, 206, data[100:], map[string]string{"Content-Range": fmt.Sprintf("bytes 100-%d/%s", size-1, sz)}, nil},
		{"clamped", map[string]string{"Range": fmt.Sprintf("bytes=%d-%d", size-10, size+1000)}, 206, data[size-10:], nil, nil},
		{"last byte", map[string]string{"Range": fmt.Sprintf("bytes=%d-%d", size-1, size-1)}, 206, data[size-1:], nil, nil},
		{"multi", map[string]string{"Range": "bytes=0-9, 20-29,-5"}, 206, nil, nil, [][2]int64{{0, 9}, {20, 29}, {size - 5, size - 1}}},
		{"overlap coalesced", map[string]string{"Range": "bytes=0-50,10-60"}, 206, data[:61], map[string]string{"Content-Range": "bytes 0-60/" + sz}, nil},
		{"unsatisfiable", map[string]string{"Range": fmt.Sprintf("bytes=%d-", size)}, 416, nil, map[string]string{"Content-Range": "bytes */" + sz}, nil},
		{"malformed", map[string]string{"Range": "bytes=abc"}, 200, data, nil, nil},
		{"other unit", map[string]string{"Range": "items=0-1"}, 200, data, nil, nil},
		{"inm match", map[string]string{"If-None-Match": etag}, 304, []byte{}, map[string]string{"ETag": etag, "Cache-Control": "public, max-age=60"}, nil},
		{"inm weak", map[string]string{"If-None-Match": "W/" + etag}, 304, []byte{}, nil, nil},
		{"inm other", map[string]string{"If-None-Match": `"other"`}, 200, data, nil, nil},
		{"im fail", map[string]string{"If-Match": `"other"`}, 412, nil, nil, nil},
		{"im ok", map[string]string{"If-Match": etag, "Range": "bytes=0-0"}, 206, data[:1], nil, nil},
		{"ius fail", map[string]string{"If-Unmodified-Since": lm.Add(-time.Hour).Format(http.TimeFormat)}, 412, nil, nil, nil},
		{"ims not modified", map[string]string{"If-Modified-Since": lm.Format(http.TimeFormat)}, 304, []byte{}, nil, nil},
		{"ims modified", map[string]string{"If-Modified-Since": lm.Add(-time.Hour).Format(http.TimeFormat)}, 200, data, nil, nil},
		{"if-range etag", map[string]string{"Range": "bytes=5-9", "If-Range": etag}, 206, data[5:10], nil, nil},
		{"if-range stale", map[string]string{"Range": "bytes=5-9", "If-Range": `"stale"`}, 200, data, nil, nil},
		{"if-range weak", map[string]string{"Range": "bytes=5-9", "If-Range": "W/" + etag}, 200, data, nil, nil},
		{"if-range date", map[string]string{"Range": "bytes=5-9", "If-Range": lastMod}, 206, data[5:10], nil, nil},
		{"1000 ranges", map[string]string{"Range": "bytes=" + strings.Repeat("0-0,", 999) + "0-0"}, 206, data[:1], nil, nil},
	}
	for _, c := range cases {
		for _, method := range []string{"GET", "HEAD"} {
			r := do(t, method, u, c.hdr)
			if r.StatusCode != c.status {
				t.Errorf("%s %s %s: status %d, want %d", name, method, c.desc, r.StatusCode, c.status)
				continue
			}
			for k, v := range c.headers {
				if got := r.Header.Get(k); got != v {
					t.Errorf("%s %s %s: %s = %q, want %q", name, method, c.desc, k, got, v)
				}
			}
			if method == "HEAD" {
				if len(r.Body) != 0 {
					t.Errorf("%s HEAD %s: %d body bytes", name, c.desc, len(r.Body))
				}
				continue
			}
			if c.body != nil && sum(r.Body) != sum(c.body) {
				t.Errorf("%s GET %s: body sha256 %s (%d bytes), want %s (%d bytes)", name, c.desc, sum(r.Body), len(r.Body), sum(c.body), len(c.body))
			}
			if cl := r.Header.Get("Content-Length"); r.StatusCode/100 == 2 && cl != strconv.Itoa(len(r.Body)) {
				t.Errorf("%s GET %s: Content-Length %s, body %d bytes", name, c.desc, cl, len(r.Body))
			}
			if c.parts != nil {
				checkMultipart(t, name+" "+c.desc, r, data, c.parts)
			}
		}
	}
}

func checkMultipart(t *testing.T, desc string, r response, data []byte, parts [][2]int64) {
	t.Helper()
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/byteranges" {
		t.Fatalf("%s: Content-Type %q", desc, r.Header.Get("Content-Type"))
	}
	mr := multipart.NewReader(bytes.NewReader(r.Body), params["boundary"])
	for i, want := range parts {
		p, err := mr.NextPart()
		if err != nil {
			t.Fatalf("%s: part %d: %v", desc, i, err)
		}
		cr := fmt.Sprintf("bytes %d-%d/%d", want[0], want[1], len(data))
		if got := p.Header.Get("Content-Range"); got != cr {
			t.Errorf("%s: part %d Content-Range %q, want %q", desc, i, got, cr)
		}
		b, _ := io.ReadAll(p)
		if !bytes.Equal(b, data[want[0]:want[1]+1]) {
			t.Errorf("%s: part %d bytes differ", desc, i)
		}
	}
	if _, err := mr.NextPart(); err != io.EOF {
		t.Errorf("%s: more parts than %d (%v)", desc, len(parts), err)
	}
}
