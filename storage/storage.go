package storage

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"iter"
	"net/url"
	"os"
	"time"
)

// Info describes one version of one object.
type Info struct {
	// Key is the cleaned key the object was opened or listed with.
	Key string
	// Size is the length in bytes, or -1 when it is not known in advance
	// (a file still being written, a generated archive).
	Size int64
	// ModTime is the last modification time; the zero time when unknown.
	ModTime time.Time
	// ETag is a complete entity tag, quoted, such as `"abc"` (strong) or
	// `W/"abc"` (weak), or "" when the backend has none. A strong ETag
	// changes whenever the content changes.
	ETag string
	// ContentType is the backend's idea of the media type, or "" to let the
	// HTTP layer decide (magic bytes, then extension).
	ContentType string
	// IsDir reports a directory (or a common prefix, for object stores).
	IsDir bool
	// Symlink reports an entry of a listing that is a symbolic link: the
	// other fields describe its target. Whoever walks a tree should not
	// descend into a linked folder (a link to a parent repeats the tree
	// without end; a link elsewhere repeats or widens it). Only listings
	// set it; Stat and Open describe the target alone.
	Symlink bool
}

// Object is one opened version of an object. ReadAt may be called
// concurrently; Info describes exactly the bytes ReadAt returns.
type Object interface {
	io.ReaderAt
	io.Closer
	Info() Info
}

// Backend opens objects by cleaned key (see [CleanKey]).
//
// Errors are translated at the backend's edge: a missing key satisfies
// errors.Is(err, fs.ErrNotExist) (or [ErrNotExist]), a refused one
// errors.Is(err, fs.ErrPermission); [ErrUnavailable] and
// context.DeadlineExceeded mean the store could not be reached in time.
type Backend interface {
	// Open returns the object stored under key. The context bounds every
	// read of the returned Object, so that a client that goes away cancels
	// the backend's requests. Open of a directory returns an error that
	// satisfies errors.Is(err, ErrIsDir).
	Open(ctx context.Context, key string) (Object, error)
	// Stat returns what Open's Object.Info would, without opening it.
	Stat(ctx context.Context, key string) (Info, error)
}

// Lister is implemented by backends that can enumerate keys under a
// prefix. Implementations stream: memory does not grow with the number of
// keys.
type Lister interface {
	List(ctx context.Context, prefix string) iter.Seq2[Info, error]
}

// Presigner is implemented by backends that can mint a time-limited URL a
// client may GET directly. ttl is between [MinPresignTTL] and
// [MaxPresignTTL]; params carries response overrides such as
// "response-content-type" and "response-content-disposition".
type Presigner interface {
	PresignGet(ctx context.Context, key string, ttl time.Duration, params url.Values) (*url.URL, error)
}

// Bounds of a presigned URL's lifetime, those of S3's signature version 4
// (X-Amz-Expires is a whole number of seconds, at most 7 days). They are
// written here once, for the backends that presign and the HTTP layer
// that asks them to.
const (
	MinPresignTTL = time.Second
	MaxPresignTTL = 7 * 24 * time.Hour
)

// Filer is implemented by objects backed by a local file. The HTTP layer
// copies from the returned *os.File (through an io.LimitedReader at most)
// so that net/http can use sendfile(2). The file stays owned by the Object.
// The HTTP layer seeks it to where it reads before every copy: its offset
// when Open returns is unspecified (an open-file cache lends descriptors
// an earlier request moved). Only the HTTP layer moves it; ReadAt must
// not.
type Filer interface {
	File() *os.File
}

// Objects of remote stores may also implement rangeio.RangeReader
// (ReadRange(off, n int64) (io.ReadCloser, error)): the HTTP layer then
// reads each response range as one stream, one request to the store,
// instead of one ReadAt per copy buffer.

// Pather is implemented by backends whose objects live at a path on the
// local file system, for delegation with X-Sendfile.
type Pather interface {
	// Path returns the absolute path of key's file.
	Path(key string) (string, error)
}

// Sentinel errors. Each matches the io/fs error of the same meaning where
// there is one, so callers can test with either.
var (
	// ErrNotExist: no object under that key (or the key is not valid).
	ErrNotExist = fs.ErrNotExist
	// ErrPermission: the backend refused access.
	ErrPermission = fs.ErrPermission
	// ErrIsDir: the key names a directory or common prefix.
	ErrIsDir = errors.New("storage: key is a directory")
	// ErrUnavailable: the backend could not be reached or failed.
	ErrUnavailable = errors.New("storage: backend unavailable")
	// ErrChanged: the object was replaced after it was opened, so a read
	// pinned to the opened version was refused. Before the first byte of
	// a response the HTTP layer opens the object again (once); after it,
	// the response is aborted.
	ErrChanged = errors.New("storage: object changed since it was opened")
)
