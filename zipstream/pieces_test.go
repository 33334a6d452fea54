package zipstream_test

import (
	"bytes"
	"io"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/rangeserve/rangeserve/zipstream"
)

// bigTree is a listing with one 2 MiB file between two small ones.
func bigTree(t testing.TB) (*memFS, []zipstream.Entry, int) {
	m := newMemFS()
	rng := rand.New(rand.NewPCG(11, 12))
	big := make([]byte, 2<<20)
	for i := range big {
		big[i] = byte(rng.UintN(256))
	}
	m.put("a.txt", []byte("first\n"))
	m.put("big.bin", big)
	m.put("z.txt", []byte("last\n"))
	es := m.entries(nil, mtime)
	return m, es, 1
}

// TestRangesSharingSums: random ranges from fresh archives sharing one
// Sums record pieces at random offsets; every range, descriptors and
// central directory included, still equals the whole archive's bytes.
func TestRangesSharingSums(t *testing.T) {
	m, es, _ := bigTree(t)
	full := whole(t, build(t, es).Reader(t.Context(), m, nil))
	size := int64(len(full))
	rng := rand.New(rand.NewPCG(13, 14))
	for round := range 20 {
		sums := zipstream.NewSums(0)
		for range 6 {
			off := rng.Int64N(size)
			n := rng.Int64N(size - off + 1)
			var b bytes.Buffer
			if err := build(t, es).Reader(t.Context(), m, sums).WriteRange(&b, off, n); err != nil {
				t.Fatalf("round %d: WriteRange(%d, %d): %v", round, off, n, err)
			}
			if !bytes.Equal(b.Bytes(), full[off:off+n]) {
				t.Fatalf("round %d: WriteRange(%d, %d) differs from the whole archive's bytes", round, off, n)
			}
		}
	}
}

// TestSegmentsReadOnce: three requests stream a third of the big entry
// each (none reaching its descriptor); a fourth needs the whole central
// directory and reads nothing: the pieces combine.
func TestSegmentsReadOnce(t *testing.T) {
	m, es, bi := bigTree(t)
	sums := zipstream.NewSums(0)
	a := build(t, es)
	p := a.Entry(bi)
	third := p.Size / 3
	for _, s := range [][2]int64{{0, p.Data + third}, {p.Data + third, third}, {p.Data + 2*third, p.Size - 2*third}} {
		if err := build(t, es).Reader(t.Context(), m, sums).WriteRange(io.Discard, s[0], s[1]); err != nil {
			t.Fatal(err)
		}
	}
	m.resetCounts()
	cd, n := a.CentralDirectory()
	if err := a.Reader(t.Context(), m, sums).WriteRange(io.Discard, cd, n); err != nil {
		t.Fatal(err)
	}
	if got := m.bytesRead(); got != int64(len("last\n")) {
		t.Errorf("central directory after three segments read %d bytes, want %d (only z.txt, never streamed)", got, len("last\n"))
	}
}

// TestWaitsForStreamingRequest: a request needing the big entry's CRC-32
// while another streams it waits for that stream instead of reading the
// entry again; one whose stream stalls is not waited for.
func TestWaitsForStreamingRequest(t *testing.T) {
	for _, stall := range []bool{false, true} {
		m, es, bi := bigTree(t)
		sums := zipstream.NewSums(0)
		a := build(t, es)
		p := a.Entry(bi)
		full := whole(t, build(t, es).Reader(t.Context(), newMemFSCopy(m), nil))
		// Not stalled: a stream held up by a loaded machine is still
		// waited for. Stalled: the test does not read it any more.
		timeout := time.Minute
		if stall {
			timeout = 200 * time.Millisecond
		}
		restore := zipstream.SetStallTimeout(timeout)

		rc, err := build(t, es).Reader(t.Context(), m, sums).ReadRange(p.Data, p.Size)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(rc, make([]byte, 300<<10)); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		var out bytes.Buffer
		go func() {
			done <- a.Reader(t.Context(), m, sums).WriteRange(&out, p.Descriptor, p.End-p.Descriptor)
		}()
		if stall {
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			rc.Close()
		} else {
			time.Sleep(50 * time.Millisecond) // the second request is waiting
			if _, err := io.Copy(io.Discard, rc); err != nil {
				t.Fatal(err)
			}
			rc.Close()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		}
		restore()
		if !bytes.Equal(out.Bytes(), full[p.Descriptor:p.End]) {
			t.Errorf("stall=%v: descriptor differs", stall)
		}
		got := m.bytesRead()
		switch {
		case !stall && got != p.Size:
			t.Errorf("the waiting request made the entry read %d bytes in all, want %d (once)", got, p.Size)
		case stall && got > p.Size+2*int64(copyBufSize()):
			t.Errorf("stalled stream: %d bytes read in all, want at most the entry and what the stalled stream read", got)
		}
	}
}

func copyBufSize() int { return 256 << 10 }

// newMemFSCopy returns a memFS with the same files (and counters of its
// own).
func newMemFSCopy(m *memFS) *memFS {
	c := newMemFS()
	for k, v := range m.files {
		c.files[k] = v
	}
	return c
}

// TestManySmallRanges: hundreds of disjoint small ranges of one entry
// keep a bounded set of pieces, and the CRC-32 stays right.
func TestManySmallRanges(t *testing.T) {
	m, es, bi := bigTree(t)
	full := whole(t, build(t, es).Reader(t.Context(), newMemFSCopy(m), nil))
	sums := zipstream.NewSums(0)
	p := build(t, es).Entry(bi)
	for off := p.Data; off < p.Descriptor-100; off += 4000 {
		if err := build(t, es).Reader(t.Context(), m, sums).WriteRange(io.Discard, off, 100); err != nil {
			t.Fatal(err)
		}
	}
	var b bytes.Buffer
	a := build(t, es)
	cd, n := a.CentralDirectory()
	if err := a.Reader(t.Context(), m, sums).WriteRange(&b, cd, a.Size()-cd); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b.Bytes(), full[cd:]) {
		t.Fatalf("central directory after many small ranges differs")
	}
	_ = n
}
