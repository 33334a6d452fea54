//go:build linux

package local_test

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/rangeserve/rangeserve/media"
	"github.com/rangeserve/rangeserve/storage/local"
)

// BenchmarkHTTP measures one keep-alive request through net/http, media
// and this backend over loopback, as the server sees it: a 64 KiB file and
// a 64 KiB range of a 4 MiB one, with and without the open-file cache
// (and with the cache but no file in memory). The client is a raw TCP
// loop that allocates nothing, so allocs/op are the server's. Compare
// allocs/op and B/op, which do not depend on the machine's load; ns/op
// does.
func BenchmarkHTTP(b *testing.B) {
	dir := b.TempDir()
	small, big := make([]byte, 64<<10), make([]byte, 4<<20)
	rand.Read(small)
	rand.Read(big)
	for name, data := range map[string][]byte{"small.bin": small, "big.bin": big} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	for _, cfg := range []struct {
		name  string
		cache local.CacheOptions
	}{
		{"nocache", local.CacheOptions{Files: local.NoCache}},
		{"cache", local.CacheOptions{}},
		{"cache-nomem", local.CacheOptions{MemoryFileSize: local.NoMemoryFiles}},
		{"cache-valid1s", local.CacheOptions{Valid: time.Second}},
	} {
		be, err := local.New(local.Options{Root: dir, Cache: cfg.cache})
		if err != nil {
			b.Fatal(err)
		}
		h, err := media.New(be, media.Options{})
		if err != nil {
			b.Fatal(err)
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second}
		go srv.Serve(ln)
		for _, tc := range []struct {
			name, path, rng string
			status          string
			n               int
		}{
			{"small", "/small.bin", "", "200", 64 << 10},
			{"range", "/big.bin", "bytes=%d-%d", "206", 64 << 10},
		} {
			b.Run(cfg.name+"/"+tc.name, func(b *testing.B) {
				conn, err := net.Dial("tcp", ln.Addr().String())
				if err != nil {
					b.Fatal(err)
				}
				defer conn.Close()
				// Requests made in advance: 16 ranges at spread offsets.
				var reqs [][]byte
				for i := range 16 {
					r := "GET " + tc.path + " HTTP/1.1\r\nHost: x\r\n"
					if tc.rng != "" {
						off := i*250_000 + 12345
						r += "Range: " + fmt.Sprintf(tc.rng, off, off+tc.n-1) + "\r\n"
					}
					reqs = append(reqs, []byte(r+"\r\n"))
				}
				br := bufio.NewReaderSize(conn, 64<<10)
				body := make([]byte, tc.n)
				b.SetBytes(int64(tc.n))
				b.ReportAllocs()
				for i := 0; b.Loop(); i++ {
					if _, err := conn.Write(reqs[i%len(reqs)]); err != nil {
						b.Fatal(err)
					}
					if err := readResponse(br, tc.status, body); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
		srv.Close()
		be.Close()
	}
}

// readResponse reads one response with the given status and a body of
// len(body) bytes, allocating nothing.
func readResponse(br *bufio.Reader, status string, body []byte) error {
	line, err := br.ReadSlice('\n')
	if err != nil {
		return err
	}
	if !bytes.HasPrefix(line, []byte("HTTP/1.1 "+status)) {
		return fmt.Errorf("status line %q, want %s", line, status)
	}
	n := -1
	for {
		line, err = br.ReadSlice('\n')
		if err != nil {
			return err
		}
		if len(line) <= 2 {
			break
		}
		if k, v, ok := bytes.Cut(line, []byte(":")); ok && bytes.EqualFold(k, []byte("Content-Length")) {
			n, _ = strconv.Atoi(string(bytes.TrimSpace(v)))
		}
	}
	if n != len(body) {
		return fmt.Errorf("Content-Length %d, want %d", n, len(body))
	}
	_, err = io.ReadFull(br, body)
	return err
}
