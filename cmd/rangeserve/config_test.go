package main

import (
	"strings"
	"testing"
	"time"

	"github.com/rangeserve/rangeserve"
	"github.com/rangeserve/rangeserve/rangeio"
)

func TestShippedConfig(t *testing.T) {
	cfg, err := parseConfig("config.yaml", ".", rangeserve.DefaultConfig)
	if err != nil {
		t.Fatalf("the shipped config.yaml does not validate: %v", err)
	}
	if cfg.Listen != "127.0.0.1:8080" {
		t.Errorf("listen = %q, want 127.0.0.1:8080", cfg.Listen)
	}
	if len(cfg.Mounts) != 1 {
		t.Fatalf("mounts = %d, want 1", len(cfg.Mounts))
	}
	m := cfg.Mounts[0]
	if m.Prefix != "/" || m.Backend != "local" || m.Root != "testdata" || m.Auth != "public" || m.Mode != "serve" || m.MaxRanges != 32 {
		t.Errorf("default mount = %+v", m)
	}
	if cfg.Server.MaxHeaderBytes != 64<<10 || cfg.Server.ShutdownTimeout != 30*time.Second ||
		cfg.Server.GCPercent != 400 || cfg.Server.MemoryLimit != rangeio.DefaultCacheBytes+256<<20 {
		t.Errorf("server defaults = %+v", cfg.Server)
	}
}

func TestConfigErrors(t *testing.T) {
	t.Setenv("RS_TEST_EMPTY", "")
	tests := []struct {
		name, yaml string
		want       []string // substrings of the error
	}{
		{"empty", "", []string{"empty"}},
		{"only comments", "# nothing yet\n", []string{"empty"}},
		{"no mounts", "listen: 127.0.0.1:1\n", []string{"mounts", "no mounts"}},
		{"unknown key", "listen: 127.0.0.1:1\nmonuts: []\n", []string{"line 2", "monuts"}},
		{"missing auth", "mounts:\n  - prefix: /m/\n    backend: local\n    root: .\n", []string{"test.yaml:2", "mounts[0].auth", "missing"}},
		{"bad auth", "mounts:\n  - prefix: /m/\n    backend: local\n    root: .\n    auth: everyone\n", []string{"test.yaml:5", "mounts[0].auth", `"everyone"`}},
		{"bad backend", "mounts:\n  - prefix: /\n    backend: ftp\n    auth: public\n", []string{"test.yaml:3", "mounts[0].backend"}},
		{"no root", "mounts:\n  - prefix: /\n    backend: local\n    auth: public\n", []string{"mounts[0].root"}},
		{"prefix", "mounts:\n  - prefix: media\n    backend: local\n    root: .\n    auth: public\n", []string{"mounts[0].prefix", "start with /"}},
		{"api prefix", "mounts:\n  - prefix: /api/\n    backend: local\n    root: .\n    auth: public\n", []string{"reserved"}},
		{"dup prefix", "mounts:\n  - {prefix: /a, backend: local, root: ., auth: public}\n  - {prefix: /a/, backend: local, root: ., auth: public}\n", []string{"mounts[1].prefix", "mounts[0]"}},
		{"signed needs key", "mounts:\n  - {prefix: /, backend: local, root: ., auth: signed}\n", []string{"auth.keys"}},
		{"short secret", "auth:\n  keys:\n    - {id: k1, secret: short}\nmounts:\n  - {prefix: /, backend: local, root: ., auth: signed}\n", []string{"auth.keys[0]", "at least 32"}},
		{"secret env unset", "auth:\n  keys:\n    - {id: k1, secret_env: RS_TEST_EMPTY}\nmounts:\n  - {prefix: /, backend: local, root: ., auth: signed}\n", []string{"RS_TEST_EMPTY", "unset"}},
		{"token hash", "auth:\n  tokens:\n    - {name: a, sha256: abc, mounts: [/]}\nmounts:\n  - {prefix: /, backend: local, root: ., auth: token}\n", []string{"auth.tokens[0].sha256"}},
		{"redirect local", "mounts:\n  - {prefix: /, backend: local, root: ., auth: public, mode: redirect}\n", []string{"mounts[0].mode", "s3"}},
		{"x-accel prefix", "mounts:\n  - {prefix: /, backend: local, root: ., auth: public, mode: x-accel}\n", []string{"internal_prefix"}},
		{"ttl", "mounts:\n  - {prefix: /, backend: s3, s3: {endpoint: 'h:9000', bucket: b}, auth: public, mode: redirect, redirect_ttl: 200h}\n", []string{"redirect_ttl", "7 days"}},
		{"endpoint scheme", "mounts:\n  - {prefix: /, backend: s3, s3: {endpoint: 'http://h:9000', bucket: b}, auth: public}\n", []string{"s3.endpoint", "has a scheme"}},
		{"size", "cache:\n  block_size: 1 parsec\nmounts:\n  - {prefix: /, backend: local, root: ., auth: public}\n", []string{"not a size"}},
		{"listen", "listen: nowhere\nmounts:\n  - {prefix: /, backend: local, root: ., auth: public}\n", []string{"test.yaml:1", "listen", "host:port"}},
		{"public cache on signed", "auth:\n  keys:\n    - {id: k1, secret: 0123456789abcdef0123456789abcdef}\nmounts:\n  - {prefix: /, backend: local, root: ., auth: signed, cache_control: 'public, max-age=60'}\n", []string{"mounts[0].cache_control", "private"}},
		{"gc percent", "server:\n  gc_percent: 5\nmounts:\n  - {prefix: /, backend: local, root: ., auth: public}\n", []string{"server.gc_percent", "25 to 2000"}},
		{"memory limit", "server:\n  memory_limit: 100MiB\nmounts:\n  - {prefix: /, backend: local, root: ., auth: public}\n", []string{"server.memory_limit", "cache.max_bytes"}},
		{"stat ttl", "mounts:\n  - {prefix: /, backend: s3, s3: {endpoint: 'h:9000', bucket: b, stat_ttl: 2h}, auth: public}\n", []string{"stat_ttl", "0s", "1h"}},
		{"faststart", "mounts:\n  - {prefix: /, backend: local, root: ., auth: public, faststart: yes}\n", []string{"mounts[0].faststart", `"yes"`}},
		{"faststart redirect", "mounts:\n  - {prefix: /, backend: s3, s3: {endpoint: 'h:9000', bucket: b}, auth: public, mode: redirect, faststart: on}\n", []string{"mounts[0].faststart", "redirect"}},
		{"duration", "server:\n  idle_timeout: soon\nmounts:\n  - {prefix: /, backend: local, root: ., auth: public}\n", []string{"soon"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseConfig("test.yaml", ".", []byte(tt.yaml))
			if err == nil {
				t.Fatalf("config accepted, want an error mentioning %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if !strings.HasPrefix(err.Error(), "test.yaml") {
				t.Errorf("error %q does not start with the file name", err)
			}
		})
	}
}

func TestByteSize(t *testing.T) {
	for in, want := range map[string]int64{"512": 512, "64KiB": 64 << 10, "1MiB": 1 << 20, "2 GiB": 2 << 30, "10MB": 10e6, "7B": 7} {
		got, err := parseByteSize(in)
		if err != nil || got != want {
			t.Errorf("parseByteSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-1", "1.5MiB", "MiB", "99999999999TiB"} {
		if _, err := parseByteSize(in); err == nil {
			t.Errorf("parseByteSize(%q) accepted", in)
		}
	}
}
