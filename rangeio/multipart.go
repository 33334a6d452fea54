package rangeio

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"slices"
)

// Multipart writes a multipart/byteranges body (RFC 9110 §14.6) for a set
// of ranges of one representation, streaming each part from an
// [io.ReaderAt] with [CopyAt]: no part is buffered whole, and no goroutine
// or pipe is involved (net/http uses both), so the memory a response
// needs is one pooled buffer.
//
// The body is byte for byte what net/http's ServeContent produces with
// mime/multipart's Writer: parts start with "--BOUNDARY\r\n" (the first) or
// "\r\n--BOUNDARY\r\n" (the others), followed by "Content-Range: ..." and
// "Content-Type: ..." header lines, an empty line and the bytes; the body
// ends with "\r\n--BOUNDARY--\r\n". Its length is known in advance
// ([Multipart.Len]), so the caller can send Content-Length.
//
// A Multipart may be written more than once (a retried response) and is
// safe for concurrent use once built, since Write does not modify it.
type Multipart struct {
	ranges      []Range
	size        int64
	contentType string // "" omits the Content-Type line of each part
	boundary    string
	length      int64
}

// NewMultipart returns a Multipart for ranges of a representation of size
// bytes whose parts carry contentType. ranges should come from [Parse]
// (two or more ranges; RFC 9110 forbids a multipart response for a single
// range, but the writer does not enforce it). NewMultipart copies ranges.
//
// contentType is trimmed of surrounding spaces and tabs. An empty one, or
// one that contains control characters (CR, LF and the like, which would
// let a stored content type inject header lines into the parts), makes the
// parts omit their Content-Type line.
//
// The boundary is 30 bytes from crypto/rand in hex, like mime/multipart's,
// so it cannot be guessed by whoever controls the content.
func NewMultipart(ranges []Range, size int64, contentType string) *Multipart {
	var rnd [30]byte
	_, _ = rand.Read(rnd[:]) // never fails since Go 1.24
	m := &Multipart{
		ranges:      slices.Clone(ranges),
		size:        size,
		contentType: partContentType(contentType),
		boundary:    hex.EncodeToString(rnd[:]),
	}
	scratch := make([]byte, 0, m.scratchCap())
	for i, r := range m.ranges {
		m.length += int64(len(m.appendPartHeader(scratch[:0], i, r))) + r.Length
	}
	m.length += int64(len(m.appendClose(scratch[:0])))
	return m
}

// ContentType returns the value of the response's Content-Type header,
// "multipart/byteranges; boundary=" and the boundary.
func (m *Multipart) ContentType() string {
	return "multipart/byteranges; boundary=" + m.boundary
}

// Len returns the exact length in bytes of the body that [Multipart.Write]
// writes, for the Content-Length header.
func (m *Multipart) Len() int64 { return m.length }

// Write writes the body to w, reading each part's bytes from src (the whole
// representation, offset 0 at its first byte), and returns the number of
// bytes written. On success that number equals [Multipart.Len].
//
// Before writing anything, Write checks that every range lies within the
// size given to [NewMultipart] and is not empty; if one does not, it
// returns an error and writes nothing. An error after that (the client went
// away, the source failed or was shorter than size, giving
// [io.ErrUnexpectedEOF]) leaves the body incomplete: the caller must abort
// the response rather than let it look complete.
func (m *Multipart) Write(w io.Writer, src io.ReaderAt) (int64, error) {
	for _, r := range m.ranges {
		if r.Start < 0 || r.Length <= 0 || r.Length > m.size-r.Start {
			return 0, fmt.Errorf("rangeio: multipart range %d+%d outside a representation of %d bytes: build ranges with Parse", r.Start, r.Length, m.size)
		}
	}
	scratch := make([]byte, 0, m.scratchCap())
	var written int64
	for i, r := range m.ranges {
		n, err := w.Write(m.appendPartHeader(scratch[:0], i, r))
		written += int64(n)
		if err != nil {
			return written, err
		}
		c, err := CopyAt(w, src, r.Start, r.Length)
		written += c
		if err != nil {
			return written, err
		}
	}
	n, err := w.Write(m.appendClose(scratch[:0]))
	written += int64(n)
	return written, err
}

// scratchCap is a capacity that fits any part header of m.
func (m *Multipart) scratchCap() int {
	// Delimiters, header names and three decimal int64s (at most 19 digits).
	return 64 + 2*len(m.boundary) + len(m.contentType) + 3*20
}

// appendPartHeader appends the delimiter and header block of part i.
func (m *Multipart) appendPartHeader(b []byte, i int, r Range) []byte {
	if i > 0 {
		b = append(b, "\r\n"...)
	}
	b = append(b, "--"...)
	b = append(b, m.boundary...)
	b = append(b, "\r\nContent-Range: "...)
	b = r.appendContentRange(b, m.size)
	b = append(b, "\r\n"...)
	if m.contentType != "" {
		b = append(b, "Content-Type: "...)
		b = append(b, m.contentType...)
		b = append(b, "\r\n"...)
	}
	return append(b, "\r\n"...)
}

// appendClose appends the close delimiter that ends the body.
func (m *Multipart) appendClose(b []byte) []byte {
	b = append(b, "\r\n--"...)
	b = append(b, m.boundary...)
	return append(b, "--\r\n"...)
}

// partContentType returns the Content-Type value the parts carry for
// contentType: trimmed, or "" (omitted) if it has control characters.
func partContentType(contentType string) string {
	if !validHeaderValue(contentType) {
		return ""
	}
	return trimOWS(contentType)
}

// validHeaderValue reports whether v can be sent as a header field value
// as is: no control characters other than horizontal tab.
func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}
