package localcloud_test

import (
	"context"
	"io"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	redisapi "cloud.google.com/go/redis/apiv1"
	"cloud.google.com/go/redis/apiv1/redispb"
	gcs "cloud.google.com/go/storage"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/admin"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// do sends a request to localcloud with the given headers ("Host" sets the
// Host) and returns the status and body.
func (e *env) do(t *testing.T, method, path, body string, header map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+e.srv.Addr()+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		if k == "Host" {
			req.Host = v
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestCrossSiteFaultIsRefused: a web page's text/plain POST to the fault
// endpoint (a "simple" request a browser sends without preflight) gets 403
// and kills nothing, even if it somehow carried the token.
func TestCrossSiteFaultIsRefused(t *testing.T) {
	e := start(t, t.TempDir())
	inst := e.create(t, "victim", &redispb.Instance{Tier: redispb.Instance_BASIC, MemorySizeGb: 1})
	pid := e.srv.Memorystore().Statuses()[0].PID
	token, err := admin.ReadToken(e.srv.DataDir())
	if err != nil {
		t.Fatal(err)
	}
	kill := `{"kind":"redis-kill","instance":"` + inst.Name + `","hold":true}`
	for _, h := range []map[string]string{
		{"Content-Type": "text/plain", "Origin": "https://evil.example"},
		{"Content-Type": "text/plain", "Origin": "https://evil.example", "Authorization": "Bearer " + token},
		{"Content-Type": "text/plain", "Sec-Fetch-Site": "cross-site", "Authorization": "Bearer " + token},
		{"Content-Type": "text/plain", "Origin": "null", "Authorization": "Bearer " + token},
	} {
		if code, body := e.do(t, "POST", "/_localcloud/faults", kill, h); code != http.StatusForbidden {
			t.Errorf("POST /_localcloud/faults with %v: HTTP %d %s, want 403", h, code, body)
		}
	}
	time.Sleep(200 * time.Millisecond)
	if err := syscall.Kill(pid, 0); err != nil {
		t.Fatalf("redis-server %d was killed by a cross-site request: %v", pid, err)
	}
	if st := e.srv.Memorystore().Statuses()[0]; st.PID != pid || st.Held {
		t.Fatalf("instance after cross-site requests: %+v, want pid %d, not held", st, pid)
	}
}

// TestForeignHostIsRefused: a DNS-rebound name pointing at 127.0.0.1 gets
// 403 on every endpoint, so a page cannot read the answers.
func TestForeignHostIsRefused(t *testing.T) {
	e := start(t, t.TempDir())
	token, err := admin.ReadToken(e.srv.DataDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/_localcloud/health", "/_localcloud/ca.pem", "/storage/v1/b?project=p", "/compute/v1/projects/p/global/urlMaps"} {
		for _, host := range []string{"evil.example", "evil.example:" + strings.Split(e.srv.Addr(), ":")[1], "10.0.0.1", "localhost.evil.example"} {
			code, body := e.do(t, "GET", path, "", map[string]string{"Host": host, "Authorization": "Bearer " + token})
			if code != http.StatusForbidden {
				t.Errorf("GET %s with Host %s: HTTP %d %s, want 403", path, host, code, body)
			}
		}
	}
	// gRPC with a foreign :authority.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rc, err := redisapi.NewCloudRedisClient(ctx, option.WithEndpoint(e.srv.Addr()), option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())),
		option.WithGRPCDialOption(grpc.WithAuthority("evil.example")))
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	it := rc.ListInstances(ctx, &redispb.ListInstancesRequest{Parent: parent})
	if _, err := it.Next(); err == nil || err == iterator.Done || !strings.Contains(err.Error(), "403") {
		t.Errorf("gRPC ListInstances with :authority evil.example: %v, want refused with 403", err)
	}
}

// TestAdminTokenRequired: the admin endpoints answer 401 without the token
// (written owner-only), the CA certificate stays public, and the Google
// clients keep working with "localhost" as well as 127.0.0.1.
func TestAdminTokenRequired(t *testing.T) {
	e := start(t, t.TempDir())
	st, err := os.Stat(admin.TokenPath(e.srv.DataDir()))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("%s: mode %v, want 0600", admin.TokenPath(e.srv.DataDir()), st.Mode().Perm())
	}
	for _, path := range []string{"/_localcloud/health", "/_localcloud/oplog", "/_localcloud/faults", "/_localcloud/compute", "/_localcloud/nothing"} {
		if code, body := e.do(t, "GET", path, "", nil); code != http.StatusUnauthorized || !strings.Contains(body, admin.TokenFile) {
			t.Errorf("GET %s without the token: HTTP %d %s, want 401 naming %s", path, code, body, admin.TokenFile)
		}
		if code, body := e.do(t, "GET", path, "", map[string]string{"Authorization": "Bearer wrong"}); code != http.StatusUnauthorized {
			t.Errorf("GET %s with a wrong token: HTTP %d %s, want 401", path, code, body)
		}
	}
	if code, _ := e.do(t, "GET", "/_localcloud/ca.pem", "", nil); code != http.StatusOK {
		t.Errorf("GET /_localcloud/ca.pem without the token: HTTP %d, want 200", code)
	}
	var health struct{ Status string }
	e.getJSON(t, "health", &health)
	if health.Status != "ok" {
		t.Errorf("health with the token: %+v", health)
	}
	ctx := context.Background()
	port := strings.Split(e.srv.Addr(), ":")[1]
	sc, err := gcs.NewClient(ctx, option.WithEndpoint("http://localhost:"+port+"/storage/v1/"), option.WithoutAuthentication())
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	if err := sc.Bucket("guarded").Create(ctx, "p", nil); err != nil {
		t.Fatalf("create a bucket through localhost:%s: %v", port, err)
	}
	rc, err := redisapi.NewCloudRedisClient(ctx, option.WithEndpoint("localhost:"+port), option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if _, err := rc.ListInstances(ctx, &redispb.ListInstancesRequest{Parent: parent}).Next(); err != iterator.Done {
		t.Errorf("gRPC through localhost:%s: %v, want no instances", port, err)
	}
}
