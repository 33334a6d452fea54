//go:build linux && (amd64 || arm64)

package local

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// fstatat is unix.Fstatat without its allocation: the NUL-terminated path
// is built in a stack buffer (unix.Fstatat allocates one per call, and
// the open-file cache looks a name up on every request). Longer keys take
// unix.Fstatat.
func fstatat(dirfd int, key string, st *unix.Stat_t, flags int) error {
	var buf [256]byte
	if len(key) >= len(buf) {
		return unix.Fstatat(dirfd, key, st, flags)
	}
	copy(buf[:], key) // keys hold no NUL: storage.CleanKey refuses control characters
	_, _, e := unix.Syscall6(unix.SYS_NEWFSTATAT, uintptr(dirfd), uintptr(unsafe.Pointer(&buf[0])),
		uintptr(unsafe.Pointer(st)), uintptr(flags), 0, 0)
	if e != 0 {
		return e
	}
	return nil
}
