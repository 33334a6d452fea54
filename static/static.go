package static

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed ui
var files embed.FS

// FS returns the UI's files, rooted at ui/.
func FS() fs.FS {
	sub, err := fs.Sub(files, "ui")
	if err != nil {
		panic("static: " + err.Error()) // ui/ is embedded at build time
	}
	return sub
}

// DefaultCSP is the Content-Security-Policy of every response of the
// handler: scripts, styles and fonts only from the UI's own origin, no
// inline script or style, no eval, no plugins, no <base>, no framing.
// Media and images may also be blob: URLs (the player never makes any
// today; they are allowed for future thumbnails) and data: images.
const DefaultCSP = "default-src 'self'; script-src 'self'; style-src 'self'; " +
	"img-src 'self' data: blob:; media-src 'self' blob:; connect-src 'self'; " +
	"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// Options configures [New]. The zero value is the default.
type Options struct {
	// MediaOrigins are extra origins (e.g. "https://bucket.s3.example.com")
	// the page may load media, images and text from: the targets of
	// mounts in redirect mode, whose files the browser fetches from a
	// presigned URL on another origin. They are added to media-src,
	// img-src and connect-src. Default: none (same origin only).
	MediaOrigins []string
}

// Handler returns the UI's handler with the default [Options]. It serves
// GET and HEAD for the paths below the prefix the caller strips: "/" (and
// "/index.html") is the page, every other path an embedded asset.
func Handler() http.Handler { return New(Options{}) }

// New returns the UI's handler: index.html at "/" with Cache-Control
// no-cache, every other embedded file by its path with a strong ETag
// (If-None-Match answered 304) and Cache-Control no-cache, so that a
// browser revalidates but a new binary's files are never mixed with old
// cached ones. Unknown paths are 404, methods other than GET and HEAD 405.
// Every response carries the CSP, nosniff and Referrer-Policy headers.
func New(o Options) http.Handler {
	h := &handler{files: map[string]*file{}, csp: csp(o.MediaOrigins)}
	err := fs.WalkDir(FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(FS(), p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		h.files["/"+p] = &file{
			name:  path.Base(p),
			body:  b,
			etag:  `"` + hex.EncodeToString(sum[:12]) + `"`,
			ctype: contentType(p),
		}
		return nil
	})
	if err != nil {
		panic("static: " + err.Error()) // embedded files are always readable
	}
	return h
}

type file struct {
	name, etag, ctype string
	body              []byte
}

type handler struct {
	files map[string]*file
	csp   string
}

// csp returns DefaultCSP with extra origins in the directives the media
// of a redirect mount needs. Origins with characters that could end a
// directive are dropped.
func csp(extra []string) string {
	var ok []string
	for _, o := range extra {
		if o != "" && !strings.ContainsAny(o, "; ,'\"\r\n\t") {
			ok = append(ok, o)
		}
	}
	if len(ok) == 0 {
		return DefaultCSP
	}
	add := " " + strings.Join(ok, " ")
	c := DefaultCSP
	for _, d := range []string{"img-src 'self' data: blob:", "media-src 'self' blob:", "connect-src 'self'"} {
		c = strings.Replace(c, d, d+add, 1)
	}
	return c
}

// contentType is by extension, from a fixed table, so that the answer
// does not depend on the machine's MIME database.
func contentType(p string) string {
	switch path.Ext(p) {
	case ".html":
		return "text/html; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	case ".js":
		return "text/javascript; charset=utf-8"
	case ".svg":
		return "image/svg+xml"
	case ".json", ".webmanifest":
		return "application/json"
	case ".png":
		return "image/png"
	case ".woff2":
		return "font/woff2"
	}
	return "application/octet-stream"
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", h.csp)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Cross-Origin-Opener-Policy", "same-origin")
	hd.Set("Cross-Origin-Resource-Policy", "same-origin")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hd.Set("Allow", "GET, HEAD")
		http.Error(w, "405 method not allowed", http.StatusMethodNotAllowed)
		return
	}
	p := r.URL.Path
	if p == "" || p == "/" {
		p = "/index.html"
	}
	f := h.files[p]
	if f == nil {
		http.Error(w, "404 page not found", http.StatusNotFound)
		return
	}
	hd.Set("Content-Type", f.ctype)
	hd.Set("ETag", f.etag)
	hd.Set("Cache-Control", "no-cache")
	// ServeContent answers If-None-Match (304), HEAD and Range from the
	// ETag set above; the zero time leaves Last-Modified out (the embedded
	// files have none).
	http.ServeContent(w, r, f.name, time.Time{}, bytes.NewReader(f.body))
}
