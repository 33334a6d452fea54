// Command report turns bench/run.sh's raw measurements into the
// benchmark's one table and its JSON file. It owns the arithmetic (MB/s,
// CPU seconds per GB, requests/s, medians over rounds), the ratios of
// rangeserve to nginx and to http.FileServer, and the targets of issue 6
// with their pass/fail.
//
// Usage:
//
//	report [-strict] -raw RAW.tsv -meta META.txt -json OUT.json
//
// RAW.tsv has one measurement a line: "test server round key value", for
// example "stream nginx 2 bytes 1073741824". META.txt has "key=value"
// lines describing the machine and the run; clk_tck must be among them.
// The markdown table goes to standard output. The exit status is 1 when a
// run was not clean (a wrong status, a socket error, a failed reader),
// whatever the targets say, and 3 with -strict when a target is missed.
package main
