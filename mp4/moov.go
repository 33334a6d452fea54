package mp4

import (
	"encoding/binary"
	"math"
)

// moov is a parsed movie box: the source bytes, the chunk offset tables
// found in it and the containers that enclose them (whose sizes change
// when a table grows).
type moov struct {
	buf        []byte // the whole moov box, header included
	src        int64  // its offset in the source (for error messages)
	top        header // its header, relative to buf
	tables     []table
	containers []container
	boxes      int
}

// container is a box on the path from moov to a chunk offset table.
type container struct {
	h header // relative to moov.buf
}

// table is one stco or co64 box.
type table struct {
	h       header // relative to moov.buf
	is64    bool   // co64 in the source
	to64    bool   // an stco that the virtual file needs as a co64
	count   int
	entries []byte // count*4 or count*8 bytes of buf
	max     uint64 // the largest offset
	parents []int  // indices into moov.containers, outermost first
	samples int64  // the sample count of the track's stsz/stz2, or -1
}

func (t *table) entry(i int) uint64 {
	if t.is64 {
		return binary.BigEndian.Uint64(t.entries[8*i:])
	}
	return uint64(binary.BigEndian.Uint32(t.entries[4*i:]))
}

// growth is how many bytes the table's box gains in the virtual file.
func (t *table) growth() int64 {
	if t.to64 {
		return 4 * int64(t.count)
	}
	return 0
}

// Containers Plan descends into. Everything else inside moov is copied
// as it is, apart from the boxes checked in walk.
var descend = map[boxType]bool{
	bt("moov"): true, bt("trak"): true, bt("mdia"): true, bt("minf"): true,
	bt("stbl"): true, bt("udta"): true, bt("meta"): true, bt("dinf"): true,
}

func parseMoov(buf []byte, top header) (*moov, error) {
	m := &moov{buf: buf, src: top.off}
	m.top = top
	m.top.off = 0
	if err := m.walk(m.top, nil); err != nil {
		return nil, err
	}
	if len(m.tables) == 0 {
		return nil, formatErr(top.off, "moov box without any chunk offset table")
	}
	return m, nil
}

func (m *moov) errAt(off int64, format string, args ...any) error {
	return formatErr(m.src+off, format, args...)
}

// walk visits the children of the container c; parents are the indices
// of c's own enclosing containers.
func (m *moov) walk(c header, parents []int) error {
	if len(parents) >= maxDepth {
		return unsupported("boxes nested deeper than %d in moov", maxDepth)
	}
	m.containers = append(m.containers, container{h: c})
	parents = append(parents[:len(parents):len(parents)], len(m.containers)-1)

	start, end := c.off+c.hlen, c.end()
	if c.typ == bt("meta") {
		// ISO meta is a FullBox (version and flags first); QuickTime's
		// is a plain container whose first child is hdlr.
		if end-start >= 4 && binary.BigEndian.Uint32(m.buf[start:]) == 0 {
			start += 4
		}
	}
	var stbl struct{ tables, samples int }
	var samples int64 = -1
	first := len(m.tables)
	for off := start; off < end; {
		if end-off < 8 {
			// QuickTime allows a 32-bit zero terminator in udta;
			// anything this short is not a box: copy it as it is.
			break
		}
		if m.boxes++; m.boxes > maxMoovBoxes {
			return unsupported("more than %d boxes in moov", maxMoovBoxes)
		}
		h, err := parseHeader(m.buf[off:end], off, end)
		if err != nil {
			return m.errAt(off, "%s", err.(*FormatError).Msg)
		}
		switch h.typ {
		case bt("mvex"):
			return unsupported("fragmented file (mvex box)")
		case bt("cmov"):
			return unsupported("compressed movie box (cmov)")
		case bt("saio"):
			return unsupported("sample auxiliary information offsets (saio)")
		case bt("iloc"):
			return unsupported("item locations (iloc)")
		case bt("dref"):
			if err := m.checkDref(h); err != nil {
				return err
			}
		case bt("stco"), bt("co64"):
			if c.typ != bt("stbl") {
				break // not a chunk offset table: copied as it is
			}
			stbl.tables++
			if err := m.addTable(h, parents); err != nil {
				return err
			}
		case bt("stsz"), bt("stz2"):
			if c.typ == bt("stbl") && h.size-h.hlen >= 12 {
				samples = int64(binary.BigEndian.Uint32(m.buf[h.off+h.hlen+8:]))
			}
		}
		if descend[h.typ] {
			if err := m.walk(h, parents); err != nil {
				return err
			}
		}
		off = h.end()
	}
	if c.typ == bt("stbl") {
		if stbl.tables != 1 {
			return m.errAt(c.off, "sample table with %d chunk offset tables, want 1", stbl.tables)
		}
		m.tables[first].samples = samples
	}
	return nil
}

// checkDref refuses data references to other files: their chunk offsets
// are not offsets in this one. Each entry (url, urn, alis, ...) is a
// FullBox whose flag 1 means "the data is in this file".
func (m *moov) checkDref(h header) error {
	start, end := h.off+h.hlen+8, h.end()
	if start > end {
		return m.errAt(h.off, "dref box too short")
	}
	for off := start; off < end; {
		e, err := parseHeader(m.buf[off:end], off, end)
		if err != nil {
			return m.errAt(off, "%s", err.(*FormatError).Msg)
		}
		if e.size-e.hlen < 4 {
			return m.errAt(off, "data reference %v too short", e.typ)
		}
		if flags := binary.BigEndian.Uint32(m.buf[e.off+e.hlen:]) & 0xffffff; flags&1 == 0 {
			return unsupported("media data in another file (data reference %v)", e.typ)
		}
		off = e.end()
	}
	return nil
}

func (m *moov) addTable(h header, parents []int) error {
	if len(m.tables) >= maxTracks {
		return unsupported("more than %d tracks", maxTracks)
	}
	t := table{h: h, is64: h.typ == bt("co64"), parents: parents, samples: -1}
	payload := h.size - h.hlen
	if payload < 8 {
		return m.errAt(h.off, "%v box too short", h.typ)
	}
	count := int64(binary.BigEndian.Uint32(m.buf[h.off+h.hlen+4:]))
	width := int64(4)
	if t.is64 {
		width = 8
	}
	// The count is checked against the bytes present before it is used.
	if count > (payload-8)/width {
		return m.errAt(h.off, "%v box claims %d entries, has room for %d", h.typ, count, (payload-8)/width)
	}
	t.count = int(count)
	first := h.off + h.hlen + 8
	t.entries = m.buf[first : first+count*width]
	for i := range t.count {
		t.max = max(t.max, t.entry(i))
	}
	m.tables = append(m.tables, t)
	return nil
}

// newSize is the length of the rewritten moov.
func (m *moov) newSize() int64 {
	n := m.top.size
	for i := range m.tables {
		n += m.tables[i].growth()
	}
	return n
}

// rewrite returns head followed by the moov of the virtual file: the
// source moov with every chunk offset passed through mapOff, the stco
// boxes marked to64 turned into co64, and the sizes of the boxes enclosing
// them adjusted.
func (m *moov) rewrite(head []byte, mapOff func(uint64) uint64) ([]byte, error) {
	growth := make([]int64, len(m.containers))
	for i := range m.tables {
		for _, p := range m.tables[i].parents {
			growth[p] += m.tables[i].growth()
		}
	}
	out := make([]byte, 0, int64(len(head))+m.newSize())
	out = append(out, head...)
	pos := int64(0) // bytes of buf consumed
	ci, ti := 0, 0
	// Container headers and tables never overlap; walk them in the order
	// of their offsets (both lists were built in that order).
	for ci < len(m.containers) || ti < len(m.tables) {
		if ci < len(m.containers) && (ti == len(m.tables) || m.containers[ci].h.off < m.tables[ti].h.off) {
			h := m.containers[ci].h
			out = append(out, m.buf[pos:h.off]...)
			var err error
			// The top-level moov moves, so a size of 0 ("to the end")
			// must become explicit; inside moov a box of size 0 stays
			// the last of its parent, so its header stays as it is.
			out, err = appendHeader(out, h, h.size+growth[ci], ci == 0)
			if err != nil {
				return nil, err
			}
			pos = h.off + h.hlen
			ci++
			continue
		}
		t := &m.tables[ti]
		out = append(out, m.buf[pos:t.h.off]...)
		h := t.h
		if t.to64 {
			h.typ = bt("co64")
		}
		var err error
		if out, err = appendHeader(out, h, h.size+t.growth(), false); err != nil {
			return nil, err
		}
		body := t.h.off + t.h.hlen
		out = append(out, m.buf[body:body+8]...) // version, flags, entry count
		for i := range t.count {
			v := mapOff(t.entry(i))
			if t.is64 || t.to64 {
				out = binary.BigEndian.AppendUint64(out, v)
			} else {
				out = binary.BigEndian.AppendUint32(out, uint32(v))
			}
		}
		pos = body + 8 + int64(len(t.entries)) // any bytes after the entries are kept
		ti++
	}
	out = append(out, m.buf[pos:]...)
	return out, nil
}

// appendHeader appends the header of h with the new size, in the form of
// the source header (8 bytes, or 16 with a largesize). A size-0 header is
// kept unless explicit is set.
func appendHeader(out []byte, h header, size int64, explicit bool) ([]byte, error) {
	switch {
	case h.toEnd && !explicit:
		out = binary.BigEndian.AppendUint32(out, 0)
	case h.hlen == 16:
		out = binary.BigEndian.AppendUint32(out, 1)
		out = append(out, h.typ[:]...)
		return binary.BigEndian.AppendUint64(out, uint64(size)), nil
	case size > math.MaxUint32:
		return nil, unsupported("box %v would grow past 4 GiB", h.typ)
	default:
		out = binary.BigEndian.AppendUint32(out, uint32(size))
	}
	return append(out, h.typ[:]...), nil
}
