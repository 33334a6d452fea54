package storage

import (
	"context"
	"io"
	"path"
	"time"
)

// PageLister is implemented by backends that can list a directory one
// sorted page at a time, for paged listings (a web UI scrolling through a
// folder). [Lister] streams a whole directory in the backend's own order;
// a page needs an order and a place to resume.
//
// The order is the byte order of [ListName]: an entry's name, followed by
// "/" for a directory, which is the order of S3 keys. A page is resumed
// after the ListName of the last entry of the previous page.
type PageLister interface {
	// ListPage returns the first entries, at most limit (limit > 0), of
	// the directory prefix (a cleaned key; "" is the root) whose ListName
	// is greater than after ("" for the first page), sorted by ListName,
	// and whether more entries follow. Entries are described as [Lister]
	// describes them. Memory is bounded by limit, not by the directory's
	// size. A prefix that is not a directory yields an error matching
	// [ErrNotExist], or (for object stores, where an empty prefix is
	// indistinguishable from a missing one) no entries.
	ListPage(ctx context.Context, prefix, after string, limit int) (entries []Info, more bool, err error)
}

// ListName returns the name an entry is sorted and paged by: the last
// segment of its key, followed by "/" for a directory.
func ListName(i Info) string {
	name := path.Base(i.Key)
	if i.Key == "" || name == "." || name == "/" {
		name = ""
	}
	if i.IsDir {
		name += "/"
	}
	return name
}

// Follower is implemented by backends whose objects can grow while they
// are read: a local file still being written (a live recording, a log).
type Follower interface {
	// Follow opens key and returns a reader of its bytes as they come: what
	// the file holds, then what is appended to it. When the reader has
	// caught up, Read waits for the file to grow (notified by the system
	// where it can, polling otherwise). It returns io.EOF once the file
	// has not grown for idle (idle > 0), and ctx's error as soon as ctx is
	// done. A file that shrinks (truncated, rewritten) fails the read.
	// Info describes the file as it was opened (its size then); Close
	// releases the file and whatever watched it.
	Follow(ctx context.Context, key string, idle time.Duration) (io.ReadCloser, Info, error)
}
