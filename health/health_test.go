package health_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rangeserve/rangeserve/health"
)

// get runs h for method and returns the status and body.
func get(t *testing.T, h http.Handler, method string) (int, http.Header, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, "/", nil))
	return rec.Code, rec.Header(), rec.Body.String()
}

// counting returns a probe that counts its calls and returns err.
func counting(n *atomic.Int32, err error) health.Probe {
	return func(ctx context.Context) error {
		n.Add(1)
		return err
	}
}

func TestLive(t *testing.T) {
	c := health.New(health.Options{})
	c.SetDraining(true) // liveness does not care
	for _, tt := range []struct {
		method string
		status int
		body   string
	}{
		{"GET", 200, "ok\n"},
		{"HEAD", 200, ""},
		{"POST", 405, "405 method not allowed\n"},
	} {
		status, hdr, body := get(t, c.Live(), tt.method)
		if status != tt.status || body != tt.body {
			t.Errorf("%s /healthz = %d %q, want %d %q", tt.method, status, body, tt.status, tt.body)
		}
		if tt.status == 200 && (hdr.Get("Cache-Control") != "no-store" || hdr.Get("Content-Length") != "3") {
			t.Errorf("%s /healthz headers = %v", tt.method, hdr)
		}
	}
}

func TestReady(t *testing.T) {
	secret := errors.New("dial tcp 10.1.2.3:9000: connection refused")
	tests := []struct {
		name     string
		probes   map[string]health.Probe
		draining bool
		status   int
		lines    []string // expected lines, each a prefix
	}{
		{"no probes", nil, false, 200, []string{"ready"}},
		{"all ok", map[string]health.Probe{
			"mount /b/": func(context.Context) error { return nil },
			"mount /a/": func(context.Context) error { return nil },
		}, false, 200, []string{"ready", "mount /a/ ok ", "mount /b/ ok "}},
		{"one fails", map[string]health.Probe{
			"s3 /videos/": func(context.Context) error { return secret },
			"local /":     func(context.Context) error { return nil },
		}, false, 503, []string{"not ready", "local / ok ", "s3 /videos/ failed "}},
		{"one times out", map[string]health.Probe{
			"slow": func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() },
		}, false, 503, []string{"not ready", "slow timeout "}},
		{"draining", map[string]health.Probe{
			"never": func(context.Context) error { panic("a draining server runs no probe") },
		}, true, 503, []string{"draining"}},
		{"a panicking probe fails, the server does not", map[string]health.Probe{
			"p1": func(context.Context) error { panic("boom") },
		}, false, 503, []string{"not ready", "p1 failed "}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			c := health.New(health.Options{Timeout: 100 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			c.SetProbes(tt.probes)
			c.SetDraining(tt.draining)
			for _, method := range []string{"GET", "HEAD"} {
				status, hdr, body := get(t, c.Ready(), method)
				if status != tt.status {
					t.Errorf("%s /readyz status = %d, want %d (body %q)", method, status, tt.status, body)
				}
				if (status == 503) != (hdr.Get("Retry-After") == "1") {
					t.Errorf("%s /readyz %d: Retry-After = %q", method, status, hdr.Get("Retry-After"))
				}
				if method == "HEAD" {
					if body != "" {
						t.Errorf("HEAD /readyz has a body %q", body)
					}
					continue
				}
				lines := strings.Split(strings.TrimSuffix(body, "\n"), "\n")
				if len(lines) != len(tt.lines) {
					t.Fatalf("GET /readyz body = %q, want lines starting %q", body, tt.lines)
				}
				for i, l := range lines {
					if !strings.HasPrefix(l, tt.lines[i]) {
						t.Errorf("line %d = %q, want prefix %q", i, l, tt.lines[i])
					}
				}
				if strings.Contains(body, "10.1.2.3") || strings.Contains(body, "boom") {
					t.Errorf("body %q leaks an error's text", body)
				}
			}
			if tt.status == 503 && !tt.draining && !strings.Contains(logs.String(), "probe failed") {
				t.Errorf("no log line for a failing probe: %q", logs.String())
			}
		})
	}
}

func TestProbesRunInParallel(t *testing.T) {
	c := health.New(health.Options{Timeout: 2 * time.Second})
	probes := map[string]health.Probe{}
	for _, n := range []string{"a", "b", "c", "d"} {
		probes[n] = func(ctx context.Context) error {
			select {
			case <-time.After(300 * time.Millisecond):
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	c.SetProbes(probes)
	start := time.Now()
	res, err := c.Check(context.Background())
	if err != nil || !res.Ready || len(res.Probes) != 4 {
		t.Fatalf("Check = %+v, %v", res, err)
	}
	if d := time.Since(start); d > 900*time.Millisecond {
		t.Errorf("4 probes of 300ms took %v: not run in parallel", d)
	}
}

func TestReuseAndSharing(t *testing.T) {
	var n atomic.Int32
	c := health.New(health.Options{Reuse: time.Hour})
	release := make(chan struct{})
	c.SetProbes(map[string]health.Probe{"p": func(ctx context.Context) error {
		n.Add(1)
		<-release
		return nil
	}})
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if res, err := c.Check(context.Background()); err != nil || !res.Ready {
				t.Errorf("Check = %+v, %v", res, err)
			}
		})
	}
	time.Sleep(50 * time.Millisecond)
	close(release)
	wg.Wait()
	c.Check(context.Background())
	if got := n.Load(); got != 1 {
		t.Errorf("20 concurrent checks and one later ran the probe %d times, want 1", got)
	}

	var m atomic.Int32
	c = health.New(health.Options{Reuse: health.NoReuse})
	c.SetProbes(map[string]health.Probe{"p": counting(&m, nil)})
	for range 3 {
		c.Check(context.Background())
	}
	if got := m.Load(); got != 3 {
		t.Errorf("NoReuse: 3 checks ran the probe %d times, want 3", got)
	}

	// SetProbes drops the reused result: the new probe runs at once.
	var k atomic.Int32
	c = health.New(health.Options{Reuse: time.Hour})
	c.SetProbes(map[string]health.Probe{"p": counting(&m, nil)})
	c.Check(context.Background())
	c.SetProbes(map[string]health.Probe{"q": counting(&k, errors.New("down"))})
	res, _ := c.Check(context.Background())
	if res.Ready || k.Load() != 1 || len(res.Probes) != 1 || res.Probes[0].Name != "q" {
		t.Errorf("after SetProbes: %+v, new probe ran %d times", res, k.Load())
	}
}

func TestHungProbeIsNotStackedUp(t *testing.T) {
	var n atomic.Int32
	hang := make(chan struct{})
	defer close(hang)
	c := health.New(health.Options{Timeout: 50 * time.Millisecond, Reuse: health.NoReuse})
	c.SetProbes(map[string]health.Probe{"nfs": func(ctx context.Context) error {
		n.Add(1)
		<-hang // ignores ctx, like a stat on a dead NFS server
		return nil
	}})
	for range 3 {
		res, err := c.Check(context.Background())
		if err != nil || res.Ready || !errors.Is(res.Probes[0].Err, health.ErrTimeout) {
			t.Fatalf("Check = %+v, %v; want a timeout", res, err)
		}
	}
	if got := n.Load(); got != 1 {
		t.Errorf("a hung probe was started %d times, want 1", got)
	}
}

func TestDrainingToggles(t *testing.T) {
	var n atomic.Int32
	c := health.New(health.Options{Reuse: health.NoReuse})
	c.SetProbes(map[string]health.Probe{"p": counting(&n, nil)})
	if s, _, _ := get(t, c.Ready(), "GET"); s != 200 {
		t.Fatalf("ready = %d", s)
	}
	c.SetDraining(true)
	if s, _, b := get(t, c.Ready(), "GET"); s != 503 || b != "draining\n" || !c.Draining() {
		t.Fatalf("draining: %d %q", s, b)
	}
	c.SetDraining(false)
	if s, _, _ := get(t, c.Ready(), "GET"); s != 200 {
		t.Fatalf("after draining: %d", s)
	}
	if n.Load() != 2 {
		t.Errorf("probe ran %d times, want 2 (not while draining)", n.Load())
	}
}

func TestStateChangesAreLoggedOnce(t *testing.T) {
	var logs bytes.Buffer
	var fail atomic.Bool
	c := health.New(health.Options{Reuse: health.NoReuse, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	c.SetProbes(map[string]health.Probe{"s3": func(context.Context) error {
		if fail.Load() {
			return errors.New("bucket gone")
		}
		return nil
	}})
	steps := []bool{false, true, true, true, false, false}
	for _, f := range steps {
		fail.Store(f)
		c.Check(context.Background())
	}
	out := logs.String()
	if strings.Count(out, "probe failed") != 1 || strings.Count(out, "answers again") != 1 || !strings.Contains(out, "bucket gone") {
		t.Errorf("logs = %q, want one failure line with the error and one recovery line", out)
	}
}

func TestCheckHonoursCallerContext(t *testing.T) {
	c := health.New(health.Options{Timeout: time.Second})
	c.SetProbes(map[string]health.Probe{"slow": func(ctx context.Context) error {
		<-ctx.Done()
		return ctx.Err()
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := c.Check(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Check = %v, want the caller's deadline", err)
	}
	if time.Since(start) > 500*time.Millisecond {
		t.Errorf("Check waited %v past the caller's deadline", time.Since(start))
	}
}
