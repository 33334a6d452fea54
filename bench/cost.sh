#!/usr/bin/env bash
# bench/cost.sh: what one small request costs each server, in CPU
# microseconds and system calls. Requests/s on a shared two-core machine
# swing with the background load; the server's CPU per request does not,
# so this is the figure to watch when changing the hot path.
#
#   bash bench/cost.sh                    rangeserve (this tree), nginx (also with
#                                         open_file_cache), http.FileServer
#   COST_BASE=HEAD~3 bash bench/cost.sh   adds rangeserve built from that git revision
#
# For each server and round it runs wrk (2 threads, 64 connections,
# COST_SECS seconds, default 4) on a 64 KiB file and on 64 KiB ranges at
# random offsets of a 256 MiB file, reads the server's utime+stime from
# /proc before and after, and, when `perf stat` can count the
# raw_syscalls:sys_enter tracepoint, counts its system calls. Servers are
# interleaved, rotated by round (COST_ROUNDS, default 2). rangeserve runs
# with the access log on, as shipped. It installs nothing (`make deps`
# installs nginx and wrk) and stops only the pids it started.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
# shellcheck source=bench/lib.sh
. "$here/lib.sh"
rounds=${COST_ROUNDS:-2}
secs=${COST_SECS:-4}
base=${COST_BASE:-}

die() { echo "cost: $*" >&2; exit 1; }
NGINX=${NGINX:-$(command -v nginx || true)}
if [ -z "$NGINX" ] && [ -x /usr/sbin/nginx ]; then NGINX=/usr/sbin/nginx; fi
[ -n "$NGINX" ] || die "nginx is not installed: run \`make deps\`"
command -v wrk >/dev/null || die "wrk is not installed: run \`make deps\`"
clk_tck=$(getconf CLK_TCK)

work=$(mktemp -d "${TMPDIR:-/tmp}/rangeserve-cost.XXXXXX")
chmod 755 "$work"
declare -A running=()
cleanup() {
  local n
  for n in "${!running[@]}"; do
    kill -TERM "${running[$n]}" 2>/dev/null || true
    wait "${running[$n]}" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

bin=$work/bin data=$work/data
mkdir -p "$bin" "$data"
(cd "$repo" && go build -o "$bin/rangeserve" ./cmd/rangeserve && go build -o "$bin/load" ./bench/load &&
  go build -o "$bin/fileserver" ./bench/fileserver) || die "build failed"
servers=(rangeserve nginx nginx_ofc fileserver)
if [ -n "$base" ]; then
  git -C "$repo" worktree add -q --detach "$work/base" "$base" || die "cannot check out $base"
  (cd "$work/base" && go build -o "$bin/rangeserve-base" ./cmd/rangeserve) || die "$base does not build"
  git -C "$repo" worktree remove --force "$work/base"
  servers=(rangeserve rangeserve-base nginx nginx_ofc fileserver)
fi
head -c $((256 << 20)) /dev/urandom >"$data/big.bin"
head -c $((64 << 10)) /dev/urandom >"$data/small.bin"
chmod 755 "$data" && chmod 644 "$data"/*.bin
cat "$data"/*.bin >/dev/null

declare -A port=()
for s in "${servers[@]}"; do port[$s]=$("$bin/load" freeport); done
printf 'mounts:\n  - prefix: /\n    backend: local\n    root: %s\n    auth: public\n' "$data" >"$work/rs.yaml"
write_nginx_conf "$work/nginx" "${port[nginx]}" "$data"
write_nginx_conf "$work/nginx_ofc" "${port[nginx_ofc]}" "$data" "$nginx_open_file_cache"
for s in "${servers[@]}"; do
  case $s in
  rangeserve*) "$bin/$s" -config "$work/rs.yaml" -listen "127.0.0.1:${port[$s]}" 2>"$work/$s.log" & ;;
  nginx*) "$NGINX" -p "$work/$s/" -c "$work/$s/nginx.conf" -e "$work/$s/error.log" & ;;
  fileserver) "$bin/fileserver" -listen "127.0.0.1:${port[$s]}" -dir "$data" & ;;
  esac
  running[$s]=$!
  "$bin/load" wait "http://127.0.0.1:${port[$s]}/small.bin" 15s || die "$s did not start"
done
sleep 0.5 # nginx's workers

pids() { # the server's pid, and for nginx its workers
  if [ "$1" != "${1#nginx}" ]; then with_children "${running[$1]}"; else echo "${running[$1]}"; fi
}
# shellcheck disable=SC2046
ticks() { cpu_ticks_of $(pids "$1"); }
perf_ok=0
if command -v perf >/dev/null && perf stat -e raw_syscalls:sys_enter -p "${running[fileserver]}" -- sleep 0.1 >/dev/null 2>&1; then
  perf_ok=1
fi

# warm up every server on both URLs
for s in "${servers[@]}"; do
  RANGE_SIZE=$((256 << 20)) wrk -t2 -c64 -d1s -s "$here/random-range.lua" "http://127.0.0.1:${port[$s]}/big.bin" >/dev/null
  wrk -t2 -c64 -d1s -s "$here/random-range.lua" "http://127.0.0.1:${port[$s]}/small.bin" >/dev/null
done

results=$work/results.tsv
: >"$results"
for r in $(seq "$rounds"); do
  n=${#servers[@]}
  for i in $(seq 0 $((n - 1))); do
    s=${servers[$(((i + r - 1) % n))]}
    for test in small ranges; do
      envs=() path=/small.bin
      [ $test = ranges ] && envs=(RANGE_SIZE=$((256 << 20))) path=/big.bin
      c0=$(ticks "$s")
      if [ $perf_ok = 1 ]; then
        perf stat -x, -e raw_syscalls:sys_enter -p "$(pids "$s" | paste -sd,)" -o "$work/perf.txt" -- sleep $((secs + 1)) &
        perfpid=$!
      fi
      out=$(env "${envs[@]}" wrk -t2 -c64 -d${secs}s --timeout 5s -s "$here/random-range.lua" "http://127.0.0.1:${port[$s]}$path")
      c1=$(ticks "$s")
      sc=0
      if [ $perf_ok = 1 ]; then
        wait $perfpid || true
        sc=$(awk -F, '/raw_syscalls/ {print $1}' "$work/perf.txt")
      fi
      line=$(grep '^WRK ' <<<"$out") || die "$s $test: wrk printed no WRK line: $out"
      reqs=$(sed -E 's/.*requests=([0-9]+).*/\1/' <<<"$line")
      dur=$(sed -E 's/.*duration_us=([0-9]+).*/\1/' <<<"$line")
      bad=$(sed -E 's/.*unexpected=([0-9]+).*/\1/' <<<"$line")
      [ "$bad" = 0 ] || die "$s $test: $bad responses with the wrong status"
      echo "$test $s $r $reqs $dur $((c1 - c0)) $sc" >>"$results"
    done
  done
done

echo
echo "cost per request, $(date -u +%FT%TZ), $rounds rounds of ${secs}s, wrk -t2 -c64; load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo
awk -v tck="$clk_tck" -v perf="$perf_ok" '
{ k = $1 " " $2; req[k] += $4; us[k] += $5; cpu[k] += $6; sc[k] += $7; if (!($2 in order)) { order[$2] = ++n; name[n] = $2 } }
END {
  printf "| server | 64 KiB file: req/s | CPU µs/req | syscalls/req | 64 KiB ranges: req/s | CPU µs/req | syscalls/req |\n"
  printf "|---|--:|--:|--:|--:|--:|--:|\n"
  for (i = 1; i <= n; i++) {
    s = name[i]; line = "| " s
    split("small ranges", tests, " ")
    for (t = 1; t <= 2; t++) {
      k = tests[t] " " s
      rps = req[k] / (us[k] / 1e6)
      c = cpu[k] / tck * 1e6 / req[k]
      line = line sprintf(" | %.0f | %.1f | %s", rps, c, perf ? sprintf("%.1f", sc[k] / req[k]) : "n/a")
    }
    print line " |"
  }
}' "$results"
