package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/rangeserve/rangeserve/storage"
)

var _ storage.Follower = (*Backend)(nil)

// pollInterval is how often a follower without change notifications
// (inotify) checks whether its file has grown.
const pollInterval = 100 * time.Millisecond

// Follow opens key for reading as it grows (see [storage.Follower]): a
// live recording, a log. Where the system notifies file changes (inotify
// on Linux), a reader that has caught up sleeps until the file is written
// to; elsewhere, or when no inotify instance is left (the per-user limit,
// fs.inotify.max_user_instances, is often 128), it checks the file's size
// every 100 ms. The file is watched through the opened descriptor, so a
// file renamed or replaced under its name keeps being followed as the
// file that was opened (and ends at the idle timeout, as its writer is
// gone).
func (b *Backend) Follow(ctx context.Context, key string, idle time.Duration) (io.ReadCloser, storage.Info, error) {
	if idle <= 0 {
		return nil, storage.Info{}, fmt.Errorf("local: follow %q: idle timeout %v is not positive", key, idle)
	}
	if err := ctx.Err(); err != nil {
		return nil, storage.Info{}, err
	}
	if err := b.check(key); err != nil {
		return nil, storage.Info{}, err
	}
	// A descriptor of its own, not the open-file cache's: it is read
	// sequentially and closed by the follower.
	o, err := b.openFile(ctx, key)
	if err != nil {
		return nil, storage.Info{}, err
	}
	fr := &follower{ctx: ctx, key: key, f: o.f, idle: idle, last: time.Now()}
	if forcePolling {
		fr.watch = poller{}
	} else {
		fr.watch = newWatcher(o.f)
	}
	return fr, o.info, nil
}

// forcePolling makes followers poll even where inotify works (tests).
var forcePolling = false

// follower reads a file sequentially and, at its end, waits for more.
type follower struct {
	ctx   context.Context
	key   string
	f     *os.File
	idle  time.Duration
	off   int64
	last  time.Time // when bytes were last read (or the file opened)
	watch watcher
}

// watcher waits until the file may have changed.
type watcher interface {
	// wait returns when the file may have changed, after at most d, or
	// with ctx's error once ctx is done.
	wait(ctx context.Context, d time.Duration) error
	close() error
}

var errShrunk = errors.New("the file shrank while it was followed (truncated or rewritten)")

func (r *follower) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for {
		if err := r.ctx.Err(); err != nil {
			return 0, err
		}
		n, err := r.f.Read(p)
		if n > 0 {
			r.off += int64(n)
			r.last = time.Now()
			return n, nil
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return 0, translate("follow", r.key, err)
		}
		// At the end: has the file grown since, or shrunk?
		fi, err := r.f.Stat()
		if err != nil {
			return 0, translate("follow", r.key, err)
		}
		switch size := fi.Size(); {
		case size > r.off:
			continue
		case size < r.off:
			return 0, &keyError{op: "follow", key: r.key, kind: storage.ErrChanged, err: errShrunk}
		}
		left := r.idle - time.Since(r.last)
		if left <= 0 {
			return 0, io.EOF
		}
		if err := r.watch.wait(r.ctx, left); err != nil {
			return 0, err
		}
	}
}

// Close closes the file and stops watching it.
func (r *follower) Close() error {
	werr := r.watch.close()
	if err := r.f.Close(); err != nil {
		return err
	}
	return werr
}

// poller is the watcher that has no notifications: it sleeps a poll
// interval (or what is left of d) and lets the reader look again.
type poller struct{}

func (poller) wait(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(min(d, pollInterval))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (poller) close() error { return nil }
