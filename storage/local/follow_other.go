//go:build !linux

package local

import "os"

// newWatcher: without inotify, followers poll.
func newWatcher(*os.File) watcher { return poller{} }
