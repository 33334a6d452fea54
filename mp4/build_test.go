package mp4_test

import (
	"bytes"
	"encoding/binary"
	"io"
	"slices"
)

// Helpers that build box structures by hand for the table tests, the fuzz
// seeds and the co64 tests.

func u32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
func u64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

// box is a box with a 32-bit size.
func box(typ string, parts ...[]byte) []byte {
	body := slices.Concat(parts...)
	return slices.Concat(u32(uint32(8+len(body))), []byte(typ), body)
}

// largeBox is a box with size 1 and a 64-bit largesize.
func largeBox(typ string, parts ...[]byte) []byte {
	body := slices.Concat(parts...)
	return slices.Concat(u32(1), []byte(typ), u64(uint64(16+len(body))), body)
}

// zeroBox is a box with size 0: it extends to the end of its parent.
func zeroBox(typ string, parts ...[]byte) []byte {
	return slices.Concat(u32(0), []byte(typ), slices.Concat(parts...))
}

// full is the version and flags of a FullBox followed by its fields.
func full(version byte, flags uint32, parts ...[]byte) []byte {
	return slices.Concat(u32(uint32(version)<<24|flags&0xffffff), slices.Concat(parts...))
}

func ftyp() []byte {
	return box("ftyp", []byte("isom"), u32(512), []byte("isomiso2avc1mp41"))
}

func stco(offs ...uint32) []byte {
	b := full(0, 0, u32(uint32(len(offs))))
	for _, o := range offs {
		b = append(b, u32(o)...)
	}
	return box("stco", b)
}

func co64(offs ...uint64) []byte {
	b := full(0, 0, u32(uint32(len(offs))))
	for _, o := range offs {
		b = append(b, u64(o)...)
	}
	return box("co64", b)
}

// stsz has a fixed sample size and count.
func stsz(samples uint32) []byte { return box("stsz", full(0, 0, u32(100), u32(samples))) }

func dref(flags uint32) []byte {
	return box("dinf", box("dref", full(0, 0, u32(1)), box("url ", full(0, flags))))
}

// trak is a track whose sample table holds chunks (an stco or co64 box)
// and whatever else is given.
func trak(chunks []byte, extra ...[]byte) []byte {
	stbl := box("stbl", slices.Concat(box("stsd", full(0, 0, u32(0))), stsz(3)), slices.Concat(extra...), chunks)
	return box("trak",
		box("tkhd", full(0, 3, make([]byte, 80))),
		box("mdia",
			box("mdhd", full(0, 0, make([]byte, 20))),
			box("hdlr", full(0, 0, u32(0), []byte("vide"), make([]byte, 13))),
			box("minf", dref(1), stbl)))
}

func moov(parts ...[]byte) []byte {
	return box("moov", box("mvhd", full(0, 0, make([]byte, 96))), slices.Concat(parts...))
}

func mdat(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + 3)
	}
	return box("mdat", b)
}

// sparse is an io.ReaderAt over a large, mostly zero file: the pieces
// hold the non-zero bytes.
type sparse struct {
	size   int64
	pieces map[int64][]byte
}

func (s *sparse) ReadAt(p []byte, off int64) (int, error) {
	if off >= s.size {
		return 0, io.EOF
	}
	n := len(p)
	if int64(n) > s.size-off {
		n = int(s.size - off)
	}
	clear(p[:n])
	for at, b := range s.pieces {
		lo, hi := max(off, at), min(off+int64(n), at+int64(len(b)))
		if lo < hi {
			copy(p[lo-off:hi-off], b[lo-at:hi-at])
		}
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// readAll reads the whole virtual file of a layout.
func readAll(r io.ReaderAt, size int64) ([]byte, error) {
	b := make([]byte, size)
	_, err := r.ReadAt(b, 0)
	if err == io.EOF {
		err = nil
	}
	return b, err
}

var _ io.ReaderAt = (*sparse)(nil)
var _ = bytes.NewReader
