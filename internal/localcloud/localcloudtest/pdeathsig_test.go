package localcloudtest_test

import (
	"os/exec"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/localcloudtest"
)

// Stopping a localcloud ends no other child of the test process: children
// started with a Pdeathsig, as terraform-plugin-testing starts OpenTofu
// (SIGKILL), outlive the localclouds stopped while they run, whichever
// thread started them. On one P, each localcloud is started from the thread
// that has just started such a child.
func TestStopSparesOtherChildren(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	var exited []chan struct{}
	for range 4 {
		cmd := exec.Command("sleep", "300")
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		// Killed by the test: its exit status is not the point.
		go func() { _ = cmd.Wait(); close(done) }()
		t.Cleanup(func() { _ = cmd.Process.Kill(); <-done })
		exited = append(exited, done)
		localcloudtest.Start(t).Kill()
	}
	time.Sleep(200 * time.Millisecond)
	for i, done := range exited {
		select {
		case <-done:
			t.Errorf("child %d was killed when a localcloud stopped", i+1)
		default:
		}
	}
}
