package media

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// redirect answers in ModeRedirect. After Stat it evaluates the
// preconditions itself (a 304 costs no round trip to the store). A GET then
// gets 307 to a presigned URL whose response-content-type and
// response-content-disposition carry our headers. A HEAD is answered here
// from Stat, headers only: presigned URLs are bound to GET, so a HEAD
// redirected to one would fail. A multi-range GET is served here too,
// because S3 answers it with the whole object and MinIO rejects it.
func (h *Handler) redirect(w http.ResponseWriter, r *http.Request, key string) {
	if r.Method == http.MethodGet && strings.Contains(r.Header.Get("Range"), ",") {
		h.serve(w, r, key)
		return
	}
	info, ok := h.stat(w, r, key)
	if !ok {
		return
	}
	if r.Method == http.MethodHead {
		h.serveObject(w, r, key, info, nil, false)
		return
	}
	hdr := w.Header()
	hw := headerWriter{h: hdr}
	if _, done := h.preconditions(w, r, &hw, info); done {
		return
	}
	params := url.Values{}
	if ct := delegatedType(key, info); ct != "" {
		params.Set("response-content-type", ct)
	}
	params.Set("response-content-disposition", ContentDisposition(dispositionKind(r), baseName(key)))
	if h.opts.CacheControl != "" {
		params.Set("response-cache-control", h.opts.CacheControl)
	}
	u, err := h.presigner.PresignGet(r.Context(), key, h.opts.RedirectTTL, params)
	if err != nil {
		h.fail(w, r, key, err)
		return
	}
	// The validators describe the object, not this redirect.
	delete(hdr, "Etag")
	delete(hdr, "Last-Modified")
	hw.set("Cache-Control", redirectCacheControl(h.opts.RedirectTTL))
	hw.set("Location", u.String())
	w.WriteHeader(http.StatusTemporaryRedirect)
}

// redirectCacheControl lets the browser reuse a redirect for half the
// presigned URL's lifetime (seeks then skip a round trip to us), so that
// the URL it leads to stays valid for at least as long again; "private"
// keeps shared caches from handing one user's signed URL to another.
func redirectCacheControl(ttl time.Duration) string {
	secs := int64(ttl / 2 / time.Second)
	if secs < 1 {
		return "no-store"
	}
	return "private, max-age=" + strconv.FormatInt(secs, 10)
}
