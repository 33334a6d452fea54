package main

import (
	"archive/zip"
	"bytes"
	"io"
	"strings"
	"testing"
)

// zipNames returns the entry names of a ZIP archive and whether any
// entry's content holds secret.
func zipNames(t *testing.T, data []byte, secret string) (names []string, leaked bool) {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatalf("not a ZIP archive (%d bytes): %v", len(data), err)
	}
	for _, f := range zr.File {
		names = append(names, f.Name)
		if f.FileInfo().IsDir() {
			continue
		}
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		if strings.Contains(string(b), secret) {
			leaked = true
		}
	}
	return names, leaked
}

// TestAttackArchiveOfOuterMountHoldsNestedSignedMount: the README's
// nested layout (a public /media/ over /srv, a signed /media/private/
// over /srv/private with nested_in: [/media/]) promises that no path
// reaches the signed files through the public mount; yet the public
// mount's folder archive lists its root recursively, the signed mount's
// folder included, and hands every one of its files to a stranger:
//
//	curl -o all.zip 'http://HOST/media/?archive=zip'   # 200
//	unzip -p all.zip private/secret.txt               # TOP-SECRET
//
// The archive (stored and deflated, of the root and of any folder that
// holds the nested root) must leave out what another mount serves.
func TestAttackArchiveOfOuterMountHoldsNestedSignedMount(t *testing.T) {
	srv := nestedTree(t)
	ts, _, _ := startApp(t, nestedConfig(srv))
	if r := get(t, ts.URL+"/media/private/secret.txt", nil); r.StatusCode != 403 {
		t.Fatalf("GET /media/private/secret.txt without a link: %d, want 403", r.StatusCode)
	}
	for _, target := range []string{
		"/media/?archive=zip",
		"/media?archive=zip",
		"/media//?archive=zip",
		"/media/?archive=zip&deflate=1",
	} {
		r := get(t, ts.URL+target, nil)
		if r.StatusCode != 200 {
			t.Errorf("GET %s: %d, want 200 (the public files)", target, r.StatusCode)
			continue
		}
		names, leaked := zipNames(t, r.Body, "TOP-SECRET")
		for _, n := range names {
			if n == "private/" || strings.HasPrefix(n, "private/") {
				t.Errorf("GET %s: the public archive holds %q, a file of the signed mount /media/private/", target, n)
			}
		}
		if leaked {
			t.Errorf("GET %s: the signed mount's secret is in the public archive (entries %q)", target, names)
		}
	}
}
