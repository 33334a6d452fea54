package media

import (
	"net/http"
	"sync/atomic"
	"time"
)

// headerWriter sets response headers with values taken from one backing
// array, so that the dozen headers of a response cost one allocation
// rather than one each. Every value slice has capacity 1: a later Add (by
// a middleware) copies instead of overwriting a neighbour. Keys must be in
// canonical form.
type headerWriter struct {
	h    http.Header
	vals []string
}

func (hw *headerWriter) set(key, value string) {
	if len(hw.vals) == 0 {
		hw.vals = make([]string, 12)
	}
	s := hw.vals[:1:1]
	hw.vals = hw.vals[1:]
	s[0] = value
	hw.h[key] = s
}

// httpDate formats t for Last-Modified. Recent results are kept in a
// small table indexed by the second, shared by all handlers: a hot file
// (a player's burst of ranges) formats its date once.
func httpDate(t time.Time) string {
	sec := t.Unix()
	slot := &httpDates[uint64(sec)%uint64(len(httpDates))]
	if e := slot.Load(); e != nil && e.sec == sec {
		return e.s
	}
	s := t.UTC().Format(http.TimeFormat)
	slot.Store(&httpDateEntry{sec: sec, s: s})
	return s
}

type httpDateEntry struct {
	sec int64
	s   string
}

var httpDates [256]atomic.Pointer[httpDateEntry]

// validHeaderValue reports whether v may be sent as a header value: no
// control characters (tab aside).
func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// truncate shortens s to at most n bytes for logging.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
