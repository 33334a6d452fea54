package storage

import (
	"fmt"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ErrInvalidKey is returned by [CleanKey] for a key that could reach
// outside a mount or that no backend should be asked for. It satisfies
// errors.Is(err, ErrNotExist), so it reads as 404 to clients: a traversal
// attempt learns nothing about what exists.
var ErrInvalidKey = fmt.Errorf("storage: invalid key: %w", ErrNotExist)

// MaxKeyLen bounds a cleaned key, in bytes.
const MaxKeyLen = 4096

// maxDecodes is how many further rounds of percent-decoding a segment may
// need before it stops changing; a segment encoded more deeply than that is
// refused.
const maxDecodes = 3

// CleanKey turns the decoded path of a URL (below a mount's prefix) into a
// key: slash-separated, no leading or trailing slash, no empty segment. It
// is the only place where keys are validated, and it rejects rather than
// repairs anything suspicious:
//
//   - "." and ".." segments, also when they are still percent-encoded once
//     or more ("%2e%2e", "%252e%252e" after the server's own decoding);
//   - a segment that decodes to something holding "/" or "\" ("..%2f");
//   - backslashes, NUL and other control characters (C0, DEL and C1), also
//     when they appear only after further percent-decoding ("%00", "%0a");
//   - keys longer than [MaxKeyLen], keys that are not valid UTF-8 (this
//     includes overlong encodings such as "\xc0\xae"), and segments that
//     become invalid UTF-8 after further decoding ("%c0%ae");
//   - segments still changing after three further rounds of decoding.
//
// Further decoding is lenient: a '%' not followed by two hex digits stays
// literal, so names such as "100%" and "50%off" are valid keys.
//
// On success the key is a fixed point: CleanKey(key) returns key. The empty
// key (the mount's root) is valid. Hidden names (segments starting with
// ".") are valid keys: serving them is the HTTP layer's policy, not
// checked here.
func CleanKey(p string) (string, error) {
	if len(p) > MaxKeyLen {
		return "", ErrInvalidKey
	}
	// A key that is already clean (the common case: the server's own
	// keys, and every backend's check of them) comes back as it is,
	// without an allocation.
	clean := p == "" || p[0] != '/' && p[len(p)-1] != '/' && !strings.Contains(p, "//")
	if clean {
		for seg := range strings.SplitSeq(p, "/") {
			if seg != "" && !validSegment(seg) {
				return "", ErrInvalidKey
			}
		}
		return p, nil
	}
	var b strings.Builder
	b.Grow(len(p))
	for seg := range strings.SplitSeq(p, "/") {
		if seg == "" {
			continue
		}
		if !validSegment(seg) {
			return "", ErrInvalidKey
		}
		if b.Len() > 0 {
			b.WriteByte('/')
		}
		b.WriteString(seg)
	}
	return b.String(), nil
}

// validSegment reports whether seg, and every form it takes after up to
// maxDecodes further rounds of percent-decoding, is a plain name: valid
// UTF-8, no control character, no separator, not a dot segment. A later
// layer (a proxy, an object store, an X-Accel location) that decodes once
// more must not see a traversal either.
func validSegment(seg string) bool {
	for i := 0; ; i++ {
		if seg == "." || seg == ".." || !plainName(seg) {
			return false
		}
		dec := unescapeLenient(seg)
		if dec == seg {
			return true
		}
		if i == maxDecodes {
			return false
		}
		seg = dec
	}
}

// plainName reports whether s is valid UTF-8 without separators or control
// characters.
func plainName(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r == '/' || r == '\\' || unicode.IsControl(r) {
			return false
		}
	}
	return true
}

// unescapeLenient decodes every "%XX" with two hex digits and leaves any
// other '%' as it is, the way the most permissive decoder a request might
// meet later would.
func unescapeLenient(s string) string {
	i := strings.IndexByte(s, '%')
	for i >= 0 && !(i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2])) {
		// A '%' that escapes nothing stays; look for one that does.
		j := strings.IndexByte(s[i+1:], '%')
		if j < 0 {
			return s
		}
		i += 1 + j
	}
	if i < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	b.WriteString(s[:i])
	for ; i < len(s); i++ {
		c := s[i]
		if c == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
			i += 2
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}

// EscapeKey percent-encodes each segment of a slash-separated key (or
// path) with url.PathEscape, keeping the slashes, so that the result can
// stand in a URL path: "vidéo 𝄞/a b.mp4" becomes
// "vid%C3%A9o%20%F0%9D%84%9E/a%20b.mp4". A leading or trailing slash is
// kept. It is the one escaper for links, X-Accel-Redirect targets and
// printed URLs.
func EscapeKey(key string) string {
	var b strings.Builder
	b.Grow(len(key) + len(key)/4)
	for i, seg := range strings.Split(key, "/") {
		if i > 0 {
			b.WriteByte('/')
		}
		b.WriteString(url.PathEscape(seg))
	}
	return b.String()
}
