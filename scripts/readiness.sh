#!/usr/bin/env bash
# Readiness: whether a configuration's topology can meet its recovery
# objectives (data agentnet_recovery_readiness), as an exit status and text.
# Plans only that data source (nothing else is read or changed), with
# enforce_readiness on. Exit 0: no finding is an error; 1: the findings.
#
#   scripts/readiness.sh [DIR]        (make readiness DIR=...)
#
# DIR must be initialised (`tofu init`) as for any plan, and its variables
# set (a tfvars file or TF_VAR_...).
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-examples/local}
tofu=${TOFU:-$root/bin/tofu}
[ -f "${TF_CLI_CONFIG_FILE:-}" ] || export TF_CLI_CONFIG_FILE=$root/bin/dev.tofurc
log=$(mktemp)
trap 'rm -f "$log"' EXIT

"$tofu" -chdir="$dir" plan -target=data.agentnet_recovery_readiness.this -var enforce_readiness=true \
  -input=false -no-color -lock=false >"$log" 2>&1
code=$?
if [ "$code" -eq 0 ]; then
  echo "Readiness of $dir: ready (no finding is an error; see output recovery_readiness for warnings)."
  exit 0
fi
if grep -q "The topology cannot meet its recovery objectives" "$log"; then
  echo "Readiness of $dir: NOT READY"
  # The postcondition's message: the report, one finding a line (OpenTofu
  # wraps long lines: joined again).
  sed -n '/The topology cannot meet its recovery objectives/,/^[│ ]*$/p' "$log" | sed -e 's/^[│ ]*//' | sed '/^$/d' |
    awk '/^(error|warning|info) |^ready:|^The topology/ { if (line != "") print line; line = $0; next }
         { line = line " " $0 }
         END { if (line != "") print line }'
else
  echo "Readiness of $dir: the plan failed" >&2
  cat "$log" >&2
fi
exit 1
