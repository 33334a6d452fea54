package mp4

import "io"

// TrackInfo is what the tests compare between a source and its virtual
// file: one track's chunk offsets, whether they are 64-bit, and its sample
// count (-1 without stsz).
type TrackInfo struct {
	Chunks  []uint64
	Co64    bool
	Samples int64
}

// Tracks finds the first top-level moov of the file and returns its
// tracks, whatever the order of the top-level boxes.
func Tracks(r io.ReaderAt, size int64) ([]TrackInfo, error) {
	var hb [16]byte
	for off := int64(0); off < size; {
		b := hb[:min(16, size-off)]
		if err := readFull(r, b, off); err != nil {
			return nil, err
		}
		h, err := parseHeader(b, off, size)
		if err != nil {
			return nil, err
		}
		if h.typ != bt("moov") {
			off = h.end()
			continue
		}
		buf, err := readData(r, h.off, h.size)
		if err != nil {
			return nil, err
		}
		m, err := parseMoov(buf, h)
		if err != nil {
			return nil, err
		}
		var out []TrackInfo
		for i := range m.tables {
			t := &m.tables[i]
			ti := TrackInfo{Co64: t.is64, Samples: t.samples, Chunks: make([]uint64, t.count)}
			for j := range t.count {
				ti.Chunks[j] = t.entry(j)
			}
			out = append(out, ti)
		}
		return out, nil
	}
	return nil, formatErr(0, "no moov box")
}
