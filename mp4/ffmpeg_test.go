package mp4_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/rangeserve/rangeserve/internal/testenv"
	"github.com/rangeserve/rangeserve/mp4"
)

// The tests in this file run ffmpeg and ffprobe on virtual files written
// to disk: the decoded frames must be those of the original, frame for
// frame (-f framemd5), and the moov must come before the mdat.

const fixture = "../testdata/moov-at-end.mp4"

// topBoxes lists the types of the top-level boxes of a file.
func topBoxes(t testing.TB, r io.ReaderAt, size int64) []string {
	t.Helper()
	var out []string
	for off := int64(0); off < size; {
		var h [16]byte
		if _, err := r.ReadAt(h[:min(16, size-off)], off); err != nil && err != io.EOF {
			t.Fatal(err)
		}
		n := int64(binary.BigEndian.Uint32(h[:]))
		switch n {
		case 0:
			n = size - off
		case 1:
			n = int64(binary.BigEndian.Uint64(h[8:]))
		}
		if n < 8 {
			t.Fatalf("box of size %d at %d", n, off)
		}
		out = append(out, string(h[4:8]))
		off += n
	}
	return out
}

// framemd5 returns ffmpeg's per-frame hashes of a file: decoded frames,
// or the packets as stored when copy is set.
func framemd5(t testing.TB, ffmpeg, file string, copy bool) string {
	t.Helper()
	args := []string{"-hide_banner", "-v", "error", "-nostdin", "-i", file, "-map", "0"}
	if copy {
		args = append(args, "-c", "copy")
	}
	args = append(args, "-f", "framemd5", "-")
	var stderr bytes.Buffer
	cmd := exec.Command(ffmpeg, args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || stderr.Len() > 0 {
		t.Fatalf("ffmpeg %v: %v\n%s", args, err, stderr.String())
	}
	// Drop the comment lines, which name the input file.
	var keep []string
	for _, line := range strings.Split(string(out), "\n") {
		if !strings.HasPrefix(line, "#") {
			keep = append(keep, line)
		}
	}
	if len(keep) < 10 {
		t.Fatalf("ffmpeg framemd5 of %s: %d lines", file, len(keep))
	}
	return strings.Join(keep, "\n")
}

func ffprobe(t testing.TB, file string, entries string) string {
	t.Helper()
	out, err := exec.Command(testenv.Require(t, "ffprobe"), "-v", "error", "-show_entries", entries, "-of", "csv=p=0", file).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", file, err)
	}
	return strings.TrimSpace(string(out))
}

// writeVirtual writes the virtual file of l over src to a new file.
func writeVirtual(t testing.TB, l *mp4.Layout, src io.ReaderAt, name string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := io.Copy(f, io.NewSectionReader(l.ReaderAt(src), 0, l.Size)); err != nil {
		t.Fatal(err)
	}
	return p
}

// checkDecodesSame plans src, writes the virtual file and compares it with
// the original through ffmpeg and ffprobe.
func checkDecodesSame(t *testing.T, ffmpeg, src string) (*mp4.Layout, string) {
	t.Helper()
	f, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	if got := topBoxes(t, f, fi.Size()); slices.Index(got, "moov") < slices.Index(got, "mdat") {
		t.Fatalf("%s is already faststart: %v", src, got)
	}
	l, err := mp4.Plan(f, fi.Size(), mp4.Options{})
	if err != nil {
		t.Fatalf("Plan(%s): %v", src, err)
	}
	checkLayout(t, l)
	virt := writeVirtual(t, l, f, "virtual"+filepath.Ext(src))
	vf, err := os.Open(virt)
	if err != nil {
		t.Fatal(err)
	}
	defer vf.Close()
	got := topBoxes(t, vf, l.Size)
	if i, j := slices.Index(got, "moov"), slices.Index(got, "mdat"); i < 0 || j < 0 || i > j {
		t.Fatalf("virtual file's top-level boxes %v: want moov before mdat", got)
	}
	if _, err := mp4.Plan(vf, l.Size, mp4.Options{}); !errors.Is(err, mp4.ErrFaststart) {
		t.Fatalf("Plan(virtual) = %v, want ErrFaststart", err)
	}
	sameChunks(t, f, fi.Size(), l)
	for _, cp := range []bool{false, true} {
		if a, b := framemd5(t, ffmpeg, src, cp), framemd5(t, ffmpeg, virt, cp); a != b {
			t.Fatalf("framemd5 (copy %v) differs:\noriginal:\n%s\nvirtual:\n%s", cp, a, b)
		}
	}
	const entries = "format=duration,nb_streams:stream=codec_name,nb_frames"
	if a, b := ffprobe(t, src, entries), ffprobe(t, virt, entries); a != b {
		t.Fatalf("ffprobe: original %q, virtual %q", a, b)
	}
	return l, virt
}

// TestFFmpegFixture: the committed moov-at-end fixture decodes frame for
// frame the same from its virtual faststart file.
func TestFFmpegFixture(t *testing.T) {
	ffmpeg := testenv.Require(t, "ffmpeg")
	l, virt := checkDecodesSame(t, ffmpeg, fixture)
	src, err := os.ReadFile(fixture)
	if err != nil {
		t.Fatal(err)
	}
	// In memory: the ftyp and the new moov (as long as the old one: no
	// co64 needed); then the free and mdat boxes in one range of the
	// source.
	moovAt := bytes.LastIndex(src, []byte("moov")) - 4
	want := []mp4.Segment{{Off: 0, Len: 32 + int64(len(src)-moovAt)}, {Off: 32 + int64(len(src)-moovAt), Len: int64(moovAt - 32), Src: 32}}
	if len(l.Segments) != 2 || l.Size != int64(len(src)) {
		t.Fatalf("layout: %d segments, size %d; want 2, %d", len(l.Segments), l.Size, len(src))
	}
	for i, s := range l.Segments {
		if s.Off != want[i].Off || s.Len != want[i].Len || s.Src != want[i].Src || (s.Data != nil) != (i == 0) {
			t.Errorf("segment %d = {%d %d %d mem=%v}, want %+v", i, s.Off, s.Len, s.Src, s.Data != nil, want[i])
		}
	}
	if !bytes.Equal(l.Segments[0].Data[:32], src[:32]) {
		t.Error("the in-memory segment does not start with the source's ftyp")
	}
	if got := topBoxes(t, bytes.NewReader(mustRead(t, virt)), l.Size); !slices.Equal(got, []string{"ftyp", "moov", "free", "mdat"}) {
		t.Errorf("virtual top-level boxes %v", got)
	}
}

func mustRead(t testing.TB, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestFFmpegFormats remuxes the fixture (without +faststart) into the
// other containers the media package plans for.
func TestFFmpegFormats(t *testing.T) {
	ffmpeg := testenv.Require(t, "ffmpeg")
	tests := []struct {
		name string
		args []string
	}{
		{"movie.mov", []string{"-c", "copy", "-f", "mov"}},
		{"audio.m4a", []string{"-vn", "-c", "copy"}},
		{"video-only.m4v", []string{"-an", "-c", "copy", "-f", "mp4"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), tt.name)
			args := slices.Concat([]string{"-hide_banner", "-v", "error", "-nostdin", "-i", fixture}, tt.args,
				[]string{"-map_metadata", "-1", "-fflags", "+bitexact", out})
			if b, err := exec.Command(ffmpeg, args...).CombinedOutput(); err != nil {
				t.Fatalf("ffmpeg %v: %v\n%s", args, err, b)
			}
			checkDecodesSame(t, ffmpeg, out)
		})
	}
}

// TestFFmpegCo64 builds a sparse copy of the fixture just over 4 GiB whose
// chunks sit just under 2^32 (a free box of almost 4 GiB before the media
// data), so that moving the moov ahead of them pushes offsets past 32 bits
// and stco must become co64. ffmpeg then decodes the virtual file (also
// written sparse) frame for frame like the original. Only the few hundred
// KiB of real data are ever written or read.
func TestFFmpegCo64(t *testing.T) {
	ffmpeg := testenv.Require(t, "ffmpeg")
	src := mustRead(t, fixture)
	moovAt := bytes.LastIndex(src, []byte("moov")) - 4
	mv := slices.Clone(src[moovAt:])
	tr, err := mp4.Tracks(bytes.NewReader(src), int64(len(src)))
	if err != nil {
		t.Fatal(err)
	}
	var last uint64
	for _, x := range tr {
		last = max(last, slices.Max(x.Chunks))
	}
	// The free box goes after ftyp; the last chunk then starts half a
	// moov below 2^32.
	pad := uint32(math.MaxUint32 + 1 - last - uint64(len(mv))/2)
	shiftStco(t, mv, pad)

	dir := t.TempDir()
	orig := filepath.Join(dir, "big.mp4")
	f, err := os.Create(orig)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	size := int64(len(src)) + int64(pad)
	writes := []struct {
		off int64
		b   []byte
	}{
		{0, src[:32]}, // ftyp
		{32, slices.Concat(u32(pad), []byte("free"))},
		{32 + int64(pad), src[32:moovAt]}, // free, mdat
		{int64(moovAt) + int64(pad), mv},
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	for _, w := range writes {
		if _, err := f.WriteAt(w.b, w.off); err != nil {
			t.Fatal(err)
		}
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil || st.Blocks*512 > 64<<20 {
		t.Skipf("the temporary directory does not keep files sparse (%d blocks, %v)", st.Blocks, err)
	}
	if size <= 1<<32 {
		t.Fatalf("test is wrong: size %d", size)
	}

	l, err := mp4.Plan(f, size, mp4.Options{})
	if err != nil {
		t.Fatal(err)
	}
	checkLayout(t, l)
	vt := sameChunks(t, f, size, l)
	co := 0
	for _, x := range vt {
		if x.Co64 {
			co++
			if slices.Max(x.Chunks) <= math.MaxUint32 {
				t.Errorf("a co64 track whose offsets all fit in 32 bits: %v", x.Chunks)
			}
		}
	}
	if co == 0 {
		t.Fatal("no track became co64")
	}
	if l.Size != size+4*int64(len(vt[0].Chunks)*boolInt(vt[0].Co64)+len(vt[1].Chunks)*boolInt(vt[1].Co64)) {
		t.Errorf("Size = %d: want the source's %d plus 4 bytes per co64 entry", l.Size, size)
	}

	virt := filepath.Join(dir, "virtual.mp4")
	vf, err := os.Create(virt)
	if err != nil {
		t.Fatal(err)
	}
	defer vf.Close()
	if err := vf.Truncate(l.Size); err != nil {
		t.Fatal(err)
	}
	for s := range l.Spans(0, l.Size) {
		if s.Data != nil {
			_, err = vf.WriteAt(s.Data, s.Off)
		} else {
			err = copyData(vf, f, s.Off, s.Src, s.Len)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := topBoxes(t, vf, l.Size); !slices.Equal(got, []string{"ftyp", "moov", "free", "free", "mdat"}) {
		t.Fatalf("virtual top-level boxes %v", got)
	}
	if a, b := framemd5(t, ffmpeg, orig, false), framemd5(t, ffmpeg, virt, false); a != b {
		t.Fatalf("framemd5 differs:\noriginal:\n%s\nvirtual:\n%s", a, b)
	}
	if a, b := framemd5(t, ffmpeg, fixture, false), framemd5(t, ffmpeg, virt, false); a != b {
		t.Fatalf("framemd5 differs from the fixture's")
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// shiftStco adds delta to every stco entry of a moov box, in place (a test
// helper independent of the package's own walk).
func shiftStco(t testing.TB, b []byte, delta uint32) {
	t.Helper()
	n := 0
	var walk func(b []byte)
	walk = func(b []byte) {
		for len(b) >= 8 {
			size := binary.BigEndian.Uint32(b)
			typ := string(b[4:8])
			switch typ {
			case "moov", "trak", "mdia", "minf", "stbl":
				walk(b[8:size])
			case "stco":
				count := binary.BigEndian.Uint32(b[12:])
				for i := range count {
					e := b[16+4*i:]
					v := uint64(binary.BigEndian.Uint32(e)) + uint64(delta)
					if v > math.MaxUint32 {
						t.Fatalf("shiftStco: %d does not fit", v)
					}
					binary.BigEndian.PutUint32(e, uint32(v))
				}
				n++
			}
			b = b[size:]
		}
	}
	walk(b)
	if n == 0 {
		t.Fatal("shiftStco: no stco box")
	}
}

// copyData copies the data regions (not the holes) of src's [off, off+n)
// to dst at dstOff, with lseek's SEEK_DATA and SEEK_HOLE.
func copyData(dst, src *os.File, dstOff, off, n int64) error {
	const seekData, seekHole = 3, 4
	start, end := off, off+n
	for off < end {
		d, err := src.Seek(off, seekData)
		if errors.Is(err, syscall.ENXIO) {
			return nil
		} else if err != nil {
			return err
		}
		if d >= end {
			return nil
		}
		h, err := src.Seek(d, seekHole)
		if err != nil {
			return err
		}
		h = min(h, end)
		if _, err := io.Copy(io.NewOffsetWriter(dst, dstOff+d-start), io.NewSectionReader(src, d, h-d)); err != nil {
			return err
		}
		off = h
	}
	return nil
}
