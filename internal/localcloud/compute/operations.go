package compute

import (
	"encoding/json"
	"net/http"
	"strings"

	"cloud.google.com/go/compute/apiv1/computepb"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// serveOperations serves .../operations[/{op}[/wait]].
func (s *Service) serveOperations(w http.ResponseWriter, r *http.Request, project, region string, rest []string) {
	if len(rest) == 0 {
		if r.Method != http.MethodGet {
			methodNotAllowed(w, r)
			return
		}
		prefix := ref{project: project, region: region, collection: "operations", name: "x"}.rel()
		prefix = strings.TrimSuffix(prefix, "x")
		s.mu.Lock()
		var items []json.RawMessage
		for _, n := range s.opNamesLocked() {
			if strings.HasPrefix(n, prefix) {
				b, _ := protojson.Marshal(s.ops[n])
				items = append(items, b)
			}
		}
		s.mu.Unlock()
		writeList(w, r, "compute#operationList", selfLinkBase+strings.TrimSuffix(prefix, "/"), items)
		return
	}
	rr := ref{project: project, region: region, collection: "operations", name: rest[0]}
	switch {
	case len(rest) == 1 && r.Method == http.MethodGet,
		len(rest) == 2 && rest[1] == "wait" && r.Method == http.MethodPost:
		// Every operation is DONE when created, so wait answers at once.
		s.mu.Lock()
		op, ok := s.ops[rr.rel()]
		var out *computepb.Operation
		if ok {
			out = proto.CloneOf(op)
		}
		s.mu.Unlock()
		if !ok {
			writeError(w, errNotFound(rr.rel()))
			return
		}
		writeProto(w, out)
	case len(rest) == 1 && r.Method == http.MethodDelete:
		s.mu.Lock()
		_, ok := s.ops[rr.rel()]
		var err error
		if ok {
			old := s.ops[rr.rel()]
			delete(s.ops, rr.rel())
			if err = s.saveLocked(); err != nil {
				s.ops[rr.rel()] = old
			}
		}
		s.mu.Unlock()
		if !ok {
			writeError(w, errNotFound(rr.rel()))
			return
		}
		if err != nil {
			writeError(w, err)
			return
		}
		w.Header().Set("Content-Type", "application/json; charset=UTF-8")
		_, _ = w.Write([]byte("{}\n"))
	default:
		writeError(w, &apiError{http.StatusNotFound, "notFound", "unknown Compute API path " + r.URL.Path})
	}
}
