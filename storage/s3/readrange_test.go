package s3_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rangeserve/rangeserve/internal/testenv"
	"github.com/rangeserve/rangeserve/rangeio"
	"github.com/rangeserve/rangeserve/storage"
	"github.com/rangeserve/rangeserve/storage/s3"
)

// TestReadRange covers the streaming path that rangeio.CopyAt takes for
// S3 objects: one ranged GET per span, exact bytes, and a stall timeout
// that does not cut a long transfer that flows. (testMisbehaving checks
// that it refuses wrong answers as ReadAt does.)
func TestReadRange(t *testing.T) {
	testenv.Short(t, "starts MinIO")
	f := newFixture(t)
	p := newProxy(t, f.m.Endpoint)
	b := f.backend(t, p.endpoint(), s3.Options{Prefix: "pre", Timeout: time.Second})
	o, err := b.Open(context.Background(), "video.mp4")
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	rr, ok := o.(rangeio.RangeReader)
	if !ok {
		t.Fatalf("%T is not a rangeio.RangeReader: every response would cost one GET per 256 KiB", o)
	}
	p.take()

	t.Run("spans", func(t *testing.T) {
		for _, sp := range []struct{ off, n int64 }{{0, videoSize}, {1000, 64 << 10}, {videoSize - 1, 1}, {2 << 20, videoSize - 2<<20}} {
			var buf bytes.Buffer
			// Through CopyAt, as media does.
			n, err := rangeio.CopyAt(&buf, o, sp.off, sp.n)
			if err != nil || n != sp.n || sum(buf.Bytes()) != sum(f.video[sp.off:sp.off+sp.n]) {
				t.Fatalf("CopyAt(%d+%d) = %d, %v; bytes match: %v", sp.off, sp.n, n, err, sum(buf.Bytes()) == sum(f.video[sp.off:sp.off+sp.n]))
			}
			want := fmt.Sprintf("GET /%s/pre/video.mp4 bytes=%d-%d", bucket, sp.off, sp.off+sp.n-1)
			if reqs := p.take(); len(reqs) != 1 || reqs[0] != want {
				t.Errorf("CopyAt(%d+%d): backend requests %q, want exactly [%q]", sp.off, sp.n, reqs, want)
			}
		}
		if _, err := rr.ReadRange(videoSize-10, 11); err == nil {
			t.Errorf("ReadRange past the end: no error")
		}
	})

	t.Run("stall and slow flow", func(t *testing.T) {
		defer p.fake.Store(nil)
		etag := o.Info().ETag
		lastMod := o.Info().ModTime.UTC().Format(http.TimeFormat)
		// Sends 10 chunks of 100 bytes, pausing between them; stalls
		// for good after `chunks` chunks.
		dribble := func(chunks int, pause time.Duration) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("ETag", etag)
				w.Header().Set("Last-Modified", lastMod)
				w.Header().Set("Content-Length", "1000")
				w.Header().Set("Content-Range", fmt.Sprintf("bytes 0-999/%d", videoSize))
				w.WriteHeader(http.StatusPartialContent)
				for i := range chunks {
					w.Write(f.video[i*100 : (i+1)*100])
					w.(http.Flusher).Flush()
					select {
					case <-time.After(pause):
					case <-r.Context().Done():
						return
					}
				}
				if chunks < 10 {
					<-r.Context().Done() // stalled
				}
			}
		}
		// 10 chunks 400 ms apart: 4 s in all, four times the 1 s
		// timeout, but never 1 s without a byte.
		h := dribble(10, 400*time.Millisecond)
		p.fake.Store(&h)
		rc, err := rr.ReadRange(0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || !bytes.Equal(got, f.video[:1000]) {
			t.Errorf("a slow but flowing stream: %d bytes, %v; want all 1000", len(got), err)
		}
		// 3 chunks, then nothing: fails about 1 s after the last byte.
		h = dribble(3, 10*time.Millisecond)
		p.fake.Store(&h)
		rc, err = rr.ReadRange(0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		got, err = io.ReadAll(rc)
		rc.Close()
		el := time.Since(start)
		if len(got) != 300 || !errors.Is(err, storage.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("a stalled stream: %d bytes, %v; want 300 bytes then ErrUnavailable and DeadlineExceeded", len(got), err)
		}
		if el < 900*time.Millisecond || el > 4*time.Second {
			t.Errorf("a stalled stream failed after %v, want about the 1 s timeout", el)
		}
	})

	t.Run("client gone", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		o, err := b.Open(ctx, "video.mp4")
		if err != nil {
			t.Fatal(err)
		}
		defer o.Close()
		rc, err := o.(rangeio.RangeReader).ReadRange(0, videoSize)
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		if _, err := io.ReadFull(rc, make([]byte, 1000)); err != nil {
			t.Fatal(err)
		}
		cancel()
		_, err = io.Copy(io.Discard, rc)
		if !errors.Is(err, context.Canceled) || errors.Is(err, storage.ErrUnavailable) {
			t.Errorf("after the client left: %v; want context.Canceled, not ErrUnavailable", err)
		}
	})

	t.Run("through a cache", func(t *testing.T) {
		c := &fakeCache{}
		b := f.backend(t, p.endpoint(), s3.Options{Prefix: "pre", Cache: c})
		o, err := b.Open(context.Background(), "video.mp4")
		if err != nil {
			t.Fatal(err)
		}
		defer o.Close()
		var buf bytes.Buffer
		if n, err := rangeio.CopyAt(&buf, o, 5000, 600<<10); err != nil || n != 600<<10 || !bytes.Equal(buf.Bytes(), f.video[5000:5000+600<<10]) {
			t.Fatalf("CopyAt through the cache = %d, %v", n, err)
		}
		if c.reads.Load() == 0 {
			t.Errorf("CopyAt of a cached object bypassed the cache")
		}
		// The fake cache passes CopyAt's 256 KiB ReadAt calls through:
		// three GETs, none of them the whole span.
		whole := fmt.Sprintf("bytes=5000-%d", 5000+600<<10-1)
		for _, r := range p.take() {
			if strings.HasSuffix(r, whole) {
				t.Errorf("CopyAt of a cached object streamed the span from the store: %q", r)
			}
		}
	})
}

// TestStatTTL: with Options.StatTTL, Opens within the TTL cost no HEAD; a
// replaced object is found out by the first pinned read (ErrChanged),
// which drops the entry, and the next Open sees the new version.
func TestStatTTL(t *testing.T) {
	testenv.Short(t, "starts MinIO")
	f := newFixture(t)
	p := newProxy(t, f.m.Endpoint)
	b := f.backend(t, p.endpoint(), s3.Options{Prefix: "pre", StatTTL: time.Hour})
	f.m.Put(t, bucket, "pre/replaced.bin", bytes.Repeat([]byte("a"), 1000), "")
	heads := func() (n int) {
		for _, r := range p.take() {
			if strings.HasPrefix(r, "HEAD ") {
				n++
			}
		}
		return n
	}
	p.take()
	var first storage.Info
	for i := range 5 {
		o, err := b.Open(context.Background(), "replaced.bin")
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = o.Info()
		} else if o.Info() != first {
			t.Errorf("Open %d: Info %+v, want the remembered %+v", i, o.Info(), first)
		}
		o.Close()
	}
	if h := heads(); h != 1 {
		t.Errorf("5 Opens within the TTL made %d HEAD requests, want 1", h)
	}
	if _, err := b.Open(context.Background(), "missing.bin"); !errors.Is(err, storage.ErrNotExist) {
		t.Errorf("missing key: %v", err)
	}
	if _, err := b.Open(context.Background(), "missing.bin"); !errors.Is(err, storage.ErrNotExist) {
		t.Errorf("missing key again: %v", err)
	}
	if h := heads(); h != 2 {
		t.Errorf("2 Opens of a missing key made %d HEAD requests, want 2 (misses are not remembered)", h)
	}

	for i, via := range []string{"ReadAt", "ReadRange"} {
		fill := byte('x' + i)
		f.m.Put(t, bucket, "pre/replaced.bin", bytes.Repeat([]byte{fill}, 1000), "")
		o, err := b.Open(context.Background(), "replaced.bin")
		if err != nil {
			t.Fatal(err)
		}
		old := o.Info()
		if via == "ReadAt" {
			_, err = o.ReadAt(make([]byte, 10), 0)
		} else {
			_, err = o.(rangeio.RangeReader).ReadRange(0, 10)
		}
		o.Close()
		if !errors.Is(err, storage.ErrChanged) {
			t.Fatalf("%s of a replaced object opened from the remembered Info: %v, want ErrChanged", via, err)
		}
		o, err = b.Open(context.Background(), "replaced.bin")
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 10)
		if o.Info().ETag == old.ETag {
			t.Errorf("after ErrChanged from %s, Open still returns the old ETag", via)
		} else if n, err := o.ReadAt(buf, 0); n != 10 || err != nil || buf[0] != fill {
			t.Errorf("after ErrChanged from %s: ReadAt = %d, %v, %q", via, n, err, buf[:n])
		}
		o.Close()
		heads()
	}
}
