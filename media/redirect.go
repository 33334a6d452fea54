package media

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/rangeserve/rangeserve/storage"
)

// redirect answers in ModeRedirect. After Stat it evaluates the
// preconditions itself (a 304 costs no round trip to the store). A GET then
// gets 307 to a presigned URL whose response-content-type and
// response-content-disposition carry our headers; active content (see
// [activeContent]) and content of unknown type are sent as attachments,
// since the store's origin gets no sandbox. A HEAD is answered here
// from Stat, headers only: presigned URLs are bound to GET, so a HEAD
// redirected to one would fail. A multi-range GET is served here too,
// because S3 answers it with the whole object and MinIO rejects it.
//
// A presigned URL works for whoever holds it until it expires, so it must
// not outlive the authorization that admitted the request (the [Grant]
// its caller attached): its lifetime is RedirectTTL cut to what is left
// of Grant.Until, in whole seconds. When that is under a second, or the
// grant is bound to one client address (which a presigned URL cannot
// carry), the bytes are served here instead. A player that keeps seeking
// on a redirected URL is thus covered until the grant ends (a share link's
// playback grace included), and a new request after that is authorized
// again, by the caller, before any new URL is minted.
func (h *Handler) redirect(w http.ResponseWriter, r *http.Request, key string) {
	if r.Method == http.MethodGet && strings.Contains(r.Header.Get("Range"), ",") {
		h.serve(w, r, key)
		return
	}
	ttl, presign := h.presignTTL(r.Context())
	if r.Method == http.MethodGet && !presign {
		h.log.LogAttrs(r.Context(), slog.LevelDebug, "media: served here rather than redirected: the grant is bound to the client or ends within a second",
			slog.String("key", key))
		h.serve(w, r, key)
		return
	}
	info, ok := h.stat(w, r, key)
	if !ok {
		return
	}
	if r.Method == http.MethodHead {
		h.serveObject(w, r, key, info, nil, false, nil)
		return
	}
	hdr := w.Header()
	hw := headerWriter{h: hdr}
	if _, done := h.preconditions(w, r, &hw, info); done {
		return
	}
	// The store sends no Content-Security-Policy or nosniff: active content
	// (and content of a type we do not know, which the store labels as it
	// likes) goes out as an attachment, so that the browser saves it
	// instead of rendering it on the store's origin.
	params := url.Values{}
	ct := delegatedType(key, info)
	kind := dispositionKind(r)
	if ct == "" {
		ct = octetStream
		kind = Attachment
	} else if activeContent(ct) {
		kind = Attachment
	}
	params.Set("response-content-type", ct)
	params.Set("response-content-disposition", ContentDisposition(kind, baseName(key)))
	if h.opts.CacheControl != "" {
		params.Set("response-cache-control", h.opts.CacheControl)
	}
	u, err := h.presigner.PresignGet(r.Context(), key, ttl, params)
	if err != nil {
		h.fail(w, r, key, err)
		return
	}
	// The validators describe the object, not this redirect.
	delete(hdr, "Etag")
	delete(hdr, "Last-Modified")
	hw.set("Cache-Control", redirectCacheControl(ttl))
	hw.set("Location", u.String())
	report(r.Context(), StrategyRedirect)
	w.WriteHeader(http.StatusTemporaryRedirect)
}

// presignTTL returns the lifetime of a presigned URL for a request whose
// context carries grant g (if any): RedirectTTL, cut to the time left
// until g.Until and truncated to whole seconds. ok is false when no URL
// may be handed out: g is bound to one client, or less than a second is
// left.
func (h *Handler) presignTTL(ctx context.Context) (ttl time.Duration, ok bool) {
	ttl = h.opts.RedirectTTL
	g, found := grantFrom(ctx)
	if !found {
		return ttl, true
	}
	if g.ClientBound {
		return 0, false
	}
	if !g.Until.IsZero() {
		if left := time.Until(g.Until).Truncate(time.Second); left < ttl {
			ttl = left
		}
	}
	return ttl, ttl >= storage.MinPresignTTL
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
