package zipstream

import (
	"errors"
	"io"
)

// Hashing a local file's bytes on their way to an HTTP response.
//
// Read through a buffer, an entry's bytes are copied twice (from the page
// cache, then to the socket) and hashed, where a plain download of the
// same file costs one sendfile(2). For a local file sent to a writer with
// ReadFrom, a span of data whose CRC-32 is unknown is instead taken
// window by window: the window is mapped (mmap(2), read-only, populated
// in one call), hashed from the mapping, unmapped, and sent with
// sendfile. The bytes are touched once, by the CRC-32.
//
// What is hashed and what is sent are then two reads of the page cache,
// not one buffer: a file written in place between them would give a
// CRC-32 that does not match the bytes sent. The file's size and
// modification time are checked after the span ([Checker]), as they are
// for the sendfile path of an entry whose CRC-32 is known, so that only
// a writer that also restores the modification time could go unnoticed.
// A file truncated under the mapping faults (SIGBUS); the fault is turned
// into an error (debug.SetPanicOnFault) that fails the archive with
// [ErrChanged]. At most one window is mapped per response at a time.

// mapWindow is the length of file mapped and hashed at a time.
const mapWindow = 1 << 20

// mapMin is the shortest span sent this way; shorter ones are read
// through the buffer (one pread and one write instead of mmap, munmap,
// lseek and sendfile).
const mapMin = copyBufSize

// errNoMmap reports that a file cannot be mapped on this system.
var errNoMmap = errors.New("zipstream: mmap unavailable")

// errFault reports a fault reading a mapped file: it shrank.
var errFault = errors.New("zipstream: fault reading a mapped file (truncated while it was read?)")

// sendHashed sends bytes [from, to) of f's local file to the response
// with sendfile, hashing them into sp through a mapping (see above).
// handled is false, with nothing sent or hashed, when f has no local
// file, w no ReadFrom, the span is short or the file cannot be mapped;
// the caller then reads the span through the buffer.
func (p *producer) sendHashed(f File, sp *span, from, to int64) (handled bool, err error) {
	fl, ok := f.(osFiler)
	if !ok || to-from < mapMin {
		return false, nil
	}
	if _, ok := p.w.(io.ReaderFrom); !ok {
		return false, nil
	}
	osf := fl.File()
	if osf == nil {
		return false, nil
	}
	crc := sp.crc
	for off := from; off < to; {
		if err := p.r.ctx.Err(); err != nil {
			return true, err
		}
		n := min(to-off, mapWindow)
		c, err := hashMapped(osf, off, int(n), crc)
		if err != nil {
			if off == from && errors.Is(err, errNoMmap) {
				return false, nil
			}
			return true, err
		}
		crc = c
		sp.advanced(n, crc)
		if err := p.sendFile(f, off, n); err != nil {
			return true, err
		}
		off += n
	}
	return true, nil
}

// endSpan ends a span of entry i's data sent by sendHashed with err: what
// it hashed is recorded unless the file changed (or faulted), and the
// error, if any, is returned as the entry's.
func (p *producer) endSpan(i int, f File, sp *span, err error) error {
	r := p.r
	valid := !errors.Is(err, errFault)
	if cerr := check(f); cerr != nil {
		valid = false
		if err == nil {
			err = cerr
		}
	}
	if !valid {
		sp.abandon()
	} else if crc, done := sp.finish(r.a.recs[i].size); done {
		r.learn(i, crc)
	}
	if err != nil {
		if errors.Is(err, errFault) {
			err = errors.Join(ErrChanged, err)
		}
		return r.entryErr(i, err)
	}
	return nil
}
