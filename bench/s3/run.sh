#!/usr/bin/env bash
# bench/s3/run.sh: rangeserve's S3 backend against MinIO itself (issues 4
# and 14). Starts a throw-away MinIO and one rangeserve with two mounts on
# the same bucket (block cache off and on; the object is larger than the
# cache), uploads one object and compares, with the same HTTP client for
# all: whole-object throughput (1 and 4 streams), random 64 KiB ranges and
# a repeated-seek workload, and the bytes MinIO sent per byte the client
# received (its traffic counter). A second rangeserve with a small memory
# cache over the disk tier (cache.disk) streams the object after a first
# viewer, against a local mount of the same file. Prints a Markdown report
# with ratios and the issues' targets; writes it and the raw figures (JSON)
# to bench/out/. See BENCHMARKS.md, "S3 backend".
#
#   bash bench/s3/run.sh                 full run: 1 GiB object, 3 rounds of 10 s runs (~10 min)
#   BENCH_QUICK=1 bash bench/s3/run.sh   smoke run: 256 MiB object, 1 round of 3 s runs (~2 min)
#
# Environment: BENCH_QUICK=1, BENCH_ROUNDS (default 3, quick 1),
# BENCH_SECONDS (per run; default 10, quick 3), BENCH_CONC (range workloads'
# concurrency, default 16), BENCH_CACHE (cache.max_bytes, default 512MiB,
# quick 64MiB: half and a quarter of the object), BENCH_DISK_CACHE (memory
# cache of the disk-tier instance, default 64MiB; 0 skips it),
# BENCH_ACCESS_LOG (1 default, 0 to turn rangeserve's access log off),
# BENCH_RS_GOMEMLIMIT (GOMEMLIMIT for rangeserve only, e.g. 640MiB; default
# unset), BENCH_STRICT=1 (exit 3 when a target is missed), RANGESERVE_TOOLS (where
# the minio binary is; default ~/.cache/rangeserve/bin), MINIO (its path).
#
# Exit status: 0 when the run was clean (targets met or not, unless
# BENCH_STRICT=1), 1 on any error. It stops only the processes it started.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
die() { echo "bench/s3: $*" >&2; exit 1; }

if [ "${BENCH_QUICK:-0}" = 1 ]; then
  size_mib=256 rounds=${BENCH_ROUNDS:-1} secs=${BENCH_SECONDS:-3} mode=quick cache=${BENCH_CACHE:-64MiB}
else
  size_mib=1024 rounds=${BENCH_ROUNDS:-3} secs=${BENCH_SECONDS:-10} mode=full cache=${BENCH_CACHE:-512MiB}
fi
conc=${BENCH_CONC:-16}
disk_cache=${BENCH_DISK_CACHE:-64MiB}
[ "$disk_cache" = 0 ] && disk_cache=
access=true
[ "${BENCH_ACCESS_LOG:-1}" = 0 ] && access=false
strict=false
[ "${BENCH_STRICT:-0}" = 1 ] && strict=true

tools=${RANGESERVE_TOOLS:-$HOME/.cache/rangeserve/bin}
MINIO=${MINIO:-}
if [ -z "$MINIO" ]; then
  if [ -x "$tools/minio" ]; then MINIO=$tools/minio; else MINIO=$(command -v minio || true); fi
fi
[ -n "$MINIO" ] && [ -x "$MINIO" ] ||
  die "minio not found in \$RANGESERVE_TOOLS ($tools) nor on PATH: install it there (see internal/testenv) or set MINIO"
command -v go >/dev/null || die "go is not on PATH"
[ -r /proc/self/stat ] || die "needs Linux /proc for CPU time and RSS"

work=$(mktemp -d "${TMPDIR:-/tmp}/rangeserve-s3bench.XXXXXX")
pid=
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "bench/s3: building rangeserve and s3bench into $work" >&2
(cd "$repo" && go build -o "$work/rangeserve" ./cmd/rangeserve) || die "rangeserve does not build; fix that first"
(cd "$repo" && go build -o "$work/s3bench" ./bench/s3)

commit=$(cd "$repo" && git rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ -n "$(cd "$repo" && git status --porcelain --untracked-files=no 2>/dev/null)" ]; then
  commit="$commit+dirty"
fi

mkdir -p "$repo/bench/out"
# Go's timeout bounds everything (20 min); the run itself takes about
# rounds × 16 × seconds plus the upload and warm-up.
"$work/s3bench" -minio "$MINIO" -rangeserve "$work/rangeserve" -work "$work" -out "$repo/bench/out" \
  -size-mib "$size_mib" -rounds "$rounds" -dur "${secs}s" -conc "$conc" -cache-max "$cache" \
  -access-log="$access" -strict="$strict" -rs-gomemlimit "${BENCH_RS_GOMEMLIMIT:-}" -disk-cache-max "$disk_cache" \
  -commit "$commit" -mode "$mode" &
pid=$!
wait "$pid"
