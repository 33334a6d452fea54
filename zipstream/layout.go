package zipstream

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"iter"
	"math"
	"sort"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// Entry is one item of a listing: a file or a folder to put in an archive.
type Entry struct {
	// Name is the entry's path inside the archive: slash-separated,
	// relative, without empty, "." or ".." segments, valid UTF-8, without
	// a trailing slash (see [ValidName]). Names must be unique; Build does
	// not check (that would hold a set of every name).
	Name string
	// Dir reports a folder: an entry "Name/" without data. Size and ETag
	// are ignored.
	Dir bool
	// Size is the file's length in bytes.
	Size int64
	// ModTime is the modification time written to the archive; the zero
	// time writes none (MS-DOS 1980-01-01 00:00:00).
	ModTime time.Time
	// ETag identifies the file's version, as its backend reports it (a
	// quoted strong ETag such as `"abc"`); "" if there is none. It is part
	// of the archive's ETag, the key of the CRC-32 cache, and what an
	// opened entry must still have.
	ETag string
}

// Limits and defaults of [BuildOptions].
const (
	// DefaultMaxEntries is the most entries an archive may have when
	// BuildOptions.MaxEntries is zero: a table of about 25 MB at the most.
	DefaultMaxEntries = 200_000
	// NoEntryLimit as BuildOptions.MaxEntries turns the limit off.
	NoEntryLimit = -1
)

// BuildOptions bound [Build].
type BuildOptions struct {
	// MaxEntries is the most entries (files and folders) an archive may
	// have; beyond it Build fails with [ErrTooManyEntries]. 0 means
	// [DefaultMaxEntries]; [NoEntryLimit] means no limit.
	MaxEntries int
}

// Errors of [Build].
var (
	// ErrInvalidEntry: an entry's name or size cannot be written to an
	// archive (see [ValidName]).
	ErrInvalidEntry = errors.New("zipstream: invalid entry")
	// ErrTooManyEntries: the listing has more entries than
	// BuildOptions.MaxEntries.
	ErrTooManyEntries = errors.New("zipstream: too many entries")
)

// ZIP format constants (APPNOTE.TXT 6.3.10).
const (
	sigLocal      = 0x04034b50
	sigCentral    = 0x02014b50
	sigDescriptor = 0x08074b50
	sigEnd        = 0x06054b50
	sigEnd64      = 0x06064b50
	sigLocator64  = 0x07064b50

	localLen     = 30
	centralLen   = 46
	endLen       = 22
	end64Len     = 56
	locator64Len = 20
	descLen      = 16 // signature, CRC-32, two 4-byte sizes
	desc64Len    = 24 // signature, CRC-32, two 8-byte sizes

	timeExtraLen    = 9  // 0x5455: ID, size, flags, mtime
	local64ExtraLen = 20 // 0x0001: ID, size, two 8-byte sizes
	cdir64ExtraLen  = 28 // 0x0001: ID, size, two sizes and the offset

	max16 = 1<<16 - 1
	max32 = 1<<32 - 1

	versionNeeded   = 20        // 2.0: folders, data descriptors
	versionNeeded64 = 45        // 4.5: ZIP64
	versionMadeBy   = 3<<8 | 45 // Unix, 4.5
	flagDescriptor  = 1 << 3    // CRC-32 and sizes follow the data
	flagUTF8        = 1 << 11   // name is UTF-8
	modeFile        = 0o100644  // regular file, rw-r--r--
	modeDir         = 0o040755  // directory, rwxr-xr-x
	msdosDir        = 0x10      // MS-DOS directory attribute
	dosEpochDate    = 1<<5 | 1  // 1980-01-01
	extTimeID       = 0x5455    // extended timestamp
	zip64ID         = 0x0001    // ZIP64 extended information
	etagPrefix      = "zs1-"    // format version of the archive ETag
	maxNameLen      = max16     // a name's length field is 16 bits
	maxArena        = math.MaxUint32
	extTimeModified = 1 // extended timestamp flags: mtime present
)

// rec flags.
const (
	fDir   = 1 << iota // a folder entry
	fTime              // has an extended timestamp
	fZip64             // the entry's size needs ZIP64
	fUTF8              // the name is not plain ASCII
)

// rec is one entry of an Archive's table.
type rec struct {
	nameEnd uint32 // end of the name (with "/" for folders) in the arena; it starts at the previous rec's etagEnd
	etagEnd uint32 // end of the ETag in the arena; it starts at nameEnd
	flags   uint8
	dosTime uint16
	dosDate uint16
	mtime   uint32        // Unix seconds, with fTime
	size    int64         // data length (0 for folders)
	off     int64         // offset of the local header
	sum     atomic.Uint64 // the CRC-32 | 1<<32 once known
}

// Archive is the layout of one stored ZIP archive: a compact table of its
// entries, their offsets, the central directory's, the total size and a
// strong ETag. It is immutable once built (but for the CRC-32s it
// learns) and safe for concurrent use. Read it with [Archive.Reader].
type Archive struct {
	recs    []rec
	arena   []byte
	cdOff   int64
	cdSize  int64
	size    int64
	etag    string
	modTime time.Time
}

// ValidName reports whether name can be an entry's name: not empty, at
// most 65,534 bytes, valid UTF-8, relative, slash-separated without empty,
// "." or ".." segments, and free of backslashes and control characters
// (which extractors on other systems would read as separators or worse).
func ValidName(name string) bool {
	if name == "" || len(name) >= maxNameLen || !utf8.ValidString(name) {
		return false
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c < 0x20 || c == 0x7f || c == '\\' {
			return false
		}
	}
	for seg := range strings.SplitSeq(name, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
	}
	return true
}

// Build computes the layout of the stored archive of entries, in the
// order given. It is a pure function of the entries: the same listing
// gives the same layout, size and ETag. Any error the sequence yields
// ends Build with it.
func Build(entries iter.Seq2[Entry, error], opts BuildOptions) (*Archive, error) {
	limit := opts.MaxEntries
	if limit == 0 {
		limit = DefaultMaxEntries
	}
	a := &Archive{}
	h := sha256.New()
	h.Write([]byte(etagPrefix))
	weak := false
	var off int64
	var num [8]byte
	for e, err := range entries {
		if err != nil {
			return nil, err
		}
		if limit > 0 && len(a.recs) >= limit {
			return nil, fmt.Errorf("%w: more than %d", ErrTooManyEntries, limit)
		}
		if !ValidName(e.Name) {
			return nil, fmt.Errorf("%w: name %q", ErrInvalidEntry, e.Name)
		}
		if !e.Dir && e.Size < 0 {
			return nil, fmt.Errorf("%w: %q has an unknown size", ErrInvalidEntry, e.Name)
		}
		a.recs = append(a.recs, rec{})
		r := &a.recs[len(a.recs)-1]
		name, size, etag := e.Name, e.Size, e.ETag
		if e.Dir {
			name, size, etag = name+"/", 0, ""
			r.flags |= fDir
		} else if etag == "" || strings.HasPrefix(etag, "W/") {
			weak = true
		}
		if len(a.arena)+len(name)+len(etag) > maxArena {
			return nil, fmt.Errorf("%w: names and ETags exceed 4 GiB", ErrTooManyEntries)
		}
		a.arena = append(a.arena, name...)
		r.nameEnd = uint32(len(a.arena))
		a.arena = append(a.arena, etag...)
		r.etagEnd = uint32(len(a.arena))
		r.size = size
		r.off = off
		if size >= max32 {
			r.flags |= fZip64
		}
		if !isASCII(name) {
			r.flags |= fUTF8
		}
		r.dosDate, r.dosTime = dosTime(e.ModTime)
		if t := e.ModTime; !t.IsZero() && t.Unix() >= 0 && t.Unix() <= max32 {
			r.flags |= fTime
			r.mtime = uint32(t.Unix())
		}
		if !e.ModTime.IsZero() && e.ModTime.After(a.modTime) {
			a.modTime = e.ModTime
		}
		off = a.next(len(a.recs) - 1)

		h.Write([]byte(name))
		h.Write([]byte{0})
		binary.LittleEndian.PutUint64(num[:], uint64(size))
		h.Write(num[:])
		var ns int64
		if !e.ModTime.IsZero() {
			ns = e.ModTime.UnixNano()
		}
		binary.LittleEndian.PutUint64(num[:], uint64(ns))
		h.Write(num[:])
		h.Write([]byte(etag))
		h.Write([]byte{0})
	}
	a.cdOff = off
	for i := range a.recs {
		a.cdSize += a.centralLen(i)
	}
	a.size = a.cdOff + a.cdSize + a.endLen()
	sum := h.Sum(nil)
	a.etag = `"` + etagPrefix + hex.EncodeToString(sum[:16]) + `"`
	if weak {
		a.etag = "W/" + a.etag
	}
	return a, nil
}

// Size returns the archive's length in bytes.
func (a *Archive) Size() int64 { return a.size }

// ETag returns the archive's entity tag, quoted: strong (`"zs1-…"`) when
// every file entry has a strong ETag, else weak (`W/"zs1-…"`). It is a
// hash of every entry's name, kind, size, modification time and ETag, so
// it is stable across builds of the same listing and changes with any
// change to it.
func (a *Archive) ETag() string { return a.etag }

// ModTime returns the latest modification time among the entries, or the
// zero time. A removed entry does not change it: it is no validator.
func (a *Archive) ModTime() time.Time { return a.modTime }

// Len returns the number of entries.
func (a *Archive) Len() int { return len(a.recs) }

// CentralDirectory returns the offset and size of the central directory;
// the end records follow it up to [Archive.Size].
func (a *Archive) CentralDirectory() (off, size int64) { return a.cdOff, a.cdSize }

// Placement is where one entry lies in an archive: its local header at
// Header, its data at [Data, Descriptor), its data descriptor at
// [Descriptor, End) (empty for folders).
type Placement struct {
	Name       string // as written, with a trailing "/" for folders
	Dir        bool
	Size       int64
	ETag       string
	Header     int64
	Data       int64
	Descriptor int64
	End        int64
}

// Entry returns the placement of entry i, 0 <= i < Len().
func (a *Archive) Entry(i int) Placement {
	r := &a.recs[i]
	data := r.off + a.localLen(i)
	return Placement{
		Name:       a.name(i),
		Dir:        r.flags&fDir != 0,
		Size:       r.size,
		ETag:       a.etagOf(i),
		Header:     r.off,
		Data:       data,
		Descriptor: data + r.size,
		End:        a.next(i),
	}
}

func (a *Archive) nameStart(i int) uint32 {
	if i == 0 {
		return 0
	}
	return a.recs[i-1].etagEnd
}

func (a *Archive) name(i int) string {
	return string(a.nameBytes(i))
}

func (a *Archive) nameBytes(i int) []byte {
	return a.arena[a.nameStart(i):a.recs[i].nameEnd]
}

func (a *Archive) etagOf(i int) string {
	return string(a.arena[a.recs[i].nameEnd:a.recs[i].etagEnd])
}

// entryName returns the name an Opener is given: without the folder's "/".
func (a *Archive) entryName(i int) string {
	return strings.TrimSuffix(a.name(i), "/")
}

// localLen is the length of entry i's local header.
func (a *Archive) localLen(i int) int64 {
	r := &a.recs[i]
	n := int64(localLen) + int64(r.nameEnd-a.nameStart(i))
	if r.flags&fTime != 0 {
		n += timeExtraLen
	}
	if r.flags&fZip64 != 0 {
		n += local64ExtraLen
	}
	return n
}

// descLen is the length of entry i's data descriptor.
func (a *Archive) descLen(i int) int64 {
	switch f := a.recs[i].flags; {
	case f&fDir != 0:
		return 0
	case f&fZip64 != 0:
		return desc64Len
	default:
		return descLen
	}
}

// next is the offset just past entry i (header, data and descriptor).
func (a *Archive) next(i int) int64 {
	r := &a.recs[i]
	return r.off + a.localLen(i) + r.size + a.descLen(i)
}

// central64 reports whether entry i's central directory record needs a
// ZIP64 extra field.
func (a *Archive) central64(i int) bool {
	r := &a.recs[i]
	return r.flags&fZip64 != 0 || r.off >= max32
}

// centralLen is the length of entry i's central directory record.
func (a *Archive) centralLen(i int) int64 {
	r := &a.recs[i]
	n := int64(centralLen) + int64(r.nameEnd-a.nameStart(i))
	if r.flags&fTime != 0 {
		n += timeExtraLen
	}
	if a.central64(i) {
		n += cdir64ExtraLen
	}
	return n
}

// end64 reports whether the archive needs the ZIP64 end records.
func (a *Archive) end64() bool {
	return len(a.recs) >= max16 || a.cdSize >= max32 || a.cdOff >= max32
}

// endLen is the length of the end records.
func (a *Archive) endLen() int64 {
	if a.end64() {
		return end64Len + locator64Len + endLen
	}
	return endLen
}

// find returns the first entry that ends after off (Len() if none).
func (a *Archive) find(off int64) int {
	return sort.Search(len(a.recs), func(i int) bool { return a.next(i) > off })
}

// dosTime encodes t (in UTC) as an MS-DOS date and time, clamped to the
// years 1980-2107 the format can hold; the zero time is 1980-01-01 00:00.
func dosTime(t time.Time) (date, tm uint16) {
	if t.IsZero() {
		return dosEpochDate, 0
	}
	t = t.UTC()
	switch {
	case t.Year() < 1980:
		return dosEpochDate, 0
	case t.Year() > 2107:
		return 127<<9 | 12<<5 | 31, 23<<11 | 59<<5 | 29
	}
	date = uint16(t.Day() + int(t.Month())<<5 + (t.Year()-1980)<<9)
	tm = uint16(t.Second()/2 + t.Minute()<<5 + t.Hour()<<11)
	return date, tm
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
