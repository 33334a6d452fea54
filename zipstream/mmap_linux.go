package zipstream

import (
	"hash/crc32"
	"os"
	"runtime/debug"
	"syscall"
)

// hashMapped returns crc updated with the n bytes at off of f, read
// through a read-only mapping of them. A fault reading the mapping (the
// file was truncated) is errFault.
func hashMapped(f *os.File, off int64, n int, crc uint32) (uint32, error) {
	if n == 0 {
		return crc, nil
	}
	page := int64(os.Getpagesize())
	start := off &^ (page - 1)
	skip := int(off - start)
	rc, err := f.SyscallConn()
	if err != nil {
		return 0, errNoMmap
	}
	var m []byte
	var merr error
	if err := rc.Control(func(fd uintptr) {
		m, merr = syscall.Mmap(int(fd), start, skip+n, syscall.PROT_READ, syscall.MAP_SHARED|syscall.MAP_POPULATE)
	}); err != nil {
		return 0, errNoMmap
	}
	if merr != nil {
		return 0, errNoMmap
	}
	defer syscall.Munmap(m)
	return crcGuarded(crc, m[skip:])
}

// crcGuarded is crc32.Update of mapped memory, with a fault turned into
// errFault instead of a crash.
func crcGuarded(crc uint32, b []byte) (c uint32, err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if v := recover(); v != nil {
			if _, ok := v.(interface{ Addr() uintptr }); ok {
				err = errFault
				return
			}
			panic(v)
		}
	}()
	return crc32.Update(crc, crc32.IEEETable, b), nil
}
