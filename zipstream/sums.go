package zipstream

import (
	"cmp"
	"context"
	"hash/crc32"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
)

// DefaultSumsCapacity is the number of CRC-32s a [Sums] keeps when
// NewSums is given 0: about 10 MB.
const DefaultSumsCapacity = 100_000

// partialCapacity is how many entries a Sums follows while their CRC-32
// is being learnt piece by piece.
const partialCapacity = 4096

// stallTimeout is how long a request that needs a CRC-32 waits for
// another request streaming the bytes it lacks before it reads them
// itself: a stream that made no progress for that long (a stalled
// client) is not waited for.
var stallTimeout = 3 * time.Second

// Sums is a bounded cache of entries' CRC-32s, shared by the archives of
// one backend, keyed by each entry's ETag and size, and the place where
// concurrent requests share the work of learning them.
//
// Every span of an entry's data that a response streams is hashed on the
// way and recorded as a piece (its offset, length and CRC-32); adjacent
// pieces are combined (crc32_combine), and once they cover the entry its
// CRC-32 is cached. A request that needs a CRC-32 it does not have (for a
// data descriptor or the central directory) reads only what no piece
// covers, and waits for what another request is streaming at that moment,
// so that a download in eight segments (aria2c -x8) reads each entry about
// once in all. Entries without a strong ETag are never shared.
//
// A Sums is safe for concurrent use; the zero value is not usable.
type Sums struct {
	cache *lru.Cache[string, uint32]

	mu       sync.Mutex
	partials *lru.Cache[string, *partial] // guarded by mu
}

// partial is what is known of one version's CRC-32 while it is learnt.
type partial struct {
	done    []piece            // sorted by offset, disjoint, adjacent ones merged
	active  map[*span]struct{} // spans being hashed now
	changed chan struct{}      // closed (and replaced) on every change
}

// piece is the CRC-32 of the n bytes at off.
type piece struct {
	off, n int64
	crc    uint32
}

// span is a piece being hashed: it started at start, means to reach end,
// has reached pos with CRC-32 crc, and last moved at last.
type span struct {
	s          *Sums
	key        string
	p          *partial
	start, end int64
	pos        int64
	crc        uint32
	last       time.Time
}

// NewSums returns a Sums that keeps at most capacity CRC-32s, least
// recently used first out; 0 means [DefaultSumsCapacity].
func NewSums(capacity int) *Sums {
	if capacity <= 0 {
		capacity = DefaultSumsCapacity
	}
	c, err := lru.New[string, uint32](capacity)
	if err != nil {
		panic(err) // only for a size <= 0
	}
	p, err := lru.New[string, *partial](partialCapacity)
	if err != nil {
		panic(err)
	}
	return &Sums{cache: c, partials: p}
}

// Len returns the number of CRC-32s held.
func (s *Sums) Len() int { return s.cache.Len() }

// sumKey returns the cache key of a version, or "" when it has none (no
// strong ETag).
func sumKey(etag string, size int64) string {
	if etag == "" || strings.HasPrefix(etag, "W/") {
		return ""
	}
	return etag + "\x00" + strconv.FormatInt(size, 10)
}

func (s *Sums) get(key string) (uint32, bool) {
	return s.cache.Get(key)
}

func (s *Sums) add(key string, crc uint32) {
	s.cache.Add(key, crc)
}

// partialLocked returns key's partial, creating it. s.mu is held.
func (s *Sums) partialLocked(key string) *partial {
	p, ok := s.partials.Get(key)
	if !ok {
		p = &partial{active: map[*span]struct{}{}, changed: make(chan struct{})}
		s.partials.Add(key, p)
	}
	return p
}

// broadcast wakes the waiters of p. s.mu is held.
func (p *partial) broadcast() {
	close(p.changed)
	p.changed = make(chan struct{})
}

// begin registers a span of key's data about to be hashed from start to
// end.
func (s *Sums) begin(key string, start, end int64) *span {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.partialLocked(key)
	sp := &span{s: s, key: key, p: p, start: start, end: end, pos: start, last: time.Now()}
	p.active[sp] = struct{}{}
	p.broadcast()
	return sp
}

// advance hashes the next bytes of the span.
func (sp *span) advance(b []byte) {
	crc := crc32.Update(sp.crc, crc32.IEEETable, b)
	sp.s.mu.Lock()
	sp.crc = crc
	sp.pos += int64(len(b))
	sp.last = time.Now()
	sp.p.broadcast()
	sp.s.mu.Unlock()
}

// finish records what the span hashed as a piece and unregisters it. If
// the pieces then cover size bytes, the whole CRC-32 is cached and
// returned.
func (sp *span) finish(size int64) (uint32, bool) {
	s := sp.s
	s.mu.Lock()
	defer s.mu.Unlock()
	p := sp.p
	delete(p.active, sp)
	if sp.pos > sp.start {
		p.add(piece{off: sp.start, n: sp.pos - sp.start, crc: sp.crc})
	}
	p.broadcast()
	if len(p.done) == 1 && p.done[0].off == 0 && p.done[0].n == size {
		crc := p.done[0].crc
		s.cache.Add(sp.key, crc)
		if len(p.active) == 0 {
			s.partials.Remove(sp.key)
		}
		return crc, true
	}
	return 0, false
}

// abandon unregisters the span without recording what it hashed (the
// bytes were not the listed version's).
func (sp *span) abandon() {
	sp.s.mu.Lock()
	defer sp.s.mu.Unlock()
	delete(sp.p.active, sp)
	sp.p.broadcast()
}

// add inserts q into the pieces, merging it with its neighbours. Pieces
// that overlap q (two requests hashed the same bytes) are dropped for q.
func (p *partial) add(q piece) {
	var out []piece
	for _, d := range p.done {
		if d.off+d.n <= q.off || q.off+q.n <= d.off {
			out = append(out, d)
		}
	}
	i := sort.Search(len(out), func(i int) bool { return out[i].off > q.off })
	out = slices.Insert(out, i, q)
	merged := out[:1]
	for _, d := range out[1:] {
		last := &merged[len(merged)-1]
		if last.off+last.n == d.off {
			last.crc = crc32Combine(last.crc, d.crc, d.n)
			last.n += d.n
			continue
		}
		merged = append(merged, d)
	}
	if len(merged) > maxPieces {
		// Many small ranges of one entry: keep the longest pieces.
		slices.SortFunc(merged, func(a, b piece) int { return cmp.Compare(b.n, a.n) })
		merged = merged[:maxPieces]
		slices.SortFunc(merged, func(a, b piece) int { return cmp.Compare(a.off, b.off) })
	}
	p.done = merged
}

// maxPieces bounds the pieces kept per entry.
const maxPieces = 32

// whole returns the CRC-32 of key's size bytes: cached, combined from the
// pieces, waiting for spans being hashed that cover what is missing, and
// reading the rest with read, which must hash the n bytes at off into the
// span it is given (sp.advance).
func (s *Sums) whole(ctx context.Context, key string, size int64, read func(sp *span, off, n int64) error) (uint32, error) {
	for {
		if crc, ok := s.cache.Get(key); ok {
			return crc, nil
		}
		s.mu.Lock()
		p := s.partialLocked(key)
		gap, ok := p.firstGap(size)
		if !ok {
			crc := uint32(0)
			if len(p.done) == 1 {
				crc = p.done[0].crc
			}
			s.cache.Add(key, crc)
			s.mu.Unlock()
			return crc, nil
		}
		// Someone streaming through the gap's start: wait for them,
		// unless they stalled.
		var wait bool
		for sp := range p.active {
			if sp.start <= gap.off && gap.off < sp.end && time.Since(sp.last) < stallTimeout {
				wait = true
				break
			}
		}
		if wait {
			ch := p.changed
			s.mu.Unlock()
			t := time.NewTimer(stallTimeout)
			select {
			case <-ctx.Done():
				t.Stop()
				return 0, ctx.Err()
			case <-ch:
			case <-t.C:
			}
			t.Stop()
			continue
		}
		// Read the gap up to where someone else's span starts.
		end := gap.off + gap.n
		for sp := range p.active {
			if sp.start > gap.off && sp.start < end && time.Since(sp.last) < stallTimeout {
				end = sp.start
			}
		}
		s.mu.Unlock()
		sp := s.begin(key, gap.off, end)
		if err := read(sp, gap.off, end-gap.off); err != nil {
			sp.abandon()
			return 0, err
		}
		if crc, done := sp.finish(size); done {
			return crc, nil
		}
	}
}

// firstGap returns the first range of [0, size) that no recorded piece
// covers.
func (p *partial) firstGap(size int64) (piece, bool) {
	var at int64
	for _, d := range p.done { // sorted, disjoint
		if d.off > at {
			return piece{off: at, n: d.off - at}, true
		}
		at = d.off + d.n
	}
	if at < size {
		return piece{off: at, n: size - at}, true
	}
	return piece{}, false
}

// crc32Combine returns the CRC-32 (IEEE) of A followed by B, given
// crc1 = CRC-32(A), crc2 = CRC-32(B) and len2 = len(B): zlib's
// crc32_combine (multiplication by x^(8*len2) modulo the polynomial).
func crc32Combine(crc1, crc2 uint32, len2 int64) uint32 {
	if len2 <= 0 {
		return crc1
	}
	return multModP(x2nModP(uint64(len2), 3), crc1) ^ crc2
}

const crcPoly = 0xedb88320 // IEEE, reflected

// multModP multiplies a and b modulo the CRC polynomial (reflected
// representation: bit 31 is x^0).
func multModP(a, b uint32) uint32 {
	if a == 0 {
		return 0
	}
	var p uint32
	for m := uint32(1) << 31; ; m >>= 1 {
		if a&m != 0 {
			p ^= b
			if a&(m-1) == 0 {
				return p
			}
		}
		if b&1 != 0 {
			b = b>>1 ^ crcPoly
		} else {
			b >>= 1
		}
	}
}

// x2nTable[k] is x^(2^k) modulo the polynomial.
var x2nTable = func() (t [32]uint32) {
	p := uint32(1) << 30 // x^1
	t[0] = p
	for k := 1; k < 32; k++ {
		p = multModP(p, p)
		t[k] = p
	}
	return t
}()

// x2nModP returns x^(n*2^k) modulo the polynomial.
func x2nModP(n uint64, k uint) uint32 {
	p := uint32(1) << 31 // x^0
	for ; n != 0; n >>= 1 {
		if n&1 != 0 {
			p = multModP(x2nTable[k&31], p)
		}
		k++
	}
	return p
}
