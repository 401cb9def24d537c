package resources

import (
	"context"
	"errors"
	"fmt"
	"time"

	"cloud.google.com/go/redis/apiv1/redispb"
	"cloud.google.com/go/storage"
	"github.com/hashicorp/terraform-plugin-framework-timeouts/resource/timeouts"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/booldefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/mapplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/agentnet/terraform-provider-agentnet/internal/gcpclient"
)

var _ resource.ResourceWithConfigure = (*redisSnapshotResource)(nil)

// NewRedisSnapshotResource is agentnet_redis_snapshot: one export of an
// instance's data to Cloud Storage.
func NewRedisSnapshotResource() resource.Resource {
	return &redisSnapshotResource{now: time.Now}
}

type redisSnapshotResource struct {
	withClients
	now func() time.Time // names prefix snapshots; tests set it
}

type redisSnapshotModel struct {
	ID                    types.String   `tfsdk:"id"`
	Instance              types.String   `tfsdk:"instance"`
	Destination           types.String   `tfsdk:"destination"`
	Triggers              types.Map      `tfsdk:"triggers"`
	DeleteObjectOnDestroy types.Bool     `tfsdk:"delete_object_on_destroy"`
	URI                   types.String   `tfsdk:"uri"`
	Generation            types.Int64    `tfsdk:"generation"`
	SizeBytes             types.Int64    `tfsdk:"size_bytes"`
	CRC32C                types.String   `tfsdk:"crc32c"`
	CreatedAt             types.String   `tfsdk:"created_at"`
	Timeouts              timeouts.Value `tfsdk:"timeouts"`
}

func (r *redisSnapshotResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_redis_snapshot"
}

func (r *redisSnapshotResource) Schema(ctx context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	keep := []planmodifier.String{stringplanmodifier.UseStateForUnknown()}
	keepInt := []planmodifier.Int64{int64planmodifier.UseStateForUnknown()}
	resp.Schema = schema.Schema{
		Description: "An RDB snapshot of a Memorystore instance, exported to Cloud Storage: the backup the Redis Recovery " +
			"and Data Corruption procedures restore from. Creating the resource exports the instance's data as it " +
			"is at that moment; changing `triggers` (for example to a timestamp from the `time` provider) takes a new " +
			"snapshot. The object is kept when the resource is destroyed unless `delete_object_on_destroy` is set. " +
			"If the object is deleted or overwritten outside Terraform, the next plan exports again.",
		Attributes: map[string]schema.Attribute{
			"id": schema.StringAttribute{Computed: true, PlanModifiers: keep,
				Description: "The snapshot object's `gs://` URI and generation, `gs://BUCKET/OBJECT#GENERATION`."},
			"instance": schema.StringAttribute{
				Required:      true,
				Description:   "Id of the instance to export (`agentnet_redis_instance.<name>.id`).",
				PlanModifiers: []planmodifier.String{stringplanmodifier.RequiresReplace()},
				Validators:    []validator.String{instanceIDValidator()},
			},
			"destination": schema.StringAttribute{
				Required: true,
				Description: "Where to write the snapshot: an object (`gs://BUCKET/path/snapshot.rdb`), or a prefix ending in " +
					"`/` (`gs://BUCKET/path/`) under which the object is named `INSTANCE-YYYYMMDDTHHMMSS.mmmZ.rdb`. " +
					"The bucket must exist.",
				PlanModifiers: []planmodifier.String{stringplanmodifier.RequiresReplace()},
				Validators:    []validator.String{stringvalidator.RegexMatches(gcsURIPattern, gcsURIMessage+" or gs://BUCKET/PREFIX/")},
			},
			"triggers": schema.MapAttribute{
				Optional:      true,
				ElementType:   types.StringType,
				Description:   "Arbitrary values that, when changed, take a new snapshot (the resource is replaced).",
				PlanModifiers: []planmodifier.Map{mapplanmodifier.RequiresReplace()},
			},
			"delete_object_on_destroy": schema.BoolAttribute{
				Optional: true, Computed: true,
				Default:     booldefault.StaticBool(false),
				Description: "Delete the snapshot object when the resource is destroyed. By default the object is kept, so that destroying Terraform state never destroys a backup.",
			},
			"uri":        schema.StringAttribute{Computed: true, PlanModifiers: keep, Description: "`gs://` URI of the snapshot object; feed it to `agentnet_redis_snapshot_restore.source`."},
			"generation": schema.Int64Attribute{Computed: true, PlanModifiers: keepInt, Description: "Cloud Storage generation of the object this export wrote."},
			"size_bytes": schema.Int64Attribute{Computed: true, PlanModifiers: keepInt, Description: "Size of the RDB file in bytes."},
			"crc32c":     schema.StringAttribute{Computed: true, PlanModifiers: keep, Description: "CRC32C of the object as Cloud Storage reports it (base64); a restore checks it before importing."},
			"created_at": schema.StringAttribute{Computed: true, PlanModifiers: keep, Description: "When the object was written (RFC 3339)."},
		},
		Blocks: map[string]schema.Block{
			"timeouts": timeouts.Block(ctx, timeouts.Opts{Create: true, Delete: true}),
		},
	}
}

func (r *redisSnapshotResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var plan redisSnapshotModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	timeout, d := plan.Timeouts.Create(ctx, 30*time.Minute)
	resp.Diagnostics.Append(d...)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	dest, err := parseGCSURI(plan.Destination.ValueString())
	if err != nil {
		resp.Diagnostics.AddAttributeError(path.Root("destination"), "Invalid destination", err.Error())
		return
	}
	instance, _ := parseInstanceName(plan.Instance.ValueString())
	if dest.isPrefix() {
		dest = dest.withObject(fmt.Sprintf("%s%s-%s.rdb", dest.Object, instance.Instance,
			r.now().UTC().Format("20060102T150405.000Z")))
	}
	// Check the bucket first: an export into a missing bucket would only
	// fail after the instance has done the work.
	if _, err := r.clients.Storage.Bucket(dest.Bucket).Attrs(ctx); err != nil {
		msg := r.clients.Describe(gcpclient.APIStorage, err)
		if errors.Is(err, storage.ErrBucketNotExist) {
			msg = fmt.Sprintf("bucket %q does not exist; create it first", dest.Bucket)
		}
		resp.Diagnostics.AddAttributeError(path.Root("destination"), "Snapshot destination not usable", msg)
		return
	}

	op, err := r.clients.Redis.ExportInstance(ctx, &redispb.ExportInstanceRequest{
		Name:         instance.String(),
		OutputConfig: &redispb.OutputConfig{Destination: &redispb.OutputConfig_GcsDestination{GcsDestination: &redispb.GcsDestination{Uri: dest.String()}}},
	})
	if err == nil {
		_, err = gcpclient.Wait(ctx, op)
	}
	if gcpclient.IsNotFound(err) {
		resp.Diagnostics.AddAttributeError(path.Root("instance"), "Instance not found", r.clients.Describe(gcpclient.APIRedis, err))
		return
	}
	if err != nil {
		resp.Diagnostics.AddError("Exporting "+instance.String()+" to "+dest.String()+" failed", r.clients.Describe(gcpclient.APIRedis, err))
		return
	}
	attrs, err := objectAttrs(ctx, r.clients, dest)
	if err != nil {
		resp.Diagnostics.AddError("Reading the exported snapshot failed", err.Error())
		return
	}
	plan.fromObject(attrs)
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
}

func (r *redisSnapshotResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var state redisSnapshotModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	u, err := parseGCSURI(state.URI.ValueString())
	if err != nil {
		resp.Diagnostics.AddError("Invalid state", err.Error())
		return
	}
	attrs, err := r.clients.Storage.Bucket(u.Bucket).Object(u.Object).Attrs(ctx)
	if errors.Is(err, storage.ErrObjectNotExist) || err == nil && attrs.Generation != state.Generation.ValueInt64() {
		// The snapshot this resource took is gone (deleted or overwritten):
		// the next plan takes it again.
		resp.State.RemoveResource(ctx)
		return
	}
	if err != nil {
		resp.Diagnostics.AddError("Reading snapshot "+u.String()+" failed", r.clients.Describe(gcpclient.APIStorage, err))
		return
	}
	state.fromObject(attrs)
	resp.Diagnostics.Append(resp.State.Set(ctx, &state)...)
}

// Update only changes delete_object_on_destroy and timeouts, which live in
// state alone.
func (r *redisSnapshotResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var plan redisSnapshotModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
}

func (r *redisSnapshotResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var state redisSnapshotModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() || !state.DeleteObjectOnDestroy.ValueBool() {
		return
	}
	timeout, d := state.Timeouts.Delete(ctx, 5*time.Minute)
	resp.Diagnostics.Append(d...)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	u, _ := parseGCSURI(state.URI.ValueString())
	// Delete only the generation this resource wrote, never a newer one.
	obj := r.clients.Storage.Bucket(u.Bucket).Object(u.Object).If(storage.Conditions{GenerationMatch: state.Generation.ValueInt64()})
	if err := obj.Delete(ctx); err != nil && !errors.Is(err, storage.ErrObjectNotExist) {
		resp.Diagnostics.AddError("Deleting snapshot "+u.String()+" failed", r.clients.Describe(gcpclient.APIStorage, err))
	}
}

func (m *redisSnapshotModel) fromObject(a *storage.ObjectAttrs) {
	uri := gcsURI{a.Bucket, a.Name}.String()
	m.ID = types.StringValue(fmt.Sprintf("%s#%d", uri, a.Generation))
	m.URI = types.StringValue(uri)
	m.Generation = types.Int64Value(a.Generation)
	m.SizeBytes = types.Int64Value(a.Size)
	m.CRC32C = types.StringValue(crc32cString(a.CRC32C))
	m.CreatedAt = types.StringValue(a.Created.UTC().Format(time.RFC3339Nano))
}
