package media

import (
	"net/http"
	"path"
	"strings"
	"unicode/utf8"
)

// Dispositions accepted by [ContentDisposition].
const (
	// Inline asks the browser to display the object (play a video).
	Inline = "inline"
	// Attachment asks the browser to save the object as a file.
	Attachment = "attachment"
)

// ContentDisposition returns the value of a Content-Disposition header
// (RFC 6266) for kind ([Inline] or [Attachment]; any other value is
// treated as [Attachment]) and the file name name (a base name, not a
// path).
//
// The name is always given as an ASCII fallback, filename="...", in which
// every non-ASCII character and every character some browsers mishandle
// inside the quoted string (", \ and %) becomes '_' and control characters
// are dropped. When that fallback differs from name, the exact name
// follows as an RFC 8187 filename* parameter (UTF-8, percent-encoded),
// which current browsers prefer:
//
//	attachment; filename="vid_o.mp4"; filename*=UTF-8''vid%C3%A9o.mp4
//
// A name that survives the fallback unchanged (ASCII without ", \, % or
// control characters; spaces and ';' are fine inside the quotes) gets no
// filename* parameter. An empty name gives just the kind.
//
// Storage presigning needs the same string for
// response-content-disposition; whoever puts it into a URL must encode it
// fully (MinIO and S3 disagree on ';', '!', '&' and non-ASCII otherwise).
func ContentDisposition(kind, name string) string {
	if kind != Inline {
		kind = Attachment
	}
	name = strings.ToValidUTF8(name, "\uFFFD")
	if name == "" {
		return kind
	}
	fallback, lossy := asciiFallback(name)
	var b strings.Builder
	b.Grow(len(kind) + len(fallback) + 14 + 3*len(name))
	b.WriteString(kind)
	b.WriteString(`; filename="`)
	b.WriteString(fallback)
	b.WriteByte('"')
	if lossy {
		b.WriteString("; filename*=UTF-8''")
		for i := 0; i < len(name); i++ {
			c := name[i]
			if isAttrChar(c) {
				b.WriteByte(c)
				continue
			}
			const hex = "0123456789ABCDEF"
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&0xF])
		}
	}
	return b.String()
}

// asciiFallback returns the filename="..." value for name and whether it
// lost information.
func asciiFallback(name string) (string, bool) {
	plain := true
	for i := 0; i < len(name); i++ {
		if c := name[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '%' {
			plain = false
			break
		}
	}
	if plain {
		return name, false
	}
	var b strings.Builder
	b.Grow(len(name))
	for _, r := range name {
		switch {
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
			// Control characters are dropped.
		case r >= utf8.RuneSelf, r == '"', r == '\\', r == '%':
			b.WriteByte('_')
		default:
			b.WriteRune(r)
		}
	}
	return b.String(), true
}

// isAttrChar reports whether c may appear unencoded in an RFC 8187
// ext-value (attr-char).
func isAttrChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$&+-.^_`|~", c) >= 0
}

// dispositionKind returns [Attachment] when the query asks for a download
// (download=1 or download=true), else [Inline]. It scans the raw query
// without building a map.
func dispositionKind(r *http.Request) string {
	q := r.URL.RawQuery
	for q != "" {
		var kv string
		kv, q, _ = strings.Cut(q, "&")
		k, v, _ := strings.Cut(kv, "=")
		if k == "download" && (v == "1" || strings.EqualFold(v, "true")) {
			return Attachment
		}
	}
	return Inline
}

// baseName returns the file name of a key: its last segment.
func baseName(key string) string {
	if key == "" {
		return ""
	}
	return path.Base(key)
}
