package s3

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/minio/minio-go/v7"

	"github.com/rangeserve/rangeserve/storage"
)

// ErrChanged reports that the object was replaced after it was opened:
// the store refused a read pinned to the opened ETag (412), or answered
// with another ETag or size. It is [storage.ErrChanged].
var ErrChanged = storage.ErrChanged

// translate turns a minio-go or transport error into one that satisfies
// the storage sentinels. ctx is the context the request ran with, to tell
// a cancelled client from a store that did not answer in time. The result
// names the operation, the key and the bucket, and the S3 error code; it
// never wraps minio-go's types and never contains credentials.
func (b *Backend) translate(ctx context.Context, op, key string, err error) error {
	if key != "" {
		op += " " + strconv.Quote(key)
	}
	var er minio.ErrorResponse
	if errors.As(err, &er) && (er.Code != "" || er.StatusCode != 0) {
		if sentinel := sentinelFor(er); sentinel != nil {
			return fmt.Errorf("s3: %s in %s: %s: %w", op, b.where, describe(er), sentinel)
		}
		return fmt.Errorf("s3: %s in %s: %s", op, b.where, describe(er))
	}
	if cerr := ctx.Err(); cerr != nil {
		if errors.Is(cerr, context.DeadlineExceeded) {
			return fmt.Errorf("s3: %s: %s did not answer in time: %w: %w",
				op, b.where, storage.ErrUnavailable, context.DeadlineExceeded)
		}
		// The caller went away: not the store's fault.
		return fmt.Errorf("s3: %s: %w", op, cerr)
	}
	// Anything else is a network or protocol failure; its text (dial
	// errors, the request URL) holds no credentials: requests are signed
	// in headers, not in the URL.
	return fmt.Errorf("s3: %s: %s unreachable: %v: %w", op, b.where, err, storage.ErrUnavailable)
}

// sentinelFor maps an S3 error response to a storage sentinel, or nil for
// errors that are bugs or misconfiguration rather than a state of the key.
func sentinelFor(er minio.ErrorResponse) error {
	switch er.Code {
	case minio.NoSuchKey, minio.NoSuchBucket, "NotFound", "NoSuchVersion",
		"InvalidObjectName", "XMinioInvalidObjectName", "KeyTooLongError":
		return storage.ErrNotExist
	case minio.AccessDenied, "InvalidAccessKeyId", "SignatureDoesNotMatch",
		"InvalidToken", "ExpiredToken", "AllAccessDisabled", "AccountProblem":
		return storage.ErrPermission
	case minio.PreconditionFailed:
		return ErrChanged
	case "SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout",
		"XMinioServerNotInitialized", "XMinioStorageFull":
		return storage.ErrUnavailable
	}
	switch {
	case er.StatusCode == http.StatusNotFound:
		return storage.ErrNotExist
	case er.StatusCode == http.StatusForbidden:
		return storage.ErrPermission
	case er.StatusCode == http.StatusPreconditionFailed:
		return ErrChanged
	case er.StatusCode >= 500:
		return storage.ErrUnavailable
	}
	return nil
}

// describe renders an S3 error as "Code (HTTP status)" without the
// server's free-text message, which is not ours to vouch for.
func describe(er minio.ErrorResponse) string {
	code := er.Code
	if code == "" {
		code = "error"
	}
	if er.StatusCode != 0 {
		return fmt.Sprintf("%s (HTTP %d)", code, er.StatusCode)
	}
	return code
}
