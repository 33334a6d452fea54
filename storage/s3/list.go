package s3

import (
	"context"
	"fmt"
	"iter"
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
			name, ok := strings.CutPrefix(oi.Key, b.prefix)
			if !ok || name == dir {
				// The directory's own marker object ("a/" when listing "a").
				continue
			}
			isDir := strings.HasSuffix(name, "/")
			key := strings.TrimSuffix(name, "/")
			if clean, err := storage.CleanKey(key); err != nil || clean != key {
				continue
			}
			info := storage.Info{Key: key, Size: -1, IsDir: true}
			if !isDir {
				info = storage.Info{
					Key:     key,
					Size:    oi.Size,
					ModTime: oi.LastModified,
					ETag:    quoteETag(oi.ETag),
				}
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
