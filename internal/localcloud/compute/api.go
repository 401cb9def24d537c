package compute

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"cloud.google.com/go/compute/apiv1/computepb"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// selfLinkBase prefixes every selfLink and stored reference, as on Google.
const selfLinkBase = "https://www.googleapis.com/compute/v1/"

var (
	nameRE    = regexp.MustCompile(`^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$`)
	projectRE = regexp.MustCompile(`^[a-z0-9][-a-z0-9.:]{0,99}$`)
	regionRE  = regexp.MustCompile(`^[a-z][a-z0-9-]{0,62}$`)
)

// apiError is an error answered in Google's JSON error format.
type apiError struct {
	code   int
	reason string
	msg    string
}

func (e *apiError) Error() string { return fmt.Sprintf("HTTP %d %s: %s", e.code, e.reason, e.msg) }

func errInvalid(field, format string, a ...any) *apiError {
	return &apiError{http.StatusBadRequest, "invalid", fmt.Sprintf("Invalid value for field '%s': %s", field, fmt.Sprintf(format, a...))}
}

func errRequired(field string) *apiError {
	return &apiError{http.StatusBadRequest, "required", fmt.Sprintf("Required field '%s' not specified", field)}
}

func errNotFound(rel string) *apiError {
	return &apiError{http.StatusNotFound, "notFound", fmt.Sprintf("The resource '%s' was not found", rel)}
}

func writeError(w http.ResponseWriter, err error) {
	var ae *apiError
	if !errors.As(err, &ae) {
		ae = &apiError{http.StatusInternalServerError, "backendError", err.Error()}
	}
	body := map[string]any{"error": map[string]any{
		"code":    ae.code,
		"message": ae.msg,
		"errors":  []map[string]string{{"domain": "global", "reason": ae.reason, "message": ae.msg}},
	}}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(ae.code)
	_ = json.NewEncoder(w).Encode(body)
}

func writeProto(w http.ResponseWriter, m proto.Message) {
	b, err := protojson.Marshal(m)
	if err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	_, _ = w.Write(b)
}

// ref names one resource.
type ref struct {
	project, region, collection, name string // region "" means global
}

func (r ref) rel() string {
	if r.region == "" {
		return "projects/" + r.project + "/global/" + r.collection + "/" + r.name
	}
	return "projects/" + r.project + "/regions/" + r.region + "/" + r.collection + "/" + r.name
}

func (r ref) selfLink() string { return selfLinkBase + r.rel() }

// parseRel parses a relative name projects/p/global/c/n or
// projects/p/regions/r/c/n.
func parseRel(s string) (ref, bool) {
	p := strings.Split(s, "/")
	switch {
	case len(p) == 5 && p[0] == "projects" && p[2] == "global":
		return ref{project: p[1], collection: p[3], name: p[4]}, p[1] != "" && p[3] != "" && p[4] != ""
	case len(p) == 6 && p[0] == "projects" && p[2] == "regions":
		return ref{project: p[1], region: p[3], collection: p[4], name: p[5]}, p[1] != "" && p[3] != "" && p[4] != "" && p[5] != ""
	}
	return ref{}, false
}

// parseRef parses a full or partial URL to a resource; partial URLs without
// a project use project.
func parseRef(s, project string) (ref, bool) {
	s = strings.TrimSpace(s)
	if i := strings.Index(s, "://"); i >= 0 {
		s = s[i+3:]
		j := strings.Index(s, "/")
		if j < 0 {
			return ref{}, false
		}
		s = s[j:]
	}
	s = strings.TrimPrefix(s, "/")
	for _, v := range []string{"compute/v1/", "compute/beta/", "compute/alpha/"} {
		s = strings.TrimPrefix(s, v)
	}
	if strings.HasPrefix(s, "global/") || strings.HasPrefix(s, "regions/") {
		s = "projects/" + project + "/" + s
	}
	return parseRel(s)
}

func regionURL(project, region string) string {
	return selfLinkBase + "projects/" + project + "/regions/" + region
}

// spec describes one emulated collection.
type spec struct {
	collection string
	regional   bool
	api        string // method prefix in the operation log: compute.<api>.<verb>
	kind       string
	listKind   string
	newMsg     func() proto.Message
	patch      bool
	update     bool
	// fingerprintRequired: patch and update must carry the current fingerprint.
	fingerprintRequired bool
	// prepare validates m (to be stored under r) and normalizes its
	// references; old is the current version on patch/update, else nil.
	prepare func(s *Service, r ref, m, old proto.Message) error
	// refs returns the relative names m references.
	refs func(m proto.Message) []string
}

var specs = []*spec{
	{collection: "networkEndpointGroups", regional: true, api: "regionNetworkEndpointGroups",
		kind: "compute#networkEndpointGroup", listKind: "compute#networkEndpointGroupList",
		newMsg:  func() proto.Message { return &computepb.NetworkEndpointGroup{} },
		prepare: prepareNEG, refs: func(proto.Message) []string { return nil }},
	{collection: "backendServices", api: "backendServices",
		kind: "compute#backendService", listKind: "compute#backendServiceList",
		newMsg: func() proto.Message { return &computepb.BackendService{} }, patch: true, update: true,
		prepare: prepareBackendService, refs: backendServiceRefs},
	{collection: "urlMaps", api: "urlMaps",
		kind: "compute#urlMap", listKind: "compute#urlMapList",
		newMsg: func() proto.Message { return &computepb.UrlMap{} }, patch: true, update: true, fingerprintRequired: true,
		prepare: prepareURLMap, refs: urlMapRefs},
	{collection: "targetHttpProxies", api: "targetHttpProxies",
		kind: "compute#targetHttpProxy", listKind: "compute#targetHttpProxyList",
		newMsg: func() proto.Message { return &computepb.TargetHttpProxy{} }, patch: true,
		prepare: prepareProxy, refs: func(m proto.Message) []string {
			return relRefs(m.(*computepb.TargetHttpProxy).GetUrlMap())
		}},
	{collection: "forwardingRules", api: "globalForwardingRules",
		kind: "compute#forwardingRule", listKind: "compute#forwardingRuleList",
		newMsg: func() proto.Message { return &computepb.ForwardingRule{} }, patch: true,
		prepare: prepareForwardingRule, refs: func(m proto.Message) []string {
			return relRefs(m.(*computepb.ForwardingRule).GetTarget())
		}},
}

func specFor(regional bool, collection string) *spec {
	for _, sp := range specs {
		if sp.regional == regional && sp.collection == collection {
			return sp
		}
	}
	return nil
}

func relRefs(urls ...string) []string {
	var out []string
	for _, u := range urls {
		if r, ok := parseRef(u, ""); ok {
			out = append(out, r.rel())
		}
	}
	return out
}

// Generic access to the fields every resource has.

func field(m proto.Message, name string) (protoreflect.Message, protoreflect.FieldDescriptor) {
	r := m.ProtoReflect()
	return r, r.Descriptor().Fields().ByName(protoreflect.Name(name))
}

func getString(m proto.Message, name string) string {
	r, fd := field(m, name)
	if fd == nil || !r.Has(fd) {
		return ""
	}
	return r.Get(fd).String()
}

func setString(m proto.Message, name, v string) {
	if r, fd := field(m, name); fd != nil {
		r.Set(fd, protoreflect.ValueOfString(v))
	}
}

func clearField(m proto.Message, name string) {
	if r, fd := field(m, name); fd != nil {
		r.Clear(fd)
	}
}

func getID(m proto.Message) uint64 {
	r, fd := field(m, "id")
	if fd == nil || !r.Has(fd) {
		return 0
	}
	return r.Get(fd).Uint()
}

func setID(m proto.Message, id uint64) {
	if r, fd := field(m, "id"); fd != nil {
		r.Set(fd, protoreflect.ValueOfUint64(id))
	}
}

func hasField(m proto.Message, name string) bool {
	_, fd := field(m, name)
	return fd != nil
}

func newID() uint64 {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return binary.BigEndian.Uint64(b[:]) >> 1
}

func newFingerprint() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return base64.StdEncoding.EncodeToString(b[:])
}

func timestamp(t time.Time) string { return t.Format("2006-01-02T15:04:05.000-07:00") }

// serveAPI routes /compute/v1/projects/{p}/...
func (s *Service) serveAPI(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimPrefix(r.URL.Path, "/compute/v1")
	parts := strings.Split(strings.Trim(path, "/"), "/")
	if len(parts) < 4 || parts[0] != "projects" || !projectRE.MatchString(parts[1]) {
		writeError(w, &apiError{http.StatusNotFound, "notFound", "unknown Compute API path " + r.URL.Path})
		return
	}
	project, rest := parts[1], parts[2:]
	region := ""
	switch rest[0] {
	case "global":
		rest = rest[1:]
	case "regions":
		if len(rest) < 3 || !regionRE.MatchString(rest[1]) {
			writeError(w, &apiError{http.StatusNotFound, "notFound", "unknown Compute API path " + r.URL.Path})
			return
		}
		region, rest = rest[1], rest[2:]
	case "targetHttpProxies":
		// POST projects/{p}/targetHttpProxies/{name}/setUrlMap (no "global").
		if len(rest) == 3 && rest[2] == "setUrlMap" {
			if r.Method != http.MethodPost {
				methodNotAllowed(w, r)
				return
			}
			s.mutate(w, r, ref{project: project, collection: "targetHttpProxies", name: rest[1]}, "setUrlMap")
			return
		}
		writeError(w, &apiError{http.StatusNotFound, "notFound", "unknown Compute API path " + r.URL.Path})
		return
	default:
		writeError(w, &apiError{http.StatusNotFound, "notFound", "unknown Compute API path " + r.URL.Path})
		return
	}
	if region != "" {
		if err := s.regionErr(region); err != nil {
			if r.Method != http.MethodGet && len(rest) >= 1 && rest[0] != "operations" {
				if sp := specFor(true, rest[0]); sp != nil {
					name := ""
					if len(rest) > 1 {
						name = rest[1]
					} else if body, _ := readBody(r); body != nil {
						name, _ = body["name"].(string)
					}
					s.record(methodName(sp, r.Method, len(rest)), ref{project, region, rest[0], name}.rel(), err)
				}
			}
			writeError(w, err)
			return
		}
	}
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		writeError(w, &apiError{http.StatusServiceUnavailable, "unavailable", "the Compute emulator is shut down"})
		return
	}
	if rest[0] == "operations" {
		s.serveOperations(w, r, project, region, rest[1:])
		return
	}
	sp := specFor(region != "", rest[0])
	if sp == nil {
		writeError(w, &apiError{http.StatusNotFound, "notFound", "collection " + rest[0] + " is not emulated (path " + r.URL.Path + ")"})
		return
	}
	switch len(rest) {
	case 1:
		switch r.Method {
		case http.MethodGet:
			s.list(w, r, sp, project, region)
		case http.MethodPost:
			s.mutate(w, r, ref{project: project, region: region, collection: sp.collection}, "insert")
		default:
			methodNotAllowed(w, r)
		}
	case 2:
		rr := ref{project, region, sp.collection, rest[1]}
		switch r.Method {
		case http.MethodGet:
			s.get(w, rr)
		case http.MethodPatch:
			if !sp.patch {
				methodNotAllowed(w, r)
				return
			}
			s.mutate(w, r, rr, "patch")
		case http.MethodPut:
			if !sp.update {
				methodNotAllowed(w, r)
				return
			}
			s.mutate(w, r, rr, "update")
		case http.MethodDelete:
			s.mutate(w, r, rr, "delete")
		default:
			methodNotAllowed(w, r)
		}
	case 3:
		rr := ref{project, region, sp.collection, rest[1]}
		if r.Method == http.MethodPost && sp.collection == "forwardingRules" && rest[2] == "setTarget" {
			s.mutate(w, r, rr, "setTarget")
			return
		}
		writeError(w, &apiError{http.StatusNotFound, "notFound", "unknown Compute API path " + r.URL.Path})
	default:
		writeError(w, &apiError{http.StatusNotFound, "notFound", "unknown Compute API path " + r.URL.Path})
	}
}

func methodName(sp *spec, method string, n int) string {
	verb := map[string]string{http.MethodPost: "insert", http.MethodPatch: "patch", http.MethodPut: "update", http.MethodDelete: "delete"}[method]
	if verb == "" {
		verb = strings.ToLower(method)
	}
	if n > 2 {
		verb = "post"
	}
	return "compute." + sp.api + "." + verb
}

func methodNotAllowed(w http.ResponseWriter, r *http.Request) {
	writeError(w, &apiError{http.StatusMethodNotAllowed, "methodNotAllowed", "method " + r.Method + " is not allowed on " + r.URL.Path})
}

func (s *Service) regionErr(region string) error {
	if s.cfg.RegionAvailable == nil {
		return nil
	}
	if err := s.cfg.RegionAvailable(region); err != nil {
		msg := errMessage(err)
		if !strings.Contains(msg, region) {
			msg = fmt.Sprintf("The region '%s' is unavailable: %s", region, msg)
		}
		return &apiError{http.StatusServiceUnavailable, "unavailable", msg}
	}
	return nil
}

// errMessage is the message of err without a gRPC status prefix.
func errMessage(err error) string {
	if st, ok := status.FromError(err); ok {
		return st.Message()
	}
	return err.Error()
}

func (s *Service) get(w http.ResponseWriter, r ref) {
	s.mu.Lock()
	m, ok := s.res[r.rel()]
	var out proto.Message
	if ok {
		out = proto.Clone(m)
	}
	s.mu.Unlock()
	if !ok {
		writeError(w, errNotFound(r.rel()))
		return
	}
	writeProto(w, out)
}

func (s *Service) list(w http.ResponseWriter, r *http.Request, sp *spec, project, region string) {
	s.mu.Lock()
	names := s.namesLocked(sp.collection, project, region)
	items := make([]json.RawMessage, 0, len(names))
	for _, n := range names {
		b, err := protojson.Marshal(s.res[n])
		if err != nil {
			s.mu.Unlock()
			writeError(w, err)
			return
		}
		items = append(items, b)
	}
	s.mu.Unlock()
	base := ref{project: project, region: region, collection: sp.collection, name: "x"}.selfLink()
	writeList(w, r, sp.listKind, strings.TrimSuffix(base, "/x"), items)
}

func writeList(w http.ResponseWriter, r *http.Request, kind, selfLink string, items []json.RawMessage) {
	start := 0
	if t := r.URL.Query().Get("pageToken"); t != "" {
		n, err := strconv.Atoi(t)
		if err != nil || n < 0 || n > len(items) {
			writeError(w, errInvalid("pageToken", "'%s' is not a page token of this list", t))
			return
		}
		start = n
	}
	end := len(items)
	if mr := r.URL.Query().Get("maxResults"); mr != "" {
		if n, err := strconv.Atoi(mr); err == nil && n > 0 && start+n < end {
			end = start + n
		}
	}
	out := map[string]any{"kind": kind, "id": selfLink, "selfLink": selfLink}
	if end > start {
		out["items"] = items[start:end]
	}
	if end < len(items) {
		out["nextPageToken"] = strconv.Itoa(end)
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	_ = json.NewEncoder(w).Encode(out)
}

// readBody reads a JSON body into a generic map (nil for an empty body).
func readBody(r *http.Request) (map[string]any, error) {
	b, err := io.ReadAll(io.LimitReader(r.Body, 4<<20))
	if err != nil {
		return nil, &apiError{http.StatusBadRequest, "parseError", "read request body: " + err.Error()}
	}
	if len(strings.TrimSpace(string(b))) == 0 {
		return nil, nil
	}
	var v map[string]any
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return nil, &apiError{http.StatusBadRequest, "parseError", "Invalid JSON payload received: " + err.Error()}
	}
	return v, nil
}

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
		if verb == "insert" {
			d, err := s.openDoorLocked(rel, 0)
			if err != nil {
				return nil, &apiError{http.StatusServiceUnavailable, "unavailable", "open the front door: " + err.Error()}
			}
			door = d
			setDoorAddr(m.(*computepb.ForwardingRule), d.port)
		} else {
			o := old.(*computepb.ForwardingRule)
			fr := m.(*computepb.ForwardingRule)
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
	return proto.Clone(op).(*computepb.Operation), nil
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
			out = proto.Clone(op).(*computepb.Operation)
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
