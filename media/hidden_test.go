package media_test

import (
	"bytes"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rangeserve/rangeserve/media"
)

// TestHiddenPolicy: a key with a segment starting with "." is 404 (and
// logged) unless Options.AllowHidden, through ServeHTTP and ServeKey alike
// and in every mode, whatever the backend holds: the policy is the
// handler's, not each backend's.
func TestHiddenPolicy(t *testing.T) {
	mem := newMem()
	for _, k := range []string{".env", ".git/config", "sub/.h", "a/b/.c.mp4", "ok.txt", "dot.in.name", "trailing."} {
		mem.put(k, &entry{data: []byte("secret " + k), etag: `"h"`, mod: modTime})
	}
	del := &delegatingBackend{memBackend: mem}
	modes := []struct {
		name string
		opts media.Options
	}{
		{"serve", media.Options{}},
		{"x-accel", media.Options{Mode: media.ModeXAccel, InternalPrefix: "/_p"}},
		{"x-sendfile", media.Options{Mode: media.ModeXSendfile}},
		{"redirect", media.Options{Mode: media.ModeRedirect}},
	}
	keys := []struct {
		key    string
		hidden bool
	}{
		{".env", true}, {".git/config", true}, {"sub/.h", true}, {"a/b/.c.mp4", true},
		{"ok.txt", false}, {"dot.in.name", false}, {"trailing.", false},
	}
	for _, m := range modes {
		for _, allow := range []bool{false, true} {
			var logs bytes.Buffer
			opts := m.opts
			opts.AllowHidden = allow
			opts.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
			h, err := media.New(del, opts)
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range keys {
				wantRefused := k.hidden && !allow
				for _, via := range []string{"ServeHTTP", "ServeKey"} {
					logs.Reset()
					r := httptest.NewRequest("GET", target(k.key, ""), nil)
					w := httptest.NewRecorder()
					if via == "ServeHTTP" {
						h.ServeHTTP(w, r)
					} else {
						h.ServeKey(w, r, k.key)
					}
					name := m.name + " " + via + " " + k.key
					if allow {
						name += " (AllowHidden)"
					}
					switch {
					case wantRefused:
						if w.Code != 404 || w.Body.String() != "404 not found\n" || strings.Contains(w.Body.String(), "secret") {
							t.Errorf("%s: %d %q, want 404", name, w.Code, w.Body.String())
						}
						if !strings.Contains(logs.String(), "hidden") || !strings.Contains(logs.String(), k.key) {
							t.Errorf("%s: refusal not logged at Info: %q", name, logs.String())
						}
					case w.Code == 404:
						t.Errorf("%s: 404, want the object", name)
					}
				}
			}
		}
	}
}
