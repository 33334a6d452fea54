package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
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
	lw := newLogWriter(cw)
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
	lw := newLogWriter(cw)
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
	big := strings.Repeat("y", logBufferSize+1)
	io.WriteString(lw, big)
	if s, _ := cw.state(); !strings.HasSuffix(s, "small\n"+big) {
		t.Errorf("a record larger than the buffer was not written after the buffered one")
	}
}

func TestLoggersFlushProcessLinesAtOnce(t *testing.T) {
	cw := &countingWriter{}
	logs := newLoggers(LogConfig{Level: "info", Format: "text"}, cw)
	logs.access.Info("request", "path", "/a")
	if s, _ := cw.state(); s != "" {
		t.Fatalf("an access line was written at once: %q", s)
	}
	logs.log.With("mount", "/").Warn("something failed")
	s, n := cw.state()
	if n != 1 || !strings.Contains(s, "path=/a") || !strings.Contains(s, "something failed") ||
		strings.Index(s, "path=/a") > strings.Index(s, "something failed") {
		t.Errorf("a process line must flush what is buffered before it, in order, in one write; got %d writes:\n%s", n, s)
	}
	// JSON too.
	cw = &countingWriter{}
	logs = newLoggers(LogConfig{Level: "info", Format: "json"}, cw)
	logs.log.Info("listening")
	if s, _ := cw.state(); !strings.HasPrefix(s, `{"time":`) {
		t.Errorf("json format: %q", s)
	}
}

func TestAccessLogLine(t *testing.T) {
	cw := &countingWriter{}
	logs := newLoggers(LogConfig{Level: "info", Format: "text"}, cw)
	h := accessLog(logs.access, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/abort":
			io.WriteString(w, "partial")
			panic(http.ErrAbortHandler)
		case "/teapot":
			w.WriteHeader(http.StatusTeapot)
		default:
			io.WriteString(w, "hello")
		}
	}))
	srv := httptest.NewServer(h)
	defer srv.Close()
	long := "bytes=" + strings.Repeat("1-2,", 100)
	for _, c := range []struct{ path, rng string }{{"/ok?sig=SECRET", ""}, {"/teapot", long}, {"/abort", ""}} {
		req, _ := http.NewRequest("GET", srv.URL+c.path, nil)
		if c.rng != "" {
			req.Header.Set("Range", c.rng)
		}
		if resp, err := http.DefaultClient.Do(req); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
	logs.w.Flush()
	s, _ := cw.state()
	for _, want := range []string{
		"method=GET path=/ok status=200 bytes=5 ",
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
	logs := newLoggers(LogConfig{Level: "info", Format: "text"}, io.Discard)
	h := accessLog(logs.access, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
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
