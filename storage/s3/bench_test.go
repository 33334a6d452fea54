package s3_test

import (
	"context"
	"testing"

	"github.com/rangeserve/rangeserve/internal/testenv"
	"github.com/rangeserve/rangeserve/rangeio"
	"github.com/rangeserve/rangeserve/storage/s3"
)

// BenchmarkReadAt measures sequential 64 KiB ReadAt calls through a
// 3 MiB object on a local MinIO: uncached (one ranged GET each) and
// through a rangeio.Cache with 1 MiB blocks and its default read-ahead.
func BenchmarkReadAt(b *testing.B) {
	testenv.Short(b, "starts MinIO")
	f := newFixture(b)
	for _, bc := range []struct {
		name  string
		cache s3.Cache
	}{
		{"uncached", nil},
		{"cached", rangeio.NewCache(rangeio.CacheConfig{BlockSize: 1 << 20})},
	} {
		b.Run(bc.name, func(b *testing.B) {
			be := f.backend(b, "", s3.Options{Prefix: "pre", Cache: bc.cache})
			const block = 64 << 10
			buf := make([]byte, block)
			b.SetBytes(block)
			var o interface {
				ReadAt([]byte, int64) (int, error)
				Close() error
			}
			var off int64
			for b.Loop() {
				if o == nil || off+block > videoSize {
					if o != nil {
						o.Close()
					}
					var err error
					if o, err = be.Open(context.Background(), "video.mp4"); err != nil {
						b.Fatal(err)
					}
					off = 0
				}
				if n, err := o.ReadAt(buf, off); n != block || err != nil {
					b.Fatalf("ReadAt(64 KiB at %d) = %d, %v", off, n, err)
				}
				off += block
			}
			if o != nil {
				o.Close()
			}
		})
	}
}
