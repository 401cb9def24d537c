package run

import (
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/localproc"
)

// A relay left running by a killed localcloud is recognised by its marker
// and terminated; a process without the marker is left alone.
func TestStopStale(t *testing.T) {
	start := func(marker string) *exec.Cmd {
		cmd := exec.Command("sleep", "60")
		cmd.Env = append(os.Environ(), localproc.RunInstanceEnv+"="+marker)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Our unreaped child: the kill fails only once it has exited (as
		// stopStale makes it); the exit status is then the kill's.
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		return cmd
	}
	ours := start(markerOf("projects/p/locations/r/services/s", "s-00001-abc-1"))
	other := start("something else")
	done := make(chan struct{})
	go func() { _ = ours.Wait(); close(done) }() // stopped by stopStale: only the exit matters
	if stopStale(other.Process.Pid, markerOf("projects/p/locations/r/services/s", "s-00001-abc-1"), time.Second) {
		t.Fatal("stopStale stopped a process without the marker")
	}
	if err := other.Process.Signal(syscall.Signal(0)); err != nil {
		t.Fatalf("the other process is gone: %v", err)
	}
	if !stopStale(ours.Process.Pid, markerOf("projects/p/locations/r/services/s", "s-00001-abc-1"), 5*time.Second) {
		t.Fatal("stopStale did not recognise the instance")
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the stale process was not terminated")
	}
	if stopStale(0, "x", time.Second) || stopStale(ours.Process.Pid, "x", time.Second) {
		t.Fatal("stopStale acted on pid 0 or an exited process")
	}
}

func TestImageName(t *testing.T) {
	for in, want := range map[string]string{
		"us-docker.pkg.dev/p/agentnet/agentnet-relay:1.4":         "agentnet-relay",
		"agentnet-relay:dev":                                      "agentnet-relay",
		"agentnet-relay":                                          "agentnet-relay",
		"localhost:5000/agentnet-relay@sha256:abcd":               "agentnet-relay",
		"localhost:5000/agentnet-relay:1@sha256:abcd":             "agentnet-relay",
		"gcr.io/p/nginx:1":                                        "nginx",
		"us-docker.pkg.dev/p/agentnet-relay/other:agentnet-relay": "other",
	} {
		if got := imageName(in); got != want {
			t.Errorf("imageName(%q) = %q, want %q", in, got, want)
		}
	}
}
