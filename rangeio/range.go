package rangeio

import (
	"errors"
	"slices"
	"strconv"
)

// Range is one byte range of a representation, half-open like net/http's
// internal httpRange: it covers bytes [Start, Start+Length).
type Range struct {
	// Start is the offset of the first byte, 0 <= Start < size.
	Start int64
	// Length is the number of bytes, > 0 for every Range that [Parse]
	// returns.
	Length int64
}

// End returns the offset just past the last byte, Start+Length.
func (r Range) End() int64 { return r.Start + r.Length }

// ContentRange returns the value of a Content-Range header for r within a
// representation of size bytes, such as "bytes 0-99/1000".
func (r Range) ContentRange(size int64) string {
	return string(r.appendContentRange(make([]byte, 0, 64), size))
}

// appendContentRange appends the Content-Range value of r to b.
func (r Range) appendContentRange(b []byte, size int64) []byte {
	b = append(b, "bytes "...)
	b = strconv.AppendInt(b, r.Start, 10)
	b = append(b, '-')
	b = strconv.AppendInt(b, r.Start+r.Length-1, 10)
	b = append(b, '/')
	return strconv.AppendInt(b, size, 10)
}

// Errors returned by [Parse]. Each one tells the HTTP layer what to do.
var (
	// ErrInvalid means the Range header is malformed or names a unit other
	// than "bytes". RFC 9110 §14.2 lets a server ignore such a header: the
	// caller serves the whole representation with 200, as nginx does
	// (net/http answers 416 instead).
	ErrInvalid = errors.New("rangeio: invalid Range header (ignore it and serve the whole representation)")

	// ErrUnsatisfiable means the header is valid but none of its ranges
	// overlaps the representation: the caller answers 416 with
	// "Content-Range: bytes */SIZE".
	ErrUnsatisfiable = errors.New("rangeio: no range in the Range header overlaps the representation (answer 416)")

	// ErrTooMany means the header asks for more ranges than the caller
	// allows, after coalescing, or holds more than 1024 range specs: the
	// caller ignores it and serves the whole representation with 200.
	ErrTooMany = errors.New("rangeio: too many ranges in the Range header (ignore it and serve the whole representation)")
)

// DefaultMaxRanges is the number of ranges (after coalescing) that [Parse]
// accepts when its maxRanges argument is 0 or negative. nginx's max_ranges
// has no default; 32 is generous for players and download managers, which
// ask for one range at a time.
const DefaultMaxRanges = 32

// MaxSpecs bounds the work [Parse] does on a hostile header: a header with
// more range specs than this is refused with [ErrTooMany] before anything
// is allocated or sorted. Empty list elements do not count. A caller's
// limit on ranges (Parse's maxRanges) above MaxSpecs never matters.
const MaxSpecs = 1024

// Parse parses the value of a Range header (RFC 9110 §14.1.1 and §14.2)
// for a representation of size bytes and returns the ranges to send, in
// the order in which they were requested (see below).
//
// The grammar accepted is the RFC's, with the laxity of net/http and
// Apache: the unit "bytes" is matched case-insensitively; optional
// whitespace (space and tab) is allowed around the whole value, around
// commas and around the "-" of a spec; empty list elements (",,") are
// skipped. Each spec is first-last, first- or a suffix -n, with decimal
// digits only (no signs, no "0x").
//
// Results:
//   - header "" → (nil, nil): no Range header, serve 200.
//   - size == 0 (empty object) or size < 0 (length unknown) → (nil, nil):
//     ranges cannot apply, serve the whole representation with 200.
//   - a unit other than "bytes", a malformed spec, a spec with first > last,
//     a number that does not fit in an int64, or no spec at all →
//     [ErrInvalid]: ignore the header and serve 200.
//   - more than 1024 range specs → [ErrTooMany], checked before any sorting
//     or allocation, to bound the work a hostile header can cause.
//   - no spec overlaps the representation (every first >= size, or a suffix
//     -0) → [ErrUnsatisfiable]: answer 416.
//   - otherwise the unsatisfiable specs are dropped, last is clamped to
//     size-1, a suffix longer than size means the whole representation, and
//     the ranges are coalesced. If more than maxRanges remain, [ErrTooMany]
//     (maxRanges <= 0 means [DefaultMaxRanges]; since at most [MaxSpecs]
//     specs are accepted, values above it never matter).
//
// Coalescing merges ranges that overlap or are adjacent (one ends where
// the next starts), as RFC 9110 §15.3.7.2 allows. Ranges separated by a gap,
// however small, are kept apart: the RFC would also allow merging gaps
// smaller than the per-part overhead (about 80 bytes), but then a client
// could not predict which parts it gets and callers of this package expect
// exactly "overlapping and adjacent".
//
// Order: the same section asks that the parts go out in the order in which
// their range specs appeared in the header, "excluding those ranges that
// were deemed unsatisfiable or that were coalesced into other ranges". So
// the ranges keep the request's order, and a coalesced range takes the
// place of the first of its specs that was requested: "bytes=8-,0-1,4-5"
// gives 8-9, 0-1, 4-5, and "bytes=5-6,0-1,3-4" gives 3-6, 0-1.
//
// On success the result satisfies these invariants, which FuzzParse checks:
// 1 <= len <= maxRanges; every range has Start >= 0, Length > 0 and
// Start+Length <= size; any two ranges are at least one byte apart (none
// overlaps or touches another), so their total length never exceeds size;
// every satisfiable spec lies in exactly one range, each range is exactly
// the union of the specs it holds, and the ranges are in the order of the
// first spec of each. Parse allocates once: for a header with one
// satisfiable spec, a slice of capacity 1. The caller may modify the slice.
func Parse(header string, size int64, maxRanges int) ([]Range, error) {
	if header == "" || size <= 0 {
		return nil, nil
	}
	if maxRanges <= 0 {
		maxRanges = DefaultMaxRanges
	}
	set, err := rangeSet(header)
	if err != nil {
		return nil, err
	}

	// Pass 1: validate every spec and count the satisfiable ones without
	// allocating, so that invalid and oversized headers cost no memory.
	specs, satisfiable := 0, 0
	for rest := set; rest != ""; {
		var elem string
		elem, rest = nextElem(rest)
		if elem == "" {
			continue
		}
		specs++
		if specs > MaxSpecs {
			return nil, ErrTooMany
		}
		_, ok, err := parseSpec(elem, size)
		if err != nil {
			return nil, err
		}
		if ok {
			satisfiable++
		}
	}
	if specs == 0 {
		return nil, ErrInvalid
	}
	if satisfiable == 0 {
		return nil, ErrUnsatisfiable
	}

	// Pass 2: collect the satisfiable ranges; every spec is known valid.
	// Several ranges get twice the room: coalesce uses the second half.
	capacity := 1
	if satisfiable > 1 {
		capacity = 2 * satisfiable
	}
	ranges := make([]Range, 0, capacity)
	for rest := set; rest != ""; {
		var elem string
		elem, rest = nextElem(rest)
		if elem == "" {
			continue
		}
		if r, ok, _ := parseSpec(elem, size); ok {
			ranges = append(ranges, r)
		}
	}

	ranges = coalesce(ranges)
	if len(ranges) > maxRanges {
		return nil, ErrTooMany
	}
	return ranges, nil
}

// rangeSet checks the unit of a Range header value and returns the
// range-set after "bytes=".
func rangeSet(header string) (string, error) {
	s := trimOWS(header)
	i := 0
	for i < len(s) && s[i] != '=' {
		i++
	}
	if i == len(s) || !equalFoldBytes(s[:i]) {
		return "", ErrInvalid
	}
	return s[i+1:], nil
}

// equalFoldBytes reports whether unit is "bytes", ignoring ASCII case.
func equalFoldBytes(unit string) bool {
	const want = "bytes"
	if len(unit) != len(want) {
		return false
	}
	for i := 0; i < len(want); i++ {
		if unit[i]|0x20 != want[i] {
			return false
		}
	}
	return true
}

// nextElem splits the list s at its first comma and returns the first
// element with its optional whitespace trimmed, and the rest after the
// comma.
func nextElem(s string) (elem, rest string) {
	for i := 0; i < len(s); i++ {
		if s[i] == ',' {
			return trimOWS(s[:i]), s[i+1:]
		}
	}
	return trimOWS(s), ""
}

// parseSpec parses one non-empty range spec. ok reports whether it is
// satisfiable for size (> 0); r is only meaningful when ok.
func parseSpec(spec string, size int64) (r Range, ok bool, err error) {
	dash := -1
	for i := 0; i < len(spec); i++ {
		if spec[i] == '-' {
			dash = i
			break
		}
	}
	if dash < 0 {
		return Range{}, false, ErrInvalid
	}
	first, last := trimOWS(spec[:dash]), trimOWS(spec[dash+1:])
	if first == "" {
		// suffix-range: the last n bytes; -0 is unsatisfiable.
		n, valid := parseDigits(last)
		if !valid {
			return Range{}, false, ErrInvalid
		}
		if n == 0 {
			return Range{}, false, nil
		}
		n = min(n, size)
		return Range{Start: size - n, Length: n}, true, nil
	}
	start, valid := parseDigits(first)
	if !valid {
		return Range{}, false, ErrInvalid
	}
	end := size - 1
	if last != "" {
		l, valid := parseDigits(last)
		if !valid || l < start {
			return Range{}, false, ErrInvalid
		}
		end = min(l, end)
	}
	if start >= size {
		return Range{}, false, nil
	}
	return Range{Start: start, Length: end - start + 1}, true, nil
}

// parseDigits parses a non-empty run of ASCII digits as a non-negative
// int64. It reports false for anything else: signs, other characters,
// the empty string or a value above math.MaxInt64.
func parseDigits(s string) (int64, bool) {
	if s == "" {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		d := int64(c - '0')
		if n > (1<<63-1-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}

// trimOWS removes the optional whitespace of RFC 9110 §5.6.3 (spaces and
// horizontal tabs) from both ends of s.
func trimOWS(s string) string {
	for s != "" && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for s != "" && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// coalesce merges, in place, the ranges that overlap or touch, keeping the
// order of the others: a merged range takes the place of the first of its
// members. ranges, in request order, must have a capacity of at least
// twice its length when it has two or more elements: the second half holds
// the sort order. The result has at least one byte between any two ranges.
func coalesce(ranges []Range) []Range {
	n := len(ranges)
	if n < 2 {
		return ranges
	}
	if slices.IsSortedFunc(ranges, cmpStart) {
		// Request order is Start order (the usual case): merge in one
		// pass; the first member of each group is also its earliest.
		out := ranges[:1]
		for _, r := range ranges[1:] {
			last := &out[len(out)-1]
			if r.Start <= last.End() {
				if r.End() > last.End() {
					last.Length = r.End() - last.Start
				}
				continue
			}
			out = append(out, r)
		}
		return out
	}
	// order[k].Start is the index (in ranges) of the k-th range by Start.
	order := ranges[n : 2*n]
	for i := range order {
		order[i] = Range{Start: int64(i)}
	}
	slices.SortFunc(order, func(a, b Range) int { return cmpStart(ranges[a.Start], ranges[b.Start]) })
	for k := 0; k < n; {
		first := order[k].Start
		g := ranges[first]
		j := k + 1
		for ; j < n && ranges[order[j].Start].Start <= g.End(); j++ {
			i := order[j].Start
			if r := ranges[i]; r.End() > g.End() {
				g.Length = r.End() - g.Start
			}
			first = min(first, i)
		}
		for _, o := range order[k:j] {
			ranges[o.Start].Length = 0 // merged away, unless first
		}
		ranges[first] = g
		k = j
	}
	out := ranges[:0]
	for _, r := range ranges[:n] {
		if r.Length > 0 {
			out = append(out, r)
		}
	}
	return out
}

// cmpStart orders ranges by Start, then by Length.
func cmpStart(a, b Range) int {
	if a.Start != b.Start {
		if a.Start < b.Start {
			return -1
		}
		return 1
	}
	switch {
	case a.Length < b.Length:
		return -1
	case a.Length > b.Length:
		return 1
	}
	return 0
}
