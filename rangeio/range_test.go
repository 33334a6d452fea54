package rangeio

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
)

// parseTest is one row of the Parse tables: header, size, and either the
// ranges wanted or the error wanted.
type parseTest struct {
	header string
	size   int64
	want   []Range
	err    error
}

// stdlibParityTests is the table of Go's src/net/http/range_test.go
// (ParseRangeTests), in the same order, with our expected results. Where we
// deliberately differ from net/http the row says so:
//   - invalid: net/http returns an error (416) or nil ranges; we return
//     ErrInvalid, and the caller ignores the header and serves 200.
//   - empty: a size-0 object yields (nil, nil) before any syntax check,
//     so the caller serves 200 (net/http reports an error for "foo").
//   - coalesced: we merge overlapping and adjacent ranges (the merged range
//     takes the place of the first of them that was requested); net/http
//     returns them as sent. Ranges that are not coalesced keep the order in
//     which they were requested, as net/http keeps them.
var stdlibParityTests = []parseTest{
	{"", 0, nil, nil},
	{"", 1000, nil, nil},
	{"foo", 0, nil, nil},    // empty: net/http errors
	{"bytes=", 0, nil, nil}, // empty
	{"bytes=7", 10, nil, ErrInvalid},
	{"bytes= 7 ", 10, nil, ErrInvalid},
	{"bytes=1-", 0, nil, nil}, // empty
	{"bytes=5-4", 10, nil, ErrInvalid},
	{"bytes=0-2,5-4", 10, nil, ErrInvalid},
	{"bytes=2-5,4-3", 10, nil, ErrInvalid},
	{"bytes=--5,4--3", 10, nil, ErrInvalid},
	{"bytes=A-", 10, nil, ErrInvalid},
	{"bytes=A- ", 10, nil, ErrInvalid},
	{"bytes=A-Z", 10, nil, ErrInvalid},
	{"bytes= -Z", 10, nil, ErrInvalid},
	{"bytes=5-Z", 10, nil, ErrInvalid},
	{"bytes=Ran-dom, garbage", 10, nil, ErrInvalid},
	{"bytes=0x01-0x02", 10, nil, ErrInvalid},
	{"bytes=         ", 10, nil, ErrInvalid}, // invalid: net/http returns (nil, nil)
	{"bytes= , , ,   ", 10, nil, ErrInvalid}, // invalid: net/http returns (nil, nil)

	{"bytes=0-9", 10, []Range{{0, 10}}, nil},
	{"bytes=0-", 10, []Range{{0, 10}}, nil},
	{"bytes=5-", 10, []Range{{5, 5}}, nil},
	{"bytes=0-20", 10, []Range{{0, 10}}, nil},
	{"bytes=15-,0-5", 10, []Range{{0, 6}}, nil},
	{"bytes=1-2,5-", 10, []Range{{1, 2}, {5, 5}}, nil},
	{"bytes=-2 , 7-", 11, []Range{{7, 4}}, nil}, // coalesced: net/http {9,2},{7,4}
	{"bytes=0-0 ,2-2, 7-", 11, []Range{{0, 1}, {2, 1}, {7, 4}}, nil},
	{"bytes=-5", 10, []Range{{5, 5}}, nil},
	{"bytes=-15", 10, []Range{{0, 10}}, nil},
	{"bytes=0-499", 10000, []Range{{0, 500}}, nil},
	{"bytes=500-999", 10000, []Range{{500, 500}}, nil},
	{"bytes=-500", 10000, []Range{{9500, 500}}, nil},
	{"bytes=9500-", 10000, []Range{{9500, 500}}, nil},
	{"bytes=0-0,-1", 10000, []Range{{0, 1}, {9999, 1}}, nil},
	{"bytes=500-600,601-999", 10000, []Range{{500, 500}}, nil}, // coalesced (adjacent): net/http {500,101},{601,399}
	{"bytes=500-700,601-999", 10000, []Range{{500, 500}}, nil}, // coalesced (overlap): net/http {500,201},{601,399}

	// Match Apache laxity:
	{"bytes=   1 -2   ,  4- 5, 7 - 8 , ,,", 11, []Range{{1, 2}, {4, 2}, {7, 2}}, nil},
}

// rfc9110Tests are the examples of RFC 9110 §14.1.2 for a representation
// of 10000 bytes.
var rfc9110Tests = []parseTest{
	{"bytes=0-499", 10000, []Range{{0, 500}}, nil},                 // the first 500 bytes
	{"bytes=500-999", 10000, []Range{{500, 500}}, nil},             // the second 500 bytes
	{"bytes=-500", 10000, []Range{{9500, 500}}, nil},               // the final 500 bytes
	{"bytes=9500-", 10000, []Range{{9500, 500}}, nil},              // the final 500 bytes
	{"bytes=0-0,-1", 10000, []Range{{0, 1}, {9999, 1}}, nil},       // first and last bytes only
	{"bytes=500-600,601-999", 10000, []Range{{500, 500}}, nil},     // other valid forms of the second 500 bytes
	{"bytes=500-700,601-999", 10000, []Range{{500, 500}}, nil},     // (coalesced into one range)
	{"bytes=0-0,-1,0-0", 10000, []Range{{0, 1}, {9999, 1}}, nil},   // duplicate
	{"bytes=9999-,0-0,-1", 10000, []Range{{9999, 1}, {0, 1}}, nil}, // same byte twice: coalesced where 9999- was asked
}

// orderTests check the order of RFC 9110 §15.3.7.2: the parts go out in
// the order their range specs were requested, except those that were
// unsatisfiable or coalesced into another range; a coalesced range takes
// the place of the first of its specs that was requested.
var orderTests = []parseTest{
	{"bytes=8-,0-1,4-5", 10, []Range{{8, 2}, {0, 2}, {4, 2}}, nil},
	{"bytes=-1,0-0", 10000, []Range{{9999, 1}, {0, 1}}, nil},
	{"bytes=50-59,0-9,55-70,20-29", 100, []Range{{50, 21}, {0, 10}, {20, 10}}, nil},
	{"bytes=20-29,0-9,55-70,50-59", 100, []Range{{20, 10}, {0, 10}, {50, 21}}, nil},
	{"bytes=5-6,0-1,3-4", 10, []Range{{3, 4}, {0, 2}}, nil},    // 3-4 touches 5-6: merged where 5-6 was
	{"bytes=20-29,0-9,10-19", 100, []Range{{0, 30}}, nil},      // a chain through the last spec
	{"bytes=90-,0-9,-5", 100, []Range{{90, 10}, {0, 10}}, nil}, // -5 inside 90-
	{"bytes=200-,50-59,0-9", 100, []Range{{50, 10}, {0, 10}}, nil},
	{"bytes=7-7,5-5,3-3,1-1", 10, []Range{{7, 1}, {5, 1}, {3, 1}, {1, 1}}, nil},
	{"bytes=7-7,5-5,3-3,1-1,0-9", 10, []Range{{0, 10}}, nil},
	{"bytes=0-1,4-5,8-9", 10, []Range{{0, 2}, {4, 2}, {8, 2}}, nil},
	{"bytes=4-5,0-1,4-5,0-1", 10, []Range{{4, 2}, {0, 2}}, nil},
}

// extraTests cover what net/http's table does not: units, whitespace,
// signs, overflow, unsatisfiable specs and sizes.
var extraTests = []parseTest{
	// Unit: "bytes", case-insensitive, no whitespace before "=".
	{"Bytes=0-1", 10, []Range{{0, 2}}, nil},
	{"BYTES=0-1", 10, []Range{{0, 2}}, nil},
	{"bytes =0-1", 10, nil, ErrInvalid},
	{"items=0-1", 10, nil, ErrInvalid},
	{"byte=0-1", 10, nil, ErrInvalid},
	{"bytesx=0-1", 10, nil, ErrInvalid},
	{"=0-1", 10, nil, ErrInvalid},
	{"bytes", 10, nil, ErrInvalid},
	{"0-1", 10, nil, ErrInvalid},
	{"bytes=0-1,bytes=2-3", 10, nil, ErrInvalid},

	// Optional whitespace: spaces and tabs only.
	{" bytes=0-1 ", 10, []Range{{0, 2}}, nil},
	{"\tbytes=\t0-1\t,\t3-4\t", 10, []Range{{0, 2}, {3, 2}}, nil},
	{"bytes=0-1\n", 10, nil, ErrInvalid},
	{"bytes=0-1\r\n", 10, nil, ErrInvalid},
	{"bytes=0\x00-1", 10, nil, ErrInvalid},
	{"bytes=,,0-1,,", 10, []Range{{0, 2}}, nil},
	{"bytes=,", 10, nil, ErrInvalid},
	{"bytes=0-1;x=y", 10, nil, ErrInvalid},

	// Digits only: no signs, no exponent, no separators.
	{"bytes=+5-", 10, nil, ErrInvalid},
	{"bytes=-+5", 10, nil, ErrInvalid},
	{"bytes=0-+5", 10, nil, ErrInvalid},
	{"bytes=-", 10, nil, ErrInvalid},
	{"bytes=5--", 10, nil, ErrInvalid},
	{"bytes=1-2-3", 10, nil, ErrInvalid},
	{"bytes=1e2-", 10, nil, ErrInvalid},
	{"bytes=1_0-", 10, nil, ErrInvalid},
	{"bytes=٣-", 10, nil, ErrInvalid}, // a non-ASCII digit
	{"bytes=0005-0007", 10, []Range{{5, 3}}, nil},

	// Overflow: numbers beyond int64 are invalid, int64's maximum is not.
	{"bytes=9223372036854775807-", 10, nil, ErrUnsatisfiable},
	{"bytes=9223372036854775808-", 10, nil, ErrInvalid},
	{"bytes=0-9223372036854775807", 10, []Range{{0, 10}}, nil},
	{"bytes=0-9223372036854775808", 10, nil, ErrInvalid},
	{"bytes=0-99999999999999999999999999", 10, nil, ErrInvalid},
	{"bytes=-9223372036854775807", 10, []Range{{0, 10}}, nil},
	{"bytes=-9223372036854775808", 10, nil, ErrInvalid},
	{"bytes=9223372036854775806-9223372036854775807", math.MaxInt64, []Range{{math.MaxInt64 - 1, 1}}, nil},
	{"bytes=-1", math.MaxInt64, []Range{{math.MaxInt64 - 1, 1}}, nil},

	// Satisfiability: first >= size and -0 are unsatisfiable; satisfiable
	// ranges win over unsatisfiable ones.
	{"bytes=10-", 10, nil, ErrUnsatisfiable},
	{"bytes=10-20", 10, nil, ErrUnsatisfiable},
	{"bytes=-0", 10, nil, ErrUnsatisfiable},
	{"bytes=-0,10-", 10, nil, ErrUnsatisfiable},
	{"bytes=-0,0-0", 10, []Range{{0, 1}}, nil},
	{"bytes=10-,9-", 10, []Range{{9, 1}}, nil},
	{"bytes=20-10", 10, nil, ErrInvalid}, // first > last beats unsatisfiable
	{"bytes=10-,5-4", 10, nil, ErrInvalid},
	{"bytes=9-9", 10, []Range{{9, 1}}, nil},
	{"bytes=-10", 10, []Range{{0, 10}}, nil},

	// Coalescing: overlapping and adjacent merged; gaps kept; request
	// order kept (see orderTests).
	{"bytes=1-1,0-0", 10, []Range{{0, 2}}, nil},
	{"bytes=8-,0-1,4-5", 10, []Range{{8, 2}, {0, 2}, {4, 2}}, nil},
	{"bytes=0-0,2-2", 10, []Range{{0, 1}, {2, 1}}, nil},
	{"bytes=0-5,1-2", 10, []Range{{0, 6}}, nil},
	{"bytes=0-,0-,0-", 10, []Range{{0, 10}}, nil},
	{"bytes=3-4,0-9", 10, []Range{{0, 10}}, nil},

	// Sizes where ranges cannot apply.
	{"bytes=0-1", 0, nil, nil},
	{"bytes=-1", 0, nil, nil},
	{"garbage", 0, nil, nil},
	{"bytes=0-1", -1, nil, nil},
	{"bytes=0-1", 1, []Range{{0, 1}}, nil},
}

func runParseTests(t *testing.T, tests []parseTest) {
	t.Helper()
	for _, tt := range tests {
		got, err := Parse(tt.header, tt.size, 0)
		if !errors.Is(err, tt.err) || (tt.err == nil && err != nil) {
			t.Errorf("Parse(%q, %d): err = %v, want %v", tt.header, tt.size, err, tt.err)
			continue
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("Parse(%q, %d) = %v, want %v", tt.header, tt.size, got, tt.want)
		}
		if err == nil {
			checkInvariants(t, tt.header, tt.size, DefaultMaxRanges, got)
		}
	}
}

func TestParseStdlibParity(t *testing.T) { runParseTests(t, stdlibParityTests) }
func TestParseRFC9110(t *testing.T)      { runParseTests(t, rfc9110Tests) }
func TestParseExtra(t *testing.T)        { runParseTests(t, extraTests) }
func TestParseOrder(t *testing.T)        { runParseTests(t, orderTests) }

// checkInvariants asserts what Parse promises on success: the bounds and
// count of the ranges, at least one byte between any two of them, and the
// relation to the header's specs (see checkSpecs).
func checkInvariants(t *testing.T, header string, size int64, maxRanges int, got []Range) {
	t.Helper()
	if got == nil {
		if header != "" && size > 0 {
			t.Errorf("Parse(%q, %d) = nil, nil; want ranges or an error", header, size)
		}
		return
	}
	if maxRanges <= 0 {
		maxRanges = DefaultMaxRanges
	}
	if len(got) == 0 || len(got) > maxRanges {
		t.Errorf("Parse(%q, %d): %d ranges, want 1..%d", header, size, len(got), maxRanges)
	}
	var total int64
	for i, r := range got {
		if r.Start < 0 || r.Length <= 0 || r.Length > size-r.Start {
			t.Errorf("Parse(%q, %d)[%d] = %v: out of bounds", header, size, i, r)
		}
		total += r.Length
	}
	sorted := slices.Clone(got)
	slices.SortFunc(sorted, cmpStart)
	for i := 1; i < len(sorted); i++ {
		if sorted[i].Start <= sorted[i-1].End() {
			t.Errorf("Parse(%q, %d): %v and %v overlap or touch", header, size, sorted[i-1], sorted[i])
		}
	}
	if total > size || total <= 0 {
		t.Errorf("Parse(%q, %d): total length %d, want 1..%d", header, size, total, size)
	}
	checkSpecs(t, header, size, got)
}

// checkSpecs relates Parse's result to the specs of header, parsed again
// one by one: every satisfiable spec lies inside exactly one returned
// range; each returned range is exactly the union of the specs inside it
// (no byte was added); and the ranges are in the order in which the first
// spec of each was requested (RFC 9110 §15.3.7.2).
func checkSpecs(t *testing.T, header string, size int64, got []Range) {
	t.Helper()
	set, err := rangeSet(header)
	if err != nil {
		t.Errorf("Parse(%q, %d) succeeded but rangeSet fails: %v", header, size, err)
		return
	}
	first := make([]int, len(got)) // index of the first spec inside each range
	members := make([][]Range, len(got))
	for i := range first {
		first[i] = -1
	}
	idx := 0
	for rest := set; rest != ""; {
		var elem string
		elem, rest = nextElem(rest)
		if elem == "" {
			continue
		}
		r, ok, err := parseSpec(elem, size)
		if err != nil {
			t.Errorf("Parse(%q, %d) succeeded but spec %q fails: %v", header, size, elem, err)
			return
		}
		if !ok {
			continue
		}
		in := -1
		for j, g := range got {
			if r.Start >= g.Start && r.End() <= g.End() {
				if in >= 0 {
					t.Errorf("Parse(%q, %d): spec %q lies in %v and %v", header, size, elem, got[in], g)
				}
				in = j
			}
		}
		if in < 0 {
			t.Errorf("Parse(%q, %d) = %v: spec %q (%v) is in no range", header, size, got, elem, r)
			return
		}
		if first[in] < 0 {
			first[in] = idx
		}
		members[in] = append(members[in], r)
		idx++
	}
	for i, g := range got {
		if first[i] < 0 {
			t.Errorf("Parse(%q, %d): range %v holds no spec", header, size, g)
			return
		}
		if i > 0 && first[i] < first[i-1] {
			t.Errorf("Parse(%q, %d) = %v: range %d was asked before range %d (spec %d < %d)", header, size, got, i, i-1, first[i], first[i-1])
		}
		ms := members[i]
		slices.SortFunc(ms, cmpStart)
		end := ms[0].Start
		if end != g.Start {
			t.Errorf("Parse(%q, %d): range %v starts before its first spec %v", header, size, g, ms[0])
		}
		for _, m := range ms {
			if m.Start > end {
				t.Errorf("Parse(%q, %d): range %v has a gap before %v that no spec asked for", header, size, g, m)
			}
			end = max(end, m.End())
		}
		if end != g.End() {
			t.Errorf("Parse(%q, %d): range %v ends at %d, its specs at %d", header, size, g, g.End(), end)
		}
	}
}

func TestParseMaxRanges(t *testing.T) {
	disjoint := func(n int) string { // bytes=0-0,2-2,4-4,...
		var b strings.Builder
		b.WriteString("bytes=")
		for i := range n {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, "%d-%d", 2*i, 2*i)
		}
		return b.String()
	}
	tests := []struct {
		header    string
		size      int64
		maxRanges int
		wantN     int
		err       error
	}{
		{disjoint(32), 100, 0, 32, nil},
		{disjoint(33), 100, 0, 0, ErrTooMany},
		{disjoint(33), 100, -1, 0, ErrTooMany},
		{disjoint(33), 100, 33, 33, nil},
		{disjoint(3), 100, 2, 0, ErrTooMany},
		{disjoint(2), 100, 2, 2, nil},
		{disjoint(1), 100, 1, 1, nil},
		// Limits apply after coalescing and after dropping unsatisfiable specs.
		{"bytes=0-5,1-2,3-9,4-4", 100, 1, 1, nil},
		{"bytes=0-0,1-1,2-2,3-3", 100, 1, 1, nil},
		{"bytes=0-0,200-,300-", 100, 1, 1, nil},
		// 1024 specs are parsed, 1025 are refused before sorting even if
		// they would coalesce into one range.
		{"bytes=" + strings.Repeat("0-,", 1023) + "0-", 100, 0, 1, nil},
		{"bytes=" + strings.Repeat("0-,", 1024) + "0-", 100, 0, 0, ErrTooMany},
		{"bytes=" + strings.Repeat("0-,", 1024) + "x", 100, 0, 0, ErrTooMany},
		// Empty list elements do not count as specs.
		{"bytes=" + strings.Repeat(",", 5000) + "0-", 100, 0, 1, nil},
		// maxRanges above 1024 cannot lift the spec limit.
		{disjoint(1025), 1 << 20, 5000, 0, ErrTooMany},
	}
	for _, tt := range tests {
		got, err := Parse(tt.header, tt.size, tt.maxRanges)
		name := tt.header
		if len(name) > 40 {
			name = fmt.Sprintf("%s...(%d bytes)", name[:40], len(name))
		}
		if !errors.Is(err, tt.err) || (tt.err == nil && err != nil) {
			t.Errorf("Parse(%q, %d, %d): err = %v, want %v", name, tt.size, tt.maxRanges, err, tt.err)
			continue
		}
		if len(got) != tt.wantN {
			t.Errorf("Parse(%q, %d, %d): %d ranges, want %d", name, tt.size, tt.maxRanges, len(got), tt.wantN)
		}
		if err == nil {
			checkInvariants(t, tt.header, tt.size, tt.maxRanges, got)
		}
	}
}

// TestParseAmplification checks that headers built to multiply the
// response (many tiny ranges, the whole file many times, heavy overlap)
// never yield more bytes than the representation or more parts than
// allowed.
func TestParseAmplification(t *testing.T) {
	const size = 1 << 20
	var tiny strings.Builder // 1000 one-byte ranges with gaps
	tiny.WriteString("bytes=")
	for i := range 1000 {
		fmt.Fprintf(&tiny, "%d-%d,", 3*i, 3*i)
	}
	var touching strings.Builder // 1000 adjacent one-byte ranges, reversed
	touching.WriteString("bytes=")
	for i := 999; i >= 0; i-- {
		fmt.Fprintf(&touching, "%d-%d,", i, i)
	}
	var nested strings.Builder // 500 ranges each containing the next
	nested.WriteString("bytes=")
	for i := range 500 {
		fmt.Fprintf(&nested, "%d-%d,", i, size-1-i)
	}
	var staircase strings.Builder // 1000 half-overlapping 64 KiB windows
	staircase.WriteString("bytes=")
	for i := range 1000 {
		fmt.Fprintf(&staircase, "%d-%d,", i*32, i*32+65535)
	}
	tests := []struct {
		name      string
		header    string
		wantN     int
		wantTotal int64
		err       error
	}{
		{"1000 tiny ranges", tiny.String(), 0, 0, ErrTooMany},
		{"1000 touching ranges", touching.String(), 1, 1000, nil},
		{"32 copies of 0-", "bytes=" + strings.Repeat("0-,", 31) + "0-", 1, size, nil},
		{"32 copies of -N", "bytes=" + strings.Repeat("-2000000,", 32), 1, size, nil},
		{"mixed whole file", "bytes=0-,-1048576,0-1048575,0-99999999", 1, size, nil},
		{"nested", nested.String(), 1, size, nil},
		{"staircase", staircase.String(), 1, 999*32 + 65536, nil},
	}
	for _, tt := range tests {
		got, err := Parse(tt.header, size, 0)
		if !errors.Is(err, tt.err) || (tt.err == nil && err != nil) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.err)
			continue
		}
		var total int64
		for _, r := range got {
			total += r.Length
		}
		if len(got) != tt.wantN || total != tt.wantTotal {
			t.Errorf("%s: %d ranges, %d bytes; want %d ranges, %d bytes", tt.name, len(got), total, tt.wantN, tt.wantTotal)
		}
		if err == nil {
			checkInvariants(t, tt.header, size, 0, got)
		}
	}
}

func TestParseSingleRangeCapacity(t *testing.T) {
	got, err := Parse("bytes=0-99", 1000, 0)
	if err != nil || cap(got) != 1 {
		t.Fatalf("Parse(bytes=0-99) = %v (cap %d), %v; want one range in a slice of capacity 1", got, cap(got), err)
	}
}

func TestParseAllocs(t *testing.T) {
	tests := []struct {
		header string
		max    float64
	}{
		{"bytes=0-99", 1},
		{"bytes=-500", 1},
		{"bytes=0-0,-1,500-600", 1},
		{"foo=0-1", 0},
		{"bytes=2000-", 0},
		{"bytes=" + strings.Repeat("0-,", 2000), 0},
	}
	for _, tt := range tests {
		allocs := testing.AllocsPerRun(100, func() { _, _ = Parse(tt.header, 1000, 0) })
		if allocs > tt.max {
			t.Errorf("Parse(%.20q): %v allocs, want <= %v", tt.header, allocs, tt.max)
		}
	}
}

func TestContentRange(t *testing.T) {
	tests := []struct {
		r    Range
		size int64
		want string
	}{
		{Range{0, 100}, 1000, "bytes 0-99/1000"},
		{Range{999, 1}, 1000, "bytes 999-999/1000"},
		{Range{0, 1}, 1, "bytes 0-0/1"},
		{Range{math.MaxInt64 - 1, 1}, math.MaxInt64, "bytes 9223372036854775806-9223372036854775806/9223372036854775807"},
	}
	for _, tt := range tests {
		if got := tt.r.ContentRange(tt.size); got != tt.want {
			t.Errorf("%v.ContentRange(%d) = %q, want %q", tt.r, tt.size, got, tt.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, tests := range [][]parseTest{stdlibParityTests, rfc9110Tests, extraTests, orderTests} {
		for _, tt := range tests {
			f.Add(tt.header, tt.size)
		}
	}
	f.Fuzz(func(t *testing.T, header string, size int64) {
		for _, maxRanges := range []int{0, 1, 3} {
			got, err := Parse(header, size, maxRanges)
			switch {
			case err == nil:
				if header == "" || size <= 0 {
					if got != nil {
						t.Fatalf("Parse(%q, %d) = %v, want nil for no header or no size", header, size, got)
					}
					continue
				}
				checkInvariants(t, header, size, maxRanges, got)
			case errors.Is(err, ErrInvalid), errors.Is(err, ErrUnsatisfiable), errors.Is(err, ErrTooMany):
				if got != nil {
					t.Fatalf("Parse(%q, %d) = %v, %v; want nil ranges with an error", header, size, got, err)
				}
			default:
				t.Fatalf("Parse(%q, %d): unexpected error %v", header, size, err)
			}
		}
	})
}

func BenchmarkParse(b *testing.B) {
	benchmarks := []struct {
		name, header string
	}{
		{"single", "bytes=1048576-2097151"},
		{"open", "bytes=1048576-"},
		{"suffix", "bytes=-65536"},
		{"multi4", "bytes=0-99,200-299,-100,50-150"},
		{"invalid", "bytes=abc-def"},
		{"hostile1025", "bytes=" + strings.Repeat("0-0,", 1025)},
	}
	for _, bm := range benchmarks {
		b.Run(bm.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_, _ = Parse(bm.header, 1<<30, 0)
			}
		})
	}
}
