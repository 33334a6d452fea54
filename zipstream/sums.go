package zipstream

import (
	"context"
	"errors"
	"strconv"
	"strings"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/sync/singleflight"
)

// DefaultSumsCapacity is the number of CRC-32s a [Sums] keeps when
// NewSums is given 0: about 10 MB.
const DefaultSumsCapacity = 100_000

// Sums is a bounded cache of entries' CRC-32s, shared by the archives of
// one backend, keyed by each entry's ETag and size: a version's CRC-32 is
// computed once, and concurrent requests for it wait for that one
// computation. Entries without a strong ETag are never cached. A Sums is
// safe for concurrent use; the zero value is not usable.
type Sums struct {
	cache *lru.Cache[string, uint32]
	group singleflight.Group
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
	return &Sums{cache: c}
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
	if s == nil || key == "" {
		return 0, false
	}
	return s.cache.Get(key)
}

func (s *Sums) add(key string, crc uint32) {
	if s == nil || key == "" {
		return
	}
	s.cache.Add(key, crc)
}

// do returns compute's result for key, sharing one call among concurrent
// callers. A caller whose own context is still live retries on its own
// when the shared call failed because its leader's context ended.
func (s *Sums) do(ctx context.Context, key string, compute func() (uint32, error)) (uint32, error) {
	if s == nil || key == "" {
		return compute()
	}
	ch := s.group.DoChan(key, func() (any, error) {
		if crc, ok := s.cache.Get(key); ok {
			return crc, nil
		}
		crc, err := compute()
		if err == nil {
			s.cache.Add(key, crc)
		}
		return crc, err
	})
	select {
	case <-ctx.Done():
		return 0, ctx.Err()
	case res := <-ch:
		if res.Err != nil {
			if ctx.Err() == nil && (errors.Is(res.Err, context.Canceled) || errors.Is(res.Err, context.DeadlineExceeded)) {
				return compute()
			}
			return 0, res.Err
		}
		return res.Val.(uint32), nil
	}
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
