#!/usr/bin/env bash
# bench/scaleout.sh: rangeserve scale-out on loopback (issue 12).
#
# Starts MinIO in erasure-coded mode (one server, 4 drive directories), two
# rangeserve nodes A and B with the same config (same link key, a signed
# S3 mount) and nginx in front of both (upstream, round robin), uploads one
# object of random bytes, and proves:
#
#   1. a link minted on node A (rangeserve sign -config A) plays through
#      node B: a Range request straight at B gets 206 and the right bytes;
#   2. one MinIO drive directory removed (rm -rf) mid-stream does not fail a
#      stream through node A (rate-limited, node A's cache cold);
#   3. aria2c -x4 through nginx, with node A killed (SIGKILL, by pid)
#      mid-download, resumes through node B to the right SHA-256.
#
# Prints PASS/FAIL lines with figures; exit status 0 only when all pass.
#
#   bash bench/scaleout.sh
#
# Environment: SCALE_MIB (object size, default 64), RANGESERVE_TOOLS (where
# minio is; default ~/.cache/rangeserve/bin), MINIO (its path), KEEP=1
# (keep the work directory). Everything listens on 127.0.0.1; the whole run
# is bounded (each step by timeout(1), the script by a 300 s watchdog); it
# stops only the processes it started, by pid.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
die() { echo "bench/scaleout: $*" >&2; exit 1; }
log() { echo "scaleout: $*" >&2; }

size_mib=${SCALE_MIB:-64}
tools=${RANGESERVE_TOOLS:-$HOME/.cache/rangeserve/bin}
MINIO=${MINIO:-}
if [ -z "$MINIO" ]; then
  if [ -x "$tools/minio" ]; then MINIO=$tools/minio; else MINIO=$(command -v minio || true); fi
fi
[ -n "$MINIO" ] && [ -x "$MINIO" ] || die "minio not found in $tools nor on PATH (see internal/testenv, scripts/deps.sh)"
for p in go nginx aria2c curl sha256sum timeout; do
  command -v "$p" >/dev/null || die "$p is not on PATH (scripts/deps.sh installs it)"
done

work=$(mktemp -d "${TMPDIR:-/tmp}/rangeserve-scaleout.XXXXXX")
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do
    kill -0 "$p" 2>/dev/null && kill -TERM "$p" 2>/dev/null
  done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
  chmod -R u+rwx "$work" 2>/dev/null
  if [ "${KEEP:-0}" = 1 ]; then log "work directory kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# Watchdog: the whole run ends within 300 s whatever hangs.
( sleep 300; log "watchdog: 300 s passed, stopping"; kill -TERM $$ ) 2>/dev/null &
watchdog=$!
pids+=("$watchdog")

results=()
fails=0
pass() { results+=("PASS  $*"); }
fail() { results+=("FAIL  $*"); fails=$((fails + 1)); }

log "building rangeserve and the helper into $work"
(cd "$repo" && go build -o "$work/rangeserve" ./cmd/rangeserve) || die "rangeserve does not build"
(cd "$repo" && go build -o "$work/scaleout" ./bench/scaleout) || die "bench/scaleout does not build"

mapfile -t ports < <("$work/scaleout" ports 5)
mport=${ports[0]} cport=${ports[1]} aport=${ports[2]} bport=${ports[3]} nport=${ports[4]}
export MINIO_ROOT_USER=scaleout MINIO_ROOT_PASSWORD=$(head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n')
export RANGESERVE_LINK_KEY=$(head -c 48 /dev/urandom | base64 | tr -d '\n')

# --- MinIO, erasure coded over 4 drive directories -------------------------
mkdir -p "$work"/drive{1,2,3,4}
# MINIO_CI_CD=1: MinIO refuses drive directories on the root disk
# ("drive not found, will be retried") unless told this is a test.
MINIO_CI_CD=1 "$MINIO" server "$work/drive{1...4}" --address "127.0.0.1:$mport" \
  --console-address "127.0.0.1:$cport" >"$work/minio.log" 2>&1 &
minio_pid=$!
pids+=("$minio_pid")
# health/cluster answers 200 once the erasure set has write quorum.
for _ in $(seq 120); do
  curl -fs -o /dev/null "http://127.0.0.1:$mport/minio/health/cluster" && break
  sleep 0.5
done
curl -fs -o /dev/null "http://127.0.0.1:$mport/minio/health/cluster" || { cat "$work/minio.log" >&2; die "MinIO did not start"; }
ec=$(grep -ao '[0-9]* set(s), [0-9]* drives per set' "$work/minio.log" | head -1)
log "MinIO up (pid $minio_pid) on 127.0.0.1:$mport, 4 drives ${ec:+($ec)}"

head -c $((size_mib << 20)) /dev/urandom >"$work/object.bin"
sum=$(sha256sum "$work/object.bin" | cut -d' ' -f1)
timeout 120 "$work/scaleout" upload "127.0.0.1:$mport" media film.bin "$work/object.bin" >&2 || die "upload failed"
parts=$(find "$work/drive1" "$work/drive2" "$work/drive3" "$work/drive4" -path '*film.bin*' -name 'part.*' | wc -l)
log "object: $size_mib MiB, sha256 $sum, $parts erasure part files over the 4 drives"

# --- two rangeserve nodes, the same config ---------------------------------
cat >"$work/rangeserve.yaml" <<EOC
listen: 127.0.0.1:$aport
log: {access: true}
server:
  shutdown_timeout: 10s
  trusted_proxies: [127.0.0.1/32]
cache: {block_size: 1MiB, max_bytes: 128MiB, read_ahead: 2}
auth:
  keys:
    - {id: scale1, secret_env: RANGESERVE_LINK_KEY}
mounts:
  - prefix: /media/
    backend: s3
    auth: signed
    s3: {endpoint: "127.0.0.1:$mport", bucket: media, tls: false, path_style: true, access_key: "$MINIO_ROOT_USER", secret_key: "$MINIO_ROOT_PASSWORD", timeout: 30s}
EOC
# Node B's file is node A's with only the listen line changed.
sed "s/^listen: .*/listen: 127.0.0.1:$bport/" "$work/rangeserve.yaml" >"$work/rangeserve-b.yaml"
diff_lines=$(diff "$work/rangeserve.yaml" "$work/rangeserve-b.yaml" | grep -c '^[<>]')

start_node() { # NAME CONFIG PORT
  "$work/rangeserve" -config "$2" >"$work/$1.log" 2>&1 &
  local p=$!
  pids+=("$p")
  for _ in $(seq 100); do
    curl -fs -o /dev/null "http://127.0.0.1:$3/readyz" && break
    sleep 0.2
  done
  curl -fs -o /dev/null "http://127.0.0.1:$3/readyz" || { cat "$work/$1.log" >&2; die "node $1 not ready"; }
  echo "$p"
}
a_pid=$(start_node A "$work/rangeserve.yaml" "$aport") || exit 1
b_pid=$(start_node B "$work/rangeserve-b.yaml" "$bport") || exit 1
pids+=("$a_pid" "$b_pid")
log "node A pid $a_pid on :$aport, node B pid $b_pid on :$bport (configs differ in $diff_lines lines: listen only)"

# --- nginx upstream over both ----------------------------------------------
mkdir -p "$work/nginx/tmp"
cat >"$work/nginx/nginx.conf" <<EOC
daemon off;
master_process on;
worker_processes 1;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 1024; }
http {
  log_format up '\$status \$upstream_addr \$upstream_status \$http_range \$body_bytes_sent';
  access_log $work/nginx/access.log up;
  client_body_temp_path $work/nginx/tmp/body;
  proxy_temp_path $work/nginx/tmp/proxy;
  fastcgi_temp_path $work/nginx/tmp/fastcgi;
  uwsgi_temp_path $work/nginx/tmp/uwsgi;
  scgi_temp_path $work/nginx/tmp/scgi;
  upstream rangeserve {
    server 127.0.0.1:$aport max_fails=1 fail_timeout=10s;
    server 127.0.0.1:$bport max_fails=1 fail_timeout=10s;
    keepalive 16;
  }
  server {
    listen 127.0.0.1:$nport;
    location / {
      proxy_pass http://rangeserve;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host \$host;
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
      proxy_buffering off;
      proxy_next_upstream error timeout http_502 http_503;
      proxy_connect_timeout 2s;
    }
  }
}
EOC
nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" >"$work/nginx/stderr.log" 2>&1 &
nginx_pid=$!
pids+=("$nginx_pid")
for _ in $(seq 50); do
  curl -s -o /dev/null "http://127.0.0.1:$nport/readyz" && break
  sleep 0.1
done
log "nginx pid $nginx_pid on :$nport, upstream A and B round robin"

# --- 1. a link minted on A plays through B ---------------------------------
link=$("$work/rangeserve" sign -config "$work/rangeserve.yaml" -ttl 1h -base "http://127.0.0.1:$aport" /media/film.bin) || die "sign failed"
query=${link#*\?}
log "link minted on A: ${link%%\?*}?<${#query} chars of query>"
r_from=$((size_mib << 19)) r_to=$(((size_mib << 19) + (1 << 20) - 1))
want=$(tail -c +$((r_from + 1)) "$work/object.bin" | head -c $((r_to - r_from + 1)) | sha256sum | cut -d' ' -f1)
code=$(timeout 30 curl -s -o "$work/rangeB.bin" -w '%{http_code}' -H "Range: bytes=$r_from-$r_to" "http://127.0.0.1:$bport/media/film.bin?$query")
got=$(sha256sum "$work/rangeB.bin" | cut -d' ' -f1)
cr=$(timeout 10 curl -s -o /dev/null -D - -H "Range: bytes=$r_from-$r_to" "http://127.0.0.1:$bport/media/film.bin?$query" | tr -d '\r' | grep -i '^content-range:' | cut -d' ' -f2-)
if [ "$code" = 206 ] && [ "$got" = "$want" ]; then
  pass "link minted on A plays through B: Range bytes=$r_from-$r_to -> $code, $cr, sha256 ${got:0:16}… matches"
else
  fail "link minted on A through B: status $code (want 206), sha256 $got, want $want"
fi
nolink=$(timeout 10 curl -s -o /dev/null -w '%{http_code}' -H "Range: bytes=0-9" "http://127.0.0.1:$bport/media/film.bin")
bad=$(timeout 10 curl -s -o /dev/null -w '%{http_code}' -H "Range: bytes=0-9" "http://127.0.0.1:$bport/media/film.bin?${query/sig=/sig=x}")
if [ "$nolink" != 206 ] && [ "$nolink" != 200 ] && [ "$bad" != 206 ] && [ "$bad" != 200 ]; then
  pass "B refuses the same path without the link ($nolink) and with a tampered signature ($bad)"
else
  fail "B served without a valid link: no link $nolink, tampered $bad"
fi

# --- 2. one MinIO drive removed mid-stream ---------------------------------
rate=$(((size_mib << 20) / 8)) # about 8 s for the whole object
t0=$(date +%s.%N)
timeout 60 curl -s -o "$work/drive.bin" -w '%{http_code} %{size_download}\n' --limit-rate "$rate" \
  "http://127.0.0.1:$aport/media/film.bin?$query" >"$work/drive.out" 2>&1 &
curl_pid=$!
pids+=("$curl_pid")
sleep 2
have=$(stat -c %s "$work/drive.bin" 2>/dev/null || echo 0)
rm -rf "$work/drive3"
log "removed drive3 (rm -rf) after $have bytes of the stream"
wait "$curl_pid"
t1=$(date +%s.%N)
read -r dcode dsize <"$work/drive.out"
dsum=$(sha256sum "$work/drive.bin" | cut -d' ' -f1)
secs=$(echo "$t1 - $t0" | bc)
if [ "$dcode" = 200 ] && [ "$dsum" = "$sum" ] && [ "$have" -gt 0 ] && [ "$have" -lt $((size_mib << 20)) ]; then
  pass "drive3 removed mid-stream (at $have of $dsize bytes): 200, whole object sha256 matches, ${secs:0:5} s"
else
  fail "drive removal: status $dcode, $dsize bytes, removed at $have, sha256 $dsum (want $sum)"
fi
after=$(timeout 10 curl -s -o /dev/null -w '%{http_code}' -r 0-1023 "http://127.0.0.1:$bport/media/film.bin?$query")
log "after the removal a fresh range through B: $after; MinIO health/cluster: $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$mport/minio/health/cluster")"

# --- 3. aria2c -x4 through nginx, node A killed mid-download ----------------
: >"$work/nginx/access.log"
dl_rate=$(((size_mib << 20) / 12)) # about 12 s for the whole object
mkdir -p "$work/dl"
t0=$(date +%s.%N)
timeout 120 aria2c -x4 -s4 -k1M --max-download-limit="$dl_rate" --max-tries=20 --retry-wait=1 \
  --connect-timeout=5 --timeout=10 --file-allocation=none --allow-overwrite=true \
  --auto-file-renaming=false --console-log-level=warn --summary-interval=0 \
  -d "$work/dl" -o film.bin "http://127.0.0.1:$nport/media/film.bin?$query" >"$work/aria2c.log" 2>&1 &
aria_pid=$!
pids+=("$aria_pid")
sleep 3
have=$(du -b "$work/dl/film.bin" 2>/dev/null | cut -f1)
kill -KILL "$a_pid"
log "killed node A (pid $a_pid, SIGKILL) 3 s into the download (the partial file extends to ${have:-0} bytes)"
wait "$aria_pid"
arc=$?
t1=$(date +%s.%N)
asum=$(sha256sum "$work/dl/film.bin" 2>/dev/null | cut -d' ' -f1)
toA=$(grep -c "127.0.0.1:$aport" "$work/nginx/access.log")
toB=$(grep -c "127.0.0.1:$bport" "$work/nginx/access.log")
total=$(wc -l <"$work/nginx/access.log")
# Responses from A that ended short of their range: cut by the kill.
cut_short=$(awk -v a="127.0.0.1:$aport" '$2 == a && $4 ~ /^bytes=/ { split(substr($4, 7), r, "-"); if ($5 < r[2] - r[1] + 1) n++ } END { print n + 0 }' "$work/nginx/access.log")
secs=$(echo "$t1 - $t0" | bc)
if [ "$arc" = 0 ] && [ "$asum" = "$sum" ] && [ "$cut_short" -gt 0 ] && [ "$toB" -gt 0 ]; then
  pass "aria2c -x4 via nginx, A killed mid-download: exit 0, sha256 matches, ${secs:0:5} s; nginx: $total requests, $toA touched A ($cut_short cut short by the kill), $toB touched B"
else
  fail "aria2c via nginx with A killed: exit $arc, sha256 $asum (want $sum), requests to A $toA ($cut_short cut short), to B $toB"
  tail -5 "$work/aria2c.log" >&2
fi
readyA=$(timeout 5 curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$aport/readyz")
log "node A /readyz after the kill: $readyA (000: down); nginx access log (status upstream upstream_status range bytes):"
sed 's/^/  nginx: /' "$work/nginx/access.log" >&2

echo
echo "scale-out summary ($(date -u +%FT%TZ), commit $(cd "$repo" && git rev-parse --short HEAD), $size_mib MiB object, MinIO 4 drives ${ec:+$ec})"
printf '%s\n' "${results[@]}"
echo "$(( ${#results[@]} - fails )) passed, $fails failed"
kill "$watchdog" 2>/dev/null
[ "$fails" = 0 ]
