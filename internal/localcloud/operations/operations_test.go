package operations_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/operations"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/state"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// open opens a store in a new folder and a manager on it.
func open(t *testing.T) (*state.Store, *operations.Manager) {
	t.Helper()
	store, err := state.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	m, err := operations.New(store, quiet)
	if err != nil {
		t.Fatal(err)
	}
	return store, m
}

func TestOperationsPersistAndServe(t *testing.T) {
	store, m := open(t)
	const parent = "projects/p1/locations/us-east1"
	a, _ := m.Begin(parent, "svc.A", "res/a", wrapperspb.String("meta-a"))
	b, _ := m.Begin(parent, "svc.B", "res/b", nil)
	c, _ := m.Begin("projects/p1/locations/europe-west4", "svc.C", "res/c", nil)
	if !strings.HasPrefix(a.Name(), parent+"/operations/operation-") {
		t.Fatalf("name = %s", a.Name())
	}
	m.Record("svc.D", "res/d", status.Error(codes.InvalidArgument, "field x: bad"))
	srv := m.Server()
	ctx := context.Background()

	// Wait times out on a running operation, returns it not done.
	op, err := srv.WaitOperation(ctx, &longrunningpb.WaitOperationRequest{Name: a.Name(), Timeout: durationpb.New(20 * time.Millisecond)})
	if err != nil || op.Done {
		t.Fatalf("WaitOperation = %v, %v", op, err)
	}
	go func() {
		time.Sleep(20 * time.Millisecond)
		a.Finish(wrapperspb.String("resp-a"), nil, nil)
	}()
	op, err = srv.WaitOperation(ctx, &longrunningpb.WaitOperationRequest{Name: a.Name()})
	if err != nil || !op.Done || op.GetResponse() == nil {
		t.Fatalf("WaitOperation after finish = %v, %v", op, err)
	}
	b.Finish(nil, nil, status.Error(codes.NotFound, "bucket \"x\" does not exist"))

	list, err := srv.ListOperations(ctx, &longrunningpb.ListOperationsRequest{Name: parent, PageSize: 1})
	if err != nil || len(list.Operations) != 1 || list.NextPageToken == "" || list.Operations[0].Name != a.Name() {
		t.Fatalf("ListOperations page 1 = %v, %v", list, err)
	}
	list, err = srv.ListOperations(ctx, &longrunningpb.ListOperationsRequest{Name: parent, PageSize: 1, PageToken: list.NextPageToken})
	if err != nil || len(list.Operations) != 1 || list.Operations[0].Name != b.Name() || list.NextPageToken != "" {
		t.Fatalf("ListOperations page 2 = %v, %v", list, err)
	}
	list, _ = srv.ListOperations(ctx, &longrunningpb.ListOperationsRequest{Name: "projects/p1/locations/-", Filter: "done=false"})
	if len(list.Operations) != 1 || list.Operations[0].Name != c.Name() {
		t.Fatalf("ListOperations done=false = %v", list)
	}
	if _, err := srv.ListOperations(ctx, &longrunningpb.ListOperationsRequest{Name: parent, Filter: "name=x"}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("unsupported filter: %v", err)
	}
	if _, err := srv.GetOperation(ctx, &longrunningpb.GetOperationRequest{Name: parent + "/operations/nope"}); status.Code(err) != codes.NotFound {
		t.Fatalf("GetOperation missing: %v", err)
	}
	if _, err := srv.CancelOperation(ctx, &longrunningpb.CancelOperationRequest{Name: c.Name()}); err != nil {
		t.Fatal(err)
	}
	if c.Context().Err() == nil {
		t.Fatalf("cancel did not cancel the operation's context")
	}

	// Reload: finished operations come back, the running one is pending.
	m2, err := operations.New(store, quiet)
	if err != nil {
		t.Fatal(err)
	}
	op, err = m2.Server().GetOperation(ctx, &longrunningpb.GetOperationRequest{Name: b.Name()})
	if err != nil || !op.Done || op.GetError().GetCode() != int32(codes.NotFound) || !strings.Contains(op.GetError().GetMessage(), "bucket") {
		t.Fatalf("reloaded failed operation = %v, %v", op, err)
	}
	if other := m2.PendingFor("other."); len(other) != 0 {
		t.Fatalf("pending for another API = %v", other)
	}
	pending := m2.PendingFor("svc.")
	if len(pending) != 1 || len(pending["res/c"]) != 1 || pending["res/c"][0].Name() != c.Name() || pending["res/c"][0].Method() != "svc.C" {
		t.Fatalf("pending = %v", pending)
	}
	if again := m2.PendingFor("svc."); len(again) != 0 {
		t.Fatalf("pending handed out twice: %v", again)
	}
	var got []string
	for _, e := range m2.Oplog() {
		got = append(got, e.Phase+" "+e.Method+" "+e.Outcome)
	}
	want := []string{
		"call svc.A RUNNING", "call svc.B RUNNING", "call svc.C RUNNING",
		"call svc.D InvalidArgument: field x: bad", "done svc.A OK",
		"done svc.B NotFound: bucket \"x\" does not exist",
		"event google.longrunning.Operations.CancelOperation cancel requested for " + c.Name(),
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("oplog:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestRunAndFinishGone: Run finishes the operation with what the work
// returns and then calls done; after a restart, FinishGone completes a
// delete of a resource that is gone and aborts anything else.
func TestRunAndFinishGone(t *testing.T) {
	store, m := open(t)
	const parent = "projects/p1/locations/us-east1"
	finished := make(chan bool, 1)
	var op *operations.Op
	answer, err := m.Run(parent, "svc.Quick", "res/q", wrapperspb.String("meta-start"), func() { finished <- op.Done() },
		func(o *operations.Op) (proto.Message, proto.Message, error) {
			op = o
			return wrapperspb.String("resp"), wrapperspb.String("meta-end"), nil
		})
	if err != nil {
		t.Fatal(err)
	}
	if !<-finished {
		t.Fatalf("done called before the operation finished")
	}
	if !answer.Done || answer.GetResponse() == nil {
		t.Fatalf("quick work answered %v, want a done operation with its response", answer)
	}
	meta := &wrapperspb.StringValue{}
	if err := answer.GetMetadata().UnmarshalTo(meta); err != nil || meta.Value != "meta-end" {
		t.Fatalf("metadata = %v, %v; want meta-end", meta, err)
	}
	failed, err := m.Run(parent, "svc.Fail", "res/f", nil, nil, func(*operations.Op) (proto.Message, proto.Message, error) {
		return nil, nil, status.Error(codes.FailedPrecondition, "no")
	})
	if err != nil || failed.GetError().GetCode() != int32(codes.FailedPrecondition) {
		t.Fatalf("failed work answered %v, %v", failed, err)
	}

	del, _ := m.Begin(parent, "svc.DeleteThing", "res/gone", nil)
	upd, _ := m.Begin(parent, "svc.UpdateThing", "res/gone", nil)
	m2, err := operations.New(store, quiet)
	if err != nil {
		t.Fatal(err)
	}
	operations.FinishGone(m2.PendingFor("svc."), "thing", "DeleteThing", func(*operations.Op) (proto.Message, proto.Message) {
		return wrapperspb.String("deleted"), nil
	})
	srv := m2.Server()
	ctx := context.Background()
	if got, err := srv.GetOperation(ctx, &longrunningpb.GetOperationRequest{Name: del.Name()}); err != nil || !got.Done || got.GetResponse() == nil {
		t.Errorf("interrupted delete of a gone resource = %v, %v; want done with a response", got, err)
	}
	got, err := srv.GetOperation(ctx, &longrunningpb.GetOperationRequest{Name: upd.Name()})
	if err != nil || !got.Done || got.GetError().GetCode() != int32(codes.Aborted) || !strings.Contains(got.GetError().GetMessage(), "the thing no longer exists") {
		t.Errorf("interrupted update of a gone resource = %v, %v; want ABORTED naming it", got, err)
	}
}
