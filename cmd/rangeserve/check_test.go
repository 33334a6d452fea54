package main

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rangeserve/rangeserve/auth"
	"github.com/rangeserve/rangeserve/storage"
)

// TestCheckRefusesMisleadingConfigs: `rangeserve check` refuses every
// config whose value would silently mean something else than it says,
// naming the file, the line and the key; what means what it says passes.
func TestCheckRefusesMisleadingConfigs(t *testing.T) {
	const keys = "auth:\n  keys:\n    - {id: k1, secret: 0123456789abcdef0123456789abcdef}\n"
	const tokens = "  tokens:\n    - {name: t, sha256: 5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8, mounts: [/], admin: true, links: [/]}\n"
	mount := func(extra string) string {
		return "mounts:\n  - {prefix: /, backend: local, root: ., auth: signed" + extra + "}\n"
	}
	s3mount := func(extra string) string {
		return "mounts:\n  - {prefix: /, backend: s3, s3: {endpoint: 'h:9000', bucket: b" + extra + "}, auth: public}\n"
	}
	for _, c := range []struct {
		name, yaml string
		want       string // "line: key" the error must name; "" means accepted
	}{
		// Zero means what it says where it can.
		{"clock_skew 0s is zero", keys + "  clock_skew: 0s\n" + mount(""), ""},
		{"grace off entirely", keys + "  playback_grace: 0s\n  max_grace: 0s\n" + mount(""), ""},
		{"max_grace 0s under the default grace", keys + "  max_grace: 0s\n" + mount(""), "4: auth.max_grace"},
		{"max_grace below playback_grace", keys + "  playback_grace: 3h\n  max_grace: 2h\n" + mount(""), "4: auth.playback_grace"},
		{"max_grace below the default grace", keys + "  max_grace: 1h\n" + mount(""), "4: auth.max_grace"},
		{"clock_skew too large", keys + "  clock_skew: 1h\n" + mount(""), "4: auth.clock_skew"},
		// Where zero cannot mean what it says, it is refused.
		{"read_header_timeout 0s", "server:\n  read_header_timeout: 0s\n" + keys + mount(""), "2: server.read_header_timeout"},
		{"idle_timeout 0s", "server:\n  idle_timeout: 0s\n" + keys + mount(""), "2: server.idle_timeout"},
		{"shutdown_timeout 0s", "server:\n  shutdown_timeout: 0s\n" + keys + mount(""), "2: server.shutdown_timeout"},
		{"max_header_bytes 0", "server:\n  max_header_bytes: 0\n" + keys + mount(""), "2: server.max_header_bytes"},
		{"max_header_bytes below 8KiB", "server:\n  max_header_bytes: 6KiB\n" + keys + mount(""), "2: server.max_header_bytes"},
		{"gc_percent 0", "server:\n  gc_percent: 0\n" + keys + mount(""), "2: server.gc_percent"},
		{"memory_limit 0", "server:\n  memory_limit: 0\n" + keys + mount(""), "2: server.memory_limit"},
		{"cache max_bytes 0", "cache:\n  max_bytes: 0\n" + keys + mount(""), "2: cache.max_bytes"},
		{"cache block_size 0", "cache:\n  block_size: 0\n" + keys + mount(""), "2: cache.block_size"},
		{"max_ranges 0", keys + "mounts:\n  - prefix: /\n    backend: local\n    root: .\n    auth: signed\n    max_ranges: 0\n", "9: mounts[0].max_ranges"},
		{"redirect_ttl 0s", "mounts:\n  - prefix: /\n    backend: s3\n    s3: {endpoint: 'h:9000', bucket: b}\n    auth: public\n    mode: redirect\n    redirect_ttl: 0s\n", "7: mounts[0].redirect_ttl"},
		{"s3 timeout 0s", s3mount(", timeout: 0s"), "2: mounts[0].s3.timeout"},
		{"s3 stat_ttl 0s is zero", s3mount(", stat_ttl: 0s"), ""},
		{"max_link_ttl 0s", keys + "  tokens:\n    - {name: t, sha256: 5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8, admin: true, links: [/], max_link_ttl: 0s}\n" + mount(""), "5: auth.tokens[0].max_link_ttl"},
		{"links without admin", keys + "  tokens:\n    - {name: t, sha256: 5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8, mounts: [/], links: [/]}\n" + mount(""), "5: auth.tokens[0]"},
		// media's own checks, at the key they concern.
		{"x-accel without internal_prefix", "mounts:\n  - prefix: /\n    backend: local\n    root: .\n    auth: public\n    mode: x-accel\n", "2: mounts[0].x_accel.internal_prefix"},
		{"x-accel buffering", "mounts:\n  - prefix: /\n    backend: local\n    root: .\n    auth: public\n    mode: x-accel\n    x_accel:\n      internal_prefix: /_p\n      buffering: maybe\n", "9: mounts[0].x_accel.buffering"},
		{"redirect_ttl too long", "mounts:\n  - prefix: /\n    backend: s3\n    s3: {endpoint: 'h:9000', bucket: b}\n    auth: public\n    mode: redirect\n    redirect_ttl: 200h\n", "7: mounts[0].redirect_ttl"},
		{"max_ranges too many", "mounts:\n  - {prefix: /, backend: local, root: ., auth: public, max_ranges: 5000}\n", "2: mounts[0].max_ranges"},
		// rangeio's and s3's own checks, at the key they concern.
		{"block_size too small", "cache:\n  block_size: 1KiB\n" + keys + mount(""), "2: cache.block_size"},
		{"max_bytes below 4 blocks", "cache:\n  max_bytes: 128KiB\n" + keys + mount(""), "2: cache.max_bytes"},
		{"read_ahead too far", "cache:\n  read_ahead: 17\n" + keys + mount(""), "2: cache.read_ahead"},
		{"stat_ttl too long", s3mount(", stat_ttl: 2h"), "2: mounts[0].s3.stat_ttl"},
		{"s3 without bucket", "mounts:\n  - prefix: /\n    backend: s3\n    s3:\n      endpoint: h:9000\n    auth: public\n", "4: mounts[0].s3"},
		{"redirect_ttl in mode serve", "mounts:\n  - {prefix: /, backend: local, root: ., auth: public, redirect_ttl: 10m}\n", "2: mounts[0].redirect_ttl"},
		// Cache-Control on a mount that is not public.
		{"public after max-age", keys + mount(", cache_control: 'max-age=60, public'"), "5: mounts[0].cache_control"},
		{"PUBLIC in capitals", keys + mount(", cache_control: 'private,PUBLIC'"), "5: mounts[0].cache_control"},
		{"s-maxage", keys + tokens + "mounts:\n  - {prefix: /, backend: local, root: ., auth: token, cache_control: 's-maxage=60, private'}\n", "7: mounts[0].cache_control"},
		{"S-MaxAge with spaces", keys + mount(", cache_control: 'private , S-MaxAge = 60'"), "5: mounts[0].cache_control"},
		{"public, quoted", keys + mount(`, cache_control: 'private, no-cache="public, x"'`), ""},
		{"private", keys + mount(", cache_control: 'private, max-age=3600, immutable'"), ""},
		{"public on a public mount", "mounts:\n  - {prefix: /, backend: local, root: ., auth: public, cache_control: 'public, s-maxage=60'}\n", ""},
		{"unbalanced quote", keys + mount(`, cache_control: 'private, no-cache="x'`), "5: mounts[0].cache_control"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := filepath.Join(t.TempDir(), "rs.yaml")
			if err := os.WriteFile(f, []byte(c.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			var out, errb bytes.Buffer
			code := run([]string{"check", "-config", f}, &out, &errb)
			if c.want == "" {
				if code != 0 {
					t.Fatalf("refused (exit %d): %s", code, errb.String())
				}
				return
			}
			if code != 1 || !strings.Contains(errb.String(), f+":"+c.want) {
				t.Fatalf("exit %d, stderr %q: want exit 1 naming %q", code, errb.String(), f+":"+c.want)
			}
		})
	}
}

// TestClockSkewZero: clock_skew: 0s accepts no link after its expiry; the
// default tolerates 30s.
func TestClockSkewZero(t *testing.T) {
	root := repoTestdata(t)
	cfg := func(skew string) string {
		return fmt.Sprintf("auth:\n  keys:\n    - {id: k1, secret: %q}\n%s  playback_grace: 0s\nmounts:\n  - {prefix: /s/, backend: local, root: %q, auth: signed}\n", testSecret, skew, root)
	}
	// A link that expired two seconds ago.
	s, err := auth.NewSigner([]auth.Key{{ID: "k1", Secret: []byte(testSecret)}},
		auth.SignerOptions{Now: func() time.Time { return time.Now().Add(-62 * time.Second) }})
	if err != nil {
		t.Fatal(err)
	}
	q, _, err := s.Sign("/s/", "hello.txt", time.Minute, auth.LinkOptions{})
	if err != nil {
		t.Fatal(err)
	}
	path := storage.EscapeKey("/s/hello.txt") + "?" + q.Encode()
	for _, c := range []struct {
		skew   string
		status int
	}{
		{"  clock_skew: 0s\n", http.StatusForbidden},
		{"", http.StatusOK},
	} {
		srv, _, _ := startApp(t, cfg(c.skew))
		if r := get(t, srv.URL+path, nil); r.StatusCode != c.status {
			t.Errorf("clock_skew %q, link expired 2s ago: %d %q, want %d", strings.TrimSpace(c.skew), r.StatusCode, r.Body, c.status)
		}
	}
}

func TestCacheDirectives(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"public, max-age=60", []string{"public", "max-age"}},
		{"max-age=60,PUBLIC", []string{"max-age", "public"}},
		{` private , S-MaxAge = 60 `, []string{"private", "s-maxage"}},
		{`no-cache="Set-Cookie, public", private`, []string{"no-cache", "private"}},
		{`x="a\"b,public", y`, []string{"x", "y"}},
		{"a,,b", []string{"a", "b"}},
	} {
		got, err := cacheDirectives(c.in)
		if err != nil || strings.Join(got, "|") != strings.Join(c.want, "|") {
			t.Errorf("cacheDirectives(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	if _, err := cacheDirectives(`no-cache="x`); err == nil {
		t.Error("an unclosed quote was accepted")
	}
}

func FuzzCacheDirectives(f *testing.F) {
	for _, s := range []string{"public, max-age=60", `no-cache="a, public", private`, `x="\"`, "=,=", `a="b"c,d`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		names, err := cacheDirectives(v)
		if err != nil {
			return
		}
		for _, n := range names {
			if n == "" || strings.ContainsAny(n, ",=") || n != strings.ToLower(n) {
				t.Fatalf("cacheDirectives(%q): bad name %q", v, n)
			}
		}
		// Without quotes, every comma-separated name is found.
		if !strings.Contains(v, `"`) {
			for part := range strings.SplitSeq(v, ",") {
				name, _, _ := strings.Cut(part, "=")
				if name = strings.ToLower(strings.TrimSpace(name)); name != "" && !slices.Contains(names, name) {
					t.Fatalf("cacheDirectives(%q) = %q: %q missing", v, names, name)
				}
			}
		}
	})
}

// TestHeaderLimitIsExact: server.max_header_bytes is the size of request
// line and headers at which 431 starts, as written (net/http alone would
// add 4 KiB).
func TestHeaderLimitIsExact(t *testing.T) {
	root := t.TempDir()
	os.WriteFile(filepath.Join(root, "f.txt"), []byte("ok"), 0o644)
	const limit = 16 << 10
	p := startBinary(t, "server:\n  max_header_bytes: 16KiB\n"+localConfig(root))
	// head builds a request head of exactly n bytes.
	head := func(n int) []string {
		base := "GET /f.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Pad: \r\n\r\n"
		return []string{"X-Pad: " + strings.Repeat("a", n-len(base))}
	}
	for _, c := range []struct {
		n      int
		status int
	}{
		{limit - 1, 200},
		{limit, 200},
		{limit + 1, 431},
		{limit + 4096, 431},
	} {
		resp, _ := rawGet(t, p.URL, "/f.txt", head(c.n)...)
		if resp.StatusCode != c.status {
			t.Errorf("request head of %d bytes (limit %d): %d, want %d", c.n, limit, resp.StatusCode, c.status)
		}
	}
}
