package main

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rangeserve/rangeserve/accesslog"
	"github.com/rangeserve/rangeserve/internal/testenv"
)

// binPath is the rangeserve binary built once for the tests that run it as
// a process, the way users and real clients see it.
var (
	binOnce sync.Once
	binPath string
	binErr  error
)

func buildBinary(t testing.TB) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "rangeserve-bin-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "rangeserve")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

// proc is a running rangeserve binary.
type proc struct {
	URL  string
	cmd  *exec.Cmd
	logs *syncBuffer
	done chan error
	// config is the path of its config file (a reload test rewrites it).
	config string
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// loggedLines returns the process's log once the access lines of the
// requests made so far have been written: they are batched for up to
// accesslog.FlushEvery.
func (p *proc) loggedLines() string {
	time.Sleep(accesslog.FlushEvery + 150*time.Millisecond)
	return p.logs.String()
}

// startBinary writes config (a YAML document without listen) into a temp
// dir, starts the binary on a free loopback port and waits until it
// answers. It is stopped by pid at the end of the test.
func startBinary(t *testing.T, config string, env ...string) *proc {
	t.Helper()
	return startBinaryWith(t, config, "http", http.DefaultClient, env...)
}

// startBinaryWith is startBinary for a server whose URL has scheme
// ("https" for a config with server.tls), polled with client.
func startBinaryWith(t *testing.T, config, scheme string, client *http.Client, env ...string) *proc {
	t.Helper()
	bin := buildBinary(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfg, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	p := &proc{URL: scheme + "://" + addr, logs: &syncBuffer{}, done: make(chan error, 1), config: cfg}
	p.cmd = exec.Command(bin, "-config", cfg, "-listen", addr)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		p.stop(t)
		if t.Failed() {
			t.Logf("rangeserve log:\n%s", p.logs.String())
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := client.Get(p.URL + "/api/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		select {
		case err := <-p.done:
			t.Fatalf("rangeserve exited before answering: %v\n%s", err, p.logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("rangeserve did not answer on %s within 15s\n%s", addr, p.logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop sends SIGTERM and waits for a graceful exit, killing after 10s.
func (p *proc) stop(t *testing.T) error {
	if p.cmd.ProcessState != nil {
		return nil
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		p.done <- err
		return err
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		err := <-p.done
		p.done <- err
		t.Errorf("rangeserve did not stop within 10s of SIGTERM")
		return err
	}
}

func sha256File(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// randomFile writes size random bytes to dir/name.
func randomFile(t *testing.T, dir, name string, size int64) string {
	t.Helper()
	p := filepath.Join(dir, name)
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.CopyN(f, rand.Reader, size); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return p
}

func localConfig(root string) string {
	return fmt.Sprintf(`
mounts:
  - prefix: /
    backend: local
    root: %q
    auth: public
`, root)
}

func repoTestdata(t *testing.T) string {
	t.Helper()
	p, err := filepath.Abs("../../testdata")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func runCmd(t *testing.T, timeout time.Duration, name string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(name, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return out.String(), err
	case <-time.After(timeout):
		_ = cmd.Process.Kill()
		<-done
		return out.String(), fmt.Errorf("%s killed after %s", name, timeout)
	}
}

func TestBinaryDefaultConfigServesTestdata(t *testing.T) {
	// The shipped config.yaml, as `go run ./cmd/rangeserve` uses it from
	// the repository root.
	data, err := os.ReadFile("../../config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.Replace(string(data), "root: testdata", "root: "+repoTestdata(t), 1)
	p := startBinary(t, cfg)
	resp, err := http.Get(p.URL + "/video.mp4")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "video/mp4" {
		t.Fatalf("GET /video.mp4: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	sum := sha256.Sum256(body)
	if got, want := hex.EncodeToString(sum[:]), sha256File(t, filepath.Join(repoTestdata(t), "video.mp4")); got != want {
		t.Fatalf("sha256 = %s, want %s", got, want)
	}
	// Graceful stop on SIGTERM exits 0.
	if err := p.stop(t); err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, p.logs.String())
	}
	logs := p.logs.String()
	if !strings.Contains(logs, "stopped") {
		t.Errorf("no shutdown line in the log:\n%s", logs)
	}
	// The access line was batched; shutting down writes it, before the
	// shutdown lines (it was buffered first).
	access := strings.Index(logs, "path=/video.mp4 status=200 bytes=")
	if access < 0 || access > strings.Index(logs, "shutting down") {
		t.Errorf("the access line is missing or out of order after SIGTERM:\n%s", logs)
	}
}
