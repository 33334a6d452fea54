package mp4_test

import (
	"bytes"
	"errors"
	"io"
	"slices"
	"testing"

	"github.com/rangeserve/rangeserve/mp4"
)

// testLayout is 3 source bytes, 4 bytes in memory, then 5 source bytes.
func testLayout() (*mp4.Layout, []byte, []byte) {
	src := []byte("ABCDEFGHIJKLMNOP")
	l := &mp4.Layout{Size: 12, Segments: []mp4.Segment{
		{Off: 0, Len: 3, Src: 0},
		{Off: 3, Len: 4, Data: []byte("wxyz")},
		{Off: 7, Len: 5, Src: 10},
	}}
	return l, src, []byte("ABCwxyzKLMNO")
}

func TestSpans(t *testing.T) {
	l, _, _ := testLayout()
	tests := []struct {
		off, n int64
		want   []mp4.Segment
	}{
		{0, 12, l.Segments},
		{0, 100, l.Segments},
		{1, 1, []mp4.Segment{{Off: 1, Len: 1, Src: 1}}},
		{2, 3, []mp4.Segment{{Off: 2, Len: 1, Src: 2}, {Off: 3, Len: 2, Data: []byte("wx")}}},
		{4, 5, []mp4.Segment{{Off: 4, Len: 3, Data: []byte("xyz")}, {Off: 7, Len: 2, Src: 10}}},
		{11, 5, []mp4.Segment{{Off: 11, Len: 1, Src: 14}}},
		{12, 1, nil},
		{-1, 5, nil},
		{3, 0, nil},
	}
	for _, tt := range tests {
		got := slices.Collect(l.Spans(tt.off, tt.n))
		if !equalSegments(got, tt.want) {
			t.Errorf("Spans(%d, %d) = %v, want %v", tt.off, tt.n, got, tt.want)
		}
	}
	// Stopping early is honoured.
	for range l.Spans(0, 12) {
		break
	}
}

func equalSegments(a, b []mp4.Segment) bool {
	return slices.EqualFunc(a, b, func(x, y mp4.Segment) bool {
		return x.Off == y.Off && x.Len == y.Len && x.Src == y.Src && bytes.Equal(x.Data, y.Data) && (x.Data == nil) == (y.Data == nil)
	})
}

// TestReadAt reads every range of the virtual file and compares it with
// the bytes built in memory.
func TestReadAt(t *testing.T) {
	l, src, want := testLayout()
	r := l.ReaderAt(bytes.NewReader(src))
	for off := 0; off <= len(want)+1; off++ {
		for n := 0; n <= len(want)+2; n++ {
			p := make([]byte, n)
			got, err := r.ReadAt(p, int64(off))
			wantN := max(0, min(n, len(want)-off))
			if got != wantN || !bytes.Equal(p[:got], want[min(off, len(want)):min(off, len(want))+wantN]) {
				t.Fatalf("ReadAt(%d bytes, %d) = %d %q, want %d", n, off, got, p[:got], wantN)
			}
			if wantErr := wantN < n; wantErr != (err == io.EOF) {
				t.Fatalf("ReadAt(%d bytes, %d): err = %v", n, off, err)
			}
		}
	}
	if _, err := r.ReadAt(make([]byte, 1), -1); err == nil {
		t.Error("ReadAt at -1: no error")
	}
	// A source shorter than planned is an unexpected EOF, not a short
	// virtual file.
	short := l.ReaderAt(bytes.NewReader(src[:12]))
	if n, err := short.ReadAt(make([]byte, 12), 0); n != 9 || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("short source: ReadAt = %d, %v; want 9, ErrUnexpectedEOF", n, err)
	}
	if got := l.MemSize(); got != 4 {
		t.Errorf("MemSize = %d, want 4", got)
	}
}

func TestVirtualETag(t *testing.T) {
	for in, want := range map[string]string{
		`"abc"`:                                `"abc-fs1"`,
		`W/"abc"`:                              `W/"abc-fs1"`,
		`abc`:                                  `"abc-fs1"`,
		`""`:                                   `"-fs1"`,
		``:                                     ``,
		`"d41d8cd98f00b204e9800998ecf8427e-3"`: `"d41d8cd98f00b204e9800998ecf8427e-3-fs1"`,
	} {
		if got := mp4.VirtualETag(in); got != want {
			t.Errorf("VirtualETag(%s) = %s, want %s", in, got, want)
		}
	}
}
