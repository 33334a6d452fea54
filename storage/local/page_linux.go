package local

import (
	"os"

	"golang.org/x/sys/unix"
)

// openDirFast opens the directory key beneath the root with openat2(2)
// and RESOLVE_BENEATH, the guarantees of os.Root (see fastopen_linux.go),
// as a plain *os.File: its ReadDir reports each entry's type from the
// directory itself, where a directory opened in an os.Root stats every
// entry. ListPage needs only the types to choose its page. It returns
// false whenever the fast path is off or fails; the caller then uses
// openDir.
func (b *Backend) openDirFast(key string) (*os.File, bool) {
	if b.fast < 0 || b.follow {
		return nil, false
	}
	name := key
	if name == "" {
		name = "."
	}
	fd, err := unix.Openat2(int(b.fast), name, &unix.OpenHow{
		Flags:   unix.O_RDONLY | unix.O_DIRECTORY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_MAGICLINKS,
	})
	if err != nil {
		return nil, false
	}
	return os.NewFile(uintptr(fd), key), true
}
