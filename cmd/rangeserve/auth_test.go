package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const (
	testSecret      = "0123456789abcdef0123456789abcdef-test-only"
	testReaderToken = "reader-token-for-tests"
	testAdminToken  = "admin-token-for-tests"
	testNarrowToken = "narrow-admin-token-for-tests"
)

func tokenHash(tok string) string { s := sha256.Sum256([]byte(tok)); return hex.EncodeToString(s[:]) }

// authConfig has a mount per policy, all on the repository's testdata,
// which nested_in acknowledges.
func authConfig(t *testing.T, grace string) string {
	return fmt.Sprintf(`
auth:
  keys:
    - {id: k1, secret: %q}
  clock_skew: 1ms
  playback_grace: %s
  max_grace: 12h
  tokens:
    - {name: reader, sha256: %s, mounts: [/tok/]}
    - {name: admin, sha256: %s, mounts: [/tok/, /either/], admin: true, links: [/signed/, /either/, /tok/, /pub/], max_link_ttl: 48h}
    - {name: narrow, sha256: %s, mounts: [/tok/], admin: true, links: [/tok/, /signed/docs/]}
mounts:
  - {prefix: /pub/, backend: local, root: %q, auth: public}
  - {prefix: /signed/, backend: local, root: %q, auth: signed, nested_in: [/pub/, /tok/, /either/]}
  - {prefix: /tok/, backend: local, root: %q, auth: token, nested_in: [/pub/, /signed/, /either/]}
  - {prefix: /either/, backend: local, root: %q, auth: signed-or-token, nested_in: [/pub/]}
`, testSecret, grace, tokenHash(testReaderToken), tokenHash(testAdminToken), tokenHash(testNarrowToken),
		repoTestdata(t), repoTestdata(t), repoTestdata(t), repoTestdata(t))
}

// signCLI runs `rangeserve sign` as a user would and returns the URL.
func signCLI(t *testing.T, config, base string, args ...string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "config.yaml")
	os.WriteFile(f, []byte(config), 0o600)
	var out, errb bytes.Buffer
	if code := run(append([]string{"sign", "-config", f, "-base", base}, args...), &out, &errb); code != 0 {
		t.Fatalf("rangeserve sign %v: exit %d: %s", args, code, errb.String())
	}
	return strings.TrimSpace(out.String())
}

func reqWith(t *testing.T, c *http.Client, u string, h map[string]string) response {
	t.Helper()
	req, _ := http.NewRequest("GET", u, nil)
	for k, v := range h {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{resp.StatusCode, resp.Header, b}
}

func TestSignedLinks(t *testing.T) {
	cfg := authConfig(t, "2h")
	srv, _, logs := startApp(t, cfg)
	data, _ := os.ReadFile(filepath.Join(repoTestdata(t), "video.mp4"))
	link := signCLI(t, cfg, srv.URL, "-ttl", "1h", "/signed/video.mp4")

	r := get(t, link, map[string]string{"Range": "bytes=1000-1999"})
	if r.StatusCode != 206 || r.Header.Get("Content-Range") != fmt.Sprintf("bytes 1000-1999/%d", len(data)) || !bytes.Equal(r.Body, data[1000:2000]) {
		t.Fatalf("valid link with Range: %d %q", r.StatusCode, r.Header.Get("Content-Range"))
	}
	// The ETag does not depend on the link's parameters.
	plain := get(t, srv.URL+"/pub/video.mp4", nil)
	if r.Header.Get("ETag") != plain.Header.Get("ETag") {
		t.Errorf("ETag via link %q differs from public %q", r.Header.Get("ETag"), plain.Header.Get("ETag"))
	}

	u, _ := url.Parse(link)
	q := u.Query()
	tampered := func(mod func(q url.Values)) string {
		q2 := url.Values{}
		for k, v := range q {
			q2[k] = append([]string(nil), v...)
		}
		mod(q2)
		return srv.URL + u.Path + "?" + q2.Encode()
	}
	for _, c := range []struct {
		name, u string
		status  int
		body    string
	}{
		{"no signature", srv.URL + "/signed/video.mp4", 403, "signed link required"},
		{"tampered sig", tampered(func(q url.Values) { s := []byte(q.Get("sig")); s[3] ^= 1; q.Set("sig", string(s)) }), 403, "invalid signature"},
		{"longer exp", tampered(func(q url.Values) { q.Set("exp", "9999999999") }), 403, "invalid signature"},
		{"empty sig", tampered(func(q url.Values) { q.Set("sig", "") }), 403, ""},
		{"two sigs", tampered(func(q url.Values) { q.Add("sig", q.Get("sig")) }), 403, ""},
		{"unknown kid", tampered(func(q url.Values) { q.Set("kid", "k9") }), 403, "invalid signature"},
		{"path swap", srv.URL + "/signed/hello.txt?" + q.Encode(), 403, "invalid signature"},
		{"mount swap", srv.URL + "/either/video.mp4?" + q.Encode(), 403, ""},
		{"missing file, bad sig", srv.URL + "/signed/nope.mp4?" + q.Encode(), 403, "invalid signature"},
	} {
		r := get(t, c.u, nil)
		if r.StatusCode != c.status || !strings.Contains(string(r.Body), c.body) {
			t.Errorf("%s: %d %q, want %d %q", c.name, r.StatusCode, r.Body, c.status, c.body)
		}
	}
	// A missing file and an existing one answer the same to a bad link.
	a := get(t, srv.URL+"/signed/nope.mp4?"+q.Encode(), nil)
	b := get(t, srv.URL+"/signed/hello.txt?"+q.Encode(), nil)
	if a.StatusCode != b.StatusCode || !bytes.Equal(a.Body, b.Body) {
		t.Errorf("bad link: missing file %d %q, existing %d %q: they must not differ", a.StatusCode, a.Body, b.StatusCode, b.Body)
	}
	// A folder link opens every key under its scope, and nothing outside.
	folder := signCLI(t, cfg, srv.URL, "-ttl", "1h", "-scope", "docs", "/signed/docs/notes.txt")
	fu, _ := url.Parse(folder)
	if r := get(t, folder, nil); r.StatusCode != 200 {
		t.Errorf("folder link: %d", r.StatusCode)
	}
	if r := get(t, srv.URL+"/signed/hello.txt?"+fu.RawQuery, nil); r.StatusCode != 403 {
		t.Errorf("folder link outside its scope: %d, want 403", r.StatusCode)
	}
	if resp, _ := rawGet(t, srv.URL, "/signed/docs/../hello.txt?"+fu.RawQuery); resp.StatusCode != 404 {
		t.Errorf("folder link with ../ escape: %d, want 404", resp.StatusCode)
	}
	// A link for one key opens the object at that key, not a folder of
	// that name: its archive and its listings need a scope link.
	keyLink, _ := url.Parse(signCLI(t, cfg, srv.URL, "-ttl", "1h", "/signed/docs"))
	for _, c := range []struct {
		name, path, query string
		accept            string
		keyStatus         int
	}{
		{"archive", "/signed/docs", "archive=zip", "", 403},
		{"JSON page", "/signed/docs", "format=json", "", 403},
		{"NDJSON", "/signed/docs", "format=ndjson", "", 403},
		{"NDJSON by Accept", "/signed/docs", "", "application/x-ndjson", 403},
	} {
		q := keyLink.RawQuery
		if c.query != "" {
			q = c.query + "&" + q
		}
		h := map[string]string{}
		if c.accept != "" {
			h["Accept"] = c.accept
		}
		r := get(t, srv.URL+c.path+"?"+q, h)
		if r.StatusCode != c.keyStatus || (c.keyStatus == 403 && !strings.Contains(string(r.Body), "scope link")) {
			t.Errorf("key link for a folder, %s: %d %q, want %d naming the scope link", c.name, r.StatusCode, r.Body, c.keyStatus)
		}
		// The same request with a scope link over the folder is served.
		q = fu.RawQuery
		if c.query != "" {
			q = c.query + "&" + q
		}
		// Each answer names the folder's file: the ZIP's headers, the
		// listings' entries.
		if r := get(t, srv.URL+c.path+"?"+q, h); r.StatusCode != 200 || !bytes.Contains(r.Body, []byte("notes.txt")) {
			t.Errorf("scope link for the folder, %s: %d %q, want 200 naming notes.txt", c.name, r.StatusCode, r.Body)
		}
	}
	if !strings.Contains(logs.String(), "share a folder with a scope link") {
		t.Errorf("the refusal of a folder to a key link is not logged")
	}
	// A key link for a file still serves it, and follows it (?follow=1 is one object).
	fileLink := signCLI(t, cfg, srv.URL, "-ttl", "1h", "/signed/docs/notes.txt")
	want, _ := os.ReadFile(filepath.Join(repoTestdata(t), "docs", "notes.txt"))
	if r := get(t, fileLink, nil); r.StatusCode != 200 || !bytes.Equal(r.Body, want) {
		t.Errorf("key link for a file: %d, %d bytes, want 200 and the file", r.StatusCode, len(r.Body))
	}
	if strings.Contains(logs.String(), q.Get("sig")) {
		t.Errorf("the log contains a link signature")
	}
	if !strings.Contains(logs.String(), "invalid signature") && !strings.Contains(logs.String(), "signature") {
		t.Errorf("refusals are not logged:\n%s", logs.String())
	}
}

// TestPlaybackGrace: a playback that started with a valid link keeps
// seeking after the link expires (the client keeps its cookie); a new
// client with the same expired link is refused.
func TestPlaybackGrace(t *testing.T) {
	cfg := authConfig(t, "30m")
	srv, _, _ := startApp(t, cfg)
	data, _ := os.ReadFile(filepath.Join(repoTestdata(t), "video.mp4"))
	link := signCLI(t, cfg, srv.URL, "-ttl", "1s", "/signed/video.mp4")
	other := signCLI(t, cfg, srv.URL, "-ttl", "1s", "/signed/video.webm")

	jar, _ := cookiejar.New(nil)
	player := &http.Client{Jar: jar}
	if r := reqWith(t, player, link, map[string]string{"Range": "bytes=0-99"}); r.StatusCode != 206 {
		t.Fatalf("first request with a valid link: %d %q", r.StatusCode, r.Body)
	}
	if r := reqWith(t, player, other, map[string]string{"Range": "bytes=0-99"}); r.StatusCode != 206 {
		t.Fatalf("webm with a valid link: %d", r.StatusCode)
	}
	time.Sleep(2100 * time.Millisecond) // past exp (1s) and skew (1ms)

	// The player seeks: still allowed, thanks to its cookie.
	r := reqWith(t, player, link, map[string]string{"Range": "bytes=200000-200999"})
	if r.StatusCode != 206 || !bytes.Equal(r.Body, data[200000:201000]) {
		t.Fatalf("seek after expiry with the grace cookie: %d %q", r.StatusCode, r.Body)
	}
	// A new client with the expired link: refused, and told why.
	fresh := &http.Client{}
	if r := reqWith(t, fresh, link, nil); r.StatusCode != 403 || !strings.Contains(string(r.Body), "expired") {
		t.Errorf("new client with the expired link: %d %q, want 403 expired", r.StatusCode, r.Body)
	}
	// The cookie opens only its own file: a link for another file (here
	// the mp4's query on the webm's path) does not borrow it.
	u, _ := url.Parse(link)
	if r := reqWith(t, player, srv.URL+"/signed/hello.txt?"+u.RawQuery, nil); r.StatusCode != 403 {
		t.Errorf("grace cookie used for another key: %d, want 403", r.StatusCode)
	}
	// The cookie is HttpOnly and scoped to the file's path.
	var found bool
	for _, c := range jar.Cookies(mustURL(t, link)) {
		found = true
		_ = c
	}
	if !found {
		t.Errorf("no cookie for the file's URL in the jar")
	}
	if r := reqWith(t, &http.Client{}, link, nil); r.Header.Get("Set-Cookie") != "" {
		t.Errorf("a refused request set a cookie: %q", r.Header.Get("Set-Cookie"))
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestTokens(t *testing.T) {
	srv, _, _ := startApp(t, authConfig(t, "0s"))
	bearer := func(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }
	for _, c := range []struct {
		name, path string
		hdr        map[string]string
		status     int
		challenge  bool
	}{
		{"no token", "/tok/hello.txt", nil, 401, true},
		{"wrong token", "/tok/hello.txt", bearer("nope"), 401, true},
		{"reader", "/tok/hello.txt", bearer(testReaderToken), 200, false},
		{"reader on another mount", "/either/hello.txt", bearer(testReaderToken), 403, true}, // RFC 6750 insufficient_scope
		{"admin on either", "/either/hello.txt", bearer(testAdminToken), 200, false},
		{"either without anything", "/either/hello.txt", nil, 401, true},
		{"public", "/pub/hello.txt", nil, 200, false},
		{"reader on missing file", "/tok/nope.txt", bearer(testReaderToken), 404, false},
		{"no token on missing file", "/tok/nope.txt", nil, 401, true},
	} {
		r := get(t, srv.URL+c.path, c.hdr)
		if r.StatusCode != c.status {
			t.Errorf("%s: status %d %q, want %d", c.name, r.StatusCode, r.Body, c.status)
		}
		if got := strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer"); got != c.challenge {
			t.Errorf("%s: WWW-Authenticate %q", c.name, r.Header.Get("WWW-Authenticate"))
		}
	}
}

func TestLinksAPI(t *testing.T) {
	srv, _, _ := startApp(t, authConfig(t, "0s"))
	post := func(tok, body string) response {
		req, _ := http.NewRequest("POST", srv.URL+"/api/links", strings.NewReader(body))
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return response{resp.StatusCode, resp.Header, b}
	}
	body := `{"mount":"/signed/","key":"vidéo 𝄞 test.mp4","ttl":"10m"}`
	if r := post("", body); r.StatusCode != 401 {
		t.Errorf("no token: %d", r.StatusCode)
	}
	if r := post(testReaderToken, body); r.StatusCode != 403 {
		t.Errorf("reader token: %d, want 403", r.StatusCode)
	}
	if r := post(testAdminToken, `{"mount":"/signed/","key":"x","ttl":"forever"}`); r.StatusCode != 400 {
		t.Errorf("bad ttl: %d %s, want 400", r.StatusCode, r.Body)
	}
	if r := post(testAdminToken, `{`); r.StatusCode != 400 {
		t.Errorf("bad JSON: %d, want 400", r.StatusCode)
	}
	// An admin token mints links only where it may.
	for _, c := range []struct {
		name, tok, body string
		status          int
	}{
		{"token for /tok/ on /signed/", testNarrowToken, body, 403},
		{"token for /tok/ on /signed/, scope", testNarrowToken, `{"mount":"/signed/","scope":"movies","ttl":"1h"}`, 403},
		{"links /signed/docs/: a key in it", testNarrowToken, `{"mount":"/signed/","key":"docs/notes.txt","ttl":"1h"}`, 200},
		{"links /signed/docs/: the folder", testNarrowToken, `{"mount":"/signed/","scope":"docs/","ttl":"1h"}`, 200},
		{"links /signed/docs/: a key in its scope", testNarrowToken, `{"mount":"/signed/","key":"docs/notes.txt","scope":"docs","ttl":"1h"}`, 200},
		{"links /signed/docs/: sibling", testNarrowToken, `{"mount":"/signed/","key":"docsx/a","ttl":"1h"}`, 403},
		{"links /signed/docs/: traversal", testNarrowToken, `{"mount":"/signed/","key":"docs/../hello.txt","ttl":"1h"}`, 400},
		{"reader token", testReaderToken, body, 403},
		{"token mount takes no links", testAdminToken, `{"mount":"/tok/","key":"hello.txt","ttl":"1h"}`, 400},
		{"public mount takes no links", testAdminToken, `{"mount":"/pub/","key":"hello.txt","ttl":"1h"}`, 400},
		{"beyond the token's max_link_ttl", testAdminToken, `{"mount":"/signed/","key":"hello.txt","ttl":"49h"}`, 400},
		{"within the token's max_link_ttl", testAdminToken, `{"mount":"/signed/","key":"hello.txt","ttl":"48h"}`, 200},
		{"default max_link_ttl is 7 days", testNarrowToken, `{"mount":"/signed/","key":"docs/notes.txt","ttl":"169h"}`, 400},
		{"unknown mount", testAdminToken, `{"mount":"/nope/","key":"hello.txt","ttl":"1h"}`, 403},
	} {
		if r := post(c.tok, c.body); r.StatusCode != c.status {
			t.Errorf("%s: %d %s, want %d", c.name, r.StatusCode, r.Body, c.status)
		}
	}
	// GET is not allowed, and says what is (RFC 9110 §15.5.6).
	if r := get(t, srv.URL+"/api/links", map[string]string{"Authorization": "Bearer " + testAdminToken}); r.StatusCode != 405 || r.Header.Get("Allow") != "POST" {
		t.Errorf("GET /api/links: %d Allow=%q, want 405 with Allow: POST", r.StatusCode, r.Header.Get("Allow"))
	}
	if r := do(t, "POST", srv.URL+"/api/healthz", nil); r.StatusCode != 405 || r.Header.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST /api/healthz: %d Allow=%q, want 405 with Allow: GET, HEAD", r.StatusCode, r.Header.Get("Allow"))
	}
	r := post(testAdminToken, body)
	if r.StatusCode != 200 {
		t.Fatalf("admin: %d %s", r.StatusCode, r.Body)
	}
	var out struct{ URL, Expires string }
	if err := json.Unmarshal(r.Body, &out); err != nil || out.URL == "" {
		t.Fatalf("response %s: %v", r.Body, err)
	}
	data, _ := os.ReadFile(filepath.Join(repoTestdata(t), "vidéo 𝄞 test.mp4"))
	got := get(t, srv.URL+out.URL, nil)
	if got.StatusCode != 200 || !bytes.Equal(got.Body, data) {
		t.Fatalf("GET the minted link %s: %d", out.URL, got.StatusCode)
	}
	if cd := got.Header.Get("Content-Disposition"); !strings.Contains(cd, "filename*=UTF-8''vid%C3%A9o%20%F0%9D%84%9E%20test.mp4") {
		t.Errorf("Content-Disposition %q lacks the RFC 8187 name", cd)
	}
}
