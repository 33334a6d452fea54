package media_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/rangeserve/rangeserve/media"
)

// FuzzServe sends random Range and conditional headers through the handler
// against an in-memory object and checks the invariants: never a 5xx or a
// panic, only the statuses the headers can lead to, and bodies that are
// exactly the right bytes of the object (whole for 200, the announced slice
// for a single-range 206, every part of a multipart 206).
func FuzzServe(f *testing.F) {
	lm := modTime.Format(http.TimeFormat)
	f.Add("bytes=0-99", "", "", "", "", "", false)
	f.Add("bytes=-5", `"f"`, "", "", "", "", false)
	f.Add("bytes=0-0,2-3,999-", "", "", "", "", "", true)
	f.Add("bytes=5000-", "", "", "", "", "", false)
	f.Add("bytes=0-1", lm, `"f"`, `"x"`, lm, lm, false)
	f.Add("items=1-2", `W/"f"`, "*", "*", "", "", false)
	f.Add("bytes=1-2,,3-4", "", `"a", "f"`, `W/"f"`, "garbage", "Mon, 02 Jan 2006 15:04:05 GMT", true)

	data := make([]byte, 1000)
	rnd := rand.New(rand.NewPCG(1, 2))
	for i := range data {
		data[i] = byte(rnd.Uint32())
	}
	b := newMem()
	b.put("f.bin", &entry{data: data, etag: `"f"`, mod: modTime})
	h := newHandler(f, b, media.Options{MaxRanges: 8})

	f.Fuzz(func(t *testing.T, rng, ifRange, ifMatch, ifNoneMatch, ims, ius string, head bool) {
		method := "GET"
		if head {
			method = "HEAD"
		}
		r := httptest.NewRequest(method, "/f.bin", nil)
		for k, v := range map[string]string{"Range": rng, "If-Range": ifRange, "If-Match": ifMatch,
			"If-None-Match": ifNoneMatch, "If-Modified-Since": ims, "If-Unmodified-Since": ius} {
			if v != "" {
				r.Header.Set(k, v)
			}
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		body := w.Body.Bytes()
		if head && len(body) != 0 {
			t.Fatalf("HEAD: %d body bytes", len(body))
		}
		hdr := w.Header()
		switch w.Code {
		case 304, 412:
		case 416:
			if cr := hdr.Get("Content-Range"); cr != "bytes */1000" {
				t.Fatalf("416 with Content-Range %q", cr)
			}
		case 200:
			if hdr.Get("Content-Length") != "1000" || !head && !bytes.Equal(body, data) {
				t.Fatalf("200: Content-Length %s, %d body bytes, not the object", hdr.Get("Content-Length"), len(body))
			}
		case 206:
			if rng == "" {
				t.Fatal("206 without a Range header")
			}
			if cr := hdr.Get("Content-Range"); cr != "" {
				var first, last, size int64
				if _, err := fmt.Sscanf(cr, "bytes %d-%d/%d", &first, &last, &size); err != nil || size != 1000 ||
					first < 0 || last < first || last >= size {
					t.Fatalf("bad Content-Range %q", cr)
				}
				if hdr.Get("Content-Length") != strconv.FormatInt(last-first+1, 10) {
					t.Fatalf("Content-Range %q with Content-Length %s", cr, hdr.Get("Content-Length"))
				}
				if !head && !bytes.Equal(body, data[first:last+1]) {
					t.Fatalf("Content-Range %q: body is not that slice of the object", cr)
				}
				return
			}
			if head {
				return
			}
			if hdr.Get("Content-Length") != strconv.Itoa(len(body)) {
				t.Fatalf("multipart: Content-Length %s, body %d bytes", hdr.Get("Content-Length"), len(body))
			}
			checkMultipartAny(t, hdr.Get("Content-Type"), body, data)
		default:
			t.Fatalf("status %d (range %q)", w.Code, rng)
		}
	})
}

// FuzzDelegateRange sends random Range headers to an x-accel handler and
// checks the rule of delegation: the proxy gets a request only when serve
// mode would answer it with the whole object or exactly the one range the
// proxy will send (no header, or one satisfiable spec); any other request
// is answered here exactly as serve mode answers it (same status and
// length), so the proxy never multiplies ranges.
func FuzzDelegateRange(f *testing.F) {
	for _, s := range []string{"", "bytes=0-99", "bytes=-5", "bytes=0-0,0-0,0-0", "bytes=0-9,", "bytes=5000-",
		"items=1-2", "bytes=abc", "bytes=9-0", "bytes=-0", " bytes = 1-2", "bytes=0-0,-1"} {
		f.Add(s, false)
	}
	data := make([]byte, 1000)
	b := newMem()
	b.put("f.bin", &entry{data: data, etag: `"f"`, mod: modTime, ctype: "video/mp4"})
	accel := newHandler(f, b, media.Options{Mode: media.ModeXAccel, InternalPrefix: "/_p", MaxRanges: 8})
	serveH := newHandler(f, b, media.Options{MaxRanges: 8})
	f.Fuzz(func(t *testing.T, rng string, head bool) {
		method := "GET"
		if head {
			method = "HEAD"
		}
		do := func(h http.Handler) *httptest.ResponseRecorder {
			r := httptest.NewRequest(method, "/f.bin", nil)
			if rng != "" {
				r.Header.Set("Range", rng)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			return w
		}
		a, s := do(accel), do(serveH)
		if a.Header().Get("X-Accel-Redirect") != "" {
			// nginx applies rng itself: it must be nothing, or serve
			// mode's answer must be one part that nginx sends as well.
			if a.Code != 200 || a.Body.Len() != 0 {
				t.Fatalf("delegated with status %d and %d body bytes", a.Code, a.Body.Len())
			}
			if s.Code == 206 && s.Header().Get("Content-Range") == "" || s.Code == 416 {
				t.Fatalf("Range %q delegated, but serve mode answers %d %q", rng, s.Code, s.Header().Get("Content-Type"))
			}
			if s.Code == 200 && rng != "" {
				t.Fatalf("Range %q delegated, but serve mode ignores it", rng)
			}
			return
		}
		if a.Code != s.Code || a.Header().Get("Content-Length") != s.Header().Get("Content-Length") ||
			a.Header().Get("Content-Range") != s.Header().Get("Content-Range") {
			t.Fatalf("Range %q served here: %d length %s range %q; serve mode: %d length %s range %q", rng,
				a.Code, a.Header().Get("Content-Length"), a.Header().Get("Content-Range"),
				s.Code, s.Header().Get("Content-Length"), s.Header().Get("Content-Range"))
		}
	})
}
