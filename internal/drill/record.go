package drill

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"cloud.google.com/go/storage"
	"google.golang.org/api/option"

	"github.com/agentnet/terraform-provider-agentnet/internal/recoveryrecord"
)

// Each drill leaves a recovery record of the same kind as a failover's or a
// restore's (internal/recoveryrecord): under the records prefix that
// examples/local declares (output records_prefix), on localcloud, and a
// copy beside the report, which outlives localcloud.

// RecordPlace is where a drill's record went.
type RecordPlace struct {
	URI  string `json:"uri,omitempty"`  // gs:// URI of the JSON record
	File string `json:"file,omitempty"` // the local copy
}

// record is the report as a recovery record: the plan's changes as what
// moved, the timeline as steps, the report's metrics and failures, timed
// from the fault to the service restored.
func (r *run) record(rep *Report) *recoveryrecord.Record {
	end := time.Now().UTC()
	rec := &recoveryrecord.Record{Kind: "drill", Subject: rep.Scenario, Title: "drill " + rep.Title, Started: r.start.UTC(), Ended: end,
		Passed: rep.Passed, Moved: rep.Plan.Changes, Metrics: rep.Metrics, Failures: rep.Failures,
		RanBy: recoveryrecord.CurrentRun(os.Getenv), Objectives: &recoveryrecord.Objectives{RTO: rtoTarget, RPO: rpoTarget}}
	if len(rec.Moved) == 0 {
		rec.Moved = []string{"nothing: " + strings.TrimSpace("the plan changed nothing. "+rep.NoChange)}
	}
	if !r.fault.IsZero() && !r.recovered.IsZero() {
		rec.FirstUnhealthy, rec.ServingAgain, rec.RecoveryFrom = r.fault.UTC(), r.recovered.UTC(), "fault injected"
	}
	for i, e := range rep.Events {
		next := end
		if i+1 < len(rep.Events) {
			next = rep.Events[i+1].At
		}
		rec.Steps = append(rec.Steps, recoveryrecord.Step{Name: e.Name, Started: e.At.UTC(), TookS: next.Sub(e.At).Seconds(), Detail: e.Detail})
	}
	return rec
}

// writeRecord writes the scenario's record under the configuration's
// records prefix and, with outDir, under outDir/records/, and reads it back
// from the prefix as data.agentnet_recovery_records does. A record that
// cannot be written is a failure of the drill's report.
func (r *run) writeRecord(ctx context.Context, rep *Report, outDir string) {
	rec := r.record(rep)
	place := &RecordPlace{}
	rep.Record = place
	fail := func(err error) {
		rep.Failures = append(rep.Failures, "recovery record: "+err.Error())
		rep.Passed = false
	}
	if outDir != "" {
		file, err := recoveryrecord.WriteFiles(outDir+"/records", rec)
		if err != nil {
			fail(err)
		}
		place.File = file
	}
	uri, err := r.env.storeRecord(ctx, rec)
	if err != nil {
		fail(err)
		return
	}
	place.URI = uri
}

// storeRecord writes rec under the records prefix examples/local declares
// and checks that the listing of the prefix returns it.
func (e *Env) storeRecord(ctx context.Context, rec *recoveryrecord.Record) (string, error) {
	out, err := e.tofu(ctx, "output", "-raw", "records_prefix")
	if err != nil || out.code != 0 {
		return "", fmt.Errorf("the configuration declares no records_prefix output: %v %s", err, tail(out.out, 3))
	}
	prefix := strings.TrimSpace(out.out)
	bucket, object, ok := strings.Cut(strings.TrimPrefix(prefix, "gs://"), "/")
	if !ok || !strings.HasPrefix(prefix, "gs://") {
		return "", fmt.Errorf("records_prefix %q is not gs://BUCKET/PREFIX/", prefix)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	c, err := storage.NewClient(ctx, option.WithEndpoint("http://"+e.lc.addr+"/storage/v1/"), option.WithoutAuthentication())
	if err != nil {
		return "", err
	}
	defer c.Close()
	uri, err := recoveryrecord.Write(ctx, c, bucket, object, rec)
	if err != nil {
		return "", fmt.Errorf("writing under %s: %w", prefix, err)
	}
	listed, err := recoveryrecord.List(ctx, c, bucket, object+rec.Kind+"/")
	if err != nil {
		return "", fmt.Errorf("listing %s: %w", prefix, err)
	}
	for _, s := range listed {
		if s.URI == uri && s.Subject == rec.Subject && s.Started.Equal(rec.Started) {
			return uri, nil
		}
	}
	return "", fmt.Errorf("%s was written but the listing of %s does not return it", uri, prefix)
}
