package media_test

import (
	"bytes"
	"fmt"
	"net/http"
	"testing"
	"time"

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
