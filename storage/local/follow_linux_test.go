package local

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestInotifyWatcher checks that Linux followers are woken by inotify: a
// write wakes a wait that would otherwise last a minute.
func TestInotifyWatcher(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w, ok := newWatcher(f).(*inotifier)
	if !ok {
		t.Skip("no inotify instance available: followers poll")
	}
	defer w.close()
	time.AfterFunc(50*time.Millisecond, func() { os.WriteFile(p, []byte("grown"), 0o644) })
	done := make(chan error, 1)
	go func() { done <- w.wait(context.Background(), time.Minute) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a write did not wake the watcher")
	}
}
