#!/usr/bin/env bash
# Drift and outage detection: `tofu plan -detailed-exitcode` with a summary a
# person reads at a glance. Exit 0: no drift; 2: drift (or, with automatic
# failover, an unhealthy region); 1: the plan failed.
#
#   scripts/drift.sh [DIR]        (make drift DIR=...)
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-examples/local}
tofu=${TOFU:-$root/bin/tofu}
plan=$(mktemp)
trap 'rm -f "$plan" "$plan.log"' EXIT

"$tofu" -chdir="$dir" plan -detailed-exitcode -input=false -no-color -lock=false -out="$plan" >"$plan.log" 2>&1
code=$?
case $code in
0)
  echo "No drift: $dir matches what is deployed."
  ;;
2)
  echo "Drift in $dir:"
  "$tofu" -chdir="$dir" show -no-color "$plan" |
    grep -E '^\s+# .* (will be|must be)|^\s+[~+-] .* -> |^\s+[~+-] +[a-z_0-9.\[\]"-]+ += ' |
    sed -E 's/^\s+/  /'
  grep -E '^(Warning|│ Warning): ' -A 3 "$plan.log" | sed -E 's/^│ ?//; s/^/  /' | grep -v '^\s*$' || true
  ;;
*)
  echo "The plan failed:"
  cat "$plan.log"
  ;;
esac
exit $code
