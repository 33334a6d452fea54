// Package metrics owns what rangeserve tells Prometheus: the metric names,
// their labels and buckets, and the instrumentation that feeds them.
// Every metric lives in a registry the caller passes in ([New]); the
// package keeps no global state and registers nothing by itself.
//
// The families (namespace "rangeserve" by default):
//
//   - http_*: one request middleware per mount ([Metrics.Middleware]):
//     requests by mount, method, status and strategy (the delivery
//     strategy media reports through media.Outcome, which the code that
//     calls media passes on with [SetStrategy]: serve, stream, x-accel,
//     x-sendfile, redirect, archive, listing, or "none" when the request
//     was refused before one was chosen), response body bytes,
//     streams in flight, time to first byte and duration (buckets from a
//     millisecond to two hours), and responses aborted mid-body.
//   - storage_*: the operations media asks of a backend (open, stat,
//     list), counted, timed and their errors classified by kind, through
//     a storage.Backend decorator ([Metrics.Backend]).
//   - backend_*: the HTTP requests a remote store (S3) receives, by
//     method and status, their latency to response headers, transport
//     errors and 5xx answers, and body bytes received, through an
//     http.RoundTripper ([Metrics.Transport]) that s3.Options.WrapTransport
//     installs.
//   - cache_*: the block cache's counters and size, read from
//     rangeio.Cache.Stats at scrape time ([Metrics.SetCache]) rather than
//     counted twice.
//   - link_verifications_total: signed-link verifications by outcome,
//     through a hook auth calls ([Metrics.LinkVerified]).
//
// A [Metrics] outlives configuration reloads: the middleware, decorators
// and hooks of a new configuration keep adding to the same series, and
// [Metrics.SetCache] points the cache collector at the new cache.
//
// Label values are bounded: mounts and backends are the names the caller
// gives (its configured prefixes), methods outside the standard ones are
// "OTHER", and link outcomes that are not short lower-case words are
// "other". Nothing from a request's path or query becomes a label.
//
// metrics imports storage and rangeio, and
// github.com/prometheus/client_golang; nothing of ours imports it but
// cmd.
package metrics
