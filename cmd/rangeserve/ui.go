package main

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/gorilla/mux"

	"github.com/rangeserve/rangeserve/auth"
	"github.com/rangeserve/rangeserve/media"
	"github.com/rangeserve/rangeserve/static"
	"github.com/rangeserve/rangeserve/storage"
)

// The web UI (package static) is served at uiPath; "/ui" is redirected
// there. Like /api/, the prefix belongs to rangeserve: no mount may be
// configured under it, and a mount at / does not serve keys under ui/.
// A browser asking for a folder (Accept: text/html, no ?format or
// ?archive) is sent to the UI showing it: the router does that for paths
// ending in "/" (folderPage), media for a folder of a mount asked for
// without its slash (media.Options.UIURL).
const uiPath = "/ui/"

// reserved are the top-level names rangeserve keeps for itself.
var reserved = []string{"api", "ui"}

// errUIPath is mountIndex.lookup's answer for paths under /ui/.
var errUIPath = errors.New("the path belongs to rangeserve's web UI")

// mountInfo is one entry of GET /api/mounts: what the UI needs to label a
// mount and choose its buttons, and nothing the config keeps secret (no
// root, endpoint, bucket or credential).
type mountInfo struct {
	Prefix  string `json:"prefix"`
	Auth    string `json:"auth"`
	Mode    string `json:"mode"`
	Backend string `json:"backend"`
	// Archives is false when the mount answers ?archive=zip with 404
	// (archives: false), so that the UI offers no ZIP button there.
	Archives bool `json:"archives"`
}

// mountsJSON is the body of GET /api/mounts.
func (c *Config) mountsJSON() []byte {
	list := make([]mountInfo, 0, len(c.Mounts))
	for _, m := range c.Mounts {
		mode := m.Mode
		if mode == "" {
			mode = string(media.ModeServe)
		}
		list = append(list, mountInfo{Prefix: m.Prefix, Auth: m.Auth, Mode: mode, Backend: m.Backend, Archives: !m.mediaOptions().NoArchives})
	}
	b, err := json.Marshal(struct {
		Mounts []mountInfo `json:"mounts"`
	}{list})
	if err != nil {
		panic("rangeserve: encoding the mount list: " + err.Error()) // strings and bools only
	}
	return append(b, '\n')
}

// routeUI adds the UI's API route, GET /api/mounts, to api.
func (a *app) routeUI(api *mux.Router) {
	body := a.cfg.mountsJSON()
	api.HandleFunc("/api/mounts", func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Content-Length", strconv.Itoa(len(body)))
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Content-Type-Options", "nosniff")
		if r.Method != http.MethodHead {
			_, _ = w.Write(body)
		}
	}).Methods(http.MethodGet, http.MethodHead)
}

// uiHandler serves the UI below uiPath: static's handler, whose
// Content-Security-Policy also allows the origins the media of redirect
// mounts come from (the presigned URLs' S3 endpoints).
func (a *app) uiHandler() http.Handler {
	files := http.StripPrefix(strings.TrimSuffix(uiPath, "/"), static.New(static.Options{MediaOrigins: a.cfg.mediaOrigins()}))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == strings.TrimSuffix(uiPath, "/") && (r.Method == http.MethodGet || r.Method == http.MethodHead):
			http.Redirect(w, r, uiPath, http.StatusMovedPermanently)
		case strings.HasPrefix(r.URL.Path, uiPath) || r.URL.Path == strings.TrimSuffix(uiPath, "/"):
			files.ServeHTTP(w, r)
		default: // "//ui/app.js" and other spellings: not the UI's URLs
			http.Error(w, "404 not found", http.StatusNotFound)
		}
	})
}

// mediaOrigins are the origins a browser fetches the files of redirect
// mounts from: the S3 endpoint, with https unless tls: false, and its
// subdomains for virtual-hosted buckets (bucket.endpoint) unless
// path_style forces path-style URLs.
func (c *Config) mediaOrigins() []string {
	var out []string
	seen := map[string]bool{}
	add := func(o string) {
		if !seen[o] {
			seen[o] = true
			out = append(out, o)
		}
	}
	for _, m := range c.Mounts {
		if m.Mode != string(media.ModeRedirect) || m.S3 == nil || m.S3.Endpoint == "" {
			continue
		}
		scheme := "https://"
		if m.S3.TLS != nil && !*m.S3.TLS {
			scheme = "http://"
		}
		host := strings.ToLower(m.S3.Endpoint)
		add(scheme + host)
		if !m.S3.PathStyle {
			add(scheme + "*." + host)
		}
	}
	return out
}

// wantsUI reports whether r is a browser's request for a page: GET or
// HEAD, with text/html in Accept at a quality above zero.
func wantsUI(r *http.Request) bool {
	return (r.Method == http.MethodGet || r.Method == http.MethodHead) && media.Accepts(r, "text/html")
}

// folderPage sends a browser's request for a folder (a path ending in
// "/") to the UI showing it, and reports whether it did: 302 to
// /ui/#/the/folder/, with the signed-link parameters of the query after
// the fragment's path (#/docs/?exp=…&sig=…), so that a folder's share
// link opened in a browser lists the folder through the link. A query
// with anything else (?format=json, ?archive=zip) is the folder's data,
// not a page, and so is a request that does not accept text/html (curl,
// wget, scripts).
//
// It runs before auth, on mounts and on paths no mount serves alike: the
// redirect depends on the path alone and tells nothing about storage,
// and the UI then shows the listing, or why it is refused, or that
// nothing is there. media's own redirect (Options.UIURL) covers a folder
// asked for without its slash, which only a Stat can tell.
func folderPage(w http.ResponseWriter, r *http.Request) bool {
	if !strings.HasSuffix(r.URL.Path, "/") || !wantsUI(r) {
		return false
	}
	clean, err := storage.CleanKey(r.URL.Path)
	if err != nil {
		return false
	}
	var link url.Values
	if r.URL.RawQuery != "" {
		q, err := url.ParseQuery(r.URL.RawQuery)
		if err != nil {
			return false
		}
		for name := range q {
			if !auth.IsParam(name) {
				return false
			}
		}
		link = q
	}
	p := "/"
	if clean != "" {
		p += clean + "/"
	}
	loc := uiPath + "#" + storage.EscapeKey(p)
	if len(link) > 0 {
		loc += "?" + link.Encode()
	}
	h := w.Header()
	h.Set("Location", loc)
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Cache-Control", "no-store") // the Location may hold a link
	h.Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(http.StatusFound)
	if r.Method != http.MethodHead {
		_, _ = io.WriteString(w, "302 found: the web UI shows this folder\n")
	}
	return true
}

// warnShadowed logs a warning for each top-level entry of a local mount at
// / that rangeserve's own paths (/api/, /ui/) hide: such files cannot be
// reached through that mount.
func (c *Config) warnShadowed(log *slog.Logger) {
	for i, m := range c.Mounts {
		if m.Prefix != "/" || m.Backend != "local" {
			continue
		}
		for _, name := range reserved {
			p := filepath.Join(c.path(m.Root), name)
			if _, err := os.Lstat(p); err == nil {
				log.Warn("a file of the mount at / is hidden by rangeserve's own /"+name+"/: it cannot be served; rename it or mount the folder under a prefix",
					"mount", "mounts["+strconv.Itoa(i)+"]", "path", p)
			}
		}
	}
}

// listenURL is the UI's address for the log line at start-up: the
// listener's address, with "localhost" for an unspecified host (":8080"
// listens on every interface).
func listenURL(addr net.Addr) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return "http://" + addr.String() + uiPath
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port) + uiPath
}
