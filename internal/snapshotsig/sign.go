package snapshotsig

import (
	"context"
	"fmt"
	"hash/crc32"
	"strconv"
	"strings"

	kms "cloud.google.com/go/kms/apiv1"
	"cloud.google.com/go/kms/apiv1/kmspb"
	"google.golang.org/api/iterator"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// crc32c is the integrity checksum Cloud KMS takes and returns with data.
func crc32c(b []byte) *wrapperspb.Int64Value {
	return wrapperspb.Int64(int64(crc32.Checksum(b, castagnoli)))
}

// SigningVersion is the version Sign uses: the newest ENABLED version of
// cryptoKey. MAC keys have no primary version (Cloud KMS sets one only for
// ENCRYPT_DECRYPT keys), so "newest enabled" stands for it: a rotation
// (CreateCryptoKeyVersion) makes the next signatures use the new version,
// while the older ones still verify as long as their version is enabled.
// Listing versions needs cloudkms.cryptoKeyVersions.list (roles/cloudkms.viewer),
// which roles/cloudkms.signerVerifier does not grant.
func SigningVersion(ctx context.Context, c *kms.KeyManagementClient, cryptoKey string) (string, error) {
	it := c.ListCryptoKeyVersions(ctx, &kmspb.ListCryptoKeyVersionsRequest{Parent: cryptoKey, Filter: "state=ENABLED"})
	best, bestN := "", 0
	for {
		v, err := it.Next()
		if err == iterator.Done {
			break
		}
		if err != nil {
			return "", fmt.Errorf("listing the versions of signing key %s: %w", cryptoKey, err)
		}
		if n := versionNumber(cryptoKey, v.GetName()); n > bestN {
			best, bestN = v.GetName(), n
		}
	}
	if best == "" {
		return "", fmt.Errorf("signing key %s has no ENABLED version: enable one or create a new one (gcloud kms keys versions create)", cryptoKey)
	}
	return best, nil
}

// versionNumber is the number of a version name under cryptoKey, 0 if the
// name is not one.
func versionNumber(cryptoKey, version string) int {
	id, ok := strings.CutPrefix(version, cryptoKey+"/cryptoKeyVersions/")
	if !ok {
		return 0
	}
	n, err := strconv.Atoi(id)
	if err != nil || n < 1 || strconv.Itoa(n) != id {
		return 0
	}
	return n
}

// Sign sets m.KeyVersion to cryptoKey's signing version (SigningVersion)
// and m.MAC to its MacSign of m.Canonical(). m must be complete.
func Sign(ctx context.Context, c *kms.KeyManagementClient, cryptoKey string, m *Manifest) error {
	if err := m.checkComplete(); err != nil {
		return err
	}
	version, err := SigningVersion(ctx, c, cryptoKey)
	if err != nil {
		return err
	}
	m.KeyVersion, m.MAC = version, nil
	data, err := m.Canonical()
	if err != nil {
		return err
	}
	resp, err := c.MacSign(ctx, &kmspb.MacSignRequest{Name: version, Data: data, DataCrc32C: crc32c(data)})
	if err != nil {
		m.KeyVersion = ""
		return fmt.Errorf("signing the manifest of %s with %s: %w", m.Object, version, err)
	}
	// Google's integrity checks: the request arrived intact, the answer too.
	if !resp.GetVerifiedDataCrc32C() || resp.GetName() != version || resp.GetMacCrc32C().GetValue() != crc32c(resp.GetMac()).GetValue() {
		m.KeyVersion = ""
		return fmt.Errorf("signing the manifest of %s with %s: the request or response was corrupted in transit (CRC32C check failed); retry", m.Object, version)
	}
	m.MAC = resp.GetMac()
	return nil
}

// Verify checks that m is complete, signed, by a version of
// trustedCryptoKey, and that its MAC matches. Each refusal wraps
// ErrIncomplete, ErrUnsigned, ErrUntrustedKey or ErrBadMAC and names what
// it found; a Cloud KMS failure (a disabled or destroyed version, no
// permission) is returned as such.
func Verify(ctx context.Context, c *kms.KeyManagementClient, trustedCryptoKey string, m *Manifest) error {
	if err := m.checkComplete(); err != nil {
		return err
	}
	if !m.Signed() {
		return fmt.Errorf("%w: %s carries no MAC", ErrUnsigned, ManifestObject(m.Object))
	}
	if versionNumber(trustedCryptoKey, m.KeyVersion) == 0 {
		return fmt.Errorf("%w: %s names key version %q, which is not a version of the trusted key %s", ErrUntrustedKey, ManifestObject(m.Object), m.KeyVersion, trustedCryptoKey)
	}
	data, err := m.Canonical()
	if err != nil {
		return err
	}
	resp, err := c.MacVerify(ctx, &kmspb.MacVerifyRequest{Name: m.KeyVersion, Data: data, DataCrc32C: crc32c(data), Mac: m.MAC, MacCrc32C: crc32c(m.MAC)})
	if err != nil {
		return fmt.Errorf("verifying the manifest of %s with %s: %w", m.Object, m.KeyVersion, err)
	}
	if !resp.GetVerifiedDataCrc32C() || !resp.GetVerifiedMacCrc32C() || resp.GetVerifiedSuccessIntegrity() != resp.GetSuccess() || resp.GetName() != m.KeyVersion {
		return fmt.Errorf("verifying the manifest of %s with %s: the request or response was corrupted in transit (CRC32C check failed); retry", m.Object, m.KeyVersion)
	}
	if !resp.GetSuccess() {
		return fmt.Errorf("%w: %s was changed after it was signed, or its MAC was not made with %s", ErrBadMAC, ManifestObject(m.Object), m.KeyVersion)
	}
	return nil
}
