package storage

import (
	"fmt"
	"net/url"
	"strings"
)

// ErrInvalidKey is returned by [CleanKey] for a key that could reach
// outside a mount or that no backend should be asked for. It satisfies
// errors.Is(err, ErrNotExist), so it reads as 404 to clients: a traversal
// attempt learns nothing about what exists.
var ErrInvalidKey = fmt.Errorf("storage: invalid key: %w", ErrNotExist)

// MaxKeyLen bounds a cleaned key, in bytes.
const MaxKeyLen = 4096

// CleanKey turns the decoded path of a URL (below a mount's prefix) into a
// key: slash-separated, no leading or trailing slash, no empty segment. It
// is the only place where keys are validated, and it rejects rather than
// repairs anything suspicious:
//
//   - "." and ".." segments, also when they are still percent-encoded once
//     more ("%2e%2e", "%252e%252e" after the server's own decoding);
//   - a segment that decodes to something holding "/" or "\" ("..%2f");
//   - backslashes, NUL and other control characters;
//   - keys longer than [MaxKeyLen] or that are not valid UTF-8.
//
// The empty key (the mount's root) is valid. Hidden files ("." prefixes)
// are a backend's policy, not checked here.
func CleanKey(p string) (string, error) {
	if len(p) > MaxKeyLen {
		return "", ErrInvalidKey
	}
	if strings.ContainsAny(p, "\\") {
		return "", ErrInvalidKey
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

func validSegment(seg string) bool {
	for _, r := range seg {
		if r < 0x20 || r == 0x7f || r == '\\' || r == 0xfffd {
			// 0xfffd is also what invalid UTF-8 decodes to.
			return false
		}
	}
	// Decode repeatedly: a segment that becomes a dot segment or grows a
	// separator after any number of further decodings is refused, whatever
	// a later layer (a proxy, an object store) might do with it.
	for range 4 {
		if seg == "." || seg == ".." || strings.ContainsAny(seg, "/\\\x00") {
			return false
		}
		if !strings.Contains(seg, "%") {
			return true
		}
		dec, err := url.PathUnescape(seg)
		if err != nil || dec == seg {
			// Not an escape sequence: a literal '%' in a name is fine.
			return true
		}
		seg = dec
	}
	return false
}
