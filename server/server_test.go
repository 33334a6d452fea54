package server_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rangeserve/rangeserve/internal/testenv"
	"github.com/rangeserve/rangeserve/limits"
	"github.com/rangeserve/rangeserve/media"
	"github.com/rangeserve/rangeserve/server"
	"github.com/rangeserve/rangeserve/storage/local"
)

// writeCert writes a self-signed certificate for 127.0.0.1 and localhost
// with the given serial to dir and returns the file names and the
// certificate (for a client's roots).
func writeCert(t *testing.T, dir string, serial int64) (certFile, keyFile string, cert *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serial),
		Subject:               pkix.Name{CommonName: "rangeserve test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ = x509.ParseCertificate(der)
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, cert
}

// start serves s until the test ends.
func start(t *testing.T, s *server.Server) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- s.Serve() }()
	t.Cleanup(func() {
		s.Close()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
}

// mediaHandler serves a directory holding "v.bin" (size random bytes)
// through media, as a mount does.
func mediaHandler(t *testing.T, size int) (http.Handler, []byte) {
	t.Helper()
	dir := t.TempDir()
	data := make([]byte, size)
	rand.Read(data)
	if err := os.WriteFile(filepath.Join(dir, "v.bin"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	b, err := local.New(local.Options{Root: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	h, err := media.New(b, media.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return h, data
}

// answer is what a comparison between protocols looks at.
type answer struct {
	status                                  int
	contentRange, contentType, length, etag string
	sum                                     [32]byte
}

func fetch(t *testing.T, c *http.Client, url string, hdr map[string]string, wantProto string) answer {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Proto != wantProto {
		t.Fatalf("GET %s: protocol %s, want %s", url, resp.Proto, wantProto)
	}
	ct := resp.Header.Get("Content-Type")
	if i := strings.Index(ct, "boundary="); i >= 0 {
		ct = ct[:i] // boundaries are random per response
		body = nil
	}
	return answer{resp.StatusCode, resp.Header.Get("Content-Range"), ct, resp.Header.Get("Content-Length"), resp.Header.Get("ETag"), sha256.Sum256(body)}
}

// rangeCase is a request HTTP/2 must answer exactly as HTTP/1.1, and the
// status both must give.
type rangeCase struct {
	hdr    map[string]string
	status int
}

func rangeCases(etag string) []rangeCase {
	return []rangeCase{
		{nil, 200},
		{map[string]string{"Range": "bytes=0-0"}, 206},
		{map[string]string{"Range": "bytes=1000-1999"}, 206},
		{map[string]string{"Range": "bytes=-500"}, 206},
		{map[string]string{"Range": "bytes=60000-"}, 206},
		{map[string]string{"Range": "bytes=0-9,100-109,5000-5099"}, 206},
		{map[string]string{"Range": "bytes=99999999-"}, 416},
		{map[string]string{"If-None-Match": etag}, 304},
		{map[string]string{"If-Match": `"nope"`}, 412},
		{map[string]string{"Range": "bytes=0-9", "If-Range": etag}, 206},
		{map[string]string{"Range": "bytes=0-9", "If-Range": `"stale"`}, 200},
	}
}

// TestTLSHTTP2: with a certificate, Go's client speaks HTTP/2 and gets the
// same status, headers and bytes for ranges, multi-ranges and
// conditionals as an HTTP/1.1 client; curl --http2 too.
func TestTLSHTTP2(t *testing.T) {
	h, data := mediaHandler(t, 256<<10)
	certFile, keyFile, cert := writeCert(t, t.TempDir(), 1)
	s, err := server.Listen(server.Options{Addr: "127.0.0.1:0", CertFile: certFile, KeyFile: keyFile}, h)
	if err != nil {
		t.Fatal(err)
	}
	start(t, s)
	if !strings.HasPrefix(s.URL(), "https://127.0.0.1:") {
		t.Fatalf("URL = %q", s.URL())
	}
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	h2 := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}, ForceAttemptHTTP2: true}}
	h1 := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}, TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{}}}
	url := s.URL() + "/v.bin"
	full := fetch(t, h2, url, nil, "HTTP/2.0")
	if full.sum != sha256.Sum256(data) || full.status != 200 {
		t.Fatalf("HTTP/2 whole file: %d, wrong bytes", full.status)
	}
	for _, c := range rangeCases(full.etag) {
		a2 := fetch(t, h2, url, c.hdr, "HTTP/2.0")
		a1 := fetch(t, h1, url, c.hdr, "HTTP/1.1")
		if a1 != a2 || a2.status != c.status {
			t.Errorf("%v: HTTP/2 %+v, HTTP/1.1 %+v; want status %d", c.hdr, a2, a1, c.status)
		}
	}
	if a := fetch(t, h2, url, map[string]string{"Range": "bytes=1000-1999"}, "HTTP/2.0"); a.status != 206 ||
		a.sum != sha256.Sum256(data[1000:2000]) || a.contentRange != fmt.Sprintf("bytes 1000-1999/%d", len(data)) {
		t.Errorf("HTTP/2 range: %+v", a)
	}

	curl := testenv.Require(t, "curl")
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), 0o644)
	out, err := exec.Command(curl, "-sS", "--http2", "--cacert", caFile, "-r", "1000-1999",
		"-o", "-", "-w", "\n%{http_version} %{http_code}", url).Output()
	if err != nil {
		t.Fatalf("curl --http2: %v", err)
	}
	i := bytes.LastIndexByte(out, '\n')
	if got := string(out[i+1:]); got != "2 206" {
		t.Errorf("curl --http2 -r 1000-1999: version and status %q, want \"2 206\"", got)
	}
	if !bytes.Equal(out[:i], data[1000:2000]) {
		t.Errorf("curl --http2 range: %d bytes, not the file's", i)
	}
}

// TestH2C: with H2C a client with prior knowledge speaks HTTP/2 over
// plain TCP; HTTP/1.1 clients are still served.
func TestH2C(t *testing.T) {
	h, data := mediaHandler(t, 64<<10)
	s, err := server.Listen(server.Options{Addr: "127.0.0.1:0", H2C: true}, h)
	if err != nil {
		t.Fatal(err)
	}
	start(t, s)
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	h2c := &http.Client{Transport: &http.Transport{Protocols: &p}}
	url := s.URL() + "/v.bin"
	full := fetch(t, h2c, url, nil, "HTTP/2.0")
	if full.sum != sha256.Sum256(data) {
		t.Fatal("h2c whole file: wrong bytes")
	}
	for _, c := range rangeCases(full.etag) {
		a2 := fetch(t, h2c, url, c.hdr, "HTTP/2.0")
		a1 := fetch(t, http.DefaultClient, url, c.hdr, "HTTP/1.1")
		if a1 != a2 || a2.status != c.status {
			t.Errorf("%v: h2c %+v, HTTP/1.1 %+v; want status %d", c.hdr, a2, a1, c.status)
		}
	}
	curl := testenv.Require(t, "curl")
	out, err := exec.Command(curl, "-sS", "--http2-prior-knowledge", "-r", "0-99", "-o", "/dev/null", "-w", "%{http_version} %{http_code} %{size_download}", url).Output()
	if err != nil || string(out) != "2 206 100" {
		t.Errorf("curl --http2-prior-knowledge: %q, %v; want \"2 206 100\"", out, err)
	}
	// Without H2C, prior knowledge is refused.
	s1, err := server.Listen(server.Options{Addr: "127.0.0.1:0"}, h)
	if err != nil {
		t.Fatal(err)
	}
	start(t, s1)
	if resp, err := h2c.Get(s1.URL() + "/v.bin"); err == nil {
		resp.Body.Close()
		t.Errorf("a server without H2C answered HTTP/2 prior knowledge with %s", resp.Proto)
	}
}

func TestCertificateReload(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, _ := writeCert(t, dir, 1)
	s, err := server.Listen(server.Options{Addr: "127.0.0.1:0", CertFile: certFile, KeyFile: keyFile}, http.NotFoundHandler())
	if err != nil {
		t.Fatal(err)
	}
	start(t, s)
	serial := func() int64 {
		c, err := tls.Dial("tcp", s.Addr().String(), &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].SerialNumber.Int64()
	}
	if got := serial(); got != 1 {
		t.Fatalf("serial %d, want 1", got)
	}
	writeCert(t, dir, 2)
	if got := serial(); got != 1 {
		t.Errorf("the new files are used before ReloadCertificate: serial %d", got)
	}
	if err := s.ReloadCertificate(); err != nil {
		t.Fatal(err)
	}
	if got := serial(); got != 2 {
		t.Errorf("after ReloadCertificate: serial %d, want 2", got)
	}
	os.WriteFile(certFile, []byte("not a certificate"), 0o644)
	if err := s.ReloadCertificate(); err == nil || !strings.Contains(err.Error(), certFile) {
		t.Errorf("ReloadCertificate of a broken file = %v, want an error naming it", err)
	}
	if got := serial(); got != 2 {
		t.Errorf("after a failed reload: serial %d, want the old 2", got)
	}
}

// slowBody streams size bytes over about d with a Content-Length.
func slowBody(size int, d time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(size))
		const steps = 20
		chunk := bytes.Repeat([]byte("x"), size/steps)
		for range steps {
			if _, err := w.Write(chunk); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			time.Sleep(d / steps)
		}
	})
}

// TestShutdownDrains: downloads in flight when Shutdown starts finish
// whole; new connections are refused; Shutdown reports nothing cut.
func TestShutdownDrains(t *testing.T) {
	const size = 100 * 1000
	s, err := server.Listen(server.Options{Addr: "127.0.0.1:0", ShutdownTimeout: 10 * time.Second}, slowBody(size, time.Second))
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve() }()
	results := make(chan error, 3)
	for range 3 {
		go func() {
			resp, err := http.Get(s.URL() + "/")
			if err == nil {
				var b []byte
				b, err = io.ReadAll(resp.Body)
				resp.Body.Close()
				if err == nil && len(b) != size {
					err = fmt.Errorf("%d bytes", len(b))
				}
			}
			results <- err
		}()
	}
	time.Sleep(200 * time.Millisecond)
	shut := make(chan int, 1)
	go func() {
		cut, err := s.Shutdown(context.Background())
		if err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		shut <- cut
	}()
	time.Sleep(100 * time.Millisecond)
	if c, err := net.DialTimeout("tcp", s.Addr().String(), time.Second); err == nil {
		c.Close()
		t.Errorf("a new connection was accepted during the drain")
	}
	for range 3 {
		if err := <-results; err != nil {
			t.Errorf("a download in flight at shutdown failed: %v", err)
		}
	}
	if cut := <-shut; cut != 0 {
		t.Errorf("Shutdown cut %d connections, want 0", cut)
	}
	if err := <-served; err != nil {
		t.Errorf("Serve after Shutdown = %v, want nil", err)
	}
}

// TestShutdownCuts: a download longer than the shutdown timeout is cut,
// and the client sees an incomplete body, never a complete one.
func TestShutdownCuts(t *testing.T) {
	const size = 100 * 1000
	s, err := server.Listen(server.Options{Addr: "127.0.0.1:0", ShutdownTimeout: 300 * time.Millisecond}, slowBody(size, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve()
	result := make(chan error, 1)
	go func() {
		resp, err := http.Get(s.URL() + "/")
		if err == nil {
			_, err = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		result <- err
	}()
	time.Sleep(300 * time.Millisecond)
	start := time.Now()
	cut, err := s.Shutdown(context.Background())
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("Shutdown took %v with a 300ms timeout", el)
	}
	if cut != 1 || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown = %d, %v; want 1 connection cut and the deadline", cut, err)
	}
	if err := <-result; !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("the cut download ended with %v, want an unexpected EOF", err)
	}
}

func TestListenRefuses(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, _ := writeCert(t, dir, 1)
	busy, _ := net.Listen("tcp", "127.0.0.1:0")
	defer busy.Close()
	tests := []struct {
		opts   server.Options
		errHas string
	}{
		{server.Options{}, "Addr is empty"},
		{server.Options{Addr: "localhost"}, "not host:port"},
		{server.Options{Addr: "127.0.0.1:0", CertFile: certFile}, "both CertFile and KeyFile"},
		{server.Options{Addr: "127.0.0.1:0", CertFile: certFile, KeyFile: keyFile, H2C: true}, "H2C"},
		{server.Options{Addr: "127.0.0.1:0", CertFile: filepath.Join(dir, "none.pem"), KeyFile: keyFile}, "none.pem"},
		{server.Options{Addr: "127.0.0.1:0", IdleTimeout: -3 * time.Second}, "IdleTimeout"},
		{server.Options{Addr: "127.0.0.1:0", MaxHeaderBytes: 4096}, "MaxHeaderBytes"},
		{server.Options{Addr: busy.Addr().String()}, "another server"},
	}
	for _, tt := range tests {
		if s, err := server.Listen(tt.opts, http.NotFoundHandler()); err == nil || !strings.Contains(err.Error(), tt.errHas) {
			if s != nil {
				s.Close()
			}
			t.Errorf("Listen(%+v) = %v, want an error containing %q", tt.opts, err, tt.errHas)
		}
	}
}

// TestHTTP2WriteDeadline: the limits package's moving write deadline
// works on HTTP/2 streams too: a client that stops reading (its stream's
// flow-control window runs out) loses the stream after the idle timeout,
// while a client that reads gets every byte.
func TestHTTP2WriteDeadline(t *testing.T) {
	const size = 32 << 20
	data := bytes.Repeat([]byte("0123456789abcdef"), size/16)
	l, err := limits.New(limits.Options{WriteIdleTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	result := make(chan error, 1)
	h := l.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(size))
		_, err := w.Write(data)
		select {
		case result <- err:
		default:
		}
	}))
	certFile, keyFile, cert := writeCert(t, t.TempDir(), 1)
	s, err := server.Listen(server.Options{Addr: "127.0.0.1:0", CertFile: certFile, KeyFile: keyFile}, h)
	if err != nil {
		t.Fatal(err)
	}
	start(t, s)
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}, ForceAttemptHTTP2: true}}

	a := fetch(t, c, s.URL()+"/", nil, "HTTP/2.0")
	if a.sum != sha256.Sum256(data) {
		t.Fatal("HTTP/2 download through the Limiter: wrong bytes")
	}
	if err := <-result; err != nil {
		t.Fatalf("server write: %v", err)
	}

	resp, err := c.Get(s.URL() + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	begin := time.Now()
	select {
	case err := <-result:
		if err == nil {
			t.Fatal("the server wrote 32 MiB to a client that reads nothing")
		}
		if el := time.Since(begin); el > 5*time.Second {
			t.Errorf("stalled HTTP/2 stream dropped after %v, want about 1s", el)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("a stalled HTTP/2 stream is still held after 15s")
	}
}

// TestH2Load runs a short, bounded h2load (nghttp2's HTTP/2 load tool)
// against the TLS and the h2c server with a Range header: every request
// must succeed with a 2xx.
func TestH2Load(t *testing.T) {
	testenv.Short(t, "runs h2load")
	h2load := testenv.Require(t, "h2load")
	h, _ := mediaHandler(t, 1<<20)
	certFile, keyFile, _ := writeCert(t, t.TempDir(), 1)
	for _, opts := range []server.Options{
		{Addr: "127.0.0.1:0", CertFile: certFile, KeyFile: keyFile},
		{Addr: "127.0.0.1:0", H2C: true},
	} {
		s, err := server.Listen(opts, h)
		if err != nil {
			t.Fatal(err)
		}
		start(t, s)
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		out, err := exec.CommandContext(ctx, h2load, "-n", "2000", "-c", "8", "-m", "8",
			"-H", "range: bytes=1000-66535", s.URL()+"/v.bin").CombinedOutput()
		cancel()
		if err != nil {
			t.Fatalf("h2load %s: %v\n%s", s.URL(), err, out)
		}
		text := string(out)
		if !strings.Contains(text, "2000 succeeded, 0 failed, 0 errored, 0 timeout") ||
			!strings.Contains(text, "status codes: 2000 2xx") {
			t.Errorf("h2load %s:\n%s", s.URL(), text)
		}
		for _, line := range strings.Split(text, "\n") {
			if strings.HasPrefix(line, "finished in") || strings.HasPrefix(line, "Application protocol") {
				t.Logf("%s: %s", s.URL(), line)
			}
		}
	}
}

// TestMaxHeaderBytesIsExact: a request head of exactly MaxHeaderBytes is
// served, one byte more gets 431 (net/http's own slack taken off).
func TestMaxHeaderBytesIsExact(t *testing.T) {
	const limit = 16 << 10
	s, err := server.Listen(server.Options{Addr: "127.0.0.1:0", MaxHeaderBytes: limit}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	if err != nil {
		t.Fatal(err)
	}
	start(t, s)
	status := func(headSize int) int {
		c, err := net.Dial("tcp", s.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		head := "GET / HTTP/1.1\r\nHost: x\r\nX-Pad: "
		pad := headSize - len(head) - len("\r\n\r\n")
		fmt.Fprintf(c, "%s%s\r\n\r\n", head, strings.Repeat("a", pad))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := status(limit); got != 200 {
		t.Errorf("a %d-byte head: %d, want 200", limit, got)
	}
	if got := status(limit + 1); got != 431 {
		t.Errorf("a %d-byte head: %d, want 431", limit+1, got)
	}
}
