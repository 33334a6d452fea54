package local

import (
	"context"
	"io/fs"
	"os"

	"github.com/rangeserve/rangeserve/storage"
)

// object is an opened regular file.
type object struct {
	ctx  context.Context
	f    *os.File
	info storage.Info
}

var (
	_ storage.Object = (*object)(nil)
	_ storage.Filer  = (*object)(nil)
)

// ReadAt reads with pread(2); it may be called concurrently. It fails once
// the context given to Open is done.
func (o *object) ReadAt(p []byte, off int64) (int, error) {
	if err := o.ctx.Err(); err != nil {
		return 0, err
	}
	return o.f.ReadAt(p, off)
}

// Close closes the file.
func (o *object) Close() error { return o.f.Close() }

// Info describes the opened version of the file.
func (o *object) Info() storage.Info { return o.info }

// File returns the opened file, for sendfile(2). It stays owned by the
// object: callers must not close it. Its file offset is shared, so one
// goroutine at a time may Seek and Read it (as a sendfile copy does);
// ReadAt does not use the offset.
func (o *object) File() *os.File { return o.f }

// fileInfo describes a regular file.
func fileInfo(key string, fi fs.FileInfo) storage.Info {
	return storage.Info{
		Key:     key,
		Size:    fi.Size(),
		ModTime: fi.ModTime(),
		ETag:    etag(fi),
	}
}

// dirInfo describes a directory. Its size is 0 and it has no ETag.
func dirInfo(key string, fi fs.FileInfo) storage.Info {
	return storage.Info{Key: key, ModTime: fi.ModTime(), IsDir: true}
}
