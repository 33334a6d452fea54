package media

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzCursor: decodeCursor accepts exactly what encodeCursor makes of a
// ListName (one clean segment, maybe followed by "/"), and gives it back.
func FuzzCursor(f *testing.F) {
	for _, s := range []string{"", "YQ", "YS8", "YQ==", "Li4", "Li4v", "YS9i", "!!!", "eAB5", strings.Repeat("QUFB", 2000)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, c string) {
		name, err := decodeCursor(c)
		if err != nil {
			return
		}
		if encodeCursor(name) != c {
			t.Fatalf("decodeCursor(%q) = %q, which encodes to %q", c, name, encodeCursor(name))
		}
		seg := strings.TrimSuffix(name, "/")
		if seg == "" || seg == "." || seg == ".." || strings.ContainsAny(seg, "/\\\x00") || !utf8.ValidString(seg) {
			t.Fatalf("decodeCursor(%q) accepted %q", c, name)
		}
		if back, err := decodeCursor(encodeCursor(name)); err != nil || back != name {
			t.Fatalf("round trip of %q: %q, %v", name, back, err)
		}
	})
}

// FuzzAcceptsType: never a panic, and a type that the header does not
// contain is never accepted.
func FuzzAcceptsType(f *testing.F) {
	for _, s := range []string{"application/x-ndjson", "text/html;q=0", "text/html, */*;q=0.8", "APPLICATION/X-NDJSON;q=0.5",
		"application/x-ndjson;q=nan", "application/x-ndjson;q=-1", `text/html;a="b,c"`, ";;;,,,"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		for _, typ := range []string{"text/html", NDJSONType} {
			if acceptsType(v, typ) && !strings.Contains(strings.ToLower(v), typ) {
				t.Fatalf("acceptsType(%q, %q) without the type in it", v, typ)
			}
		}
	})
}

func TestAcceptsType(t *testing.T) {
	for _, tc := range []struct {
		v    string
		want bool
	}{
		{"text/html", true},
		{"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", true},
		{"TEXT/HTML; charset=utf-8", true},
		{"text/html;q=0", false},
		{"text/html;q=0.0", false},
		{"text/html;q=bogus", false},
		{"*/*", false},
		{"text/*", false},
		{"text/htmlx", false},
		{"", false},
	} {
		if got := acceptsType(tc.v, "text/html"); got != tc.want {
			t.Errorf("acceptsType(%q): %v", tc.v, got)
		}
	}
}
