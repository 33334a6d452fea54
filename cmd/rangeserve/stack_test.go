package main

import (
	"bufio"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestConnectionStack: a connection whose transfer is in progress costs
// its handler goroutine an 8 KiB stack, not 16. net/http writes the
// status line and headers with a 2.8 KiB frame when the body's first
// byte goes out; media sends single-span bodies from a shallow frame so
// that this fits (media's bodyTail). Before, every connection's stack
// grew to 16 KiB and kept it while the transfer lasted: 8 MiB more for
// 1,000 slow readers. Measured through the binary, with the whole
// middleware chain as shipped, by the runtime's own count of stack
// memory (go_memstats_stack_inuse_bytes), while 200 clients that do not
// read hold their transfers open.
func TestConnectionStack(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big.bin")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(256 << 20); err != nil { // sparse: never read past the socket buffers
		t.Fatal(err)
	}
	f.Close()
	p := startBinary(t, "server:\n  max_streams_per_client: 0\nmounts:\n  - {prefix: /m/, backend: local, root: "+dir+", auth: public}\n")
	addr := strings.TrimPrefix(p.URL, "http://")
	const conns = 200
	idle := scrapeMetrics(t, http.DefaultClient, p.URL+"/metrics")

	for _, c := range []struct{ name, req string }{
		{"sendfile", "GET /m/big.bin HTTP/1.1\r\nHost: x\r\n\r\n"},
		// A single range: Content-Range, the same sendfile path.
		{"range of a file", "GET /m/big.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=100-99999999\r\n\r\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			// The previous case's connections are gone first.
			var before map[string]float64
			for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
				before = scrapeMetrics(t, http.DefaultClient, p.URL+"/metrics")
				if before["go_goroutines"] <= idle["go_goroutines"]+2 || time.Now().After(deadline) {
					break
				}
			}
			var open []net.Conn
			defer func() {
				for _, nc := range open {
					nc.Close()
				}
			}()
			for range conns {
				nc, err := net.Dial("tcp", addr)
				if err != nil {
					t.Fatal(err)
				}
				open = append(open, nc)
				if _, err := nc.Write([]byte(c.req)); err != nil {
					t.Fatal(err)
				}
			}
			// Every connection has its status line (the headers went out);
			// nobody reads on, so every handler is blocked mid-body.
			for i, nc := range open {
				nc.SetReadDeadline(time.Now().Add(10 * time.Second))
				line, err := bufio.NewReaderSize(nc, 64).ReadString('\n')
				if err != nil || !strings.HasPrefix(line, "HTTP/1.1 20") {
					t.Fatalf("connection %d: status line %q, %v", i, line, err)
				}
			}
			// Wait until the count of goroutines settles (a handler each,
			// and net/http's background read for most).
			var after map[string]float64
			last := -1.0
			for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
				after = scrapeMetrics(t, http.DefaultClient, p.URL+"/metrics")
				g := after["go_goroutines"]
				if g == last || time.Now().After(deadline) {
					break
				}
				last = g
			}
			if g := after["go_goroutines"] - before["go_goroutines"]; g < conns {
				t.Fatalf("%v goroutines more with %d connections in flight, want at least one handler each", g, conns)
			}
			per := (after["go_memstats_stack_inuse_bytes"] - before["go_memstats_stack_inuse_bytes"]) / conns
			t.Logf("%s: %.1f KiB of goroutine stack per connection in flight", c.name, per/1024)
			// 8 KiB for the handler, 2 KiB for its background read; 16 KiB
			// for the handler alone when the header flush grows its stack.
			if per > 13<<10 {
				t.Errorf("%s: %.1f KiB of goroutine stack per connection in flight, want at most 13 (8 for the handler, 2 for its background read)", c.name, per/1024)
			}
		})
	}
}
