package mp4_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"testing"

	"github.com/rangeserve/rangeserve/internal/testenv"
	"github.com/rangeserve/rangeserve/mp4"
)

// allocBound is the most Plan may allocate for an input of n bytes: a
// small multiple of the bytes actually present (the moov is read and
// rewritten, and may double when every stco becomes a co64), plus the
// read step, never what a box claims.
func allocBound(n int) uint64 { return 32*uint64(n) + 4<<20 }

// lying is a source that claims more bytes than it has: reads past the
// data (padded with zeros to 4 KiB, so that Plan's first read succeeds
// and it goes on to the boxes) fail, as they would if the file were
// truncated under us.
type lying struct{ data []byte }

func newLying(data []byte) lying {
	if len(data) < 4096 {
		data = append(slices.Clip(data), make([]byte, 4096-len(data))...)
	}
	return lying{data}
}

func (l lying) ReadAt(p []byte, off int64) (int, error) {
	data := l.data
	if off >= int64(len(data)) {
		return 0, io.ErrUnexpectedEOF
	}
	n := copy(p, data[off:])
	if n < len(p) {
		return n, io.ErrUnexpectedEOF
	}
	return n, nil
}

func planAllocs(r io.ReaderAt, size int64) (*mp4.Layout, error, uint64) {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	l, err := mp4.Plan(r, size, mp4.Options{})
	runtime.ReadMemStats(&after)
	return l, err, after.TotalAlloc - before.TotalAlloc
}

// FuzzPlan plans arbitrary input. Invariants: no panic; allocation bounded
// by the bytes present, also when the size claimed is 4 GiB more than
// there is; every error of a well-read source means "serve unchanged"; a
// layout keeps its invariants, its Size is the source's minus the old moov
// plus the new one, and its virtual file is faststart, with the same
// tracks, chunk and sample counts, each chunk offset pointing at the same
// bytes.
func FuzzPlan(f *testing.F) {
	for _, c := range planCases() {
		src, _ := c.make()
		f.Add(src)
	}
	for _, c := range unchangedCases() {
		f.Add(c.src)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if _, err, n := planAllocs(newLying(data), int64(len(data))+1<<32); n > allocBound(len(data)) {
			t.Fatalf("Plan with a lying size allocated %d bytes for %d bytes of input (%v)", n, len(data), err)
		}
		l, err, n := planAllocs(bytes.NewReader(data), int64(len(data)))
		if n > allocBound(len(data)) {
			t.Fatalf("Plan allocated %d bytes for %d bytes of input", n, len(data))
		}
		if err != nil {
			if l != nil || !errors.Is(err, mp4.ErrUnchanged) {
				t.Fatalf("Plan = %v, %v: an error that is not ErrUnchanged from an in-memory source", l, err)
			}
			return
		}
		checkLayout(t, l)
		var fromSrc int64
		for _, s := range l.Segments {
			if s.Data == nil {
				if s.Src < 0 || s.Src+s.Len > int64(len(data)) {
					t.Fatalf("segment %+v outside the source of %d bytes", s, len(data))
				}
				fromSrc += s.Len
			}
		}
		// The old moov is dropped, a small ftyp is copied into memory,
		// everything else comes from the source.
		var oldMoov, ftyp int64 = -1, 0
		for i, b := range topLevel(t, data) {
			if b.typ == "moov" {
				oldMoov = b.size
			}
			if i == 0 && b.typ == "ftyp" && b.size <= 4096 {
				ftyp = b.size
			}
		}
		if fromSrc+oldMoov+ftyp != int64(len(data)) || l.Size != fromSrc+l.MemSize() {
			t.Fatalf("layout of %d bytes takes %d from the source, %d in memory; the old moov has %d, the ftyp %d", l.Size, fromSrc, l.MemSize(), oldMoov, ftyp)
		}
		virt, err := readAll(l.ReaderAt(bytes.NewReader(data)), l.Size)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := mp4.Plan(bytes.NewReader(virt), l.Size, mp4.Options{}); !errors.Is(err, mp4.ErrFaststart) {
			t.Fatalf("Plan(virtual) = %v, want ErrFaststart", err)
		}
		sameChunks(t, bytes.NewReader(data), int64(len(data)), l)
	})
}

type topBox struct {
	typ       string
	off, size int64
}

// topLevel lists the top-level boxes of a well-formed file.
func topLevel(t testing.TB, data []byte) []topBox {
	var out []topBox
	for off := int64(0); off < int64(len(data)); {
		h := data[off:]
		n := int64(binary.BigEndian.Uint32(h))
		switch n {
		case 0:
			n = int64(len(data)) - off
		case 1:
			n = int64(binary.BigEndian.Uint64(h[8:]))
		}
		out = append(out, topBox{string(h[4:8]), off, n})
		off += n
	}
	return out
}

var fixtureLayout = sync.OnceValues(func() (*mp4.Layout, []byte) {
	src, err := os.ReadFile(fixture)
	if err != nil {
		panic(err)
	}
	l, err := mp4.Plan(bytes.NewReader(src), int64(len(src)), mp4.Options{})
	if err != nil {
		panic(err)
	}
	return l, src
})

// FuzzSpans reads arbitrary ranges of the fixture's virtual file through
// Spans and ReadAt and compares them with the virtual file built in
// memory.
func FuzzSpans(f *testing.F) {
	l, src := fixtureLayout()
	virt, err := readAll(l.ReaderAt(bytes.NewReader(src)), l.Size)
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range l.Segments {
		f.Add(s.Off, s.Len)
		f.Add(s.Off-1, int64(2))
		f.Add(s.Off+s.Len-3, int64(100))
	}
	f.Add(int64(0), l.Size+1)
	f.Add(l.Size, int64(1))
	f.Add(int64(-5), int64(10))
	f.Fuzz(func(t *testing.T, off, n int64) {
		var got []byte
		at := off
		for s := range l.Spans(off, n) {
			if s.Off != at || s.Len <= 0 {
				t.Fatalf("Spans(%d, %d): piece at %d of %d bytes, want it at %d", off, n, s.Off, s.Len, at)
			}
			if s.Data != nil {
				got = append(got, s.Data...)
			} else {
				got = append(got, src[s.Src:s.Src+s.Len]...)
			}
			at += s.Len
		}
		var want []byte
		if off >= 0 && n > 0 && off < l.Size {
			want = virt[off : off+min(n, l.Size-off)]
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("Spans(%d, %d): %d bytes differ from the %d expected", off, n, len(got), len(want))
		}
		if off < 0 || n < 0 || n > 1<<20 {
			return
		}
		p := make([]byte, n)
		m, err := l.ReadAt(bytes.NewReader(src), p, off)
		if !bytes.Equal(p[:m], want) || (m < int(n)) != (err == io.EOF) {
			t.Fatalf("ReadAt(%d bytes, %d) = %d, %v", n, off, m, err)
		}
	})
}

// TestWriteFuzzCorpus regenerates testdata/fuzz/FuzzPlan when
// MP4_WRITE_CORPUS=1: tiny real files from ffmpeg (moov at the end in MP4,
// MOV and M4A, faststart, fragmented) and truncated or lying versions of
// one of them. The hand-built cases of the table tests are added by
// FuzzPlan itself.
func TestWriteFuzzCorpus(t *testing.T) {
	if os.Getenv("MP4_WRITE_CORPUS") != "1" {
		t.Skip("set MP4_WRITE_CORPUS=1 to regenerate testdata/fuzz/FuzzPlan")
	}
	ffmpeg := testenv.Require(t, "ffmpeg")
	dir := t.TempDir()
	ff := func(out string, args ...string) []byte {
		p := filepath.Join(dir, out)
		args = slices.Concat([]string{"-hide_banner", "-v", "error", "-nostdin", "-y"}, args,
			[]string{"-map_metadata", "-1", "-fflags", "+bitexact", "-flags:v", "+bitexact", "-flags:a", "+bitexact", p})
		if b, err := exec.Command(ffmpeg, args...).CombinedOutput(); err != nil {
			t.Fatalf("ffmpeg %v: %v\n%s", args, err, b)
		}
		return mustRead(t, p)
	}
	tiny := ff("tiny.mp4", "-f", "lavfi", "-i", "testsrc2=size=32x32:rate=10:duration=0.3",
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=8000:duration=0.3",
		"-c:v", "libx264", "-preset", "ultrafast", "-crf", "40", "-threads", "1", "-x264-params", "threads=1",
		"-c:a", "aac", "-b:a", "16k", "-ac", "1", "-shortest")
	in := filepath.Join(dir, "tiny.mp4")
	seeds := map[string][]byte{
		"ffmpeg_moov_at_end_mp4": tiny,
		"ffmpeg_moov_at_end_mov": ff("tiny.mov", "-i", in, "-c", "copy", "-f", "mov"),
		"ffmpeg_moov_at_end_m4a": ff("tiny.m4a", "-i", in, "-vn", "-c", "copy"),
		"ffmpeg_faststart":       ff("fast.mp4", "-i", in, "-c", "copy", "-movflags", "+faststart"),
		"ffmpeg_fragmented":      ff("frag.mp4", "-i", in, "-c", "copy", "-movflags", "+frag_keyframe+empty_moov"),
	}
	boxes := topLevel(t, tiny)
	var mv topBox
	for _, b := range boxes {
		if b.typ == "moov" {
			mv = b
		}
	}
	if mv.typ == "" || mv.off < 100 {
		t.Fatalf("tiny.mp4's boxes %v: want moov at the end", boxes)
	}
	patch := func(at int, b []byte) []byte { c := slices.Clone(tiny); copy(c[at:], b); return c }
	stcoAt := bytes.Index(tiny[mv.off:], []byte("stco")) + int(mv.off) - 4
	seeds["truncated_in_mdat"] = tiny[:mv.off/2]
	seeds["truncated_in_moov"] = tiny[:mv.off+mv.size/2]
	seeds["truncated_last_byte"] = tiny[:len(tiny)-1]
	seeds["lying_moov_64MiB"] = patch(int(mv.off), u32(64<<20))
	seeds["lying_moov_size_0"] = patch(int(mv.off), u32(0))
	seeds["lying_mdat_largesize"] = patch(40, slices.Concat(u32(1), []byte("mdat"), u64(1<<62)))
	seeds["lying_stco_count"] = patch(stcoAt+12, u32(0xffffffff))
	seeds["lying_stco_offset"] = patch(stcoAt+16, u32(0xfffffff0))
	seeds["lying_stco_size"] = patch(stcoAt, u32(7))
	seeds["stco_renamed_co64"] = patch(stcoAt+4, []byte("co64"))
	out := filepath.Join("testdata", "fuzz", "FuzzPlan")
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, b := range seeds {
		data := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
		if err := os.WriteFile(filepath.Join(out, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
