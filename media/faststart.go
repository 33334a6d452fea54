package media

import (
	"container/list"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/rangeserve/rangeserve/mp4"
	"github.com/rangeserve/rangeserve/rangeio"
	"github.com/rangeserve/rangeserve/storage"
)

// Values of [Options].Faststart.
const (
	FaststartOn  = "on"
	FaststartOff = "off"
)

// DefaultFaststartCacheSize is the default of
// [Options].FaststartCacheSize: 64 MiB of planned layouts.
const DefaultFaststartCacheSize = 64 << 20

// faststartEntryCost is what an entry costs the cache besides its
// in-memory bytes (key strings, list element, layout header).
const faststartEntryCost = 256

// faststartOn decides, in New, whether the handler serves virtual
// faststart files: by default in ModeServe only; in the delegation modes
// when asked for ("on"), for the files that need it; never in
// ModeRedirect, whose bytes never pass through rangeserve.
func faststartOn(opts Options) (bool, error) {
	switch opts.Faststart {
	case "":
		return opts.Mode == ModeServe, nil
	case FaststartOff:
		return false, nil
	case FaststartOn:
		if opts.Mode == ModeRedirect {
			return false, errors.New("media: Faststart \"on\" needs the bytes to pass through rangeserve; mode redirect sends clients to the store: set Faststart to \"off\"")
		}
		return true, nil
	}
	return false, fmt.Errorf("media: Faststart must be %q, %q or empty (got %q)", FaststartOn, FaststartOff, opts.Faststart)
}

// wantsOriginal reports whether the request asks for the bytes as stored
// (?original=1).
func wantsOriginal(r *http.Request) bool {
	q := r.URL.RawQuery
	for q != "" {
		var kv string
		kv, q, _ = strings.Cut(q, "&")
		if k, v, _ := strings.Cut(kv, "="); k == "original" && (v == "1" || strings.EqualFold(v, "true")) {
			return true
		}
	}
	return false
}

// isobmffType reports whether ct is one of the media types of an ISO base
// media file that may need faststart (MP4, M4V, M4A, MOV).
func isobmffType(ct string) bool {
	mt, _, _ := strings.Cut(ct, ";")
	switch strings.ToLower(strings.TrimSpace(mt)) {
	case "video/mp4", "audio/mp4", "video/quicktime", "video/x-m4v", "audio/x-m4a":
		return true
	}
	return false
}

// virtualize returns what to serve for the object obj: the object itself,
// or its virtual faststart file when the handler has faststart on, the
// request does not ask for ?original=1, the object is an MP4/MOV/M4A/M4V
// by content type with an ETag (the virtual file's ETag is derived from
// it) and its moov follows its media data. The plan and the content type
// are cached per object version; a read error while planning is returned.
func (h *Handler) virtualize(r *http.Request, key string, info storage.Info, obj storage.Object) (storage.Info, storage.Object, error) {
	etag := normalizeETag(info.ETag)
	if !h.faststart || info.Size < 16 || etag == "" || wantsOriginal(r) {
		return info, obj, nil
	}
	l, ctype, err := h.layout(r, key, info, obj)
	if err != nil || l == nil {
		return info, obj, err
	}
	vinfo := info
	vinfo.Size = l.Size
	vinfo.ETag = mp4.VirtualETag(etag)
	vinfo.ContentType = ctype
	v := &virtualObject{src: obj, l: l, info: vinfo}
	if rr, ok := obj.(rangeio.RangeReader); ok && fileOf(obj) == nil {
		return vinfo, remoteVirtual{v, rr}, nil
	}
	return vinfo, v, nil
}

// mayNeedFaststart tells a delegation mode whether to open the object and
// try to serve it as a virtual faststart file: only with faststart on,
// for an MP4-family type (the backend's or the extension's, as delegated
// responses get, or else the one sniffed before) and a version not
// already known to be served as stored.
func (h *Handler) mayNeedFaststart(r *http.Request, key string, info storage.Info) bool {
	if !h.faststart || info.Size < 16 || normalizeETag(info.ETag) == "" || wantsOriginal(r) {
		return false
	}
	if ct := delegatedType(key, info); ct != "" && !isobmffType(ct) {
		return false
	}
	k := typeKey{key: key, etag: info.ETag, size: info.Size, mtime: info.ModTime.UnixNano()}
	if ct, ok := h.types.get(k); ok && !isobmffType(ct) {
		return false // sniffed before: not an MP4 after all
	}
	e, known := h.plans.get(k)
	return !known || e.l != nil
}

// layout returns the plan of the object version and its content type,
// from the cache or else made now: a nil layout means "serve it as
// stored". On a miss the type is taken from the backend or the type cache
// when they know it (nothing is read for other types), else detected, as
// contentType does, from one read of the object's first 4 KiB that
// mp4.Plan then reuses: an object store sees one request for both.
func (h *Handler) layout(r *http.Request, key string, info storage.Info, obj storage.Object) (*mp4.Layout, string, error) {
	k := typeKey{key: key, etag: info.ETag, size: info.Size, mtime: info.ModTime.UnixNano()}
	if e, ok := h.plans.get(k); ok {
		return e.l, e.ctype, nil
	}
	ctype := infoType(info.ContentType)
	if ctype == "" {
		ctype, _ = h.types.get(k)
	}
	if ctype != "" && !isobmffType(ctype) {
		return nil, ctype, nil
	}
	head := make([]byte, min(info.Size, planHead))
	if n, err := obj.ReadAt(head, 0); n < len(head) {
		if err == nil || errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, "", fmt.Errorf("media: reading the head of %q: %w", key, err)
	}
	if ctype == "" {
		sniff := head[:min(len(head), sniffLen)]
		ctype = detectType(baseName(key), sniff, int64(len(sniff)) >= info.Size)
		h.types.put(k, ctype)
		if !isobmffType(ctype) {
			return nil, ctype, nil
		}
	}
	l, err := mp4.Plan(headReader{head, obj}, info.Size, mp4.Options{MaxMoovSize: h.plans.max / 4})
	switch {
	case err == nil:
		h.log.LogAttrs(r.Context(), slog.LevelDebug, "media: serving a virtual faststart file (moov moved before the media data)",
			slog.String("key", key), slog.Int64("size", l.Size), slog.Int64("moov_bytes", l.MemSize()))
	case errors.Is(err, mp4.ErrFaststart):
		l = nil
	case errors.Is(err, mp4.ErrUnchanged):
		// Unsupported or malformed: the file is served as stored, and
		// the reason logged once per version.
		h.log.LogAttrs(r.Context(), slog.LevelInfo, "media: faststart not applied, serving the file as stored",
			slog.String("key", key), slog.Any("reason", err))
		l = nil
	default:
		return nil, "", fmt.Errorf("media: reading the boxes of %q for faststart: %w", key, err)
	}
	h.plans.put(k, l, ctype)
	return l, ctype, nil
}

// planHead is how much of an object layout reads at once: what mp4.Plan
// reads first (its head of 4 KiB), which also holds the bytes contentType
// sniffs.
const planHead = 4096

// headReader serves reads of an object's first bytes from memory.
type headReader struct {
	head []byte
	r    io.ReaderAt
}

func (h headReader) ReadAt(p []byte, off int64) (int, error) {
	if off >= 0 && off+int64(len(p)) <= int64(len(h.head)) {
		return copy(p, h.head[off:]), nil
	}
	return h.r.ReadAt(p, off)
}

// virtualObject is the virtual faststart file of a source object, as a
// [storage.Object] whose Info describes the virtual file. Closing it does
// nothing: the source belongs to the caller.
type virtualObject struct {
	src  storage.Object
	l    *mp4.Layout
	info storage.Info
}

func (v *virtualObject) ReadAt(p []byte, off int64) (int, error) { return v.l.ReadAt(v.src, p, off) }
func (v *virtualObject) Close() error                            { return nil }
func (v *virtualObject) Info() storage.Info                      { return v.info }

// copyTo copies n bytes at off of the virtual file to w: the in-memory
// part with Write, each source span of a local file with sendfile (a seek
// and an io.LimitedReader, see [copyBody]), other sources with
// [rangeio.CopyAt].
func (v *virtualObject) copyTo(w io.Writer, off, n int64) error {
	f := fileOf(v.src)
	flushed := false
	var written int64
	for s := range v.l.Spans(off, n) {
		if s.Data != nil {
			m, err := w.Write(s.Data)
			written += int64(m)
			if err != nil {
				return err
			}
			continue
		}
		if f == nil {
			c, err := rangeio.CopyAt(w, v.src, s.Src, s.Len)
			written += c
			if err != nil {
				return err
			}
			continue
		}
		if _, err := f.Seek(s.Src, io.SeekStart); err != nil {
			return err
		}
		if fw, ok := w.(http.Flusher); ok && !flushed {
			fw.Flush() // see copyBody
			flushed = true
		}
		c, err := io.Copy(w, &io.LimitedReader{R: f, N: s.Len})
		written += c
		if err != nil {
			return err
		}
		if c < s.Len {
			return io.ErrUnexpectedEOF
		}
	}
	if written < n {
		return io.ErrUnexpectedEOF
	}
	return nil
}

// isVirtual reports whether obj is a virtual faststart file.
func isVirtual(obj storage.Object) bool {
	switch obj.(type) {
	case *virtualObject, remoteVirtual:
		return true
	}
	return false
}

// remoteVirtual is a virtualObject over a source that streams spans
// ([rangeio.RangeReader], an object store): a range of the virtual file
// is then streamed with one request to the store per source span in it,
// usually one.
type remoteVirtual struct {
	*virtualObject
	rr rangeio.RangeReader
}

// ReadRange returns a stream of the n bytes at off of the virtual file.
// The first source span is requested before it returns, so that a store
// that fails does so before the response's status line.
func (v remoteVirtual) ReadRange(off, n int64) (io.ReadCloser, error) {
	spans := slices.Collect(v.l.Spans(off, n))
	var total int64
	for _, s := range spans {
		total += s.Len
	}
	if off < 0 || total != n {
		return nil, fmt.Errorf("media: range %d+%d outside the virtual file of %d bytes", off, n, v.l.Size)
	}
	sr := &spanReader{rr: v.rr, spans: spans}
	for _, s := range spans {
		if s.Data == nil {
			rc, err := v.rr.ReadRange(s.Src, s.Len)
			if err != nil {
				return nil, err
			}
			sr.open, sr.openAt = rc, s.Src
			break
		}
	}
	return sr, nil
}

// spanReader reads a list of spans in order: bytes in memory, and ranges
// of the source, each one stream from the store.
type spanReader struct {
	rr     rangeio.RangeReader
	spans  []mp4.Segment
	cur    io.ReadCloser // the stream of spans[0], a source span
	open   io.ReadCloser // opened ahead by ReadRange, for the source span at openAt
	openAt int64
}

func (s *spanReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for len(s.spans) > 0 {
		sp := &s.spans[0]
		if sp.Len == 0 {
			if s.cur != nil {
				s.cur.Close()
				s.cur = nil
			}
			s.spans = s.spans[1:]
			continue
		}
		if sp.Data != nil {
			n := copy(p, sp.Data)
			sp.Data, sp.Len = sp.Data[n:], sp.Len-int64(n)
			return n, nil
		}
		if s.cur == nil {
			if s.open != nil && s.openAt == sp.Src {
				s.cur, s.open = s.open, nil
			} else {
				rc, err := s.rr.ReadRange(sp.Src, sp.Len)
				if err != nil {
					return 0, err
				}
				s.cur = rc
			}
		}
		n, err := s.cur.Read(p[:min(int64(len(p)), sp.Len)])
		sp.Src, sp.Len = sp.Src+int64(n), sp.Len-int64(n)
		if err == io.EOF {
			if sp.Len > 0 {
				return n, io.ErrUnexpectedEOF
			}
			err = nil
		}
		if n > 0 || err != nil {
			return n, err
		}
	}
	return 0, io.EOF
}

func (s *spanReader) Close() error {
	for _, c := range []io.ReadCloser{s.cur, s.open} {
		if c != nil {
			c.Close()
		}
	}
	s.cur, s.open = nil, nil
	return nil
}

// planCache remembers the faststart plan of object versions, bounded by
// the bytes the plans hold (their rewritten moov boxes) plus a fixed cost
// per entry. A nil layout records "serve as stored". It is an LRU, safe for
// concurrent use.
type planCache struct {
	mu   sync.Mutex
	max  int64
	used int64
	m    map[typeKey]*list.Element
	lru  list.List // of *planEntry, most recently used first
}

type planEntry struct {
	k     typeKey
	l     *mp4.Layout
	ctype string
	cost  int64
}

func newPlanCache(max int64) *planCache {
	return &planCache{max: max, m: make(map[typeKey]*list.Element)}
}

func (c *planCache) get(k typeKey) (*planEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[k]
	if !ok {
		return nil, false
	}
	c.lru.MoveToFront(e)
	return e.Value.(*planEntry), true
}

// put remembers l and the content type for k unless the entry alone would
// take more than the cache holds, evicting the least recently used
// entries to make room.
func (c *planCache) put(k typeKey, l *mp4.Layout, ctype string) {
	cost := int64(faststartEntryCost + len(k.key) + len(k.etag) + len(ctype))
	if l != nil {
		cost += l.MemSize()
	}
	if cost > c.max {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[k]; ok {
		c.lru.MoveToFront(e)
		return
	}
	c.m[k] = c.lru.PushFront(&planEntry{k: k, l: l, ctype: ctype, cost: cost})
	c.used += cost
	for c.used > c.max {
		old := c.lru.Back()
		pe := old.Value.(*planEntry)
		c.lru.Remove(old)
		delete(c.m, pe.k)
		c.used -= pe.cost
	}
}

// stats reports the entries and bytes held (for tests).
func (c *planCache) stats() (entries int, bytes int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len(), c.used
}

var (
	_ storage.Object      = (*virtualObject)(nil)
	_ rangeio.RangeReader = remoteVirtual{}
)
