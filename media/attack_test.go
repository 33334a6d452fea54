package media_test

import (
	"mime"
	"strings"
	"testing"
	"time"

	"github.com/rangeserve/rangeserve/media"
)

// browserMIME returns the essence of the MIME type a browser takes from a
// Content-Type header value, following the Fetch standard's "extract a
// MIME type": the value is split on commas (outside quoted strings) and
// the last element that parses as a MIME type wins. Chromium and Firefox
// do this, so "text/plain,text/html" is rendered as HTML.
func browserMIME(v string) string {
	var parts []string
	quoted, start := false, 0
	for i := 0; i < len(v); i++ {
		switch {
		case v[i] == '"':
			quoted = !quoted
		case v[i] == '\\' && quoted:
			i++
		case v[i] == ',' && !quoted:
			parts = append(parts, v[start:i])
			start = i + 1
		}
	}
	parts = append(parts, v[start:])
	essence := ""
	for _, p := range parts {
		mt, _, err := mime.ParseMediaType(strings.TrimSpace(p))
		if err == nil && strings.Contains(mt, "/") && mt != "*/*" {
			essence = mt
		}
	}
	return essence
}

// TestAttackStoredTypeListIsSandboxed: an object store hands back the
// Content-Type an uploader chose. A type list such as
// "text/plain,text/html" is rendered by browsers as its LAST type (HTML)
// while the handler judges it by its first (text/plain): the HTML then
// runs in rangeserve's origin without the sandbox CSP (confirmed with
// headless Chromium on an S3 mount over MinIO: the script ran). Whatever
// type a browser would render, active content must carry the sandbox, and
// a presigned redirect must make it an attachment.
func TestAttackStoredTypeListIsSandboxed(t *testing.T) {
	html := []byte("<html><script>document.body.innerHTML='PWNED'</script></html>")
	types := []string{
		"text/plain,text/html",
		"text/plain, text/html",
		"application/octet-stream,text/html",
		"video/mp4,text/html",
		"image/png,image/svg+xml",
		"text/plain,application/xhtml+xml",
	}
	mem := newMem()
	for i, ct := range types {
		mem.put(keyOf(i), &entry{data: html, etag: `"x` + keyOf(i) + `"`, mod: time.Unix(1700000000, 0), ctype: ct})
	}
	for _, mode := range []media.Mode{media.ModeServe, media.ModeRedirect} {
		del := &delegatingBackend{memBackend: mem}
		h := newHandler(t, del, media.Options{Mode: mode})
		for i, stored := range types {
			w := serve(h, "GET", "/"+keyOf(i), nil)
			if mode == media.ModeRedirect {
				if w.Code != 307 {
					continue // served here: checked in serve mode
				}
				q := del.gotParams
				rendered := browserMIME(q.Get("response-content-type"))
				disp := q.Get("response-content-disposition")
				if isActive(rendered) && !strings.HasPrefix(disp, "attachment") {
					t.Errorf("redirect, stored type %q: presigned with response-content-type %q (a browser renders %s) and disposition %q, want attachment",
						stored, q.Get("response-content-type"), rendered, disp)
				}
				continue
			}
			ct := w.Header().Get("Content-Type")
			rendered := browserMIME(ct)
			csp := w.Header().Get("Content-Security-Policy")
			if isActive(rendered) && !strings.HasPrefix(csp, "sandbox") {
				t.Errorf("serve, stored type %q: %d with Content-Type %q (a browser renders %s) and Content-Security-Policy %q, want the sandbox",
					stored, w.Code, ct, rendered, csp)
			}
		}
	}
}

func keyOf(i int) string { return "up/" + string(rune('a'+i)) }

// isActive is the browser-side view of "could run script": HTML, XML,
// XSLT and +xml types.
func isActive(essence string) bool {
	switch essence {
	case "text/html", "text/xml", "application/xml", "text/xsl":
		return true
	}
	return strings.HasSuffix(essence, "+xml")
}
