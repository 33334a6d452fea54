//go:build linux && !(amd64 || arm64)

package local

import "golang.org/x/sys/unix"

// fstatat is unix.Fstatat; see fstatat_linux.go.
func fstatat(dirfd int, key string, st *unix.Stat_t, flags int) error {
	return unix.Fstatat(dirfd, key, st, flags)
}
