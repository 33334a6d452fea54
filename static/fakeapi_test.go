package static_test

import (
	"archive/zip"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rangeserve/rangeserve/internal/uitest"
	"github.com/rangeserve/rangeserve/static"
)

// fakeToken is the admin token the fake link API accepts.
const fakeToken = "admin-token-for-tests"

// fakeMount is one mount of the fake server.
type fakeMount struct {
	Prefix  string `json:"prefix"`
	Auth    string `json:"auth"`
	Mode    string `json:"mode"`
	Backend string `json:"backend"`
	root    string
}

// fakeAPI implements the server contract the UI talks to (GET /api/mounts,
// folder listings with a cursor, files with Range, ?download=1,
// ?archive=zip, POST /api/links) over directories, and serves the UI at
// /ui/. Mounts with auth "signed" need a link signed by its /api/links.
// It records every request to a mount (time, path, Range, status).
type fakeAPI struct {
	mounts []fakeMount
	secret []byte
	mu     sync.Mutex
	// slow maps URL paths to the bytes per second their bodies are sent
	// at, like a file on a slow link (see setSlow).
	slow map[string]int
	reqs []uitest.Request
}

func newFakeAPI(mounts ...fakeMount) *fakeAPI {
	return &fakeAPI{mounts: mounts, secret: []byte("fake signing secret")}
}

// setSlow sends the body of the URL path p at rate bytes per second.
func (f *fakeAPI) setSlow(p string, rate int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.slow == nil {
		f.slow = map[string]int{}
	}
	f.slow[p] = rate
}

// start serves f on a loopback httptest server for the test's life.
func (f *fakeAPI) start(t *testing.T) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("/ui/", http.StripPrefix("/ui", static.Handler()))
	mux.Handle("/ui", http.RedirectHandler("/ui/", http.StatusMovedPermanently))
	mux.HandleFunc("/api/mounts", f.serveMounts)
	mux.HandleFunc("/api/links", f.serveLinks)
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) { jsonErr(w, 404, "no such API") })
	mux.HandleFunc("/", f.serveMount)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// Requests returns the recorded requests for the URL path p (unescaped)
// made at or after since.
func (f *fakeAPI) Requests(p string, since time.Time) []uitest.Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []uitest.Request
	for _, r := range f.reqs {
		if r.Path == p && !r.At.Before(since) {
			out = append(out, r)
		}
	}
	return out
}

func (f *fakeAPI) serveMounts(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"mounts": f.mounts})
}

func jsonErr(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

func (f *fakeAPI) sign(mount, key, scope, exp, ip string) string {
	m := hmac.New(sha256.New, f.secret)
	for _, s := range []string{mount, key, scope, exp, ip} {
		io.WriteString(m, strconv.Itoa(len(s))+":"+s)
	}
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (f *fakeAPI) serveLinks(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		jsonErr(w, 405, "use POST")
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+fakeToken {
		w.Header().Set("WWW-Authenticate", `Bearer realm="rangeserve"`)
		jsonErr(w, 401, "admin token required")
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		jsonErr(w, 415, "send Content-Type: application/json")
		return
	}
	var req struct{ Mount, Key, TTL, Scope, IP string }
	dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		jsonErr(w, 400, "bad JSON")
		return
	}
	i := slices.IndexFunc(f.mounts, func(m fakeMount) bool { return m.Prefix == req.Mount })
	if i < 0 {
		jsonErr(w, 400, "unknown mount")
		return
	}
	if a := f.mounts[i].Auth; a == "public" || a == "token" {
		// As the server: only signed and signed-or-token mounts take links.
		jsonErr(w, 400, "mount "+req.Mount+" is "+a+": it does not accept links")
		return
	}
	ttl, err := time.ParseDuration(req.TTL)
	if err != nil || ttl < time.Second || ttl > 8760*time.Hour {
		jsonErr(w, 400, "bad ttl")
		return
	}
	if req.Key == "" && req.Scope == "" {
		jsonErr(w, 400, "key is required unless scope is set")
		return
	}
	if req.Scope != "" && req.Key != "" && !strings.HasPrefix(req.Key, req.Scope) {
		jsonErr(w, 400, "cannot sign: key is outside the scope")
		return
	}
	exp := time.Now().Add(ttl).Truncate(time.Second)
	es := strconv.FormatInt(exp.Unix(), 10)
	signed := req.Key
	if req.Scope != "" {
		signed = ""
	}
	q := url.Values{"exp": {es}, "kid": {"k1"}, "sig": {f.sign(req.Mount, signed, req.Scope, es, req.IP)}}
	if req.Scope != "" {
		q.Set("scope", req.Scope)
	}
	if req.IP != "" {
		q.Set("ip", req.IP)
	}
	target := req.Key
	if target == "" {
		target = req.Scope
	}
	u := (&url.URL{Path: req.Mount + target}).EscapedPath() + "?" + q.Encode()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]string{"url": u, "expires": exp.UTC().Format(time.RFC3339)})
}

// authorized checks a signed link's query for key in mount m.
func (f *fakeAPI) authorized(m fakeMount, key string, q url.Values) (int, string) {
	if m.Auth == "public" {
		return 0, ""
	}
	sig, es := q.Get("sig"), q.Get("exp")
	if sig == "" {
		return 401, "401 unauthorized: signed link required\n"
	}
	scope := q.Get("scope")
	signed := key
	if scope != "" {
		signed = ""
		if !strings.HasPrefix(key, scope) && key+"/" != scope {
			return 403, "403 forbidden: outside the link's scope\n"
		}
	}
	if !hmac.Equal([]byte(sig), []byte(f.sign(m.Prefix, signed, scope, es, q.Get("ip")))) {
		return 403, "403 forbidden: bad signature\n"
	}
	exp, _ := strconv.ParseInt(es, 10, 64)
	if time.Now().Unix() > exp {
		return 403, "403 forbidden: link expired\n"
	}
	return 0, ""
}

// statusRecorder records the request when its status is sent, so that a
// response still streaming (a video) is already on the record.
type statusRecorder struct {
	http.ResponseWriter
	record func(status int)
	done   bool
}

func (s *statusRecorder) WriteHeader(code int) {
	if !s.done {
		s.done = true
		s.record(code)
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if !s.done {
		s.WriteHeader(http.StatusOK)
	}
	return s.ResponseWriter.Write(b)
}

func (f *fakeAPI) serveMount(w http.ResponseWriter, r *http.Request) {
	at := time.Now()
	rec := &statusRecorder{ResponseWriter: w, record: func(status int) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.reqs = append(f.reqs, uitest.Request{At: at, Path: r.URL.Path, Range: r.Header.Get("Range"), Status: status})
	}}
	f.serveFile(rec, r)
	if !rec.done {
		rec.WriteHeader(http.StatusOK)
	}
}

func (f *fakeAPI) serveFile(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		http.Error(w, "405 method not allowed", 405)
		return
	}
	p := r.URL.Path
	var m fakeMount
	for _, c := range f.mounts {
		if strings.HasPrefix(p, c.Prefix) && len(c.Prefix) > len(m.Prefix) {
			m = c
		}
	}
	if m.Prefix == "" {
		http.Error(w, "404 not found", 404)
		return
	}
	key := strings.TrimPrefix(p, m.Prefix)
	isDir := key == "" || strings.HasSuffix(key, "/")
	clean := strings.TrimSuffix(key, "/")
	if clean != "" && (!fs.ValidPath(clean) || slices.ContainsFunc(strings.Split(clean, "/"), func(s string) bool { return strings.HasPrefix(s, ".") })) {
		http.Error(w, "404 not found", 404)
		return
	}
	if code, msg := f.authorized(m, clean, r.URL.Query()); code != 0 {
		http.Error(w, strings.TrimSuffix(msg, "\n"), code)
		return
	}
	name := filepath.Join(m.root, filepath.FromSlash(clean))
	st, err := os.Stat(name)
	if err != nil || st.IsDir() != isDir {
		http.Error(w, "404 not found", 404)
		return
	}
	q := r.URL.Query()
	if isDir {
		switch {
		case q.Get("format") == "json":
			f.serveListing(w, r, name, p)
		case q.Get("archive") == "zip":
			serveZip(w, name, path.Base("/"+clean))
		default:
			http.Redirect(w, r, "/ui/#"+r.URL.EscapedPath(), http.StatusFound)
		}
		return
	}
	file, err := os.Open(name)
	if err != nil {
		http.Error(w, "404 not found", 404)
		return
	}
	defer file.Close()
	w.Header().Set("Content-Type", contentType(name))
	w.Header().Set("ETag", etag(st))
	if q.Get("download") == "1" {
		w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": st.Name()}))
	}
	var body io.ReadSeeker = file
	f.mu.Lock()
	rate := f.slow[p]
	f.mu.Unlock()
	if rate > 0 {
		body = &slowReader{ReadSeeker: file, rate: rate, ctx: r.Context()}
	}
	http.ServeContent(w, r, "", st.ModTime(), body)
}

// slowReader sends at most rate bytes per second (in 16 KiB steps), and
// stops when the request ends.
type slowReader struct {
	io.ReadSeeker
	rate int
	ctx  interface{ Done() <-chan struct{} }
}

func (s *slowReader) Read(p []byte) (int, error) {
	const step = 16 << 10
	if len(p) > step {
		p = p[:step]
	}
	select {
	case <-s.ctx.Done():
		return 0, errors.New("request ended")
	case <-time.After(time.Duration(len(p)) * time.Second / time.Duration(s.rate)):
	}
	return s.ReadSeeker.Read(p)
}

func etag(st fs.FileInfo) string {
	return `"` + strconv.FormatInt(st.ModTime().UnixNano(), 36) + "-" + strconv.FormatInt(st.Size(), 36) + `"`
}

func contentType(name string) string {
	switch filepath.Ext(name) {
	case ".vtt":
		return "text/vtt; charset=utf-8"
	case ".opus":
		return "audio/ogg"
	case ".txt":
		return "text/plain; charset=utf-8"
	}
	if t := mime.TypeByExtension(filepath.Ext(name)); t != "" {
		return t
	}
	return "application/octet-stream"
}

type listEntry struct {
	Name  string `json:"name"`
	Size  int64  `json:"size"`
	MTime string `json:"mtime"`
	ETag  string `json:"etag,omitempty"`
	Type  string `json:"type,omitempty"`
	Dir   bool   `json:"dir"`
}

// serveListing answers ?format=json&limit=N&cursor=C: entries sorted by
// name (bytes), hidden ones left out; the cursor is the last name sent,
// base64url-encoded.
func (f *fakeAPI) serveListing(w http.ResponseWriter, r *http.Request, dir, urlPath string) {
	q := r.URL.Query()
	limit, err := strconv.Atoi(q.Get("limit"))
	if q.Get("limit") == "" {
		limit = 100
	} else if err != nil || limit < 1 || limit > 1000 {
		jsonErr(w, 400, "bad limit")
		return
	}
	after := ""
	if c := q.Get("cursor"); c != "" {
		b, err := base64.RawURLEncoding.DecodeString(c)
		if err != nil {
			jsonErr(w, 400, "bad cursor")
			return
		}
		after = string(b)
	}
	des, err := os.ReadDir(dir)
	if err != nil {
		jsonErr(w, 500, "cannot list")
		return
	}
	slices.SortFunc(des, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	out := []listEntry{}
	next := ""
	for _, de := range des {
		n := de.Name()
		if strings.HasPrefix(n, ".") || (after != "" && n <= after) {
			continue
		}
		if len(out) == limit {
			next = base64.RawURLEncoding.EncodeToString([]byte(out[len(out)-1].Name))
			break
		}
		st, err := de.Info()
		if err != nil {
			continue
		}
		e := listEntry{Name: n, MTime: st.ModTime().UTC().Format(time.RFC3339), Dir: de.IsDir()}
		if !e.Dir {
			e.Size, e.ETag, e.Type = st.Size(), etag(st), strings.Split(contentType(n), ";")[0]
		}
		out = append(out, e)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(map[string]any{"path": urlPath, "entries": out, "next": next})
}

func serveZip(w http.ResponseWriter, dir, name string) {
	w.Header().Set("Content-Type", "application/zip")
	w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": name + ".zip"}))
	zw := zip.NewWriter(w)
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasPrefix(d.Name(), ".") {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		fw, err := zw.Create(filepath.ToSlash(rel))
		if err != nil {
			return err
		}
		src, err := os.Open(p)
		if err != nil {
			return err
		}
		defer src.Close()
		_, err = io.Copy(fw, src)
		return err
	})
	_ = zw.Close()
}

// copyTestdata copies the repository's testdata (media files, docs/, and
// video.vtt; not the scripts) into a new temporary directory and adds a
// file whose name is an HTML injection attempt.
func copyTestdata(t *testing.T) string {
	t.Helper()
	src := filepath.Join("..", "testdata")
	dst := t.TempDir()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			if rel == "fuzz" || rel == "screenshots" {
				return filepath.SkipDir
			}
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		if rel == "make.sh" || rel == "README.md" {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dst, xssName), []byte("not a video"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Give the files distinct, stable modification times, so that sorting
	// by date is well defined: alphabetical order is oldest first.
	des, _ := os.ReadDir(dst)
	base := time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC)
	for i, de := range des {
		mt := base.Add(time.Duration(i) * time.Hour)
		if err := os.Chtimes(filepath.Join(dst, de.Name()), mt, mt); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// xssName is the test file whose name must show as text.
const xssName = `<img src=x onerror=alert(1)>.mp4`
