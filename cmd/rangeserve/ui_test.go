package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rangeserve/rangeserve/internal/testenv"
	"github.com/rangeserve/rangeserve/internal/uitest"
)

// xssName is a file name that is markup: the UI must show it as text.
const xssName = `<img src=x onerror=alert(1)>.mp4`

// uiCopy copies the repository's testdata (without make.sh and README.md)
// to a temp dir, adds the XSS-named file, and gives the top-level entries
// distinct modification times, alphabetical order oldest first, so that
// sorting by date is well defined.
func uiCopy(t *testing.T) string {
	t.Helper()
	src := repoTestdata(t)
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
	return dst
}

// datesInOrder gives dir's entries modification times an hour apart, in
// name order.
func datesInOrder(t *testing.T, dir string) {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	base := time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC)
	for i, de := range des {
		mt := base.Add(time.Duration(i) * time.Hour)
		if err := os.Chtimes(filepath.Join(dir, de.Name()), mt, mt); err != nil {
			t.Fatal(err)
		}
	}
}

// bigVideo writes a 60 s, ~30 MB H.264 video to dir/name with ffmpeg: far
// more than Chrome buffers ahead, so that a seek to 70 % needs a new Range
// request.
func bigVideo(t *testing.T, dir, name string) int64 {
	t.Helper()
	ffmpeg := testenv.Require(t, "ffmpeg")
	p := filepath.Join(dir, name)
	if out, err := runCmd(t, 60*time.Second, ffmpeg, "-hide_banner", "-loglevel", "error", "-y",
		"-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25:duration=60",
		"-c:v", "libx264", "-preset", "ultrafast", "-qp", "4", "-g", "50", "-pix_fmt", "yuv420p",
		"-movflags", "+faststart", p); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	st, err := os.Stat(p)
	if err != nil || st.Size() < 15<<20 {
		t.Fatalf("%s: %v, want more than 15 MiB", p, err)
	}
	return st.Size()
}

// requests returns the requests for the URL path (unescaped) the binary
// logged as done at or after since, once the access log has been
// flushed. A request is logged when its response ends: a video the
// browser is still reading is not there yet.
func (p *proc) requests(t *testing.T, path string, since time.Time) []uitest.Request {
	t.Helper()
	var out []uitest.Request
	for _, e := range accessEntries(t, p.loggedLines()) {
		if e.Path == path && !e.Start.Before(since) {
			out = append(out, uitest.Request{At: e.Start, Path: e.Path, Range: e.Range, Status: e.Status})
		}
	}
	return out
}

// playBriefly plays the page's video for half a second and pauses it, so
// that a screenshot shows a frame rather than Chrome's loading spinner.
func playBriefly(t *testing.T, b *uitest.Browser) {
	t.Helper()
	uitest.Eval[bool](t, b, 20*time.Second, `(async v => { v.muted = true; await v.play(); const t0 = performance.now();
  while (v.currentTime < 0.5 && performance.now() - t0 < 15000) await new Promise(r => setTimeout(r, 50));
  v.pause(); return true; })(document.querySelector('video.media'))`)
	settleVideo(t, b)
}

// settleVideo waits until the paused video has the data around its
// position and the player's on-screen message has faded.
func settleVideo(t *testing.T, b *uitest.Browser) {
	t.Helper()
	b.Wait(t, 15*time.Second, "the video settles", `(v => v.paused && !v.seeking && v.readyState >= 3 && !document.querySelector('.osd.show'))(document.querySelector('video.media'))`,
		`(v => 'paused ' + v.paused + ', seeking ' + v.seeking + ', readyState ' + v.readyState)(document.querySelector('video.media'))`)
}

// mintLink asks the binary's link API for a link with the admin token and
// returns its URL (absolute).
func mintLink(t *testing.T, base string, req map[string]string) string {
	t.Helper()
	body, _ := json.Marshal(req)
	r, err := http.NewRequest("POST", base+"/api/links", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Authorization", "Bearer "+testAdminToken)
	r.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var l struct{ URL, Error string }
	if err := json.NewDecoder(res.Body).Decode(&l); err != nil || res.StatusCode != 200 || !strings.HasPrefix(l.URL, "/") {
		t.Fatalf("POST /api/links %v: %d %+v %v", req, res.StatusCode, l, err)
	}
	return base + l.URL
}

// TestUIBinary runs the web UI of the real binary in Chromium, the way a
// user meets it: the start-up line's URL; browsing a local mount at /
// (sorting, a subfolder, the XSS-named file); the player on a local file
// (keyboard play and seek, subtitles, Range requests answered 206 in the
// access log, including a seek past the middle of a 30 MB file), on S3
// mounts served and redirected (MinIO), and on a signed mount through a
// link from `rangeserve sign`; the share form with an admin token, whose
// link plays in a fresh browser context, a folder link opened raw in a
// fresh context, and a short link refused in a fresh context after it
// expired; no horizontal scrolling at 360 px. One Chromium serves every
// step; "fresh" contexts are new browser contexts (own cookies and
// storage). Screenshots of the browser, the player and the share form at
// 1280 and 360 px go to uitest.ArtifactsDir().
func TestUIBinary(t *testing.T) {
	testenv.Require(t, "chromium")
	pub := uiCopy(t)
	bigSize := bigVideo(t, pub, "big.mp4")
	datesInOrder(t, pub)
	locked := t.TempDir()
	for _, f := range []string{"video.mp4", "video.vtt", "docs/notes.txt"} {
		data, err := os.ReadFile(filepath.Join(repoTestdata(t), f))
		if err != nil {
			t.Fatal(err)
		}
		os.MkdirAll(filepath.Join(locked, filepath.Dir(f)), 0o755)
		if err := os.WriteFile(filepath.Join(locked, f), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	m := testenv.StartMinIO(t)
	m.MakeBucket(t, "media")
	for _, f := range []string{"video.mp4", "video.vtt"} {
		data, err := os.ReadFile(filepath.Join(repoTestdata(t), f))
		if err != nil {
			t.Fatal(err)
		}
		m.Put(t, "media", f, data, "")
	}
	cfg := fmt.Sprintf(`
auth:
  keys:
    - {id: k1, secret: %q}
  clock_skew: 1ms
  tokens:
    - {name: admin, sha256: %s, mounts: [/locked/], admin: true, links: [/locked/]}
mounts:
  - {prefix: /, backend: local, root: %q, auth: public}
  - {prefix: /locked/, backend: local, root: %q, auth: signed}
%s%s`, testSecret, tokenHash(testAdminToken), pub, locked,
		s3MountAt("/s3/", m.Endpoint, m, ""), s3MountAt("/s3r/", m.Endpoint, m, "    mode: redirect\n"))
	p := startBinary(t, cfg)
	base := p.URL

	// The start-up line names the UI, and the UI's address answers.
	if !strings.Contains(p.logs.String(), "url="+base+"/ui/") {
		t.Errorf("the start-up line does not print %s/ui/:\n%s", base, p.logs.String())
	}
	b := uitest.Start(t)
	b.Viewport(t, 1280, 800)
	// Opening the server's root in a browser lands in the UI.
	b.Navigate(t, base+"/")
	b.Wait(t, 10*time.Second, "/ opens the UI", `location.pathname === '/ui/' && location.hash === '#/' && document.querySelectorAll('.listing tbody tr').length > 5`,
		`location.href + ' ' + document.body.innerText.slice(0, 200)`)

	t.Run("browse", func(t *testing.T) {
		uitest.CheckBrowse(t, b, base, uitest.BrowseWant{
			Folder:    "/",
			Names:     []string{"docs", "s3", "locked", "video.mp4", "video.vtt", "hello.txt", "image.png", "big.mp4", "vidéo 𝄞 test.mp4", xssName},
			Subfolder: "docs",
			SubNames:  []string{"notes.txt"},
			XSSName:   xssName,
		})
		b.Open(t, uitest.PageURL(base, "/", ""))
		b.Wait(t, 10*time.Second, "listing", `document.querySelectorAll('.listing tbody tr').length > 5`, `document.querySelector('#view').innerText`)
		uitest.CheckAccessible(t, b, "desktop browse")
		b.Screenshot(t, "binary-browse-desktop")
	})

	t.Run("player", func(t *testing.T) {
		since := time.Now()
		uitest.CheckPlayer(t, b, base, uitest.PlayerWant{
			Path:     "/video.mp4",
			Duration: 10,
			Cue:      "rangeserve test subtitle: the first cue",
			Requests: func(from time.Time) []uitest.Request { return p.requests(t, "/video.mp4", from) },
		})
		if n := len(p.requests(t, "/video.vtt", since)); n == 0 {
			t.Errorf("the player never requested /video.vtt")
		}
		b.Key(t, "k")
		settleVideo(t, b)
		uitest.CheckAccessible(t, b, "desktop player")
		b.Screenshot(t, "binary-player-desktop")
	})

	t.Run("seek in a big file", func(t *testing.T) {
		r := uitest.CheckPlayer(t, b, base, uitest.PlayerWant{Path: "/big.mp4", Duration: 60})
		// Let go of the file, so that the access log has every request.
		b.Navigate(t, "about:blank")
		all := p.requests(t, "/big.mp4", time.Time{})
		var near []string
		for _, q := range all {
			if !strings.HasPrefix(q.Range, "bytes=") || q.Status != http.StatusPartialContent {
				t.Errorf("/big.mp4: Range %q answered %d, want a Range request answered 206", q.Range, q.Status)
			}
			var start int64
			if _, err := fmt.Sscanf(q.Range, "bytes=%d-", &start); err == nil && start > bigSize/2 && !q.At.Add(time.Second).Before(r.KeyAt) {
				near = append(near, q.Range)
			}
		}
		if len(near) == 0 {
			t.Errorf("no Range request past the middle of the %d-byte file after the seek key, answered 206; all: %v", bigSize, all)
		}
		t.Logf("/big.mp4: seeked at %.1f s; requests %v", r.SeekedAt, all)
	})

	t.Run("s3", func(t *testing.T) {
		uitest.CheckPlayer(t, b, base, uitest.PlayerWant{Path: "/s3/video.mp4", Duration: 10, Cue: "rangeserve test subtitle: the first cue",
			Requests: func(from time.Time) []uitest.Request { return p.requests(t, "/s3/video.mp4", from) }})
	})

	t.Run("s3 redirect", func(t *testing.T) {
		// The browser fetches the video from MinIO through a presigned
		// URL: the UI's CSP must allow MinIO's origin (media-src).
		uitest.CheckPlayer(t, b, base, uitest.PlayerWant{Path: "/s3r/video.mp4", Duration: 10})
		for _, q := range p.requests(t, "/s3r/video.mp4", time.Time{}) {
			if q.Status != http.StatusTemporaryRedirect {
				t.Errorf("/s3r/video.mp4: %d, want 307 to MinIO", q.Status)
			}
		}
	})

	t.Run("signed link", func(t *testing.T) {
		f := filepath.Join(t.TempDir(), "config.yaml")
		if err := os.WriteFile(f, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := runCmd(t, 20*time.Second, buildBinary(t), "sign", "-config", f, "-base", base, "-ttl", "1h", "/locked/video.mp4")
		if err != nil {
			t.Fatalf("rangeserve sign: %v\n%s", err, out)
		}
		link := mustURL(t, strings.TrimSpace(strings.SplitN(out, "\n", 2)[0])) // then "expires …"
		uitest.CheckPlayerRefused(t, b, base, "/locked/video.mp4", "")
		after := time.Now() // the refused requests are not the link's
		uitest.CheckPlayer(t, b, base, uitest.PlayerWant{Path: "/locked/video.mp4", Query: link.RawQuery, Duration: 10,
			Requests: func(from time.Time) []uitest.Request {
				if from.Before(after) {
					from = after
				}
				return p.requests(t, "/locked/video.mp4", from)
			}})
	})

	t.Run("share", func(t *testing.T) {
		// A short link now, checked after its expiry at the end.
		short := mintLink(t, base, map[string]string{"mount": "/locked/", "key": "video.mp4", "ttl": "3s"})
		exp := time.Now().Add(3 * time.Second)
		if r := get(t, short, map[string]string{"Range": "bytes=0-99"}); r.StatusCode != http.StatusPartialContent {
			t.Fatalf("the 3 s link before expiry: %d %q", r.StatusCode, r.Body)
		}

		link := uitest.CheckShare(t, b, base, uitest.ShareWant{Path: "/locked/video.mp4", Token: testAdminToken})
		// With the token, the page plays the protected file through a link
		// of its own.
		b.Wait(t, 20*time.Second, "the protected file plays with the token", `document.querySelector('video.media') && document.querySelector('video.media').readyState >= 2`,
			`document.querySelector('#view').innerText`)
		playBriefly(t, b)
		uitest.Eval[bool](t, b, 5*time.Second, `document.querySelector('.share-card').scrollIntoView({ block: 'end' }), true`)
		uitest.CheckAccessible(t, b, "desktop share")
		b.Screenshot(t, "binary-share-desktop")
		u := mustURL(t, link)
		if got := u.Query().Get("exp"); got == "" {
			t.Fatalf("link %s has no exp", link)
		}

		fresh := b.Fresh(t)
		uitest.CheckPlayer(t, fresh, base, uitest.PlayerWant{Path: "/locked/video.mp4", Query: u.RawQuery, Duration: 10})
		if s := uitest.Eval[string](t, fresh, 5*time.Second, `JSON.stringify(sessionStorage) + JSON.stringify(localStorage)`); strings.Contains(s, testAdminToken) {
			t.Errorf("the fresh context has the token: %s", s)
		}
		// The raw link plays too.
		fresh.Navigate(t, link)
		fresh.Wait(t, 20*time.Second, "the raw link plays", `document.querySelector('video') && document.querySelector('video').readyState >= 2`, `document.body.innerHTML.slice(0, 200)`)
		fresh.Stop()

		// A folder link opened as is in a fresh context: the server sends
		// the browser to the UI with the link, which lists the folder and
		// opens a file in it.
		folder := mintLink(t, base, map[string]string{"mount": "/locked/", "scope": "docs/", "ttl": "1h"})
		fresh = b.Fresh(t)
		fresh.Navigate(t, folder)
		fresh.Wait(t, 10*time.Second, "the folder through its link", `location.pathname === '/ui/' && location.hash.startsWith('#/locked/docs/?') && document.querySelector('.entry-name') && document.querySelector('.entry-name').textContent === 'notes.txt'`,
			`location.href + ' ' + document.querySelector('#view').innerText`)
		fresh.Click(t, ".entry-link")
		fresh.Wait(t, 10*time.Second, "a file in the shared folder", `document.querySelector('pre.text-view') && document.querySelector('pre.text-view').textContent.length > 10`, `document.querySelector('#view').innerText`)
		uitest.CheckClean(t, fresh)
		fresh.Stop()

		// After expiry, a fresh context is refused.
		time.Sleep(time.Until(exp.Add(1100 * time.Millisecond)))
		fresh = b.Fresh(t)
		uitest.CheckPlayerRefused(t, fresh, base, "/locked/video.mp4", mustURL(t, short).RawQuery)
		uitest.CheckClean(t, fresh)
		fresh.Stop()
		if r := get(t, short, map[string]string{"Range": "bytes=0-99"}); r.StatusCode != http.StatusForbidden {
			t.Errorf("the 3 s link after expiry: %d %q, want 403", r.StatusCode, r.Body)
		}
	})

	t.Run("signed folder with the token", func(t *testing.T) {
		// The admin token typed in the share step lists a folder of the
		// signed mount through a link the page makes, and opens a file.
		b.Open(t, uitest.PageURL(base, "/locked/docs/", ""))
		b.Wait(t, 10*time.Second, "the signed folder", `document.querySelector('.entry-name') && document.querySelector('.entry-name').textContent === 'notes.txt'`, `document.querySelector('#view').innerText`)
		if h := uitest.Eval[string](t, b, 5*time.Second, `location.hash + document.querySelector('.entry-link').getAttribute('href')`); strings.Contains(h, "sig=") {
			t.Errorf("the page's own link went into a URL: %s", h)
		}
		b.Click(t, ".entry-link")
		b.Wait(t, 10*time.Second, "a file of the signed folder", `document.querySelector('pre.text-view') && document.querySelector('pre.text-view').textContent.length > 10`, `document.querySelector('#view').innerText`)
		// The mount itself cannot be listed with a link: the page says why.
		b.Open(t, uitest.PageURL(base, "/locked/", ""))
		b.Wait(t, 10*time.Second, "the signed mount's root", `document.querySelector('.problem-text')`, `document.querySelector('#view').innerText`)
		if msg := uitest.Eval[string](t, b, 5*time.Second, `document.querySelector('.problem-text').textContent`); !strings.Contains(msg, "share links only") {
			t.Errorf("the signed mount's root says %q, want why it cannot be listed", msg)
		}
		uitest.CheckAccessible(t, b, "signed mount's root")
		b.Screenshot(t, "binary-locked-desktop")
		uitest.CheckClean(t, b)
	})

	t.Run("share refused", func(t *testing.T) {
		// A TTL the token may not mint: the form shows the server's reason.
		b.Open(t, uitest.PageURL(base, "/locked/video.mp4", ""))
		b.Wait(t, 10*time.Second, "share form", `document.querySelector('.share-card') && document.querySelector('.share-card').checkVisibility()`, `document.querySelector('#view').innerText`)
		uitest.Eval[bool](t, b, 5*time.Second, `(s => { s.append(new Option('9 days', '216h')); s.value = '216h'; return true; })(document.querySelector('.share-card select'))`)
		b.Click(t, ".share-form button[type=submit]")
		b.Wait(t, 10*time.Second, "the refusal", `!document.querySelector('.share-form .form-error').hidden`, `document.querySelector('.share-card').innerText`)
		if msg := uitest.Eval[string](t, b, 5*time.Second, `document.querySelector('.share-form .form-error').textContent`); !strings.Contains(msg, "at most 7 days") {
			t.Errorf("refusal %q: want the server's reason (links live at most 7 days)", msg)
		}
		if opts := uitest.Eval[[]string](t, b, 5*time.Second, `[...document.querySelectorAll('.share-card select option')].map(o => o.value)`); !slices.Equal(opts, []string{"1h", "24h", "72h", "168h", "216h"}) {
			t.Errorf("TTL menu %q: want up to 168h (the test added 216h)", opts)
		}
	})

	t.Run("phone", func(t *testing.T) {
		b.Viewport(t, 360, 740)
		defer b.Viewport(t, 1280, 800)
		b.Open(t, uitest.PageURL(base, "/", ""))
		b.Wait(t, 10*time.Second, "listing", `document.querySelectorAll('.listing tbody tr').length > 5`, `''`)
		uitest.CheckNoHorizontalScroll(t, b, "phone browse", 360)
		uitest.CheckAccessible(t, b, "phone browse")
		b.Screenshot(t, "binary-browse-phone")

		b.Open(t, uitest.PageURL(base, "/video.mp4", ""))
		b.Wait(t, 20*time.Second, "video", `document.querySelector('video.media') && document.querySelector('video.media').readyState >= 3`, `''`)
		playBriefly(t, b)
		uitest.Eval[bool](t, b, 20*time.Second, `(async v => { v.currentTime = 5; await new Promise(r => v.addEventListener('seeked', r, { once: true })); return true; })(document.querySelector('video.media'))`)
		settleVideo(t, b)
		uitest.CheckNoHorizontalScroll(t, b, "phone player", 360)
		uitest.CheckAccessible(t, b, "phone player")
		b.Screenshot(t, "binary-player-phone")

		uitest.CheckShare(t, b, base, uitest.ShareWant{Path: "/locked/video.mp4", Token: testAdminToken, TTL: "168h"})
		uitest.Eval[bool](t, b, 5*time.Second, `document.querySelector('.share-card').scrollIntoView({ block: 'end' }), true`)
		uitest.CheckNoHorizontalScroll(t, b, "phone share", 360)
		uitest.CheckAccessible(t, b, "phone share")
		b.Screenshot(t, "binary-share-phone")
	})
	uitest.CheckClean(t, b)
	if strings.Contains(p.logs.String(), testAdminToken) {
		t.Errorf("the log holds the admin token")
	}
}
