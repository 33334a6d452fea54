package media

import (
	"errors"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/rangeserve/rangeserve/storage"
)

// DefaultFollowIdleTimeout ends a ?follow=1 response once the file has
// not grown for this long, when Options.FollowIdleTimeout is zero.
const DefaultFollowIdleTimeout = 10 * time.Second

// initStreaming applies the defaults of the chunked path's options and
// checks them (called by New).
func (h *Handler) initStreaming() error {
	p, err := newFlushPolicy(h.opts.FlushBytes, h.opts.FlushInterval)
	if err != nil {
		return err
	}
	h.flush = p
	switch {
	case h.opts.FollowIdleTimeout < 0:
		return errors.New("media: FollowIdleTimeout is negative (0 means the default, 10s)")
	case h.opts.FollowIdleTimeout == 0:
		h.opts.FollowIdleTimeout = DefaultFollowIdleTimeout
	}
	if h.opts.UIURL != "" {
		if u, err := url.Parse(h.opts.UIURL); err != nil || u.Fragment != "" || !validHeaderValue(h.opts.UIURL) {
			return errors.New("media: UIURL must be a URL without a fragment, such as \"/ui/\"")
		}
	}
	return nil
}

// serveQuery answers the requests that are not a plain read of an
// object, and reports whether it did:
//
//   - ?follow=1: a local file as it grows ([Handler.serveFollow]);
//   - ?format=ndjson, or Accept: application/x-ndjson on a folder: the
//     folder's entries as NDJSON ([Handler.serveNDJSON]);
//   - ?format=json[&limit=N][&cursor=C]: one sorted page of the folder's
//     entries ([Handler.servePage]);
//   - a browser (Accept: text/html) asking for a folder (a path ending in
//     "/", or the mount's root) when Options.UIURL is set: 302 to the UI.
//
// A folder asked for otherwise falls through to the object path, which
// answers 404 for it, as before.
func (h *Handler) serveQuery(w http.ResponseWriter, r *http.Request, key string) bool {
	folder := key == "" || strings.HasSuffix(r.URL.Path, "/")
	if r.URL.RawQuery == "" && !folder && r.Header.Get("Accept") == "" {
		return false // the common case: a plain GET of a file
	}
	var q url.Values
	if raw := r.URL.RawQuery; strings.Contains(raw, "follow") || strings.Contains(raw, "format") {
		q = r.URL.Query() // not for every signed link's query
	}
	if v, ok := q["follow"]; ok {
		follow, err := strconv.ParseBool(v[0])
		if err != nil {
			h.badRequest(w, r, key, "400 follow must be 1 or 0\n", "follow", v[0])
			return true
		}
		if follow {
			h.serveFollow(w, r, key)
			return true
		}
	}
	switch f := q.Get("format"); f {
	case "ndjson":
		h.serveNDJSON(w, r, key)
		return true
	case "json":
		h.servePage(w, r, key, q)
		return true
	case "":
	default:
		h.badRequest(w, r, key, "400 format must be ndjson or json\n", "format", f)
		return true
	}
	if Accepts(r, NDJSONType) && (folder || h.isDir(r, key)) {
		h.serveNDJSON(w, r, key)
		return true
	}
	if folder && h.redirectToUI(w, r) {
		return true
	}
	return false
}

// isDir reports whether key names a directory (one Stat).
func (h *Handler) isDir(r *http.Request, key string) bool {
	_, err := h.b.Stat(r.Context(), key)
	return errors.Is(err, storage.ErrIsDir)
}

// redirectToUI answers a browser's request for a folder with 302 to the
// web UI (Options.UIURL) showing it, and reports whether it did.
func (h *Handler) redirectToUI(w http.ResponseWriter, r *http.Request) bool {
	if h.opts.UIURL == "" || !Accepts(r, "text/html") {
		return false
	}
	p := requestPath(r)
	if !strings.HasSuffix(p, "/") {
		p += "/"
	}
	w.Header().Set("Location", h.opts.UIURL+"#"+storage.EscapeKey(p))
	writeStatusBody(w, r, http.StatusFound, "302 found\n")
	return true
}

// requestPath returns the decoded path the client asked for, before any
// http.StripPrefix: the path of RequestURI, else URL.Path.
func requestPath(r *http.Request) string {
	if r.RequestURI != "" && r.RequestURI != "*" {
		if u, err := url.ParseRequestURI(r.RequestURI); err == nil && u.Path != "" {
			return u.Path
		}
	}
	if r.URL.Path == "" {
		return "/"
	}
	return r.URL.Path
}

// badRequest answers 400 with body and logs the parameter that was
// refused.
func (h *Handler) badRequest(w http.ResponseWriter, r *http.Request, key, body, param, value string) {
	h.log.LogAttrs(r.Context(), slog.LevelInfo, "media: bad query parameter",
		slog.String("key", key), slog.String("param", param), slog.String("value", truncate(value, 200)))
	writeStatusBody(w, r, http.StatusBadRequest, body)
}

// oneObject answers 403 to a request for what a folder opens (what: its
// archive, its listing) when the request was authorized for one object
// only ([Grant].OneObject), and reports whether it did.
func (h *Handler) oneObject(w http.ResponseWriter, r *http.Request, key, what string) bool {
	if g, ok := grantFrom(r.Context()); !ok || !g.OneObject {
		return false
	}
	h.log.LogAttrs(r.Context(), slog.LevelWarn, "media: refused a folder's "+what+" to a link for one key (share a folder with a scope link)",
		slog.String("key", key))
	writeStatusBody(w, r, http.StatusForbidden, "403 forbidden: this link is for one file; a folder is shared with a scope link\n")
	return true
}

// Accepts reports whether the request's Accept header names typ, a
// lower-case media type such as "text/html" (exactly, not through a
// wildcard), with a quality above zero. It is the one reading of Accept
// for whatever routes by it (the web UI's redirects, NDJSON listings).
func Accepts(r *http.Request, typ string) bool {
	for _, v := range r.Header.Values("Accept") {
		if acceptsType(v, typ) {
			return true
		}
	}
	return false
}

// acceptsType reports whether the Accept header value v lists typ with a
// quality above zero.
func acceptsType(v, typ string) bool {
	if !strings.Contains(strings.ToLower(v), typ) {
		return false // the common case, without parsing
	}
	for part := range strings.SplitSeq(v, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil || !strings.EqualFold(mt, typ) {
			continue
		}
		if q, ok := params["q"]; ok {
			if f, err := strconv.ParseFloat(q, 64); err != nil || !(f > 0) {
				continue
			}
		}
		return true
	}
	return false
}
