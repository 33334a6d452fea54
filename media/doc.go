// Package media owns rangeserve's HTTP handler for objects: [Handler]
// answers GET and HEAD for one key of a [storage.Backend] the way
// http.FileServer answers for a file, and is meant to be mounted by any Go
// program as well as by cmd/rangeserve.
//
// For each request the handler picks one strategy:
//
//   - serve (the default): evaluate the preconditions of RFC 9110 §13.2.2
//     (If-Match, If-Unmodified-Since, If-None-Match, If-Modified-Since,
//     If-Range) and answer 200, 206 (one range or multipart/byteranges), 304,
//     412 or 416, moving the bytes with the best path available: sendfile(2)
//     for local files (objects implementing [storage.Filer]), one stream per
//     span for remote objects that offer it ([rangeio.RangeReader]: one
//     request to the store per response, made before the status line so
//     that a failing store gets 502 or 504), pooled buffers over
//     io.ReaderAt otherwise ([rangeio.CopyAt]);
//   - chunked: an object of unknown length (Info.Size == -1) that is also an
//     io.Reader is streamed without Content-Length and without ranges; so
//     is a local file still being written, with ?follow=1 (its appends as
//     they land, until it has been idle for Options.FollowIdleTimeout;
//     [storage.Follower]);
//   - listing: a folder (a path ending in "/", or a key that is a
//     directory) with ?format=ndjson or Accept: application/x-ndjson is
//     streamed as NDJSON, one {"name","size","mtime","etag","type","dir"}
//     object a line ([storage.Lister]); with ?format=json[&limit=N]
//     [&cursor=C] it is answered one page sorted by name, with an opaque
//     cursor to the next ([storage.PageLister]). A browser asking for a
//     folder is redirected to Options.UIURL when set;
//   - x-accel / x-sendfile: after the object has been found, the response
//     only names it (X-Accel-Redirect, X-Sendfile) and the front proxy sends
//     the bytes, ranges and conditionals included. The proxy is handed only
//     what it cannot get wrong: active content (HTML, SVG, XML, +xml) is
//     served by the handler with its sandbox, because nginx drops the
//     Content-Security-Policy and nosniff headers when it follows
//     X-Accel-Redirect; so is every Range other than one satisfiable
//     range, because nginx does not coalesce or cap ranges the way serve
//     mode does;
//   - redirect: a 307 to a presigned URL ([storage.Presigner]), with
//     active content sent by the store as an attachment;
//   - archive: a folder requested with ?archive=zip is listed recursively
//     ([storage.Lister]) and served as one stored ZIP archive whose length
//     and strong ETag are known before the first byte (package zipstream),
//     so it gets ranges, If-Range and resumption like a file, in every
//     mode; with &deflate=1 its text entries are compressed and it is
//     streamed chunked.
//
// In front of every strategy sits virtual faststart (faststart.go, package
// mp4): an MP4, MOV, M4A or M4V whose moov box follows its media data is
// served as a virtual file with the moov first, so that a player starts
// without asking for the end of the file. The virtual file has its own
// length and strong ETag (the source's with "-fs1", [mp4.VirtualETag]),
// gets every Range, multi-range and conditional case like a stored file,
// and is assembled from the rewritten moov in memory (plans are kept in a
// bounded cache per object version) and spans of the source, each still
// sent with sendfile or one request to the store. ?original=1 gets the
// stored bytes. It is on by default in serve mode; in the delegation modes
// it is off unless [Options].Faststart is "on", in which case the files
// that need it are served by the handler and all others delegated.
//
// It decides every header itself: Content-Type (the backend's, else magic
// bytes, else the extension, else a text check), Content-Disposition
// ([ContentDisposition], RFC 6266 with an RFC 8187 UTF-8 filename), quoted
// ETag, Last-Modified, Accept-Ranges, Cache-Control and
// X-Content-Type-Options: nosniff.
//
// Errors are mapped to a status in one place: a missing key, an invalid key
// or a directory is 404, a refusal 403, a timeout 504, any other backend
// failure 502. Clients see a short fixed body, never the error's text; the
// error itself is logged with log/slog. An error after the first body byte
// aborts the connection (panic(http.ErrAbortHandler)), so a client never
// mistakes a truncated body for a complete one. An object found replaced
// ([storage.ErrChanged]) before the status line is opened again, once.
//
// The chunked path is also a library for Go programs that generate a body
// ([Stream], and [StreamCSV] and [StreamNDJSON] for rows from an
// iterator such as a database cursor): no Content-Length, a flush policy
// (every N bytes or T ms, whichever comes first), a status for an error
// before the first byte and an aborted response after it, and a producer
// cancelled through the request's context when the client leaves.
//
// The code has one file per concern: handler.go (Options, New, the entry
// points and the method check), serve.go (the bytes sent by the handler),
// stream.go (unknown length), chunked.go (the chunked path: [Stream] and
// its flushing writer), rows.go (CSV and NDJSON rows), query.go (query
// parameters: follow, format, the UI redirect), listing.go (folder
// listings and cursors), follow.go (?follow=1), delegate.go
// (X-Accel-Redirect, X-Sendfile), redirect.go (presigned URLs), archive.go
// (folders as ZIP archives), preconditions.go (validators, conditional
// requests, 304), headers.go (header plumbing), contenttype.go,
// disposition.go, errors.go (the error-to-status mapping) and grant.go
// (what callers attach to a request, and what the handler reports back).
//
// media imports storage (interfaces only), rangeio and zipstream; it must
// never import a concrete backend, minio-go, auth or cmd. Authorization
// happens before [Handler.ServeKey] is called: a request admitted for a
// folder reads its whole archive.
package media
