// Package static owns rangeserve's embedded web UI: the files under ui/
// (plain HTML, CSS and ES modules, no build step), compiled into the binary
// with go:embed, and the [Handler] that serves them with their security
// headers. The UI talks to the server over HTTP and JSON only (the mount
// list, folder listings, the files themselves and the link API); this
// package knows nothing of storage, auth or media. It is a leaf on the
// standard library.
//
// # Routes the UI expects
//
// The caller mounts [Handler] below a reserved prefix (cmd/rangeserve uses
// /ui/, with http.StripPrefix("/ui", ...)). The page uses hash routing, so
// one index.html serves every view:
//
//	/ui/#/videos/sub/           browse a folder of a mount
//	/ui/#/videos/film.mp4       the player (or image / text view) of a file
//	/ui/#/videos/film.mp4?exp=…  the same through a signed link: the query is
//	                            appended to every media URL the page builds
//
// and calls GET /api/mounts, GET <folder>/?format=json&limit=N&cursor=C,
// GET <file> (Range), ?download=1, <folder>/?archive=zip and
// POST /api/links (with the admin token the user typed, kept in
// sessionStorage only).
//
// # Security
//
// Every response carries a Content-Security-Policy without 'unsafe-inline'
// or eval ([DefaultCSP], plus [Options].MediaOrigins), X-Content-Type-Options: nosniff and
// Referrer-Policy: no-referrer. The UI renders every name from the server
// with textContent, never as HTML.
package static
