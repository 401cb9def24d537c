package main_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/redis/apiv1/redispb"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/localcloudtest"
	goredis "github.com/redis/go-redis/v9"
)

func runCLI(t *testing.T, env []string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(localcloudtest.Binary(t), args...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return stdout.String(), stderr.String(), code
}

func TestFaultCLI(t *testing.T) {
	t.Parallel()
	lc := localcloudtest.Start(t)
	if b, err := os.ReadFile(filepath.Join(lc.DataDir(), "localcloud.addr")); err != nil || strings.TrimSpace(string(b)) != lc.Addr() {
		t.Fatalf("localcloud.addr = %q, %v; want %s", b, err, lc.Addr())
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	op, err := lc.MemorystoreAPI(t).CreateInstance(ctx, &redispb.CreateInstanceRequest{Parent: "projects/agentnet-test/locations/asia-east1", InstanceId: "cli",
		Instance: &redispb.Instance{Tier: redispb.Instance_BASIC, MemorySizeGb: 1}})
	if err != nil {
		t.Fatal(err)
	}
	inst, err := op.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c := goredis.NewClient(&goredis.Options{Addr: fmt.Sprintf("%s:%d", inst.Host, inst.Port)})
	defer c.Close()
	for i := range 40 {
		c.Set(ctx, fmt.Sprintf("k%d", i), "clean", 0)
	}

	_, errOut, code := runCLI(t, []string{"AGENTNET_EMULATOR_HOST=" + lc.Addr()}, "fault", "redis-corrupt", "--instance", inst.Name)
	if code != 2 || !strings.Contains(errOut, "--data-dir") || !strings.Contains(errOut, "LOCALCLOUD_TOKEN") {
		t.Fatalf("fault without the admin token: exit %d: %s", code, errOut)
	}
	token, err := os.ReadFile(filepath.Join(lc.DataDir(), "localcloud.token"))
	if err != nil {
		t.Fatal(err)
	}
	out, errOut, code := runCLI(t, []string{"AGENTNET_EMULATOR_HOST=" + lc.Addr(), "LOCALCLOUD_TOKEN=" + strings.TrimSpace(string(token))}, "fault", "redis-corrupt", "--instance", inst.Name)
	if code != 0 || !strings.Contains(out, `"overwritten"`) {
		t.Fatalf("fault redis-corrupt: exit %d\n%s%s", code, out, errOut)
	}
	clean := 0
	for i := range 40 {
		if v, _ := c.Get(ctx, fmt.Sprintf("k%d", i)).Result(); v == "clean" {
			clean++
		}
	}
	if clean == 40 {
		t.Fatalf("redis-corrupt changed no key")
	}

	_, errOut, code = runCLI(t, nil, "fault", "volcano", "--instance", inst.Name, "--host", lc.Addr(), "--data-dir", lc.DataDir())
	if code != 1 || !strings.Contains(errOut, "redis-kill") || !strings.Contains(errOut, "redis-corrupt") {
		t.Fatalf("unknown kind: exit %d: %s", code, errOut)
	}
	_, errOut, code = runCLI(t, nil, "fault", "redis-kill", "--instance", "projects/agentnet-test/locations/asia-east1/instances/nope", "--host", lc.Addr(), "--data-dir", lc.DataDir())
	if code != 1 || !strings.Contains(errOut, "404") {
		t.Fatalf("unknown instance: exit %d: %s", code, errOut)
	}
	_, errOut, code = runCLI(t, nil, "fault", "redis-kill", "--host", lc.Addr(), "--data-dir", lc.DataDir())
	if code != 1 || !strings.Contains(errOut, "instance") {
		t.Fatalf("missing --instance: exit %d: %s", code, errOut)
	}
	out, _, code = runCLI(t, nil, "oplog", "--host", lc.Addr(), "--data-dir", lc.DataDir())
	if code != 0 || !strings.Contains(out, "localcloud.Fault.redis-corrupt") {
		t.Fatalf("oplog: exit %d: %s", code, out)
	}
	_, errOut, code = runCLI(t, nil, "serve")
	if code != 2 || !strings.Contains(errOut, "--data-dir") {
		t.Fatalf("serve without --data-dir: exit %d: %s", code, errOut)
	}
	_, errOut, code = runCLI(t, nil, "serve", "--data-dir", t.TempDir(), "--listen", "0.0.0.0:0")
	if code != 2 || !strings.Contains(errOut, "--allow-non-loopback") {
		t.Fatalf("serve on 0.0.0.0: exit %d: %s", code, errOut)
	}
	_, errOut, code = runCLI(t, nil, "serve", "--data-dir", t.TempDir(), "--redis-server", "/nonexistent/redis-server")
	if code != 1 || !strings.Contains(errOut, "apt-get install redis-server") {
		t.Fatalf("serve without redis-server: exit %d: %s", code, errOut)
	}
	_, errOut, code = runCLI(t, nil, "serve", "--data-dir", t.TempDir(), "--relay-binary", "/nonexistent/relay")
	if code != 1 || !strings.Contains(errOut, "./cmd/relay") {
		t.Fatalf("serve with a missing relay binary: exit %d: %s", code, errOut)
	}
	out, _, code = runCLI(t, nil, "services", "--host", lc.Addr(), "--data-dir", lc.DataDir())
	if code != 0 || strings.TrimSpace(out) != "[]" {
		t.Fatalf("services: exit %d: %s", code, out)
	}
	_, errOut, code = runCLI(t, nil, "fault", "region-down", "--host", lc.Addr(), "--data-dir", lc.DataDir())
	if code != 1 || !strings.Contains(errOut, "region") {
		t.Fatalf("region-down without --region: exit %d: %s", code, errOut)
	}
	_, errOut, code = runCLI(t, nil, "fault", "service-kill", "--service", "projects/agentnet-test/locations/asia-east1/services/nope", "--host", lc.Addr(), "--data-dir", lc.DataDir())
	if code != 1 || !strings.Contains(errOut, "404") {
		t.Fatalf("service-kill of an unknown service: exit %d: %s", code, errOut)
	}
	out, errOut, code = runCLI(t, nil, "fault", "region-down", "--region", "asia-east1", "--host", lc.Addr(), "--data-dir", lc.DataDir())
	if code != 0 || !strings.Contains(out, inst.Name) {
		t.Fatalf("region-down: exit %d: %s%s", code, out, errOut)
	}
	out, errOut, code = runCLI(t, nil, "fault", "region-up", "--region", "asia-east1", "--host", lc.Addr(), "--data-dir", lc.DataDir())
	if code != 0 || !strings.Contains(out, `"down": false`) {
		t.Fatalf("region-up: exit %d: %s%s", code, out, errOut)
	}
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("redis after region-up: %v", err)
	}
}
