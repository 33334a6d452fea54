package media_test

import (
	"archive/zip"
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rangeserve/rangeserve/internal/testenv"
	"github.com/rangeserve/rangeserve/media"
	"github.com/rangeserve/rangeserve/storage"
	"github.com/rangeserve/rangeserve/storage/local"
)

// textTree writes a folder "docs" of text files (nested folders, UTF-8
// names, an empty file, one of several MiB) and a binary file under a new
// root, and returns the root and the files by name inside the archive.
func textTree(t *testing.T) (string, map[string][]byte) {
	t.Helper()
	rng := rand.New(rand.NewPCG(3, 4))
	words := strings.Fields("range serve chunk flush archive deflate zip entry folder byte header central directory")
	text := func(n int) []byte {
		var b bytes.Buffer
		for b.Len() < n {
			b.WriteString(words[rng.IntN(len(words))])
			if rng.IntN(12) == 0 {
				fmt.Fprintf(&b, " %d\n", rng.IntN(1e6))
			} else {
				b.WriteByte(' ')
			}
		}
		return b.Bytes()[:n]
	}
	bin := make([]byte, 100<<10)
	for i := range bin {
		bin[i] = byte(rng.UintN(256))
	}
	files := map[string][]byte{
		"0-first.txt":            text(700),
		"b.txt":                  text(50 << 10),
		"big/log.log":            text(5 << 20),
		"big/data.csv":           text(300 << 10),
		"empty.md":               nil,
		"notes/été 𝄞.md":         text(20 << 10),
		"notes/deep/conf.yaml":   text(3000),
		"notes/deep/page.html":   text(40 << 10),
		"notes/deep/random.bin":  bin,
		"notes/日本語/メモ.txt":       []byte("こんにちは\n"),
		"notes/deep/script.json": text(10 << 10),
	}
	root := t.TempDir()
	for name, data := range files {
		p := filepath.Join(root, "docs", filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root, files
}

// blockingBackend is a local backend whose object under key blocks its
// first read until release is closed.
type blockingBackend struct {
	*local.Backend
	key     string
	release chan struct{}
}

func (b blockingBackend) Open(ctx context.Context, key string) (storage.Object, error) {
	obj, err := b.Backend.Open(ctx, key)
	if err != nil || key != b.key {
		return obj, err
	}
	return blockingObject{Object: obj, release: b.release}, nil
}

type blockingObject struct {
	storage.Object
	release chan struct{}
}

func (o blockingObject) ReadAt(p []byte, off int64) (int, error) {
	<-o.release
	return o.Object.ReadAt(p, off)
}

// TestArchiveDeflateStreamed: ?archive=zip&deflate=1 goes out on the
// chunked path: its headers, the flush policy (the first entries reach
// the client while a later one is still being read), then an archive
// that archive/zip reads byte-exact and `unzip -t` passes, text entries
// deflated and others stored.
func TestArchiveDeflateStreamed(t *testing.T) {
	root, files := textTree(t)
	release := make(chan struct{})
	b := blockingBackend{Backend: localBackend(t, root), key: "docs/b.txt", release: release}
	srv := httptest.NewServer(newHandler(t, b, media.Options{}))
	defer srv.Close()
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	defer unblock() // before srv.Close, should the test fail early
	resp := getResp(t, srv.URL+"/docs/?archive=zip&deflate=1")
	checkStreamHeaders(t, resp, "application/zip")
	if cd := resp.Header.Get("Content-Disposition"); cd != `attachment; filename="docs.zip"` {
		t.Errorf("Content-Disposition %q", cd)
	}
	if et := resp.Header.Get("Etag"); et != "" {
		t.Errorf("ETag %q on an archive of unknown length", et)
	}
	// 0-first.txt is out (its local header at least) while b.txt blocks.
	head := readWithin(t, resp.Body, 4, 10*time.Second)
	if string(head) != "PK\x03\x04" {
		t.Fatalf("the archive starts with %q", head)
	}
	unblock()
	rest, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the archive: %v", err)
	}
	body := append(head, rest...)
	readZip(t, body, files, []string{"big", "notes", "notes/deep", "notes/日本語"})
	zr, err := zip.NewReader(bytes.NewReader(body), int64(len(body)))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range zr.File {
		want := zip.Deflate
		if strings.HasSuffix(f.Name, ".bin") {
			want = zip.Store
		}
		if f.UncompressedSize64 > 0 && f.Method != want {
			t.Errorf("%s: method %d, want %d", f.Name, f.Method, want)
		}
	}
	var total int
	for _, d := range files {
		total += len(d)
	}
	if len(body) > total/2 {
		t.Errorf("archive of %d bytes for %d bytes of mostly text: not deflated?", len(body), total)
	}

	unzip := testenv.Require(t, "unzip")
	path := filepath.Join(t.TempDir(), "docs.zip")
	if err := os.WriteFile(path, body, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := run(t, time.Minute, unzip, "-t", path)
	if err != nil || !strings.Contains(out, "No errors detected") {
		t.Fatalf("unzip -t: %v\n%s", err, out)
	}
	if n := strings.Count(out, "  OK\n"); n != len(files)+4 {
		t.Errorf("unzip -t tested %d entries OK, want %d (files and folders)", n, len(files)+4)
	}
}

// TestArchiveDeflateErrors: an error before the first chunk is a status
// with a short body and none of the stream's headers; after it, an
// aborted transfer (TestReadErrorAfterFirstByte); HEAD gets the stream's
// headers without reading any entry.
func TestArchiveDeflateErrors(t *testing.T) {
	root, _ := textTree(t)
	log, logs := bufLogger()
	b := failAfterBackend{Backend: localBackend(t, root), key: "docs/0-first.txt", after: 1}
	srv := httptest.NewServer(newHandler(t, b, media.Options{Logger: log}))
	defer srv.Close()
	resp := getResp(t, srv.URL+"/docs/?archive=zip&deflate=1")
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusBadGateway || string(body) != "502 bad gateway\n" {
		t.Fatalf("read error before the first byte: %d %q %v; want 502", resp.StatusCode, body, err)
	}
	for _, k := range []string{"X-Accel-Buffering", "Content-Disposition", "Accept-Ranges"} {
		if v := resp.Header.Get(k); v != "" {
			t.Errorf("error response has %s: %q", k, v)
		}
	}
	if l := logs.String(); !strings.Contains(l, "failed before its first byte") || !strings.Contains(l, "disk on fire") {
		t.Errorf("log: %s", l)
	}

	req, _ := http.NewRequest(http.MethodHead, srv.URL+"/docs/?archive=zip&deflate=1", nil)
	hr, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	hr.Body.Close()
	if hr.StatusCode != http.StatusOK || hr.Header.Get("X-Accel-Buffering") != "no" || hr.Header.Get("Content-Type") != "application/zip" {
		t.Errorf("HEAD: %d %v", hr.StatusCode, hr.Header)
	}

	resp = getResp(t, srv.URL+"/nothing-here/?archive=zip&deflate=1")
	if body, _ := io.ReadAll(resp.Body); resp.StatusCode != http.StatusNotFound || string(body) != "404 not found\n" {
		t.Errorf("missing folder: %d %q", resp.StatusCode, body)
	}
}
