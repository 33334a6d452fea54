// Package s3 is rangeserve's storage backend for Amazon S3 and compatible
// object stores (MinIO, Ceph RGW, R2, ...), built on minio-go v7.
//
// It owns the mapping from a cleaned key to an object ([Options].Prefix +
// key), the start-up check that the bucket exists and the credentials
// work ([New]), ranged reads ([Object].ReadAt issues exactly one ranged GET
// per call, [Object].ReadRange one per span, both pinned to the ETag seen
// at Open with If-Match, through the optional block cache), a short-lived
// memory of objects' metadata ([Options].StatTTL), the full-object CRC32
// checksum an object was uploaded with, asked for on Open's HEAD
// ([Object].StoredCRC32), listing one level under a prefix ([Backend].List)
// and presigned GET URLs ([Backend].PresignGet). It translates S3 errors
// into the sentinels of package storage at its edge, so callers never see
// minio-go types: NoSuchKey and NoSuchBucket satisfy
// errors.Is(err, storage.ErrNotExist), AccessDenied storage.ErrPermission,
// network failures and 5xx storage.ErrUnavailable, and an object replaced
// after Open [ErrChanged].
//
// It does not parse Range headers, write HTTP responses or decide status
// codes (package media does), it never forwards a client's multi-range
// header (S3 has no multi-range), and it never writes to the bucket.
//
// # Permissions
//
// The credentials need, on the bucket (arn:aws:s3:::BUCKET) and its objects
// (arn:aws:s3:::BUCKET/PREFIX*):
//
//   - s3:GetObject, for Stat (HEAD), Open and ReadAt (ranged GET) and for
//     presigned URLs, which are signed with these credentials;
//   - s3:ListBucket, for [New]'s start-up check (HEAD bucket) and for List;
//     without it AWS also answers a missing key with 403, which reads as
//     storage.ErrPermission instead of storage.ErrNotExist;
//   - s3:GetBucketLocation, for the region lookup at start-up when
//     [Options].Region is empty (set Region to avoid needing it).
//
// Nothing else: no s3:PutObject, no s3:DeleteObject.
//
// # Secrets
//
// The secret key is used only to sign requests. It never appears in an
// error, a log line or a String method of this package; errors name the
// endpoint, the bucket and the S3 error code. Presigned URLs carry the
// access key ID (as S3 requires) but not the secret.
package s3
