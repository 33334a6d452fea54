package mp4

import (
	"errors"
	"io"
	"iter"
	"sort"
	"strings"
)

// A Layout describes a virtual file as a sequence of segments, each either
// bytes held in memory (the rewritten moov) or a range of the source.
// Segments are in order, contiguous and non-empty, and cover [0, Size).
// A Layout is immutable once returned by [Plan] and safe for concurrent
// use.
type Layout struct {
	Size     int64 // length of the virtual file
	Segments []Segment
}

// A Segment is one piece of a [Layout]: Len bytes at offset Off of the
// virtual file, which are Data when Data is not nil and otherwise the Len
// bytes of the source starting at Src.
type Segment struct {
	Off  int64  // offset in the virtual file
	Len  int64  // length, > 0
	Data []byte // the bytes, when held in memory (len(Data) == Len)
	Src  int64  // offset in the source, when Data is nil
}

// InMemory reports whether the segment's bytes are held in Data.
func (s Segment) InMemory() bool { return s.Data != nil }

// MemSize is the number of bytes the layout holds in memory (the new
// moov), for callers that bound a cache of layouts by size.
func (l *Layout) MemSize() int64 {
	var n int64
	for _, s := range l.Segments {
		n += int64(len(s.Data))
	}
	return n
}

// Spans yields the pieces of the segments that cover [off, off+n) of the
// virtual file, clipped to it and to [0, Size), in order: a caller copies
// the in-memory ones and sends each source one as a single range of the
// source (sendfile, or one ranged GET). It yields nothing for an empty or
// out-of-range request.
func (l *Layout) Spans(off, n int64) iter.Seq[Segment] {
	return func(yield func(Segment) bool) {
		if off < 0 || n <= 0 || off >= l.Size {
			return
		}
		end := off + min(n, l.Size-off)
		i := sort.Search(len(l.Segments), func(i int) bool {
			s := l.Segments[i]
			return s.Off+s.Len > off
		})
		for ; i < len(l.Segments) && l.Segments[i].Off < end; i++ {
			s := l.Segments[i]
			lo, hi := max(off, s.Off), min(end, s.Off+s.Len)
			part := Segment{Off: lo, Len: hi - lo}
			if s.Data != nil {
				part.Data = s.Data[lo-s.Off : hi-s.Off]
			} else {
				part.Src = s.Src + (lo - s.Off)
			}
			if !yield(part) {
				return
			}
		}
	}
}

// ReadAt reads len(p) bytes of the virtual file at off into p, taking the
// source bytes from src, with the contract of [io.ReaderAt]: n < len(p)
// only with an error, io.EOF at the end of the virtual file. A source
// shorter than the plan is io.ErrUnexpectedEOF.
func (l *Layout) ReadAt(src io.ReaderAt, p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("mp4: ReadAt at a negative offset")
	}
	n := 0
	for s := range l.Spans(off, int64(len(p))) {
		dst := p[s.Off-off : s.Off-off+s.Len]
		if s.Data != nil {
			n += copy(dst, s.Data)
			continue
		}
		m, err := src.ReadAt(dst, s.Src)
		n += m
		if m < len(dst) {
			if err == nil || err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return n, err
		}
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// ReaderAt returns the virtual file as an [io.ReaderAt] over src.
func (l *Layout) ReaderAt(src io.ReaderAt) io.ReaderAt { return virtual{l, src} }

type virtual struct {
	l   *Layout
	src io.ReaderAt
}

func (v virtual) ReadAt(p []byte, off int64) (int, error) { return v.l.ReadAt(v.src, p, off) }

// VirtualETag derives the entity tag of the virtual file from the
// source's: "abc" becomes "abc-fs1", W/"abc" becomes W/"abc-fs1", and ""
// stays "". The tag differs from the source's, so a cache never mixes the
// two representations, and is strong exactly when the source's is: the
// virtual bytes are a function of the source bytes. The suffix's number
// versions this package's output and changes if the same source would
// ever be laid out differently.
func VirtualETag(etag string) string {
	if etag == "" {
		return ""
	}
	weak := strings.HasPrefix(etag, "W/")
	t := strings.TrimPrefix(etag, "W/")
	if len(t) >= 2 && t[0] == '"' && t[len(t)-1] == '"' {
		t = t[1 : len(t)-1]
	}
	t = `"` + t + `-fs1"`
	if weak {
		t = "W/" + t
	}
	return t
}
