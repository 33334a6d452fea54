#!/usr/bin/env bash
# Installs what rangeserve's tests need, when it is missing: Debian packages
# (curl, wget, aria2, ffmpeg, nginx, wrk, strace, chromium, unzip,
# nghttp2-client for h2load) with apt-get, and MinIO
# built from the Go module proxy into $RANGESERVE_TOOLS
# (default ~/.cache/rangeserve/bin), where later runs reuse it.
set -euo pipefail

tools="${RANGESERVE_TOOLS:-$HOME/.cache/rangeserve/bin}"
minio_version="v0.0.0-20260212201848-7aac2a2c5b7c"

# command -> Debian package
declare -A pkgs=(
  [curl]=curl [wget]=wget [aria2c]=aria2 [ffprobe]=ffmpeg [ffmpeg]=ffmpeg
  [nginx]=nginx [wrk]=wrk [strace]=strace [chromium]=chromium [unzip]=unzip
  [h2load]=nghttp2-client
)
missing=()
for cmd in "${!pkgs[@]}"; do
  if ! command -v "$cmd" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$cmd" ]; then
    missing+=("${pkgs[$cmd]}")
  fi
done
if [ "${#missing[@]}" -gt 0 ]; then
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
  echo "deps: installing Debian packages: ${missing[*]}"
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then sudo="sudo -n"; else
      echo "deps: need root (or sudo) to apt-get install ${missing[*]}" >&2; exit 1
    fi
  fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -x "$tools/minio" ]; then
  echo "deps: building MinIO $minio_version into $tools (about 4 minutes the first time)"
  mkdir -p "$tools"
  GOBIN="$tools" GOFLAGS=-buildvcs=false go install "github.com/minio/minio@$minio_version"
fi
echo "deps: ok (tools in $tools)"
