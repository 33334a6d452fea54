package zipstream_test

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/rangeserve/rangeserve/zipstream"
)

// mappedTree writes files of the given sizes (random bytes) under a new
// folder and returns it with their listing.
func mappedTree(t *testing.T, sizes []int) (string, []zipstream.Entry, map[string][]byte) {
	t.Helper()
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(11, uint64(len(sizes))))
	files := map[string][]byte{}
	var es []zipstream.Entry
	for i, size := range sizes {
		name := fmt.Sprintf("f%02d.bin", i)
		data := make([]byte, size)
		for j := range data {
			data[j] = byte(rng.UintN(256))
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
		fi, _ := os.Stat(filepath.Join(dir, name))
		files[name] = data
		es = append(es, zipstream.Entry{Name: name, Size: fi.Size(), ModTime: fi.ModTime(), ETag: osETag(fi)})
	}
	return dir, es, files
}

// TestMappedSpans: spans of local files whose CRC-32 is unknown, sent to
// a writer with ReadFrom (hashed through a mapping on Linux), give the
// bytes of the archive produced through the buffer: whole, and ranges
// that start or end inside a file and around the mapping's windows.
func TestMappedSpans(t *testing.T) {
	const mib = 1 << 20
	dir, es, files := mappedTree(t, []int{256<<10 - 1, 256 << 10, mib, mib + 1, 3*mib + mib/2, 5})
	o := filerFS{osFS{dir: dir}}
	a := build(t, es)
	want := whole(t, a.Reader(t.Context(), o, nil)) // through the buffer (no ReadFrom)
	zr, err := zip.NewReader(bytes.NewReader(want), int64(len(want)))
	if err != nil {
		t.Fatal(err)
	}
	for _, zf := range zr.File {
		rc, _ := zf.Open()
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || !bytes.Equal(got, files[zf.Name]) {
			t.Fatalf("%s: %v", zf.Name, err)
		}
	}
	big := a.Entry(4)
	for _, tc := range []struct {
		name     string
		off, end int64
	}{
		{"whole", 0, a.Size()},
		{"from inside the 3.5 MiB file", big.Data + 10, a.Size()},
		{"one window and a bit", big.Data + mib - 100, big.Data + 2*mib + 100},
		{"up to inside the 3.5 MiB file", 0, big.Data + mib + 7},
		{"its end and the central directory", big.Data + big.Size - 300000, a.Size()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := &readFromWriter{}
			// A fresh Sums: every CRC-32 needed is learnt.
			if err := a.Reader(t.Context(), o, zipstream.NewSums(0)).WriteRange(w, tc.off, tc.end-tc.off); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(w.Bytes(), want[tc.off:tc.end]) {
				t.Fatalf("%d bytes differ from the archive's [%d, %d)", w.Len(), tc.off, tc.end)
			}
			if runtime.GOOS == "linux" && tc.name == "whole" && w.viaReadFrom < int64(mib+(mib+1)+3*mib+mib/2+256<<10) {
				t.Errorf("%d bytes through ReadFrom: the spans of 256 KiB and more were not sent that way", w.viaReadFrom)
			}
		})
	}
}

// truncatingFS opens entries, then truncates the file named victim to
// half its size, so that a read of its second half finds nothing there.
type truncatingFS struct {
	filerFS
	victim string
}

func (o truncatingFS) Open(ctx context.Context, e zipstream.Entry) (zipstream.File, error) {
	f, err := o.filerFS.Open(ctx, e)
	if err == nil && e.Name == o.victim {
		err = os.Truncate(filepath.Join(o.dir, e.Name), e.Size/2)
	}
	return f, err
}

// TestMappedFileTruncated: a file truncated while it is hashed through a
// mapping (SIGBUS past its new end) fails the archive with ErrChanged;
// the process does not crash, and no CRC-32 is learnt from it.
func TestMappedFileTruncated(t *testing.T) {
	dir, es, _ := mappedTree(t, []int{1000, 3 << 20})
	o := truncatingFS{filerFS: filerFS{osFS{dir: dir}}, victim: "f01.bin"}
	a := build(t, es)
	sums := zipstream.NewSums(0)
	w := &readFromWriter{}
	err := a.Reader(t.Context(), o, sums).WriteRange(w, 0, a.Size())
	if !errors.Is(err, zipstream.ErrChanged) {
		t.Fatalf("WriteRange: %v; want ErrChanged", err)
	}
	if runtime.GOOS == "linux" && !strings.Contains(err.Error(), "fault reading a mapped file") {
		t.Errorf("WriteRange: %v; want the fault of the mapping past the new end", err)
	}
	if int64(w.Len()) >= a.Entry(1).Data+a.Entry(1).Size {
		t.Errorf("%d bytes written: more than the truncated file holds", w.Len())
	}
	if sums.Len() != 1 {
		t.Errorf("%d CRC-32s learnt, want 1 (f00.bin's only)", sums.Len())
	}
}
