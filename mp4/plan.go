package mp4

import (
	"io"
	"math"
)

// DefaultMaxMoovSize is the default of [Options.MaxMoovSize]: 64 MiB, far
// more than the movie box of a feature-length film (a few MiB).
const DefaultMaxMoovSize = 64 << 20

// Caps that keep a hostile file from costing more than a real one. Real
// files have a handful of top-level boxes and a few hundred boxes in moov.
const (
	maxTopBoxes  = 1024    // top-level boxes read before giving up
	maxMoovBoxes = 1 << 16 // boxes visited inside moov
	maxDepth     = 16      // nesting inside moov (moov/trak/mdia/minf/stbl/stco is 6)
	maxTracks    = 1024    // chunk offset tables (one per track)

	// maxFtypInMemory is the largest ftyp box copied into the in-memory
	// segment with the new moov (real ones have 20 to 40 bytes), so that
	// the virtual file is one segment in memory and one range of the
	// source: a server then reads the source in one span per response.
	maxFtypInMemory = 4096
)

// Options bound [Plan]. The zero value is ready to use.
type Options struct {
	// MaxMoovSize is the largest moov box Plan reads into memory and
	// rewrites; a larger one is left alone ([ErrUnsupported]). Zero means
	// [DefaultMaxMoovSize]. The rewritten moov may be larger (up to about
	// twice, when every stco becomes a co64): that is what a [Layout]
	// holds in memory.
	MaxMoovSize int64
}

func (o Options) maxMoov() int64 {
	if o.MaxMoovSize <= 0 {
		return DefaultMaxMoovSize
	}
	return o.MaxMoovSize
}

// Top-level boxes that only occur in fragmented or segmented files, which
// carry their own offsets and need no faststart.
var fragmentBoxes = map[boxType]bool{
	bt("moof"): true, bt("mfra"): true, bt("sidx"): true, bt("ssix"): true,
	bt("styp"): true, bt("emsg"): true, bt("prft"): true,
}

// topLevel is what Plan learns from the top-level box headers.
type topLevel struct {
	ftyp *header // the first box, when it is an ftyp
	moov header
}

// headSize is how much of the start of the source Plan reads at once: the
// ftyp box and the headers that follow it (free, mdat, or the moov of a
// faststart file) usually lie there, which spares a read per box (a
// request each, on an object store).
const headSize = 4096

// scanTop reads the top-level box headers of the source, stopping at the
// moov box when no mdat precedes it (ErrFaststart). head holds the first
// bytes of the source.
func scanTop(r io.ReaderAt, size int64, head []byte) (topLevel, error) {
	var top topLevel
	var hb [16]byte
	seenMdat, seenMoov := false, false
	n := 0
	for off := int64(0); off < size; {
		if n++; n > maxTopBoxes {
			return top, unsupported("more than %d top-level boxes", maxTopBoxes)
		}
		if size-off < 8 {
			return top, formatErr(off, "%d trailing bytes after the last box", size-off)
		}
		b := hb[:min(16, size-off)]
		if off+int64(len(b)) <= int64(len(head)) {
			b = head[off : off+int64(len(b))]
		} else if err := readFull(r, b, off); err != nil {
			return top, err
		}
		h, err := parseHeader(b, off, size)
		if err != nil {
			return top, err
		}
		switch {
		case fragmentBoxes[h.typ]:
			return top, unsupported("fragmented file (top-level %v box)", h.typ)
		case h.typ == bt("ftyp"):
			if off != 0 {
				return top, unsupported("ftyp box at offset %d is not the first box", off)
			}
			top.ftyp = &h
		case h.typ == bt("mdat"):
			seenMdat = true
		case h.typ == bt("meta"):
			// A top-level meta (HEIF style) may hold item locations
			// (iloc): absolute offsets this package does not rewrite.
			return top, unsupported("top-level meta box")
		case h.typ == bt("moov"):
			if seenMoov {
				return top, unsupported("more than one moov box")
			}
			if !seenMdat {
				return top, ErrFaststart
			}
			seenMoov = true
			top.moov = h
		}
		off = h.end()
	}
	if !seenMoov {
		return top, formatErr(0, "no moov box")
	}
	return top, nil
}

// Plan reads the box structure of the source r, of size bytes, and
// returns the layout of its virtual faststart file, or an error matching
// [ErrUnchanged] when the file must be served as stored (see the package
// documentation). Other errors come from r. It reads the first 4 KiB,
// the top-level box headers past them (one small read each: for a typical
// file with the moov at the end, one), and the moov box (in steps of at
// most 1 MiB), nothing of the media data.
//
// The layout is valid for these exact source bytes: a caller that caches
// it must key it by something that changes with them, such as the ETag
// ([VirtualETag]).
func Plan(r io.ReaderAt, size int64, opts Options) (*Layout, error) {
	if size < 0 {
		return nil, unsupported("source of unknown size")
	}
	head := make([]byte, min(size, headSize))
	if err := readFull(r, head, 0); err != nil {
		return nil, err
	}
	top, err := scanTop(r, size, head)
	if err != nil {
		return nil, err
	}
	if top.moov.size > opts.maxMoov() {
		return nil, unsupported("moov box of %d bytes exceeds the limit of %d", top.moov.size, opts.maxMoov())
	}
	buf, err := readData(r, top.moov.off, top.moov.size)
	if err != nil {
		return nil, err
	}
	m, err := parseMoov(buf, top.moov)
	if err != nil {
		return nil, err
	}
	var ftyp []byte
	if top.ftyp != nil && top.ftyp.size <= maxFtypInMemory && top.ftyp.size <= int64(len(head)) {
		ftyp = head[:top.ftyp.size]
	}
	return plan(top, m, ftyp, size)
}

// plan computes the layout to a fixed point: the moov grows when an stco
// must become a co64, which moves the media data further, which may push
// another stco's offsets past 32 bits. Conversions only ever increase, so
// this ends after at most len(m.tables)+1 rounds. head, when not nil, is
// the source's ftyp box, held in memory in front of the new moov.
func plan(top topLevel, m *moov, head []byte, size int64) (*Layout, error) {
	pm := newPosMap(top, size)
	// Every chunk offset must lie in a byte of the source that the
	// virtual file keeps (not in the old moov, not past the end).
	for i := range m.tables {
		t := &m.tables[i]
		for j := range t.count {
			if off := t.entry(j); !pm.covers(off) {
				return nil, unsupported("track %d: chunk offset %d outside the media data", i+1, off)
			}
		}
	}
	for {
		moovLen := m.newSize()
		grew := false
		for i := range m.tables {
			t := &m.tables[i]
			if t.is64 || t.to64 || t.count == 0 {
				continue
			}
			// The map keeps source order, so the largest offset stays
			// the largest: only it needs checking.
			if pm.mapOff(t.max, moovLen) > math.MaxUint32 {
				t.to64 = true
				grew = true
			}
		}
		if !grew {
			break
		}
	}
	moovLen := m.newSize()
	out, err := m.rewrite(head, func(off uint64) uint64 { return pm.mapOff(off, moovLen) })
	if err != nil {
		return nil, err
	}
	return pm.layout(out, head != nil), nil
}

// posMap maps source offsets to virtual ones. The virtual file is: the
// source ftyp (when it is the first box), the new moov, then the rest of
// the source in its order with the old moov left out. The source ranges
// kept are fixed; only the length of the new moov varies while planning.
type posMap struct {
	runs []run
}

// run is a range of the source kept in the virtual file. Its virtual
// offset is base plus, when after is set, the length of the new moov.
type run struct {
	src, n int64
	base   int64
	after  bool // placed after the new moov
}

func newPosMap(top topLevel, size int64) *posMap {
	pm := &posMap{}
	start := int64(0)
	if top.ftyp != nil {
		pm.runs = append(pm.runs, run{src: 0, n: top.ftyp.size, base: 0})
		start = top.ftyp.size
	}
	base := start
	for _, r := range [][2]int64{{start, top.moov.off}, {top.moov.end(), size}} {
		if r[1] > r[0] {
			pm.runs = append(pm.runs, run{src: r[0], n: r[1] - r[0], base: base, after: true})
			base += r[1] - r[0]
		}
	}
	return pm
}

func (pm *posMap) find(off uint64) *run {
	for i := range pm.runs {
		r := &pm.runs[i]
		if off >= uint64(r.src) && off-uint64(r.src) < uint64(r.n) {
			return r
		}
	}
	return nil
}

func (pm *posMap) covers(off uint64) bool { return pm.find(off) != nil }

// mapOff returns the virtual offset of the source offset off, which
// covers has accepted, given the new moov's length.
func (pm *posMap) mapOff(off uint64, moovLen int64) uint64 {
	r := pm.find(off)
	v := uint64(r.base) + (off - uint64(r.src))
	if r.after {
		v += uint64(moovLen)
	}
	return v
}

// layout lays out the virtual file around the new moov bytes, which start
// with the ftyp box when withFtyp is set.
func (pm *posMap) layout(moov []byte, withFtyp bool) *Layout {
	l := &Layout{}
	runs := pm.runs
	if withFtyp {
		runs = runs[1:] // the ftyp run, always the first
	}
	add := func(s Segment) {
		s.Off = l.Size
		l.Segments = append(l.Segments, s)
		l.Size += s.Len
	}
	placed := false
	for _, r := range runs {
		if r.after && !placed {
			add(Segment{Len: int64(len(moov)), Data: moov})
			placed = true
		}
		add(Segment{Len: r.n, Src: r.src})
	}
	if !placed {
		add(Segment{Len: int64(len(moov)), Data: moov})
	}
	return l
}
