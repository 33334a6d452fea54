package main

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rangeserve/rangeserve/internal/testenv"
)

// TestRedirectBoundedByLink: in mode redirect a presigned URL does not
// outlive the share link that authorized it. A link expiring in a few
// seconds gets a presigned URL that expires within the link's expiry plus
// the playback grace (X-Amz-Expires), which curl follows while it is valid
// and MinIO refuses once it is not; an IP-bound link, which a presigned
// URL cannot carry, is served by rangeserve itself; a public request keeps
// redirect_ttl.
func TestRedirectBoundedByLink(t *testing.T) {
	curl := testenv.Require(t, "curl")
	m := testenv.StartMinIO(t)
	m.MakeBucket(t, "media")
	video, err := os.ReadFile(filepath.Join(repoTestdata(t), "video.mp4"))
	if err != nil {
		t.Fatal(err)
	}
	m.Put(t, "media", "video.mp4", video, "video/mp4")
	const linkTTL, grace = 4 * time.Second, 3 * time.Second
	cfg := fmt.Sprintf(`
auth:
  keys:
    - {id: k1, secret: %q}
  clock_skew: 1s
  playback_grace: %s
  max_grace: 1h
mounts:`, testSecret, grace) +
		// The same bucket, signed at /go/ and public at /pub/.
		strings.Replace(s3MountAt("/go/", m.Endpoint, m, "    mode: redirect\n    redirect_ttl: 15m\n    nested_in: [/pub/]\n"), "auth: public", "auth: signed", 1) +
		s3MountAt("/pub/", m.Endpoint, m, "    mode: redirect\n    redirect_ttl: 15m\n")
	p := startBinary(t, cfg)

	// expires returns X-Amz-Expires of a 307's presigned Location.
	expires := func(t *testing.T, r response) int {
		t.Helper()
		if r.StatusCode != 307 {
			t.Fatalf("status %d, want 307 to a presigned URL", r.StatusCode)
		}
		u, err := url.Parse(r.Header.Get("Location"))
		if err != nil {
			t.Fatal(err)
		}
		n, err := strconv.Atoi(u.Query().Get("X-Amz-Expires"))
		if err != nil {
			t.Fatalf("Location %q has no X-Amz-Expires", u)
		}
		return n
	}

	t.Run("public keeps redirect_ttl", func(t *testing.T) {
		if n := expires(t, get(t, p.URL+"/pub/video.mp4", nil)); n != 900 {
			t.Errorf("X-Amz-Expires = %d, want 900 (redirect_ttl 15m)", n)
		}
	})

	t.Run("short link", func(t *testing.T) {
		link := signCLI(t, cfg, p.URL, "-ttl", linkTTL.String(), "/go/video.mp4")
		signed := time.Now()
		r := get(t, link, nil)
		n := expires(t, r)
		// exp is rounded up to a whole second; the presigned URL may live
		// until exp + grace, and not a second longer.
		if max := int((linkTTL + grace + time.Second) / time.Second); n < 1 || n > max {
			t.Fatalf("X-Amz-Expires = %d for a link expiring in %v with %v of grace: want 1..%d", n, linkTTL, grace, max)
		}
		loc := r.Header.Get("Location")
		out := filepath.Join(t.TempDir(), "part")
		o, err := runCmd(t, 30*time.Second, curl, "-sS", "-f", "-L", "-r", "1000-1999", "-o", out, link)
		if err != nil {
			t.Fatalf("curl -L -r while the link is valid: %v\n%s", err, o)
		}
		if got, _ := os.ReadFile(out); sum(got) != sum(video[1000:2000]) {
			t.Fatalf("curl -L -r: %d bytes, not the range", len(got))
		}
		// Once the presigned URL's lifetime has passed, the store refuses it.
		time.Sleep(time.Until(signed.Add(time.Duration(n+1) * time.Second)))
		if r := get(t, loc, map[string]string{"Range": "bytes=0-99"}); r.StatusCode != 403 {
			t.Errorf("presigned URL after its X-Amz-Expires: %d, want 403 from the store", r.StatusCode)
		}
	})

	t.Run("ip-bound link is served directly", func(t *testing.T) {
		link := signCLI(t, cfg, p.URL, "-ttl", "1h", "-ip", "127.0.0.1", "/go/video.mp4")
		r := get(t, link, map[string]string{"Range": "bytes=1000-1999"})
		if r.StatusCode != 206 || r.Header.Get("Location") != "" || sum(r.Body) != sum(video[1000:2000]) {
			t.Fatalf("IP-bound link: %d Location %q, want 206 with the bytes and no redirect", r.StatusCode, r.Header.Get("Location"))
		}
		if r := get(t, link, nil); r.StatusCode != 200 || sum(r.Body) != sum(video) {
			t.Errorf("IP-bound link, whole file: %d", r.StatusCode)
		}
		// The same link from another address is refused before anything.
		other := strings.Replace(link, "ip=127.0.0.1", "ip=127.0.0.2", 1)
		if r := get(t, other, nil); r.StatusCode != 403 {
			t.Errorf("link with another ip: %d, want 403", r.StatusCode)
		}
	})

	// The access log says how each request was delivered.
	logs := p.loggedLines()
	for _, want := range []string{"path=/pub/video.mp4 status=307 ", "status=307 bytes=0 ", "strategy=redirect", "path=/go/video.mp4 status=206 ", "strategy=serve"} {
		if !strings.Contains(logs, want) {
			t.Errorf("the access log lacks %q:\n%s", want, logs)
		}
	}
}
