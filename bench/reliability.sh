#!/usr/bin/env bash
# bench/reliability.sh: rangeserve under load and client faults on loopback
# (issue 12, "Reliability tests"). One rangeserve serves a directory of
# random files on a public local mount; bench/reliability (Go) runs, each
# bounded in time, with every body checked against the file:
#
#   load       256 clients for 60 s: whole downloads, random and suffix
#              ranges, multi-ranges, If-None-Match / If-Range, HEAD
#              (zero 5xx, zero wrong bytes; req/s, p50/p99, peak RSS)
#   storm      1,000 clients that drop mid-stream (RST): open fds
#              (/proc/PID/fd) and go_goroutines (/metrics) back to baseline
#   slowloris  500 connections sending headers a byte a second while 16
#              normal clients fetch: their p99 under 1 s
#   slowread   200 clients reading at 64 KiB/s: RSS growth per client
#
#   bash bench/reliability.sh                  all four
#   REL_RUNS="storm slowloris" bash bench/reliability.sh
#   REL_LOAD_SECS=20 bash bench/reliability.sh  (shorter load on a busy machine)
#
# The server runs with max_streams and max_streams_per_client off, since
# every client here has the same address (the defaults, 4096 and 64, would
# answer 429), and the access log off. It stops only what it started.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
runs=${REL_RUNS:-load storm slowloris slowread}
work=$(mktemp -d "${TMPDIR:-/tmp}/rangeserve-reliability.XXXXXX")
pid=
cleanup() {
  [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
ulimit -n 16384 2>/dev/null || ulimit -n 4096

(cd "$repo" && go build -o "$work/rangeserve" ./cmd/rangeserve && go build -o "$work/rel" ./bench/reliability) || exit 1
port=$(cd "$repo" && go run ./bench/load freeport)
mkdir -p "$work/files"
head -c 100003 /dev/urandom >"$work/files/a.bin"
head -c $(((1 << 20) + 13)) /dev/urandom >"$work/files/b.bin"
head -c $((4 << 20)) /dev/urandom >"$work/files/c.bin"
head -c $((64 << 20)) /dev/urandom >"$work/files/d.bin"
cat >"$work/rangeserve.yaml" <<EOC
listen: 127.0.0.1:$port
log: {access: false}
server: {max_streams: 0, max_streams_per_client: 0}
mounts:
  - {prefix: /f/, backend: local, root: files, auth: public}
EOC
"$work/rangeserve" -config "$work/rangeserve.yaml" >"$work/rangeserve.log" 2>&1 &
pid=$!
for _ in $(seq 100); do curl -fs -o /dev/null "http://127.0.0.1:$port/readyz" && break; sleep 0.1; done
echo "reliability: rangeserve pid $pid on :$port ($(cd "$repo" && git rev-parse --short HEAD), $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg))"
status=0
for r in $runs; do
  case $r in
    load) args=(-clients 256 -dur "${REL_LOAD_SECS:-60}s") ;;
    storm) args=(-clients 1000) ;;
    slowloris) args=(-clients 500 -dur 20s) ;;
    slowread) args=(-clients 200 -dur 30s) ;;
    *) echo "unknown run $r" >&2; exit 2 ;;
  esac
  timeout 180 "$work/rel" -base "http://127.0.0.1:$port/f/" -dir "$work/files" -pid "$pid" "${args[@]}" "$r" || status=1
  kill -0 "$pid" 2>/dev/null || { echo "reliability: rangeserve died"; tail "$work/rangeserve.log"; exit 1; }
done
grep -ci 'panic' "$work/rangeserve.log" | sed 's/^/reliability: panics in the server log: /'
exit $status
