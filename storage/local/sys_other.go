//go:build !unix

package local

import (
	"io/fs"
	"os"
)

// openFlags: there are no FIFOs to block on outside Unix.
const openFlags = os.O_RDONLY

func setBlocking(*os.File) error { return nil }

// inode is not available: ETags fall back to size and mtime.
func inode(fs.FileInfo) (uint64, bool) { return 0, false }
