//go:build unix

package local

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rangeserve/rangeserve/storage"
)

// TestOpenRegularFIFO checks the second line of defence: even when the
// type check before opening is skipped (a FIFO swapped in after it), the
// open does not block and the FIFO is refused.
func TestOpenRegularFIFO(t *testing.T) {
	dir := t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, follow := range []bool{false, true} {
		b, err := New(Options{Root: dir, FollowSymlinks: follow})
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() {
			f, _, err := b.openRegular("fifo")
			if err == nil {
				f.Close()
			}
			done <- err
		}()
		select {
		case err := <-done:
			if !errors.Is(err, storage.ErrNotExist) {
				t.Errorf("follow=%v: openRegular(fifo) = %v; want ErrNotExist", follow, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("follow=%v: openRegular(fifo) blocked", follow)
		}
		b.Close()
	}
}

func TestTranslate(t *testing.T) {
	const secret = "/srv/secret/root"
	pe := func(err error) error { return &fs.PathError{Op: "openat", Path: secret + "/k", Err: err} }
	tests := []struct {
		err  error
		want error
	}{
		{pe(syscall.ENOENT), storage.ErrNotExist},
		{pe(syscall.EACCES), storage.ErrPermission},
		{pe(syscall.EPERM), storage.ErrPermission},
		{pe(syscall.ENOTDIR), storage.ErrNotExist},
		{pe(syscall.ELOOP), storage.ErrNotExist},
		{pe(syscall.ENAMETOOLONG), storage.ErrNotExist},
		{pe(syscall.ENXIO), storage.ErrNotExist},
		{pe(syscall.EIO), storage.ErrUnavailable},
		{pe(syscall.EMFILE), storage.ErrUnavailable},
		{pe(errors.New("path escapes from parent")), storage.ErrNotExist},
		{&os.LinkError{Op: "readlink", Old: secret, New: secret, Err: syscall.EIO}, storage.ErrUnavailable},
	}
	for _, tc := range tests {
		got := translate("open", "k", tc.err)
		if !errors.Is(got, tc.want) {
			t.Errorf("translate(%v) = %v; want it to match %v", tc.err, got, tc.want)
		}
		if strings.Contains(got.Error(), secret) || !strings.Contains(got.Error(), `"k"`) {
			t.Errorf("translate(%v) = %q; want the key and no path", tc.err, got)
		}
		var errno syscall.Errno
		if errors.As(tc.err, &errno) && !errors.Is(got, errno) {
			t.Errorf("translate(%v) = %v; lost the errno", tc.err, got)
		}
	}
	// Already translated errors pass through unchanged.
	once := translate("open", "k", pe(syscall.EACCES))
	if twice := translate("stat", "k", once); twice != once {
		t.Errorf("translate is not idempotent: %v then %v", once, twice)
	}
}
