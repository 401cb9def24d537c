package resources

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"cloud.google.com/go/storage"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"google.golang.org/api/iterator"

	"github.com/agentnet/terraform-provider-agentnet/internal/gcpclient"
)

var _ datasource.DataSourceWithConfigure = (*redisSnapshotsDataSource)(nil)

// NewRedisSnapshotsDataSource is data agentnet_redis_snapshots: the
// snapshots under a prefix, newest first, for restores and RPO checks.
func NewRedisSnapshotsDataSource() datasource.DataSource {
	return &redisSnapshotsDataSource{now: time.Now}
}

type redisSnapshotsDataSource struct {
	dataSourceWithClients
	now func() time.Time
}

type redisSnapshotsModel struct {
	Prefix           types.String `tfsdk:"prefix"`
	Snapshots        types.List   `tfsdk:"snapshots"`
	Latest           types.Object `tfsdk:"latest"`
	LatestAgeSeconds types.Int64  `tfsdk:"latest_age_seconds"`
}

func (d *redisSnapshotsDataSource) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_redis_snapshots"
}

func (d *redisSnapshotsDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	object := map[string]schema.Attribute{
		"uri":        schema.StringAttribute{Computed: true, Description: "`gs://` URI of the snapshot."},
		"generation": schema.Int64Attribute{Computed: true, Description: "Cloud Storage generation of the object."},
		"size_bytes": schema.Int64Attribute{Computed: true, Description: "Size in bytes."},
		"crc32c":     schema.StringAttribute{Computed: true, Description: "CRC32C (base64)."},
		"created_at": schema.StringAttribute{Computed: true, Description: "When the object was written (RFC 3339)."},
	}
	resp.Schema = schema.Schema{
		Description: "The Redis snapshots stored under a Cloud Storage prefix, newest first. `latest` is what a restore " +
			"usually wants; `latest_age_seconds` lets a `check` block assert the recovery point objective, for " +
			"example that the newest snapshot is less than 5 minutes old.",
		Attributes: map[string]schema.Attribute{
			"prefix": schema.StringAttribute{
				Required:    true,
				Description: "`gs://BUCKET/PREFIX` to list. Every object under it counts as a snapshot.",
				Validators:  []validator.String{stringvalidator.RegexMatches(gcsURIPattern, gcsURIMessage+" or gs://BUCKET/PREFIX/")},
			},
			"snapshots": schema.ListNestedAttribute{
				Computed:     true,
				Description:  "Every snapshot under the prefix, newest first.",
				NestedObject: schema.NestedAttributeObject{Attributes: object},
			},
			"latest": schema.SingleNestedAttribute{
				Computed:    true,
				Description: "The newest snapshot; null when there is none.",
				Attributes:  object,
			},
			"latest_age_seconds": schema.Int64Attribute{
				Computed:    true,
				Description: "Seconds since the newest snapshot was written; null when there is none.",
			},
		},
	}
}

func (d *redisSnapshotsDataSource) Read(ctx context.Context, req datasource.ReadRequest, resp *datasource.ReadResponse) {
	var m redisSnapshotsModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	prefix, err := parseGCSURI(m.Prefix.ValueString())
	if err != nil {
		resp.Diagnostics.AddAttributeError(path.Root("prefix"), "Invalid prefix", err.Error())
		return
	}
	var found []*storage.ObjectAttrs
	it := d.clients.Storage.Bucket(prefix.Bucket).Objects(ctx, &storage.Query{Prefix: prefix.Object})
	for {
		a, err := it.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if errors.Is(err, storage.ErrBucketNotExist) {
			resp.Diagnostics.AddAttributeError(path.Root("prefix"), "Bucket not found", fmt.Sprintf("bucket %q does not exist", prefix.Bucket))
			return
		}
		if err != nil {
			resp.Diagnostics.AddError("Listing "+prefix.String()+" failed", d.clients.Describe(gcpclient.APIStorage, err))
			return
		}
		found = append(found, a)
	}
	sort.SliceStable(found, func(i, j int) bool { return found[i].Created.After(found[j].Created) })

	objectType := types.ObjectType{AttrTypes: snapshotObjectAttrTypes}
	values := make([]types.Object, len(found))
	for i, a := range found {
		values[i] = snapshotObjectValue(a)
	}
	list, diags := types.ListValueFrom(ctx, objectType, values)
	resp.Diagnostics.Append(diags...)
	m.Snapshots = list
	m.Latest = types.ObjectNull(snapshotObjectAttrTypes)
	m.LatestAgeSeconds = types.Int64Null()
	if len(found) > 0 {
		m.Latest = values[0]
		m.LatestAgeSeconds = types.Int64Value(int64(d.now().Sub(found[0].Created) / time.Second))
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}
