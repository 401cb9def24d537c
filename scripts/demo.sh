#!/usr/bin/env bash
# The Redis recovery demo on localcloud: create an instance, load sample
# data, snapshot it, corrupt the data through a localcloud fault, restore the
# snapshot with `tofu apply`, and print the data back.
#
# Run through `make demo`, which builds bin/ first. KEEP_RUNNING=1 leaves
# localcloud running at the end.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
bin=$root/bin
work=$root/.cache/demo
keys=${DEMO_KEYS:-1000}
bucket=agentnet-demo-snapshots

export TF_CLI_CONFIG_FILE=$bin/dev.tofurc TF_IN_AUTOMATION=1 CHECKPOINT_DISABLE=1
step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
tofu() { "$bin/tofu" -chdir="$work/redis-recovery" "$@"; }

rm -rf "$work" && mkdir -p "$work"
cp -r "$root/examples/redis-recovery" "$work/redis-recovery"

step "Starting localcloud (data in $work/localcloud)"
"$bin/localcloud" serve --data-dir "$work/localcloud" --listen 127.0.0.1:0 >"$work/localcloud.log" 2>&1 &
lc_pid=$!
cleanup() {
  if [ "${KEEP_RUNNING:-}" = 1 ]; then
    echo "localcloud keeps running at $AGENTNET_EMULATOR_HOST (pid $lc_pid)"
  else
    kill "$lc_pid" 2>/dev/null && wait "$lc_pid" 2>/dev/null || true
  fi
}
trap cleanup EXIT
for _ in $(seq 100); do
  [ -s "$work/localcloud/localcloud.addr" ] && break
  kill -0 "$lc_pid" 2>/dev/null || { cat "$work/localcloud.log"; exit 1; }
  sleep 0.1
done
export AGENTNET_EMULATOR_HOST=$(cat "$work/localcloud/localcloud.addr")
# localcloud fault reads the admin token from this data dir (localcloud.token).
export LOCALCLOUD_DATA_DIR="$work/localcloud"
echo "localcloud listening on $AGENTNET_EMULATOR_HOST"
curl -fsS -X POST "http://$AGENTNET_EMULATOR_HOST/storage/v1/b?project=agentnet-local" \
  -H 'Content-Type: application/json' -d "{\"name\":\"$bucket\"}" >/dev/null
echo "bucket gs://$bucket created"
# The Cloud KMS key that signs the snapshots and that the restore trusts.
export TF_VAR_signing_key=projects/agentnet-local/locations/global/keyRings/agentnet/cryptoKeys/snapshots
"$bin/localcloud" kms create-mac-key "$TF_VAR_signing_key" --host "$AGENTNET_EMULATOR_HOST" >/dev/null
echo "signing key $TF_VAR_signing_key created"

step "tofu apply: the Memorystore instance (a real redis-server)"
tofu apply -auto-approve -input=false -no-color | tail -n 3
addr=$(tofu output -raw redis_address)
instance=$(tofu output -raw instance_id)
rcli() { redis-cli -h "${addr%:*}" -p "${addr##*:}" "$@"; }

step "Loading $keys agent routing keys into $addr"
seq 1 "$keys" | awk '{printf "SET agent:%05d route-%d\n", $1, $1 * 7919}' | rcli >/dev/null
rcli DBSIZE
watch="agent:00001 agent:00002 agent:00003"
show() { for k in $watch; do printf '  %-12s = %s\n' "$k" "$(rcli GET "$k" | head -c 40 | cat -v)"; done; }
show

step "tofu apply -var snapshot=1: export an RDB snapshot to Cloud Storage"
tofu apply -auto-approve -input=false -no-color -var snapshot=1 | tail -n 3
echo "snapshot: $(tofu output -raw snapshot_uri) (crc32c $(tofu output -raw snapshot_crc32c))"

# The corruption begins after the snapshot (RFC 3339 has whole seconds).
sleep 1.1
corrupted_at=$(date -u +%Y-%m-%dT%H:%M:%SZ)
step "Fault at $corrupted_at: corrupting the instance's data through localcloud"
fault=$("$bin/localcloud" fault redis-corrupt --instance "$instance" --host "$AGENTNET_EMULATOR_HOST")
echo "$fault" | grep -E '"(keys|overwritten|deleted)"' | tr -d ' ,"' | sed 's/^/  /'
# Show three of the keys the fault damaged.
watch=$(echo "$fault" | grep -oE '"agent:[0-9]+"' | head -3 | tr -d '"' | xargs)
show

# Counted inside Redis: corrupted values are binary and may hold newlines.
count_good() {
  rcli EVAL "local good = 0
    for i = 1, tonumber(ARGV[1]) do
      if redis.call('GET', string.format('agent:%05d', i)) == 'route-' .. (i * 7919) then good = good + 1 end
    end
    return good" 0 "$keys"
}
echo "keys intact before the restore: $(count_good)/$keys"

step "tofu apply -var snapshot=1 -var restore_before=$corrupted_at: restore the newest snapshot from before the corruption"
start=$(date +%s%N)
tofu apply -auto-approve -input=false -no-color -var snapshot=1 -var restore_before="$corrupted_at" | tail -n 3
took_ms=$(( ($(date +%s%N) - start) / 1000000 ))

step "Data after the restore"
show
good=$(count_good)
echo "restored $(tofu output -raw restored_from)"
echo "keys intact after the restore: $good/$keys (restore apply took ${took_ms} ms; Redis recovery target: 10 minutes)"
[ "$good" = "$keys" ] || { echo "the restore did not bring every key back" >&2; exit 1; }

step "tofu plan: nothing left to do"
tofu plan -detailed-exitcode -input=false -no-color -var snapshot=1 -var restore_before="$corrupted_at" | tail -n 2
