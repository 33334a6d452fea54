package s3_test

import (
	"bytes"
	"context"
	"hash/crc32"
	"math/rand/v2"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/rangeserve/rangeserve/internal/testenv"
	"github.com/rangeserve/rangeserve/storage/s3"
)

// TestStoredCRC32 uploads objects to MinIO with and without checksums and
// checks what Object.StoredCRC32 reports: the CRC-32 of the bytes for a
// full-object CRC32 checksum, nothing for other algorithms, and never a
// wrong value (a composite multipart checksum is not the bytes' CRC-32).
// Open makes one request, the HEAD, which asks for the checksums, and a
// stat cache hit keeps the CRC-32.
func TestStoredCRC32(t *testing.T) {
	testenv.Short(t, "starts MinIO")
	f := &fixture{m: testenv.StartMinIO(t)}
	f.m.MakeBucket(t, bucket)
	rng := rand.New(rand.NewPCG(7, 8))
	small := randBytes(rng, 100<<10+3)
	big := randBytes(rng, 11<<20) // 3 parts of partSize

	type upload struct {
		key  string
		data []byte
		put  func(key string, data []byte)
		want bool // StoredCRC32 must report the CRC-32; else it must not be wrong
		// never: StoredCRC32 must report none (another algorithm)
		never bool
	}
	withCRC := func(cs minio.ChecksumType, part uint64) func(string, []byte) {
		return func(key string, data []byte) { f.m.PutChecksum(t, bucket, key, data, cs, part) }
	}
	uploads := []upload{
		{key: "crc32.bin", data: small, put: withCRC(minio.ChecksumCRC32, 0), want: true},
		{key: "crc32-full.bin", data: small, put: withCRC(minio.ChecksumFullObjectCRC32, 0), want: true},
		// minio-go sends no checksum for an empty body: none may be stored.
		{key: "crc32-empty.bin", data: nil, put: withCRC(minio.ChecksumCRC32, 0)},
		{key: "crc32-multipart-full.bin", data: big, put: withCRC(minio.ChecksumFullObjectCRC32, partSize), want: true},
		{key: "crc32-multipart-composite.bin", data: big, put: withCRC(minio.ChecksumCRC32, partSize)},
		{key: "crc32c.bin", data: small, put: withCRC(minio.ChecksumCRC32C, 0), never: true},
		{key: "sha256.bin", data: small, put: withCRC(minio.ChecksumSHA256, 0), never: true},
		{key: "plain.bin", data: small, put: func(key string, data []byte) { f.m.Put(t, bucket, key, data, "") }},
		{key: "plain-multipart.bin", data: big, put: func(key string, data []byte) {
			f.m.PutReader(t, bucket, key, bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{PartSize: partSize})
		}},
	}
	for _, u := range uploads {
		u.put(u.key, u.data)
	}

	var (
		mu   sync.Mutex
		reqs []*http.Request
	)
	count := func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			mu.Lock()
			reqs = append(reqs, r)
			mu.Unlock()
			return rt.RoundTrip(r)
		})
	}
	b := f.backend(t, "", s3.Options{WrapTransport: count})
	ctx := context.Background()
	for _, u := range uploads {
		mu.Lock()
		reqs = nil
		mu.Unlock()
		o, err := b.Open(ctx, u.key)
		if err != nil {
			t.Fatalf("Open(%q): %v", u.key, err)
		}
		mu.Lock()
		if len(reqs) != 1 || reqs[0].Method != http.MethodHead || reqs[0].Header.Get("X-Amz-Checksum-Mode") != "ENABLED" {
			t.Errorf("Open(%q) made %d requests; want one HEAD with x-amz-checksum-mode: ENABLED", u.key, len(reqs))
		}
		mu.Unlock()
		crc, ok := o.(*s3.Object).StoredCRC32()
		real := crc32.ChecksumIEEE(u.data)
		oi, err := f.m.Client(t).StatObject(ctx, bucket, u.key, minio.StatObjectOptions{Checksum: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: stored CRC32 %q, type %q; StoredCRC32 = %08x, %v (CRC-32 of the bytes %08x)",
			u.key, oi.ChecksumCRC32, oi.ChecksumMode, crc, ok, real)
		switch {
		case ok && crc != real:
			t.Errorf("%s: StoredCRC32 = %08x, true; the bytes' CRC-32 is %08x", u.key, crc, real)
		case u.want && !ok:
			t.Errorf("%s: StoredCRC32 reports none; want %08x", u.key, real)
		case u.never && ok:
			t.Errorf("%s: StoredCRC32 = %08x, true; want none for another algorithm", u.key, crc)
		}
		// ETag pinning is unchanged: the read is the opened version's.
		p := make([]byte, 16)
		if len(u.data) >= len(p) {
			if n, err := o.ReadAt(p, 1); n != len(p) || err != nil || string(p) != string(u.data[1:1+len(p)]) {
				t.Errorf("%s: ReadAt = %d, %v", u.key, n, err)
			}
		}
		o.Close()
	}

	// The stat cache keeps the CRC-32: a second Open within the TTL sends
	// nothing and reports it too.
	cached := f.backend(t, "", s3.Options{StatTTL: time.Minute, WrapTransport: count})
	want := crc32.ChecksumIEEE(small)
	for i := range 2 {
		mu.Lock()
		reqs = nil
		mu.Unlock()
		o, err := cached.Open(ctx, "crc32.bin")
		if err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		n := len(reqs)
		mu.Unlock()
		if wantReqs := 1 - i; n != wantReqs {
			t.Errorf("Open #%d through the stat cache made %d requests, want %d", i+1, n, wantReqs)
		}
		if crc, ok := o.(*s3.Object).StoredCRC32(); !ok || crc != want {
			t.Errorf("Open #%d through the stat cache: StoredCRC32 = %08x, %v; want %08x, true", i+1, crc, ok, want)
		}
		o.Close()
	}
}
