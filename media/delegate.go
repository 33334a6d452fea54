package media

import (
	"net/http"

	"github.com/rangeserve/rangeserve/storage"
)

// stat looks key up without opening it, for the delegation modes: a
// missing key, a directory or a refusal is still answered here.
func (h *Handler) stat(w http.ResponseWriter, r *http.Request, key string) (storage.Info, bool) {
	info, err := h.b.Stat(r.Context(), key)
	if err == nil && info.IsDir {
		err = storage.ErrIsDir
	}
	if err != nil {
		h.fail(w, r, key, err)
		return storage.Info{}, false
	}
	return info, true
}

// delegate answers in ModeXAccel and ModeXSendfile: after Stat (so 404 and
// 403 stay ours), a 200 with an empty body that names the object for the
// front proxy, which then sends the bytes and handles Range and the
// conditional headers itself (with its own validators). The content type
// comes from the backend or the extension; when neither knows, none is
// sent and the proxy picks one.
func (h *Handler) delegate(w http.ResponseWriter, r *http.Request, key string) {
	info, ok := h.stat(w, r, key)
	if !ok {
		return
	}
	hdr := w.Header()
	hw := headerWriter{h: hdr}
	if h.opts.Mode == ModeXSendfile {
		p, err := h.pather.Path(key)
		if err != nil {
			h.fail(w, r, key, err)
			return
		}
		hw.set("X-Sendfile", p)
	} else {
		hw.set("X-Accel-Redirect", h.opts.InternalPrefix+"/"+storage.EscapeKey(key))
		if h.opts.AccelBuffering != "" {
			hw.set("X-Accel-Buffering", h.opts.AccelBuffering)
		}
		if h.opts.AccelLimitRate != "" {
			hw.set("X-Accel-Limit-Rate", h.opts.AccelLimitRate)
		}
	}
	if ct := delegatedType(key, info); ct != "" {
		hw.set("Content-Type", ct)
		if activeContent(ct) {
			hw.set("Content-Security-Policy", sandboxCSP)
		}
	} else {
		hdr["Content-Type"] = nil // no net/http default either
	}
	hw.set("Content-Disposition", ContentDisposition(dispositionKind(r), baseName(key)))
	hw.set("X-Content-Type-Options", "nosniff")
	if h.opts.CacheControl != "" {
		hw.set("Cache-Control", h.opts.CacheControl)
	}
	// The proxy computes the length; suppress net/http's Content-Length: 0.
	hdr["Content-Length"] = nil
	w.WriteHeader(http.StatusOK)
}

// delegatedType is the content type sent when the bytes are not read: the
// backend's, else the extension's, else "".
func delegatedType(key string, info storage.Info) string {
	if ct := infoType(info.ContentType); ct != "" {
		return ct
	}
	return extType(baseName(key))
}
