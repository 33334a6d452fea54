package static_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rangeserve/rangeserve/internal/testenv"
	"github.com/rangeserve/rangeserve/internal/uitest"
)

// fakeSite starts the fake API over a copy of testdata: "/" public (local)
// and "/locked/" signed (the same files), and the UI at /ui/.
func fakeSite(t *testing.T) (*fakeAPI, string) {
	dir := copyTestdata(t)
	f := newFakeAPI(
		fakeMount{Prefix: "/", Auth: "public", Mode: "serve", Backend: "local", root: dir},
		fakeMount{Prefix: "/locked/", Auth: "signed", Mode: "serve", Backend: "s3", root: dir},
	)
	return f, f.start(t).URL
}

// TestBrowserUI drives the UI in a real Chromium against the fake API:
// browsing, sorting, the XSS-named file, the player (keyboard play and
// seek, Range requests answered 206, subtitles), the share form and its
// link in a fresh browser, and phone width. It saves screenshots of each
// page at 1280x800 and 360x740 to uitest.ArtifactsDir().
func TestBrowserUI(t *testing.T) {
	f, base := fakeSite(t)
	b := uitest.Start(t)
	b.Viewport(t, 1280, 800)

	t.Run("browse", func(t *testing.T) {
		uitest.CheckBrowse(t, b, base, uitest.BrowseWant{
			Folder:    "/",
			Names:     []string{"docs", "locked", "video.mp4", "video.vtt", "hello.txt", "image.png", "vidéo 𝄞 test.mp4", xssName},
			Subfolder: "docs",
			SubNames:  []string{"notes.txt"},
			XSSName:   xssName,
		})
	})

	t.Run("folder without its slash", func(t *testing.T) {
		b.Open(t, uitest.PageURL(base, "/docs", ""))
		b.Wait(t, 10*time.Second, "redirect to the folder", `location.hash === '#/docs/' && document.querySelector('.entry-name') && document.querySelector('.entry-name').textContent === 'notes.txt'`,
			`location.hash + ' ' + document.querySelector('#view').innerText`)
	})

	t.Run("player", func(t *testing.T) {
		r := uitest.CheckPlayer(t, b, base, uitest.PlayerWant{
			Path:     "/video.mp4",
			Duration: 10,
			Cue:      "rangeserve test subtitle: the first cue",
			Requests: func(since time.Time) []uitest.Request { return f.Requests("/video.mp4", since) },
		})
		if len(r.Requests) == 0 {
			t.Fatal("no requests for /video.mp4")
		}
		// The subtitles came from the .vtt next to the video.
		if n := len(f.Requests("/video.vtt", time.Time{})); n == 0 {
			t.Errorf("the player never requested /video.vtt")
		}
	})

	t.Run("resume", func(t *testing.T) {
		// The player above plays video.mp4 from about 7 s: pause it (K),
		// leave, come back: the new page resumes where it was paused.
		b.Key(t, "k")
		b.Wait(t, 5*time.Second, "paused", `document.querySelector('video.media').paused`, `''`)
		at := uitest.Eval[float64](t, b, 5*time.Second, `document.querySelector('video.media').currentTime`)
		if at < 7 || at > 8 {
			t.Fatalf("paused at %.3f s, want 7 to 8 (the test is too slow to check resuming)", at)
		}
		b.Open(t, uitest.PageURL(base, "/", ""))
		b.Open(t, uitest.PageURL(base, "/video.mp4", ""))
		b.Wait(t, 20*time.Second, "resumed", fmt.Sprintf(`document.querySelector('.resume-note') && Math.abs(document.querySelector('video.media').currentTime - %f) < 0.2`, at),
			`document.querySelector('video.media').currentTime + ' ' + localStorage.getItem('rangeserve.resume')`)
		if s := uitest.Eval[string](t, b, 5*time.Second, `JSON.stringify(localStorage)`); strings.Contains(s, "sig=") || strings.Contains(s, fakeToken) {
			t.Errorf("localStorage holds a secret: %s", s)
		}
	})

	t.Run("seek needs a new range", func(t *testing.T) {
		// video.mp4 is small enough for Chrome to load whole with its first
		// request. A 60 s, ~30 MB video sent at 4 MB/s is not: when the key
		// is pressed Chrome has a few MB, and the seek to 70 % (21 MB) must
		// make a new Range request there, answered 206.
		ffmpeg := testenv.Require(t, "ffmpeg")
		big := filepath.Join(f.mounts[0].root, "big.mp4")
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, ffmpeg, "-hide_banner", "-loglevel", "error", "-y",
			"-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25:duration=60",
			"-c:v", "libx264", "-preset", "ultrafast", "-qp", "4", "-g", "50", "-pix_fmt", "yuv420p",
			"-movflags", "+faststart", big).CombinedOutput()
		if err != nil {
			t.Fatalf("ffmpeg: %v\n%s", err, out)
		}
		st, err := os.Stat(big)
		if err != nil || st.Size() < 15<<20 {
			t.Fatalf("big.mp4: %v, %d bytes; want > 15 MiB", err, st.Size())
		}
		f.setSlow("/big.mp4", 4<<20)
		r := uitest.CheckPlayer(t, b, base, uitest.PlayerWant{
			Path:     "/big.mp4",
			Duration: 60,
			Requests: func(since time.Time) []uitest.Request { return f.Requests("/big.mp4", since) },
		})
		var near []string
		for _, q := range r.AfterSeek {
			var start int64
			if _, err := fmt.Sscanf(q.Range, "bytes=%d-", &start); err == nil && start > st.Size()/2 && q.Status == http.StatusPartialContent {
				near = append(near, q.Range)
			}
		}
		if len(near) == 0 {
			t.Errorf("no Range request past the middle of the %d-byte file after the seek key, answered 206; after the key: %v", st.Size(), r.AfterSeek)
		}
	})

	t.Run("share", func(t *testing.T) {
		link := uitest.CheckShare(t, b, base, uitest.ShareWant{Path: "/locked/video.mp4", Token: fakeToken})
		u, _ := url.Parse(link)
		// A fresh browser context (no token, no cookie) plays the file through
		// the link's player page, and straight from the link itself.
		fresh := b.Fresh(t)
		uitest.CheckPlayer(t, fresh, base, uitest.PlayerWant{Path: "/locked/video.mp4", Query: u.RawQuery, Duration: 10})
		fresh.Navigate(t, link)
		fresh.Wait(t, 20*time.Second, "the raw link plays", `document.querySelector('video') && document.querySelector('video').readyState >= 2`, `document.body.innerHTML.slice(0, 200)`)
		// Without the link the same file is refused, and the page says so.
		uitest.CheckPlayerRefused(t, fresh, base, "/locked/video.mp4", "")
		fresh.Stop()
	})

	t.Run("expired", func(t *testing.T) {
		body, _ := json.Marshal(map[string]string{"mount": "/locked/", "key": "video.mp4", "ttl": "1s"})
		req, _ := http.NewRequest("POST", base+"/api/links", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+fakeToken)
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil || res.StatusCode != 200 {
			t.Fatalf("POST /api/links: %v %v", res, err)
		}
		var l struct{ URL string }
		json.NewDecoder(res.Body).Decode(&l)
		res.Body.Close()
		time.Sleep(2100 * time.Millisecond)
		uitest.CheckPlayerRefused(t, b, base, "/locked/video.mp4", l.URL[strings.IndexByte(l.URL, '?')+1:])
	})

	t.Run("folder share", func(t *testing.T) {
		// With the token, the signed folder lists through a link the page
		// makes for itself, and its Share button opens the form; the link
		// covers the folder (scope), and its player-page link lists the
		// folder in a fresh browser.
		b.Open(t, uitest.PageURL(base, "/locked/docs/", ""))
		b.Wait(t, 10*time.Second, "listed with the token", `document.querySelector('.entry-name') && document.querySelector('.entry-name').textContent === 'notes.txt'`, `document.querySelector('#view').innerText`)
		if uitest.Eval[bool](t, b, 5*time.Second, `sessionStorage.getItem('rangeserve.token') === null`) {
			t.Fatal("the share subtest left no token in sessionStorage")
		}
		b.Click(t, ".page-actions button[aria-controls]")
		b.Click(t, ".share-form button[type=submit]")
		b.Wait(t, 10*time.Second, "folder link", `!document.querySelector('.share-result').hidden`, `document.querySelector('.share-card').innerText`)
		page := uitest.Eval[string](t, b, 5*time.Second, `document.querySelector('.share-result a').href`)
		link := uitest.Eval[string](t, b, 5*time.Second, `document.querySelector('.share-result .link-out').value`)
		if !strings.HasPrefix(link, base+"/locked/docs/?") || !strings.Contains(link, "scope=docs%2F") {
			t.Fatalf("folder link %q: want %s/locked/docs/?…scope=docs/…", link, base)
		}
		fresh := b.Fresh(t)
		fresh.Open(t, page)
		fresh.Wait(t, 10*time.Second, "the folder through its link", `document.querySelector('.entry-name') && document.querySelector('.entry-name').textContent === 'notes.txt'`, `document.querySelector('#view').innerText`)
		// The file inside opens through the same link (the query rides along).
		fresh.Click(t, ".entry-link")
		fresh.Wait(t, 10*time.Second, "a file in the shared folder", `document.querySelector('pre.text-view') && document.querySelector('pre.text-view').textContent.startsWith('A small file')`, `document.querySelector('#view').innerText`)
		uitest.CheckClean(t, fresh)
		fresh.Stop()
	})
	uitest.CheckClean(t, b)
}

// TestBrowserScreenshots saves screenshots of every page at desktop
// (1280x800, light and dark) and phone (360x740) size, and checks on each
// that nothing scrolls sideways and the accessibility basics hold.
func TestBrowserScreenshots(t *testing.T) {
	_, base := fakeSite(t)
	for _, vp := range []struct {
		name   string
		w, h   int64
		scheme string
	}{{"desktop", 1280, 800, "light"}, {"phone", 360, 740, "light"}, {"desktop-dark", 1280, 800, "dark"}} {
		t.Run(vp.name, func(t *testing.T) { screenshots(t, base, vp.name, vp.w, vp.h, vp.scheme) })
	}
}

// screenshots is one viewport's part of TestBrowserScreenshots, in a
// browser of its own.
func screenshots(t *testing.T, base, name string, w, h int64, scheme string) {
	b := uitest.Start(t)
	b.Viewport(t, w, h)
	b.ColorScheme(t, scheme)
	b.Open(t, uitest.PageURL(base, "/", ""))
	uitest.Eval[bool](t, b, 5*time.Second, `sessionStorage.clear(), localStorage.clear(), true`)
	b.Open(t, uitest.PageURL(base, "/", ""))
	b.Wait(t, 10*time.Second, "listing", `document.querySelectorAll('.listing tbody tr').length > 5`, `''`)
	uitest.CheckNoHorizontalScroll(t, b, name+" browse", int(w))
	uitest.CheckAccessible(t, b, name+" browse")
	b.Screenshot(t, "browse-"+name)

	b.Open(t, uitest.PageURL(base, "/video.mp4", ""))
	b.Wait(t, 20*time.Second, "video", `document.querySelector('video.media') && document.querySelector('video.media').readyState >= 3`, `''`)
	uitest.Eval[bool](t, b, 20*time.Second, `(async v => { await v.play(); const t0 = performance.now();
  while (v.currentTime < 1.2 && performance.now() - t0 < 15000) await new Promise(r => setTimeout(r, 50));
  v.pause(); return true; })(document.querySelector('video.media'))`)
	uitest.CheckNoHorizontalScroll(t, b, name+" player", int(w))
	uitest.CheckAccessible(t, b, name+" player")
	b.Screenshot(t, "player-"+name)

	b.Open(t, uitest.PageURL(base, "/hello.txt", ""))
	b.Wait(t, 10*time.Second, "text", `document.querySelector('pre.text-view') && document.querySelector('pre.text-view').textContent.includes('Hello from rangeserve')`, `''`)
	uitest.CheckNoHorizontalScroll(t, b, name+" text", int(w))
	uitest.CheckAccessible(t, b, name+" text")
	b.Screenshot(t, "text-"+name)

	if name == "desktop" {
		b.Open(t, uitest.PageURL(base, "/audio.mp3", ""))
		b.Wait(t, 10*time.Second, "audio", `document.querySelector('audio.media') && document.querySelector('audio.media').readyState >= 1`, `''`)
		uitest.CheckAccessible(t, b, name+" audio")
		b.Screenshot(t, "audio-"+name)
		b.Open(t, uitest.PageURL(base, "/image.png", ""))
		b.Wait(t, 10*time.Second, "image", `document.querySelector('img.image-view') && document.querySelector('img.image-view').complete && document.querySelector('img.image-view').naturalWidth === 320`, `''`)
		uitest.CheckAccessible(t, b, name+" image")
		b.Screenshot(t, "image-"+name)
	}

	link := uitest.CheckShare(t, b, base, uitest.ShareWant{Path: "/locked/video.mp4", Token: fakeToken})
	if link == "" {
		t.Fatal("no link")
	}
	uitest.Eval[bool](t, b, 5*time.Second, `document.querySelector('.share-card').scrollIntoView({ block: 'end' }), true`)
	uitest.CheckNoHorizontalScroll(t, b, name+" share", int(w))
	uitest.CheckAccessible(t, b, name+" share")
	b.Screenshot(t, "share-"+name)

	b.Open(t, uitest.PageURL(base, "/locked/", ""))
	b.Wait(t, 10*time.Second, "locked", `document.querySelector('.problem')`, `''`)
	uitest.CheckNoHorizontalScroll(t, b, name+" locked", int(w))
	uitest.CheckAccessible(t, b, name+" locked")
	b.Screenshot(t, "locked-"+name)
	uitest.CheckClean(t, b)
}
