package local

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"

	"github.com/rangeserve/rangeserve/storage"
)

var _ storage.PageLister = (*Backend)(nil)

// ListPage returns one sorted page of the directory prefix (see
// [storage.PageLister]): the first limit entries whose
// [storage.ListName] is greater than after.
//
// A directory has no order of its own, so each page reads the whole
// directory, in batches of a few hundred names, and keeps the limit+1
// smallest names greater than after in a heap: memory is bounded by the
// page (limit entries plus one batch), not by the directory, and time
// grows with the directory's size times log(limit). Entry types come
// from the directory itself (on Linux, opened with openat2 beneath the
// root; an os.Root directory would stat every entry), so only the entries
// of the page are stat'ed, and symbolic links, whose targets decide
// whether they are folders. Entries are chosen as [Backend.List] chooses
// them.
func (b *Backend) ListPage(ctx context.Context, prefix, after string, limit int) ([]storage.Info, bool, error) {
	if limit <= 0 {
		return nil, false, fmt.Errorf("local: list page of %q: limit %d is not positive", prefix, limit)
	}
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	if err := b.check(prefix); err != nil {
		return nil, false, err
	}
	d, ok := b.openDirFast(prefix)
	if !ok {
		var err error
		if d, err = b.openDir(prefix); err != nil {
			return nil, false, err
		}
	}
	defer d.Close()
	h := &nameHeap{}
	for {
		if err := ctx.Err(); err != nil {
			return nil, false, err
		}
		entries, err := d.ReadDir(listBatch)
		for _, e := range entries {
			name, ok := b.listName(prefix, e)
			if !ok || name <= after {
				continue
			}
			if h.Len() <= limit {
				heap.Push(h, pageEntry{name, e})
			} else if name < (*h)[0].name {
				(*h)[0] = pageEntry{name, e}
				heap.Fix(h, 0)
			}
		}
		if errors.Is(err, io.EOF) || err == nil && len(entries) == 0 {
			break
		}
		if err != nil {
			return nil, false, translate("list", prefix, err)
		}
	}
	page := []pageEntry(*h)
	slices.SortFunc(page, func(a, b pageEntry) int { return strings.Compare(a.name, b.name) })
	more := len(page) > limit
	if more {
		page = page[:limit]
	}
	out := make([]storage.Info, 0, len(page))
	for _, pe := range page {
		info, ok := b.pageInfo(prefix, pe.e.Name())
		if !ok || storage.ListName(info) != pe.name {
			continue // gone or changed since it was read
		}
		out = append(out, info)
	}
	return out, more, nil
}

// pageInfo describes the entry name of the directory prefix as List
// would, stat'ed through the root (or as List follows links), or reports
// false to skip it.
func (b *Backend) pageInfo(prefix, name string) (storage.Info, bool) {
	key := path.Join(prefix, name)
	var fi fs.FileInfo
	var err error
	if b.follow {
		fi, err = os.Lstat(b.join(key))
	} else {
		fi, err = b.fsroot.Lstat(key)
	}
	if err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		fi, err = b.stat(key) // the target, if the policy allows it
	}
	if err != nil {
		return storage.Info{}, false
	}
	switch {
	case fi.Mode().IsRegular():
		return fileInfo(key, fi), true
	case fi.IsDir():
		return dirInfo(key, fi), true
	}
	return storage.Info{}, false
}

// listName returns the [storage.ListName] of a directory entry from its
// type as the directory reports it (symbolic links are stat'ed under the
// backend's policy), or false for an entry List would skip.
func (b *Backend) listName(prefix string, e fs.DirEntry) (string, bool) {
	name := e.Name()
	if ck, err := storage.CleanKey(name); err != nil || ck != name {
		return "", false
	}
	t := e.Type()
	if t&fs.ModeSymlink != 0 {
		fi, err := b.stat(path.Join(prefix, name))
		if err != nil {
			return "", false
		}
		t = fi.Mode().Type()
	}
	switch {
	case t.IsRegular():
		return name, true
	case t.IsDir():
		return name + "/", true
	}
	return "", false
}

type pageEntry struct {
	name string
	e    fs.DirEntry
}

// nameHeap is a max-heap of entries by name: its root is the largest of
// the smallest names kept.
type nameHeap []pageEntry

func (h nameHeap) Len() int           { return len(h) }
func (h nameHeap) Less(i, j int) bool { return h[i].name > h[j].name }
func (h nameHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *nameHeap) Push(x any)        { *h = append(*h, x.(pageEntry)) }
func (h *nameHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
