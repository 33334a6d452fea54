package local

import (
	"context"
	"errors"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// inotifier is the watcher of Linux: an inotify instance watching the
// opened file (through /proc/self/fd, so that it is the very inode being
// read, whatever happens to its name), read through Go's poller, so that
// a wait costs no thread and ends on a deadline or when the request's
// context is done.
type inotifier struct {
	f   *os.File // the inotify descriptor
	buf []byte
}

// inotifyMask: what may make the file longer, or end its writer.
const inotifyMask = unix.IN_MODIFY | unix.IN_CLOSE_WRITE | unix.IN_ATTRIB | unix.IN_DELETE_SELF | unix.IN_MOVE_SELF

// newWatcher returns an inotify watcher for f, or a poller when inotify
// is not available (no instance left, no /proc).
func newWatcher(f *os.File) watcher {
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		return poller{}
	}
	// f.Fd() would put f in blocking mode for good; Control does not.
	rc, err := f.SyscallConn()
	werr := err
	if err == nil {
		err = rc.Control(func(ffd uintptr) {
			_, werr = unix.InotifyAddWatch(fd, "/proc/self/fd/"+strconv.FormatUint(uint64(ffd), 10), inotifyMask)
		})
	}
	if err != nil || werr != nil {
		unix.Close(fd)
		return poller{}
	}
	return &inotifier{f: os.NewFile(uintptr(fd), "inotify"), buf: make([]byte, 4096)}
}

func (w *inotifier) wait(ctx context.Context, d time.Duration) error {
	if err := w.f.SetReadDeadline(time.Now().Add(d)); err != nil {
		return poller{}.wait(ctx, d)
	}
	stop := context.AfterFunc(ctx, func() { _ = w.f.SetReadDeadline(time.Now()) })
	_, err := w.f.Read(w.buf) // the events themselves do not matter
	stop()
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
		// The instance failed: look again after a poll interval.
		return poller{}.wait(ctx, d)
	}
	return nil
}

func (w *inotifier) close() error { return w.f.Close() }
