package compute

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

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
	case "targetHttpProxies", "targetHttpsProxies":
		// POST projects/{p}/target{Http,Https}Proxies/{name}/setUrlMap (no "global").
		if len(rest) == 3 && rest[2] == "setUrlMap" {
			if r.Method != http.MethodPost {
				methodNotAllowed(w, r)
				return
			}
			s.mutate(w, r, ref{project: project, collection: rest[0], name: rest[1]}, "setUrlMap")
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

func (s *Service) get(w http.ResponseWriter, r ref) {
	s.mu.Lock()
	m, ok := s.res[r.rel()]
	var out proto.Message
	if ok {
		out = s.presentLocked(m)
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
		b, err := protojson.Marshal(s.presentLocked(s.res[n]))
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

// presentLocked returns a copy of a stored resource as the API shows it.
func (s *Service) presentLocked(m proto.Message) proto.Message {
	out := proto.Clone(m)
	kind := getString(m, "kind")
	for _, sp := range specs {
		if sp.kind == kind && sp.present != nil {
			sp.present(s, out)
		}
	}
	return out
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
