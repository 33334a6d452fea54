// Command s3bench is bench/s3/run.sh's benchmark of rangeserve's S3
// backend (issues 4 and 14). In one run it starts a throw-away MinIO
// server and one rangeserve with two mounts on the same bucket, uploads one
// large object of seeded random bytes, and measures, with the same HTTP
// client code for all targets:
//
//	direct  MinIO itself (anonymous GETs on a public-read bucket)
//	raw     rangeserve's /raw/ mount: the s3 backend without the block cache
//	cached  rangeserve's /cached/ mount: the s3 backend with the block cache
//	disk    a second rangeserve, small memory cache over the disk tier
//	        (cache.disk), after a first viewer (whole-object workloads only)
//	local   that second rangeserve's local mount of the same file
//
// on four workloads: whole-object GETs by 1 and by 4 parallel streams
// (MB/s), random 64 KiB ranges at a fixed concurrency (requests/s, p50,
// p99), and a repeated-seek workload that imitates players seeking back
// and forth among a fixed set of 32 seek points and reading 1 to 4
// consecutive 64-256 KiB ranges after each seek (requests/s, p50, p99).
//
// Every run is bounded in time. Targets are interleaved, their order
// rotating from round to round, and the report gives the median over the
// rounds, the ratios raw/direct, cached/direct and cached/raw, the bytes
// MinIO sent per byte the client received (its S3 traffic counter: what
// rangeserve fetched, worst round), the disk tier's second viewer against
// the local mount, the issues' targets marked met or missed, the CPU
// seconds MinIO, rangeserve and the client spent per run, MinIO's own count
// of the requests it served per client request (from its Prometheus
// endpoint), and rangeserve's resident memory at the end. It prints the report as Markdown and writes it, and the raw
// figures as JSON, to the -out directory.
//
// Bytes are checked: the whole object once per target against the SHA-256
// of what was uploaded, and the first responses of every run, and status,
// Content-Range and length of all responses.
//
// s3bench stops only the processes it started, by pid.
package main
