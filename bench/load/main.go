package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

const bufSize = 1 << 20

var bufPool = sync.Pool{New: func() any { b := make([]byte, bufSize); return &b }}

func main() {
	timeout := flag.Duration("timeout", 120*time.Second, "give up on the whole command after this long")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: load [-timeout D] stream URL [COUNT] | parallel N URL [COUNT] | slow N URL RATE DURATION | freeport | wait URL TIMEOUT")
	}
	flag.Parse()
	args := flag.Args()
	if len(args) == 0 {
		flag.Usage()
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	var err error
	switch cmd, rest := args[0], args[1:]; {
	case cmd == "stream" && (len(rest) == 1 || len(rest) == 2):
		count := 1
		if len(rest) == 2 {
			count = atoi(rest[1])
		}
		err = stream(ctx, rest[0], count)
	case cmd == "parallel" && (len(rest) == 2 || len(rest) == 3):
		count := 1
		if len(rest) == 3 {
			count = atoi(rest[2])
		}
		err = parallel(ctx, atoi(rest[0]), rest[1], count)
	case cmd == "slow" && len(rest) == 4:
		d, perr := time.ParseDuration(rest[3])
		if perr != nil {
			fail("slow: DURATION %q: %v", rest[3], perr)
		}
		err = slow(ctx, atoi(rest[0]), rest[1], int64(atoi(rest[2])), d)
	case cmd == "freeport" && len(rest) == 0:
		err = freeport()
	case cmd == "wait" && len(rest) == 2:
		d, perr := time.ParseDuration(rest[1])
		if perr != nil {
			fail("wait: TIMEOUT %q: %v", rest[1], perr)
		}
		err = wait(rest[0], d)
	default:
		flag.Usage()
		os.Exit(2)
	}
	if err != nil {
		fail("%s: %v", args[0], err)
	}
}

func fail(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "load: "+format+"\n", a...)
	os.Exit(1)
}

func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		fail("%q is not a positive integer", s)
	}
	return n
}

// newClient returns a client that never compresses, keeps up to conns
// connections to the one host, and asks the kernel for rcvbuf bytes of
// receive buffer per socket when rcvbuf > 0 (a slow client's window).
func newClient(conns, rcvbuf int) *http.Client {
	d := &net.Dialer{Timeout: 10 * time.Second}
	if rcvbuf > 0 {
		d.Control = func(_, _ string, c syscall.RawConn) error {
			var serr error
			err := c.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, rcvbuf)
			})
			if err != nil {
				return err
			}
			return serr
		}
	}
	return &http.Client{Transport: &http.Transport{
		DialContext:         d.DialContext,
		DisableCompression:  true,
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		ForceAttemptHTTP2:   false,
	}}
}

// get issues one GET and drains the body, checking status and length.
func get(ctx context.Context, c *http.Client, url string) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET %s: status %d, want 200", url, resp.StatusCode)
	}
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	var n int64
	for {
		m, err := resp.Body.Read(*bp)
		n += int64(m)
		if err == io.EOF {
			break
		}
		if err != nil {
			return n, fmt.Errorf("GET %s: after %d bytes: %w", url, n, err)
		}
	}
	if resp.ContentLength >= 0 && n != resp.ContentLength {
		return n, fmt.Errorf("GET %s: read %d bytes, Content-Length %d", url, n, resp.ContentLength)
	}
	return n, nil
}

func stream(ctx context.Context, url string, count int) error {
	c := newClient(1, 0)
	start := time.Now()
	var total int64
	for range count {
		n, err := get(ctx, c, url)
		total += n
		if err != nil {
			return err
		}
	}
	fmt.Printf("bytes=%d seconds=%.6f\n", total, time.Since(start).Seconds())
	return nil
}

func parallel(ctx context.Context, n int, url string, count int) error {
	c := newClient(n, 0)
	var (
		total atomic.Int64
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	start := time.Now()
	for range n {
		wg.Go(func() {
			for range count {
				m, err := get(ctx, c, url)
				total.Add(m)
				if err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	if first != nil {
		return first
	}
	fmt.Printf("bytes=%d seconds=%.6f\n", total.Load(), time.Since(start).Seconds())
	return nil
}

// slow opens n connections, spread over the first second, and has each
// read at rate bytes/s until dur after the last one opened. A reader that
// cannot get a 200 counts as failed; one whose body ends early (a small
// file read to the end) counts as opened.
func slow(ctx context.Context, n int, url string, rate int64, dur time.Duration) error {
	// A 128 KiB receive buffer: a real slow client's window, and it keeps
	// the kernel from buffering megabytes per connection on loopback.
	c := newClient(n, 128<<10)
	ramp := time.Second
	start := time.Now()
	end := start.Add(ramp + dur)
	ctx, cancel := context.WithDeadline(ctx, end.Add(5*time.Second))
	defer cancel()
	var (
		opened, failed atomic.Int64
		wg             sync.WaitGroup
		perConn        = make([]int64, n)
		errMu          sync.Mutex
		firstErr       error
	)
	chunk := min(rate/10, 16<<10)
	chunk = max(chunk, 1)
	for i := range n {
		time.Sleep(time.Until(start.Add(ramp * time.Duration(i) / time.Duration(n))))
		wg.Go(func() {
			err := slowRead(ctx, c, url, rate, chunk, end, &perConn[i], &opened)
			if err != nil {
				failed.Add(1)
				errMu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				errMu.Unlock()
			}
		})
	}
	wg.Wait()
	var total, lo, hi int64
	lo = -1
	for _, b := range perConn {
		total += b
		if lo < 0 || b < lo {
			lo = b
		}
		hi = max(hi, b)
	}
	fmt.Printf("opened=%d failed=%d bytes=%d min_conn_bytes=%d max_conn_bytes=%d seconds=%.3f\n",
		opened.Load(), failed.Load(), total, lo, hi, time.Since(start).Seconds())
	if firstErr != nil {
		return fmt.Errorf("%d of %d readers failed; first: %w", failed.Load(), n, firstErr)
	}
	return nil
}

func slowRead(ctx context.Context, c *http.Client, url string, rate, chunk int64, end time.Time, got *int64, opened *atomic.Int64) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	// Closing mid-body drops the connection, which is what a slow client
	// that goes away does.
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d, want 200", resp.StatusCode)
	}
	opened.Add(1)
	buf := make([]byte, chunk)
	t0 := time.Now()
	var n int64
	for time.Now().Before(end) {
		m, err := io.ReadFull(resp.Body, buf)
		n += int64(m)
		*got = n
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("after %d bytes: %w", n, err)
		}
		// Sleep until the time at which n bytes are due at rate.
		due := t0.Add(time.Duration(float64(n) / float64(rate) * float64(time.Second)))
		if d := time.Until(due); d > 0 {
			if due.After(end) {
				d = time.Until(end)
			}
			time.Sleep(d)
		}
	}
	return nil
}

func freeport() error {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer l.Close()
	fmt.Println(l.Addr().(*net.TCPAddr).Port)
	return nil
}

func wait(url string, d time.Duration) error {
	deadline := time.Now().Add(d)
	c := &http.Client{Timeout: time.Second}
	for {
		resp, err := c.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not answer 200 within %s: %v", url, d, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
