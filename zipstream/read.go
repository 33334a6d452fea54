package zipstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
)

// Opener opens an archive's entries for reading.
type Opener interface {
	// Open opens the file entry e (e.Name as listed, e.Size and e.ETag the
	// version the archive was built from). The returned File describes
	// the version it reads; if that is not e's, the archive fails with
	// [ErrChanged].
	Open(ctx context.Context, e Entry) (File, error)
}

// OpenerFunc adapts a function to [Opener].
type OpenerFunc func(ctx context.Context, e Entry) (File, error)

// Open calls f.
func (f OpenerFunc) Open(ctx context.Context, e Entry) (File, error) { return f(ctx, e) }

// File is one opened entry: the version it reads and its bytes.
// ReadAt is called from one goroutine at a time.
//
// A File may also offer, found by type assertion:
// ReadRange(off, n int64) (io.ReadCloser, error), one stream per span
// (rangeio.RangeReader's shape, as storage/s3 objects have it);
// File() *os.File (storage.Filer's shape), a local file whose bytes are
// sent with sendfile(2) when the writer is an HTTP response and the
// CRC-32 is already known (the archive then moves the file's offset);
// [StoredCRC32]; and [Checker], called after every span of data read.
type File interface {
	io.ReaderAt
	io.Closer
	// Size returns the length of the version opened.
	Size() int64
	// ETag returns the ETag of the version opened, "" if none.
	ETag() string
}

// StoredCRC32 is implemented by files whose backend stored the CRC-32
// (IEEE) of the whole content, such as an object uploaded with an S3
// CRC32 full-object checksum. The archive then uses it instead of reading
// the file to compute it.
type StoredCRC32 interface {
	StoredCRC32() (crc uint32, ok bool)
}

// Checker is implemented by files that can tell whether their content
// changed while it was read (a local file modified in place keeps its
// open descriptor). Check is called after the file's bytes were read and
// before a CRC-32 computed from them is used; it returns an error
// (matching [ErrChanged] when the file changed) to fail the archive.
type Checker interface {
	Check() error
}

// ErrChanged reports an entry whose version is no longer the one the
// archive was built from: the bytes produced so far belong to another
// archive, and the response carrying them must be aborted.
var ErrChanged = errors.New("zipstream: entry changed since the archive was listed")

// copyBufSize is the size of the buffer a range is produced through.
const copyBufSize = 256 << 10

var copyBufs = sync.Pool{New: func() any {
	b := make([]byte, copyBufSize)
	return &b
}}

// Reader produces the bytes of an [Archive], reading the entries through
// an [Opener]. It implements io.ReaderAt (each call produces its span
// anew: use it for small reads) and ReadRange, the one-stream-per-span
// shape of rangeio.RangeReader. Its methods are safe for concurrent use.
type Reader struct {
	a    *Archive
	ctx  context.Context
	open Opener
	sums *Sums

	localOnce sync.Once
	local     *Sums // for entries sums cannot share
}

// Reader returns a Reader of a's bytes whose reads are bounded by ctx:
// entries are opened with o, CRC-32s shared through sums (nil: kept in
// this Archive only).
func (a *Archive) Reader(ctx context.Context, o Opener, sums *Sums) *Reader {
	return &Reader{a: a, ctx: ctx, open: o, sums: sums}
}

// Size returns the archive's length.
func (r *Reader) Size() int64 { return r.a.size }

// ReadAt reads len(p) bytes at off, as io.ReaderAt.
func (r *Reader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("zipstream: negative offset")
	}
	if off >= r.a.size {
		return 0, io.EOF
	}
	n := min(int64(len(p)), r.a.size-off)
	w := sliceWriter{p: p[:0:n]}
	err := r.WriteRange(&w, off, n)
	if err == nil && n < int64(len(p)) {
		err = io.EOF
	}
	return len(w.p), err
}

type sliceWriter struct{ p []byte }

func (w *sliceWriter) Write(b []byte) (int, error) {
	if len(b) > cap(w.p)-len(w.p) {
		return 0, io.ErrShortWrite
	}
	w.p = append(w.p, b...)
	return len(b), nil
}

// ReadRange returns the n bytes at off as one stream, produced by a
// goroutine that ends when the stream is read to its end or closed.
func (r *Reader) ReadRange(off, n int64) (io.ReadCloser, error) {
	if off < 0 || n < 0 || off > r.a.size || n > r.a.size-off {
		return nil, fmt.Errorf("zipstream: range %d+%d outside an archive of %d bytes", off, n, r.a.size)
	}
	pr, pw := io.Pipe()
	go func() {
		pw.CloseWithError(r.WriteRange(pw, off, n))
	}()
	return pr, nil
}

// WriteRange writes the n bytes of the archive at off to w. It fails with
// an error matching [ErrChanged] when an entry it reads is not the
// version listed; w has then received only bytes of the listed archive,
// but not all of them.
func (r *Reader) WriteRange(w io.Writer, off, n int64) error {
	a := r.a
	if off < 0 || n < 0 || off > a.size || n > a.size-off {
		return fmt.Errorf("zipstream: range %d+%d outside an archive of %d bytes", off, n, a.size)
	}
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	p := &producer{r: r, w: w, pos: off, end: off + n, buf: *bp}
	for i := a.find(off); i < len(a.recs) && p.pos < p.end; i++ {
		if err := p.entry(i); err != nil {
			return err
		}
	}
	if p.pos < p.end && p.pos < a.cdOff+a.cdSize {
		if err := p.central(); err != nil {
			return err
		}
	}
	if p.pos < p.end {
		p.scratch = a.appendEnd(p.scratch[:0])
		return p.emit(p.scratch, a.cdOff+a.cdSize)
	}
	return nil
}

// producer writes the span [pos, end) of an archive.
type producer struct {
	r        *Reader
	w        io.Writer
	pos, end int64
	buf      []byte
	scratch  []byte
}

// emit writes the part of b, the archive's bytes at [at, at+len(b)), that
// falls in [pos, end). at must not be past pos.
func (p *producer) emit(b []byte, at int64) error {
	if at > p.pos {
		return fmt.Errorf("zipstream: internal error: record at %d after position %d", at, p.pos)
	}
	from := p.pos - at
	if from >= int64(len(b)) {
		return nil
	}
	to := min(int64(len(b)), p.end-at)
	nw, err := p.w.Write(b[from:to])
	p.pos += int64(nw)
	if err == nil && int64(nw) < to-from {
		err = io.ErrShortWrite
	}
	return err
}

// entry writes the part of entry i in [pos, end).
func (p *producer) entry(i int) error {
	a := p.a()
	r := &a.recs[i]
	data := r.off + a.localLen(i)
	desc := data + r.size
	if p.pos < data {
		p.scratch = a.appendLocal(p.scratch[:0], i)
		if err := p.emit(p.scratch, r.off); err != nil {
			return err
		}
	}
	if p.pos >= p.end || r.flags&fDir != 0 {
		return nil
	}
	if p.pos < desc {
		if err := p.data(i, p.pos-data, min(p.end, desc)-data); err != nil {
			return err
		}
	}
	if p.pos < p.end {
		crc, err := p.r.crc(i)
		if err != nil {
			return err
		}
		p.scratch = a.appendDescriptor(p.scratch[:0], i, crc)
		return p.emit(p.scratch, desc)
	}
	return nil
}

func (p *producer) a() *Archive { return p.r.a }

// data writes bytes [from, to) of file entry i. When its CRC-32 is not
// known yet, the bytes are hashed on the way and recorded as a piece of
// it (see [Sums]); otherwise a local file is sent with sendfile.
func (p *producer) data(i int, from, to int64) error {
	r := p.r
	f, err := r.openEntry(i)
	if err != nil {
		return err
	}
	defer f.Close()
	rec := &r.a.recs[i]
	var sp *span
	if _, known := r.known(i); known {
		if err := p.sendFile(f, from, to-from); err != errNoSendfile {
			if err == nil {
				err = check(f)
			}
			if err != nil {
				return r.entryErr(i, err)
			}
			return nil
		}
	} else {
		sums, key := r.sumsFor(i)
		sp = sums.begin(key, from, to)
	}
	var werr error
	err = readSpan(r.ctx, f, from, to-from, p.buf, func(b []byte) error {
		if sp != nil {
			sp.advance(b)
		}
		nw, err := p.w.Write(b)
		p.pos += int64(nw)
		if err == nil && nw < len(b) {
			err = io.ErrShortWrite
		}
		werr = err
		return err
	})
	// The bytes read are the listed version's unless reading failed or
	// the file reports a change; a failed write (the client left) leaves
	// what was hashed valid.
	valid := werr != nil || err == nil
	if werr == nil && err != nil {
		err = r.entryErr(i, err)
	}
	if valid {
		if cerr := check(f); cerr != nil {
			valid = false
			if err == nil {
				err = r.entryErr(i, cerr)
			}
		}
	}
	if sp != nil {
		if !valid {
			sp.abandon()
		} else if crc, done := sp.finish(rec.size); done {
			r.learn(i, crc)
		}
	}
	return err
}

// errNoSendfile reports that sendFile cannot be used.
var errNoSendfile = errors.New("zipstream: no sendfile")

// osFiler is the shape of storage.Filer: an entry backed by a local file.
type osFiler interface {
	File() *os.File
}

// sendFile copies n bytes at off of f's local file to w, through w's
// io.ReaderFrom: net/http's response writer turns that into sendfile(2).
// It returns errNoSendfile, having written nothing, when f has no local
// file or w no ReadFrom.
func (p *producer) sendFile(f File, off, n int64) error {
	fl, ok := f.(osFiler)
	if !ok {
		return errNoSendfile
	}
	rf, ok := p.w.(io.ReaderFrom)
	osf := fl.File()
	if !ok || osf == nil {
		return errNoSendfile
	}
	if _, err := osf.Seek(off, io.SeekStart); err != nil {
		return err
	}
	nw, err := rf.ReadFrom(&io.LimitedReader{R: osf, N: n})
	p.pos += nw
	if err == nil && nw < n {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// central writes the part of the central directory in [pos, end),
// records gathered into writes of about 64 KiB.
func (p *producer) central() error {
	a := p.a()
	at := a.cdOff
	batch, batchAt := p.buf[:0], int64(-1)
	for i := range a.recs {
		l := a.centralLen(i)
		if at+l <= p.pos {
			at += l
			continue
		}
		if at >= p.end {
			break
		}
		crc, err := p.r.crc(i)
		if err != nil {
			return err
		}
		if batchAt < 0 {
			batchAt = at
		}
		batch = a.appendCentral(batch, i, crc)
		at += l
		if len(batch) >= 64<<10 {
			if err := p.emit(batch, batchAt); err != nil {
				return err
			}
			batch, batchAt = p.buf[:0], -1
		}
	}
	if batchAt < 0 {
		return nil
	}
	return p.emit(batch, batchAt)
}

// known returns entry i's CRC-32 if this archive or the shared cache
// knows it.
func (r *Reader) known(i int) (uint32, bool) {
	rec := &r.a.recs[i]
	if rec.flags&fDir != 0 || rec.size == 0 {
		return 0, true
	}
	if v := rec.sum.Load(); v != 0 {
		return uint32(v), true
	}
	sums, key := r.sumsFor(i)
	if crc, ok := sums.get(key); ok {
		rec.sum.Store(1<<32 | uint64(crc))
		return crc, true
	}
	return 0, false
}

// sumsFor returns where entry i's CRC-32 is learnt: the shared Sums under
// its version's key, or, for an entry without a strong ETag (or no shared
// Sums), this Reader's own under the entry's index.
func (r *Reader) sumsFor(i int) (*Sums, string) {
	rec := &r.a.recs[i]
	if key := sumKey(r.a.etagOf(i), rec.size); key != "" && r.sums != nil {
		return r.sums, key
	}
	r.localOnce.Do(func() { r.local = NewSums(localSums) })
	return r.local, "#" + strconv.Itoa(i)
}

// localSums is the capacity of a Reader's own Sums.
const localSums = 1024

// learn records entry i's CRC-32 in the archive.
func (r *Reader) learn(i int, crc uint32) {
	r.a.recs[i].sum.Store(1<<32 | uint64(crc))
}

// storedCRC carries a CRC-32 the backend stored out of Sums.whole.
type storedCRC uint32

func (storedCRC) Error() string { return "zipstream: stored CRC-32" }

// crc returns entry i's CRC-32: known, stored by the backend, or learnt
// from the entry's bytes, reading only what no other request is streaming
// (see [Sums]).
func (r *Reader) crc(i int) (uint32, error) {
	if crc, ok := r.known(i); ok {
		return crc, nil
	}
	rec := &r.a.recs[i]
	sums, key := r.sumsFor(i)
	var f File
	defer func() {
		if f != nil {
			f.Close()
		}
	}()
	crc, err := sums.whole(r.ctx, key, rec.size, func(sp *span, off, n int64) error {
		if f == nil {
			var err error
			if f, err = r.openEntry(i); err != nil {
				return err
			}
			if s, ok := f.(StoredCRC32); ok {
				if crc, ok := s.StoredCRC32(); ok {
					return storedCRC(crc)
				}
			}
		}
		bp := copyBufs.Get().(*[]byte)
		defer copyBufs.Put(bp)
		err := readSpan(r.ctx, f, off, n, *bp, func(b []byte) error {
			sp.advance(b)
			return nil
		})
		if err == nil {
			err = check(f)
		}
		if err != nil {
			return r.entryErr(i, err)
		}
		return nil
	})
	if s, ok := err.(storedCRC); ok {
		crc, err = uint32(s), nil
		sums.add(key, crc)
	}
	if err != nil {
		return 0, err
	}
	r.learn(i, crc)
	return crc, nil
}

// openEntry opens file entry i and checks that it is the version listed.
func (r *Reader) openEntry(i int) (File, error) {
	if err := r.ctx.Err(); err != nil {
		return nil, err
	}
	rec := &r.a.recs[i]
	e := Entry{Name: r.a.entryName(i), Size: rec.size, ETag: r.a.etagOf(i)}
	f, err := r.open.Open(r.ctx, e)
	if err != nil {
		return nil, fmt.Errorf("zipstream: opening %q: %w", e.Name, err)
	}
	if f.Size() != e.Size || f.ETag() != e.ETag {
		f.Close()
		return nil, fmt.Errorf("%w: %q was listed with size %d and ETag %s, opened with size %d and ETag %s",
			ErrChanged, e.Name, e.Size, e.ETag, f.Size(), f.ETag())
	}
	return f, nil
}

func (r *Reader) entryErr(i int, err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) {
		err = fmt.Errorf("%w: shorter than listed (%w)", ErrChanged, err)
	}
	return fmt.Errorf("zipstream: reading %q: %w", r.a.entryName(i), err)
}

func check(f File) error {
	if c, ok := f.(Checker); ok {
		return c.Check()
	}
	return nil
}

// rangeReader is rangeio.RangeReader's shape, found by type assertion.
type rangeReader interface {
	ReadRange(off, n int64) (io.ReadCloser, error)
}

// readSpan reads the n bytes at off of f through buf, handing each chunk
// to fn. A file that ends early yields io.ErrUnexpectedEOF.
func readSpan(ctx context.Context, f File, off, n int64, buf []byte, fn func([]byte) error) error {
	if n == 0 {
		return nil
	}
	if rr, ok := f.(rangeReader); ok {
		rc, err := rr.ReadRange(off, n)
		if err != nil {
			return err
		}
		defer rc.Close()
		for n > 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
			chunk := buf[:min(int64(len(buf)), n)]
			nr, err := io.ReadFull(rc, chunk)
			if nr > 0 {
				n -= int64(nr)
				if err := fn(chunk[:nr]); err != nil {
					return err
				}
			}
			if err != nil {
				if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
					return io.ErrUnexpectedEOF
				}
				return err
			}
		}
		return nil
	}
	for n > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		chunk := buf[:min(int64(len(buf)), n)]
		nr, err := f.ReadAt(chunk, off)
		if nr > 0 {
			off += int64(nr)
			n -= int64(nr)
			if err := fn(chunk[:nr]); err != nil {
				return err
			}
		}
		if err != nil && (n > 0 || !errors.Is(err, io.EOF)) {
			if errors.Is(err, io.EOF) {
				return io.ErrUnexpectedEOF
			}
			return err
		}
		if nr == 0 && err == nil {
			return io.ErrNoProgress
		}
	}
	return nil
}
