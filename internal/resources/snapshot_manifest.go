package resources

import (
	"context"
	"regexp"
	"time"

	"cloud.google.com/go/storage"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/agentnet/terraform-provider-agentnet/internal/gcpclient"
)

// cryptoKeyRE matches a Cloud KMS crypto key's resource name.
var cryptoKeyRE = regexp.MustCompile(`^projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+$`)

func cryptoKeyValidator() validator.String {
	return stringvalidator.RegexMatches(cryptoKeyRE,
		"must be a Cloud KMS crypto key: projects/PROJECT/locations/LOCATION/keyRings/RING/cryptoKeys/KEY (the key, not one of its cryptoKeyVersions)")
}

// completeManifest writes the manifest of the snapshot just exported,
// replacing the record written before the export.
func (r *redisSnapshotResource) completeManifest(ctx context.Context, m *redisSnapshotModel, a *storage.ObjectAttrs, instance instanceName) diag.Diagnostics {
	var diags diag.Diagnostics
	rec := exportRecord{Version: 1, Object: m.URI.ValueString(), Instance: instance.String(), CreatedAt: a.Created.UTC(), State: "complete"}
	if err := writeExportRecord(ctx, r.clients, rec); err != nil {
		diags.AddError("Writing the snapshot's manifest failed", r.clients.Describe(gcpclient.APIStorage, err))
	}
	m.ManifestURI = types.StringValue(manifestObject(m.URI.ValueString()))
	m.KeyCount, m.RedisVersion, m.Signed = types.Int64Null(), types.StringNull(), types.BoolValue(false)
	_ = time.Now
	return diags
}

// readManifest fills the attributes a snapshot's manifest holds.
func (r *redisSnapshotResource) readManifest(ctx context.Context, m *redisSnapshotModel) diag.Diagnostics {
	m.ManifestURI = types.StringValue(manifestObject(m.URI.ValueString()))
	m.KeyCount, m.RedisVersion, m.Signed = types.Int64Null(), types.StringNull(), types.BoolValue(false)
	return nil
}
