package media_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rangeserve/rangeserve/media"
	"github.com/rangeserve/rangeserve/storage"
)

var (
	modTime = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	lastMod = modTime.Format(http.TimeFormat)
)

const cacheControl = "public, max-age=60"

// absent in a want-headers map means "this header must not be sent".
const absent = "<absent>"

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("../testdata/" + name)
	if err != nil {
		t.Fatalf("reading fixture: %v", err)
	}
	return b
}

// fixture returns a backend with the objects the handler tests use.
func fixture(t testing.TB) (*memBackend, map[string][]byte) {
	video := readTestdata(t, "video.mp4")
	text := readTestdata(t, "hello.txt")
	b := newMem()
	b.put("video.mp4", &entry{data: video, etag: `"v1"`, mod: modTime})
	b.put("dir/hello.txt", &entry{data: text, etag: `"t1"`, mod: modTime})
	b.put("weak.mp4", &entry{data: video, etag: `W/"w1"`, mod: modTime})
	b.put("unquoted.mp4", &entry{data: video, etag: `abc`, mod: modTime})
	b.put("bad-etag.mp4", &entry{data: video, etag: `a "b"`, mod: modTime})
	b.put("noval.mp4", &entry{data: video})
	b.put("empty.txt", &entry{data: []byte{}, etag: `"e"`, mod: modTime})
	b.put("s3default.bin", &entry{data: video, etag: `"s3"`, mod: modTime, ctype: "binary/octet-stream"})
	b.put("table.csv", &entry{data: []byte("a,b\n1,2\n"), etag: `"c"`, mod: modTime, ctype: "text/csv"})
	b.put(`dir/vidéo 𝄞 "q".mp4`, &entry{data: video, etag: `"u"`, mod: modTime})
	b.put("adir", &entry{isDir: true})
	b.put("forbidden.mp4", &entry{openErr: fmt.Errorf("fake: open /secret/forbidden.mp4: %w", storage.ErrPermission)})
	b.put("down.mp4", &entry{openErr: fmt.Errorf("fake: dial 10.0.0.7: %w", storage.ErrUnavailable)})
	b.put("slow.mp4", &entry{openErr: fmt.Errorf("fake: stat: %w", context.DeadlineExceeded)})
	b.put("nettimeout.mp4", &entry{openErr: fmt.Errorf("fake: %w", timeoutErr{})})
	b.put("odd.mp4", &entry{openErr: errDisk})
	return b, map[string][]byte{"video": video, "text": text}
}

func newHandler(t testing.TB, b storage.Backend, opts media.Options) *media.Handler {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	h, err := media.New(b, opts)
	if err != nil {
		t.Fatalf("media.New: %v", err)
	}
	return h
}

// target turns a key into an escaped request path with an optional query.
func target(key, query string) string {
	u := url.URL{Path: "/" + key, RawQuery: query}
	return u.RequestURI()
}

func serve(h http.Handler, method, tgt string, hdr map[string]string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, tgt, nil)
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func sum(b []byte) string { s := sha256.Sum256(b); return fmt.Sprintf("%x", s[:8]) }

// span is a byte range [start, end) of an object.
type span struct{ start, end int64 }

func TestServe(t *testing.T) {
	b, files := fixture(t)
	h := newHandler(t, b, media.Options{CacheControl: cacheControl})
	video, text := files["video"], files["text"]
	vsize := int64(len(video))
	vlen := strconv.FormatInt(vsize, 10)
	before := modTime.Add(-time.Hour).Format(http.TimeFormat)
	after := modTime.Add(time.Hour).Format(http.TimeFormat)

	ok := map[string]string{
		"Accept-Ranges": "bytes", "Etag": `"v1"`, "Last-Modified": lastMod, "Cache-Control": cacheControl,
		"X-Content-Type-Options": "nosniff", "Content-Type": "video/mp4",
		"Content-Disposition": `inline; filename="video.mp4"`, "Content-Length": vlen, "Content-Range": absent,
	}
	notMod := map[string]string{
		"Etag": `"v1"`, "Last-Modified": lastMod, "Cache-Control": cacheControl,
		"Content-Type": absent, "Content-Length": absent, "Content-Disposition": absent,
	}
	failed := map[string]string{"Etag": absent, "Last-Modified": absent, "Cache-Control": absent,
		"Content-Type": "text/plain; charset=utf-8", "Content-Disposition": absent}
	with := func(base map[string]string, kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	whole := &span{0, vsize}
	tiny := func(n, step int) string {
		var s strings.Builder
		s.WriteString("bytes=")
		for i := range n {
			if i > 0 {
				s.WriteByte(',')
			}
			fmt.Fprintf(&s, "%d-%d", i*step, i*step)
		}
		return s.String()
	}

	tests := []struct {
		name, key, query string
		req              map[string]string
		status           int
		hdr              map[string]string
		body             *span  // expected slice of video (nil: see text)
		text             string // expected exact body when body is nil
		parts            []span // multipart/byteranges parts
		data             []byte // the object, when not video
	}{
		{name: "plain", key: "video.mp4", status: 200, hdr: ok, body: whole},
		{name: "download=1", key: "video.mp4", query: "download=1", status: 200,
			hdr: with(ok, "Content-Disposition", `attachment; filename="video.mp4"`), body: whole},
		{name: "download=true", key: "video.mp4", query: "x=y&download=true", status: 200,
			hdr: with(ok, "Content-Disposition", `attachment; filename="video.mp4"`), body: whole},
		{name: "download=0", key: "video.mp4", query: "download=0", status: 200, hdr: ok, body: whole},
		{name: "range first 100", key: "video.mp4", req: map[string]string{"Range": "bytes=0-99"}, status: 206,
			hdr: with(ok, "Content-Range", "bytes 0-99/"+vlen, "Content-Length", "100"), body: &span{0, 100}},
		{name: "range suffix", key: "video.mp4", req: map[string]string{"Range": "bytes=-100"}, status: 206,
			hdr:  with(ok, "Content-Range", fmt.Sprintf("bytes %d-%d/%d", vsize-100, vsize-1, vsize), "Content-Length", "100"),
			body: &span{vsize - 100, vsize}},
		{name: "range open end", key: "video.mp4", req: map[string]string{"Range": "bytes=1000-"}, status: 206,
			hdr:  with(ok, "Content-Range", fmt.Sprintf("bytes 1000-%d/%d", vsize-1, vsize), "Content-Length", strconv.FormatInt(vsize-1000, 10)),
			body: &span{1000, vsize}},
		{name: "range last clamped", key: "video.mp4", req: map[string]string{"Range": "bytes=100-99999999"}, status: 206,
			hdr:  with(ok, "Content-Range", fmt.Sprintf("bytes 100-%d/%d", vsize-1, vsize), "Content-Length", strconv.FormatInt(vsize-100, 10)),
			body: &span{100, vsize}},
		{name: "range unsatisfiable", key: "video.mp4", req: map[string]string{"Range": fmt.Sprintf("bytes=%d-", vsize)}, status: 416,
			hdr: with(failed, "Content-Range", "bytes */"+vlen), text: "416 range not satisfiable\n"},
		{name: "range malformed", key: "video.mp4", req: map[string]string{"Range": "bytes=abc"}, status: 200, hdr: ok, body: whole},
		{name: "range other unit", key: "video.mp4", req: map[string]string{"Range": "items=0-9"}, status: 200, hdr: ok, body: whole},
		{name: "range reversed", key: "video.mp4", req: map[string]string{"Range": "bytes=9-0"}, status: 200, hdr: ok, body: whole},
		{name: "multi range", key: "video.mp4", req: map[string]string{"Range": "bytes=0-9,20-29,-5"}, status: 206,
			hdr:   with(ok, "Content-Type", "multipart/byteranges; boundary=*", "Content-Length", "*"),
			parts: []span{{0, 10}, {20, 30}, {vsize - 5, vsize}}},
		{name: "multi range in request order", key: "video.mp4", req: map[string]string{"Range": "bytes=-5,20-29,0-9,25-34"}, status: 206,
			hdr:   with(ok, "Content-Type", "multipart/byteranges; boundary=*", "Content-Length", "*"),
			parts: []span{{vsize - 5, vsize}, {20, 35}, {0, 10}}},
		{name: "multi range coalesced to one", key: "video.mp4", req: map[string]string{"Range": "bytes=0-9,10-19,5-14"}, status: 206,
			hdr: with(ok, "Content-Range", "bytes 0-19/"+vlen, "Content-Length", "20"), body: &span{0, 20}},
		{name: "1000 tiny ranges with gaps", key: "video.mp4", req: map[string]string{"Range": tiny(1000, 2)}, status: 200, hdr: ok, body: whole},
		{name: "1000 adjacent tiny ranges", key: "video.mp4", req: map[string]string{"Range": tiny(1000, 1)}, status: 206,
			hdr: with(ok, "Content-Range", "bytes 0-999/"+vlen, "Content-Length", "1000"), body: &span{0, 1000}},
		{name: "too many specs", key: "video.mp4", req: map[string]string{"Range": tiny(1100, 1)}, status: 200, hdr: ok, body: whole},

		{name: "if-none-match", key: "video.mp4", req: map[string]string{"If-None-Match": `"v1"`}, status: 304, hdr: notMod},
		{name: "if-none-match weak", key: "video.mp4", req: map[string]string{"If-None-Match": `W/"v1"`}, status: 304, hdr: notMod},
		{name: "if-none-match list", key: "video.mp4", req: map[string]string{"If-None-Match": ` "x" ,W/"y",  "v1"`}, status: 304, hdr: notMod},
		{name: "if-none-match star", key: "video.mp4", req: map[string]string{"If-None-Match": `*`}, status: 304, hdr: notMod},
		{name: "if-none-match other", key: "video.mp4", req: map[string]string{"If-None-Match": `"x"`}, status: 200, hdr: ok, body: whole},
		{name: "if-none-match malformed", key: "video.mp4", req: map[string]string{"If-None-Match": `v1`}, status: 200, hdr: ok, body: whole},
		{name: "if-none-match beats range", key: "video.mp4", req: map[string]string{"If-None-Match": `"v1"`, "Range": "bytes=0-1"}, status: 304, hdr: notMod},
		{name: "if-match", key: "video.mp4", req: map[string]string{"If-Match": `"x", "v1"`}, status: 200, hdr: ok, body: whole},
		{name: "if-match star", key: "video.mp4", req: map[string]string{"If-Match": `*`}, status: 200, hdr: ok, body: whole},
		{name: "if-match fails", key: "video.mp4", req: map[string]string{"If-Match": `"x"`}, status: 412, hdr: failed, text: "412 precondition failed\n"},
		{name: "if-match weak fails", key: "video.mp4", req: map[string]string{"If-Match": `W/"v1"`}, status: 412, hdr: failed, text: "412 precondition failed\n"},
		{name: "if-match weak backend etag", key: "weak.mp4", req: map[string]string{"If-Match": `W/"w1"`}, status: 412, hdr: failed, text: "412 precondition failed\n"},
		{name: "if-unmodified-since ok", key: "video.mp4", req: map[string]string{"If-Unmodified-Since": after}, status: 200, hdr: ok, body: whole},
		{name: "if-unmodified-since equal", key: "video.mp4", req: map[string]string{"If-Unmodified-Since": lastMod}, status: 200, hdr: ok, body: whole},
		{name: "if-unmodified-since fails", key: "video.mp4", req: map[string]string{"If-Unmodified-Since": before}, status: 412, hdr: failed, text: "412 precondition failed\n"},
		{name: "if-unmodified-since invalid", key: "video.mp4", req: map[string]string{"If-Unmodified-Since": "yesterday"}, status: 200, hdr: ok, body: whole},
		{name: "if-match wins over if-unmodified-since", key: "video.mp4", req: map[string]string{"If-Match": `"v1"`, "If-Unmodified-Since": before}, status: 200, hdr: ok, body: whole},
		{name: "if-modified-since equal", key: "video.mp4", req: map[string]string{"If-Modified-Since": lastMod}, status: 304, hdr: notMod},
		{name: "if-modified-since later", key: "video.mp4", req: map[string]string{"If-Modified-Since": after}, status: 304, hdr: notMod},
		{name: "if-modified-since earlier", key: "video.mp4", req: map[string]string{"If-Modified-Since": before}, status: 200, hdr: ok, body: whole},
		{name: "if-none-match wins over if-modified-since", key: "video.mp4", req: map[string]string{"If-None-Match": `"x"`, "If-Modified-Since": lastMod}, status: 200, hdr: ok, body: whole},
		{name: "if-range etag", key: "video.mp4", req: map[string]string{"Range": "bytes=0-99", "If-Range": `"v1"`}, status: 206,
			hdr: with(ok, "Content-Range", "bytes 0-99/"+vlen, "Content-Length", "100"), body: &span{0, 100}},
		{name: "if-range etag mismatch", key: "video.mp4", req: map[string]string{"Range": "bytes=0-99", "If-Range": `"old"`}, status: 200, hdr: ok, body: whole},
		{name: "if-range weak etag", key: "video.mp4", req: map[string]string{"Range": "bytes=0-99", "If-Range": `W/"v1"`}, status: 200, hdr: ok, body: whole},
		{name: "if-range weak backend etag", key: "weak.mp4", req: map[string]string{"Range": "bytes=0-99", "If-Range": `W/"w1"`}, status: 200,
			hdr: with(ok, "Etag", `W/"w1"`, "Content-Disposition", `inline; filename="weak.mp4"`), body: whole},
		{name: "if-range date", key: "video.mp4", req: map[string]string{"Range": "bytes=0-99", "If-Range": lastMod}, status: 206,
			hdr: with(ok, "Content-Range", "bytes 0-99/"+vlen, "Content-Length", "100"), body: &span{0, 100}},
		{name: "if-range date mismatch", key: "video.mp4", req: map[string]string{"Range": "bytes=0-99", "If-Range": before}, status: 200, hdr: ok, body: whole},
		{name: "if-range garbage", key: "video.mp4", req: map[string]string{"Range": "bytes=0-99", "If-Range": "whatever"}, status: 200, hdr: ok, body: whole},
		{name: "if-range without range", key: "video.mp4", req: map[string]string{"If-Range": `"old"`}, status: 200, hdr: ok, body: whole},
		{name: "if-range date without modtime", key: "noval.mp4", req: map[string]string{"Range": "bytes=0-99", "If-Range": lastMod}, status: 200,
			hdr: with(ok, "Etag", absent, "Last-Modified", absent, "Content-Disposition", `inline; filename="noval.mp4"`), body: whole},
		{name: "unquoted backend etag is quoted", key: "unquoted.mp4", req: map[string]string{"Range": "bytes=0-99", "If-Range": `"abc"`}, status: 206,
			hdr: with(ok, "Etag", `"abc"`, "Content-Range", "bytes 0-99/"+vlen, "Content-Length", "100", "Content-Disposition", `inline; filename="unquoted.mp4"`), body: &span{0, 100}},
		{name: "broken backend etag is dropped", key: "bad-etag.mp4", status: 200,
			hdr: with(ok, "Etag", absent, "Content-Disposition", `inline; filename="bad-etag.mp4"`), body: whole},

		{name: "text", key: "dir/hello.txt", status: 200, data: text,
			hdr: with(ok, "Etag", `"t1"`, "Content-Type", "text/plain; charset=utf-8", "Content-Length", strconv.Itoa(len(text)),
				"Content-Disposition", `inline; filename="hello.txt"`), body: &span{0, int64(len(text))}},
		{name: "text range splitting a rune", key: "dir/hello.txt", req: map[string]string{"Range": "bytes=1-10"}, status: 206, data: text,
			hdr: with(ok, "Etag", `"t1"`, "Content-Type", "text/plain; charset=utf-8", "Content-Length", "10",
				"Content-Range", fmt.Sprintf("bytes 1-10/%d", len(text)), "Content-Disposition", `inline; filename="hello.txt"`), body: &span{1, 11}},
		{name: "empty", key: "empty.txt", req: map[string]string{"Range": "bytes=0-9"}, status: 200, data: []byte{},
			hdr: with(ok, "Etag", `"e"`, "Content-Type", "text/plain; charset=utf-8", "Content-Length", "0",
				"Content-Disposition", `inline; filename="empty.txt"`), body: &span{0, 0}},
		{name: "s3 default type is sniffed", key: "s3default.bin", status: 200,
			hdr: with(ok, "Etag", `"s3"`, "Content-Disposition", `inline; filename="s3default.bin"`), body: whole},
		{name: "backend text type gets charset", key: "table.csv", status: 200, data: []byte("a,b\n1,2\n"),
			hdr: with(ok, "Etag", `"c"`, "Content-Type", "text/csv; charset=utf-8", "Content-Length", "8",
				"Content-Disposition", `inline; filename="table.csv"`), body: &span{0, 8}},
		{name: "utf-8 name", key: `dir/vidéo 𝄞 "q".mp4`, query: "download=1", status: 200,
			hdr: with(ok, "Etag", `"u"`, "Content-Disposition",
				`attachment; filename="vid_o _ _q_.mp4"; filename*=UTF-8''vid%C3%A9o%20%F0%9D%84%9E%20%22q%22.mp4`), body: whole},

		{name: "missing", key: "nope.mp4", status: 404, hdr: failed, text: "404 not found\n"},
		{name: "invalid key", key: "a/%2e%2e/video.mp4", status: 404, hdr: failed, text: "404 not found\n"},
		{name: "directory", key: "adir", status: 404, hdr: failed, text: "404 not found\n"},
		{name: "permission", key: "forbidden.mp4", status: 403, hdr: failed, text: "403 forbidden\n"},
		{name: "unavailable", key: "down.mp4", status: 502, hdr: failed, text: "502 bad gateway\n"},
		{name: "untranslated error", key: "odd.mp4", status: 502, hdr: failed, text: "502 bad gateway\n"},
		{name: "deadline", key: "slow.mp4", status: 504, hdr: failed, text: "504 gateway timeout\n"},
		{name: "net timeout", key: "nettimeout.mp4", status: 504, hdr: failed, text: "504 gateway timeout\n"},
	}
	for _, tt := range tests {
		for _, method := range []string{"GET", "HEAD"} {
			t.Run(method+" "+tt.name, func(t *testing.T) {
				tgt := target(tt.key, tt.query)
				if tt.name == "invalid key" {
					tgt = "/" + tt.key
				}
				w := serve(h, method, tgt, tt.req)
				res := w.Result()
				if res.StatusCode != tt.status {
					t.Fatalf("%s %s %v: status = %d, want %d (body %q)", method, tgt, tt.req, res.StatusCode, tt.status, w.Body.String())
				}
				checkHeaders(t, tt.name, res.Header, tt.hdr)
				body := w.Body.Bytes()
				if method == "HEAD" {
					if len(body) != 0 {
						t.Errorf("HEAD: body has %d bytes, want none", len(body))
					}
					return
				}
				if cl := res.Header.Get("Content-Length"); cl != "" && cl != strconv.Itoa(len(body)) {
					t.Errorf("Content-Length = %s, body has %d bytes", cl, len(body))
				}
				data := video
				if tt.data != nil {
					data = tt.data
				}
				switch {
				case tt.parts != nil:
					checkMultipart(t, res.Header.Get("Content-Type"), body, data, tt.parts, "video/mp4")
				case tt.body != nil:
					if want := data[tt.body.start:tt.body.end]; !bytes.Equal(body, want) {
						t.Errorf("body: %d bytes sha256 %s, want bytes [%d,%d) sha256 %s", len(body), sum(body), tt.body.start, tt.body.end, sum(want))
					}
				default:
					if string(body) != tt.text {
						t.Errorf("body = %q, want %q", body, tt.text)
					}
				}
			})
		}
	}
}

// checkMultipart parses a multipart/byteranges body and checks every part.
func checkMultipart(t *testing.T, ctype string, body, data []byte, want []span, partType string) {
	t.Helper()
	mt, params, err := mime.ParseMediaType(ctype)
	if err != nil || mt != "multipart/byteranges" {
		t.Fatalf("Content-Type = %q (%v), want multipart/byteranges", ctype, err)
	}
	mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	for i := 0; ; i++ {
		p, err := mr.NextPart()
		if err == io.EOF {
			if i != len(want) {
				t.Fatalf("got %d parts, want %d", i, len(want))
			}
			return
		}
		if err != nil {
			t.Fatalf("part %d: %v", i, err)
		}
		if i >= len(want) {
			t.Fatalf("more than %d parts", len(want))
		}
		got, err := io.ReadAll(p)
		if err != nil {
			t.Fatalf("part %d: %v", i, err)
		}
		s := want[i]
		if cr, w := p.Header.Get("Content-Range"), fmt.Sprintf("bytes %d-%d/%d", s.start, s.end-1, len(data)); cr != w {
			t.Errorf("part %d: Content-Range = %q, want %q", i, cr, w)
		}
		if ct := p.Header.Get("Content-Type"); ct != partType {
			t.Errorf("part %d: Content-Type = %q, want %q", i, ct, partType)
		}
		if !bytes.Equal(got, data[s.start:s.end]) {
			t.Errorf("part %d: %d bytes sha256 %s, want [%d,%d) sha256 %s", i, len(got), sum(got), s.start, s.end, sum(data[s.start:s.end]))
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// checkHeaders compares hdr with want: a value ending in "*" is a prefix,
// [absent] means the header must not be sent.
func checkHeaders(t *testing.T, name string, hdr http.Header, want map[string]string) {
	t.Helper()
	for k, w := range want {
		got, present := hdr[http.CanonicalHeaderKey(k)]
		switch {
		case w == absent:
			if present && len(got) > 0 { // a nil value suppresses the header
				t.Errorf("%s: header %s = %q, want none", name, k, got)
			}
		case strings.HasSuffix(w, "*"):
			if len(got) != 1 || !strings.HasPrefix(got[0], strings.TrimSuffix(w, "*")) {
				t.Errorf("%s: header %s = %q, want prefix %q", name, k, got, w)
			}
		case len(got) != 1 || got[0] != w:
			t.Errorf("%s: header %s = %q, want %q", name, k, got, w)
		}
	}
}

// checkMultipartAny checks a multipart/byteranges body whose parts are not
// known in advance: each part's bytes must be what its Content-Range says,
// the parts apart (neither overlapping nor adjacent: rangeio coalesces
// those) but in the request's order, not sorted, and their total no more
// than the object.
func checkMultipartAny(t *testing.T, ctype string, body, data []byte) {
	t.Helper()
	mt, params, err := mime.ParseMediaType(ctype)
	if err != nil || mt != "multipart/byteranges" {
		t.Fatalf("Content-Type = %q (%v), want multipart/byteranges", ctype, err)
	}
	mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	var total int64
	var seen [][2]int64
	n := 0
	for ; ; n++ {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("part %d: %v", n, err)
		}
		got, err := io.ReadAll(p)
		if err != nil {
			t.Fatalf("part %d: %v", n, err)
		}
		var first, last, size int64
		if _, err := fmt.Sscanf(p.Header.Get("Content-Range"), "bytes %d-%d/%d", &first, &last, &size); err != nil ||
			size != int64(len(data)) || last < first || last >= size {
			t.Fatalf("part %d: bad Content-Range %q", n, p.Header.Get("Content-Range"))
		}
		for _, o := range seen {
			if first <= o[1]+1 && o[0] <= last+1 {
				t.Fatalf("part %d (%s) overlaps or touches the part of bytes %d-%d: they should have been coalesced", n, p.Header.Get("Content-Range"), o[0], o[1])
			}
		}
		seen = append(seen, [2]int64{first, last})
		if !bytes.Equal(got, data[first:last+1]) {
			t.Fatalf("part %d (%s): wrong bytes", n, p.Header.Get("Content-Range"))
		}
		total += last - first + 1
	}
	if n < 2 || total > int64(len(data)) {
		t.Fatalf("%d parts totalling %d bytes of a %d-byte object", n, total, len(data))
	}
}

func TestHTTPDate(t *testing.T) {
	for _, sec := range []int64{0, 1, 256, 257, 1e9, 1e9 + 256, -1} {
		tm := time.Unix(sec, 999_999_999).In(time.FixedZone("X", 3600))
		want := tm.UTC().Format(http.TimeFormat)
		for range 2 { // the second time from the table
			if got := media.HTTPDate(tm); got != want {
				t.Errorf("httpDate(%d) = %q, want %q", sec, got, want)
			}
		}
	}
}
