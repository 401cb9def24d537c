package resources

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"cloud.google.com/go/storage"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"google.golang.org/api/iterator"

	"github.com/agentnet/terraform-provider-agentnet/internal/gcpclient"
	"github.com/agentnet/terraform-provider-agentnet/internal/snapshotsig"
)

// Snapshot objects are RDB files in Cloud Storage. This file holds what the
// snapshot, restore and snapshots list share about them.

// crc32cString encodes a CRC32C as Cloud Storage reports it: base64 of the
// big-endian checksum (the JSON API's `crc32c` field, the google provider's
// `crc32c` attribute).
func crc32cString(sum uint32) string { return snapshotsig.CRC32CString(sum) }

// crc32cRE matches a base64-encoded CRC32C.
var crc32cRE = regexp.MustCompile(`^[A-Za-z0-9+/]{6}==$`)

// objectAttrs reads an object's metadata; a missing bucket or object comes
// back as an error that says which, in words a user can act on.
func objectAttrs(ctx context.Context, c *gcpclient.Clients, u gcsURI) (*storage.ObjectAttrs, error) {
	attrs, err := c.Storage.Bucket(u.Bucket).Object(u.Object).Attrs(ctx)
	switch {
	case errors.Is(err, storage.ErrObjectNotExist):
		// The API answers 404 for a missing bucket too; tell them apart.
		if _, berr := c.Storage.Bucket(u.Bucket).Attrs(ctx); errors.Is(berr, storage.ErrBucketNotExist) {
			return nil, fmt.Errorf("bucket %q does not exist", u.Bucket)
		}
		return nil, fmt.Errorf("object %s does not exist", u)
	case err != nil:
		return nil, errors.New(c.Describe(gcpclient.APIStorage, err))
	}
	return attrs, nil
}

// Objects written next to a snapshot that are not snapshots themselves: its
// manifest (which also records an export in progress).
var snapshotCompanionSuffixes = []string{snapshotsig.ManifestObject("")}

// isSnapshotObject tells a snapshot from the companion objects beside it.
func isSnapshotObject(name string) bool {
	for _, s := range snapshotCompanionSuffixes {
		if strings.HasSuffix(name, s) {
			return false
		}
	}
	return !strings.HasSuffix(name, "/")
}

// errBucketNotFound is listSnapshots' answer for a bucket that does not exist.
var errBucketNotFound = errors.New("bucket not found")

// listSnapshots returns the snapshots under prefix, newest first.
func listSnapshots(ctx context.Context, c *gcpclient.Clients, prefix gcsURI) ([]*storage.ObjectAttrs, error) {
	var found []*storage.ObjectAttrs
	it := c.Storage.Bucket(prefix.Bucket).Objects(ctx, &storage.Query{Prefix: prefix.Object})
	for {
		a, err := it.Next()
		switch {
		case errors.Is(err, iterator.Done):
			sort.SliceStable(found, func(i, j int) bool { return found[i].Created.After(found[j].Created) })
			return found, nil
		case errors.Is(err, storage.ErrBucketNotExist):
			return nil, fmt.Errorf("%w: bucket %q does not exist", errBucketNotFound, prefix.Bucket)
		case err != nil:
			return nil, fmt.Errorf("listing %s failed: %s", prefix, c.Describe(gcpclient.APIStorage, err))
		}
		if isSnapshotObject(a.Name) {
			found = append(found, a)
		}
	}
}

// listSnapshotsAt is listSnapshots for a data source's attribute at p: a
// missing bucket or a failed listing is a diagnostic; ok is false then.
func listSnapshotsAt(ctx context.Context, c *gcpclient.Clients, prefix gcsURI, p path.Path, diags *diag.Diagnostics) (found []*storage.ObjectAttrs, ok bool) {
	found, err := listSnapshots(ctx, c, prefix)
	if err != nil {
		addListingError(diags, p, prefix, err, err.Error())
		return nil, false
	}
	return found, true
}

// addListingError reports a failed listing of prefix (the attribute p): a
// missing bucket on the attribute, anything else with detail.
func addListingError(diags *diag.Diagnostics, p path.Path, prefix gcsURI, err error, detail string) {
	if errors.Is(err, errBucketNotFound) || errors.Is(err, storage.ErrBucketNotExist) {
		diags.AddAttributeError(p, "Bucket not found", fmt.Sprintf("bucket %q does not exist", prefix.Bucket))
		return
	}
	diags.AddError("Listing "+prefix.String()+" failed", detail)
}

// snapshotObjectAttrTypes is the object type of one snapshot in the
// agentnet_redis_snapshots data source.
var snapshotObjectAttrTypes = map[string]attr.Type{
	"uri":        types.StringType,
	"generation": types.Int64Type,
	"size_bytes": types.Int64Type,
	"crc32c":     types.StringType,
	"created_at": types.StringType,
	"key_count":  types.Int64Type,
	"signed":     types.BoolType,
}

// value describes the snapshot as snapshotObjectAttrTypes.
func (f snapshotFacts) value() types.Object {
	keys := types.Int64Null()
	if n, ok := f.keyCount(); ok {
		keys = types.Int64Value(n)
	}
	return types.ObjectValueMust(snapshotObjectAttrTypes, map[string]attr.Value{
		"uri":        types.StringValue(f.URI.String()),
		"generation": types.Int64Value(f.Generation),
		"size_bytes": types.Int64Value(f.SizeBytes),
		"crc32c":     types.StringValue(f.CRC32C),
		"created_at": types.StringValue(f.Created.UTC().Format(time.RFC3339Nano)),
		"key_count":  keys,
		"signed":     types.BoolValue(f.signed()),
	})
}

// cryptoKeyRE matches a Cloud KMS crypto key name.
var cryptoKeyRE = regexp.MustCompile(`^projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+$`)

func cryptoKeyValidator() validator.String {
	return stringvalidator.RegexMatches(cryptoKeyRE, "must be a Cloud KMS key: projects/PROJECT/locations/LOCATION/keyRings/RING/cryptoKeys/KEY")
}

// snapshotFactsOf is what a restore or a listing knows of one snapshot
// object: its metadata and its manifest (nil when it has none).
func snapshotFactsOf(ctx context.Context, c *gcpclient.Clients, a *storage.ObjectAttrs) (snapshotFacts, error) {
	uri := gcsURI{a.Bucket, a.Name}
	m, err := snapshotsig.Read(ctx, c.Storage, uri.String())
	switch {
	case errors.Is(err, snapshotsig.ErrNoManifest):
		m = nil
	case err != nil:
		return snapshotFacts{}, fmt.Errorf("reading the manifest of %s: %w", uri, err)
	}
	return factsOf(a, m), nil
}
