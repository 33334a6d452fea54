package media_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rangeserve/rangeserve/storage"
)

// entry is one object of a memBackend.
type entry struct {
	data        []byte
	etag        string
	mod         time.Time
	ctype       string
	size        int64 // if nonzero, overrides len(data) in Info (-1: unknown)
	isDir       bool
	openErr     error // returned by Open and Stat
	panicOnRead bool  // any ReadAt panics: proves a response never read data
	failAfter   int64 // if > 0, ReadAt fails for bytes at or past this offset
	failErr     error // the error failAfter returns (default errDisk)
	stream      bool  // the object is also an io.Reader (for size -1)
}

var errDisk = errors.New("fake: disk on fire at /secret/path")

// memBackend is an in-memory storage.Backend: a map of key to entry. It
// counts ReadAt calls and bytes read.
type memBackend struct {
	mu      sync.Mutex
	objects map[string]*entry
	reads   atomic.Int64
	bytes   atomic.Int64
}

func newMem() *memBackend { return &memBackend{objects: map[string]*entry{}} }

func (b *memBackend) put(key string, e *entry) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.objects[key] = e
}

func (b *memBackend) get(key string) (*entry, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	e, ok := b.objects[key]
	if !ok {
		return nil, fmt.Errorf("fake: %q: %w", key, storage.ErrNotExist)
	}
	if e.openErr != nil {
		return nil, e.openErr
	}
	return e, nil
}

func (e *entry) info(key string) storage.Info {
	size := int64(len(e.data))
	if e.size != 0 {
		size = e.size
	}
	return storage.Info{Key: key, Size: size, ModTime: e.mod, ETag: e.etag, ContentType: e.ctype, IsDir: e.isDir}
}

func (b *memBackend) Open(ctx context.Context, key string) (storage.Object, error) {
	e, err := b.get(key)
	if err != nil {
		return nil, err
	}
	if e.isDir {
		return nil, fmt.Errorf("fake: %q: %w", key, storage.ErrIsDir)
	}
	o := &memObject{b: b, e: e, info: e.info(key)}
	if e.stream {
		return &streamObject{memObject: o}, nil
	}
	return o, nil
}

func (b *memBackend) Stat(ctx context.Context, key string) (storage.Info, error) {
	e, err := b.get(key)
	if err != nil {
		return storage.Info{}, err
	}
	return e.info(key), nil
}

type memObject struct {
	b    *memBackend
	e    *entry
	info storage.Info
}

func (o *memObject) Info() storage.Info { return o.info }
func (o *memObject) Close() error       { return nil }

func (o *memObject) ReadAt(p []byte, off int64) (int, error) {
	if o.e.panicOnRead {
		panic(fmt.Sprintf("fake: ReadAt(len %d, off %d) of a panicOnRead object", len(p), off))
	}
	o.b.reads.Add(1)
	if off < 0 {
		return 0, errors.New("fake: negative offset")
	}
	data := o.e.data
	if o.e.failAfter > 0 && off+int64(len(p)) > o.e.failAfter {
		n := 0
		if off < o.e.failAfter {
			n = copy(p, data[off:o.e.failAfter])
		}
		o.b.bytes.Add(int64(n))
		err := o.e.failErr
		if err == nil {
			err = errDisk
		}
		return n, err
	}
	if off >= int64(len(data)) {
		return 0, io.EOF
	}
	n := copy(p, data[off:])
	o.b.bytes.Add(int64(n))
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// streamObject is an object of unknown size that can be read in order.
type streamObject struct {
	*memObject
	pos int64
}

func (s *streamObject) Read(p []byte) (int, error) {
	n, err := s.ReadAt(p, s.pos)
	s.pos += int64(n)
	return n, err
}

// fileBackend serves files of a directory as objects implementing
// storage.Filer, without storage/local (to test the sendfile path on its
// own).
type fileBackend struct{ dir string }

func (b fileBackend) Open(ctx context.Context, key string) (storage.Object, error) {
	f, err := os.Open(b.dir + "/" + key)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &fileObject{f: f, info: storage.Info{Key: key, Size: fi.Size(), ModTime: fi.ModTime(), ETag: `"f1"`}}, nil
}

func (b fileBackend) Stat(ctx context.Context, key string) (storage.Info, error) {
	o, err := b.Open(ctx, key)
	if err != nil {
		return storage.Info{}, err
	}
	defer o.Close()
	return o.Info(), nil
}

type fileObject struct {
	f    *os.File
	info storage.Info
}

func (o *fileObject) ReadAt(p []byte, off int64) (int, error) { return o.f.ReadAt(p, off) }
func (o *fileObject) Close() error                            { return o.f.Close() }
func (o *fileObject) Info() storage.Info                      { return o.info }
func (o *fileObject) File() *os.File                          { return o.f }

// delegatingBackend adds Pather and Presigner to a memBackend.
type delegatingBackend struct {
	*memBackend
	presignErr error
	gotTTL     time.Duration
	gotParams  url.Values
}

func (b *delegatingBackend) Path(key string) (string, error) {
	return "/srv/media/" + key, nil
}

func (b *delegatingBackend) PresignGet(ctx context.Context, key string, ttl time.Duration, params url.Values) (*url.URL, error) {
	if b.presignErr != nil {
		return nil, b.presignErr
	}
	b.gotTTL, b.gotParams = ttl, params
	u := &url.URL{Scheme: "https", Host: "bucket.s3.example", Path: "/" + key}
	q := url.Values{"X-Amz-Expires": {fmt.Sprint(int(ttl.Seconds()))}}
	for k, v := range params {
		q[k] = v
	}
	u.RawQuery = q.Encode()
	return u, nil
}

// timeoutErr is a net.Error that timed out.
type timeoutErr struct{}

func (timeoutErr) Error() string   { return "fake: i/o timeout talking to 10.0.0.7" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

var (
	_ storage.Backend   = (*memBackend)(nil)
	_ storage.Backend   = fileBackend{}
	_ storage.Filer     = (*fileObject)(nil)
	_ storage.Pather    = (*delegatingBackend)(nil)
	_ storage.Presigner = (*delegatingBackend)(nil)
	_ io.Reader         = (*streamObject)(nil)
)
