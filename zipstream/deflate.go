package zipstream

import (
	"archive/zip"
	"context"
	"fmt"
	"io"
	"iter"
	"path"
	"strings"
)

// DeflateOptions configure [WriteDeflate].
type DeflateOptions struct {
	// Compress reports whether the file entry named name is compressed
	// (deflated) rather than stored; nil means [Compressible].
	Compress func(name string) bool
}

// WriteDeflate writes to w a ZIP archive of entries, in the order given,
// whose compressible entries are deflated: its length is not known in
// advance, so it is streamed, with no ranges. The entries are read once,
// through o, and checked as [Archive.WriteRange] checks them: an entry
// whose version is not the one listed fails with [ErrChanged]. Any error
// the sequence yields ends WriteDeflate with it; the archive is then
// incomplete (no central directory) and must be sent as a broken
// transfer.
//
// Memory holds a little for every entry written (archive/zip keeps its
// central directory until the end) plus the compressor's state.
func WriteDeflate(ctx context.Context, w io.Writer, entries iter.Seq2[Entry, error], o Opener, opts DeflateOptions) error {
	compress := opts.Compress
	if compress == nil {
		compress = Compressible
	}
	zw := zip.NewWriter(w)
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	for e, err := range entries {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if !ValidName(e.Name) {
			return fmt.Errorf("%w: name %q", ErrInvalidEntry, e.Name)
		}
		fh := &zip.FileHeader{Name: e.Name, Method: zip.Store}
		if !e.ModTime.IsZero() {
			fh.Modified = e.ModTime.UTC()
		}
		if e.Dir {
			fh.Name += "/"
			fh.SetMode(0o755 | 1<<31) // fs.ModeDir
		} else {
			fh.SetMode(0o644)
			if e.Size > 0 && compress(e.Name) {
				fh.Method = zip.Deflate
			}
		}
		fw, err := zw.CreateHeader(fh)
		if err != nil {
			return err
		}
		if e.Dir || e.Size == 0 {
			continue
		}
		if err := deflateEntry(ctx, fw, e, o, *bp); err != nil {
			return err
		}
	}
	return zw.Close()
}

// deflateEntry copies the content of e, opened with o, to fw.
func deflateEntry(ctx context.Context, fw io.Writer, e Entry, o Opener, buf []byte) error {
	f, err := o.Open(ctx, e)
	if err != nil {
		return fmt.Errorf("zipstream: opening %q: %w", e.Name, err)
	}
	defer f.Close()
	if f.Size() != e.Size || f.ETag() != e.ETag {
		return fmt.Errorf("%w: %q was listed with size %d and ETag %s, opened with size %d and ETag %s",
			ErrChanged, e.Name, e.Size, e.ETag, f.Size(), f.ETag())
	}
	var werr error
	err = readSpan(ctx, f, 0, e.Size, buf, func(b []byte) error {
		_, werr = fw.Write(b)
		return werr
	})
	if werr != nil {
		return werr
	}
	if err == nil {
		err = check(f)
	}
	if err != nil {
		if err == io.ErrUnexpectedEOF {
			err = fmt.Errorf("%w: shorter than listed (%w)", ErrChanged, err)
		}
		return fmt.Errorf("zipstream: reading %q: %w", e.Name, err)
	}
	return nil
}

// compressibleExt lists the extensions of text formats that deflate well.
var compressibleExt = map[string]bool{
	".txt": true, ".text": true, ".md": true, ".markdown": true, ".rst": true, ".log": true,
	".csv": true, ".tsv": true, ".json": true, ".ndjson": true, ".jsonl": true, ".geojson": true,
	".xml": true, ".html": true, ".htm": true, ".xhtml": true, ".css": true, ".js": true, ".mjs": true,
	".ts": true, ".svg": true, ".yaml": true, ".yml": true, ".toml": true, ".ini": true, ".conf": true,
	".cfg": true, ".sql": true, ".srt": true, ".vtt": true, ".ass": true, ".m3u": true, ".m3u8": true,
	".tex": true, ".rtf": true, ".ps": true, ".eps": true, ".c": true, ".h": true, ".go": true,
	".py": true, ".rb": true, ".java": true, ".rs": true, ".sh": true, ".pl": true, ".php": true,
	".wav": true, ".bmp": true, ".tif": true, ".tiff": true,
}

// Compressible reports whether a file named name is worth deflating: text
// formats (plain text, markup, data, source code, subtitles) and a few
// uncompressed binary ones (WAV, BMP, TIFF), by extension. Media that is
// already compressed (video, audio, images, archives) is stored.
func Compressible(name string) bool {
	return compressibleExt[strings.ToLower(path.Ext(name))]
}
