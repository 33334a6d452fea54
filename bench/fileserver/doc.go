// Command fileserver is the benchmark's baseline: Go's http.FileServer over
// one directory on one address, and nothing else (no logging, no
// middleware), so that bench/run.sh compares rangeserve with what the
// standard library gives for free.
//
// Usage:
//
//	fileserver -listen 127.0.0.1:8080 -dir /path/to/files
package main
