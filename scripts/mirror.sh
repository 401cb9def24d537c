#!/usr/bin/env bash
# A provider binary laid out as a filesystem mirror (the "packed" layout:
# HOSTNAME/agentnet/agentnet/terraform-provider-agentnet_VERSION_OS_ARCH.zip,
# the name and content of a release archive) under both registry hostnames,
# and a CLI configuration that installs agentnet from it and every other
# provider from its registry. `tofu init` then installs agentnet as a
# published provider: no dev_overrides, hashes in .terraform.lock.hcl.
#
#   scripts/mirror.sh BINARY MIRROR_DIR VERSION CLI_CONFIG    (make mirror)
set -euo pipefail

if [ $# -ne 4 ]; then
  echo "usage: $0 BINARY MIRROR_DIR VERSION CLI_CONFIG" >&2
  exit 2
fi
bin=$1 mirror=$2 version=$3 rc=$4
# No pre-release: OpenTofu and Terraform only pick one that a configuration
# names exactly, and the examples name no version. OpenTofu ignores 0.0.0
# in a mirror (it reads it as "unversioned").
if ! [[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || [ "$version" = 0.0.0 ]; then
  echo "MIRROR_VERSION=$version: want MAJOR.MINOR.PATCH other than 0.0.0, e.g. 0.0.1 (no pre-release suffix)" >&2
  exit 2
fi
[ -x "$bin" ] || { echo "$bin: no provider binary there" >&2; exit 2; }
command -v zip >/dev/null || { echo "zip is missing: install it (Debian/Ubuntu: apt-get install zip)" >&2; exit 2; }

platform=$(go env GOOS)_$(go env GOARCH)
mkdir -p "$mirror" "$(dirname "$rc")"
mirror=$(cd "$mirror" && pwd)
rc=$(cd "$(dirname "$rc")" && pwd)/$(basename "$rc")
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
cp "$bin" "$stage/terraform-provider-agentnet_v$version"
archive=$stage/terraform-provider-agentnet_${version}_$platform.zip
(cd "$stage" && zip -q -X "$archive" "terraform-provider-agentnet_v$version")

# OpenTofu reads "agentnet/agentnet" as registry.opentofu.org/..., Terraform
# as registry.terraform.io/...: the same archive serves both.
hosts=(registry.opentofu.org registry.terraform.io)
addrs=
for host in "${hosts[@]}"; do
  mkdir -p "$mirror/$host/agentnet/agentnet"
  previous=$mirror/$host/agentnet/agentnet/$(basename "$archive")
  if [ -f "$previous" ] && ! cmp -s <(unzip -p "$previous") <(unzip -p "$archive"); then
    replaced=1
  fi
  cp "$archive" "$mirror/$host/agentnet/agentnet/"
  addrs+="${addrs:+, }\"$host/agentnet/agentnet\""
done

cat >"$rc" <<EOF
provider_installation {
  filesystem_mirror {
    path    = "$mirror"
    include = [$addrs]
  }
  direct {
    exclude = [$addrs]
  }
}
EOF

echo "agentnet $version ($platform) mirrored in $mirror."
echo "CLI configuration written to $rc:"
echo
cat "$rc"
echo
echo "Use it with: export TF_CLI_CONFIG_FILE=$rc  (then tofu init)"
if [ -n "${replaced:-}" ]; then
  echo "Note: this replaced a different build of $version. A lock file that recorded the old one refuses it;"
  echo "mirror a new build under a new version (MIRROR_VERSION=...) and run tofu init -upgrade."
fi
