package main

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Config is the whole of config.yaml. Field comments give each default.
type Config struct {
	// Listen is the address to serve on. Default "127.0.0.1:8080".
	Listen string `yaml:"listen"`
	// Log configures logging.
	Log LogConfig `yaml:"log"`
	// Server holds the HTTP server's limits and timeouts.
	Server ServerConfig `yaml:"server"`
	// Cache is the read cache shared by every remote (s3) mount.
	Cache CacheConfig `yaml:"cache"`
	// Auth holds signing keys and bearer tokens for mounts that are not
	// public.
	Auth AuthConfig `yaml:"auth"`
	// Mounts map URL prefixes to storage. At least one is required.
	Mounts []Mount `yaml:"mounts"`
	// Stream is the flush policy of streamed responses (folder listings,
	// ?follow=1, objects of unknown size), for every mount.
	Stream StreamConfig `yaml:"stream"`
	// Follow configures ?follow=1 on local files, for every mount.
	Follow FollowConfig `yaml:"follow"`

	// dir is the directory relative paths are resolved against.
	dir string
}

// LogConfig configures the process log.
type LogConfig struct {
	// Level is debug, info, warn or error. Default info.
	Level string `yaml:"level"`
	// Format is text or json. Default text.
	Format string `yaml:"format"`
	// Access logs one line per request. Default true.
	Access *bool `yaml:"access"`
}

// ServerConfig holds HTTP server limits.
type ServerConfig struct {
	// ReadHeaderTimeout bounds reading a request's headers. Default 10s.
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`
	// IdleTimeout closes idle keep-alive connections. Default 120s.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// MaxHeaderBytes bounds request headers; larger ones get 431.
	// Default 64KiB.
	MaxHeaderBytes ByteSize `yaml:"max_header_bytes"`
	// ShutdownTimeout is how long SIGINT/SIGTERM waits for requests in
	// flight before closing connections. Default 30s.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// TrustedProxies are the addresses (CIDR) of front proxies, such as
	// nginx, whose X-Forwarded-For names the real client for IP-bound
	// links and logs. Default none: the peer's address is the client.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// GCPercent is the Go garbage collector's GOGC. Default 400: the
	// live heap of a file server is small, and at Go's 100 the collector
	// runs every few thousand requests; 400 cuts the CPU per small request
	// by about a tenth (see BENCHMARKS.md) for a few MiB more heap, and
	// MemoryLimit bounds the rest. The GOGC environment variable wins.
	GCPercent int `yaml:"gc_percent"`
	// MemoryLimit is the Go runtime's soft memory limit (GOMEMLIMIT): the
	// collector works harder as the heap nears it. Default cache.max_bytes
	// + 256MiB. The GOMEMLIMIT environment variable wins.
	MemoryLimit ByteSize `yaml:"memory_limit"`

	trusted []netip.Prefix
}

// CacheConfig is the block cache in front of remote objects.
type CacheConfig struct {
	// BlockSize is the unit of backend reads. Default 1MiB.
	BlockSize ByteSize `yaml:"block_size"`
	// MaxBytes caps the memory all cached blocks use. Default 256MiB.
	MaxBytes ByteSize `yaml:"max_bytes"`
	// ReadAhead is how many blocks to prefetch for a sequential reader.
	// Default 2.
	ReadAhead *int `yaml:"read_ahead"`
}

// AuthConfig holds credentials for signed and token mounts.
type AuthConfig struct {
	// Keys sign and verify share links. The first key signs; the others
	// only verify, so that keys can rotate.
	Keys []SigningKey `yaml:"keys"`
	// ClockSkew is how far past expiry a link is still accepted. Default 30s.
	ClockSkew time.Duration `yaml:"clock_skew"`
	// PlaybackGrace keeps a playback started with a valid link working
	// after the link expires, through a cookie scoped to that one file
	// that each request renews. Default 2h; 0s disables it.
	PlaybackGrace *time.Duration `yaml:"playback_grace"`
	// MaxGrace is the hard limit past a link's expiry that no renewal
	// crosses. Default 12h.
	MaxGrace time.Duration `yaml:"max_grace"`
	// Tokens are bearer tokens, stored as the SHA-256 of the token.
	Tokens []TokenConfig `yaml:"tokens"`
	// SecureCookies marks the playback-grace cookie Secure even when the
	// request reached rangeserve over plain HTTP: set it when a proxy in
	// front terminates TLS. Default false (Secure only over TLS).
	SecureCookies bool `yaml:"secure_cookies"`
}

// SigningKey is one HMAC key for share links.
type SigningKey struct {
	// ID names the key in links (kid); it must be unique.
	ID string `yaml:"id"`
	// SecretEnv names the environment variable holding the secret.
	SecretEnv string `yaml:"secret_env"`
	// Secret is the secret itself, for tests; prefer SecretEnv.
	Secret string `yaml:"secret"`
}

// TokenConfig is one bearer token.
type TokenConfig struct {
	// Name identifies the token in logs.
	Name string `yaml:"name"`
	// SHA256 is the lowercase hex SHA-256 of the token
	// (`printf %s "$TOKEN" | sha256sum`).
	SHA256 string `yaml:"sha256"`
	// Mounts are the mount prefixes (optionally followed by a key prefix)
	// the token may read.
	Mounts []string `yaml:"mounts"`
	// Admin allows the admin API (POST /api/links).
	Admin bool `yaml:"admin"`
}

// Mount maps a URL prefix to a storage backend.
type Mount struct {
	// Prefix is the URL path prefix, starting and ending with "/".
	Prefix string `yaml:"prefix"`
	// Backend is local or s3.
	Backend string `yaml:"backend"`
	// Root is the directory a local mount serves.
	Root string `yaml:"root"`
	// FollowSymlinks lets a local mount follow symlinks that leave Root.
	// Default false.
	FollowSymlinks bool `yaml:"follow_symlinks"`
	// AllowHidden serves keys with a segment that starts with a dot
	// (.env, .git/config), on every backend. Default false.
	AllowHidden bool `yaml:"allow_hidden"`
	// S3 configures an s3 mount.
	S3 *S3Config `yaml:"s3"`
	// Auth is the policy: public, signed, token or signed-or-token.
	// Required: a mount must say who may read it.
	Auth string `yaml:"auth"`
	// Mode is serve (default), x-accel, x-sendfile or redirect (s3 only).
	Mode string `yaml:"mode"`
	// CacheControl is sent on every successful response. Default none.
	CacheControl string `yaml:"cache_control"`
	// MaxRanges caps the ranges of one request, after coalescing. Default 32.
	MaxRanges int `yaml:"max_ranges"`
	// XAccel configures mode x-accel.
	XAccel XAccelConfig `yaml:"x_accel"`
	// RedirectTTL is the lifetime of presigned URLs in mode redirect.
	// Default 15m, at most 168h (7 days).
	RedirectTTL time.Duration `yaml:"redirect_ttl"`
}

// XAccelConfig configures delegation to nginx.
type XAccelConfig struct {
	// InternalPrefix is the nginx internal location, e.g. /_protected.
	InternalPrefix string `yaml:"internal_prefix"`
	// Buffering is sent as X-Accel-Buffering (yes or no) when set.
	Buffering string `yaml:"buffering"`
	// LimitRate is sent as X-Accel-Limit-Rate (bytes/s) when set.
	LimitRate string `yaml:"limit_rate"`
}

// S3Config configures an S3-compatible mount.
type S3Config struct {
	// Endpoint is host[:port], without scheme.
	Endpoint string `yaml:"endpoint"`
	// Bucket is the bucket to serve.
	Bucket string `yaml:"bucket"`
	// Prefix is prepended to every key.
	Prefix string `yaml:"prefix"`
	// Region, if the store needs one. Default none (auto).
	Region string `yaml:"region"`
	// TLS uses https. Default true.
	TLS *bool `yaml:"tls"`
	// PathStyle forces path-style requests (MinIO). Default false (auto).
	PathStyle bool `yaml:"path_style"`
	// AccessKeyEnv and SecretKeyEnv name the environment variables
	// holding the credentials.
	AccessKeyEnv string `yaml:"access_key_env"`
	SecretKeyEnv string `yaml:"secret_key_env"`
	// AccessKey and SecretKey hold credentials inline; prefer the *Env
	// forms.
	AccessKey string `yaml:"access_key"`
	SecretKey string `yaml:"secret_key"`
	// Timeout bounds each backend request. Default 30s.
	Timeout time.Duration `yaml:"timeout"`
	// Cache puts the shared block cache in front of this mount.
	// Default true.
	Cache *bool `yaml:"cache"`
	// StatTTL is how long an object's metadata (size, ETag, type) from
	// one HEAD serves later requests, so that a player's burst of ranges
	// does not cost a HEAD each. A replaced object is served as its old
	// version for at most that long, never mixed: reads stay pinned to
	// the ETag, and a refused one makes rangeserve ask again. Default 1s;
	// 0s asks on every request.
	StatTTL *time.Duration `yaml:"stat_ttl"`
}

// StreamConfig is media's flush policy (media.Options.FlushBytes and
// FlushInterval); 0 leaves media's defaults.
type StreamConfig struct {
	// FlushBytes sends buffered bytes once this many are pending. Default
	// 32KiB; at most 4MiB.
	FlushBytes ByteSize `yaml:"flush_bytes"`
	// FlushInterval sends a buffered byte at most this long after it was
	// written. Default 20ms.
	FlushInterval time.Duration `yaml:"flush_interval"`
}

// FollowConfig configures ?follow=1 (media.Options.FollowIdleTimeout).
type FollowConfig struct {
	// IdleTimeout ends a ?follow=1 response once the file has not grown
	// for this long. Default 10s.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
}

// ByteSize is a size in bytes written as a number or with a unit:
// 512, 64KiB, 1MiB, 2GiB, 10MB.
type ByteSize int64

// UnmarshalYAML implements yaml.Unmarshaler.
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	v, err := parseByteSize(n.Value)
	if err != nil {
		return err
	}
	*b = ByteSize(v)
	return nil
}

func parseByteSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	units := []struct {
		suffix string
		mult   int64
	}{
		{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
		{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"B", 1},
	}
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.mult
			break
		}
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < 0 || v > (1<<62)/mult {
		return 0, fmt.Errorf("%q is not a size: write a number of bytes or one with a unit such as 64KiB, 1MiB or 2GiB", s)
	}
	return v * mult, nil
}

// configError is a validation error at a path of keys, such as
// mounts[1].auth, with the line of that key when it is known.
type configError struct {
	file string
	line int
	path string
	msg  string
}

func (e *configError) Error() string {
	loc := e.file
	if e.line > 0 {
		loc += ":" + strconv.Itoa(e.line)
	}
	if e.path == "" {
		return fmt.Sprintf("%s: %s", loc, e.msg)
	}
	return fmt.Sprintf("%s: %s: %s", loc, e.path, e.msg)
}

// loadConfig reads the configuration from file, or the compiled-in
// default when file is "" and there is no config.yaml in the working
// directory. It returns the config and the name it was read from.
func loadConfig(file string, embedded []byte) (*Config, string, error) {
	var data []byte
	name := file
	dir := "."
	switch {
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, file, fmt.Errorf("reading config: %w (pass -config PATH to a readable config.yaml)", err)
		}
		data, dir = b, filepath.Dir(file)
	default:
		if b, err := os.ReadFile("config.yaml"); err == nil {
			data, name = b, "config.yaml"
		} else {
			data, name = embedded, "config.yaml (compiled-in default)"
		}
	}
	cfg, err := parseConfig(name, data)
	if err != nil {
		return nil, name, err
	}
	cfg.dir = dir
	return cfg, name, nil
}

// parseConfig decodes and validates a config. Unknown keys are errors, so
// a typo does not silently fall back to a default.
func parseConfig(name string, data []byte) (*Config, error) {
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, errEOF) || strings.Contains(err.Error(), "EOF") {
			return nil, &configError{file: name, msg: "the file is empty: it needs at least one entry under mounts"}
		}
		return nil, fmt.Errorf("%s: %w", name, yamlErr(err))
	}
	var cfg Config
	dec = yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		return nil, fmt.Errorf("%s: %w", name, yamlErr(err))
	}
	if err := cfg.validate(); err != nil {
		var ce *configError
		if errors.As(err, &ce) {
			ce.file = name
			ce.line = lineOf(&root, ce.path)
		}
		return nil, err
	}
	return &cfg, nil
}

var errEOF = errors.New("EOF")

// yamlErr makes the YAML library's errors read as one line.
func yamlErr(err error) error {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		return errors.New(strings.Join(te.Errors, "; "))
	}
	return err
}

// lineOf finds the line of a key path such as "mounts[1].auth" in the
// document, or of its nearest existing parent.
func lineOf(doc *yaml.Node, path string) int {
	n := doc
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	line := n.Line
	for part := range strings.SplitSeq(path, ".") {
		name, idx := part, -1
		if i := strings.IndexByte(part, '['); i >= 0 && strings.HasSuffix(part, "]") {
			name = part[:i]
			idx, _ = strconv.Atoi(part[i+1 : len(part)-1])
		}
		if name != "" {
			if n.Kind != yaml.MappingNode {
				return line
			}
			var next *yaml.Node
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == name {
					line = n.Content[i].Line
					next = n.Content[i+1]
					break
				}
			}
			if next == nil {
				return line
			}
			n = next
		}
		if idx >= 0 {
			if n.Kind != yaml.SequenceNode || idx >= len(n.Content) {
				return line
			}
			n = n.Content[idx]
			line = n.Line
		}
	}
	return line
}

func errAt(path, format string, args ...any) error {
	return &configError{path: path, msg: fmt.Sprintf(format, args...)}
}

var (
	policies = []string{"public", "signed", "token", "signed-or-token"}
	modes    = []string{"serve", "x-accel", "x-sendfile", "redirect"}
)

// validate checks the config and fills in defaults.
func (c *Config) validate() error {
	if c.Listen == "" {
		c.Listen = "127.0.0.1:8080"
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return errAt("listen", "%q is not host:port (for example 127.0.0.1:8080 or :8080)", c.Listen)
	}
	switch c.Log.Level {
	case "":
		c.Log.Level = "info"
	case "debug", "info", "warn", "error":
	default:
		return errAt("log.level", "%q is not one of debug, info, warn, error", c.Log.Level)
	}
	switch c.Log.Format {
	case "":
		c.Log.Format = "text"
	case "text", "json":
	default:
		return errAt("log.format", "%q is not one of text, json", c.Log.Format)
	}
	if c.Log.Access == nil {
		t := true
		c.Log.Access = &t
	}
	s := &c.Server
	setDur(&s.ReadHeaderTimeout, 10*time.Second)
	setDur(&s.IdleTimeout, 120*time.Second)
	setDur(&s.ShutdownTimeout, 30*time.Second)
	if s.MaxHeaderBytes == 0 {
		s.MaxHeaderBytes = 64 << 10
	}
	if s.MaxHeaderBytes < 4<<10 {
		return errAt("server.max_header_bytes", "%d is too small: browsers send several KiB of headers; use at least 4KiB", s.MaxHeaderBytes)
	}
	for i, p := range s.TrustedProxies {
		pfx, err := netip.ParsePrefix(p)
		if err != nil {
			a, aerr := netip.ParseAddr(p)
			if aerr != nil {
				return errAt(fmt.Sprintf("server.trusted_proxies[%d]", i), "%q is not an address or CIDR prefix such as 127.0.0.1/32", p)
			}
			pfx = netip.PrefixFrom(a, a.BitLen())
		}
		s.trusted = append(s.trusted, pfx.Masked())
	}
	if c.Cache.BlockSize == 0 {
		c.Cache.BlockSize = 1 << 20
	}
	if c.Cache.MaxBytes == 0 {
		c.Cache.MaxBytes = 256 << 20
	}
	if c.Cache.BlockSize < 4<<10 || c.Cache.BlockSize > 64<<20 {
		return errAt("cache.block_size", "%d is out of range: use 4KiB to 64MiB (1MiB suits video)", c.Cache.BlockSize)
	}
	if c.Cache.MaxBytes < c.Cache.BlockSize*4 {
		return errAt("cache.max_bytes", "%d holds fewer than 4 blocks of %d bytes: raise it or lower cache.block_size", c.Cache.MaxBytes, c.Cache.BlockSize)
	}
	if s.GCPercent == 0 {
		s.GCPercent = 400
	}
	if s.GCPercent < 25 || s.GCPercent > 2000 {
		return errAt("server.gc_percent", "%d is out of range: use 25 to 2000 (Go's default is 100, rangeserve's 400)", s.GCPercent)
	}
	if s.MemoryLimit == 0 {
		s.MemoryLimit = c.Cache.MaxBytes + 256<<20
	}
	if s.MemoryLimit < c.Cache.MaxBytes+64<<20 {
		return errAt("server.memory_limit", "%d leaves less than 64MiB beyond cache.max_bytes (%d): raise it or lower the cache", s.MemoryLimit, c.Cache.MaxBytes)
	}
	if c.Cache.ReadAhead == nil {
		ra := 2
		c.Cache.ReadAhead = &ra
	} else if *c.Cache.ReadAhead < 0 || *c.Cache.ReadAhead > 16 {
		return errAt("cache.read_ahead", "%d is out of range: use 0 (off) to 16 blocks", *c.Cache.ReadAhead)
	}
	if err := c.Auth.validate(); err != nil {
		return err
	}
	if len(c.Mounts) == 0 {
		return errAt("mounts", "no mounts: add at least one, e.g. {prefix: /, backend: local, root: testdata, auth: public}")
	}
	seen := map[string]int{}
	for i := range c.Mounts {
		p := fmt.Sprintf("mounts[%d]", i)
		m := &c.Mounts[i]
		if err := m.validate(p, c); err != nil {
			return err
		}
		if j, dup := seen[m.Prefix]; dup {
			return errAt(p+".prefix", "%q is also the prefix of mounts[%d]: each prefix may be mounted once", m.Prefix, j)
		}
		seen[m.Prefix] = i
	}
	return nil
}

func setDur(d *time.Duration, def time.Duration) {
	if *d == 0 {
		*d = def
	}
}

func (a *AuthConfig) validate() error {
	setDur(&a.ClockSkew, 30*time.Second)
	if a.PlaybackGrace == nil {
		g := 2 * time.Hour
		a.PlaybackGrace = &g
	}
	setDur(&a.MaxGrace, 12*time.Hour)
	if a.ClockSkew < 0 || a.ClockSkew > 10*time.Minute {
		return errAt("auth.clock_skew", "%s is out of range: use 0 to 10m", a.ClockSkew)
	}
	if *a.PlaybackGrace < 0 || *a.PlaybackGrace > a.MaxGrace {
		return errAt("auth.playback_grace", "%s must be between 0 (off) and auth.max_grace (%s)", *a.PlaybackGrace, a.MaxGrace)
	}
	ids := map[string]bool{}
	for i := range a.Keys {
		k := &a.Keys[i]
		p := fmt.Sprintf("auth.keys[%d]", i)
		if k.ID == "" || strings.ContainsAny(k.ID, "&=?#/ ") {
			return errAt(p+".id", "missing or not URL-safe: use letters, digits, '-' or '_' (it appears in links as kid)")
		}
		if ids[k.ID] {
			return errAt(p+".id", "%q is used by another key: ids must be unique", k.ID)
		}
		ids[k.ID] = true
		switch {
		case k.SecretEnv != "" && k.Secret != "":
			return errAt(p, "set secret_env or secret, not both")
		case k.SecretEnv != "":
			v := os.Getenv(k.SecretEnv)
			if v == "" {
				return errAt(p+".secret_env", "environment variable %s is empty or unset: export it with a random secret of at least 32 bytes (e.g. `openssl rand -base64 48`)", k.SecretEnv)
			}
			k.Secret = v
		case k.Secret == "":
			return errAt(p, "no secret: set secret_env to the name of an environment variable holding it")
		}
		if len(k.Secret) < 32 {
			return errAt(p, "the secret is %d bytes: use at least 32 random bytes (e.g. `openssl rand -base64 48`)", len(k.Secret))
		}
	}
	for i, t := range a.Tokens {
		p := fmt.Sprintf("auth.tokens[%d]", i)
		if t.Name == "" {
			return errAt(p+".name", "missing: name the token so logs can say who read what")
		}
		if len(t.SHA256) != 64 || strings.Trim(strings.ToLower(t.SHA256), "0123456789abcdef") != "" {
			return errAt(p+".sha256", "not a SHA-256 in hex: store `printf %%s \"$TOKEN\" | sha256sum`, never the token itself")
		}
		if len(t.Mounts) == 0 && !t.Admin {
			return errAt(p+".mounts", "empty: list the mount prefixes this token may read")
		}
	}
	return nil
}

func (m *Mount) validate(p string, c *Config) error {
	if m.Prefix == "" || m.Prefix[0] != '/' {
		return errAt(p+".prefix", "%q must start with /", m.Prefix)
	}
	if strings.Contains(m.Prefix, "//") || strings.Contains(m.Prefix, "/../") || strings.Contains(m.Prefix, "/./") {
		return errAt(p+".prefix", "%q is not a clean path", m.Prefix)
	}
	if !strings.HasSuffix(m.Prefix, "/") {
		m.Prefix += "/"
	}
	if strings.HasPrefix(m.Prefix, "/api/") {
		return errAt(p+".prefix", "/api/ is reserved for rangeserve's own API")
	}
	if m.Auth == "" {
		return errAt(p+".auth", "missing: state who may read this mount, one of %s", strings.Join(policies, ", "))
	}
	if !slices.Contains(policies, m.Auth) {
		return errAt(p+".auth", "%q is not one of %s", m.Auth, strings.Join(policies, ", "))
	}
	if (m.Auth == "signed" || m.Auth == "signed-or-token") && len(c.Auth.Keys) == 0 {
		return errAt(p+".auth", "%q needs at least one signing key under auth.keys", m.Auth)
	}
	if m.Auth != "public" && strings.HasPrefix(strings.TrimSpace(strings.ToLower(m.CacheControl)), "public") {
		return errAt(p+".cache_control", "%q lets shared caches keep files of a %s mount and hand them to anyone: use private (e.g. \"private, max-age=3600\")", m.CacheControl, m.Auth)
	}
	if (m.Auth == "token" || m.Auth == "signed-or-token") && len(c.Auth.Tokens) == 0 {
		return errAt(p+".auth", "%q needs at least one token under auth.tokens", m.Auth)
	}
	if m.Mode == "" {
		m.Mode = "serve"
	}
	if !slices.Contains(modes, m.Mode) {
		return errAt(p+".mode", "%q is not one of %s", m.Mode, strings.Join(modes, ", "))
	}
	if m.MaxRanges == 0 {
		m.MaxRanges = 32
	}
	if m.MaxRanges < 1 || m.MaxRanges > 1024 {
		return errAt(p+".max_ranges", "%d is out of range: use 1 to 1024", m.MaxRanges)
	}
	switch m.Backend {
	case "local":
		if m.Root == "" {
			return errAt(p+".root", "missing: a local mount needs the directory to serve")
		}
		if m.S3 != nil {
			return errAt(p+".s3", "set on a local mount: remove it or use backend: s3")
		}
		if m.Mode == "redirect" {
			return errAt(p+".mode", "redirect needs an s3 backend (presigned URLs); use x-accel or x-sendfile for local files")
		}
	case "s3":
		if m.S3 == nil {
			return errAt(p+".s3", "missing: an s3 mount needs endpoint and bucket")
		}
		if err := m.S3.validate(p + ".s3"); err != nil {
			return err
		}
		if m.Mode == "x-sendfile" {
			return errAt(p+".mode", "x-sendfile needs files on local disk; use redirect or serve for s3")
		}
	case "":
		return errAt(p+".backend", "missing: one of local, s3")
	default:
		return errAt(p+".backend", "%q is not one of local, s3", m.Backend)
	}
	if m.Mode == "x-accel" {
		ip := m.XAccel.InternalPrefix
		if ip == "" || ip[0] != '/' {
			return errAt(p+".x_accel.internal_prefix", "missing or not starting with /: name the nginx location marked internal, e.g. /_protected")
		}
		m.XAccel.InternalPrefix = strings.TrimSuffix(ip, "/")
		switch m.XAccel.Buffering {
		case "", "yes", "no":
		default:
			return errAt(p+".x_accel.buffering", "%q is not yes or no", m.XAccel.Buffering)
		}
	}
	if m.Mode == "redirect" {
		setDur(&m.RedirectTTL, 15*time.Minute)
		if m.RedirectTTL < time.Second || m.RedirectTTL > 7*24*time.Hour {
			return errAt(p+".redirect_ttl", "%s is out of range: presigned URLs live 1s to 168h (7 days)", m.RedirectTTL)
		}
	}
	return nil
}

func (s *S3Config) validate(p string) error {
	if s.Endpoint == "" || strings.Contains(s.Endpoint, "://") {
		return errAt(p+".endpoint", "%q must be host[:port] without a scheme (set tls: false for http)", s.Endpoint)
	}
	if s.Bucket == "" {
		return errAt(p+".bucket", "missing")
	}
	if s.TLS == nil {
		t := true
		s.TLS = &t
	}
	if s.Cache == nil {
		t := true
		s.Cache = &t
	}
	setDur(&s.Timeout, 30*time.Second)
	if s.StatTTL == nil {
		d := time.Second
		s.StatTTL = &d
	} else if *s.StatTTL < 0 || *s.StatTTL > time.Hour {
		return errAt(p+".stat_ttl", "%v is out of range: use 0s (a HEAD per request) to 1h", *s.StatTTL)
	}
	for _, kv := range []struct {
		env, inline *string
		name        string
	}{
		{&s.AccessKeyEnv, &s.AccessKey, "access_key"},
		{&s.SecretKeyEnv, &s.SecretKey, "secret_key"},
	} {
		if *kv.env != "" {
			if *kv.inline != "" {
				return errAt(p, "set %s_env or %s, not both", kv.name, kv.name)
			}
			v := os.Getenv(*kv.env)
			if v == "" {
				return errAt(p+"."+kv.name+"_env", "environment variable %s is empty or unset", *kv.env)
			}
			*kv.inline = v
		}
	}
	return nil
}

// root resolves a mount's root against the config's directory.
func (c *Config) path(p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(c.dir, p)
}
