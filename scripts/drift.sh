#!/usr/bin/env bash
# Drift and outage detection: `tofu plan -detailed-exitcode` with a summary a
# person reads at a glance. Exit 0: no drift and every check block passes;
# 2: drift (or, with automatic failover, an unhealthy region) or a failed
# check block (an RPO, the front door's health); 1: the plan failed.
#
#   scripts/drift.sh [DIR]        (make drift DIR=...)
#
# DIR must be initialised (`tofu init`, with -backend-config for a remote
# backend) as for any plan.
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-examples/local}
tofu=${TOFU:-$root/bin/tofu}
# A CLI config that does not exist makes OpenTofu warn and ignore dev_overrides.
[ -f "${TF_CLI_CONFIG_FILE:-}" ] || export TF_CLI_CONFIG_FILE=$root/bin/dev.tofurc
plan=$(mktemp)
trap 'rm -f "$plan" "$plan.log" "$plan.state"' EXIT

# What state held before the refresh: a resource in it that the plan
# creates was deleted outside OpenTofu.
"$tofu" -chdir="$dir" state list >"$plan.state" 2>/dev/null || : >"$plan.state"
"$tofu" -chdir="$dir" plan -detailed-exitcode -input=false -no-color -lock=false -out="$plan" >"$plan.log" 2>&1
code=$?

# changes prints the attribute changes of a rendered plan or drift section
# with the attribute each belongs to: `effective_weights["us-east1"]: 100 -> 0`.
# Resource headers (`# ADDR will be created`) are printed as they are; a
# created resource that state held says it was deleted outside OpenTofu.
changes() {
  awk -v statefile="$plan.state" '
    BEGIN { while ((getline a < statefile) > 0) known[a] = 1 }
    function path(key,   p, i) {
      p = ""
      for (i = 1; i <= depth; i++) if (stack[i] != "") p = (p == "" ? stack[i] : p "." stack[i])
      if (key ~ /^"/) return p "[" key "]"
      return p == "" ? key : p "." key
    }
    /# .* (will be|must be|has been|has changed)/ {
      line = $0; sub(/^[ \t]+/, "", line)
      addr = line; sub(/^# /, "", addr); sub(/ .*/, "", addr)
      if (line ~ / will be created$/ && (addr in known)) line = line " (it was deleted outside OpenTofu)"
      print "    " line
      # Attributes only where something changes in place or is replaced.
      attrs = line !~ / will be (created|read|destroyed)| has been deleted/
      depth = 0; inres = 0; next
    }
    /^ *[-+~<=\/ ]* *(resource|data) "/ { inres = attrs; depth = 0; next }
    !inres { next }
    {
      line = $0; sub(/^[ \t]+/, "", line)
      mark = ""
      if (match(line, /^(-\/\+|\+\/-|[-+~]) /)) { mark = substr(line, 1, RLENGTH - 1); line = substr(line, RLENGTH + 1) }
    }
    line ~ /^[}\]]/ { if (depth == 0) inres = 0; else depth--; next }
    line ~ /[{\[]$/ {
      name = line; sub(/ *=? *[{\[]$/, "", name); sub(/ *->.*/, "", name)
      stack[++depth] = (name ~ /^[{\[]?$/) ? "" : (name ~ /^"/ ? "[" name "]" : name)
      next
    }
    line ~ /known after apply|^# \(/ || mark == "" { next }
    {
      key = line; sub(/ *= .*/, "", key); val = line; sub(/^[^=]* = /, "", val)
      if (line !~ / = /) { key = ""; val = line }
      if (mark == "+" && val !~ / -> /) val = "(none) -> " val
      if (mark == "-" && val !~ / -> /) val = val " -> (removed)"
      print "        " (key == "" ? path("") : path(key)) ": " val
    }'
}

# failed_checks lists each failed check block with its assertion message
# and the values it was evaluated with.
failed_checks() {
  awk '/^Warning: Check block assertion failed/ {on = 1; name = ""; next}
       on && /^  on .* line [0-9]+, in check "/ {
         where = $0; sub(/^  on /, "", where); sub(/, in check .*/, "", where); sub(/ line /, ":", where)
         name = $0; sub(/.*in check /, "check ", name); sub(/:$/, "", name); name = name " (" where ")"; next }
       on && /^    [│├]/ { if ($0 ~ /│ /) { v = $0; sub(/^ *│ /, "", v); vals = vals "      (" v ")\n" } next }
       on && /^$/ { if (msg != "") { printf "  %s: %s\n%s", name, msg, vals; on = 0; msg = ""; vals = "" } next }
       on && !/^  / { msg = (msg == "" ? $0 : msg " " $0); next }
       END { if (on && msg != "") printf "  %s: %s\n%s", name, msg, vals }' "$plan.log"
}

checks=$(failed_checks)
case $code in
0 | 2)
  if [ $code = 0 ] && [ -z "$checks" ]; then
    echo "No drift: $dir matches what is deployed and every check passes."
  elif [ $code = 0 ]; then
    echo "No drift: $dir matches what is deployed, but checks fail."
  else
    echo "Drift in $dir."
    # What changed outside OpenTofu, as the refresh saw it.
    if grep -q 'Objects have changed outside of OpenTofu' "$plan.log"; then
      echo "Changed outside OpenTofu:"
      sed -n '/Objects have changed outside of OpenTofu/,/Unless you have made equivalent changes/p' "$plan.log" | changes
    fi
    echo "The apply would:"
    "$tofu" -chdir="$dir" show -no-color "$plan" | sed -n '/will perform the following actions/,$p' | changes
    # Warnings that explain a plan (an unhealthy region, a failover plan):
    # the title and the message after the "with ... on ..." lines.
    awk '/^Warning: / {w = !/development overrides|Check block assertion/; blank=0; if (w) print "  " $0; next}
         w && /^$/ {if (++blank == 3) w=0; next}
         w && blank >= 1 && !/^  (with|on) / && !/^ +[0-9]+:/ {print "    " $0}' "$plan.log" || true
  fi
  if [ -n "$checks" ]; then
    echo "Failed checks:"
    printf '%s\n' "$checks"
    code=2
  fi
  ;;
*)
  echo "The plan failed:"
  cat "$plan.log"
  if grep -qE 'tofu init|Backend initialization required|Module not installed' "$plan.log"; then
    echo "Run \`tofu -chdir=$dir init\` first (with -backend-config for a remote backend)."
  fi
  ;;
esac
exit $code
