package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/rangeserve/rangeserve/internal/testenv"
)

// nestedTree is a public mount's root holding a signed mount's root: srv/
// with public.txt and private/secret.txt.
func nestedTree(t *testing.T) (srv string) {
	t.Helper()
	srv = filepath.Join(t.TempDir(), "srv")
	if err := os.MkdirAll(filepath.Join(srv, "private"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(srv, "public.txt"), []byte("PUBLIC"), 0o644)
	os.WriteFile(filepath.Join(srv, "private", "secret.txt"), []byte("TOP-SECRET"), 0o644)
	return srv
}

// nestedConfig mounts srv publicly at /media/ and srv/private, signed, at
// /media/private/, acknowledging the nesting.
func nestedConfig(srv string) string {
	return fmt.Sprintf(`
auth:
  keys:
    - {id: k1, secret: %q}
mounts:
  - {prefix: /media/, backend: local, root: %q, auth: public}
  - {prefix: /media/private/, backend: local, root: %q, auth: signed, nested_in: [/media/]}
`, testSecret, srv, filepath.Join(srv, "private"))
}

// nestedSpellings are request targets that name /media/private/secret.txt
// with empty, encoded or dot segments. Each must reach the signed mount
// (403 without a link) or be refused (404); none may reach the public
// mount's copy of the file.
var nestedSpellings = []string{
	"/media/private/secret.txt",
	"/media//private/secret.txt",
	"/media///private/secret.txt",
	"/media/%2Fprivate/secret.txt",
	"/media/%2fprivate/secret.txt",
	"/media/%2F%2Fprivate/secret.txt",
	"/media/./private/secret.txt",
	"/media/.//private/secret.txt",
	"/media/%2e/private/secret.txt",
	"//media/private/secret.txt",
	"//media//private//secret.txt",
	"/media/private//secret.txt",
	"/media/%2Fprivate%2Fsecret.txt",
	"/media/x/../private/secret.txt",
	"/media/x/%2e%2e/private/secret.txt",
}

// dotSegment matches a "." or ".." segment, raw or encoded.
var dotSegment = regexp.MustCompile(`/(\.|%2e)`)

// checkNestedSpellings requests every spelling at base and fails on a
// response that is not a refusal or that carries the secret.
func checkNestedSpellings(t *testing.T, base, via string) {
	t.Helper()
	for _, target := range nestedSpellings {
		resp, body := rawGet(t, base, target)
		if strings.Contains(body, "TOP-SECRET") {
			t.Errorf("%s: GET %s: %d: the signed mount's file was served without a link", via, target, resp.StatusCode)
			continue
		}
		if resp.StatusCode != 403 && resp.StatusCode != 404 && resp.StatusCode != 400 {
			t.Errorf("%s: GET %s: status %d, want 403 (the signed mount) or 404", via, target, resp.StatusCode)
		}
		// Empty segments are only noise: the signed mount answers.
		if !dotSegment.MatchString(target) && resp.StatusCode != 403 {
			t.Errorf("%s: GET %s: status %d %q, want the signed mount's 403", via, target, resp.StatusCode, body)
		}
	}
	if resp, body := rawGet(t, base, "/media/public.txt"); resp.StatusCode != 200 || body != "PUBLIC" {
		t.Errorf("%s: GET /media/public.txt: %d %q", via, resp.StatusCode, body)
	}
}

// TestNestedMountSpellings: a signed mount whose root lies inside a public
// mount's root is chosen for every spelling of its paths, by the binary
// and behind nginx configured as the README says; a link signed for the
// clean path opens the file under any spelling of it.
func TestNestedMountSpellings(t *testing.T) {
	srv := nestedTree(t)
	cfg := nestedConfig(srv)
	p := startBinary(t, cfg)
	checkNestedSpellings(t, p.URL, "rangeserve")

	link := signCLI(t, cfg, "", "-ttl", "1h", "/media/private/secret.txt")
	query := link[strings.Index(link, "?"):]
	for _, target := range []string{"/media/private/secret.txt", "/media//private/secret.txt", "/media/%2Fprivate/secret.txt"} {
		if resp, body := rawGet(t, p.URL, target+query); resp.StatusCode != 200 || body != "TOP-SECRET" {
			t.Errorf("GET %s with its link: %d %q", target, resp.StatusCode, body)
		}
	}

	testenv.Require(t, "nginx")
	ngx := testenv.StartNginx(t, readmeNginx(t, strings.TrimPrefix(p.URL, "http://"), srv))
	checkNestedSpellings(t, ngx.URL, "nginx")
	if resp, body := rawGet(t, ngx.URL, "/media//private/secret.txt"+query); resp.StatusCode != 200 || body != "TOP-SECRET" {
		t.Errorf("nginx: GET /media//private/secret.txt with its link: %d %q", resp.StatusCode, body)
	}
	if t.Failed() {
		t.Logf("nginx access log:\n%s", ngx.AccessLog())
	}
}

// readmeNginxBlock returns the README's nginx configuration in its two
// parts: what goes in http { } (before the first location) and the
// locations, which go in server { }.
func readmeNginxBlock(t *testing.T) (httpPart, serverPart string) {
	t.Helper()
	data, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)```nginx\n(.*?)```").FindSubmatch(data)
	if m == nil {
		t.Fatal("README.md has no ```nginx block")
	}
	block := string(m[1])
	i := strings.Index(block, "\nlocation ")
	if i < 0 {
		t.Fatalf("README.md's nginx block has no location:\n%s", block)
	}
	return block[:i+1], block[i+1:]
}

// readmeNginx returns the nginx configuration README.md gives for running
// behind nginx, with rangeserve's address replaced by upstream and the
// internal location's alias by root.
func readmeNginx(t *testing.T, upstream, root string) testenv.NginxConfig {
	t.Helper()
	httpPart, server := readmeNginxBlock(t)
	if !strings.Contains(server, "proxy_pass http://127.0.0.1:8080;") || !strings.Contains(server, "alias /srv/media/;") {
		t.Fatalf("README.md's nginx block no longer proxies to 127.0.0.1:8080 with alias /srv/media/:\n%s", server)
	}
	server = strings.Replace(server, "127.0.0.1:8080", upstream, 1)
	server = strings.Replace(server, "alias /srv/media/;", "alias "+testenv.NginxQuote(strings.TrimRight(root, "/")+"/")+";", 1)
	return testenv.NginxConfig{HTTPBlock: httpPart, ServerBlock: server}
}

// readmeInternalDirectives returns the directives of the README's
// internal location other than internal and alias: what it adds to the
// files nginx serves for rangeserve.
func readmeInternalDirectives(t *testing.T) string {
	t.Helper()
	_, server := readmeNginxBlock(t)
	m := regexp.MustCompile(`(?s)location /_protected/ \{\n(.*?)\n\}`).FindStringSubmatch(server)
	if m == nil {
		t.Fatalf("README.md's nginx block has no location /_protected/:\n%s", server)
	}
	var keep []string
	for line := range strings.SplitSeq(m[1], "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] != "internal;" && f[0] != "alias" {
			keep = append(keep, line)
		}
	}
	return strings.Join(keep, "\n")
}

// TestReadmeConfigs: the README's complete example and its nested-mount
// example are valid configs, and the nested one without nested_in is
// refused as the README says.
func TestReadmeConfigs(t *testing.T) {
	data, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllSubmatch(data, -1)
	if len(blocks) < 3 {
		t.Fatalf("README.md has %d yaml blocks, want the complete example, the S3 mount and the nested mounts", len(blocks))
	}
	t.Setenv("RANGESERVE_LINK_KEY", testSecret)
	t.Setenv("MINIO_ACCESS_KEY", "minio")
	t.Setenv("MINIO_SECRET_KEY", "minio-secret")
	complete := string(blocks[0][1])
	if _, err := parseConfig("README.md", "../..", []byte(complete)); err != nil {
		t.Errorf("the complete example: %v", err)
	}
	keys := "auth:\n  keys:\n    - {id: k1, secret: " + testSecret + "}\n"
	var nested, s3 string
	for _, b := range blocks[1:] {
		switch y := string(b[1]); {
		case strings.Contains(y, "nested_in: [/media/]"):
			nested = y
		case strings.Contains(y, "backend: s3"):
			s3 = y
		}
	}
	if nested == "" || s3 == "" {
		t.Fatal("README.md lacks the nested-mount or the S3 example")
	}
	if _, err := parseConfig("README.md", "../..", []byte(keys+s3)); err != nil {
		t.Errorf("the S3 example: %v", err)
	}
	if _, err := parseConfig("README.md", "../..", []byte(keys+nested)); err != nil {
		t.Errorf("the nested-mount example: %v", err)
	}
	_, err = parseConfig("README.md", "../..", []byte(keys+strings.Replace(nested, ", nested_in: [/media/]", "", 1)))
	if err == nil || !strings.Contains(err.Error(), "nested_in: [/media/]") {
		t.Errorf("the nested-mount example without nested_in: %v, want the error that names nested_in", err)
	}
}
