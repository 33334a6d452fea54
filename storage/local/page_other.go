//go:build !linux

package local

import "os"

// openDirFast: without openat2, ListPage reads directories opened in the
// os.Root (see page_linux.go).
func (b *Backend) openDirFast(string) (*os.File, bool) { return nil, false }
