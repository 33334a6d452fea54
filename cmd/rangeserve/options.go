package main

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/rangeserve/rangeserve/auth"
	"github.com/rangeserve/rangeserve/cors"
	"github.com/rangeserve/rangeserve/limits"
	"github.com/rangeserve/rangeserve/media"
	"github.com/rangeserve/rangeserve/server"
	"github.com/rangeserve/rangeserve/storage"
)

// mediaOptions maps a mount onto media.Options (the logger aside). Keys
// left out are zero: media's defaults.
func (m *Mount) mediaOptions() media.Options {
	return media.Options{
		CacheControl:   m.CacheControl,
		MaxRanges:      m.MaxRanges,
		Mode:           media.Mode(m.Mode),
		InternalPrefix: m.XAccel.InternalPrefix,
		AccelBuffering: m.XAccel.Buffering,
		AccelLimitRate: m.XAccel.LimitRate,
		RedirectTTL:    m.RedirectTTL,
		AllowHidden:    m.AllowHidden,
		Faststart:      m.Faststart,
		// archives: false is media's off; archive_max_entries 0 (left
		// out) is its default.
		NoArchives:        m.Archives != nil && !*m.Archives,
		ArchiveMaxEntries: m.ArchiveMaxEntries,
	}
}

// streamOptions sets the options every mount takes from the top-level
// stream and follow sections.
func (c *Config) streamOptions(o *media.Options) {
	o.FlushBytes = int(c.Stream.FlushBytes)
	o.FlushInterval = c.Stream.FlushInterval
	o.FollowIdleTimeout = c.Follow.IdleTimeout
}

// streamKeys names the key each media.Options field set by streamOptions
// comes from.
var streamKeys = map[string]string{
	"FlushBytes":        "flush_bytes",
	"FlushInterval":     "flush_interval",
	"FollowIdleTimeout": "idle_timeout",
}

// checkStream runs media's checks of the stream and follow sections.
func (c *Config) checkStream() error {
	var o media.Options
	c.streamOptions(&o)
	if _, err := media.New(dryBackend{}, o); err != nil {
		below := "stream"
		if wordIndex(err.Error(), "FollowIdleTimeout") >= 0 {
			below = "follow"
		}
		return optionError(err, below, streamKeys)
	}
	return nil
}

// mediaKeys names, below mounts[i], the key each media.Options field
// comes from.
var mediaKeys = map[string]string{
	"CacheControl":   "cache_control",
	"MaxRanges":      "max_ranges",
	"Mode":           "mode",
	"InternalPrefix": "x_accel.internal_prefix",
	"AccelBuffering": "x_accel.buffering",
	"AccelLimitRate": "x_accel.limit_rate",
	"RedirectTTL":    "redirect_ttl",
	"AllowHidden":    "allow_hidden",
	"Faststart":      "faststart",
	// NoArchives is off only through archives: false, which media never
	// refuses.
	"NoArchives":        "archives",
	"ArchiveMaxEntries": "archive_max_entries",
}

// checkMedia runs media's own checks of a mount's options, the ones
// media.New makes at start-up, so that `rangeserve check` reports them
// too: it builds a handler on a backend with the mount's capabilities
// that reads nothing.
func checkMedia(p string, m *Mount) error {
	var b storage.Backend = dryBackend{}
	switch m.Backend {
	case "local":
		b = dryLocal{}
	case "s3":
		b = dryS3{}
	}
	if _, err := media.New(b, m.mediaOptions()); err != nil {
		return optionError(err, p, mediaKeys)
	}
	return nil
}

// optionError puts a library's error at the config key it concerns,
// below+"."+keys[field]: the field is the one the error reports through an
// Option method (as auth.OptionError does), else the first field of keys
// its message names as a word (media's and s3's errors name the field of
// their Options at fault); without one, the error goes at below itself.
func optionError(err error, below string, keys map[string]string) error {
	var oe interface {
		error
		Option() string
	}
	if errors.As(err, &oe) {
		if k, ok := keys[oe.Option()]; ok {
			return errAt(below+"."+k, "%v", err)
		}
	}
	first, key := -1, ""
	for field, k := range keys {
		if i := wordIndex(err.Error(), field); i >= 0 && (first < 0 || i < first) {
			first, key = i, k
		}
	}
	if key != "" {
		return errAt(below+"."+key, "%v", err)
	}
	return errAt(below, "%v", err)
}

// wordIndex is the index of word in s where it stands as a word (not
// inside an identifier), or -1.
func wordIndex(s, word string) int {
	isIdent := func(c byte) bool {
		return c == '_' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
	}
	for off := 0; ; {
		i := strings.Index(s[off:], word)
		if i < 0 {
			return -1
		}
		i += off
		end := i + len(word)
		if (i == 0 || !isIdent(s[i-1])) && (end == len(s) || !isIdent(s[end])) {
			return i
		}
		off = i + 1
	}
}

// dryBackend has a backend's methods and no objects: what checkMedia
// builds media handlers on.
type dryBackend struct{}

func (dryBackend) Open(context.Context, string) (storage.Object, error) {
	return nil, storage.ErrNotExist
}
func (dryBackend) Stat(context.Context, string) (storage.Info, error) {
	return storage.Info{}, storage.ErrNotExist
}

// dryLocal has the capabilities of storage/local (file paths).
type dryLocal struct{ dryBackend }

func (dryLocal) Path(string) (string, error) { return "", storage.ErrNotExist }

// dryS3 has the capabilities of storage/s3 (presigned URLs).
type dryS3 struct{ dryBackend }

func (dryS3) PresignGet(context.Context, string, time.Duration, url.Values) (*url.URL, error) {
	return nil, storage.ErrNotExist
}

// serverOptions maps listen and server.* onto server.Options. log may be
// nil (when only validating); writeTimeout is the limiter's idle write
// timeout (0: none), which the http.Server re-arms at each request so
// that a deadline left by a file response never outlives it.
func (c *Config) serverOptions(log *slog.Logger, writeTimeout time.Duration) server.Options {
	s := &c.Server
	o := server.Options{
		Addr:              c.Listen,
		H2C:               s.H2C,
		ReadHeaderTimeout: s.ReadHeaderTimeout,
		IdleTimeout:       s.IdleTimeout,
		MaxHeaderBytes:    int(s.MaxHeaderBytes),
		ShutdownTimeout:   s.ShutdownTimeout,
		WriteTimeout:      writeTimeout,
		ConnContext:       limits.ConnContext,
		Logger:            log,
	}
	if f := s.TLS.CertFile; f != "" {
		o.CertFile = c.path(f)
	}
	if f := s.TLS.KeyFile; f != "" {
		o.KeyFile = c.path(f)
	}
	return o
}

// serverKeys names, below server, the key each server.Options field
// comes from.
var serverKeys = map[string]string{
	"CertFile": "tls.cert_file", "KeyFile": "tls.key_file", "H2C": "h2c",
	"ReadHeaderTimeout": "read_header_timeout", "IdleTimeout": "idle_timeout",
	"MaxHeaderBytes": "max_header_bytes", "ShutdownTimeout": "shutdown_timeout",
	"WriteTimeout": "write_idle_timeout",
}

// limitsOptions maps server.* onto limits.Options (ClientIP aside): a key
// left out is limits' default, max_streams: 0, max_streams_per_client: 0
// and write_idle_timeout: 0s are its Off.
func (c *Config) limitsOptions() limits.Options {
	s := &c.Server
	o := limits.Options{
		MaxStreams:          c.offInt("server.max_streams", s.MaxStreams, limits.Off),
		MaxStreamsPerClient: c.offInt("server.max_streams_per_client", s.MaxStreamsPerClient, limits.Off),
		RetryAfter:          s.RetryAfter,
		ConnRate:            int64(s.ConnRate),
		KeyRate:             int64(s.LinkRate),
		WriteIdleTimeout:    c.offOr("server.write_idle_timeout", s.WriteIdleTimeout, limits.Off),
	}
	if o.KeyRate > 0 {
		o.KeyOf = linkKey
	}
	return o
}

// limitsKeys names, below server, the key each limits.Options field comes
// from.
var limitsKeys = map[string]string{
	"MaxStreams": "max_streams", "MaxStreamsPerClient": "max_streams_per_client",
	"RetryAfter": "retry_after", "ConnRate": "conn_rate", "KeyRate": "link_rate",
	"WriteIdleTimeout": "write_idle_timeout",
}

// linkKey is the bandwidth key of a request: the signature of the share
// link it carries (one per link), or none.
func linkKey(r *http.Request) string {
	if r.URL.RawQuery == "" {
		return ""
	}
	return r.URL.Query().Get(auth.ParamSig)
}

// offInt is offOr for counts: a key written as 0 is off.
func (c *Config) offInt(path string, v, off int) int {
	if v == 0 && c.set(path) {
		return off
	}
	return v
}

// corsOptions maps mounts[i].cors (at key path p) onto cors.Options:
// max_age: 0s is cors.NoMaxAge.
func (c *Config) corsOptions(p string, m *Mount) cors.Options {
	if m.CORS == nil {
		return cors.Options{}
	}
	return cors.Options{
		AllowedOrigins:   m.CORS.AllowedOrigins,
		AllowCredentials: m.CORS.AllowCredentials,
		MaxAge:           c.offOr(p+".cors.max_age", m.CORS.MaxAge, cors.NoMaxAge),
		ExposeHeaders:    m.CORS.ExposeHeaders,
		AllowHeaders:     m.CORS.AllowHeaders,
	}
}

// corsKeys names, below mounts[i].cors, the key each cors.Options field
// comes from.
var corsKeys = map[string]string{
	"AllowedOrigins": "allowed_origins", "AllowCredentials": "allow_credentials",
	"MaxAge": "max_age", "ExposeHeaders": "expose_headers", "AllowHeaders": "allow_headers",
}
