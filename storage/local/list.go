package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"os"
	"path"

	"github.com/rangeserve/rangeserve/storage"
)

// listBatch is how many directory entries List reads at a time.
const listBatch = 256

// List yields the entries of the directory named by prefix (a key; ""
// is the root), one level deep, in the order the file system returns
// them: sorting would need every entry in memory first. It reads the
// directory in batches of a few hundred entries, so memory does not grow
// with its size, and stops when ctx is done (yielding ctx's error) or the
// caller stops iterating.
//
// Each Info has the entry's key (prefix + "/" + name). Regular files have
// their size, modification time and ETag, as Stat would return them;
// directories have IsDir set. Symbolic links are described by their
// target under the backend's symlink policy, and skipped when the policy
// refuses them or they dangle. Skipped as well: devices, FIFOs and
// sockets, and names that are not valid keys (see [storage.CleanKey]),
// since no request could address them. Hidden names (".env") are listed:
// whether they are shown is the HTTP layer's policy, as for Open.
//
// A prefix that does not exist or is not a directory yields one error
// matching [storage.ErrNotExist]; a failure while reading yields the error
// and ends the sequence.
func (b *Backend) List(ctx context.Context, prefix string) iter.Seq2[storage.Info, error] {
	return func(yield func(storage.Info, error) bool) {
		if err := ctx.Err(); err != nil {
			yield(storage.Info{}, err)
			return
		}
		if err := b.check(prefix); err != nil {
			yield(storage.Info{}, err)
			return
		}
		d, err := b.openDir(prefix)
		if err != nil {
			yield(storage.Info{}, err)
			return
		}
		defer d.Close()
		for {
			if err := ctx.Err(); err != nil {
				yield(storage.Info{}, err)
				return
			}
			entries, err := d.ReadDir(listBatch)
			for _, e := range entries {
				info, ok := b.entryInfo(prefix, e)
				if !ok {
					continue
				}
				if err := ctx.Err(); err != nil {
					yield(storage.Info{}, err)
					return
				}
				if !yield(info, nil) {
					return
				}
			}
			if errors.Is(err, io.EOF) || err == nil && len(entries) == 0 {
				return
			}
			if err != nil {
				yield(storage.Info{}, translate("list", prefix, err))
				return
			}
		}
	}
}

// openDir opens the directory named by key under the symlink policy.
func (b *Backend) openDir(key string) (*os.File, error) {
	fi, err := b.stat(key)
	if err != nil {
		return nil, translate("list", key, err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("local: list %q: not a directory: %w", key, storage.ErrNotExist)
	}
	var d *os.File
	if b.follow {
		d, err = os.Open(b.join(key))
	} else {
		name := key
		if name == "" {
			name = "."
		}
		d, err = b.fsroot.Open(name)
	}
	if err != nil {
		return nil, translate("list", key, err)
	}
	return d, nil
}

// entryInfo describes one directory entry, or reports false to skip it.
func (b *Backend) entryInfo(prefix string, e fs.DirEntry) (storage.Info, bool) {
	name := e.Name()
	if ck, err := storage.CleanKey(name); err != nil || ck != name {
		return storage.Info{}, false
	}
	key := path.Join(prefix, name)
	var fi fs.FileInfo
	var err error
	if e.Type()&fs.ModeSymlink != 0 {
		fi, err = b.stat(key) // the target, if the policy allows it
	} else {
		fi, err = e.Info() // lstat, already done for a dir opened in a Root
	}
	if err != nil {
		return storage.Info{}, false
	}
	switch {
	case fi.Mode().IsRegular():
		return fileInfo(key, fi), true
	case fi.IsDir():
		return dirInfo(key, fi), true
	default:
		return storage.Info{}, false
	}
}
