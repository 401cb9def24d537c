package compute

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"cloud.google.com/go/compute/apiv1/computepb"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// decodeInto decodes a generic JSON object into m.
func decodeInto(body map[string]any, m proto.Message) error {
	b, err := json.Marshal(body)
	if err != nil {
		return &apiError{http.StatusBadRequest, "parseError", "Invalid JSON payload received: " + err.Error()}
	}
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(b, m); err != nil {
		return &apiError{http.StatusBadRequest, "invalid", "Invalid JSON payload received: " + err.Error()}
	}
	return nil
}

// mergePatch applies an RFC 7386 JSON merge patch to dst.
func mergePatch(dst, patch map[string]any) {
	for k, v := range patch {
		if v == nil {
			delete(dst, k)
			continue
		}
		if pm, ok := v.(map[string]any); ok {
			dm, ok := dst[k].(map[string]any)
			if !ok {
				dm = map[string]any{}
			}
			mergePatch(dm, pm)
			dst[k] = dm
			continue
		}
		dst[k] = v
	}
}

// checkWeights finds every weightedBackendServices list in a request body and
// checks the weights before the typed decoding (which cannot name the field
// of a negative weight).
func checkWeights(v any, path string) error {
	switch t := v.(type) {
	case map[string]any:
		for k, c := range t {
			p := k
			if path != "" {
				p = path + "." + k
			}
			if k == "weightedBackendServices" {
				list, ok := c.([]any)
				if !ok {
					return errInvalid(p, "must be a list")
				}
				for i, e := range list {
					em, ok := e.(map[string]any)
					if !ok {
						return errInvalid(fmt.Sprintf("%s[%d]", p, i), "must be an object")
					}
					wv, present := em["weight"]
					if !present {
						continue
					}
					f := fmt.Sprintf("%s[%d].weight", p, i)
					var n float64
					switch x := wv.(type) {
					case json.Number:
						var err error
						if n, err = x.Float64(); err != nil {
							return errInvalid(f, "'%v' is not a number", wv)
						}
					case string:
						var err error
						if n, err = strconv.ParseFloat(x, 64); err != nil {
							return errInvalid(f, "'%v' is not a number", wv)
						}
					default:
						return errInvalid(f, "'%v' is not a number", wv)
					}
					if n < 0 || n > 1000 || n != float64(int64(n)) {
						return errInvalid(f, "%v. Must be an integer between 0 and 1000", wv)
					}
				}
				continue
			}
			if err := checkWeights(c, p); err != nil {
				return err
			}
		}
	case []any:
		for i, c := range t {
			if err := checkWeights(c, fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	}
	return nil
}

// mutate runs one mutating call: validation, the change, persistence, the
// operation and the operation log entry, all under s.mu so that the order
// of changes is the order of log entries.
func (s *Service) mutate(w http.ResponseWriter, r *http.Request, rr ref, verb string) {
	sp := specFor(rr.region != "", rr.collection)
	method := "compute." + sp.api + "." + verb
	var body map[string]any
	var err error
	if verb != "delete" {
		body, err = readBody(r)
	}
	s.mu.Lock()
	var op *computepb.Operation
	if err == nil {
		op, err = s.mutateLocked(sp, rr, verb, body)
	}
	resource := rr.rel()
	if op != nil {
		if t, ok := parseRef(op.GetTargetLink(), rr.project); ok {
			resource = t.rel()
		}
	}
	s.record(method, resource, err)
	s.mu.Unlock()
	if err != nil {
		writeError(w, err)
		return
	}
	writeProto(w, op)
}

func (s *Service) mutateLocked(sp *spec, rr ref, verb string, body map[string]any) (*computepb.Operation, error) {
	if s.closed {
		return nil, &apiError{http.StatusServiceUnavailable, "unavailable", "the Compute emulator is shut down"}
	}
	if verb == "insert" {
		if body == nil {
			return nil, errRequired("resource")
		}
		n, _ := body["name"].(string)
		if n == "" {
			return nil, errRequired("resource.name")
		}
		if !nameRE.MatchString(n) {
			return nil, errInvalid("resource.name", "'%s'. Must be a match of regex '(?:[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?)'", n)
		}
		rr.name = n
	}
	rel := rr.rel()
	old, exists := s.res[rel]
	switch {
	case verb == "insert" && exists:
		return nil, &apiError{http.StatusConflict, "alreadyExists", fmt.Sprintf("The resource '%s' already exists", rel)}
	case verb != "insert" && !exists:
		return nil, errNotFound(rel)
	}
	if err := checkWeights(body, "resource"); err != nil {
		return nil, err
	}

	if verb == "delete" {
		if user := s.userOfLocked(rel); user != "" {
			return nil, &apiError{http.StatusBadRequest, "resourceInUseByAnotherResource",
				fmt.Sprintf("The %s resource '%s' is already being used by '%s'", singular(sp.collection), rel, user)}
		}
		delete(s.res, rel)
		op, err := s.saveOpLocked(rr, verb, getID(old), func() { s.res[rel] = old })
		if err != nil {
			return nil, err
		}
		if d := s.doors[rel]; d != nil {
			delete(s.doors, rel)
			d.stop() // the port is closed when the operation is DONE
			go d.close()
		}
		delete(s.wrr, rel)
		delete(s.propagating, rel)
		delete(s.leaves, rel)
		return op, nil
	}

	var m proto.Message
	switch verb {
	case "insert", "update":
		m = sp.newMsg()
		if err := decodeInto(body, m); err != nil {
			return nil, err
		}
	case "patch":
		cur, err := protojson.Marshal(old)
		if err != nil {
			return nil, err
		}
		var doc map[string]any
		dec := json.NewDecoder(strings.NewReader(string(cur)))
		dec.UseNumber()
		if err := dec.Decode(&doc); err != nil {
			return nil, err
		}
		if body == nil {
			body = map[string]any{}
		}
		mergePatch(doc, body)
		m = sp.newMsg()
		if err := decodeInto(doc, m); err != nil {
			return nil, err
		}
		// The fingerprint check below is about the one the caller sent.
		clearField(m, "fingerprint")
		if fp, ok := body["fingerprint"].(string); ok {
			setString(m, "fingerprint", fp)
		}
	case "setUrlMap", "setTarget":
		m = proto.Clone(old)
		key, fieldName := "urlMap", "url_map"
		if verb == "setTarget" {
			key, fieldName = "target", "target"
		}
		v, _ := body[key].(string)
		if v == "" {
			return nil, errRequired(key)
		}
		if !hasField(m, fieldName) {
			return nil, fmt.Errorf("%s has no field %s", sp.kind, fieldName)
		}
		setString(m, fieldName, v)
	}

	if verb == "patch" || verb == "update" {
		if n := getString(m, "name"); n != "" && n != rr.name {
			return nil, errInvalid("resource.name", "'%s'. The name of a resource cannot be changed", n)
		}
		if hasField(m, "fingerprint") {
			fp := getString(m, "fingerprint")
			cur := getString(old, "fingerprint")
			if fp == "" && sp.fingerprintRequired {
				return nil, errRequired("resource.fingerprint")
			}
			if fp != "" && fp != cur {
				return nil, &apiError{http.StatusPreconditionFailed, "conditionNotMet",
					fmt.Sprintf("Invalid fingerprint. Supplied fingerprint '%s' does not match the current fingerprint of '%s'; read the resource again and retry with its fingerprint", fp, rel)}
			}
		}
	}

	// Output-only fields.
	now := time.Now()
	setString(m, "name", rr.name)
	setString(m, "kind", sp.kind)
	setString(m, "self_link", rr.selfLink())
	if old != nil {
		setID(m, getID(old))
		setString(m, "creation_timestamp", getString(old, "creation_timestamp"))
	} else {
		setID(m, newID())
		setString(m, "creation_timestamp", timestamp(now))
	}
	if hasField(m, "fingerprint") {
		setString(m, "fingerprint", newFingerprint())
	}
	if err := sp.prepare(s, rr, m, old); err != nil {
		return nil, err
	}

	// Forwarding rules: the front door opens before the rule exists.
	var door *frontDoor
	if sp.collection == "forwardingRules" {
		fr, err := typed[*computepb.ForwardingRule](m)
		if err != nil {
			return nil, err
		}
		if verb == "insert" {
			d, err := s.openDoorLocked(rel, 0, isHTTPSTarget(fr))
			if err != nil {
				return nil, &apiError{http.StatusServiceUnavailable, "unavailable", "open the front door: " + err.Error()}
			}
			door = d
			setDoorAddr(fr, d.port)
		} else {
			o, err := typed[*computepb.ForwardingRule](old)
			if err != nil {
				return nil, err
			}
			if isHTTPSTarget(o) != isHTTPSTarget(fr) {
				return nil, errInvalid("resource.target", "'%s'. Moving a forwarding rule between a target HTTP proxy and a target HTTPS proxy is not emulated; create another forwarding rule", fr.GetTarget())
			}
			fr.IPAddress = proto.String(o.GetIPAddress())
			fr.PortRange = proto.String(o.GetPortRange())
		}
	}

	s.res[rel] = m
	revert := func() {
		if old != nil {
			s.res[rel] = old
		} else {
			delete(s.res, rel)
		}
	}
	op, err := s.saveOpLocked(rr, verb, getID(m), revert)
	if err != nil {
		if door != nil {
			delete(s.doors, rel)
			door.stop()
			go door.close()
		}
		return nil, err
	}
	if um, ok := m.(*computepb.UrlMap); ok && old != nil {
		if oldUM, ok := old.(*computepb.UrlMap); ok {
			s.stagePropagationLocked(rel, oldUM, um)
		}
	}
	return op, nil
}

// saveOpLocked creates the (DONE) operation of a change already applied to
// s.res and persists everything; on failure it calls revert.
func (s *Service) saveOpLocked(rr ref, verb string, targetID uint64, revert func()) (*computepb.Operation, error) {
	now := time.Now()
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := fmt.Sprintf("operation-%d-%x", now.UnixMilli(), b)
	opRef := ref{project: rr.project, region: rr.region, collection: "operations", name: name}
	op := &computepb.Operation{
		Kind:          proto.String("compute#operation"),
		Id:            proto.Uint64(newID()),
		Name:          proto.String(name),
		OperationType: proto.String(verb),
		TargetLink:    proto.String(rr.selfLink()),
		TargetId:      proto.Uint64(targetID),
		Status:        computepb.Operation_DONE.Enum(),
		Progress:      proto.Int32(100),
		InsertTime:    proto.String(timestamp(now)),
		StartTime:     proto.String(timestamp(now)),
		EndTime:       proto.String(timestamp(now)),
		User:          proto.String("localcloud"),
		SelfLink:      proto.String(opRef.selfLink()),
	}
	if rr.region != "" {
		op.Region = proto.String(regionURL(rr.project, rr.region))
	}
	s.ops[opRef.rel()] = op
	if err := s.saveLocked(); err != nil {
		delete(s.ops, opRef.rel())
		revert()
		return nil, fmt.Errorf("persist state: %w", err)
	}
	return proto.CloneOf(op), nil
}

// userOfLocked returns the relative name of a resource that references rel.
func (s *Service) userOfLocked(rel string) string {
	for n, m := range s.res {
		r, _ := parseRel(n)
		sp := specFor(r.region != "", r.collection)
		for _, x := range sp.refs(m) {
			if x == rel {
				return n
			}
		}
	}
	return ""
}

func singular(collection string) string {
	switch collection {
	case "networkEndpointGroups":
		return "network_endpoint_group"
	case "backendServices":
		return "backend_service"
	case "urlMaps":
		return "url_map"
	case "targetHttpProxies":
		return "target_http_proxy"
	case "forwardingRules":
		return "forwarding_rule"
	}
	return collection
}
