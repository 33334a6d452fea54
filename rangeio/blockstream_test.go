package rangeio

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// rangedObject is a fake remote object that also answers ReadRange, as
// storage/s3's objects do: one "request" per call, its body read in
// network-sized chunks. It counts requests and the bytes its bodies and
// ReadAt calls returned (what the store sent).
type rangedObject struct {
	*bcObject
	ranges    atomic.Int64 // ReadRange calls
	sent      atomic.Int64 // bytes returned by bodies and ReadAt
	open      atomic.Int64 // bodies not closed
	failAt    atomic.Int64 // a body read reaching this offset fails (0: never)
	failOnce  atomic.Bool  // the next read of a body that has already delivered bytes fails
	chunkWait time.Duration
}

func newRanged(data []byte) *rangedObject {
	return &rangedObject{bcObject: &bcObject{data: data}}
}

func (o *rangedObject) at(ctx context.Context) io.ReaderAt {
	return rangedReader{bcReader{o.bcObject, ctx}, o}
}

type rangedReader struct {
	bcReader
	o *rangedObject
}

func (r rangedReader) ReadAt(p []byte, off int64) (int, error) {
	n, err := r.bcReader.ReadAt(p, off)
	r.o.sent.Add(int64(n))
	return n, err
}

func (r rangedReader) ReadRange(off, n int64) (io.ReadCloser, error) {
	if off < 0 || n <= 0 || off+n > int64(len(r.o.data)) {
		return nil, fmt.Errorf("fake: bad span %d+%d", off, n)
	}
	r.o.ranges.Add(1)
	r.o.open.Add(1)
	return &rangedBody{o: r.o, ctx: r.ctx, off: off, end: off + n}, nil
}

type rangedBody struct {
	o        *rangedObject
	ctx      context.Context
	mu       sync.Mutex
	off, end int64
	started  bool
	closed   bool
}

func (b *rangedBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return 0, errors.New("fake: read of a closed body")
	}
	if err := b.ctx.Err(); err != nil {
		return 0, err
	}
	if b.off >= b.end {
		return 0, io.EOF
	}
	if b.started && b.o.failOnce.Swap(false) {
		return 0, errors.New("fake: connection cut while idle")
	}
	if b.o.chunkWait > 0 {
		time.Sleep(b.o.chunkWait)
	}
	n := int(min(int64(len(p)), 16*kib, b.end-b.off))
	if f := b.o.failAt.Load(); f > 0 && b.off <= f && f < b.off+int64(n) {
		return 0, errors.New("fake: backend failed mid-body")
	}
	copy(p, b.o.data[b.off:b.off+int64(n)])
	b.off += int64(n)
	b.started = true
	b.o.sent.Add(int64(n))
	return n, nil
}

func (b *rangedBody) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.closed {
		b.closed = true
		b.o.open.Add(-1)
	}
	return nil
}

// streamAll reads [off, off+n) through ReadRange, with Read or with
// CopyStream (which writes straight from the blocks), and checks it.
func streamAll(t *testing.T, ra io.ReaderAt, data []byte, off, n int64, copyStream bool) {
	t.Helper()
	rc, err := ra.(RangeReader).ReadRange(off, n)
	if err != nil {
		t.Fatalf("ReadRange(%d, %d): %v", off, n, err)
	}
	defer rc.Close()
	var got []byte
	if copyStream {
		var buf bytes.Buffer
		_, err = CopyStream(&buf, rc, n)
		got = buf.Bytes()
	} else {
		got, err = io.ReadAll(rc)
	}
	if err != nil || int64(len(got)) != n || !bytes.Equal(got, data[off:off+n]) {
		t.Fatalf("stream %d+%d (copy=%v): %d bytes, %v; want the object's %d", off, n, copyStream, len(got), err, n)
	}
}

func TestSpanStreamBytes(t *testing.T) {
	const bs = 64 * kib
	data := bcData(20, 3*mib+12345)
	size := int64(len(data))
	spans := []struct{ off, n int64 }{
		{0, 1}, {0, bs}, {bs - 10, 20}, {bs / 2, 5*bs + 7}, {0, size}, {size - 12345, 12345},
		{size - 1, 1}, {size, 0}, {0, 0}, {100, 2*mib + 3}, {3 * bs, syncSpan}, {3*bs + 1, syncSpan},
	}
	for _, ranged := range []bool{true, false} {
		for _, cp := range []bool{true, false} {
			c := NewCache(CacheConfig{BlockSize: bs, MaxBytes: 12 * bs})
			var ra io.ReaderAt
			if ranged {
				ra = c.Wrap("obj", size, newRanged(data).at(context.Background()))
			} else {
				ra = c.Wrap("obj", size, (&bcObject{data: data}).at(context.Background()))
			}
			for _, sp := range spans {
				t.Run(fmt.Sprintf("ranged=%v/copy=%v/%d+%d", ranged, cp, sp.off, sp.n), func(t *testing.T) {
					streamAll(t, ra, data, sp.off, sp.n, cp)
				})
			}
			if _, err := ra.(RangeReader).ReadRange(size-10, 11); err == nil {
				t.Error("ReadRange past the end: no error")
			}
			c.waitReadAhead()
			if s := c.Stats(); s.Bytes > 12*bs {
				t.Errorf("Bytes %d over MaxBytes", s.Bytes)
			}
		}
	}
}

// TestSpanStreamRequests counts backend requests: one per run of missing
// blocks, however long (each new request costs the store's first-byte
// latency: MinIO's is a few ms, S3's tens), none for resident blocks.
func TestSpanStreamRequests(t *testing.T) {
	const bs = 64 * kib
	data := bcData(21, 40*mib+100)
	size := int64(len(data))
	c := NewCache(CacheConfig{BlockSize: bs, MaxBytes: 64 * mib})
	o := newRanged(data)
	ra := c.Wrap("obj", size, o.at(context.Background()))

	streamAll(t, ra, data, 0, size, true)
	if got, want := o.ranges.Load(), int64(1); got != want || o.reads.Load() != 0 {
		t.Errorf("cold stream of 40 MiB: %d ranged requests and %d ReadAt, want %d and 0", got, o.reads.Load(), want)
	}
	if got := o.sent.Load(); got != size {
		t.Errorf("cold stream: %d bytes from the backend, want %d", got, size)
	}
	streamAll(t, ra, data, 0, size, false)
	if got := o.ranges.Load(); got != 1 {
		t.Errorf("second stream: %d requests in all, want none new", got)
	}

	// Holes: a new cache with every fourth run of 4 blocks resident.
	c = NewCache(CacheConfig{BlockSize: bs, MaxBytes: 64 * mib})
	o = newRanged(data)
	ra = c.Wrap("obj", size, o.at(context.Background()))
	const span = 64 * bs
	for i := int64(0); i < 16; i += 8 {
		checkReadAt(t, ra, data, i*bs, 4*bs) // blocks i..i+3
	}
	if got := o.ranges.Load(); got != 2 {
		t.Fatalf("ReadAt of 4 missing blocks twice: %d ranged requests, want 2 (one per run)", got)
	}
	sent0 := o.sent.Load()
	streamAll(t, ra, data, 0, span, true)
	// Missing runs: 4-7 and 12-63: two requests.
	if got := o.ranges.Load() - 2; got != 2 {
		t.Errorf("stream over 2 resident runs: %d requests, want 2", got)
	}
	if got := o.sent.Load() - sent0; got > span-8*bs+2*bs {
		t.Errorf("stream over 2 resident runs: %d bytes from the backend, want about %d", got, span-8*bs)
	}
}

// TestSpanStreamShared: concurrent streams of one cold object share its
// blocks: the backend sends it about once, not once per stream.
func TestSpanStreamShared(t *testing.T) {
	const bs = 64 * kib
	data := bcData(22, 24*mib)
	size := int64(len(data))
	c := NewCache(CacheConfig{BlockSize: bs, MaxBytes: 64 * mib})
	o := newRanged(data)
	o.chunkWait = 20 * time.Microsecond
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			ra := c.Wrap("obj", size, o.at(context.Background()))
			streamAll(t, ra, data, 0, size, true)
		})
	}
	wg.Wait()
	if got := o.sent.Load(); got > 2*size {
		t.Errorf("4 concurrent streams: %d bytes from the backend, %.2f× the object; want at most 2×", got, float64(got)/float64(size))
	} else {
		t.Logf("4 concurrent streams: %.2f× the object from the backend, %d requests", float64(got)/float64(size), o.ranges.Load())
	}
}

// TestFetchRatio: random 64 KiB ranges at unaligned offsets of an object
// four times the cache never fetch more than twice the bytes served, with
// ReadAt and with ReadRange.
func TestFetchRatio(t *testing.T) {
	data := bcData(23, 32*mib)
	size := int64(len(data))
	for _, stream := range []bool{false, true} {
		c := NewCache(CacheConfig{MaxBytes: 8 * mib})
		o := newRanged(data)
		rng := rand.New(rand.NewPCG(7, 8))
		var served int64
		p := make([]byte, 64*kib)
		for range 500 {
			off := rng.Int64N(size - int64(len(p)))
			ra := c.Wrap("obj", size, o.at(context.Background()))
			if stream {
				streamAll(t, ra, data, off, int64(len(p)), true)
			} else {
				checkReadAt(t, ra, data, off, len(p))
			}
			served += int64(len(p))
		}
		c.waitReadAhead()
		ratio := float64(o.sent.Load()) / float64(served)
		if ratio > 2 {
			t.Errorf("stream=%v: fetched %.2f× the bytes served, want at most 2×", stream, ratio)
		} else {
			t.Logf("stream=%v: fetched %.2f× the bytes served", stream, ratio)
		}
	}
}

// TestSpanStreamWindow: the fetcher of a slow reader stays within its
// window; a fast reader's window grows.
func TestSpanStreamWindow(t *testing.T) {
	const bs = 64 * kib
	data := bcData(24, 16*mib)
	size := int64(len(data))
	c := NewCache(CacheConfig{BlockSize: bs, MaxBytes: 64 * mib})
	o := newRanged(data)
	ra := c.Wrap("obj", size, o.at(context.Background()))
	rc, err := ra.(RangeReader).ReadRange(0, size)
	if err != nil {
		t.Fatal(err)
	}
	p := make([]byte, bs)
	if _, err := io.ReadFull(rc, p); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // a player at its bitrate
	if got := o.sent.Load(); got > bs+streamWindow+bs {
		t.Errorf("slow reader after 1 block: %d bytes fetched, want at most %d", got, bs+streamWindow+bs)
	}
	// Now read fast: the window widens up to maxStreamWindow.
	rest, err := io.ReadAll(rc)
	if err != nil || !bytes.Equal(rest, data[bs:]) {
		t.Fatalf("rest of the stream: %d bytes, %v", len(rest), err)
	}
	if s := rc.(*spanStream); s.granted*int(bs) != maxStreamWindow {
		t.Errorf("window after a fast read: %d bytes, want %d", s.granted*int(bs), maxStreamWindow)
	}
	rc.Close()
}

// TestSpanStreamClose: a stream closed in the middle stops its fetcher,
// ends its backend request and releases its blocks.
func TestSpanStreamClose(t *testing.T) {
	const bs = 64 * kib
	data := bcData(25, 32*mib)
	size := int64(len(data))
	before := runtime.NumGoroutine()
	c := NewCache(CacheConfig{BlockSize: bs, MaxBytes: 4 * mib})
	o := newRanged(data)
	o.chunkWait = 50 * time.Microsecond
	for i := range 20 {
		ra := c.Wrap("obj", size, o.at(context.Background()))
		rc, err := ra.(RangeReader).ReadRange(int64(i)*mib, size-int64(i)*mib)
		if err != nil {
			t.Fatal(err)
		}
		p := make([]byte, 100*kib)
		if _, err := io.ReadFull(rc, p); err != nil {
			t.Fatal(err)
		}
		rc.Close()
		if _, err := rc.Read(p); err == nil {
			t.Fatal("Read after Close succeeded")
		}
	}
	waitFor(t, "the fetchers to end", func() bool { return runtime.NumGoroutine() <= before })
	if n := o.open.Load(); n != 0 {
		t.Errorf("%d backend bodies left open", n)
	}
	if got, limit := o.sent.Load(), int64(20*(100*kib+maxStreamWindow+2*bs)); got > limit {
		t.Errorf("20 streams closed after 100 KiB: %d bytes fetched, want at most %d", got, limit)
	}
	// No leaked references: the cache can still evict everything.
	for i := range int64(64) {
		checkReadAt(t, c.Wrap("other", size, o.at(context.Background())), data, i*bs, 10)
	}
	if s := c.Stats(); s.Bytes > 4*mib {
		t.Errorf("Bytes %d over MaxBytes", s.Bytes)
	}
}

// TestSpanStreamErrors: a backend failing mid-stream fails the stream
// after the bytes before the failed block; nothing bad is cached; a cut
// idle request is reopened once.
func TestSpanStreamErrors(t *testing.T) {
	const bs = 64 * kib
	data := bcData(26, 8*mib)
	size := int64(len(data))
	c := NewCache(CacheConfig{BlockSize: bs, MaxBytes: 64 * mib})
	o := newRanged(data)
	o.failAt.Store(5*mib + 100)
	ra := c.Wrap("obj", size, o.at(context.Background()))
	rc, err := ra.(RangeReader).ReadRange(0, size)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	n, err := CopyStream(&buf, rc, size)
	rc.Close()
	if err == nil || n != 5*mib || !bytes.Equal(buf.Bytes(), data[:n]) {
		t.Fatalf("stream over a failing backend: %d bytes, %v; want the %d bytes before the failed block and an error", n, err, 5*mib)
	}
	o.failAt.Store(0)
	streamAll(t, c.Wrap("obj", size, o.at(context.Background())), data, 0, size, true)

	// An idle cut: the next read of an open body fails once.
	c = NewCache(CacheConfig{BlockSize: bs, MaxBytes: 64 * mib})
	o = newRanged(data)
	ra = c.Wrap("obj", size, o.at(context.Background()))
	rc, err = ra.(RangeReader).ReadRange(0, size)
	if err != nil {
		t.Fatal(err)
	}
	p := make([]byte, bs)
	if _, err := io.ReadFull(rc, p); err != nil {
		t.Fatal(err)
	}
	o.failOnce.Store(true)
	rest, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(rest, data[bs:]) {
		t.Fatalf("after an idle cut: %d bytes, %v; want the rest of the object", len(rest), err)
	}
}

// TestSpanStreamCloseWithFollower: a stream closed while another waits for
// blocks it claimed does not leave the other hanging; the other gets every
// byte.
func TestSpanStreamCloseWithFollower(t *testing.T) {
	const bs = 64 * kib
	data := bcData(27, 16*mib)
	size := int64(len(data))
	for i := range 10 {
		c := NewCache(CacheConfig{BlockSize: bs, MaxBytes: 64 * mib})
		o := newRanged(data)
		o.chunkWait = time.Duration(i) * 10 * time.Microsecond
		a, err := c.Wrap("obj", size, o.at(context.Background())).(RangeReader).ReadRange(0, size)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(a, make([]byte, 200*kib)); err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			streamAll(t, c.Wrap("obj", size, o.at(context.Background())), data, 0, size, true)
		}()
		time.Sleep(time.Duration(i) * time.Millisecond)
		a.Close()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Fatal("the follower hangs after the leader closed")
		}
	}
}

// BenchmarkSpanStream streams a 32 MiB object through the cache (cold:
// every block fetched from a ranged fake backend; warm: all resident) to
// io.Discard, as media's CopyStream does; the cache is smaller than the
// object for cold. Compare with BenchmarkSpanStream/raw, the backend's
// stream copied through a 256 KiB buffer, as an uncached mount does.
func BenchmarkSpanStream(b *testing.B) {
	data := bcData(60, 32*mib)
	size := int64(len(data))
	for _, bc := range []struct {
		name string
		bs   int64
		warm bool
	}{{"cold/64k", 64 * kib, false}, {"cold/1m", mib, false}, {"warm/64k", 64 * kib, true}} {
		b.Run(bc.name, func(b *testing.B) {
			max := int64(8 * mib)
			if bc.warm {
				max = 64 * mib
			}
			c := NewCache(CacheConfig{BlockSize: bc.bs, MaxBytes: max})
			o := newRanged(data)
			b.SetBytes(size)
			b.ReportAllocs()
			for b.Loop() {
				rc, err := c.Wrap("obj", size, o.at(context.Background())).(RangeReader).ReadRange(0, size)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := CopyStream(io.Discard, rc, size); err != nil {
					b.Fatal(err)
				}
				rc.Close()
			}
		})
	}
	b.Run("raw", func(b *testing.B) {
		o := newRanged(data)
		b.SetBytes(size)
		b.ReportAllocs()
		for b.Loop() {
			rc, _ := o.at(context.Background()).(RangeReader).ReadRange(0, size)
			if _, err := CopyStream(io.Discard, rc, size); err != nil {
				b.Fatal(err)
			}
			rc.Close()
		}
	})
}
