package auth

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/rangeserve/rangeserve/storage"
)

// maxLinksBody bounds the JSON body of a link request.
const maxLinksBody = 64 << 10

// LinksOptions configures a [LinksHandler].
type LinksOptions struct {
	// Signer signs the links. Required.
	Signer *Signer
	// Mount returns the policy of the mount the client named (as sent,
	// e.g. "/media/") if that mount serves subject, the cleaned key or, for
	// a folder link, the scope (the server's router would send the link's
	// path to that mount and no other), or an error the client is shown
	// (an unknown mount; a mount nested inside it serves that key).
	// Required: without it any prefix could be signed.
	Mount func(mount, subject string) (Policy, error)
	// Logger receives one line per issued link (mount, key, scope, expiry,
	// the admin token's name; never the signature). Default slog.Default().
	Logger *slog.Logger
}

// LinksHandler serves POST /api/links: it signs a link for a key of a
// mount. Mount it behind [Guard.RequireAdmin]: it signs only for the admin
// token that guard put in the request's context, and only what that
// token's [Token.Links] cover (the mount and the key, or the mount and the
// whole scope), on mounts whose policy accepts links ([PolicySigned],
// [PolicySignedOrToken]), for at most the token's [Token.MaxLinkTTL].
// Request body (JSON, at most 64 KiB, Content-Type application/json):
//
//	{"key":"path/in/mount","mount":"/media/","ttl":"24h","scope":"","ip":""}
//
// ttl is a Go duration (1s to 8760h); scope and ip are optional (see
// [LinkOptions]); with a scope, key may be "" for a link to the folder.
// Response 200:
//
//	{"url":"/media/path/in/mount?exp=...&kid=...&sig=...","expires":"2026-01-02T15:04:05Z"}
//
// The URL is relative to the server's origin; each path segment is
// escaped with url.PathEscape. Errors are 400 (bad JSON, ttl, key, scope,
// ip, unknown mount, a mount that takes no links, a ttl beyond the
// token's maximum), 403 (no admin token in the context, or one whose
// Links do not cover the link), 405, 413 or 415 with {"error":"..."}.
type LinksHandler struct {
	o LinksOptions
}

// NewLinksHandler returns a LinksHandler, or an error when Signer or
// Mount is missing.
func NewLinksHandler(o LinksOptions) (*LinksHandler, error) {
	if o.Signer == nil || o.Mount == nil {
		return nil, errors.New("auth: LinksHandler needs a Signer and a Mount func")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &LinksHandler{o: o}, nil
}

type linkRequest struct {
	Key   string `json:"key"`
	Mount string `json:"mount"`
	TTL   string `json:"ttl"`
	Scope string `json:"scope"`
	IP    string `json:"ip"`
}

type linkResponse struct {
	URL     string `json:"url"`
	Expires string `json:"expires"`
}

// ServeHTTP implements http.Handler.
func (h *LinksHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		jsonError(w, http.StatusMethodNotAllowed, "use POST")
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		jsonError(w, http.StatusUnsupportedMediaType, "send Content-Type: application/json")
		return
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxLinksBody))
	dec.DisallowUnknownFields()
	var req linkRequest
	if err := dec.Decode(&req); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			jsonError(w, http.StatusRequestEntityTooLarge, "body larger than 64 KiB")
			return
		}
		jsonError(w, http.StatusBadRequest, "bad JSON: expected {\"key\",\"mount\",\"ttl\",\"scope\",\"ip\"}")
		return
	}
	if _, err := dec.Token(); err != io.EOF {
		jsonError(w, http.StatusBadRequest, "bad JSON: trailing data after the object")
		return
	}
	admin, ok := r.Context().Value(tokenCtxKey{}).(adminCtx)
	if !ok {
		jsonError(w, http.StatusForbidden, "admin token required")
		return
	}
	if req.Mount == "" {
		jsonError(w, http.StatusBadRequest, "mount is required")
		return
	}
	ttl, err := time.ParseDuration(req.TTL)
	if err != nil || ttl < time.Second || ttl > MaxTTL {
		jsonError(w, http.StatusBadRequest, fmt.Sprintf("bad ttl: use a duration from 1s to %v, e.g. \"24h\"", MaxTTL))
		return
	}
	key := req.Key
	if key != "" {
		// The router's cleaning: the key the link's path will map to.
		if key, err = storage.CleanKey(key); err != nil {
			jsonError(w, http.StatusBadRequest, "bad key: use a slash-separated path without . or .. segments")
			return
		}
	}
	var o LinkOptions
	if req.Scope != "" {
		if !validScope(req.Scope) {
			jsonError(w, http.StatusBadRequest, "bad scope: use a key prefix without leading /, . or .. segments, // or backslashes")
			return
		}
		o.Scope = req.Scope
	}
	if req.IP != "" {
		if o.IP, err = netip.ParseAddr(req.IP); err != nil {
			jsonError(w, http.StatusBadRequest, "bad ip")
			return
		}
	}
	if key == "" && o.Scope == "" {
		jsonError(w, http.StatusBadRequest, "key is required unless scope is set")
		return
	}
	subject := key
	if o.Scope != "" {
		if key != "" && !inScope(o.Scope, key) {
			jsonError(w, http.StatusBadRequest, "cannot sign: key is outside the scope")
			return
		}
		subject = strings.TrimSuffix(o.Scope, "/")
	}
	tok := admin.set.list[admin.i]
	if !admin.set.mayLink(admin.i, req.Mount, subject) {
		h.o.Logger.LogAttrs(r.Context(), slog.LevelWarn, "auth: link refused",
			slog.String("reason", "outside the token's links"), slog.String("mount", req.Mount),
			slog.String("key", key), slog.String("scope", o.Scope), slog.String("token", tok.Name))
		jsonError(w, http.StatusForbidden, "this token may not mint links for this mount and key: see its links")
		return
	}
	policy, err := h.o.Mount(req.Mount, subject)
	if err != nil {
		jsonError(w, http.StatusBadRequest, err.Error())
		return
	}
	if !policy.allowsLinks() {
		jsonError(w, http.StatusBadRequest, fmt.Sprintf("mount %s is %s: it does not accept links", req.Mount, policy))
		return
	}
	if ttl > tok.MaxLinkTTL {
		jsonError(w, http.StatusBadRequest, fmt.Sprintf("bad ttl: this token's links live at most %v", tok.MaxLinkTTL))
		return
	}
	v, exp, err := h.o.Signer.Sign(req.Mount, key, ttl, o)
	if err != nil {
		jsonError(w, http.StatusBadRequest, "cannot sign: "+strings.TrimPrefix(err.Error(), "auth: "))
		return
	}
	target := key
	if target == "" {
		target = strings.TrimSuffix(o.Scope, "/") + "/"
	}
	u := escapePath(mountName(req.Mount), target) + "?" + v.Encode()
	h.o.Logger.LogAttrs(r.Context(), slog.LevelInfo, "auth: link issued",
		slog.String("mount", req.Mount), slog.String("key", key), slog.String("scope", o.Scope),
		slog.Bool("ip_bound", o.IP.IsValid()), slog.Time("expires", exp), slog.String("token", tok.Name))
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(linkResponse{URL: u, Expires: exp.UTC().Format(time.RFC3339)})
}

// escapePath joins mount and key into an absolute URL path, escaping
// every segment. A trailing slash of key is kept.
func escapePath(mount, key string) string {
	p := strings.Trim(mount, "/")
	if key != "" {
		if p != "" {
			p += "/"
		}
		p += key
	}
	return "/" + storage.EscapeKey(p)
}

func jsonError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}
