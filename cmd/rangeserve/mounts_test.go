package main

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rangeserve/rangeserve/storage"
)

func TestMountIndexLookup(t *testing.T) {
	ix := newMountIndex([]string{"/", "/media/", "/media/private/", "/mediafiles/"})
	for _, c := range []struct {
		path string
		pos  int
		key  string
		err  error
	}{
		{"/", 0, "", nil},
		{"/x.mp4", 0, "x.mp4", nil},
		{"/media/a.mp4", 1, "a.mp4", nil},
		{"/media", 1, "", nil},
		{"/media/", 1, "", nil},
		{"/media/private/s.txt", 2, "s.txt", nil},
		{"/media//private/s.txt", 2, "s.txt", nil},
		{"/media///private//s.txt", 2, "s.txt", nil},
		{"//media/private/s.txt", 2, "s.txt", nil},
		{"/media/privatex/s.txt", 1, "privatex/s.txt", nil},
		{"/mediafiles/a", 3, "a", nil},
		{"/media/./private/s.txt", -1, "", storage.ErrInvalidKey},
		{"/media/x/../private/s.txt", -1, "", storage.ErrInvalidKey},
		{"/api/links", -1, "", errAPIPath},
		{"//api/links", -1, "", errAPIPath},
		{"/api", -1, "", errAPIPath},
		{"/apix", 0, "apix", nil},
		{"/ui/", -1, "", errUIPath},
		{"/ui", -1, "", errUIPath},
		{"/ui/app.js", -1, "", errUIPath},
		{"//ui//app.js", -1, "", errUIPath},
		{"/uix/a", 0, "uix/a", nil},
		{"/media/ui/a", 1, "ui/a", nil},
	} {
		pos, key, err := ix.lookup(c.path)
		if pos != c.pos || key != c.key || !errors.Is(err, c.err) || (err == nil) != (c.err == nil) {
			t.Errorf("lookup(%q) = %d, %q, %v; want %d, %q, %v", c.path, pos, key, err, c.pos, c.key, c.err)
		}
	}
	if _, _, err := newMountIndex([]string{"/media/"}).lookup("/other/x"); !errors.Is(err, errNoMount) {
		t.Errorf("no mount: %v", err)
	}
}

// TestMountNesting: a mount whose files lie inside a mount with a weaker
// policy is refused, naming both and what to do, unless nested_in
// acknowledges it.
func TestMountNesting(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{"srv/private", "srv2", "elsewhere"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(filepath.Join(dir, "srv", "private"), filepath.Join(dir, "elsewhere", "link")); err != nil {
		t.Fatal(err)
	}
	const head = "auth:\n  keys:\n    - {id: k1, secret: 0123456789abcdef0123456789abcdef}\n  tokens:\n    - {name: a, sha256: " +
		"5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8, mounts: [/]}\nmounts:\n"
	local := func(prefix, root, policy, extra string) string {
		return fmt.Sprintf("  - {prefix: %s, backend: local, root: %s, auth: %s%s}\n", prefix, root, policy, extra)
	}
	s3 := func(prefix, endpoint, bucket, s3prefix, policy, extra string) string {
		return fmt.Sprintf("  - {prefix: %s, backend: s3, s3: {endpoint: %q, bucket: %s, prefix: %q}, auth: %s%s}\n", prefix, endpoint, bucket, s3prefix, policy, extra)
	}
	for _, c := range []struct {
		name   string
		mounts string
		want   []string // substrings of the error; none: accepted
	}{
		{"public over signed", local("/media/", "srv", "public", "") + local("/media/private/", "srv/private", "signed", ""),
			[]string{"test.yaml:8:", "mounts[1].root", "signed", "mounts[0] (/media/, public)", "nested_in: [/media/]"}},
		{"signed inside public, another prefix", local("/media/", "srv", "public", "") + local("/secret/", "srv/private", "signed", ""),
			[]string{"mounts[1].root", "/media/"}},
		{"same root", local("/pub/", "srv", "public", "") + local("/tok/", "srv", "token", ""),
			[]string{"mounts[1].root", "nested_in: [/pub/]"}},
		{"inner listed first", local("/s/", "srv/private", "signed", "") + local("/p/", "srv", "public", ""),
			[]string{"mounts[0].root", "mounts[1] (/p/, public)"}},
		{"either over signed", local("/e/", "srv", "signed-or-token", "") + local("/s/", "srv/private", "signed", ""),
			[]string{"mounts[1].root", "signed-or-token"}},
		{"signed over token", local("/s/", "srv", "signed", "") + local("/t/", "srv/private", "token", ""),
			[]string{"mounts[1].root"}},
		{"through a symlinked root", local("/media/", "srv", "public", "") + local("/l/", "elsewhere/link", "signed", ""),
			[]string{"mounts[1].root"}},
		{"s3 nested prefix", s3("/m/", "H:9000", "b", "", "public", "") + s3("/p/", "h:9000", "b", "/private/", "signed", ""),
			[]string{"mounts[1].s3.prefix", "objects", "nested_in: [/m/]"}},
		{"acknowledged", local("/media/", "srv", "public", "") + local("/media/private/", "srv/private", "signed", ", nested_in: [/media]"), nil},
		{"acknowledged twice", local("/p/", "srv", "public", "") + local("/e/", "srv", "signed-or-token", ", nested_in: [/p/]") +
			local("/s/", "srv/private", "signed", ", nested_in: [/p/, /e/]"), nil},
		{"stale acknowledgement", local("/media/", "srv", "public", "") + local("/x/", "srv2", "signed", ", nested_in: [/media/]"),
			[]string{"mounts[1].nested_in[0]", `"/media/"`, "remove it"}},
		{"stronger outer", local("/s/", "srv", "signed", "") + local("/e/", "srv/private", "signed-or-token", ""), nil},
		{"same policy", local("/a/", "srv", "signed", "") + local("/b/", "srv/private", "signed", ""), nil},
		{"sibling directories", local("/a/", "srv", "public", "") + local("/b/", "srv2", "signed", ""), nil},
		{"s3 other bucket", s3("/m/", "h:9000", "b", "", "public", "") + s3("/p/", "h:9000", "c", "", "signed", ""), nil},
		{"s3 sibling prefix", s3("/m/", "h:9000", "b", "vid", "public", "") + s3("/p/", "h:9000", "b", "video", "signed", ""), nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := parseConfig("test.yaml", dir, []byte(head+c.mounts))
			if c.want == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted, want an error mentioning %q", c.want)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// TestLinksForNestedMount: the links API signs a key for the mount that
// serves it, never for an outer mount whose prefix also covers it (the
// link would be useless, or worse, sign a path the router does not send
// there).
func TestLinksForNestedMount(t *testing.T) {
	srv := nestedTree(t)
	cfg := nestedConfig(srv) + fmt.Sprintf("  - {prefix: /other/, backend: local, root: %q, auth: signed}\n", t.TempDir()) +
		fmt.Sprintf("  - {prefix: /other/sub/, backend: local, root: %q, auth: signed}\n", t.TempDir())
	cfg = strings.Replace(cfg, "auth:\n", fmt.Sprintf("auth:\n  tokens:\n    - {name: admin, sha256: %s, admin: true, links: [/]}\n", tokenHash(testAdminToken)), 1)
	app, _, _ := startApp(t, cfg)
	for _, c := range []struct {
		body   string
		status int
		want   string
	}{
		{`{"mount":"/media/private/","key":"secret.txt","ttl":"1h"}`, 200, `"/media/private/secret.txt?`},
		{`{"mount":"/media/","key":"private/secret.txt","ttl":"1h"}`, 400, "mount /media/private/ does"},
		{`{"mount":"/other/","scope":"sub","ttl":"1h"}`, 400, "mount /other/sub/ does"},
		{`{"mount":"/other/","scope":"subx","ttl":"1h"}`, 200, `"/other/subx/?`},
		{`{"mount":"/nope/","key":"a","ttl":"1h"}`, 400, "unknown mount"},
	} {
		req, _ := http.NewRequest("POST", app.URL+"/api/links", strings.NewReader(c.body))
		req.Header.Set("Authorization", "Bearer "+testAdminToken)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.status || !strings.Contains(string(b), c.want) {
			t.Errorf("%s: %d %s, want %d %q", c.body, resp.StatusCode, b, c.status, c.want)
		}
	}
}

// TestSignCLI: `rangeserve sign` finds the mount as the router does and
// signs only for mounts that accept links.
func TestSignCLI(t *testing.T) {
	srv := nestedTree(t)
	cfg := nestedConfig(srv)
	f := filepath.Join(t.TempDir(), "config.yaml")
	os.WriteFile(f, []byte(cfg), 0o600)
	for _, c := range []struct {
		path, want string
		code       int
	}{
		{"/media//private/secret.txt", "/media/private/secret.txt?", 0},
		{"media/%2Fprivate/secret.txt", "", 1}, // a CLI argument is not percent-decoded
		{"/media/private/./secret.txt", "not a valid path", 1},
		{"/media/public.txt", "which is public", 1},
		{"/api/links", "no mount serves", 1},
	} {
		var out, errb strings.Builder
		code := run([]string{"sign", "-config", f, "-base", "http://x", c.path}, &out, &errb)
		if code != c.code || !strings.Contains(out.String()+errb.String(), c.want) {
			t.Errorf("sign %s: exit %d, %q %q; want exit %d with %q", c.path, code, out.String(), errb.String(), c.code, c.want)
		}
	}
}
