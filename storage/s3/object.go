package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/rangeserve/rangeserve/rangeio"
	"github.com/rangeserve/rangeserve/storage"
)

// Object is one version of an S3 object, returned by [Backend.Open]. It
// holds no connection: every ReadAt that reaches the store is one ranged
// GET of exactly the bytes asked for (clipped to the object's size),
// conditional on the ETag seen at Open, so the bytes always belong to the
// version [Object.Info] describes. ReadAt may be called concurrently; calls
// run in parallel, each on its own connection.
type Object struct {
	b    *Backend
	ctx  context.Context // from Open: cancels every backend request
	key  string          // cleaned key, for errors
	name string          // object name in the bucket (prefix + key)
	info storage.Info
	etag string      // info.ETag without quotes, for If-Match
	r    io.ReaderAt // rawReader, or the cache wrapping it
	// crc is the full-object CRC-32 Open's HEAD reported, when hasCRC.
	crc    uint32
	hasCRC bool

	closed atomic.Bool
}

// Info returns what Open's HEAD request reported, with the ETag quoted.
func (o *Object) Info() storage.Info { return o.info }

// StoredCRC32 returns the CRC-32 (IEEE) of the object's bytes that the
// store keeps, as Open's HEAD reported it: objects uploaded with a
// full-object CRC32 checksum have one (a single PUT, or a multipart
// upload with checksum type FULL_OBJECT). ok is false for objects
// uploaded without, with another algorithm, or with a composite multipart
// checksum (a CRC of the parts' CRCs). It costs no request, and it
// describes the version [Object.Info] does: both come from the same HEAD
// (or the same stat cache entry). It implements zipstream.StoredCRC32,
// which lets a folder archive skip reading the object to compute it.
func (o *Object) StoredCRC32() (crc uint32, ok bool) { return o.crc, o.hasCRC }

// Close marks the object closed; later ReadAt calls fail with
// fs.ErrClosed. It also closes the cache's reader, if it has a Close
// method (the block cache's stops its read-ahead). The object holds no
// connection, so Close never fails and may be called more than once.
func (o *Object) Close() error {
	if o.closed.Swap(true) {
		return nil
	}
	if c, ok := o.r.(io.Closer); ok {
		_ = c.Close()
	}
	return nil
}

// ReadAt reads len(p) bytes at off, following the io.ReaderAt contract: a
// read that reaches the end of the object returns the bytes there with
// io.EOF, and a read at or past the end returns 0, io.EOF without a
// request. Through a cache (see [Options].Cache) the backend reads whole
// blocks instead. Errors satisfy the errors.Is tests described in the
// package documentation; a version replaced since Open gives [ErrChanged],
// never bytes of the new version.
func (o *Object) ReadAt(p []byte, off int64) (int, error) {
	if o.closed.Load() {
		return 0, fmt.Errorf("s3: read %q: %w", o.key, fs.ErrClosed)
	}
	return o.r.ReadAt(p, off)
}

// rawReader is the uncached io.ReaderAt of an Object.
type rawReader struct{ o *Object }

func (r rawReader) ReadAt(p []byte, off int64) (int, error) { return r.o.readAt(p, off) }

// ReadRange is one GET of [off, off+n), for the block cache's runs of
// missing blocks (see rangeio.RangeReader).
func (r rawReader) ReadRange(off, n int64) (io.ReadCloser, error) {
	if r.o.closed.Load() {
		return nil, fmt.Errorf("s3: read %q: %w", r.o.key, fs.ErrClosed)
	}
	if off < 0 || n <= 0 || off > r.o.info.Size-n {
		return nil, fmt.Errorf("s3: read %q: span %d+%d is outside the object's %d bytes", r.o.key, off, n, r.o.info.Size)
	}
	return r.o.rawRange(off, n)
}

// get sends the ranged GET of [off, off+n), pinned to the opened ETag with
// If-Match, and checks that the answer is exactly that span of that
// version: a store that ignores If-Match or Range would otherwise hand us
// other bytes that we would serve as these. translate maps the error of a
// request that failed. A version found replaced drops the backend's
// remembered metadata, so that the next Open sees the new one.
func (o *Object) get(ctx context.Context, off, n int64, translate func(error) error) (io.ReadCloser, error) {
	body, err := o.getChecked(ctx, off, n, translate)
	if errors.Is(err, ErrChanged) {
		o.b.stats.drop(o.name, o.info.ETag)
	}
	return body, err
}

func (o *Object) getChecked(ctx context.Context, off, n int64, translate func(error) error) (io.ReadCloser, error) {
	var opts minio.GetObjectOptions
	err := opts.SetRange(off, off+n-1)
	if err == nil && o.etag != "" {
		err = opts.SetMatchETag(o.etag)
	}
	if err != nil {
		return nil, fmt.Errorf("s3: read %q at %d: %w", o.key, off, err)
	}
	body, oi, hdr, err := o.b.core.GetObject(ctx, o.b.bucket, o.name, opts)
	if err != nil {
		return nil, translate(err)
	}
	if got := strings.Trim(oi.ETag, `"`); o.etag != "" && got != "" && got != o.etag {
		err = fmt.Errorf("s3: read %q: ETag %q, opened %q: %w", o.key, got, o.etag, ErrChanged)
	} else {
		err = o.checkContentRange(hdr.Get("Content-Range"), off, n)
	}
	if err != nil {
		body.Close()
		return nil, err
	}
	return body, nil
}

func (o *Object) readAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("s3: read %q: negative offset %d", o.key, off)
	}
	size := o.info.Size
	if off >= size {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	n := int64(len(p))
	var atEOF error
	if rest := size - off; n >= rest {
		n, atEOF = rest, io.EOF
	}

	ctx, cancel := context.WithTimeout(o.ctx, o.b.timeout)
	defer cancel()
	body, err := o.get(ctx, off, n, func(err error) error { return o.b.translate(ctx, "read", o.key, err) })
	if err != nil {
		return 0, err
	}
	defer body.Close()

	m, err := io.ReadFull(body, p[:n])
	if err != nil {
		if err == io.ErrUnexpectedEOF || err == io.EOF {
			if ctx.Err() == nil {
				return m, fmt.Errorf("s3: read %q at %d: %s sent %d of %d bytes: %w",
					o.key, off, o.b.where, m, n, storage.ErrUnavailable)
			}
		}
		return m, o.b.translate(ctx, "read", o.key, err)
	}
	return m, atEOF
}

// ReadRange returns the n bytes at off as one stream: one ranged GET,
// conditional on the opened ETag, instead of one GET per ReadAt buffer
// (see rangeio.RangeReader, which [rangeio.CopyAt] uses). The request is
// bounded by the Open context and by the backend timeout while no byte
// arrives, not by a total time: a long span streams as long as it flows.
// Through a cache (see [Options].Cache) the stream is the cache's when it
// implements rangeio.RangeReader ([rangeio.Cache] does: resident blocks
// from memory, each run of missing ones one GET), else a series of
// cached ReadAt calls.
func (o *Object) ReadRange(off, n int64) (io.ReadCloser, error) {
	if o.closed.Load() {
		return nil, fmt.Errorf("s3: read %q: %w", o.key, fs.ErrClosed)
	}
	if off < 0 || n < 0 || off > o.info.Size-n {
		return nil, fmt.Errorf("s3: read %q: span %d+%d is outside the object's %d bytes", o.key, off, n, o.info.Size)
	}
	_, raw := o.r.(rawReader)
	switch rr, ok := o.r.(rangeio.RangeReader); {
	case n == 0:
		return io.NopCloser(io.NewSectionReader(o, off, n)), nil
	case !raw && ok:
		// The block cache's stream: blocks from memory, runs of missing
		// ones with one GET each (this object's rawReader.ReadRange).
		return rr.ReadRange(off, n)
	case !raw:
		return io.NopCloser(io.NewSectionReader(o, off, n)), nil
	}
	return o.rawRange(off, n)
}

// rawRange is ReadRange's one GET of exactly [off, off+n).
func (o *Object) rawRange(off, n int64) (io.ReadCloser, error) {
	ctx, cancel := context.WithCancel(o.ctx)
	body := &rangeBody{o: o, ctx: ctx, cancel: cancel, off: off, left: n}
	body.idle = time.AfterFunc(o.b.timeout, body.stall)
	rc, err := o.get(ctx, off, n, body.translate)
	if err != nil {
		body.Close()
		return nil, err
	}
	body.body = rc
	return body, nil
}

// rangeBody is the stream of one ranged GET. It yields exactly left
// bytes or an error that satisfies the package's errors.Is tests.
type rangeBody struct {
	o      *Object
	ctx    context.Context
	cancel context.CancelFunc
	idle   *time.Timer // cancels the request when the store stalls
	body   io.ReadCloser
	off    int64 // offset of the next byte, for errors
	left   int64
	stuck  atomic.Bool // idle fired
}

func (r *rangeBody) stall() {
	r.stuck.Store(true)
	r.cancel()
}

func (r *rangeBody) Read(p []byte) (int, error) {
	if r.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > r.left {
		p = p[:r.left]
	}
	n, err := r.body.Read(p)
	r.left -= int64(n)
	r.off += int64(n)
	if n > 0 {
		r.idle.Reset(r.o.b.timeout)
	}
	switch {
	case r.left == 0:
		return n, io.EOF
	case err == io.EOF:
		if r.ctx.Err() == nil {
			return n, fmt.Errorf("s3: read %q at %d: %s ended the response %d bytes early: %w",
				r.o.key, r.off, r.o.b.where, r.left, storage.ErrUnavailable)
		}
		return n, r.translate(err)
	case err != nil:
		return n, r.translate(err)
	}
	return n, nil
}

// translate is Backend.translate, knowing that a cancellation by the idle
// timer is the store's fault, not the client's.
func (r *rangeBody) translate(err error) error {
	if r.stuck.Load() {
		return fmt.Errorf("s3: read %q at %d: %s sent nothing for %s: %w: %w",
			r.o.key, r.off, r.o.b.where, r.o.b.timeout, storage.ErrUnavailable, context.DeadlineExceeded)
	}
	return r.o.b.translate(r.ctx, "read", r.o.key, err)
}

// Close ends the request; the connection is not reused when the body was
// not read to its end.
func (r *rangeBody) Close() error {
	r.idle.Stop()
	r.cancel()
	if r.body != nil {
		r.body.Close()
	}
	return nil
}

// checkContentRange verifies that the response covers [off, off+n) of an
// object of the opened size.
func (o *Object) checkContentRange(cr string, off, n int64) error {
	size := o.info.Size
	if cr == "" {
		// A 200 with the whole object is the right answer only when the
		// whole object was asked for.
		if off == 0 && n == size {
			return nil
		}
		return fmt.Errorf("s3: read %q: %s ignored the Range header: %w", o.key, o.b.where, storage.ErrUnavailable)
	}
	want := "bytes " + strconv.FormatInt(off, 10) + "-" + strconv.FormatInt(off+n-1, 10) + "/"
	rest, ok := strings.CutPrefix(cr, want)
	if !ok {
		return fmt.Errorf("s3: read %q: asked for bytes %d-%d, got Content-Range %q from %s: %w",
			o.key, off, off+n-1, cr, o.b.where, storage.ErrUnavailable)
	}
	if total, err := strconv.ParseInt(rest, 10, 64); err != nil || total != size {
		return fmt.Errorf("s3: read %q: size is now %s, opened with %d: %w", o.key, rest, size, ErrChanged)
	}
	return nil
}

var (
	_ storage.Object      = (*Object)(nil)
	_ rangeio.RangeReader = (*Object)(nil)
	_ rangeio.RangeReader = rawReader{}
)
