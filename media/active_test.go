package media_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/rangeserve/rangeserve/media"
)

// activeTypes lists content types (as a backend reports them) and whether
// a browser would run script in a document of that type.
var activeTypes = []struct {
	ctype  string
	active bool
}{
	{"text/html; charset=utf-8", true},
	{"TEXT/HTML", true},
	{"application/xhtml+xml", true},
	{"image/svg+xml", true},
	{"text/xml", true},
	{"application/xml", true},
	{"text/xsl", true},
	{"application/atom+xml", true},
	{"application/rss+xml; charset=utf-8", true},
	{"application/mathml+xml", true},
	{"application/xslt+xml", true},
	{"APPLICATION/VND.EXAMPLE+XML", true},
	{"application/dash+xml", true},
	{"video/mp4", false},
	{"text/plain; charset=utf-8", false},
	{"application/json", false},
	{"text/css", false},
	{"text/javascript", false},
	{"image/png", false},
	{"application/xml-dtd", false},
}

// TestActiveContentNeverDelegated: the front proxy drops our
// Content-Security-Policy and X-Content-Type-Options when it follows
// X-Accel-Redirect (nginx keeps only Content-Type, Content-Disposition
// and a few others), so active content is served by the handler itself,
// sandboxed, in x-accel and x-sendfile mode; in serve mode it gets the
// sandbox; in redirect mode the presigned URL makes the store send it as
// an attachment.
func TestActiveContentNeverDelegated(t *testing.T) {
	mem := newMem()
	del := &delegatingBackend{memBackend: mem}
	for i, tt := range activeTypes {
		mem.put(fmt.Sprintf("f%d", i), &entry{data: []byte("<x>payload</x>"), etag: `"a"`, mod: modTime, ctype: tt.ctype})
	}
	serveH := newHandler(t, mem, media.Options{})
	accel := newHandler(t, mem, media.Options{Mode: media.ModeXAccel, InternalPrefix: "/_p"})
	sendfile := newHandler(t, del, media.Options{Mode: media.ModeXSendfile})
	redirect := newHandler(t, del, media.Options{Mode: media.ModeRedirect})
	for i, tt := range activeTypes {
		key := fmt.Sprintf("f%d", i)
		for _, method := range []string{"GET", "HEAD"} {
			name := method + " " + tt.ctype
			w := serve(serveH, method, "/"+key, nil)
			if csp := w.Header().Get("Content-Security-Policy"); (csp != "") != tt.active || tt.active && !strings.HasPrefix(csp, "sandbox") {
				t.Errorf("serve %s: Content-Security-Policy %q, want sandbox=%v", name, csp, tt.active)
			}
			for _, d := range []struct {
				mode   string
				h      *media.Handler
				header string
			}{{"x-accel", accel, "X-Accel-Redirect"}, {"x-sendfile", sendfile, "X-Sendfile"}} {
				w := serve(d.h, method, "/"+key, nil)
				delegated := w.Header().Get(d.header) != ""
				if delegated == tt.active {
					t.Errorf("%s %s: delegated=%v, want %v", d.mode, name, delegated, !tt.active)
				}
				if tt.active {
					csp := w.Header().Get("Content-Security-Policy")
					if w.Code != 200 || !strings.HasPrefix(csp, "sandbox") || w.Header().Get("X-Content-Type-Options") != "nosniff" {
						t.Errorf("%s %s: %d CSP %q nosniff %q, want 200 served here with the sandbox", d.mode, name, w.Code, csp, w.Header().Get("X-Content-Type-Options"))
					}
					if want := map[string]string{"GET": "<x>payload</x>", "HEAD": ""}[method]; w.Body.String() != want {
						t.Errorf("%s %s: body %q, want %q", d.mode, name, w.Body.String(), want)
					}
				}
			}
		}
		w := serve(redirect, "GET", "/"+key, nil)
		if w.Code != 307 {
			t.Errorf("redirect %s: status %d, want 307", tt.ctype, w.Code)
			continue
		}
		loc, _ := url.Parse(w.Header().Get("Location"))
		cd := loc.Query().Get("response-content-disposition")
		if strings.HasPrefix(cd, "attachment") != tt.active {
			t.Errorf("redirect %s: response-content-disposition %q, want attachment=%v", tt.ctype, cd, tt.active)
		}
	}
}

// TestUnknownTypeDelegatedAsOctetStream: when neither the backend nor the
// extension gives a type, the proxy is told application/octet-stream
// (which browsers never render) instead of guessing one from the
// extension with its own table, which may say text/html where ours is
// silent.
func TestUnknownTypeDelegatedAsOctetStream(t *testing.T) {
	mem := newMem()
	mem.put("mystery", &entry{data: []byte("<script>x</script>"), etag: `"m"`, mod: modTime})
	mem.put("page.zzshtml", &entry{data: []byte("<script>x</script>"), etag: `"m"`, mod: modTime})
	del := &delegatingBackend{memBackend: mem}
	accel := newHandler(t, mem, media.Options{Mode: media.ModeXAccel, InternalPrefix: "/_p"})
	redirect := newHandler(t, del, media.Options{Mode: media.ModeRedirect})
	for _, key := range []string{"mystery", "page.zzshtml"} {
		w := serve(accel, "GET", "/"+key, nil)
		if w.Header().Get("X-Accel-Redirect") == "" || w.Header().Get("Content-Type") != "application/octet-stream" {
			t.Errorf("x-accel %s: X-Accel-Redirect %q Content-Type %q, want delegated as application/octet-stream",
				key, w.Header().Get("X-Accel-Redirect"), w.Header().Get("Content-Type"))
		}
		w = serve(redirect, "GET", "/"+key, nil)
		loc, _ := url.Parse(w.Header().Get("Location"))
		if q := loc.Query(); q.Get("response-content-type") != "application/octet-stream" || !strings.HasPrefix(q.Get("response-content-disposition"), "attachment") {
			t.Errorf("redirect %s: Location %s, want application/octet-stream as an attachment", key, loc)
		}
	}
}

// TestDelegatedRanges: before delegating, the Range header is evaluated
// as serve mode would. The proxy gets plain requests and a single
// satisfiable range; an unsatisfiable range is answered 416 here; every
// request for several ranges (which serve mode coalesces, caps or ignores,
// and nginx would answer with one part per range: 1,000 overlapping
// ranges, 1,000 parts) and every malformed header (which serve mode
// ignores, nginx may answer 416) is served here.
func TestDelegatedRanges(t *testing.T) {
	mem, files := fixture(t)
	video := files["video"]
	vsize := len(video)
	del := &delegatingBackend{memBackend: mem}
	accel := newHandler(t, mem, media.Options{Mode: media.ModeXAccel, InternalPrefix: "/_p"})
	sendfile := newHandler(t, del, media.Options{Mode: media.ModeXSendfile})
	many := "bytes=" + strings.Repeat("0-0,", 999) + "0-0"
	tests := []struct {
		name      string
		rng       []string // Range header lines
		delegated bool
		status    int    // when served here
		body      string // when served here (GET), "" for no check
	}{
		{"no range", nil, true, 0, ""},
		{"single range", []string{"bytes=0-99"}, true, 0, ""},
		{"suffix", []string{"bytes=-100"}, true, 0, ""},
		{"open", []string{"bytes=100-"}, true, 0, ""},
		{"clamped", []string{fmt.Sprintf("bytes=%d-%d", vsize-10, vsize+100)}, true, 0, ""},
		{"other unit", []string{"items=0-1"}, false, 200, string(video)},
		{"malformed", []string{"bytes=abc"}, false, 200, string(video)},
		{"reversed", []string{"bytes=9-0"}, false, 200, string(video)},
		{"unsatisfiable", []string{fmt.Sprintf("bytes=%d-", vsize)}, false, 416, "416 range not satisfiable\n"},
		{"unsatisfiable suffix", []string{"bytes=-0"}, false, 416, "416 range not satisfiable\n"},
		{"1000 overlapping ranges", []string{many}, false, 206, string(video[:1])},
		{"two ranges coalesced", []string{"bytes=0-9,10-19"}, false, 206, string(video[:20])},
		{"two ranges", []string{"bytes=0-0,-1"}, false, 206, ""},
		{"trailing comma", []string{"bytes=0-9,"}, false, 206, string(video[:10])},
		{"too many", []string{tinyRanges(40)}, false, 200, string(video)},
		{"two Range lines", []string{"bytes=0-0", "bytes=1-1"}, false, 0, ""},
	}
	for _, tt := range tests {
		for _, d := range []struct {
			mode   string
			h      *media.Handler
			header string
		}{{"x-accel", accel, "X-Accel-Redirect"}, {"x-sendfile", sendfile, "X-Sendfile"}} {
			for _, method := range []string{"GET", "HEAD"} {
				name := d.mode + " " + method + " " + tt.name
				r := httptest.NewRequest(method, "/video.mp4", nil)
				for _, v := range tt.rng {
					r.Header.Add("Range", v)
				}
				w := httptest.NewRecorder()
				d.h.ServeHTTP(w, r)
				delegated := w.Header().Get(d.header) != ""
				if delegated != tt.delegated {
					t.Errorf("%s: delegated=%v (status %d), want %v", name, delegated, w.Code, tt.delegated)
					continue
				}
				if delegated {
					continue
				}
				if tt.status != 0 && w.Code != tt.status {
					t.Errorf("%s: status %d, want %d", name, w.Code, tt.status)
				}
				if w.Code == 416 && w.Header().Get("Content-Range") != fmt.Sprintf("bytes */%d", vsize) {
					t.Errorf("%s: Content-Range %q", name, w.Header().Get("Content-Range"))
				}
				if method == "GET" && tt.body != "" && w.Body.String() != tt.body {
					t.Errorf("%s: body of %d bytes, want %d", name, w.Body.Len(), len(tt.body))
				}
				if method == "GET" && w.Body.Len() > vsize+1000 {
					t.Errorf("%s: %d bytes for an object of %d", name, w.Body.Len(), vsize)
				}
			}
		}
	}
}

// tinyRanges returns a Range header of n disjoint one-byte ranges.
func tinyRanges(n int) string {
	var b strings.Builder
	b.WriteString("bytes=")
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%d-%d", 2*i, 2*i)
	}
	return b.String()
}

// TestOutcome: the handler reports the strategy it used through the
// Outcome its caller attached, and none when it refused the request
// before choosing one.
func TestOutcome(t *testing.T) {
	mem, _ := fixture(t)
	mem.put("page.html", &entry{data: []byte("<p>hi</p>"), etag: `"p"`, mod: modTime})
	mem.put("stream.bin", &entry{data: []byte("streamed"), size: -1, stream: true})
	del := &delegatingBackend{memBackend: mem}
	serveH := newHandler(t, mem, media.Options{})
	accel := newHandler(t, mem, media.Options{Mode: media.ModeXAccel, InternalPrefix: "/_p"})
	sendfile := newHandler(t, del, media.Options{Mode: media.ModeXSendfile})
	redirect := newHandler(t, del, media.Options{Mode: media.ModeRedirect})
	tests := []struct {
		name   string
		h      *media.Handler
		method string
		key    string
		rng    string
		want   media.Strategy
	}{
		{"serve", serveH, "GET", "video.mp4", "", media.StrategyServe},
		{"serve 304", serveH, "GET", "video.mp4", "", media.StrategyServe},
		{"stream", serveH, "GET", "stream.bin", "", media.StrategyStream},
		{"serve missing", serveH, "GET", "nope", "", ""},
		{"bad method", serveH, "POST", "video.mp4", "", ""},
		{"hidden", serveH, "GET", ".env", "", ""},
		{"x-accel", accel, "GET", "video.mp4", "bytes=0-9", media.StrategyXAccel},
		{"x-accel multi range served", accel, "GET", "video.mp4", "bytes=0-0,2-2", media.StrategyServe},
		{"x-accel active served", accel, "GET", "page.html", "", media.StrategyServe},
		{"x-accel missing", accel, "GET", "nope", "", ""},
		{"x-sendfile", sendfile, "GET", "video.mp4", "", media.StrategyXSendfile},
		{"redirect", redirect, "GET", "video.mp4", "", media.StrategyRedirect},
		{"redirect HEAD answered here", redirect, "HEAD", "video.mp4", "", media.StrategyServe},
		{"redirect multi range served", redirect, "GET", "video.mp4", "bytes=0-0,2-2", media.StrategyServe},
	}
	for _, tt := range tests {
		var o media.Outcome
		r := httptest.NewRequestWithContext(media.WithOutcome(context.Background(), &o), tt.method, "/"+tt.key, nil)
		if tt.rng != "" {
			r.Header.Set("Range", tt.rng)
		}
		if tt.name == "serve 304" {
			r.Header.Set("If-None-Match", `"v1"`)
		}
		tt.h.ServeHTTP(httptest.NewRecorder(), r)
		if o.Strategy != tt.want {
			t.Errorf("%s: Strategy %q, want %q", tt.name, o.Strategy, tt.want)
		}
	}
	// Without an Outcome nothing breaks.
	if w := serve(serveH, "GET", "/video.mp4", nil); w.Code != 200 {
		t.Errorf("without an Outcome: %d", w.Code)
	}
}
