// Package static owns rangeserve's embedded web UI: the files under ui/,
// compiled into the binary with go:embed. The UI talks to the server over
// HTTP and JSON only; this package serves files and knows nothing of
// storage, auth or media. It is a leaf on the standard library.
//
// The UI itself (browser, player, share links) comes in a later issue;
// for now ui/ holds a placeholder page, so the embedding and the serving
// path are in place and tested.
package static

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed ui
var files embed.FS

// FS returns the UI's files, rooted at ui/.
func FS() fs.FS {
	sub, err := fs.Sub(files, "ui")
	if err != nil {
		panic("static: " + err.Error()) // ui/ is embedded at build time
	}
	return sub
}

// Handler serves the UI's files.
func Handler() http.Handler { return http.FileServerFS(FS()) }
