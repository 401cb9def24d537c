package resources

import (
	"context"
	"errors"
	"sort"
	"strings"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"cloud.google.com/go/redis/apiv1/redispb"
	"google.golang.org/api/iterator"

	"github.com/agentnet/terraform-provider-agentnet/internal/gcpclient"
)

// Memorystore operations carry no request, only their target, verb and
// creation time; that is how an export or import left running by a killed
// apply is found again.

// instanceOperations lists the operations of one verb ("export",
// "import") on instance (projects/P/locations/L/instances/I) created at or
// after since, oldest first.
func instanceOperations(ctx context.Context, c *gcpclient.Clients, instance, verb string, since time.Time) ([]*longrunningpb.Operation, error) {
	parent, _, _ := strings.Cut(instance, "/instances/")
	type found struct {
		op *longrunningpb.Operation
		at time.Time
	}
	var ops []found
	it := c.Redis.ListOperations(ctx, &longrunningpb.ListOperationsRequest{Name: parent})
	for {
		op, err := it.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			return nil, err
		}
		var meta redispb.OperationMetadata
		if op.GetMetadata() == nil || op.GetMetadata().UnmarshalTo(&meta) != nil {
			continue
		}
		at := meta.GetCreateTime().AsTime()
		if meta.GetTarget() == instance && meta.GetVerb() == verb && !at.Before(since) {
			ops = append(ops, found{op, at})
		}
	}
	sort.SliceStable(ops, func(i, j int) bool { return ops[i].at.Before(ops[j].at) })
	out := make([]*longrunningpb.Operation, len(ops))
	for i, f := range ops {
		out[i] = f.op
	}
	return out, nil
}
