package resources

import (
	"context"
	"errors"
	"fmt"

	"cloud.google.com/go/kms/apiv1/kmspb"
	"cloud.google.com/go/storage"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/agentnet/terraform-provider-agentnet/internal/gcpclient"
	"github.com/agentnet/terraform-provider-agentnet/internal/rdbfile"
	"github.com/agentnet/terraform-provider-agentnet/internal/snapshotsig"
)

// A snapshot's manifest: what the export wrote (generation, CRC32C, size),
// what the RDB holds (key count, Redis version), signed with a Cloud KMS MAC
// key when the snapshot has a signing_key.

// completeManifest reads the exported object once to summarise it and
// writes its manifest, signed when m has a signing key, over the record
// written before the export.
func (r *redisSnapshotResource) completeManifest(ctx context.Context, m *redisSnapshotModel, a *storage.ObjectAttrs, instance instanceName) diag.Diagnostics {
	var diags diag.Diagnostics
	uri := m.URI.ValueString()
	sum, err := summarizeObject(ctx, r.clients, a)
	if err != nil {
		diags.AddError("Reading the exported snapshot "+uri+" failed", err.Error())
		return diags
	}
	manifest := &snapshotsig.Manifest{
		Version:      snapshotsig.CurrentVersion,
		Object:       uri,
		Generation:   a.Generation,
		CRC32C:       crc32cString(a.CRC32C),
		SizeBytes:    a.Size,
		KeyCount:     sum.KeyCount,
		RedisVersion: sum.RedisVersion,
		Instance:     instance.String(),
		CreatedAt:    a.Created.UTC(),
		State:        snapshotsig.StateComplete,
	}
	if key := m.SigningKey.ValueString(); key != "" {
		if err := snapshotsig.Sign(ctx, r.clients.KMS, key, manifest); err != nil {
			diags.AddAttributeError(path.Root("signing_key"), "Signing the manifest of "+uri+" failed", r.clients.Describe(gcpclient.APIKMS, err))
			return diags
		}
	}
	if err := snapshotsig.Write(ctx, r.clients.Storage, manifest); err != nil {
		diags.AddError("Writing the manifest of "+uri+" failed", r.clients.Describe(gcpclient.APIStorage, err))
		return diags
	}
	m.fromManifest(manifest)
	return diags
}

// summarizeObject streams the RDB object, the generation a describes, once.
func summarizeObject(ctx context.Context, c *gcpclient.Clients, a *storage.ObjectAttrs) (rdbfile.Summary, error) {
	rd, err := c.Storage.Bucket(a.Bucket).Object(a.Name).Generation(a.Generation).NewReader(ctx)
	if err != nil {
		return rdbfile.Summary{}, errors.New(c.Describe(gcpclient.APIStorage, err))
	}
	defer rd.Close()
	return rdbfile.Summarize(rd)
}

// readManifest fills the attributes a snapshot's manifest holds. A missing,
// damaged, unfinished or mismatching manifest is a warning, and leaves them
// null: the snapshot itself is still there.
func (r *redisSnapshotResource) readManifest(ctx context.Context, m *redisSnapshotModel) diag.Diagnostics {
	var diags diag.Diagnostics
	uri := m.URI.ValueString()
	m.ManifestURI, m.KeyCount, m.RedisVersion, m.Signed = types.StringNull(), types.Int64Null(), types.StringNull(), types.BoolValue(false)
	manifest, err := snapshotsig.Read(ctx, r.clients.Storage, uri)
	var problem string
	switch {
	case errors.Is(err, snapshotsig.ErrNoManifest):
		problem = fmt.Sprintf("%s has no manifest (%s): it was taken before manifests existed, or the manifest was deleted. A restore that requires a signature refuses it.", uri, snapshotsig.ManifestObject(uri))
	case err != nil:
		problem = fmt.Sprintf("The manifest of %s cannot be read: %v. A restore that requires a signature refuses the snapshot.", uri, err)
	case manifest.State != snapshotsig.StateComplete:
		problem = fmt.Sprintf("The manifest %s is in state %q: the export that wrote it did not finish.", snapshotsig.ManifestObject(uri), manifest.State)
	case manifest.Generation != m.Generation.ValueInt64() || manifest.CRC32C != m.CRC32C.ValueString() || manifest.SizeBytes != m.SizeBytes.ValueInt64():
		problem = fmt.Sprintf("The manifest %s describes generation %d, CRC32C %s, %d bytes; the object is generation %d, CRC32C %s, %d bytes: it does not describe this object.",
			snapshotsig.ManifestObject(uri), manifest.Generation, manifest.CRC32C, manifest.SizeBytes, m.Generation.ValueInt64(), m.CRC32C.ValueString(), m.SizeBytes.ValueInt64())
	}
	if problem != "" {
		diags.AddWarning("Snapshot manifest missing or damaged", problem)
		return diags
	}
	m.fromManifest(manifest)
	if m.Instance.IsNull() {
		m.Instance = types.StringValue(manifest.Instance) // an imported snapshot
	}
	return diags
}

func (m *redisSnapshotModel) fromManifest(manifest *snapshotsig.Manifest) {
	m.ManifestURI = types.StringValue(snapshotsig.ManifestObject(manifest.Object))
	m.KeyCount = types.Int64Value(manifest.KeyCount)
	m.RedisVersion = optionalString(manifest.RedisVersion)
	m.Signed = types.BoolValue(manifest.Signed())
}

// checkSigningKey adds an error on signing_key when the key cannot sign
// manifests (missing, not a MAC key, no enabled version), and a warning
// when Cloud KMS could not be asked.
func checkSigningKey(ctx context.Context, c *gcpclient.Clients, key string, diags *diag.Diagnostics) {
	at := path.Root("signing_key")
	ck, err := c.KMS.GetCryptoKey(ctx, &kmspb.GetCryptoKeyRequest{Name: key})
	switch {
	case gcpclient.IsNotFound(err):
		diags.AddAttributeError(at, "Signing key not found",
			fmt.Sprintf("Cloud KMS key %s does not exist (or its key ring does not): create it with purpose MAC (for example HMAC_SHA256) first.", key))
		return
	case err != nil:
		diags.AddAttributeWarning(at, "Could not check the signing key", c.Describe(gcpclient.APIKMS, err))
		return
	case ck.GetPurpose() != kmspb.CryptoKey_MAC:
		diags.AddAttributeError(at, "Signing key is not a MAC key",
			fmt.Sprintf("Cloud KMS key %s has purpose %s; snapshot manifests are signed with a key of purpose MAC (for example HMAC_SHA256).", key, ck.GetPurpose()))
		return
	}
	if _, err := snapshotsig.SigningVersion(ctx, c.KMS, key); err != nil {
		diags.AddAttributeError(at, "Signing key cannot sign", c.Describe(gcpclient.APIKMS, err))
	}
}
