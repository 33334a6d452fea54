package media_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rangeserve/rangeserve/media"
	"github.com/rangeserve/rangeserve/storage"
	"github.com/rangeserve/rangeserve/storage/local"
)

// Every streamed source, given a read error after its first byte, aborts
// the response: the Go client reads "unexpected EOF", never a clean end
// that would pass a truncated body for a whole one, and a log line says
// why. (Listings: TestListingErrorMidway; ranges of plain files:
// TestAbortAfterFirstByte.)

// failAfterBackend is a local backend whose object under key fails every
// read that reaches byte after (errDisk). Its objects hide their file, so
// that they are read, not sent with sendfile.
type failAfterBackend struct {
	*local.Backend
	key   string
	after int64
}

func (b failAfterBackend) Open(ctx context.Context, key string) (storage.Object, error) {
	obj, err := b.Backend.Open(ctx, key)
	if err != nil || key != b.key {
		return obj, err
	}
	return failingObject{obj: obj, after: b.after}, nil
}

// Follow follows key with reads that fail once byte after is reached.
func (b failAfterBackend) Follow(ctx context.Context, key string, idle time.Duration) (io.ReadCloser, storage.Info, error) {
	rc, info, err := b.Backend.Follow(ctx, key, idle)
	if err != nil || key != b.key {
		return rc, info, err
	}
	return &failingReader{rc: rc, left: b.after}, info, nil
}

// failingObject is an object whose reads at or past after fail.
type failingObject struct {
	obj   storage.Object
	after int64
}

func (o failingObject) Info() storage.Info { return o.obj.Info() }
func (o failingObject) Close() error       { return o.obj.Close() }

func (o failingObject) ReadAt(p []byte, off int64) (int, error) {
	if off+int64(len(p)) <= o.after {
		return o.obj.ReadAt(p, off)
	}
	n := 0
	if off < o.after {
		n, _ = o.obj.ReadAt(p[:o.after-off], off)
	}
	return n, errDisk
}

// failingReader passes left bytes of rc on, then fails.
type failingReader struct {
	rc   io.ReadCloser
	left int64
}

func (r *failingReader) Read(p []byte) (int, error) {
	if r.left <= 0 {
		return 0, errDisk
	}
	n, err := r.rc.Read(p[:min(int64(len(p)), r.left)])
	r.left -= int64(n)
	return n, err
}

func (r *failingReader) Close() error { return r.rc.Close() }

func TestReadErrorAfterFirstByte(t *testing.T) {
	root, _ := archiveTree(t, 600<<10)
	// Text that deflates to more than the first chunk before the file
	// that fails.
	var text bytes.Buffer
	for i := range 20000 {
		text.WriteString(strings.Repeat(string(rune('a'+i%26)), 1+i%13))
		text.WriteString(" 0123456789 ")
		text.WriteString(strings.Repeat("xyz", i%7))
		text.WriteByte('\n')
	}
	for name, data := range map[string][]byte{"texts/a.txt": text.Bytes(), "texts/b.txt": text.Bytes()} {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	live := bytes.Repeat([]byte("a live recording "), 20000)
	if err := os.WriteFile(filepath.Join(root, "live.ts"), live, 0o644); err != nil {
		t.Fatal(err)
	}
	mem := newMem()
	data := bytes.Repeat([]byte("0123456789abcdef"), 16384)
	mem.put("late.txt", &entry{data: data, size: -1, stream: true, failAfter: 200000})

	for _, tc := range []struct {
		name string
		b    storage.Backend
		tgt  string
		// want is the body a backend without the failure sends: what
		// arrives must be a prefix of it; nil when there is none to
		// compare with.
		want func(t *testing.T) []byte
	}{
		{"object of unknown size (chunked)", mem, "/late.txt", func(*testing.T) []byte { return data }},
		{"stored archive", failAfterBackend{Backend: localBackend(t, root), key: "album/vidéo 𝄞 test.mp4", after: 300 << 10},
			"/album/?archive=zip", func(t *testing.T) []byte { return wholeBody(t, localBackend(t, root), "/album/?archive=zip") }},
		{"deflated archive", failAfterBackend{Backend: localBackend(t, root), key: "texts/b.txt", after: 1000},
			"/texts/?archive=zip&deflate=1", func(t *testing.T) []byte { return wholeBody(t, localBackend(t, root), "/texts/?archive=zip&deflate=1") }},
		{"followed file", failAfterBackend{Backend: localBackend(t, root), key: "live.ts", after: 150000},
			"/live.ts?follow=1", func(*testing.T) []byte { return live }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			log, logs := bufLogger()
			srv := httptest.NewServer(newHandler(t, tc.b, media.Options{Logger: log, FollowIdleTimeout: time.Minute}))
			defer srv.Close()
			resp := getResp(t, srv.URL+tc.tgt)
			body, err := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusOK || !errors.Is(err, io.ErrUnexpectedEOF) || len(body) == 0 {
				t.Fatalf("status %d, %d bytes, %v; want 200, some bytes, then unexpected EOF", resp.StatusCode, len(body), err)
			}
			if want := tc.want(t); len(body) >= len(want) || !bytes.Equal(body, want[:len(body)]) {
				t.Errorf("%d bytes received are not a proper prefix of the %d bytes of the whole body", len(body), len(want))
			}
			deadline := time.Now().Add(5 * time.Second)
			for !strings.Contains(logs.String(), "disk on fire") && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			if l := logs.String(); !strings.Contains(l, "aborting") || !strings.Contains(l, "disk on fire") {
				t.Errorf("no log line saying why the response was aborted:\n%s", l)
			}
		})
	}
}

// whole fetches tgt from a handler of b, which must answer 200 with a
// complete body.
func wholeBody(t *testing.T, b storage.Backend, tgt string) []byte {
	t.Helper()
	srv := httptest.NewServer(newHandler(t, b, media.Options{}))
	defer srv.Close()
	resp := getResp(t, srv.URL+tgt)
	body, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || err != nil {
		t.Fatalf("GET %s: %d, %v", tgt, resp.StatusCode, err)
	}
	return body
}
