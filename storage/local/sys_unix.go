//go:build unix

package local

import (
	"io/fs"
	"os"
	"syscall"
)

// openFlags opens without blocking on a FIFO or device that was swapped in
// after the type check, and without acquiring a controlling terminal.
const openFlags = os.O_RDONLY | syscall.O_NONBLOCK | syscall.O_NOCTTY

// setBlocking clears O_NONBLOCK once the file is known to be regular, so
// reads behave as for any opened file.
func setBlocking(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = syscall.SetNonblock(int(fd), false) }); err != nil {
		return err
	}
	return serr
}

// inode returns the file's inode number.
func inode(fi fs.FileInfo) (uint64, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return uint64(st.Ino), true
}
