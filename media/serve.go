package media

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"

	"github.com/rangeserve/rangeserve/rangeio"
	"github.com/rangeserve/rangeserve/storage"
)

// serve opens the object and sends it. If the object proves to have been
// replaced since Open ([storage.ErrChanged]) before anything is written
// (a backend that remembers metadata for a moment can open a version that
// is already gone), it opens the object again, once.
//
// The body of a single-span response is sent from this shallow frame
// (see [bodyTail]), after the object was opened and its headers set.
func (h *Handler) serve(w http.ResponseWriter, r *http.Request, key string) {
	var tail bodyTail
	h.serveOpened(w, r, key, false, &tail)
	tail.send(h, w, r)
}

// bodyTail is the body of a single-span response left to be sent once
// the deep frames that opened the object and wrote its headers have
// returned. net/http writes the status line and headers with a 2.8 KiB
// stack frame (chunkWriter.writeHeader) when the body's first byte goes
// out; written from the bottom of the frames above (the server's
// middleware, media's serve path: about 5 KiB), it made every
// connection's goroutine stack grow from 8 to 16 KiB, which a connection
// keeps while its transfer lasts: 8 MiB more for 1,000 slow readers.
// Sent from here, it fits in 8 KiB (TestConnectionStack in cmd).
type bodyTail struct {
	obj    storage.Object // nil: nothing left to send
	stream io.ReadCloser  // a stream already opened on obj (closed by send), or nil
	key    string
	off, n int64
}

// send writes the body the tail holds, if any, and closes what it holds.
// A failure after the headers aborts the response ([Handler.abort]).
func (t *bodyTail) send(h *Handler, w http.ResponseWriter, r *http.Request) {
	if t.obj == nil {
		return
	}
	defer t.obj.Close()
	var err error
	if t.stream != nil {
		defer t.stream.Close()
		_, err = rangeio.CopyStream(w, t.stream, t.n)
	} else {
		err = copyBody(w, t.obj, t.off, t.n)
	}
	if err != nil {
		h.abort(r, t.key, err)
	}
}

// serveOpened is serve; with onlyVirtual (a delegation mode with
// faststart on) it answers only if the object is served as a virtual
// faststart file, and otherwise writes nothing and returns false so that
// the caller delegates it. With tail not nil, a single-span body may be
// left in it for the caller to send (and the object to close).
func (h *Handler) serveOpened(w http.ResponseWriter, r *http.Request, key string, onlyVirtual bool, tail *bodyTail) (served bool) {
	for attempt := 0; ; attempt++ {
		obj, err := h.b.Open(r.Context(), key)
		if err != nil {
			h.fail(w, r, key, err)
			return true
		}
		again, served := func() (again, served bool) {
			defer func() {
				if tail == nil || tail.obj != obj {
					obj.Close()
				}
			}()
			info := obj.Info()
			if info.IsDir {
				h.fail(w, r, key, storage.ErrIsDir)
				return false, true
			}
			vinfo, vobj, err := h.virtualize(r, key, info, obj)
			if err != nil {
				if attempt == 0 && errors.Is(err, storage.ErrChanged) {
					return true, false
				}
				h.fail(w, r, key, err)
				return false, true
			}
			if onlyVirtual && vobj == obj {
				return false, false
			}
			if vobj != obj {
				tail = nil // a virtual file is sent in place: it is not obj
			}
			return h.serveObject(w, r, key, vinfo, vobj, attempt == 0, tail), true
		}()
		if !again {
			return served
		}
		h.log.LogAttrs(r.Context(), slog.LevelDebug, "media: object replaced since it was opened; opening it again",
			slog.String("key", key))
		for _, k := range entityHeaders {
			delete(w.Header(), k)
		}
	}
}

// entityHeaders are the headers serveObject sets before it writes the
// status; they are removed before serving an object again.
var entityHeaders = []string{"Etag", "Last-Modified", "Cache-Control", "Accept-Ranges", "X-Content-Type-Options",
	"Content-Disposition", "Content-Security-Policy", "Content-Type", "Content-Length", "Content-Range"}

// serveObject answers r for the object described by info. obj may be nil
// for a HEAD answered from Stat alone (mode redirect): the content type then
// comes from info and the extension only.
//
// With mayRetry, a read before the status line that fails with
// [storage.ErrChanged] writes nothing and returns true: the caller opens
// the object again. Otherwise it returns false, the response written.
func (h *Handler) serveObject(w http.ResponseWriter, r *http.Request, key string, info storage.Info, obj storage.Object, mayRetry bool, tail *bodyTail) (again bool) {
	if isVirtual(obj) {
		report(r.Context(), StrategyFaststart)
	} else {
		report(r.Context(), StrategyServe)
	}
	return h.serveObjectAs(w, r, key, info, obj, mayRetry, "", tail)
}

// serveObjectAs is serveObject with the Content-Disposition given (""
// derives it from the request and the key) and no strategy reported, for
// a generated object such as a folder's archive. With tail not nil, a
// single-span body of obj is left in it (see [bodyTail]) instead of sent.
func (h *Handler) serveObjectAs(w http.ResponseWriter, r *http.Request, key string, info storage.Info, obj storage.Object, mayRetry bool, disposition string, tail *bodyTail) (again bool) {
	hw := headerWriter{h: w.Header()}
	useRange, done := h.preconditions(w, r, &hw, info)
	if done {
		return false
	}
	if info.Size < 0 {
		h.serveStream(w, r, key, info, obj)
		return false
	}
	failBeforeHeader := func(err error) bool {
		if mayRetry && errors.Is(err, storage.ErrChanged) {
			return true
		}
		h.fail(w, r, key, err)
		return false
	}

	var ranges []rangeio.Range
	if useRange {
		var err error
		ranges, err = rangeio.Parse(r.Header.Get("Range"), info.Size, h.opts.MaxRanges)
		switch {
		case errors.Is(err, rangeio.ErrUnsatisfiable):
			hw.set("Content-Range", "bytes */"+strconv.FormatInt(info.Size, 10))
			writeStatus(w, r, http.StatusRequestedRangeNotSatisfiable)
			return false
		case err != nil:
			h.log.LogAttrs(r.Context(), slog.LevelInfo, "media: ignoring Range header, serving the whole object",
				slog.String("key", key), slog.String("range", truncate(r.Header.Get("Range"), 200)), slog.Any("reason", err))
			ranges = nil
		}
	}

	ctype, err := h.contentType(key, info, obj)
	if err != nil {
		return failBeforeHeader(err)
	}
	hw.set("Accept-Ranges", "bytes")
	hw.set("X-Content-Type-Options", "nosniff")
	if disposition == "" {
		disposition = ContentDisposition(dispositionKind(r), baseName(key))
	}
	hw.set("Content-Disposition", disposition)
	if activeContent(ctype) {
		hw.set("Content-Security-Policy", sandboxCSP)
	}

	var m *rangeio.Multipart
	off, n := int64(0), info.Size
	if len(ranges) == 1 {
		off, n = ranges[0].Start, ranges[0].Length
	}
	// A remote object's single span is requested before the status line,
	// so that a store that fails or has a newer version answers with a
	// proper status instead of a cut transfer.
	var stream io.ReadCloser
	gen, _ := obj.(rangeWriter)
	if len(ranges) <= 1 && r.Method != http.MethodHead && obj != nil && n > 0 && fileOf(obj) == nil && gen == nil {
		if rr, ok := obj.(rangeio.RangeReader); ok {
			stream, err = rr.ReadRange(off, n)
			if err != nil {
				return failBeforeHeader(err)
			}
			if tail == nil {
				defer stream.Close()
			}
		}
	}
	switch len(ranges) {
	case 0:
		hw.set("Content-Type", ctype)
		hw.set("Content-Length", strconv.FormatInt(n, 10))
		w.WriteHeader(http.StatusOK)
	case 1:
		hw.set("Content-Type", ctype)
		hw.set("Content-Range", ranges[0].ContentRange(info.Size))
		hw.set("Content-Length", strconv.FormatInt(n, 10))
		w.WriteHeader(http.StatusPartialContent)
	default:
		m = rangeio.NewMultipart(ranges, info.Size, ctype)
		hw.set("Content-Type", m.ContentType())
		hw.set("Content-Length", strconv.FormatInt(m.Len(), 10))
		w.WriteHeader(http.StatusPartialContent)
	}
	if r.Method == http.MethodHead || obj == nil {
		return false // (no stream is opened for these)
	}
	if tail != nil && m == nil && gen == nil {
		*tail = bodyTail{obj: obj, stream: stream, key: key, off: off, n: n}
		return false
	}
	switch {
	case m != nil:
		_, err = m.Write(w, obj)
	case stream != nil:
		_, err = rangeio.CopyStream(w, stream, n)
	case gen != nil:
		err = gen.WriteRange(w, off, n)
	default:
		err = copyBody(w, obj, off, n)
	}
	if err != nil {
		h.abort(r, key, err)
	}
	return false
}

// rangeWriter is implemented by generated objects (a folder's archive)
// that write a span of themselves straight to the response, with no pipe
// or goroutine between: single spans use it; multipart/byteranges reads
// each part through the object's ReadRange.
type rangeWriter interface {
	WriteRange(w io.Writer, off, n int64) error
}

// fileOf returns obj's local file (sent with sendfile), or nil.
func fileOf(obj storage.Object) *os.File {
	if fl, ok := obj.(storage.Filer); ok {
		return fl.File()
	}
	return nil
}

// copyBody copies n bytes at off of obj to w. For a local file
// ([storage.Filer]) it seeks the *os.File and copies through an
// io.LimitedReader, the one shape net/http's response writer turns into
// sendfile(2); the file belongs to this request's Object, so seeking it is
// safe. Other objects go through [rangeio.CopyAt] and its pooled buffer.
//
// Before a sendfile copy the status line and headers are flushed: given a
// response whose header is not yet written, net/http's ReadFrom first
// reads 512 bytes of the body with read(2) to sniff a Content-Type, which
// this handler always sets; flushing first spares that read and copy. The
// file is always seeked, also to 0: storage.Filer leaves its offset
// unspecified (storage/local's open-file cache lends descriptors that an
// earlier request moved, and does not rewind them: one lseek per response
// either way).
func copyBody(w io.Writer, obj storage.Object, off, n int64) error {
	if v, ok := obj.(*virtualObject); ok {
		return v.copyTo(w, off, n)
	}
	f := fileOf(obj)
	if f == nil {
		_, err := rangeio.CopyAt(w, obj, off, n)
		return err
	}
	// Always: a descriptor from an open-file cache may be anywhere.
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return err
	}
	if fw, ok := w.(http.Flusher); ok {
		fw.Flush()
	}
	written, err := io.Copy(w, &io.LimitedReader{R: f, N: n})
	if err == nil && written < n {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// abort ends a response whose status and headers (and maybe some of the
// body) are already sent: it logs err and panics with
// http.ErrAbortHandler, which net/http recovers silently by closing the
// connection (HTTP/1) or resetting the stream (HTTP/2). The client sees a
// truncated transfer, never a complete-looking short body.
func (h *Handler) abort(r *http.Request, key string, err error) {
	level := slog.LevelError
	if r.Context().Err() != nil {
		level = slog.LevelDebug // the client went away
	}
	h.log.LogAttrs(r.Context(), level, "media: aborting response after its headers were sent",
		slog.String("key", key), slog.Any("err", err))
	panic(http.ErrAbortHandler)
}

// contentType returns the Content-Type of the object: the backend's when
// it is specific, else the detected one (see [detectType]), remembered per
// object version so that only the first request reads the object's head.
// With obj nil (no bytes to read) or an unknown size, only the extension
// is consulted.
func (h *Handler) contentType(key string, info storage.Info, obj storage.Object) (string, error) {
	if ct := infoType(info.ContentType); ct != "" {
		return ct, nil
	}
	name := baseName(key)
	if obj == nil || info.Size < 0 {
		if ct := extType(name); ct != "" {
			return ct, nil
		}
		return octetStream, nil
	}
	if info.Size == 0 {
		return detectType(name, nil, true), nil
	}
	k := typeKey{key: key, etag: info.ETag, size: info.Size, mtime: info.ModTime.UnixNano()}
	cacheable := info.ETag != "" || !isZeroTime(info.ModTime)
	if cacheable {
		if ct, ok := h.types.get(k); ok {
			return ct, nil
		}
	}
	head := make([]byte, min(sniffLen, info.Size))
	nr, err := obj.ReadAt(head, 0)
	if nr < len(head) && err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("media: reading the head of %q to detect its type: %w", key, err)
	}
	ct := detectType(name, head[:nr], int64(nr) >= info.Size || nr < len(head))
	if cacheable {
		h.types.put(k, ct)
	}
	return ct, nil
}
