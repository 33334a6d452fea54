package media_test

import (
	"mime"
	"testing"

	"github.com/rangeserve/rangeserve/media"
)

func TestContentDisposition(t *testing.T) {
	tests := []struct {
		kind, name, want string
	}{
		{"inline", "video.mp4", `inline; filename="video.mp4"`},
		{"attachment", "video.mp4", `attachment; filename="video.mp4"`},
		{"bogus", "a.txt", `attachment; filename="a.txt"`},
		{"inline", "", `inline`},
		{"inline", "my file (1).mp4", `inline; filename="my file (1).mp4"`},
		{"inline", "a;b,c=d.txt", `inline; filename="a;b,c=d.txt"`},
		{"attachment", `vidéo 𝄞 "q".mp4`,
			`attachment; filename="vid_o _ _q_.mp4"; filename*=UTF-8''vid%C3%A9o%20%F0%9D%84%9E%20%22q%22.mp4`},
		{"inline", `back\slash.txt`, `inline; filename="back_slash.txt"; filename*=UTF-8''back%5Cslash.txt`},
		{"inline", "100%.txt", `inline; filename="100_.txt"; filename*=UTF-8''100%25.txt`},
		{"inline", "tab\there\x7f.txt", `inline; filename="tabhere.txt"; filename*=UTF-8''tab%09here%7F.txt`},
		{"inline", "日本.pdf", `inline; filename="__.pdf"; filename*=UTF-8''%E6%97%A5%E6%9C%AC.pdf`},
		{"inline", "bad\xffutf8", `inline; filename="bad_utf8"; filename*=UTF-8''bad%EF%BF%BDutf8`},
	}
	for _, tt := range tests {
		got := media.ContentDisposition(tt.kind, tt.name)
		if got != tt.want {
			t.Errorf("ContentDisposition(%q, %q) =\n %s\nwant\n %s", tt.kind, tt.name, got, tt.want)
			continue
		}
		// What a client decodes: the exact name (mime decodes filename*).
		if tt.name == "" {
			continue
		}
		_, params, err := mime.ParseMediaType(got)
		if err != nil {
			t.Errorf("%q does not parse: %v", got, err)
			continue
		}
		if want := tt.name; params["filename"] != want && want == string([]rune(want)) && !containsControl(want) {
			t.Errorf("%q: client decodes filename %q, want %q", got, params["filename"], want)
		}
	}
}

func containsControl(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return true
		}
	}
	return false
}
