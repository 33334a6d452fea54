package s3

import (
	"context"
	"fmt"
	"net/url"
	"time"

	"github.com/rangeserve/rangeserve/storage"
)

// presignParams are the query parameters a presigned GET may carry: S3's
// response-header overrides. Anything else could alter the signed request
// in ways the caller did not mean (versionId, X-Amz-*), so it is refused.
var presignParams = map[string]bool{
	"response-content-type":        true,
	"response-content-disposition": true,
	"response-content-language":    true,
	"response-content-encoding":    true,
	"response-cache-control":       true,
	"response-expires":             true,
}

// PresignGet returns a URL that lets anyone holding it GET the object under
// key (including with a Range header) for ttl, which must be between
// [storage.MinPresignTTL] and [storage.MaxPresignTTL]. params may set the
// response-* overrides listed by S3 (response-content-type,
// response-content-disposition, ...); each value is signed as given, fully
// percent-encoded, so RFC 8187 filename* dispositions (UTF-8, percent
// escapes) and values with ";", "!" or "&" survive. Other parameters are
// refused.
//
// The URL is bound to GET: a HEAD with it fails its signature check. It
// points at [Options].Endpoint, which the client must be able to reach.
// Presigning is local computation (after the region is known) and does not
// check that the key exists: call Stat first for a 404.
func (b *Backend) PresignGet(ctx context.Context, key string, ttl time.Duration, params url.Values) (*url.URL, error) {
	if ttl < storage.MinPresignTTL || ttl > storage.MaxPresignTTL {
		return nil, fmt.Errorf("s3: presign %q: lifetime %v is outside S3's %v..%v", key, ttl, storage.MinPresignTTL, storage.MaxPresignTTL)
	}
	var req url.Values
	for k, vs := range params {
		if !presignParams[k] {
			return nil, fmt.Errorf("s3: presign %q: parameter %q is not a response-* override S3 accepts", key, k)
		}
		if len(vs) != 1 {
			return nil, fmt.Errorf("s3: presign %q: parameter %q must have exactly one value, has %d", key, k, len(vs))
		}
		if req == nil {
			req = make(url.Values, len(params))
		}
		req.Set(k, vs[0])
	}
	name, err := b.objectName("presign", key)
	if err != nil {
		return nil, err
	}
	rctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	u, err := b.client.PresignedGetObject(rctx, b.bucket, name, ttl, req)
	if err != nil {
		return nil, b.translate(rctx, "presign", key, err)
	}
	return u, nil
}
