package media

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/rangeserve/rangeserve/rangeio"
	"github.com/rangeserve/rangeserve/storage"
	"github.com/rangeserve/rangeserve/zipstream"
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

// DefaultRedirectTTL is the lifetime of presigned URLs when
// [Options].RedirectTTL is zero. The longest is the store's limit,
// [storage.MaxPresignTTL] (7 days).
const DefaultRedirectTTL = 15 * time.Minute

// Options configure a [Handler]: zero values mean the defaults stated
// below, and [New] refuses values that are out of range or that belong to
// another Mode (they would be silently ignored). The zero value serves
// bytes with no Cache-Control header, at most [rangeio.DefaultMaxRanges]
// ranges and no hidden names.
type Options struct {
	// CacheControl is sent as Cache-Control with successful responses
	// (and 304s); "" sends none.
	CacheControl string
	// MaxRanges is the most ranges (after coalescing) a multi-range
	// request may ask for, 1 to [rangeio.MaxSpecs]; more are answered
	// with the whole representation. 0 means [rangeio.DefaultMaxRanges].
	MaxRanges int
	// Mode is the delivery mode; "" means [ModeServe].
	Mode Mode
	// InternalPrefix is the nginx location prefix for [ModeXAccel], such
	// as "/_protected" (required in that mode, refused in the others; a
	// trailing slash is ignored).
	InternalPrefix string
	// AccelBuffering, "yes" or "no", is sent as X-Accel-Buffering in
	// [ModeXAccel] (refused in the others); "" sends none.
	AccelBuffering string
	// AccelLimitRate, a number of bytes per second, is sent as
	// X-Accel-Limit-Rate in [ModeXAccel] (refused in the others); ""
	// sends none.
	AccelLimitRate string
	// RedirectTTL is the longest lifetime of presigned URLs in
	// [ModeRedirect] (refused in the others), between
	// [storage.MinPresignTTL] and [storage.MaxPresignTTL] (1s to 7 days);
	// 0 means [DefaultRedirectTTL]. A request's [Grant] may shorten it.
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
	// AllowHidden serves keys with a segment that starts with "." (".env",
	// ".git/config", "a/.b/c"). By default such a key is answered 404, and
	// the refusal is logged, whatever the backend holds: the policy is
	// the handler's, so it is the same for every backend and for
	// ServeHTTP and ServeKey alike.
	AllowHidden bool
	// Faststart, "on" or "off", controls virtual faststart: an MP4, MOV,
	// M4A or M4V (by content type) whose moov box follows its media data
	// is served as a virtual file with the moov moved to the front (see
	// faststart.go and package mp4), so that players start at once; the
	// query ?original=1 gets the bytes as stored. "" means "on" in
	// [ModeServe] and "off" in the delegation modes, where "on" makes the
	// handler serve such files itself instead of delegating them (the
	// front proxy could only send the stored bytes); [ModeRedirect]
	// refuses "on".
	Faststart string
	// FaststartCacheSize bounds, in bytes, the memory of the remembered
	// faststart plans (chiefly the rewritten moov boxes, one per object
	// version); a moov box over a quarter of it is not rewritten. 0 means
	// [DefaultFaststartCacheSize].
	FaststartCacheSize int64
	// NoArchives turns off folder archives (GET <folder>?archive=zip,
	// answered 404 then). By default a folder of a backend that lists
	// ([storage.Lister]) is served as one ZIP archive on request.
	NoArchives bool
	// ArchiveMaxEntries is the most files and folders one archive may
	// hold; a larger folder is refused with 403. Its table costs about 50
	// bytes plus the name and ETag per entry while it is served. 0 means
	// [zipstream.DefaultMaxEntries]; [zipstream.NoEntryLimit] means none.
	ArchiveMaxEntries int
	// ArchiveCRCs is how many entries' CRC-32s are kept between archive
	// requests (about 100 bytes each), so that a range of an archive
	// needs no read of the entries a former request saw. 0 means
	// [zipstream.DefaultSumsCapacity].
	ArchiveCRCs int
	// ArchiveConcurrency is the most archive requests one handler works
	// on at once: a stored archive from its listing to its layout (the
	// bytes are then served like a file's), a deflated one (&deflate=1)
	// for its whole stream. A request over the cap is answered 503 with
	// Retry-After: 1. 0 means [DefaultArchiveConcurrency].
	ArchiveConcurrency int
	// Shadowed lists keys (cleaned, relative to the backend's root, such
	// as "private") whose subtrees another handler serves: a mount nested
	// under this one, with its own policy. Archives leave them out with
	// everything beneath them, and a request for a key at or beneath one
	// is answered 404 (a router that sends each path to the longest
	// matching mount never makes one). Listings still show the name: the
	// router sends it to the other handler.
	Shadowed []string
	// Logger receives errors and ignored bad input; nil means
	// slog.Default().
	Logger *slog.Logger
}

// DefaultArchiveConcurrency is the cap on archive requests in flight per
// handler when [Options].ArchiveConcurrency is zero.
const DefaultArchiveConcurrency = 4

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
	flush     flushPolicy     // the chunked path's (chunked.go)
	faststart bool            // serve virtual faststart files (faststart.go)
	plans     *planCache      // faststart plans per object version
	sums      *zipstream.Sums // CRC-32s of archive entries
	archives  chan struct{}   // one token per archive in flight (archive.go)
	shadowed  map[string]bool // Options.Shadowed
}

// New returns a Handler for b. It applies the defaults of opts and checks
// it against the mode and against b's capabilities: [ModeXSendfile] needs
// a [storage.Pather], [ModeRedirect] a [storage.Presigner], [ModeXAccel]
// an InternalPrefix. Errors name the field of [Options] at fault, so that
// a caller mapping a configuration file onto Options can point at the
// key.
func New(b storage.Backend, opts Options) (*Handler, error) {
	if b == nil {
		return nil, errors.New("media: New: nil backend")
	}
	h := &Handler{b: b, opts: opts, log: opts.Logger, types: newTypeCache(typeCacheSize)}
	if opts.ArchiveMaxEntries < zipstream.NoEntryLimit || opts.ArchiveCRCs < 0 {
		return nil, fmt.Errorf("media: ArchiveMaxEntries (%d) and ArchiveCRCs (%d) must not be negative (ArchiveMaxEntries may be zipstream.NoEntryLimit)", opts.ArchiveMaxEntries, opts.ArchiveCRCs)
	}
	h.sums = zipstream.NewSums(opts.ArchiveCRCs)
	if opts.ArchiveConcurrency < 0 {
		return nil, fmt.Errorf("media: ArchiveConcurrency must not be negative (got %d); 0 means %d, NoArchives turns archives off", opts.ArchiveConcurrency, DefaultArchiveConcurrency)
	}
	if h.opts.ArchiveConcurrency == 0 {
		h.opts.ArchiveConcurrency = DefaultArchiveConcurrency
	}
	h.archives = make(chan struct{}, h.opts.ArchiveConcurrency)
	for _, k := range opts.Shadowed {
		if ck, err := storage.CleanKey(k); err != nil || ck != k || k == "" {
			return nil, fmt.Errorf("media: Shadowed key %q is not a cleaned, non-empty key (such as \"private\")", k)
		}
		if h.shadowed == nil {
			h.shadowed = map[string]bool{}
		}
		h.shadowed[k] = true
	}
	if h.log == nil {
		h.log = slog.Default()
	}
	if h.opts.Mode == "" {
		h.opts.Mode = ModeServe
	}
	if err := h.initStreaming(); err != nil {
		return nil, err
	}
	var err error
	if h.faststart, err = faststartOn(h.opts); err != nil {
		return nil, err
	}
	if opts.FaststartCacheSize < 0 {
		return nil, fmt.Errorf("media: FaststartCacheSize must not be negative (got %d); 0 means the default, Faststart \"off\" turns the feature off", opts.FaststartCacheSize)
	}
	if h.opts.FaststartCacheSize == 0 {
		h.opts.FaststartCacheSize = DefaultFaststartCacheSize
	}
	h.plans = newPlanCache(h.opts.FaststartCacheSize)
	if !validHeaderValue(opts.CacheControl) {
		return nil, fmt.Errorf("media: CacheControl %q holds characters not allowed in a header", opts.CacheControl)
	}
	if opts.MaxRanges < 0 || opts.MaxRanges > rangeio.MaxSpecs {
		return nil, fmt.Errorf("media: MaxRanges %d is out of range: use 1 to %d (0 means %d)", opts.MaxRanges, rangeio.MaxSpecs, rangeio.DefaultMaxRanges)
	}
	if h.opts.Mode != ModeXAccel {
		for _, o := range []struct{ name, v string }{
			{"InternalPrefix", opts.InternalPrefix}, {"AccelBuffering", opts.AccelBuffering}, {"AccelLimitRate", opts.AccelLimitRate},
		} {
			if o.v != "" {
				return nil, fmt.Errorf("media: %s %q applies to mode %s only, and the mode is %s: remove it or change the mode", o.name, o.v, ModeXAccel, h.opts.Mode)
			}
		}
	}
	if h.opts.Mode != ModeRedirect && opts.RedirectTTL != 0 {
		return nil, fmt.Errorf("media: RedirectTTL %v applies to mode %s only, and the mode is %s: remove it or change the mode", opts.RedirectTTL, ModeRedirect, h.opts.Mode)
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
		if h.opts.RedirectTTL < storage.MinPresignTTL || h.opts.RedirectTTL > storage.MaxPresignTTL {
			return nil, fmt.Errorf("media: RedirectTTL %v is out of range: presigned URLs live from %v to %v (7 days)",
				h.opts.RedirectTTL, storage.MinPresignTTL, storage.MaxPresignTTL)
		}
	default:
		return nil, fmt.Errorf("media: unknown mode %q: use %q, %q, %q or %q", opts.Mode, ModeServe, ModeXAccel, ModeXSendfile, ModeRedirect)
	}
	return h, nil
}

// ServeHTTP serves the object whose key is r.URL.Path, cleaned with
// [storage.CleanKey]; a key CleanKey refuses, or a hidden one (see
// [Options].AllowHidden), is answered with 404. Mount it with
// http.StripPrefix to serve a prefix.
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
// already cleaned with [storage.CleanKey] (and authorized). A hidden key is
// answered with 404 unless [Options].AllowHidden.
func (h *Handler) ServeKey(w http.ResponseWriter, r *http.Request, key string) {
	if !h.allowMethod(w, r) {
		return
	}
	h.serveKey(w, r, key)
}

// hidden reports whether a segment of key starts with "." (a cleaned key
// has no "." or ".." segment, so this is a hidden name). It is the one
// predicate of the hidden-file policy (see [Options].AllowHidden), for
// whatever serves or enumerates keys.
func hidden(key string) bool {
	return strings.HasPrefix(key, ".") || strings.Contains(key, "/.")
}

// isShadowed reports whether key is at or beneath a key of
// [Options].Shadowed.
func (h *Handler) isShadowed(key string) bool {
	if h.shadowed == nil {
		return false
	}
	for k := key; k != ""; {
		if h.shadowed[k] {
			return true
		}
		i := strings.LastIndexByte(k, '/')
		if i < 0 {
			break
		}
		k = k[:i]
	}
	return false
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
	if !h.opts.AllowHidden && hidden(key) {
		h.notFound(w, r, key, "media: refused a hidden name (Options.AllowHidden is off)")
		return
	}
	if h.isShadowed(key) {
		h.notFound(w, r, key, "media: refused a key another handler serves (Options.Shadowed)")
		return
	}
	if kind, ok := archiveQuery(r); ok {
		h.serveArchive(w, r, key, kind)
		return
	}
	if h.serveQuery(w, r, key) { // listings, ?follow=1, folders (query.go)
		return
	}
	switch h.opts.Mode {
	case ModeXAccel, ModeXSendfile:
		h.delegate(w, r, key)
	case ModeRedirect:
		h.redirect(w, r, key)
	default:
		// serve, with the body sent from this frame (see bodyTail).
		var tail bodyTail
		h.serveOpened(w, r, key, false, &tail)
		tail.send(h, w, r)
	}
}

// notFound logs msg and answers 404. It is out of line so that its
// logging does not widen serveKey's frame, which every response's body
// is sent below (see bodyTail).
//
//go:noinline
func (h *Handler) notFound(w http.ResponseWriter, r *http.Request, key, msg string) {
	h.log.LogAttrs(r.Context(), slog.LevelInfo, msg, slog.String("method", r.Method), slog.String("key", key))
	writeStatus(w, r, http.StatusNotFound)
}

var _ http.Handler = (*Handler)(nil)
