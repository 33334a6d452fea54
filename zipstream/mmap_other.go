//go:build !linux

package zipstream

import "os"

// hashMapped is available on Linux only: elsewhere entries are hashed
// through the buffer.
func hashMapped(f *os.File, off int64, n int, crc uint32) (uint32, error) {
	return 0, errNoMmap
}
