package uitest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// UIPath is where the server serves the UI.
const UIPath = "/ui/"

// PageURL is the UI's URL for route (an unescaped path such as
// "/videos/film.mp4" or "/videos/sub/") with an optional signed-link query.
func PageURL(base, route, query string) string {
	u := base + UIPath + "#" + (&url.URL{Path: route}).EscapedPath()
	if query != "" {
		u += "?" + query
	}
	return u
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// CheckClean fails the test if the page opened a JavaScript dialog, threw
// an uncaught exception or violated its Content-Security-Policy so far, or
// if the view holds stray text.
func CheckClean(t testing.TB, b *Browser) {
	t.Helper()
	if d := b.Dialogs(); len(d) > 0 {
		t.Errorf("JavaScript dialogs opened: %q", d)
	}
	if e := b.Exceptions(); len(e) > 0 {
		t.Errorf("JavaScript errors: %q", e)
	}
	if v := Eval[[]string](t, b, 5*time.Second, `window.__csp || []`); len(v) > 0 {
		t.Errorf("Content-Security-Policy violations: %q", v)
	}
	// Text straight in the view is a value appended by mistake
	// (Node.append(null) writes "null"): the views put text in elements.
	if s := Eval[[]string](t, b, 5*time.Second, `[...(document.querySelector('#view') || document.createElement('div')).childNodes]
  .filter(n => n.nodeType === 3 && n.textContent.trim()).map(n => n.textContent)`); len(s) > 0 {
		t.Errorf("stray text in the page: %q", s)
	}
}

// listing is the server's JSON listing of a folder, all pages.
type listEntry struct {
	Name  string `json:"name"`
	Size  int64  `json:"size"`
	MTime string `json:"mtime"`
	Dir   bool   `json:"dir"`
}

// fetchListing reads every page of folder's JSON listing with a plain
// HTTP client (the check's own view of the truth).
func fetchListing(t testing.TB, base, folder, query string) []listEntry {
	t.Helper()
	var all []listEntry
	cursor := ""
	for range 100 {
		u := base + (&url.URL{Path: folder}).EscapedPath() + "?format=json&limit=500"
		if cursor != "" {
			u += "&cursor=" + url.QueryEscape(cursor)
		}
		if query != "" {
			u += "&" + query
		}
		res, err := http.Get(u)
		if err != nil {
			t.Fatalf("listing %s: %v", u, err)
		}
		var page struct {
			Entries []listEntry `json:"entries"`
			Next    string      `json:"next"`
		}
		err = json.NewDecoder(res.Body).Decode(&page)
		res.Body.Close()
		if res.StatusCode != 200 || err != nil {
			t.Fatalf("listing %s: status %d, %v", u, res.StatusCode, err)
		}
		all = append(all, page.Entries...)
		if page.Next == "" {
			return all
		}
		cursor = page.Next
	}
	t.Fatalf("listing %s: more than 100 pages", folder)
	return nil
}

// rowNames returns the names of the listing's rows, top to bottom.
func rowNames(t testing.TB, b *Browser) []string {
	t.Helper()
	return Eval[[]string](t, b, 5*time.Second, `[...document.querySelectorAll('.listing tbody tr .entry-name')].map(e => e.textContent)`)
}

// BrowseWant says what CheckBrowse expects of a folder.
type BrowseWant struct {
	Folder    string   // the folder's path, e.g. "/" or "/videos/"
	Query     string   // a signed link's query, if the folder needs one
	Names     []string // names that must be listed
	Subfolder string   // a folder to click into (a name in Folder)
	SubNames  []string // names that must be listed in Subfolder
	XSSName   string   // a listed name that must render as plain text
}

// CheckBrowse opens w.Folder in the UI and checks: the listing shows
// w.Names, in the order of the server's listing (folders first); sorting by
// size (largest first) and by name descending reorders the rows as the
// server's sizes and names say; the XSS-named file shows as text with no
// element or dialog made from it; clicking w.Subfolder navigates there.
func CheckBrowse(t testing.TB, b *Browser, base string, w BrowseWant) {
	t.Helper()
	b.Open(t, PageURL(base, w.Folder, w.Query))
	server := fetchListing(t, base, w.Folder, w.Query)
	if len(server) < 2 {
		t.Fatalf("%s: the server lists %d entries; the check needs at least 2", w.Folder, len(server))
	}
	b.Wait(t, 15*time.Second, "listing of "+w.Folder,
		fmt.Sprintf(`document.querySelectorAll('.listing tbody tr').length >= %d`, len(server)),
		`document.querySelector('#view').innerText`)
	got := rowNames(t, b)
	for _, n := range w.Names {
		if !slices.Contains(got, n) {
			t.Errorf("%s: %q is not listed; rows: %q", w.Folder, n, got)
		}
	}
	want := sortedNames(server, "name", 1)
	if !slices.Equal(onlyServer(got, server), want) {
		t.Errorf("%s: rows in name order %q, want %q (folders first)", w.Folder, got, want)
	}

	if w.XSSName != "" {
		n := Eval[int](t, b, 5*time.Second, fmt.Sprintf(`[...document.querySelectorAll('.entry-name')].filter(e => e.textContent === %s && e.children.length === 0).length`, jsString(w.XSSName)))
		if n != 1 {
			t.Errorf("%q: %d name cells hold it as plain text, want 1", w.XSSName, n)
		}
		if imgs := Eval[int](t, b, 5*time.Second, `document.querySelectorAll('img[src="x"], #view img:not(.image-view)').length`); imgs != 0 {
			t.Errorf("%q became markup: %d <img> elements", w.XSSName, imgs)
		}
	}

	// Sorting (desktop header buttons; phones use the select, same code).
	for _, s := range []struct {
		key  string
		dir  int
		sort string
	}{{"size", -1, "descending"}, {"date", -1, "descending"}, {"name", 1, "ascending"}, {"name", -1, "descending"}} {
		b.Click(t, fmt.Sprintf(`.listing th .sort-btn[data-key=%q]`, s.key))
		b.Wait(t, 5*time.Second, "sorting by "+s.key,
			fmt.Sprintf(`document.querySelector('.listing th .sort-btn[data-key=%q]').closest('th').getAttribute('aria-sort') === %q`, s.key, s.sort), `''`)
		got := onlyServer(rowNames(t, b), server)
		want := sortedNames(server, s.key, s.dir)
		if !slices.Equal(got, want) {
			t.Errorf("%s sorted by %s %s: rows %q, want %q", w.Folder, s.key, s.sort, got, want)
		}
	}
	if slices.Equal(sortedNames(server, "size", -1), sortedNames(server, "name", 1)) {
		t.Errorf("%s: size order equals name order: the sort check proves nothing with this folder", w.Folder)
	}
	// Back to name order for the screenshots and the click below.
	b.Click(t, `.listing th .sort-btn[data-key="name"]`)

	if w.Subfolder != "" {
		sub := w.Folder + w.Subfolder + "/"
		b.Click(t, fmt.Sprintf(`tr[data-path=%s] a.entry-link`, jsString(sub)))
		wantHash := "#" + (&url.URL{Path: sub}).EscapedPath()
		b.Wait(t, 10*time.Second, "navigating to "+sub,
			fmt.Sprintf(`location.hash.startsWith(%s) && document.querySelector('h1').textContent === %s && document.querySelectorAll('.listing tbody tr').length >= %d`,
				jsString(wantHash), jsString(w.Subfolder), max(1, len(w.SubNames))),
			`location.hash + ' ' + document.querySelector('#view').innerText`)
		got := rowNames(t, b)
		for _, n := range w.SubNames {
			if !slices.Contains(got, n) {
				t.Errorf("%s: %q is not listed; rows: %q", sub, n, got)
			}
		}
		if crumb := Eval[string](t, b, 5*time.Second, `document.querySelector('.crumbs [aria-current="page"]').textContent`); crumb != w.Subfolder {
			t.Errorf("%s: current breadcrumb %q, want %q", sub, crumb, w.Subfolder)
		}
	}
	CheckClean(t, b)
}

// onlyServer keeps the names that the server listed (drops mount rows).
func onlyServer(names []string, server []listEntry) []string {
	var out []string
	for _, n := range names {
		if slices.ContainsFunc(server, func(e listEntry) bool { return e.Name == n }) {
			out = append(out, n)
		}
	}
	return out
}

// sortedNames is the order the UI must show: folders first, then by key
// in direction dir, ties by name (code points).
func sortedNames(es []listEntry, key string, dir int) []string {
	es = slices.Clone(es)
	slices.SortStableFunc(es, func(a, b listEntry) int {
		if a.Dir != b.Dir {
			if a.Dir {
				return -1
			}
			return 1
		}
		c := 0
		switch key {
		case "size":
			c = cmpInt(a.Size, b.Size)
		case "date":
			c = strings.Compare(a.MTime, b.MTime)
		}
		if c != 0 {
			return c * dir
		}
		n := strings.Compare(utf16Key(a.Name), utf16Key(b.Name))
		if key == "name" {
			return n * dir
		}
		return n
	})
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.Name
	}
	return out
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// utf16Key makes strings.Compare order as JavaScript's < does (UTF-16
// code units), which differs from UTF-8 byte order only above U+FFFF.
func utf16Key(s string) string {
	var sb strings.Builder
	for _, r := range s {
		if r > 0xFFFF {
			r -= 0x10000
			sb.WriteRune(0xD800 + (r >> 10))
			sb.WriteRune(0xDC00 + (r & 0x3FF))
			continue
		}
		sb.WriteRune(r)
	}
	return sb.String()
}

// PlayerWant says what CheckPlayer expects of a video.
type PlayerWant struct {
	Path     string  // the file's path, e.g. "/video.mp4"
	Query    string  // a signed link's query, if any
	Duration float64 // seconds (±0.2)
	// Cue is the text of the first subtitle cue; "" when no track is
	// expected.
	Cue string
	// Requests, when set, returns the server's requests for the file made
	// at or after since; CheckPlayer then checks they were Range requests
	// answered 206.
	Requests func(since time.Time) []Request
}

// PlayerResult reports what CheckPlayer saw.
type PlayerResult struct {
	SeekedAt  float64   // currentTime at the seeked event
	KeyAt     time.Time // when the seek key was pressed
	Requests  []Request // all requests for the file (when w.Requests is set)
	AfterSeek []Request // those made after the key press
}

// CheckPlayer opens the player page of w.Path and checks: the <video>
// reaches readyState >= 3; K starts playback and the time advances; with
// w.Cue, the track is offered in the subtitles menu and its first cue
// becomes active; pressing 7 seeks to 70 %, seeked fires after the key
// press with currentTime there and readyState >= 3; the server answered
// every request for the file 206 to a Range request (or 304 when Chrome
// revalidated a range it had cached).
func CheckPlayer(t testing.TB, b *Browser, base string, w PlayerWant) PlayerResult {
	t.Helper()
	b.Open(t, PageURL(base, w.Path, w.Query))
	const v = `document.querySelector('video.media')`
	state := `(v => v ? 'readyState ' + v.readyState + ', networkState ' + v.networkState + ', currentTime ' + v.currentTime + ', paused ' + v.paused + (v.error ? ', error ' + v.error.code + ' ' + v.error.message : '') : 'no video: ' + document.querySelector('#view').innerText)(` + v + `)`
	b.Wait(t, 20*time.Second, w.Path+": readyState >= 3", v+` && `+v+`.readyState >= 3`, state)
	if d := Eval[float64](t, b, 5*time.Second, v+`.duration`); w.Duration > 0 && (d < w.Duration-0.2 || d > w.Duration+0.2) {
		t.Errorf("%s: duration %.3f s, want %.1f", w.Path, d, w.Duration)
	}
	if a := Eval[string](t, b, 5*time.Second, v+`.getAttribute('aria-label') || ''`); a == "" {
		t.Errorf("%s: the <video> has no accessible name", w.Path)
	}

	// Play with the keyboard.
	b.Key(t, "k")
	b.Wait(t, 20*time.Second, w.Path+": playing after K", `!`+v+`.paused && `+v+`.currentTime > 0.2`, state)

	if w.Cue != "" {
		opts := Eval[[]string](t, b, 5*time.Second, `[...document.querySelectorAll('#subs-select option')].map(o => o.textContent)`)
		if len(opts) < 2 {
			t.Errorf("%s: subtitles menu %q, want Off and the track", w.Path, opts)
		}
		if n := Eval[int](t, b, 5*time.Second, v+`.textTracks.length`); n < 1 {
			t.Errorf("%s: %d text tracks", w.Path, n)
		}
		b.Wait(t, 15*time.Second, w.Path+": first cue active",
			v+`.textTracks[0].activeCues && `+v+`.textTracks[0].activeCues.length > 0`,
			`(t => 'mode ' + t.mode + ', cues ' + (t.cues ? t.cues.length : 'none') + ', currentTime ' + `+v+`.currentTime)(`+v+`.textTracks[0])`)
		if c := Eval[string](t, b, 5*time.Second, v+`.textTracks[0].activeCues[0].text`); c != w.Cue {
			t.Errorf("%s: active cue %q, want %q", w.Path, c, w.Cue)
		}
	}

	// Seek with the keyboard: 7 → 70 %.
	Eval[bool](t, b, 5*time.Second, `(v => { window.__seeked = null; window.__keyAt = null;
  window.addEventListener('keydown', () => { window.__keyAt = window.__keyAt || performance.now(); }, { capture: true, once: true });
  v.addEventListener('seeked', () => { window.__seeked = { at: performance.now(), t: v.currentTime }; }, { once: true });
  return true; })(`+v+`)`)
	var res PlayerResult
	res.KeyAt = time.Now()
	b.Key(t, "7")
	b.Wait(t, 20*time.Second, w.Path+": seeked after pressing 7", `window.__seeked && `+v+`.readyState >= 3`, state)
	type seekedEv struct {
		At, T, KeyAt, Duration float64
	}
	s := Eval[seekedEv](t, b, 5*time.Second, `({ at: window.__seeked.at, t: window.__seeked.t, keyAt: window.__keyAt, duration: `+v+`.duration })`)
	res.SeekedAt = s.T
	if s.At < s.KeyAt {
		t.Errorf("%s: seeked fired at %.0f ms, before the key press at %.0f ms", w.Path, s.At, s.KeyAt)
	}
	if target := 0.7 * s.Duration; s.T < 0.6*s.Duration || s.T < target-0.1 || s.T > target+0.5 {
		t.Errorf("%s: seeked at %.3f s, want %.3f s (70 %% of %.3f)", w.Path, s.T, target, s.Duration)
	}
	t.Logf("%s: seeked at %.3f s of %.3f, %.0f ms after the key press", w.Path, s.T, s.Duration, s.At-s.KeyAt)

	if w.Requests != nil {
		res.Requests = w.Requests(time.Time{})
		res.AfterSeek = w.Requests(res.KeyAt)
		if len(res.Requests) == 0 {
			t.Errorf("%s: the server saw no request for the file", w.Path)
		}
		for _, r := range res.Requests {
			// 304: Chrome revalidated a range it had cached (If-Range /
			// If-None-Match with the ETag); the bytes came from its cache.
			if !strings.HasPrefix(r.Range, "bytes=") || (r.Status != http.StatusPartialContent && r.Status != http.StatusNotModified) {
				t.Errorf("%s: request with Range %q answered %d, want a Range request answered 206 (or 304 to a revalidation)", w.Path, r.Range, r.Status)
			}
		}
		t.Logf("%s: %d requests, %d after the seek key: %v", w.Path, len(res.Requests), len(res.AfterSeek), res.Requests)
	}
	CheckClean(t, b)
	return res
}

// ShareWant says what CheckShare does.
type ShareWant struct {
	Path  string // a file's path, e.g. "/video.mp4"
	Token string // an admin token the server's link API accepts
	TTL   string // a value of the TTL menu ("1h", "24h", ...); "" keeps the default
}

// CheckShare opens the player page of w.Path without a token and checks
// the share form is hidden; types w.Token into the token dialog; checks
// the form appears, the token is in sessionStorage only (not localStorage,
// not the URL); makes a link and returns its absolute URL.
func CheckShare(t testing.TB, b *Browser, base string, w ShareWant) string {
	t.Helper()
	b.Open(t, PageURL(base, w.Path, ""))
	Eval[bool](t, b, 5*time.Second, `sessionStorage.clear(), true`)
	b.Open(t, PageURL(base, w.Path, ""))
	b.Wait(t, 15*time.Second, "player page", `document.querySelector('.share-card') && document.querySelector('.details-card')`, `document.querySelector('#view').innerText`)
	if vis := Eval[bool](t, b, 5*time.Second, `document.querySelector('.share-card').checkVisibility()`); vis {
		t.Errorf("%s: the share form is visible without a token", w.Path)
	}
	b.Click(t, "#token-btn")
	b.Do(t, 10*time.Second, "typing the token", chromedp.SendKeys(chromedp.CSS("#token-input"), w.Token+kb.Enter))
	b.Wait(t, 10*time.Second, "share form after the token", `document.querySelector('.share-card').checkVisibility() && !document.querySelector('#token-dialog').open`, `''`)
	if s := Eval[string](t, b, 5*time.Second, `JSON.stringify(localStorage) + location.href + document.cookie`); strings.Contains(s, w.Token) {
		t.Errorf("the token is in localStorage, the URL or a cookie: %q", s)
	}
	if s := Eval[string](t, b, 5*time.Second, `JSON.stringify(sessionStorage)`); !strings.Contains(s, w.Token) {
		t.Errorf("the token is not in sessionStorage: %q", s)
	}
	if w.TTL != "" {
		b.Do(t, 5*time.Second, "TTL", chromedp.SetValue(chromedp.CSS(".share-card select"), w.TTL))
	}
	b.Click(t, ".share-form button[type=submit]")
	b.Wait(t, 10*time.Second, "the link", `document.querySelector('.share-result') && !document.querySelector('.share-result').hidden`,
		`document.querySelector('.share-card').innerText`)
	link := Eval[string](t, b, 5*time.Second, `document.querySelector('.share-result .link-out').value`)
	exp := Eval[string](t, b, 5*time.Second, `document.querySelector('.share-result time').getAttribute('datetime')`)
	u, err := url.Parse(link)
	if err != nil || !strings.HasPrefix(link, base+"/") || u.Query().Get("sig") == "" || u.Query().Get("exp") == "" {
		t.Fatalf("share link %q: want an absolute URL on %s with exp and sig (%v)", link, base, err)
	}
	if u.Path != w.Path {
		t.Errorf("share link %q: path %q, want %q", link, u.Path, w.Path)
	}
	if at, err := time.Parse(time.RFC3339, exp); err != nil || at.Before(time.Now()) {
		t.Errorf("share link expiry %q: want a time in the future (%v)", exp, err)
	}
	CheckClean(t, b)
	return link
}

// CheckNoHorizontalScroll checks, at the current viewport, that the page
// at url is no wider than width CSS pixels.
func CheckNoHorizontalScroll(t testing.TB, b *Browser, what string, width int) {
	t.Helper()
	sw := Eval[int](t, b, 5*time.Second, `document.documentElement.scrollWidth`)
	if sw > width {
		wide := Eval[string](t, b, 5*time.Second, fmt.Sprintf(`[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > %d).slice(0, 5).map(e => e.tagName + '.' + e.className).join(', ')`, width))
		t.Errorf("%s: scrollWidth %d > %d: horizontal scrolling (too wide: %s)", what, sw, width, wide)
	}
}

// CheckPlayerRefused opens the player page of path with query (e.g. an
// expired link) and checks that the video fails and the page says so.
func CheckPlayerRefused(t testing.TB, b *Browser, base, path, query string) {
	t.Helper()
	b.Open(t, PageURL(base, path, query))
	b.Wait(t, 20*time.Second, path+": refused", `document.querySelector('video.media') && document.querySelector('video.media').error && document.querySelector('.stage-error')`,
		`document.querySelector('#view').innerText`)
	if msg := Eval[string](t, b, 5*time.Second, `document.querySelector('.stage-error').textContent`); !strings.Contains(msg, "refused") {
		t.Errorf("%s: error message %q does not say the server refused the file", path, msg)
	}
}

// CheckAccessible checks the current page for the basics a screen reader
// needs: a language, one h1, a label for every form field, a name for every
// button and link, alt text on images, and no positive tabindex (which
// would break the focus order).
func CheckAccessible(t testing.TB, b *Browser, what string) {
	t.Helper()
	problems := Eval[[]string](t, b, 5*time.Second, `(() => {
  const out = [];
  const visible = e => e.checkVisibility();
  const name = e => (e.getAttribute('aria-label') || '').trim() ||
    (e.getAttribute('aria-labelledby') || '').split(' ').map(id => document.getElementById(id)?.textContent || '').join('').trim() ||
    (e.textContent || '').trim() || (e.getAttribute('title') || '').trim() ||
    [...e.querySelectorAll('img[alt]')].map(i => i.alt).join('').trim();
  const desc = e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + (e.className && typeof e.className === 'string' ? '.' + e.className.split(' ')[0] : '');
  if (!document.documentElement.lang) out.push('html has no lang');
  const h1 = [...document.querySelectorAll('h1')].filter(visible);
  if (h1.length !== 1) out.push(h1.length + ' visible h1 elements');
  for (const e of document.querySelectorAll('input:not([type=hidden]), select, textarea')) {
    if (!visible(e) && !e.closest('dialog')) continue;
    if (!(e.labels && e.labels.length) && !e.getAttribute('aria-label') && !e.getAttribute('aria-labelledby')) out.push('no label: ' + desc(e));
  }
  for (const e of document.querySelectorAll('button, a[href], summary')) {
    if (visible(e) && !name(e)) out.push('no accessible name: ' + desc(e));
  }
  for (const e of document.querySelectorAll('img')) if (!e.hasAttribute('alt')) out.push('img without alt: ' + desc(e));
  for (const e of document.querySelectorAll('[tabindex]')) if (e.tabIndex > 0) out.push('positive tabindex: ' + desc(e));
  return out;
})()`)
	for _, p := range problems {
		t.Errorf("%s: accessibility: %s", what, p)
	}
}
