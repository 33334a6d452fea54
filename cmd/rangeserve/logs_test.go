package main

import (
	"bytes"
	"strings"
	"sync"
	"testing"
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

func TestLoggersFlushProcessLinesAtOnce(t *testing.T) {
	cw := &countingWriter{}
	logs := newLoggers(LogConfig{Level: "info", Format: "text"}, cw)
	logs.access.W.Write([]byte("time=x level=INFO msg=request path=/a\n"))
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
