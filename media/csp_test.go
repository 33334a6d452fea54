package media_test

import (
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/rangeserve/rangeserve/media"
	"github.com/rangeserve/rangeserve/storage/local"
)

// Active content stored on the server (HTML, SVG) must not run scripts in
// rangeserve's origin when opened inline.
func TestActiveContentIsSandboxed(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"page.html": "<!doctype html><script>alert(1)</script>",
		"pic.svg":   `<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`,
		"notes.txt": "plain text",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := local.New(local.Options{Root: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for _, mode := range []media.Mode{media.ModeServe, media.ModeXAccel} {
		opts := media.Options{Mode: mode}
		if mode == media.ModeXAccel {
			opts.InternalPrefix = "/_int"
		}
		h, err := media.New(b, opts)
		if err != nil {
			t.Fatal(err)
		}
		for name, wantCSP := range map[string]bool{"page.html": true, "pic.svg": true, "notes.txt": false} {
			for _, method := range []string{"GET", "HEAD"} {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, httptest.NewRequest(method, "/"+name, nil))
				csp := rec.Header().Get("Content-Security-Policy")
				if got := csp != ""; got != wantCSP || (wantCSP && csp[:7] != "sandbox") {
					t.Errorf("%s %s %s: Content-Security-Policy %q, want sandbox=%v", mode, method, name, csp, wantCSP)
				}
			}
		}
	}
}
