package local

// WithoutFastPath turns off b's openat2 fast path, so that tests cover
// the portable path on Linux too.
func WithoutFastPath(b *Backend) *Backend {
	if b.files != nil {
		b.files.close()
		b.files = nil
	}
	b.fast.close()
	b.fast = -1
	return b
}

// HasFastPath reports whether b opens files through openat2.
func HasFastPath(b *Backend) bool { return b.fast >= 0 }

// ForcePolling makes followers poll instead of using inotify until the
// returned function is called.
func ForcePolling() (restore func()) {
	forcePolling = true
	return func() { forcePolling = false }
}
