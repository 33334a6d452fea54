// Package health owns rangeserve's health endpoints for load balancers and
// orchestrators: liveness (/healthz: the process serves HTTP) and
// readiness (/readyz: every registered [Probe] answers within a timeout,
// and the server is not draining).
//
// A [Checker] holds the probes, typically one per backend (a stat of a
// local root, a HEAD of an S3 bucket), and a draining flag the server sets
// on SIGTERM so that the load balancer stops sending new clients while
// streams in flight finish. Probes run in parallel, each bounded by the
// timeout; concurrent readiness requests share one run and a result is
// reused for a short while, so /readyz polled hard (or abused) costs the
// backends at most one probe each per interval. A probe that ignores its
// context is not started again while it still runs.
//
// Answers are short plain text naming each probe and "ok", "failed" or
// "timeout"; the error itself goes to the log (once per change of state),
// never to the client, since it may name internal hosts.
//
// health imports only the standard library; cmd/rangeserve registers the
// probes and mounts the handlers.
package health
