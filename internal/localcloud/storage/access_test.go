package storage

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"cloud.google.com/go/iam"
	"cloud.google.com/go/storage"
	"google.golang.org/api/googleapi"
)

// TestUniformBucketAccess: on a bucket with uniform bucket-level access an
// object ACL fails as on Google Cloud, and objects are public only through
// the bucket's IAM policy; public access prevention refuses allUsers.
func TestUniformBucketAccess(t *testing.T) {
	s := serve(t, t.TempDir())
	ctx := context.Background()
	create := func(name string, attrs *storage.BucketAttrs) *storage.BucketHandle {
		b := s.client.Bucket(name)
		if err := b.Create(ctx, "p", attrs); err != nil {
			t.Fatalf("create %s: %v", name, err)
		}
		return b
	}
	put := func(b *storage.BucketHandle, name, acl string) error {
		w := b.Object(name).NewWriter(ctx)
		w.ContentType, w.PredefinedACL = "text/html; charset=utf-8", acl
		_, err := io.WriteString(w, "<p>"+name+"</p>")
		return errors.Join(err, w.Close())
	}
	wantAPIError := func(what string, err error, code int, reason, msg string) {
		t.Helper()
		var ge *googleapi.Error
		if !errors.As(err, &ge) || ge.Code != code || len(ge.Errors) != 1 || ge.Errors[0].Reason != reason || ge.Message != msg {
			t.Errorf("%s: %v, want %d %s %q", what, err, code, reason, msg)
		}
	}
	publicViewer := func(b *storage.BucketHandle) error {
		p, err := b.IAM().Policy(ctx)
		if err != nil {
			return err
		}
		p.Add("allUsers", "roles/storage.objectViewer")
		return b.IAM().SetPolicy(ctx, p)
	}

	site := create("uniform-site", &storage.BucketAttrs{UniformBucketLevelAccess: storage.UniformBucketLevelAccess{Enabled: true}})
	attrs, err := site.Attrs(ctx)
	if err != nil || !attrs.UniformBucketLevelAccess.Enabled || attrs.PublicAccessPrevention != storage.PublicAccessPreventionInherited {
		t.Fatalf("bucket attributes: %+v, %v", attrs, err)
	}
	wantAPIError("publicRead object on a uniform bucket", put(site, "index.html", "publicRead"), http.StatusBadRequest, "invalid",
		"Cannot insert legacy ACL for an object when uniform bucket-level access is enabled. Read more at https://cloud.google.com/storage/docs/uniform-bucket-level-access.")
	if _, err := site.Object("index.html").Attrs(ctx); !errors.Is(err, storage.ErrObjectNotExist) {
		t.Errorf("the refused write left an object: %v", err)
	}
	for _, name := range []string{"index.html", "notes/acl"} {
		if err := put(site, name, ""); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := site.Object("notes/acl").Update(ctx, storage.ObjectAttrsToUpdate{ContentType: "text/plain"}); err != nil {
		t.Errorf("updating an object named notes/acl on a uniform bucket: %v", err)
	}
	if err := site.Object("index.html").ACL().Set(ctx, storage.AllUsers, storage.RoleReader); err == nil || !strings.Contains(err.Error(), "uniform bucket-level access") {
		t.Errorf("object ACL API on a uniform bucket: %v", err)
	}
	if resp, _ := httpGet(t, s.addr, "/uniform-site/index.html", true); resp.StatusCode != http.StatusForbidden {
		t.Errorf("browser read before the IAM grant: %d, want 403", resp.StatusCode)
	}
	if err := publicViewer(site); err != nil {
		t.Fatal(err)
	}
	p, err := site.IAM().Policy(ctx)
	if err != nil || !p.HasRole("allUsers", "roles/storage.objectViewer") || !p.HasRole("projectOwner:p", "roles/storage.legacyBucketOwner") {
		t.Fatalf("policy read back: %v %v", p.InternalProto, err)
	}
	if resp, body := httpGet(t, s.addr, "/uniform-site/index.html", true); resp.StatusCode != 200 || body != "<p>index.html</p>" || resp.Header.Get("Cache-Control") != publicCacheControl {
		t.Errorf("browser read with allUsers objectViewer: %d %q %v", resp.StatusCode, body, resp.Header)
	}
	// A stale etag is refused.
	stale := &iam.Policy{InternalProto: p.InternalProto}
	stale.InternalProto.Etag = []byte("0")
	if err := site.IAM().SetPolicy(ctx, stale); err == nil {
		t.Error("a policy with a stale etag was accepted")
	}

	// Public access prevention: no allUsers in IAM or ACLs, nothing public.
	closed := create("closed-site", &storage.BucketAttrs{PublicAccessPrevention: storage.PublicAccessPreventionEnforced})
	wantAPIError("allUsers binding with public access prevention", publicViewer(closed), http.StatusPreconditionFailed, "conditionNotMet",
		"The member bindings allUsers and allAuthenticatedUsers are not allowed since public access prevention is enforced.")
	wantAPIError("publicRead object with public access prevention", put(closed, "index.html", "publicRead"), http.StatusPreconditionFailed, "conditionNotMet",
		"The member bindings allUsers and allAuthenticatedUsers are not allowed since public access prevention is enforced.")
	if err := put(closed, "index.html", "projectPrivate"); err != nil {
		t.Errorf("a private ACL with public access prevention: %v", err)
	}
	if _, err := closed.Update(ctx, storage.BucketAttrsToUpdate{PublicAccessPrevention: storage.PublicAccessPreventionInherited}); err != nil {
		t.Fatal(err)
	}
	if err := publicViewer(closed); err != nil {
		t.Errorf("allUsers binding once public access prevention is inherited: %v", err)
	}
}
