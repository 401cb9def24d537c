package main_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/compute/apiv1/computepb"
	"cloud.google.com/go/redis/apiv1/redispb"
	"cloud.google.com/go/run/apiv2/runpb"
	"google.golang.org/protobuf/proto"

	"github.com/agentnet/terraform-provider-agentnet/internal/gcpclient"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/localcloudtest"
)

const editProject = "agentnet-test"

// Every `localcloud edit` change is made through the Google Cloud API and
// seen by the next read of that API; names may be short when unique.
func TestEditCLI(t *testing.T) {
	t.Parallel()
	lc := localcloudtest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := gcpclient.New(ctx, gcpclient.Config{EmulatorHost: lc.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cli := func(args ...string) (string, string, int) {
		t.Helper()
		return runCLI(t, []string{"AGENTNET_EMULATOR_HOST=" + lc.Addr(), "LOCALCLOUD_DATA_DIR=" + lc.DataDir()}, append([]string{"edit"}, args...)...)
	}
	mustCLI := func(args ...string) string {
		t.Helper()
		out, errOut, code := cli(args...)
		if code != 0 {
			t.Fatalf("edit %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
		}
		return out
	}
	east := createInstance(ctx, t, c, "us-east1", "cache")

	mustCLI("instance-size", "cache", "3")
	mustCLI("instance-label", "--host", lc.Addr(), "cache", "team=ops")
	inst, err := c.Redis.GetInstance(ctx, &redispb.GetInstanceRequest{Name: east})
	if err != nil {
		t.Fatal(err)
	}
	if inst.GetMemorySizeGb() != 3 || inst.GetLabels()["team"] != "ops" {
		t.Fatalf("after edit: memory_size_gb %d, labels %v; want 3 and team=ops", inst.GetMemorySizeGb(), inst.GetLabels())
	}
	var updates int
	for _, e := range lc.Oplog(t) {
		if e.Method == "google.cloud.redis.v1.CloudRedis.UpdateInstance" && e.Phase == "call" {
			updates++
		}
	}
	if updates != 2 {
		t.Fatalf("%d UpdateInstance calls in the operation log, want 2 (the edits go through the API)", updates)
	}

	// fault --instance takes the short name while it is unique.
	out, errOut, code := runCLI(t, nil, "fault", "redis-kill", "--instance", "cache", "--host", lc.Addr(), "--data-dir", lc.DataDir())
	if code != 0 || !strings.Contains(out, `"was_alive": true`) {
		t.Fatalf("fault redis-kill --instance cache: exit %d\n%s%s", code, out, errOut)
	}
	west := createInstance(ctx, t, c, "us-west1", "cache")
	_, errOut, code = runCLI(t, nil, "fault", "redis-kill", "--instance", "cache", "--host", lc.Addr(), "--data-dir", lc.DataDir())
	if code != 1 || !strings.Contains(errOut, "ambiguous") || !strings.Contains(errOut, east) || !strings.Contains(errOut, west) {
		t.Fatalf("ambiguous short name: exit %d: %s", code, errOut)
	}
	_, errOut, code = runCLI(t, nil, "fault", "redis-kill", "--instance", "nope", "--host", lc.Addr(), "--data-dir", lc.DataDir())
	if code != 1 || !strings.Contains(errOut, `no Memorystore instance is named "nope"`) || !strings.Contains(errOut, west) {
		t.Fatalf("unknown short name: exit %d: %s", code, errOut)
	}
	mustCLI("delete-instance", west)
	if _, err := c.Redis.GetInstance(ctx, &redispb.GetInstanceRequest{Name: west}); !gcpclient.IsNotFound(err) {
		t.Fatalf("GetInstance after delete-instance: %v, want NOT_FOUND", err)
	}

	bucket := c.Storage.Bucket("edits")
	if err := bucket.Create(ctx, editProject, nil); err != nil {
		t.Fatal(err)
	}
	w := bucket.Object("snap/a.rdb").NewWriter(ctx)
	if _, err := w.Write([]byte("REDIS0011")); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	mustCLI("delete-object", "gs://edits/snap/a.rdb")
	if _, err := bucket.Object("snap/a.rdb").Attrs(ctx); err == nil {
		t.Fatal("the object is still there after delete-object")
	}

	svc := createService(ctx, t, c, "us-east1", "relay")
	weights := createURLMap(ctx, t, c, "front", map[string]uint32{"us-east1": 1000, "europe-west1": 0})
	mustCLI("weight", "projects/"+editProject+"/global/urlMaps/front", "europe-west1", "1000")
	if got := weights(); got["us-east1"] != 1000 || got["europe-west1"] != 1000 {
		t.Fatalf("weights after edit weight: %v", got)
	}
	mustCLI("weight", "front", "us-east1", "0")
	if got := weights(); got["us-east1"] != 0 || got["europe-west1"] != 1000 {
		t.Fatalf("weights after the second edit: %v", got)
	}
	// Google refuses a URL map whose weights are all 0; so does the edit.
	_, errOut, code = cli("weight", "front", "europe-west1", "0")
	if code != 1 || !strings.Contains(errOut, "at least one weightedBackendServices weight must be greater than 0") {
		t.Fatalf("weights all 0: exit %d: %s", code, errOut)
	}
	_, errOut, code = cli("weight", "front", "asia-east1", "10")
	if code != 1 || !strings.Contains(errOut, "no weighted backend service in asia-east1") || !strings.Contains(errOut, "europe-west1") {
		t.Fatalf("weight of a region the URL map lacks: exit %d: %s", code, errOut)
	}
	_, errOut, code = cli("weight", "front", "us-east1", "1001")
	if code != 2 || !strings.Contains(errOut, "0 to 1000") {
		t.Fatalf("weight 1001: exit %d: %s", code, errOut)
	}

	mustCLI("delete-service", "relay")
	if _, err := c.Run.GetService(ctx, &runpb.GetServiceRequest{Name: svc}); !gcpclient.IsNotFound(err) {
		t.Fatalf("GetService after delete-service: %v, want NOT_FOUND", err)
	}

	_, errOut, code = cli("resize", "cache")
	if code != 2 || !strings.Contains(errOut, "instance-size") || !strings.Contains(errOut, "delete-object") {
		t.Fatalf("unknown change: exit %d: %s", code, errOut)
	}
	_, errOut, code = cli("delete-object", "edits/snap/a.rdb")
	if code != 2 || !strings.Contains(errOut, "gs://BUCKET/OBJECT") {
		t.Fatalf("delete-object without gs://: exit %d: %s", code, errOut)
	}
	_, errOut, code = cli("instance-size", "cache")
	if code != 2 || !strings.Contains(errOut, "2 argument(s) expected") {
		t.Fatalf("instance-size without GB: exit %d: %s", code, errOut)
	}
}

func createInstance(ctx context.Context, t *testing.T, c *gcpclient.Clients, region, id string) string {
	t.Helper()
	op, err := c.Redis.CreateInstance(ctx, &redispb.CreateInstanceRequest{Parent: "projects/" + editProject + "/locations/" + region,
		InstanceId: id, Instance: &redispb.Instance{Tier: redispb.Instance_BASIC, MemorySizeGb: 1}})
	if err != nil {
		t.Fatal(err)
	}
	inst, err := op.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return inst.GetName()
}

// createService makes a Cloud Run service whose relay exits at start: the
// service exists, its revision failed, which is all delete-service needs.
func createService(ctx context.Context, t *testing.T, c *gcpclient.Clients, region, id string) string {
	t.Helper()
	op, err := c.Run.CreateService(ctx, &runpb.CreateServiceRequest{Parent: "projects/" + editProject + "/locations/" + region, ServiceId: id,
		Service: &runpb.Service{Template: &runpb.RevisionTemplate{Containers: []*runpb.Container{{
			Image: "agentnet-relay:dev",
			Env:   []*runpb.EnvVar{{Name: "RATE_LIMIT", Values: &runpb.EnvVar_Value{Value: "fast"}}},
		}}}}})
	if err != nil {
		t.Fatal(err)
	}
	_, _ = gcpclient.Wait(ctx, op)
	return "projects/" + editProject + "/locations/" + region + "/services/" + id
}

// createURLMap makes a URL map splitting traffic by weight between one
// backend service per region (a serverless NEG each), and returns a reader
// of its weights by region.
func createURLMap(ctx context.Context, t *testing.T, c *gcpclient.Clients, name string, weights map[string]uint32) func() map[string]uint32 {
	t.Helper()
	route := &computepb.HttpRouteAction{}
	for region, w := range weights {
		neg, err := c.Compute.NEGs.Insert(ctx, &computepb.InsertRegionNetworkEndpointGroupRequest{Project: editProject, Region: region,
			NetworkEndpointGroupResource: &computepb.NetworkEndpointGroup{Name: proto.String(name + "-" + region),
				NetworkEndpointType: proto.String("SERVERLESS"), CloudRun: &computepb.NetworkEndpointGroupCloudRun{Service: proto.String("relay")}}})
		if err == nil {
			err = neg.Wait(ctx)
		}
		if err != nil {
			t.Fatal(err)
		}
		be, err := c.Compute.BackendServices.Insert(ctx, &computepb.InsertBackendServiceRequest{Project: editProject,
			BackendServiceResource: &computepb.BackendService{Name: proto.String(name + "-" + region),
				LoadBalancingScheme: proto.String("EXTERNAL_MANAGED"), Protocol: proto.String("HTTPS"),
				Backends: []*computepb.Backend{{Group: proto.String("projects/" + editProject + "/regions/" + region + "/networkEndpointGroups/" + name + "-" + region)}}}})
		if err == nil {
			err = be.Wait(ctx)
		}
		if err != nil {
			t.Fatal(err)
		}
		route.WeightedBackendServices = append(route.WeightedBackendServices, &computepb.WeightedBackendService{
			BackendService: proto.String("projects/" + editProject + "/global/backendServices/" + name + "-" + region), Weight: proto.Uint32(w)})
	}
	op, err := c.Compute.URLMaps.Insert(ctx, &computepb.InsertUrlMapRequest{Project: editProject,
		UrlMapResource: &computepb.UrlMap{Name: proto.String(name), DefaultRouteAction: route}})
	if err == nil {
		err = op.Wait(ctx)
	}
	if err != nil {
		t.Fatal(err)
	}
	return func() map[string]uint32 {
		t.Helper()
		um, err := c.Compute.URLMaps.Get(ctx, &computepb.GetUrlMapRequest{Project: editProject, UrlMap: name})
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]uint32{}
		for _, wb := range um.GetDefaultRouteAction().GetWeightedBackendServices() {
			link := wb.GetBackendService()
			out[strings.TrimPrefix(link[strings.LastIndex(link, "/")+1:], name+"-")] = wb.GetWeight()
		}
		return out
	}
}
