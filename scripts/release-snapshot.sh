#!/usr/bin/env bash
# The release archives built locally (make release-snapshot): GoReleaser's
# snapshot of .goreleaser.yml in dist/, nothing published. SHA256SUMS is
# signed with the key GPG_FINGERPRINT names, or else with a throwaway key
# made for this run in a temporary GNUPGHOME, whose public half is left in
# dist/ so the signature can be checked later.
#
#   GORELEASER=bin/goreleaser scripts/release-snapshot.sh
#   SNAPSHOT_ALL_PLATFORMS=1 ...   every release platform, not two
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
goreleaser=${GORELEASER:-$root/bin/goreleaser}
cd "$root"

if [ -z "${GPG_FINGERPRINT:-}" ]; then
  GNUPGHOME=$(mktemp -d)
  export GNUPGHOME
  trap 'gpgconf --kill all >/dev/null 2>&1 || true; rm -rf "$GNUPGHOME"' EXIT
  # RSA: the Terraform Registry takes RSA or DSA keys, not ECC.
  gpg --batch --quiet --passphrase '' \
    --quick-gen-key 'agentnet snapshot signing (THROWAWAY) <snapshot@agentnet.invalid>' rsa3072 sign 1d
  GPG_FINGERPRINT=$(gpg --batch --with-colons --list-secret-keys | awk -F: '$1 == "fpr" {print $10; exit}')
  throwaway=1
  echo "GPG_FINGERPRINT is not set: signing with a THROWAWAY key ($GPG_FINGERPRINT) made for this snapshot;"
  echo "it is deleted when the build ends. Its public key goes to dist/throwaway-signing-key.asc."
fi
export GPG_FINGERPRINT

"$goreleaser" release --snapshot --clean

sums=$(ls dist/*_SHA256SUMS)
if [ -n "${throwaway:-}" ]; then
  gpg --batch --armor --export "$GPG_FINGERPRINT" >dist/throwaway-signing-key.asc
fi
echo
echo "Archives, checksums and signature in dist/:"
(cd dist && ls -1 ./*.zip ./*_SHA256SUMS ./*_SHA256SUMS.sig)
echo
gpg --batch --verify "$sums.sig" "$sums"
# The archives, then the manifest, which a release uploads from
# terraform-registry-manifest.json under the name SHA256SUMS gives it.
(cd dist && sha256sum --check --quiet --strict --ignore-missing "$(basename "$sums")")
sed -n 's/ [^ ]*_manifest.json$/ terraform-registry-manifest.json/p' "$sums" | sha256sum --check --quiet --strict -
echo "SHA256SUMS matches the archives and its signature verifies${throwaway:+ (THROWAWAY key: not for publishing)}."
