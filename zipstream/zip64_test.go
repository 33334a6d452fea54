package zipstream_test

import (
	"archive/zip"
	"bytes"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rangeserve/rangeserve/internal/testenv"
	"github.com/rangeserve/rangeserve/zipstream"
)

func TestCRC32Combine(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	data := make([]byte, 5000)
	for i := range data {
		data[i] = byte(rng.UintN(256))
	}
	for _, cut := range []int{0, 1, 2, 3, 7, 8, 100, 2500, 4999, 5000} {
		a, b := data[:cut], data[cut:]
		got := zipstream.CRC32Combine(crc32.ChecksumIEEE(a), crc32.ChecksumIEEE(b), int64(len(b)))
		if want := crc32.ChecksumIEEE(data); got != want {
			t.Errorf("cut at %d: combined %08x, want %08x", cut, got, want)
		}
	}
}

// zerosCRC returns the CRC-32 of n zero bytes, by doubling.
func zerosCRC(n int64) uint32 {
	var crc uint32 // of the zeros so far
	var done int64
	pow, powLen := crc32.ChecksumIEEE([]byte{0}), int64(1) // CRC of powLen zeros
	for ; n > 0; n >>= 1 {
		if n&1 != 0 {
			crc = zipstream.CRC32Combine(crc, pow, powLen)
			done += powLen
		}
		pow = zipstream.CRC32Combine(pow, pow, powLen)
		powLen *= 2
	}
	return crc
}

// TestZip64SparseFile archives a sparse 5 GiB file between two small
// ones: the big entry needs ZIP64 sizes, the one after it a ZIP64 offset,
// and the central directory the ZIP64 end records. Nothing of the 5 GiB is
// written to disk: the file is sparse, so is the archive written for
// unzip, and the big file's CRC-32 is given as stored by its backend
// (computed here from its few non-zero bytes), so that unzip -t checks
// the combination against every byte.
func TestZip64SparseFile(t *testing.T) {
	testenv.Short(t, "unzip -t reads a 5 GiB sparse archive")
	const big = 5 << 30
	begin := time.Now()
	defer func() { t.Logf("total %v", time.Since(begin)) }()
	dir := t.TempDir()
	write := func(name string, data []byte) {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("a-before.txt", []byte("before the big one\n"))
	write("c/after.txt", []byte("after the big one: its header is past 4 GiB\n"))
	marks := map[int64][]byte{0: []byte("HEAD"), 4<<30 - 2: []byte("4GiB"), big - 4: []byte("TAIL")}
	f, err := os.Create(filepath.Join(dir, "b-big.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(big); err != nil {
		t.Fatal(err)
	}
	var stored uint32 // CRC-32 of the sparse file from its marks
	var pos int64
	for _, off := range []int64{0, 4<<30 - 2, big - 4} {
		if _, err := f.WriteAt(marks[off], off); err != nil {
			t.Fatal(err)
		}
		stored = zipstream.CRC32Combine(stored, zerosCRC(off-pos), off-pos)
		stored = zipstream.CRC32Combine(stored, crc32.ChecksumIEEE(marks[off]), 4)
		pos = off + 4
	}
	f.Close()

	var es []zipstream.Entry
	for _, name := range []string{"a-before.txt", "b-big.bin", "c", "c/after.txt"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		es = append(es, zipstream.Entry{Name: name, Dir: fi.IsDir(), Size: fi.Size(), ModTime: fi.ModTime(), ETag: osETag(fi)})
	}
	a := build(t, es)
	r := a.Reader(t.Context(), osFS{dir: dir, stored: map[string]uint32{"b-big.bin": stored}}, nil)

	bigAt := a.Entry(1)
	if got := bigAt.Data - bigAt.Header; got != 30+int64(len("b-big.bin"))+9+20 {
		t.Errorf("big entry's local header: %d bytes, want one with a ZIP64 extra field", got)
	}
	if got := bigAt.End - bigAt.Descriptor; got != 24 {
		t.Errorf("big entry's descriptor: %d bytes, want 24 (ZIP64)", got)
	}
	if a.Entry(3).Header < 1<<32 {
		t.Fatalf("after.txt's header at %d: the test needs it past 4 GiB", a.Entry(3).Header)
	}

	// archive/zip reads the central directory (ZIP64 end records, ZIP64
	// sizes and offsets) through ReadAt, and the small entries whole.
	zr, err := zip.NewReader(r, r.Size())
	if err != nil {
		t.Fatalf("archive/zip: %v", err)
	}
	if len(zr.File) != 4 {
		t.Fatalf("archive/zip sees %d entries, want 4", len(zr.File))
	}
	for i, zf := range zr.File {
		p := a.Entry(i)
		if zf.Name != p.Name || zf.UncompressedSize64 != uint64(p.Size) {
			t.Errorf("entry %d: %q of %d bytes, want %q of %d", i, zf.Name, zf.UncompressedSize64, p.Name, p.Size)
		}
		if off, err := zf.DataOffset(); err != nil || off != p.Data {
			t.Errorf("%s: data at %d (%v), layout says %d", zf.Name, off, err, p.Data)
		}
		if !zf.Modified.Equal(es[i].ModTime.Truncate(time.Second)) {
			t.Errorf("%s: modified %v, want %v", zf.Name, zf.Modified, es[i].ModTime.Truncate(time.Second))
		}
	}
	if zr.File[1].CRC32 != stored {
		t.Errorf("big entry's CRC-32 %08x, want the stored %08x", zr.File[1].CRC32, stored)
	}
	for _, i := range []int{0, 3} {
		rc, err := zr.File[i].Open()
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		want, _ := os.ReadFile(filepath.Join(dir, es[i].Name))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: %q, %v; want %q", es[i].Name, got, err, want)
		}
	}
	// Spot checks of the big entry's data, marks and zeros around them.
	for off, mark := range marks {
		for _, d := range []int64{-3, 0} {
			if off+d < 0 {
				continue
			}
			got := make([]byte, 7)
			n, err := r.ReadAt(got, bigAt.Data+off+d)
			if err != nil || n != 7 {
				t.Fatalf("ReadAt(7, %d): %d, %v", bigAt.Data+off+d, n, err)
			}
			want := make([]byte, 7)
			copy(want[-d:], mark)
			if off+d+7 > big {
				// past the data: the descriptor's signature
				want = append(want[:-d+4], 0x50, 0x4b, 0x07)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("big entry at %d: % x, want % x", off+d, got, want)
			}
		}
	}

	// unzip -t over a sparse copy of the archive: every byte but the big
	// entry's zeros is written.
	unzip := testenv.Require(t, "unzip")
	path := filepath.Join(t.TempDir(), "big.zip")
	out, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	if err := out.Truncate(r.Size()); err != nil {
		t.Fatal(err)
	}
	spans := [][2]int64{{0, bigAt.Data}, {bigAt.Descriptor, r.Size()}}
	for off := range marks {
		spans = append(spans, [2]int64{bigAt.Data + off, bigAt.Data + off + 4})
	}
	for _, s := range spans {
		if err := r.WriteRange(io.NewOffsetWriter(out, s[0]), s[0], s[1]-s[0]); err != nil {
			t.Fatalf("WriteRange(%d, %d): %v", s[0], s[1]-s[0], err)
		}
	}
	start := time.Now()
	runUnzipTest(t, unzip, path, 4)
	t.Logf("unzip -t of the sparse %d-byte archive: %v", r.Size(), time.Since(start))
}

// TestManyEntries needs the ZIP64 end records for its entry count.
func TestManyEntries(t *testing.T) {
	const n = 70_000
	es := make([]zipstream.Entry, 0, n+1)
	es = append(es, zipstream.Entry{Name: "d", Dir: true, ModTime: mtime})
	for i := range n {
		es = append(es, zipstream.Entry{Name: fmt.Sprintf("d/%05d", i), ModTime: mtime, ETag: `"e"`})
	}
	a := build(t, es)
	data := whole(t, a.Reader(t.Context(), newMemFS(), nil))
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatalf("archive/zip: %v", err)
	}
	if len(zr.File) != n+1 {
		t.Fatalf("archive/zip sees %d entries, want %d", len(zr.File), n+1)
	}
	if zr.File[n].Name != fmt.Sprintf("d/%05d", n-1) {
		t.Errorf("last entry %q", zr.File[n].Name)
	}
	unzip := testenv.Require(t, "unzip")
	path := filepath.Join(t.TempDir(), "many.zip")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	runUnzipTest(t, unzip, path, n+1)
}
