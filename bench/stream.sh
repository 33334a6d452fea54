#!/usr/bin/env bash
# bench/stream.sh: memory and first-byte latency of rangeserve's streamed
# responses (issue 15), through curl against the built binary, sampling
# the server's RSS (VmRSS, every 20 ms) while each response runs:
#
#   - a 1,000,000-entry folder listed as NDJSON (?format=ndjson): every
#     line counted; time to first byte; RSS growth over the idle server;
#   - the first JSON page (?format=json) of the same folder, which reads
#     the whole directory to sort it (bounded memory, not constant time);
#   - ZIP: a hook (measure_zip) for the folder-as-ZIP measurement.
#
#   bash bench/stream.sh                     1,000,000 entries, 3 NDJSON runs
#                                            (BENCH_RUNS), median TTFB
#   BENCH_ENTRIES=100000 bash bench/stream.sh
#   BENCH_ROOT=DIR bash bench/stream.sh      reuse DIR/big (kept with BENCH_KEEP=1)
#
# Targets (issue 15): RSS growth < 32 MiB, time to first byte < 50 ms.
# The script installs nothing, stops only the server it started (by pid)
# and removes its temporary directory (BENCH_KEEP=1 keeps it).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
entries=${BENCH_ENTRIES:-1000000}
die() { echo "bench: $*" >&2; exit 1; }
command -v curl >/dev/null || die "curl is not installed: run \`make deps\`"
command -v go >/dev/null || die "go is not on PATH"
[ -r /proc/self/status ] || die "needs Linux /proc for RSS"

work=$(mktemp -d "${TMPDIR:-/tmp}/rangeserve-stream-bench.XXXXXX")
srv_pid=""
cleanup() {
  if [ -n "$srv_pid" ] && kill -0 "$srv_pid" 2>/dev/null; then
    kill "$srv_pid" 2>/dev/null || true
    wait "$srv_pid" 2>/dev/null || true
  fi
  if [ "${BENCH_KEEP:-0}" != 1 ]; then rm -rf "$work"; else echo "bench: kept $work"; fi
}
trap cleanup EXIT

note() { printf '%s\n' "$*"; }
note "bench/stream.sh: load average $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs"

# --- the binary and the data -------------------------------------------------
(cd "$repo" && go build -o "$work/rangeserve" ./cmd/rangeserve) || die "go build failed"
root=${BENCH_ROOT:-$work/root}
if [ -n "${BENCH_ROOT:-}" ]; then
  # A folder made by an earlier run (BENCH_KEEP=1): ROOT/big holds the entries.
  [ -d "$root/big" ] || die "BENCH_ROOT=$root has no big/ folder"
  entries=$(find "$root/big" -mindepth 1 -maxdepth 1 | wc -l)
  note "using $root/big: $entries entries"
else
  mkdir -p "$root/big"
  t0=$(date +%s.%N)
  # Empty files; xargs hands touch thousands of names at a time.
  seq -f "$root/big/entry-%07.0f.txt" 1 "$entries" | xargs touch
  note "created $entries files in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f s", b - a }')"
fi

# --- the server ----------------------------------------------------------------
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null ||
  echo $((20000 + RANDOM % 20000)))
cat >"$work/config.yaml" <<EOC
listen: 127.0.0.1:$port
log: {level: warn, access: false}
mounts:
  - {prefix: /, backend: local, root: $root, auth: public}
EOC
"$work/rangeserve" -config "$work/config.yaml" >"$work/server.log" 2>&1 &
srv_pid=$!
base="http://127.0.0.1:$port"
for _ in $(seq 1 200); do
  curl -fs -o /dev/null "$base/api/healthz" && break
  kill -0 "$srv_pid" 2>/dev/null || die "the server exited: $(cat "$work/server.log")"
  sleep 0.05
done
curl -fs -o /dev/null "$base/api/healthz" || die "the server did not come up: $(cat "$work/server.log")"

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$srv_pid/status"; }

# measure NAME URL [curl args...]: one GET with curl while sampling the
# server's RSS; prints TTFB, total time, bytes and RSS idle/peak/growth,
# and leaves the body's line count in $lines.
measure() {
  local name=$1 url=$2 idle peak v cpid out
  shift 2
  sleep 0.5
  idle=$(rss_kb)
  peak=$idle
  curl -s -S -o "$work/body" -w '%{time_starttransfer} %{time_total} %{size_download} %{http_code}\n' \
    "$@" "$url" >"$work/curl.out" 2>&1 &
  cpid=$!
  while kill -0 "$cpid" 2>/dev/null; do
    v=$(rss_kb)
    [ "$v" -gt "$peak" ] && peak=$v
    sleep 0.02
  done
  wait "$cpid" || die "$name: curl failed: $(cat "$work/curl.out")"
  read -r ttfb total size code <"$work/curl.out"
  [ "$code" = 200 ] || die "$name: status $code"
  lines=$(wc -l <"$work/body")
  out=$(awk -v n="$name" -v t="$ttfb" -v T="$total" -v s="$size" -v i="$idle" -v p="$peak" -v l="$lines" 'BEGIN {
    printf "%-14s ttfb %6.1f ms  total %7.2f s  %8.1f MiB  %8d lines  rss idle %6.1f MiB  peak %6.1f MiB  growth %5.1f MiB",
      n, t * 1000, T, s / 1048576, l, i / 1024, p / 1024, (p - i) / 1024 }')
  note "$out"
  growth_kb=$((peak - idle))
  ttfb_ms=$(awk -v t="$ttfb" 'BEGIN { printf "%d", t * 1000 }')
}

# measure_zip: the folder as one ZIP (issue 15, point 2), to be filled in
# with the archive endpoint: a >= 2 GiB folder of >= 10,000 files, RSS
# growth, TTFB and throughput against a plain download of the same bytes.
measure_zip() {
  note "zip            (not measured here yet: see measure_zip in bench/stream.sh)"
}

fail=0
runs=${BENCH_RUNS:-3}
ttfbs=() max_growth=0
for run in $(seq 1 "$runs"); do
  measure "ndjson #$run" "$base/big/?format=ndjson"
  [ "$lines" = "$entries" ] || { note "  FAIL: $lines lines, want $entries"; fail=1; }
  ttfbs+=("$ttfb_ms")
  [ "$growth_kb" -gt "$max_growth" ] && max_growth=$growth_kb
done
median=$(printf '%s\n' "${ttfbs[@]}" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
note "ndjson: median time to first byte $median ms over $runs runs; largest RSS growth $((max_growth / 1024)) MiB"
[ "$max_growth" -lt $((32 << 10)) ] || { note "  MISS: RSS growth over 32 MiB"; fail=1; }
[ "$median" -lt 50 ] || { note "  MISS: median time to first byte over 50 ms"; fail=1; }
measure "json page" "$base/big/?format=json&limit=1000"
measure_zip
exit $fail
