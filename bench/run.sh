#!/usr/bin/env bash
# bench/run.sh: rangeserve against Debian's nginx (as configured by issue 6,
# and again with open_file_cache, as an operator tunes it) and Go's
# http.FileServer, on the same files, on loopback, interleaved so that
# machine drift hits all four alike. See BENCHMARKS.md for what each
# measurement means.
#
#   bash bench/run.sh                 full run (BENCH_ROUNDS=3, 1 GiB file)
#   BENCH_QUICK=1 bash bench/run.sh   smoke run, under 2 minutes
#
# Environment: BENCH_ROUNDS (default 3, quick 1), BENCH_QUICK=1,
# BENCH_STRICT=1 (exit 1 when a target is missed, not only when the run
# was not clean), BENCH_WRK_CHECK=aggregate (check wrk's statuses from its
# totals instead of a per-response Lua callback, which costs the client
# 11-13 µs per response: see BENCHMARKS.md), NGINX (path of the nginx binary).
#
# It installs nothing: a missing nginx or wrk is an error that says to run
# `make deps`. It stops only the processes it started, by pid.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
# shellcheck source=bench/lib.sh
. "$here/lib.sh"
quick=${BENCH_QUICK:-0}
strict=${BENCH_STRICT:-0}

if [ "$quick" = 1 ]; then
  rounds=${BENCH_ROUNDS:-1}
  big_size=$((256 << 20)) big_label="256 MiB"
  mid_size=$((16 << 20)) mid_label="16 MiB"
  stream_count=1 parallel_count=1 wrk_secs=3 slow_secs=5
  mode="quick (BENCH_QUICK=1: smaller files, shorter runs)"
else
  rounds=${BENCH_ROUNDS:-3}
  big_size=$((1 << 30)) big_label="1 GiB"
  mid_size=$((64 << 20)) mid_label="64 MiB"
  stream_count=3 parallel_count=3 wrk_secs=10 slow_secs=15
  mode="full"
fi
export WRK_CHECK=${BENCH_WRK_CHECK:-response}
if [ "$WRK_CHECK" = aggregate ]; then
  mode="$mode; statuses checked from wrk's totals (BENCH_WRK_CHECK=aggregate)"
fi
small_size=$((64 << 10))
range_len=65536
wrk_threads=2 wrk_conns=64
parallel_n=16
slow_n=1000 slow_rate=65536 # bytes/s per reader

# --- tools -----------------------------------------------------------------
die() { echo "bench: $*" >&2; exit 1; }
NGINX=${NGINX:-$(command -v nginx || true)}
if [ -z "$NGINX" ] && [ -x /usr/sbin/nginx ]; then NGINX=/usr/sbin/nginx; fi
[ -n "$NGINX" ] || die "nginx is not installed: run \`make deps\` (Debian package nginx)"
command -v wrk >/dev/null || die "wrk is not installed: run \`make deps\` (Debian package wrk)"
command -v go >/dev/null || die "go is not on PATH"
[ -r /proc/self/stat ] || die "needs Linux /proc for CPU time and RSS"
clk_tck=$(getconf CLK_TCK)
loadavg_start=$(cut -d' ' -f1-3 /proc/loadavg)
if awk -v l="${loadavg_start%% *}" -v n="$(nproc)" 'BEGIN { exit !(l > n / 4) }'; then
  echo "bench: warning: the machine is busy (load average $loadavg_start on $(nproc) CPUs);" \
    "interleaving spreads the drift over all servers, but the figures will be noisier" >&2
fi

# --- work dir, cleanup -------------------------------------------------------
work=$(mktemp -d "${TMPDIR:-/tmp}/rangeserve-bench.XXXXXX")
chmod 755 "$work" # nginx workers may run as another user
declare -A running=() # server name -> pid of the process we started
cleanup() {
  local name
  for name in "${!running[@]}"; do stop_server "$name"; done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

bin=$work/bin data=$work/data
mkdir -p "$bin" "$data" "$work/nginx/tmp" "$work/nginx_ofc/tmp" "$here/out"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
raw=$here/out/raw-$stamp.tsv
log=$here/out/log-$stamp.txt
: >"$raw"
: >"$log"
note() { echo "bench: $*" | tee -a "$log" >&2; }

note "building rangeserve, load, fileserver, report into $bin"
(cd "$repo" && go build -o "$bin/rangeserve" ./cmd/rangeserve) ||
  die "rangeserve does not build; fix that first"
(cd "$repo" && go build -o "$bin/load" ./bench/load && go build -o "$bin/fileserver" ./bench/fileserver &&
  go build -o "$bin/report" ./bench/report)

note "creating random files in $data ($big_label, $mid_label, 64 KiB)"
head -c "$big_size" /dev/urandom >"$data/big.bin"
head -c "$mid_size" /dev/urandom >"$data/mid.bin"
head -c "$small_size" /dev/urandom >"$data/small.bin"
chmod 755 "$data"
chmod 644 "$data"/*.bin
cat "$data"/*.bin >/dev/null # in the page cache for everyone

# --- servers ---------------------------------------------------------------
servers=(rangeserve nginx nginx_ofc fileserver)
declare -A port=()
for s in "${servers[@]}"; do port[$s]=$("$bin/load" freeport); done
url() { echo "http://127.0.0.1:${port[$1]}"; }

# As shipped, but for the per-client stream cap (server.max_streams_per_
# client): every client of this benchmark is 127.0.0.1, and test 5 opens
# 1,000 streams from it; nginx, as configured here, has no such cap either.
cat >"$work/rangeserve.yaml" <<EOF
server:
  max_streams_per_client: 0
mounts:
  - prefix: /
    backend: local
    root: $data
    auth: public
EOF

write_nginx_conf "$work/nginx" "${port[nginx]}" "$data"
write_nginx_conf "$work/nginx_ofc" "${port[nginx_ofc]}" "$data" "$nginx_open_file_cache"

start_server() {
  local name=$1 ready
  case $name in
  rangeserve)
    # Access logging stays on, as shipped; stderr goes to a file.
    "$bin/rangeserve" -config "$work/rangeserve.yaml" -listen "127.0.0.1:${port[rangeserve]}" \
      >>"$work/rangeserve.log" 2>&1 &
    ready=/api/healthz
    ;;
  nginx | nginx_ofc)
    "$NGINX" -p "$work/$name/" -c "$work/$name/nginx.conf" -e "$work/$name/error.log" \
      >>"$work/$name/stdout.log" 2>&1 &
    ready=/small.bin
    ;;
  fileserver)
    "$bin/fileserver" -listen "127.0.0.1:${port[fileserver]}" -dir "$data" >>"$work/fileserver.log" 2>&1 &
    ready=/small.bin
    ;;
  esac
  running[$name]=$!
  "$bin/load" wait "$(url "$name")$ready" 15s || die "$name did not start; see $work"
  if [ "$name" != "${name#nginx}" ]; then
    # Wait for both workers.
    local i
    for i in $(seq 50); do
      [ "$(pids_of "$name" | wc -w)" -ge 3 ] && break
      sleep 0.1
    done
  fi
}

stop_server() {
  local name=$1 pid=${running[$1]:-} i
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  unset "running[$name]"
}

# pids_of NAME: the server's pids; for nginx the master and its workers.
pids_of() {
  if [ "$1" != "${1#nginx}" ]; then with_children "${running[$1]}"; else echo "${running[$1]}"; fi
}

# cpu_ticks NAME: utime+stime summed over the server's pids, in clock ticks.
cpu_ticks() {
  # shellcheck disable=SC2046
  cpu_ticks_of $(pids_of "$1")
}

# rss_kb NAME: VmRSS summed over the server's pids.
rss_kb() {
  local sum=0 pid v
  for pid in $(pids_of "$1"); do
    v=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
    sum=$((sum + ${v:-0}))
  done
  echo "$sum"
}

# emit TEST SERVER ROUND "k=v k=v ...": one raw line per pair.
emit() {
  local kv
  for kv in $4; do
    echo "$1 $2 $3 ${kv%%=*} ${kv#*=}" >>"$raw"
  done
}

# order ROUND: the servers rotated by the round, so that none always runs
# first or last.
order() {
  local r=$1 n=${#servers[@]} i
  for i in $(seq 0 $((n - 1))); do echo "${servers[$(((i + r - 1) % n))]}"; done
}

# --- measurements ----------------------------------------------------------
run_load() { # TEST SERVER ROUND load-args...: also the peak summed VmRSS while it runs
  local test=$1 srv=$2 round=$3 c0 c1 out lpid peak=0 v
  shift 3
  c0=$(cpu_ticks "$srv")
  "$bin/load" -timeout 300s "$@" >"$work/load.out" 2>&1 &
  lpid=$!
  while kill -0 "$lpid" 2>/dev/null; do
    v=$(rss_kb "$srv")
    [ "$v" -gt "$peak" ] && peak=$v
    sleep 0.1
  done
  wait "$lpid" || die "$test/$srv: load $* failed: $(cat "$work/load.out")"
  out=$(cat "$work/load.out")
  c1=$(cpu_ticks "$srv")
  emit "$test" "$srv" "$round" "$out cpu_ticks=$((c1 - c0)) rss_peak_kb=$peak"
  note "$test round $round $srv: $out cpu_ticks=$((c1 - c0)) rss_peak_kb=$peak"
}

run_wrk() { # TEST SERVER ROUND PATH [env...]
  local test=$1 srv=$2 round=$3 path=$4 c0 c1 out line
  shift 4
  c0=$(cpu_ticks "$srv")
  out=$(env "$@" timeout $((wrk_secs + 60)) wrk -t$wrk_threads -c$wrk_conns -d${wrk_secs}s --timeout 5s --latency \
    -s "$here/random-range.lua" "$(url "$srv")$path") || die "$test/$srv: wrk failed: $out"
  c1=$(cpu_ticks "$srv")
  echo "$out" >>"$log"
  line=$(echo "$out" | sed -n 's/^WRK //p')
  [ -n "$line" ] || die "$test/$srv: no WRK line in wrk's output: $out"
  emit "$test" "$srv" "$round" "$line cpu_ticks=$((c1 - c0))"
  note "$test round $round $srv: $line cpu_ticks=$((c1 - c0))"
}

# run_slow TEST SERVER ROUND PATH: a fresh server, slow_n readers; the
# peak of the summed VmRSS, sampled every 100 ms while they read.
run_slow() {
  local test=$1 srv=$2 round=$3 path=$4 idle peak=0 v lpid out
  stop_server "$srv"
  start_server "$srv"
  sleep 0.5
  idle=$(rss_kb "$srv")
  "$bin/load" -timeout $((slow_secs + 60))s slow $slow_n "$(url "$srv")$path" $slow_rate ${slow_secs}s \
    >"$work/slow.out" 2>&1 &
  lpid=$!
  while kill -0 "$lpid" 2>/dev/null; do
    v=$(rss_kb "$srv")
    [ "$v" -gt "$peak" ] && peak=$v
    sleep 0.1
  done
  wait "$lpid" || die "$test/$srv: slow readers failed: $(cat "$work/slow.out")"
  out=$(cat "$work/slow.out")
  emit "$test" "$srv" "$round" "$out rss_idle_kb=$idle rss_peak_kb=$peak"
  note "$test round $round $srv: $out rss_idle_kb=$idle rss_peak_kb=$peak"
}

for s in "${servers[@]}"; do start_server "$s"; done
note "servers: rangeserve pid ${running[rangeserve]} $(url rangeserve), nginx pids $(pids_of nginx | tr '\n' ' ')$(url nginx), nginx_ofc pids $(pids_of nginx_ofc | tr '\n' ' ')$(url nginx_ofc), fileserver pid ${running[fileserver]} $(url fileserver)"

note "warm-up (not measured)"
for s in "${servers[@]}"; do
  "$bin/load" stream "$(url "$s")/big.bin" >/dev/null
  RANGE_SIZE=$big_size RANGE_LEN=$range_len timeout 60 wrk -t$wrk_threads -c$wrk_conns -d1s \
    -s "$here/random-range.lua" "$(url "$s")/big.bin" >>"$log"
done

for r in $(seq "$rounds"); do
  for s in $(order "$r"); do run_load stream "$s" "$r" stream "$(url "$s")/big.bin" $stream_count; done
done
for r in $(seq "$rounds"); do
  for s in $(order "$r"); do run_load parallel "$s" "$r" parallel $parallel_n "$(url "$s")/mid.bin" $parallel_count; done
done
for r in $(seq "$rounds"); do
  for s in $(order "$r"); do run_wrk ranges "$s" "$r" /big.bin RANGE_SIZE=$big_size RANGE_LEN=$range_len; done
done
for r in $(seq "$rounds"); do
  for s in $(order "$r"); do run_wrk small "$s" "$r" /small.bin; done
done
for r in $(seq "$rounds"); do
  for s in $(order "$r"); do run_slow slow_big "$s" "$r" /big.bin; done
  for s in $(order "$r"); do run_slow slow_mid "$s" "$r" /mid.bin; done
done

# --- report ----------------------------------------------------------------
log_lines=$(grep -c '"request"\|msg=request' "$work/rangeserve.log" || true)
commit=$(cd "$repo" && git rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ -n "$(cd "$repo" && git status --porcelain 2>/dev/null | head -1)" ]; then commit="$commit (uncommitted changes)"; fi
meta=$here/out/meta-$stamp.txt
cat >"$meta" <<EOF
date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
mode=$mode
rounds=$rounds
commit=$commit
nproc=$(nproc)
cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
kernel=$(uname -r)
go=$(go version | awk '{print $3}')
nginx=$("$NGINX" -v 2>&1 | sed 's/^nginx version: //')
nginx_ofc=$nginx_open_file_cache
wrk=$(wrk --version 2>&1 | head -1 | awk '{print $2}')
clk_tck=$clk_tck
big_size=$big_size
big_label=$big_label
mid_size=$mid_size
mid_label=$mid_label
small_size=$small_size
stream_count=$stream_count
parallel_n=$parallel_n
parallel_count=$parallel_count
wrk_args=-t$wrk_threads -c$wrk_conns -d${wrk_secs}s --timeout 5s
slow_n=$slow_n
slow_rate_bytes_per_s=$slow_rate
slow_seconds=$slow_secs
rangeserve_access_log_lines=$log_lines
loadavg_start=$loadavg_start
loadavg_end=$(cut -d' ' -f1-3 /proc/loadavg)
EOF
json=$here/out/results-$stamp.json
md=$here/out/results-$stamp.md
set +e
"$bin/report" -strict="$([ "$strict" = 1 ] && echo true || echo false)" -raw "$raw" -meta "$meta" -json "$json" | tee "$md"
rc=${PIPESTATUS[0]}
set -e
echo
echo "bench: JSON in $json, raw figures in $raw, log in $log"
case $rc in
0) ;;
3) die "BENCH_STRICT=1 and not every target is met" ;;
*) die "the run was not clean (see the list above)" ;;
esac
