package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/rangeserve/rangeserve/internal/testenv"
	"github.com/rangeserve/rangeserve/rangeio"
	localpkg "github.com/rangeserve/rangeserve/storage/local"
)

// TestS3DiskCache: with cache.disk, a second viewer after a restart reads
// an s3 object from this host's disk, not from the store; the memory
// cache is a quarter of the object.
func TestS3DiskCache(t *testing.T) {
	m := testenv.StartMinIO(t)
	m.MakeBucket(t, "media")
	big := randomBytes(t, 16<<20)
	m.PutReader(t, "media", "movie.mp4", bytes.NewReader(big), int64(len(big)), minio.PutObjectOptions{})
	proxy := startS3Proxy(t, m.URL())
	dir := t.TempDir()
	cfg := "cache:\n  max_bytes: 4MiB\n  disk: {dir: " + dir + ", max_bytes: 1GiB}\nmounts:" + s3MountAt("/s3/", proxy.URL.Host, m, "")

	get := func(srv string, rng string) []byte {
		t.Helper()
		req, _ := http.NewRequest("GET", srv+"/s3/movie.mp4", nil)
		if rng != "" {
			req.Header.Set("Range", rng)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode/100 != 2 {
			t.Fatalf("GET %s: %d %v", rng, resp.StatusCode, err)
		}
		return b
	}
	srv, a, _ := startApp(t, cfg)
	if got := get(srv.URL, ""); !bytes.Equal(got, big) {
		t.Fatal("first viewer: wrong bytes")
	}
	first := proxy.gets.Load()
	// The writer works in the background: wait for the 16 segments.
	deadline := time.Now().Add(20 * time.Second)
	for {
		n := 0
		filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			rel, _ := filepath.Rel(dir, p)
			if err == nil && d.Type().IsRegular() && !strings.Contains(rel, "tmp") {
				n++
			}
			return nil
		})
		if n == 16 {
			break
		}
		if time.Now().After(deadline) {
			for _, c := range a.closers {
				if d, ok := c.(*sharedDisk); ok {
					t.Logf("disk stats %+v", d.d.Stats())
				}
			}
			t.Fatalf("%d segment files after 20s, want 16; cache %+v", n, a.cache.Stats())
		}
		time.Sleep(20 * time.Millisecond)
	}
	srv.Close()
	a.Close()

	srv2, _, _ := startApp(t, cfg) // a restart
	if got := get(srv2.URL, ""); !bytes.Equal(got, big) {
		t.Fatal("second viewer: wrong bytes")
	}
	if got := get(srv2.URL, "bytes=5000000-5999999"); !bytes.Equal(got, big[5000000:6000000]) {
		t.Fatal("second viewer's seek: wrong bytes")
	}
	if n := proxy.gets.Load() - first; n != 0 {
		t.Errorf("second viewer after a restart: %d GETs to the store, want 0 (first viewer: %d)", n, first)
	}
}

// TestCacheKeys: cache.disk and a local mount's open_files, refused where
// they cannot mean what they say, and mapped onto the libraries' options.
func TestCacheKeys(t *testing.T) {
	const local = "mounts:\n  - {prefix: /, backend: local, root: ., auth: public%s}\n"
	bad := []struct{ name, yaml, want string }{
		{"disk max without dir", "cache: {disk: {max_bytes: 1GiB}}\n" + fmt.Sprintf(local, ""), "cache.disk.max_bytes"},
		{"disk max zero", "cache: {disk: {dir: /tmp, max_bytes: 0}}\n" + fmt.Sprintf(local, ""), "cache.disk.max_bytes"},
		{"open_files on s3", "mounts:\n  - {prefix: /, backend: s3, s3: {endpoint: 'h:9000', bucket: b}, auth: public, open_files: {max: 10}}\n", "mounts[0].open_files"},
		{"max negative", fmt.Sprintf(local, ", open_files: {max: -1}"), "mounts[0].open_files.max"},
		{"valid negative", fmt.Sprintf(local, ", open_files: {valid: -1s}"), "mounts[0].open_files.valid"},
		{"memory file too large", fmt.Sprintf(local, ", open_files: {memory_file_size: 1GiB}"), "mounts[0].open_files.memory_file_size"},
		{"memory bytes zero", fmt.Sprintf(local, ", open_files: {memory_bytes: 0}"), "mounts[0].open_files.memory_bytes"},
	}
	for _, tt := range bad {
		if _, err := parseConfig("test.yaml", ".", []byte(tt.yaml)); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one naming %s", tt.name, err, tt.want)
		}
	}
	good := []struct {
		extra string
		want  localpkg.CacheOptions
	}{
		{"", localpkg.CacheOptions{}},
		{", open_files: {max: 0}", localpkg.CacheOptions{Files: localpkg.NoCache}},
		{", open_files: {max: 50, valid: 2s, memory_file_size: 0, memory_bytes: 1MiB}",
			localpkg.CacheOptions{Files: 50, Valid: 2 * time.Second, MemoryFileSize: localpkg.NoMemoryFiles, MemoryBytes: 1 << 20}},
		{", open_files: {memory_file_size: 16KiB}", localpkg.CacheOptions{MemoryFileSize: 16 << 10}},
	}
	for _, tt := range good {
		cfg, err := parseConfig("test.yaml", ".", []byte(fmt.Sprintf(local, tt.extra)))
		if err != nil {
			t.Fatalf("%q: %v", tt.extra, err)
		}
		if got := cfg.Mounts[0].OpenFiles.localCache(); got != tt.want {
			t.Errorf("%q: local.CacheOptions %+v, want %+v", tt.extra, got, tt.want)
		}
	}
}

// TestSharedDisk: apps of one process (a reload overlaps the old and the
// new) share the disk tier of one configuration; the last Close closes it.
func TestSharedDisk(t *testing.T) {
	cfg := rangeio.DiskConfig{Dir: t.TempDir(), MaxBytes: 1 << 30}
	a, err := acquireDisk(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := acquireDisk(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if a.d != b.d {
		t.Fatal("two apps with one cache.disk got two DiskCaches")
	}
	a.Close()
	if disks.m[cfg] != b {
		t.Fatal("the first Close dropped the disk tier another app still uses")
	}
	b.Close()
	if disks.m[cfg] != nil {
		t.Fatal("the last Close left the disk tier registered")
	}
	c, err := acquireDisk(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.d == a.d {
		t.Error("a closed DiskCache was handed out again")
	}
}
