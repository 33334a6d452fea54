package rangeio

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sync"
	"sync/atomic"
)

// Defaults applied by [NewCache] to zero or negative fields of [CacheConfig].
const (
	// DefaultBlockSize is the block size used when CacheConfig.BlockSize <= 0:
	// what a player's small random read needs (a 64 KiB range at any offset
	// touches two blocks, so a miss fetches at most twice the bytes asked
	// for). Long reads do not pay for the small size: contiguous missing
	// blocks are fetched with one request (see [Cache.Wrap]).
	DefaultBlockSize = 64 << 10
	// DefaultCacheBytes is the memory cap used when CacheConfig.MaxBytes <= 0.
	DefaultCacheBytes = 256 << 20
	// DefaultReadAhead is the read-ahead depth used when CacheConfig.ReadAhead == 0.
	DefaultReadAhead = 2
	// NoReadAhead, as CacheConfig.ReadAhead, turns read-ahead off.
	NoReadAhead = -1
	// DefaultMaxPrefetch is the global read-ahead concurrency used when
	// CacheConfig.MaxPrefetch <= 0.
	DefaultMaxPrefetch = 8
)

// Limits [CacheConfig.Validate] checks. NewCache itself accepts any
// value (a library user may want a tiny cache in a test); configuration
// from outside the program should be validated first.
const (
	// MinBlockSize and MaxBlockSize bound CacheConfig.BlockSize: smaller
	// blocks cost a backend request per few KiB, larger ones read far
	// more than a player asks for.
	MinBlockSize = 4 << 10
	MaxBlockSize = 64 << 20
	// MinCacheBlocks is the fewest blocks CacheConfig.MaxBytes must hold,
	// so that a reader's block and its read-ahead stay resident.
	MinCacheBlocks = 4
	// MaxReadAhead bounds CacheConfig.ReadAhead.
	MaxReadAhead = 16
)

// fetchParallel bounds how many missing blocks one ReadAt call fetches at
// the same time.
const fetchParallel = 4

// maxAttempts bounds how many times one ReadAt waits for, or performs, the
// fetch of one block: a waiter whose shared fetch failed on another
// request's reader tries again (see [Cache.Wrap]).
const maxAttempts = 3

var errNegativeOffset = errors.New("rangeio: ReadAt at a negative offset")

// errBackendPanic is what waiters receive when the backend ReadAt of the
// request that led their fetch panicked.
var errBackendPanic = errors.New("rangeio: backend ReadAt panicked during a shared block fetch")

// CacheConfig configures a [Cache]. The zero value is usable: every field
// has a default.
type CacheConfig struct {
	// BlockSize is the size in bytes of the aligned blocks the cache keeps
	// in memory, and the unit of its backend reads. Default 64 KiB (when
	// <= 0).
	BlockSize int64
	// MaxBytes caps the bytes of resident blocks across all objects.
	// Default 256 MiB (when <= 0). If MaxBytes < BlockSize, no block is
	// ever resident: reads still coalesce but nothing is kept.
	MaxBytes int64
	// ReadAhead is how many blocks past the current one a sequential reader
	// prefetches. 0 means [DefaultReadAhead]; [NoReadAhead] (or any
	// negative value) turns read-ahead off.
	ReadAhead int
	// MaxPrefetch bounds the read-ahead goroutines running at once across
	// the whole cache; a sequential read that finds them all busy skips its
	// read-ahead. Default 8 (when <= 0).
	MaxPrefetch int
	// Disk, when not nil, is a local-disk tier under the memory (see
	// [DiskCache]): a block missing from memory is looked for there before
	// the backend is asked, and the segments readers fetch whole are
	// written there. The caller opens it with [OpenDisk] and closes it
	// after the cache's last use. Default nil: memory only.
	Disk *DiskCache
}

// Validate reports whether c, once its zero fields take their defaults,
// is within the limits above: BlockSize from [MinBlockSize] to
// [MaxBlockSize], MaxBytes at least [MinCacheBlocks] blocks, ReadAhead up
// to [MaxReadAhead] (or [NoReadAhead]), MaxPrefetch not negative. The
// error names the field.
func (c CacheConfig) Validate() error {
	bs, max := c.BlockSize, c.MaxBytes
	if bs == 0 {
		bs = DefaultBlockSize
	}
	if max == 0 {
		max = DefaultCacheBytes
	}
	switch {
	case bs < MinBlockSize || bs > MaxBlockSize:
		return fmt.Errorf("rangeio: BlockSize %d is out of range: use %d (4KiB) to %d (64MiB); 1MiB suits video", bs, MinBlockSize, MaxBlockSize)
	case max < MinCacheBlocks*bs:
		return fmt.Errorf("rangeio: MaxBytes %d holds fewer than %d blocks of %d bytes: raise it or lower BlockSize", max, MinCacheBlocks, bs)
	case c.ReadAhead < NoReadAhead || c.ReadAhead > MaxReadAhead:
		return fmt.Errorf("rangeio: ReadAhead %d is out of range: use 1 to %d blocks, NoReadAhead (%d) for none, 0 for the default (%d)",
			c.ReadAhead, MaxReadAhead, NoReadAhead, DefaultReadAhead)
	case c.MaxPrefetch < 0:
		return fmt.Errorf("rangeio: MaxPrefetch %d is negative (0 means %d)", c.MaxPrefetch, DefaultMaxPrefetch)
	}
	return nil
}

// CacheStats is a snapshot of a [Cache]'s counters, for metrics. Counters
// only grow; Bytes and Blocks describe the current contents.
type CacheStats struct {
	// Hits counts block lookups by ReadAt served from memory.
	Hits uint64
	// Misses counts block lookups by ReadAt that were not resident,
	// including those that waited for another caller's fetch (Coalesced).
	Misses uint64
	// Coalesced counts misses that waited for a fetch already in flight
	// instead of issuing their own backend read.
	Coalesced uint64
	// Evictions counts blocks dropped to stay under MaxBytes.
	Evictions uint64
	// BackendReads counts ReadAt calls made on wrapped readers, by requests
	// and read-ahead alike; BackendBytes the bytes they returned.
	BackendReads uint64
	BackendBytes uint64
	// BackendErrors counts backend reads that failed (errors are never
	// cached).
	BackendErrors uint64
	// ReadAheads counts blocks fetched by read-ahead; ReadAheadErrors the
	// read-ahead fetches that failed (dropped silently); ReadAheadSkipped
	// the sequential reads whose read-ahead was skipped because
	// MaxPrefetch read-aheads were already running.
	ReadAheads       uint64
	ReadAheadErrors  uint64
	ReadAheadSkipped uint64
	// Bytes is the total length of resident blocks; it never exceeds
	// MaxBytes. Blocks is their number.
	Bytes  int64
	Blocks int64
}

// Cache is an in-memory cache of fixed-size, aligned blocks of remote
// objects, shared by all the readers it wraps (see [Cache.Wrap]). It keeps
// the least recently used blocks within a global memory cap, coalesces
// concurrent misses on one block into one backend read, and reads ahead
// for sequential readers. A Cache is safe for concurrent use.
//
// Memory: resident blocks never exceed MaxBytes. Blocks being fetched are
// held outside the cap until inserted: at most fetchParallel (4) per
// ReadAt call in progress plus one per running read-ahead (MaxPrefetch),
// each at most BlockSize. A block still being copied out to a caller when
// it is evicted stays alive until that copy ends.
type Cache struct {
	bs          int64
	max         int64
	ahead       int64
	prefetchSem chan struct{}

	mu      sync.Mutex
	blocks  map[blockKey]*block
	flights map[blockKey]*flight
	lru     block // sentinel: lru.next is the most recently used block
	bytes   int64
	nblocks int64
	// Counters guarded by mu (they change on paths that hold it anyway).
	hits, misses, coalesced, evictions uint64

	backendReads, backendBytes, backendErrors   atomic.Uint64
	readAheads, readAheadErrors, readAheadSkips atomic.Uint64

	pool       sync.Pool      // *block with a BlockSize buffer
	prefetchWG sync.WaitGroup // running read-aheads, for tests

	disk *DiskCache // nil: memory only
	segK int64      // blocks per disk segment
}

// blockKey identifies one block of one version of one object.
type blockKey struct {
	id  string
	idx int64
}

// block is one cached (or being fetched) block. data is immutable from the
// time the fetch completes until refs drops to zero, when the block goes
// back to the pool.
type block struct {
	key        blockKey
	data       []byte
	refs       atomic.Int32
	prev, next *block // LRU links, guarded by Cache.mu
}

// flight is one backend fetch in progress; others needing the same block
// wait on done (a WaitGroup rather than a channel: no allocation of its
// own, and a stream claims flights by the batch, in one slice).
type flight struct {
	done    sync.WaitGroup // Done once, by complete
	owner   *cachedReader
	waiters int32 // guarded by Cache.mu until done is closed
	b       *block
	err     error
}

// NewCache returns an empty cache configured by cfg, with defaults for
// zero fields (see [CacheConfig]).
func NewCache(cfg CacheConfig) *Cache {
	if cfg.BlockSize <= 0 {
		cfg.BlockSize = DefaultBlockSize
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = DefaultCacheBytes
	}
	switch {
	case cfg.ReadAhead == 0:
		cfg.ReadAhead = DefaultReadAhead
	case cfg.ReadAhead < 0:
		cfg.ReadAhead = 0
	}
	if cfg.MaxPrefetch <= 0 {
		cfg.MaxPrefetch = DefaultMaxPrefetch
	}
	c := &Cache{
		bs:          cfg.BlockSize,
		max:         cfg.MaxBytes,
		ahead:       int64(cfg.ReadAhead),
		prefetchSem: make(chan struct{}, cfg.MaxPrefetch),
		blocks:      make(map[blockKey]*block),
		flights:     make(map[blockKey]*flight),
	}
	c.lru.next, c.lru.prev = &c.lru, &c.lru
	if cfg.Disk != nil {
		c.disk, c.segK = cfg.Disk, cfg.Disk.segBlocks(c.bs)
	}
	return c
}

// Stats returns a snapshot of the cache's counters.
func (c *Cache) Stats() CacheStats {
	c.mu.Lock()
	s := CacheStats{
		Hits:      c.hits,
		Misses:    c.misses,
		Coalesced: c.coalesced,
		Evictions: c.evictions,
		Bytes:     c.bytes,
		Blocks:    c.nblocks,
	}
	c.mu.Unlock()
	s.BackendReads = c.backendReads.Load()
	s.BackendBytes = c.backendBytes.Load()
	s.BackendErrors = c.backendErrors.Load()
	s.ReadAheads = c.readAheads.Load()
	s.ReadAheadErrors = c.readAheadErrors.Load()
	s.ReadAheadSkipped = c.readAheadSkips.Load()
	return s
}

// Wrap returns an io.ReaderAt that reads the object of the given size
// through the cache, fetching missing blocks from r with one r.ReadAt per
// block (of BlockSize bytes, or what is left before size for the last one).
//
// id identifies one version of one object across the whole cache and must
// change whenever its bytes do: include the backend, bucket and key and the
// ETag (for example "s3\x00bucket\x00key\x00\"etag\""). Blocks of
// different ids never mix, so a reader of a new version never sees bytes
// of the old one.
//
// Wrap one reader per request, with r bound to that request's context:
// the returned ReaderAt remembers where the previous read ended, and when
// a read starts exactly there it prefetches the next ReadAhead blocks in
// the background (at most one goroutine per wrapper, MaxPrefetch across
// the cache). Concurrent misses on one block, from any wrappers, share one
// backend read made with the first caller's r; if that read fails, a
// waiter tries again with its own r (a bounded number of times) so that one
// client going away does not fail the others. Errors are never cached.
//
// The returned value also implements io.Closer: Close (which never fails)
// stops read-ahead, and later ReadAt calls return fs.ErrClosed. Callers
// should close it when the request ends; a wrapper that is not closed only
// finishes the read-ahead already scheduled (at most ReadAhead blocks).
// A read-ahead may still call r.ReadAt just after the request has ended;
// r may fail then (a cancelled context, a closed object) and the error is
// dropped.
//
// If c is nil or size is negative (unknown), Wrap returns r unchanged.
func (c *Cache) Wrap(id string, size int64, r io.ReaderAt) io.ReaderAt {
	if c == nil || size < 0 {
		return r
	}
	w := &cachedReader{c: c, id: id, size: size, r: r}
	w.lastEnd.Store(-1)
	if c.disk != nil {
		w.diskName = objectName(id)
	}
	return w
}

// cachedReader is the io.ReaderAt returned by Wrap.
type cachedReader struct {
	c        *Cache
	id       string
	diskName string // objectName(id) when the cache has a disk tier
	size     int64
	r        io.ReaderAt
	closed   atomic.Bool

	// lastEnd is where the previous ReadAt ended, -1 before the first.
	lastEnd atomic.Int64

	mu      sync.Mutex // guards the read-ahead window below
	next    int64      // next block to prefetch
	want    int64      // last block to prefetch (inclusive)
	running bool       // a read-ahead goroutine is working on [next, want]
}

// Close stops read-ahead; ReadAt calls after Close return fs.ErrClosed.
func (w *cachedReader) Close() error {
	w.closed.Store(true)
	return nil
}

// ReadAt implements io.ReaderAt: n < len(p) comes with a non-nil error,
// io.EOF when the read reached the end of the object.
func (w *cachedReader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errNegativeOffset
	}
	if w.closed.Load() {
		return 0, fs.ErrClosed
	}
	if off >= w.size {
		return 0, io.EOF
	}
	end, eof := off+int64(len(p)), false
	if int64(len(p)) >= w.size-off {
		end, eof = w.size, int64(len(p)) > w.size-off
	}
	if end == off {
		return 0, nil
	}
	bs := w.c.bs
	first, last := off/bs, (end-1)/bs
	var n int
	var err error
	if first == last {
		n, err = w.readOne(p, off, end, first)
	} else {
		n, err = w.readSpan(p, off, end, first, last)
	}
	if n > 0 && w.lastEnd.Swap(off+int64(n)) == off && w.c.ahead > 0 {
		w.readAhead((off + int64(n) - 1) / bs)
	}
	if err == nil && eof {
		err = io.EOF
	}
	return n, err
}

// readOne serves [off, end) from block idx, which contains it.
func (w *cachedReader) readOne(p []byte, off, end, idx int64) (int, error) {
	b, err := w.c.get(w, idx)
	if err != nil {
		return 0, err
	}
	w.copyOut(p, off, end, b)
	return int(end - off), nil
}

// copyOut copies the part of b that overlaps [off, end) into p (which
// starts at off) and releases the caller's reference to b.
func (w *cachedReader) copyOut(p []byte, off, end int64, b *block) {
	bo := b.key.idx * w.c.bs
	lo, hi := max(off, bo), min(end, bo+int64(len(b.data)))
	copy(p[lo-off:hi-off], b.data[lo-bo:hi-bo])
	w.c.release(b)
}

// readSpan serves [off, end), which spans blocks first..last: resident
// blocks are copied at once; missing ones that no other reader is fetching
// are fetched by this call, one backend request per contiguous run when
// the backend is a [RangeReader] (else one ReadAt per block, at most
// fetchParallel at a time); blocks in flight elsewhere are waited for. On
// error it returns the bytes before the first failed block.
func (w *cachedReader) readSpan(p []byte, off, end, first, last int64) (int, error) {
	var missBuf [16]int64
	missing := missBuf[:0] // ascending
	for idx := first; idx <= last; idx++ {
		if b := w.c.lookup(w.id, idx); b != nil {
			w.copyOut(p, off, end, b)
		} else {
			missing = append(missing, idx)
		}
	}
	if len(missing) == 0 {
		return int(end - off), nil
	}
	if c := w.c; c.disk != nil {
		c.warmFromDisk(w, missing[0], missing[len(missing)-1])
		kept := missing[:0]
		for _, idx := range missing {
			if b := c.lookup(w.id, idx); b != nil {
				w.copyOut(p, off, end, b)
			} else {
				kept = append(kept, idx)
			}
		}
		missing = kept
	}
	var (
		emu    sync.Mutex
		failed = int64(-1)
		ferr   error
	)
	fail := func(idx int64, e error) {
		emu.Lock()
		if failed < 0 || idx < failed {
			failed, ferr = idx, e
		}
		emu.Unlock()
	}
	claims, others := w.c.claim(w, missing, true)
	w.c.fill(w, claims, func(idx int64, b *block, e error) {
		if e != nil {
			fail(idx, e)
			return
		}
		w.copyOut(p, off, end, b)
	})
	for _, idx := range others {
		b, e := w.c.get(w, idx)
		if e != nil {
			fail(idx, e)
			continue
		}
		w.copyOut(p, off, end, b)
	}
	if ferr != nil {
		return int(max(failed*w.c.bs, off) - off), ferr
	}
	return int(end - off), nil
}

// claimed is a block whose fetch the caller leads.
type claimed struct {
	k blockKey
	f *flight
}

// claim registers flights, led by w, for the blocks of idxs (ascending)
// that are neither resident nor being fetched, and returns them; the
// others are returned apart, to be waited for with get. With miss, each
// block counts as a cache miss (a ReadAt's lookups); without, as nothing
// (read-ahead). The caller must pass the claims to fill.
func (c *Cache) claim(w *cachedReader, idxs []int64, miss bool) (claims []claimed, others []int64) {
	var fs []flight
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, idx := range idxs {
		k := blockKey{w.id, idx}
		if c.blocks[k] != nil || c.flights[k] != nil {
			others = append(others, idx) // get counts these
			continue
		}
		if miss {
			c.misses++
		}
		if fs == nil {
			fs = make([]flight, len(idxs))
		}
		f := &fs[len(claims)]
		f.owner = w
		f.done.Add(1)
		c.flights[k] = f
		if claims == nil {
			claims = make([]claimed, 0, len(idxs))
		}
		claims = append(claims, claimed{k, f})
	}
	return claims, others
}

// fill fetches the claimed blocks of w's object, completes their flights
// (inserting the blocks) and calls deliver for each, in order within a
// run, with the block referenced for deliver (which releases it) or the
// error. A contiguous run of claims is one backend request when w's
// backend is a [RangeReader] and the run has more than one block;
// otherwise each block is one ReadAt, at most fetchParallel at a time.
// Every flight is completed, also if the backend panics. deliver may be
// called from several goroutines at once.
func (c *Cache) fill(w *cachedReader, claims []claimed, deliver func(idx int64, b *block, err error)) {
	if c.disk != nil {
		kept := claims[:0]
		for _, cl := range claims {
			if b := c.fromDisk(w, cl); b != nil {
				deliver(cl.k.idx, b, nil)
			} else {
				kept = append(kept, cl)
			}
		}
		claims = kept
	}
	rr, ranged := w.r.(RangeReader)
	var single []claimed
	for len(claims) > 0 {
		n := 1
		for n < len(claims) && claims[n].k.idx == claims[n-1].k.idx+1 {
			n++
		}
		if ranged && n > 1 {
			c.fillRun(w, rr, claims[:n], deliver)
		} else {
			single = append(single, claims[:n]...)
		}
		claims = claims[n:]
	}
	if len(single) == 1 {
		b, err := c.lead(w, single[0].k, single[0].f)
		deliver(single[0].k.idx, b, err)
		return
	}
	var wg sync.WaitGroup
	sema := make(chan struct{}, fetchParallel)
	for _, cl := range single {
		sema <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sema; wg.Done() }()
			b, err := c.lead(w, cl.k, cl.f)
			deliver(cl.k.idx, b, err)
		}()
	}
	wg.Wait()
}

// fillRun fetches a contiguous run of claimed blocks with one ReadRange
// request, completing each block's flight as soon as its bytes are in.
// The first failure fails the rest of the run.
func (c *Cache) fillRun(w *cachedReader, rr RangeReader, run []claimed, deliver func(idx int64, b *block, err error)) {
	done := 0
	defer func() {
		if done < len(run) {
			// A panic in the backend: complete the rest, then let it go on.
			for _, cl := range run[done:] {
				c.complete(cl.k, cl.f, nil, errBackendPanic)
			}
		}
	}()
	first := run[0].k.idx
	off := first * c.bs
	n := min(int64(len(run))*c.bs, w.size-off)
	c.backendReads.Add(1)
	body, err := rr.ReadRange(off, n)
	if err == nil {
		defer body.Close()
	}
	for _, cl := range run {
		if err != nil {
			c.complete(cl.k, cl.f, nil, err)
			done++
			deliver(cl.k.idx, nil, err)
			continue
		}
		var b *block
		b, err = c.readBlock(w, body, cl.k.idx)
		c.complete(cl.k, cl.f, b, err)
		done++
		if err == nil {
			c.fetched(w, cl.k.idx)
		}
		deliver(cl.k.idx, b, err)
	}
	if err != nil {
		c.backendErrors.Add(1)
	}
}

// readBlock reads block idx of w's object from body, a stream positioned
// at the block's first byte.
func (c *Cache) readBlock(w *cachedReader, body io.Reader, idx int64) (*block, error) {
	off := idx * c.bs
	want := min(c.bs, w.size-off)
	b := c.newBlock(want)
	b.key = blockKey{w.id, idx}
	n, err := io.ReadFull(body, b.data)
	c.backendBytes.Add(uint64(max(n, 0)))
	if int64(n) == want {
		return b, nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	c.freeBlock(b)
	return nil, fmt.Errorf("rangeio: reading block at offset %d (%d bytes) from the backend: %w", off, want, err)
}

// readAhead extends the wrapper's read-ahead window to the ReadAhead
// blocks after cur and starts the wrapper's read-ahead goroutine if it is
// not running and a global slot is free.
func (w *cachedReader) readAhead(cur int64) {
	c := w.c
	lastBlock := (w.size - 1) / c.bs
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.next <= cur || w.next > cur+c.ahead+1 {
		// The window is not just ahead of the reader (first time, or the
		// reader moved): restart it after cur.
		w.next, w.want = cur+1, cur
	}
	w.want = max(w.want, min(cur+c.ahead, lastBlock))
	if w.running || w.next > w.want || w.closed.Load() {
		return
	}
	select {
	case c.prefetchSem <- struct{}{}:
	default:
		c.readAheadSkips.Add(1)
		return
	}
	w.running = true
	c.prefetchWG.Add(1)
	go w.prefetchLoop()
}

// prefetchLoop fetches the blocks of the read-ahead window until it is
// empty, the wrapper is closed or a fetch fails. The missing blocks of the
// window are claimed together, so that a [RangeReader] backend fetches
// them with one request.
func (w *cachedReader) prefetchLoop() {
	c := w.c
	defer func() {
		<-c.prefetchSem
		c.prefetchWG.Done()
	}()
	var idxBuf [16]int64
	for {
		w.mu.Lock()
		if w.next > w.want || w.closed.Load() {
			w.running = false
			w.mu.Unlock()
			return
		}
		if _, ranged := w.r.(RangeReader); !ranged {
			// One block at a time: MaxPrefetch bounds the backend reads
			// that read-ahead makes at once.
			idx := w.next
			w.next++
			w.mu.Unlock()
			if err := c.prefetch(w, idx); err != nil {
				w.mu.Lock()
				w.next = max(w.next, w.want+1)
				w.running = false
				w.mu.Unlock()
				return
			}
			continue
		}
		idxs := idxBuf[:0]
		for idx := w.next; idx <= w.want; idx++ {
			idxs = append(idxs, idx)
		}
		w.next = w.want + 1
		w.mu.Unlock()
		claims, _ := c.claim(w, idxs, false)
		var failed atomic.Bool
		c.fill(w, claims, func(idx int64, b *block, err error) {
			c.readAheads.Add(1)
			if err != nil {
				if !failed.Swap(true) {
					c.readAheadErrors.Add(1)
				}
				return
			}
			c.release(b)
		})
		if failed.Load() {
			// The request is probably gone (cancelled context, closed
			// object): give up the rest of the window.
			w.mu.Lock()
			w.next = max(w.next, w.want+1)
			w.running = false
			w.mu.Unlock()
			return
		}
	}
}

// lookup returns block idx of object id, referenced for the caller, if it
// is resident, counting a hit; otherwise nil, counting nothing.
func (c *Cache) lookup(id string, idx int64) *block {
	c.mu.Lock()
	b := c.blocks[blockKey{id, idx}]
	if b != nil {
		c.hits++
		c.touch(b)
		b.refs.Add(1)
	}
	c.mu.Unlock()
	return b
}

// get returns block idx of w's object, referenced for the caller (who must
// release it), from memory, from a fetch in flight, or from w's backend.
func (c *Cache) get(w *cachedReader, idx int64) (*block, error) {
	k := blockKey{w.id, idx}
	var err error
	for attempt := 0; attempt < maxAttempts; attempt++ {
		c.mu.Lock()
		if b := c.blocks[k]; b != nil {
			if attempt == 0 {
				c.hits++
			}
			c.touch(b)
			b.refs.Add(1)
			c.mu.Unlock()
			return b, nil
		}
		if attempt == 0 {
			c.misses++
		}
		if f := c.flights[k]; f != nil {
			if attempt == 0 {
				c.coalesced++
			}
			f.waiters++
			c.mu.Unlock()
			f.done.Wait()
			if f.err == nil {
				return f.b, nil
			}
			err = f.err
			if f.owner == w {
				return nil, err
			}
			continue // the fetch used another request's reader: retry with ours
		}
		f := &flight{owner: w}
		f.done.Add(1)
		c.flights[k] = f
		c.mu.Unlock()
		return c.lead(w, k, f)
	}
	return nil, err
}

// prefetch fetches block idx of w's object into the cache unless it is
// resident or being fetched.
func (c *Cache) prefetch(w *cachedReader, idx int64) error {
	k := blockKey{w.id, idx}
	c.mu.Lock()
	if c.blocks[k] != nil || c.flights[k] != nil {
		c.mu.Unlock()
		return nil
	}
	f := &flight{owner: w}
	f.done.Add(1)
	c.flights[k] = f
	c.mu.Unlock()
	c.readAheads.Add(1)
	b, err := c.lead(w, k, f)
	if err != nil {
		c.readAheadErrors.Add(1)
		return err
	}
	c.release(b)
	return nil
}

// lead performs the backend read of flight f and completes it, also if the
// backend panics (waiters then get errBackendPanic and the panic goes on).
func (c *Cache) lead(w *cachedReader, k blockKey, f *flight) (b *block, err error) {
	done := false
	defer func() {
		if !done {
			c.complete(k, f, nil, errBackendPanic)
		}
	}()
	if b = c.fromDisk(w, claimed{k, f}); b != nil {
		done = true
		return b, nil
	}
	b, err = c.fetch(w, k.idx)
	c.complete(k, f, b, err)
	done = true
	if err == nil {
		c.fetched(w, k.idx)
	}
	return b, err
}

// fromDisk completes the claimed block from the disk tier, if it has the
// block's segment, and returns it referenced for the caller; the other
// blocks of the segment that are neither resident nor being fetched are
// inserted too (a sequential reader finds them next). It returns nil when
// the disk has nothing (or no disk tier).
func (c *Cache) fromDisk(w *cachedReader, cl claimed) *block {
	if c.disk == nil {
		return nil
	}
	idx := cl.k.idx
	var mine *block
	c.disk.load(c, w, idx/c.segK, func(j int64) bool {
		return j == idx || c.absent(w.id, j)
	}, func(j int64, b *block) {
		if j == idx {
			mine = b
		} else {
			c.insertIfAbsent(b)
		}
	})
	if mine == nil {
		return nil
	}
	c.complete(cl.k, cl.f, mine, nil)
	return mine
}

// warmFromDisk loads, for the missing blocks among [from, to] of w's
// object, the disk segments that hold them: every block of those segments
// that is neither resident nor being fetched becomes resident. Callers
// run it before claiming blocks, so that one file read serves a whole
// segment.
func (c *Cache) warmFromDisk(w *cachedReader, from, to int64) {
	if c.disk == nil {
		return
	}
	for seg := from / c.segK; seg <= to/c.segK; seg++ {
		if !c.disk.has(w.diskName, seg) {
			continue
		}
		lo, hi := max(from, seg*c.segK), min(to, (seg+1)*c.segK-1)
		if !c.anyAbsent(w.id, lo, hi) {
			continue
		}
		c.disk.load(c, w, seg, func(j int64) bool { return c.absent(w.id, j) }, func(_ int64, b *block) { c.insertIfAbsent(b) })
	}
}

// fetched notes that block idx of w's object came from the backend: when
// it ends its disk segment, the segment is written to the disk tier if all
// its blocks are resident.
func (c *Cache) fetched(w *cachedReader, idx int64) {
	if c.disk == nil {
		return
	}
	last := (w.size - 1) / c.bs
	if (idx+1)%c.segK != 0 && idx != last {
		return
	}
	seg := idx / c.segK
	if c.disk.has(w.diskName, seg) {
		return
	}
	first := seg * c.segK
	blocks := make([]*block, 0, idx-first+1)
	c.mu.Lock()
	for j := first; j <= idx; j++ {
		b := c.blocks[blockKey{w.id, j}]
		if b == nil {
			c.mu.Unlock()
			for _, b := range blocks {
				c.release(b)
			}
			return
		}
		b.refs.Add(1)
		blocks = append(blocks, b)
	}
	c.mu.Unlock()
	c.disk.enqueue(c, w, seg, blocks)
}

// anyAbsent reports whether a block in [from, to] of object id is neither
// resident nor being fetched.
func (c *Cache) anyAbsent(id string, from, to int64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for idx := from; idx <= to; idx++ {
		k := blockKey{id, idx}
		if c.blocks[k] == nil && c.flights[k] == nil {
			return true
		}
	}
	return false
}

// absent reports whether block idx of object id is neither resident nor
// being fetched.
func (c *Cache) absent(id string, idx int64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := blockKey{id, idx}
	return c.blocks[k] == nil && c.flights[k] == nil
}

// insertIfAbsent makes b, a block from the pool that nobody references,
// resident unless its key is resident or being fetched already (then b is
// recycled).
func (c *Cache) insertIfAbsent(b *block) {
	c.mu.Lock()
	size := int64(len(b.data))
	if c.blocks[b.key] != nil || c.flights[b.key] != nil || size > c.max {
		c.mu.Unlock()
		c.freeBlock(b)
		return
	}
	for c.bytes+size > c.max {
		c.evict(c.lru.prev)
	}
	c.blocks[b.key] = b
	c.pushFront(b)
	c.bytes += size
	c.nblocks++
	b.refs.Store(1)
	c.mu.Unlock()
}

// fetch reads block idx of w's object from w's backend reader.
func (c *Cache) fetch(w *cachedReader, idx int64) (*block, error) {
	off := idx * c.bs
	want := min(c.bs, w.size-off)
	b := c.newBlock(want)
	b.key = blockKey{w.id, idx}
	c.backendReads.Add(1)
	n, err := w.r.ReadAt(b.data, off)
	c.backendBytes.Add(uint64(max(n, 0)))
	if int64(n) == want {
		return b, nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF // the object is shorter than its size: it changed
	}
	c.backendErrors.Add(1)
	c.freeBlock(b)
	return nil, fmt.Errorf("rangeio: reading block at offset %d (%d bytes) from the backend: %w", off, want, err)
}

// complete ends flight f: on success b is inserted (if it fits) and
// referenced once for the leader and once per waiter.
func (c *Cache) complete(k blockKey, f *flight, b *block, err error) {
	c.mu.Lock()
	delete(c.flights, k)
	if err == nil {
		refs := 1 + f.waiters
		if size := int64(len(b.data)); size <= c.max {
			for c.bytes+size > c.max {
				c.evict(c.lru.prev)
			}
			c.blocks[k] = b
			c.pushFront(b)
			c.bytes += size
			c.nblocks++
			refs++
		}
		b.refs.Store(refs)
	}
	f.b, f.err = b, err
	c.mu.Unlock()
	f.done.Done()
}

// evict drops b from the cache; c.mu is held.
func (c *Cache) evict(b *block) {
	b.prev.next, b.next.prev = b.next, b.prev
	b.prev, b.next = nil, nil
	delete(c.blocks, b.key)
	c.bytes -= int64(len(b.data))
	c.nblocks--
	c.evictions++
	c.release(b)
}

// touch makes b the most recently used block; c.mu is held.
func (c *Cache) touch(b *block) {
	if c.lru.next == b {
		return
	}
	b.prev.next, b.next.prev = b.next, b.prev
	c.pushFront(b)
}

// pushFront links b as the most recently used block; c.mu is held.
func (c *Cache) pushFront(b *block) {
	b.prev, b.next = &c.lru, c.lru.next
	c.lru.next.prev = b
	c.lru.next = b
}

// release drops one reference to b; the last one recycles its buffer.
func (c *Cache) release(b *block) {
	if b.refs.Add(-1) == 0 {
		c.freeBlock(b)
	}
}

// newBlock returns a block whose data has length n: a pooled BlockSize
// buffer for full blocks, an exact allocation for a short last block (so
// that resident bytes are the memory actually held).
func (c *Cache) newBlock(n int64) *block {
	if n == c.bs {
		if b, ok := c.pool.Get().(*block); ok {
			return b
		}
	}
	return &block{data: make([]byte, n)}
}

// freeBlock recycles b's buffer if it is a full block.
func (c *Cache) freeBlock(b *block) {
	if int64(cap(b.data)) != c.bs || int64(len(b.data)) != c.bs {
		return
	}
	b.key = blockKey{}
	c.pool.Put(b)
}

// waitReadAhead waits for the running read-aheads to finish (for tests).
func (c *Cache) waitReadAhead() { c.prefetchWG.Wait() }

var (
	_ io.ReaderAt = (*cachedReader)(nil)
	_ io.Closer   = (*cachedReader)(nil)
)
