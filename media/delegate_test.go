package media_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/rangeserve/rangeserve/media"
)

func TestNewChecksModeAgainstBackend(t *testing.T) {
	mem := newMem()
	del := &delegatingBackend{memBackend: mem}
	tests := []struct {
		name    string
		opts    media.Options
		backend interface{}
		wantErr string
	}{
		{"serve", media.Options{}, mem, ""},
		{"unknown mode", media.Options{Mode: "fast"}, mem, "unknown mode"},
		{"x-sendfile without Pather", media.Options{Mode: media.ModeXSendfile}, mem, "storage.Pather"},
		{"x-sendfile", media.Options{Mode: media.ModeXSendfile}, del, ""},
		{"redirect without Presigner", media.Options{Mode: media.ModeRedirect}, mem, "storage.Presigner"},
		{"redirect", media.Options{Mode: media.ModeRedirect}, del, ""},
		{"redirect TTL too long", media.Options{Mode: media.ModeRedirect, RedirectTTL: 8 * 24 * time.Hour}, del, "RedirectTTL"},
		{"redirect TTL too short", media.Options{Mode: media.ModeRedirect, RedirectTTL: time.Millisecond}, del, "RedirectTTL"},
		{"x-accel without prefix", media.Options{Mode: media.ModeXAccel}, mem, "InternalPrefix"},
		{"x-accel relative prefix", media.Options{Mode: media.ModeXAccel, InternalPrefix: "internal"}, mem, "InternalPrefix"},
		{"x-accel bad buffering", media.Options{Mode: media.ModeXAccel, InternalPrefix: "/i", AccelBuffering: "maybe"}, mem, "AccelBuffering"},
		{"x-accel bad rate", media.Options{Mode: media.ModeXAccel, InternalPrefix: "/i", AccelLimitRate: "1k\r\nX: y"}, mem, "AccelLimitRate"},
		{"x-accel", media.Options{Mode: media.ModeXAccel, InternalPrefix: "/i/", AccelLimitRate: "1048576"}, mem, ""},
		{"header injection in Cache-Control", media.Options{CacheControl: "public\r\nSet-Cookie: a=b"}, mem, "CacheControl"},
		{"redirect TTL 7 days", media.Options{Mode: media.ModeRedirect, RedirectTTL: 7 * 24 * time.Hour}, del, ""},
		{"redirect TTL negative", media.Options{Mode: media.ModeRedirect, RedirectTTL: -time.Minute}, del, "RedirectTTL"},
		{"MaxRanges 1024", media.Options{MaxRanges: 1024}, mem, ""},
		{"MaxRanges negative", media.Options{MaxRanges: -1}, mem, "MaxRanges"},
		{"MaxRanges above the spec limit", media.Options{MaxRanges: 1025}, mem, "MaxRanges"},
		// Options of another mode would be silently ignored: refused.
		{"InternalPrefix in mode serve", media.Options{InternalPrefix: "/i"}, mem, "InternalPrefix"},
		{"AccelBuffering in mode redirect", media.Options{Mode: media.ModeRedirect, AccelBuffering: "no"}, del, "AccelBuffering"},
		{"AccelLimitRate in mode x-sendfile", media.Options{Mode: media.ModeXSendfile, AccelLimitRate: "1000"}, del, "AccelLimitRate"},
		{"RedirectTTL in mode x-accel", media.Options{Mode: media.ModeXAccel, InternalPrefix: "/i", RedirectTTL: time.Minute}, mem, "RedirectTTL"},
	}
	for _, tt := range tests {
		var err error
		switch b := tt.backend.(type) {
		case *memBackend:
			_, err = media.New(b, tt.opts)
		case *delegatingBackend:
			_, err = media.New(b, tt.opts)
		}
		if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("%s: New error = %v, want one mentioning %q", tt.name, err, tt.wantErr)
		}
	}
	if _, err := media.New(nil, media.Options{}); err == nil {
		t.Error("New(nil backend) succeeded")
	}
}

func TestDelegation(t *testing.T) {
	mem, _ := fixture(t)
	mem.put("a b/c%d;e?.mp4", &entry{data: []byte("x"), etag: `"k"`, mod: modTime})
	mem.put("mystery", &entry{data: []byte("x"), etag: `"m"`, mod: modTime})
	del := &delegatingBackend{memBackend: mem}
	accel := newHandler(t, mem, media.Options{Mode: media.ModeXAccel, InternalPrefix: "/_protected/", AccelBuffering: "no", AccelLimitRate: "1048576", CacheControl: cacheControl})
	sendfile := newHandler(t, del, media.Options{Mode: media.ModeXSendfile, CacheControl: cacheControl})

	tests := []struct {
		name   string
		h      *media.Handler
		key    string
		query  string
		status int
		hdr    map[string]string
	}{
		{"x-accel", accel, "video.mp4", "", 200, map[string]string{
			"X-Accel-Redirect": "/_protected/video.mp4", "X-Accel-Buffering": "no", "X-Accel-Limit-Rate": "1048576",
			"Content-Type": "video/mp4", "Content-Disposition": `inline; filename="video.mp4"`, "Cache-Control": cacheControl,
			"X-Content-Type-Options": "nosniff", "Content-Length": absent, "Etag": absent, "Accept-Ranges": absent}},
		{"x-accel escapes segments", accel, "a b/c%d;e?.mp4", "download=1", 200, map[string]string{
			"X-Accel-Redirect":    "/_protected/a%20b/c%25d%3Be%3F.mp4",
			"Content-Disposition": `attachment; filename="c_d;e?.mp4"; filename*=UTF-8''c%25d%3Be%3F.mp4`}},
		{"x-accel utf-8", accel, `dir/vidéo 𝄞 "q".mp4`, "", 200, map[string]string{
			"X-Accel-Redirect": "/_protected/dir/vid%C3%A9o%20%F0%9D%84%9E%20%22q%22.mp4"}},
		{"x-accel unknown type", accel, "mystery", "", 200, map[string]string{"Content-Type": "application/octet-stream"}},
		{"x-accel missing", accel, "nope.mp4", "", 404, map[string]string{"X-Accel-Redirect": absent}},
		{"x-accel directory", accel, "adir", "", 404, map[string]string{"X-Accel-Redirect": absent}},
		{"x-accel forbidden", accel, "forbidden.mp4", "", 403, map[string]string{"X-Accel-Redirect": absent}},
		{"x-sendfile", sendfile, "dir/hello.txt", "", 200, map[string]string{
			"X-Sendfile": "/srv/media/dir/hello.txt", "Content-Type": "text/plain; charset=utf-8",
			"Content-Disposition": `inline; filename="hello.txt"`, "Cache-Control": cacheControl, "Content-Length": absent}},
		{"x-sendfile missing", sendfile, "nope", "", 404, map[string]string{"X-Sendfile": absent}},
	}
	for _, tt := range tests {
		for _, method := range []string{"GET", "HEAD"} {
			mem.reads.Store(0)
			w := serve(tt.h, method, target(tt.key, tt.query), map[string]string{"Range": "bytes=0-1", "If-None-Match": `"v1"`})
			if w.Code != tt.status {
				t.Errorf("%s %s: status = %d, want %d", method, tt.name, w.Code, tt.status)
			}
			checkHeaders(t, method+" "+tt.name, w.Result().Header, tt.hdr)
			if w.Code == 200 && w.Body.Len() != 0 {
				t.Errorf("%s %s: body %q, want empty", method, tt.name, w.Body.String())
			}
			if n := mem.reads.Load(); n != 0 {
				t.Errorf("%s %s: read the object %d times", method, tt.name, n)
			}
		}
	}
}

// TestDelegationWire checks what net/http puts on the wire for a
// delegated response: no Content-Length or sniffed Content-Type of its
// own.
func TestDelegationWire(t *testing.T) {
	mem := newMem()
	mem.put("mystery", &entry{data: []byte("x"), etag: `"m"`, mod: modTime})
	srv := httptest.NewServer(newHandler(t, mem, media.Options{Mode: media.ModeXAccel, InternalPrefix: "/p"}))
	defer srv.Close()
	for _, method := range []string{"GET", "HEAD"} {
		req, _ := http.NewRequest(method, srv.URL+"/mystery", nil)
		res, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || len(body) != 0 || res.Header.Get("X-Accel-Redirect") != "/p/mystery" ||
			res.Header.Get("Content-Type") != "application/octet-stream" || res.Header["Content-Length"] != nil {
			t.Errorf("%s: status %d, body %q, headers %v", method, res.StatusCode, body, res.Header)
		}
	}
}

func TestRedirect(t *testing.T) {
	mem, files := fixture(t)
	del := &delegatingBackend{memBackend: mem}
	h := newHandler(t, del, media.Options{Mode: media.ModeRedirect, RedirectTTL: 10 * time.Minute, CacheControl: cacheControl})
	vlen := len(files["video"])

	w := serve(h, "GET", target(`dir/vidéo 𝄞 "q".mp4`, "download=1"), map[string]string{"Range": "bytes=0-99"})
	if w.Code != 307 {
		t.Fatalf("GET: status %d, want 307", w.Code)
	}
	checkHeaders(t, "GET", w.Result().Header, map[string]string{
		"Cache-Control": "private, max-age=300", "Etag": absent, "Last-Modified": absent})
	loc, err := url.Parse(w.Header().Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	q := loc.Query()
	if loc.Host != "bucket.s3.example" || q.Get("response-content-type") != "video/mp4" ||
		q.Get("response-content-disposition") != media.ContentDisposition("attachment", `vidéo 𝄞 "q".mp4`) ||
		q.Get("response-cache-control") != cacheControl || del.gotTTL != 10*time.Minute {
		t.Errorf("Location = %s (ttl %v)", loc, del.gotTTL)
	}

	tests := []struct {
		name   string
		method string
		key    string
		req    map[string]string
		status int
		hdr    map[string]string
	}{
		// HEAD is answered here from Stat: a GET-signed URL refuses HEAD.
		{"head", "HEAD", "video.mp4", nil, 200, map[string]string{"Location": absent, "Content-Length": itoa(vlen),
			"Content-Type": "video/mp4", "Etag": `"v1"`, "Accept-Ranges": "bytes", "Cache-Control": cacheControl}},
		{"head range", "HEAD", "video.mp4", map[string]string{"Range": "bytes=0-99"}, 206, map[string]string{
			"Content-Length": "100", "Content-Range": "bytes 0-99/" + itoa(vlen)}},
		{"conditional get answered here", "GET", "video.mp4", map[string]string{"If-None-Match": `"v1"`}, 304, map[string]string{
			"Location": absent, "Etag": `"v1"`}},
		{"failed precondition", "GET", "video.mp4", map[string]string{"If-Match": `"zz"`}, 412, map[string]string{"Location": absent}},
		{"missing", "GET", "nope.mp4", nil, 404, map[string]string{"Location": absent}},
		{"multi-range served here", "GET", "video.mp4", map[string]string{"Range": "bytes=0-1,5-6"}, 206, map[string]string{
			"Location": absent, "Content-Type": "multipart/byteranges; boundary=*"}},
	}
	for _, tt := range tests {
		w := serve(h, tt.method, target(tt.key, ""), tt.req)
		if w.Code != tt.status {
			t.Errorf("%s: status = %d, want %d", tt.name, w.Code, tt.status)
		}
		checkHeaders(t, tt.name, w.Result().Header, tt.hdr)
	}

	del.presignErr = errDisk
	if w := serve(h, "GET", "/video.mp4", nil); w.Code != 502 || strings.Contains(w.Body.String(), "fire") {
		t.Errorf("presign failure: %d %q, want 502 without the error text", w.Code, w.Body.String())
	}
	short := newHandler(t, del, media.Options{Mode: media.ModeRedirect, RedirectTTL: time.Second})
	del.presignErr = nil
	if w := serve(short, "GET", "/video.mp4", nil); w.Header().Get("Cache-Control") != "no-store" {
		t.Errorf("1s TTL: Cache-Control %q, want no-store", w.Header().Get("Cache-Control"))
	}
}
