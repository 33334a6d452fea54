package local

import (
	"os"

	"golang.org/x/sys/unix"

	"github.com/rangeserve/rangeserve/storage"
)

// The fast path of Open on Linux. os.Root walks a key one openat(2) per
// directory, and os.OpenFile then spends five more system calls on a
// regular file (F_GETFL/F_SETFL twice and an epoll_ctl that fails): for a
// 64 KiB response that was 4 of 14 system calls. Here a key costs
// openat2(2) with RESOLVE_BENEATH (the kernel enforces what os.Root
// enforces: no "..", absolute path or symbolic link leads out of the root),
// fstat(2) and two fcntl(2), plus an fstatat(2) type check first when
// FollowSymlinks lets links lead anywhere: the same guarantees in fewer
// calls.
//
// Only success takes this path. Whenever a step fails (a missing file, a
// directory, a FIFO, a link out of the root, a kernel without openat2 or a
// seccomp filter refusing it), Open starts again on the portable path,
// which makes the error: errors stay the same whichever path ran.

// fastDir is the root directory opened for openat2(2), or -1 when the
// fast path is off.
type fastDir int

// openFastDir opens root for the fast path and checks that the kernel
// (and any seccomp filter) allows openat2 with RESOLVE_BENEATH. It
// returns -1 when it does not: Open then uses os.Root alone.
func openFastDir(root string) fastDir {
	fd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1
	}
	probe, err := unix.Openat2(fd, ".", &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_MAGICLINKS,
	})
	if err != nil {
		unix.Close(fd)
		return -1
	}
	unix.Close(probe)
	return fastDir(fd)
}

func (d fastDir) close() {
	if d >= 0 {
		unix.Close(int(d))
	}
}

// open opens key, a regular file beneath root (the directory d is open
// on), and returns it with its Info; ok is false when anything is not as
// expected, and nothing is left open then. follow lets symbolic links lead
// anywhere.
func (d fastDir) open(root, key string, follow bool) (f *os.File, info storage.Info, ok bool) {
	f, id, ok := d.openID(root, key, follow)
	if !ok {
		return nil, storage.Info{}, false
	}
	return f, id.info(key), true
}

// openID is open returning the identity of the opened version (see
// fileID) rather than its Info.
func (d fastDir) openID(root, key string, follow bool) (f *os.File, id fileID, ok bool) {
	if d < 0 || key == "" {
		return nil, fileID{}, false
	}
	var st unix.Stat_t
	how := unix.OpenHow{Flags: unix.O_RDONLY | unix.O_NONBLOCK | unix.O_NOCTTY | unix.O_CLOEXEC}
	if follow {
		// Links may lead anywhere, /dev included: check the type before
		// opening, as the portable path does, because opening a device
		// can have side effects (a tape rewinds, a modem line rises).
		if unix.Fstatat(int(d), key, &st, 0) != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
			return nil, fileID{}, false
		}
	} else {
		// Beneath the root only. The type is checked after opening
		// (fstat below), which spares a path walk per request: a device
		// node in the served tree takes CAP_MKNOD to create, and a FIFO
		// opens without blocking (O_NONBLOCK) and is refused.
		how.Resolve = unix.RESOLVE_BENEATH | unix.RESOLVE_NO_MAGICLINKS
	}
	fd, err := unix.Openat2(int(d), key, &how)
	if err != nil {
		return nil, fileID{}, false
	}
	// The name may have been swapped for another file since the check:
	// describe what was opened, and refuse it unless regular.
	if unix.Fstat(fd, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
		unix.Close(fd)
		return nil, fileID{}, false
	}
	// Clear O_NONBLOCK (F_SETFL changes only the status flags, of which
	// it is the one set), so reads of the regular file block as usual.
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFL, 0); err != nil {
		unix.Close(fd)
		return nil, fileID{}, false
	}
	// The name is what the file's errors show; key is clean, so no
	// filepath.Join (and its Clean) is needed.
	return os.NewFile(uintptr(fd), root+"/"+key), idOf(&st), true
}

// statID looks key up beneath d (following symbolic links, which is safe
// here: the identity is only compared with that of a file opened beneath
// the root before, see fileCache) and returns the identity of what it
// names, or ok false for anything but a regular file. It opens nothing.
func (d fastDir) statID(key string) (id fileID, ok bool) {
	var st unix.Stat_t
	if d < 0 || fstatat(int(d), key, &st, unix.AT_NO_AUTOMOUNT) != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
		return fileID{}, false
	}
	return idOf(&st), true
}

// fstatID returns the identity of the version f is open on now.
func fstatID(f *os.File) (fileID, bool) {
	var st unix.Stat_t
	if unix.Fstat(int(f.Fd()), &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
		return fileID{}, false
	}
	return idOf(&st), true
}

func idOf(st *unix.Stat_t) fileID {
	return fileID{
		dev:   uint64(st.Dev),
		ino:   st.Ino,
		size:  st.Size,
		mtime: st.Mtim.Nano(),
		ctime: st.Ctim.Nano(),
	}
}
