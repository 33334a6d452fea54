package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// bufSize is the client's read buffer: large, so that the client spends
// little CPU per byte on a machine whose cores it shares with the servers.
const bufSize = 1 << 20

var bufPool = sync.Pool{New: func() any { b := make([]byte, bufSize); return &b }}

// verifyFirst is how many responses per run and worker have their bytes
// compared with the uploaded file (all responses have status, headers and
// length checked).
const verifyFirst = 8

// client is the one HTTP client code path used for every target.
type client struct {
	hc   *http.Client
	size int64
	src  *os.File // the uploaded bytes, for verification
}

func newClient(conns int, size int64, src *os.File) *client {
	return &client{
		hc: &http.Client{Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
			DisableCompression:  true,
			MaxIdleConns:        conns,
			MaxIdleConnsPerHost: conns,
			IdleConnTimeout:     30 * time.Second,
		}},
		size: size,
		src:  src,
	}
}

func (c *client) close() { c.hc.CloseIdleConnections() }

// get fetches [off, off+n) of url (the whole object, without a Range
// header, when off == 0 and n == size), reads the body to the end and
// checks status, Content-Range and length; with verify it also compares
// the bytes with the uploaded file, and with h it hashes them. progress,
// when not nil, is advanced as bytes arrive.
func (c *client) get(ctx context.Context, url string, off, n int64, verify bool, h hash.Hash, progress *atomic.Int64) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	whole := off == 0 && n == c.size
	if !whole {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(off, 10)+"-"+strconv.FormatInt(off+n-1, 10))
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if whole {
		if resp.StatusCode != http.StatusOK {
			return 0, fmt.Errorf("GET %s: status %d, want 200", url, resp.StatusCode)
		}
	} else {
		want := fmt.Sprintf("bytes %d-%d/%d", off, off+n-1, c.size)
		if resp.StatusCode != http.StatusPartialContent || resp.Header.Get("Content-Range") != want {
			return 0, fmt.Errorf("GET %s range %d+%d: status %d Content-Range %q, want 206 %q",
				url, off, n, resp.StatusCode, resp.Header.Get("Content-Range"), want)
		}
	}
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	var want []byte
	if verify {
		want = make([]byte, bufSize)
	}
	var got int64
	for {
		m, rerr := resp.Body.Read(buf)
		if m > 0 {
			if got+int64(m) > n {
				return got, fmt.Errorf("GET %s: body longer than %d bytes", url, n)
			}
			if verify {
				if _, err := c.src.ReadAt(want[:m], off+got); err != nil {
					return got, err
				}
				if !bytes.Equal(buf[:m], want[:m]) {
					return got, fmt.Errorf("GET %s: bytes at %d differ from the uploaded object", url, off+got)
				}
			}
			if h != nil {
				h.Write(buf[:m])
			}
			got += int64(m)
			if progress != nil {
				progress.Add(int64(m))
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return got, rerr
		}
	}
	if got != n {
		return got, fmt.Errorf("GET %s: %d bytes, want %d", url, got, n)
	}
	return got, nil
}

// sha256Whole fetches the whole object from url and returns its SHA-256.
func (c *client) sha256Whole(ctx context.Context, url string) (string, error) {
	h := sha256.New()
	if _, err := c.get(ctx, url, 0, c.size, false, h, nil); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// measurement is what one workload run against one target measured.
type measurement struct {
	Requests  int64   `json:"requests"`
	Bytes     int64   `json:"bytes"`
	Seconds   float64 `json:"seconds"`
	ReqPerSec float64 `json:"req_per_s"`
	MBPerSec  float64 `json:"mb_per_s"` // 1 MB = 10^6 bytes
	P50ms     float64 `json:"p50_ms,omitempty"`
	P99ms     float64 `json:"p99_ms,omitempty"`
}

// streams runs n workers that GET the whole object over and over until dur
// has passed; bytes of the GETs cut off at the end count.
func streams(ctx context.Context, c *client, url string, n int, dur time.Duration) (measurement, error) {
	ctx, cancel := context.WithTimeout(ctx, dur)
	defer cancel()
	var (
		total, reqs atomic.Int64
		wg          sync.WaitGroup
		errMu       sync.Mutex
		first       error
	)
	start := time.Now()
	for w := range n {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				_, err := c.get(ctx, url, 0, c.size, i == 0 && w == 0, nil, &total)
				if err != nil {
					if ctx.Err() != nil {
						return // cut off by the deadline
					}
					errMu.Lock()
					if first == nil {
						first = err
					}
					errMu.Unlock()
					cancel()
					return
				}
				reqs.Add(1)
			}
		})
	}
	wg.Wait()
	secs := time.Since(start).Seconds()
	if first != nil {
		return measurement{}, first
	}
	return measurement{
		Requests:  reqs.Load(),
		Bytes:     total.Load(),
		Seconds:   secs,
		ReqPerSec: float64(reqs.Load()) / secs,
		MBPerSec:  float64(total.Load()) / secs / 1e6,
	}, nil
}

// rangeGen yields the ranges one worker requests, from its own seeded
// generator, so that every target sees the same sequence.
type rangeGen func(r *rand.Rand) (off, n int64)

// randomRanges returns a generator of uniformly placed ranges of n bytes.
func randomRanges(size, n int64) rangeGen {
	return func(r *rand.Rand) (int64, int64) { return r.Int64N(size - n + 1), n }
}

// seekPoints returns count seek points placed uniformly (fixed seed) so
// that 1 MiB from each fits in the object.
func seekPoints(size int64, count int, seed uint64) []int64 {
	r := rand.New(rand.NewPCG(seed, 0x5eec))
	pts := make([]int64, count)
	for i := range pts {
		pts[i] = r.Int64N(size - (1 << 20))
	}
	return pts
}

// seekSessions returns a generator of the repeated-seek workload: a player
// seeks to one of pts (uniformly, so every point is revisited) and reads
// 1 to 4 consecutive ranges of 64-256 KiB (in 16 KiB steps) from there,
// one request each, then seeks again. The state lives in the closure, so
// each worker needs its own generator.
func seekSessions(pts []int64) func() rangeGen {
	return func() rangeGen {
		var next int64
		left := 0
		return func(r *rand.Rand) (int64, int64) {
			if left == 0 {
				next = pts[r.IntN(len(pts))]
				left = 1 + r.IntN(4)
			}
			n := int64(64<<10) + int64(r.IntN(13))*(16<<10)
			off := next
			next += n
			left--
			return off, n
		}
	}
}

// ranges runs conc workers issuing the ranges their generators yield for
// dur and reports requests/s and latency percentiles. Worker w's
// generator is seeded with (seed, w).
func ranges(ctx context.Context, c *client, url string, conc int, dur time.Duration, seed uint64, gen func() rangeGen) (measurement, error) {
	ctx, cancel := context.WithTimeout(ctx, dur)
	defer cancel()
	var (
		total atomic.Int64
		wg    sync.WaitGroup
		errMu sync.Mutex
		first error
		lats  = make([][]time.Duration, conc)
	)
	start := time.Now()
	for w := range conc {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(seed, uint64(w)))
			g := gen()
			lat := make([]time.Duration, 0, 4096)
			for i := 0; ; i++ {
				off, n := g(r)
				t0 := time.Now()
				got, err := c.get(ctx, url, off, n, i < verifyFirst, nil, nil)
				if err != nil {
					if ctx.Err() == nil {
						errMu.Lock()
						if first == nil {
							first = err
						}
						errMu.Unlock()
						cancel()
					}
					break
				}
				lat = append(lat, time.Since(t0))
				total.Add(got)
			}
			lats[w] = lat
		})
	}
	wg.Wait()
	secs := time.Since(start).Seconds()
	if first != nil {
		return measurement{}, first
	}
	all := slices.Concat(lats...)
	if len(all) == 0 {
		return measurement{}, errors.New("no request completed")
	}
	slices.Sort(all)
	pct := func(p float64) float64 {
		i := min(len(all)-1, int(p*float64(len(all))))
		return float64(all[i].Microseconds()) / 1000
	}
	return measurement{
		Requests:  int64(len(all)),
		Bytes:     total.Load(),
		Seconds:   secs,
		ReqPerSec: float64(len(all)) / secs,
		MBPerSec:  float64(total.Load()) / secs / 1e6,
		P50ms:     pct(0.50),
		P99ms:     pct(0.99),
	}, nil
}
