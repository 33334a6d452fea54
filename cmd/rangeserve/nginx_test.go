package main

import (
	"fmt"
	"github.com/rangeserve/rangeserve/storage"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rangeserve/rangeserve/auth"
	"github.com/rangeserve/rangeserve/internal/testenv"
)

// TestNginxXAccel puts a real nginx in front of rangeserve: rangeserve
// authorizes signed links and answers with X-Accel-Redirect, nginx moves
// the bytes (its own Range support and sendfile) from an internal
// location that clients cannot reach.
func TestNginxXAccel(t *testing.T) {
	testenv.Require(t, "nginx")
	root := repoTestdata(t)
	cfg := fmt.Sprintf(`
server:
  trusted_proxies: [127.0.0.1]
auth:
  keys:
    - {id: k1, secret: %q}
mounts:
  - prefix: /share/
    backend: local
    root: %q
    auth: signed
    mode: x-accel
    cache_control: "private, max-age=60"
    x_accel:
      internal_prefix: /_protected
      buffering: "no"
`, testSecret, root)
	srv, _, logs := startApp(t, cfg)
	ngx := testenv.StartNginx(t, testenv.NginxConfig{
		ServerBlock: testenv.NginxProxyConfig(strings.TrimPrefix(srv.URL, "http://"), "/_protected", root),
	})
	for _, name := range []string{"video.mp4", "vidéo 𝄞 test.mp4"} {
		data, err := os.ReadFile(filepath.Join(root, name))
		if err != nil {
			t.Fatal(err)
		}
		link := signCLI(t, cfg, ngx.URL, "-ttl", "1h", "/share/"+name)

		r := get(t, link, map[string]string{"Range": "bytes=1000-1999"})
		if r.StatusCode != 206 || r.Header.Get("Content-Range") != fmt.Sprintf("bytes 1000-1999/%d", len(data)) {
			t.Fatalf("%s via nginx with Range: %d %q\nnginx error log:\n%s", name, r.StatusCode, r.Header.Get("Content-Range"), ngx.ErrorLog())
		}
		if sum(r.Body) != sum(data[1000:2000]) {
			t.Errorf("%s via nginx: range bytes differ", name)
		}
		if r.Header.Get("X-Accel-Redirect") != "" {
			t.Errorf("%s: X-Accel-Redirect leaked to the client", name)
		}
		if ct := r.Header.Get("Content-Type"); ct != "video/mp4" {
			t.Errorf("%s: Content-Type %q from rangeserve lost", name, ct)
		}
		if cd := r.Header.Get("Content-Disposition"); !strings.HasPrefix(cd, "inline") {
			t.Errorf("%s: Content-Disposition %q", name, cd)
		}

		// The whole file with aria2c -x4, segmented through nginx.
		if aria := testenv.LookPath("aria2c"); aria != "" || testenv.InCI() {
			aria = testenv.Require(t, "aria2c")
			dir := t.TempDir()
			o, err := runCmd(t, 60*time.Second, aria, "-q", "-x4", "-s4", "-k1M", "--min-split-size=1M",
				"--file-allocation=none", "-d", dir, "-o", "out.bin", link)
			if err != nil {
				t.Fatalf("aria2c via nginx: %v\n%s", err, o)
			}
			got, _ := os.ReadFile(filepath.Join(dir, "out.bin"))
			if sum(got) != sum(data) {
				t.Errorf("aria2c via nginx: sha256 %s, want %s", sum(got), sum(data))
			}
		}
	}

	// Refusals come from rangeserve (its text body), before any
	// delegation.
	link := signCLI(t, cfg, ngx.URL, "-ttl", "1h", "/share/video.mp4")
	u, _ := url.Parse(link)
	q := u.Query()
	q.Set("exp", "9999999999")
	tampered := ngx.URL + u.Path + "?" + q.Encode()
	expired := expiredLink(t, ngx.URL, "/share/", "video.mp4")
	for _, c := range []struct{ name, u, body string }{
		{"missing signature", ngx.URL + "/share/video.mp4", "403 forbidden: signed link required"},
		{"tampered", tampered, "403 forbidden: invalid signature"},
		{"expired", expired, "403 forbidden: link expired"},
	} {
		r := get(t, c.u, map[string]string{"Range": "bytes=0-99"})
		if r.StatusCode != 403 || !strings.Contains(string(r.Body), c.body) {
			t.Errorf("%s via nginx: %d %q, want 403 %q from rangeserve", c.name, r.StatusCode, r.Body, c.body)
		}
		if r.Header.Get("X-Accel-Redirect") != "" || len(r.Body) > 200 {
			t.Errorf("%s: delegated or sent file bytes", c.name)
		}
	}
	// The internal location is not reachable from outside.
	if r := get(t, ngx.URL+"/_protected/video.mp4", nil); r.StatusCode != 404 {
		t.Errorf("direct GET of the internal location: %d, want 404", r.StatusCode)
	}

	// rangeserve's log shows the authorization decisions and that it sent
	// no file bytes; nginx's access log shows the bytes it sent.
	rl := logs.String()
	if !regexp.MustCompile(`path=/share/video.mp4 status=200 bytes=0 `).MatchString(rl) {
		t.Errorf("rangeserve's log lacks the authorized, delegated request:\n%s", rl)
	}
	if !strings.Contains(rl, "invalid signature") || !strings.Contains(rl, "expired") {
		t.Errorf("rangeserve's log lacks the refusals:\n%s", rl)
	}
	served := regexp.MustCompile(`"GET /share/video\.mp4\?[^"]*" 206 1000 range="bytes=1000-1999" .*upstream_status="200"`)
	al := ngx.WaitAccessLog(served.MatchString)
	if !served.MatchString(al) {
		t.Errorf("nginx's access log lacks the 206 of 1000 bytes it served for rangeserve:\n%s", al)
	}
}

// expiredLink signs a link with a clock two hours in the past, so that its
// one-hour lifetime ended an hour ago.
func expiredLink(t *testing.T, base, mount, key string) string {
	t.Helper()
	s, err := auth.NewSigner([]auth.Key{{ID: "k1", Secret: []byte(testSecret)}},
		auth.SignerOptions{Now: func() time.Time { return time.Now().Add(-2 * time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	q, _, err := s.Sign(mount, key, time.Hour, auth.LinkOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return base + storage.EscapeKey(mount+key) + "?" + q.Encode()
}
