package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/rangeserve/rangeserve/auth"
	"github.com/rangeserve/rangeserve/cors"
	"github.com/rangeserve/rangeserve/health"
	"github.com/rangeserve/rangeserve/limits"
	"github.com/rangeserve/rangeserve/media"
	"github.com/rangeserve/rangeserve/rangeio"
	"github.com/rangeserve/rangeserve/server"
	"github.com/rangeserve/rangeserve/storage/local"
	"github.com/rangeserve/rangeserve/storage/s3"
	"github.com/rangeserve/rangeserve/zipstream"
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
	// Metrics configures the Prometheus endpoint.
	Metrics MetricsConfig `yaml:"metrics"`

	// dir is the directory relative paths are resolved against.
	dir string
	// doc is the parsed document, to tell keys set to zero from keys
	// left out, and to find their lines.
	doc *yaml.Node
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

// MetricsConfig configures /metrics.
type MetricsConfig struct {
	// Enabled serves Prometheus metrics at /metrics. Default true.
	Enabled *bool `yaml:"enabled"`
	// Listen is host:port of a listener of their own for /metrics (and
	// /healthz and /readyz), such as 127.0.0.1:9100, to keep them off the
	// public listener. Default "": /metrics on the main listener.
	Listen string `yaml:"listen"`
}

// ServerConfig holds HTTP server limits.
type ServerConfig struct {
	// ReadHeaderTimeout bounds reading a request's headers. Default 10s
	// (server.DefaultReadHeaderTimeout).
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`
	// IdleTimeout closes idle keep-alive connections. Default 120s
	// (server.DefaultIdleTimeout).
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// MaxHeaderBytes bounds the request line and headers together, as
	// sent: a request whose head is larger gets 431. Default 64KiB
	// (server.DefaultMaxHeaderBytes); 8KiB to 1GiB.
	MaxHeaderBytes ByteSize `yaml:"max_header_bytes"`
	// ShutdownTimeout is how long SIGINT/SIGTERM lets requests in flight
	// run before closing their connections. Default 30s
	// (server.DefaultShutdownTimeout).
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// DrainDelay is how long SIGTERM keeps accepting connections with
	// /readyz answering 503 before the listener closes, so that a load
	// balancer takes the node out first. Default 0s.
	DrainDelay time.Duration `yaml:"drain_delay"`
	// TLS serves HTTPS, HTTP/2 and HTTP/1.1, with a certificate and its
	// key (PEM files, the chain first). SIGHUP reads them again. Default
	// none: plain HTTP.
	TLS TLSConfig `yaml:"tls"`
	// H2C also serves HTTP/2 without TLS to clients that start with it
	// (prior knowledge), for a TLS proxy in front that speaks HTTP/2 to
	// rangeserve. Default false.
	H2C bool `yaml:"h2c"`
	// WriteIdleTimeout is how long a file response may go without a
	// write completing before its connection is dropped; it moves
	// forward as bytes flow, so slow but live clients keep their streams.
	// Default 60s (limits.DefaultWriteIdleTimeout); 0s turns it off.
	WriteIdleTimeout time.Duration `yaml:"write_idle_timeout"`
	// MaxStreams caps the file requests running at once; the next gets
	// 429 with Retry-After. Default 4096 (limits.DefaultMaxStreams); 0
	// turns the cap off.
	MaxStreams int `yaml:"max_streams"`
	// MaxStreamsPerClient caps the file requests running at once from one
	// client address (trusted_proxies apply). Default 64
	// (limits.DefaultMaxStreamsPerClient); 0 turns the cap off.
	MaxStreamsPerClient int `yaml:"max_streams_per_client"`
	// RetryAfter is the Retry-After of a 429. Default 5s
	// (limits.DefaultRetryAfter).
	RetryAfter time.Duration `yaml:"retry_after"`
	// ConnRate caps the bytes sent per second on one connection, written
	// as a size (1MiB is 1 MiB/s). Default none.
	ConnRate ByteSize `yaml:"conn_rate"`
	// LinkRate caps the bytes sent per second, in total, to the requests
	// carrying one share link (a download manager's parallel
	// connections share it). Default none.
	LinkRate ByteSize `yaml:"link_rate"`
	// ProbeTimeout bounds each mount's readiness probe (/readyz): a stat
	// of a local root, a HEAD of an S3 bucket. Default 2s
	// (health.DefaultTimeout).
	ProbeTimeout time.Duration `yaml:"probe_timeout"`
	// TrustedProxies are the addresses (CIDR) of front proxies, such as
	// nginx, whose X-Forwarded-For names the real client for IP-bound
	// links and logs. Default none: the peer's address is the client.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// GCPercent is the Go garbage collector's GOGC. Default 100, Go's
	// own: a file server's live heap is a few MiB, and the heap grows to
	// (1 + GCPercent/100) times it between collections and stays resident
	// after a burst. 400 cut the CPU per small request by 4-12% on the
	// benchmark machine but raised the RSS after a burst of small
	// requests from 22.6 to 34.6 MiB (1.25x -> 1.9x nginx's; see
	// BENCHMARKS.md), so it is a knob, not the default. The GOGC
	// environment variable wins.
	GCPercent int `yaml:"gc_percent"`
	// MemoryLimit is the Go runtime's soft memory limit (GOMEMLIMIT): the
	// collector works harder as the heap nears it. Default cache.max_bytes
	// + 256MiB. The GOMEMLIMIT environment variable wins.
	MemoryLimit ByteSize `yaml:"memory_limit"`

	trusted []netip.Prefix
}

// TLSConfig names the certificate files.
type TLSConfig struct {
	// CertFile is the certificate chain, PEM.
	CertFile string `yaml:"cert_file"`
	// KeyFile is the certificate's private key, PEM.
	KeyFile string `yaml:"key_file"`
}

// CacheConfig is the block cache in front of remote objects.
type CacheConfig struct {
	// BlockSize is the unit the cache keeps and fetches (runs of missing
	// blocks go in one request). Default 64KiB (rangeio.DefaultBlockSize).
	BlockSize ByteSize `yaml:"block_size"`
	// MaxBytes caps the memory all cached blocks use. Default 256MiB
	// (rangeio.DefaultCacheBytes).
	MaxBytes ByteSize `yaml:"max_bytes"`
	// ReadAhead is how many blocks to prefetch for a sequential reader.
	// Default 2 (rangeio.DefaultReadAhead); 0 turns read-ahead off.
	ReadAhead *int `yaml:"read_ahead"`
	// Disk is a local-disk tier under the memory cache: blocks fetched
	// from s3 are kept in files there (checked by CRC-32C, pinned to the
	// object's ETag, kept across restarts), so that a popular object is
	// read from this host's disk after its first reader. Default none.
	Disk DiskCacheConfig `yaml:"disk"`
}

// DiskCacheConfig is cache.disk (rangeio.DiskConfig).
type DiskCacheConfig struct {
	// Dir is the directory of the files (relative paths are resolved
	// against the configuration file's directory). Default none: no disk
	// tier.
	Dir string `yaml:"dir"`
	// MaxBytes caps the files; the least recently used objects go first.
	// Default 10GiB (rangeio.DefaultDiskBytes).
	MaxBytes ByteSize `yaml:"max_bytes"`
}

// OpenFilesConfig is a local mount's open-file cache
// (storage/local.CacheOptions), what nginx calls open_file_cache.
type OpenFilesConfig struct {
	// Max is the most files kept open (and idle descriptors kept).
	// Default 1000 (local.DefaultCacheFiles); 0 turns the cache off.
	Max *int `yaml:"max"`
	// Valid is how long a cached file is served without looking its name
	// up again: a file replaced within it is served as the old version
	// (old ETag, old bytes) until then. Default 0s: the name is looked up
	// on every request.
	Valid time.Duration `yaml:"valid"`
	// MemoryFileSize is the largest file kept in memory. Default 64KiB
	// (local.DefaultMemoryFileSize); 0 keeps none.
	MemoryFileSize *ByteSize `yaml:"memory_file_size"`
	// MemoryBytes caps the memory of those files. Default 32MiB
	// (local.DefaultMemoryBytes).
	MemoryBytes ByteSize `yaml:"memory_bytes"`
}

// localCache maps a local mount's open_files section onto
// local.CacheOptions: max: 0 is local.NoCache, memory_file_size: 0 is
// local.NoMemoryFiles.
func (o *OpenFilesConfig) localCache() local.CacheOptions {
	if o == nil {
		return local.CacheOptions{}
	}
	c := local.CacheOptions{Valid: o.Valid, MemoryBytes: int64(o.MemoryBytes)}
	if o.Max != nil {
		c.Files = *o.Max
		if c.Files == 0 {
			c.Files = local.NoCache
		}
	}
	if o.MemoryFileSize != nil {
		c.MemoryFileSize = int64(*o.MemoryFileSize)
		if c.MemoryFileSize == 0 {
			c.MemoryFileSize = local.NoMemoryFiles
		}
	}
	return c
}

// options maps the cache section onto rangeio's: a key left out is 0,
// rangeio's default; read_ahead: 0 is rangeio's off (a negative value).
func (c CacheConfig) options() rangeio.CacheConfig {
	o := rangeio.CacheConfig{BlockSize: int64(c.BlockSize), MaxBytes: int64(c.MaxBytes)}
	if c.ReadAhead != nil {
		o.ReadAhead = *c.ReadAhead
		if o.ReadAhead == 0 {
			o.ReadAhead = rangeio.NoReadAhead
		}
	}
	return o
}

// maxBytes is the memory the cache will use, for the default of
// server.memory_limit.
func (c CacheConfig) maxBytes() int64 {
	if c.MaxBytes == 0 {
		return rangeio.DefaultCacheBytes
	}
	return int64(c.MaxBytes)
}

// AuthConfig holds credentials for signed and token mounts.
type AuthConfig struct {
	// Keys sign and verify share links. The first key signs; the others
	// only verify, so that keys can rotate.
	Keys []SigningKey `yaml:"keys"`
	// ClockSkew is how far past expiry a link is still accepted. Default
	// 30s (auth.DefaultSkew); 0s accepts nothing past expiry; at most 10m.
	ClockSkew time.Duration `yaml:"clock_skew"`
	// PlaybackGrace keeps a playback started with a valid link working
	// after the link expires, through a cookie scoped to that one file
	// that each request renews. Default 2h (auth.DefaultGrace); 0s turns
	// it off.
	PlaybackGrace time.Duration `yaml:"playback_grace"`
	// MaxGrace is the hard limit past a link's expiry that no renewal
	// crosses. Default 12h (auth.DefaultMaxGrace); 0s allows nothing past
	// expiry, which needs playback_grace: 0s too.
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
	// Links are the URL prefixes (mount, optionally followed by a key
	// prefix) an admin token may mint links for with POST /api/links, on
	// signed and signed-or-token mounts. Default none.
	Links []string `yaml:"links"`
	// MaxLinkTTL is the longest lifetime of a link this admin token
	// mints. Default 168h (7 days, auth.DefaultMaxLinkTTL).
	MaxLinkTTL time.Duration `yaml:"max_link_ttl"`
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
	// OpenFiles configures a local mount's open-file cache. Default: on,
	// with local's defaults.
	OpenFiles *OpenFilesConfig `yaml:"open_files"`
	// AllowHidden serves keys with a segment that starts with a dot
	// (.env, .git/config), on every backend. Default false.
	AllowHidden bool `yaml:"allow_hidden"`
	// S3 configures an s3 mount.
	S3 *S3Config `yaml:"s3"`
	// Auth is the policy: public, signed, token or signed-or-token.
	// Required: a mount must say who may read it.
	Auth string `yaml:"auth"`
	// Mode is serve (default), x-accel, x-sendfile (local only) or
	// redirect (s3 only).
	Mode string `yaml:"mode"`
	// CacheControl is sent on every successful response. Default none.
	CacheControl string `yaml:"cache_control"`
	// MaxRanges caps the ranges of one request, after coalescing; a
	// request for more gets the whole file. Default 32
	// (rangeio.DefaultMaxRanges).
	MaxRanges int `yaml:"max_ranges"`
	// Faststart is on or off: serve MP4/MOV/M4A/M4V files whose moov
	// follows the media data as virtual faststart files (moov first;
	// ?original=1 gets the stored bytes). Default on in mode serve, off in
	// x-accel and x-sendfile (where on makes rangeserve serve those files
	// itself); mode redirect refuses on.
	Faststart string `yaml:"faststart"`
	// XAccel configures mode x-accel.
	XAccel XAccelConfig `yaml:"x_accel"`
	// Archives serves a folder as one ZIP archive on
	// GET <folder>/?archive=zip (the UI's "Download ZIP"). Default true;
	// false answers such requests 404.
	Archives *bool `yaml:"archives"`
	// ArchiveMaxEntries is the most files and folders one archive may
	// hold; a larger folder is refused with 403. Default 200000
	// (zipstream.DefaultMaxEntries).
	ArchiveMaxEntries int `yaml:"archive_max_entries"`
	// ArchiveConcurrency is the most archives the mount lists or
	// deflates at once; more are answered 503 with Retry-After: 1.
	// Default 4 (media.DefaultArchiveConcurrency).
	ArchiveConcurrency int `yaml:"archive_concurrency"`
	// NestedIn lists the prefixes of the mounts (as written there, such
	// as /media/) whose root holds this mount's files and whose policy is
	// weaker: start-up refuses such a layout unless it is listed here.
	NestedIn []string `yaml:"nested_in"`
	// RedirectTTL is the lifetime of presigned URLs in mode redirect.
	// Default media.DefaultRedirectTTL; at most 168h (7 days). A presigned
	// URL never outlives the share link that authorized the request.
	RedirectTTL time.Duration `yaml:"redirect_ttl"`
	// CORS lets pages of other origins read this mount's files (a
	// <video crossorigin>, fetch()). Default none.
	CORS *CORSConfig `yaml:"cors"`
}

// CORSConfig is a mount's cross-origin policy.
type CORSConfig struct {
	// AllowedOrigins are the origins (scheme://host[:port]) whose pages
	// may read the mount, or ["*"] for every origin.
	AllowedOrigins []string `yaml:"allowed_origins"`
	// AllowCredentials lets those pages send cookies (the playback grace
	// cookie) and read the answer; the origin is then echoed, never "*".
	// Default false.
	AllowCredentials bool `yaml:"allow_credentials"`
	// MaxAge is how long browsers may cache a preflight answer. Default
	// 10m (cors.DefaultMaxAge); 0s sends none.
	MaxAge time.Duration `yaml:"max_age"`
	// ExposeHeaders are response headers exposed besides Content-Range,
	// Accept-Ranges, Content-Length, ETag and Content-Disposition.
	ExposeHeaders []string `yaml:"expose_headers"`
	// AllowHeaders are request headers a preflight admits besides Range
	// and the If-* headers (Authorization, for bearer tokens).
	AllowHeaders []string `yaml:"allow_headers"`
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
	// TLS uses https. Default true (s3.Options.DisableTLS false).
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
	// Timeout bounds each backend request. Default 30s
	// (s3.DefaultTimeout).
	Timeout time.Duration `yaml:"timeout"`
	// Cache puts the shared block cache in front of this mount.
	// Default true.
	Cache *bool `yaml:"cache"`
	// StatTTL is how long an object's metadata (size, ETag, type) from
	// one HEAD serves later requests, so that a player's burst of ranges
	// does not cost a HEAD each. A replaced object is served as its old
	// version for at most that long, never mixed: reads stay pinned to
	// the ETag, and a refused one makes rangeserve ask again. Default 1s
	// (s3.DefaultStatTTL); 0s asks on every request; at most 1h.
	StatTTL time.Duration `yaml:"stat_ttl"`
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
	cfg, err := parseConfig(name, dir, data)
	if err != nil {
		return nil, name, err
	}
	return cfg, name, nil
}

// parseConfig decodes and validates a config read from the file name in
// the directory dir, against which relative roots are resolved. Unknown
// keys are errors, so a typo does not silently fall back to a default.
func parseConfig(name, dir string, data []byte) (*Config, error) {
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &configError{file: name, msg: "the file is empty: it needs at least one entry under mounts"}
		}
		return nil, fmt.Errorf("%s: %w", name, yamlErr(err))
	}
	cfg := Config{dir: dir, doc: &root}
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
	line, _ := findKey(doc, path)
	return line
}

// findKey finds a key path such as "mounts[1].auth" in the document and
// returns its line and whether it is there; when it is not, the line is
// that of its nearest existing parent.
func findKey(doc *yaml.Node, path string) (int, bool) {
	n := doc
	if n == nil {
		return 0, false
	}
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
				return line, false
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
				return line, false
			}
			n = next
		}
		if idx >= 0 {
			if n.Kind != yaml.SequenceNode || idx >= len(n.Content) {
				return line, false
			}
			n = n.Content[idx]
			line = n.Line
		}
	}
	return line, true
}

// set reports whether the config file spells out the key path: a zero
// value there was written, not left to the default.
func (c *Config) set(path string) bool {
	_, ok := findKey(c.doc, path)
	return ok
}

// zeroRefused returns an error for a key set to zero where zero cannot
// mean what it says (the library would read it as its default).
func (c *Config) zeroRefused(path string, zero bool, what string) error {
	if zero && c.set(path) {
		return errAt(path, "0 would silently mean the default: %s", what)
	}
	return nil
}

func errAt(path, format string, args ...any) error {
	return &configError{path: path, msg: fmt.Sprintf(format, args...)}
}

var policies = []string{"public", "signed", "token", "signed-or-token"}

// validate checks the config and fills in defaults.
func (c *Config) validate() error {
	if c.Listen == "" {
		c.Listen = "127.0.0.1:8080"
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return errAt("listen", "%q is not host:port (for example 127.0.0.1:8080 or :8080)", c.Listen)
	}
	if c.Metrics.Enabled == nil {
		t := true
		c.Metrics.Enabled = &t
	}
	if l := c.Metrics.Listen; l != "" {
		if _, _, err := net.SplitHostPort(l); err != nil {
			return errAt("metrics.listen", "%q is not host:port (for example 127.0.0.1:9100)", l)
		}
		if l == c.Listen {
			return errAt("metrics.listen", "%q is also listen: leave metrics.listen out to serve /metrics there", l)
		}
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
	for _, z := range []struct {
		key  string
		zero bool
		what string
	}{
		{"server.read_header_timeout", s.ReadHeaderTimeout == 0, fmt.Sprintf("rangeserve always bounds reading headers; remove the key for %v or give a duration", server.DefaultReadHeaderTimeout)},
		{"server.idle_timeout", s.IdleTimeout == 0, fmt.Sprintf("idle connections are always closed in the end; remove the key for %v or give a duration", server.DefaultIdleTimeout)},
		{"server.shutdown_timeout", s.ShutdownTimeout == 0, fmt.Sprintf("remove the key for %v, or give the time requests in flight get to finish", server.DefaultShutdownTimeout)},
		{"server.max_header_bytes", s.MaxHeaderBytes == 0, fmt.Sprintf("remove the key for %s or give a size", sizeString(server.DefaultMaxHeaderBytes))},
		{"server.probe_timeout", s.ProbeTimeout == 0, fmt.Sprintf("readiness probes are always bounded; remove the key for %v or give a duration", health.DefaultTimeout)},
		{"server.retry_after", s.RetryAfter == 0, fmt.Sprintf("remove the key for %v or give a duration", limits.DefaultRetryAfter)},
		{"server.gc_percent", s.GCPercent == 0, "remove the key for 100 or use 25 to 2000"},
		{"server.memory_limit", s.MemoryLimit == 0, "remove the key for cache.max_bytes + 256MiB or give a size"},
		{"cache.block_size", c.Cache.BlockSize == 0, fmt.Sprintf("remove the key for %s or give a size", sizeString(rangeio.DefaultBlockSize))},
		{"cache.max_bytes", c.Cache.MaxBytes == 0, fmt.Sprintf("remove the key for %s; to read an s3 mount without the cache, set cache: false in its s3 section", sizeString(rangeio.DefaultCacheBytes))},
	} {
		if err := c.zeroRefused(z.key, z.zero, z.what); err != nil {
			return err
		}
	}
	if s.DrainDelay < 0 {
		return errAt("server.drain_delay", "%v is negative", s.DrainDelay)
	}
	if s.ProbeTimeout < 0 {
		return errAt("server.probe_timeout", "%v is negative", s.ProbeTimeout)
	}
	if err := c.serverOptions(nil, 0).Validate(); err != nil {
		return optionError(err, "server", serverKeys)
	}
	if _, err := limits.New(c.limitsOptions()); err != nil {
		return optionError(err, "server", limitsKeys)
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
	if err := c.Cache.options().Validate(); err != nil {
		return optionError(err, "cache", map[string]string{"BlockSize": "block_size", "MaxBytes": "max_bytes", "ReadAhead": "read_ahead"})
	}
	max := c.Cache.maxBytes()
	if s.GCPercent == 0 {
		s.GCPercent = 100
	}
	if s.GCPercent < 25 || s.GCPercent > 2000 {
		return errAt("server.gc_percent", "%d is out of range: use 25 to 2000 (the default is Go's, 100)", s.GCPercent)
	}
	if s.MemoryLimit == 0 {
		s.MemoryLimit = ByteSize(max) + 256<<20
	}
	if s.MemoryLimit < ByteSize(max)+64<<20 {
		return errAt("server.memory_limit", "%d leaves less than 64MiB beyond cache.max_bytes (%d): raise it or lower the cache", s.MemoryLimit, max)
	}
	if ra := c.Cache.ReadAhead; ra != nil && *ra < 0 {
		return errAt("cache.read_ahead", "%d is negative: use 0 (off) to %d blocks", *ra, rangeio.MaxReadAhead)
	}
	if d := c.Cache.Disk; d.Dir == "" && c.set("cache.disk.max_bytes") {
		return errAt("cache.disk.max_bytes", "set without cache.disk.dir: name the directory for the disk tier, or remove the key")
	}
	if err := c.zeroRefused("cache.disk.max_bytes", c.Cache.Disk.MaxBytes == 0, fmt.Sprintf("remove the key for %s or give a size", sizeString(rangeio.DefaultDiskBytes))); err != nil {
		return err
	}
	if err := c.validateAuth(); err != nil {
		return err
	}
	if err := c.checkStream(); err != nil {
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
	return c.checkNesting()
}

// sizeString writes n in the largest binary unit that divides it.
func sizeString(n int64) string {
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n >= u.mult && n%u.mult == 0 {
			return strconv.FormatInt(n/u.mult, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10)
}

// validateAuth resolves the secrets of auth.keys and checks the auth
// section with the auth library, which owns its defaults and rules.
func (c *Config) validateAuth() error {
	a := &c.Auth
	for i := range a.Keys {
		k := &a.Keys[i]
		p := fmt.Sprintf("auth.keys[%d]", i)
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
	}
	for i, t := range a.Tokens {
		if err := c.zeroRefused(fmt.Sprintf("auth.tokens[%d].max_link_ttl", i), t.MaxLinkTTL == 0, fmt.Sprintf("remove the key for %v, or give the longest lifetime of the links this token mints", auth.DefaultMaxLinkTTL)); err != nil {
			return err
		}
	}
	if keys, opts := c.signerOptions(); len(keys) > 0 {
		if _, err := auth.NewSigner(keys, opts); err != nil {
			return authError(err, "auth.keys", map[string]string{
				"Skew": "auth.clock_skew", "Grace": "auth.playback_grace", "MaxGrace": "auth.max_grace", "Keys": "auth.keys", "ID": ".id", "Secret": "",
			})
		}
	}
	if _, err := auth.NewTokens(c.tokens()); err != nil {
		return authError(err, "auth.tokens", map[string]string{
			"Name": ".name", "SHA256": ".sha256", "Mounts": ".mounts", "Links": ".links", "MaxLinkTTL": ".max_link_ttl", "Admin": ".admin",
		})
	}
	return nil
}

// authError turns an *auth.OptionError into a configError at the key the
// option comes from: keys maps an option of the whole set to its key path
// and an option of one entry ("ID", "Name", ...) to the key below list[i].
func authError(err error, list string, keys map[string]string) error {
	var oe *auth.OptionError
	if !errors.As(err, &oe) {
		return errAt(list, "%v", err)
	}
	path := list
	if oe.Index >= 0 {
		path = fmt.Sprintf("%s[%d]%s", list, oe.Index, keys[oe.Name])
	} else if k, ok := keys[oe.Name]; ok {
		path = k
	}
	return errAt(path, "%s", oe.Msg)
}

// offOr maps a duration of the config onto a library option whose zero
// means its default: a key left out is 0, and a key written as 0s is off.
func (c *Config) offOr(path string, d, off time.Duration) time.Duration {
	if d == 0 && c.set(path) {
		return off
	}
	return d
}

// signerOptions maps auth.keys, clock_skew, playback_grace and max_grace
// onto auth.NewSigner's arguments.
func (c *Config) signerOptions() ([]auth.Key, auth.SignerOptions) {
	a := &c.Auth
	keys := make([]auth.Key, len(a.Keys))
	for i, k := range a.Keys {
		keys[i] = auth.Key{ID: k.ID, Secret: []byte(k.Secret)}
	}
	return keys, auth.SignerOptions{
		Skew:     c.offOr("auth.clock_skew", a.ClockSkew, auth.Off),
		Grace:    c.offOr("auth.playback_grace", a.PlaybackGrace, auth.Off),
		MaxGrace: c.offOr("auth.max_grace", a.MaxGrace, auth.Off),
	}
}

// tokens maps auth.tokens onto auth.NewTokens' argument.
func (c *Config) tokens() []auth.Token {
	toks := make([]auth.Token, len(c.Auth.Tokens))
	for i, t := range c.Auth.Tokens {
		toks[i] = auth.Token{Name: t.Name, SHA256: t.SHA256, Mounts: t.Mounts, Admin: t.Admin, Links: t.Links, MaxLinkTTL: t.MaxLinkTTL}
	}
	return toks
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
	if strings.HasPrefix(m.Prefix, uiPath) {
		return errAt(p+".prefix", "%s is reserved for rangeserve's web UI: choose another prefix", uiPath)
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
	directives, err := cacheDirectives(m.CacheControl)
	if err != nil {
		return errAt(p+".cache_control", "%q: %v", m.CacheControl, err)
	}
	if m.Auth != "public" {
		for _, d := range directives {
			if d == "public" || d == "s-maxage" {
				return errAt(p+".cache_control", "%q: %s lets shared caches keep files of a %s mount and hand them to anyone: use private (e.g. \"private, max-age=3600\")", m.CacheControl, d, m.Auth)
			}
		}
	}
	if (m.Auth == "token" || m.Auth == "signed-or-token") && len(c.Auth.Tokens) == 0 {
		return errAt(p+".auth", "%q needs at least one token under auth.tokens", m.Auth)
	}
	if err := c.zeroRefused(p+".max_ranges", m.MaxRanges == 0, fmt.Sprintf("remove the key for %d; 1 answers requests for several ranges with the whole file", rangeio.DefaultMaxRanges)); err != nil {
		return err
	}
	if err := c.zeroRefused(p+".archive_max_entries", m.ArchiveMaxEntries == 0, fmt.Sprintf("remove the key for %d, or set archives: false to serve no archives", zipstream.DefaultMaxEntries)); err != nil {
		return err
	}
	if err := c.zeroRefused(p+".archive_concurrency", m.ArchiveConcurrency == 0, fmt.Sprintf("remove the key for %d, or set archives: false to serve no archives", media.DefaultArchiveConcurrency)); err != nil {
		return err
	}
	if m.ArchiveMaxEntries < 0 {
		return errAt(p+".archive_max_entries", "%d is negative: give the most files and folders one archive may hold, or remove the key for %d", m.ArchiveMaxEntries, zipstream.DefaultMaxEntries)
	}
	switch m.Backend {
	case "local":
		if m.Root == "" {
			return errAt(p+".root", "missing: a local mount needs the directory to serve")
		}
		if o := m.OpenFiles; o != nil {
			switch {
			case o.Max != nil && (*o.Max < 0 || *o.Max > 1<<20):
				return errAt(p+".open_files.max", "%d is out of range: use 0 (off) to 1048576 files", *o.Max)
			case o.Valid < 0 || o.Valid > time.Hour:
				return errAt(p+".open_files.valid", "%s is out of range: use 0s (look the name up on every request) to 1h", o.Valid)
			case o.MemoryFileSize != nil && *o.MemoryFileSize > 64<<20:
				return errAt(p+".open_files.memory_file_size", "%d is over 64MiB: larger files go out with sendfile, which is cheaper", *o.MemoryFileSize)
			}
			if err := c.zeroRefused(p+".open_files.memory_bytes", o.MemoryBytes == 0, fmt.Sprintf("remove the key for %s or set memory_file_size: 0 to keep no file in memory", sizeString(local.DefaultMemoryBytes))); err != nil {
				return err
			}
		}
		if m.S3 != nil {
			return errAt(p+".s3", "set on a local mount: remove it or use backend: s3")
		}
		if m.Mode == "redirect" {
			return errAt(p+".mode", "redirect needs an s3 backend (presigned URLs); use x-accel or x-sendfile for local files")
		}
	case "s3":
		if m.OpenFiles != nil {
			return errAt(p+".open_files", "set on an s3 mount: the open-file cache is for local mounts (s3 mounts use the cache section)")
		}
		if m.S3 == nil {
			return errAt(p+".s3", "missing: an s3 mount needs endpoint and bucket")
		}
		if err := c.zeroRefused(p+".s3.timeout", m.S3.Timeout == 0, fmt.Sprintf("every backend request is bounded; remove the key for %v or give a duration", s3.DefaultTimeout)); err != nil {
			return err
		}
		if err := c.validateS3(p+".s3", m.S3); err != nil {
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
	if err := c.zeroRefused(p+".redirect_ttl", m.RedirectTTL == 0, fmt.Sprintf("remove the key for %v, or give the lifetime of presigned URLs", media.DefaultRedirectTTL)); err != nil {
		return err
	}
	if m.CORS != nil {
		if len(m.CORS.AllowedOrigins) == 0 {
			return errAt(p+".cors.allowed_origins", "missing: list the origins whose pages may read this mount (or [\"*\"]), or remove cors")
		}
		if _, err := cors.New(c.corsOptions(p, m)); err != nil {
			return optionError(err, p+".cors", corsKeys)
		}
	}
	return checkMedia(p, m)
}

// validate resolves the credentials' environment variables and runs
// storage/s3's own checks of the options the section maps onto, without
// connecting.
func (c *Config) validateS3(p string, s *S3Config) error {
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
	o := c.s3Options(p, s)
	if err := o.Validate(); err != nil {
		return optionError(err, p, s3Keys)
	}
	return nil
}

// s3Keys names, below mounts[i].s3, the key each s3.Options field comes
// from (s3's errors name the field, some in lower case).
var s3Keys = map[string]string{
	"Endpoint": "endpoint", "endpoint": "endpoint", "Bucket": "bucket", "bucket": "bucket",
	"Timeout": "timeout", "StatTTL": "stat_ttl", "DisableTLS": "tls",
}

// s3Options maps the s3 section at key path p onto s3.Options (the cache
// aside): keys left out are s3's defaults (https, its timeout, its
// stat_ttl), stat_ttl: 0s is s3.NoStatCache.
func (c *Config) s3Options(p string, s *S3Config) s3.Options {
	return s3.Options{
		Endpoint:   s.Endpoint,
		Bucket:     s.Bucket,
		Prefix:     s.Prefix,
		Region:     s.Region,
		DisableTLS: s.TLS != nil && !*s.TLS,
		PathStyle:  s.PathStyle,
		AccessKey:  s.AccessKey,
		SecretKey:  s.SecretKey,
		Timeout:    s.Timeout,
		StatTTL:    c.offOr(p+".stat_ttl", s.StatTTL, s3.NoStatCache),
	}
}

// cacheDirectives returns the directive names of a Cache-Control value
// (RFC 9111 §5.2: a comma-separated list of token or token=value, the
// value a token or a quoted string), lowercased, so that a rule can look
// for one anywhere in the list, whatever its case and spacing; a comma
// inside a quoted value separates nothing.
func cacheDirectives(v string) ([]string, error) {
	var names []string
	for rest := v; ; {
		rest = strings.TrimLeft(rest, " \t")
		end := 0
		for end < len(rest) && rest[end] != ',' && rest[end] != '=' {
			end++
		}
		if name := strings.ToLower(strings.TrimSpace(rest[:end])); name != "" {
			names = append(names, name)
		}
		rest = rest[end:]
		if strings.HasPrefix(rest, "=") {
			rest = strings.TrimLeft(rest[1:], " \t")
			if strings.HasPrefix(rest, `"`) {
				i := 1
				for ; i < len(rest) && rest[i] != '"'; i++ {
					if rest[i] == '\\' {
						i++
					}
				}
				if i >= len(rest) {
					return nil, errors.New("a quoted value is not closed")
				}
				rest = rest[i+1:]
			}
			if i := strings.IndexByte(rest, ','); i >= 0 {
				rest = rest[i:]
			} else {
				rest = ""
			}
		}
		if rest == "" {
			return names, nil
		}
		rest = rest[1:] // the comma
	}
}

// root resolves a mount's root against the config's directory.
func (c *Config) path(p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(c.dir, p)
}
