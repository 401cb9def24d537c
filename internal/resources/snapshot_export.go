package resources

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"cloud.google.com/go/redis/apiv1/redispb"
	"cloud.google.com/go/storage"
	"google.golang.org/api/iterator"

	"github.com/agentnet/terraform-provider-agentnet/internal/gcpclient"
	"github.com/agentnet/terraform-provider-agentnet/internal/snapshotsig"
)

// An export that survives the loss of the process running it. A SIGKILLed
// tofu saves no state, so the intent is recorded in the cloud, next to the
// object it is about to write: before ExportInstance the snapshot writes its
// manifest in state "exporting" (with the operation's name once the call
// returns). The next Create for the same instance and destination finds
// that record and, rather than exporting a second time, awaits the
// operation if it is still running or adopts the object it wrote; only a
// failed or never-started export is run again, into the same object, so no
// orphan is left behind.

// clockSkew is how far the API's clock may be behind ours when an
// operation's start is compared with the time a record was written.
const clockSkew = 5 * time.Second

// manifestSuffix ends the name of every manifest object.
var manifestSuffix = snapshotsig.ManifestObject("")

// findExportRecord returns the newest export of instance into dest (an
// object, or a prefix) recorded since, or nil.
func findExportRecord(ctx context.Context, c *gcpclient.Clients, dest gcsURI, instance string, since time.Time) (*snapshotsig.Manifest, error) {
	var candidates []gcsURI
	if dest.isPrefix() {
		it := c.Storage.Bucket(dest.Bucket).Objects(ctx, &storage.Query{Prefix: dest.Object})
		for {
			a, err := it.Next()
			if errors.Is(err, iterator.Done) {
				break
			}
			if err != nil {
				return nil, err
			}
			if name, ok := strings.CutSuffix(a.Name, manifestSuffix); ok && a.Updated.After(since) {
				candidates = append(candidates, dest.withObject(name))
			}
		}
	} else {
		candidates = []gcsURI{dest}
	}
	var newest *snapshotsig.Manifest
	for _, u := range candidates {
		rec, err := snapshotsig.Read(ctx, c.Storage, u.String())
		if err != nil {
			// Absent, or not a manifest this provider wrote: not a record
			// of an export to resume.
			continue
		}
		if rec.State != snapshotsig.StateExporting || rec.Instance != instance || rec.CreatedAt.Before(since) {
			continue
		}
		if newest == nil || rec.CreatedAt.After(newest.CreatedAt) {
			newest = rec
		}
	}
	return newest, nil
}

// errRegionOut is the export's answer when the instance's region does not
// serve it.
type errRegionOut struct{ err error }

func (e *errRegionOut) Error() string { return e.err.Error() }
func (e *errRegionOut) Unwrap() error { return e.err }

// exportResumed tells how an export ended.
type exportResumed int

const (
	exportedNow     exportResumed = iota // this Create ran the export
	exportAwaited                        // an interrupted export was still running and was awaited
	exportAdopted                        // an interrupted export had finished and its object was taken
	exportRestarted                      // an interrupted export had failed or never started and ran again
)

// export writes instance's data to object, resuming the export rec
// recorded (nil: none). Errors from a region that does not answer come
// back as *errRegionOut.
func exportInstance(ctx context.Context, c *gcpclient.Clients, instance instanceName, object gcsURI, rec *snapshotsig.Manifest, now func() time.Time) (exportResumed, error) {
	outage := func(err error) error {
		if gcpclient.IsRegionOutage(err) {
			return &errRegionOut{err}
		}
		return err
	}
	how := exportedNow
	if rec != nil {
		op, err := findExportOperation(ctx, c, instance, rec)
		if err != nil {
			return how, outage(err)
		}
		how = exportRestarted
		if op != nil {
			if !op.Done() {
				how = exportAwaited
				_, err = gcpclient.Wait(ctx, op)
			} else {
				_, err = op.Poll(ctx)
			}
			if gcpclient.IsRegionOutage(err) {
				return how, &errRegionOut{err}
			}
			if err == nil && objectWrittenSince(ctx, c, object, rec.CreatedAt) {
				if how != exportAwaited {
					how = exportAdopted
				}
				return how, nil
			}
			how = exportRestarted // failed: export again, into the same object
		}
	}
	// The instance first: a region that does not answer is told apart from
	// a missing instance before anything is written.
	if _, err := c.Redis.GetInstance(ctx, &redispb.GetInstanceRequest{Name: instance.String()}); err != nil {
		return how, outage(err)
	}
	intent := &snapshotsig.Manifest{Version: snapshotsig.CurrentVersion, Object: object.String(), Instance: instance.String(),
		CreatedAt: now().UTC(), State: snapshotsig.StateExporting}
	if err := snapshotsig.Write(ctx, c.Storage, intent); err != nil {
		return how, fmt.Errorf("recording the export: %s", c.Describe(gcpclient.APIStorage, err))
	}
	op, err := c.Redis.ExportInstance(ctx, &redispb.ExportInstanceRequest{
		Name:         instance.String(),
		OutputConfig: &redispb.OutputConfig{Destination: &redispb.OutputConfig_GcsDestination{GcsDestination: &redispb.GcsDestination{Uri: object.String()}}},
	})
	if err != nil {
		return how, outage(err)
	}
	if !op.Done() {
		// Best effort: without the name a resumed Create finds the
		// operation by listing the instance's operations.
		intent.Operation = op.Name()
		_ = snapshotsig.Write(ctx, c.Storage, intent)
	}
	_, err = gcpclient.Wait(ctx, op)
	return how, outage(err)
}

// findExportOperation is the export operation rec recorded, or the first
// export of the instance that started after rec was written; nil when there
// is none (the call never reached the API).
func findExportOperation(ctx context.Context, c *gcpclient.Clients, instance instanceName, rec *snapshotsig.Manifest) (gcpclient.Operation[*redispb.Instance], error) {
	if rec.Operation != "" {
		op := c.Redis.ExportInstanceOperation(rec.Operation)
		if _, err := op.Poll(ctx); err != nil && !op.Done() {
			if gcpclient.IsNotFound(err) {
				return nil, nil
			}
			return nil, err
		}
		return op, nil
	}
	// Memorystore runs one operation at a time on an instance: the first
	// export after the record is the one it announced.
	ops, err := instanceOperations(ctx, c, instance.String(), "export", rec.CreatedAt.Add(-clockSkew))
	if err != nil {
		return nil, err
	}
	if len(ops) == 0 {
		return nil, nil
	}
	first := ops[0]
	op := c.Redis.ExportInstanceOperation(first.GetName())
	if _, err := op.Poll(ctx); err != nil && !op.Done() {
		return nil, err
	}
	return op, nil
}

// objectWrittenSince reports whether u exists and was written at or after t.
func objectWrittenSince(ctx context.Context, c *gcpclient.Clients, u gcsURI, t time.Time) bool {
	a, err := c.Storage.Bucket(u.Bucket).Object(u.Object).Attrs(ctx)
	return err == nil && !a.Updated.Before(t.Add(-clockSkew))
}
