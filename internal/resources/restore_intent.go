package resources

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"cloud.google.com/go/redis/apiv1/redispb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/agentnet/terraform-provider-agentnet/internal/gcpclient"
)

// A killed `tofu` saves no state, and Memorystore's operations do not say
// what they import. So before a restore starts its import it labels the
// instance with what it is about to import and when; a restore created
// again (the next apply) that finds its own label awaits or adopts the
// import that followed instead of importing a second time, which would wipe
// whatever was written since the first one finished.

// restoreLabelKey is the instance label holding a restore's intent. Labels
// starting with agentnet- are the provider's: agentnet_redis_instance does
// not show them in `labels`.
const restoreLabelKey = providerLabelPrefix + "restore"

// restoreIntent is what a restore sets out to import, and since when.
type restoreIntent struct {
	Source string // gs://BUCKET/OBJECT#GENERATION
	Since  time.Time
}

// sourceDigest names a source in a label value: 12 hex digits of its
// SHA-256 (label values are short and lowercase).
func sourceDigest(source string) string {
	sum := sha256.Sum256([]byte(source))
	return hex.EncodeToString(sum[:])[:12]
}

// label is the intent as a label value: DIGEST-UNIXSECONDS.
func (i restoreIntent) label() string {
	return fmt.Sprintf("%s-%d", sourceDigest(i.Source), i.Since.Unix())
}

// intentFrom reads the instance's label: since is when the intent to import
// source was recorded; ok is false when the label is absent or names
// another source.
func intentFrom(labels map[string]string, source string) (since time.Time, ok bool) {
	digest, secs, found := strings.Cut(labels[restoreLabelKey], "-")
	if !found || digest != sourceDigest(source) {
		return time.Time{}, false
	}
	n, err := strconv.ParseInt(secs, 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	return time.Unix(n, 0), true
}

// setRestoreLabel records intent on the instance, or removes the label when
// intent is nil, keeping every other label.
func setRestoreLabel(ctx context.Context, c *gcpclient.Clients, inst *redispb.Instance, intent *restoreIntent) error {
	labels := maps.Clone(inst.GetLabels())
	if labels == nil {
		labels = map[string]string{}
	}
	if intent == nil {
		if _, ok := labels[restoreLabelKey]; !ok {
			return nil
		}
		delete(labels, restoreLabelKey)
	} else {
		labels[restoreLabelKey] = intent.label()
	}
	op, err := c.Redis.UpdateInstance(ctx, &redispb.UpdateInstanceRequest{
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"labels"}},
		Instance:   &redispb.Instance{Name: inst.GetName(), Labels: labels},
	})
	if err == nil {
		_, err = gcpclient.Wait(ctx, op)
	}
	return err
}

// importSince finds the import operation on instance that started at or
// after since (the newest, if several), or nil.
func importSince(ctx context.Context, c *gcpclient.Clients, instance string, since time.Time) (*longrunningpb.Operation, error) {
	ops, err := instanceOperations(ctx, c, instance, "import", since)
	if err != nil || len(ops) == 0 {
		return nil, err
	}
	return ops[len(ops)-1], nil
}

// awaitImport waits for a running or finished import operation to be done;
// its error is the import's.
func awaitImport(ctx context.Context, c *gcpclient.Clients, op *longrunningpb.Operation) error {
	_, err := gcpclient.Wait(ctx, c.Redis.ImportInstanceOperation(op.GetName()))
	return err
}
