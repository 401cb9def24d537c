package resources

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"

	"cloud.google.com/go/redis/apiv1/redispb"
	"cloud.google.com/go/storage"
	"github.com/hashicorp/terraform-plugin-framework-timeouts/resource/timeouts"
	"github.com/hashicorp/terraform-plugin-framework-timetypes/timetypes"
	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework-validators/resourcevalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/boolplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/mapplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/agentnet/terraform-provider-agentnet/internal/gcpclient"
	"github.com/agentnet/terraform-provider-agentnet/internal/pausepoint"
	"github.com/agentnet/terraform-provider-agentnet/internal/snapshotsig"
)

var (
	_ resource.ResourceWithConfigure        = (*redisSnapshotRestoreResource)(nil)
	_ resource.ResourceWithConfigValidators = (*redisSnapshotRestoreResource)(nil)
	_ resource.ResourceWithValidateConfig   = (*redisSnapshotRestoreResource)(nil)
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
	ID                 types.String      `tfsdk:"id"`
	Instance           types.String      `tfsdk:"instance"`
	Source             types.String      `tfsdk:"source"`
	SourceGeneration   types.Int64       `tfsdk:"source_generation"`
	SnapshotsPrefix    types.String      `tfsdk:"snapshots_prefix"`
	CreatedBefore      timetypes.RFC3339 `tfsdk:"created_before"`
	ExpectedCRC32C     types.String      `tfsdk:"expected_crc32c"`
	SigningKey         types.String      `tfsdk:"signing_key"`
	AllowUnsigned      types.Bool        `tfsdk:"allow_unsigned"`
	AllowEmpty         types.Bool        `tfsdk:"allow_empty"`
	MinSizeBytes       types.Int64       `tfsdk:"min_size_bytes"`
	Triggers           types.Map         `tfsdk:"triggers"`
	RestoredAt         types.String      `tfsdk:"restored_at"`
	ImportedGeneration types.Int64       `tfsdk:"imported_generation"`
	ImportedCRC32C     types.String      `tfsdk:"imported_crc32c"`
	SnapshotCreatedAt  types.String      `tfsdk:"snapshot_created_at"`
	KeyCount           types.Int64       `tfsdk:"key_count"`
	Signed             types.Bool        `tfsdk:"signed"`
	Timeouts           timeouts.Value    `tfsdk:"timeouts"`
	RecordsPrefix      types.String      `tfsdk:"records_prefix"`
	RecoveryObjectives types.Object      `tfsdk:"recovery_objectives"`
	LastRecord         types.String      `tfsdk:"last_record"`
}

func (r *redisSnapshotRestoreResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_redis_snapshot_restore"
}

func (r *redisSnapshotRestoreResource) Schema(ctx context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	replace := []planmodifier.String{stringplanmodifier.RequiresReplace()}
	keep := []planmodifier.String{stringplanmodifier.UseStateForUnknown()}
	keepInt := []planmodifier.Int64{int64planmodifier.UseStateForUnknown()}
	pinned := []planmodifier.String{stringplanmodifier.UseStateForUnknown(), stringplanmodifier.RequiresReplaceIfConfigured()}
	resp.Schema = schema.Schema{
		Description: "Restores a Memorystore instance from an RDB snapshot in Cloud Storage: the \"restore from snapshot\" " +
			"step of the Redis Recovery and Data Corruption procedures. Creating the resource imports the snapshot; the " +
			"instance is unavailable (state `IMPORTING`) meanwhile and its current data is replaced.\n\n" +
			"The restore imports exactly what was asked, once. The snapshot is either named (`source`, and optionally " +
			"`source_generation`) or selected by the restore itself when it is created: the newest non-empty snapshot " +
			"under `snapshots_prefix` written before `created_before` (the time of the corruption). Either way the " +
			"object and its generation are pinned in state: newer snapshots never run the import again, and a source " +
			"rewritten since is refused. The import runs again only when `instance`, `source`, `snapshots_prefix`, " +
			"`created_before`, `source_generation`, `expected_crc32c` or `triggers` change.\n\n" +
			"Before touching the instance the restore checks, and refuses naming the check that failed: the " +
			"**generation** and **CRC32C** it is pinned to; **created_before**; the **manifest** written with the " +
			"snapshot (object, generation, CRC32C and size must match); the manifest's **signature**, verified with " +
			"the Cloud KMS key `signing_key` (unless `allow_unsigned`); **non-empty** (a key count of 0, or fewer bytes " +
			"than `min_size_bytes`, is refused unless `allow_empty`). A refused restore changes nothing.\n\n" +
			"An apply interrupted during the import (the machine lost, `tofu` killed) does not import twice: the " +
			"restore labels the instance `agentnet-restore` before it starts the import, and the next apply awaits " +
			"the running import, or adopts the finished one, instead of starting another. Destroying the resource " +
			"leaves the instance's data alone.",
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
				Optional: true,
				Computed: true,
				Description: "The snapshot to import, `gs://BUCKET/OBJECT` (for example `agentnet_redis_snapshot.<name>.uri`). " +
					"Exactly one of `source` and `snapshots_prefix`; with `snapshots_prefix` this is the snapshot the restore selected.",
				PlanModifiers: pinned,
				Validators:    []validator.String{stringvalidator.RegexMatches(gcsObjectURIPattern, gcsURIMessage)},
			},
			"source_generation": schema.Int64Attribute{
				Optional: true,
				Computed: true,
				Description: "Generation the source object must have (`agentnet_redis_snapshot.<name>.generation`); a source " +
					"rewritten since is refused. When not set, the generation the source has when the restore is created is pinned.",
				PlanModifiers: []planmodifier.Int64{int64planmodifier.UseStateForUnknown(), int64planmodifier.RequiresReplaceIfConfigured()},
				Validators:    []validator.Int64{int64validator.ConflictsWith(path.MatchRoot("snapshots_prefix")), int64validator.AtLeast(1)},
			},
			"snapshots_prefix": schema.StringAttribute{
				Optional: true,
				Description: "Select the snapshot instead of naming it: `gs://BUCKET/PREFIX/` under which the restore, when it " +
					"is created, takes the newest snapshot written before `created_before` (before the restore's creation " +
					"when not set) that is not empty. The selection is kept in state (`source`, `source_generation`).",
				PlanModifiers: replace,
				Validators:    []validator.String{stringvalidator.RegexMatches(gcsURIPattern, gcsURIMessage+" or gs://BUCKET/PREFIX/")},
			},
			"created_before": schema.StringAttribute{
				Optional: true, CustomType: timetypes.RFC3339Type{},
				Description: "RFC 3339 time the snapshot must predate, typically when the corruption began " +
					"(`2026-11-26T14:05:00Z`). A snapshot written at or after it is refused (with `source`) or skipped " +
					"(with `snapshots_prefix`).",
				PlanModifiers: replace,
			},
			"expected_crc32c": schema.StringAttribute{
				Optional:      true,
				Description:   "CRC32C (base64, as Cloud Storage reports it) the source must have (`agentnet_redis_snapshot.<name>.crc32c`). A mismatch is refused before the instance is touched.",
				PlanModifiers: replace,
				Validators: []validator.String{
					stringvalidator.RegexMatches(crc32cRE, "must be a base64-encoded CRC32C such as \"AAAAAA==\""),
					stringvalidator.ConflictsWith(path.MatchRoot("snapshots_prefix")),
				},
			},
			"signing_key": schema.StringAttribute{
				Optional: true,
				Description: "Cloud KMS MAC key trusted to sign snapshot manifests " +
					"(`projects/PROJECT/locations/LOCATION/keyRings/RING/cryptoKeys/KEY`, the `signing_key` of " +
					"`agentnet_redis_snapshot`). A snapshot whose manifest is missing, unsigned, or does not verify with " +
					"this key is refused. Required unless `allow_unsigned = true`.",
				Validators: []validator.String{cryptoKeyValidator()},
			},
			"allow_unsigned": schema.BoolAttribute{
				Optional: true,
				Description: "Restore a snapshot without a manifest signed by `signing_key` (default `false`). A manifest " +
					"present must still match the object, and a signature that does not verify with `signing_key`, when " +
					"one is given, is still refused.",
			},
			"allow_empty": schema.BoolAttribute{
				Optional:    true,
				Description: "Restore a snapshot that holds no keys or is smaller than `min_size_bytes` (default `false`): restoring it deletes every key.",
			},
			"min_size_bytes": schema.Int64Attribute{
				Optional:    true,
				Description: "Snapshots smaller than this many bytes count as empty (default 0: only the key count decides).",
				Validators:  []validator.Int64{int64validator.AtLeast(0)},
			},
			"triggers": schema.MapAttribute{
				Optional:      true,
				ElementType:   types.StringType,
				Description:   "Arbitrary values that, when changed, run the restore again.",
				PlanModifiers: []planmodifier.Map{mapplanmodifier.RequiresReplace()},
			},
			"restored_at":         schema.StringAttribute{Computed: true, PlanModifiers: keep, Description: "When the import finished (RFC 3339)."},
			"imported_generation": schema.Int64Attribute{Computed: true, PlanModifiers: keepInt, Description: "Generation of the object that was imported."},
			"imported_crc32c":     schema.StringAttribute{Computed: true, PlanModifiers: keep, Description: "CRC32C of the object that was imported."},
			"snapshot_created_at": schema.StringAttribute{Computed: true, PlanModifiers: keep, Description: "When the imported snapshot was written (RFC 3339)."},
			"key_count": schema.Int64Attribute{Computed: true, PlanModifiers: keepInt,
				Description: "Keys in the imported snapshot, from its manifest (or counted in the snapshot when it has none and `allow_unsigned` is set); null when not known."},
			"signed": schema.BoolAttribute{Computed: true, PlanModifiers: []planmodifier.Bool{boolplanmodifier.UseStateForUnknown()},
				Description: "Whether the imported snapshot's manifest signature was verified with `signing_key`."},
		},
		Blocks: map[string]schema.Block{
			"timeouts": timeouts.Block(ctx, timeouts.Opts{Create: true}),
		},
	}
	maps.Copy(resp.Schema.Attributes, restoreRecordsAttributes())
}

func (r *redisSnapshotRestoreResource) ConfigValidators(context.Context) []resource.ConfigValidator {
	return []resource.ConfigValidator{
		resourcevalidator.ExactlyOneOf(path.MatchRoot("source"), path.MatchRoot("snapshots_prefix")),
	}
}

// ValidateConfig asks for a way to trust the snapshot: a signing key, or
// an explicit allow_unsigned.
func (r *redisSnapshotRestoreResource) ValidateConfig(ctx context.Context, req resource.ValidateConfigRequest, resp *resource.ValidateConfigResponse) {
	var m redisSnapshotRestoreModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() || m.SigningKey.IsUnknown() || m.AllowUnsigned.IsUnknown() {
		return
	}
	if m.SigningKey.IsNull() && !m.AllowUnsigned.ValueBool() {
		resp.Diagnostics.AddAttributeError(path.Root("signing_key"), "Missing signing key",
			"signing_key is required: a restore imports only a snapshot whose manifest is signed with this Cloud KMS key "+
				"(projects/PROJECT/locations/LOCATION/keyRings/RING/cryptoKeys/KEY). To restore snapshots without a "+
				"verified signature, set allow_unsigned = true instead.")
	}
}

// rules is what the configuration asks of the snapshot.
func (m *redisSnapshotRestoreModel) rules(diags *diag.Diagnostics) restoreRules {
	return restoreRules{
		SourceGeneration: m.SourceGeneration.ValueInt64(),
		ExpectedCRC32C:   m.ExpectedCRC32C.ValueString(),
		CreatedBefore:    timestampOf(m.CreatedBefore, path.Root("created_before"), diags),
		MinSizeBytes:     m.MinSizeBytes.ValueInt64(),
		AllowEmpty:       m.AllowEmpty.ValueBool(),
		AllowUnsigned:    m.AllowUnsigned.ValueBool(),
		SigningKey:       m.SigningKey.ValueString(),
	}
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
	rules := plan.rules(&resp.Diagnostics)
	run := newRestoreRun(ctx, rules)
	defer r.writeRecord(ctx, &plan, run, &resp.Diagnostics) // a refused or failed restore is recorded too
	if resp.Diagnostics.HasError() {
		return
	}
	snap, ok := r.snapshot(ctx, &plan, rules, resp)
	if !ok {
		return
	}
	ref := checkSnapshot(rules, snap, r.verifier(ctx, rules.SigningKey))
	run.checked(snap, ref)
	if ref != nil {
		resp.Diagnostics.AddAttributeError(ref.Attr, ref.Summary, ref.Detail)
		return
	}
	instance := plan.Instance.ValueString()
	inst, err := r.clients.Redis.GetInstance(ctx, &redispb.GetInstanceRequest{Name: instance})
	if err != nil {
		if gcpclient.IsNotFound(err) {
			resp.Diagnostics.AddAttributeError(path.Root("instance"), "Instance not found", fmt.Sprintf("instance %s does not exist", instance))
		} else {
			resp.Diagnostics.AddAttributeError(path.Root("instance"), "Reading the instance failed", r.clients.Describe(gcpclient.APIRedis, err))
		}
		return
	}
	pinned := fmt.Sprintf("%s#%d", snap.URI, snap.Generation)
	if err := r.importOnce(ctx, inst, snap.URI, plan.request(pinned), run, resp); err != nil {
		resp.Diagnostics.AddError("Restoring "+instance+" from "+pinned+" failed", r.clients.Describe(gcpclient.APIRedis, err))
		return
	}

	plan.ID = types.StringValue(instance + " <- " + pinned)
	plan.Source = types.StringValue(snap.URI.String())
	plan.SourceGeneration = types.Int64Value(snap.Generation)
	plan.RestoredAt = types.StringValue(r.now().UTC().Format(time.RFC3339Nano))
	plan.ImportedGeneration = types.Int64Value(snap.Generation)
	plan.ImportedCRC32C = types.StringValue(snap.CRC32C)
	plan.SnapshotCreatedAt = types.StringValue(snap.createdAt().UTC().Format(time.RFC3339Nano))
	plan.KeyCount = types.Int64Null()
	if n, ok := snap.keyCount(); ok {
		plan.KeyCount = types.Int64Value(n)
	}
	plan.Signed = types.BoolValue(rules.SigningKey != "" && snap.signed())
	r.writeRecord(ctx, &plan, run, &resp.Diagnostics)
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
}

// snapshot finds the snapshot to restore: the source named, or the one
// selected under snapshots_prefix. Errors are added to resp.
func (r *redisSnapshotRestoreResource) snapshot(ctx context.Context, plan *redisSnapshotRestoreModel, rules restoreRules, resp *resource.CreateResponse) (snapshotFacts, bool) {
	if !plan.SnapshotsPrefix.IsNull() {
		prefix, err := parseGCSURI(plan.SnapshotsPrefix.ValueString())
		if err == nil {
			var snap snapshotFacts
			if snap, err = r.selectSnapshot(ctx, prefix, rules); err == nil {
				return snap, true
			}
		}
		resp.Diagnostics.AddAttributeError(path.Root("snapshots_prefix"), "No snapshot to restore", err.Error())
		return snapshotFacts{}, false
	}
	src, err := parseGCSURI(plan.Source.ValueString())
	if err != nil {
		resp.Diagnostics.AddAttributeError(path.Root("source"), "Invalid source", err.Error())
		return snapshotFacts{}, false
	}
	attrs, err := objectAttrs(ctx, r.clients, src)
	if err != nil {
		resp.Diagnostics.AddAttributeError(path.Root("source"), "Snapshot not found", err.Error())
		return snapshotFacts{}, false
	}
	snap, err := r.factsOf(ctx, attrs)
	if err == nil && checkObject(rules, snap) == nil {
		snap, err = r.countKeys(ctx, snap, rules) // after the cheap checks
	}
	if err != nil {
		resp.Diagnostics.AddAttributeError(path.Root("source"), "Snapshot refused", err.Error()+". The instance was not touched.")
		return snapshotFacts{}, false
	}
	return snap, true
}

// selectSnapshot is the newest snapshot under prefix written before
// created_before (before now when not set) that is not empty. Signatures
// and manifests are checked on the one selected, not used to pick one: a
// tampered snapshot is refused loudly rather than skipped for an older one.
func (r *redisSnapshotRestoreResource) selectSnapshot(ctx context.Context, prefix gcsURI, rules restoreRules) (snapshotFacts, error) {
	before := rules.CreatedBefore
	if before.IsZero() {
		before = r.now()
	}
	found, err := listSnapshots(ctx, r.clients, prefix)
	if err != nil {
		return snapshotFacts{}, err
	}
	var skipped []string
	for _, a := range found {
		if !a.Created.Before(before) {
			continue
		}
		snap, err := r.factsOf(ctx, a)
		if err == nil {
			snap, err = r.countKeys(ctx, snap, rules)
		}
		if err != nil {
			return snapshotFacts{}, err
		}
		if why := emptyReason(rules, snap); why != "" {
			skipped = append(skipped, fmt.Sprintf("%s (%s)", snap.URI, why))
			continue
		}
		return snap, nil
	}
	msg := fmt.Sprintf("no snapshot under %s was written before %s", prefix, before.UTC().Format(time.RFC3339))
	if len(skipped) > 0 {
		msg = fmt.Sprintf("every snapshot under %s written before %s is empty: %s. Set allow_empty = true to restore one anyway",
			prefix, before.UTC().Format(time.RFC3339), strings.Join(skipped, ", "))
	}
	return snapshotFacts{}, errors.New(msg + ". The instance was not touched.")
}

// factsOf is what the restore knows of the snapshot object a.
func (r *redisSnapshotRestoreResource) factsOf(ctx context.Context, a *storage.ObjectAttrs) (snapshotFacts, error) {
	f, err := snapshotFactsOf(ctx, r.clients, a)
	if err != nil {
		return f, fmt.Errorf("the %s check failed: %w", nameManifest, err)
	}
	return f, nil
}

// countKeys reads a snapshot without a manifest, that may be restored
// unsigned, once to count its keys, so that an empty one is refused all
// the same.
func (r *redisSnapshotRestoreResource) countKeys(ctx context.Context, f snapshotFacts, rules restoreRules) (snapshotFacts, error) {
	if f.Manifest != nil || !rules.AllowUnsigned || rules.AllowEmpty {
		return f, nil
	}
	sum, err := summarizeObject(ctx, r.clients, f.attrs)
	if err != nil {
		return f, fmt.Errorf("the %s check could not read %s as an RDB snapshot: %w", nameNonEmpty, f.URI, err)
	}
	f.countedKeys = &sum.KeyCount
	return f, nil
}

// verifier checks a manifest's MAC with the trusted key.
func (r *redisSnapshotRestoreResource) verifier(ctx context.Context, key string) func(*snapshotsig.Manifest) error {
	return func(m *snapshotsig.Manifest) error {
		err := snapshotsig.Verify(ctx, r.clients.KMS, key, m)
		if err != nil && status.Code(err) != codes.Unknown {
			// Cloud KMS itself failed (no permission, a disabled version).
			return errors.New(r.clients.Describe(gcpclient.APIKMS, err))
		}
		return err
	}
}

// importOnce imports uri into inst, unless an import of the same request
// recorded on the instance (by an apply killed mid-import) is running or
// done: that one is awaited or adopted, never repeated. The record stays
// on the instance until the restore is destroyed, so that an apply killed
// after the import but before its state was saved adopts it too.
func (r *redisSnapshotRestoreResource) importOnce(ctx context.Context, inst *redispb.Instance, uri gcsURI, request string, run *restoreRun,
	resp *resource.CreateResponse) error {
	instance := inst.GetName()
	if since, ok := intentFrom(inst.GetLabels(), request); ok {
		op, err := importSince(ctx, r.clients, instance, since)
		if err != nil {
			return fmt.Errorf("looking for the import an interrupted apply started: %w", err)
		}
		if op != nil {
			if err := awaitImport(ctx, r.clients, op); err == nil {
				run.adopted(op.GetName())
				resp.Diagnostics.AddWarning("Resumed an interrupted restore",
					fmt.Sprintf("An earlier apply started importing %s into %s (operation %s) and was interrupted; that import is done and was not repeated.", uri, instance, op.GetName()))
				return nil
			}
			// It failed: import again.
		}
	}
	if err := setRestoreLabel(ctx, r.clients, inst, &restoreIntent{Source: request, Since: r.now()}); err != nil {
		return fmt.Errorf("recording the restore on the instance: %w", err)
	}
	run.steps.doneWith("intent_label", restoreLabelKey+" on "+linkName(instance))
	op, err := r.clients.Redis.ImportInstance(ctx, &redispb.ImportInstanceRequest{
		Name:        instance,
		InputConfig: &redispb.InputConfig{Source: &redispb.InputConfig_GcsSource{GcsSource: &redispb.GcsSource{Uri: uri.String()}}},
	})
	if err == nil {
		run.steps.doneWith("import", "operation "+op.Name())
		_, err = gcpclient.Wait(ctx, op)
		run.steps.doneWith("wait", "the instance is available again")
	}
	if err == nil {
		// Imported, the state not yet saved: where a test interrupts an apply.
		err = pausepoint.Reach(ctx, pausepoint.RestoreImported)
	}
	return err
}

// request identifies what a restore asked for in the instance's label: the
// pinned source and the triggers, so that a restore replaced for new
// triggers is never taken for the one before.
func (m *redisSnapshotRestoreModel) request(pinned string) string {
	return pinned + " " + m.Triggers.String()
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

// Update changes what later checks would ask (signing key, allow_*,
// min_size_bytes) and timeouts; the restore that happened stays as it is.
// Every change of what to restore replaces the resource.
func (r *redisSnapshotRestoreResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var plan redisSnapshotRestoreModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
}

// Delete forgets the restore and removes its record from the instance, so
// that the same restore requested again imports again. The instance keeps
// the data it was restored to: undoing a restore is another restore.
func (r *redisSnapshotRestoreResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var state redisSnapshotRestoreModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	instance := state.Instance.ValueString()
	inst, err := r.clients.Redis.GetInstance(ctx, &redispb.GetInstanceRequest{Name: instance})
	if gcpclient.IsNotFound(err) {
		return
	}
	pinned := fmt.Sprintf("%s#%d", state.Source.ValueString(), state.ImportedGeneration.ValueInt64())
	if _, ours := intentFrom(inst.GetLabels(), state.request(pinned)); err == nil && ours {
		err = setRestoreLabel(ctx, r.clients, inst, nil)
	}
	if err == nil {
		return
	}
	summary := "Removing the restore's record from " + instance + " failed"
	detail := fmt.Sprintf("The %s label on the instance records this restore; while it does, a restore of the same snapshot would take it for done. %s",
		restoreLabelKey, r.clients.Describe(gcpclient.APIRedis, err))
	if gcpclient.IsRegionOutage(err) {
		// An outage must not block the apply that works around it.
		resp.Diagnostics.AddWarning(summary, detail+" Remove the label once the region is back.")
		return
	}
	resp.Diagnostics.AddError(summary, detail)
}
