package storage

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Bucket access control, which fake-gcs-server does not model: uniform
// bucket-level access, public access prevention and the bucket's IAM
// policy, kept per bucket in <root>.access/<bucket>.json and enforced as
// Cloud Storage does:
//   - With uniform bucket-level access, object ACLs are refused
//     (predefinedAcl, an "acl" in the metadata, the object ACL API) with
//     Google's 400 "Cannot insert legacy ACL ...", and ACLs grant nothing.
//     https://cloud.google.com/storage/docs/uniform-bucket-level-access
//   - The bucket IAM policy (GET/PUT /storage/v1/b/BUCKET/iam) grants
//     access to every object; allUsers with a role that reads objects makes
//     them public. https://cloud.google.com/storage/docs/access-control/making-data-public
//   - Public access prevention "enforced" refuses allUsers and
//     allAuthenticatedUsers, in IAM and in ACLs, with Google's 412, and
//     makes nothing public.
//     https://cloud.google.com/storage/docs/public-access-prevention
//
// Buckets made without it (CreateBucket, or created before) are
// fine-grained, public access prevention inherited, with no IAM grant.

// bucketAccess is what localcloud keeps of a bucket's access control.
type bucketAccess struct {
	Project                string    `json:"project,omitempty"`
	Uniform                bool      `json:"uniform,omitempty"`
	PublicAccessPrevention string    `json:"publicAccessPrevention,omitempty"`
	Bindings               []binding `json:"bindings,omitempty"`
	// Version numbers the IAM policy; its etag.
	Version int64 `json:"version"`
}

type binding struct {
	Role    string   `json:"role"`
	Members []string `json:"members"`
}

const (
	uniformACLError = "Cannot insert legacy ACL for an object when uniform bucket-level access is enabled. " +
		"Read more at https://cloud.google.com/storage/docs/uniform-bucket-level-access."
	preventionError = "The member bindings allUsers and allAuthenticatedUsers are not allowed since public access prevention is enforced."
)

// objectReaders are the predefined roles that grant storage.objects.get.
var objectReaders = []string{"roles/storage.objectViewer", "roles/storage.legacyObjectReader", "roles/storage.objectUser",
	"roles/storage.objectAdmin", "roles/storage.admin", "roles/storage.legacyObjectOwner"}

var publicMembers = []string{"allUsers", "allAuthenticatedUsers"}

func (s *Service) accessPath(bucket string) string {
	return filepath.Join(s.root+".access", bucket+".json")
}

// access returns the bucket's access control (the defaults when none is
// kept).
func (s *Service) access(bucket string) bucketAccess {
	var a bucketAccess
	if b, err := os.ReadFile(s.accessPath(bucket)); err == nil {
		if err := json.Unmarshal(b, &a); err != nil {
			s.log.Error("bucket access control unreadable: the defaults apply", "bucket", bucket, "err", err)
			return bucketAccess{}
		}
	}
	return a
}

func (s *Service) saveAccess(bucket string, a bucketAccess) error {
	b, err := json.Marshal(a)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(s.accessPath(bucket)), 0o755); err != nil {
		return err
	}
	return s.writeFileSynced(s.accessPath(bucket), b)
}

// publicRead reports whether anonymous callers may read the object:
// never with public access prevention enforced; through the bucket's IAM
// policy; through the object's ACL (readACL) unless access is uniform.
func (s *Service) publicRead(bucket string, readACL func() bool) bool {
	a := s.access(bucket)
	if a.PublicAccessPrevention == "enforced" {
		return false
	}
	for _, b := range a.Bindings {
		if slices.Contains(objectReaders, b.Role) && slices.Contains(b.Members, "allUsers") {
			return true
		}
	}
	return !a.Uniform && readACL()
}

// accessControl serves the bucket IAM policy, keeps the buckets'
// iamConfiguration and refuses what it forbids, before h.
func (s *Service) accessControl(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		if p == "/storage/v1/b" && r.Method == http.MethodPost {
			s.serveBucket(w, r, h, "")
			return
		}
		bucket, rest, ok := bucketRequest(p)
		if !ok {
			h.ServeHTTP(w, r)
			return
		}
		switch {
		case rest == "iam":
			s.serveIAM(w, r, bucket)
		case rest == "":
			s.serveBucket(w, r, h, bucket)
		case strings.HasPrefix(rest, "o"):
			if code, reason, msg := s.objectACLRefusal(r, bucket); code != 0 {
				writeStorageError(w, r, code, reason, msg)
				return
			}
			h.ServeHTTP(w, r)
		default:
			h.ServeHTTP(w, r)
		}
	})
}

// bucketRequest splits /storage/v1/b/BUCKET[/REST] and
// /upload/storage/v1/b/BUCKET/o.
func bucketRequest(p string) (bucket, rest string, ok bool) {
	for _, prefix := range []string{"/storage/v1/b/", "/upload/storage/v1/b/"} {
		if after, found := strings.CutPrefix(p, prefix); found {
			bucket, rest, _ = strings.Cut(after, "/")
			return bucket, rest, bucket != ""
		}
	}
	return "", "", false
}

// objectACLRefusal is Google's answer to an object ACL the bucket's
// access control forbids (code 0: allowed).
func (s *Service) objectACLRefusal(r *http.Request, bucket string) (int, string, string) {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return 0, "", ""
	}
	q := r.URL.Query()
	predefined := q.Get("predefinedAcl") + q.Get("destinationPredefinedAcl")
	acl, _ := metadataMap(r)["acl"].([]any)
	// The ACL API is .../o/OBJECT/acl[/ENTITY]; an object named x/acl is
	// .../o/x%2Facl.
	escaped := r.URL.EscapedPath()
	aclAPI := strings.HasSuffix(escaped, "/acl") || strings.Contains(escaped, "/acl/")
	if predefined == "" && len(acl) == 0 && !aclAPI {
		return 0, "", ""
	}
	a := s.access(bucket)
	if a.Uniform {
		return http.StatusBadRequest, "invalid", uniformACLError
	}
	public := strings.HasPrefix(predefined, "public")
	for _, e := range acl {
		entity, _ := e.(map[string]any)["entity"].(string)
		public = public || slices.Contains(publicMembers, entity)
	}
	if aclAPI {
		entity, _ := metadataMap(r)["entity"].(string)
		public = public || slices.Contains(publicMembers, entity) || slices.ContainsFunc(publicMembers, func(m string) bool { return strings.HasSuffix(escaped, "/acl/"+m) })
	}
	if public && a.PublicAccessPrevention == "enforced" {
		return http.StatusPreconditionFailed, "conditionNotMet", preventionError
	}
	return 0, "", ""
}

// serveBucket passes a bucket insert, get, update or delete to h, keeps
// the iamConfiguration it sets, and reports it in the answer as Cloud
// Storage does.
func (s *Service) serveBucket(w http.ResponseWriter, r *http.Request, h http.Handler, bucket string) {
	doc := metadataMap(r)
	cfg, hasCfg := doc["iamConfiguration"].(map[string]any)
	if hasCfg {
		if pap, _ := cfg["publicAccessPrevention"].(string); pap != "" && pap != "enforced" && pap != "inherited" && pap != "unspecified" {
			writeStorageError(w, r, http.StatusBadRequest, "invalid",
				"Invalid argument: iamConfiguration.publicAccessPrevention "+strconv.Quote(pap)+" (accepted: enforced, inherited)")
			return
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	res := rec.Result()
	if res.StatusCode/100 == 2 {
		if bucket == "" {
			bucket, _ = doc["name"].(string)
		}
		a := s.access(bucket)
		switch {
		case r.Method == http.MethodDelete:
			s.removeAccess(bucket)
		case r.Method == http.MethodPost:
			a = bucketAccess{Project: r.URL.Query().Get("project")}
			fallthrough
		case hasCfg:
			setIAMConfiguration(&a, cfg)
			if err := s.saveAccess(bucket, a); err != nil {
				writeStorageError(w, r, http.StatusInternalServerError, "backendError", "keeping the bucket's access control: "+err.Error())
				return
			}
		}
		if body := withIAMConfiguration(rec.Body.Bytes(), a); body != nil {
			rec.Body = bytes.NewBuffer(body)
			res.Header.Del("Content-Length")
		}
	}
	for k, v := range res.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(res.StatusCode)
	_, _ = w.Write(rec.Body.Bytes()) // a failed write means the client left
}

func setIAMConfiguration(a *bucketAccess, cfg map[string]any) {
	for _, k := range []string{"bucketPolicyOnly", "uniformBucketLevelAccess"} {
		if u, ok := cfg[k].(map[string]any); ok {
			a.Uniform, _ = u["enabled"].(bool)
		}
	}
	if pap, ok := cfg["publicAccessPrevention"].(string); ok {
		a.PublicAccessPrevention = map[string]string{"unspecified": "inherited"}[pap]
		if a.PublicAccessPrevention == "" {
			a.PublicAccessPrevention = pap
		}
	}
}

// withIAMConfiguration adds the bucket's iamConfiguration to its JSON
// resource (nil when body is not one).
func withIAMConfiguration(body []byte, a bucketAccess) []byte {
	var doc map[string]any
	if json.Unmarshal(body, &doc) != nil || doc["kind"] != "storage#bucket" {
		return nil
	}
	pap := a.PublicAccessPrevention
	if pap == "" {
		pap = "inherited"
	}
	doc["iamConfiguration"] = map[string]any{
		"uniformBucketLevelAccess": map[string]any{"enabled": a.Uniform},
		"bucketPolicyOnly":         map[string]any{"enabled": a.Uniform},
		"publicAccessPrevention":   pap,
	}
	out, _ := json.Marshal(doc)
	return out
}

// serveIAM answers storage.buckets.getIamPolicy and setIamPolicy.
func (s *Service) serveIAM(w http.ResponseWriter, r *http.Request, bucket string) {
	if !s.BucketExists(bucket) {
		writeStorageError(w, r, http.StatusNotFound, "notFound", "The specified bucket does not exist.")
		return
	}
	a := s.access(bucket)
	switch r.Method {
	case http.MethodGet:
	case http.MethodPut:
		var in struct {
			Bindings []binding `json:"bindings"`
			Etag     string    `json:"etag"`
		}
		doc, _ := json.Marshal(peekMetadata(r))
		if err := json.Unmarshal(doc, &in); err != nil {
			writeStorageError(w, r, http.StatusBadRequest, "invalid", "Invalid JSON payload: "+err.Error())
			return
		}
		if in.Etag != "" && in.Etag != policyEtag(a) {
			writeStorageError(w, r, http.StatusPreconditionFailed, "conditionNotMet", "Precondition Failed: the policy's etag "+in.Etag+" is not the current one; read the policy again")
			return
		}
		for _, b := range in.Bindings {
			if msg := checkBinding(b); msg != "" {
				writeStorageError(w, r, http.StatusBadRequest, "invalid", msg)
				return
			}
			if a.PublicAccessPrevention == "enforced" && slices.ContainsFunc(b.Members, func(m string) bool { return slices.Contains(publicMembers, m) }) {
				writeStorageError(w, r, http.StatusPreconditionFailed, "conditionNotMet", preventionError)
				return
			}
		}
		a.Bindings = in.Bindings
		a.Version++
		if err := s.saveAccess(bucket, a); err != nil {
			writeStorageError(w, r, http.StatusInternalServerError, "backendError", "keeping the bucket's IAM policy: "+err.Error())
			return
		}
	default:
		writeStorageError(w, r, http.StatusMethodNotAllowed, "methodNotAllowed", "GET or PUT the bucket's IAM policy")
		return
	}
	bindings := a.Bindings
	if a.Project != "" && a.Version == 0 {
		// A new bucket's policy: its project's legacy roles.
		bindings = []binding{
			{Role: "roles/storage.legacyBucketOwner", Members: []string{"projectEditor:" + a.Project, "projectOwner:" + a.Project}},
			{Role: "roles/storage.legacyBucketReader", Members: []string{"projectViewer:" + a.Project}},
		}
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	// A failed write means the client left.
	_ = json.NewEncoder(w).Encode(map[string]any{
		"kind": "storage#policy", "resourceId": "projects/_/buckets/" + bucket, "version": 1,
		"etag": policyEtag(a), "bindings": bindings,
	})
}

func policyEtag(a bucketAccess) string {
	return base64.StdEncoding.EncodeToString([]byte(strconv.FormatInt(a.Version, 10)))
}

// checkBinding is Cloud IAM's check of a binding's role and members.
func checkBinding(b binding) string {
	if !strings.HasPrefix(b.Role, "roles/") && !strings.HasPrefix(b.Role, "projects/") && !strings.HasPrefix(b.Role, "organizations/") {
		return "Role " + strconv.Quote(b.Role) + " is not a role name (roles/..., projects/P/roles/... or organizations/O/roles/...)."
	}
	for _, m := range b.Members {
		kind, _, _ := strings.Cut(m, ":")
		switch {
		case slices.Contains(publicMembers, m):
		case slices.Contains([]string{"user", "serviceAccount", "group", "domain", "projectOwner", "projectEditor", "projectViewer", "principal", "principalSet", "deleted"}, kind) && strings.Contains(m, ":"):
		default:
			return "Invalid member " + strconv.Quote(m) + " in the binding of " + b.Role + "."
		}
	}
	return ""
}

// removeAccess forgets a bucket's access control.
func (s *Service) removeAccess(bucket string) {
	if err := os.Remove(s.accessPath(bucket)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		s.log.Warn("bucket access control not removed", "bucket", bucket, "err", err)
	}
}
