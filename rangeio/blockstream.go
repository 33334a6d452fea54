package rangeio

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sync"
)

// Span streams (see [cachedReader.ReadRange]).
const (
	// maxRunScan bounds how many blocks ahead a stream's fetcher looks,
	// under the cache's lock, for the end of a run of missing blocks.
	maxRunScan = 1024
	// maxBatch bounds how many blocks a stream's fetcher claims at once.
	maxBatch = 16
	// syncSpan is the largest span, in bytes, a stream fetches before it
	// yields its first byte, without a goroutine: the ranges a player
	// asks for after a seek.
	syncSpan = 1 << 20
	// streamWindow and maxStreamWindow bound, in bytes, how far a stream's
	// fetcher runs ahead of its reader: it starts at streamWindow and
	// doubles each time the reader has to wait for it, up to
	// maxStreamWindow. A reader paced by its client (a player at its
	// bitrate) never waits, so it holds little; a fast one gets a
	// pipeline as deep as its backend needs. A reader that stops early
	// leaves at most that much fetched for nothing (plus what the
	// connection's buffers held).
	streamWindow    = 128 << 10
	maxStreamWindow = 4 << 20
)

// ReadRange implements [RangeReader] for a reader returned by
// [Cache.Wrap]: the n bytes at off as one stream. Resident blocks come
// from memory; blocks other readers are fetching are waited for; missing
// ones are fetched, each contiguous run of them with one request to the
// backend when it is a RangeReader itself (one request up to the next
// resident block or the span's end, however far: each new request costs
// the store's first-byte latency; else one ReadAt per block), and inserted in the cache as they pass, so
// that a second reader finds them.
//
// A span of up to 1 MiB is fetched before the first byte is returned. A
// longer one is fetched by a goroutine that runs ahead of the reader by a
// window that starts at 128 KiB and doubles, up to 4 MiB, whenever the
// reader has to wait for it (read-ahead that grows for a reader that
// keeps up); the blocks it holds for the reader count beyond MaxBytes
// while they wait. Concurrent streams of one object share blocks: a block
// one stream is fetching is waited for by the others, not fetched again.
//
// The stream yields exactly n bytes or an error; it must be closed. It is
// not safe for concurrent use.
func (w *cachedReader) ReadRange(off, n int64) (io.ReadCloser, error) {
	if w.closed.Load() {
		return nil, fs.ErrClosed
	}
	if off < 0 || n < 0 || off > w.size-n {
		return nil, fmt.Errorf("rangeio: ReadRange(%d, %d) outside the object's %d bytes", off, n, w.size)
	}
	s := &spanStream{w: w, off: off, end: off + n}
	if n == 0 {
		return s, nil
	}
	bs := w.c.bs
	first, last := off/bs, (off+n-1)/bs
	if (last-first+1)*bs <= max(syncSpan, bs) {
		s.loadAll(first, last)
		return s, nil
	}
	s.startFetcher(first, last)
	return s, nil
}

// fetched is one block handed from a stream's fetcher to its reader: the
// block (referenced for the reader), or nil when the reader must get it
// from the cache (another reader has it or is fetching it), or an error.
type fetched struct {
	idx int64
	b   *block
	err error
}

// spanStream is the stream returned by cachedReader.ReadRange.
type spanStream struct {
	w        *cachedReader
	off, end int64 // next byte to deliver; end of the span
	cur      *block
	err      error // sticky

	// The blocks to deliver next, in order from pending[0] (nil entries
	// are taken from the cache when needed): all of a short span's, loaded
	// by loadAll, or the fetcher's last batch.
	pending []fetched

	// A long span: the fetcher goroutine and its hand-over, in batches
	// (one goroutine wake-up per batch rather than per block: switches
	// are what a stream costs most on a busy or virtual machine).
	ch       chan []fetched
	owed     int           // tokens to give back: the blocks of the batch taken
	tokens   chan struct{} // one per block the fetcher may run ahead
	granted  int           // tokens handed out so far, in blocks
	received int           // blocks received from the fetcher
	stop     chan struct{}
	done     chan struct{}
	bodyMu   sync.Mutex
	body     io.ReadCloser // the fetcher's backend request, if any
	at       fetcherBody   // where body is; the fetcher's alone
}

var errStreamClosed = errors.New("rangeio: read from a closed span stream")

func (s *spanStream) Read(p []byte) (int, error) {
	if s.off >= s.end {
		return 0, io.EOF
	}
	b, err := s.block()
	if err != nil {
		return 0, err
	}
	bo := b.key.idx * s.w.c.bs
	lo, hi := s.off-bo, min(int64(len(b.data)), s.end-bo)
	n := copy(p, b.data[lo:hi])
	s.off += int64(n)
	if s.off >= s.end {
		return n, io.EOF
	}
	return n, nil
}

// writeTo writes the rest of the span, at most n bytes, to w straight
// from the blocks, without a copy buffer ([CopyStream] uses it).
func (s *spanStream) writeTo(w io.Writer, n int64) (int64, error) {
	end := min(s.end, s.off+n)
	var written int64
	for s.off < end {
		b, err := s.block()
		if err != nil {
			return written, err
		}
		bo := b.key.idx * s.w.c.bs
		lo, hi := s.off-bo, min(int64(len(b.data)), end-bo)
		m, err := w.Write(b.data[lo:hi])
		written += int64(m)
		s.off += int64(m)
		if err != nil {
			return written, err
		}
		if int64(m) < hi-lo {
			return written, io.ErrShortWrite
		}
	}
	return written, nil
}

// Close releases the blocks the stream holds and stops its fetcher.
func (s *spanStream) Close() error {
	c := s.w.c
	if s.cur != nil {
		c.release(s.cur)
		s.cur = nil
	}
	for _, f := range s.pending {
		if f.b != nil {
			c.release(f.b)
		}
	}
	s.pending = nil
	if s.stop != nil {
		select {
		case <-s.stop:
		default:
			close(s.stop)
			s.bodyMu.Lock()
			if s.body != nil {
				s.body.Close() // unblocks a fetcher waiting for the backend
			}
			s.bodyMu.Unlock()
			<-s.done
			for {
				select {
				case batch := <-s.ch:
					for _, f := range batch {
						if f.b != nil {
							c.release(f.b)
						}
					}
					continue
				default:
				}
				break
			}
		}
	}
	if s.err == nil {
		s.err = errStreamClosed
	}
	return nil
}

// block returns the block holding s.off, referenced by s.cur.
func (s *spanStream) block() (*block, error) {
	if s.err != nil {
		return nil, s.err
	}
	c := s.w.c
	idx := s.off / c.bs
	if s.cur != nil {
		if s.cur.key.idx == idx {
			return s.cur, nil
		}
		c.release(s.cur)
		s.cur = nil
	}
	if s.w.closed.Load() {
		s.err = fs.ErrClosed
		return nil, s.err
	}
	if len(s.pending) == 0 && s.ch != nil {
		s.receive()
	}
	f := s.pending[0]
	s.pending[0] = fetched{}
	s.pending = s.pending[1:]
	if f.idx != idx && f.err == nil {
		f.err = fmt.Errorf("rangeio: span stream out of order: block %d where %d was due", f.idx, idx)
	}
	b, err := f.b, f.err
	if b == nil && err == nil {
		b, err = c.get(s.w, idx)
	}
	if err != nil {
		if b != nil {
			c.release(b)
		}
		s.err = err
		return nil, err
	}
	s.cur = b
	return b, nil
}

// receive takes the fetcher's next batch into s.pending, gives back the
// tokens of the batch taken before, and widens the fetcher's window when
// the reader had to wait for it.
func (s *spanStream) receive() {
	for range s.owed {
		s.tokens <- struct{}{} // never blocks: at most granted tokens exist
	}
	s.owed = 0
	var batch []fetched
	select {
	case batch = <-s.ch:
	default:
		if s.received > 0 {
			// The fetcher is behind (not merely starting): let it run
			// further ahead.
			s.grant(min(s.granted, cap(s.tokens)-s.granted))
		}
		batch = <-s.ch
	}
	s.received += len(batch)
	s.owed = len(batch)
	s.pending = batch
}

// grant lets the fetcher run n blocks further ahead.
func (s *spanStream) grant(n int) {
	for range n {
		s.tokens <- struct{}{}
		s.granted++
	}
}

// loadAll fetches the blocks first..last of a short span into s.pending:
// resident ones at once, the missing ones with one backend request per
// run, those in flight elsewhere waited for when the reader gets there.
// An error is kept for the block it concerns.
func (s *spanStream) loadAll(first, last int64) {
	c, w := s.w.c, s.w
	s.pending = make([]fetched, last-first+1)
	c.warmFromDisk(w, first, last)
	var missBuf [16]int64
	missing := missBuf[:0]
	for idx := first; idx <= last; idx++ {
		s.pending[idx-first].idx = idx
		if b := c.lookup(w.id, idx); b != nil {
			s.pending[idx-first].b = b
		} else {
			missing = append(missing, idx)
		}
	}
	claims, _ := c.claim(w, missing, true)
	var mu sync.Mutex
	c.fill(w, claims, func(idx int64, b *block, err error) {
		mu.Lock()
		s.pending[idx-first] = fetched{idx, b, err}
		mu.Unlock()
	})
}

// startFetcher starts the goroutine that fetches blocks first..last for
// the reader.
func (s *spanStream) startFetcher(first, last int64) {
	bs := s.w.c.bs
	win := int(max(maxStreamWindow/bs, 1))
	s.ch = make(chan []fetched, win)
	s.tokens = make(chan struct{}, win)
	s.stop = make(chan struct{})
	s.done = make(chan struct{})
	s.grant(int(min(max(streamWindow/bs, 1), int64(win))))
	go s.fetch(first, last)
}

// fetch is the fetcher: it hands blocks first..last to the reader in
// order, taking one token per block. It claims the blocks it holds tokens
// for together (up to maxBatch), so that concurrent streams of one object
// find them in flight and wait instead of fetching them again. A block
// the cache has or another reader is fetching is handed over as nil (the
// reader gets it from the cache); a claimed one is read from the
// fetcher's backend request, which it opens over the run of missing
// blocks ahead.
func (s *spanStream) fetch(first, last int64) {
	w, c := s.w, s.w.c
	defer close(s.done)
	defer s.setBody(nil)
	var pend []claimed // claimed and not yet completed
	defer func() {
		for _, cl := range pend {
			c.complete(cl.k, cl.f, nil, errStreamClosed)
		}
	}()
	idxs := make([]int64, 0, maxBatch)
	for idx := first; idx <= last; {
		select {
		case <-s.tokens:
		case <-s.stop:
			return
		}
		m := int64(1)
	more:
		for m < maxBatch && idx+m <= last {
			select {
			case <-s.tokens:
				m++
			default:
				break more
			}
		}
		idxs = idxs[:0]
		for j := idx; j < idx+m; j++ {
			idxs = append(idxs, j)
		}
		c.warmFromDisk(w, idx, idx+m-1)
		pend, _ = c.claim(w, idxs, false)
		batch := make([]fetched, 0, m)
		for j := idx; j < idx+m; j++ {
			f := fetched{idx: j}
			if len(pend) > 0 && pend[0].k.idx == j {
				cl := pend[0]
				pend = pend[1:]
				f.b, f.err = s.fetchClaimed(cl, last)
			} else {
				s.pass(j)
			}
			batch = append(batch, f)
			if f.err != nil {
				break
			}
		}
		failed := batch[len(batch)-1].err != nil // the batch is the reader's once sent
		select {
		case s.ch <- batch:
		case <-s.stop:
			for _, f := range batch {
				if f.b != nil {
					c.release(f.b)
				}
			}
			return
		}
		if failed {
			return
		}
		idx += m
	}
}

// The fetcher's backend request: the block it delivers next, and the
// first block past its span.
type fetcherBody struct{ idx, end int64 }

// pass moves the fetcher past block idx, which another reader has or is
// fetching: a request positioned there reads past it when the next block
// is missing (its bytes are on their way), and ends otherwise.
func (s *spanStream) pass(idx int64) {
	w, c := s.w, s.w.c
	if s.body == nil || s.at.idx != idx {
		return
	}
	if idx+1 < s.at.end && c.missingRun(w, idx+1, idx+2) == idx+2 {
		if b, err := c.readBlock(w, s.body, idx); err == nil {
			c.freeBlock(b)
			s.at.idx++
			return
		}
	}
	s.setBody(nil)
}

// fetchClaimed reads the claimed block from the fetcher's backend request,
// opening one over the run of missing blocks from it (up to last) when
// none is positioned there, and completes the block's flight.
func (s *spanStream) fetchClaimed(cl claimed, last int64) (*block, error) {
	w, c := s.w, s.w.c
	idx := cl.k.idx
	rr, ranged := w.r.(RangeReader)
	if !ranged {
		return c.lead(w, cl.k, cl.f)
	}
	if b := c.fromDisk(w, cl); b != nil {
		return b, nil
	}
	var b *block
	var err error
	for attempt := 0; ; attempt++ {
		fresh := false
		if s.body == nil || s.at.idx != idx {
			s.setBody(nil)
			// The run ends at the first block found resident or in
			// flight; the search holds the cache's lock, so it looks at
			// most maxRunScan blocks ahead, and a run with none found
			// there goes on to the span's end (blocks that turn out
			// resident later are passed over, see pass).
			scanEnd := min(last+1, idx+1+maxRunScan)
			runEnd := c.missingRun(w, idx+1, scanEnd)
			if runEnd == scanEnd {
				runEnd = last + 1
			}
			off := idx * c.bs
			c.backendReads.Add(1)
			var body io.ReadCloser
			body, err = rr.ReadRange(off, min(runEnd*c.bs, w.size)-off)
			if err != nil {
				c.backendErrors.Add(1)
				break
			}
			if !s.setBody(body) {
				err = errStreamClosed
				break
			}
			s.at, fresh = fetcherBody{idx, runEnd}, true
		}
		b, err = c.readBlock(w, s.body, idx)
		if err == nil {
			s.at.idx++
			if s.at.idx >= s.at.end {
				s.setBody(nil)
			}
			break
		}
		c.backendErrors.Add(1)
		s.setBody(nil)
		if fresh || attempt > 0 || s.stopped() {
			break
		}
		// A request kept open while the reader was slow may have been
		// cut meanwhile (the backend's idle timeout): once, open a new
		// one at this block.
	}
	c.complete(cl.k, cl.f, b, err)
	if err == nil {
		c.fetched(w, idx) // after complete: the block is resident
	}
	return b, err
}

func (s *spanStream) stopped() bool {
	select {
	case <-s.stop:
		return true
	default:
		return false
	}
}

// setBody replaces the fetcher's backend request, closing the previous
// one; it refuses (closing b) once the stream is closed.
func (s *spanStream) setBody(b io.ReadCloser) bool {
	s.bodyMu.Lock()
	defer s.bodyMu.Unlock()
	if s.body != nil {
		s.body.Close()
	}
	s.body = nil
	select {
	case <-s.stop:
		if b != nil {
			b.Close()
		}
		return false
	default:
	}
	s.body = b
	return true
}

// missingRun returns the first block in [from, limit) of w's object that
// is resident, being fetched by another reader than w, or in a segment the
// disk tier has, or limit.
func (c *Cache) missingRun(w *cachedReader, from, limit int64) int64 {
	if c.disk != nil {
		for idx := from; idx < limit; idx = (idx/c.segK + 1) * c.segK {
			if c.disk.has(w.diskName, idx/c.segK) {
				limit = idx
				break
			}
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for idx := from; idx < limit; idx++ {
		k := blockKey{w.id, idx}
		if f := c.flights[k]; c.blocks[k] != nil || f != nil && f.owner != w {
			return idx
		}
	}
	return limit
}

var (
	_ RangeReader = (*cachedReader)(nil)
	_ io.Reader   = (*spanStream)(nil)
)
