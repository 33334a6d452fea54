// Package mp4 owns reading the box structure of an ISO base media file
// (ISO/IEC 14496-12: MP4, MOV, M4A, M4V) from untrusted input and planning
// a virtual "faststart" layout for a file whose movie box (moov, the index
// a player needs before it can show a frame) follows its media data
// (mdat).
//
// [Plan] reads the top-level box headers and the moov box of a source
// [io.ReaderAt] and returns a [Layout]: the virtual file is the source's
// ftyp, then a rewritten moov, then every other top-level box in its
// original order, and nothing after them. In the rewritten moov every
// chunk offset of every track (stco, co64) is mapped from its position in
// the source to its position in the virtual file; a 32-bit stco whose
// offsets would no longer fit becomes a co64, which makes the moov larger,
// so the layout is computed to a fixed point. Only the rewritten moov, and
// the few bytes of ftyp before it, are held in memory; every other byte of
// the virtual file is a range of the source ([Segment]), usually one, so a
// server can still send it with sendfile(2) or one ranged request per
// span ([Layout.Spans]).
//
// Files this package does not need to or cannot rewrite safely are
// reported, never half-rewritten: every such error matches [ErrUnchanged]
// (errors.Is), and the caller serves the file as stored. They are
// [ErrFaststart] (moov already precedes the media data), errors wrapping
// [ErrUnsupported] (fragmented files, compressed or oversized moov, data
// in other files, sample auxiliary offsets, item locations, ...) and
// [*FormatError] (the input is not a well-formed file). Any other error
// comes from the io.ReaderAt.
//
// The reader follows Go's debug/elf and image/png: every read is bounded,
// no allocation is sized by a length the file claims before the bytes are
// there (the moov is read in steps and capped by [Options.MaxMoovSize]),
// box nesting depth and box counts are capped, and entry counts are
// checked against the bytes actually present. It is fuzzed (FuzzPlan) with
// a committed corpus of real ffmpeg files and truncated or lying boxes.
//
// The package is written by hand, on the standard library only, because no
// Go MP4 library is served by the module proxy this project builds with
// (github.com/Eyevinn/mp4ff and github.com/abema/go-mp4 were refused);
// it implements only the small part of the format that the faststart
// rewrite needs. It imports nothing of rangeserve's and knows nothing of
// HTTP: the media package decides when to serve a virtual file, caches
// layouts by source ETag ([VirtualETag]) and moves the bytes.
package mp4
