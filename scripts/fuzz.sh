#!/usr/bin/env bash
# Runs every native Go fuzz target in the module for a bounded time each
# (FUZZTIME, default 15s). New crashers land in the package's
# testdata/fuzz/ directory and fail the run.
set -euo pipefail
fuzztime="${FUZZTIME:-15s}"
status=0
while read -r dir; do
  pkg="./$dir"
  for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go | sed 's/^func //' | sort -u); do
    echo "fuzz: $pkg $target for $fuzztime"
    if ! go test "$pkg" -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" >/tmp/fuzz.$$.log 2>&1; then
      cat /tmp/fuzz.$$.log; status=1
    else
      tail -n 1 /tmp/fuzz.$$.log
    fi
  done
done < <(grep -rl --include='*_test.go' '^func Fuzz' . | xargs -n1 dirname | sed 's|^\./||' | sort -u)
rm -f /tmp/fuzz.$$.log
exit $status
