package resources

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"regexp"
	"time"

	"cloud.google.com/go/storage"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/agentnet/terraform-provider-agentnet/internal/gcpclient"
)

// Snapshot objects are RDB files in Cloud Storage. This file holds what the
// snapshot, restore and snapshots list share about them.

// crc32cString encodes a CRC32C as Cloud Storage reports it: base64 of the
// big-endian checksum (the JSON API's `crc32c` field, the google provider's
// `crc32c` attribute).
func crc32cString(sum uint32) string {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], sum)
	return base64.StdEncoding.EncodeToString(b[:])
}

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

// snapshotObjectAttrTypes is the object type of one snapshot in the
// agentnet_redis_snapshots data source.
var snapshotObjectAttrTypes = map[string]attr.Type{
	"uri":        types.StringType,
	"generation": types.Int64Type,
	"size_bytes": types.Int64Type,
	"crc32c":     types.StringType,
	"created_at": types.StringType,
}

// snapshotObjectValue describes one snapshot object as snapshotObjectAttrTypes.
func snapshotObjectValue(a *storage.ObjectAttrs) types.Object {
	return types.ObjectValueMust(snapshotObjectAttrTypes, map[string]attr.Value{
		"uri":        types.StringValue(gcsURI{a.Bucket, a.Name}.String()),
		"generation": types.Int64Value(a.Generation),
		"size_bytes": types.Int64Value(a.Size),
		"crc32c":     types.StringValue(crc32cString(a.CRC32C)),
		"created_at": types.StringValue(a.Created.UTC().Format(time.RFC3339Nano)),
	})
}
