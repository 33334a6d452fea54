package media_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rangeserve/rangeserve/media"
	"github.com/rangeserve/rangeserve/storage"
)

// remoteBackend serves objects whose bytes come through ReadRange, as
// storage/s3's do. Each Open returns the next of its versions (the last
// one repeats); a version with err fails every read with it, as a version
// opened from stale metadata does.
type remoteBackend struct {
	versions []remoteVersion
	opens    atomic.Int64
	spans    atomic.Int64
}

type remoteVersion struct {
	data []byte
	etag string
	err  error
}

func (b *remoteBackend) version() remoteVersion {
	i := int(b.opens.Add(1)) - 1
	return b.versions[min(i, len(b.versions)-1)]
}

func (b *remoteBackend) Open(ctx context.Context, key string) (storage.Object, error) {
	return &remoteObject{b: b, v: b.version(), key: key}, nil
}

func (b *remoteBackend) Stat(ctx context.Context, key string) (storage.Info, error) {
	o, _ := b.Open(ctx, key)
	return o.Info(), nil
}

type remoteObject struct {
	b   *remoteBackend
	v   remoteVersion
	key string
}

func (o *remoteObject) Info() storage.Info {
	return storage.Info{Key: o.key, Size: int64(len(o.v.data)), ETag: o.v.etag, ModTime: time.Unix(1e9, 0), ContentType: "video/mp4"}
}

func (o *remoteObject) ReadAt(p []byte, off int64) (int, error) {
	if o.v.err != nil {
		return 0, o.v.err
	}
	return bytes.NewReader(o.v.data).ReadAt(p, off)
}

func (o *remoteObject) ReadRange(off, n int64) (io.ReadCloser, error) {
	o.b.spans.Add(1)
	if o.v.err != nil {
		return nil, o.v.err
	}
	return io.NopCloser(bytes.NewReader(o.v.data[off : off+n])), nil
}

func (o *remoteObject) Close() error { return nil }

func TestRemoteSpanBeforeStatus(t *testing.T) {
	newer := remoteVersion{data: []byte(strings.Repeat("new!", 1000)), etag: `"v2"`}
	changed := remoteVersion{data: []byte(strings.Repeat("old?", 1000)), etag: `"v1"`,
		err: fmt.Errorf("fake: read pinned to v1: %w", storage.ErrChanged)}
	down := remoteVersion{data: newer.data, etag: `"v2"`, err: fmt.Errorf("fake: %w", storage.ErrUnavailable)}
	tests := []struct {
		name       string
		versions   []remoteVersion
		rng        string
		wantStatus int
		wantBody   string
		wantOpens  int64
	}{
		{"one span, one stream", []remoteVersion{newer}, "", 200, string(newer.data), 1},
		{"range", []remoteVersion{newer}, "bytes=4-7", 206, "new!", 1},
		{"replaced since the metadata was remembered: opened again", []remoteVersion{changed, newer}, "bytes=0-3", 206, "new!", 2},
		{"replaced twice: 502, no loop", []remoteVersion{changed, changed, newer}, "", 502, "502 bad gateway\n", 2},
		{"store down before the status: 502, not a cut transfer", []remoteVersion{down}, "", 502, "502 bad gateway\n", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := &remoteBackend{versions: tt.versions}
			// Faststart off: planning would read the .mp4 (and meet
			// ErrChanged) before the span this test counts.
			h := newHandler(t, b, media.Options{Faststart: media.FaststartOff})
			r := httptest.NewRequest("GET", "/v.mp4", nil)
			if tt.rng != "" {
				r.Header.Set("Range", tt.rng)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tt.wantStatus || w.Body.String() != tt.wantBody {
				t.Errorf("status %d, body %.40q; want %d, %.40q", w.Code, w.Body.String(), tt.wantStatus, tt.wantBody)
			}
			if got := b.opens.Load(); got != tt.wantOpens {
				t.Errorf("%d Opens, want %d", got, tt.wantOpens)
			}
			if tt.wantStatus < 300 {
				if etag := w.Header().Get("Etag"); etag != `"v2"` {
					t.Errorf("ETag %q, want the served version's", etag)
				}
				if cl := w.Header().Get("Content-Length"); cl != fmt.Sprint(len(tt.wantBody)) {
					t.Errorf("Content-Length %s for a %d-byte body", cl, len(tt.wantBody))
				}
				if b.spans.Load() != tt.wantOpens {
					t.Errorf("%d ReadRange calls, want one per Open", b.spans.Load())
				}
			} else if w.Header().Get("Etag") != "" || w.Header().Get("Content-Range") != "" {
				t.Errorf("an error response carries the object's headers: %v", w.Header())
			}
		})
	}
	// HEAD asks the store for no bytes.
	b := &remoteBackend{versions: []remoteVersion{newer}}
	w := httptest.NewRecorder()
	newHandler(t, b, media.Options{}).ServeHTTP(w, httptest.NewRequest(http.MethodHead, "/v.mp4", nil))
	if w.Code != 200 || b.spans.Load() != 0 {
		t.Errorf("HEAD: %d, %d ReadRange calls; want 200 and none", w.Code, b.spans.Load())
	}
}
