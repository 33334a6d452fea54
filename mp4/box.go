package mp4

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
)

// ErrUnchanged is matched (errors.Is) by every error of [Plan] that means
// "serve the file as stored": [ErrFaststart], errors wrapping
// [ErrUnsupported], and [*FormatError].
var ErrUnchanged = errors.New("mp4: serve unchanged")

// ErrFaststart reports that the source needs no rewrite: its moov box
// comes before any mdat box (or there is no mdat at all).
var ErrFaststart = fmt.Errorf("%w: moov already precedes the media data", ErrUnchanged)

// ErrUnsupported is wrapped by the errors of [Plan] for well-formed files
// that this package does not rewrite: fragmented files, a moov over
// [Options.MaxMoovSize], compressed movie headers, media data in other
// files, offsets other than chunk offsets (saio, iloc), and the like. The
// error text names the reason.
var ErrUnsupported = fmt.Errorf("%w: layout not supported", ErrUnchanged)

// A FormatError reports that the input is not a well-formed ISO base
// media file. It matches [ErrUnchanged].
type FormatError struct {
	Off int64  // offset in the source of the box at fault
	Msg string // what is wrong
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("mp4: invalid file at offset %d: %s", e.Off, e.Msg)
}

// Is reports whether target is [ErrUnchanged].
func (e *FormatError) Is(target error) bool { return target == ErrUnchanged }

func formatErr(off int64, format string, args ...any) error {
	return &FormatError{Off: off, Msg: fmt.Sprintf(format, args...)}
}

func unsupported(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrUnsupported, fmt.Sprintf(format, args...))
}

// boxType is a four-character code.
type boxType [4]byte

func (t boxType) String() string { return fmt.Sprintf("%q", string(t[:])) }

func bt(s string) boxType { return boxType([]byte(s)) }

// header is a box header: the box spans [off, off+size) and its payload
// starts at off+hlen.
type header struct {
	typ   boxType
	off   int64 // where the box starts
	hlen  int64 // 8, or 16 with a 64-bit largesize
	size  int64 // the whole box, header included; resolved when toEnd
	toEnd bool  // the size field was 0: the box extends to the end of its parent
}

func (h header) end() int64 { return h.off + h.size }

// parseHeader decodes the box header at the start of b, which holds the
// bytes from off up to at most end (the end of the parent or of the file).
// b must hold at least 8 bytes, or 16 when the box uses a largesize.
func parseHeader(b []byte, off, end int64) (header, error) {
	if end-off < 8 || len(b) < 8 {
		return header{}, formatErr(off, "%d bytes left, too few for a box header", end-off)
	}
	h := header{off: off, hlen: 8}
	copy(h.typ[:], b[4:8])
	switch size := binary.BigEndian.Uint32(b); size {
	case 0:
		h.toEnd = true
		h.size = end - off
	case 1:
		if end-off < 16 || len(b) < 16 {
			return header{}, formatErr(off, "box %v: truncated largesize", h.typ)
		}
		h.hlen = 16
		large := binary.BigEndian.Uint64(b[8:])
		if large > math.MaxInt64 {
			return header{}, formatErr(off, "box %v: largesize %d out of range", h.typ, large)
		}
		h.size = int64(large)
	default:
		h.size = int64(size)
	}
	if h.size < h.hlen {
		return header{}, formatErr(off, "box %v: size %d smaller than its header", h.typ, h.size)
	}
	if h.size > end-off {
		return header{}, formatErr(off, "box %v: size %d runs past the end of its parent (%d bytes left)", h.typ, h.size, end-off)
	}
	return h, nil
}

// readFull reads len(p) bytes at off, accepting io.EOF along with a full
// read as io.ReaderAt allows.
func readFull(r io.ReaderAt, p []byte, off int64) error {
	n, err := r.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// readChunk is the step in which readData grows its buffer, so that a
// claimed length is only allocated as the bytes actually arrive.
const readChunk = 1 << 20

// readData reads n bytes at off, growing the buffer in steps of readChunk
// (like the standard library's internal/saferio).
func readData(r io.ReaderAt, off, n int64) ([]byte, error) {
	if n <= readChunk {
		buf := make([]byte, n)
		if err := readFull(r, buf, off); err != nil {
			return nil, err
		}
		return buf, nil
	}
	var buf []byte
	for done := int64(0); done < n; {
		step := min(n-done, readChunk)
		buf = append(buf, make([]byte, step)...)
		if err := readFull(r, buf[done:done+step], off+done); err != nil {
			return nil, err
		}
		done += step
	}
	return buf, nil
}
