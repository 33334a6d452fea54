// Command load is bench/run.sh's HTTP load client for the throughput and
// slow-reader measurements (wrk does the request-rate ones). It reads
// bodies with a 1 MiB buffer straight into a discard loop, so that on a
// machine where client and server share the cores the client spends as
// little CPU as it can.
//
// Usage:
//
//	load [-timeout D] stream URL [COUNT]       COUNT sequential GETs on one connection
//	load [-timeout D] parallel N URL [COUNT]   N concurrent streams of COUNT GETs each
//	load [-timeout D] slow N URL RATE DURATION N connections reading RATE bytes/s each
//	load freeport                              print a free TCP port on 127.0.0.1
//	load wait URL TIMEOUT                      wait until URL answers 200
//
// stream and parallel print "bytes=B seconds=S" (S is the wall time from
// the first request to the last byte); slow prints "opened=N failed=F
// bytes=B min_conn_bytes=M max_conn_bytes=X seconds=S". Every body is
// checked: status 200 and exactly Content-Length bytes, else the command
// exits 1 with the reason.
package main
