package testenv_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/rangeserve/rangeserve/internal/testenv"
)

// TestMinIOLifecycle starts a server, stores an object, stops it (the API
// must refuse connections), restarts it on the same address and reads the
// object back from the same data directory.
func TestMinIOLifecycle(t *testing.T) {
	m := testenv.StartMinIO(t)
	if m.Endpoint == "" || m.AccessKey == "" || m.SecretKey == "" {
		t.Fatalf("StartMinIO returned %+v, want endpoint and credentials", m)
	}
	m.MakeBucket(t, "life")
	data := bytes.Repeat([]byte("rangeserve "), 1000)
	m.Put(t, "life", "a/b.txt", data, "text/plain")

	check := func(when string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		obj, err := m.Client(t).GetObject(ctx, "life", "a/b.txt", minio.GetObjectOptions{})
		if err != nil {
			t.Fatalf("%s: GetObject: %v", when, err)
		}
		defer obj.Close()
		got, err := io.ReadAll(obj)
		if err != nil {
			t.Fatalf("%s: read: %v", when, err)
		}
		if sha256.Sum256(got) != sha256.Sum256(data) {
			t.Fatalf("%s: read %d bytes, want the %d stored", when, len(got), len(data))
		}
	}
	check("after start")

	live := m.URL() + "/minio/health/live"
	m.Stop(t)
	hc := &http.Client{Timeout: 2 * time.Second}
	if resp, err := hc.Get(live); err == nil {
		resp.Body.Close()
		t.Fatalf("after Stop: GET %s = %d, want a connection error", live, resp.StatusCode)
	}
	m.Stop(t) // idempotent

	m.Restart(t)
	resp, err := hc.Get(live)
	if err != nil {
		t.Fatalf("after Restart: GET %s: %v", live, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("after Restart: GET %s = %d, want 200", live, resp.StatusCode)
	}
	check("after restart")
}
