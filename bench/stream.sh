#!/usr/bin/env bash
# bench/stream.sh: memory and first-byte latency of rangeserve's streamed
# responses (issue 15), through curl against the built binary, sampling
# the server's RSS (VmRSS, every 20 ms) while each response runs:
#
#   - a 1,000,000-entry folder listed as NDJSON (?format=ndjson): every
#     line counted; time to first byte; RSS growth over the idle server;
#   - the first JSON page (?format=json) of the same folder, which reads
#     the whole directory to sort it (bounded memory, not constant time);
#   - a folder of 10,008 files (2.06 GiB of random bytes, written by
#     bench/gentree: 100 subfolders of 100 files of 1 B to 64 KiB, uniform,
#     plus 8 files of 224 MiB) fetched as one ZIP (?archive=zip) with curl
#     -o /dev/null, against a plain download of the same bytes: one file
#     holding every file's bytes one after the other (zipdir.bin), served
#     by the same server from the same mount. Each ZIP run starts a new
#     server, so that its first archive computes every CRC-32 (cold); a
#     second download of it has them (warm). Bytes the server read
#     (rchar of /proc/PID/io) show that a cold archive reads each entry
#     once.
#
#   bash bench/stream.sh                     1,000,000 entries, 3 NDJSON runs
#                                            (BENCH_RUNS), median TTFB; then
#                                            3 ZIP runs (BENCH_ZIP_RUNS)
#   BENCH_PARTS=zip bash bench/stream.sh     only the ZIP (or only ndjson)
#   BENCH_ENTRIES=100000 bash bench/stream.sh
#   BENCH_ROOT=DIR bash bench/stream.sh      reuse DIR/big and DIR/zipdir
#                                            (kept with BENCH_KEEP=1)
#
# Targets (issue 15): RSS growth < 32 MiB, time to first byte < 50 ms,
# ZIP throughput >= 0.9x the plain download of the same bytes.
# The script installs nothing, stops only the server it started (by pid)
# and removes its temporary directory (BENCH_KEEP=1 keeps it).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
# shellcheck source=bench/lib.sh
. "$here/lib.sh" # cpu_ticks_of
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
parts=${BENCH_PARTS:-ndjson zip}
has_part() { case " $parts " in *" $1 "*) return 0 ;; esac; return 1; }
if has_part ndjson; then
  if [ -d "$root/big" ]; then
    # A folder made by an earlier run (BENCH_ROOT, BENCH_KEEP=1).
    entries=$(find "$root/big" -mindepth 1 -maxdepth 1 | wc -l)
    note "using $root/big: $entries entries"
  else
    mkdir -p "$root/big"
    t0=$(date +%s.%N)
    # Empty files; xargs hands touch thousands of names at a time.
    seq -f "$root/big/entry-%07.0f.txt" 1 "$entries" | xargs touch
    note "created $entries files in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f s", b - a }')"
  fi
fi
if has_part zip; then
  if [ -d "$root/zipdir" ] && [ -f "$root/zipdir.bin" ]; then
    zip_files=$(find "$root/zipdir" -type f | wc -l)
    zip_total=$(stat -c %s "$root/zipdir.bin")
    note "using $root/zipdir: $zip_files files, $zip_total bytes"
  else
    mkdir -p "$root"
    t0=$(date +%s.%N)
    (cd "$repo" && go build -o "$work/gentree" ./bench/gentree) || die "go build of bench/gentree failed"
    read -r zip_files zip_total < <("$work/gentree" -dir "$root/zipdir" -concat "$root/zipdir.bin") ||
      die "bench/gentree failed"
    note "created $root/zipdir: $zip_files files, $zip_total bytes of random data, in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f s", b - a }')"
  fi
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
base="http://127.0.0.1:$port"

# start_server: starts the built binary (a new process: nothing cached)
# and waits for its health check.
start_server() {
  "$work/rangeserve" -config "$work/config.yaml" >>"$work/server.log" 2>&1 &
  srv_pid=$!
  for _ in $(seq 1 200); do
    curl -fs -o /dev/null "$base/api/healthz" && break
    kill -0 "$srv_pid" 2>/dev/null || die "the server exited: $(cat "$work/server.log")"
    sleep 0.05
  done
  curl -fs -o /dev/null "$base/api/healthz" || die "the server did not come up: $(cat "$work/server.log")"
}

# stop_server: stops the server this script started, by pid.
stop_server() {
  kill "$srv_pid" 2>/dev/null || true
  wait "$srv_pid" 2>/dev/null || true
  srv_pid=""
}

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$srv_pid/status"; }
# rchar_b: bytes the server read through read(2), pread(2) and
# sendfile(2) so far.
rchar_b() { awk '/^rchar:/ {print $2}' "/proc/$srv_pid/io"; }
mib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }

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

# download NAME URL WANT: one GET with curl -o /dev/null while sampling the
# server's RSS every 20 ms (VmRSS, the figure ps -o rss= prints); checks
# status 200 and WANT bytes; prints TTFB, time, throughput, RSS idle, peak
# and growth, and the bytes the server read. Leaves ttfb_ms, growth_kb,
# speed (bytes/s over the whole request, first byte included) and read_b.
download() {
  local name=$1 url=$2 want=$3 idle peak v cpid out r0 c0
  sleep 0.5
  idle=$(rss_kb)
  peak=$idle
  r0=$(rchar_b)
  c0=$(cpu_ticks_of "$srv_pid")
  curl -s -S -o /dev/null -w '%{time_starttransfer} %{time_total} %{size_download} %{speed_download} %{http_code}\n' \
    "$url" >"$work/curl.out" 2>&1 &
  cpid=$!
  while kill -0 "$cpid" 2>/dev/null; do
    v=$(rss_kb)
    [ "$v" -gt "$peak" ] && peak=$v
    sleep 0.02
  done
  wait "$cpid" || die "$name: curl failed: $(cat "$work/curl.out")"
  read_b=$(($(rchar_b) - r0))
  cpu_s=$(awk -v t=$(($(cpu_ticks_of "$srv_pid") - c0)) -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", t / hz }')
  read -r ttfb total size speed code <"$work/curl.out"
  [ "$code" = 200 ] || die "$name: status $code"
  [ "$size" = "$want" ] || die "$name: $size bytes, want $want"
  out=$(awk -v n="$name" -v t="$ttfb" -v T="$total" -v s="$size" -v sp="$speed" -v i="$idle" -v p="$peak" -v rd="$read_b" -v c="$cpu_s" 'BEGIN {
    printf "%-14s ttfb %6.1f ms  total %6.2f s  %7.1f MiB  %6.1f MiB/s  server cpu %5.2f s  rss idle %5.1f peak %5.1f growth %4.1f MiB  read %6.1f MiB",
      n, t * 1000, T, s / 1048576, sp / 1048576, c, i / 1024, p / 1024, (p - i) / 1024, rd / 1048576 }')
  note "$out"
  growth_kb=$((peak - idle)) idle_kb=$idle peak_kb=$peak
  ttfb_ms=$(awk -v t="$ttfb" 'BEGIN { printf "%.1f", t * 1000 }')
}

# median: the median of the numbers on stdin.
median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

fail=0

measure_ndjson() {
  local runs=${BENCH_RUNS:-3} ttfbs=() max_growth=0 med
  for run in $(seq 1 "$runs"); do
    measure "ndjson #$run" "$base/big/?format=ndjson"
    [ "$lines" = "$entries" ] || { note "  FAIL: $lines lines, want $entries"; fail=1; }
    ttfbs+=("$ttfb_ms")
    [ "$growth_kb" -gt "$max_growth" ] && max_growth=$growth_kb
  done
  med=$(printf '%s\n' "${ttfbs[@]}" | median)
  note "ndjson: median time to first byte $med ms over $runs runs; largest RSS growth $((max_growth / 1024)) MiB"
  [ "$max_growth" -lt $((32 << 10)) ] || { note "  MISS: RSS growth over 32 MiB"; fail=1; }
  [ "$med" -lt 50 ] || { note "  MISS: median time to first byte over 50 ms"; fail=1; }
  measure "json page" "$base/big/?format=json&limit=1000"
}

# measure_zip: the folder as one ZIP against the plain download of the
# same bytes, BENCH_ZIP_RUNS times, each with a new server: plain, ZIP
# (cold: every CRC-32 computed on the way), ZIP again (warm: CRC-32s
# known, entries sent with sendfile), plain again. The throughput ratio of
# a run is the ZIP's over the mean of that run's two plain downloads (so
# that drift on the shared machine during the run hits both sides).
measure_zip() {
  local runs=${BENCH_ZIP_RUNS:-3} zsize ttfbs=() cold=() warm=() max_growth=0 p1 p2 zc zw rc rw med base_kb top_kb
  note "zip: $zip_files files, $(mib "$zip_total") MiB; plain = $root/zipdir.bin (the same bytes in one file)"
  # Both sides read from the page cache.
  find "$root/zipdir" -type f -exec cat {} + >/dev/null
  cat "$root/zipdir.bin" >/dev/null
  for run in $(seq 1 "$runs"); do
    note "zip run $run: load average $(cut -d' ' -f1-3 /proc/loadavg)"
    start_server
    zsize=$(curl -fsS -I "$base/zipdir/?archive=zip" | awk 'tolower($1) == "content-length:" { sub(/\r$/, "", $2); print $2 }')
    [ -n "$zsize" ] || die "no Content-Length for the archive"
    download "plain #$run" "$base/zipdir.bin" "$zip_total"
    p1=$speed
    download "zip cold #$run" "$base/zipdir/?archive=zip" "$zsize"
    zc=$speed rc=$read_b base_kb=$idle_kb top_kb=$peak_kb
    ttfbs+=("$ttfb_ms")
    download "zip warm #$run" "$base/zipdir/?archive=zip" "$zsize"
    zw=$speed
    ttfbs+=("$ttfb_ms")
    [ "$peak_kb" -gt "$top_kb" ] && top_kb=$peak_kb
    # Growth over the server idle before its first archive, through both.
    [ $((top_kb - base_kb)) -gt "$max_growth" ] && max_growth=$((top_kb - base_kb))
    download "plain #$run'" "$base/zipdir.bin" "$zip_total"
    p2=$speed
    cold+=("$(awk -v z="$zc" -v a="$p1" -v b="$p2" 'BEGIN { printf "%.3f", 2 * z / (a + b) }')")
    warm+=("$(awk -v z="$zw" -v a="$p1" -v b="$p2" 'BEGIN { printf "%.3f", 2 * z / (a + b) }')")
    note "  run $run: zip/plain throughput cold ${cold[-1]}x, warm ${warm[-1]}x; RSS growth through both archives $(mib $(((top_kb - base_kb) << 10))) MiB; the cold archive read $(awk -v r="$rc" -v t="$zip_total" 'BEGIN { printf "%.3f", r / t }')x the entries' bytes"
    stop_server
  done
  if [ "${BENCH_ZIP_VERIFY:-1}" = 1 ] && command -v unzip >/dev/null; then
    start_server
    curl -fsS -o "$work/zipdir.zip" "$base/zipdir/?archive=zip" || die "zip: download for unzip -t failed"
    if unzip -tqq "$work/zipdir.zip" >"$work/unzip.out" 2>&1; then
      note "zip: unzip -t: no errors ($(unzip -Z1 "$work/zipdir.zip" | grep -vc '/$') files)"
    else
      note "  FAIL: unzip -t: $(tail -3 "$work/unzip.out")"
      fail=1
    fi
    rm -f "$work/zipdir.zip"
    stop_server
  fi
  med=$(printf '%s\n' "${ttfbs[@]}" | median)
  rc=$(printf '%s\n' "${cold[@]}" | median)
  rw=$(printf '%s\n' "${warm[@]}" | median)
  note "zip: median time to first byte $med ms; largest RSS growth $(mib $((max_growth << 10))) MiB; median throughput ratio cold ${rc}x, warm ${rw}x over $runs runs"
  [ "$max_growth" -lt $((32 << 10)) ] || { note "  MISS: RSS growth over 32 MiB"; fail=1; }
  awk -v m="$med" 'BEGIN { exit !(m < 50) }' || { note "  MISS: median time to first byte over 50 ms"; fail=1; }
  awk -v r="$rc" 'BEGIN { exit !(r >= 0.9) }' || { note "  MISS: cold ZIP throughput under 0.9x plain"; fail=1; }
  awk -v r="$rw" 'BEGIN { exit !(r >= 0.9) }' || { note "  MISS: warm ZIP throughput under 0.9x plain"; fail=1; }
}

if has_part ndjson; then
  start_server
  measure_ndjson
  stop_server
fi
if has_part zip; then
  measure_zip
fi
note "bench/stream.sh: load average $(cut -d' ' -f1-3 /proc/loadavg) at the end"
exit $fail
