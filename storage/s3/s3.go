package s3

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"reflect"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/rangeserve/rangeserve/storage"
)

// DefaultTimeout bounds one backend request when [Options].Timeout is 0.
const DefaultTimeout = 30 * time.Second

// DefaultMaxRetries is the number of attempts minio-go makes for one
// request (the first included) when [Options].MaxRetries is 0. It is low so
// that an unreachable store fails within about a second instead of after
// minio-go's default ten attempts.
const DefaultMaxRetries = 3

// Lifetimes of the metadata cache ([Options].StatTTL).
const (
	// DefaultStatTTL is used when Options.StatTTL is 0: a player's burst
	// of range requests costs one HEAD, and a replaced object is seen
	// within a second.
	DefaultStatTTL = time.Second
	// NoStatCache, as Options.StatTTL, turns the cache off: one HEAD per
	// Open and Stat.
	NoStatCache time.Duration = -1
	// MaxStatTTL is the longest StatTTL accepted.
	MaxStatTTL = time.Hour
)

// Cache is what the backend needs of a block cache: *rangeio.Cache
// satisfies it. Wrap returns a reader that serves r's bytes through the
// cache; id identifies one version of one object and is never reused for
// different bytes (the backend puts the ETag in it).
type Cache interface {
	Wrap(id string, size int64, r io.ReaderAt) io.ReaderAt
}

// Options configures a [Backend]. The zero value of each optional field
// selects the default stated in its comment ("off" has a name of its
// own); [New] refuses values out of range, naming the field.
type Options struct {
	// Endpoint is the S3 API address as host[:port], without scheme:
	// "s3.eu-west-1.amazonaws.com", "127.0.0.1:9000". Required.
	Endpoint string
	// Bucket is the bucket objects are read from. Required.
	Bucket string
	// Prefix is prepended to every key ("media/" maps key "a.mp4" to object
	// "media/a.mp4"). Leading slashes are removed and a trailing slash is
	// added when it is not empty. Default "": the bucket's root.
	Prefix string
	// Region is the bucket's region. Default "": looked up once at
	// start-up (needs s3:GetBucketLocation).
	Region string
	// DisableTLS selects plain http instead of https, which is only
	// suitable for a store on the same host or a private network.
	// Default false: https.
	DisableTLS bool
	// PathStyle forces path-style requests (https://endpoint/bucket/key),
	// which MinIO and most self-hosted stores need. Default false: minio-go
	// picks virtual-host style for AWS and path style elsewhere.
	PathStyle bool
	// AccessKey and SecretKey are the credentials; both empty means
	// anonymous requests (a public bucket). The caller resolves them (from
	// the environment variables the configuration names, typically). The
	// secret is never logged or put in an error.
	AccessKey string
	SecretKey string
	// Timeout bounds each backend request, from dialing to the end of the
	// body: one Stat, one ReadAt, one presign's region lookup. A listing is
	// bounded by its caller's context; each of its pages by Timeout waiting
	// for the response header. 0 means [DefaultTimeout]; negative values
	// are refused.
	Timeout time.Duration
	// MaxRetries is the number of attempts for a request that fails with a
	// network error or a retryable S3 error, the first included. 0 means
	// [DefaultMaxRetries]; 1 disables retries; negative values are
	// refused.
	MaxRetries int
	// Cache, when not nil, serves ReadAt through a block cache keyed by
	// endpoint, bucket, key and ETag. Default nil: every ReadAt is one GET.
	Cache Cache
	// StatTTL is how long Open and Stat reuse an object's metadata (size,
	// ETag, type) from an earlier HEAD. A replaced object can be opened
	// as its old version for that long; its reads are pinned to the old
	// ETag and fail with [storage.ErrChanged], which drops the entry (the
	// HTTP layer then opens the object again). 0 means [DefaultStatTTL];
	// [NoStatCache] (or any negative value) sends one HEAD per Open and
	// Stat; at most [MaxStatTTL].
	StatTTL time.Duration
	// WrapTransport, when not nil, wraps the HTTP transport the backend
	// builds (tuned timeouts, no compression) before the client uses it:
	// metrics count and time every request to the store through it.
	// Default nil: the transport as built.
	WrapTransport func(http.RoundTripper) http.RoundTripper
}

// Backend reads objects from one bucket (below an optional prefix). It
// implements [storage.Backend], [storage.Lister] and [storage.Presigner]
// and is safe for concurrent use.
type Backend struct {
	client  *minio.Client
	core    minio.Core
	bucket  string
	prefix  string
	timeout time.Duration
	cache   Cache
	stats   *statCache // nil when StatTTL is negative (NoStatCache)
	// idBase is "s3://endpoint/bucket/", the start of cache ids.
	idBase string
	// where names the bucket in errors: "bucket \"b\" at endpoint".
	where string
}

// New connects to the store described by opts and checks that the bucket
// exists and that the credentials are accepted, so that a wrong
// configuration fails at start-up rather than on the first request. Its
// errors name the endpoint and bucket, never the secret: a refused
// credential satisfies errors.Is(err, storage.ErrPermission), a missing
// bucket storage.ErrNotExist, an unreachable endpoint
// storage.ErrUnavailable.
func New(ctx context.Context, opts Options) (*Backend, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if opts.Timeout == 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.MaxRetries == 0 {
		opts.MaxRetries = DefaultMaxRetries
	}
	if opts.StatTTL == 0 {
		opts.StatTTL = DefaultStatTTL
	}
	secure := !opts.DisableTLS
	lookup := minio.BucketLookupAuto
	if opts.PathStyle {
		lookup = minio.BucketLookupPath
	}
	var creds *credentials.Credentials
	if opts.AccessKey != "" || opts.SecretKey != "" {
		creds = credentials.NewStaticV4(opts.AccessKey, opts.SecretKey, "")
	} else {
		creds = credentials.New(&credentials.Static{Value: credentials.Value{SignerType: credentials.SignatureAnonymous}})
	}
	var transport http.RoundTripper = newTransport(secure, opts.Timeout)
	if opts.WrapTransport != nil {
		transport = opts.WrapTransport(transport)
	}
	client, err := minio.New(opts.Endpoint, &minio.Options{
		Creds:        creds,
		Secure:       secure,
		Region:       opts.Region,
		BucketLookup: lookup,
		Transport:    transport,
		MaxRetries:   opts.MaxRetries,
	})
	if err != nil {
		// minio.New fails only on a malformed endpoint; its message does
		// not contain the credentials.
		return nil, fmt.Errorf("s3: endpoint %q: %w", opts.Endpoint, err)
	}
	b := &Backend{
		client:  client,
		core:    minio.Core{Client: client},
		bucket:  opts.Bucket,
		prefix:  cleanPrefix(opts.Prefix),
		timeout: opts.Timeout,
		cache:   nilIfTypedNil(opts.Cache),
		stats:   newStatCache(opts.StatTTL),
		idBase:  "s3://" + opts.Endpoint + "/" + opts.Bucket + "/",
		where:   fmt.Sprintf("bucket %q at %s", opts.Bucket, opts.Endpoint),
	}
	if err := b.check(ctx); err != nil {
		return nil, err
	}
	return b, nil
}

// Validate reports what [New] would refuse in o before it connects: a
// missing endpoint or bucket, an endpoint with a scheme, half a
// credential, a negative Timeout or MaxRetries, a StatTTL out of range.
// The error names the field. Callers that validate a configuration
// without connecting (a "check" command) call it; New calls it too.
func (o *Options) Validate() error {
	switch {
	case o.Endpoint == "":
		return errors.New("s3: no endpoint configured: set the store's host[:port]")
	case strings.Contains(o.Endpoint, "://"):
		return fmt.Errorf("s3: endpoint %q has a scheme: give host[:port] (https is the default; DisableTLS selects http)", o.Endpoint)
	case o.Bucket == "":
		return fmt.Errorf("s3: no bucket configured for endpoint %s", o.Endpoint)
	case (o.AccessKey == "") != (o.SecretKey == ""):
		return fmt.Errorf("s3: %s: access key and secret key must be set together (or neither, for a public bucket)", o.Endpoint)
	case o.Timeout < 0:
		return fmt.Errorf("s3: Timeout %v is negative: use a positive duration (0 means %v)", o.Timeout, DefaultTimeout)
	case o.MaxRetries < 0:
		return fmt.Errorf("s3: MaxRetries %d is negative: use 1 (no retries) or more (0 means %d)", o.MaxRetries, DefaultMaxRetries)
	case o.StatTTL < 0 && o.StatTTL != NoStatCache:
		return fmt.Errorf("s3: StatTTL %v is negative: use NoStatCache to turn the cache off, or 0 for %v", o.StatTTL, DefaultStatTTL)
	case o.StatTTL > MaxStatTTL:
		return fmt.Errorf("s3: StatTTL %v is out of range: at most %v (a replaced object is served as its old version that long)", o.StatTTL, MaxStatTTL)
	}
	return nil
}

// Probe reports whether the bucket answers, for readiness checks: the
// start-up check again (one HEAD of the bucket, bounded by
// [Options].Timeout and ctx), with the same errors as [New].
func (b *Backend) Probe(ctx context.Context) error { return b.check(ctx) }

// check runs the start-up probe: HEAD bucket (after the region lookup).
func (b *Backend) check(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	ok, err := b.client.BucketExists(ctx, b.bucket)
	if err != nil {
		var er minio.ErrorResponse
		if errors.As(err, &er) {
			switch er.Code {
			case minio.AccessDenied, "InvalidAccessKeyId", "SignatureDoesNotMatch",
				"InvalidToken", "ExpiredToken", "AuthorizationHeaderMalformed":
				return fmt.Errorf("s3: %s refused the credentials (%s): check the access key and secret key, and that the policy grants s3:ListBucket on the bucket: %w",
					b.where, er.Code, storage.ErrPermission)
			}
		}
		return b.translate(ctx, "start-up check", "", err)
	}
	if !ok {
		return fmt.Errorf("s3: %s does not exist: create it or fix the bucket name: %w", b.where, storage.ErrNotExist)
	}
	return nil
}

// newTransport is minio-go's default transport with tighter timeouts and
// more idle connections per host: a media server runs many ranged GETs in
// parallel against one endpoint, and an unreachable one must fail fast.
func newTransport(secure bool, timeout time.Duration) *http.Transport {
	dial := 5 * time.Second
	if timeout < dial {
		dial = timeout
	}
	tr := &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   dial,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   dial,
		ResponseHeaderTimeout: timeout,
		ExpectContinueTimeout: time.Second,
		// Bytes are passed through as stored; never let net/http decode a
		// gzip Content-Encoding.
		DisableCompression: true,
	}
	if secure {
		tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	return tr
}

// cleanPrefix removes leading slashes and makes sure a non-empty prefix
// ends with exactly one slash.
func cleanPrefix(p string) string {
	p = strings.TrimLeft(p, "/")
	if p == "" {
		return ""
	}
	return strings.TrimRight(p, "/") + "/"
}

// nilIfTypedNil turns a nil *rangeio.Cache stored in the interface into a
// true nil, so "no cache" works however the caller spells it.
func nilIfTypedNil(c Cache) Cache {
	if c == nil {
		return nil
	}
	if v := reflect.ValueOf(c); v.Kind() == reflect.Pointer && v.IsNil() {
		return nil
	}
	return c
}

// objectName maps a cleaned key to the object name in the bucket. The
// empty key (a mount's root) names a directory; a key with a leading or
// trailing slash is not a cleaned key and names nothing.
func (b *Backend) objectName(op, key string) (string, error) {
	if key == "" {
		return "", fmt.Errorf("s3: %s %q: the root of %s: %w", op, key, b.where, storage.ErrIsDir)
	}
	if strings.HasSuffix(key, "/") || strings.HasPrefix(key, "/") {
		return "", fmt.Errorf("s3: %s %q: not a cleaned key: %w", op, key, storage.ErrNotExist)
	}
	return b.prefix + key, nil
}

// Stat returns the Info of the object under key with one HEAD request.
func (b *Backend) Stat(ctx context.Context, key string) (storage.Info, error) {
	m, err := b.stat(ctx, "stat", key)
	return m.info, err
}

// meta is what one HEAD tells of an object, as the stat cache keeps it.
type meta struct {
	info   storage.Info
	crc    uint32 // the stored full-object CRC-32, when hasCRC
	hasCRC bool
}

// stat sends the HEAD of Stat and Open, or takes its answer from the stat
// cache. The HEAD asks for the object's stored checksums
// (x-amz-checksum-mode: ENABLED), so that Open learns a full-object CRC-32
// without a request of its own (see [Object.StoredCRC32]).
func (b *Backend) stat(ctx context.Context, op, key string) (meta, error) {
	name, err := b.objectName(op, key)
	if err != nil {
		return meta{}, err
	}
	now := time.Now()
	if m, ok := b.stats.get(name, now); ok {
		return m, nil
	}
	rctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	oi, err := b.client.StatObject(rctx, b.bucket, name, minio.StatObjectOptions{Checksum: true})
	if err != nil {
		return meta{}, b.translate(rctx, op, key, err)
	}
	m := meta{info: infoFrom(key, oi)}
	m.crc, m.hasCRC = fullObjectCRC32(oi)
	b.stats.put(name, m, now)
	return m, nil
}

// fullObjectCRC32 returns the CRC-32 (IEEE) of the object's bytes that the
// store reported on a HEAD sent with x-amz-checksum-mode: ENABLED: a CRC32
// checksum (base64 of 4 big-endian bytes) of type FULL_OBJECT, or of no
// stated type as stores that predate checksum types answer for a single
// PUT. A composite checksum of a multipart upload (type COMPOSITE, or a
// value with a "-N" part count) is a CRC of the parts' checksums, not of
// the bytes, and is refused, as are other algorithms (CRC32C, CRC64NVME,
// SHA-256...: their fields are not looked at) and values that do not
// decode to 4 bytes.
func fullObjectCRC32(oi minio.ObjectInfo) (uint32, bool) {
	v := strings.TrimSpace(oi.ChecksumCRC32)
	if v == "" || strings.Contains(v, "-") {
		return 0, false
	}
	switch strings.ToUpper(strings.TrimSpace(oi.ChecksumMode)) {
	case "", "FULL_OBJECT":
	default:
		return 0, false
	}
	raw, err := base64.StdEncoding.Strict().DecodeString(v)
	if err != nil || len(raw) != 4 {
		return 0, false
	}
	return binary.BigEndian.Uint32(raw), true
}

// Open stats the object under key (so that a missing or refused key fails
// here, before any response header is written) and returns it. ctx bounds
// every ReadAt of the returned Object: when it is cancelled (the client
// went away), in-flight backend requests are cancelled too.
//
// A key that is only a prefix of other keys (an S3 "directory" with no
// object of its own) reports storage.ErrNotExist, not storage.ErrIsDir:
// telling them apart would cost a listing request on every miss.
func (b *Backend) Open(ctx context.Context, key string) (storage.Object, error) {
	m, err := b.stat(ctx, "open", key)
	if err != nil {
		return nil, err
	}
	info := m.info
	o := &Object{
		b:      b,
		ctx:    ctx,
		key:    key,
		name:   b.prefix + key,
		info:   info,
		etag:   strings.Trim(info.ETag, `"`),
		crc:    m.crc,
		hasCRC: m.hasCRC,
	}
	o.r = rawReader{o}
	if b.cache != nil && info.Size > 0 && o.etag != "" {
		o.r = b.cache.Wrap(b.idBase+o.name+"@"+o.etag, info.Size, o.r)
	}
	return o, nil
}

// infoFrom converts minio-go's ObjectInfo, restoring the ETag's quotes.
func infoFrom(key string, oi minio.ObjectInfo) storage.Info {
	return storage.Info{
		Key:         key,
		Size:        oi.Size,
		ModTime:     oi.LastModified,
		ETag:        quoteETag(oi.ETag),
		ContentType: contentType(oi.ContentType),
	}
}

// quoteETag puts back the quotes minio-go strips. Multipart ETags
// ("<md5>-<parts>") stay strong: they identify one upload's bytes.
func quoteETag(etag string) string {
	etag = strings.Trim(etag, `"`)
	if etag == "" {
		return ""
	}
	return `"` + etag + `"`
}

// contentType drops the generic types stores assign when the uploader
// gave none, so that the HTTP layer sniffs the bytes instead.
func contentType(ct string) string {
	switch strings.ToLower(strings.TrimSpace(ct)) {
	case "", "application/octet-stream", "binary/octet-stream":
		return ""
	}
	return ct
}

// Interface guards.
var (
	_ storage.Backend   = (*Backend)(nil)
	_ storage.Lister    = (*Backend)(nil)
	_ storage.Presigner = (*Backend)(nil)
)
