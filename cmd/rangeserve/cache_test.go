package main

import (
	"bytes"
	"io"
	"net/http"
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/rangeserve/rangeserve/internal/testenv"
)

// TestReadAheadOff: cache.read_ahead: 0 turns read-ahead off, as
// documented; left out, the library's default prefetches.
func TestReadAheadOff(t *testing.T) {
	m := testenv.StartMinIO(t)
	m.MakeBucket(t, "media")
	big := randomBytes(t, 4<<20)
	m.PutReader(t, "media", "movie.mp4", bytes.NewReader(big), int64(len(big)), minio.PutObjectOptions{})
	for _, c := range []struct {
		name, cache string
		off         bool
	}{
		{"read_ahead: 0", "cache:\n  read_ahead: 0\n", true},
		{"default", "", false},
	} {
		srv, a, _ := startApp(t, c.cache+"mounts:"+s3MountAt("/s3/", m.Endpoint, m, ""))
		resp, err := http.Get(srv.URL + "/s3/movie.mp4")
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !bytes.Equal(got, big) {
			t.Fatalf("%s: wrong bytes", c.name)
		}
		if st := a.cache.Stats(); (st.ReadAheads == 0) != c.off {
			t.Errorf("%s: %d blocks read ahead for a sequential read; want read-ahead off=%v", c.name, st.ReadAheads, c.off)
		}
	}
}
