package media

import "testing"

func TestNormalizeETag(t *testing.T) {
	for in, want := range map[string]string{
		``:            ``,
		`"a"`:         `"a"`,
		`W/"a"`:       `W/"a"`,
		`""`:          `""`,
		`a`:           `"a"`,
		`W/a`:         `W/"a"`,
		`d41d8cd9-3`:  `"d41d8cd9-3"`,
		`a b`:         ``,
		`"a`:          ``,
		`a"b`:         ``,
		`W/`:          ``,
		"a\x00":       ``,
		`"a" "b"`:     ``,
		"\"caf\xc3\"": "\"caf\xc3\"", // obs-text is allowed
	} {
		if got := normalizeETag(in); got != want {
			t.Errorf("normalizeETag(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestScanETag(t *testing.T) {
	tests := []struct{ in, etag, remain string }{
		{`"a"`, `"a"`, ``},
		{`  W/"a" , "b"`, `W/"a"`, ` , "b"`},
		{`"a`, ``, ``},
		{`a`, ``, ``},
		{`W/`, ``, ``},
		{`"a b"`, ``, ``},
		{`""`, `""`, ``},
	}
	for _, tt := range tests {
		if e, r := scanETag(tt.in); e != tt.etag || r != tt.remain {
			t.Errorf("scanETag(%q) = %q, %q; want %q, %q", tt.in, e, r, tt.etag, tt.remain)
		}
	}
}
