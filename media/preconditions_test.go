package media_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/rangeserve/rangeserve/media"
)

// TestServeContentParity ports the precondition and range cases of
// TestServeContent in Go's src/net/http/fs_test.go. Each case serves the
// 8-byte object "content" with the case's ETag and modification time, by
// GET and by HEAD, and must get net/http's status, except where rangeserve
// deliberately differs (noted).
func TestServeContentParity(t *testing.T) {
	htmlModTime := time.Date(2014, 6, 25, 17, 12, 18, 0, time.UTC)
	tests := map[string]struct {
		etag             string
		modtime          time.Time
		req              map[string]string
		status           int
		wantLastMod      string
		wantContentRange string
	}{
		"no_last_modified":   {status: 200, wantLastMod: absent},
		"with_last_modified": {modtime: htmlModTime, status: 200, wantLastMod: "Wed, 25 Jun 2014 17:12:18 GMT"},
		"not_modified_modtime": {modtime: htmlModTime, status: 304,
			req: map[string]string{"If-Modified-Since": htmlModTime.UTC().Format(http.TimeFormat)}},
		"not_modified_etag":         {etag: `"foo"`, req: map[string]string{"If-None-Match": `"foo"`}, status: 304},
		"not_modified_etag_no_seek": {etag: `W/"foo"`, req: map[string]string{"If-None-Match": `"baz", W/"foo"`}, status: 304},
		"if_none_match_mismatch":    {etag: `"foo"`, req: map[string]string{"If-None-Match": `"Foo"`}, status: 200},
		"if_none_match_malformed":   {etag: `"foo"`, req: map[string]string{"If-None-Match": `,`}, status: 200},
		"range_good": {etag: `"A"`, req: map[string]string{"Range": "bytes=0-4"}, status: 206,
			wantContentRange: "bytes 0-4/8"},
		"range_match": {etag: `"A"`, req: map[string]string{"Range": "bytes=0-4", "If-Range": `"A"`}, status: 206,
			wantContentRange: "bytes 0-4/8"},
		"range_match_weak_etag": {etag: `W/"A"`, req: map[string]string{"Range": "bytes=0-4", "If-Range": `W/"A"`}, status: 200},
		"range_no_overlap": {etag: `"A"`, req: map[string]string{"Range": "bytes=10-20"}, status: 416,
			wantContentRange: "bytes */8"},
		// net/http answers 416 to a malformed Range; rangeserve ignores it
		// (RFC 9110 §14.2) and serves 200, as nginx does.
		"range_malformed": {etag: `"A"`, req: map[string]string{"Range": "bytes=4-2"}, status: 200},
		"range_no_match":  {etag: `"A"`, req: map[string]string{"Range": "bytes=0-4", "If-Range": `"B"`}, status: 200},
		"range_with_modtime": {modtime: htmlModTime, req: map[string]string{"Range": "bytes=0-4", "If-Range": "Wed, 25 Jun 2014 17:12:18 GMT"},
			status: 206, wantContentRange: "bytes 0-4/8", wantLastMod: "Wed, 25 Jun 2014 17:12:18 GMT"},
		"range_with_modtime_mismatch": {modtime: htmlModTime, req: map[string]string{"Range": "bytes=0-4", "If-Range": "Wed, 25 Jun 2014 17:12:19 GMT"},
			status: 200, wantLastMod: "Wed, 25 Jun 2014 17:12:18 GMT"},
		"range_with_modtime_nanos": {modtime: time.Date(2014, 6, 25, 17, 12, 18, 123, time.UTC),
			req:    map[string]string{"Range": "bytes=0-4", "If-Range": "Wed, 25 Jun 2014 17:12:18 GMT"},
			status: 206, wantContentRange: "bytes 0-4/8", wantLastMod: "Wed, 25 Jun 2014 17:12:18 GMT"},
		"unix_zero_modtime":          {modtime: time.Unix(0, 0), status: 200, wantLastMod: absent},
		"ifmatch_matches":            {etag: `"A"`, req: map[string]string{"If-Match": `"Z", "A"`}, status: 200},
		"ifmatch_star":               {etag: `"A"`, req: map[string]string{"If-Match": `*`}, status: 200},
		"ifmatch_failed":             {etag: `"A"`, req: map[string]string{"If-Match": `"B"`}, status: 412},
		"ifmatch_fails_on_weak_etag": {etag: `W/"A"`, req: map[string]string{"If-Match": `W/"A"`}, status: 412},
		"if_unmodified_since_true": {modtime: htmlModTime, status: 200,
			req: map[string]string{"If-Unmodified-Since": htmlModTime.UTC().Format(http.TimeFormat)}},
		"if_unmodified_since_false": {modtime: htmlModTime, status: 412,
			req: map[string]string{"If-Unmodified-Since": htmlModTime.Add(-2 * time.Second).UTC().Format(http.TimeFormat)}},
	}
	for name, tt := range tests {
		b := newMem()
		b.put("content", &entry{data: []byte("01234567"), etag: tt.etag, mod: tt.modtime})
		h := newHandler(t, b, media.Options{})
		for _, method := range []string{"GET", "HEAD"} {
			w := serve(h, method, "/content", tt.req)
			if w.Code != tt.status {
				t.Errorf("%s %s: status = %d, want %d", method, name, w.Code, tt.status)
			}
			want := map[string]string{}
			if tt.wantLastMod != "" {
				want["Last-Modified"] = tt.wantLastMod
			}
			if tt.wantContentRange != "" {
				want["Content-Range"] = tt.wantContentRange
			}
			checkHeaders(t, method+" "+name, w.Result().Header, want)
		}
	}
}

// TestListHeaderLines checks that a list header sent as several field
// lines is read as one list.
func TestListHeaderLines(t *testing.T) {
	b := newMem()
	b.put("x", &entry{data: []byte("x"), etag: `"c"`, mod: modTime})
	h := newHandler(t, b, media.Options{})
	for _, tt := range []struct {
		header string
		values []string
		status int
	}{
		{"If-None-Match", []string{`"a"`, `"b", "c"`}, 304},
		{"If-None-Match", []string{`"a"`, `"b"`}, 200},
		{"If-Match", []string{`"a"`, `"c"`}, 200},
		{"If-Match", []string{`"a"`, `"b"`}, 412},
	} {
		r, _ := http.NewRequest("GET", "/x", nil)
		r.Header[tt.header] = tt.values
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != tt.status {
			t.Errorf("%s: %q: status = %d, want %d", tt.header, tt.values, w.Code, tt.status)
		}
	}
}
