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
func CopyAt(w io.Writer, src io.ReaderAt, off, n int64) (int64, error) {
	if off < 0 || n < 0 {
		return 0, errNegative
	}
	if n == 0 {
		return 0, nil
	}
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	buf := *bp

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
