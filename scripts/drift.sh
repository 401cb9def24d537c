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
# A CLI config that does not exist makes OpenTofu warn and ignore dev_overrides.
[ -f "${TF_CLI_CONFIG_FILE:-}" ] || export TF_CLI_CONFIG_FILE=$root/bin/dev.tofurc
plan=$(mktemp)
trap 'rm -f "$plan" "$plan.log"' EXIT

"$tofu" -chdir="$dir" plan -detailed-exitcode -input=false -no-color -lock=false -out="$plan" >"$plan.log" 2>&1
code=$?
case $code in
0)
  echo "No drift: $dir matches what is deployed."
  ;;
2)
  echo "Drift in $dir."
  # What changed outside OpenTofu, as the refresh saw it.
  if grep -q 'Objects have changed outside of OpenTofu' "$plan.log"; then
    echo "Changed outside OpenTofu:"
    awk '/Objects have changed outside of OpenTofu/ {on=1; next}
         /Unless you have made equivalent changes/ {on=0}
         on && (/# .* (has been|has changed|has been deleted)/ || / -> /) {sub(/^[ \t]+/, "    "); print}' "$plan.log"
  fi
  echo "The apply would:"
  "$tofu" -chdir="$dir" show -no-color "$plan" |
    awk '/will perform the following actions/ {on=1; next}
         on && /# .* (will be|must be)/ {sub(/^[ \t]+/, "    "); print; next}
         on && / -> / && !/known after apply/ {sub(/^[ \t]+/, "        "); print}'
  # Warnings that explain a plan (an unhealthy region, a failover plan):
  # the title and the message after the "with ... on ..." lines.
  awk '/^Warning: / {w = !/development overrides|Check block assertion known after apply/; blank=0; if (w) print "  " $0; next}
       w && /^$/ {if (++blank == 3) w=0; next}
       w && blank >= 1 && !/^  (with|on) / && !/^ +[0-9]+:/ {print "    " $0}' "$plan.log" || true
  ;;
*)
  echo "The plan failed:"
  cat "$plan.log"
  ;;
esac
exit $code
