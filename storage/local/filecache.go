package local

import (
	"context"
	"io"
	"io/fs"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rangeserve/rangeserve/storage"
)

// Defaults and switches of [CacheOptions].
const (
	// DefaultCacheFiles is CacheOptions.Files when it is 0.
	DefaultCacheFiles = 1000
	// NoCache, as CacheOptions.Files, turns the cache off: every Open
	// opens the file and every Close closes it.
	NoCache = -1
	// DefaultMemoryFileSize is CacheOptions.MemoryFileSize when it is 0.
	DefaultMemoryFileSize = 64 << 10
	// NoMemoryFiles, as CacheOptions.MemoryFileSize, keeps no file's bytes
	// in memory: every response is sent from the file.
	NoMemoryFiles = -1
	// DefaultMemoryBytes is CacheOptions.MemoryBytes when it is 0.
	DefaultMemoryBytes = 32 << 20
)

// fileInactive is how long a cached file that nobody asks for keeps its
// descriptors (nginx's open_file_cache inactive). A file deleted from the
// disk keeps its blocks allocated while a descriptor is open on it.
const fileInactive = 60 * time.Second

// CacheOptions configures the open-file cache of a [Backend]: what nginx
// calls open_file_cache. The zero value is the default cache.
//
// The cache keeps, per key, the metadata of the version last opened and a
// pool of descriptors open on it, so that a request for a hot file costs
// no openat2(2), fcntl(2) or close(2). Each descriptor is lent to one
// request at a time (sendfile reads from the descriptor's offset, which
// the HTTP layer seeks before each copy). Files up to MemoryFileSize are read once and served from memory.
//
// Consistency: an object's bytes are always those of the version its
// Info (ETag) describes, cached or not. A file replaced by rename keeps
// being served as the old version, old ETag with old bytes, for at most
// Valid; with Valid 0 (the default) the name is looked up on every Open,
// with one fstatat(2), and a replaced or changed file is opened again at
// once. A file changed in place (same inode) gets a new identity (its
// size, mtime or ctime change): a descriptor is checked with fstat(2)
// before it is lent when Valid is not 0, and a copy in memory is a
// snapshot taken with the identity it was read under.
type CacheOptions struct {
	// Files is the most files the cache describes and the most idle
	// descriptors it keeps open, across files (a hot file read by 64
	// clients at once holds up to 64). 0 means [DefaultCacheFiles];
	// [NoCache] turns the cache off.
	Files int
	// Valid is how long a cached file is served without looking its name
	// up again. 0 means the name is looked up on every Open (one
	// fstatat(2)), so that a replaced file is served as the new version
	// at once; a positive value trades that for one system call less per
	// request, like nginx's open_file_cache_valid.
	Valid time.Duration
	// MemoryFileSize is the largest file whose bytes are kept in memory
	// and sent with write(2) instead of sendfile(2). 0 means
	// [DefaultMemoryFileSize]; [NoMemoryFiles] keeps none.
	MemoryFileSize int64
	// MemoryBytes caps the bytes of files kept in memory, across files.
	// 0 means [DefaultMemoryBytes].
	MemoryBytes int64
}

// fileID identifies one version of a regular file: ETag material (dev is
// not in the ETag; ctime catches a rewrite in place that restores size
// and mtime).
type fileID struct {
	dev, ino     uint64
	size         int64
	mtime, ctime int64 // nanoseconds since the Unix epoch
}

// info describes the version for key.
func (id fileID) info(key string) storage.Info {
	return storage.Info{
		Key:     key,
		Size:    id.size,
		ModTime: time.Unix(0, id.mtime),
		ETag:    etagOf(id.ino, true, id.size, id.mtime),
	}
}

// CacheStats counts what the open-file cache did, for tests and metrics.
type CacheStats struct {
	// Hits are Opens served from the cache: from memory (MemoryHits) or
	// with a pooled descriptor.
	Hits, MemoryHits uint64
	// Misses are Opens that opened the file (a cold key, a changed file,
	// or every pooled descriptor lent out).
	Misses uint64
	// Replaced counts cached versions dropped because the name was found
	// to name another version.
	Replaced uint64
	// Files, IdleFiles and MemoryBytes describe the current contents:
	// cached keys, idle descriptors, bytes of files held in memory.
	Files, IdleFiles int
	MemoryBytes      int64
}

// fileCache is the open-file cache; nil when off. Safe for concurrent use.
type fileCache struct {
	maxFiles  int
	valid     int64 // ns; 0: look the name up on every Open
	memMax    int64 // largest file kept in memory, or -1
	memBudget int64

	mu       sync.Mutex
	m        map[string]*cachedFile
	lru      cachedFile // sentinel: lru.next is the most recently used
	idleFDs  int
	memBytes int64
	closed   bool
	sweeping bool

	hits, memHits, misses, replaced atomic.Uint64
}

// cachedFile is one version of one key.
type cachedFile struct {
	key  string
	id   fileID       // immutable
	info storage.Info // immutable
	data []byte       // the whole file when kept in memory; immutable once set

	// Guarded by fileCache.mu.
	checked    int64         // monotonic ns of the last look-up that found this version
	used       int64         // monotonic ns of the last Open
	idle       []*pooledFile // descriptors not lent out
	gone       bool          // dropped: lent descriptors are closed when returned
	prev, next *cachedFile
}

// pooledFile is a descriptor of a cachedFile's version. Its offset is
// wherever the last request left it: storage.Filer has the HTTP layer
// seek before every copy.
type pooledFile struct {
	f *os.File
}

// clock is the monotonic time in ns; a variable for tests.
var clock = func() int64 { return int64(time.Since(clockBase)) }

var clockBase = time.Now()

func newFileCache(o CacheOptions) *fileCache {
	if o.Files < 0 {
		return nil
	}
	if o.Files == 0 {
		o.Files = DefaultCacheFiles
	}
	switch {
	case o.MemoryFileSize == 0:
		o.MemoryFileSize = DefaultMemoryFileSize
	case o.MemoryFileSize < 0:
		o.MemoryFileSize = -1
	}
	if o.MemoryBytes <= 0 {
		o.MemoryBytes = DefaultMemoryBytes
	}
	c := &fileCache{
		maxFiles:  o.Files,
		valid:     int64(max(o.Valid, 0)),
		memMax:    o.MemoryFileSize,
		memBudget: o.MemoryBytes,
		m:         make(map[string]*cachedFile),
	}
	c.lru.next, c.lru.prev = &c.lru, &c.lru
	return c
}

// get returns a cached object for key, or nil: then the caller opens the
// file and hands it to adopt. d looks the name up when the entry is due
// for it.
func (c *fileCache) get(ctx context.Context, d fastDir, key string) storage.Object {
	var seen fileID
	looked := false
	if c.valid == 0 {
		// Look the name up before taking the lock; a miss pays this
		// fstatat in vain, a hit needs it anyway.
		id, ok := d.statID(key)
		if !ok {
			c.forget(key)
			return nil
		}
		seen, looked = id, true
	}
	now := clock()
	c.mu.Lock()
	e := c.m[key]
	if e == nil {
		c.mu.Unlock()
		return nil
	}
	if !looked && now-e.checked >= c.valid {
		c.mu.Unlock()
		id, ok := d.statID(key)
		if !ok {
			c.drop(e)
			return nil
		}
		seen, looked = id, true
		c.mu.Lock()
		if e.gone {
			c.mu.Unlock()
			return nil
		}
	}
	if looked {
		if seen != e.id {
			c.mu.Unlock()
			c.replaced.Add(1)
			c.drop(e)
			return nil
		}
		e.checked = now
	}
	e.used = now
	c.touch(e)
	if e.data != nil {
		c.mu.Unlock()
		c.hits.Add(1)
		c.memHits.Add(1)
		return &memObject{ctx: ctx, info: e.info, data: e.data}
	}
	n := len(e.idle)
	if n == 0 {
		c.mu.Unlock()
		return nil
	}
	pf := e.idle[n-1]
	e.idle[n-1] = nil
	e.idle = e.idle[:n-1]
	c.idleFDs--
	c.mu.Unlock()

	// Within Valid nothing looked at the name: check that the version was
	// not changed in place, since a descriptor reads the live inode.
	ok := looked
	if !ok {
		id, good := fstatID(pf.f)
		ok = good && id == e.id
	}
	if !ok {
		pf.f.Close()
		c.drop(e)
		return nil
	}
	c.hits.Add(1)
	return &cachedObject{ctx: ctx, c: c, e: e, pf: pf}
}

// forget drops key's entry, if any: its name no longer names a regular
// file.
func (c *fileCache) forget(key string) {
	c.mu.Lock()
	e := c.m[key]
	c.mu.Unlock()
	if e != nil {
		c.drop(e)
	}
}

// adopt takes f, just opened on key with identity id, into the cache and
// returns the object to serve it with.
func (c *fileCache) adopt(ctx context.Context, key string, f *os.File, id fileID) storage.Object {
	c.misses.Add(1)
	var data []byte
	if id.size <= c.memMax && id.size <= c.memBudget {
		data = readWhole(f, id)
	}
	now := clock()
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		if data != nil {
			f.Close()
			return &memObject{ctx: ctx, info: id.info(key), data: data}
		}
		return &object{ctx: ctx, f: f, info: id.info(key)}
	}
	e := c.m[key]
	var toClose []*pooledFile
	if e != nil && e.id != id {
		c.replaced.Add(1)
		toClose = c.unlink(e)
		e = nil
	}
	if e == nil {
		e = &cachedFile{key: key, id: id, info: id.info(key)}
		c.m[key] = e
		c.pushFront(e)
		for len(c.m) > c.maxFiles {
			toClose = append(toClose, c.unlink(c.lru.prev)...)
		}
		c.startSweep()
	} else {
		c.touch(e)
	}
	e.checked, e.used = now, now
	if data != nil && e.data == nil {
		toClose = append(toClose, c.trimMemory(c.memBudget-id.size, e)...)
		if c.memBytes+id.size <= c.memBudget {
			e.data = data
			c.memBytes += id.size
			// A file in memory needs no descriptor.
			toClose = append(toClose, e.idle...)
			c.idleFDs -= len(e.idle)
			e.idle = nil
		}
	}
	mem := e.data
	c.mu.Unlock()
	closeAll(toClose)
	if mem != nil {
		f.Close()
		return &memObject{ctx: ctx, info: e.info, data: mem}
	}
	return &cachedObject{ctx: ctx, c: c, e: e, pf: &pooledFile{f: f}}
}

// readWhole reads the file f, of identity id, into memory, or returns nil
// if it could not read exactly that version (a short read, or an identity
// that changed while reading).
func readWhole(f *os.File, id fileID) []byte {
	data := make([]byte, id.size)
	n, err := f.ReadAt(data, 0)
	if n != len(data) || (err != nil && err != io.EOF) {
		return nil
	}
	if after, ok := fstatID(f); !ok || after != id {
		return nil
	}
	return data
}

// release takes back pf, lent for e, when e is still current and the
// idle descriptors stay within bounds; otherwise it closes pf.
func (c *fileCache) release(e *cachedFile, pf *pooledFile) {
	c.mu.Lock()
	if e.gone || c.closed || e.data != nil {
		c.mu.Unlock()
		pf.f.Close()
		return
	}
	toClose := c.trimIdle(c.maxFiles-1, e)
	if c.idleFDs >= c.maxFiles {
		c.mu.Unlock()
		closeAll(toClose)
		pf.f.Close()
		return
	}
	e.idle = append(e.idle, pf)
	c.idleFDs++
	c.mu.Unlock()
	closeAll(toClose)
}

// trimIdle takes idle descriptors from the least recently used entries
// other than keep until at most limit are idle, and returns them for the
// caller to close after unlocking; c.mu is held. The entries stay.
func (c *fileCache) trimIdle(limit int, keep *cachedFile) []*pooledFile {
	var out []*pooledFile
	for e := c.lru.prev; e != &c.lru && c.idleFDs > limit; e = e.prev {
		if e == keep || len(e.idle) == 0 {
			continue
		}
		k := min(len(e.idle), c.idleFDs-limit)
		out = append(out, e.idle[len(e.idle)-k:]...)
		clear(e.idle[len(e.idle)-k:])
		e.idle = e.idle[:len(e.idle)-k]
		c.idleFDs -= k
	}
	return out
}

// trimMemory drops the least recently used entries held in memory, other
// than keep, until at most limit bytes are; c.mu is held.
func (c *fileCache) trimMemory(limit int64, keep *cachedFile) []*pooledFile {
	var out []*pooledFile
	for e := c.lru.prev; e != &c.lru && c.memBytes > limit; {
		prev := e.prev
		if e != keep && e.data != nil {
			out = append(out, c.unlink(e)...)
		}
		e = prev
	}
	return out
}

// drop removes e from the cache if it is still there.
func (c *fileCache) drop(e *cachedFile) {
	c.mu.Lock()
	var toClose []*pooledFile
	if !e.gone {
		toClose = c.unlink(e)
	}
	c.mu.Unlock()
	closeAll(toClose)
}

// unlink removes e from the map and the LRU list and returns its idle
// descriptors for the caller to close after unlocking; c.mu is held.
func (c *fileCache) unlink(e *cachedFile) []*pooledFile {
	if e == &c.lru || e.gone {
		return nil
	}
	e.gone = true
	if c.m[e.key] == e {
		delete(c.m, e.key)
	}
	e.prev.next, e.next.prev = e.next, e.prev
	e.prev, e.next = nil, nil
	idle := e.idle
	e.idle = nil
	c.idleFDs -= len(idle)
	if e.data != nil {
		c.memBytes -= int64(len(e.data))
	}
	return idle
}

// touch makes e the most recently used entry; c.mu is held.
func (c *fileCache) touch(e *cachedFile) {
	if c.lru.next == e {
		return
	}
	e.prev.next, e.next.prev = e.next, e.prev
	c.pushFront(e)
}

func (c *fileCache) pushFront(e *cachedFile) {
	e.prev, e.next = &c.lru, c.lru.next
	c.lru.next.prev = e
	c.lru.next = e
}

// startSweep schedules the removal of entries nobody asked for in
// fileInactive, unless it is scheduled; c.mu is held.
func (c *fileCache) startSweep() {
	if c.sweeping {
		return
	}
	c.sweeping = true
	time.AfterFunc(fileInactive/2, c.sweep)
}

func (c *fileCache) sweep() {
	now := clock()
	c.mu.Lock()
	var toClose []*pooledFile
	for c.lru.prev != &c.lru && now-c.lru.prev.used >= int64(fileInactive) {
		toClose = append(toClose, c.unlink(c.lru.prev)...)
	}
	c.sweeping = false
	if len(c.m) > 0 && !c.closed {
		c.startSweep()
	}
	c.mu.Unlock()
	closeAll(toClose)
}

// close drops every entry; descriptors lent out are closed when returned.
func (c *fileCache) close() {
	c.mu.Lock()
	c.closed = true
	var toClose []*pooledFile
	for c.lru.prev != &c.lru {
		toClose = append(toClose, c.unlink(c.lru.prev)...)
	}
	c.mu.Unlock()
	closeAll(toClose)
}

func (c *fileCache) stats() CacheStats {
	c.mu.Lock()
	s := CacheStats{Files: len(c.m), IdleFiles: c.idleFDs, MemoryBytes: c.memBytes}
	c.mu.Unlock()
	s.Hits, s.MemoryHits = c.hits.Load(), c.memHits.Load()
	s.Misses, s.Replaced = c.misses.Load(), c.replaced.Load()
	return s
}

func closeAll(pfs []*pooledFile) {
	for _, pf := range pfs {
		pf.f.Close()
	}
}

// cachedObject is an object served with a pooled descriptor, which it
// returns to the cache on Close.
type cachedObject struct {
	ctx    context.Context
	c      *fileCache
	e      *cachedFile
	pf     *pooledFile
	closed atomic.Bool
}

var (
	_ storage.Object = (*cachedObject)(nil)
	_ storage.Filer  = (*cachedObject)(nil)
)

// ReadAt reads with pread(2); it may be called concurrently, until Close.
func (o *cachedObject) ReadAt(p []byte, off int64) (int, error) {
	if err := o.ctx.Err(); err != nil {
		return 0, err
	}
	if o.closed.Load() {
		return 0, fs.ErrClosed
	}
	return o.pf.f.ReadAt(p, off)
}

// Close gives the descriptor back to the cache (or closes it). Only the
// first call does anything.
func (o *cachedObject) Close() error {
	if !o.closed.Swap(true) {
		o.c.release(o.e, o.pf)
	}
	return nil
}

// Info describes the version the descriptor is open on.
func (o *cachedObject) Info() storage.Info { return o.e.info }

// File returns the descriptor, for sendfile(2), at an unspecified offset
// (see [storage.Filer]). It belongs to the object until Close, and to
// nobody else meanwhile; after Close it returns nil.
func (o *cachedObject) File() *os.File {
	if o.closed.Load() {
		return nil
	}
	return o.pf.f
}

// memObject is a file served from memory: a snapshot of one version.
type memObject struct {
	ctx  context.Context
	info storage.Info
	data []byte // shared, immutable
}

var _ storage.Object = (*memObject)(nil)

func (o *memObject) ReadAt(p []byte, off int64) (int, error) {
	if err := o.ctx.Err(); err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, fs.ErrInvalid
	}
	if off >= int64(len(o.data)) {
		return 0, io.EOF
	}
	n := copy(p, o.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// WriteRangeTo writes the n bytes at off with one Write, without a copy
// buffer (see rangeio.CopyAt): for a response of a small file, net/http
// then sends the header and the first bytes in one write(2).
func (o *memObject) WriteRangeTo(w io.Writer, off, n int64) (int64, error) {
	if err := o.ctx.Err(); err != nil {
		return 0, err
	}
	if off < 0 || n < 0 || off > int64(len(o.data))-n {
		return 0, io.ErrUnexpectedEOF
	}
	m, err := w.Write(o.data[off : off+n])
	if err == nil && int64(m) < n {
		err = io.ErrShortWrite
	}
	return int64(m), err
}

func (o *memObject) Close() error       { return nil }
func (o *memObject) Info() storage.Info { return o.info }
