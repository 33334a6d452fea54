package media

import (
	"log/slog"
	"net/http"
	"strings"

	"github.com/rangeserve/rangeserve/rangeio"
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
// conditional headers itself (with its own validators).
//
// What the proxy is trusted with is limited to what it cannot get wrong:
//
//   - Active content (HTML, SVG, XML and every +xml type: see
//     [activeContent]) is never delegated: it is served here, with the
//     Content-Security-Policy sandbox and nosniff. nginx keeps only a few
//     of the upstream's headers when it follows X-Accel-Redirect
//     (Content-Type, Content-Disposition, Cache-Control...), and drops both
//     of those, so a delegated page would run script on our origin.
//   - Only plain requests and requests for one satisfiable range are
//     delegated (see [proxyMayRange]). Serve mode coalesces overlapping
//     ranges, caps their number and ignores malformed headers; nginx
//     answers "bytes=0-0,0-0,..." with one part per range, about 100 times
//     the bytes asked for, so every other Range is served here, as serve
//     mode would (416 for an unsatisfiable one).
//   - The content type comes from the backend or the extension; when
//     neither knows, the proxy is told application/octet-stream (which
//     browsers never render) rather than left to guess from the extension
//     with its own table, which may say text/html where ours is silent.
//
// The proxy's configuration should add the same protection anyway (see
// the README's internal location: max_ranges, add_header), as defence in
// depth.
func (h *Handler) delegate(w http.ResponseWriter, r *http.Request, key string) {
	info, ok := h.stat(w, r, key)
	if !ok {
		return
	}
	if h.mayNeedFaststart(r, key, info) && h.serveOpened(w, r, key, true, nil) {
		return
	}
	ct := delegatedType(key, info)
	if activeContent(ct) || !proxyMayRange(r, info.Size) {
		h.log.LogAttrs(r.Context(), slog.LevelDebug, "media: served here rather than delegated (active content or a Range the proxy would not limit)",
			slog.String("key", key), slog.String("type", ct), slog.String("range", truncate(r.Header.Get("Range"), 200)))
		h.serve(w, r, key)
		return
	}
	if ct == "" {
		ct = octetStream
	}
	hdr := w.Header()
	hw := headerWriter{h: hdr}
	strategy := StrategyXAccel
	if h.opts.Mode == ModeXSendfile {
		strategy = StrategyXSendfile
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
	hw.set("Content-Type", ct)
	hw.set("Content-Disposition", ContentDisposition(dispositionKind(r), baseName(key)))
	hw.set("X-Content-Type-Options", "nosniff")
	if h.opts.CacheControl != "" {
		hw.set("Cache-Control", h.opts.CacheControl)
	}
	// The proxy computes the length; suppress net/http's Content-Length: 0.
	hdr["Content-Length"] = nil
	report(r.Context(), strategy)
	w.WriteHeader(http.StatusOK)
}

// proxyMayRange reports whether the front proxy may apply r's Range header
// itself: there is none, or exactly one header line with one range spec
// that serve mode would honour as it is (a valid, satisfiable range of an
// object of size bytes). Anything else (several specs, even ones that
// coalesce; several Range lines; a malformed or unsatisfiable spec) is
// what serve mode would coalesce, cap, ignore or answer 416, and the
// proxy might not.
func proxyMayRange(r *http.Request, size int64) bool {
	vs := r.Header.Values("Range")
	switch {
	case len(vs) == 0:
		return true
	case len(vs) > 1 || strings.IndexByte(vs[0], ',') >= 0:
		return false
	}
	_, err := rangeio.Parse(vs[0], size, 1)
	return err == nil
}

// delegatedType is the content type sent when the bytes are not read: the
// backend's, else the extension's, else "".
func delegatedType(key string, info storage.Info) string {
	if ct := infoType(info.ContentType); ct != "" {
		return ct
	}
	return extType(baseName(key))
}
