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
	"sync"

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
//
// Left out: the subtrees of [Options].Shadowed (another handler serves
// them) and symbolic links to folders (each would repeat a folder, or
// reach one another handler serves); files reached through links are
// archived. At most [Options].ArchiveConcurrency archives are listed or
// deflated at once; more are answered 503.
func (h *Handler) serveArchive(w http.ResponseWriter, r *http.Request, key, kind string) {
	ctx := r.Context()
	report(ctx, StrategyArchive)
	if h.oneObject(w, r, key, "archive") {
		return
	}
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
	if !h.acquireArchive(w, r, key) {
		return
	}
	entries := h.archiveEntries(ctx, lister, key)
	if deflate {
		defer h.releaseArchive()
		h.serveDeflated(w, r, key, entries)
		return
	}
	a, err := func() (*zipstream.Archive, error) {
		defer h.releaseArchive()
		return zipstream.Build(entries, zipstream.BuildOptions{MaxEntries: h.opts.ArchiveMaxEntries})
	}()
	if err == nil && a.Len() == 0 && key != "" {
		err = h.checkFolder(ctx, key)
	}
	if err != nil {
		h.archiveFail(w, r, key, err)
		return
	}
	info := storage.Info{Key: key, Size: a.Size(), ETag: a.ETag(), ContentType: archiveType}
	obj := &archiveObject{Reader: a.Reader(ctx, archiveOpener{h: h, root: key}, h.sums), info: info}
	h.serveObjectAs(w, r, key, info, obj, false, ContentDisposition(Attachment, archiveName(key)), nil)
}

// acquireArchive takes one of the handler's archive tokens
// ([Options].ArchiveConcurrency), or answers 503 with Retry-After and
// reports false when none is free: listing a large folder costs the
// store a request per folder, and deflating costs CPU.
func (h *Handler) acquireArchive(w http.ResponseWriter, r *http.Request, key string) bool {
	select {
	case h.archives <- struct{}{}:
		return true
	default:
	}
	h.log.LogAttrs(r.Context(), slog.LevelWarn, "media: too many archives in flight (Options.ArchiveConcurrency)",
		slog.String("key", key), slog.Int("limit", cap(h.archives)))
	w.Header().Set("Retry-After", "1")
	writeStatus(w, r, http.StatusServiceUnavailable)
	return false
}

// releaseArchive returns a token taken by acquireArchive.
func (h *Handler) releaseArchive() { <-h.archives }

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
// archive cannot hold are skipped. Listing stops with
// [zipstream.ErrTooManyEntries] past the mount's limit.
//
// The listings of the next [archiveLookahead] subfolders of the folder
// being walked are read ahead, concurrently (at most archiveLookahead
// listings run at once): a local folder's entries are each stat(2)ed and
// an S3 prefix is one request per folder, so listing folders one after
// the other would leave cores idle or wait on one round trip at a time
// before the archive's first byte. At most 1 + archiveLookahead folder
// listings are held per level of depth; no listing outlives the
// iteration.
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
		ctx, cancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
		defer wg.Wait()
		defer cancel()
		running := make(chan struct{}, archiveLookahead)
		// start lists dir in the background and returns a function that
		// waits for its entries.
		start := func(dir string) func() ([]storage.Info, error) {
			done := make(chan struct{})
			var infos []storage.Info
			var err error
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer close(done)
				select {
				case running <- struct{}{}:
				case <-ctx.Done():
					err = ctx.Err()
					return
				}
				defer func() { <-running }()
				infos, err = h.archiveFolder(ctx, l, dir, prefix, root, limit)
			}()
			return func() ([]storage.Info, error) {
				<-done
				return infos, err
			}
		}
		seen := 0
		var walk func(dir string, depth int, listing func() ([]storage.Info, error)) bool
		walk = func(dir string, depth int, listing func() ([]storage.Info, error)) bool {
			if depth > maxArchiveDepth {
				yield(zipstream.Entry{}, fmt.Errorf("%w: folders nested deeper than %d levels under %q (a symbolic link loop?)", errArchiveTooDeep, maxArchiveDepth, root))
				return false
			}
			infos, err := listing()
			if err != nil {
				yield(zipstream.Entry{}, err)
				return false
			}
			if seen += len(infos); limit > 0 && seen > limit {
				yield(zipstream.Entry{}, fmt.Errorf("%w: more than %d under %q", zipstream.ErrTooManyEntries, limit, root))
				return false
			}
			// The subfolders' listings, started archiveLookahead ahead of
			// the one walked.
			var subs []int
			for i, info := range infos {
				if info.IsDir {
					subs = append(subs, i)
				}
			}
			listings := make(map[int]func() ([]storage.Info, error), archiveLookahead)
			next := 0 // index in subs of the next subfolder to start
			for i, info := range infos {
				e := zipstream.Entry{Name: info.Key[len(prefix):], Dir: info.IsDir, Size: info.Size, ModTime: info.ModTime, ETag: info.ETag}
				if !yield(e, nil) {
					return false
				}
				if !info.IsDir {
					continue
				}
				for ; next < len(subs) && len(listings) < archiveLookahead; next++ {
					listings[subs[next]] = start(infos[subs[next]].Key)
				}
				sub := listings[i]
				delete(listings, i)
				if !walk(info.Key, depth+1, sub) {
					return false
				}
			}
			return true
		}
		walk(root, 0, start(root))
	}
}

// archiveLookahead is how many folder listings an archive reads ahead,
// and at most runs at once.
const archiveLookahead = 4

// archiveFolder lists the folder dir for an archive of root (whose keys
// start with prefix), sorted by key: hidden names (unless allowed) and
// names no archive can hold are left out, and more than limit entries
// (limit > 0) is [zipstream.ErrTooManyEntries].
func (h *Handler) archiveFolder(ctx context.Context, l storage.Lister, dir, prefix, root string, limit int) ([]storage.Info, error) {
	var infos []storage.Info
	for info, err := range l.List(ctx, dir) {
		if err != nil {
			return nil, err
		}
		name, ok := strings.CutPrefix(info.Key, prefix)
		if !ok || !h.opts.AllowHidden && hidden(info.Key) || !info.IsDir && info.Size < 0 {
			continue
		}
		if h.shadowed[info.Key] {
			h.log.LogAttrs(ctx, slog.LevelDebug, "media: folder another handler serves left out of an archive (Options.Shadowed)",
				slog.String("key", info.Key))
			continue
		}
		if info.IsDir && info.Symlink {
			// Links to folders would repeat them (l1 -> ., l2 -> .)
			// or reach what another handler serves (sub/up -> ..).
			h.log.LogAttrs(ctx, slog.LevelDebug, "media: symbolic link to a folder left out of an archive",
				slog.String("key", info.Key))
			continue
		}
		if !zipstream.ValidName(name) {
			h.log.LogAttrs(ctx, slog.LevelDebug, "media: name left out of an archive",
				slog.String("key", info.Key))
			continue
		}
		if limit > 0 && len(infos) >= limit {
			return nil, fmt.Errorf("%w: more than %d under %q", zipstream.ErrTooManyEntries, limit, root)
		}
		infos = append(infos, info)
	}
	slices.SortFunc(infos, func(a, b storage.Info) int { return strings.Compare(a.Key, b.Key) })
	return infos, nil
}

// maxArchiveDepth bounds the nesting of folders in an archive: a symbolic
// link to a parent folder (allowed when relative and beneath the root)
// would otherwise be followed until the kernel's limit of 40 links in a
// path, duplicating the tree at every level.
const maxArchiveDepth = 32

// errArchiveTooDeep reports folders nested deeper than maxArchiveDepth.
var errArchiveTooDeep = errors.New("media: folders nested too deep to archive")

// serveDeflated streams the archive with its text entries deflated, on
// the chunked path (see [Stream]): no length is known, so no
// Content-Length, ETag or ranges; the handler's flush policy;
// X-Accel-Buffering: no. An error before the first chunk leaves is a
// status, after it an aborted response.
func (h *Handler) serveDeflated(w http.ResponseWriter, r *http.Request, key string, entries iter.Seq2[zipstream.Entry, error]) {
	ctx := r.Context()
	// The whole folder is listed before anything is sent (the entries are
	// held, as a stored archive's table is), so that a missing folder is
	// a 404 and one too large or nested too deep a 403, as for a stored
	// archive.
	var list []zipstream.Entry
	var err error
	for e, lerr := range entries {
		if lerr != nil {
			err = lerr
			break
		}
		list = append(list, e)
	}
	if err == nil && len(list) == 0 && key != "" {
		err = h.checkFolder(ctx, key)
	}
	if err != nil {
		h.archiveFail(w, r, key, err)
		return
	}
	hw := headerWriter{h: w.Header()}
	hw.set("Content-Type", archiveType)
	hw.set("Content-Disposition", ContentDisposition(Attachment, archiveName(key)))
	if h.opts.CacheControl != "" {
		hw.set("Cache-Control", h.opts.CacheControl)
	}
	rest := func(yield func(zipstream.Entry, error) bool) {
		for _, e := range list {
			if !yield(e, nil) {
				return
			}
		}
	}
	opts := zipstream.DeflateOptions{Compress: func(name string) bool {
		return zipstream.Compressible(name) || compressibleType(extType(path.Base(name)))
	}}
	s := stream{w: w, r: r, policy: h.flush, log: h.log, statusOf: archiveStatus, what: key}
	_ = s.run(func(out io.Writer) error {
		return zipstream.WriteDeflate(ctx, out, rest, archiveOpener{h: h, root: key}, opts)
	})
}

// archiveStatus is the status of an archive that fails before its first
// byte: a folder too large or nested too deep to archive is 403 (as
// archiveFail answers it), anything else as [errorStatus] says.
func archiveStatus(ctx context.Context, err error) int {
	if errors.Is(err, zipstream.ErrTooManyEntries) || errors.Is(err, errArchiveTooDeep) {
		if st := errorStatus(ctx, err); st == 0 {
			return 0
		}
		return http.StatusForbidden
	}
	return errorStatus(ctx, err)
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
