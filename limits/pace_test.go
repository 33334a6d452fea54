package limits_test

import (
	"bufio"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/rangeserve/rangeserve/limits"
)

// writeFile writes n random bytes to a file in a temporary directory.
func writeFile(t *testing.T, n int) (string, []byte) {
	t.Helper()
	data := make([]byte, n)
	rand.Read(data)
	path := filepath.Join(t.TempDir(), "f.bin")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path, data
}

// body is a handler that sends a file the way media does: the header
// flushed, then io.Copy from an *io.LimitedReader over the *os.File
// (viaFile), or the bytes in one Write. It reports the copy's error.
type body struct {
	path   string
	data   []byte
	viaW   bool
	result chan error
}

func (b *body) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Length", strconv.Itoa(len(b.data)))
	w.WriteHeader(200)
	w.(http.Flusher).Flush()
	var err error
	if b.viaW {
		_, err = w.Write(b.data)
	} else {
		var f *os.File
		if f, err = os.Open(b.path); err == nil {
			_, err = io.Copy(w, &io.LimitedReader{R: f, N: int64(len(b.data))})
			f.Close()
		}
	}
	if b.result != nil {
		b.result <- err
	}
}

func TestNoWrapperWhenNothingApplies(t *testing.T) {
	l, err := limits.New(limits.Options{WriteIdleTimeout: limits.Off})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	var got http.ResponseWriter
	l.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = w })).
		ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if got != rec {
		t.Errorf("with no deadline and no rate the handler got %T, want the server's own writer", got)
	}
}

// readFromRecorder records the readers handed to ReadFrom.
type readFromRecorder struct {
	*httptest.ResponseRecorder
	readers []io.Reader
	sizes   []int64
}

func (w *readFromRecorder) ReadFrom(r io.Reader) (int64, error) {
	w.readers = append(w.readers, r)
	if lr, ok := r.(*io.LimitedReader); ok {
		w.sizes = append(w.sizes, lr.N)
	}
	return io.Copy(w.ResponseRecorder, r)
}

// TestReadFromHandsTheFileDown: with a deadline or a rate the handler's
// writer is an io.ReaderFrom and an http.Flusher, and a copy from an
// *io.LimitedReader over an *os.File reaches the writer below as
// *io.LimitedReaders over that same *os.File (what net/http turns into
// sendfile), at most SendfileChunk each, the bytes intact and the
// caller's reader used up.
func TestReadFromHandsTheFileDown(t *testing.T) {
	const size = 3*limits.SendfileChunk + 1234
	path, data := writeFile(t, size)
	for _, opts := range []limits.Options{
		{},                  // the default deadline
		{ConnRate: 1 << 30}, // a rate high enough not to slow the test
	} {
		l, err := limits.New(opts)
		if err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		lr := &io.LimitedReader{R: f, N: size}
		below := &readFromRecorder{ResponseRecorder: httptest.NewRecorder()}
		l.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if _, ok := w.(io.ReaderFrom); !ok {
				t.Fatalf("%+v: the writer is not an io.ReaderFrom: sendfile is lost", opts)
			}
			if _, ok := w.(http.Flusher); !ok {
				t.Fatalf("%+v: the writer is not an http.Flusher", opts)
			}
			if u, ok := w.(interface{ Unwrap() http.ResponseWriter }); !ok || u.Unwrap() != below {
				t.Fatalf("%+v: Unwrap does not return the writer below", opts)
			}
			if n, err := io.Copy(w, lr); n != size || err != nil {
				t.Errorf("copy = %d, %v", n, err)
			}
		})).ServeHTTP(below, httptest.NewRequest("GET", "/", nil))
		f.Close()
		if len(below.readers) < 4 {
			t.Errorf("%+v: %d ReadFrom calls below, want at least 4 chunks", opts, len(below.readers))
		}
		for i, r := range below.readers {
			c, ok := r.(*io.LimitedReader)
			if !ok || c.R != f || below.sizes[i] > limits.SendfileChunk {
				t.Errorf("%+v: chunk %d is %T (over %T, %d bytes): want an *io.LimitedReader over the file, at most %d", opts, i, r, c.R, below.sizes[i], limits.SendfileChunk)
			}
		}
		if lr.N != 0 {
			t.Errorf("%+v: the handler's reader has %d bytes left", opts, lr.N)
		}
		if sha256.Sum256(below.Body.Bytes()) != sha256.Sum256(data) {
			t.Errorf("%+v: body differs (%d bytes)", opts, below.Body.Len())
		}
	}
}

// download GETs url (with X-Key: key when not empty) and checks the bytes.
func download(t *testing.T, url, key string, want []byte) {
	req, _ := http.NewRequest("GET", url, nil)
	if key != "" {
		req.Header.Set("X-Key", key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Error(err)
		return
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil || sha256.Sum256(got) != sha256.Sum256(want) {
		t.Errorf("GET %s: %d bytes, %v; want %d bytes with their sha256", url, len(got), err, len(want))
	}
}

// TestConnRate: a connection limited to 256 KiB/s takes as long as the
// rate says for 384 KiB (less the first burst), by sendfile and by Write.
func TestConnRate(t *testing.T) {
	testShort(t)
	const rateBps, size = 256 << 10, 384 << 10
	path, data := writeFile(t, size)
	for _, viaW := range []bool{false, true} {
		l, err := limits.New(limits.Options{ConnRate: rateBps})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewUnstartedServer(l.Middleware(&body{path: path, data: data, viaW: viaW}))
		srv.Config.ConnContext = limits.ConnContext
		srv.Start()
		start := time.Now()
		download(t, srv.URL, "", data)
		el := time.Since(start)
		srv.Close()
		// The bucket starts full with rate/8 bytes.
		min := time.Duration(float64(size-rateBps/8) / rateBps * float64(time.Second))
		if el < min*9/10 || el > min+3*time.Second {
			t.Errorf("write=%v: %d bytes at %d B/s took %v, want about %v", viaW, size, rateBps, el, min)
		}
	}
}

// TestKeyRateIsShared: two downloads with one key share its rate; with
// two keys each gets the whole rate.
func TestKeyRateIsShared(t *testing.T) {
	testShort(t)
	const rateBps, size = 256 << 10, 256 << 10
	path, data := writeFile(t, size)
	l, err := limits.New(limits.Options{KeyRate: rateBps, KeyOf: func(r *http.Request) string { return r.Header.Get("X-Key") }})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(l.Middleware(&body{path: path, data: data}))
	defer srv.Close()
	both := func(k1, k2 string) time.Duration {
		start := time.Now()
		var wg sync.WaitGroup
		wg.Go(func() { download(t, srv.URL, k1, data) })
		wg.Go(func() { download(t, srv.URL, k2, data) })
		wg.Wait()
		return time.Since(start)
	}
	shared := both("link-a", "link-a")
	separate := both("link-b", "link-c")
	burst := rateBps / 8
	wantShared := time.Duration(float64(2*size-burst) / rateBps * float64(time.Second))
	wantSeparate := time.Duration(float64(size-burst) / rateBps * float64(time.Second))
	if shared < wantShared*9/10 {
		t.Errorf("two downloads on one key took %v, want at least %v (the key's rate shared)", shared, wantShared*9/10)
	}
	if separate > wantShared*9/10 || separate < wantSeparate*9/10 {
		t.Errorf("two downloads on two keys took %v, want about %v (each key its own rate)", separate, wantSeparate)
	}
	if n := limits.KeyBuckets(l); n != 0 {
		t.Errorf("%d key buckets left after the downloads ended, want 0", n)
	}
}

// smallBuffers is a listener whose connections have small kernel send
// buffers, so that a client that stops reading blocks the server's
// writes at once instead of after megabytes.
type smallBuffers struct{ net.Listener }

func (l smallBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		c.(*net.TCPConn).SetWriteBuffer(32 << 10)
	}
	return c, err
}

// slowReader reads at most step bytes per read and sleeps pause before
// each read: a live client with a slow link.
type slowReader struct {
	r     io.Reader
	step  int
	pause time.Duration
}

func (s *slowReader) Read(p []byte) (int, error) {
	time.Sleep(s.pause)
	return s.r.Read(p[:min(len(p), s.step)])
}

// getRaw sends a GET on a fresh connection with a small receive buffer
// and returns the connection.
func getRaw(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.(*net.TCPConn).SetReadBuffer(32 << 10)
	fmt.Fprintf(c, "GET /f HTTP/1.1\r\nHost: test\r\n\r\n")
	return c
}

// TestWriteDeadlineMoves: with a 1s idle timeout, a client reading 8 MiB
// at no more than 3.2 MB/s (32 KiB per 10ms: at least 2.6 seconds) gets
// every byte, by sendfile and by Write; a client that stops reading is
// dropped about 1s after the kernel buffers fill. A control server with
// a fixed 1s WriteTimeout and no Limiter cuts the slow client, which
// shows that the live case tests the moving deadline.
func TestWriteDeadlineMoves(t *testing.T) {
	testShort(t)
	const idle = time.Second
	const size = 8 << 20
	path, data := writeFile(t, size)
	serve := func(t *testing.T, h http.Handler, writeTimeout time.Duration) string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{Handler: h, WriteTimeout: writeTimeout}
		go srv.Serve(smallBuffers{ln})
		t.Cleanup(func() { srv.Close() })
		return ln.Addr().String()
	}
	readSlowly := func(t *testing.T, addr string) ([]byte, error) {
		c := getRaw(t, addr)
		defer c.Close()
		c.SetReadDeadline(time.Now().Add(20 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReaderSize(&slowReader{r: c, step: 32 << 10, pause: 10 * time.Millisecond}, 32<<10), nil)
		if err != nil {
			return nil, err
		}
		return io.ReadAll(resp.Body)
	}
	for _, viaW := range []bool{false, true} {
		name := map[bool]string{false: "sendfile", true: "write"}[viaW]
		t.Run(name+"/live", func(t *testing.T) {
			l, err := limits.New(limits.Options{WriteIdleTimeout: idle})
			if err != nil {
				t.Fatal(err)
			}
			result := make(chan error, 1)
			addr := serve(t, l.Middleware(&body{path: path, data: data, viaW: viaW, result: result}), idle)
			start := time.Now()
			got, err := readSlowly(t, addr)
			el := time.Since(start)
			if err != nil || sha256.Sum256(got) != sha256.Sum256(data) {
				t.Fatalf("slow client got %d bytes, %v after %v; want all %d", len(got), err, el, size)
			}
			if el < 2*idle {
				t.Fatalf("the slow client took only %v: it does not outlast the idle timeout, the test proves nothing", el)
			}
			if err := <-result; err != nil {
				t.Errorf("server copy: %v", err)
			}
		})
		t.Run(name+"/stalled", func(t *testing.T) {
			l, err := limits.New(limits.Options{WriteIdleTimeout: idle})
			if err != nil {
				t.Fatal(err)
			}
			result := make(chan error, 1)
			addr := serve(t, l.Middleware(&body{path: path, data: data, viaW: viaW, result: result}), 0)
			c := getRaw(t, addr)
			defer c.Close()
			start := time.Now()
			select {
			case err := <-result:
				el := time.Since(start)
				if !errors.Is(err, os.ErrDeadlineExceeded) {
					t.Errorf("stalled client: server copy ended with %v, want a deadline error", err)
				}
				if el < idle*15/16 || el > idle+2*time.Second {
					t.Errorf("stalled client dropped after %v, want about %v", el, idle)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("a client that reads nothing still holds its stream after 10s")
			}
		})
	}
	t.Run("control: a fixed WriteTimeout cuts the slow client", func(t *testing.T) {
		addr := serve(t, &body{path: path, data: data}, idle)
		got, err := readSlowly(t, addr)
		if err == nil && len(got) == size {
			t.Fatalf("the slow client got the whole file under a fixed %v WriteTimeout: it is not slow enough to test anything", idle)
		}
	})
}

func testShort(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: timing test")
	}
}
