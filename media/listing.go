package media

import (
	"container/heap"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/rangeserve/rangeserve/storage"
)

// Limits of ?format=json pages.
const (
	// DefaultListLimit is the number of entries of a page without
	// &limit.
	DefaultListLimit = 200
	// MaxListLimit is the most entries a page holds; a larger &limit is
	// lowered to it.
	MaxListLimit = 1000
)

// listEntry is one entry of a listing, in NDJSON and in JSON pages:
// {"name","size","mtime","etag","type","dir"}. Unknown values are null
// (size and mtime) or "" (etag, and type for folders).
type listEntry struct {
	Name  string  `json:"name"`
	Size  *int64  `json:"size"`
	MTime *string `json:"mtime"`
	ETag  string  `json:"etag"`
	Type  string  `json:"type"`
	Dir   bool    `json:"dir"`
}

// listPage is the body of a ?format=json answer.
type listPage struct {
	// Path is the folder's URL path, decoded, ending in "/".
	Path    string      `json:"path"`
	Entries []listEntry `json:"entries"`
	// Next is the cursor of the next page, "" after the last one.
	Next string `json:"next"`
}

// entryOf describes info for a listing.
func entryOf(info storage.Info) listEntry {
	e := listEntry{Name: strings.TrimSuffix(storage.ListName(info), "/"), Dir: info.IsDir}
	if !isZeroTime(info.ModTime) {
		s := info.ModTime.UTC().Format(time.RFC3339)
		e.MTime = &s
	}
	if info.IsDir {
		return e
	}
	if info.Size >= 0 {
		size := info.Size
		e.Size = &size
	}
	e.ETag = normalizeETag(info.ETag)
	e.Type = infoType(info.ContentType)
	if e.Type == "" {
		e.Type = extType(e.Name)
	}
	if e.Type == "" {
		e.Type = octetStream
	}
	return e
}

// listed reports whether info belongs in a listing: hidden names only
// with Options.AllowHidden, as for requests.
func (h *Handler) listed(info storage.Info) bool {
	return h.opts.AllowHidden || !strings.HasPrefix(storage.ListName(info), ".")
}

// serveNDJSON streams the entries of the folder key, one JSON object a
// line, in the backend's order ([storage.Lister]: a local directory's
// order, S3's page by page): memory stays constant whatever the folder's
// size, and the first entries leave at once.
func (h *Handler) serveNDJSON(w http.ResponseWriter, r *http.Request, key string) {
	ctx := r.Context()
	report(ctx, StrategyListing)
	if h.oneObject(w, r, key, "listing") {
		return
	}
	l, ok := h.b.(storage.Lister)
	if !ok {
		h.cannotList(w, r, key)
		return
	}
	if r.Method == http.MethodHead {
		// The status GET would get: whether the folder can be listed.
		if err := h.probeFolder(ctx, l, key); err != nil {
			h.fail(w, r, key, err)
			return
		}
	}
	hdr := w.Header()
	hdr.Set("Content-Type", NDJSONType)
	hdr.Set("Cache-Control", "no-cache")
	_ = h.stream(w, r, key, func(out io.Writer) error {
		enc := json.NewEncoder(out)
		enc.SetEscapeHTML(false)
		n := 0
		for info, err := range l.List(ctx, key) {
			if err != nil {
				return err
			}
			if !h.listed(info) {
				continue
			}
			if err := enc.Encode(entryOf(info)); err != nil {
				return err
			}
			n++
		}
		if n == 0 {
			return h.checkFolder(ctx, key)
		}
		return nil
	})
}

// probeFolder reads the first entry of the folder key, to answer HEAD
// with the status GET would get.
func (h *Handler) probeFolder(ctx context.Context, l storage.Lister, key string) error {
	for _, err := range l.List(ctx, key) {
		return err
	}
	return h.checkFolder(ctx, key)
}

// servePage answers one page of the folder key, sorted by
// [storage.ListName], as one JSON object.
func (h *Handler) servePage(w http.ResponseWriter, r *http.Request, key string, q url.Values) {
	ctx := r.Context()
	report(ctx, StrategyListing)
	if h.oneObject(w, r, key, "listing") {
		return
	}
	limit := DefaultListLimit
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			h.badRequest(w, r, key, "400 limit must be a positive number\n", "limit", s)
			return
		}
		limit = min(n, MaxListLimit)
	}
	after := ""
	if c := q.Get("cursor"); c != "" {
		var err error
		if after, err = decodeCursor(c); err != nil {
			h.badRequest(w, r, key, "400 bad cursor\n", "cursor", c)
			return
		}
	}
	infos, more, err := h.listPage(ctx, key, after, limit)
	if errors.Is(err, errNoLister) {
		h.cannotList(w, r, key)
		return
	}
	if err == nil && len(infos) == 0 && after == "" {
		err = h.checkFolder(ctx, key)
	}
	if err != nil {
		h.fail(w, r, key, err)
		return
	}
	p := folderPath(r)
	page := listPage{Path: p, Entries: make([]listEntry, 0, len(infos))}
	// Entries the listing leaves out (hidden names) are dropped after the
	// backend's page is cut, so a page is topped up from the following
	// ones, a bounded number of times: a folder of mostly hidden names
	// still pages forward through the cursor rather than in one request.
	for refill := 0; ; refill++ {
		for _, info := range infos {
			if h.listed(info) {
				page.Entries = append(page.Entries, entryOf(info))
			}
		}
		if !more || len(infos) == 0 {
			page.Next = ""
			break
		}
		last := storage.ListName(infos[len(infos)-1])
		page.Next = encodeCursor(last)
		if len(page.Entries) >= limit || refill == maxListRefills {
			break
		}
		if infos, more, err = h.listPage(ctx, key, last, limit-len(page.Entries)); err != nil {
			h.fail(w, r, key, err)
			return
		}
	}
	body, err := json.Marshal(page)
	if err != nil {
		h.fail(w, r, key, err)
		return
	}
	body = append(body, '\n')
	hdr := w.Header()
	hdr.Set("Content-Type", "application/json")
	hdr.Set("Cache-Control", "no-cache")
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

// maxListRefills bounds how many further backend pages one listing page
// reads to make up for entries it leaves out.
const maxListRefills = 4

var errNoLister = errors.New("media: the backend cannot list folders")

// listPage returns one sorted page from the backend: its own
// [storage.PageLister] if it has one, else a selection over
// [storage.Lister] (every page reads the whole folder, keeping limit+1
// entries).
func (h *Handler) listPage(ctx context.Context, key, after string, limit int) ([]storage.Info, bool, error) {
	if pl, ok := h.b.(storage.PageLister); ok {
		return pl.ListPage(ctx, key, after, limit)
	}
	l, ok := h.b.(storage.Lister)
	if !ok {
		return nil, false, errNoLister
	}
	return selectPage(l.List(ctx, key), after, limit)
}

// selectPage keeps the limit smallest entries of seq whose ListName is
// greater than after, sorted, and reports whether there were more.
func selectPage(seq func(func(storage.Info, error) bool), after string, limit int) ([]storage.Info, bool, error) {
	h := &infoHeap{}
	for info, err := range seq {
		if err != nil {
			return nil, false, err
		}
		name := storage.ListName(info)
		if name <= after {
			continue
		}
		if h.Len() <= limit {
			heap.Push(h, named{name, info})
		} else if name < h.s[0].name {
			h.s[0] = named{name, info}
			heap.Fix(h, 0)
		}
	}
	n := h.Len()
	out := make([]storage.Info, n)
	for i := n - 1; i >= 0; i-- {
		out[i] = heap.Pop(h).(named).info
	}
	if n > limit {
		return out[:limit], true, nil
	}
	return out, false, nil
}

type named struct {
	name string
	info storage.Info
}

// infoHeap is a max-heap by name.
type infoHeap struct{ s []named }

func (h *infoHeap) Len() int           { return len(h.s) }
func (h *infoHeap) Less(i, j int) bool { return h.s[i].name > h.s[j].name }
func (h *infoHeap) Swap(i, j int)      { h.s[i], h.s[j] = h.s[j], h.s[i] }
func (h *infoHeap) Push(x any)         { h.s = append(h.s, x.(named)) }
func (h *infoHeap) Pop() any {
	x := h.s[len(h.s)-1]
	h.s = h.s[:len(h.s)-1]
	return x
}

// cannotList answers 501 for a backend without [storage.Lister].
func (h *Handler) cannotList(w http.ResponseWriter, r *http.Request, key string) {
	h.log.LogAttrs(r.Context(), slog.LevelInfo, "media: listing asked of a backend that cannot list",
		slog.String("key", key), slog.String("backend", fmt.Sprintf("%T", h.b)))
	writeStatusBody(w, r, http.StatusNotImplemented, "501 this store cannot list folders\n")
}

// folderPath is the folder's URL path for a listing page: the request's
// path, ending in "/".
func folderPath(r *http.Request) string {
	p := requestPath(r)
	if !strings.HasSuffix(p, "/") {
		p += "/"
	}
	return p
}

// encodeCursor makes the opaque cursor that resumes a listing after the
// entry whose [storage.ListName] is name.
func encodeCursor(name string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(name))
}

// errBadCursor: a cursor that encodeCursor cannot have made.
var errBadCursor = errors.New("media: bad listing cursor")

// decodeCursor returns the ListName a cursor resumes after. It accepts
// only what encodeCursor makes of a ListName: base64url without padding
// of one clean name segment, optionally followed by "/".
func decodeCursor(c string) (string, error) {
	if len(c) > base64.RawURLEncoding.EncodedLen(storage.MaxKeyLen+1) {
		return "", errBadCursor
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(c)
	if err != nil {
		return "", errBadCursor
	}
	name := string(b)
	// Go's base64 decoders skip \r and \n: a cursor is accepted only in
	// the one spelling encodeCursor gives it.
	if encodeCursor(name) != c {
		return "", errBadCursor
	}
	seg := strings.TrimSuffix(name, "/")
	if seg == "" || strings.Contains(seg, "/") {
		return "", errBadCursor
	}
	if clean, err := storage.CleanKey(seg); err != nil || clean != seg {
		return "", errBadCursor
	}
	return name, nil
}
