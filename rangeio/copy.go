package rangeio

import (
	"errors"
	"io"
	"sync"
)

// copyBufSize is the size of the buffers [CopyAt] takes from its pool:
// large enough that a slow backend sees few, big reads (a block cache in
// front of S3 reads whole blocks anyway), small enough for many concurrent
// responses.
const copyBufSize = 256 << 10

// copyBufs holds *[]byte of copyBufSize bytes; pointers, so that Get and
// Put do not allocate.
var copyBufs = sync.Pool{New: func() any {
	b := make([]byte, copyBufSize)
	return &b
}}

// errNegative reports a negative offset or length given to CopyAt.
var errNegative = errors.New("rangeio: CopyAt: negative offset or length")

// CopyAt copies n bytes starting at offset off of src to w, through a
// pooled 256 KiB buffer, and returns the number of bytes written. It does
// not allocate per call.
//
// If src ends (io.EOF) before n bytes, CopyAt returns
// [io.ErrUnexpectedEOF]: the object is shorter than its announced size and
// the response must be aborted. A write that accepts fewer bytes than given
// without an error yields [io.ErrShortWrite]; a ReadAt that returns no
// bytes and no error yields [io.ErrNoProgress].
//
// CopyAt is the generic path for any [io.ReaderAt]. It deliberately does not
// use w's io.ReaderFrom: behind an io.SectionReader net/http could not use
// sendfile anyway and would copy with 32 KiB reads. Zero-copy for local
// files is the HTTP layer's job: it seeks the *os.File and copies an
// io.LimitedReader over it, which net/http turns into sendfile.
//
// When src is a [RangeWriterTo], CopyAt lets it write the span itself.
// When src is a [RangeReader], CopyAt asks it for the whole span at once
// and copies the stream: for an object store that is one request per
// response instead of one per buffer.
func CopyAt(w io.Writer, src io.ReaderAt, off, n int64) (int64, error) {
	if off < 0 || n < 0 {
		return 0, errNegative
	}
	if n == 0 {
		return 0, nil
	}
	if wt, ok := src.(RangeWriterTo); ok {
		return wt.WriteRangeTo(w, off, n)
	}
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	buf := *bp
	if rr, ok := src.(RangeReader); ok {
		return copyRange(w, rr, off, n, buf)
	}

	var written int64
	for written < n {
		chunk := buf
		if rem := n - written; rem < int64(len(chunk)) {
			chunk = chunk[:rem]
		}
		nr, er := src.ReadAt(chunk, off+written)
		if nr > 0 {
			nw, ew := w.Write(chunk[:nr])
			if nw < 0 || nw > nr {
				nw = 0
				if ew == nil {
					ew = errors.New("rangeio: CopyAt: invalid write result")
				}
			}
			written += int64(nw)
			if ew != nil {
				return written, ew
			}
			if nw != nr {
				return written, io.ErrShortWrite
			}
		}
		if er != nil {
			if er == io.EOF {
				if written == n {
					return written, nil
				}
				return written, io.ErrUnexpectedEOF
			}
			return written, er
		}
		if nr == 0 {
			return written, io.ErrNoProgress
		}
	}
	return written, nil
}

// RangeWriterTo is implemented by readers that hold their bytes in
// memory: WriteRangeTo writes the n bytes at off to w itself, with one
// Write and no copy buffer, and returns what [CopyAt] would. For a small
// HTTP response net/http then sends the header and the first bytes of the
// body in one write(2). storage/local's objects for small files implement
// it.
type RangeWriterTo interface {
	WriteRangeTo(w io.Writer, off, n int64) (int64, error)
}

// RangeReader is implemented by readers for which one stream over a span
// costs less than a series of ReadAt calls: an object store answers a
// span with one ranged GET instead of one per buffer. ReadRange returns
// exactly the n bytes at off: its stream ends with io.EOF after n bytes,
// or fails. storage/s3's objects implement it.
type RangeReader interface {
	ReadRange(off, n int64) (io.ReadCloser, error)
}

// copyRange copies a RangeReader's stream of n bytes at off to w through
// buf. A stream that ends early gives io.ErrUnexpectedEOF.
func copyRange(w io.Writer, rr RangeReader, off, n int64, buf []byte) (int64, error) {
	rc, err := rr.ReadRange(off, n)
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	return copyStream(w, rc, n, buf)
}

// CopyStream copies exactly n bytes of r to w through a pooled buffer, as
// [CopyAt] does for a [RangeReader]'s stream that the caller opened
// itself (to fail with a proper status before writing a header). A stream
// that ends early gives io.ErrUnexpectedEOF; bytes past n are not read.
func CopyStream(w io.Writer, r io.Reader, n int64) (int64, error) {
	if n < 0 {
		return 0, errNegative
	}
	if n == 0 {
		return 0, nil
	}
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	return copyStream(w, r, n, *bp)
}

func copyStream(w io.Writer, r io.Reader, n int64, buf []byte) (int64, error) {
	if sr, ok := r.(*spanStream); ok {
		// The cache's blocks go to w as they are: no copy into buf.
		written, err := sr.writeTo(w, n)
		if err == nil && written < n {
			err = io.ErrUnexpectedEOF
		}
		return written, err
	}
	// Hide w's ReadFrom and r's WriteTo so that the pooled buffer is used.
	written, err := io.CopyBuffer(struct{ io.Writer }{w}, struct{ io.Reader }{io.LimitReader(r, n)}, buf)
	if err == nil && written < n {
		err = io.ErrUnexpectedEOF
	}
	return written, err
}
