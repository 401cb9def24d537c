package resources

import (
	"context"
	"fmt"
	"maps"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"

	"github.com/agentnet/terraform-provider-agentnet/internal/recoveryrecord"
)

// The recovery record every create of a restore writes under its
// records_prefix, refused or not: what it restored, its steps with their
// timings, the checks' results and the data-loss window against the RPO.

// restoreRecordsAttributes are records_prefix, recovery_objectives and
// last_record for the restore: a restore is applied once, so last_record
// stays until the restore runs again.
func restoreRecordsAttributes() map[string]schema.Attribute {
	attrs := maps.Clone(recordsAttributes("restore",
		"the recovery time (the restore's start to its end), the data-loss window (the snapshot's time to `created_before`, else to the restore's start)"))
	attrs["last_record"] = schema.StringAttribute{Computed: true,
		Description:   "`gs://` URI of the JSON record of the import; null without `records_prefix`.",
		PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown()}}
	return attrs
}

// restoreRun is one create of a restore, for its record.
type restoreRun struct {
	started time.Time
	rules   restoreRules
	written bool
	steps   *phaseClock
	snap    *snapshotFacts // the snapshot selected; nil before
	checks  []recoveryrecord.Check
	resumed string // the interrupted import adopted, if any
}

func newRestoreRun(ctx context.Context, rules restoreRules) *restoreRun {
	return &restoreRun{started: time.Now().UTC(), rules: rules, steps: newPhaseClock(ctx, "restore")}
}

// adopted records that the import of an interrupted apply, operation op,
// was awaited instead of importing again.
func (run *restoreRun) adopted(op string) {
	run.resumed = op
	run.steps.doneWith("wait", "adopted the import of an interrupted apply, operation "+op)
}

// recordedChecks are the checks in checkSnapshot's order, the object's
// pins (generation, CRC32C, created_before) as one.
var recordedChecks = []string{"generation, CRC32C, created_before", nameManifest, nameSignature, nameNonEmpty}

// checkIndex is the position of a refusal's check in recordedChecks.
func checkIndex(check string) int {
	switch check {
	case nameManifest:
		return 1
	case nameSignature:
		return 2
	case nameNonEmpty:
		return 3
	}
	return 0
}

// checked records the checks made on snap: those before the one failed
// (nil: none) passed; those after it were not run.
func (run *restoreRun) checked(snap snapshotFacts, failed *refusal) {
	run.snap = &snap
	now := time.Now().UTC()
	detail := fmt.Sprintf("%s#%d", snap.URI, snap.Generation)
	for i, name := range recordedChecks {
		if failed != nil && checkIndex(failed.Check) == i {
			run.checks = append(run.checks, recoveryrecord.Check{Target: name, At: now, Detail: failed.Detail})
			detail = "refused: the " + failed.Check + " check failed"
			break
		}
		run.checks = append(run.checks, recoveryrecord.Check{Target: name, At: now, Healthy: true})
	}
	run.steps.doneWith("checks", detail)
}

// writeRecord writes the restore's record, once.
func (r *redisSnapshotRestoreResource) writeRecord(ctx context.Context, m *redisSnapshotRestoreModel, run *restoreRun, diags *diag.Diagnostics) {
	if run.written {
		return
	}
	run.written = true
	rules := run.rules
	instance := m.Instance.ValueString()
	rec := &recoveryrecord.Record{Kind: "restore", Subject: linkName(instance), Started: run.started,
		Title: "restore of " + linkName(instance), Steps: run.steps.steps, Health: run.checks}
	switch {
	case run.snap == nil:
		rec.Moved = []string{"nothing: no snapshot was selected"}
	case diags.HasError():
		rec.Moved = []string{"nothing: the restore of " + instance + " from " + run.snap.URI.String() + " did not complete"}
	default:
		what := fmt.Sprintf("%s restored from %s#%d, written %s", instance, run.snap.URI, run.snap.Generation,
			run.snap.createdAt().UTC().Format(time.RFC3339))
		if !rules.CreatedBefore.IsZero() {
			what += ", selected for created_before " + rules.CreatedBefore.UTC().Format(time.RFC3339)
		}
		if run.resumed != "" {
			what += " (adopted the import of the interrupted apply, operation " + run.resumed + ")"
		}
		rec.Moved = []string{what}
		// The writes between the snapshot and the data-loss point are
		// lost: the corruption's start when given, else the restore's
		// start (the newest data the restore could have wanted).
		rec.RestoredTo, rec.DataLossPoint, rec.DataLossPointIs = run.snap.createdAt(), rules.CreatedBefore, "created_before"
		if rules.CreatedBefore.IsZero() {
			rec.DataLossPoint, rec.DataLossPointIs = run.started, "restore started"
		}
	}
	m.LastRecord = writeRecord(ctx, r.clients, m.RecordsPrefix, m.RecoveryObjectives, rec, diags)
}
