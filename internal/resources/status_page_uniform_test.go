package resources_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"cloud.google.com/go/storage"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"google.golang.org/api/googleapi"

	"github.com/agentnet/terraform-provider-agentnet/internal/acctest"
)

// statusSiteBucket has uniform bucket-level access (publicUniformBucket).
const statusSiteBucket = "agentnet-status-site"

// publicUniformBucket creates a bucket with uniform bucket-level access,
// and with public, allUsers holding roles/storage.objectViewer on it, as
// examples/gcp/foundation declares the status bucket.
func (e *env) publicUniformBucket(t *testing.T, name string, public bool) {
	t.Helper()
	ctx := context.Background()
	b := e.clients.Storage.Bucket(name)
	if err := b.Create(ctx, testProject, &storage.BucketAttrs{UniformBucketLevelAccess: storage.UniformBucketLevelAccess{Enabled: true}}); err != nil {
		t.Fatalf("creating bucket %s: %v", name, err)
	}
	if !public {
		return
	}
	p, err := b.IAM().Policy(ctx)
	if err == nil {
		p.Add("allUsers", "roles/storage.objectViewer")
		err = b.IAM().SetPolicy(ctx, p)
	}
	if err != nil {
		t.Fatalf("making %s public: %v", name, err)
	}
}

// browserStatus is the status code of a browser's read of url.
func browserStatus(url string) (int, error) {
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Sec-Fetch-Mode", "navigate")
	req.Header.Set("Sec-Fetch-Site", "none")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, err
}

// On a bucket with uniform bucket-level access, where an object ACL fails
// as on Google Cloud, the page is published without ACLs; it is public
// once allUsers holds roles/storage.objectViewer on the bucket, and not
// before.
func TestAccStatusPage_uniformBucket(t *testing.T) {
	e := newEnv(t)
	e.publicUniformBucket(t, statusSiteBucket, false)
	ctx := context.Background()
	bucket := e.clients.Storage.Bucket(statusSiteBucket)
	w := bucket.Object("acl-probe").NewWriter(ctx)
	w.PredefinedACL = "publicRead"
	if _, err := io.WriteString(w, "x"); err != nil {
		t.Fatal(err)
	}
	var ge *googleapi.Error
	if err := w.Close(); !errors.As(err, &ge) || ge.Code != http.StatusBadRequest ||
		ge.Message != "Cannot insert legacy ACL for an object when uniform bucket-level access is enabled. Read more at https://cloud.google.com/storage/docs/uniform-bucket-level-access." {
		t.Fatalf("an object ACL on a uniform bucket: %v, want Google's 400", err)
	}
	cfg := e.config(strings.Replace(statusPageHCL(fmt.Sprintf(statusDependencies, "operational"), ""), `"`+testBucket+`"`, `"`+statusSiteBucket+`"`, 1))
	pageIs := func(want int) resource.TestCheckFunc {
		return func(s *terraform.State) error {
			url := s.RootModule().Resources["agentnet_status_page.status"].Primary.Attributes["url"]
			code, err := browserStatus(url)
			if err != nil || code != want {
				return fmt.Errorf("browser read of %s: %d (%v), want %d", url, code, err, want)
			}
			attrs, err := bucket.Object(statusPrefix + "index.html").Attrs(ctx)
			if err != nil {
				return err
			}
			for _, rule := range attrs.ACL {
				if rule.Entity == storage.AllUsers {
					return fmt.Errorf("index.html has an allUsers ACL: %v", attrs.ACL)
				}
			}
			return nil
		}
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.ProviderFactories,
		Steps: []resource.TestStep{
			{Config: cfg, Check: pageIs(http.StatusForbidden)},
			{
				PreConfig: func() {
					p, err := bucket.IAM().Policy(ctx)
					if err == nil {
						p.Add("allUsers", "roles/storage.objectViewer")
						err = bucket.IAM().SetPolicy(ctx, p)
					}
					if err != nil {
						t.Fatal(err)
					}
				},
				Config: cfg, Check: pageIs(http.StatusOK),
			},
		},
	})
}
