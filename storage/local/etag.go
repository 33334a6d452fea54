package local

import (
	"io/fs"
	"strconv"
)

// etag returns the strong entity tag of one version of a regular file:
// `"<inode>-<size>-<mtime>"`, each in lower-case hex, the modification
// time in nanoseconds since the Unix epoch. Where the platform has no
// inode number (see inode) it is `"<size>-<mtime>"`.
//
// These are what identify a file version without reading it. A content
// hash would be exact but costs a full read of every file (gigabytes for a
// video) before the first byte can be served, or a cache to keep coherent.
// The consequences of the choice:
//
//   - Touching a file (mtime change with identical bytes) changes its ETag;
//     clients then revalidate once and get the body again.
//   - Replacing a file by rename (the usual atomic deploy) changes the
//     inode, so the ETag changes even if size and mtime were preserved.
//   - A rewrite in place of the same size within the same nanosecond of
//     mtime (in practice: the file system's timestamp granularity) keeps
//     the ETag. nginx's ETag (mtime in seconds and size) has the same
//     blind spot, wider; it is accepted.
//   - The same bytes on two hosts, or restored from a backup, get
//     different ETags, so an ETag is not valid across a load-balanced set
//     of servers with separate disks.
//
// The ETag is strong: it is used for If-Range and If-Match, which players
// and download managers rely on to resume (a weak ETag breaks seeking).
func etag(fi fs.FileInfo) string {
	ino, ok := inode(fi)
	return etagOf(ino, ok, fi.Size(), fi.ModTime().UnixNano())
}

// etagOf formats the ETag described at [etag].
func etagOf(ino uint64, hasIno bool, size, mtimeNs int64) string {
	b := make([]byte, 0, 3*16+4)
	b = append(b, '"')
	if hasIno {
		b = strconv.AppendUint(b, ino, 16)
		b = append(b, '-')
	}
	b = strconv.AppendUint(b, uint64(size), 16)
	b = append(b, '-')
	b = strconv.AppendUint(b, uint64(mtimeNs), 16)
	b = append(b, '"')
	return string(b)
}
