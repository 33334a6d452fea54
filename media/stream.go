package media

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"

	"github.com/rangeserve/rangeserve/storage"
)

// serveStream sends an object of unknown length on the chunked path
// (see [Stream]): no Content-Length, Accept-Ranges: none and never a 206,
// the body read from the object's io.Reader and flushed by the handler's
// policy (Options.FlushBytes, Options.FlushInterval); a read error before
// the first flush is a status, after it an aborted response. Objects that
// cannot be read sequentially get 501.
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
	hw.set("Content-Disposition", ContentDisposition(dispositionKind(r), baseName(key)))
	if activeContent(ctype) {
		hw.set("Content-Security-Policy", sandboxCSP)
	}
	_ = h.stream(w, r, key, func(out io.Writer) error {
		if rd == nil { // a HEAD answered from Stat alone
			return nil
		}
		bp := streamBufs.Get().(*[]byte)
		defer streamBufs.Put(bp)
		// Hide rd's WriteTo so that io.CopyBuffer uses the pooled buffer.
		_, err := io.CopyBuffer(out, struct{ io.Reader }{rd}, *bp)
		return err
	})
}

// streamBufs holds the *[]byte buffers of the chunked path.
var streamBufs = sync.Pool{New: func() any {
	b := make([]byte, 64<<10)
	return &b
}}
