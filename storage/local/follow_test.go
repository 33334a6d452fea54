//go:build unix

package local_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rangeserve/rangeserve/storage"
	"github.com/rangeserve/rangeserve/storage/local"
)

// watchers runs f with inotify (where the system has it) and with
// polling.
func watchers(t *testing.T, f func(t *testing.T)) {
	t.Run("notify", f)
	t.Run("poll", func(t *testing.T) {
		defer local.ForcePolling()()
		f(t)
	})
}

// openFDs counts this process's open descriptors (-1 without /proc).
func openFDs() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(ents)
}

func TestFollowAppends(t *testing.T) {
	watchers(t, func(t *testing.T) {
		root := t.TempDir()
		path := filepath.Join(root, "live.log")
		if err := os.WriteFile(path, []byte("start\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		b := newBackend(t, local.Options{Root: root})
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		fds := openFDs()
		rc, info, err := b.Follow(context.Background(), "live.log", 500*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		if info.Size != 6 || info.Key != "live.log" {
			t.Errorf("Info %+v", info)
		}
		want := []byte("start\n")
		var steps [][]byte
		for i := range 20 {
			steps = append(steps, bytes.Repeat([]byte{byte('a' + i)}, 1+i*997))
			want = append(want, steps[i]...)
		}
		go func() {
			for _, s := range steps {
				time.Sleep(20 * time.Millisecond)
				f.Write(s)
			}
		}()
		got, err := io.ReadAll(rc) // ends at the idle timeout, with io.EOF
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("read %d bytes, %v; want %d bytes, every append in order", len(got), err, len(want))
		}
		if err := rc.Close(); err != nil {
			t.Error(err)
		}
		if n := openFDs(); n != fds {
			t.Errorf("%d descriptors open after Close, %d before Follow", n, fds)
		}
	})
}

func TestFollowCancel(t *testing.T) {
	watchers(t, func(t *testing.T) {
		root := t.TempDir()
		os.WriteFile(filepath.Join(root, "rec.ts"), []byte("x"), 0o644)
		b := newBackend(t, local.Options{Root: root})
		ctx, cancel := context.WithCancel(context.Background())
		rc, _, err := b.Follow(ctx, "rec.ts", time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		buf := make([]byte, 10)
		if n, err := rc.Read(buf); n != 1 || err != nil {
			t.Fatalf("first read: %d, %v", n, err)
		}
		time.AfterFunc(50*time.Millisecond, cancel)
		done := make(chan error, 1)
		go func() { _, err := rc.Read(buf); done <- err }()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("read after cancel: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("a waiting read did not end when its context was cancelled")
		}
	})
}

func TestFollowShrinks(t *testing.T) {
	watchers(t, func(t *testing.T) {
		root := t.TempDir()
		path := filepath.Join(root, "log.txt")
		os.WriteFile(path, []byte("0123456789"), 0o644)
		b := newBackend(t, local.Options{Root: root})
		rc, _, err := b.Follow(context.Background(), "log.txt", 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		if got, _ := io.ReadAll(io.LimitReader(rc, 10)); string(got) != "0123456789" {
			t.Fatalf("got %q", got)
		}
		if err := os.Truncate(path, 3); err != nil {
			t.Fatal(err)
		}
		_, err = rc.Read(make([]byte, 10))
		if !errors.Is(err, storage.ErrChanged) {
			t.Errorf("read of a truncated file: %v, want ErrChanged", err)
		}
	})
}

func TestFollowErrors(t *testing.T) {
	root := t.TempDir()
	os.WriteFile(filepath.Join(root, "f"), nil, 0o644)
	os.Mkdir(filepath.Join(root, "d"), 0o755)
	b := newBackend(t, local.Options{Root: root})
	for _, tc := range []struct {
		key  string
		idle time.Duration
		want error
	}{
		{"missing", time.Second, storage.ErrNotExist},
		{"d", time.Second, storage.ErrIsDir},
		{"../f", time.Second, storage.ErrNotExist},
		{"f", 0, nil},
	} {
		rc, _, err := b.Follow(context.Background(), tc.key, tc.idle)
		if err == nil {
			rc.Close()
		}
		if err == nil || tc.want != nil && !errors.Is(err, tc.want) {
			t.Errorf("Follow(%q, %v): %v, want %v", tc.key, tc.idle, err, tc.want)
		}
		if err != nil && bytes.Contains([]byte(fmt.Sprint(err)), []byte(root)) {
			t.Errorf("error shows the root's path: %v", err)
		}
	}
}
