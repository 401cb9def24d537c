package operations

import (
	"fmt"
	"strings"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// Work is what an operation does in the background. It returns the
// operation's response (ignored on error), its final metadata (nil keeps
// the current one) and its error.
type Work func(op *Op) (resp, meta proto.Message, err error)

// Run starts long-running work: it begins an operation (see Begin), runs
// work in the background, finishes the operation with what work returns,
// and returns the operation as the call that started it answers (Answer).
// done, if not nil, is called once the operation is finished, or at once
// when it could not begin: the caller counts its background work with it,
// having counted it before Run under the lock that guards its shutdown.
func (m *Manager) Run(parent, method, resource string, meta proto.Message, done func(), work Work) (*longrunningpb.Operation, error) {
	if done == nil {
		done = func() {}
	}
	op, err := m.Begin(parent, method, resource, meta)
	if err != nil {
		done()
		return nil, status.Errorf(codes.Internal, "start operation: %v", err)
	}
	go func() {
		defer done()
		op.Finish(work(op))
	}()
	return op.Answer(), nil
}

// PendingFor returns the operations whose method starts with methodPrefix
// (for example "google.cloud.run.v2.Services.") that were running when the
// previous localcloud stopped, by resource, so that each emulated API
// finishes only its own. The others stay pending for their owners.
func (m *Manager) PendingFor(methodPrefix string) map[string][]*Op {
	m.mu.Lock()
	defer m.mu.Unlock()
	mine := map[string][]*Op{}
	var rest []*Op
	for _, o := range m.pending {
		if strings.HasPrefix(o.method, methodPrefix) {
			mine[o.resource] = append(mine[o.resource], o)
		} else {
			rest = append(rest, o)
		}
	}
	m.pending = rest
	return mine
}

// FinishGone finishes operations left pending on resources that no longer
// exist (a kind of resource such as "instance"): a delete, whose method
// ends in deleteMethod, is done with the response and metadata deleted
// gives; anything else is aborted.
func FinishGone(pending map[string][]*Op, kind, deleteMethod string, deleted func(op *Op) (resp, meta proto.Message)) {
	for res, ops := range pending {
		for _, op := range ops {
			if strings.HasSuffix(op.Method(), deleteMethod) {
				resp, meta := deleted(op)
				op.Finish(resp, meta, nil)
				continue
			}
			op.Finish(nil, nil, status.Error(codes.Aborted, fmt.Sprintf("localcloud stopped while %s of %s was running; the %s no longer exists", op.Method(), res, kind)))
		}
	}
}
