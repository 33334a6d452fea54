package media

import (
	"container/list"
	"mime"
	"path"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/h2non/filetype"
)

// sniffLen is how many leading bytes are read to detect a content type:
// what h2non/filetype needs for every format it knows.
const sniffLen = 262

// Generic media types that object stores use as a default (S3, MinIO):
// they say "unknown", so the handler detects the type itself.
const (
	octetStream       = "application/octet-stream"
	binaryOctetStream = "binary/octet-stream"
	textPlainUTF8     = "text/plain; charset=utf-8"
)

// mediaTypes is the extension table for media types that the system's
// MIME database may lack or get wrong (".ts" is TypeScript for some). It
// takes precedence over mime.TypeByExtension, so that media types do not
// depend on the machine.
var mediaTypes = map[string]string{
	".mp4":  "video/mp4",
	".m4v":  "video/mp4",
	".m4s":  "video/iso.segment",
	".m4a":  "audio/mp4",
	".m4b":  "audio/mp4",
	".mov":  "video/quicktime",
	".webm": "video/webm",
	".mkv":  "video/x-matroska",
	".mka":  "audio/x-matroska",
	".mp3":  "audio/mpeg",
	".aac":  "audio/aac",
	".opus": "audio/ogg; codecs=opus",
	".ogg":  "audio/ogg",
	".oga":  "audio/ogg",
	".ogv":  "video/ogg",
	".flac": "audio/flac",
	".wav":  "audio/wav",
	".m3u8": "application/vnd.apple.mpegurl",
	".mpd":  "application/dash+xml",
	".ts":   "video/mp2t",
	".vtt":  "text/vtt; charset=utf-8",
	".srt":  "application/x-subrip",
}

// sniffAliases maps what h2non/filetype reports to the registered types
// browsers expect.
var sniffAliases = map[string]string{
	"audio/m4a":    "audio/mp4",
	"audio/x-flac": "audio/flac",
	"audio/x-wav":  "audio/wav",
	"video/x-m4v":  "video/mp4",
}

// families groups the media types of one container format. Magic bytes
// identify the container but not whether it holds audio or video (an
// audio-only MP4 looks like any MP4), so when the sniffed type and the
// extension's are of the same family the extension wins.
var families = map[string]string{
	"video/mp4":          "isobmff",
	"audio/mp4":          "isobmff",
	"video/quicktime":    "isobmff",
	"video/3gpp":         "isobmff",
	"video/iso.segment":  "isobmff",
	"video/webm":         "matroska",
	"audio/webm":         "matroska",
	"video/x-matroska":   "matroska",
	"audio/x-matroska":   "matroska",
	"audio/ogg":          "ogg",
	"video/ogg":          "ogg",
	"application/ogg":    "ogg",
	"audio/mpeg":         "mpeg-audio",
	"audio/aac":          "mpeg-audio",
	"audio/flac":         "flac",
	"audio/wav":          "riff-wave",
	"video/x-msvideo":    "riff",
	"image/avif":         "isobmff",
	"image/heif":         "isobmff",
	"application/x-tar":  "tar",
	"application/gzip":   "gzip",
	"application/x-gzip": "gzip",
}

// infoType returns the backend's content type when it is a real one (not
// empty, not a generic octet-stream default), with a UTF-8 charset added to
// text types that lack one, or "".
func infoType(ct string) string {
	if ct == "" {
		return ""
	}
	// A stored type is whatever the uploader sent. Anything but one valid
	// media type is ignored: browsers take the last of a list such as
	// "text/plain,text/html" (Fetch's "extract a MIME type"), while the
	// sandbox decision would judge the first.
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || strings.ContainsAny(ct, ",") || !strings.Contains(mt, "/") {
		return ""
	}
	if mt == octetStream || mt == binaryOctetStream {
		return ""
	}
	return withCharset(mime.FormatMediaType(mt, params))
}

// extType returns the content type for name's extension: the built-in
// media table first, then the system's MIME database; "" if unknown.
func extType(name string) string {
	ext := strings.ToLower(path.Ext(name))
	if ext == "" {
		return ""
	}
	if ct, ok := mediaTypes[ext]; ok {
		return ct
	}
	return withCharset(mime.TypeByExtension(ext))
}

// detectType decides the content type of the object called name whose
// first bytes are head; complete reports whether head is the whole object.
// The rules, in order:
//
//  1. magic bytes (h2non/filetype, with ISO BMFF and Ogg decided here by
//     brand and codec because filetype's matchers overlap and are tried in
//     random order): the sniffed type, unless the extension names a type of
//     the same container family (.m4a over an "isom" MP4, .opus over Ogg),
//     which is more precise;
//  2. the extension ([extType]);
//  3. text: valid UTF-8 without control characters other than whitespace
//     → "text/plain; charset=utf-8" (an empty object counts as text, as
//     with http.DetectContentType);
//  4. "application/octet-stream".
func detectType(name string, head []byte, complete bool) string {
	ext := extType(name)
	if sn := sniffMagic(head); sn != "" {
		if ext != "" && sameFamily(sn, ext) {
			return ext
		}
		return sn
	}
	if ext != "" {
		return ext
	}
	if looksLikeText(head, complete) {
		return textPlainUTF8
	}
	return octetStream
}

// sniffMagic identifies head by magic bytes, or returns "".
func sniffMagic(head []byte) string {
	if len(head) >= 12 && string(head[4:8]) == "ftyp" {
		// ISO base media file: the major brand says what it is.
		switch brand := string(head[8:12]); {
		case brand == "qt  ":
			return "video/quicktime"
		case brand == "M4A " || brand == "M4B " || brand == "M4P ":
			return "audio/mp4"
		case strings.HasPrefix(brand, "3g"):
			return "video/3gpp"
		case brand == "avif" || brand == "avis":
			return "image/avif"
		case brand == "heic" || brand == "heix" || brand == "mif1":
			return "image/heif"
		}
		return "video/mp4"
	}
	if len(head) >= 4 && string(head[:4]) == "OggS" {
		switch {
		case len(head) >= 36 && string(head[28:36]) == "OpusHead":
			return "audio/ogg; codecs=opus"
		case len(head) >= 35 && string(head[28:35]) == "\x80theora":
			return "video/ogg"
		}
		return "audio/ogg"
	}
	if len(head) == 0 {
		return ""
	}
	t, err := filetype.Match(head)
	if err != nil || t == filetype.Unknown || t.MIME.Value == "" {
		return ""
	}
	if a, ok := sniffAliases[t.MIME.Value]; ok {
		return a
	}
	return t.MIME.Value
}

// sameFamily reports whether two content types are of the same container
// family.
func sameFamily(a, b string) bool {
	fa, ok := families[baseType(a)]
	return ok && fa == families[baseType(b)]
}

// baseType returns the media type of ct without parameters, lower case.
func baseType(ct string) string {
	mt, _, _ := strings.Cut(ct, ";")
	return strings.ToLower(strings.TrimSpace(mt))
}

// withCharset adds "; charset=utf-8" to a text/* type without a charset.
func withCharset(ct string) string {
	if len(ct) < 5 || !strings.EqualFold(ct[:5], "text/") || strings.Contains(strings.ToLower(ct), "charset=") {
		return ct
	}
	return ct + "; charset=utf-8"
}

// looksLikeText reports whether head is UTF-8 text: valid UTF-8 (a rune
// cut at the end of an incomplete head is allowed) and no control bytes
// other than tab, newline, form feed, carriage return and escape (the set
// http.DetectContentType calls binary).
func looksLikeText(head []byte, complete bool) bool {
	for _, c := range head {
		if c < 0x20 && c != '\t' && c != '\n' && c != '\f' && c != '\r' && c != 0x1b || c == 0x7f {
			return false
		}
	}
	if !complete {
		// Drop a multi-byte rune that the sniff length cut in two.
		for i := len(head) - 1; i >= 0 && i >= len(head)-utf8.UTFMax; i-- {
			if utf8.RuneStart(head[i]) {
				if !utf8.FullRune(head[i:]) {
					head = head[:i]
				}
				break
			}
		}
	}
	return utf8.Valid(head)
}

// typeCacheSize bounds the number of remembered content types.
const typeCacheSize = 4096

// typeKey identifies one version of one object. The ETag changes with the
// content, so a stale entry is never found again (it ages out).
type typeKey struct {
	key, etag   string
	size, mtime int64
}

// typeCache remembers detected content types per object version so that a
// hot object (a player asking for many small ranges) does not pay a ReadAt
// of its head on every request. It is a small LRU, safe for concurrent use.
type typeCache struct {
	mu  sync.Mutex
	max int
	m   map[typeKey]*list.Element
	lru list.List // of *typeEntry, most recently used first
}

type typeEntry struct {
	k     typeKey
	ctype string
}

func newTypeCache(max int) *typeCache {
	return &typeCache{max: max, m: make(map[typeKey]*list.Element)}
}

// get returns the content type remembered for k.
func (c *typeCache) get(k typeKey) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[k]
	if !ok {
		return "", false
	}
	c.lru.MoveToFront(e)
	return e.Value.(*typeEntry).ctype, true
}

// put remembers ctype for k, evicting the least recently used entry when
// full.
func (c *typeCache) put(k typeKey, ctype string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[k]; ok {
		e.Value.(*typeEntry).ctype = ctype
		c.lru.MoveToFront(e)
		return
	}
	c.m[k] = c.lru.PushFront(&typeEntry{k: k, ctype: ctype})
	if c.lru.Len() > c.max {
		old := c.lru.Back()
		c.lru.Remove(old)
		delete(c.m, old.Value.(*typeEntry).k)
	}
}

// len reports the number of entries (for tests).
func (c *typeCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}

// sandboxCSP is sent with active content (HTML, SVG, XML): a stored file
// opened inline then runs in a unique opaque origin, with no scripts and no
// access to rangeserve's origin (its cookies, its API).
const sandboxCSP = "sandbox; default-src 'none'; img-src 'self' data:; media-src 'self'; style-src 'unsafe-inline'"

// activeContent reports whether a browser opening a document of media type
// ct could run script in it: HTML, XHTML, SVG, XSLT and XML in general
// (text/xml, application/xml and every type with the +xml structured
// suffix of RFC 6839: an XML document may carry XHTML or SVG elements in
// their namespaces, or an xml-stylesheet that turns it into HTML). Such
// content gets the [sandboxCSP] and is never handed to a proxy that would
// drop it.
func activeContent(ct string) bool {
	switch mt := baseType(ct); mt {
	case "text/html", "text/xml", "application/xml", "text/xsl":
		return true
	default:
		return strings.HasSuffix(mt, "+xml")
	}
}
