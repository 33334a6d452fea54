package media

import (
	"io"
	"log/slog"
	"net/http"

	"github.com/rangeserve/rangeserve/storage"
)

// serveFollow answers ?follow=1: the file under key as it grows, on the
// chunked path (see [storage.Follower]): what it holds, then each append
// as it lands, until it has not grown for Options.FollowIdleTimeout (the
// response then ends normally) or the client leaves. Range and the
// conditional headers do not apply: the representation is still being
// written, so it has no validators and no length.
//
// Only backends that implement [storage.Follower] (local files) can
// follow; others answer 400: an object in a store cannot be appended to,
// and serving it whole would look like a recording that ended.
func (h *Handler) serveFollow(w http.ResponseWriter, r *http.Request, key string) {
	ctx := r.Context()
	report(ctx, StrategyStream)
	f, ok := h.b.(storage.Follower)
	if !ok {
		h.log.LogAttrs(ctx, slog.LevelInfo, "media: ?follow=1 asked of a backend that cannot follow files",
			slog.String("key", key))
		writeStatusBody(w, r, http.StatusBadRequest, "400 follow needs a local file\n")
		return
	}
	rc, info, err := f.Follow(ctx, key, h.opts.FollowIdleTimeout)
	if err != nil {
		h.fail(w, r, key, err)
		return
	}
	defer rc.Close()
	ctype, _ := h.contentType(key, storage.Info{Key: key, Size: -1, ContentType: info.ContentType}, nil)
	hw := headerWriter{h: w.Header()}
	hw.set("Content-Type", ctype)
	hw.set("Cache-Control", "no-store")
	hw.set("Content-Disposition", ContentDisposition(dispositionKind(r), baseName(key)))
	if activeContent(ctype) {
		hw.set("Content-Security-Policy", sandboxCSP)
	}
	_ = h.stream(w, r, key, func(out io.Writer) error {
		bp := streamBufs.Get().(*[]byte)
		defer streamBufs.Put(bp)
		_, err := io.CopyBuffer(out, rc, *bp)
		return err
	})
}
