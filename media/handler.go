package media

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rangeserve/rangeserve/rangeio"
	"github.com/rangeserve/rangeserve/storage"
)

// Mode selects how a [Handler] delivers the bytes of an object it has
// found.
type Mode string

// The delivery modes.
const (
	// ModeServe sends the bytes itself (the default).
	ModeServe Mode = "serve"
	// ModeXAccel answers with X-Accel-Redirect: InternalPrefix + "/" + the
	// key, escaped segment by segment; nginx sends the bytes from an
	// internal location and handles Range and conditional requests.
	ModeXAccel Mode = "x-accel"
	// ModeXSendfile answers with X-Sendfile: the absolute path of the file
	// (the backend must implement [storage.Pather]).
	ModeXSendfile Mode = "x-sendfile"
	// ModeRedirect answers GET with 307 to a presigned URL (the backend
	// must implement [storage.Presigner]).
	ModeRedirect Mode = "redirect"
)

// Limits of [Options.RedirectTTL], those of S3 presigned URLs.
const (
	// DefaultRedirectTTL is the lifetime of presigned URLs when
	// Options.RedirectTTL is zero.
	DefaultRedirectTTL = time.Hour
	// MaxRedirectTTL is the longest lifetime S3 accepts (7 days).
	MaxRedirectTTL = 7 * 24 * time.Hour
)

// Options configure a [Handler]. The zero value serves bytes with no
// Cache-Control header and at most [rangeio.DefaultMaxRanges] ranges.
type Options struct {
	// CacheControl is sent as Cache-Control with successful responses
	// (and 304s); "" sends none.
	CacheControl string
	// MaxRanges is the most ranges (after coalescing) a multi-range
	// request may ask for; more are answered with the whole
	// representation. 0 means [rangeio.DefaultMaxRanges].
	MaxRanges int
	// Mode is the delivery mode; "" means [ModeServe].
	Mode Mode
	// InternalPrefix is the nginx location prefix for [ModeXAccel], such
	// as "/_protected" (required in that mode; a trailing slash is
	// ignored).
	InternalPrefix string
	// AccelBuffering, "yes" or "no", is sent as X-Accel-Buffering in
	// [ModeXAccel]; "" sends none.
	AccelBuffering string
	// AccelLimitRate, a number of bytes per second, is sent as
	// X-Accel-Limit-Rate in [ModeXAccel]; "" sends none.
	AccelLimitRate string
	// RedirectTTL is the lifetime of presigned URLs in [ModeRedirect],
	// between 1s and [MaxRedirectTTL]; 0 means [DefaultRedirectTTL].
	RedirectTTL time.Duration
	// FlushBytes and FlushInterval are the flush policy of the chunked
	// path (objects of unknown size, listings, ?follow=1), as in
	// [StreamOptions]: 0 means [DefaultFlushBytes] and
	// [DefaultFlushInterval].
	FlushBytes    int
	FlushInterval time.Duration
	// FollowIdleTimeout ends a ?follow=1 response once the file has not
	// grown for this long; 0 means [DefaultFollowIdleTimeout].
	FollowIdleTimeout time.Duration
	// UIURL is the address of a web UI, such as "/ui/". A browser
	// (Accept: text/html) asking for a folder without ?format is
	// redirected (302) to UIURL + "#" + the folder's escaped URL path.
	// "" means no redirect: such requests get 404, as any directory.
	UIURL string
	// Logger receives errors and ignored bad input; nil means
	// slog.Default().
	Logger *slog.Logger
}

// Handler serves the objects of one [storage.Backend] over HTTP: GET and
// HEAD, with ranges, conditional requests and delegation, as described in
// the package documentation. It is safe for concurrent use.
//
// HEAD is answered with exactly the status and headers GET would get,
// Range and If-Range included (206 with Content-Range and the part's
// Content-Length), without a body and without reading the body. net/http's
// ServeContent does the same, and so does nginx (checked with 1.22: HEAD
// with Range gets 206, multipart included); clients that probe range
// support with a HEAD see it. RFC 9110 §14.2 defines range handling for GET
// only, but §9.3.2 asks HEAD to carry the fields GET's response would. HEAD
// may read the first 262 bytes of an object to detect its content type,
// as GET does, once per object version.
type Handler struct {
	b    storage.Backend
	opts Options
	log  *slog.Logger

	pather    storage.Pather    // ModeXSendfile
	presigner storage.Presigner // ModeRedirect
	types     *typeCache
	flush     flushPolicy // the chunked path's (chunked.go)
}

// New returns a Handler for b. It checks opts against the mode and against
// b's capabilities: [ModeXSendfile] needs a [storage.Pather],
// [ModeRedirect] a [storage.Presigner], [ModeXAccel] an InternalPrefix.
func New(b storage.Backend, opts Options) (*Handler, error) {
	if b == nil {
		return nil, errors.New("media: New: nil backend")
	}
	h := &Handler{b: b, opts: opts, log: opts.Logger, types: newTypeCache(typeCacheSize)}
	if h.log == nil {
		h.log = slog.Default()
	}
	if h.opts.Mode == "" {
		h.opts.Mode = ModeServe
	}
	if err := h.initStreaming(); err != nil {
		return nil, err
	}
	if !validHeaderValue(opts.CacheControl) {
		return nil, fmt.Errorf("media: CacheControl %q holds characters not allowed in a header", opts.CacheControl)
	}
	switch h.opts.Mode {
	case ModeServe:
	case ModeXAccel:
		p := strings.TrimRight(opts.InternalPrefix, "/")
		if !strings.HasPrefix(p, "/") || !validHeaderValue(p) {
			return nil, fmt.Errorf("media: mode x-accel needs InternalPrefix, the path of an nginx internal location such as \"/_protected\" (got %q)", opts.InternalPrefix)
		}
		h.opts.InternalPrefix = p
		switch opts.AccelBuffering {
		case "", "yes", "no":
		default:
			return nil, fmt.Errorf("media: AccelBuffering must be \"yes\", \"no\" or empty (got %q)", opts.AccelBuffering)
		}
		if opts.AccelLimitRate != "" {
			if n, err := strconv.ParseUint(opts.AccelLimitRate, 10, 63); err != nil || n == 0 {
				return nil, fmt.Errorf("media: AccelLimitRate must be a positive number of bytes per second (got %q)", opts.AccelLimitRate)
			}
		}
	case ModeXSendfile:
		p, ok := b.(storage.Pather)
		if !ok {
			return nil, fmt.Errorf("media: mode x-sendfile needs a backend with local file paths (storage.Pather); %T has none: use mode serve or x-accel", b)
		}
		h.pather = p
	case ModeRedirect:
		p, ok := b.(storage.Presigner)
		if !ok {
			return nil, fmt.Errorf("media: mode redirect needs a backend that presigns URLs (storage.Presigner); %T cannot: use mode serve", b)
		}
		h.presigner = p
		if h.opts.RedirectTTL == 0 {
			h.opts.RedirectTTL = DefaultRedirectTTL
		}
		if h.opts.RedirectTTL < time.Second || h.opts.RedirectTTL > MaxRedirectTTL {
			return nil, fmt.Errorf("media: RedirectTTL %v is out of range: presigned URLs live from 1s to 7 days", h.opts.RedirectTTL)
		}
	default:
		return nil, fmt.Errorf("media: unknown mode %q: use %q, %q, %q or %q", opts.Mode, ModeServe, ModeXAccel, ModeXSendfile, ModeRedirect)
	}
	return h, nil
}

// ServeHTTP serves the object whose key is r.URL.Path, cleaned with
// [storage.CleanKey]; a key CleanKey refuses is answered with 404. Mount it
// with http.StripPrefix to serve a prefix.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !h.allowMethod(w, r) {
		return
	}
	key, err := storage.CleanKey(r.URL.Path)
	if err != nil {
		h.fail(w, r, r.URL.Path, err)
		return
	}
	h.serveKey(w, r, key)
}

// ServeKey serves the object stored under key, which the caller has
// already cleaned with [storage.CleanKey] (and authorized).
func (h *Handler) ServeKey(w http.ResponseWriter, r *http.Request, key string) {
	if !h.allowMethod(w, r) {
		return
	}
	h.serveKey(w, r, key)
}

// allowMethod answers 405 to anything but GET and HEAD.
func (h *Handler) allowMethod(w http.ResponseWriter, r *http.Request) bool {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return true
	}
	w.Header().Set("Allow", "GET, HEAD")
	writeStatus(w, r, http.StatusMethodNotAllowed)
	return false
}

func (h *Handler) serveKey(w http.ResponseWriter, r *http.Request, key string) {
	if h.serveQuery(w, r, key) { // listings, ?follow=1, folders (query.go)
		return
	}
	switch h.opts.Mode {
	case ModeXAccel, ModeXSendfile:
		h.delegate(w, r, key)
	case ModeRedirect:
		h.redirect(w, r, key)
	default:
		h.serve(w, r, key)
	}
}

// serve opens the object and sends it. If the object proves to have been
// replaced since Open ([storage.ErrChanged]) before anything is written
// (a backend that remembers metadata for a moment can open a version that
// is already gone), it opens the object again, once.
func (h *Handler) serve(w http.ResponseWriter, r *http.Request, key string) {
	for attempt := 0; ; attempt++ {
		obj, err := h.b.Open(r.Context(), key)
		if err != nil {
			h.fail(w, r, key, err)
			return
		}
		again := func() bool {
			defer obj.Close()
			info := obj.Info()
			if info.IsDir {
				h.fail(w, r, key, storage.ErrIsDir)
				return false
			}
			return h.serveObject(w, r, key, info, obj, attempt == 0)
		}()
		if !again {
			return
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

// serveObject answers r for the object described by info. obj may be nil
// for a HEAD answered from Stat alone (mode redirect): the content type then
// comes from info and the extension only.
//
// With mayRetry, a read before the status line that fails with
// [storage.ErrChanged] writes nothing and returns true: the caller opens
// the object again. Otherwise it returns false, the response written.
func (h *Handler) serveObject(w http.ResponseWriter, r *http.Request, key string, info storage.Info, obj storage.Object, mayRetry bool) (again bool) {
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
	hw.set("Content-Disposition", ContentDisposition(dispositionKind(r), baseName(key)))
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
	if len(ranges) <= 1 && r.Method != http.MethodHead && obj != nil && n > 0 && fileOf(obj) == nil {
		if rr, ok := obj.(rangeio.RangeReader); ok {
			stream, err = rr.ReadRange(off, n)
			if err != nil {
				return failBeforeHeader(err)
			}
			defer stream.Close()
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
		return false
	}
	switch {
	case m != nil:
		_, err = m.Write(w, obj)
	case stream != nil:
		_, err = rangeio.CopyStream(w, stream, n)
	default:
		err = copyBody(w, obj, off, n)
	}
	if err != nil {
		h.abort(r, key, err)
	}
	return false
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
// this handler always sets; flushing first spares that read and copy. A
// freshly opened file is at offset 0, so the seek is skipped there.
func copyBody(w io.Writer, obj storage.Object, off, n int64) error {
	f := fileOf(obj)
	if f == nil {
		_, err := rangeio.CopyAt(w, obj, off, n)
		return err
	}
	if off != 0 {
		if _, err := f.Seek(off, io.SeekStart); err != nil {
			return err
		}
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

// writeNotModified answers 304: the validators and Cache-Control already
// set stay, nothing describing a body does.
func writeNotModified(w http.ResponseWriter) {
	hdr := w.Header()
	for _, k := range []string{"Content-Type", "Content-Length", "Content-Encoding", "Content-Disposition", "Content-Range"} {
		delete(hdr, k)
	}
	w.WriteHeader(http.StatusNotModified)
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

// serveStream sends an object of unknown length: no Content-Length, no
// ranges, the body streamed from the object's io.Reader through a pooled
// buffer. Objects that cannot be read sequentially get 501.
//
// It is deliberately minimal; growing files and generated archives will
// extend it (flushing, trailers).
func (h *Handler) serveStream(w http.ResponseWriter, r *http.Request, key string, info storage.Info, obj storage.Object) {
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

// headerWriter sets response headers with values taken from one backing
// array, so that the dozen headers of a response cost one allocation
// rather than one each. Every value slice has capacity 1: a later Add (by
// a middleware) copies instead of overwriting a neighbour. Keys must be in
// canonical form.
type headerWriter struct {
	h    http.Header
	vals []string
}

func (hw *headerWriter) set(key, value string) {
	if len(hw.vals) == 0 {
		hw.vals = make([]string, 12)
	}
	s := hw.vals[:1:1]
	hw.vals = hw.vals[1:]
	s[0] = value
	hw.h[key] = s
}

// httpDate formats t for Last-Modified. Recent results are kept in a
// small table indexed by the second, shared by all handlers: a hot file
// (a player's burst of ranges) formats its date once.
func httpDate(t time.Time) string {
	sec := t.Unix()
	slot := &httpDates[uint64(sec)%uint64(len(httpDates))]
	if e := slot.Load(); e != nil && e.sec == sec {
		return e.s
	}
	s := t.UTC().Format(http.TimeFormat)
	slot.Store(&httpDateEntry{sec: sec, s: s})
	return s
}

type httpDateEntry struct {
	sec int64
	s   string
}

var httpDates [256]atomic.Pointer[httpDateEntry]

// validHeaderValue reports whether v may be sent as a header value: no
// control characters (tab aside).
func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// truncate shortens s to at most n bytes for logging.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

var _ http.Handler = (*Handler)(nil)

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
