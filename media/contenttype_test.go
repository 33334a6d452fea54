package media

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rangeserve/rangeserve/internal/testenv"
)

// ftyp builds the head of an ISO BMFF file: an ftyp box of the given size
// with a major brand, then a moov box header.
func ftyp(size byte, brand string) []byte {
	b := []byte{0, 0, 0, size}
	b = append(b, "ftyp"+brand+"\x00\x00\x02\x00isomiso2mp41"...)
	return append(b, "\x00\x00\x01\x00moov"...)
}

// ebml builds the head of a Matroska file with the given DocType.
func ebml(doctype string) []byte {
	b := []byte{0x1A, 0x45, 0xDF, 0xA3, 0x9F, 0x42, 0x86, 0x81, 0x01, 0x42, 0x82, byte(0x80 | len(doctype))}
	return append(b, doctype...)
}

// ogg builds the first page of an Ogg stream whose first packet starts
// with codec.
func ogg(codec string) []byte {
	b := append([]byte("OggS\x00\x02"), make([]byte, 22)...)
	return append(b, codec...)
}

func TestDetectType(t *testing.T) {
	png := []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
	ts := append([]byte{0x47, 0x40, 0x00, 0x10}, make([]byte, 184)...)
	tests := []struct {
		name string
		head []byte
		want string
	}{
		{"blob", ftyp(0x20, "isom"), "video/mp4"},
		{"blob", ftyp(0x14, "isom"), "video/mp4"}, // filetype's Mov matcher also claims this one
		{"blob", ftyp(0x18, "mp42"), "video/mp4"},
		{"blob", ftyp(0x1c, "M4A "), "audio/mp4"},
		{"blob", ftyp(0x14, "qt  "), "video/quicktime"},
		{"blob", ftyp(0x18, "3gp5"), "video/3gpp"},
		{"song.m4a", ftyp(0x20, "isom"), "audio/mp4"}, // audio-only MP4: the extension is more precise
		{"clip.mp4", ftyp(0x14, "qt  "), "video/mp4"},
		{"clip.MP4", ftyp(0x20, "isom"), "video/mp4"},
		{"movie.mov", ftyp(0x20, "isom"), "video/quicktime"},
		{"blob", ebml("webm"), "video/webm"},
		{"blob", ebml("matroska"), "video/x-matroska"},
		{"a.mkv", ebml("webm"), "video/x-matroska"},
		{"blob", ogg("OpusHead"), "audio/ogg; codecs=opus"},
		{"blob", ogg("\x01vorbis"), "audio/ogg"},
		{"blob", ogg("\x80theora"), "video/ogg"},
		{"a.opus", ogg("OpusHead"), "audio/ogg; codecs=opus"},
		{"a.ogg", ogg("OpusHead"), "audio/ogg"},
		{"blob", []byte("ID3\x04\x00\x00\x00\x00\x00\x00"), "audio/mpeg"},
		{"blob", []byte{0xFF, 0xFB, 0x50, 0xC4, 0x00}, "audio/mpeg"},
		{"blob", []byte("fLaC\x00\x00\x00\x22"), "audio/flac"},
		{"blob", []byte("RIFF\x24\x00\x00\x00WAVEfmt "), "audio/wav"},
		{"blob", png, "image/png"},
		{"not-a-video.mp4", png, "image/png"}, // content beats an unrelated extension
		{"x.ts", ts, "video/mp2t"},
		{"index.m3u8", []byte("#EXTM3U\n"), "application/vnd.apple.mpegurl"},
		{"subs.vtt", []byte("WEBVTT\n"), "text/vtt; charset=utf-8"},
		{"subs.srt", []byte("1\n00:00:01,000 --> 00:00:02,000\nhi\n"), "application/x-subrip"},
		{"data.json", []byte(`{"a":1}`), "application/json"},
		{"README", []byte("hello, wörld\n"), "text/plain; charset=utf-8"},
		{"README", []byte{}, "text/plain; charset=utf-8"},
		{"blob", []byte("text\x00with nul"), "application/octet-stream"},
		{"blob", []byte("latin1 caf\xe9 text"), "application/octet-stream"},
		{"blob", []byte{0x01, 0x02, 0x03}, "application/octet-stream"},
	}
	for _, tt := range tests {
		if got := detectType(tt.name, tt.head, true); got != tt.want {
			t.Errorf("detectType(%q, % x...) = %q, want %q", tt.name, tt.head[:min(len(tt.head), 12)], got, tt.want)
		}
	}

	// A multi-byte rune cut by the sniff length is still text when the head
	// is not the whole object, and not when it is.
	cut := []byte(strings.Repeat("ü", 200))[:261]
	if got := detectType("blob", cut, false); got != textPlainUTF8 {
		t.Errorf("text with a cut rune: %q, want %q", got, textPlainUTF8)
	}
	if got := detectType("blob", cut, true); got != octetStream {
		t.Errorf("complete object ending in half a rune: %q, want %q", got, octetStream)
	}
}

// TestDetectTypeFixtures runs the detection over the real files in
// testdata, with and without their names.
func TestDetectTypeFixtures(t *testing.T) {
	tests := []struct{ file, want, anonymous string }{
		{"video.mp4", "video/mp4", "video/mp4"},
		{"vidéo 𝄞 test.mp4", "video/mp4", "video/mp4"},
		{"video.webm", "video/webm", "video/webm"},
		{"audio.mp3", "audio/mpeg", "audio/mpeg"},
		{"audio.opus", "audio/ogg; codecs=opus", "audio/ogg; codecs=opus"},
		{"image.png", "image/png", "image/png"},
		{"hello.txt", "text/plain; charset=utf-8", "text/plain; charset=utf-8"},
	}
	for _, tt := range tests {
		data, err := os.ReadFile(filepath.Join("..", "testdata", tt.file))
		if err != nil {
			t.Fatal(err)
		}
		head := data[:min(len(data), sniffLen)]
		complete := len(head) == len(data)
		if got := detectType(tt.file, head, complete); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.file, got, tt.want)
		}
		if got := detectType("blob", head, complete); got != tt.anonymous {
			t.Errorf("%s without a name: %q, want %q", tt.file, got, tt.anonymous)
		}
	}
}

// TestDetectTypeFFmpeg makes audio-only MP4s with ffmpeg: one with the
// "M4A " brand (as .m4a files usually have) and one with "isom", which only
// the extension tells apart from a video.
func TestDetectTypeFFmpeg(t *testing.T) {
	ffmpeg := testenv.Require(t, "ffmpeg")
	dir := t.TempDir()
	for _, tt := range []struct{ out, format, name, want string }{
		{"a.m4a", "ipod", "a.m4a", "audio/mp4"},
		{"a.m4a", "ipod", "blob", "audio/mp4"},
		{"b.mp4", "mp4", "song.m4a", "audio/mp4"},
		{"b.mp4", "mp4", "song.mp4", "video/mp4"},
	} {
		p := filepath.Join(dir, tt.out)
		if _, err := os.Stat(p); err != nil {
			cmd := exec.Command(ffmpeg, "-v", "error", "-f", "lavfi", "-i", "sine=d=0.2", "-c:a", "aac", "-f", tt.format, p)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("ffmpeg: %v\n%s", err, out)
			}
		}
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := detectType(tt.name, data[:sniffLen], false); got != tt.want {
			t.Errorf("%s (brand %q) named %q: %q, want %q", tt.out, data[8:12], tt.name, got, tt.want)
		}
	}
}

func TestInfoType(t *testing.T) {
	for in, want := range map[string]string{
		"":                              "",
		"application/octet-stream":      "",
		"Binary/Octet-Stream; x=y":      "",
		" application/octet-stream ":    "",
		"video/mp4":                     "video/mp4",
		"text/csv":                      "text/csv; charset=utf-8",
		"TEXT/html":                     "text/html; charset=utf-8",
		"text/plain,text/html":          "",
		"video/mp4, text/html":          "",
		"text/html;;":                   "",
		"html":                          "",
		"text/html; charset=iso-8859-1": "text/html; charset=iso-8859-1",
	} {
		if got := infoType(in); got != want {
			t.Errorf("infoType(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestTypeCacheEvicts(t *testing.T) {
	c := newTypeCache(2)
	k := func(s string) typeKey { return typeKey{key: s, etag: `"1"`} }
	c.put(k("a"), "A")
	c.put(k("b"), "B")
	c.get(k("a")) // a is now more recent than b
	c.put(k("c"), "C")
	if _, ok := c.get(k("b")); ok || c.len() != 2 {
		t.Errorf("b should have been evicted; len = %d", c.len())
	}
	for s, want := range map[string]string{"a": "A", "c": "C"} {
		if got, ok := c.get(k(s)); !ok || got != want {
			t.Errorf("get(%s) = %q, %v; want %q", s, got, ok, want)
		}
	}
	if _, ok := c.get(typeKey{key: "a", etag: `"2"`}); ok {
		t.Error("a new ETag must not find the old entry")
	}
}
