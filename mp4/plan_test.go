package mp4_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"testing"

	"github.com/rangeserve/rangeserve/mp4"
)

// checkLayout asserts the invariants every layout keeps: segments in
// order, contiguous, non-empty, summing to Size, in-memory ones with
// len(Data) == Len.
func checkLayout(t testing.TB, l *mp4.Layout) {
	t.Helper()
	var at int64
	for i, s := range l.Segments {
		if s.Off != at || s.Len <= 0 {
			t.Fatalf("segment %d = {Off %d, Len %d}, want Off %d and Len > 0", i, s.Off, s.Len, at)
		}
		if s.Data != nil && int64(len(s.Data)) != s.Len {
			t.Fatalf("segment %d: len(Data) = %d, Len = %d", i, len(s.Data), s.Len)
		}
		at += s.Len
	}
	if at != l.Size {
		t.Fatalf("segments sum to %d, Size = %d", at, l.Size)
	}
}

type planCase struct {
	name string
	make func() (src, want []byte)
}

// planCases are hand-built files and their virtual files built by hand.
func planCases() []planCase {
	f := ftyp() // 32 bytes
	fr := box("free")
	mvhd := box("mvhd", full(0, 0, make([]byte, 96)))
	return []planCase{
		{"stco", func() ([]byte, []byte) {
			md := mdat(100) // payload at 48
			mv := moov(trak(stco(48, 98)))
			M := uint32(len(mv))
			return slices.Concat(f, fr, md, mv),
				slices.Concat(f, moov(trak(stco(48+M, 98+M))), fr, md)
		}},
		{"stco and co64 in two tracks", func() ([]byte, []byte) {
			md := mdat(100) // payload at 40
			mv := moov(trak(stco(40, 60)), trak(co64(70, 90, 139)))
			M := len(mv)
			return slices.Concat(f, md, mv),
				slices.Concat(f, moov(trak(stco(40+uint32(M), 60+uint32(M))), trak(co64(70+uint64(M), 90+uint64(M), 139+uint64(M)))), md)
		}},
		{"free and udta around", func() ([]byte, []byte) {
			md := mdat(64) // payload at 40
			fr2 := box("free", make([]byte, 10))
			ud := box("udta", box("©nam", []byte("x")))
			mv := moov(trak(stco(40, 41)), box("udta", box("free", make([]byte, 3))))
			M := uint32(len(mv))
			return slices.Concat(f, md, fr2, mv, ud, fr),
				slices.Concat(f, moov(trak(stco(40+M, 41+M)), box("udta", box("free", make([]byte, 3)))), md, fr2, ud, fr)
		}},
		{"moov in the middle", func() ([]byte, []byte) {
			md1, md2 := mdat(50), mdat(60)
			mv := moov(trak(stco(40, 0)), trak(stco(0)))
			start := uint32(len(f) + len(md1))
			after := start + uint32(len(mv)) + 8 // md2's payload, after the moov
			mv = moov(trak(stco(40, after)), trak(stco(after+10)))
			M := uint32(len(mv))
			// Media after the old moov does not move: the new moov
			// has the same length and sits before both mdat boxes.
			return slices.Concat(f, md1, mv, md2),
				slices.Concat(f, moov(trak(stco(40+M, after)), trak(stco(after+10))), md1, md2)
		}},
		{"largesize mdat and moov", func() ([]byte, []byte) {
			md := largeBox("mdat", make([]byte, 100)) // payload at 48
			mv := largeBox("moov", mvhd, trak(co64(48, 147)))
			M := uint64(len(mv))
			return slices.Concat(f, md, mv),
				slices.Concat(f, largeBox("moov", mvhd, trak(co64(48+M, 147+M))), md)
		}},
		{"size-0 moov at the end", func() ([]byte, []byte) {
			md := mdat(20) // payload at 40
			mv := zeroBox("moov", mvhd, trak(stco(40)))
			M := uint32(len(mv))
			return slices.Concat(f, md, mv),
				slices.Concat(f, box("moov", mvhd, trak(stco(40+M))), md)
		}},
		{"size-0 mdat after moov", func() ([]byte, []byte) {
			md1 := mdat(20) // payload at 40
			mv := moov(trak(stco(40, 0)))
			end := uint32(len(f) + len(md1) + len(mv))
			mv = moov(trak(stco(40, end+8)))
			last := zeroBox("mdat", make([]byte, 30))
			M := uint32(len(mv))
			return slices.Concat(f, md1, mv, last),
				slices.Concat(f, moov(trak(stco(40+M, end+8))), md1, last)
		}},
		{"no ftyp", func() ([]byte, []byte) {
			md := mdat(20) // payload at 8
			mv := moov(trak(stco(8, 27)))
			M := uint32(len(mv))
			return slices.Concat(md, mv), slices.Concat(moov(trak(stco(8+M, 27+M))), md)
		}},
		{"QuickTime udta terminator and both kinds of meta", func() ([]byte, []byte) {
			md := mdat(20)
			qtMeta := box("meta", box("hdlr", full(0, 0, make([]byte, 20))), box("keys", u32(0)))
			isoMeta := box("meta", full(0, 0), box("hdlr", full(0, 0, make([]byte, 20))), box("ilst"))
			ud := func() []byte { return box("udta", qtMeta, isoMeta, u32(0)) }
			mv := moov(trak(stco(40)), ud())
			M := uint32(len(mv))
			return slices.Concat(f, md, mv), slices.Concat(f, moov(trak(stco(40+M)), ud()), md)
		}},
		{"stco with a size-0 header and trailing bytes", func() ([]byte, []byte) {
			md := mdat(20)
			tab := func(o uint32) []byte { return zeroBox("stco", full(0, 0, u32(1), u32(o), []byte{9, 9})) }
			mv := moov(trak(tab(40)))
			M := uint32(len(mv))
			return slices.Concat(f, md, mv), slices.Concat(f, moov(trak(tab(40+M))), md)
		}},
		{"ftyp too large to copy stays a source range", func() ([]byte, []byte) {
			big := box("ftyp", []byte("isom"), u32(0), bytes.Repeat([]byte("mp41"), 1200))
			md := mdat(20)
			at := uint32(len(big) + 8)
			mv := moov(trak(stco(at)))
			M := uint32(len(mv))
			return slices.Concat(big, md, mv), slices.Concat(big, moov(trak(stco(at+M))), md)
		}},
		{"empty stco", func() ([]byte, []byte) {
			md := mdat(20)
			mv := moov(trak(stco()), trak(stco(40)))
			M := uint32(len(mv))
			return slices.Concat(f, md, mv), slices.Concat(f, moov(trak(stco()), trak(stco(40+M))), md)
		}},
	}
}

// TestPlan checks the virtual file byte for byte against one built by
// hand, for hand-built box structures.
func TestPlan(t *testing.T) {
	for _, tt := range planCases() {
		t.Run(tt.name, func(t *testing.T) {
			src, want := tt.make()
			l, err := mp4.Plan(bytes.NewReader(src), int64(len(src)), mp4.Options{})
			if err != nil {
				t.Fatalf("Plan: %v", err)
			}
			checkLayout(t, l)
			got, err := readAll(l.ReaderAt(bytes.NewReader(src)), l.Size)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("virtual file differs:\n got %x\nwant %x", got, want)
			}
			// The virtual file is faststart: planning it again says so.
			if _, err := mp4.Plan(bytes.NewReader(got), int64(len(got)), mp4.Options{}); !errors.Is(err, mp4.ErrFaststart) {
				t.Fatalf("Plan(virtual) = %v, want ErrFaststart", err)
			}
			sameChunks(t, bytes.NewReader(src), int64(len(src)), l)
		})
	}
}

type unchangedCase struct {
	name string
	src  []byte
	opts mp4.Options
	want error // ErrFaststart, ErrUnsupported, or a *FormatError (any)
}

// unchangedCases are files that must be served as stored, and why.
func unchangedCases() []unchangedCase {
	f := ftyp()
	md := mdat(20) // payload at 40 after f
	mv := moov(trak(stco(40)))
	return []unchangedCase{
		{"faststart", slices.Concat(f, mv, md), mp4.Options{}, mp4.ErrFaststart},
		{"no mdat", slices.Concat(f, box("free"), mv), mp4.Options{}, mp4.ErrFaststart},
		{"fragmented: moof", slices.Concat(f, md, box("moof"), mv), mp4.Options{}, mp4.ErrUnsupported},
		{"fragmented: sidx", slices.Concat(f, box("sidx"), md, mv), mp4.Options{}, mp4.ErrUnsupported},
		{"fragmented: mvex", slices.Concat(f, md, moov(trak(stco(40)), box("mvex"))), mp4.Options{}, mp4.ErrUnsupported},
		{"moov over the limit", slices.Concat(f, md, mv), mp4.Options{MaxMoovSize: int64(len(mv) - 1)}, mp4.ErrUnsupported},
		{"ftyp not first", slices.Concat(box("free"), f, md, mv), mp4.Options{}, mp4.ErrUnsupported},
		{"two moov boxes", slices.Concat(f, md, mv, mv), mp4.Options{}, mp4.ErrUnsupported},
		{"top-level meta", slices.Concat(f, md, box("meta", full(0, 0)), mv), mp4.Options{}, mp4.ErrUnsupported},
		{"external data reference", slices.Concat(f, md, moov(box("trak", box("mdia", box("minf", dref(0), box("stbl", stco(40))))))), mp4.Options{}, mp4.ErrUnsupported},
		{"saio", slices.Concat(f, md, moov(trak(stco(40), box("saio", full(0, 0, u32(1), u32(40)))))), mp4.Options{}, mp4.ErrUnsupported},
		{"iloc", slices.Concat(f, md, moov(trak(stco(40)), box("meta", full(0, 0), box("iloc", full(0, 0))))), mp4.Options{}, mp4.ErrUnsupported},
		{"cmov", slices.Concat(f, md, moov(box("cmov"))), mp4.Options{}, mp4.ErrUnsupported},
		{"chunk offset in the moov", slices.Concat(f, md, moov(trak(stco(60)))), mp4.Options{}, mp4.ErrUnsupported},
		{"chunk offset past the end", slices.Concat(f, md, moov(trak(stco(1<<20)))), mp4.Options{}, mp4.ErrUnsupported},
		{"too deep", slices.Concat(f, md, moov(trak(stco(40)), nest("udta", 20))), mp4.Options{}, mp4.ErrUnsupported},
		{"too many top-level boxes", slices.Concat(f, md, bytes.Repeat(box("free"), 1100), mv), mp4.Options{}, mp4.ErrUnsupported},
		{"truncated moov", slices.Concat(f, md, mv[:len(mv)-1]), mp4.Options{}, &mp4.FormatError{}},
		{"truncated mdat", slices.Concat(f, md[:10]), mp4.Options{}, &mp4.FormatError{}},
		{"trailing bytes", slices.Concat(f, md, mv, []byte{0, 0, 0}), mp4.Options{}, &mp4.FormatError{}},
		{"box smaller than its header", slices.Concat(f, u32(4), []byte("free"), md, mv), mp4.Options{}, &mp4.FormatError{}},
		{"largesize smaller than its header", slices.Concat(f, u32(1), []byte("mdat"), u64(15), md, mv), mp4.Options{}, &mp4.FormatError{}},
		{"no moov", slices.Concat(f, md), mp4.Options{}, &mp4.FormatError{}},
		{"empty file", nil, mp4.Options{}, &mp4.FormatError{}},
		{"stco count lies", slices.Concat(f, md, moov(trak(box("stco", full(0, 0, u32(1000), u32(40)))))), mp4.Options{}, &mp4.FormatError{}},
		{"co64 count lies", slices.Concat(f, md, moov(trak(box("co64", full(0, 0, u32(2), u64(40), u32(0)))))), mp4.Options{}, &mp4.FormatError{}},
		{"sample table without chunk offsets", slices.Concat(f, md, moov(box("trak", box("stbl")))), mp4.Options{}, &mp4.FormatError{}},
		{"sample table with two", slices.Concat(f, md, moov(trak(stco(40), stco(40)))), mp4.Options{}, &mp4.FormatError{}},
		{"moov without tracks", slices.Concat(f, md, moov()), mp4.Options{}, &mp4.FormatError{}},
		{"child past its parent", slices.Concat(f, md, box("moov", u32(100), []byte("trak"))), mp4.Options{}, &mp4.FormatError{}},
	}
}

// TestPlanUnchanged checks that files that must be served as stored get
// the right error.
func TestPlanUnchanged(t *testing.T) {
	for _, tt := range unchangedCases() {
		t.Run(tt.name, func(t *testing.T) {
			l, err := mp4.Plan(bytes.NewReader(tt.src), int64(len(tt.src)), tt.opts)
			if l != nil || err == nil {
				t.Fatalf("Plan = %v, %v; want an error", l, err)
			}
			if !errors.Is(err, mp4.ErrUnchanged) {
				t.Errorf("Plan: %v does not match ErrUnchanged", err)
			}
			if fe := (*mp4.FormatError)(nil); errors.As(tt.want, &fe) {
				if !errors.As(err, &fe) {
					t.Errorf("Plan: %v, want a *FormatError", err)
				}
			} else if !errors.Is(err, tt.want) {
				t.Errorf("Plan: %v, want %v", err, tt.want)
			}
		})
	}
}

func nest(typ string, depth int) []byte {
	b := box(typ)
	for range depth - 1 {
		b = box(typ, b)
	}
	return b
}

// failing is a source whose reads fail past a point.
type failing struct {
	src   []byte
	after int64
}

var errDisk = errors.New("disk on fire")

func (f failing) ReadAt(p []byte, off int64) (int, error) {
	if off+int64(len(p)) > f.after {
		return 0, errDisk
	}
	return copy(p, f.src[off:]), nil
}

// TestPlanReadError: an error of the source is returned as it is, and is
// not one that means "serve unchanged".
func TestPlanReadError(t *testing.T) {
	src := slices.Concat(ftyp(), mdat(20), moov(trak(stco(40))))
	for _, after := range []int64{0, 40, 61} {
		_, err := mp4.Plan(failing{src, after}, int64(len(src)), mp4.Options{})
		if !errors.Is(err, errDisk) || errors.Is(err, mp4.ErrUnchanged) {
			t.Errorf("reads fail after %d: Plan = %v, want the read error", after, err)
		}
	}
}

// TestPlanCo64 moves a moov ahead of chunks that sit just under 4 GiB, in
// a 4 GiB+ source that is never materialised: the stco whose offsets no
// longer fit becomes a co64, which pushes the other track's offsets past
// 32 bits in turn (the fixed point), while a track whose offsets still fit
// keeps its stco.
func TestPlanCo64(t *testing.T) {
	f := ftyp()
	const mdatSize = 1<<32 + 1000
	mdHdr := slices.Concat(u32(1), []byte("mdat"), u64(mdatSize))
	moovAt := int64(len(f)) + mdatSize
	build := func(a, b, c []uint32) []byte { return moov(trak(stco(a...)), trak(stco(b...)), trak(stco(c...))) }
	M0 := uint32(len(build([]uint32{0, 0}, []uint32{0, 0}, []uint32{0})))
	// Track B overflows at once; track A only once B has grown the moov
	// by 8 bytes; track C never.
	a := []uint32{48, math.MaxUint32 - M0 - 3}
	b := []uint32{100, math.MaxUint32 - 10}
	c := []uint32{200}
	mv := build(a, b, c)
	src := &sparse{size: moovAt + int64(len(mv)), pieces: map[int64][]byte{0: f, int64(len(f)): mdHdr, moovAt: mv}}
	for i, o := range slices.Concat(a, b, c) {
		src.pieces[int64(o)] = []byte(fmt.Sprintf("chunk%03d", i))
	}
	l, err := mp4.Plan(src, src.size, mp4.Options{})
	if err != nil {
		t.Fatal(err)
	}
	checkLayout(t, l)
	M := uint64(M0) + 4*2 + 4*2 // A and B became co64 (2 entries each)
	add := func(offs []uint32) []uint64 {
		var out []uint64
		for _, o := range offs {
			out = append(out, uint64(o)+M)
		}
		return out
	}
	wantMoov := moov(trak(co64(add(a)...)), trak(co64(add(b)...)), trak(stco(c[0]+uint32(M))))
	if uint64(len(wantMoov)) != M {
		t.Fatalf("test is wrong: want moov of %d bytes, computed %d", len(wantMoov), M)
	}
	want := []mp4.Segment{
		{Off: 0, Len: int64(len(f)) + int64(M), Data: slices.Concat(f, wantMoov)},
		{Off: int64(len(f)) + int64(M), Len: mdatSize, Src: int64(len(f))},
	}
	if fmt.Sprint(l.Segments) != fmt.Sprint(want) {
		t.Fatalf("segments:\n got %v\nwant %v", l.Segments, want)
	}
	if l.Size != src.size+int64(M)-int64(len(mv)) {
		t.Fatalf("Size = %d, want %d", l.Size, src.size+int64(M)-int64(len(mv)))
	}
	tr := sameChunks(t, src, src.size, l)
	if len(tr) != 3 || !tr[0].Co64 || !tr[1].Co64 || tr[2].Co64 {
		t.Fatalf("tracks %+v: want co64, co64, stco", tr)
	}
}

// sameChunks checks that the virtual file of l has the source's tracks
// with as many chunks and samples, and that the bytes at each chunk's new
// offset are those at its old one (up to 8, within the segment). It
// returns the virtual file's tracks.
func sameChunks(t testing.TB, src io.ReaderAt, size int64, l *mp4.Layout) []mp4.TrackInfo {
	t.Helper()
	old, err := mp4.Tracks(src, size)
	if err != nil {
		t.Fatalf("tracks of the source: %v", err)
	}
	vr := l.ReaderAt(src)
	tr, err := mp4.Tracks(vr, l.Size)
	if err != nil {
		t.Fatalf("tracks of the virtual file: %v", err)
	}
	if len(tr) != len(old) {
		t.Fatalf("virtual file has %d tracks, source %d", len(tr), len(old))
	}
	for i := range tr {
		if len(tr[i].Chunks) != len(old[i].Chunks) || tr[i].Samples != old[i].Samples {
			t.Fatalf("track %d: %d chunks, %d samples; source has %d, %d", i, len(tr[i].Chunks), tr[i].Samples, len(old[i].Chunks), old[i].Samples)
		}
		for j, o := range old[i].Chunks {
			n := int64(o)
			var seg mp4.Segment
			for s := range l.Spans(int64(tr[i].Chunks[j]), 8) {
				seg = s
				break
			}
			// A source segment must start at the old offset; an
			// in-memory one can only be the copied ftyp (an odd file).
			if seg.Len == 0 || (seg.Data == nil && seg.Src != n) {
				t.Fatalf("track %d chunk %d: offset %d -> %d lands in %+v, not at source %d", i, j, o, tr[i].Chunks[j], seg, n)
			}
			a, b := make([]byte, min(8, seg.Len, size-n)), make([]byte, min(8, seg.Len, size-n))
			if _, err := src.ReadAt(a, n); err != nil && err != io.EOF {
				t.Fatal(err)
			}
			if _, err := vr.ReadAt(b, int64(tr[i].Chunks[j])); err != nil && err != io.EOF {
				t.Fatal(err)
			}
			if !bytes.Equal(a, b) {
				t.Fatalf("track %d chunk %d: %q at %d in the source, %q at %d in the virtual file", i, j, a, o, b, tr[i].Chunks[j])
			}
		}
	}
	return tr
}

// counting counts the reads of a source.
type counting struct {
	r     io.ReaderAt
	reads int
	bytes int64
}

func (c *counting) ReadAt(p []byte, off int64) (int, error) {
	c.reads++
	c.bytes += int64(len(p))
	return c.r.ReadAt(p, off)
}

// TestPlanReads: Plan reads the first 4 KiB, the headers beyond, and the
// moov: three reads for a file with the moov at the end (a request each
// on an object store), one for a faststart file, and no media data.
func TestPlanReads(t *testing.T) {
	for _, tt := range []struct {
		file      string
		wantReads int
		wantErr   error
	}{
		{"../testdata/moov-at-end.mp4", 3, nil},
		{"../testdata/video.mp4", 1, mp4.ErrFaststart},
	} {
		src, err := os.ReadFile(tt.file)
		if err != nil {
			t.Fatal(err)
		}
		c := &counting{r: bytes.NewReader(src)}
		l, err := mp4.Plan(c, int64(len(src)), mp4.Options{})
		if !errors.Is(err, tt.wantErr) || c.reads != tt.wantReads {
			t.Errorf("%s: Plan: %v after %d reads; want %v after %d", tt.file, err, c.reads, tt.wantErr, tt.wantReads)
		}
		if l != nil && c.bytes > 4096+16+l.MemSize() {
			t.Errorf("%s: Plan read %d bytes for a moov of %d", tt.file, c.bytes, l.MemSize())
		}
	}
}
