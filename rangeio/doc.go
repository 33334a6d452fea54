// Package rangeio owns the byte-range side of rangeserve: parsing the HTTP
// Range header with limits ([Parse]), byte-range math ([Range]), the
// streamed multipart/byteranges writer ([Multipart]), the pooled copy from
// an [io.ReaderAt] ([CopyAt], which streams a span at once from a
// [RangeReader], or lets a [RangeWriterTo] write it), and io.ReaderAt
// adapters such as the block cache (blockcache.go) that sits in front of
// slow object stores: 64 KiB blocks in memory, one backend request per
// run of missing blocks, span streams that fill the cache as they pass
// (blockstream.go), and an optional local-disk tier under the memory
// ([DiskCache], blockdisk.go), the one part of the package that writes
// files.
//
// rangeio imports nothing of rangeserve's: it is a leaf on the standard
// library, so storage backends and the HTTP layer can both use it. It does
// not decide HTTP status codes or write HTTP headers; it tells the caller
// which case applies (see [ErrInvalid], [ErrUnsatisfiable], [ErrTooMany]) and
// moves bytes. Zero-copy transfer (sendfile) of local files is not done
// here: it needs the *os.File itself, which the HTTP layer hands to
// net/http directly.
package rangeio
