package main

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// rawGet sends target as the request-target byte for byte, the way an
// attacker would (a client library would clean it first), and returns the
// response with its body.
func rawGet(t *testing.T, base, target string, extra ...string) (*http.Response, string) {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	req := "GET " + target + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
	for _, h := range extra {
		req += h + "\r\n"
	}
	if _, err := c.Write([]byte(req + "\r\n")); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("GET %q: %v", target, err)
	}
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	resp.Body.Close()
	return resp, b.String()
}

// TestTraversalRefused sends traversal attempts as raw request targets to a
// mount whose parent directory holds a secret: every one gets 404, and the
// secret never shows.
func TestTraversalRefused(t *testing.T) {
	parent := t.TempDir()
	root := filepath.Join(parent, "root")
	os.MkdirAll(filepath.Join(root, "sub"), 0o755)
	os.WriteFile(filepath.Join(parent, "secret.txt"), []byte("TOP-SECRET"), 0o644)
	os.WriteFile(filepath.Join(root, "sub", "ok.txt"), []byte("fine"), 0o644)
	os.WriteFile(filepath.Join(root, ".env"), []byte("TOP-SECRET"), 0o644)
	os.Symlink(filepath.Join(parent, "secret.txt"), filepath.Join(root, "link.txt"))
	srv, _, logs := startApp(t, fmt.Sprintf(`
mounts:
  - prefix: /m/
    backend: local
    root: %q
    auth: public
`, root))
	for _, target := range []string{
		"/m/../secret.txt",
		"/m/sub/../../secret.txt",
		"/m/%2e%2e/secret.txt",
		"/m/%2E%2E/secret.txt",
		"/m/..%2fsecret.txt",
		"/m/sub%2f..%2f..%2fsecret.txt",
		"/m/%252e%252e/secret.txt",
		"/m/%25252e%25252e/secret.txt",
		"/m/..%5csecret.txt",
		"/m/sub\\..\\..\\secret.txt",
		"/m/%00secret.txt",
		"/m/sub/ok.txt%00.mp4",
		"/m/link.txt",
		"/m/.env",
		"/m/./sub/ok.txt",
		"/m/" + strings.Repeat("a/", 3000) + "x",
	} {
		resp, body := rawGet(t, srv.URL, target)
		if resp.StatusCode != 404 && resp.StatusCode != 400 {
			t.Errorf("GET %q: status %d, want 404 (or 400 from net/http)", target, resp.StatusCode)
		}
		if strings.Contains(body, "TOP-SECRET") {
			t.Errorf("GET %q: the secret leaked", target)
		}
	}
	// The plain path still works.
	if resp, body := rawGet(t, srv.URL, "/m/sub/ok.txt"); resp.StatusCode != 200 || body != "fine" {
		t.Errorf("GET /m/sub/ok.txt: %d %q", resp.StatusCode, body)
	}
	if !strings.Contains(logs.String(), "refused key") {
		t.Errorf("no log line for refused keys:\n%s", logs.String())
	}
}

// TestHostileHeaders: a 100 KB header gets 431 from the server; hostile
// Range headers get 200 or 416, never a 5xx or more bytes than the file.
func TestHostileHeaders(t *testing.T) {
	root := t.TempDir()
	data := []byte(strings.Repeat("0123456789", 1000))
	os.WriteFile(filepath.Join(root, "f.bin"), data, 0o644)
	p := startBinary(t, localConfig(root))
	resp, _ := rawGet(t, p.URL, "/f.bin", "X-Big: "+strings.Repeat("a", 100_000))
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("100 KB header: status %d, want 431", resp.StatusCode)
	}
	for _, rg := range []string{
		"bytes=" + strings.Repeat("0-,", 2000) + "0-",
		"bytes=" + strings.Repeat("1-2,", 1000) + "1-2",
		"bytes=-1,-2,-3,-4,-5,-6,-7,-8,-9,-10,-11,-12,-13,-14,-15,-16,-17,-18,-19,-20,-21,-22,-23,-24,-25,-26,-27,-28,-29,-30,-31,-32,-33,-34",
		"bytes=0-0,2-2,4-4,6-6,8-8,10-10,12-12,14-14,16-16,18-18,20-20,22-22,24-24,26-26,28-28,30-30,32-32,34-34,36-36,38-38,40-40,42-42,44-44,46-46,48-48,50-50,52-52,54-54,56-56,58-58,60-60,62-62,64-64,66-66",
		"bytes=99999999999999999999999-",
		"bytes=-0",
		"bytes=5-1",
		"bytes=\x01",
		"bytes=0-1;x",
		strings.Repeat("bytes=0-1", 5000),
	} {
		resp, body := rawGet(t, p.URL, "/f.bin", "Range: "+rg)
		if resp.StatusCode >= 500 {
			t.Errorf("Range %.40q: status %d", rg, resp.StatusCode)
		}
		if resp.StatusCode != 200 && resp.StatusCode != 206 && resp.StatusCode != 416 && resp.StatusCode != 400 {
			t.Errorf("Range %.40q: status %d, want 200, 206 or 416", rg, resp.StatusCode)
		}
		// Never more than the file plus the part headers of 32 parts.
		if len(body) > len(data)+32*200 {
			t.Errorf("Range %.40q: %d bytes for a %d-byte file", rg, len(body), len(data))
		}
		if resp.StatusCode == 200 && body != string(data) {
			t.Errorf("Range %.40q: 200 with the wrong bytes", rg)
		}
	}
}
