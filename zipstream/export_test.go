package zipstream

import "time"

// CRC32Combine exposes crc32Combine to the tests.
var CRC32Combine = crc32Combine

// SetStallTimeout sets how long a request waits for a stalled stream, for
// a test, and returns a function restoring it.
func SetStallTimeout(d time.Duration) (restore func()) {
	old := stallTimeout
	stallTimeout = d
	return func() { stallTimeout = old }
}
