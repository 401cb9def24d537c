package resources

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"cloud.google.com/go/redis/apiv1/redispb"
	"cloud.google.com/go/storage"
	"github.com/hashicorp/terraform-plugin-framework-timeouts/resource/timeouts"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/booldefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/boolplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/mapplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/agentnet/terraform-provider-agentnet/internal/gcpclient"
	"github.com/agentnet/terraform-provider-agentnet/internal/snapshotsig"
)

var (
	_ resource.ResourceWithConfigure   = (*redisSnapshotResource)(nil)
	_ resource.ResourceWithModifyPlan  = (*redisSnapshotResource)(nil)
	_ resource.ResourceWithImportState = (*redisSnapshotResource)(nil)
)

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
	SigningKey            types.String   `tfsdk:"signing_key"`
	DeleteObjectOnDestroy types.Bool     `tfsdk:"delete_object_on_destroy"`
	URI                   types.String   `tfsdk:"uri"`
	Generation            types.Int64    `tfsdk:"generation"`
	SizeBytes             types.Int64    `tfsdk:"size_bytes"`
	CRC32C                types.String   `tfsdk:"crc32c"`
	CreatedAt             types.String   `tfsdk:"created_at"`
	KeyCount              types.Int64    `tfsdk:"key_count"`
	RedisVersion          types.String   `tfsdk:"redis_version"`
	ManifestURI           types.String   `tfsdk:"manifest_uri"`
	Signed                types.Bool     `tfsdk:"signed"`
	ExportSkipped         types.Bool     `tfsdk:"export_skipped"`
	Timeouts              timeouts.Value `tfsdk:"timeouts"`
}

func (r *redisSnapshotResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_redis_snapshot"
}

func (r *redisSnapshotResource) Schema(ctx context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	keep := []planmodifier.String{stringplanmodifier.UseStateForUnknown()}
	keepInt := []planmodifier.Int64{int64planmodifier.UseStateForUnknown()}
	keepBool := []planmodifier.Bool{boolplanmodifier.UseStateForUnknown()}
	resp.Schema = schema.Schema{
		Description: "An RDB snapshot of a Memorystore instance, exported to Cloud Storage: the backup the Redis Recovery " +
			"and Data Corruption procedures restore from. Creating the resource exports the instance's data as it " +
			"is at that moment and writes a manifest next to the object (`<object>.manifest.json`: generation, " +
			"CRC32C, size, key count, Redis version, time), signed with Cloud KMS when `signing_key` is set; changing " +
			"`triggers` (for example to the hour of `plantimestamp()`) takes a new snapshot. An apply stopped " +
			"during the export (a lost machine, a killed `tofu`) is resumed by the next one: the running export is " +
			"awaited, or the object it wrote adopted, never exported twice. While the instance's region is " +
			"unavailable the export is skipped with a warning and the resource keeps the newest earlier snapshot " +
			"(`export_skipped`; not with `delete_object_on_destroy`); the next plan after the region is back takes the missed one. The object is kept when the resource is " +
			"destroyed unless `delete_object_on_destroy` is set. If the object is deleted or overwritten outside " +
			"Terraform, the next plan exports again. Import an existing snapshot with its `gs://BUCKET/OBJECT` URI, " +
			"optionally followed by `#GENERATION`.",
		Attributes: map[string]schema.Attribute{
			"id": schema.StringAttribute{Computed: true, PlanModifiers: keep,
				Description: "The snapshot object's `gs://` URI and generation, `gs://BUCKET/OBJECT#GENERATION`."},
			"instance": schema.StringAttribute{
				Required:      true,
				Description:   "Id of the instance to export (`agentnet_redis_instance.<name>.id`).",
				PlanModifiers: []planmodifier.String{replaceUnlessImported()},
				Validators:    []validator.String{instanceIDValidator()},
			},
			"destination": schema.StringAttribute{
				Required: true,
				Description: "Where to write the snapshot: an object (`gs://BUCKET/path/snapshot.rdb`), or a prefix ending in " +
					"`/` (`gs://BUCKET/path/`) under which the object is named `INSTANCE-YYYYMMDDTHHMMSS.mmmZ.rdb`. " +
					"The bucket must exist; this is checked at plan time.",
				PlanModifiers: []planmodifier.String{replaceUnlessImported()},
				Validators:    []validator.String{stringvalidator.RegexMatches(gcsURIPattern, gcsURIMessage+" or gs://BUCKET/PREFIX/")},
			},
			"triggers": schema.MapAttribute{
				Optional:      true,
				ElementType:   types.StringType,
				Description:   "Arbitrary values that, when changed, take a new snapshot (the resource is replaced).",
				PlanModifiers: []planmodifier.Map{replaceMapUnlessImported()},
			},
			"signing_key": schema.StringAttribute{
				Optional: true,
				Description: "Cloud KMS crypto key (purpose `MAC`, for example HMAC_SHA256) that signs the snapshot's manifest, " +
					"`projects/PROJECT/locations/LOCATION/keyRings/RING/cryptoKeys/KEY`; its newest enabled version signs (MAC keys have no primary version). A restore " +
					"that trusts this key refuses a snapshot whose manifest is unsigned, forged or does not match the object. " +
					"Unset: the manifest is written unsigned. Changing it takes a new snapshot.",
				PlanModifiers: []planmodifier.String{stringplanmodifier.RequiresReplace()},
				Validators:    []validator.String{cryptoKeyValidator()},
			},
			"delete_object_on_destroy": schema.BoolAttribute{
				Optional: true, Computed: true,
				Default:     booldefault.StaticBool(false),
				Description: "Delete the snapshot object when the resource is destroyed. By default the object is kept, so that destroying Terraform state never destroys a backup.",
			},
			"uri":        schema.StringAttribute{Computed: true, PlanModifiers: keep, Description: "`gs://` URI of the snapshot object. A restore pins it with its `generation` (`agentnet_redis_snapshot_restore.source` and `source_generation`) when it is requested; wiring a restore to this attribute would import every new snapshot."},
			"generation": schema.Int64Attribute{Computed: true, PlanModifiers: keepInt, Description: "Cloud Storage generation of the object this export wrote."},
			"size_bytes": schema.Int64Attribute{Computed: true, PlanModifiers: keepInt, Description: "Size of the RDB file in bytes."},
			"crc32c":     schema.StringAttribute{Computed: true, PlanModifiers: keep, Description: "CRC32C of the object as Cloud Storage reports it (base64); a restore checks it before importing."},
			"created_at": schema.StringAttribute{Computed: true, PlanModifiers: keep, Description: "When the object was written (RFC 3339)."},
			"key_count": schema.Int64Attribute{Computed: true, PlanModifiers: keepInt,
				Description: "Number of keys in the snapshot, read from the RDB file when it was exported (keys with a TTL count while they are in the file). Null when the snapshot has no readable manifest."},
			"redis_version": schema.StringAttribute{Computed: true, PlanModifiers: keep,
				Description: "Version of the Redis server that wrote the snapshot (the RDB's `redis-ver`), for example `7.0.15`. Null when the snapshot has no readable manifest."},
			"manifest_uri": schema.StringAttribute{Computed: true, PlanModifiers: keep,
				Description: "`gs://` URI of the snapshot's manifest, `<uri>.manifest.json`. Null when the snapshot has none (taken before manifests existed); a missing or damaged manifest is reported as a warning."},
			"signed": schema.BoolAttribute{Computed: true, PlanModifiers: keepBool,
				Description: "Whether the manifest carries a Cloud KMS MAC signature (`signing_key` was set when it was written)."},
			"export_skipped": schema.BoolAttribute{Computed: true, PlanModifiers: keepBool,
				Description: "`true` when the last apply could not export because the instance's region was unavailable: the resource then " +
					"describes the newest earlier snapshot of the instance under `destination`, and the next plan replaces it to take the missed snapshot."},
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
	// Checked again: the bucket may have gone since the plan, and an export
	// into a missing bucket would only fail after the instance did the work.
	if checkSnapshotBucket(ctx, r.clients, dest.Bucket, &resp.Diagnostics); resp.Diagnostics.HasError() {
		return
	}
	// An export of this instance into this destination interrupted within
	// the create timeout is resumed, not run a second time.
	rec, err := findExportRecord(ctx, r.clients, dest, instance.String(), r.now().Add(-timeout))
	if err != nil {
		resp.Diagnostics.AddAttributeError(path.Root("destination"), "Looking for an interrupted export failed", r.clients.Describe(gcpclient.APIStorage, err))
		return
	}
	object := dest
	switch {
	case rec != nil:
		object, _ = parseGCSURI(rec.Object)
	case dest.isPrefix():
		object = dest.withObject(fmt.Sprintf("%s%s-%s.rdb", dest.Object, instance.Instance,
			r.now().UTC().Format(snapshotTimeLayout)))
	}

	how, err := exportInstance(ctx, r.clients, instance, object, rec, r.now)
	var out *errRegionOut
	switch {
	case errors.As(err, &out):
		r.keepLastSnapshot(ctx, &plan, dest, instance, out, resp)
		return
	case gcpclient.IsNotFound(err):
		resp.Diagnostics.AddAttributeError(path.Root("instance"), "Instance not found", r.clients.Describe(gcpclient.APIRedis, err))
		return
	case err != nil:
		resp.Diagnostics.AddError("Exporting "+instance.String()+" to "+object.String()+" failed", r.clients.Describe(gcpclient.APIRedis, err))
		return
	}
	if msg, ok := resumedMessages[how]; ok {
		resp.Diagnostics.AddWarning("Resumed an interrupted export of "+instance.Instance, fmt.Sprintf(msg, object))
	}
	attrs, err := objectAttrs(ctx, r.clients, object)
	if err != nil {
		resp.Diagnostics.AddError("Reading the exported snapshot failed", err.Error())
		return
	}
	plan.fromObject(attrs)
	plan.ExportSkipped = types.BoolValue(false)
	// On failure nothing is saved: the record written before the export
	// stays, and the next apply adopts the object and completes it.
	if resp.Diagnostics.Append(r.completeManifest(ctx, &plan, attrs, instance)...); resp.Diagnostics.HasError() {
		return
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
}

// snapshotTimeLayout stamps the objects written under a prefix.
const snapshotTimeLayout = "20060102T150405.000Z"

var resumedMessages = map[exportResumed]string{
	exportAwaited:   "An earlier apply was stopped while its export to %s was running; this apply waited for that export instead of starting another.",
	exportAdopted:   "An earlier apply was stopped after its export to %s had started; the export had finished, and its object is this snapshot (no second export).",
	exportRestarted: "An earlier apply was stopped before its export to %s finished, and that export failed or never started; it ran again, into the same object.",
}

// keepLastSnapshot ends a Create whose instance's region does not answer:
// a scheduled snapshot must not fail for the whole outage, so the newest
// earlier snapshot of the instance under the destination stays this
// resource's, with export_skipped set so that the next plan takes the
// missed one.
func (r *redisSnapshotResource) keepLastSnapshot(ctx context.Context, plan *redisSnapshotModel, dest gcsURI, instance instanceName, out *errRegionOut, resp *resource.CreateResponse) {
	why := r.clients.Describe(gcpclient.APIRedis, out.err)
	if plan.DeleteObjectOnDestroy.ValueBool() {
		// The kept object would belong to two resources, and the one
		// replaced deletes it.
		resp.Diagnostics.AddError("Exporting "+instance.String()+" failed: region "+instance.Region+" unavailable",
			why+"\n\nWith delete_object_on_destroy the snapshot cannot keep an earlier object meanwhile; the next apply after the region is back exports.")
		return
	}
	last, err := lastSnapshot(ctx, r.clients, dest, instance)
	if err != nil {
		resp.Diagnostics.AddError("Exporting "+instance.String()+" failed: region "+instance.Region+" unavailable",
			why+"\n\nLooking for an earlier snapshot to keep failed: "+r.clients.Describe(gcpclient.APIStorage, err))
		return
	}
	if last == nil {
		resp.Diagnostics.AddError("Exporting "+instance.String()+" failed: region "+instance.Region+" unavailable",
			why+"\n\nThere is no earlier snapshot of the instance under "+dest.String()+" to keep meanwhile.")
		return
	}
	plan.fromObject(last)
	plan.ExportSkipped = types.BoolValue(true)
	resp.Diagnostics.AddWarning("Region "+instance.Region+" unavailable: snapshot of "+instance.Instance+" skipped",
		fmt.Sprintf("%s\n\nThe resource keeps the last snapshot, %s (written %s). The next plan after the region is back "+
			"takes the missed snapshot (export_skipped forces the replacement).", why, gcsURI{last.Bucket, last.Name}, last.Created.UTC().Format(time.RFC3339)))
	resp.Diagnostics.Append(r.readManifest(ctx, plan)...)
	resp.Diagnostics.Append(resp.State.Set(ctx, plan)...)
}

// lastSnapshot is the newest snapshot of instance at dest: the object
// itself, or under a prefix the newest INSTANCE-TIMESTAMP.rdb; nil if none.
func lastSnapshot(ctx context.Context, c *gcpclient.Clients, dest gcsURI, instance instanceName) (*storage.ObjectAttrs, error) {
	if !dest.isPrefix() {
		a, err := c.Storage.Bucket(dest.Bucket).Object(dest.Object).Attrs(ctx)
		if errors.Is(err, storage.ErrObjectNotExist) {
			return nil, nil
		}
		return a, err
	}
	prefix := dest.Object + instance.Instance + "-"
	found, err := listSnapshots(ctx, c, dest.withObject(prefix)) // newest first
	if err != nil {
		return nil, err
	}
	for _, a := range found {
		stamp, ok := strings.CutSuffix(strings.TrimPrefix(a.Name, prefix), ".rdb")
		if _, perr := time.Parse(snapshotTimeLayout, stamp); ok && perr == nil {
			return a, nil
		}
		// else another instance's (relay-us-2-... under relay-us-), or not a snapshot
	}
	return nil, nil
}

// checkSnapshotBucket adds an error on destination when the bucket does
// not exist, and a warning when it could not be checked.
func checkSnapshotBucket(ctx context.Context, c *gcpclient.Clients, bucket string, diags *diag.Diagnostics) {
	_, err := c.Storage.Bucket(bucket).Attrs(ctx)
	switch {
	case errors.Is(err, storage.ErrBucketNotExist):
		diags.AddAttributeError(path.Root("destination"), "Snapshot destination not usable",
			fmt.Sprintf("bucket %q does not exist; create it first", bucket))
	case err != nil:
		diags.AddAttributeWarning(path.Root("destination"), "Could not check the snapshot bucket", c.Describe(gcpclient.APIStorage, err))
	}
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
	resp.Diagnostics.Append(r.readManifest(ctx, &state)...)
	resp.Diagnostics.Append(resp.State.Set(ctx, &state)...)
}

// Update only changes delete_object_on_destroy and timeouts, which live in
// state alone, or takes the configuration's instance, destination and
// triggers for an imported snapshot.
func (r *redisSnapshotResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var plan redisSnapshotModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
	resp.Diagnostics.Append(resp.Private.SetKey(ctx, importedKey, nil)...)
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
	// Delete only the generation this resource wrote, never a newer one,
	// and then its manifest.
	obj := r.clients.Storage.Bucket(u.Bucket).Object(u.Object).If(storage.Conditions{GenerationMatch: state.Generation.ValueInt64()})
	if err := obj.Delete(ctx); err != nil && !errors.Is(err, storage.ErrObjectNotExist) {
		resp.Diagnostics.AddError("Deleting snapshot "+u.String()+" failed", r.clients.Describe(gcpclient.APIStorage, err))
		return
	}
	manifest := r.clients.Storage.Bucket(u.Bucket).Object(snapshotsig.ManifestObject(u.Object))
	if err := manifest.Delete(ctx); err != nil && !errors.Is(err, storage.ErrObjectNotExist) {
		resp.Diagnostics.AddError("Deleting the manifest of snapshot "+u.String()+" failed", r.clients.Describe(gcpclient.APIStorage, err))
	}
}

// ModifyPlan checks a new snapshot's bucket and signing key at plan time,
// and replaces a
// snapshot whose last export was skipped during a region outage.
func (r *redisSnapshotResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	if req.Plan.Raw.IsNull() || r.clients == nil {
		return
	}
	if req.State.Raw.IsNull() {
		var plan redisSnapshotModel
		resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
		if u, err := parseGCSURI(plan.Destination.ValueString()); err == nil && !plan.Destination.IsUnknown() {
			checkSnapshotBucket(ctx, r.clients, u.Bucket, &resp.Diagnostics)
		}
		if key := plan.SigningKey; !key.IsNull() && !key.IsUnknown() && cryptoKeyRE.MatchString(key.ValueString()) {
			checkSigningKey(ctx, r.clients, key.ValueString(), &resp.Diagnostics)
		}
		return
	}
	var state redisSnapshotModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if !state.ExportSkipped.ValueBool() {
		return
	}
	// While the region is still out, another replacement would only skip
	// again: the plan stays empty and says so.
	_, err := r.clients.Redis.GetInstance(ctx, &redispb.GetInstanceRequest{Name: state.Instance.ValueString()})
	if gcpclient.IsRegionOutage(err) {
		resp.Diagnostics.AddWarning("Region still unavailable: keeping the last snapshot of "+state.Instance.ValueString(),
			"The last apply could not export the instance and kept "+state.URI.ValueString()+". The plan after the region is back takes the missed snapshot.\n\n"+
				r.clients.Describe(gcpclient.APIRedis, err))
		return
	}
	resp.RequiresReplace = append(resp.RequiresReplace, path.Root("export_skipped"))
	resp.Diagnostics.Append(resp.Plan.SetAttribute(ctx, path.Root("export_skipped"), types.BoolUnknown())...)
	resp.Diagnostics.AddWarning("Taking the snapshot of "+state.Instance.ValueString()+" that an outage skipped",
		"The last apply could not export the instance (its region was unavailable) and kept "+state.URI.ValueString()+
			". The region answers again: this plan replaces the snapshot to take the missed one.")
}

// importedKey marks, in private state, a snapshot adopted by ImportState
// whose instance, destination and triggers come from the configuration at
// the next apply.
const importedKey = "imported"

// ImportState adopts a snapshot object by its gs://BUCKET/OBJECT URI,
// optionally pinned to a generation (#GENERATION).
func (r *redisSnapshotResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	uri, gen, pinned := strings.Cut(req.ID, "#")
	u, err := parseGCSURI(uri)
	if err != nil || u.isPrefix() {
		resp.Diagnostics.AddError("Invalid import id", fmt.Sprintf("%q: the id is a snapshot object's URI, gs://BUCKET/OBJECT, optionally followed by #GENERATION", req.ID))
		return
	}
	attrs, err := objectAttrs(ctx, r.clients, u)
	if err != nil {
		resp.Diagnostics.AddError("Importing snapshot "+u.String()+" failed", err.Error())
		return
	}
	if pinned {
		want, perr := strconv.ParseInt(gen, 10, 64)
		if perr != nil {
			resp.Diagnostics.AddError("Invalid import id", fmt.Sprintf("%q: the generation after # must be a number", req.ID))
			return
		}
		if want != attrs.Generation {
			resp.Diagnostics.AddError("Importing snapshot "+u.String()+" failed",
				fmt.Sprintf("generation %d was asked, the object is at generation %d: it was rewritten since", want, attrs.Generation))
			return
		}
	}
	m := redisSnapshotModel{
		Instance:              types.StringNull(),
		Destination:           types.StringNull(),
		Triggers:              types.MapNull(types.StringType),
		SigningKey:            types.StringNull(),
		DeleteObjectOnDestroy: types.BoolValue(false),
		ExportSkipped:         types.BoolValue(false),
		Timeouts:              timeouts.Value{Object: types.ObjectNull(map[string]attr.Type{"create": types.StringType, "delete": types.StringType})},
	}
	m.fromObject(attrs)
	resp.Diagnostics.Append(r.readManifest(ctx, &m)...)
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
	resp.Diagnostics.Append(resp.Private.SetKey(ctx, importedKey, []byte("true"))...)
}

// replaceUnlessImported is RequiresReplace, except that an attribute an
// import could not know (null in state) takes the configuration's value
// in place; for destination, only when it holds the imported object.
func replaceUnlessImported() planmodifier.String {
	return stringplanmodifier.RequiresReplaceIf(func(ctx context.Context, req planmodifier.StringRequest, resp *stringplanmodifier.RequiresReplaceIfFuncResponse) {
		resp.RequiresReplace = !adoptsImported(ctx, req.Private, req.StateValue.IsNull())
		if !resp.RequiresReplace && req.Path.Equal(path.Root("destination")) {
			var uri types.String
			resp.Diagnostics.Append(req.State.GetAttribute(ctx, path.Root("uri"), &uri)...)
			resp.RequiresReplace = !destinationHolds(req.PlanValue.ValueString(), uri.ValueString())
		}
	}, "Changing it takes a new snapshot.", "Changing it takes a new snapshot.")
}

func replaceMapUnlessImported() planmodifier.Map {
	return mapplanmodifier.RequiresReplaceIf(func(ctx context.Context, req planmodifier.MapRequest, resp *mapplanmodifier.RequiresReplaceIfFuncResponse) {
		resp.RequiresReplace = !adoptsImported(ctx, req.Private, req.StateValue.IsNull())
	}, "Changing it takes a new snapshot.", "Changing it takes a new snapshot.")
}

func adoptsImported(ctx context.Context, private privateGetter, stateNull bool) bool {
	if !stateNull {
		return false
	}
	v, _ := private.GetKey(ctx, importedKey)
	return string(v) == "true"
}

// destinationHolds reports whether destination (an object or a prefix)
// names the object uri.
func destinationHolds(destination, uri string) bool {
	if strings.HasSuffix(destination, "/") {
		return strings.HasPrefix(uri, destination) && !strings.Contains(strings.TrimPrefix(uri, destination), "/")
	}
	return destination == uri
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
