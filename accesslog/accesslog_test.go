package accesslog

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// countingWriter records each Write call.
type countingWriter struct {
	mu     sync.Mutex
	b      bytes.Buffer
	writes int
}

func (c *countingWriter) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.writes++
	return c.b.Write(p)
}

func (c *countingWriter) state() (string, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.b.String(), c.writes
}

func TestLogWriterBatchesAndKeepsOrder(t *testing.T) {
	cw := &countingWriter{}
	lw := NewWriter(cw)
	for i := range 100 {
		fmt.Fprintf(lw, "line %d\n", i)
	}
	if s, n := cw.state(); n != 0 || s != "" {
		t.Fatalf("wrote %d times before the flush interval: %q", n, s)
	}
	// The timer writes the batch, in one write.
	deadline := time.Now().Add(5 * time.Second)
	for {
		if s, _ := cw.state(); s != "" || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	s, n := cw.state()
	if n != 1 {
		t.Errorf("%d writes for one batch, want 1", n)
	}
	var want strings.Builder
	for i := range 100 {
		fmt.Fprintf(&want, "line %d\n", i)
	}
	if s != want.String() {
		t.Errorf("batch = %q, want the 100 lines in order", s)
	}
}

func TestLogWriterFlushesWhenFull(t *testing.T) {
	cw := &countingWriter{}
	lw := NewWriter(cw)
	line := strings.Repeat("x", 1000) + "\n"
	for range 100 { // 100 KB through a 64 KiB buffer
		io.WriteString(lw, line)
	}
	s, n := cw.state()
	if n != 1 || len(s) != 65*len(line) {
		t.Errorf("after 100 KB: %d writes of %d bytes in all, want 1 write of the 65 lines that fit", n, len(s))
	}
	lw.Flush()
	s, n = cw.state()
	if n != 2 || s != strings.Repeat(line, 100) {
		t.Errorf("after Flush: %d writes, %d bytes; want 2 writes, every line once, in order", n, len(s))
	}
	// A record larger than the buffer goes straight through, after what
	// was buffered.
	io.WriteString(lw, "small\n")
	big := strings.Repeat("y", BufferSize+1)
	io.WriteString(lw, big)
	if s, _ := cw.state(); !strings.HasSuffix(s, "small\n"+big) {
		t.Errorf("a record larger than the buffer was not written after the buffered one")
	}
}

// unwrapper wraps a ResponseWriter the way other middleware does.
type unwrapper struct{ http.ResponseWriter }

func (u unwrapper) Unwrap() http.ResponseWriter { return u.ResponseWriter }

func TestAccessLogLine(t *testing.T) {
	cw := &countingWriter{}
	lw := NewWriter(cw)
	h := Handler(&Sink{W: lw}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/abort":
			io.WriteString(w, "partial")
			panic(http.ErrAbortHandler)
		case "/teapot":
			w.WriteHeader(http.StatusTeapot)
		case "/redirect":
			SetStrategy(unwrapper{w}, "redirect")
			w.WriteHeader(http.StatusTemporaryRedirect)
		default:
			SetStrategy(w, "serve")
			io.WriteString(w, "hello")
		}
	}))
	SetStrategy(httptest.NewRecorder(), "serve") // not an access writer: ignored
	srv := httptest.NewServer(h)
	defer srv.Close()
	long := "bytes=" + strings.Repeat("1-2,", 100)
	for _, c := range []struct{ path, rng string }{{"/ok?sig=SECRET", ""}, {"/teapot", long}, {"/abort", ""}, {"/redirect", ""}} {
		req, _ := http.NewRequest("GET", srv.URL+c.path, nil)
		if c.rng != "" {
			req.Header.Set("Range", c.rng)
		}
		if resp, err := http.DefaultClient.Do(req); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
	lw.Flush()
	s, _ := cw.state()
	for _, want := range []string{
		"method=GET path=/ok status=200 bytes=5 ",
		" strategy=serve\n",
		"path=/redirect status=307 bytes=0 ",
		" strategy=redirect\n",
		"path=/teapot status=418 bytes=0 ",
		`range="bytes=1-2,1-2,`,
		"path=/abort status=200 bytes=7 ",
		"aborted=true",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("access log lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, "SECRET") {
		t.Errorf("the query (signatures) is logged:\n%s", s)
	}
	if strings.Contains(s, strings.Repeat("1-2,", 40)) {
		t.Errorf("a long Range header is logged whole:\n%s", s)
	}
}

// BenchmarkAccessLog is the access log's cost per request: formatting and
// buffering, without the handler's work or the network.
func BenchmarkAccessLog(b *testing.B) {
	h := Handler(&Sink{W: NewWriter(io.Discard)}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		SetStrategy(w, "serve")
		w.WriteHeader(http.StatusPartialContent)
	}))
	r := httptest.NewRequest("GET", "/big.bin", nil)
	r.Header.Set("Range", "bytes=1000-66535")
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(w, r)
	}
}

type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (d *discardWriter) WriteHeader(int)             {}

// slogLine is what slog's text or JSON handler writes for rec.
func slogLine(rec *record, json bool) string {
	var out bytes.Buffer
	var h slog.Handler = slog.NewTextHandler(&out, nil)
	if json {
		h = slog.NewJSONHandler(&out, nil)
	}
	r := slog.NewRecord(rec.t, slog.LevelInfo, "request", 0)
	r.AddAttrs(slog.String("method", rec.method), slog.String("path", rec.path), slog.Int("status", rec.status),
		slog.Int64("bytes", rec.bytes), slog.Duration("dur", rec.dur), slog.String("remote", rec.remote))
	if rec.rng != "" {
		r.AddAttrs(slog.String("range", rec.rng))
	}
	if rec.strategy != "" {
		r.AddAttrs(slog.String("strategy", rec.strategy))
	}
	if rec.aborted {
		r.AddAttrs(slog.Bool("aborted", true))
	}
	h.Handle(context.Background(), r)
	return out.String()
}

// checkAccessLine fails t unless rec formats as slog would, in both
// syntaxes.
func checkAccessLine(t *testing.T, rec *record) {
	t.Helper()
	if got, want := string(rec.appendText(nil)), slogLine(rec, false); got != want {
		t.Errorf("text, path %q:\n got %s want %s", rec.path, got, want)
	}
	if got, want := string(rec.appendJSON(nil)), slogLine(rec, true); got != want {
		t.Errorf("json, path %q:\n got %s want %s", rec.path, got, want)
	}
}

var accessLineSeeds = []string{"/plain.mp4", "/a b.mp4", "/vidéo 𝄞.mp4", `/q"uote`, "/back\\slash", "/eq=ual", "",
	"/ctl\x01\x7f", "/nl\n\r\t", "/bad\xff\xfeutf8", "/line\u2028sep\u2029", "/<html>&amp;", "/\ufffd", "/nbsp\u00a0"}

// TestAccessLineIsSlogs: the hand-formatted access line is byte for byte
// what slog's handlers write for the same record, in both formats, for
// values that need quoting and escaping.
func TestAccessLineIsSlogs(t *testing.T) {
	when := time.Date(2026, 11, 22, 8, 51, 11, 485_123_456, time.UTC)
	for i, s := range accessLineSeeds {
		checkAccessLine(t, &record{
			t: when.Add(time.Duration(i) * 1_000_001), method: "GET", path: s, status: 206,
			bytes: int64(i) * 1000, dur: time.Duration(i) * 1234567, remote: "127.0.0.1:" + strconv.Itoa(5000+i),
			rng: s, strategy: s, aborted: i%2 == 1,
		})
	}
}

// FuzzAccessLine: for any path, method and Range header a client can
// send, the access line is slog's.
func FuzzAccessLine(f *testing.F) {
	for _, s := range accessLineSeeds {
		f.Add("GET", s, s, "serve", int64(1e9))
	}
	f.Fuzz(func(t *testing.T, method, path, rng, strategy string, ns int64) {
		checkAccessLine(t, &record{
			t: time.Unix(0, ns), method: method, path: path, status: 200,
			bytes: ns, dur: time.Duration(ns), remote: "[::1]:80", rng: rng, strategy: strategy, aborted: ns%2 == 0,
		})
	})
}
