package storage

import (
	"errors"
	"path"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestCleanKey(t *testing.T) {
	valid := []struct{ in, want string }{
		{"", ""},
		{"/", ""},
		{"a", "a"},
		{"a/b", "a/b"},
		{"a//b", "a/b"},
		{"/a/", "a"},
		{"//a///b//", "a/b"},
		{"vidéos/été 2024.mp4", "vidéos/été 2024.mp4"},
		{"日本語/ファイル.mkv", "日本語/ファイル.mkv"},
		{"emoji-🎬.webm", "emoji-🎬.webm"},
		{"100%", "100%"},
		{"50%off", "50%off"},
		{"a/100%/b", "a/100%/b"},
		{"%", "%"},
		{"%zz", "%zz"},
		{"%2", "%2"},
		{"100%25", "100%25"}, // decodes once more to "100%": harmless
		{"a%20b", "a%20b"},
		{"...", "..."},
		{".hidden", ".hidden"}, // serving hidden names is the HTTP layer's policy
		{"a/.b/c", "a/.b/c"},
		{"..a", "..a"},
		{"a..", "a.."},
		{"%2e%2e%2e", "%2e%2e%2e"}, // "..." is a plain name
		{"\ufffd", "\ufffd"},       // a real U+FFFD is valid UTF-8
		{strings.Repeat("a", MaxKeyLen), strings.Repeat("a", MaxKeyLen)},
	}
	for _, tc := range valid {
		got, err := CleanKey(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("CleanKey(%q) = %q, %v; want %q, nil", tc.in, got, err, tc.want)
		}
	}

	invalid := []string{
		".",
		"..",
		"a/..",
		"../a",
		"a/../../x",
		"a/./b",
		"/../etc/passwd",
		"%2e",
		"%2e%2e",
		"%2E%2E",
		".%2e",
		"%2e.",
		"a/%2e%2e/b",
		"%252e%252e",
		"%25252e%25252e",
		"..%2f",
		"..%2fetc",
		"..%2f%",       // a stray '%' must not hide the rest from decoding
		"%2e%2e%2f%zz", // ditto
		"%2e%2e%2fetc",
		"a%2fb",
		"a%2Fb",
		"%252f",
		"..%5c",
		"a%5cb",
		"a\\b",
		"..\\..\\x",
		"\\",
		"a\x00b",
		"a%00b",
		"a%2500b",
		"a\x01b",
		"a\nb",
		"a%0ab",
		"a\rb",
		"a\tb",
		"a\x7fb",
		"a\u0085b", // C1 control (NEL)
		"a\u009bb", // C1 control (CSI)
		"\xff",
		"a\xffb",
		"\xc0\xae\xc0\xae",    // overlong "..", raw
		"%c0%ae%c0%ae",        // overlong "..", percent-encoded
		"%c0%af",              // overlong "/"
		"\xe0\x80\xae",        // overlong ".", three bytes
		"\xed\xa0\x80",        // surrogate half
		"%25%32%35%32%35%32e", // nested deeper than maxDecodes
		"%2525252525252e%2e",  // ditto
		strings.Repeat("a", MaxKeyLen+1),
		strings.Repeat("a/", MaxKeyLen/2+1),
	}
	for _, in := range invalid {
		got, err := CleanKey(in)
		if err == nil {
			t.Errorf("CleanKey(%q) = %q, nil; want ErrInvalidKey", in, got)
			continue
		}
		if !errors.Is(err, ErrInvalidKey) || !errors.Is(err, ErrNotExist) {
			t.Errorf("CleanKey(%q) error %v does not match ErrInvalidKey and ErrNotExist", in, err)
		}
		if got != "" {
			t.Errorf("CleanKey(%q) returned %q with an error; want \"\"", in, got)
		}
	}
}

// checkCleanKey asserts the invariants every key CleanKey accepts holds.
func checkCleanKey(t *testing.T, in, key string) {
	t.Helper()
	if key == "" {
		return
	}
	if strings.HasPrefix(key, "/") || strings.HasSuffix(key, "/") {
		t.Fatalf("CleanKey(%q) = %q: leading or trailing slash", in, key)
	}
	if len(key) > MaxKeyLen {
		t.Fatalf("CleanKey(%q) = %q: longer than MaxKeyLen", in, key)
	}
	if !utf8.ValidString(key) {
		t.Fatalf("CleanKey(%q) = %q: invalid UTF-8", in, key)
	}
	for _, r := range key {
		if r == '\\' || r == 0 || unicode.IsControl(r) {
			t.Fatalf("CleanKey(%q) = %q: holds %U", in, key, r)
		}
	}
	for seg := range strings.SplitSeq(key, "/") {
		if seg == "" || seg == "." || seg == ".." {
			t.Fatalf("CleanKey(%q) = %q: segment %q", in, key, seg)
		}
		if d := unescapeLenient(seg); d == "." || d == ".." || strings.ContainsAny(d, "/\\\x00") {
			t.Fatalf("CleanKey(%q) = %q: segment %q decodes to %q", in, key, seg, d)
		}
	}
	if again, err := CleanKey(key); err != nil || again != key {
		t.Fatalf("CleanKey(%q) = %q, but CleanKey(%q) = %q, %v: not idempotent", in, key, key, again, err)
	}
	if c := path.Clean("/" + key); c != "/"+key {
		t.Fatalf("CleanKey(%q) = %q, but path.Clean(\"/\"+key) = %q", in, key, c)
	}
}

func FuzzCleanKey(f *testing.F) {
	for _, s := range []string{
		"", "a", "a/b", "/a//b/", "..", "a/../b", "%2e%2e", "%252e%252e", "..%2f",
		"a\\b", "a\x00b", "\xc0\xae", "%c0%ae", "100%", "50%off", "vidéos/été.mp4",
		"%", "%%2e%2e", ".%2e/x", "a%25%32%65",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		key, err := CleanKey(in)
		if err != nil {
			if !errors.Is(err, ErrNotExist) {
				t.Fatalf("CleanKey(%q) error %v does not match ErrNotExist", in, err)
			}
			if key != "" {
				t.Fatalf("CleanKey(%q) returned %q with an error", in, key)
			}
			return
		}
		checkCleanKey(t, in, key)
	})
}

// TestCleanKeyNoAlloc: a key that is already clean costs no allocation
// (every request cleans its key, and the backend checks it again).
func TestCleanKeyNoAlloc(t *testing.T) {
	for _, k := range []string{"", "a", "video/big.mp4", "a b/c d.txt", "100%", "été.txt"} {
		if n := testing.AllocsPerRun(100, func() { CleanKey(k) }); n != 0 {
			t.Errorf("CleanKey(%q): %v allocations, want 0", k, n)
		}
		if got, err := CleanKey(k); got != k || err != nil {
			t.Errorf("CleanKey(%q) = %q, %v", k, got, err)
		}
	}
}
