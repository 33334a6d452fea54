// Package local is the [storage.Backend] for a directory on the local file
// system.
//
// It owns the mapping from a cleaned key to a file beneath one root
// directory, and the policy that goes with it: no key resolves outside the
// root (".." and symbolic links that leave the root are refused, through
// openat2(2) with RESOLVE_BENEATH on Linux and [os.Root] elsewhere or when
// the kernel refuses openat2, unless [Options].FollowSymlinks says
// otherwise; see fastopen_linux.go), and only regular files are ever
// opened for reading (directories answer [storage.ErrIsDir]; devices,
// FIFOs and sockets do not exist as far as clients can tell). It computes
// the strong ETag of a file version from its inode, size and modification
// time, lists directories in streaming batches, and translates file system
// errors into the storage sentinels without putting the root's path in
// messages.
//
// Objects expose their *os.File ([storage.Filer]) so the HTTP layer can use
// sendfile(2), and the backend exposes absolute paths ([storage.Pather]) for
// X-Sendfile. It lists one sorted page of a directory at a time
// ([storage.PageLister]) and follows files that are still being written
// ([storage.Follower]: inotify on Linux, polling elsewhere). It never writes, and it does not sniff content types: that is
// the HTTP layer's job.
//
// An open-file cache (filecache.go, [CacheOptions]) keeps, per key, the
// metadata of the version last opened and a pool of descriptors lent to
// one request at a time, and serves small files from memory; an object's
// bytes are always those of the version its Info describes.
//
// Hidden names (".env", "a/.git/config") are ordinary keys here: the
// hidden-file policy belongs to the HTTP layer (media), which applies it
// to every backend.
//
// It imports only the standard library, golang.org/x/sys/unix (openat2,
// inotify) and package storage.
package local
