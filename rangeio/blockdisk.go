package rangeio

import (
	"container/list"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of [DiskConfig].
const (
	// DefaultDiskBytes is DiskConfig.MaxBytes when it is 0.
	DefaultDiskBytes = 10 << 30
	// DefaultSegmentSize is DiskConfig.SegmentSize when it is 0.
	DefaultSegmentSize = 1 << 20
	// MaxSegmentSize bounds DiskConfig.SegmentSize.
	MaxSegmentSize = 64 << 20
)

// diskQueue bounds the segments waiting to be written; when it is full a
// segment is not written (a later reader may write it).
const diskQueue = 64

// diskDirName is the directory, under DiskConfig.Dir, that holds the
// blocks; its version changes with the file format.
const diskDirName = "rangeserve-blocks-v1"

// DiskConfig configures a [DiskCache]. Dir is required; zero fields take
// their defaults.
type DiskConfig struct {
	// Dir is the directory the cache keeps its files in (in a
	// subdirectory of its own, created if needed). It must be on a local
	// disk, writable by the process, and not shared with another running
	// process.
	Dir string
	// MaxBytes caps the bytes of the files kept; the least recently used
	// objects are removed to stay under it. 0 means [DefaultDiskBytes].
	MaxBytes int64
	// SegmentSize is the bytes of one object each file holds: a multiple
	// of the memory cache's block size (rounded up to one), each block
	// with its own checksum. 0 means [DefaultSegmentSize] (1 MiB).
	SegmentSize int64
}

// DiskStats is a snapshot of a [DiskCache]'s counters.
type DiskStats struct {
	// Hits counts segment files read into memory; Blocks the blocks they
	// gave; Misses the lookups that found no file.
	Hits, Blocks, Misses uint64
	// Writes counts segment files written; Skipped the segments not
	// written because the write queue was full; Evictions the objects
	// removed to stay under MaxBytes; Corrupt the files found torn or
	// damaged, and removed.
	Writes, Skipped, Evictions, Corrupt uint64
	// Bytes is the size of the files kept; Segments their number.
	Bytes    int64
	Segments int
}

// DiskCache is a local-disk tier under a [Cache]'s memory (see
// [CacheConfig].Disk): blocks fetched from the backend are written to
// files, a segment of an object per file, and a block missing from memory
// is looked for there before the backend is asked. Files are named after
// the object's id, which pins them to one version (the ETag is in the
// id), and survive a restart.
//
// A torn or half-written file is never served: a segment is written to a
// temporary file that is renamed into place when complete (temporary
// files left by a crash are removed by [OpenDisk]), and every block
// carries a CRC-32C, as does the header (which repeats the id, the block
// size and the segment's place), checked at every read; a file that fails
// is removed and the block fetched again.
//
// Only complete segments are written: those a sequential reader fetched
// block by block, up to the segment's last block. Writes happen on a
// goroutine of their own and never hold up a reader.
type DiskCache struct {
	dir, tmp string
	max      int64
	seg      int64 // configured segment size; the cache rounds it to its blocks

	mu      sync.Mutex
	objects map[string]*diskObject // by object directory name
	lru     *list.List             // of *diskObject, front most recent
	bytes   int64
	nseg    int
	closed  bool

	queue chan diskWrite
	wg    sync.WaitGroup

	hits, blocks, misses                atomic.Uint64
	writes, skipped, evictions, corrupt atomic.Uint64
}

// diskObject is one object's files.
type diskObject struct {
	name  string          // directory name (hash of the id)
	segs  map[int64]int64 // segment index -> file size
	bytes int64           // sum of segs
	elem  *list.Element   // in DiskCache.lru
}

// diskWrite is one segment to write: its blocks, referenced.
type diskWrite struct {
	c      *Cache
	id     string
	name   string // objectName(id)
	size   int64  // the object's
	seg    int64
	blocks []*block
}

// OpenDisk opens (creating it if needed) the disk tier in cfg.Dir: it
// removes temporary files a crash left, indexes the segment files there
// and removes the least recently used objects beyond MaxBytes. The error
// names the directory.
func OpenDisk(cfg DiskConfig) (*DiskCache, error) {
	if cfg.Dir == "" {
		return nil, errors.New("rangeio: DiskConfig.Dir is empty: name the directory for the disk cache")
	}
	if cfg.MaxBytes < 0 || cfg.SegmentSize < 0 || cfg.SegmentSize > MaxSegmentSize {
		return nil, fmt.Errorf("rangeio: disk cache %s: MaxBytes %d or SegmentSize %d out of range (0 means the default; segments up to %d bytes)",
			cfg.Dir, cfg.MaxBytes, cfg.SegmentSize, MaxSegmentSize)
	}
	if cfg.MaxBytes == 0 {
		cfg.MaxBytes = DefaultDiskBytes
	}
	if cfg.SegmentSize == 0 {
		cfg.SegmentSize = DefaultSegmentSize
	}
	root := filepath.Join(cfg.Dir, diskDirName)
	d := &DiskCache{
		dir:     root,
		tmp:     filepath.Join(root, "tmp"),
		max:     cfg.MaxBytes,
		seg:     cfg.SegmentSize,
		objects: map[string]*diskObject{},
		lru:     list.New(),
		queue:   make(chan diskWrite, diskQueue),
	}
	if err := os.MkdirAll(d.tmp, 0o700); err != nil {
		return nil, fmt.Errorf("rangeio: disk cache: %w", err)
	}
	// Temporary files are segments a crash interrupted: never renamed
	// into place, never served; remove them.
	if ents, err := os.ReadDir(d.tmp); err == nil {
		for _, e := range ents {
			os.Remove(filepath.Join(d.tmp, e.Name()))
		}
	}
	probe := filepath.Join(d.tmp, "probe")
	if err := os.WriteFile(probe, nil, 0o600); err != nil {
		return nil, fmt.Errorf("rangeio: disk cache %s is not writable: %w", cfg.Dir, err)
	}
	os.Remove(probe)
	if err := d.scan(); err != nil {
		return nil, fmt.Errorf("rangeio: disk cache %s: %w", cfg.Dir, err)
	}
	d.mu.Lock()
	victims := d.evictLocked("", 0)
	d.mu.Unlock()
	d.remove(victims)
	d.wg.Add(1)
	go d.writer()
	return d, nil
}

// scan indexes the segment files: <root>/<hh>/<object>/<segment hex>,
// least recently written object last.
func (d *DiskCache) scan() error {
	type found struct {
		o     *diskObject
		mtime time.Time
	}
	var all []found
	fans, err := os.ReadDir(d.dir)
	if err != nil {
		return err
	}
	for _, fan := range fans {
		if !fan.IsDir() || fan.Name() == "tmp" {
			continue
		}
		objs, err := os.ReadDir(filepath.Join(d.dir, fan.Name()))
		if err != nil {
			return err
		}
		for _, od := range objs {
			if !od.IsDir() || len(od.Name()) != 32 || od.Name()[:2] != fan.Name() {
				continue
			}
			o := &diskObject{name: od.Name(), segs: map[int64]int64{}}
			var newest time.Time
			files, err := os.ReadDir(filepath.Join(d.dir, fan.Name(), od.Name()))
			if err != nil {
				return err
			}
			for _, f := range files {
				seg, err := strconv.ParseInt(f.Name(), 16, 64)
				fi, ferr := f.Info()
				if err != nil || ferr != nil || !fi.Mode().IsRegular() || seg < 0 {
					continue
				}
				o.segs[seg] = fi.Size()
				o.bytes += fi.Size()
				if fi.ModTime().After(newest) {
					newest = fi.ModTime()
				}
			}
			if len(o.segs) > 0 {
				all = append(all, found{o, newest})
			}
		}
	}
	// Oldest first, each pushed to the front: the newest ends up in front.
	for i := range all {
		for j := i + 1; j < len(all); j++ {
			if all[j].mtime.Before(all[i].mtime) {
				all[i], all[j] = all[j], all[i]
			}
		}
	}
	for _, f := range all {
		f.o.elem = d.lru.PushFront(f.o)
		d.objects[f.o.name] = f.o
		d.bytes += f.o.bytes
		d.nseg += len(f.o.segs)
	}
	return nil
}

// Close stops the writer after the queued writes; the files stay for
// the next OpenDisk.
func (d *DiskCache) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	close(d.queue)
	d.mu.Unlock()
	d.wg.Wait()
	return nil
}

// Stats returns a snapshot of the counters.
func (d *DiskCache) Stats() DiskStats {
	d.mu.Lock()
	s := DiskStats{Bytes: d.bytes, Segments: d.nseg}
	d.mu.Unlock()
	s.Hits, s.Blocks, s.Misses = d.hits.Load(), d.blocks.Load(), d.misses.Load()
	s.Writes, s.Skipped, s.Evictions, s.Corrupt = d.writes.Load(), d.skipped.Load(), d.evictions.Load(), d.corrupt.Load()
	return s
}

// objectName is the directory name of object id: 32 hex digits of its
// SHA-256.
func objectName(id string) string {
	h := sha256.Sum256([]byte(id))
	return hex.EncodeToString(h[:16])
}

func (d *DiskCache) segPath(name string, seg int64) string {
	return filepath.Join(d.dir, name[:2], name, strconv.FormatInt(seg, 16))
}

// segBlocks is how many blocks of bs bytes one segment holds.
func (d *DiskCache) segBlocks(bs int64) int64 {
	return max((d.seg+bs-1)/bs, 1)
}

// has reports whether segment seg of id is on disk.
func (d *DiskCache) has(name string, seg int64) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	o := d.objects[name]
	if o == nil {
		return false
	}
	_, ok := o.segs[seg]
	return ok
}

// The segment file format, version 1. All integers little-endian.
//
//	off  len  field
//	0    8    magic "RSSEG\x001\n"
//	8    8    offset of the segment's first byte in the object
//	16   8    object size (bytes)
//	24   4    block size
//	28   4    number of blocks n
//	32   4    id length m
//	36   4    CRC-32C of bytes 0..36, the n block CRCs and the id
//	40   4n   CRC-32C of each block
//	40+4n m   the object id
//	...       the blocks, back to back (the last may be short)
const segMagic = "RSSEG\x001\n"

const segFixed = 40

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// segHeader is a segment file's header.
type segHeader struct {
	start, objSize int64
	bs             int64
	crcs           []uint32
	id             string
}

// headerLen is the length of h's encoding.
func (h *segHeader) headerLen() int { return segFixed + 4*len(h.crcs) + len(h.id) }

// dataLen is the bytes of blocks the segment holds.
func (h *segHeader) dataLen() int64 {
	return min(int64(len(h.crcs))*h.bs, h.objSize-h.start)
}

func (h *segHeader) encode() []byte {
	b := make([]byte, h.headerLen())
	copy(b, segMagic)
	binary.LittleEndian.PutUint64(b[8:], uint64(h.start))
	binary.LittleEndian.PutUint64(b[16:], uint64(h.objSize))
	binary.LittleEndian.PutUint32(b[24:], uint32(h.bs))
	binary.LittleEndian.PutUint32(b[28:], uint32(len(h.crcs)))
	binary.LittleEndian.PutUint32(b[32:], uint32(len(h.id)))
	for i, c := range h.crcs {
		binary.LittleEndian.PutUint32(b[segFixed+4*i:], c)
	}
	copy(b[segFixed+4*len(h.crcs):], h.id)
	binary.LittleEndian.PutUint32(b[36:], headerCRC(b))
	return b
}

func headerCRC(b []byte) uint32 {
	crc := crc32.Update(0, castagnoli, b[:36])
	return crc32.Update(crc, castagnoli, b[segFixed:])
}

var errBadSegment = errors.New("rangeio: damaged disk cache segment")

// parseSegHeader decodes and checks a segment header that is exactly b:
// the caller reads as many bytes as the header it expects should take.
// It never trusts a length field further than b.
func parseSegHeader(b []byte) (*segHeader, error) {
	if len(b) < segFixed || string(b[:8]) != segMagic {
		return nil, errBadSegment
	}
	n := int64(binary.LittleEndian.Uint32(b[28:]))
	m := int64(binary.LittleEndian.Uint32(b[32:]))
	if int64(len(b)) != segFixed+4*n+m || n == 0 {
		return nil, errBadSegment
	}
	if binary.LittleEndian.Uint32(b[36:]) != headerCRC(b) {
		return nil, errBadSegment
	}
	h := &segHeader{
		start:   int64(binary.LittleEndian.Uint64(b[8:])),
		objSize: int64(binary.LittleEndian.Uint64(b[16:])),
		bs:      int64(binary.LittleEndian.Uint32(b[24:])),
		crcs:    make([]uint32, n),
		id:      string(b[segFixed+4*n:]),
	}
	for i := range h.crcs {
		h.crcs[i] = binary.LittleEndian.Uint32(b[segFixed+4*i:])
	}
	if h.start < 0 || h.objSize <= 0 || h.bs <= 0 || h.start%h.bs != 0 || h.start >= h.objSize ||
		h.dataLen() <= (n-1)*h.bs {
		return nil, errBadSegment
	}
	return h, nil
}

// load reads segment seg of w's object from disk and gives c each of its
// blocks that want accepts, checked against its CRC, to put (a block from
// c's pool, for put to own). It returns false, and removes the file, if
// the file is missing, torn or does not describe exactly that segment of
// that object; blocks already given to put are good.
func (d *DiskCache) load(c *Cache, w *cachedReader, seg int64, want func(idx int64) bool, put func(idx int64, b *block)) bool {
	if !d.has(w.diskName, seg) {
		d.misses.Add(1)
		return false
	}
	f, err := os.Open(d.segPath(w.diskName, seg))
	if err != nil {
		d.drop(w.diskName, seg, false)
		d.misses.Add(1)
		return false
	}
	defer f.Close()
	bs, k := c.bs, d.segBlocks(c.bs)
	exp := &segHeader{start: seg * k * bs, objSize: w.size, bs: bs, id: w.id}
	if exp.start >= w.size {
		return false
	}
	nblk := min(k, (w.size-exp.start+bs-1)/bs)
	exp.crcs = make([]uint32, nblk)
	hb := make([]byte, exp.headerLen())
	fi, err := f.Stat()
	ok := err == nil && fi.Size() == int64(len(hb))+exp.dataLen()
	if ok {
		_, err = f.ReadAt(hb, 0)
		ok = err == nil
	}
	var h *segHeader
	if ok {
		h, err = parseSegHeader(hb)
		ok = err == nil && h.id == w.id && h.start == exp.start && h.objSize == w.size && h.bs == bs && len(h.crcs) == len(exp.crcs)
	}
	if !ok {
		d.corrupt.Add(1)
		d.drop(w.diskName, seg, true)
		return false
	}
	first := seg * k
	base := int64(len(hb))
	gave := 0
	for j := range nblk {
		idx := first + j
		if !want(idx) {
			continue
		}
		b := c.newBlock(min(bs, w.size-idx*bs))
		b.key = blockKey{w.id, idx}
		if _, err := f.ReadAt(b.data, base+j*bs); err != nil || crc32.Checksum(b.data, castagnoli) != h.crcs[j] {
			c.freeBlock(b)
			d.corrupt.Add(1)
			d.drop(w.diskName, seg, true)
			return gave > 0
		}
		put(idx, b)
		gave++
	}
	d.hits.Add(1)
	d.blocks.Add(uint64(gave))
	d.touch(w.diskName)
	return true
}

// enqueue schedules the write of segment seg of w's object from blocks
// (which the writer releases). It never blocks: with the queue full the
// segment is skipped.
func (d *DiskCache) enqueue(c *Cache, w *cachedReader, seg int64, blocks []*block) {
	d.mu.Lock()
	defer d.mu.Unlock() // Close closes the queue under d.mu
	if !d.closed {
		select {
		case d.queue <- diskWrite{c, w.id, w.diskName, w.size, seg, blocks}:
			return
		default:
		}
	}
	d.skipped.Add(1)
	for _, b := range blocks {
		c.release(b)
	}
}

func (d *DiskCache) writer() {
	defer d.wg.Done()
	for wr := range d.queue {
		if err := d.write(wr); err != nil {
			// A full or failing disk: the block stays in memory only.
			d.skipped.Add(1)
		}
		for _, b := range wr.blocks {
			wr.c.release(b)
		}
	}
}

// diskWriteHook, when set (by tests), is called between the two halves of
// a segment's data.
var diskWriteHook func()

// write writes one segment: temporary file, then rename into place.
func (d *DiskCache) write(wr diskWrite) error {
	name := wr.name
	if d.has(name, wr.seg) {
		return nil
	}
	bs := wr.c.bs
	h := &segHeader{start: wr.blocks[0].key.idx * bs, objSize: wr.size, bs: bs, crcs: make([]uint32, len(wr.blocks)), id: wr.id}
	var total int64
	for i, b := range wr.blocks {
		h.crcs[i] = crc32.Checksum(b.data, castagnoli)
		total += int64(len(b.data))
	}
	size := int64(h.headerLen()) + total
	d.mu.Lock()
	victims := d.evictLocked(name, size)
	over := d.bytes+size > d.max
	d.mu.Unlock()
	d.remove(victims)
	if over {
		return errors.New("rangeio: disk cache full")
	}
	f, err := os.CreateTemp(d.tmp, "seg-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err := f.Write(h.encode()); err != nil {
		return err
	}
	for i, b := range wr.blocks {
		if i == len(wr.blocks)/2 && diskWriteHook != nil {
			diskWriteHook()
		}
		if _, err := f.Write(b.data); err != nil {
			return err
		}
	}
	if err := f.Close(); err != nil {
		return err
	}
	p := d.segPath(name, wr.seg)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return err
	}
	if err := os.Rename(tmp, p); err != nil {
		return err
	}
	ok = true
	d.mu.Lock()
	o := d.objects[name]
	if o == nil {
		o = &diskObject{name: name, segs: map[int64]int64{}}
		o.elem = d.lru.PushFront(o)
		d.objects[name] = o
	} else {
		d.lru.MoveToFront(o.elem)
	}
	if old, dup := o.segs[wr.seg]; dup {
		o.bytes -= old
		d.bytes -= old
		d.nseg--
	}
	o.segs[wr.seg] = size
	o.bytes += size
	d.bytes += size
	d.nseg++
	d.mu.Unlock()
	d.writes.Add(1)
	return nil
}

// touch makes object name the most recently used.
func (d *DiskCache) touch(name string) {
	d.mu.Lock()
	if o := d.objects[name]; o != nil {
		d.lru.MoveToFront(o.elem)
	}
	d.mu.Unlock()
}

// drop forgets segment seg of object name, removing its file when remove.
func (d *DiskCache) drop(name string, seg int64, remove bool) {
	d.mu.Lock()
	if o := d.objects[name]; o != nil {
		if size, ok := o.segs[seg]; ok {
			delete(o.segs, seg)
			o.bytes -= size
			d.bytes -= size
			d.nseg--
			if len(o.segs) == 0 {
				d.lru.Remove(o.elem)
				delete(d.objects, name)
			}
		}
	}
	d.mu.Unlock()
	if remove {
		os.Remove(d.segPath(name, seg))
	}
}

// evictLocked removes from the index the least recently used objects
// other than keep until need more bytes fit under MaxBytes, and returns
// their directories for remove; d.mu is held.
func (d *DiskCache) evictLocked(keep string, need int64) []string {
	var victims []string
	for e := d.lru.Back(); e != nil && d.bytes+need > d.max; {
		prev := e.Prev()
		o := e.Value.(*diskObject)
		if o.name != keep {
			d.lru.Remove(e)
			delete(d.objects, o.name)
			d.bytes -= o.bytes
			d.nseg -= len(o.segs)
			victims = append(victims, o.name)
			d.evictions.Add(1)
		}
		e = prev
	}
	return victims
}

func (d *DiskCache) remove(names []string) {
	for _, n := range names {
		os.RemoveAll(filepath.Join(d.dir, n[:2], n))
	}
}

var _ io.Closer = (*DiskCache)(nil)
