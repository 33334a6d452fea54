//go:build !linux

package local

import (
	"os"

	"github.com/rangeserve/rangeserve/storage"
)

// fastDir: the fast path of Open exists on Linux only (see
// fastopen_linux.go); elsewhere Open always uses os.Root.
type fastDir int

func openFastDir(string) fastDir { return -1 }

func (fastDir) close() {}

func (fastDir) open(root, key string, follow bool) (*os.File, storage.Info, bool) {
	return nil, storage.Info{}, false
}

func (fastDir) openID(root, key string, follow bool) (*os.File, fileID, bool) {
	return nil, fileID{}, false
}

func (fastDir) statID(string) (fileID, bool) { return fileID{}, false }

func fstatID(*os.File) (fileID, bool) { return fileID{}, false }
