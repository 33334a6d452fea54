package media_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/rangeserve/rangeserve/internal/testenv"
	"github.com/rangeserve/rangeserve/media"
	"github.com/rangeserve/rangeserve/storage/s3"
)

// TestArchiveS3 archives an S3 prefix served by MinIO: nested prefixes,
// UTF-8 names, an empty object, hidden names left out; ranges equal the
// whole archive's bytes; an object replaced between two range requests
// makes If-Range fail (200, the new archive).
func TestArchiveS3(t *testing.T) {
	testenv.Short(t, "starts MinIO")
	m := testenv.StartMinIO(t)
	const bucket = "archive"
	m.MakeBucket(t, bucket)
	_, files := archiveTree(t, 300<<10)
	for name, data := range files {
		m.Put(t, bucket, "album/"+name, data, "")
	}
	m.Put(t, bucket, "album/.hidden", []byte("no"), "")
	m.Put(t, bucket, "album/disc 1/.DS_Store", []byte("no"), "")
	m.Put(t, bucket, "other.txt", []byte("outside the folder"), "")
	b, err := s3.New(t.Context(), s3.Options{
		Endpoint: m.Endpoint, Bucket: bucket, AccessKey: m.AccessKey, SecretKey: m.SecretKey,
		PathStyle: true, DisableTLS: true, Timeout: 10 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	h := http.StripPrefix("/m", newHandler(t, b, media.Options{}))

	full := serve(h, "GET", "/m/album/?archive=zip", nil)
	if full.Code != http.StatusOK {
		t.Fatalf("status %d: %s", full.Code, full.Body)
	}
	data, etag := full.Body.Bytes(), full.Header().Get("Etag")
	// S3 has no empty folders: "empty dir" and hidden ones do not exist.
	readZip(t, data, files, []string{"disc 1", "disc 1/notes", "disc 2", "disc 2/deep", "disc 2/deep/er", "日本語"})
	if again := serve(h, "GET", "/m/album/?archive=zip", nil); again.Header().Get("Etag") != etag || !bytes.Equal(again.Body.Bytes(), data) {
		t.Errorf("a second download differs (ETag %s, then %s)", etag, again.Header().Get("Etag"))
	}
	size := len(data)
	for _, s := range [][2]int{{0, 0}, {100, 200000}, {size / 3, size - 1}, {size - 1000, size - 1}} {
		rec := serve(h, "GET", "/m/album/?archive=zip", map[string]string{"Range": fmt.Sprintf("bytes=%d-%d", s[0], s[1]), "If-Range": etag})
		if rec.Code != http.StatusPartialContent || !bytes.Equal(rec.Body.Bytes(), data[s[0]:s[1]+1]) {
			t.Errorf("range %v: status %d, %d bytes; differs from the whole archive's", s, rec.Code, rec.Body.Len())
		}
	}
	if rec := serve(h, "GET", "/m/nothing/?archive=zip", nil); rec.Code != http.StatusNotFound {
		t.Errorf("missing prefix: status %d, want 404", rec.Code)
	}
	if rec := serve(h, "GET", "/m/other.txt?archive=zip", nil); rec.Code != http.StatusNotFound {
		t.Errorf("an object, not a prefix: status %d, want 404", rec.Code)
	}

	files["disc 1/lyrics.txt"] = []byte("replaced\n")
	m.Put(t, bucket, "album/disc 1/lyrics.txt", files["disc 1/lyrics.txt"], "")
	rec := serve(h, "GET", "/m/album/?archive=zip", map[string]string{"Range": "bytes=1000-", "If-Range": etag})
	if rec.Code != http.StatusOK || rec.Header().Get("Etag") == etag {
		t.Fatalf("If-Range after a replaced object: status %d, ETag %s (was %s); want 200 and a new ETag", rec.Code, rec.Header().Get("Etag"), etag)
	}
	readZip(t, rec.Body.Bytes(), files, nil)

	// deflate=1 from S3 too.
	rec = serve(h, "GET", "/m/album/?archive=zip&deflate=1", nil)
	if rec.Code != http.StatusOK {
		t.Fatalf("deflate=1: status %d", rec.Code)
	}
	readZip(t, rec.Body.Bytes(), files, nil)
}

// TestArchiveS3StoredCRC32 archives a folder of objects uploaded to MinIO
// with CRC32 checksums. A fresh handler asked for the archive's central
// directory (which holds every entry's CRC-32) takes the CRC-32s from the
// stored checksums that Open's HEAD returns: it fetches none of the
// objects' bytes before the response's first byte (reading them would
// fetch their total). The central directory equals the one a whole
// download computes from the bytes, and the archive reads back with
// archive/zip, which checks every entry's CRC-32.
func TestArchiveS3StoredCRC32(t *testing.T) {
	testenv.Short(t, "starts MinIO")
	m := testenv.StartMinIO(t)
	const bucket = "archive"
	m.MakeBucket(t, bucket)
	_, files := archiveTree(t, 300<<10)
	var total int64
	for name, data := range files {
		m.PutChecksum(t, bucket, "album/"+name, data, minio.ChecksumCRC32, 0)
		total += int64(len(data))
	}

	// got counts the object bytes GETs bring from MinIO (not listings,
	// nor the bucket's location lookup).
	var got, gets atomic.Int64
	count := func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			resp, err := rt.RoundTrip(r)
			if err == nil && r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/"+bucket+"/album/") {
				gets.Add(1)
				resp.Body = &countingBody{ReadCloser: resp.Body, n: &got}
			}
			return resp, err
		})
	}
	newBackend := func() *s3.Backend {
		b, err := s3.New(t.Context(), s3.Options{
			Endpoint: m.Endpoint, Bucket: bucket, AccessKey: m.AccessKey, SecretKey: m.SecretKey,
			PathStyle: true, DisableTLS: true, Timeout: 10 * time.Second, WrapTransport: count,
		})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}

	full := serve(http.StripPrefix("/m", newHandler(t, newBackend(), media.Options{})), "GET", "/m/album/?archive=zip", nil)
	if full.Code != http.StatusOK {
		t.Fatalf("status %d: %s", full.Code, full.Body)
	}
	data := full.Body.Bytes()
	readZip(t, data, files, nil)
	t.Logf("whole archive: %d bytes; fetched %d object bytes in %d GETs", len(data), got.Load(), gets.Load())
	// The classic end record (no comment, no ZIP64 for this size) gives
	// the central directory's offset.
	eocd := data[len(data)-22:]
	if binary.LittleEndian.Uint32(eocd) != 0x06054b50 {
		t.Fatalf("no end of central directory record at the end of the archive")
	}
	cd := int64(binary.LittleEndian.Uint32(eocd[16:]))

	// A fresh backend and handler: no CRC-32 is known yet.
	got.Store(0)
	gets.Store(0)
	h := http.StripPrefix("/m", newHandler(t, newBackend(), media.Options{}))
	r := httptest.NewRequest("GET", "/m/album/?archive=zip", nil)
	r.Header.Set("Range", fmt.Sprintf("bytes=%d-", cd))
	r.Header.Set("If-Range", full.Header().Get("Etag"))
	w := &firstByteRecorder{ResponseRecorder: httptest.NewRecorder(), fetched: &got, before: -1}
	h.ServeHTTP(w, r)
	if w.Code != http.StatusPartialContent || !bytes.Equal(w.Body.Bytes(), data[cd:]) {
		t.Fatalf("central directory (bytes %d-): status %d, %d bytes; differs from the whole archive's", cd, w.Code, w.Body.Len())
	}
	t.Logf("central directory (%d bytes): fetched %d object bytes before its first byte (%d in all, %d GETs); the objects hold %d",
		len(data)-int(cd), w.before, got.Load(), gets.Load(), total)
	if w.before < 0 || w.before >= total {
		t.Errorf("central directory: fetched %d object bytes before the first byte; want fewer than the objects' %d", w.before, total)
	}
	if w.before != 0 {
		t.Errorf("central directory: fetched %d object bytes before the first byte; with every CRC-32 stored, want none", w.before)
	}
}

// countingBody adds the bytes read from a response body to n.
type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}

// firstByteRecorder notes in before how many bytes fetched counted when
// the first byte of the body was written.
type firstByteRecorder struct {
	*httptest.ResponseRecorder
	fetched *atomic.Int64
	before  int64 // -1 until the first byte
}

func (w *firstByteRecorder) Write(p []byte) (int, error) {
	if w.before < 0 && len(p) > 0 {
		w.before = w.fetched.Load()
	}
	return w.ResponseRecorder.Write(p)
}

func (w *firstByteRecorder) WriteString(s string) (int, error) { return w.Write([]byte(s)) }

// roundTripFunc adapts a function to http.RoundTripper.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
