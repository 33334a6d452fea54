// Package zipstream owns the stored ZIP archive whose length is known
// before its first byte: it computes the exact layout of an archive from
// a listing of entries ([Build]: a pure function of the entries, giving
// the total size, every entry's header, data and descriptor offsets, the
// central directory's offset and a strong ETag), and produces the bytes of
// any range of that archive ([Archive.WriteRange]) from an [Opener] that
// reads the entries' contents. A deflated variant with no known length is
// streamed by [WriteDeflate].
//
// # Format
//
// Entries are stored (method 0): their sizes are known from the listing,
// so every offset is too. File entries carry a data descriptor (flag bit
// 3), so a local header never needs the CRC-32; only the descriptors and
// the central directory do. Names are UTF-8 (flag bit 11 when not plain
// ASCII); modification times are written as MS-DOS date and time (UTC)
// and as an extended timestamp (extra field 0x5455). Folders are explicit
// entries ("dir/", no data, no descriptor), so empty folders survive.
// ZIP64 is used per entry when its size reaches 0xFFFFFFFF (a ZIP64 extra
// field in the local header with zero sizes, a 24-byte descriptor) and in
// the central directory when an entry's size or its header's offset
// reaches 0xFFFFFFFF; the ZIP64 end records are written when the entry
// count, the central directory's size or its offset passes the classic
// limits. The result reads with Go's archive/zip and Info-ZIP's unzip.
//
// # CRC-32s
//
// A range that covers a descriptor or part of the central directory needs
// the CRC-32 of the entries concerned. They come, in this order, from the
// archive's own table (filled as entries stream by: a whole-archive
// download reads every entry exactly once), from a [Sums] cache shared by
// the archives of one backend (bounded, keyed by each entry's ETag and
// size), from a checksum the backend stored ([StoredCRC32]), or are
// learnt from the entry's bytes. Every span of data a response streams is
// hashed on the way and kept as a piece; pieces of one entry from
// different requests are combined (crc32_combine), so the segments of a
// segmented download add up to whole CRC-32s, and a request that needs a
// CRC-32 reads only what no piece covers, waiting for spans other
// requests are streaming at that moment (unless they stall). Once an
// entry's CRC-32 is known, a local file's data is sent with sendfile(2).
//
// # Consistency
//
// An [Archive] is a snapshot of one listing: its ETag is a hash of every
// entry's name, kind, size, modification time and ETag, so any change to
// the listing gives a new ETag (and If-Range then fails). Each entry is
// opened with the size and ETag of the snapshot; an entry whose version
// differs, or that reports a change after its bytes were read
// ([Checker]), makes WriteRange fail with [ErrChanged]: the HTTP layer
// aborts the response, so a client gets a broken transfer, never an
// archive that unzips to wrong bytes.
//
// # Memory
//
// The central directory at the end of a ZIP archive names every entry,
// so the archive must know them all: an Archive holds a compact table of
// 48 bytes plus the entry's name and ETag per entry (10,000 files with
// 40-byte names and ETags take about 1.3 MB, up to twice that while the
// table grows) for as long as a response uses it, and nothing else per
// entry; [BuildOptions.MaxEntries] bounds it. Producing bytes takes a
// constant amount more (one 256 KiB buffer, one open entry at a time),
// whatever the range. A [Sums] cache holds at most its capacity of
// CRC-32s (about 100 bytes each) and follows at most 4,096 entries being
// learnt piece by piece, 32 pieces each.
//
// zipstream imports nothing of rangeserve's: it knows entries by name
// and reads them through [Opener]. It does not list folders, decide who
// may read what, or write HTTP headers.
package zipstream
