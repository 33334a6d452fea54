package accesslog

import (
	"strconv"
	"time"
	"unicode"
	"unicode/utf8"
)

// The access line is formatted here rather than by log/slog: slog's
// handlers cost about 1 µs per record (attribute dispatch, a Record with
// more attributes than it holds inline), which is 3% of a 64 KiB range
// request (BENCHMARKS.md). The output is byte for byte what slog's
// TextHandler or JSONHandler writes for the same record (TestAccessLineIsSlogs
// compares them), so log tooling sees one format.

// record is one request's access line.
type record struct {
	t        time.Time
	method   string
	path     string
	status   int
	bytes    int64
	dur      time.Duration
	remote   string
	rng      string // "" when the request had no Range header
	strategy string // "" when no handler reported one
	aborted  bool
}

// appendText appends rec as slog.TextHandler would, newline included.
func (rec *record) appendText(b []byte) []byte {
	b = append(b, "time="...)
	b = appendRFC3339Millis(b, rec.t.Round(0))
	b = append(b, " level=INFO msg=request method="...)
	b = appendTextString(b, rec.method)
	b = append(b, " path="...)
	b = appendTextString(b, rec.path)
	b = append(b, " status="...)
	b = strconv.AppendInt(b, int64(rec.status), 10)
	b = append(b, " bytes="...)
	b = strconv.AppendInt(b, rec.bytes, 10)
	b = append(b, " dur="...)
	b = append(b, rec.dur.String()...)
	b = append(b, " remote="...)
	b = appendTextString(b, rec.remote)
	if rec.rng != "" {
		b = append(b, " range="...)
		b = appendTextString(b, rec.rng)
	}
	if rec.strategy != "" {
		b = append(b, " strategy="...)
		b = appendTextString(b, rec.strategy)
	}
	if rec.aborted {
		b = append(b, " aborted=true"...)
	}
	return append(b, '\n')
}

// appendJSON appends rec as slog.JSONHandler would, newline included.
func (rec *record) appendJSON(b []byte) []byte {
	b = append(b, `{"time":"`...)
	b = rec.t.Round(0).AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","level":"INFO","msg":"request","method":`...)
	b = appendJSONString(b, rec.method)
	b = append(b, `,"path":`...)
	b = appendJSONString(b, rec.path)
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(rec.status), 10)
	b = append(b, `,"bytes":`...)
	b = strconv.AppendInt(b, rec.bytes, 10)
	b = append(b, `,"dur":`...)
	b = strconv.AppendInt(b, int64(rec.dur), 10)
	b = append(b, `,"remote":`...)
	b = appendJSONString(b, rec.remote)
	if rec.rng != "" {
		b = append(b, `,"range":`...)
		b = appendJSONString(b, rec.rng)
	}
	if rec.strategy != "" {
		b = append(b, `,"strategy":`...)
		b = appendJSONString(b, rec.strategy)
	}
	if rec.aborted {
		b = append(b, `,"aborted":true`...)
	}
	return append(b, "}\n"...)
}

// appendRFC3339Millis is slog's text time format: RFC 3339 with exactly
// three fractional digits.
func appendRFC3339Millis(b []byte, t time.Time) []byte {
	const prefixLen = len("2006-01-02T15:04:05.000")
	n := len(b)
	t = t.Truncate(time.Millisecond).Add(time.Millisecond / 10)
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b[:n+prefixLen], b[n+prefixLen+1:]...) // drop the 4th digit
}

// appendTextString quotes s (strconv.Quote) when slog's TextHandler would.
func appendTextString(b []byte, s string) []byte {
	if textNeedsQuoting(s) {
		return strconv.AppendQuote(b, s)
	}
	return append(b, s...)
}

func textNeedsQuoting(s string) bool {
	if s == "" {
		return true
	}
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c == ' ' || c == '=' || c == '"' || c < 0x20 {
				return true
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError || unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return true
		}
		i += size
	}
	return false
}

// appendJSONString appends s as a JSON string the way slog's JSONHandler
// escapes it: control characters, quote and backslash escaped, invalid
// UTF-8 as \ufffd, U+2028 and U+2029 escaped, HTML characters left alone.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
