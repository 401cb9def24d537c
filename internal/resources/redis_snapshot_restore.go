package resources

import (
	"context"
	"fmt"
	"time"

	"cloud.google.com/go/redis/apiv1/redispb"
	"github.com/hashicorp/terraform-plugin-framework-timeouts/resource/timeouts"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/mapplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/agentnet/terraform-provider-agentnet/internal/gcpclient"
)

var (
	_ resource.ResourceWithConfigure  = (*redisSnapshotRestoreResource)(nil)
	_ resource.ResourceWithModifyPlan = (*redisSnapshotRestoreResource)(nil)
)

// NewRedisSnapshotRestoreResource is agentnet_redis_snapshot_restore: an
// import of a snapshot into an existing instance.
func NewRedisSnapshotRestoreResource() resource.Resource {
	return &redisSnapshotRestoreResource{now: time.Now}
}

type redisSnapshotRestoreResource struct {
	withClients
	now func() time.Time
}

type redisSnapshotRestoreModel struct {
	ID                 types.String   `tfsdk:"id"`
	Instance           types.String   `tfsdk:"instance"`
	Source             types.String   `tfsdk:"source"`
	SourceGeneration   types.Int64    `tfsdk:"source_generation"`
	ExpectedCRC32C     types.String   `tfsdk:"expected_crc32c"`
	Triggers           types.Map      `tfsdk:"triggers"`
	RestoredAt         types.String   `tfsdk:"restored_at"`
	ImportedGeneration types.Int64    `tfsdk:"imported_generation"`
	ImportedCRC32C     types.String   `tfsdk:"imported_crc32c"`
	Timeouts           timeouts.Value `tfsdk:"timeouts"`
}

func (r *redisSnapshotRestoreResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_redis_snapshot_restore"
}

func (r *redisSnapshotRestoreResource) Schema(ctx context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	replace := []planmodifier.String{stringplanmodifier.RequiresReplace()}
	keep := []planmodifier.String{stringplanmodifier.UseStateForUnknown()}
	resp.Schema = schema.Schema{
		Description: "Restores a Memorystore instance from an RDB snapshot in Cloud Storage: the \"restore from latest " +
			"snapshot\" step of the Redis Recovery and Data Corruption procedures. Creating the resource imports the " +
			"snapshot; the instance is unavailable (state `IMPORTING`) meanwhile and its current data is replaced. " +
			"Before touching the instance, the restore checks that the object exists and, when a checksum is known, " +
			"that it matches, so a changed or corrupted snapshot is never imported. It is replaced (the import runs " +
			"again) when `instance`, `source`, `source_generation`, `expected_crc32c` or `triggers` change, or when " +
			"the source object is rewritten. Destroying it leaves the instance's data alone.",
		Attributes: map[string]schema.Attribute{
			"id": schema.StringAttribute{Computed: true, PlanModifiers: keep,
				Description: "`INSTANCE <- gs://BUCKET/OBJECT#GENERATION`."},
			"instance": schema.StringAttribute{
				Required:      true,
				Description:   "Id of the instance to restore into (`agentnet_redis_instance.<name>.id`). It must exist.",
				PlanModifiers: replace,
				Validators:    []validator.String{instanceIDValidator()},
			},
			"source": schema.StringAttribute{
				Required:      true,
				Description:   "The snapshot object, `gs://BUCKET/OBJECT` (for example `agentnet_redis_snapshot.<name>.uri` or `data.agentnet_redis_snapshots.<name>.latest.uri`).",
				PlanModifiers: replace,
				Validators:    []validator.String{stringvalidator.RegexMatches(gcsObjectURIPattern, gcsURIMessage)},
			},
			"source_generation": schema.Int64Attribute{
				Optional:      true,
				Description:   "Generation the source object must have (`agentnet_redis_snapshot.<name>.generation`). When set, a source rewritten since is refused.",
				PlanModifiers: []planmodifier.Int64{int64planmodifier.RequiresReplace()},
			},
			"expected_crc32c": schema.StringAttribute{
				Optional:      true,
				Description:   "CRC32C (base64, as Cloud Storage reports it) the source must have (`agentnet_redis_snapshot.<name>.crc32c`). A mismatch is refused before the instance is touched.",
				PlanModifiers: replace,
				Validators:    []validator.String{stringvalidator.RegexMatches(crc32cRE, "must be a base64-encoded CRC32C such as \"AAAAAA==\"")},
			},
			"triggers": schema.MapAttribute{
				Optional:      true,
				ElementType:   types.StringType,
				Description:   "Arbitrary values that, when changed, run the restore again.",
				PlanModifiers: []planmodifier.Map{mapplanmodifier.RequiresReplace()},
			},
			"restored_at":         schema.StringAttribute{Computed: true, PlanModifiers: keep, Description: "When the import finished (RFC 3339)."},
			"imported_generation": schema.Int64Attribute{Computed: true, PlanModifiers: []planmodifier.Int64{int64planmodifier.UseStateForUnknown()}, Description: "Generation of the object that was imported."},
			"imported_crc32c":     schema.StringAttribute{Computed: true, PlanModifiers: keep, Description: "CRC32C of the object that was imported."},
		},
		Blocks: map[string]schema.Block{
			"timeouts": timeouts.Block(ctx, timeouts.Opts{Create: true}),
		},
	}
}

// ModifyPlan replaces the restore when its source object was rewritten since
// it was imported, so "restore the latest snapshot into X" stays true.
func (r *redisSnapshotRestoreResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	if req.State.Raw.IsNull() || req.Plan.Raw.IsNull() || r.clients == nil {
		return
	}
	var state, plan redisSnapshotRestoreModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() || plan.Source.IsUnknown() || !plan.Source.Equal(state.Source) {
		return
	}
	u, err := parseGCSURI(plan.Source.ValueString())
	if err != nil {
		return
	}
	attrs, err := objectAttrs(ctx, r.clients, u)
	if err != nil || attrs.Generation == state.ImportedGeneration.ValueInt64() {
		return // a vanished source does not undo a restore that happened
	}
	resp.Diagnostics.Append(resp.Plan.SetAttribute(ctx, path.Root("imported_generation"), types.Int64Unknown())...)
	resp.RequiresReplace = append(resp.RequiresReplace, path.Root("imported_generation"))
}

func (r *redisSnapshotRestoreResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var plan redisSnapshotRestoreModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	timeout, d := plan.Timeouts.Create(ctx, 30*time.Minute)
	resp.Diagnostics.Append(d...)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	// Every check comes before the instance is touched.
	src, err := parseGCSURI(plan.Source.ValueString())
	if err != nil {
		resp.Diagnostics.AddAttributeError(path.Root("source"), "Invalid source", err.Error())
		return
	}
	attrs, err := objectAttrs(ctx, r.clients, src)
	if err != nil {
		resp.Diagnostics.AddAttributeError(path.Root("source"), "Snapshot not found", err.Error())
		return
	}
	if g := plan.SourceGeneration; !g.IsNull() && g.ValueInt64() != attrs.Generation {
		resp.Diagnostics.AddAttributeError(path.Root("source_generation"), "Snapshot was rewritten",
			fmt.Sprintf("%s has generation %d, expected %d: the object was replaced after the snapshot was taken. The instance was not touched.", src, attrs.Generation, g.ValueInt64()))
		return
	}
	crc := crc32cString(attrs.CRC32C)
	if want := plan.ExpectedCRC32C.ValueString(); want != "" && want != crc {
		resp.Diagnostics.AddAttributeError(path.Root("expected_crc32c"), "Snapshot checksum mismatch",
			fmt.Sprintf("%s has CRC32C %s, expected %s: the snapshot was changed or corrupted. The instance was not touched.", src, crc, want))
		return
	}
	instance := plan.Instance.ValueString()
	if _, err := r.clients.Redis.GetInstance(ctx, &redispb.GetInstanceRequest{Name: instance}); err != nil {
		if gcpclient.IsNotFound(err) {
			resp.Diagnostics.AddAttributeError(path.Root("instance"), "Instance not found", fmt.Sprintf("instance %s does not exist", instance))
		} else {
			resp.Diagnostics.AddAttributeError(path.Root("instance"), "Reading the instance failed", r.clients.Describe(gcpclient.APIRedis, err))
		}
		return
	}

	op, err := r.clients.Redis.ImportInstance(ctx, &redispb.ImportInstanceRequest{
		Name:        instance,
		InputConfig: &redispb.InputConfig{Source: &redispb.InputConfig_GcsSource{GcsSource: &redispb.GcsSource{Uri: src.String()}}},
	})
	if err == nil {
		_, err = gcpclient.Wait(ctx, op)
	}
	if err != nil {
		resp.Diagnostics.AddError("Restoring "+instance+" from "+src.String()+" failed", r.clients.Describe(gcpclient.APIRedis, err))
		return
	}
	plan.ID = types.StringValue(fmt.Sprintf("%s <- %s#%d", instance, src, attrs.Generation))
	plan.RestoredAt = types.StringValue(r.now().UTC().Format(time.RFC3339Nano))
	plan.ImportedGeneration = types.Int64Value(attrs.Generation)
	plan.ImportedCRC32C = types.StringValue(crc)
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
}

// Read keeps the restore while its instance exists. An instance deleted and
// created again is empty, so the restore is planned again with it.
func (r *redisSnapshotRestoreResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var state redisSnapshotRestoreModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	_, err := r.clients.Redis.GetInstance(ctx, &redispb.GetInstanceRequest{Name: state.Instance.ValueString()})
	if gcpclient.IsNotFound(err) {
		resp.State.RemoveResource(ctx)
		return
	}
	if err != nil && !keepOnRegionOutage(err, state.Instance.ValueString(), &resp.Diagnostics) {
		resp.Diagnostics.AddError("Reading instance "+state.Instance.ValueString()+" failed", r.clients.Describe(gcpclient.APIRedis, err))
	}
}

// Update only changes timeouts; every other change replaces the restore.
func (r *redisSnapshotRestoreResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var plan redisSnapshotRestoreModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
}

// Delete forgets the restore. The instance keeps the data it was restored
// to: undoing a restore is another restore.
func (r *redisSnapshotRestoreResource) Delete(context.Context, resource.DeleteRequest, *resource.DeleteResponse) {
}
