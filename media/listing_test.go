package media_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/rangeserve/rangeserve/media"
	"github.com/rangeserve/rangeserve/storage"
	"github.com/rangeserve/rangeserve/storage/local"
)

var discard = slog.New(slog.DiscardHandler)

// entryJSON is a listing entry as a client decodes it.
type entryJSON struct {
	Name  string  `json:"name"`
	Size  *int64  `json:"size"`
	MTime *string `json:"mtime"`
	ETag  string  `json:"etag"`
	Type  string  `json:"type"`
	Dir   bool    `json:"dir"`
}

type pageJSON struct {
	Path    string      `json:"path"`
	Entries []entryJSON `json:"entries"`
	Next    string      `json:"next"`
}

// listTree builds a folder with files, folders, a hidden file, an empty
// folder and a UTF-8 name, and returns its root.
func listTree(t *testing.T) string { return listTreeAt(t, t.TempDir()) }

func listTreeAt(t testing.TB, root string) string {
	t.Helper()
	files := map[string]string{
		"docs/a.txt":             "alpha",
		"docs/b.mp4":             "not really a video",
		"docs/c":                 "no extension",
		"docs/.secret":           "hidden",
		"docs/vidéo 𝄞 \"q\".mkv": "utf-8",
		"docs/sub/inner.txt":     "inner",
		"docs/sub.txt":           "sorts before sub/",
		"docs/sub-1/x":           "sorts before sub/ too",
		"top.txt":                "top",
	}
	for name, data := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(root, "docs", "empty"), 0o755); err != nil {
		t.Fatal(err)
	}
	return root
}

func localBackend(t testing.TB, root string) *local.Backend {
	t.Helper()
	b, err := local.New(local.Options{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// docsListNames is the order of pages: byte order, folders with "/".
var docsListNames = []string{"a.txt", "b.mp4", "c", "empty/", "sub-1/", "sub.txt", "sub/", "vidéo 𝄞 \"q\".mkv"}

func readNDJSON(t *testing.T, r io.Reader) []entryJSON {
	t.Helper()
	var out []entryJSON
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var e entryJSON
		dec := json.NewDecoder(strings.NewReader(sc.Text()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&e); err != nil {
			t.Fatalf("line %d %q: %v", len(out)+1, sc.Text(), err)
		}
		out = append(out, e)
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("after %d lines: %v", len(out), err)
	}
	return out
}

func TestListingNDJSON(t *testing.T) {
	root := listTree(t)
	srv := httptest.NewServer(newHandler(t, localBackend(t, root), media.Options{}))
	defer srv.Close()
	for _, tc := range []struct {
		name, path string
		accept     string
	}{
		{"format", "/docs/?format=ndjson", ""},
		{"format without slash", "/docs?format=ndjson", ""},
		{"Accept", "/docs/", "application/x-ndjson"},
		{"Accept, a directory without slash", "/docs", "text/html;q=0.9, application/x-ndjson"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", srv.URL+tc.path, nil)
			if tc.accept != "" {
				req.Header.Set("Accept", tc.accept)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			checkStreamHeaders(t, resp, media.NDJSONType)
			entries := readNDJSON(t, resp.Body)
			var names []string
			for _, e := range entries {
				n := e.Name
				if e.Dir {
					n += "/"
				}
				names = append(names, n)
				fi, err := os.Stat(filepath.Join(root, "docs", e.Name))
				if err != nil {
					t.Fatalf("%q listed: %v", e.Name, err)
				}
				if e.Dir != fi.IsDir() || e.MTime == nil || *e.MTime != fi.ModTime().UTC().Format(time.RFC3339) {
					t.Errorf("%q: %+v, want dir %v, mtime %v", e.Name, e, fi.IsDir(), fi.ModTime())
				}
				if e.Dir {
					if e.Size != nil || e.ETag != "" || e.Type != "" {
						t.Errorf("folder %q: %+v", e.Name, e)
					}
					continue
				}
				if e.Size == nil || *e.Size != fi.Size() || !strings.HasPrefix(e.ETag, `"`) || e.Type == "" {
					t.Errorf("file %q: %+v (size %d)", e.Name, e, fi.Size())
				}
			}
			sort.Strings(names)
			if !slices.Equal(names, docsListNames) {
				t.Errorf("names %q, want %q (no hidden file)", names, docsListNames)
			}
			for _, e := range entries {
				want := map[string]string{"a.txt": "text/plain; charset=utf-8", "b.mp4": "video/mp4", "c": "application/octet-stream"}[e.Name]
				if want != "" && e.Type != want {
					t.Errorf("%s: type %q, want %q", e.Name, e.Type, want)
				}
			}
		})
	}
}

// fetchPage GETs one ?format=json page.
func fetchPage(t *testing.T, base, query string) (pageJSON, *http.Response) {
	t.Helper()
	resp := getResp(t, base+query)
	var p pageJSON
	if resp.StatusCode == 200 {
		dec := json.NewDecoder(resp.Body)
		dec.DisallowUnknownFields()
		if err := dec.Decode(&p); err != nil {
			t.Fatalf("%s: %v", query, err)
		}
	}
	return p, resp
}

// walkPages follows the cursor from the first page and returns every
// ListName in order.
func walkPages(t *testing.T, folderURL string, limit int) []string {
	t.Helper()
	var names []string
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 100000 {
			t.Fatal("the cursor does not end")
		}
		q := fmt.Sprintf("?format=json&limit=%d", limit)
		if cursor != "" {
			q += "&cursor=" + url.QueryEscape(cursor)
		}
		p, resp := fetchPage(t, folderURL, q)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: status %d", q, resp.StatusCode)
		}
		if len(p.Entries) > limit {
			t.Fatalf("%d entries for limit %d", len(p.Entries), limit)
		}
		for _, e := range p.Entries {
			n := e.Name
			if e.Dir {
				n += "/"
			}
			names = append(names, n)
		}
		if p.Next == "" {
			return names
		}
		cursor = p.Next
	}
}

// listerOnly hides a backend's PageLister: media selects pages from
// List itself.
type listerOnly struct {
	storage.Backend
	l storage.Lister
}

func (b listerOnly) List(ctx context.Context, prefix string) iter.Seq2[storage.Info, error] {
	return b.l.List(ctx, prefix)
}

func TestListingPages(t *testing.T) {
	root := listTree(t)
	lb := localBackend(t, root)
	for _, tc := range []struct {
		name string
		b    storage.Backend
	}{{"PageLister", lb}, {"Lister only", listerOnly{lb, lb}}} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(newHandler(t, tc.b, media.Options{}))
			defer srv.Close()
			for _, limit := range []int{1, 2, 3, 7, 8, 200} {
				if got := walkPages(t, srv.URL+"/docs/", limit); !slices.Equal(got, docsListNames) {
					t.Errorf("limit %d: %q, want %q", limit, got, docsListNames)
				}
			}
			p, resp := fetchPage(t, srv.URL+"/docs/", "?format=json&limit=3")
			if resp.Header.Get("Content-Type") != "application/json" || resp.Header.Get("Cache-Control") != "no-cache" ||
				resp.ContentLength <= 0 || p.Path != "/docs/" || p.Next == "" {
				t.Errorf("page: %+v, headers %v", p, resp.Header)
			}
			p, _ = fetchPage(t, srv.URL+"/docs", "?format=json")
			if p.Path != "/docs/" || len(p.Entries) != len(docsListNames) || p.Next != "" {
				t.Errorf("default page: %+v", p)
			}
			p, _ = fetchPage(t, srv.URL+"/", "?format=json")
			if p.Path != "/" || len(p.Entries) != 2 {
				t.Errorf("root page: %+v", p)
			}
			p, resp = fetchPage(t, srv.URL+"/docs/empty/", "?format=json")
			if resp.StatusCode != 200 || len(p.Entries) != 0 || p.Entries == nil || p.Next != "" {
				t.Errorf("empty folder: %d %+v", resp.StatusCode, p)
			}
		})
	}
}

func TestListingBadInput(t *testing.T) {
	root := listTree(t)
	log, logs := bufLogger()
	h := newHandler(t, localBackend(t, root), media.Options{Logger: log})
	for _, tc := range []struct {
		target     string
		wantStatus int
		wantBody   string
	}{
		{"/docs/?format=json&limit=0", 400, "400 limit must be a positive number\n"},
		{"/docs/?format=json&limit=-5", 400, "400 limit must be a positive number\n"},
		{"/docs/?format=json&limit=ten", 400, "400 limit must be a positive number\n"},
		{"/docs/?format=json&cursor=!!!", 400, "400 bad cursor\n"},
		{"/docs/?format=json&cursor=" + b64("../etc"), 400, "400 bad cursor\n"},
		{"/docs/?format=json&cursor=" + b64("a/b"), 400, "400 bad cursor\n"},
		{"/docs/?format=json&cursor=" + b64("x\x00y"), 400, "400 bad cursor\n"},
		{"/docs/?format=json&cursor=" + b64(".."), 400, "400 bad cursor\n"},
		{"/docs/?format=json&cursor=YQ==", 400, "400 bad cursor\n"}, // padded: not what we make
		{"/docs/?format=xml", 400, "400 format must be ndjson or json\n"},
		{"/docs/?follow=maybe", 400, "400 follow must be 1 or 0\n"},
		{"/nope/?format=ndjson", 404, "404 not found\n"},
		{"/nope/?format=json", 404, "404 not found\n"},
		{"/top.txt?format=ndjson", 404, "404 not found\n"},
		{"/top.txt?format=json", 404, "404 not found\n"},
		{"/docs/.secret/?format=ndjson", 404, "404 not found\n"},
		{"/docs/?format=json&limit=5000", 200, ""}, // lowered to MaxListLimit
		{"/docs/?format=json&cursor=" + b64("zzz"), 200, ""},
	} {
		w := serve(h, "GET", tc.target, nil)
		if w.Code != tc.wantStatus || tc.wantBody != "" && w.Body.String() != tc.wantBody {
			t.Errorf("%s: %d %q, want %d %q", tc.target, w.Code, w.Body.String(), tc.wantStatus, tc.wantBody)
		}
	}
	if !strings.Contains(logs.String(), "bad query parameter") {
		t.Errorf("no log line for bad input: %s", logs.String())
	}
	// A listing of a store that cannot list.
	w := serve(newHandler(t, newMem(), media.Options{}), "GET", "/dir/?format=ndjson", nil)
	if w.Code != 501 {
		t.Errorf("memBackend listing: %d", w.Code)
	}
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func TestFolderRedirectToUI(t *testing.T) {
	root := listTree(t)
	b := localBackend(t, root)
	const html = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
	with := newHandler(t, b, media.Options{UIURL: "/ui/"})
	without := newHandler(t, b, media.Options{})
	mux := http.NewServeMux()
	mux.Handle("/media/", http.StripPrefix("/media", with))
	for _, tc := range []struct {
		h          http.Handler
		target     string
		accept     string
		wantStatus int
		wantLoc    string
	}{
		{with, "/docs/", html, 302, "/ui/#/docs/"},
		{with, "/docs", html, 302, "/ui/#/docs/"},
		{with, "/", html, 302, "/ui/#/"},
		{with, "/docs/sub/", html, 302, "/ui/#/docs/sub/"},
		{mux, "/media/docs/", html, 302, "/ui/#/media/docs/"}, // the full path, before StripPrefix
		{with, "/docs/", "*/*", 404, ""},
		{with, "/docs/", "", 404, ""},
		{with, "/docs/", "text/html;q=0", 404, ""},
		{with, "/top.txt", html, 200, ""},
		{without, "/docs/", html, 404, ""},
		{without, "/docs", html, 404, ""},
	} {
		w := serve(tc.h, "GET", tc.target, map[string]string{"Accept": tc.accept})
		if w.Code != tc.wantStatus || w.Header().Get("Location") != tc.wantLoc {
			t.Errorf("%s (Accept %q): %d %q, want %d %q", tc.target, tc.accept, w.Code, w.Header().Get("Location"), tc.wantStatus, tc.wantLoc)
		}
	}
	// A folder with characters that need escaping.
	os.MkdirAll(filepath.Join(root, "a b", "<é>"), 0o755)
	w := serve(with, "GET", "/a%20b/%3C%C3%A9%3E/", map[string]string{"Accept": html})
	if loc := w.Header().Get("Location"); w.Code != 302 || loc != "/ui/#/a%20b/%3C%C3%A9%3E/" {
		t.Errorf("escaped folder: %d %q", w.Code, loc)
	}
}

// TestListing100k streams 100,000 generated entries of a local folder as
// NDJSON through a real HTTP/1.1 server: every line parses, and every
// name arrives once.
func TestListing100k(t *testing.T) {
	const n = 100000
	root := t.TempDir()
	dir := filepath.Join(root, "many")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	// Hard links of empty files: one system call per entry (ext4 allows
	// 65,000 links per file).
	var orig string
	for i := range n {
		if i%50000 == 0 {
			orig = filepath.Join(root, fmt.Sprintf("orig%d", i))
			if err := os.WriteFile(orig, nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Link(orig, filepath.Join(dir, fmt.Sprintf("file-%06d.txt", i))); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("created %d files in %v", n, time.Since(start))
	start = time.Now()
	srv := httptest.NewServer(newHandler(t, localBackend(t, root), media.Options{}))
	defer srv.Close()
	resp := getResp(t, srv.URL+"/many/?format=ndjson")
	checkStreamHeaders(t, resp, media.NDJSONType)
	seen := make([]bool, n)
	count := 0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		var e entryJSON
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("line %d: %v", count+1, err)
		}
		var i int
		if _, err := fmt.Sscanf(e.Name, "file-%06d.txt", &i); err != nil || i < 0 || i >= n || seen[i] || e.Size == nil || *e.Size != 0 {
			t.Fatalf("line %d: unexpected or repeated entry %+v", count+1, e)
		}
		seen[i] = true
		count++
	}
	if err := sc.Err(); err != nil || count != n {
		t.Fatalf("%d entries, %v; want %d", count, err, n)
	}
	t.Logf("listed %d entries in %v", n, time.Since(start))
}

// A listing whose backend fails after the first entries were sent is
// aborted: the client never sees a clean end.
func TestListingErrorMidway(t *testing.T) {
	b := failingLister{n: 5000}
	srv := httptest.NewServer(newHandler(t, b, media.Options{FlushBytes: 4096}))
	defer srv.Close()
	resp := getResp(t, srv.URL+"/x/?format=ndjson")
	body, err := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !errors.Is(err, io.ErrUnexpectedEOF) || len(body) == 0 {
		t.Fatalf("%d, %d bytes, %v; want 200, some entries, then unexpected EOF", resp.StatusCode, len(body), err)
	}
}

// failingLister lists n entries, then fails.
type failingLister struct {
	storage.Backend
	n int
}

func (f failingLister) List(ctx context.Context, prefix string) iter.Seq2[storage.Info, error] {
	return func(yield func(storage.Info, error) bool) {
		for i := range f.n {
			if !yield(storage.Info{Key: fmt.Sprintf("%s/f%d", prefix, i), Size: 1}, nil) {
				return
			}
		}
		yield(storage.Info{}, fmt.Errorf("fake: disk gone: %w", storage.ErrUnavailable))
	}
}

// FuzzListingQuery sends random listing and follow parameters and Accept
// headers to a handler over a local folder: never a panic or a 5xx, only
// the statuses bad input can lead to, and pages that parse and respect
// their limit.
func FuzzListingQuery(f *testing.F) {
	f.Add("/docs/", "json", "2", "", "", "")
	f.Add("/docs/", "json", "1", b64("b.mp4"), "", "")
	f.Add("/docs", "ndjson", "", "", "", "")
	f.Add("/docs/", "", "", "", "", "application/x-ndjson")
	f.Add("/top.txt", "", "", "", "1", "")
	f.Add("/docs/", "json", "99999999999999999999", "!", "2", "text/html")
	root := listTreeAt(f, f.TempDir())
	b, err := local.New(local.Options{Root: root})
	if err != nil {
		f.Fatal(err)
	}
	h, err := media.New(b, media.Options{FollowIdleTimeout: time.Millisecond, UIURL: "/ui/", Logger: discard})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, p, format, limit, cursor, follow, accept string) {
		q := url.Values{}
		for k, v := range map[string]string{"format": format, "limit": limit, "cursor": cursor, "follow": follow} {
			if v != "" {
				q.Set(k, v)
			}
		}
		u := &url.URL{Path: "/" + strings.TrimPrefix(p, "/"), RawQuery: q.Encode()}
		r := httptest.NewRequest("GET", "/", nil)
		r.URL, r.RequestURI = u, u.RequestURI()
		if accept != "" {
			r.Header.Set("Accept", accept)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		switch w.Code {
		case 200, 206, 302, 400, 404, 416:
		default:
			t.Fatalf("%s (Accept %q): status %d %q", u, accept, w.Code, w.Body.String())
		}
		if w.Code == 200 && format == "json" {
			var pg pageJSON
			if err := json.Unmarshal(w.Body.Bytes(), &pg); err != nil {
				t.Fatalf("%s: page does not parse: %v", u, err)
			}
			if len(pg.Entries) > media.MaxListLimit || !strings.HasSuffix(pg.Path, "/") {
				t.Fatalf("%s: %+v", u, pg)
			}
		}
	})
}

// Hidden names are listed only with Options.AllowHidden, as they are
// served.
func TestListingHidden(t *testing.T) {
	b := localBackend(t, listTree(t))
	for _, allow := range []bool{false, true} {
		h := newHandler(t, b, media.Options{AllowHidden: allow})
		for _, q := range []string{"?format=ndjson", "?format=json"} {
			w := serve(h, "GET", "/docs/"+q, nil)
			if got := strings.Contains(w.Body.String(), `".secret"`); w.Code != 200 || got != allow {
				t.Errorf("AllowHidden %v, %s: %d, .secret listed: %v", allow, q, w.Code, got)
			}
		}
	}
}

// HEAD gets the status GET would get, without a listing.
func TestListingHEAD(t *testing.T) {
	h := newHandler(t, localBackend(t, listTree(t)), media.Options{})
	for _, tc := range []struct {
		target string
		want   int
	}{
		{"/docs/?format=ndjson", 200},
		{"/docs/empty/?format=ndjson", 200},
		{"/nope/?format=ndjson", 404},
		{"/top.txt?format=ndjson", 404},
		{"/docs/?format=json", 200},
		{"/nope/?format=json", 404},
	} {
		w := serve(h, "HEAD", tc.target, nil)
		if w.Code != tc.want || w.Body.Len() != 0 {
			t.Errorf("HEAD %s: %d, %d body bytes; want %d", tc.target, w.Code, w.Body.Len(), tc.want)
		}
	}
}

// A page is filled although the backend's page held hidden names the
// listing leaves out: ".secret" sorts first in docs/, so a page of two
// from the backend holds one listed entry.
func TestListingPageFilledPastHidden(t *testing.T) {
	b := localBackend(t, listTree(t))
	srv := httptest.NewServer(newHandler(t, b, media.Options{}))
	defer srv.Close()
	p, _ := fetchPage(t, srv.URL+"/docs/", "?format=json&limit=2")
	var got []string
	for _, e := range p.Entries {
		got = append(got, e.Name)
	}
	if !slices.Equal(got, docsListNames[:2]) || p.Next == "" {
		t.Errorf("limit 2: %q (next %q), want %q and a cursor", got, p.Next, docsListNames[:2])
	}
}
