package main

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rangeserve/rangeserve"
	"github.com/rangeserve/rangeserve/cors"
	"github.com/rangeserve/rangeserve/limits"
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
	if cfg.Server.GCPercent != 100 || cfg.Server.MemoryLimit != rangeio.DefaultCacheBytes+256<<20 {
		t.Errorf("server defaults = %+v", cfg.Server)
	}
	// Keys left out map onto the libraries' zero values, their defaults.
	if o := cfg.serverOptions(nil, 0); o.MaxHeaderBytes != 0 || o.ShutdownTimeout != 0 || o.ReadHeaderTimeout != 0 || o.Validate() != nil {
		t.Errorf("server options = %+v, want the server package's defaults", o)
	}
	if o := cfg.limitsOptions(); o.MaxStreams != 0 || o.WriteIdleTimeout != 0 || o.ConnRate != 0 {
		t.Errorf("limits options = %+v, want the limits package's defaults", o)
	}
	if !*cfg.Metrics.Enabled || cfg.Metrics.Listen != "" {
		t.Errorf("metrics = %+v, want /metrics on the main listener", cfg.Metrics)
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
		{"ui prefix", "mounts:\n  - {prefix: /ui, backend: local, root: ., auth: public}\n", []string{"test.yaml:2", "mounts[0].prefix", "/ui/ is reserved", "web UI"}},
		{"under ui", "mounts:\n  - {prefix: /ui/videos/, backend: local, root: ., auth: public}\n", []string{"mounts[0].prefix", "/ui/ is reserved"}},
		{"archive entries zero", "mounts:\n  - {prefix: /, backend: local, root: ., auth: public, archive_max_entries: 0}\n", []string{"mounts[0].archive_max_entries", "200000", "archives: false"}},
		{"archive concurrency zero", "mounts:\n  - {prefix: /, backend: local, root: ., auth: public, archive_concurrency: 0}\n", []string{"mounts[0].archive_concurrency", "archives: false"}},
		{"archive concurrency negative", "mounts:\n  - {prefix: /, backend: local, root: ., auth: public, archive_concurrency: -1}\n", []string{"mounts[0].archive_concurrency", "negative"}},
		{"archive entries negative", "mounts:\n  - {prefix: /, backend: local, root: ., auth: public, archive_max_entries: -1}\n", []string{"mounts[0].archive_max_entries", "negative"}},
		{"archives", "mounts:\n  - {prefix: /, backend: local, root: ., auth: public, archives: maybe}\n", []string{"maybe"}},
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
		{"max streams", "server:\n  max_streams: -3\nmounts:\n  - {prefix: /, backend: local, root: ., auth: public}\n", []string{"test.yaml:2", "server.max_streams", "negative"}},
		{"conn rate", "server:\n  conn_rate: 100\nmounts:\n  - {prefix: /, backend: local, root: ., auth: public}\n", []string{"test.yaml:2", "server.conn_rate", "1 KiB/s"}},
		{"write idle", "server:\n  write_idle_timeout: -1s\nmounts:\n  - {prefix: /, backend: local, root: ., auth: public}\n", []string{"server.write_idle_timeout"}},
		{"retry after 0", "server:\n  retry_after: 0s\nmounts:\n  - {prefix: /, backend: local, root: ., auth: public}\n", []string{"server.retry_after", "default"}},
		{"tls half", "server:\n  tls: {cert_file: c.pem}\nmounts:\n  - {prefix: /, backend: local, root: ., auth: public}\n", []string{"test.yaml:2", "server.tls.cert_file", "KeyFile"}},
		{"h2c with tls", "server:\n  h2c: true\n  tls: {cert_file: c.pem, key_file: k.pem}\nmounts:\n  - {prefix: /, backend: local, root: ., auth: public}\n", []string{"test.yaml:2", "server.h2c"}},
		{"header bytes", "server:\n  max_header_bytes: 2GiB\nmounts:\n  - {prefix: /, backend: local, root: ., auth: public}\n", []string{"server.max_header_bytes", "out of range"}},
		{"metrics listen", "metrics:\n  listen: nine\nmounts:\n  - {prefix: /, backend: local, root: ., auth: public}\n", []string{"test.yaml:2", "metrics.listen", "host:port"}},
		{"metrics on listen", "listen: 127.0.0.1:9000\nmetrics:\n  listen: 127.0.0.1:9000\nmounts:\n  - {prefix: /, backend: local, root: ., auth: public}\n", []string{"metrics.listen", "also listen"}},
		{"cors origin", "mounts:\n  - {prefix: /, backend: local, root: ., auth: public, cors: {allowed_origins: [example.com]}}\n", []string{"mounts[0].cors.allowed_origins", "scheme://host"}},
		{"cors none", "mounts:\n  - {prefix: /, backend: local, root: ., auth: public, cors: {allow_credentials: true}}\n", []string{"mounts[0].cors.allowed_origins", "missing"}},
		{"cors star", "mounts:\n  - {prefix: /, backend: local, root: ., auth: public, cors: {allowed_origins: ['*', 'https://a.example']}}\n", []string{"mounts[0].cors.allowed_origins", "only entry"}},
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

// TestOpsKeysMapOntoOptions: keys left out are the libraries' defaults
// (zero), keys written as 0 are their spelled-out offs, and the rest map
// as written.
func TestOpsKeysMapOntoOptions(t *testing.T) {
	cfg, err := parseConfig("test.yaml", "/etc/rs", []byte(`
server:
  max_streams: 0
  max_streams_per_client: 8
  write_idle_timeout: 0s
  conn_rate: 2MiB
  link_rate: 512KiB
  retry_after: 10s
  tls: {cert_file: tls/c.pem, key_file: /k.pem}
mounts:
  - {prefix: /, backend: local, root: ., auth: public, cors: {allowed_origins: ['https://a.example'], max_age: 0s}}
  - {prefix: /b/, backend: local, root: ., auth: public, cors: {allowed_origins: ['*']}}
`))
	if err != nil {
		t.Fatal(err)
	}
	lo := cfg.limitsOptions()
	if lo.MaxStreams != limits.Off || lo.MaxStreamsPerClient != 8 || lo.WriteIdleTimeout != limits.Off ||
		lo.ConnRate != 2<<20 || lo.KeyRate != 512<<10 || lo.KeyOf == nil || lo.RetryAfter != 10*time.Second {
		t.Errorf("limits options = %+v", lo)
	}
	so := cfg.serverOptions(nil, 0)
	if so.CertFile != "/etc/rs/tls/c.pem" || so.KeyFile != "/k.pem" {
		t.Errorf("tls files = %q, %q; want them resolved against the config's directory", so.CertFile, so.KeyFile)
	}
	if co := cfg.corsOptions("mounts[0]", &cfg.Mounts[0]); co.MaxAge != cors.NoMaxAge {
		t.Errorf("cors max_age: 0s = %v, want cors.NoMaxAge", co.MaxAge)
	}
	if co := cfg.corsOptions("mounts[1]", &cfg.Mounts[1]); co.MaxAge != 0 {
		t.Errorf("cors max_age left out = %v, want 0 (cors' default)", co.MaxAge)
	}
	r := httptest.NewRequest("GET", "/v.mp4?exp=1&kid=k&sig=abc", nil)
	if k := lo.KeyOf(r); k != "abc" {
		t.Errorf("link_rate key = %q, want the link's signature", k)
	}
	if k := lo.KeyOf(httptest.NewRequest("GET", "/v.mp4", nil)); k != "" {
		t.Errorf("link_rate key without a link = %q", k)
	}
}
