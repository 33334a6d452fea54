package media

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"

	"github.com/rangeserve/rangeserve/storage"
)

// serveStream sends an object of unknown length: no Content-Length, no
// ranges, the body streamed from the object's io.Reader through a pooled
// buffer. Objects that cannot be read sequentially get 501.
//
// It is deliberately minimal; growing files and generated archives will
// extend it (flushing, trailers).
func (h *Handler) serveStream(w http.ResponseWriter, r *http.Request, key string, info storage.Info, obj storage.Object) {
	report(r.Context(), StrategyStream)
	var rd io.Reader
	if obj != nil {
		var ok bool
		if rd, ok = obj.(io.Reader); !ok {
			h.log.LogAttrs(r.Context(), slog.LevelError, "media: object of unknown size cannot be streamed (its Object is not an io.Reader)",
				slog.String("key", key), slog.String("type", fmt.Sprintf("%T", obj)))
			writeStatus(w, r, http.StatusNotImplemented)
			return
		}
	}
	ctype, _ := h.contentType(key, info, nil)
	hw := headerWriter{h: w.Header()}
	hw.set("Content-Type", ctype)
	hw.set("X-Content-Type-Options", "nosniff")
	hw.set("Content-Disposition", ContentDisposition(dispositionKind(r), baseName(key)))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead || rd == nil {
		return
	}
	bp := streamBufs.Get().(*[]byte)
	defer streamBufs.Put(bp)
	// Hide w's ReadFrom and rd's WriteTo so that io.CopyBuffer uses our
	// buffer rather than allocating its own.
	if _, err := io.CopyBuffer(struct{ io.Writer }{w}, struct{ io.Reader }{rd}, *bp); err != nil {
		h.abort(r, key, err)
	}
}

// streamBufs holds the *[]byte buffers of the chunked path.
var streamBufs = sync.Pool{New: func() any {
	b := make([]byte, 64<<10)
	return &b
}}
