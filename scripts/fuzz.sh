#!/usr/bin/env bash
# Runs every fuzz target of the module for FUZZTIME each (default 1m), one
# at a time: go test -fuzz takes a single target in a single package.
set -euo pipefail
fuzztime=${FUZZTIME:-1m}
# Shrinking each new input takes up to a minute by default, which a target
# that writes files spends most of its time on; inputs are kept unshrunk.
minimize=${FUZZMINIMIZETIME:-2s}
cd "$(dirname "$0")/.."

# go test -list prints a package's matching names, then "ok <package> ...";
# it fails, and so does this script, when a test package does not build.
list=$(go test -list '^Fuzz' ./...)
targets=()
names=()
while read -r first second _; do
  case $first in
    Fuzz*) names+=("$first") ;;
    ok)
      for n in "${names[@]}"; do targets+=("$second $n"); done
      names=()
      ;;
  esac
done <<<"$list"

if [ ${#targets[@]} -eq 0 ]; then
  echo "no fuzz targets found" >&2
  exit 1
fi
failed=0
for t in "${targets[@]}"; do
  read -r pkg name <<<"$t"
  echo "== $name ($pkg) for $fuzztime"
  go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" -fuzzminimizetime "$minimize" "$pkg" || failed=1
done
exit $failed
