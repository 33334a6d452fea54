package media

import (
	"net/http"
	"net/textproto"
	"strings"
	"time"

	"github.com/rangeserve/rangeserve/storage"
)

// setValidators sets ETag, Last-Modified and Cache-Control for info and
// returns the normalized ETag.
func (h *Handler) setValidators(hw *headerWriter, info storage.Info) string {
	etag := normalizeETag(info.ETag)
	if etag != "" {
		hw.set("Etag", etag)
	}
	if !isZeroTime(info.ModTime) {
		hw.set("Last-Modified", httpDate(info.ModTime))
	}
	if h.opts.CacheControl != "" {
		hw.set("Cache-Control", h.opts.CacheControl)
	}
	return etag
}

// writeNotModified answers 304: the validators and Cache-Control already
// set stay, nothing describing a body does.
func writeNotModified(w http.ResponseWriter) {
	hdr := w.Header()
	for _, k := range []string{"Content-Type", "Content-Length", "Content-Encoding", "Content-Disposition", "Content-Range"} {
		delete(hdr, k)
	}
	w.WriteHeader(http.StatusNotModified)
}

// preconditions sets the validators of info and evaluates the request's
// conditional headers against them. done reports that the response (304 or
// 412) is written; otherwise useRange says whether a Range header applies.
func (h *Handler) preconditions(w http.ResponseWriter, r *http.Request, hw *headerWriter, info storage.Info) (useRange, done bool) {
	etag := h.setValidators(hw, info)
	v, useRange := evalPreconditions(r, etag, info.ModTime)
	switch v {
	case notModified:
		writeNotModified(w)
		return false, true
	case preconditionFailed:
		writeStatus(w, r, http.StatusPreconditionFailed)
		return false, true
	}
	return useRange, false
}

// condResult is the outcome of one precondition header: absent (or to be
// ignored), true or false. The checks are ported from net/http's fs.go.
type condResult int

const (
	condNone condResult = iota
	condTrue
	condFalse
)

// verdict is what the preconditions decide as a whole.
type verdict int

const (
	// proceed: serve the representation (200 or 206).
	proceed verdict = iota
	// notModified: answer 304.
	notModified
	// preconditionFailed: answer 412.
	preconditionFailed
)

// evalPreconditions applies the conditional headers of r, in the order of
// RFC 9110 §13.2.2, to a representation with the given entity tag
// (complete and quoted, or "") and modification time (zero when unknown):
//
//  1. If-Match, or when absent If-Unmodified-Since: false → 412;
//  2. If-None-Match: false → 304 for GET and HEAD, 412 otherwise; when
//     absent, If-Modified-Since (GET and HEAD only): false → 304;
//  3. If-Range, only when a Range header is present: false → the Range
//     header is ignored and the whole representation is served.
//
// useRange reports whether the Range header (if any) should be honoured.
func evalPreconditions(r *http.Request, etag string, modTime time.Time) (v verdict, useRange bool) {
	ch := checkIfMatch(r, etag)
	if ch == condNone {
		ch = checkIfUnmodifiedSince(r, modTime)
	}
	if ch == condFalse {
		return preconditionFailed, false
	}
	switch checkIfNoneMatch(r, etag) {
	case condFalse:
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			return notModified, false
		}
		return preconditionFailed, false
	case condNone:
		if checkIfModifiedSince(r, modTime) == condFalse {
			return notModified, false
		}
	}
	if r.Header.Get("Range") == "" {
		return proceed, false
	}
	return proceed, checkIfRange(r, etag, modTime) != condFalse
}

// checkIfMatch evaluates If-Match (RFC 9110 §13.1.1) with the strong
// comparison. "*" matches any existing representation; this is only
// called for one that exists.
func checkIfMatch(r *http.Request, etag string) condResult {
	im := headerList(r.Header, "If-Match")
	if im == "" {
		return condNone
	}
	for {
		im = textproto.TrimString(im)
		if len(im) == 0 {
			break
		}
		if im[0] == ',' {
			im = im[1:]
			continue
		}
		if im[0] == '*' {
			return condTrue
		}
		t, remain := scanETag(im)
		if t == "" {
			break
		}
		if etagStrongMatch(t, etag) {
			return condTrue
		}
		im = remain
	}
	return condFalse
}

// checkIfUnmodifiedSince evaluates If-Unmodified-Since (RFC 9110
// §13.1.4). An invalid date, or an unknown modification time, makes the
// header ignored.
func checkIfUnmodifiedSince(r *http.Request, modTime time.Time) condResult {
	ius := r.Header.Get("If-Unmodified-Since")
	if ius == "" || isZeroTime(modTime) {
		return condNone
	}
	t, err := http.ParseTime(ius)
	if err != nil {
		return condNone
	}
	// Last-Modified has a resolution of one second.
	if ret := modTime.Truncate(time.Second).Compare(t); ret <= 0 {
		return condTrue
	}
	return condFalse
}

// checkIfNoneMatch evaluates If-None-Match (RFC 9110 §13.1.2) with the
// weak comparison. It returns condFalse when a tag matches (or "*", since
// the representation exists).
func checkIfNoneMatch(r *http.Request, etag string) condResult {
	inm := headerList(r.Header, "If-None-Match")
	if inm == "" {
		return condNone
	}
	buf := inm
	for {
		buf = textproto.TrimString(buf)
		if len(buf) == 0 {
			break
		}
		if buf[0] == ',' {
			buf = buf[1:]
			continue
		}
		if buf[0] == '*' {
			return condFalse
		}
		t, remain := scanETag(buf)
		if t == "" {
			break
		}
		if etagWeakMatch(t, etag) {
			return condFalse
		}
		buf = remain
	}
	return condTrue
}

// checkIfModifiedSince evaluates If-Modified-Since (RFC 9110 §13.1.3),
// for GET and HEAD only. It returns condFalse when the representation has
// not been modified since the date.
func checkIfModifiedSince(r *http.Request, modTime time.Time) condResult {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return condNone
	}
	ims := r.Header.Get("If-Modified-Since")
	if ims == "" || isZeroTime(modTime) {
		return condNone
	}
	t, err := http.ParseTime(ims)
	if err != nil {
		return condNone
	}
	if modTime.Truncate(time.Second).Compare(t) <= 0 {
		return condFalse
	}
	return condTrue
}

// checkIfRange evaluates If-Range (RFC 9110 §13.1.5) for GET and HEAD
// (HEAD is answered exactly as GET would be, see [Handler]). An entity
// tag must match with the strong comparison, so a weak one never does; a
// date must be exactly the Last-Modified date. Anything else (a date when
// the modification time is unknown, garbage) is false: the Range header is
// ignored and the whole representation served, which is always safe.
func checkIfRange(r *http.Request, etag string, modTime time.Time) condResult {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return condNone
	}
	ir := r.Header.Get("If-Range")
	if ir == "" {
		return condNone
	}
	if t, _ := scanETag(ir); t != "" {
		if etagStrongMatch(t, etag) {
			return condTrue
		}
		return condFalse
	}
	if isZeroTime(modTime) {
		return condFalse
	}
	t, err := http.ParseTime(ir)
	if err != nil {
		return condFalse
	}
	if t.Unix() == modTime.Unix() {
		return condTrue
	}
	return condFalse
}

// headerList returns the value of a list-valued header, joining the field
// lines when the client sent several (RFC 9110 §5.3).
func headerList(h http.Header, key string) string {
	vs := h[key]
	switch len(vs) {
	case 0:
		return ""
	case 1:
		return vs[0]
	}
	return strings.Join(vs, ",")
}

// scanETag determines if a syntactically valid ETag is present at s. If so,
// the ETag and remaining text after consuming the ETag are returned.
// Otherwise it returns "", "". (RFC 9110 §8.8.3: entity-tag = [ W/ ]
// DQUOTE *etagc DQUOTE, etagc = %x21 / %x23-7E / obs-text.)
func scanETag(s string) (etag string, remain string) {
	s = textproto.TrimString(s)
	start := 0
	if strings.HasPrefix(s, "W/") {
		start = 2
	}
	if len(s[start:]) < 2 || s[start] != '"' {
		return "", ""
	}
	for i := start + 1; i < len(s); i++ {
		c := s[i]
		switch {
		case c == 0x21 || c >= 0x23 && c <= 0x7E || c >= 0x80:
		case c == '"':
			return s[:i+1], s[i+1:]
		default:
			return "", ""
		}
	}
	return "", ""
}

// etagStrongMatch reports whether a and b match using the strong
// comparison: both strong and identical.
func etagStrongMatch(a, b string) bool {
	return a == b && a != "" && a[0] == '"'
}

// etagWeakMatch reports whether a and b match using the weak comparison:
// identical once any W/ prefix is removed.
func etagWeakMatch(a, b string) bool {
	return b != "" && strings.TrimPrefix(a, "W/") == strings.TrimPrefix(b, "W/")
}

// normalizeETag returns the backend's entity tag as a complete, quoted
// entity tag: a valid one unchanged, an unquoted one (`abc`, `W/abc`)
// quoted, and "" for one that cannot be repaired (quotes, spaces or control
// characters inside), so that a broken tag is never sent.
func normalizeETag(s string) string {
	if s == "" {
		return ""
	}
	if t, remain := scanETag(s); t == s && remain == "" {
		return s
	}
	prefix, opaque := "", s
	if strings.HasPrefix(s, "W/") {
		prefix, opaque = "W/", s[2:]
	}
	if opaque == "" {
		return ""
	}
	for i := 0; i < len(opaque); i++ {
		c := opaque[i]
		if !(c == 0x21 || c >= 0x23 && c <= 0x7E || c >= 0x80) {
			return ""
		}
	}
	return prefix + `"` + opaque + `"`
}

// isZeroTime reports whether t is obviously unspecified: the zero time or
// the Unix epoch, as net/http treats them.
func isZeroTime(t time.Time) bool {
	return t.IsZero() || t.Unix() == 0
}
