package rangeio

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// diskSetup is a cache with a disk tier in dir and a ranged fake object.
func diskSetup(t *testing.T, dir string, memBytes, diskBytes int64) (*Cache, *DiskCache) {
	t.Helper()
	d, err := OpenDisk(DiskConfig{Dir: dir, MaxBytes: diskBytes})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return NewCache(CacheConfig{BlockSize: 64 * kib, MaxBytes: memBytes, Disk: d}), d
}

// waitWrites waits until the disk tier wrote n segments in all.
func waitWrites(t *testing.T, d *DiskCache, n uint64) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d segment writes", n), func() bool { return d.Stats().Writes+d.Stats().Skipped >= n })
}

// TestDiskRestart: a second viewer after a restart reads the object from
// the disk tier, not the backend; a new version (another id) never sees
// the old one's files.
func TestDiskRestart(t *testing.T) {
	dir := t.TempDir()
	data := bcData(30, 8*mib+12345) // 9 segments, the last short
	size := int64(len(data))
	c, d := diskSetup(t, dir, 2*mib, 1<<30) // memory smaller than the object
	o := newRanged(data)
	streamAll(t, c.Wrap("obj@v1", size, o.at(context.Background())), data, 0, size, true)
	waitWrites(t, d, 9)
	if s := d.Stats(); s.Writes != 9 || s.Segments != 9 {
		t.Fatalf("after the first viewer: %+v; want 9 segments written", s)
	}
	d.Close()

	c, d = diskSetup(t, dir, 2*mib, 1<<30) // a restart
	if s := d.Stats(); s.Segments != 9 || s.Bytes < size {
		t.Fatalf("after reopening: %+v; want the 9 segments indexed", s)
	}
	o2 := newRanged(data)
	for _, cp := range []bool{true, false} {
		streamAll(t, c.Wrap("obj@v1", size, o2.at(context.Background())), data, 0, size, cp)
	}
	// And through ReadAt, at unaligned offsets.
	ra := c.Wrap("obj@v1", size, o2.at(context.Background()))
	for off := int64(12345); off < size; off += 3*mib + 999 {
		checkReadAt(t, ra, data, off, 200*kib)
	}
	if got := o2.sent.Load(); got != 0 {
		t.Errorf("second viewer after a restart: %d bytes from the backend, want 0", got)
	}
	if s := d.Stats(); s.Hits == 0 || s.Corrupt != 0 {
		t.Errorf("disk stats %+v: want hits, nothing corrupt", s)
	}

	// Version 2 of the object: other bytes under another id.
	v2 := bcData(31, int(size))
	o3 := newRanged(v2)
	streamAll(t, c.Wrap("obj@v2", size, o3.at(context.Background())), v2, 0, size, true)
	if got := o3.sent.Load(); got != size {
		t.Errorf("version 2: %d bytes from the backend, want all %d (no block of v1)", got, size)
	}
}

// TestDiskCorrupt: a segment file that is torn, damaged, or another
// segment's is never served: it is removed and its blocks fetched again.
func TestDiskCorrupt(t *testing.T) {
	data := bcData(32, 4*mib)
	size := int64(len(data))
	damage := map[string]func(t *testing.T, p string){
		"truncated": func(t *testing.T, p string) { truncate(t, p, -100) },
		"header only": func(t *testing.T, p string) {
			truncate(t, p, -mib)
		},
		"empty":         func(t *testing.T, p string) { truncate(t, p, -1<<40) },
		"flipped data":  func(t *testing.T, p string) { flip(t, p, -5000) },
		"flipped crc":   func(t *testing.T, p string) { flip(t, p, segFixed+2) },
		"flipped id":    func(t *testing.T, p string) { flip(t, p, segFixed+4*16+3) },
		"flipped start": func(t *testing.T, p string) { flip(t, p, 8) },
		"another segment's file": func(t *testing.T, p string) {
			other := filepath.Join(filepath.Dir(p), "2")
			b, err := os.ReadFile(other)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, b, 0o600); err != nil {
				t.Fatal(err)
			}
		},
		"zeros in place": func(t *testing.T, p string) {
			fi, _ := os.Stat(p)
			if err := os.WriteFile(p, make([]byte, fi.Size()), 0o600); err != nil {
				t.Fatal(err)
			}
		},
	}
	for name, harm := range damage {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			c, d := diskSetup(t, dir, 8*mib, 1<<30)
			streamAll(t, c.Wrap("obj", size, newRanged(data).at(context.Background())), data, 0, size, true)
			waitWrites(t, d, 4)
			d.Close()
			p := filepath.Join(dir, diskDirName, objectName("obj")[:2], objectName("obj"), "1")
			harm(t, p)

			c, d = diskSetup(t, dir, 8*mib, 1<<30)
			o := newRanged(data)
			streamAll(t, c.Wrap("obj", size, o.at(context.Background())), data, 0, size, true)
			// The damaged segment again, or (a flipped block: each block
			// has its own CRC) the damaged block only.
			want := int64(mib)
			if name == "flipped data" {
				want = 64 * kib
			}
			if got := o.sent.Load(); got != want {
				t.Errorf("%s: %d bytes from the backend, want %d", name, got, want)
			}
			if s := d.Stats(); s.Corrupt == 0 {
				t.Errorf("%s: stats %+v, want the damage counted", name, s)
			}
		})
	}
}

func truncate(t *testing.T, p string, by int64) {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(p, max(fi.Size()+by, 0)); err != nil {
		t.Fatal(err)
	}
}

// flip inverts one byte of the file at off (from the end when negative).
func flip(t *testing.T, p string, off int64) {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if off < 0 {
		off += int64(len(b))
	}
	b[off] ^= 0xff
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestDiskEviction: the files stay under MaxBytes, the least recently
// used object going first.
func TestDiskEviction(t *testing.T) {
	dir := t.TempDir()
	const max = 5 * mib
	c, d := diskSetup(t, dir, 16*mib, max)
	var objs [3][]byte
	for i := range objs {
		objs[i] = bcData(uint64(40+i), 2*mib)
		streamAll(t, c.Wrap(fmt.Sprintf("obj%d", i), 2*mib, newRanged(objs[i]).at(context.Background())), objs[i], 0, 2*mib, true)
		waitWrites(t, d, uint64(2*(i+1)))
		if s := d.Stats(); s.Bytes > max {
			t.Fatalf("after object %d: %d bytes on disk, over %d", i, s.Bytes, max)
		}
	}
	s := d.Stats()
	if s.Evictions != 1 || s.Segments != 4 {
		t.Errorf("stats %+v: want obj0 evicted, 4 segments left", s)
	}
	if _, err := os.Stat(filepath.Join(dir, diskDirName, objectName("obj0")[:2], objectName("obj0"))); !os.IsNotExist(err) {
		t.Errorf("obj0's directory still there: %v", err)
	}
	d.Close()
	_, d = diskSetup(t, dir, 16*mib, 3*mib) // reopened smaller: trimmed at once
	if s := d.Stats(); s.Bytes > 3*mib || s.Segments != 2 {
		t.Errorf("reopened with 3 MiB: %+v; want one object left", s)
	}
}

// TestDiskKill9 kills a process in the middle of writing a segment; the
// next start ignores (removes) the half-written file and serves the
// segments written before it.
func TestDiskKill9(t *testing.T) {
	if os.Getenv("RANGEIO_DISK_CHILD") != "" {
		t.Skip("the child runs TestDiskKill9Child")
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestDiskKill9Child$", "-test.v")
	cmd.Env = append(os.Environ(), "RANGEIO_DISK_CHILD="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	mid := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.TrimSpace(sc.Text()) == "MID-WRITE" {
				mid <- true
				break
			}
		}
		io.Copy(io.Discard, out)
		close(mid)
	}()
	select {
	case ok := <-mid:
		if !ok {
			cmd.Wait()
			t.Fatal("the child ended without reaching the middle of a write")
		}
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatal("the child did not reach the middle of a write in 60s")
	}
	if err := cmd.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	cmd.Wait()

	tmps, _ := os.ReadDir(filepath.Join(dir, diskDirName, "tmp"))
	if len(tmps) != 1 {
		t.Fatalf("%d files in tmp after the kill, want the half-written one", len(tmps))
	}
	data := bcData(50, 3*mib)
	size := int64(len(data))
	c, d := diskSetup(t, dir, 8*mib, 1<<30)
	if tmps, _ := os.ReadDir(filepath.Join(dir, diskDirName, "tmp")); len(tmps) != 0 {
		t.Errorf("OpenDisk left %d temporary files", len(tmps))
	}
	if s := d.Stats(); s.Segments != 1 {
		t.Fatalf("after the kill: %+v; want only the segment written before it", s)
	}
	o := newRanged(data)
	streamAll(t, c.Wrap("obj", size, o.at(context.Background())), data, 0, size, true)
	if got := o.sent.Load(); got != 2*mib {
		t.Errorf("after the kill: %d bytes from the backend, want the 2 segments not on disk", got)
	}
	if s := d.Stats(); s.Corrupt != 0 || s.Hits != 1 {
		t.Errorf("after the kill: %+v; want 1 hit, nothing corrupt", s)
	}
}

// TestDiskKill9Child is the process TestDiskKill9 kills: it streams a
// 3-segment object and stops in the middle of writing the second segment.
func TestDiskKill9Child(t *testing.T) {
	dir := os.Getenv("RANGEIO_DISK_CHILD")
	if dir == "" {
		t.Skip("run by TestDiskKill9")
	}
	var calls atomic.Int32
	diskWriteHook = func() {
		if calls.Add(1) == 2 {
			fmt.Println("MID-WRITE")
			time.Sleep(time.Hour)
		}
	}
	d, err := OpenDisk(DiskConfig{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	data := bcData(50, 3*mib)
	c := NewCache(CacheConfig{BlockSize: 64 * kib, MaxBytes: 8 * mib, Disk: d})
	streamAll(t, c.Wrap("obj", int64(len(data)), newRanged(data).at(context.Background())), data, 0, int64(len(data)), true)
	time.Sleep(time.Hour)
}

// TestDiskOpenErrors: a missing or unwritable directory fails at OpenDisk.
func TestDiskOpenErrors(t *testing.T) {
	if _, err := OpenDisk(DiskConfig{}); err == nil {
		t.Error("OpenDisk without Dir: no error")
	}
	f := filepath.Join(t.TempDir(), "file")
	os.WriteFile(f, nil, 0o600)
	if _, err := OpenDisk(DiskConfig{Dir: f}); err == nil || !strings.Contains(err.Error(), f) {
		t.Errorf("OpenDisk on a file: %v; want an error naming it", err)
	}
	if _, err := OpenDisk(DiskConfig{Dir: t.TempDir(), SegmentSize: MaxSegmentSize + 1}); err == nil {
		t.Error("OpenDisk with a huge segment: no error")
	}
}

// FuzzSegHeader: any bytes as a segment header are refused or parsed into
// a header that encodes back to exactly those bytes.
func FuzzSegHeader(f *testing.F) {
	h := &segHeader{start: 1 << 20, objSize: 5<<20 + 7, bs: 64 << 10, crcs: make([]uint32, 16), id: "s3://e/b/k@etag"}
	for i := range h.crcs {
		h.crcs[i] = uint32(i * 7919)
	}
	f.Add(h.encode())
	short := &segHeader{start: 5 << 20, objSize: 5<<20 + 7, bs: 64 << 10, crcs: []uint32{42}, id: "x"}
	f.Add(short.encode())
	f.Add([]byte(segMagic))
	f.Add(bytes.Repeat([]byte{0xff}, 64))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := parseSegHeader(b)
		if err != nil {
			return
		}
		if !bytes.Equal(h.encode(), b) {
			t.Fatalf("parsed %+v does not encode back to the input", h)
		}
		if h.dataLen() <= 0 || h.dataLen() > int64(len(h.crcs))*h.bs {
			t.Fatalf("accepted a header with data length %d for %d blocks of %d", h.dataLen(), len(h.crcs), h.bs)
		}
	})
}
