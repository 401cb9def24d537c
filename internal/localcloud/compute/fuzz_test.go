package compute_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/compute"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/operations"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/pki"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/state"
)

// FuzzComputeJSON sends arbitrary JSON bodies to the Compute REST API's
// mutating methods: every answer is a JSON document, and a server error
// (5xx) or a panic is a bug, since a body is the caller's to get wrong.
// Seeds (valid requests of each collection, wrong types, deep nesting) are
// in testdata/fuzz/FuzzComputeJSON.
func FuzzComputeJSON(f *testing.F) {
	dir := f.TempDir()
	st, err := state.Open(filepath.Join(dir, "state"))
	if err != nil {
		f.Fatal(err)
	}
	ops, err := operations.New(st, quietLogger())
	if err != nil {
		f.Fatal(err)
	}
	defer ops.Close()
	ca, err := pki.LoadOrCreateCA(filepath.Join(dir, "ca"), "fuzz CA")
	if err != nil {
		f.Fatal(err)
	}
	svc, err := compute.New(compute.Config{
		DataDir: filepath.Join(dir, "compute"), Ops: ops, Logger: quietLogger(), CA: ca, LoadBalancerSecret: testLBSecret,
		ResolveRunService: func(ctx context.Context, p, region, service string) (string, error) {
			return "", errors.New("no Cloud Run service in the fuzz test")
		},
		RegionAvailable: func(string) error { return nil },
	})
	if err != nil {
		f.Fatal(err)
	}
	defer svc.Close()
	h := svc.Handler()
	methods := []string{http.MethodPost, http.MethodPatch, http.MethodPut, http.MethodPost}
	f.Fuzz(func(t *testing.T, method uint8, path, body string) {
		req, err := http.NewRequest(methods[int(method)%len(methods)], "http://127.0.0.1/compute/v1/projects/"+project+"/"+path, strings.NewReader(body))
		if err != nil {
			return // not a URL a client could send
		}
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %s %q: HTTP %d %s", req.Method, path, body, rec.Code, rec.Body)
		}
		if !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("%s %s %q: HTTP %d, not JSON: %q", req.Method, path, body, rec.Code, rec.Body)
		}
	})
}
