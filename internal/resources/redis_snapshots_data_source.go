package resources

import (
	"context"
	"time"

	"cloud.google.com/go/storage"
	"github.com/hashicorp/terraform-plugin-framework-timetypes/timetypes"
	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
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
	Prefix           types.String      `tfsdk:"prefix"`
	CreatedBefore    timetypes.RFC3339 `tfsdk:"created_before"`
	MinSizeBytes     types.Int64       `tfsdk:"min_size_bytes"`
	MinKeyCount      types.Int64       `tfsdk:"min_key_count"`
	Snapshots        types.List        `tfsdk:"snapshots"`
	Latest           types.Object      `tfsdk:"latest"`
	LatestAgeSeconds types.Int64       `tfsdk:"latest_age_seconds"`
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
		"key_count":  schema.Int64Attribute{Computed: true, Description: "Keys in the snapshot, from its manifest; null when it has no manifest."},
		"signed":     schema.BoolAttribute{Computed: true, Description: "Whether its manifest carries a signature (verified by a restore with `signing_key`, not here); false without a manifest."},
	}
	resp.Schema = schema.Schema{
		Description: "The Redis snapshots stored under a Cloud Storage prefix, newest first, optionally only those written " +
			"before a time and not smaller than a size or key count. `latest` is the newest of them; " +
			"`latest_age_seconds` lets a `check` block assert the recovery point objective, for example that the newest " +
			"snapshot is less than 5 minutes old. Manifests (`*.manifest.json`) written beside the snapshots are read " +
			"for `key_count` and `signed`, not listed. To restore the snapshot from before a corruption, give " +
			"`agentnet_redis_snapshot_restore` the prefix and the time (`snapshots_prefix`, `created_before`) rather " +
			"than this data source's `latest`: the restore then pins its choice and verifies it.",
		Attributes: map[string]schema.Attribute{
			"prefix": schema.StringAttribute{
				Required:    true,
				Description: "`gs://BUCKET/PREFIX` to list. Every object under it counts as a snapshot, except manifests.",
				Validators:  []validator.String{stringvalidator.RegexMatches(gcsURIPattern, gcsURIMessage+" or gs://BUCKET/PREFIX/")},
			},
			"created_before": schema.StringAttribute{
				Optional: true, CustomType: timetypes.RFC3339Type{},
				Description: "Only snapshots written before this RFC 3339 time, for example when a corruption began (`2026-11-26T14:05:00Z`).",
			},
			"min_size_bytes": schema.Int64Attribute{
				Optional:    true,
				Description: "Only snapshots of at least this many bytes.",
				Validators:  []validator.Int64{int64validator.AtLeast(0)},
			},
			"min_key_count": schema.Int64Attribute{
				Optional:    true,
				Description: "Only snapshots whose manifest records at least this many keys (`1` skips empty snapshots). Snapshots without a manifest are skipped when it is set.",
				Validators:  []validator.Int64{int64validator.AtLeast(0)},
			},
			"snapshots": schema.ListNestedAttribute{
				Computed:     true,
				Description:  "Every snapshot under the prefix that passes the filters, newest first.",
				NestedObject: schema.NestedAttributeObject{Attributes: object},
			},
			"latest": schema.SingleNestedAttribute{
				Computed:    true,
				Description: "The newest snapshot that passes the filters; null when there is none.",
				Attributes:  object,
			},
			"latest_age_seconds": schema.Int64Attribute{
				Computed:    true,
				Description: "Seconds since `latest` was written; null when there is none.",
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
	found, ok := listSnapshotsAt(ctx, d.clients, prefix, path.Root("prefix"), &resp.Diagnostics)
	if !ok {
		return
	}
	filter := snapshotFilter{
		CreatedBefore: timestampOf(m.CreatedBefore, path.Root("created_before"), &resp.Diagnostics),
		MinSizeBytes:  m.MinSizeBytes.ValueInt64(),
		MinKeyCount:   m.MinKeyCount.ValueInt64Pointer(),
	}
	var kept []snapshotFacts
	for _, a := range found {
		if !filter.objectPasses(a) {
			continue
		}
		f, err := snapshotFactsOf(ctx, d.clients, a)
		if err != nil {
			resp.Diagnostics.AddError("Reading "+prefix.String()+" failed", err.Error())
			return
		}
		if filter.keysPass(f) {
			kept = append(kept, f)
		}
	}

	objectType := types.ObjectType{AttrTypes: snapshotObjectAttrTypes}
	values := make([]types.Object, len(kept))
	for i, f := range kept {
		values[i] = f.value()
	}
	list, diags := types.ListValueFrom(ctx, objectType, values)
	resp.Diagnostics.Append(diags...)
	m.Snapshots = list
	m.Latest = types.ObjectNull(snapshotObjectAttrTypes)
	m.LatestAgeSeconds = types.Int64Null()
	if len(kept) > 0 {
		m.Latest = values[0]
		m.LatestAgeSeconds = types.Int64Value(int64(d.now().Sub(kept[0].Created) / time.Second))
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

// snapshotFilter is the data source's selection; zero fields select all.
type snapshotFilter struct {
	CreatedBefore time.Time
	MinSizeBytes  int64
	MinKeyCount   *int64
}

// objectPasses applies what the object's metadata decides alone.
func (f snapshotFilter) objectPasses(a *storage.ObjectAttrs) bool {
	return (f.CreatedBefore.IsZero() || a.Created.Before(f.CreatedBefore)) && a.Size >= f.MinSizeBytes
}

// keysPass applies min_key_count: a snapshot without a manifest has no
// known key count and does not pass.
func (f snapshotFilter) keysPass(s snapshotFacts) bool {
	if f.MinKeyCount == nil {
		return true
	}
	n, ok := s.keyCount()
	return ok && n >= *f.MinKeyCount
}
