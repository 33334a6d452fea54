package limits_test

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rangeserve/rangeserve/limits"
)

// byHeader is a ClientIP that reads the address from X-Test-IP, so one
// process can play many clients.
func byHeader(r *http.Request) netip.Addr {
	a, _ := netip.ParseAddr(r.Header.Get("X-Test-IP"))
	return a
}

// gate is a handler that blocks every request until released.
type gate struct {
	entered chan struct{}
	release chan struct{}
}

func newGate() *gate { return &gate{entered: make(chan struct{}, 1000), release: make(chan struct{})} }

func (g *gate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.entered <- struct{}{}
	<-g.release
	io.WriteString(w, "ok")
}

// call runs one request through h and returns its recorder.
func call(h http.Handler, method, ip string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, "/v.mp4", nil)
	if ip != "" {
		r.Header.Set("X-Test-IP", ip)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	return rec
}

// background starts a request that the gate holds, and waits until it is
// inside the handler.
func background(t *testing.T, wg *sync.WaitGroup, h http.Handler, g *gate, ip string) {
	t.Helper()
	wg.Go(func() {
		if rec := call(h, "GET", ip); rec.Code != 200 {
			t.Errorf("held request from %s ended %d", ip, rec.Code)
		}
	})
	select {
	case <-g.entered:
	case <-time.After(5 * time.Second):
		t.Fatalf("request from %s never reached the handler", ip)
	}
}

func TestStreamCaps(t *testing.T) {
	var logs bytes.Buffer
	l, err := limits.New(limits.Options{
		MaxStreams: 3, MaxStreamsPerClient: 2, RetryAfter: 1500 * time.Millisecond,
		ClientIP: byHeader, WriteIdleTimeout: limits.Off,
		Logger: slog.New(slog.NewTextHandler(&logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	g := newGate()
	h := l.Middleware(g)
	var wg sync.WaitGroup
	defer wg.Wait()
	background(t, &wg, h, g, "192.0.2.1")
	background(t, &wg, h, g, "192.0.2.1")

	tests := []struct {
		name, method, ip string
		bodyHas          string
	}{
		{"third stream of one address", "GET", "192.0.2.1", "2 streams from your address"},
		{"HEAD is refused the same, without a body", "HEAD", "192.0.2.1", ""},
	}
	for _, tt := range tests {
		rec := call(h, tt.method, tt.ip)
		checkRefused(t, tt.name, rec, tt.bodyHas)
	}
	background(t, &wg, h, g, "2001:db8::1") // another client: admitted
	if n := l.Active(); n != 3 {
		t.Errorf("Active = %d, want 3", n)
	}
	checkRefused(t, "over the total", call(h, "GET", "198.51.100.7"), "server is at its limit")
	checkRefused(t, "unknown address, over the total", call(h, "GET", ""), "server is at its limit")
	if !strings.Contains(logs.String(), "reason=client") || !strings.Contains(logs.String(), "client=192.0.2.1") ||
		!strings.Contains(logs.String(), "reason=server") {
		t.Errorf("log lines = %q, want one per reason naming the client", logs.String())
	}
	close(g.release)
	wg.Wait()
	if n := l.Active(); n != 0 {
		t.Errorf("Active after the streams ended = %d, want 0", n)
	}
	// Slots are given back: the same address streams again.
	g2 := newGate()
	close(g2.release)
	if rec := call(l.Middleware(g2), "GET", "192.0.2.1"); rec.Code != 200 {
		t.Errorf("after release: %d", rec.Code)
	}
}

func checkRefused(t *testing.T, name string, rec *httptest.ResponseRecorder, bodyHas string) {
	t.Helper()
	if rec.Code != http.StatusTooManyRequests {
		t.Errorf("%s: status %d, want 429", name, rec.Code)
	}
	if got := rec.Header().Get("Retry-After"); got != "2" {
		t.Errorf("%s: Retry-After = %q, want \"2\" (1.5s rounded up)", name, got)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "text/plain; charset=utf-8" {
		t.Errorf("%s: Content-Type = %q", name, ct)
	}
	body := rec.Body.String()
	if bodyHas == "" && body != "" || bodyHas != "" && !strings.Contains(body, bodyHas) {
		t.Errorf("%s: body %q, want it to contain %q", name, body, bodyHas)
	}
}

func TestCapsOff(t *testing.T) {
	l, err := limits.New(limits.Options{MaxStreams: limits.Off, MaxStreamsPerClient: limits.Off, ClientIP: byHeader})
	if err != nil {
		t.Fatal(err)
	}
	g := newGate()
	h := l.Middleware(g)
	var wg sync.WaitGroup
	for range 300 {
		background(t, &wg, h, g, "192.0.2.9")
	}
	close(g.release)
	wg.Wait()
}

func TestDefaults(t *testing.T) {
	l, err := limits.New(limits.Options{ClientIP: byHeader, WriteIdleTimeout: limits.Off})
	if err != nil {
		t.Fatal(err)
	}
	g := newGate()
	h := l.Middleware(g)
	var wg sync.WaitGroup
	for range limits.DefaultMaxStreamsPerClient {
		background(t, &wg, h, g, "192.0.2.3")
	}
	rec := call(h, "GET", "192.0.2.3")
	if rec.Code != 429 || rec.Header().Get("Retry-After") != "5" {
		t.Errorf("stream %d of one address: %d, Retry-After %q; want 429, 5", limits.DefaultMaxStreamsPerClient+1, rec.Code, rec.Header().Get("Retry-After"))
	}
	close(g.release)
	wg.Wait()
	if l.WriteIdleTimeout() != 0 {
		t.Errorf("WriteIdleTimeout() with Off = %v", l.WriteIdleTimeout())
	}
	l, _ = limits.New(limits.Options{})
	if l.WriteIdleTimeout() != limits.DefaultWriteIdleTimeout {
		t.Errorf("default WriteIdleTimeout() = %v", l.WriteIdleTimeout())
	}
}

func TestPanicGivesTheSlotBack(t *testing.T) {
	l, _ := limits.New(limits.Options{MaxStreams: 1, ClientIP: byHeader})
	h := l.Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic(http.ErrAbortHandler) }))
	func() {
		defer func() {
			if v := recover(); v != http.ErrAbortHandler {
				t.Errorf("recovered %v, want http.ErrAbortHandler to go on", v)
			}
		}()
		call(h, "GET", "192.0.2.1")
	}()
	if n := l.Active(); n != 0 {
		t.Errorf("Active after a panic = %d, want 0", n)
	}
}

func TestRefusalLogIsThrottled(t *testing.T) {
	var logs bytes.Buffer
	l, _ := limits.New(limits.Options{MaxStreams: 1, ClientIP: byHeader, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	g := newGate()
	h := l.Middleware(g)
	var wg sync.WaitGroup
	background(t, &wg, h, g, "192.0.2.1")
	for range 5 {
		call(h, "GET", "192.0.2.2")
	}
	if n := strings.Count(logs.String(), "stream refused"); n != 1 {
		t.Errorf("5 refusals within a second logged %d lines, want 1", n)
	}
	time.Sleep(1100 * time.Millisecond)
	call(h, "GET", "192.0.2.2")
	if !strings.Contains(logs.String(), "similar_refusals_not_logged=4") {
		t.Errorf("the next line does not count the 4 left out: %q", logs.String())
	}
	close(g.release)
	wg.Wait()
}

func TestNewRefuses(t *testing.T) {
	tests := []struct {
		opts   limits.Options
		errHas string
	}{
		{limits.Options{MaxStreams: -2}, "MaxStreams -2 is negative"},
		{limits.Options{MaxStreamsPerClient: -5}, "MaxStreamsPerClient"},
		{limits.Options{ConnRate: -3}, "ConnRate"},
		{limits.Options{ConnRate: 100}, "below 1 KiB/s"},
		{limits.Options{KeyRate: 1 << 20}, "KeyOf is nil"},
		{limits.Options{RetryAfter: -time.Second}, "RetryAfter"},
		{limits.Options{WriteIdleTimeout: -2 * time.Second}, "WriteIdleTimeout"},
	}
	for _, tt := range tests {
		if _, err := limits.New(tt.opts); err == nil || !strings.Contains(err.Error(), tt.errHas) {
			t.Errorf("New(%+v) = %v, want an error containing %q", tt.opts, err, tt.errHas)
		}
	}
}
