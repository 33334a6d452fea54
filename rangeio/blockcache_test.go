package rangeio

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const (
	kib = 1 << 10
	mib = 1 << 20
)

// bcData returns n deterministic pseudo-random bytes derived from seed.
func bcData(seed uint64, n int) []byte {
	var key [32]byte
	key[0] = byte(seed)
	key[1] = byte(seed >> 8)
	b := make([]byte, n)
	_, _ = rand.NewChaCha8(key).Read(b)
	return b
}

var bcBig = sync.OnceValue(func() []byte { return bcData(1, 48*mib) })

// bcObject is a fake remote object: it counts backend reads and can delay
// them, hold them at a gate, or fail them.
type bcObject struct {
	data  []byte
	delay time.Duration
	gate  atomic.Pointer[chan struct{}] // reads wait until it is closed
	fail  atomic.Pointer[func(off int64) error]

	reads       atomic.Int64
	inflight    atomic.Int64
	maxInflight atomic.Int64
	mu          sync.Mutex
	offsets     []int64
}

// at returns a reader of o bound to ctx, as a backend's per-request reader is.
func (o *bcObject) at(ctx context.Context) io.ReaderAt { return bcReader{o, ctx} }

func (o *bcObject) closeGate() chan struct{} {
	g := make(chan struct{})
	o.gate.Store(&g)
	return g
}

func (o *bcObject) readOffsets() []int64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]int64(nil), o.offsets...)
}

type bcReader struct {
	o   *bcObject
	ctx context.Context
}

func (r bcReader) ReadAt(p []byte, off int64) (int, error) {
	o := r.o
	o.reads.Add(1)
	o.mu.Lock()
	o.offsets = append(o.offsets, off)
	o.mu.Unlock()
	cur := o.inflight.Add(1)
	defer o.inflight.Add(-1)
	for {
		m := o.maxInflight.Load()
		if cur <= m || o.maxInflight.CompareAndSwap(m, cur) {
			break
		}
	}
	if g := o.gate.Load(); g != nil {
		select {
		case <-*g:
		case <-r.ctx.Done():
			return 0, r.ctx.Err()
		}
	}
	if o.delay > 0 {
		select {
		case <-time.After(o.delay):
		case <-r.ctx.Done():
			return 0, r.ctx.Err()
		}
	}
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	if f := o.fail.Load(); f != nil {
		if err := (*f)(off); err != nil {
			return 0, err
		}
	}
	return bytes.NewReader(o.data).ReadAt(p, off)
}

// waitFor polls cond for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func sum(b []byte) string { return fmt.Sprintf("%x", sha256.Sum256(b)) }

// checkReadAt compares ra.ReadAt(len, off) with the same read on data.
func checkReadAt(t *testing.T, ra io.ReaderAt, data []byte, off int64, length int) {
	t.Helper()
	want := make([]byte, length)
	wn, werr := bytes.NewReader(data).ReadAt(want, off)
	got := make([]byte, length)
	gn, gerr := ra.ReadAt(got, off)
	if gn != wn || (gerr == nil) != (werr == nil) || (werr != nil && !errors.Is(gerr, werr)) {
		t.Fatalf("ReadAt(len=%d, off=%d) = %d, %v; want %d, %v", length, off, gn, gerr, wn, werr)
	}
	if sum(got[:gn]) != sum(want[:wn]) {
		t.Fatalf("ReadAt(len=%d, off=%d): sha256 of bytes differs from the object's", length, off)
	}
}

func TestBlockCacheBytes(t *testing.T) {
	const bs = 64 * kib
	data := bcData(2, 3*mib+12345) // the last block is short
	size := int64(len(data))
	tests := []struct {
		name   string
		off    int64
		length int
	}{
		{"head", 0, 100},
		{"whole first block", 0, bs},
		{"across one boundary", bs - 10, 20},
		{"across many blocks", bs / 2, 5*bs + 7},
		{"whole object", 0, len(data)},
		{"past the end", 0, len(data) + 100},
		{"last short block", size - 12345, 12345},
		{"into the last block", size - 12345 - 100, 200},
		{"last byte", size - 1, 1},
		{"last byte and beyond", size - 1, 10},
		{"at size", size, 10},
		{"after size", size + 1000, 10},
		{"empty at 0", 0, 0},
		{"empty at size", size, 0},
	}
	for _, readAhead := range []int{NoReadAhead, 2} {
		c := NewCache(CacheConfig{BlockSize: bs, MaxBytes: 8 * bs, ReadAhead: readAhead})
		o := &bcObject{data: data}
		ra := c.Wrap("obj", size, o.at(context.Background()))
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%s/readahead=%d", tt.name, readAhead), func(t *testing.T) {
				checkReadAt(t, ra, data, tt.off, tt.length)
			})
		}
		if n, err := ra.ReadAt(make([]byte, 1), -1); n != 0 || err == nil {
			t.Errorf("ReadAt at -1 = %d, %v; want an error", n, err)
		}
		c.waitReadAhead()
	}
}

// TestBlockCacheRandom compares random reads (fixed seed) with the object,
// sequentially and from concurrent readers, with a cache small enough to
// evict all the time.
func TestBlockCacheRandom(t *testing.T) {
	const bs = 64 * kib
	data := bcData(3, 2*mib+777)
	size := int64(len(data))
	c := NewCache(CacheConfig{BlockSize: bs, MaxBytes: 6 * bs})
	o := &bcObject{data: data}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(42, uint64(g)))
			ra := c.Wrap("obj", size, o.at(context.Background()))
			off := int64(0)
			for range 150 {
				length := rng.IntN(3 * bs)
				switch rng.IntN(4) {
				case 0: // sequential: continue where the last read ended
				case 1:
					off = size - int64(rng.IntN(2*bs))
				default:
					off = rng.Int64N(size + bs)
				}
				off = max(off, 0)
				checkReadAt(t, ra, data, off, length)
				off += int64(length)
			}
		})
	}
	wg.Wait()
	c.waitReadAhead()
	s := c.Stats()
	if s.Bytes > 6*bs || s.Evictions == 0 {
		t.Errorf("stats %+v: want Bytes <= %d and some evictions", s, 6*bs)
	}
	if s.BackendBytes > s.BackendReads*bs {
		t.Errorf("BackendBytes %d for %d backend reads: want whole blocks", s.BackendBytes, s.BackendReads)
	}
	for _, off := range o.readOffsets() {
		if off%bs != 0 {
			t.Fatalf("backend read at %d, not aligned on %d", off, bs)
		}
	}
}

// TestBlockCacheVideoPattern replays what a player does: read the head,
// seek to the middle and stream 4 MiB in 64 KiB chunks, seek back to the
// head; each step is a separate request (a separate Wrap).
func TestBlockCacheVideoPattern(t *testing.T) {
	data := bcBig()
	size := int64(len(data))
	mid := size / 2 // 24 MiB: block 24
	type read struct {
		req    int
		off    int64
		length int
	}
	var reads []read
	reads = append(reads, read{0, 0, 64 * kib})
	for i := range 64 {
		reads = append(reads, read{1, mid + int64(i)*64*kib, 64 * kib})
	}
	reads = append(reads, read{2, 0, 64 * kib})

	replay := func(t *testing.T, wrap func(req int, r io.ReaderAt) io.ReaderAt) *bcObject {
		o := &bcObject{data: data}
		readers := map[int]io.ReaderAt{}
		for _, rd := range reads {
			ra := readers[rd.req]
			if ra == nil {
				ra = wrap(rd.req, o.at(context.Background()))
				readers[rd.req] = ra
			}
			checkReadAt(t, ra, data, rd.off, rd.length)
		}
		return o
	}
	plain := replay(t, func(_ int, r io.ReaderAt) io.ReaderAt { return r }).reads.Load()
	if plain != 66 {
		t.Fatalf("without cache: %d backend reads, want 66", plain)
	}
	tests := []struct {
		readAhead     int
		wantReads     int64
		wantAheads    uint64
		wantAheadsMax uint64
	}{
		// head block, 4 middle blocks; the second request finds the head cached.
		{-1, 5, 0, 0},
		// plus the 2 blocks read ahead past the 4 MiB streamed; middle
		// blocks 2-4 may be fetched by read-ahead or by the stream.
		{2, 7, 2, 5},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("readahead=%d", tt.readAhead), func(t *testing.T) {
			c := NewCache(CacheConfig{BlockSize: mib, ReadAhead: tt.readAhead})
			o := replay(t, func(_ int, r io.ReaderAt) io.ReaderAt { return c.Wrap("video", size, r) })
			c.waitReadAhead()
			s := c.Stats()
			if got := o.reads.Load(); got != tt.wantReads || s.BackendReads != uint64(tt.wantReads) {
				t.Errorf("with cache: %d backend reads (stats %d), want %d (plain: %d)", got, s.BackendReads, tt.wantReads, plain)
			}
			// Read-ahead may also win the race for blocks the stream reads next.
			if s.ReadAheads < tt.wantAheads || s.ReadAheads > tt.wantAheadsMax {
				t.Errorf("ReadAheads = %d, want %d to %d", s.ReadAheads, tt.wantAheads, tt.wantAheadsMax)
			}
			if s.Hits+s.Misses != 66 || s.Hits < 61 {
				t.Errorf("hits %d, misses %d: want 66 lookups, at least 61 hits", s.Hits, s.Misses)
			}
		})
	}
}

func TestBlockCacheCoalesce(t *testing.T) {
	data := bcData(4, 4*mib)
	c := NewCache(CacheConfig{BlockSize: mib, ReadAhead: NoReadAhead})
	o := &bcObject{data: data}
	gate := o.closeGate()
	const n = 32
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			ra := c.Wrap("obj", int64(len(data)), o.at(context.Background()))
			p := make([]byte, 1000)
			off := int64(mib + i*1000)
			_, errs[i] = ra.ReadAt(p, off)
			if errs[i] == nil && !bytes.Equal(p, data[off:off+1000]) {
				errs[i] = fmt.Errorf("reader %d got wrong bytes", i)
			}
		})
	}
	waitFor(t, "31 waiters", func() bool { return c.Stats().Coalesced == n-1 })
	close(gate)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	s := c.Stats()
	if o.reads.Load() != 1 || s.BackendReads != 1 || s.Misses != n || s.Coalesced != n-1 {
		t.Errorf("backend reads %d, stats %+v: want 1 read, %d misses, %d coalesced", o.reads.Load(), s, n, n-1)
	}
}

// TestBlockCacheLeaderCancelled: the request whose reader fetches a shared
// block goes away; the others waiting for that block still get it.
func TestBlockCacheLeaderCancelled(t *testing.T) {
	data := bcData(5, 2*mib)
	size := int64(len(data))
	c := NewCache(CacheConfig{BlockSize: mib, ReadAhead: NoReadAhead})
	o := &bcObject{data: data}
	gate := o.closeGate()

	leaderCtx, cancel := context.WithCancel(context.Background())
	leaderErr := make(chan error, 1)
	go func() {
		_, err := c.Wrap("obj", size, o.at(leaderCtx)).ReadAt(make([]byte, 10), 0)
		leaderErr <- err
	}()
	waitFor(t, "the leader's backend read", func() bool { return o.inflight.Load() == 1 })

	const n = 31
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			p := make([]byte, 4*kib)
			off := int64(i * 4 * kib)
			_, errs[i] = c.Wrap("obj", size, o.at(context.Background())).ReadAt(p, off)
			if errs[i] == nil && !bytes.Equal(p, data[off:off+4*kib]) {
				errs[i] = fmt.Errorf("waiter %d got wrong bytes", i)
			}
		})
	}
	waitFor(t, "the waiters", func() bool { return c.Stats().Coalesced == n })
	cancel()
	if err := <-leaderErr; !errors.Is(err, context.Canceled) {
		t.Fatalf("leader: err = %v, want context.Canceled", err)
	}
	close(gate)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := o.reads.Load(); got != 2 {
		t.Errorf("%d backend reads, want 2 (the cancelled one and one retry)", got)
	}
}

// TestBlockCacheETag: a new version of an object (new id) never shows the
// old bytes, while readers of the old version keep theirs.
func TestBlockCacheETag(t *testing.T) {
	const bs = 64 * kib
	v1, v2 := bcData(6, 10*bs+5), bcData(7, 10*bs+5)
	c := NewCache(CacheConfig{BlockSize: bs, MaxBytes: 64 * bs})
	o1, o2 := &bcObject{data: v1}, &bcObject{data: v2}
	r1 := c.Wrap("key\x00\"v1\"", int64(len(v1)), o1.at(context.Background()))
	// Cache every other block of v1.
	for i := int64(0); i < 10; i += 2 {
		checkReadAt(t, r1, v1, i*bs, 10)
	}
	r2 := c.Wrap("key\x00\"v2\"", int64(len(v2)), o2.at(context.Background()))
	got := make([]byte, len(v2))
	if n, err := r2.ReadAt(got, 0); n != len(v2) || (err != nil && err != io.EOF) {
		t.Fatalf("v2: ReadAt = %d, %v", n, err)
	}
	if sum(got) != sum(v2) {
		t.Fatal("v2 read through the cache differs from v2 (old blocks mixed in?)")
	}
	if o2.reads.Load() != 11 {
		t.Errorf("v2: %d backend reads, want 11 (no block of v1 reused)", o2.reads.Load())
	}
	checkReadAt(t, r1, v1, 0, len(v1))
}

func TestBlockCacheMemoryCap(t *testing.T) {
	const bs = 64 * kib
	const maxBytes = 16 * bs
	data := bcData(8, 160*bs) // 10 × MaxBytes
	c := NewCache(CacheConfig{BlockSize: bs, MaxBytes: maxBytes, ReadAhead: NoReadAhead})
	o := &bcObject{data: data}
	ra := c.Wrap("obj", int64(len(data)), o.at(context.Background()))
	for i := range int64(160) {
		checkReadAt(t, ra, data, i*bs+1, 100)
		if s := c.Stats(); s.Bytes > maxBytes {
			t.Fatalf("after block %d: Bytes = %d > MaxBytes %d", i, s.Bytes, maxBytes)
		}
	}
	s := c.Stats()
	if s.Bytes != maxBytes || s.Blocks != 16 || s.Evictions != 160-16 || s.BackendReads != 160 {
		t.Errorf("stats %+v: want Bytes %d, 16 blocks, 144 evictions, 160 backend reads", s, maxBytes)
	}
	// The most recent 16 blocks are resident, the older ones are not.
	checkReadAt(t, ra, data, 159*bs, 10)
	checkReadAt(t, ra, data, 144*bs, 10)
	checkReadAt(t, ra, data, 0, 10)
	if got := c.Stats().BackendReads; got != 161 {
		t.Errorf("%d backend reads, want 161 (only block 0 evicted among these)", got)
	}
}

// TestBlockCacheMemoryCapConcurrent checks the cap while 8 readers with
// read-ahead stream distinct parts of several objects.
func TestBlockCacheMemoryCapConcurrent(t *testing.T) {
	const bs = 64 * kib
	const maxBytes = 10 * bs
	data := bcData(9, 100*bs+3)
	c := NewCache(CacheConfig{BlockSize: bs, MaxBytes: maxBytes, ReadAhead: 3})
	stop := make(chan struct{})
	var over atomic.Int64
	var poll sync.WaitGroup
	poll.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if b := c.Stats().Bytes; b > maxBytes {
				over.Store(b)
			}
			runtime.Gosched()
		}
	})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			o := &bcObject{data: data, delay: 100 * time.Microsecond}
			ra := c.Wrap(fmt.Sprintf("obj%d", g%3), int64(len(data)), o.at(context.Background()))
			p := make([]byte, 48*kib)
			for off := int64(g) * 5 * bs; off < int64(len(data)); off += int64(len(p)) {
				if n, err := ra.ReadAt(p, off); err != nil && err != io.EOF || !bytes.Equal(p[:n], data[off:off+int64(n)]) {
					t.Errorf("ReadAt(%d) = %d, %v or wrong bytes", off, n, err)
					return
				}
			}
		})
	}
	wg.Wait()
	c.waitReadAhead()
	close(stop)
	poll.Wait()
	if b := over.Load(); b != 0 {
		t.Errorf("Bytes reached %d > MaxBytes %d", b, maxBytes)
	}
	if s := c.Stats(); s.Evictions == 0 || s.Bytes > maxBytes {
		t.Errorf("stats %+v: want evictions, Bytes <= %d", s, maxBytes)
	}
}

// TestBlockCacheTooSmall: with MaxBytes < BlockSize nothing is kept but
// reads still work and coalesce.
func TestBlockCacheTooSmall(t *testing.T) {
	data := bcData(10, 4*kib)
	c := NewCache(CacheConfig{BlockSize: 2 * kib, MaxBytes: kib})
	ra := c.Wrap("obj", int64(len(data)), (&bcObject{data: data}).at(context.Background()))
	checkReadAt(t, ra, data, 0, len(data))
	checkReadAt(t, ra, data, 100, 3000)
	if s := c.Stats(); s.Bytes != 0 || s.Blocks != 0 {
		t.Errorf("stats %+v: want nothing resident", s)
	}
}

func TestBlockCacheReadAhead(t *testing.T) {
	const bs = 64 * kib
	data := bcData(11, 20*bs)
	size := int64(len(data))
	t.Run("sequential", func(t *testing.T) {
		c := NewCache(CacheConfig{BlockSize: bs, ReadAhead: 2})
		o := &bcObject{data: data}
		ra := c.Wrap("obj", size, o.at(context.Background()))
		checkReadAt(t, ra, data, 0, 16*kib)      // first read: no read-ahead yet
		checkReadAt(t, ra, data, 16*kib, 16*kib) // sequential: blocks 1 and 2
		c.waitReadAhead()
		s := c.Stats()
		if s.ReadAheads != 2 || s.BackendReads != 3 {
			t.Fatalf("stats %+v: want 2 read-aheads, 3 backend reads", s)
		}
		// Stream to block 2: all hits, read-ahead slides to block 4.
		for off := int64(32 * kib); off < 3*bs; off += 16 * kib {
			checkReadAt(t, ra, data, off, 16*kib)
			c.waitReadAhead()
		}
		s = c.Stats()
		if s.Misses != 1 || s.ReadAheads != 4 || s.BackendReads != 5 {
			t.Errorf("stats %+v: want 1 miss, 4 read-aheads, 5 backend reads", s)
		}
		if err := ra.(io.Closer).Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := ra.ReadAt(make([]byte, 1), 0); !errors.Is(err, fs.ErrClosed) {
			t.Errorf("ReadAt after Close: err = %v, want fs.ErrClosed", err)
		}
	})
	t.Run("seek back", func(t *testing.T) {
		c := NewCache(CacheConfig{BlockSize: bs, ReadAhead: 2})
		ra := c.Wrap("obj", size, (&bcObject{data: data}).at(context.Background()))
		checkReadAt(t, ra, data, 10*bs, 10)
		checkReadAt(t, ra, data, 10*bs+10, 10) // read-ahead 11, 12
		c.waitReadAhead()
		checkReadAt(t, ra, data, 2*bs, 10)
		checkReadAt(t, ra, data, 2*bs+10, 10) // read-ahead 3, 4
		c.waitReadAhead()
		if s := c.Stats(); s.ReadAheads != 4 || s.BackendReads != 6 {
			t.Errorf("stats %+v: want 4 read-aheads, 6 backend reads", s)
		}
	})
	t.Run("random", func(t *testing.T) {
		c := NewCache(CacheConfig{BlockSize: bs, ReadAhead: 2})
		ra := c.Wrap("obj", size, (&bcObject{data: data}).at(context.Background()))
		rng := rand.New(rand.NewPCG(1, 2))
		for range 200 {
			off := rng.Int64N(size)
			checkReadAt(t, ra, data, off, 1+rng.IntN(bs))
		}
		c.waitReadAhead()
		if s := c.Stats(); s.ReadAheads != 0 {
			t.Errorf("random reads: %d read-aheads, want 0", s.ReadAheads)
		}
	})
	t.Run("at the end", func(t *testing.T) {
		c := NewCache(CacheConfig{BlockSize: bs, ReadAhead: 4})
		ra := c.Wrap("obj", size, (&bcObject{data: data}).at(context.Background()))
		checkReadAt(t, ra, data, size-bs-100, 50)
		checkReadAt(t, ra, data, size-bs-50, 50) // block 18, read-ahead: 19 only
		c.waitReadAhead()
		if s := c.Stats(); s.ReadAheads != 1 {
			t.Errorf("%d read-aheads, want 1 (the object ends)", s.ReadAheads)
		}
	})
	t.Run("closed stops read-ahead", func(t *testing.T) {
		c := NewCache(CacheConfig{BlockSize: bs, ReadAhead: 4})
		o := &bcObject{data: data}
		ra := c.Wrap("obj", size, o.at(context.Background()))
		checkReadAt(t, ra, data, 0, 10)
		gate := o.closeGate()
		go func() { _, _ = ra.ReadAt(make([]byte, 10), 10) }()
		waitFor(t, "the first read-ahead", func() bool { return o.inflight.Load() == 1 })
		_ = ra.(io.Closer).Close()
		close(gate)
		c.waitReadAhead()
		if s := c.Stats(); s.ReadAheads != 1 {
			t.Errorf("%d read-aheads after Close, want 1 (the one in flight)", s.ReadAheads)
		}
	})
	t.Run("errors dropped", func(t *testing.T) {
		c := NewCache(CacheConfig{BlockSize: bs, ReadAhead: 3})
		o := &bcObject{data: data}
		ra := c.Wrap("obj", size, o.at(context.Background()))
		checkReadAt(t, ra, data, 0, 10)
		fail := func(off int64) error {
			if off > 0 {
				return errors.New("backend down")
			}
			return nil
		}
		o.fail.Store(&fail)
		checkReadAt(t, ra, data, 10, 10)
		c.waitReadAhead()
		// The first failure stops the window: blocks 2 and 3 are not tried.
		if s := c.Stats(); s.ReadAheads != 1 || s.ReadAheadErrors != 1 || s.BackendErrors != 1 || s.Blocks != 1 {
			t.Errorf("stats %+v: want 1 read-ahead that failed, 1 block resident", s)
		}
	})
}

// TestBlockCacheReadAheadBounded: many readers at many offsets of one file
// (audio and video tracks) never run more than MaxPrefetch read-aheads.
func TestBlockCacheReadAheadBounded(t *testing.T) {
	const bs = 64 * kib
	const readers = 16
	data := bcData(12, 4*readers*bs)
	size := int64(len(data))
	c := NewCache(CacheConfig{BlockSize: bs, ReadAhead: 2, MaxPrefetch: 3})
	o := &bcObject{data: data}
	warm := c.Wrap("obj", size, o.at(context.Background()))
	for i := range int64(readers) {
		checkReadAt(t, warm, data, 4*i*bs+5, 1)
	}
	gate := o.closeGate()
	for i := range int64(readers) {
		ra := c.Wrap("obj", size, o.at(context.Background()))
		checkReadAt(t, ra, data, 4*i*bs, 1024)
		checkReadAt(t, ra, data, 4*i*bs+1024, 1024) // sequential: read-ahead
	}
	waitFor(t, "3 read-aheads", func() bool { return o.inflight.Load() == 3 })
	s := c.Stats()
	if s.ReadAheadSkipped != readers-3 {
		t.Errorf("%d read-aheads skipped, want %d", s.ReadAheadSkipped, readers-3)
	}
	close(gate)
	c.waitReadAhead()
	s = c.Stats()
	if s.ReadAheads != 3*2 || o.maxInflight.Load() != 3 {
		t.Errorf("%d read-aheads, at most %d backend reads at once; want 6 and 3", s.ReadAheads, o.maxInflight.Load())
	}
}

func TestBlockCacheErrors(t *testing.T) {
	const bs = 64 * kib
	data := bcData(13, 8*bs)
	size := int64(len(data))
	c := NewCache(CacheConfig{BlockSize: bs, ReadAhead: NoReadAhead})
	o := &bcObject{data: data}
	ra := c.Wrap("obj", size, o.at(context.Background()))
	errDown := errors.New("backend down")
	fail := func(off int64) error {
		if off == 3*bs {
			return errDown
		}
		return nil
	}
	o.fail.Store(&fail)
	p := make([]byte, 4*bs)
	n, err := ra.ReadAt(p, bs+100)
	if !errors.Is(err, errDown) || n != 2*bs-100 || !bytes.Equal(p[:n], data[bs+100:3*bs]) {
		t.Fatalf("ReadAt across a failing block = %d, %v; want %d bytes and the backend error", n, err, 2*bs-100)
	}
	o.fail.Store(nil)
	checkReadAt(t, ra, data, bs+100, 4*bs) // errors are not cached
	if s := c.Stats(); s.BackendErrors != 1 {
		t.Errorf("BackendErrors = %d, want 1", s.BackendErrors)
	}

	// An object shorter than its declared size (it changed under us).
	short := c.Wrap("short", size+10, o.at(context.Background()))
	if n, err := short.ReadAt(make([]byte, 20), size-10); !errors.Is(err, io.ErrUnexpectedEOF) || n != 10 {
		t.Errorf("ReadAt of a truncated object = %d, %v; want 10, io.ErrUnexpectedEOF", n, err)
	}

	// Unknown size and nil cache: no wrapping.
	r := o.at(context.Background())
	if got := c.Wrap("x", -1, r); got != r {
		t.Error("Wrap with size -1 wrapped the reader")
	}
	if got := (*Cache)(nil).Wrap("x", size, r); got != r {
		t.Error("nil Cache wrapped the reader")
	}
}

// TestBlockCacheSpanParallel: a read spanning many missing blocks fetches
// them concurrently, at most fetchParallel at a time, each exactly once.
func TestBlockCacheSpanParallel(t *testing.T) {
	const bs = 16 * kib
	data := bcData(14, 20*bs)
	c := NewCache(CacheConfig{BlockSize: bs, ReadAhead: NoReadAhead})
	o := &bcObject{data: data, delay: 5 * time.Millisecond}
	ra := c.Wrap("obj", int64(len(data)), o.at(context.Background()))
	checkReadAt(t, ra, data, bs, 3*bs)       // blocks 1-3
	checkReadAt(t, ra, data, 0, len(data)+1) // 3 hits, 17 misses
	if got, m := o.reads.Load(), o.maxInflight.Load(); got != 20 || m != fetchParallel {
		t.Errorf("%d backend reads, %d at once; want 20 and %d", got, m, fetchParallel)
	}
	if s := c.Stats(); s.Hits != 3 || s.Misses != 20 {
		t.Errorf("stats %+v: want 3 hits, 20 misses", s)
	}
}

func TestBlockCacheHitAllocs(t *testing.T) {
	if testing.CoverMode() != "" || raceEnabled() {
		t.Skip("allocation counts differ under -cover and -race")
	}
	data := bcData(15, 2*mib)
	c := NewCache(CacheConfig{})
	ra := c.Wrap("obj", int64(len(data)), bytes.NewReader(data))
	p := make([]byte, 64*kib)
	_, _ = ra.ReadAt(p, 4096)
	if a := testing.AllocsPerRun(100, func() { _, _ = ra.ReadAt(p, 4096) }); a != 0 {
		t.Errorf("cache hit: %v allocations, want 0", a)
	}
}

func BenchmarkBlockCacheHit(b *testing.B) {
	data := bcData(16, 2*mib)
	c := NewCache(CacheConfig{})
	ra := c.Wrap("obj", int64(len(data)), bytes.NewReader(data))
	p := make([]byte, 64*kib)
	_, _ = ra.ReadAt(p, 4096)
	b.SetBytes(int64(len(p)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ra.ReadAt(p, 4096); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBlockCacheParallel(b *testing.B) {
	data := bcData(17, 64*mib)
	c := NewCache(CacheConfig{})
	warm := c.Wrap("obj", int64(len(data)), bytes.NewReader(data))
	for off := int64(0); off < int64(len(data)); off += mib {
		_, _ = warm.ReadAt(make([]byte, 1), off)
	}
	for _, size := range []int{4 * kib, 64 * kib} {
		b.Run(fmt.Sprintf("read=%dKiB", size/kib), func(b *testing.B) {
			var seed atomic.Uint64
			b.SetBytes(int64(size))
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				ra := c.Wrap("obj", int64(len(data)), bytes.NewReader(data))
				rng := rand.New(rand.NewPCG(seed.Add(1), 0))
				p := make([]byte, size)
				for pb.Next() {
					if _, err := ra.ReadAt(p, rng.Int64N(int64(len(data)-size))); err != nil {
						b.Fatal(err)
					}
				}
			})
			if s := c.Stats(); s.BackendReads != 64 {
				b.Fatalf("%d backend reads, want 64 (all blocks warm)", s.BackendReads)
			}
		})
	}
}

func TestCacheConfigValidate(t *testing.T) {
	tests := []struct {
		cfg     CacheConfig
		mention string // "" for valid
	}{
		{CacheConfig{}, ""},
		{CacheConfig{BlockSize: MinBlockSize, MaxBytes: MinCacheBlocks * MinBlockSize}, ""},
		{CacheConfig{BlockSize: MaxBlockSize, MaxBytes: 1 << 30, ReadAhead: MaxReadAhead}, ""},
		{CacheConfig{ReadAhead: NoReadAhead}, ""},
		{CacheConfig{BlockSize: MinBlockSize - 1}, "BlockSize"},
		{CacheConfig{BlockSize: MaxBlockSize + 1, MaxBytes: 1 << 40}, "BlockSize"},
		{CacheConfig{MaxBytes: 3 * DefaultBlockSize}, "MaxBytes"},
		{CacheConfig{BlockSize: 64 << 20}, ""}, // the default 256MiB holds exactly 4
		{CacheConfig{BlockSize: 64 << 20, MaxBytes: 255 << 20}, "MaxBytes"},
		{CacheConfig{ReadAhead: MaxReadAhead + 1}, "ReadAhead"},
		{CacheConfig{ReadAhead: -2}, "ReadAhead"},
		{CacheConfig{MaxPrefetch: -1}, "MaxPrefetch"},
	}
	for _, tt := range tests {
		err := tt.cfg.Validate()
		if tt.mention == "" && err != nil || tt.mention != "" && (err == nil || !strings.Contains(err.Error(), tt.mention)) {
			t.Errorf("%+v.Validate() = %v, want an error naming %q", tt.cfg, err, tt.mention)
		}
	}
}
