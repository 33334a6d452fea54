package s3

import (
	"context"
	"fmt"
	"iter"
	"slices"
	"strings"

	"github.com/minio/minio-go/v7"

	"github.com/rangeserve/rangeserve/storage"
)

// List yields the entries directly under the directory prefix (a cleaned
// key; "" for the root), like a directory listing: objects with their
// size, ETag and modification time, and common prefixes as entries with
// IsDir set and Size -1. Keys are full cleaned keys without the backend's
// Prefix ("a/b.mp4" when listing "a"). The order is the store's, page by
// page: each page's objects in lexical order, then that page's prefixes
// (minio-go yields them so); a caller that needs one sorted list must sort.
// Objects whose names are not clean keys (empty segments, "..") are
// skipped: they could not be opened. ContentType is left empty: listings do
// not carry it.
//
// The listing is fetched page by page (1000 keys per request), so memory
// does not grow with the directory. It stops at the first error, which is
// yielded with a zero Info; a cancelled ctx ends it with ctx's error.
func (b *Backend) List(ctx context.Context, prefix string) iter.Seq2[storage.Info, error] {
	return func(yield func(storage.Info, error) bool) {
		dir := strings.Trim(prefix, "/")
		if clean, err := storage.CleanKey(dir); err != nil || clean != dir {
			yield(storage.Info{}, fmt.Errorf("s3: list %q: %w", prefix, storage.ErrInvalidKey))
			return
		}
		if dir != "" {
			dir += "/"
		}
		noOwner := false
		objs := b.client.ListObjectsIter(ctx, b.bucket, minio.ListObjectsOptions{
			Prefix:       b.prefix + dir,
			Recursive:    false,
			WithMetadata: false,
			FetchOwner:   &noOwner,
		})
		for oi := range objs {
			if oi.Err != nil {
				yield(storage.Info{}, b.translate(ctx, "list", prefix, oi.Err))
				return
			}
			info, ok := b.entry(dir, oi)
			if !ok {
				continue
			}
			if !yield(info, nil) {
				return
			}
		}
		// minio-go's iterator ends silently when ctx is cancelled.
		if err := ctx.Err(); err != nil {
			yield(storage.Info{}, fmt.Errorf("s3: list %q: %w", prefix, err))
		}
	}
}

var _ storage.PageLister = (*Backend)(nil)

// maxKeys is the most keys S3 returns per listing request.
const maxKeys = 1000

// ListPage returns one sorted page of the directory prefix (see
// [storage.PageLister]): the first limit entries whose
// [storage.ListName] is greater than after. It lists from after on
// (StartAfter), asking for pages of limit keys (at most 1000).
//
// S3 returns each page's objects and its common prefixes as two sorted
// lists, which minio-go yields one after the other, so the smallest
// entries are known only once the page that holds the limit-th one has
// been read to its end. As pages hold at most limit keys, ListPage reads
// limit-1 further keys past that one (usually a second request, which
// also tells whether more entries follow), then sorts what it read and
// keeps limit: memory is bounded by two pages. A common prefix that
// StartAfter lets through again (its keys sort after the prefix itself)
// is dropped by the comparison with after.
func (b *Backend) ListPage(ctx context.Context, prefix, after string, limit int) ([]storage.Info, bool, error) {
	if limit <= 0 {
		return nil, false, fmt.Errorf("s3: list page of %q: limit %d is not positive", prefix, limit)
	}
	dir := strings.Trim(prefix, "/")
	if clean, err := storage.CleanKey(dir); err != nil || clean != dir {
		return nil, false, fmt.Errorf("s3: list %q: %w", prefix, storage.ErrInvalidKey)
	}
	if dir != "" {
		dir += "/"
	}
	page := min(limit, maxKeys)
	opts := minio.ListObjectsOptions{Prefix: b.prefix + dir, MaxKeys: page}
	noOwner := false
	opts.FetchOwner = &noOwner
	if after != "" {
		opts.StartAfter = b.prefix + dir + after
	}
	var (
		out   []storage.Info
		extra = -1 // raw keys still to read once limit entries are in
		ended = true
	)
	for oi := range b.client.ListObjectsIter(ctx, b.bucket, opts) {
		if oi.Err != nil {
			return nil, false, b.translate(ctx, "list", prefix, oi.Err)
		}
		if extra == 0 {
			ended = false
			break
		}
		if extra > 0 {
			extra--
		}
		info, ok := b.entry(dir, oi)
		if ok && storage.ListName(info) > after {
			out = append(out, info)
			if len(out) == limit && extra < 0 {
				extra = page - 1
			}
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, false, fmt.Errorf("s3: list %q: %w", prefix, err)
	}
	slices.SortFunc(out, func(a, b storage.Info) int {
		return strings.Compare(storage.ListName(a), storage.ListName(b))
	})
	more := len(out) > limit || !ended
	if len(out) > limit {
		out = out[:limit]
	}
	return out, more, nil
}

// entry describes one key or common prefix of a listing of dir (with its
// trailing slash), or reports false for the directory's own marker object
// and names that are not clean keys.
func (b *Backend) entry(dir string, oi minio.ObjectInfo) (storage.Info, bool) {
	name, ok := strings.CutPrefix(oi.Key, b.prefix)
	if !ok || name == dir {
		return storage.Info{}, false
	}
	isDir := strings.HasSuffix(name, "/")
	key := strings.TrimSuffix(name, "/")
	if clean, err := storage.CleanKey(key); err != nil || clean != key {
		return storage.Info{}, false
	}
	if isDir {
		return storage.Info{Key: key, Size: -1, IsDir: true}, true
	}
	return storage.Info{Key: key, Size: oi.Size, ModTime: oi.LastModified, ETag: quoteETag(oi.ETag)}, true
}
