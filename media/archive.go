package media

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path"
	"slices"
	"strings"

	"github.com/rangeserve/rangeserve/rangeio"
	"github.com/rangeserve/rangeserve/storage"
	"github.com/rangeserve/rangeserve/zipstream"
)

// archiveType is the Content-Type of folder archives.
const archiveType = "application/zip"

// archiveQuery returns the value of the "archive" query parameter and
// whether the request has one. Requests without a query pay one
// comparison.
func archiveQuery(r *http.Request) (string, bool) {
	q := r.URL.RawQuery
	if !strings.Contains(q, "archive=") {
		return "", false
	}
	v, err := url.ParseQuery(q)
	if err != nil || !v.Has("archive") {
		return "", false
	}
	return v.Get("archive"), true
}

// serveArchive answers GET and HEAD of a folder with ?archive=zip: the
// folder's files and subfolders, listed recursively through
// [storage.Lister] (hidden names left out unless [Options].AllowHidden,
// names no archive can hold skipped), as one stored ZIP archive. Its
// length and a strong ETag are known from the listing before the first
// byte (see package zipstream), so it is served like any object: 200 or
// 206, single and multiple ranges, If-Range, If-None-Match. It has no
// Last-Modified: a removed file would not change the latest date.
//
// With &deflate=1, text entries are deflated and the archive is streamed
// chunked, without a length, ETag or ranges.
func (h *Handler) serveArchive(w http.ResponseWriter, r *http.Request, key, kind string) {
	ctx := r.Context()
	report(ctx, StrategyArchive)
	if kind != "zip" {
		h.log.LogAttrs(ctx, slog.LevelInfo, "media: unknown archive format requested",
			slog.String("key", key), slog.String("archive", truncate(kind, 100)))
		writeStatus(w, r, http.StatusBadRequest)
		return
	}
	lister, ok := h.b.(storage.Lister)
	if !ok || h.opts.NoArchives {
		h.log.LogAttrs(ctx, slog.LevelInfo, "media: folder archives are not available on this mount",
			slog.String("key", key), slog.Bool("listable", ok), slog.Bool("no_archives", h.opts.NoArchives))
		writeStatus(w, r, http.StatusNotFound)
		return
	}
	deflate := false
	switch v := r.URL.Query().Get("deflate"); v {
	case "", "0":
	case "1":
		deflate = true
	default:
		h.log.LogAttrs(ctx, slog.LevelInfo, "media: deflate must be 0 or 1",
			slog.String("key", key), slog.String("deflate", truncate(v, 100)))
		writeStatus(w, r, http.StatusBadRequest)
		return
	}
	entries := h.archiveEntries(ctx, lister, key)
	if deflate {
		h.serveDeflated(w, r, key, entries)
		return
	}
	a, err := zipstream.Build(entries, zipstream.BuildOptions{MaxEntries: h.opts.ArchiveMaxEntries})
	if err == nil && a.Len() == 0 && key != "" {
		err = h.checkFolder(ctx, key)
	}
	if err != nil {
		h.archiveFail(w, r, key, err)
		return
	}
	info := storage.Info{Key: key, Size: a.Size(), ETag: a.ETag(), ContentType: archiveType}
	obj := &archiveObject{Reader: a.Reader(ctx, archiveOpener{h: h, root: key}, h.sums), info: info}
	h.serveObjectAs(w, r, key, info, obj, false, ContentDisposition(Attachment, archiveName(key)))
}

// checkFolder tells an empty folder (an empty archive) from a key that is
// no folder at all (404): a store with no folders lists nothing for both.
func (h *Handler) checkFolder(ctx context.Context, key string) error {
	info, err := h.b.Stat(ctx, key)
	if errors.Is(err, storage.ErrIsDir) {
		return nil
	}
	if err != nil {
		return err
	}
	if !info.IsDir {
		return fmt.Errorf("media: %q is not a folder: %w", key, storage.ErrNotExist)
	}
	return nil
}

// archiveFail answers an archive that could not be listed.
func (h *Handler) archiveFail(w http.ResponseWriter, r *http.Request, key string, err error) {
	if errors.Is(err, zipstream.ErrTooManyEntries) || errors.Is(err, errArchiveTooDeep) {
		h.log.LogAttrs(r.Context(), slog.LevelInfo, "media: folder too large to archive (Options.ArchiveMaxEntries, or nested too deep)",
			slog.String("key", key), slog.Any("err", err))
		writeStatus(w, r, http.StatusForbidden)
		return
	}
	h.fail(w, r, key, err)
}

// archiveName is the file name offered for the archive of key.
func archiveName(key string) string {
	if key == "" {
		return "archive.zip"
	}
	return baseName(key) + ".zip"
}

// archiveEntries lists the folder root recursively as archive entries,
// depth first, each folder's entries sorted by name (so the archive, and
// its ETag, do not depend on the order a store lists in). Hidden names
// (unless allowed) are left out with everything below them; names an
// archive cannot hold are skipped. At most one folder's listing is held
// per level of depth, and listing stops with
// [zipstream.ErrTooManyEntries] past the mount's limit.
func (h *Handler) archiveEntries(ctx context.Context, l storage.Lister, root string) iter.Seq2[zipstream.Entry, error] {
	limit := h.opts.ArchiveMaxEntries
	if limit == 0 {
		limit = zipstream.DefaultMaxEntries
	}
	prefix := root
	if prefix != "" {
		prefix += "/"
	}
	return func(yield func(zipstream.Entry, error) bool) {
		seen := 0
		var walk func(dir string, depth int) bool
		walk = func(dir string, depth int) bool {
			if depth > maxArchiveDepth {
				yield(zipstream.Entry{}, fmt.Errorf("%w: folders nested deeper than %d levels under %q (a symbolic link loop?)", errArchiveTooDeep, maxArchiveDepth, root))
				return false
			}
			var infos []storage.Info
			for info, err := range l.List(ctx, dir) {
				if err != nil {
					yield(zipstream.Entry{}, err)
					return false
				}
				name, ok := strings.CutPrefix(info.Key, prefix)
				if !ok || !h.opts.AllowHidden && hidden(info.Key) || !info.IsDir && info.Size < 0 {
					continue
				}
				if !zipstream.ValidName(name) {
					h.log.LogAttrs(ctx, slog.LevelDebug, "media: name left out of an archive",
						slog.String("key", info.Key))
					continue
				}
				if seen++; limit > 0 && seen > limit {
					yield(zipstream.Entry{}, fmt.Errorf("%w: more than %d under %q", zipstream.ErrTooManyEntries, limit, root))
					return false
				}
				infos = append(infos, info)
			}
			slices.SortFunc(infos, func(a, b storage.Info) int { return strings.Compare(a.Key, b.Key) })
			for _, info := range infos {
				e := zipstream.Entry{Name: info.Key[len(prefix):], Dir: info.IsDir, Size: info.Size, ModTime: info.ModTime, ETag: info.ETag}
				if !yield(e, nil) {
					return false
				}
				if info.IsDir && !walk(info.Key, depth+1) {
					return false
				}
			}
			return true
		}
		walk(root, 0)
	}
}

// maxArchiveDepth bounds the nesting of folders in an archive: a symbolic
// link to a parent folder (allowed when relative and beneath the root)
// would otherwise be followed until the kernel's limit of 40 links in a
// path, duplicating the tree at every level.
const maxArchiveDepth = 32

// errArchiveTooDeep reports folders nested deeper than maxArchiveDepth.
var errArchiveTooDeep = errors.New("media: folders nested too deep to archive")

// serveDeflated streams the archive with its text entries deflated: no
// length is known, so no Content-Length, ETag or ranges. The folder's
// first entry is listed before the status line, so that a missing folder
// is a 404; an error after it aborts the response.
func (h *Handler) serveDeflated(w http.ResponseWriter, r *http.Request, key string, entries iter.Seq2[zipstream.Entry, error]) {
	ctx := r.Context()
	next, stop := iter.Pull2(entries)
	defer stop()
	first, err, more := next()
	if err == nil && !more && key != "" {
		err = h.checkFolder(ctx, key)
	}
	if err != nil {
		h.archiveFail(w, r, key, err)
		return
	}
	hw := headerWriter{h: w.Header()}
	hw.set("Content-Type", archiveType)
	hw.set("Content-Disposition", ContentDisposition(Attachment, archiveName(key)))
	hw.set("X-Content-Type-Options", "nosniff")
	hw.set("Accept-Ranges", "none")
	hw.set("X-Accel-Buffering", "no")
	if h.opts.CacheControl != "" {
		hw.set("Cache-Control", h.opts.CacheControl)
	}
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	rest := func(yield func(zipstream.Entry, error) bool) {
		if !more || !yield(first, nil) {
			return
		}
		for {
			e, err, ok := next()
			if !ok || !yield(e, err) {
				return
			}
		}
	}
	opts := zipstream.DeflateOptions{Compress: func(name string) bool {
		return zipstream.Compressible(name) || compressibleType(extType(path.Base(name)))
	}}
	// Hide w's ReadFrom: archive/zip buffers its writes anyway.
	if err := zipstream.WriteDeflate(ctx, struct{ io.Writer }{w}, rest, archiveOpener{h: h, root: key}, opts); err != nil {
		h.abort(r, key, err)
	}
}

// compressibleType reports a text media type.
func compressibleType(ct string) bool {
	ct, _, _ = strings.Cut(ct, ";")
	return strings.HasPrefix(ct, "text/") || strings.HasSuffix(ct, "+xml") || strings.HasSuffix(ct, "+json") ||
		ct == "application/json" || ct == "application/xml" || ct == "application/javascript"
}

// archiveObject is an archive seen as a [storage.Object]: ReadAt and
// ReadRange produce its bytes.
type archiveObject struct {
	*zipstream.Reader
	info storage.Info
}

func (o *archiveObject) Info() storage.Info { return o.info }
func (o *archiveObject) Close() error       { return nil }

// archiveOpener opens the entries of the folder root through the
// handler's backend.
type archiveOpener struct {
	h    *Handler
	root string
}

func (o archiveOpener) Open(ctx context.Context, e zipstream.Entry) (zipstream.File, error) {
	key := e.Name
	if o.root != "" {
		key = o.root + "/" + e.Name
	}
	obj, err := o.h.b.Open(ctx, key)
	if err != nil {
		return nil, err
	}
	if info := obj.Info(); (info.ETag != e.ETag || info.Size != e.Size) && info.Size > 0 {
		// A backend that remembers metadata for a moment (S3's stat TTL)
		// may describe an older version than the listing did; a read
		// pinned to it fails with storage.ErrChanged and drops what the
		// backend remembered: open it again, once. Otherwise the
		// version differs (zipstream reports it).
		var b [1]byte
		if _, rerr := obj.ReadAt(b[:], 0); errors.Is(rerr, storage.ErrChanged) {
			obj.Close()
			if obj, err = o.h.b.Open(ctx, key); err != nil {
				return nil, err
			}
		}
	}
	f := archiveFile{Object: obj, info: obj.Info()}
	if rr, ok := obj.(rangeio.RangeReader); ok {
		return &archiveRangeFile{archiveFile: f, rr: rr}, nil
	}
	return &f, nil
}

// archiveFile is an opened entry.
type archiveFile struct {
	storage.Object
	info storage.Info
}

func (f *archiveFile) Size() int64 { return f.info.Size }

// StoredCRC32 passes on the CRC-32 of the whole object a backend stored
// (an object's implementing [zipstream.StoredCRC32]), so that it need not
// be computed.
func (f *archiveFile) StoredCRC32() (uint32, bool) {
	if s, ok := f.Object.(zipstream.StoredCRC32); ok {
		return s.StoredCRC32()
	}
	return 0, false
}

// File returns the entry's local file, if any, for sendfile(2).
func (f *archiveFile) File() *os.File { return fileOf(f.Object) }
func (f *archiveFile) ETag() string   { return f.info.ETag }

// Check reports a local file modified in place while it was read: its
// open descriptor reads the new bytes, so the size and modification time
// are compared with those it was opened with. Remote objects are read
// pinned to their version (storage.ErrChanged).
func (f *archiveFile) Check() error {
	fl := fileOf(f.Object)
	if fl == nil {
		return nil
	}
	fi, err := fl.Stat()
	if err != nil {
		return err
	}
	if fi.Size() != f.info.Size || !fi.ModTime().Equal(f.info.ModTime) {
		return fmt.Errorf("%w: %q modified while it was read", zipstream.ErrChanged, f.info.Key)
	}
	return nil
}

// archiveRangeFile is an opened entry of a store that reads a span as one
// stream.
type archiveRangeFile struct {
	archiveFile
	rr rangeio.RangeReader
}

func (f *archiveRangeFile) ReadRange(off, n int64) (io.ReadCloser, error) {
	return f.rr.ReadRange(off, n)
}

var (
	_ zipstream.Opener      = archiveOpener{}
	_ zipstream.Checker     = (*archiveFile)(nil)
	_ zipstream.StoredCRC32 = (*archiveFile)(nil)
	_ storage.Object        = (*archiveObject)(nil)
)
